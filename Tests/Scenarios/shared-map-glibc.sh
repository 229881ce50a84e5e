#!/usr/bin/env bash
# End-to-end: real glibc 2.36 clients read sidecache's shared-memory hosts map (GETFDHST).
#
#   shared-map-glibc.sh /path/to/sidecache
#
# Needs root. Runs entirely inside a private network + mount + PID namespace it creates (only `lo`, given 127.0.0.2/32
# and fd00::2/128 so AI_ADDRCONFIG does not short-circuit). In that mount namespace only: a tmpfs on /var/run/nscd,
# our own resolv.conf, hosts and nsswitch.conf over /etc's. The map file lives in $work/private (never in the socket's
# directory). knotd serves map.test on 127.0.0.53; glibc's own resolv.conf names 127.0.0.9, where nothing listens,
# so every answer comes from sidecache (socket or map) until the restart part, which points glibc at knotd so a
# restart gap cannot turn into errors. Socket requests are counted from sidecache's /metrics
# (sidecache_nscd_requests_total by type). The daemon runs with --shared-map-addresses all, so that names with
# several addresses are mapped too and their rotation and the garbage it makes are exercised; the shipped default
# (single-address names only, per-call shuffle through the socket for the rest) is checked in pod-search-list.sh.
#
# Checks:
#   1. a cached lookup sends nothing to the socket: 2,000 getaddrinfo calls (AF_UNSPEC, then AF_INET) in a new
#      process cost one GETFDHST and no GETAI/GETHOSTBYNAME; an NXDOMAIN is served from the map too;
#   2. expiry and change upstream: a TTL-2 record changed upstream is new within 50 ms of its expiry (never before),
#      and the 2 s of polling go to the socket only around the flip;
#   3. rotation: 10,000 getaddrinfo(AF_INET) calls over 2 s for a name with 4 addresses: no first address above 30%;
#   4. restart (SIGTERM, new daemon) and kill -9 (new daemon) while two clients loop: no wrong answer, no error, and
#      the clients move to the newest daemon's map (GETFDHST there, few socket lookups);
#   5. bad input: 200 GETFDHST requests never read; a map that fills (64 KiB), then churns through generation swaps
#      (rotation every 1 ms) under a reading client; a map file that cannot be created: the socket keeps answering,
#      the daemon stays up.
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scenario_enter 180 "unshare ip mount knotd knotc dig gcc timeout getent" "$@"
isolate_glibc_env
require_loopback_only
add_addrconfig_addresses
scenario_workdir shared-map watcher_a watcher_b
socket=/var/run/nscd/socket
conf=$work/knot.conf

printf 'nameserver 127.0.0.9\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
printf 'nameserver 127.0.0.53\noptions ndots:1\n' >"$work/sidecache-resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$work/hosts"
mount_private_etc

client=$work/map_client
probe=$work/ttl_probe
{ gcc -O2 -Wall -o "$client" "$here/clients/map_client.c" && gcc -O2 -Wall -o "$probe" "$here/clients/ttl_probe.c"; } \
    >"$work/build.log" 2>&1 &
build_pid=$!

exp_address=192.0.2.21
serial=1
write_zone() {
    {
        printf '$ORIGIN map.test.\n$TTL 300\n'
        printf '@ SOA ns hostmaster %d 3600 600 86400 300\n@ NS ns\nns A 127.0.0.53\n' "$serial"
        printf 'one A 192.0.2.1\n'
        printf 'multi A 192.0.2.11\nmulti A 192.0.2.12\nmulti A 192.0.2.13\nmulti A 192.0.2.14\n'
        printf 'exp 2 IN A %s\n' "$exp_address"
        printf '*.fill A 192.0.2.99\n'
    } >"$work/map.test.zone.tmp"
    mv "$work/map.test.zone.tmp" "$work/map.test.zone"
    serial=$((serial + 1))
}
write_zone
{ knot_conf_head; knot_conf_zones map.test; } >"$conf"
start_knotd "$conf"
dig_a() { timeout 5 dig "@$1" +time=1 +tries=1 +short "$2" A 2>/dev/null | grep -E '^[0-9.]+$' | sort | paste -sd, - || true; }
knot_up() { [[ -n $(dig_a 127.0.0.53 ns.map.test) ]]; }
wait_until "$knot_pid" knot_up || true
knot_up || abort "knotd did not start on 127.0.0.53:53" "$work/knot.log"
wait "$build_pid" || abort "building the clients failed" "$work/build.log"

# admin PATH: GET http://127.0.0.1:9253/PATH with bash's /dev/tcp (no curl needed); the body, or nothing.
admin() {
    timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9253 || exit 1
        printf "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$1" >&3
        sed "1,/^\r\$/d" <&3' admin "$1" 2>/dev/null
}
# start_sidecache LOG [EXTRA FLAGS...]: the daemon on the default nscd socket, admin on 127.0.0.1:9253.
start_sidecache() {
    local log=$1
    shift
    "$sidecache" serve --upstream 127.0.0.53:53 --dns-listen 127.0.0.1:53 --nscd-socket "$socket" \
        --hosts-file /etc/hosts --resolv-conf "$work/sidecache-resolv.conf" --log-level notice --lame-duck 0 \
        --admin-listen 127.0.0.1:9253 --shared-map-file "${map_file:-$work/private/hosts.map}" \
        --shared-map-addresses all "$@" >"$log" 2>&1 &
    sidecache_pid=$!
    local up
    up() { [[ -S $socket && -n $(admin healthz) ]]; }
    wait_until "$sidecache_pid" up || true
    up || abort "sidecache did not start" "$log"
}
requests() {  # requests TYPE: sidecache_nscd_requests_total{type=TYPE} of the running daemon (0 if absent)
    admin metrics | awk -v t="sidecache_nscd_requests_total{type=\"$1\"}" \
        '$1 == t {v = $2} END {printf "%d\n", v + 0}'
}
metric() {  # metric NAME_WITH_LABELS
    admin metrics | awk -v t="$1" '$1 == t {v = $2} END {printf "%d\n", v + 0}'
}

start_sidecache "$work/sidecache.log"
# Every request count below comes from /metrics: it must be readable, or the "no request" checks would be void.
[[ $(admin metrics | grep -c '^sidecache_') -gt 0 ]] || abort "cannot read sidecache's /metrics" "$work/sidecache.log"
[[ -f $work/private/hosts.map ]] && pass "map file created at its stable path in the private directory" \
    || fail "no map file at $work/private/hosts.map"
[[ -z $(find /var/run/nscd -type f) ]] && pass "nothing but the socket in /var/run/nscd" || fail "files in /var/run/nscd: $(ls /var/run/nscd)"

# --- 1. Hits cost no socket request -----------------------------------------------------------------------------
got=$(getent ahosts one.map.test | awk '{print $1}' | sort -u | paste -sd, -)
check "getent ahosts one.map.test (first lookup, through the socket)" "192.0.2.1" "$got"
for family in unspec inet; do
    type=GETAI
    [[ $family == inet ]] && type=GETHOSTBYNAME
    "$client" spread "$family" one.map.test 192.0.2.1 1 1 >/dev/null  # publishes the record of this request type
    before=$(requests "$type"); fd_before=$(requests GETFDHST)
    out=$("$client" spread "$family" one.map.test 192.0.2.1 2000 500)
    echo "    $family: $out"
    check "2000 getaddrinfo($family) calls in a new process: all right" "2000" "$(field ok "$out")"
    check "... and no $type request reached the socket" "0" "$(($(requests "$type") - before))"
    check "... and the process asked for the map once (GETFDHST)" "1" "$(($(requests GETFDHST) - fd_before))"
done
getent ahosts nothing.map.test >/dev/null && fail "nothing.map.test resolved" || true
before=$(requests GETAI)
for i in $(seq 1 20); do getent ahosts nothing.map.test >/dev/null && fail "nothing.map.test resolved" || true; done
check "NXDOMAIN served from the map: 20 getent runs, no GETAI on the socket" "0" "$(($(requests GETAI) - before))"

# --- 2. Expiry and change upstream ------------------------------------------------------------------------------
once=$("$probe" once gai-unspec exp.map.test)
t0=$(field T0 "$once")
check "exp.map.test first lookup" "192.0.2.21" "${once#*RESULT=}"
exp_address=192.0.2.22
write_zone
timeout 5 knotc -c "$conf" zone-reload map.test >"$work/knotc.log" 2>&1 || true
for i in $(seq 1 100); do [[ $(dig_a 127.0.0.53 exp.map.test) == 192.0.2.22 ]] && break; sleep 0.01; done
check "upstream now serves the new address" "192.0.2.22" "$(dig_a 127.0.0.53 exp.map.test)"
before=$(requests GETAI); flips_before=$(metric sidecache_nscd_map_flips_total)
out=$("$probe" poll gai-unspec exp.map.test 192.0.2.21 192.0.2.22 "$t0" 2000 || true)
echo "    expiry: $out"
polls=$(field polls "$out"); first_new=$(field first_new_ms "$out"); socket_polls=$(($(requests GETAI) - before))
if awk -v v="$first_new" 'BEGIN {exit !(v >= 1980 && v <= 2050)}'; then
    pass "new address served from T0+${first_new} ms (expiry at T0+2000 ms, allowed 1980..2050)"
else
    fail "new address first served at T0+${first_new} ms (allowed T0+1980..2050 ms)"
fi
check "old address never served after the new one" "0" "$(field old_after_new "$out")"
check "every poll answered (errors+other)" "0" "$(($(field errors "$out") + $(field other "$out")))"
if ((polls > 200 && socket_polls < 20)); then
    pass "$polls polls, only $socket_polls GETAI on the socket (the map answered the rest)"
else
    fail "$polls polls, $socket_polls GETAI on the socket (expected < 20)"
fi
(($(metric sidecache_nscd_map_flips_total) > flips_before)) && pass "the record was flipped at its deadline (flips metric)" \
    || fail "no flip counted"

# --- 3. Rotation --------------------------------------------------------------------------------------------------
set4=192.0.2.11,192.0.2.12,192.0.2.13,192.0.2.14
"$client" spread inet multi.map.test "$set4" 1 1 >/dev/null
before=$(requests GETHOSTBYNAME)
out=$("$client" spread inet multi.map.test "$set4" 10000 2000)
echo "    rotation: $out"
check "10000 getaddrinfo(AF_INET) calls for multi.map.test: all right" "10000" "$(field ok "$out")"
max_share=$(field first "$out" | tr ',' '\n' | awk -F: '{if ($2 > m) m = $2; t += $2} END {printf "%.1f", t ? 100 * m / t : 100}')
if awk -v v="$max_share" 'BEGIN {exit !(v <= 30)}'; then
    pass "largest first-address share ${max_share}% <= 30% ($(field first "$out"))"
else
    fail "largest first-address share ${max_share}% > 30% ($(field first "$out"))"
fi
check "... with no GETHOSTBYNAME on the socket" "0" "$(($(requests GETHOSTBYNAME) - before))"

# --- 4. Restart and kill -9 while clients loop ---------------------------------------------------------------------
# From here glibc's own DNS works (knotd), so a lookup the map cannot answer during a gap still succeeds.
printf 'nameserver 127.0.0.53\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
"$client" watch inet multi.map.test "$set4" 7 2000 >"$work/watch_a.out" 2>&1 &
watcher_a=$!
"$client" watch unspec one.map.test 192.0.2.1 7 2000 >"$work/watch_b.out" 2>&1 &
watcher_b=$!
sleep 1.5
kill -TERM "$sidecache_pid"; wait "$sidecache_pid" 2>/dev/null || true
sleep 0.3
start_sidecache "$work/sidecache-2.log"
grep -q "took over the shared map" "$work/sidecache-2.log" && pass "restart: the new daemon took over the previous map" \
    || fail "restart: no takeover in the log"
sleep 1.5
kill -KILL "$sidecache_pid"; wait "$sidecache_pid" 2>/dev/null || true
sleep 0.3
start_sidecache "$work/sidecache-3.log"
grep -q "took over the shared map" "$work/sidecache-3.log" && pass "kill -9: the new daemon took over the dead one's map" \
    || fail "kill -9: no takeover in the log"
sleep 2
fd3=$(requests GETFDHST); lookups3=$(( $(requests GETAI) + $(requests GETHOSTBYNAME) ))
wait "$watcher_a" || true; wait "$watcher_b" || true
watcher_a=; watcher_b=
for w in a b; do
    out=$(cat "$work/watch_$w.out")
    echo "    watcher $w: $out"
    check "watcher $w: no wrong answer across restart and kill -9" "0" "$(field wrong "$out")"
    check "watcher $w: no error" "0" "$(field errors "$out")"
    (($(field ok "$out") > 1000)) && pass "watcher $w: $(field ok "$out") answers" || fail "watcher $w: only $(field ok "$out") answers"
done
((fd3 >= 2)) && pass "both clients asked the newest daemon for its map ($fd3 GETFDHST)" || fail "GETFDHST at the newest daemon: $fd3"
((lookups3 < 50)) && pass "and then read it: $lookups3 socket lookups at the newest daemon in 2 s of looping" \
    || fail "$lookups3 socket lookups at the newest daemon (clients not on its map)"

# --- 5. Bad input ------------------------------------------------------------------------------------------------
out=$("$client" flood "$socket" 200)
check "200 GETFDHST requests never read" "flooded=200" "$out"
check "the socket still answers after the flood" "192.0.2.1" "$(getent ahosts one.map.test | awk '{print $1}' | sort -u | paste -sd, -)"
kill -TERM "$sidecache_pid"; wait "$sidecache_pid" 2>/dev/null || true
start_sidecache "$work/sidecache-4.log" --shared-map-size 64KiB --shared-map-rotation 1ms
"$client" spread inet multi.map.test "$set4" 1 1 >/dev/null  # in the map before it fills
wrong=0
for i in $(seq 1 300); do
    got=$(getent ahosts "n$i.fill.map.test" | awk '{print $1}' | sort -u | paste -sd, -)
    [[ $got == 192.0.2.99 ]] || wrong=$((wrong + 1))
done
check "a 64 KiB map filled by 300 names: every name still answered" "0" "$wrong"
(($(metric sidecache_nscd_map_refused_total) > 0)) && pass "names past the map's share were refused (socket only)" \
    || fail "no refusal counted with 300 names in a 64 KiB map"
grep -q "shared map full" "$work/sidecache-4.log" && pass "the full map was logged" || fail "no log line for the full map"
# Rotation every 1 ms fills the small area with garbage: generation swaps while a client reads.
fd_before=$(requests GETFDHST); before=$(requests GETHOSTBYNAME)
swaps_before=$(metric 'sidecache_nscd_map_swaps_total{kind="generation"}')
out=$("$client" spread inet multi.map.test "$set4" 4000 2000)
echo "    swaps: $out"
swaps=$(($(metric 'sidecache_nscd_map_swaps_total{kind="generation"}') - swaps_before))
check "4000 lookups during generation swaps: all right" "4000" "$(field ok "$out")"
socket_lookups=$(($(requests GETHOSTBYNAME) - before))
((socket_lookups < 400)) && pass "... $socket_lookups of them through the socket (the rest from the map)" \
    || fail "... $socket_lookups of them through the socket: the map is not serving"
((swaps > 0)) && pass "$swaps generation swaps; the client re-requested the map $(($(requests GETFDHST) - fd_before)) times" \
    || fail "no generation swap with rotation every 1 ms in a 64 KiB map"
kill -0 "$sidecache_pid" && pass "sidecache alive after flood and fill" || fail "sidecache died"
kill -TERM "$sidecache_pid"; wait "$sidecache_pid" 2>/dev/null || true
: >"$work/blocker"
map_file=$work/blocker/hosts.map start_sidecache "$work/sidecache-5.log"
grep -q "shared map off" "$work/sidecache-5.log" && pass "a map file that cannot be created turns the map off, with a log line" \
    || fail "no log line for the uncreatable map"
check "... and the socket answers" "192.0.2.1" "$(getent ahosts one.map.test | awk '{print $1}' | sort -u | paste -sd, -)"
before=$(requests GETFDHST)
getent ahosts one.map.test >/dev/null || true
check "... GETFDHST is refused (closed), and lookups go to the socket" "1" "$(($(requests GETFDHST) - before))"

echo "run took $((SECONDS - started))s"
show_sidecache_warnings
finish
