#!/usr/bin/env bash
# Upstream throughput of the forwarder (no cache) over UDP and over pipelined TCP, next to the upstream's own figure
# measured by dnsperf in the same run. Everything on loopback.
#
#   bash bench/forwarder.sh [--duration SECONDS] [--names N] [--concurrency C]
set -euo pipefail
duration=8
names=1000
concurrency=200
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --names) names=$2; shift 2 ;;
        --concurrency) concurrency=$2; shift 2 ;;
        *) echo "usage: $0 [--duration S] [--names N] [--concurrency C]" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
for tool in dnsperf knotd dig; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-deps" >&2; exit 1; }
done
(cd "$root" && swift build -c release --product sidecache-bench >/dev/null)
bench="$root/.build/release/sidecache-bench"

address=127.$((RANDOM % 100 + 100)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
port=53100
work=$(mktemp -d /tmp/sidecache-fwd.XXXXXX)
knot_pid=""
cleanup() { [ -n "$knot_pid" ] && kill "$knot_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
write_bench_upstream "$work" "$names" "$address@$port" "background-workers: 1" "udp-workers: 1" "tcp-workers: 1"
knotd -c "$work/knot.conf" 2>"$work/knot.log" & knot_pid=$!
for _ in $(seq 1 100); do dig @"$address" -p "$port" +time=1 +tries=1 +short n0.bench.test >/dev/null 2>&1 && break; sleep 0.1; done
for ((i = 0; i < names; i++)); do echo "n$i.bench.test A"; done > "$work/queries"

direct_udp=$(dnsperf -s "$address" -p "$port" -d "$work/queries" -l "$duration" -c 1 -q "$concurrency" 2>/dev/null | awk '/Queries per second/ { printf "%.0f", $4 }')
direct_tcp=$(dnsperf -m tcp -s "$address" -p "$port" -d "$work/queries" -l "$duration" -c 1 -q "$concurrency" 2>/dev/null | awk '/Queries per second/ { printf "%.0f", $4 }')
udp=$("$bench" forwarder "$address:$port" udp "$duration" "$concurrency" "$names")
tcp=$("$bench" forwarder "$address:$port" tcp "$duration" "$concurrency" "$names")
udp_qps=$(echo "$udp" | awk '{ print $4 }')
tcp_qps=$(echo "$tcp" | awk '{ print $4 }')
echo "## Forwarder vs the upstream's own capacity ($(date -u +%Y-%m-%d), knotd 1 UDP + 1 TCP worker, $concurrency outstanding, ${duration}s)"
echo
echo "| path | queries/s | ratio to dnsperf direct |"
echo "|---|---|---|"
echo "| dnsperf -> knotd, UDP | $direct_udp | 1.00 |"
echo "| sidecache forwarder, UDP (new socket per query) | $udp_qps | $(awk -v a="$udp_qps" -v b="$direct_udp" 'BEGIN { printf "%.2f", a / b }') |"
echo "| dnsperf -> knotd, TCP | $direct_tcp | 1.00 |"
echo "| sidecache forwarder, pipelined TCP | $tcp_qps | $(awk -v a="$tcp_qps" -v b="$direct_tcp" 'BEGIN { printf "%.2f", a / b }') |"
echo
echo "$udp"
echo "$tcp"
