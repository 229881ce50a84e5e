#!/usr/bin/env bash
# The glibc path in bursts and on a cold cache (docs/benchmarks.md, "Burst" and "Cold and warm upstream queries"),
# in the pod of Tests/Scenarios/pod-lib.sh (knotd as the cluster DNS behind a veth), all in one run.
#
#   sudo bash bench/burst.sh [PATH-TO-SIDECACHE]     (default: .build/release/sidecache, else .build/debug/sidecache)
#
# 1. Burst: 1,000 back-to-back calls in one process for my-headless (4 A records), for getaddrinfo(AF_INET),
#    getaddrinfo(AF_UNSPEC) and gethostbyname; the largest first-address share, per server:
#      sidecache            as shipped (shared map on, --shared-map-addresses single-address)
#      sidecache-map-all    --shared-map-addresses all (every name mapped, rotated every 100 ms)
#      sidecache-socket     --shared-map off
#      nscd-yes, nscd-no    glibc nscd 2.36, `shared hosts yes` / `no`
#      glibc-unbound        no nscd socket; glibc's own stub to unbound on 127.0.0.1 (rrset-roundrobin: yes)
#    Each server is warmed with one lookup first, so the bursts measure cached answers.
# 2. Cold and warm queries: the corpus of Tests/Scenarios/pod-search-list.sh (search list of three domains, ndots:5,
#    short and qualified names, NXDOMAIN, NODATA, a CNAME chain, hosts-file names), looked up by glibc clients
#    (getaddrinfo AF_UNSPEC and AF_INET, getent ahosts), counted at the cluster DNS by the query sniffer:
#    glibc alone, then through a fresh sidecache (cold), then again (warm); the same through glibc nscd `shared no`.
#    Wall time per pass too (one process per lookup, so it includes process start-up).
# 3. Cold latency per lookup: 300 names never asked before, each found in the second search domain (the first
#    candidate is NXDOMAIN, as for a "svc.namespace" name), one getaddrinfo call each, timed in one process:
#    p50 and p90 for glibc alone, a fresh sidecache and glibc nscd `shared no`, AF_UNSPEC and AF_INET. Every
#    server gets names of its own, so every call is a miss.
#
# Prints one line per measurement and a markdown table. Nothing leaves the pod and the cluster-DNS namespace.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)
if [[ -z ${SIDECACHE_SCENARIO_IN_NAMESPACE:-} && $# -eq 0 ]]; then
    for candidate in "$root/.build/release/sidecache" "$root/.build/debug/sidecache"; do
        [[ -x $candidate ]] && set -- "$candidate" && break
    done
    [[ $# -eq 1 ]] || { echo "no sidecache binary under .build: swift build -c release first" >&2; exit 2; }
fi
# shellcheck source=Tests/Scenarios/pod-lib.sh
. "$root/Tests/Scenarios/pod-lib.sh"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
pod_enter 900 "nscd unbound gcc getent" "$@"

pod_setup bench-burst server_pid
pod_build_clients glibc
cold_names=300
for server in glibc-alone sidecache nscd-no; do
    for family in unspec inet; do
        for ((i = 0; i < cold_names; i++)); do
            echo "cold-$server-$family-$i.my-ns 30 IN A 10.200.$((i / 256)).$((i % 256))"
            echo "cold-$server-$family-$i.my-ns" >>"$work/cold-$server-$family.names"
        done
    done
done >>"$work/svc.cluster.local.zone"
cluster_dns_start
pod_wait_clients
write_nscd_conf "$work/nscd-yes.conf" yes
write_nscd_conf "$work/nscd-no.conf" no
write_unbound_conf "$work/unbound.conf" "$work" 127.0.0.1 "$CLUSTER_DNS@53"
printf 'server:\n    rrset-roundrobin: yes\n' >>"$work/unbound.conf"

server_pid=""
start_server() {  # start_server NAME
    rm -rf /var/run/nscd/*
    case $1 in
        sidecache*)
            local extra=()
            [[ $1 == sidecache-socket ]] && extra=(--shared-map off)
            [[ $1 == sidecache-map-all ]] && extra=(--shared-map-addresses all)
            pod_write_resolv 127.0.0.1
            sidecache_start "${extra[@]}"
            server_pid=$sidecache_pid
            return
            ;;
        nscd-*)
            pod_write_resolv "$CLUSTER_DNS"
            nscd -F -f "$work/$1.conf" >>"$work/nscd.log" 2>&1 &
            server_pid=$!
            local i
            for i in $(seq 1 100); do [[ -S $NSCD_SOCKET ]] && break; sleep 0.05; done
            [[ -S $NSCD_SOCKET ]] || abort "nscd did not start" "$work/nscd.log"
            ;;
        glibc-unbound)
            pod_write_resolv 127.0.0.1
            unbound -d -c "$work/unbound.conf" >>"$work/unbound.log" 2>&1 &
            server_pid=$!
            local i
            local i up=0
            for i in $(seq 1 100); do
                timeout 1 dig +short +tries=1 +time=1 @127.0.0.1 ns.cluster.local >/dev/null 2>&1 && up=1 && break
                sleep 0.05
            done
            ((up)) || abort "unbound did not start" "$work/unbound.log"
            ;;
        glibc-alone) pod_write_resolv "$CLUSTER_DNS"; server_pid="" ;;
    esac
}
stop_server() {
    if [[ -n ${sidecache_pid:-} && $server_pid == "$sidecache_pid" ]]; then
        sidecache_stop KILL
    elif [[ -n $server_pid ]]; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
share() {  # share OUTPUT -> "MAX% (a=n b=n ...)" from glibc_resolve first output
    awk '$1 == "FIRST" {c[$2] = $3; if ($3 > m) m = $3; t += $3}
         $1 == "RUNS" {r = $0}
         END {s = ""; for (a in c) s = s sprintf("%s%s=%d", s == "" ? "" : " ", a, c[a]);
              printf "%.1f%% (%s) %s\n", t ? 100 * m / t : 100, s, r}' <<<"$1"
}

# --- 1. Burst --------------------------------------------------------------------------------------------------------
declare -A burst
for server in sidecache sidecache-map-all sidecache-socket nscd-yes nscd-no glibc-unbound; do
    start_server "$server"
    timeout 10 "$bin/glibc_resolve" gai my-headless unspec >/dev/null || true
    timeout 10 "$bin/glibc_resolve" gai my-headless inet >/dev/null || true
    sleep 0.3
    for call in inet unspec ghbn; do
        out=$(timeout 60 "$bin/glibc_resolve" first 1000 my-headless "$call" 2>&1 || true)
        burst[$server,$call]=$(share "$out")
        echo "burst server=$server call=$call share=${burst[$server,$call]}"
    done
    stop_server
done

# --- 2. Cold and warm upstream queries ------------------------------------------------------------------------------
names=(my-svc my-svc.my-ns my-svc.my-ns.svc.cluster.local. my-headless other-svc.other-ns v4svc alias.my-ns
    www.example.test api.example.test www.example.test. nope.example.test txtonly foo.local my-pod)
corpus() {  # corpus -> the queries the pass cost at the cluster DNS, and its wall time, as "QUERIES MS"
    local mark t0 name
    mark=$(query_log_mark)
    t0=$(now_ms)
    for name in "${names[@]}"; do
        timeout 20 "$bin/glibc_resolve" gai "$name" unspec >/dev/null 2>&1 || true
        timeout 20 "$bin/glibc_resolve" gai "$name" inet >/dev/null 2>&1 || true
        timeout 20 getent ahosts "$name" >/dev/null 2>&1 || true
    done
    echo "$(query_log_since "$mark" | wc -l) $(($(now_ms) - t0))"
}
declare -A passes latency
for server in glibc-alone sidecache nscd-no; do
    start_server "$server"
    passes[$server,cold]=$(corpus)
    [[ $server == glibc-alone ]] || passes[$server,warm]=$(corpus)
    echo "corpus server=$server cold=${passes[$server,cold]} warm=${passes[$server,warm]:-}"
    # --- 3. Cold latency per lookup
    for family in unspec inet; do
        latency[$server,$family]=$(timeout 120 "$bin/glibc_resolve" time "$work/cold-$server-$family.names" "$family" \
            || echo "TIME failed=$?")
        echo "cold-latency server=$server family=$family ${latency[$server,$family]}"
    done
    stop_server
done

# --- Report ----------------------------------------------------------------------------------------------------------
echo
echo "| server | getaddrinfo(AF_INET) | getaddrinfo(AF_UNSPEC) | gethostbyname |"
echo "|---|---|---|---|"
for server in sidecache sidecache-map-all sidecache-socket nscd-yes nscd-no glibc-unbound; do
    printf '| %s | %s | %s | %s |\n' "$server" "${burst[$server,inet]%% (*}" "${burst[$server,unspec]%% (*}" \
        "${burst[$server,ghbn]%% (*}"
done
echo
echo "| glibc clients | cold: queries at the cluster DNS | cold: wall ms | warm: queries | warm: wall ms |"
echo "|---|---|---|---|---|"
for server in glibc-alone sidecache nscd-no; do
    read -r cq cms <<<"${passes[$server,cold]}"
    if [[ -n ${passes[$server,warm]:-} ]]; then read -r wq wms <<<"${passes[$server,warm]}"; else wq=-; wms=-; fi
    printf '| %s | %s | %s | %s | %s |\n' "$server" "$cq" "$cms" "$wq" "$wms"
done
echo
echo "| glibc clients | AF_UNSPEC p50 µs | AF_UNSPEC p90 µs | AF_INET p50 µs | AF_INET p90 µs | answered |"
echo "|---|---|---|---|---|---|"
for server in glibc-alone sidecache nscd-no; do
    u=${latency[$server,unspec]} v=${latency[$server,inet]}
    printf '| %s | %s | %s | %s | %s | %s + %s of %s |\n' "$server" "$(field p50_us "$u")" "$(field p90_us "$u")" \
        "$(field p50_us "$v")" "$(field p90_us "$v")" "$(field ok "$u")" "$(field ok "$v")" "$((2 * cold_names))"
done
echo "run took $((SECONDS - started))s"
