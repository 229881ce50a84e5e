#!/usr/bin/env bash
# Pod scenario: TTL exactness across the veth on both doors, and the thundering herd.
#
#   pod-ttl-herd.sh /path/to/sidecache
#
# Needs root. The pod and its cluster DNS are built by pod-lib.sh (knotd on 198.18.0.2 behind a veth; resolv.conf
# with the cluster search list and ndots:5, nameserver 127.0.0.1; sidecache's nscd socket in place).
#
# TTL exactness (as ttl-exactness.sh, but the upstream is across a link and the names go through the search list).
# For each door, with a name of its own (ttl-<door>.example.test, A 192.0.2.1, TTL 2):
#   1. one lookup through the door fills the cache; T0 = CLOCK_MONOTONIC just before it;
#   2. the record is changed at the cluster DNS to 192.0.2.2 (a knotc transaction; checked with dig across the veth);
#   3. the door is polled every 2 ms (clients/ttl_probe.c) until 192.0.2.2 appears (then 100 ms more) or T0 + 3 s.
# Passes when the old address was still served after T0 + 1.5 s, the new one came no later than T0 + 2.050 s
# (staleness <= 50 ms) and not before T0 + 1.980 s, and the old one never came back. A late answer measured while
# a poll's own round trip exceeded 10 ms (a loaded machine) is measured once more with a fresh name.
# Doors: DNS (UDP to 127.0.0.1:53), getaddrinfo(AF_INET) and getaddrinfo(AF_UNSPEC) through the nscd socket.
#
# Thundering herd. 200 processes (100 glibc getaddrinfo through the nscd door, 50 musl and 50 Go through the DNS door)
# each look up the same 5 uncached names; all are started first and released at once (a start file). Every lookup
# must succeed, and at the server each (name, type) key must have been asked exactly once: the keys are the search
# candidates of the 5 names in glibc's order up to the first that exists, A and AAAA (what glibc alone, and so
# sidecache's walk for a glibc lookup, asks, docs/nscd.md; musl and Go ask the same). sidecache's coalescing counter
# must show that misses were joined.
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/pod-lib.sh"

pod_enter 150 "gcc musl-gcc go" "$@"
pod_setup pod-ttl-herd
pod_build_clients ttl loop musl go
cat >>"$work/example.test.zone" <<'EOF'
ttl-dns    2 A   192.0.2.1
ttl-ghbn   2 A   192.0.2.1
ttl-getai  2 A   192.0.2.1
ttl-dns-2    2 A 192.0.2.1
ttl-ghbn-2   2 A 192.0.2.1
ttl-getai-2  2 A 192.0.2.1
herd-1       A   192.0.2.101
herd-2       A   192.0.2.102
herd-2       AAAA 2001:db8::102
herd-3       A   192.0.2.103
EOF
cat >>"$work/svc.cluster.local.zone" <<'EOF'
herd-svc-a.my-ns  A  10.96.7.1
herd-svc-b.my-ns  A  10.96.7.2
EOF
cluster_dns_start
sidecache_start
pod_wait_clients
probe=$bin/ttl_probe

# --- TTL exactness -------------------------------------------------------------------------------------------------
check "fixture: the cluster DNS serves ttl-dns.example.test with TTL 2" "2 192.0.2.1" \
    "$(timeout 5 dig "@$CLUSTER_DNS" +time=1 +tries=1 +noall +answer ttl-dns.example.test A | awk '{print $2, $5}')"
figures=()
measure() {  # measure DOOR KIND LABEL [ATTEMPT]
    local door=$1 kind=$2 label=$3 attempt=${4:-1} owner name once t0 first out
    owner=ttl-$door
    ((attempt == 1)) || owner+=-$attempt
    name=$owner.example.test
    once=$(timeout 10 "$probe" once "$kind" "$name" || true)
    t0=$(field T0 "$once")
    first=${once#*RESULT=}
    if [[ -z $t0 || $first != 192.0.2.1 ]]; then
        fail "$label: the first lookup of $name should give 192.0.2.1, got '$once'"
        return 0
    fi
    cluster_dns_set example.test "$owner" 2 A 192.0.2.2
    out=$(timeout 10 "$probe" poll "$kind" "$name" 192.0.2.1 192.0.2.2 "$t0" 2000 || true)
    echo "    $label: $out"
    local polls first_poll last_old first_new stale old_after errors other
    polls=$(field polls "$out"); first_poll=$(field first_poll_ms "$out"); last_old=$(field last_old_ms "$out")
    first_new=$(field first_new_ms "$out"); stale=$(field staleness_ms "$out"); old_after=$(field old_after_new "$out")
    errors=$(field errors "$out"); other=$(field other "$out")
    [[ -n $polls && -n $first_new ]] || { fail "$label: the probe gave no figures: '$out'"; return 0; }
    # A poll's own round trip bounds what the probe can resolve. When the machine is so loaded that one took more
    # than 10 ms and the new answer was late, the figure says more about the load than about the cache: measure
    # once more, with a name of its own (both runs are printed).
    if ((attempt == 1)) && awk -v v="$first_new" -v r="$(field max_rtt_ms "$out")" 'BEGIN {exit !((v < 0 || v > 2050) && r > 10)}'; then
        echo "    $label: late new answer while polls took up to $(field max_rtt_ms "$out") ms: measuring again"
        measure "$door" "$kind" "$label" 2
        return 0
    fi
    if awk -v v="$last_old" 'BEGIN {exit !(v >= 1500)}'; then
        pass "$label: old address still served at T0+${last_old} ms (the cache held it; polling from T0+${first_poll} ms)"
    else
        fail "$label: old address last served at T0+${last_old} ms, not after T0+1500 ms (polling began at T0+${first_poll} ms)"
    fi
    if awk -v v="$first_new" 'BEGIN {exit !(v >= 1980 && v <= 2050)}'; then
        pass "$label: new address served from T0+${first_new} ms (staleness ${stale} ms, allowed -20..50 ms)"
    else
        fail "$label: new address first served at T0+${first_new} ms (staleness ${stale} ms), allowed T0+1980..2050 ms"
    fi
    check "$label: old address never served again after the new one" 0 "$old_after"
    check "$label: every poll answered with the old or the new address (errors+other)" 0 "$((errors + other))"
    figures+=("$(printf '%-34s staleness %s ms (%s polls)' "$label:" "$stale" "$polls")")
}
measure dns dns:127.0.0.1 "DNS door (UDP 127.0.0.1:53)"
measure ghbn gai-inet "nscd door, getaddrinfo(AF_INET)"
measure getai gai-unspec "nscd door, getaddrinfo(AF_UNSPEC)"
for f in "${figures[@]}"; do echo "    $f"; done

# --- Thundering herd -----------------------------------------------------------------------------------------------
herd_names=(herd-svc-a herd-svc-b.my-ns herd-1.example.test herd-2.example.test herd-3.example.test)
declare -A herd_found=([herd-svc-a]=herd-svc-a.my-ns.svc.cluster.local
    [herd-svc-b.my-ns]=herd-svc-b.my-ns.svc.cluster.local)
candidates() {  # candidates NAME   -> glibc's search order for NAME (ndots:5, none of these has 5 dots), up to the
    local d c     # first candidate that exists (herd_found; the example.test names exist only as they are)
    for c in $(for d in $POD_SEARCH; do echo "$1.$d"; done) "$1"; do
        echo "$c"
        [[ $c == "${herd_found[$1]:-$1}" ]] && break
    done
    return 0
}
for name in "${herd_names[@]}"; do candidates "$name"; done | awk '{print $1, "A"; print $1, "AAAA"}' |
    LC_ALL=C sort -u >"$work/herd.expected"
mark=$(query_log_mark)
check "herd: none of the names reached the server before the herd" "" \
    "$(grep -E ' herd-' "$work/queries.log" | head -n 3 | paste -sd';' -)"
coalesced0=$(metric sidecache_cache_coalesced_total)
requests0=$(metric sidecache_upstream_requests_total)
go_file=$work/herd.go
mkdir -p "$work/herd"
herd_pids=()
for i in $(seq 1 200); do
    if ((i <= 100)); then client=$bin/loop_resolve
    elif ((i <= 150)); then client=$bin/musl_loop
    else client=$bin/go_loop; fi
    timeout 60 "$client" -f unspec -i 0 -n 5 -t 30 -s "$go_file" "${herd_names[@]}" >"$work/herd/$i.out" 2>&1 &
    herd_pids+=($!)
done
sleep 1   # every process is waiting for the start file (Go's runtime starts slowest)
touch "$go_file"
herd_started=$(now_ms)
herd_status=0
for p in "${herd_pids[@]}"; do wait "$p" || herd_status=1; done
herd_ms=$(($(now_ms) - herd_started))
query_log_since "$mark" >"$work/herd.queries"
check "herd: all 200 processes ran to the end" 0 "$herd_status"
ends=$(cat "$work"/herd/*.out | grep -c '^END .* lookups=5 ok=5 err=0 ' || true)
check "herd: 200 processes x 5 names, every lookup answered (processes with 5 of 5)" 200 "$ends"
if ((ends != 200)); then grep -h '^FAIL' "$work"/herd/*.out | sort | uniq -c | sort -rn | head -n 10; fi
awk '{print $3, $4}' "$work/herd.queries" | LC_ALL=C sort | uniq -c | awk '{print $2, $3, $1}' >"$work/herd.counts"
n_queries=$(wc -l <"$work/herd.queries")
check "herd: no (name, type) key was asked upstream more than once ($n_queries queries at the server)" "" \
    "$(awk '$3 != 1 {print $1, $2, "x" $3}' "$work/herd.counts" | paste -sd';' -)"
check "herd: the keys asked are exactly glibc's walk for the 5 names, A and AAAA ($(wc -l <"$work/herd.expected"))" \
    "" "$(LC_ALL=C comm -3 "$work/herd.expected" <(awk '{print $1, $2}' "$work/herd.counts") | tr '\t' ' ' |
        sed 's/^ /extra: /' | paste -sd';' -)"
check "herd: sidecache's upstream query count equals the server's" "$n_queries" \
    "$(($(metric sidecache_upstream_requests_total) - requests0))"
coalesced=$(($(metric sidecache_cache_coalesced_total) - coalesced0))
if ((coalesced > 0)); then
    pass "herd: $coalesced misses joined a query in flight (1000 lookups in ${herd_ms} ms)"
else
    fail "herd: no miss joined a query in flight: the processes did not overlap, so the herd proved nothing"
fi

# --- Summary -------------------------------------------------------------------------------------------------------
echo "run took $((SECONDS - started))s"
kill -0 "$sidecache_pid" 2>/dev/null && pass "sidecache alive at the end" || fail "sidecache exited during the run"
show_sidecache_warnings
finish
