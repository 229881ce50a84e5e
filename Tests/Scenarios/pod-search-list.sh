#!/usr/bin/env bash
# Pod scenario: names through the cluster search list, and round robin, with glibc (getaddrinfo in a C program and
# getent, through the nscd door), musl and Go (through the DNS door).
#
#   pod-search-list.sh /path/to/sidecache
#
# Needs root. The pod and its cluster DNS are built by pod-lib.sh (a veth between two private network namespaces,
# knotd on 198.18.0.2 behind it; resolv.conf with the cluster search list and ndots:5).
#
# Method.
#   1. Without sidecache: resolv.conf names the cluster DNS directly and no nscd socket exists. Every client resolves
#      every name of the list once; those answers are the expectation, and the queries that reached the server are
#      the set of (name, type) keys the clients need.
#   2. With sidecache as shipped (shared map on): resolv.conf names 127.0.0.1 (the pod's real set-up) and the nscd
#      socket exists. The same lookups must give the same answers (one documented protocol limit: a GETAI reply
#      cannot say NODATA, docs/nscd.md). The glibc clients go first, on a cold cache: the queries they cost the
#      cluster DNS must be no more than the same glibc clients sent without sidecache. At the server, each
#      (name, type) key must have been asked at most once, every key must be one the clients asked for themselves
#      in step 1, and sidecache's own count of upstream queries must equal what the server saw.
#   3. The same lookups again: answered from the cache, not one query more at the server.
#   4. Round robin, per call: 1000 back-to-back lookups of a 4-address service in one process for each glibc call
#      (getaddrinfo AF_INET and AF_UNSPEC, gethostbyname), 2000 for musl and Go, 1000 getent processes; no address
#      may come first in more than 30% of them. And 1000 back-to-back getaddrinfo calls (AF_UNSPEC, AF_INET) for a
#      cached single-address service send nothing to the socket (the shared map answers them).
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/pod-lib.sh"

pod_enter 180 "gcc musl-gcc go getent" "$@"
pod_setup pod-search-list
pod_build_clients glibc musl go
cluster_dns_start
pod_wait_clients

names=(
    my-svc                               # first search domain (my-ns.svc.cluster.local)
    my-svc.my-ns                         # second search domain (svc.cluster.local)
    my-svc.my-ns.svc.cluster.local.      # FQDN: no search
    my-headless                          # 4 A records
    other-svc.other-ns                   # another namespace
    v4svc                                # A only (NODATA for AAAA)
    alias.my-ns                          # CNAME to my-svc.my-ns (in the zone, like an ExternalName service)
    www.example.test                     # external, 2 dots < ndots:5: three NXDOMAINs, then as-is
    api.example.test                     # external CNAME chain
    www.example.test.                    # external FQDN
    nope.example.test                    # NXDOMAIN everywhere
    txtonly                              # exists (TXT) with no address: NODATA in the first search domain
    foo.local                            # hostAliases (hosts file)
    my-pod                               # hosts file
)

# run_glibc TAG, run_others TAG   -> $work/TAG.txt, lines "CLIENT<TAB>NAME<TAB>RESULT" (addresses as sorted sets)
set_of() { tr ',' '\n' | grep -v '^$' | LC_ALL=C sort -u | paste -sd, -; }
run_glibc() {
    local out=$work/$1.txt name got rc
    : >"$out"
    for name in "${names[@]}"; do
        got=$(timeout 20 "$bin/glibc_resolve" gai "$name" unspec 2>&1 || true)
        printf 'glibc-gai-unspec\t%s\t%s\n' "$name" "$got" >>"$out"
        got=$(timeout 20 "$bin/glibc_resolve" gai "$name" inet 2>&1 || true)
        printf 'glibc-gai-inet\t%s\t%s\n' "$name" "$got" >>"$out"
        rc=0
        got=$(timeout 20 getent ahosts "$name" 2>/dev/null) || rc=$?
        printf 'getent-ahosts\t%s\trc=%s %s\n' "$name" "$rc" "$(awk 'NF {print $1}' <<<"$got" | set_of)" >>"$out"
    done
}
run_others() {
    local out=$work/$1.txt
    # "NAME OK addrs" / "NAME ERR message" lines -> "CLIENT<TAB>NAME<TAB>OK addrs"
    timeout 60 "$bin/musl_resolve" "${names[@]}" 2>&1 |
        awk '{n = $1; sub(/^[^ ]+ /, ""); printf "musl\t%s\t%s\n", n, $0}' >>"$out" || true
    timeout 60 "$bin/go_resolve" "${names[@]}" 2>&1 |
        awk '{n = $1; sub(/^[^ ]+ /, ""); printf "go\t%s\t%s\n", n, $0}' >>"$out" || true
}
# run_clients TAG   -> glibc's clients, then musl and Go; $work/TAG.queries: what reached the server, and
# $work/TAG.glibc.queries: the glibc clients' part of it.
run_clients() {
    local mark
    mark=$(query_log_mark)
    run_glibc "$1"
    query_log_since "$mark" >"$work/$1.glibc.queries"
    run_others "$1"
    query_log_since "$mark" >"$work/$1.queries"
}
result() { awk -F'\t' -v c="$2" -v n="$3" '$1 == c && $2 == n {print $3; exit}' "$work/$1.txt"; }
# Known protocol limit (docs/nscd.md, "Names without an address"): glibc's client turns any found=0 GETAI reply
# into EAI_NONAME, where its own DNS code says EAI_NODATA.
getai_nodata_limit() { [[ $1 == glibc-gai-unspec && $2 == "ERR EAI_NODATA" && $3 == "ERR EAI_NONAME" ]]; }
clients=(glibc-gai-unspec glibc-gai-inet getent-ahosts musl go)
# keys FILE   -> the distinct "qname QTYPE" keys of query-log lines on stdin
keys() { awk '{print $3, $4}' | LC_ALL=C sort -u; }

# --- 1. Without sidecache ------------------------------------------------------------------------------------------
pod_write_resolv "$CLUSTER_DNS"
[[ ! -e $NSCD_SOCKET ]] || abort "$NSCD_SOCKET exists before sidecache started"
t0=$(now_ms)
run_clients direct
direct_ms=$(($(now_ms) - t0))
keys <"$work/direct.queries" >"$work/direct.keys"
echo "without sidecache: $(wc -l <"$work/direct.queries") queries reached the server, $(wc -l <"$work/direct.keys") distinct (name, type) keys"

# The fixture must really resolve, or the comparison below would compare failures with failures.
check "fixture: glibc my-svc" "OK canon=- addrs=10.96.0.10,fd00:10:96::a" "$(result direct glibc-gai-unspec my-svc)"
check "fixture: musl my-svc.my-ns" "OK 10.96.0.10,fd00:10:96::a" "$(result direct musl my-svc.my-ns)"
check "fixture: go www.example.test" "OK 192.0.2.10,2001:db8::10" "$(result direct go www.example.test)"
check "fixture: getent ahosts my-headless" "rc=0 10.244.1.11,10.244.1.12,10.244.1.13,10.244.1.14" \
    "$(result direct getent-ahosts my-headless)"
check "fixture: glibc nope.example.test" "ERR EAI_NONAME" "$(result direct glibc-gai-unspec nope.example.test)"
check "fixture: go foo.local (hostAliases)" "OK 10.1.2.3" "$(result direct go foo.local)"
check "fixture: glibc txtonly (a name without an address) is NODATA" "ERR EAI_NODATA" "$(result direct glibc-gai-inet txtonly)"
bad=$(grep -E 'EAI_AGAIN|TEMPORARY|timeout|Try again|CRASH' "$work/direct.txt" || true)
check "fixture: no temporary failures among the expectations" "" "$bad"
if grep -q ' my-svc.my-ns.svc.cluster.local A$' "$work/direct.queries" &&
    grep -q ' www.example.test.my-ns.svc.cluster.local A$' "$work/direct.queries"; then
    pass "fixture: the clients expanded the search list themselves (queries seen at the server)"
else
    fail "fixture: the search-list expansions were not seen at the server: $(head -c 600 "$work/direct.queries")"
fi

# --- 2. With sidecache ---------------------------------------------------------------------------------------------
pod_write_resolv 127.0.0.1
sidecache_start
requests0=$(metric sidecache_upstream_requests_total)
t0=$(now_ms)
run_clients pod
pod_ms=$(($(now_ms) - t0))
requests1=$(metric sidecache_upstream_requests_total)
for c in "${clients[@]}"; do
    bad=0
    for name in "${names[@]}"; do
        e=$(result direct "$c" "$name")
        a=$(result pod "$c" "$name")
        if getai_nodata_limit "$c" "$e" "$a"; then
            echo "    $c $name: '$e' -> '$a' (GETAI limit, docs/nscd.md)"
        elif [[ $e != "$a" ]]; then
            fail "$c $name: without sidecache '$e', through sidecache '$a'"
            bad=1
        fi
    done
    ((bad == 0)) && pass "$c: all ${#names[@]} names give the same answers as the cluster DNS directly"
done

n_queries=$(wc -l <"$work/pod.queries")
keys <"$work/pod.queries" >"$work/pod.keys"
dups=$(awk '{print $3, $4}' "$work/pod.queries" | LC_ALL=C sort | uniq -d | paste -sd';' -)
check "upstream: each (name, type) asked at most once ($n_queries queries, $(wc -l <"$work/pod.keys") keys)" "" "$dups"
# What sidecache may ask (docs/nscd.md, RESOLUTION): glibc's own walk over the search candidates, in its order,
# stopping where glibc stops; so every key is one the clients asked for themselves, and a cold pod costs the cluster
# DNS no more queries than its glibc clients alone would send. Names the hosts file answers are never asked.
check "upstream: every key sidecache asked is one the clients asked without it" "" \
    "$(LC_ALL=C comm -13 "$work/direct.keys" "$work/pod.keys" | paste -sd';' -)"
glibc_direct=$(wc -l <"$work/direct.glibc.queries")
glibc_cold=$(wc -l <"$work/pod.glibc.queries")
if ((glibc_cold <= glibc_direct)); then
    pass "cold pod: the glibc clients cost the cluster DNS $glibc_cold queries through sidecache, $glibc_direct without it"
else
    fail "cold pod: the glibc clients cost the cluster DNS $glibc_cold queries through sidecache, more than $glibc_direct without it"
fi
check "upstream: sidecache's count of upstream queries equals the server's" "$n_queries" "$((requests1 - requests0))"
echo "upstream queries: $n_queries through sidecache ($glibc_cold for glibc's lookups), $(wc -l <"$work/direct.queries") by the clients without it ($glibc_direct for glibc's)"
echo "wall time of the whole corpus: ${direct_ms} ms without sidecache, ${pod_ms} ms through a cold sidecache"
transports=$(awk '{print $1}' "$work/pod.queries" | sort -u | paste -sd, -)
sources=$(awk '{sub(/:[0-9]+$/, "", $2); print $2}' "$work/pod.queries" | sort -u | paste -sd, -)
check "upstream: sidecache's queries crossed the veth from $POD_ADDR over UDP" "udp $POD_ADDR" "$transports $sources"

# --- 3. Again: all from the cache ----------------------------------------------------------------------------------
t0=$(now_ms)
run_clients again
echo "wall time of the whole corpus through a warm sidecache: $(($(now_ms) - t0)) ms"
check "second round: not one query reached the server" "" "$(paste -sd';' "$work/again.queries")"
bad=0
for c in "${clients[@]}"; do
    for name in "${names[@]}"; do
        [[ $(result pod "$c" "$name") == "$(result again "$c" "$name")" ]] || {
            fail "second round: $c $name: '$(result again "$c" "$name")'"; bad=1; }
    done
done
((bad == 0)) && pass "second round: the same answers from the cache"

# --- 4. Round robin ------------------------------------------------------------------------------------------------
share_check() {  # share_check LABEL RUNS OUTPUT   (OUTPUT: "FIRST addr count" lines and "RUNS ok=K err=E")
    local label=$1 runs=$2 out=$3 max dist
    max=$(awk '$1 == "FIRST" && $3 > m {m = $3} END {print m + 0}' <<<"$out")
    dist=$(awk '$1 == "FIRST" {printf "%s%s=%s", s, $2, $3; s=" "}' <<<"$out")
    if grep -q "^RUNS ok=$runs err=0" <<<"$out" && (($(grep -c '^FIRST' <<<"$out") == 4)) && ((max * 10 <= runs * 3)); then
        pass "round robin, $label: 4 addresses, none first in more than 30% of $runs lookups ($dist)"
    else
        fail "round robin, $label: $(tr '\n' ';' <<<"$out")"
    fi
}
# Back-to-back calls in one process, as a connection pool warming up makes them, through the daemon as shipped (shared
# map on): a name with several addresses is not in the map, so every call reaches the socket and gets a fresh
# shuffle. With a fair shuffle the largest of 4 shares exceeds 30% of 1000 with a probability below 1e-3.
share_check "glibc getaddrinfo(AF_INET), 1000 back-to-back calls" 1000 \
    "$(timeout 60 "$bin/glibc_resolve" first 1000 my-headless 2>&1 || true)"
share_check "glibc getaddrinfo(AF_UNSPEC), 1000 back-to-back calls" 1000 \
    "$(timeout 60 "$bin/glibc_resolve" first 1000 my-headless unspec 2>&1 || true)"
share_check "glibc gethostbyname, 1000 back-to-back calls" 1000 \
    "$(timeout 60 "$bin/glibc_resolve" first 1000 my-headless ghbn 2>&1 || true)"
# A cached single-address service (one A, one AAAA) is in the map: a new process's 1000 + 1000 calls cost one
# GETFDHST and nothing else on the socket.
timeout 10 "$bin/glibc_resolve" gai my-svc unspec >/dev/null
timeout 10 "$bin/glibc_resolve" gai my-svc inet >/dev/null
sleep 0.2  # published just after the reply went out
getai0=$(metric 'sidecache_nscd_requests_total{type="GETAI"}')
byname0=$(metric 'sidecache_nscd_requests_total{type="GETHOSTBYNAME"}')
out=$(timeout 60 "$bin/glibc_resolve" first 1000 my-svc unspec 2>&1 || true)
out+=$'\n'$(timeout 60 "$bin/glibc_resolve" first 1000 my-svc inet 2>&1 || true)
getai1=$(metric 'sidecache_nscd_requests_total{type="GETAI"}')
byname1=$(metric 'sidecache_nscd_requests_total{type="GETHOSTBYNAME"}')
if [[ $(grep -c '^RUNS ok=1000 err=0$' <<<"$out") == 2 && $getai1 == "$getai0" && $byname1 == "$byname0" ]]; then
    pass "single-address my-svc: 2000 back-to-back getaddrinfo calls, 0 GETAI and 0 GETHOSTBYNAME on the socket (the map)"
else
    fail "single-address my-svc: GETAI $getai0 -> $getai1, GETHOSTBYNAME $byname0 -> $byname1; $(tr '\n' ';' <<<"$out")"
fi
out=$(for _ in $(seq 1 1000); do timeout 5 getent ahostsv4 my-headless | awk 'NR == 1 {print $1}'; done |
    awk '{c[$1]++; n++} END {for (a in c) print "FIRST", a, c[a]; print "RUNS ok=" n " err=" 1000 - n}')
share_check "getent ahostsv4 (1000 processes)" 1000 "$out"
share_check "musl" 2000 "$(timeout 60 "$bin/musl_resolve" -n 2000 my-headless 2>&1 | sed 's/^my-headless //' || true)"
share_check "Go" 2000 "$(timeout 60 "$bin/go_loop" -f inet -first 2000 -t 60 my-headless 2>&1 || true)"

# --- Summary -------------------------------------------------------------------------------------------------------
echo "run took $((SECONDS - started))s"
kill -0 "$sidecache_pid" 2>/dev/null && pass "sidecache alive at the end" || fail "sidecache exited during the run"
show_sidecache_warnings
if ((failed > 0)); then
    echo "--- queries through sidecache"; cat "$work/pod.queries"
fi
finish
