#!/usr/bin/env bash
# Memory of the sidecar as the pod runs it, for the resource requests and limits in sidecar-yaml/ and
# docs/kubernetes.md (Sizing): the image's binary (release, static Swift runtime), SIDECACHE_THREADS=1, the default
# 16 MiB cache budget. Prints RSS at rest, after the cache is filled past its budget (evictions), and the peak.
#
#   sudo bash bench/sidecar-memory.sh [--names N] [--cache-size SIZE] [--negative-cache-size SIZE]
#
# Runs in a private network namespace: Knot DNS on 127.0.0.53 serves N names (default 250000), dnsperf asks each
# once through 127.0.0.1:53 at 20000 queries/s (bounded to 120 s). Nothing leaves the namespace.
set -euo pipefail

names=250000
cache_size=16MiB
negative_cache_size=4MiB
while [ $# -gt 0 ]; do
    case "$1" in
        --names) names=$2; shift 2 ;;
        --cache-size) cache_size=$2; shift 2 ;;
        --negative-cache-size) negative_cache_size=$2; shift 2 ;;
        *) echo "usage: $0 [--names N] [--cache-size SIZE] [--negative-cache-size SIZE]" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
if [ -z "${SIDECACHE_BENCH_INSIDE:-}" ]; then
    if [ "$(id -u)" != 0 ]; then echo "bench/sidecar-memory.sh: needs root for a network namespace" >&2; exit 1; fi
    for tool in dnsperf knotd unshare ip; do
        command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-deps" >&2; exit 1; }
    done
    (cd "$root" && swift build -c release --static-swift-stdlib --product sidecache --scratch-path .build-static >/dev/null)
    exec timeout --kill-after=10 300 unshare -n -m --propagation private env SIDECACHE_BENCH_INSIDE=1 \
        SIDECACHE_BENCH_BINARY="$root/.build-static/release/sidecache" bash "$0" --names "$names" --cache-size "$cache_size" \
        --negative-cache-size "$negative_cache_size"
fi

ip link set lo up
work=$(mktemp -d /tmp/sidecache-memory.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

write_bench_upstream "$work" "$names" "127.0.0.53@53"
knotd -c "$work/knot.conf" 2>"$work/knot.log" & pids+=($!)
for _ in $(seq 1 100); do dig @127.0.0.53 +short +time=1 +tries=1 bench.test SOA >/dev/null 2>&1 && break; sleep 0.2; done

binary=$SIDECACHE_BENCH_BINARY
env -i LD_LIBRARY_PATH= SIDECACHE_UPSTREAM=127.0.0.53 SIDECACHE_THREADS=1 SIDECACHE_CACHE_SIZE="$cache_size" \
    SIDECACHE_NEGATIVE_CACHE_SIZE="$negative_cache_size" \
    SIDECACHE_NSCD_SOCKET="$work/nscd.socket" SIDECACHE_DNS_LISTEN=127.0.0.1:53 SIDECACHE_LAME_DUCK=0s \
    SIDECACHE_SHARED_MAP_FILE="$work/sidecache-run/hosts.map" \
    "$binary" serve 2>"$work/sidecache.log" & pids+=($!)
daemon=$!
for _ in $(seq 1 100); do "$binary" check --socket "$work/nscd.socket" >/dev/null 2>&1 && break; sleep 0.1; done

kib() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$daemon/status"; }
sleep 2
idle=$(kib VmRSS)

for ((i = 0; i < names; i++)); do echo "n$i.bench.test A"; done >"$work/queries"
dnsperf -s 127.0.0.1 -d "$work/queries" -n 1 -Q 20000 -l 120 -t 2 >"$work/dnsperf.log" 2>&1 || true
sleep 1
full=$(kib VmRSS)
peak=$(kib VmHWM)
stats=$("$binary" stats)

completed=$(awk '/Queries completed/ {print $3}' "$work/dnsperf.log")
grep -E "Response codes|Queries (sent|completed|lost)" "$work/dnsperf.log" || true
echo "| binary | $(stat -c %s "$binary") bytes |"
echo "| cache budget | $cache_size, of it at most $negative_cache_size negative |"
echo "| RSS at rest (after startup and the loop probe) | $((idle / 1024)) MiB ($idle KiB) |"
echo "| RSS after $completed distinct names | $((full / 1024)) MiB ($full KiB) |"
echo "| peak RSS (VmHWM) | $((peak / 1024)) MiB ($peak KiB) |"
echo "--- sidecache stats"
echo "$stats" | grep -E "^(cache entries|cache bytes|evictions|upstream queries)"
