#!/usr/bin/env bash
# sidecache's shared-memory hosts map against glibc nscd's (`shared hosts yes`), side by side in one run, in private
# namespaces.
#
#   sudo bash bench/shared-map.sh [--duration SECONDS] [--threads "1 2"] [--rounds N] [--names N] [--rotation PERIOD]
#
# Both caches resolve through the same Knot DNS upstream and are warmed with the same names; then
# bench/clients/gai_bench (getaddrinfo in a loop, SOCK_STREAM, AF_INET and AF_UNSPEC) measures each in turn on
# /var/run/nscd/socket (a tmpfs of our own): nscd, sidecache, sidecache, nscd, ... (ABBA, so a linear drift of the
# machine's speed cancels out). Only one server runs at a time. With a warm map a hit makes no socket request at
# all, so both sides run the same glibc reader code; the figures compare the servers' maps, not their sockets.
#
# Then, once per server:
#   - staleness: a TTL-2 name is looked up (T0), changed upstream, and looked up again by a new process every 20 ms
#     until the new address appears (or 30 s); staleness = first new answer - (T0 + 2 s);
#   - first-address share: 10,000 getaddrinfo(AF_INET) calls over 2 s for a name with 4 addresses; the largest share
#     of one first address (25% is flat, 100% is a frozen order).
#
# The clients run in a nested mount namespace whose resolv.conf names a dead address (127.0.0.9), so glibc's own DNS
# fallback cannot succeed: every call counted as ok came from the server and returned exactly the expected address.
# Prints markdown. Nothing leaves the namespace.
set -euo pipefail

duration=5
threads="1 2"
rounds=2
names=100
rotation=100ms
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --names) names=$2; shift 2 ;;
        --rotation) rotation=$2; shift 2 ;;
        *) echo "usage: $0 [--duration S] [--threads \"1 2\"] [--rounds N] [--names N] [--rotation PERIOD]" >&2; exit 2 ;;
    esac
done
for t in $threads; do
    [[ $t =~ ^[0-9]+$ ]] && [ "$t" -ge 1 ] && [ "$t" -le 64 ] || { echo "bad --threads: $threads" >&2; exit 2; }
done
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 1 ] && [ "$duration" -le 300 ] || { echo "bad --duration" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] && [ "$rounds" -le 10 ] || { echo "bad --rounds" >&2; exit 2; }
[[ $names =~ ^[0-9]+$ ]] && [ "$names" -ge 1 ] && [ "$names" -le 100000 ] || { echo "bad --names" >&2; exit 2; }
[[ $rotation =~ ^[0-9]+(ms|s)?$ ]] || { echo "bad --rotation" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
if [ -z "${SIDECACHE_BENCH_INSIDE:-}" ]; then
    if [ "$(id -u)" != 0 ]; then echo "bench/shared-map.sh: needs root for namespaces" >&2; exit 1; fi
    for tool in nscd knotd dig gcc unshare ip flock timeout; do
        command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-deps" >&2; exit 1; }
    done
    # Another engineer may build or measure at the same time: take the lock for the build and the measurement.
    (cd "$root" && flock /tmp/swift.lock swift build -c release --product sidecache >/dev/null)
    exec flock /tmp/swift.lock timeout -k 10 1800 unshare -n -m --propagation private env SIDECACHE_BENCH_INSIDE=1 \
        bash "$0" --duration "$duration" --threads "$threads" --rounds "$rounds" --names "$names" --rotation "$rotation"
fi

glibc_bench_namespace sidecache-map-bench 64m yes

gcc -O2 -pthread -o "$work/gai_bench" "$root/bench/clients/gai_bench.c"
gcc -O2 -o "$work/map_client" "$root/Tests/Scenarios/clients/map_client.c"
gcc -O2 -o "$work/ttl_probe" "$root/Tests/Scenarios/clients/ttl_probe.c"

# The upstream: Knot DNS with N names, plus a 4-address name and one TTL-2 name per server for the staleness run.
write_bench_upstream "$work" "$names" "127.0.0.53@53"
cp "$work/bench.test.zone" "$work/zone.base"
serial=1
declare -A exp_address=([nscd]=192.0.2.21 [sidecache]=192.0.2.21)
write_zone() {
    {
        sed "s/hostmaster 1 /hostmaster $serial /" "$work/zone.base"
        printf 'multi IN A 192.0.2.11\nmulti IN A 192.0.2.12\nmulti IN A 192.0.2.13\nmulti IN A 192.0.2.14\n'
        printf 'exp-nscd 2 IN A %s\nexp-sidecache 2 IN A %s\n' "${exp_address[nscd]}" "${exp_address[sidecache]}"
    } > "$work/bench.test.zone.tmp"
    mv "$work/bench.test.zone.tmp" "$work/bench.test.zone"
    serial=$((serial + 1))
}
write_zone
for ((i = 0; i < names; i++)); do
    echo "n$i.bench.test 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
done > "$work/names"
knotd -c "$work/knot.conf" 2>"$work/knot.log" & knot_pid=$!
for _ in $(seq 1 100); do
    dig @127.0.0.53 +time=1 +tries=1 +short n0.bench.test A 2>/dev/null | grep -q . && break
    sleep 0.1
done
dig @127.0.0.53 +time=1 +tries=1 +short n0.bench.test A | grep -q . || { echo "knotd did not answer" >&2; exit 1; }

# A client command in a nested mount namespace where resolv.conf names a dead address.
in_client_ns() {
    timeout -k 2 $((duration + 40)) unshare -m --propagation private \
        sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$work/resolv.dead" "$@"
}
client() { in_client_ns "$work/gai_bench" -n "$work/names" "$@"; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }

rm -rf /var/run/nscd/*
baseline=$(client -o -f unspec)
if [ "$(field ok <<<"$baseline")" != 0 ]; then
    echo "without a server on the socket getaddrinfo still succeeded ($baseline): the check is void" >&2
    exit 1
fi

start_server() {
    rm -rf /var/run/nscd/* "$work/private"
    case "$1" in
        nscd) nscd -F 2>>"$work/nscd.log" & server_pid=$! ;;
        sidecache)
            "$root/.build/release/sidecache" serve --upstream 127.0.0.53:53 --dns-listen 127.0.0.3:53 \
                --nscd-socket /var/run/nscd/socket --resolv-conf "$work/resolv.conf" --hosts-file "$work/hosts" \
                --shared-map-file "$work/private/hosts.map" --shared-map-addresses all --shared-map-rotation "$rotation" \
                --admin-listen off \
                --log-level warning 2>>"$work/sidecache.log" & server_pid=$!
            ;;
    esac
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

# staleness SERVER: ms from the TTL-2 record's expiry to the first lookup that returns the changed address.
staleness() {
    local name="exp-$1.bench.test" once t0 out t i
    once=$(in_client_ns "$work/ttl_probe" once gai-unspec "$name")
    t0=$(field T0 <<<"$once")
    [ "${once#*RESULT=}" = 192.0.2.21 ] || { echo "n/a (first lookup: $once)"; return; }
    exp_address[$1]=192.0.2.22
    write_zone
    kill -HUP "$knot_pid"
    for i in $(seq 1 100); do
        [ "$(dig @127.0.0.53 +time=1 +tries=1 +short "$name" A)" = 192.0.2.22 ] && break
        sleep 0.02
    done
    for i in $(seq 1 1500); do
        out=$(in_client_ns "$work/ttl_probe" once gai-unspec "$name")
        if [ "${out#*RESULT=}" = 192.0.2.22 ]; then
            t=$(field T0 <<<"$out")
            awk -v a="$t" -v b="$t0" 'BEGIN { printf "%.0f ms\n", (a - b) / 1e6 - 2000 }'
            return
        fi
        sleep 0.02
    done
    echo "> 30000 ms (still old)"
}
# share SERVER: the largest first-address share over 10,000 calls in 2 s.
share() {
    local set=192.0.2.11,192.0.2.12,192.0.2.13,192.0.2.14 out
    in_client_ns "$work/map_client" spread inet multi.bench.test "$set" 1 1 >/dev/null
    out=$(in_client_ns "$work/map_client" spread inet multi.bench.test "$set" 10000 2000)
    echo "$(field first <<<"$out" | tr ',' '\n' | awk -F: '{ if ($2 > m) m = $2; t += $2 } END { printf "%.1f%%", t ? 100 * m / t : 100 }') ($(field first <<<"$out"); ok $(field ok <<<"$out") of 10000)"
}

: > "$work/results"
declare -A stale firstshare
measure() { # server round
    start_server "$1"
    local t f out
    for t in $threads; do
        for f in inet unspec; do
            out=$(client -t "$t" -d "$duration" -f "$f")
            echo "$1 $2 $t $f $out" >> "$work/results"
        done
    done
    if [ "$2" = 1 ]; then
        firstshare[$1]=$(share "$1")
        stale[$1]=$(staleness "$1")
    fi
    stop_server
}
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order="nscd sidecache"; else order="sidecache nscd"; fi
    for s in $order; do measure "$s" "$r"; done
done

echo "## Shared map vs glibc nscd \`shared hosts yes\` ($(date -u +%Y-%m-%d), $names cached names, getaddrinfo" \
    "SOCK_STREAM, ${duration}s per run, $rounds runs each, ABBA order; rotation $rotation; $(nproc) cores)"
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
            printf "| %s | %s | %s | %.0f (%s) | %.1f | %.1f | %d of %d | %s |\n", \
                srv == "nscd" ? "glibc nscd (shared hosts yes)" : "sidecache map", tf[1], tf[2] == "inet" ? "AF_INET" : "AF_UNSPEC", \
                cps[key] / n[key], runs[key], p50[key] / n[key], p99[key] / n[key], bad[key], calls[key], ratio
        }
    }
}' "$work/results"
echo
echo "| server | staleness after expiry (TTL 2, changed upstream) | largest first-address share (4 addresses, 10,000 calls in 2 s) |"
echo "|---|---|---|"
echo "| glibc nscd (shared hosts yes) | ${stale[nscd]} | ${firstshare[nscd]} |"
echo "| sidecache map | ${stale[sidecache]} | ${firstshare[sidecache]} |"
echo
echo "Check with no server on the socket (resolv.conf dead for the client): $baseline"
for s in nscd sidecache; do
    if [ -s "$work/$s.log" ]; then echo; echo "$s log (last lines):"; tail -5 "$work/$s.log" | sed 's/^/    /'; fi
done
