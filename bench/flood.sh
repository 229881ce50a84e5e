#!/usr/bin/env bash
# A good client's latency while one source floods the DNS door: sidecache against unbound, side by side in one run, in
# private namespaces (issue 16, "a flood from one source does not starve another client").
#
#   sudo bash bench/flood.sh [--binary PATH] [--rounds N] [--queries N] [--rate QPS] [--flood-ms MS] [--flood-max N]
#
# --binary   the sidecache to measure (default: build release as bench/dns-door.sh does, under /tmp/swift.lock)
# --rounds   rounds per server, in ABBA order (default 3)
# --queries  the good client's queries per measurement (default 2000), at --rate queries per second (default 2000)
# --flood-ms, --flood-max   the flood's bounds: milliseconds and datagrams, whichever comes first (4000, 2000000)
#
# Both caches forward to the same Knot DNS upstream (127.0.0.53) and are warmed with the same names: sidecache on
# 127.0.0.1:53, unbound (2 threads, so-reuseport, as in bench/dns-door.sh) on 127.0.0.2:53. Per round and server:
#   no flood   Tests/Scenarios/clients/dns_good_client: its own socket, QUERIES A queries for one cached name at RATE
#              (open loop: query i leaves at i / RATE s), each with a 1 s timeout, no resend, every answer checked;
#   flood      Tests/Scenarios/clients/dns_flood from ONE socket (source port 40053) to the same server, as fast as it
#              can within its bounds: 1/8 each 0-11 random bytes, random responses (QR=1), unreadable questions; 3/8
#              cached names; 1/8 each never-cached r<random>.bench.test (NXDOMAIN upstream) and r<random>.nozone.test
#              (REFUSED upstream). 300 ms into it the good client runs again (QUERIES / RATE s, inside the flood);
#   recovery   then a fresh name (a wildcard only knotd answers) is asked every 200 ms until it resolves (30 s at
#              most): the time from the flooder's exit until a miss is answered again.
# Latency percentiles pool the answered queries of all rounds; how many were answered is given beside them. A flooded
# socket's full receive buffer makes the kernel drop datagrams whoever sent them; with SO_REUSEPORT (unbound's 2
# threads, and any server with a socket per thread) the good client shares the flooder's socket only when its source
# port hashes to the same one, so a round can be unaffected: hence several rounds and the answered counts per round.
# Prints a markdown table with the ratios. Nothing leaves the namespaces; /tmp/swift.lock is held while measuring.
set -euo pipefail

binary=""
rounds=3
queries=2000
rate=2000
flood_ms=4000
flood_max=2000000
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$(readlink -f -- "$2"); shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --queries) queries=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --flood-ms) flood_ms=$2; shift 2 ;;
        --flood-max) flood_max=$2; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--rounds N] [--queries N] [--rate QPS] [--flood-ms MS] [--flood-max N]" >&2
           exit 2 ;;
    esac
done
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1 && rounds <= 10)) || { echo "bad --rounds" >&2; exit 2; }
[[ $queries =~ ^[0-9]+$ ]] && ((queries >= 100 && queries <= 20000)) || { echo "bad --queries" >&2; exit 2; }
[[ $rate =~ ^[0-9]+$ ]] && ((rate >= 100 && rate <= 20000)) || { echo "bad --rate" >&2; exit 2; }
[[ $flood_ms =~ ^[0-9]+$ ]] && ((flood_ms >= 1000 && flood_ms <= 30000)) || { echo "bad --flood-ms" >&2; exit 2; }
[[ $flood_max =~ ^[0-9]+$ ]] && ((flood_max >= 1000 && flood_max <= 20000000)) || { echo "bad --flood-max" >&2; exit 2; }
# The good client's queries must fit inside the flood: they start 300 ms into it.
((queries * 1000 / rate + 300 < flood_ms)) || { echo "--queries / --rate must take less than --flood-ms - 300 ms" >&2; exit 2; }

root=$(cd "$(dirname "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
if [ -z "${SIDECACHE_BENCH_INSIDE:-}" ]; then
    if [ "$(id -u)" != 0 ]; then echo "bench/flood.sh: needs root for namespaces and port 53" >&2; exit 1; fi
    for tool in unbound knotd knotc dig gcc unshare ip flock timeout; do
        command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-deps" >&2; exit 1; }
    done
    if [ -z "$binary" ]; then
        (cd "$root" && flock /tmp/swift.lock swift build -c release --product sidecache >/dev/null)
        binary="$root/.build/release/sidecache"
    fi
    [ -x "$binary" ] || { echo "not executable: $binary" >&2; exit 2; }
    # Bounded as a whole (the wait for /tmp/swift.lock included). The PID namespace takes every process along.
    exec timeout -k 10 1800 unshare -n -m -p --fork --kill-child --mount-proc --propagation private \
        env SIDECACHE_BENCH_INSIDE=1 SIDECACHE_BENCH_BINARY="$binary" bash "$0" --rounds "$rounds" \
        --queries "$queries" --rate "$rate" --flood-ms "$flood_ms" --flood-max "$flood_max"
fi

# --- Inside the namespaces --------------------------------------------------------------------------------------------
if ip -o link show | awk -F': ' '{print $2}' | grep -qvx lo; then echo "refusing: interfaces besides lo" >&2; exit 2; fi
ip link set lo up
ip addr add 127.0.0.2/32 dev lo
work=$(mktemp -d /tmp/sidecache-flood-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount /etc/resolv.conf 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
# Our own resolv.conf over the machine's (this mount namespace only): nothing here may ask the machine's nameserver.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

clients=$root/Tests/Scenarios/clients
gcc -O2 -Wall -o "$work/dns_flood" "$clients/dns_flood.c"
gcc -O2 -Wall -o "$work/dns_good_client" "$clients/dns_good_client.c"

# The upstream: Knot DNS with 10 names and a wildcard for the recovery probes (fresh names, only knotd answers them).
write_bench_upstream "$work" 10 "127.0.0.53@53"
echo '*.fresh IN A 192.0.2.99' >>"$work/bench.test.zone"
knotd -c "$work/knot.conf" 2>"$work/knot.log" & pids+=($!)

# Measure with /tmp/swift.lock held (no Swift build meanwhile); the servers do not inherit its descriptor.
exec {lock_fd}>/tmp/swift.lock
flock -w 1200 "$lock_fd" || { echo "waited 20 minutes for /tmp/swift.lock" >&2; exit 1; }

write_unbound_conf "$work/unbound.conf" "$work" 127.0.0.2 127.0.0.53@53
# unbound answers names under test. itself (NXDOMAIN, a default local zone, RFC 6761) unless told not to.
printf 'server:\n    local-zone: "test." nodefault\n' >>"$work/unbound.conf"
unbound -d -c "$work/unbound.conf" {lock_fd}>&- 2>"$work/unbound.log" & pids+=($!)
mkdir -p "$work/nscd"
"$SIDECACHE_BENCH_BINARY" serve --upstream 127.0.0.53:53 --dns-listen 127.0.0.1:53 --nscd-socket "$work/nscd/socket" \
    --admin-listen off --log-level warning --shared-map off {lock_fd}>&- 2>"$work/sidecache.log" & pids+=($!)
sidecache_pid=$!

dig_a() { timeout 5 dig @"$1" +time=1 +tries=1 +short "$2" A 2>/dev/null | grep -v '^;' | head -n1 || true; }
wait_for() {
    for _ in $(seq 1 100); do [ "$(dig_a "$1" n0.bench.test)" = 10.0.0.0 ] && return 0; sleep 0.1; done
    echo "server at $1 did not answer n0.bench.test with 10.0.0.0" >&2
    exit 1
}
wait_for 127.0.0.53; wait_for 127.0.0.2; wait_for 127.0.0.1
declare -A address=([sidecache]=127.0.0.1 [unbound]=127.0.0.2)
hits=n0.bench.test,n1.bench.test,n2.bench.test,n3.bench.test,n4.bench.test
for server in sidecache unbound; do
    for name in ${hits//,/ }; do dig_a "${address[$server]}" "$name" >/dev/null; done
done
now_ms() { echo $(($(date +%s%N) / 1000000)); }
interval_us=$((1000000 / rate))

good() {  # good SERVER OUT-PREFIX: the good client; OUT-PREFIX.out (its line) and OUT-PREFIX.lat (latencies, us)
    timeout 60 "$work/dns_good_client" "$1" n0.bench.test 10.0.0.0 "$queries" "$interval_us" 1000 0 "$2.lat" \
        >"$2.out" 2>&1 || true
}
field() { tr ' ' '\n' <"$2" | awk -F= -v k="$1" '$1 == k {print $2; exit}'; }
results=$work/results
: >"$results"
measure() {  # measure SERVER ROUND
    local server=$1 round=$2 at=${address[$1]} prefix=$work/$1-$2 t0 recovered=none
    good "$at" "$prefix-calm"
    rm -f "$work/flood.ready"
    timeout 60 "$work/dns_flood" "$at" 40053 "$flood_max" "$flood_ms" "$hits" bench.test nozone.test "$work/flood.ready" \
        >"$prefix-flood.out" 2>&1 &
    local flood_pid=$!
    for _ in $(seq 1 200); do [ -e "$work/flood.ready" ] && break; sleep 0.01; done
    sleep 0.3
    good "$at" "$prefix-flooded"
    wait "$flood_pid" || true
    t0=$(now_ms)
    while (($(now_ms) - t0 < 30000)); do
        if [ "$(dig_a "$at" "r$(date +%s%N).fresh.bench.test")" = 192.0.2.99 ]; then recovered=$(($(now_ms) - t0)); break; fi
        sleep 0.2
    done
    echo "$server round=$round calm: $(cat "$prefix-calm.out")"
    echo "$server round=$round flooded: $(cat "$prefix-flooded.out")"
    echo "$server round=$round flood: $(cat "$prefix-flood.out")"
    echo "$server round=$round miss answered again after ${recovered} ms"
    echo "$server $round $(field ok "$prefix-calm.out") $(field ok "$prefix-flooded.out") $recovered" \
        "$(field rate "$prefix-flood.out") $(field hit_sent "$prefix-flood.out") $(field hit_replies "$prefix-flood.out")" \
        "$(field miss_sent "$prefix-flood.out") $(field miss_replies "$prefix-flood.out") $(field miss_nxdomain "$prefix-flood.out")" \
        >>"$results"
    kill -0 "$sidecache_pid" 2>/dev/null || { echo "sidecache exited" >&2; tail -n 20 "$work/sidecache.log" >&2; exit 1; }
}
for ((round = 1; round <= rounds; round++)); do
    if ((round % 2)); then order="sidecache unbound"; else order="unbound sidecache"; fi
    for server in $order; do measure "$server" "$round"; done
done
flock -u "$lock_fd"

# Percentiles over the answered queries of every round (how many were answered is a column of its own).
pct() {  # pct SERVER PHASE P -> microseconds, or "none"
    { cat "$work/$1"-*-"$2.lat" 2>/dev/null || true; } | sort -n | awk -v p="$3" '
        { v[NR] = $1 } END { if (NR == 0) print "none"; else print v[int((NR - 1) * p / 100) + 1] }'
}
answered() {  # answered SERVER COLUMN(3 calm, 4 flooded) -> "sum/total (per round a, b, c)"
    awk -v s="$1" -v c="$2" -v q="$queries" '$1 == s { n += $c; t += q; r = r (r == "" ? "" : ", ") $c }
        END { printf "%d/%d (%s)", n, t, r }' "$results"
}
median_col() {  # median_col SERVER COLUMN
    awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$results" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.1fx", a / b; else print "-" }'; }
share() {  # share SERVER SENT-COLUMN REPLIES-COLUMN -> percent answered, over the rounds
    awk -v s="$1" -v a="$2" -v b="$3" '$1 == s { x += $a; y += $b } END { printf "%.0f%%", x ? 100 * y / x : 0 }' "$results"
}
declare -A c50 c99 f50 f99
for server in sidecache unbound; do
    c50[$server]=$(pct "$server" calm 50); c99[$server]=$(pct "$server" calm 99)
    f50[$server]=$(pct "$server" flooded 50); f99[$server]=$(pct "$server" flooded 99)
done

echo
echo "## A good client during a one-source flood ($(date -u +%Y-%m-%d), ${SIDECACHE_BENCH_BINARY#"$root"/}, rounds: $rounds)"
echo
echo "Good client: $queries A queries at $rate/s for one cached name, 1 s timeout, no resend; latency in microseconds," \
    "over the answered queries of all rounds. Flood: one socket, at most $flood_max datagrams or $flood_ms ms;" \
    "3/8 garbage, 3/8 cached names, 2/8 misses."
echo
echo "| server | answered, no flood | p50 / p99, no flood | answered during the flood (per round) | p50 / p99 during the flood | flood ×p50 / ×p99 | flood rate (median) | flood's cached-name queries answered | flood's misses answered (NXDOMAIN) | a miss answered again after the flood (median) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for server in sidecache unbound; do
    label=$server
    [ "$server" = unbound ] && label="unbound 2 threads"
    nx=$(awk -v s="$server" '$1 == s { m += $11 } END { print m + 0 }' "$results")
    echo "| $label | $(answered "$server" 3) | ${c50[$server]} / ${c99[$server]} | $(answered "$server" 4) |" \
        "${f50[$server]} / ${f99[$server]} | $(ratio "${f50[$server]}" "${c50[$server]}") / $(ratio "${f99[$server]}" "${c99[$server]}") |" \
        "$(median_col "$server" 6)/s | $(share "$server" 7 8) | $(share "$server" 9 10) ($nx) | $(median_col "$server" 5) ms |"
done
echo
sc_ok=$(awk '$1 == "sidecache" { n += $4 } END { print n + 0 }' "$results")
ub_ok=$(awk '$1 == "unbound" { n += $4 } END { print n + 0 }' "$results")
echo "sidecache/unbound during the flood: p50 $(ratio "${f50[sidecache]}" "${f50[unbound]}"), p99" \
    "$(ratio "${f99[sidecache]}" "${f99[unbound]}"), answered $(ratio "$sc_ok" "$ub_ok")"
