#!/usr/bin/env bash
# End-to-end: a flood from one source does not starve another client of the DNS door (issue 16, "bad input").
#
#   dns-door-flood.sh /path/to/sidecache
#
# Needs root. Runs entirely inside a private network + mount + PID namespace it creates (only `lo` exists there, so no
# packet can leave loopback): knotd serves sc.test on 127.0.0.53:53, sidecache listens on 127.0.0.1:53 and [::1]:53
# (its defaults) and forwards to knotd; a resolv.conf naming 127.0.0.1 is bind-mounted over /etc/resolv.conf (that
# mount namespace only), so nothing here can reach the machine's nameserver.
#
# Method.
#   1. A few names are warmed through sidecache (answers compared with knotd's). A "good" client
#      (clients/dns_good_client.c: a socket of its own, one A query for one.sc.test every 5 ms, each with its own ID
#      and a 1 s timeout, no resend; every reply checked: ID, QR, NOERROR, the question, the address) runs 200
#      queries with no flood.
#   2. The flood (clients/dns_flood.c): ONE socket, source port 40053, sends to 127.0.0.1:53 as fast as it can,
#      bounded by 2,000,000 datagrams and 4 s (whichever comes first); 1/8 each: 0-11 random bytes, random
#      "responses" (QR=1), queries whose question cannot be read; 3/8 valid queries for the cached names; 1/8 valid
#      queries for never-cached r<random>.sc.test (NXDOMAIN at knotd) and 1/8 for r<random>.nozone.test (a zone knotd
#      does not serve: REFUSED there). The flooder reads the replies it gets, told apart by a kind tag in the DNS ID.
#   3. From 100 ms into the flood, two good clients run their 200 queries at once: one to 127.0.0.1 (the flooded
#      address), one to [::1]; and one name never asked before is looked up every 100 ms (10 of them, information).
#      The good clients' queries take 1 s, well inside the flood's 4 s here; the flood's duration is checked.
#   4. After the flood: the daemon is alive, answers cached names over UDP (127.0.0.1 and ::1) and TCP, a name never
#      asked before resolves (with an address only knotd has), and the good client gets all 200 again.
#
# What is asserted is behaviour, not time. Latencies are printed for information only. During the flood:
#   - every reply a good client gets is correct (right ID, question and address): none bad, none stray;
#   - the good client on [::1] gets all 200 answers. Its datagrams wait in a socket buffer that the flood does not
#     fill, so only the server can lose them: by letting the flooded socket starve the others (a reader that drains
#     one socket while another waits, every thread busy with the flood's misses or garbage, a full work queue).
#   - the good client on 127.0.0.1 is not treated worse than the flooder: the share of its queries answered within
#     1 s is at least a quarter of the share of the flooder's queries for cached names that were answered. Not "all"
#     or "99%": the flooder hands the kernel more datagrams than any server on two shared cores can read, so the
#     flooded socket's receive buffer is full most of the time and the kernel drops whatever arrives while it is, the
#     good client's datagrams included, before any user-space code sees them (measured here: a server answering
#     10-25% of the flood; unbound too loses most of a client's queries when SO_REUSEPORT puts it on the flooder's
#     socket). Which datagrams get into the buffer is the kernel's lottery, the same for both, and the good client
#     has come out at 1 to 2 times the flooder's share; a quarter leaves room for chance at 200 samples (with the
#     flooder at 5%, about 10 answers expected and 3 needed). A server with several SO_REUSEPORT sockets may put the
#     good client on a socket the flood does not reach: then it gets every answer, as the [::1] client does.
#   - garbage gets FORMERR or nothing: no reply at all to a datagram with QR=1 (answering responses is how reflection
#     loops start), FORMERR or nothing for a datagram shorter than a header, FORMERR for every reply to an unreadable
#     question, and no reply the flooder cannot attribute to one of its datagrams.
# After the flood each check is retried (a new query every 0.2 s, a fresh name for the miss) until it passes or 5 s
# have passed; how long it took is printed. The flood may leave a little work behind: at most 128 of its misses are
# pending at once (the door's per-client limit; the rest get SERVFAIL at once). Before that limit, the first recvmmsg
# build let one socket queue 20,000 misses: other clients' misses waited 5-8 s behind them after a 4 s flood, TCP
# accepts stalled for up to 12 s, and the upstream was marked down on the resulting timeouts. Now: 0.2-0.4 s.
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scenario_enter 150 "unshare ip mount knotd knotc dig gcc timeout" "$@"
# Inside the namespaces from here on.
require_loopback_only
scenario_workdir dns-door-flood flood_pid

printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
mounts=(/etc/resolv.conf)

# --- Clients, compiled in the background while the servers start ------------------------------------------------
(
    gcc -O2 -Wall -o "$work/dns_flood" "$here/clients/dns_flood.c"
    gcc -O2 -Wall -o "$work/dns_good_client" "$here/clients/dns_good_client.c"
) >"$work/build.log" 2>&1 &
build_pid=$!

# --- Upstream: knotd on 127.0.0.53:53 ---------------------------------------------------------------------------
# *.fresh.sc.test: any number of names no one has asked before, each a miss with an address only knotd can give.
cat >"$work/sc.test.zone" <<'EOF'
$ORIGIN sc.test.
$TTL 300
@        SOA   ns hostmaster 1 3600 600 86400 60
@        NS    ns
ns       A     127.0.0.53
one      A     192.0.2.1
two      A     192.0.2.2
three    A     192.0.2.3
four     A     192.0.2.11
four     A     192.0.2.12
four     A     192.0.2.13
four     A     192.0.2.14
web      A     192.0.2.31
web      AAAA  2001:db8::31
*.fresh  A     192.0.2.99
EOF
knot_conf_counting_zone sc.test >"$work/knot.conf"
start_knotd "$work/knot.conf"

dig_short() {  # dig_short SERVER NAME TYPE [DIG-OPTION...]   -> the answer's data, sorted, comma-separated
    local server=$1 name=$2 type=$3
    shift 3
    { timeout 10 dig "@$server" +time=2 +tries=1 +ignore +short "$@" "$name" "$type" 2>/dev/null || true; } |
        grep -v '^;' | LC_ALL=C sort | paste -sd, - || true
}
answers() { [[ -n $(dig_short "$1" "$2" "$3") ]]; }
upstream_queries() {
    timeout 5 knotc -c "$work/knot.conf" stats mod-stats.server-operation 2>/dev/null |
        awk -F' = ' '/\[query\]/ {n += $2} END {print n + 0}'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

wait_until "$knot_pid" answers 127.0.0.53 sc.test SOA || abort "knotd did not start on 127.0.0.53:53" "$work/knot.log"
hits=(one.sc.test two.sc.test three.sc.test four.sc.test web.sc.test)
declare -A expect
for name in "${hits[@]}"; do expect[$name]=$(dig_short 127.0.0.53 "$name" A); done
check "upstream fixture: one.sc.test" 192.0.2.1 "${expect[one.sc.test]}"
check "upstream fixture: four.sc.test" 192.0.2.11,192.0.2.12,192.0.2.13,192.0.2.14 "${expect[four.sc.test]}"
check "upstream fixture: x.fresh.sc.test" 192.0.2.99 "$(dig_short 127.0.0.53 x.fresh.sc.test A)"

# --- sidecache on 127.0.0.1:53 and [::1]:53 ------------------------------------------------------------------------
# The nscd socket goes to the work directory: nothing is mounted on /var/run/nscd here, and the host's path must never
# be touched.
"$sidecache" serve --upstream 127.0.0.53:53 --nscd-socket "$work/nscd.socket" --log-level notice --shared-map off \
    >"$work/sidecache.log" 2>&1 &
sidecache_pid=$!
wait_until "$sidecache_pid" answers 127.0.0.1 sc.test SOA ||
    abort "sidecache did not answer on 127.0.0.1:53" "$work/sidecache.log"
wait_until "$sidecache_pid" answers ::1 sc.test SOA || abort "sidecache did not answer on [::1]:53" "$work/sidecache.log"
wait "$build_pid" || abort "building the clients failed" "$work/build.log"

# --- 1. Warm the cache; the good client with no flood -----------------------------------------------------------
for name in "${hits[@]}"; do
    check "warm through sidecache: $name" "${expect[$name]}" "$(dig_short 127.0.0.1 "$name" A)"
done
good() {  # good SERVER OUTPUT: 200 queries for one.sc.test, 5 ms apart, 1 s timeout each, no resend
    timeout 30 "$work/dns_good_client" "$1" one.sc.test 192.0.2.1 200 5000 1000 0 >"$2" 2>&1 || true
}
all_correct() {  # all_correct LABEL OUTPUT-FILE: every one of the 200 queries answered, correctly
    local out
    out=$(cat "$2")
    check "$1: the good client's 200 queries all answered correctly ($out)" "200 200 0 0 0" \
        "$(field sent "$out") $(field ok "$out") $(field bad "$out") $(field lost "$out") $(field stray "$out")"
}
good 127.0.0.1 "$work/good-before"
all_correct "no flood" "$work/good-before"

# --- 2./3. The flood, and the clients during it ------------------------------------------------------------------
kill -0 "$sidecache_pid" 2>/dev/null || abort "sidecache exited before the flood" "$work/sidecache.log"
upstream_before_flood=$(upstream_queries)
rm -f "$work/flood.ready"
timeout 20 "$work/dns_flood" 127.0.0.1 40053 2000000 4000 "$(IFS=,; echo "${hits[*]}")" sc.test nozone.test \
    "$work/flood.ready" >"$work/flood.out" 2>&1 &
flood_pid=$!
for _ in $(seq 1 100); do [[ -e $work/flood.ready ]] && break; sleep 0.02; done
[[ -e $work/flood.ready ]] || abort "the flooder did not start" "$work/flood.out"
sleep 0.1
good 127.0.0.1 "$work/good-during-v4" &
good_v4_pid=$!
good ::1 "$work/good-during-v6" &
good_v6_pid=$!
# Misses of another client during the flood (information): 10 fresh names, 100 ms apart, each with 1 s to answer.
misses_answered=0
for i in $(seq 1 10); do
    [[ $(dig_short 127.0.0.1 "during-$i.fresh.sc.test" A +time=1) == 192.0.2.99 ]] && misses_answered=$((misses_answered + 1))
    sleep 0.1
done
wait "$good_v4_pid" "$good_v6_pid" || true
wait "$flood_pid" || true
flood_pid=""
flood_end=$(now_ms)
upstream_during_flood=$(($(upstream_queries) - upstream_before_flood))
flood=$(cat "$work/flood.out")
during_v4=$(cat "$work/good-during-v4")
during_v6=$(cat "$work/good-during-v6")
echo "flood: $flood"
echo "good client on 127.0.0.1 during the flood: $during_v4"
echo "good client on [::1] during the flood: $during_v6"

flood_ms=$(field ms "$flood")
if [[ $(field sent "$flood") =~ ^[0-9]+$ && $flood_ms =~ ^[0-9]+$ ]] && ((flood_ms >= 1200)); then
    pass "the flood lasted ${flood_ms} ms (sent $(field sent "$flood"), $(field rate "$flood")/s), covering the good clients' 1 s of queries"
else
    fail "the flood ended too early to cover the good clients: $flood"
fi

for out in "$during_v4" "$during_v6"; do
    [[ $out == "$during_v4" ]] && where=127.0.0.1 || where=[::1]
    if [[ $(field sent "$out") == 200 ]]; then
        check "during the flood, good client on $where: no reply is wrong (bad, stray; first bad: $(field first_bad "$out"))" \
            "0 0" "$(field bad "$out") $(field stray "$out")"
    else
        fail "the good client on $where did not run during the flood: $out"
    fi
done
check "during the flood: the good client on [::1] (a socket the flood does not fill) gets all 200 answers" 200 \
    "$(field ok "$during_v6")"
# Not treated worse than the flooder (the bound is explained at the top).
hit_sent=$(field hit_sent "$flood")
hit_replies=$(field hit_replies "$flood")
ok_v4=$(field ok "$during_v4")
if [[ $hit_sent =~ ^[1-9][0-9]*$ && $hit_replies =~ ^[0-9]+$ && $ok_v4 =~ ^[0-9]+$ ]]; then
    flood_share=$(awk -v r="$hit_replies" -v s="$hit_sent" 'BEGIN {printf "%.1f", 100 * r / s}')
    needed=$(awk -v r="$hit_replies" -v s="$hit_sent" 'BEGIN {printf "%d", 0.25 * 200 * r / s}')
    if ((ok_v4 >= needed)); then
        pass "during the flood: the good client on 127.0.0.1 got $ok_v4 of 200 answers ($((ok_v4 / 2))%; the flooder's cached-name queries: $flood_share% answered; $needed needed)"
    else
        fail "during the flood: the good client on 127.0.0.1 got only $ok_v4 of 200 answers, less than a quarter of the flooder's share ($flood_share% of its cached-name queries answered; $needed needed)"
    fi
else
    fail "during the flood: cannot compare the good client with the flooder: $during_v4 / $flood"
fi

# Garbage gets FORMERR or nothing.
check "flood: no reply to a datagram with QR=1 ($(field response_sent "$flood") sent)" 0 "$(field response_replies "$flood")"
check "flood: datagrams shorter than a header get FORMERR or nothing ($(field short_sent "$flood") sent; replies, FORMERR)" \
    "$(field short_replies "$flood")" "$(field short_formerr "$flood")"
check "flood: an unreadable question gets FORMERR or nothing ($(field malformed_sent "$flood") sent; replies, FORMERR)" \
    "$(field malformed_replies "$flood")" "$(field malformed_formerr "$flood")"
check "flood: no reply the flooder cannot attribute to one of its datagrams" 0 "$(field unknown_replies "$flood")"

echo "INFO latency of the good client (us), no flood: p50 $(field p50_us "$(cat "$work/good-before")")," \
    "p99 $(field p99_us "$(cat "$work/good-before")"); during the flood on 127.0.0.1: p50 $(field p50_us "$during_v4")," \
    "p99 $(field p99_us "$during_v4"), max $(field max_us "$during_v4") ($(field ok "$during_v4") answered);" \
    "on [::1]: p50 $(field p50_us "$during_v6"), p99 $(field p99_us "$during_v6"), max $(field max_us "$during_v6")"
echo "INFO the flooder got $(field replies "$flood") replies to $(field sent "$flood") datagrams:" \
    "$hit_replies of $hit_sent cached-name queries answered ($(field hit_noerror "$flood") NOERROR)," \
    "$(field miss_replies "$flood") of $(field miss_sent "$flood") sc.test misses ($(field miss_nxdomain "$flood") NXDOMAIN)," \
    "$(field other_replies "$flood") of $(field other_sent "$flood") nozone.test misses;" \
    "SERVFAIL $(field servfail "$flood"), REFUSED $(field refused "$flood"); knotd got $upstream_during_flood queries"
echo "INFO another client's misses during the flood: $misses_answered of 10 answered within 1 s"

# --- 4. After the flood -------------------------------------------------------------------------------------------
if kill -0 "$sidecache_pid" 2>/dev/null; then
    pass "sidecache is still running after the flood"
else
    abort "sidecache exited during the flood" "$work/sidecache.log"
fi
recovery_ms=5000
recovered() {  # recovered DESCRIPTION EXPECTED COMMAND...: COMMAND's output must become EXPECTED within recovery_ms
    local description=$1 expected=$2 got="" tries=0 t0
    shift 2
    t0=$(now_ms)
    while :; do
        tries=$((tries + 1))
        got=$("$@")
        [[ $got == "$expected" ]] && break
        (($(now_ms) - t0 < recovery_ms)) || break
        sleep 0.2
    done
    if [[ $got == "$expected" ]]; then
        pass "$description (try $tries, $(($(now_ms) - flood_end)) ms after the flooder exited)"
    else
        fail "$description: expected '$expected', got '$got' for $((recovery_ms / 1000)) s ($tries tries)"
    fi
}
fresh_miss() { dig_short 127.0.0.1 "after-$(date +%s%N).fresh.sc.test" A; }  # runs in a subshell: no counter
recovered "after the flood: UDP 127.0.0.1 answers one.sc.test" "${expect[one.sc.test]}" dig_short 127.0.0.1 one.sc.test A
recovered "after the flood: UDP [::1] answers four.sc.test" "${expect[four.sc.test]}" dig_short ::1 four.sc.test A
recovered "after the flood: TCP answers web.sc.test" "${expect[web.sc.test]}" dig_short 127.0.0.1 web.sc.test A +tcp
# A name never asked before, with an address only knotd has: the answer came from the upstream.
recovered "after the flood: a miss resolves through knotd (a fresh name each try)" 192.0.2.99 fresh_miss
good 127.0.0.1 "$work/good-after"
all_correct "after the flood" "$work/good-after"

# --- Summary ------------------------------------------------------------------------------------------------------
kill -0 "$sidecache_pid" 2>/dev/null || fail "sidecache exited during the run"
echo "run took $((SECONDS - started))s"
show_sidecache_warnings
finish
