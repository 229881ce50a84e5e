#!/usr/bin/env bash
# The nscd door against glibc nscd (`shared hosts no`), side by side in one run, in private namespaces.
#
#   sudo bash bench/nscd-door.sh [--duration SECONDS] [--threads "1 2"] [--rounds N] [--names N]
#
# Both caches resolve through the same Knot DNS upstream and are warmed with the same names. Then
# bench/clients/gai_bench (getaddrinfo in a loop, SOCK_STREAM, AF_INET and AF_UNSPEC) measures each in turn on
# /var/run/nscd/socket (a tmpfs of our own): glibc nscd, then sidecache, then sidecache, then nscd (ABBA, so a
# linear drift of the machine's speed cancels out). Only one server runs at a time.
#
# The client runs in a nested mount namespace whose resolv.conf names a dead address (127.0.0.9, nothing
# listening), so glibc's own DNS fallback cannot succeed: every call counted as ok came from the nscd socket and
# returned exactly the expected address. A check with no server on the socket proves that (it must give 0 ok).
# Prints a markdown table with the ratios. Nothing leaves the namespace.
set -euo pipefail

duration=8
threads="1 2"
rounds=2
names=100
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --names) names=$2; shift 2 ;;
        *) echo "usage: $0 [--duration S] [--threads \"1 2\"] [--rounds N] [--names N]" >&2; exit 2 ;;
    esac
done
for t in $threads; do
    [[ $t =~ ^[0-9]+$ ]] && [ "$t" -ge 1 ] && [ "$t" -le 64 ] || { echo "bad --threads: $threads" >&2; exit 2; }
done
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 1 ] && [ "$duration" -le 300 ] || { echo "bad --duration" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] && [ "$rounds" -le 10 ] || { echo "bad --rounds" >&2; exit 2; }
[[ $names =~ ^[0-9]+$ ]] && [ "$names" -ge 1 ] && [ "$names" -le 100000 ] || { echo "bad --names" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
if [ -z "${SIDECACHE_BENCH_INSIDE:-}" ]; then
    if [ "$(id -u)" != 0 ]; then echo "bench/nscd-door.sh: needs root for namespaces" >&2; exit 1; fi
    for tool in nscd knotd dig gcc unshare ip flock timeout; do
        command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-deps" >&2; exit 1; }
    done
    # Another engineer may build at the same time: SwiftPM's build directory is shared, so take the lock.
    (cd "$root" && flock /tmp/swift.lock swift build -c release --product sidecache >/dev/null)
    exec unshare -n -m --propagation private env SIDECACHE_BENCH_INSIDE=1 bash "$0" \
        --duration "$duration" --threads "$threads" --rounds "$rounds" --names "$names"
fi

glibc_bench_namespace sidecache-nscd-bench 16m no

gcc -O2 -pthread -o "$work/gai_bench" "$root/bench/clients/gai_bench.c"

# The upstream: Knot DNS with N names (A only, so AF_UNSPEC gets the one address too).
write_bench_upstream "$work" "$names" "127.0.0.53@53"
for ((i = 0; i < names; i++)); do
    echo "n$i.bench.test 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
done > "$work/names"
knotd -c "$work/knot.conf" 2>"$work/knot.log" & knot_pid=$!
for _ in $(seq 1 100); do
    dig @127.0.0.53 +time=1 +tries=1 +short n0.bench.test A 2>/dev/null | grep -q . && break
    sleep 0.1
done
dig @127.0.0.53 +time=1 +tries=1 +short n0.bench.test A | grep -q . || { echo "knotd did not answer" >&2; exit 1; }

# The client, in a nested mount namespace where resolv.conf names a dead address.
client() {
    timeout -k 2 $((duration + 20)) unshare -m --propagation private \
        sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh \
        "$work/resolv.dead" "$work/gai_bench" -n "$work/names" "$@"
}
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# No server on the socket: glibc falls back to DNS at the dead address, so nothing may succeed.
rm -rf /var/run/nscd/*
baseline=$(client -o -f unspec)
if [ "$(field ok <<<"$baseline")" != 0 ]; then
    echo "without a server on the socket getaddrinfo still succeeded ($baseline): the check is void" >&2
    exit 1
fi

start_server() {
    rm -rf /var/run/nscd/*
    case "$1" in
        nscd) nscd -F 2>>"$work/nscd.log" & server_pid=$! ;;
        sidecache)
            "$root/.build/release/sidecache" serve --upstream 127.0.0.53:53 --dns-listen 127.0.0.3:53 \
                --nscd-socket /var/run/nscd/socket --resolv-conf "$work/resolv.conf" --hosts-file "$work/hosts" \
                --log-level warning --shared-map off 2>>"$work/sidecache.log" & server_pid=$!
            ;;
    esac
    # Ready when one pass over every name (which also warms the cache) returns all of them right.
    local out=""
    for _ in $(seq 1 50); do
        kill -0 "$server_pid" 2>/dev/null || { echo "$1 exited; log:" >&2; tail -5 "$work/$1.log" >&2; exit 1; }
        if [ -S /var/run/nscd/socket ]; then
            out=$(client -o -f unspec)
            [ "$(field ok <<<"$out")" = "$names" ] && break
        fi
        sleep 0.2
    done
    [ "$(field ok <<<"$out")" = "$names" ] || { echo "$1 never answered every name: $out" >&2; exit 1; }
    client -o -f inet >/dev/null
}
stop_server() {
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

: > "$work/results"
measure() { # server round
    start_server "$1"
    local t f out
    for t in $threads; do
        for f in inet unspec; do
            out=$(client -t "$t" -d "$duration" -f "$f")
            echo "$1 $2 $t $f $out" >> "$work/results"
        done
    done
    stop_server
}
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order="nscd sidecache"; else order="sidecache nscd"; fi
    for s in $order; do measure "$s" "$r"; done
done

echo "## nscd door vs glibc nscd ($(date -u +%Y-%m-%d), $names cached names, getaddrinfo SOCK_STREAM," \
    "${duration}s per run, $rounds runs each, ABBA order; $(nproc) cores)"
echo
echo "| server | threads | family | calls/s (runs) | p50 us | p99 us | failed calls | calls/s sidecache/nscd |"
echo "|---|---|---|---|---|---|---|---|"
awk '
function kv(s, k,   n, i, a, p) { n = split(s, a, " "); for (i = 1; i <= n; i++) { split(a[i], p, "="); if (p[1] == k) return p[2] } return "" }
{
    line = $0; key = $1 " " $3 " " $4
    rest = substr(line, index(line, "calls="))
    n[key]++; cps[key] += kv(rest, "cps"); p50[key] += kv(rest, "p50"); p99[key] += kv(rest, "p99")
    bad[key] += kv(rest, "fail") + kv(rest, "wrong"); calls[key] += kv(rest, "calls")
    runs[key] = runs[key] (runs[key] == "" ? "" : ", ") kv(rest, "cps")
    if (!($3 SUBSEP $4 in seen)) { seen[$3, $4] = 1; order[++m] = $3 " " $4 }
}
END {
    for (i = 1; i <= m; i++) {
        split(order[i], tf, " ")
        for (s = 1; s <= 2; s++) {
            srv = s == 1 ? "nscd" : "sidecache"; key = srv " " order[i]
            if (!(key in n)) continue
            ratio = "-"
            if (srv == "sidecache" && cps["nscd " order[i]] > 0)
                ratio = sprintf("**%.2fx**", cps[key] / cps["nscd " order[i]])
            printf "| %s | %s | %s | %.0f (%s) | %.0f | %.0f | %d of %d | %s |\n", \
                srv == "nscd" ? "glibc nscd (shared hosts no)" : "sidecache", tf[1], tf[2] == "inet" ? "AF_INET" : "AF_UNSPEC", \
                cps[key] / n[key], runs[key], p50[key] / n[key], p99[key] / n[key], bad[key], calls[key], ratio
        }
    }
}' "$work/results"
echo
echo "Check with no server on the socket (resolv.conf dead for the client): $baseline"
for s in nscd sidecache; do
    if [ -s "$work/$s.log" ]; then echo; echo "$s log (last lines):"; tail -5 "$work/$s.log" | sed 's/^/    /'; fi
done
