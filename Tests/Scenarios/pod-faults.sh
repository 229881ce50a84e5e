#!/usr/bin/env bash
# Pod scenario: faults. The cluster DNS goes away and comes back; sidecache is killed and restarted while clients
# loop; sidecache drains on SIGTERM while clients loop. Clients: glibc (a C program and getent, through the nscd door),
# musl and Go (through the DNS door).
#
#   pod-faults.sh /path/to/sidecache
#
# Needs root. The pod and its cluster DNS are built by pod-lib.sh (knotd on 198.18.0.2 behind a veth; resolv.conf
# with nameserver 127.0.0.1, the cluster search list and ndots:5, glibc's defaults otherwise: timeout 5 s, 2 tries).
#
# 1. Upstream outage, twice: knotd stopped (queries get ICMP port unreachable) and knotd frozen with SIGSTOP (queries
#    time out). Before each, every client looks up a set of names, among them one with a 1 s TTL. During each:
#    - cached names, the 1 s one expired by then, give the same answers as before (serve-stale), within 3 s;
#    - a name never looked up fails with a temporary error, never "no such name": glibc EAI_AGAIN / TRY_AGAIN, musl
#      EAI_AGAIN, Go a temporary error; the nscd door itself closes without an answer within the upstream deadline
#      (3.5 s) plus 1 s, so glibc falls back to its own resolver; every client gives up within what its resolver's
#      settings allow (bounds below);
#    - when knotd is back, new names resolve again within 6 s (an upstream marked down is skipped for 5 s).
# 2. sidecache restart: clients loop for 9 s (glibc getaddrinfo, getent, musl, Go); sidecache is killed with SIGKILL
#    2 s in (its socket file stays behind) and started again 1.5 s later. The pod's resolv.conf names only 127.0.0.1,
#    so while sidecache is away glibc's fallback (its own DNS) finds nothing listening: a fast EAI_AGAIN. Every lookup
#    either succeeds or fails with a temporary error, no lookup takes longer than the resolver timeout (5 s),
#    failures happen only while sidecache is away (up to one resolver timeout after it is back), every client
#    resolves again afterwards, and glibc's looping process is back on the nscd door (glibc skips the socket for 100
#    lookups after a failed connect; the new daemon must count its GETAI requests). The loops run 12 s: a lookup
#    that meets the restart can cost glibc its whole 5 s socket timeout before it falls back, and the 100 lookups
#    that follow at 20 ms intervals must still end inside the loop.
# 3. Drain: clients loop for 2.5 s over cached and uncached names; SIGTERM 0.5 s in, lame-duck period 4 s. No lookup
#    fails, /readyz says 503 during the period, the daemon exits 0 and removes its socket.
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/pod-lib.sh"

pod_enter 240 "gcc musl-gcc go getent" "$@"
pod_setup pod-faults
pod_build_clients glibc loop musl go
{
    echo 'short-ttl  1 A 192.0.2.111'
    echo '*.wild      A 192.0.2.99'
} >>"$work/example.test.zone"
cluster_dns_start
sidecache_start
pod_wait_clients
mkdir -p "$work/t"

# run_timed LABEL CMD...   -> $work/t/LABEL: "<ms> <first line of output>"   (run it in the background for parallel)
run_timed() {
    local label=$1 t0 out
    shift
    t0=$(now_ms)
    out=$("$@" 2>&1 | head -n1 || true)
    echo "$(($(now_ms) - t0)) $out" >"$work/t/$label"
}
getent_rc() { local rc=0; getent ahosts "$1" >/dev/null 2>&1 || rc=$?; echo "rc=$rc"; }
# lookups CLIENT NAME   -> one line: the result of one lookup by CLIENT
lookup() {
    case $1 in
        glibc) timeout 30 "$bin/glibc_resolve" gai "$2" unspec ;;
        ghbn) timeout 30 "$bin/glibc_resolve" ghbn "$2" ;;
        getent) timeout 30 bash -c "$(declare -f getent_rc); getent_rc $2" ;;
        musl) timeout 30 "$bin/musl_resolve" "$2" | sed 's/^[^ ]* //' ;;
        go) timeout 30 "$bin/go_resolve" "$2" | sed 's/^[^ ]* //' ;;
    esac
}
clients=(glibc ghbn getent musl go)
# parallel_lookups TAG NAME...   -> every client looks every NAME up, all at once; $work/t/TAG.CLIENT.NAME
parallel_lookups() {
    local tag=$1 c n pids=()
    shift
    for c in "${clients[@]}"; do
        for n in "$@"; do
            run_timed "$tag.$c.$n" lookup "$c" "$n" &
            pids+=($!)
        done
    done
    for n in "${pids[@]}"; do wait "$n" || true; done
}
res() { cut -d' ' -f2- "$work/t/$1"; }
# `sidecache query` exits 3 when the door closes without an answer (glibc then resolves by itself).
query_exit() { local rc=0; timeout 20 "$sidecache" query --socket "$NSCD_SOCKET" "$1" >/dev/null 2>&1 || rc=$?; echo "exit=$rc"; }
ms() { cut -d' ' -f1 "$work/t/$1"; }

# --- 1. Upstream outage ------------------------------------------------------------------------------------------------
# How long a client may take to give up on an uncached name while the upstream is away, in ms: what its resolver's
# settings allow when every DNS answer is a SERVFAIL that takes sidecache's whole upstream deadline (3.5 s; the
# kernel rate-limits the ICMP errors of a stopped server, so most tries time out rather than fail at once). The
# name (2 dots, ndots:5) has 4 candidates, and glibc and Go go on to the next candidate after a SERVFAIL.
#   glibc: the nscd door (3.5 s), then its own DNS to 127.0.0.1: 4 candidates x 2 attempts x 3.5 s (timeout 5 s);
#   musl: 5 s per candidate (it stops at the first temporary failure; 4 candidates at most);
#   Go: 4 candidates x 2 attempts x 3.5 s.   Plus 1 s each.
declare -A bound_uncached=([glibc]=32500 [ghbn]=32500 [getent]=32500 [musl]=21000 [go]=29000)
outage() {  # outage stop|freeze
    local how=$1 cached=(my-svc www.example.test short-ttl.example.test) fresh=fresh-$1.wild.example.test n c e a t
    parallel_lookups "before-$how" "${cached[@]}"
    for c in "${clients[@]}"; do
        for n in "${cached[@]}"; do
            a=$(res "before-$how.$c.$n")
            [[ $a == OK* || $a == rc=0 ]] || fail "$how: before the outage, $c $n should resolve, got '$a'"
        done
    done
    stale0=$(metric sidecache_cache_stale_served_total)
    if [[ $how == stop ]]; then cluster_dns_stop; else cluster_dns_freeze; fi
    if [[ -n $(cluster_dig www.example.test A) ]]; then fail "$how: the cluster DNS still answers"; else pass "$how: the cluster DNS no longer answers"; fi
    sleep 1.2   # short-ttl (TTL 1) is expired from here on
    # Cached names, and the door's verdict on an uncached one, in parallel.
    run_timed "door-$how" query_exit "door-$fresh" &
    local door_pid=$!
    parallel_lookups "during-$how" "${cached[@]}" "$fresh"
    wait "$door_pid" || true
    for n in "${cached[@]}"; do
        local bad=0 slow=0 times=""
        for c in "${clients[@]}"; do
            e=$(res "before-$how.$c.$n")
            a=$(res "during-$how.$c.$n")
            t=$(ms "during-$how.$c.$n")
            times+=" $c=${t}ms"
            [[ $a == "$e" ]] || { fail "$how: cached $n, $c: before '$e', during the outage '$a'"; bad=1; }
            ((t <= 3000)) || slow=1
        done
        ((bad == 0)) && pass "$how: cached $n still resolves on every client ($(res "during-$how.glibc.$n"))"
        ((slow == 0)) && pass "$how: cached $n answered within 3 s ($times)" ||
            fail "$how: cached $n took more than 3 s on some client ($times)"
    done
    stale=$(($(metric sidecache_cache_stale_served_total) - stale0))
    ((stale > 0)) && pass "$how: sidecache served stale answers ($stale)" ||
        fail "$how: sidecache served no stale answer, yet short-ttl.example.test had expired"
    # The uncached name.
    local want_musl="ERR Try again"
    check "$how: uncached name, glibc getaddrinfo: temporary failure, not EAI_NONAME" "ERR EAI_AGAIN" "$(res "during-$how.glibc.$fresh")"
    check "$how: uncached name, glibc gethostbyname: TRY_AGAIN, not HOST_NOT_FOUND" "ERR h_errno=TRY_AGAIN" "$(res "during-$how.ghbn.$fresh")"
    check "$how: uncached name, musl: temporary failure" "$want_musl" "$(res "during-$how.musl.$fresh")"
    a=$(res "during-$how.go.$fresh")
    if [[ $a == ERR* && $a != *"no such host"* ]]; then pass "$how: uncached name, Go: temporary failure ($a)"; else fail "$how: uncached name, Go: expected a temporary error, got '$a'"; fi
    check "$how: uncached name, getent ahosts fails" "rc=2" "$(res "during-$how.getent.$fresh")"
    local times="" over=""
    for c in "${clients[@]}"; do
        t=$(ms "during-$how.$c.$fresh")
        times+=" $c=${t}/${bound_uncached[$c]}ms"
        ((t <= bound_uncached[$c])) || over+=" $c"
    done
    [[ -z $over ]] && pass "$how: uncached name, every client gave up within its bound (took/bound:$times)" ||
        fail "$how: uncached name, longer than the bound:$over (took/bound:$times)"
    a=$(res "door-$how")
    t=$(ms "door-$how")
    if [[ $a == *"exit=3"* ]] && ((t <= 4500)); then
        pass "$how: the nscd door closed without an answer (glibc falls back) in ${t} ms (deadline 3500 ms)"
    else
        fail "$how: the nscd door, uncached name: expected a close without answer (exit 3) within 4500 ms, got '$a' in ${t} ms"
    fi
    # The server returns.
    if [[ $how == stop ]]; then cluster_dns_start; else cluster_dns_thaw; fi
    local back=$(now_ms) i got=""
    for i in $(seq 1 150); do
        got=$(timeout 10 "$bin/glibc_resolve" gai "back-$fresh" inet 2>&1 || true)
        [[ $got == OK* ]] && break
        sleep 0.1
    done
    t=$(($(now_ms) - back))
    if [[ $got == "OK canon=- addrs=192.0.2.99" ]] && ((t <= 6000)); then
        pass "$how: the server is back: new names resolve again after ${t} ms"
    else
        fail "$how: the server is back, a new name: '$got' after ${t} ms (allowed 6000 ms)"
    fi
    parallel_lookups "after-$how" "again-$fresh"
    for c in glibc musl go; do
        a=$(res "after-$how.$c.again-$fresh")
        [[ $a == "OK"*"192.0.2.99"* ]] || fail "$how: after the outage, $c again-$fresh: '$a'"
    done
}
outage stop
outage freeze

# Loops of every client type: NAME... for SECONDS, one lookup every 20 ms; output in $work/loop-TAG.CLIENT.
getent_loop() {  # getent_loop SECONDS NAME...   the loop_resolve output format, one getent process per lookup
    local end=$(($(now_ms) + $1 * 1000)) n=0 ok=0 err=0 max=0 t0 t rc last=- okafter=- i=0 names
    shift
    names=("$@")
    echo "START $(now_ms)"
    while (($(now_ms) < end && n < 5000)); do
        t0=$(now_ms)
        rc=0
        timeout 30 getent hosts "${names[i]}" >/dev/null 2>&1 || rc=$?
        t=$(($(now_ms) - t0))
        n=$((n + 1))
        ((t > max)) && max=$t
        if ((rc == 0)); then
            ok=$((ok + 1))
            [[ $last != - && $okafter == - ]] && okafter=$(now_ms)
        else
            err=$((err + 1))
            last=$(now_ms)
            okafter=-
            echo "FAIL $last $t ${names[i]} rc=$rc"
        fi
        i=$(((i + 1) % ${#names[@]}))
        sleep 0.02
    done
    echo "END $(now_ms) lookups=$n ok=$ok err=$err max_ms=$max last_fail_ms=$last first_ok_after_fail_ms=$okafter"
}
loop_pids=()
start_loops() {  # start_loops TAG SECONDS NAME...
    local tag=$1 secs=$2 c
    shift 2
    loop_pids=()
    timeout 60 "$bin/loop_resolve" -f unspec -i 20 -t "$secs" "$@" >"$work/loop-$tag.glibc" 2>&1 &
    loop_pids+=($!)
    timeout 60 "$bin/musl_loop" -f unspec -i 20 -t "$secs" "$@" >"$work/loop-$tag.musl" 2>&1 &
    loop_pids+=($!)
    timeout 60 "$bin/go_loop" -f unspec -i 20 -t "$secs" "$@" >"$work/loop-$tag.go" 2>&1 &
    loop_pids+=($!)
    (getent_loop "$secs" "$@" >"$work/loop-$tag.getent" 2>&1) &
    loop_pids+=($!)
}
wait_loops() { local p; for p in "${loop_pids[@]}"; do wait "$p" || true; done; }
end_field() { awk -v k="$2" '$1 == "END" {for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' "$1"; }
loop_clients=(glibc getent musl go)

# --- 2. sidecache restart --------------------------------------------------------------------------------------------
restart_names=(my-svc www.example.test api.example.test my-headless restart-1.wild.example.test)
start_loops restart 12 "${restart_names[@]}"
sleep 2
t_kill=$(now_ms)
kill -KILL "$sidecache_pid"
wait "$sidecache_pid" 2>/dev/null || true
sidecache_pid=
if [[ -S $NSCD_SOCKET ]]; then pass "restart: SIGKILL left the socket file behind (glibc must cope with a dead socket)"; else fail "restart: no socket file left after SIGKILL (the test expected a stale one)"; fi
sleep 1.5
t_restart=$(now_ms)
sidecache_start --lame-duck 4s
t_ready=$(now_ms)
echo "    restart: killed at +0 ms, started again at +$((t_restart - t_kill)) ms, ready (checked) at +$((t_ready - t_kill)) ms"
wait_loops
getai_after=$(metric 'sidecache_nscd_requests_total{type="GETAI"}')
for c in "${loop_clients[@]}"; do
    out=$work/loop-restart.$c
    n=$(end_field "$out" lookups); ok=$(end_field "$out" ok); err=$(end_field "$out" err); max=$(end_field "$out" max_ms)
    okafter=$(end_field "$out" first_ok_after_fail_ms)
    if [[ -z $n ]]; then fail "restart, $c: the loop did not finish: $(tail -n 3 "$out" | tr '\n' ';')"; continue; fi
    case $c in
        go) bad=$(awk '$1 == "FAIL" && $5 == "NOTFOUND"' "$out" | head -n 3 | paste -sd';' -) ;;
        getent) bad="" ;;   # getent's exit status cannot tell a temporary failure from "no such name"
        *) bad=$(awk '$1 == "FAIL" && $5 != "EAI_AGAIN"' "$out" | head -n 3 | paste -sd';' -) ;;
    esac
    check "restart, $c: every failure is temporary ($err of $n lookups failed)" "" "$bad"
    early=$(awk -v a="$t_kill" -v b="$((t_ready + 5500))" '$1 == "FAIL" && ($2 < a || $2 > b)' "$out" | head -n 3 | paste -sd';' -)
    check "restart, $c: failures only while sidecache was away (kill .. ready + 5.5 s)" "" "$early"
    if ((max <= 5500)); then pass "restart, $c: no lookup took longer than the resolver timeout (5 s): max ${max} ms"; else fail "restart, $c: a lookup took ${max} ms, more than the 5 s resolver timeout"; fi
    if ((err == 0)); then
        pass "restart, $c: no lookup failed at all ($ok of $n)"
    elif [[ $okafter != - ]]; then
        pass "restart, $c: resolving again $((okafter - t_restart)) ms after sidecache was started again ($ok of $n answered)"
    else
        fail "restart, $c: never resolved again after the restart ($ok of $n answered; last: $(grep -v '^END' "$out" | tail -n 1))"
    fi
done
if ((getai_after > 0)); then
    pass "restart: glibc's getaddrinfo loop is back on the nscd door ($getai_after GETAI requests to the new daemon)"
else
    fail "restart: the new daemon got no GETAI request: glibc never came back to the nscd door"
fi

# --- 3. Drain --------------------------------------------------------------------------------------------------------
drain_names=(my-svc www.example.test)
for i in $(seq 1 30); do drain_names+=("drain-$i.wild.example.test"); done   # uncached: each asked upstream first
check "drain: ready before SIGTERM" 200 "$(admin_status readyz)"
start_loops drain 3 "${drain_names[@]}"
sleep 0.5
t_term=$(now_ms)
kill -TERM "$sidecache_pid"
sleep 0.5
check "drain: /readyz says 503 during the lame-duck period" 503 "$(admin_status readyz)"
check "drain: the nscd socket still exists during the lame-duck period" yes "$([[ -S $NSCD_SOCKET ]] && echo yes || echo no)"
wait_loops
t_loops=$(now_ms)
for c in "${loop_clients[@]}"; do
    out=$work/loop-drain.$c
    n=$(end_field "$out" lookups); err=$(end_field "$out" err)
    if [[ -z $n ]]; then fail "drain, $c: the loop did not finish: $(tail -n 3 "$out" | tr '\n' ';')"; continue; fi
    check "drain, $c: no failure while draining ($n lookups, the last $((t_loops - t_term)) ms after SIGTERM)" 0 "$err"
    ((err == 0)) || grep '^FAIL' "$out" | head -n 5
done
((t_loops - t_term < 4000)) || fail "drain: the clients ran past the lame-duck period; the check above proved less than it says"
status=0
for i in $(seq 1 100); do kill -0 "$sidecache_pid" 2>/dev/null || break; sleep 0.1; done
wait "$sidecache_pid" 2>/dev/null || status=$?
t_exit=$(now_ms)
sidecache_pid=
check "drain: sidecache exited with status 0" 0 "$status"
if ((t_exit - t_term >= 3900 && t_exit - t_term <= 9000)); then
    pass "drain: the doors stayed open for the lame-duck period (exit $((t_exit - t_term)) ms after SIGTERM, lame duck 4000 ms)"
else
    fail "drain: exit $((t_exit - t_term)) ms after SIGTERM, expected 4000 ms (the lame-duck period) plus shutdown"
fi
check "drain: the socket file is gone after exit" no "$([[ -e $NSCD_SOCKET ]] && echo yes || echo no)"

# --- Summary -----------------------------------------------------------------------------------------------------------
echo "run took $((SECONDS - started))s"
show_sidecache_warnings
finish
