#!/usr/bin/env bash
# End-to-end: a cached answer stops being served exactly when its TTL runs out, on both doors (DNS and nscd).
# (glibc's own nscd serves host entries up to 15 s past their TTL; sidecache must not.)
#
#   ttl-exactness.sh /path/to/sidecache
#
# Needs root. Runs entirely inside a private network + mount + PID namespace it creates (only `lo` exists there, so
# no packet can leave loopback). In that mount namespace only: a tmpfs on /var/run/nscd, and our own resolv.conf,
# hosts and nsswitch.conf bind-mounted over /etc's.
#
# Method. knotd serves ttl.test on 127.0.0.53:53 with short-<door> A 192.0.2.1, TTL 2. sidecache forwards to it and
# answers DNS on 127.0.0.1:53 and nscd on /var/run/nscd/socket; glibc's resolv.conf names 127.0.0.9, where nothing
# listens, so every getaddrinfo answer below can only have come through the nscd socket. For each door, with its own
# name so the runs cannot share cache entries:
#   1. one lookup through the door fills the cache; T0 = CLOCK_MONOTONIC just before it;
#   2. the record is changed upstream to 192.0.2.2 (zone rewritten, knotc zone-reload, checked with dig @127.0.0.53);
#   3. the door is polled every 2 ms (clients/ttl_probe.c) until 192.0.2.2 appears (then 100 ms more) or T0 + 3 s.
# staleness = (first reply carrying 192.0.2.2, received) - (T0 + 2 s). Passes when the old address was still served
# after T0 + 1.5 s (the cache really held it), the new one came no later than T0 + 2.050 s and no earlier than
# T0 + 1.980 s (T0 precedes the filling query, hence the 20 ms allowance), and the old one never came back.
# Doors: DNS (plain UDP query to 127.0.0.1), getaddrinfo(AF_INET) (glibc sends GETHOSTBYNAME), getaddrinfo(AF_UNSPEC)
# (glibc sends GETAI; the AAAA half is NODATA with a 300 s negative TTL, so it must not stretch the A record's 2 s).
# When strace is installed, the nscd request type glibc sent is checked as well. The shared-memory map is on (its file
# in $work/private), so the getaddrinfo polls are mostly answered from the map: expiry must be exact there too.
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scenario_enter 90 "unshare ip mount knotd knotc dig gcc timeout" "$@"
# Inside the namespaces from here on.
isolate_glibc_env
require_loopback_only
add_addrconfig_addresses
scenario_workdir ttl-exactness
socket=/var/run/nscd/socket
conf=$work/knot.conf

# --- Private files: resolv.conf, hosts, nsswitch.conf, /var/run/nscd --------------------------------------------
# glibc's own DNS goes to 127.0.0.9, where nothing listens: only the nscd socket can answer getaddrinfo.
printf 'nameserver 127.0.0.9\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
# sidecache reads its search list and ndots here (none: names are looked up as they are); its upstream is --upstream.
printf 'nameserver 127.0.0.53\noptions ndots:1\n' >"$work/sidecache-resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$work/hosts"
mount_private_etc

# --- Probe, compiled in the background while knotd starts --------------------------------------------------------
probe=$work/ttl_probe
gcc -O2 -Wall -o "$probe" "$here/clients/ttl_probe.c" >"$work/build.log" 2>&1 &
build_pid=$!

# --- Upstream: knotd on 127.0.0.53:53 ---------------------------------------------------------------------------
doors=(dns ghbn getai)
declare -A changed=()   # door -> 1 once its record has been switched to the new address
serial=1
write_zone() {  # rewrites ttl.test with a new serial; changed doors get 192.0.2.2, the others 192.0.2.1
    local d
    {
        printf '$ORIGIN ttl.test.\n$TTL 300\n'
        printf '@ SOA ns hostmaster %d 3600 600 86400 300\n@ NS ns\nns A 127.0.0.53\n' "$serial"
        for d in "${doors[@]}"; do
            printf 'short-%s 2 IN A %s\n' "$d" "$([[ -n ${changed[$d]:-} ]] && echo 192.0.2.2 || echo 192.0.2.1)"
        done
    } >"$work/ttl.test.zone.tmp"
    mv "$work/ttl.test.zone.tmp" "$work/ttl.test.zone"
    serial=$((serial + 1))
}
write_zone
{ knot_conf_head; knot_conf_zones ttl.test; } >"$conf"
start_knotd "$conf"

dig_a() {  # dig_a SERVER NAME   -> the A records, sorted, comma-separated ("" when no answer)
    timeout 5 dig "@$1" -p 53 +time=1 +tries=1 +short "$2" A 2>/dev/null | grep -E '^[0-9.]+$' | sort | paste -sd, - || true
}
knot_up() { [[ -n $(dig_a 127.0.0.53 ns.ttl.test) ]]; }
wait_until "$knot_pid" knot_up || true
knot_up || abort "knotd did not start on 127.0.0.53:53" "$work/knot.log"
check "fixture: knotd serves short-dns.ttl.test" "192.0.2.1" "$(dig_a 127.0.0.53 short-dns.ttl.test)"
ttl=$(timeout 5 dig @127.0.0.53 +time=1 +tries=1 +noall +answer short-dns.ttl.test A 2>/dev/null | awk '{print $2; exit}')
check "fixture: its TTL is 2" "2" "$ttl"
wait "$build_pid" || abort "building ttl_probe failed" "$work/build.log"

# --- Control: glibc alone cannot resolve anything (no nscd socket, DNS at 127.0.0.9 is dead) ---------------------
got=$(timeout 10 "$probe" once gai-inet short-ghbn.ttl.test | sed 's/^T0=[0-9]* //')
if [[ $got == "RESULT=ERR"* ]]; then pass "control (no sidecache): glibc alone cannot resolve ($got)"; else fail "control: glibc resolved on its own: $got"; fi

# --- sidecache: DNS door on 127.0.0.1:53, nscd door on /var/run/nscd/socket -------------------------------------
"$sidecache" serve --upstream 127.0.0.53:53 --dns-listen 127.0.0.1:53 --nscd-socket "$socket" \
    --hosts-file /etc/hosts --resolv-conf "$work/sidecache-resolv.conf" --log-level notice \
    --shared-map-file "$work/private/hosts.map" \
    >"$work/sidecache.log" 2>&1 &
sidecache_pid=$!
sidecache_up() { [[ -S $socket && -n $(dig_a 127.0.0.1 ns.ttl.test) ]]; }
wait_until "$sidecache_pid" sidecache_up || true
sidecache_up || abort "sidecache did not start (DNS door and nscd socket)" "$work/sidecache.log"
if [[ -z $(dig_a 127.0.0.9 ns.ttl.test) ]]; then pass "nothing answers DNS on 127.0.0.9 (glibc's fallback is dead)"; else fail "something answers DNS on 127.0.0.9"; fi

# --- The measurement ---------------------------------------------------------------------------------------------
have_strace=
command -v strace >/dev/null && have_strace=1
figures=()
measure() {  # measure DOOR KIND LABEL [NSCD_TYPE_NUMBER NSCD_TYPE_NAME]
    local door=$1 kind=$2 label=$3 name="short-$1.ttl.test" once t0 first out i up=""
    # 1. Fill the cache (under strace for the nscd kinds, to see which request glibc sends).
    if [[ -n ${4:-} && -n $have_strace ]]; then
        once=$(timeout 10 strace -f -qq -e trace=sendto,sendmsg,writev -xx -s 16 -o "$work/strace.$door" \
            "$probe" once "$kind" "$name" || true)
    else
        once=$(timeout 10 "$probe" once "$kind" "$name" || true)
    fi
    t0=$(field T0 "$once")
    first=${once#*RESULT=}
    if [[ -z $t0 || $first != 192.0.2.1 ]]; then
        fail "$label: the first lookup of $name should give 192.0.2.1, got '$once'"
        return 0
    fi
    if [[ -n ${4:-} && -n $have_strace ]]; then
        # nscd request header: int32 version 2, int32 type, int32 key length (little endian).
        local hdr
        hdr=$(printf '\\x02\\x00\\x00\\x00\\x%02x\\x00\\x00\\x00' "$4")
        if grep -qF "$hdr" "$work/strace.$door"; then
            pass "$label: glibc sent $5 (type $4) to the nscd socket"
        else
            fail "$label: glibc did not send $5 (type $4); its sends: $(grep -o '"\\x02\\x00\\x00\\x00\\x[0-9a-f]*' "$work/strace.$door" | sort -u | tr '\n' ' ')"
        fi
    fi
    # 2. Change the record upstream and make sure the upstream really serves the new value.
    changed[$door]=1
    write_zone
    timeout 5 knotc -c "$conf" zone-reload ttl.test >"$work/knotc.log" 2>&1 || true
    for i in $(seq 1 100); do
        up=$(dig_a 127.0.0.53 "$name")
        [[ $up == 192.0.2.2 ]] && break
        sleep 0.01
    done
    if [[ $up != 192.0.2.2 ]]; then
        fail "$label: upstream still serves '$up' for $name after zone-reload" && cat "$work/knotc.log"
        return 0
    fi
    # 3. Poll the door.
    out=$(timeout 10 "$probe" poll "$kind" "$name" 192.0.2.1 192.0.2.2 "$t0" 2000 || true)
    echo "    $label: $out"
    local polls first_poll last_old first_new stale old_after errors other
    polls=$(field polls "$out"); first_poll=$(field first_poll_ms "$out"); last_old=$(field last_old_ms "$out")
    first_new=$(field first_new_ms "$out"); stale=$(field staleness_ms "$out"); old_after=$(field old_after_new "$out")
    errors=$(field errors "$out"); other=$(field other "$out")
    [[ -n $polls && -n $first_new ]] || { fail "$label: the probe gave no figures: '$out'"; return 0; }
    pass "$label: upstream changed to 192.0.2.2 (checked with dig) before polling began at T0+${first_poll} ms"
    if awk -v v="$last_old" 'BEGIN {exit !(v >= 1500)}'; then
        pass "$label: old address still served at T0+${last_old} ms (the cache held it)"
    else
        fail "$label: old address last served at T0+${last_old} ms, not after T0+1500 ms (polling began at T0+${first_poll} ms)"
    fi
    if awk -v v="$first_new" 'BEGIN {exit !(v >= 0 && v <= 2050)}'; then
        pass "$label: new address served from T0+${first_new} ms (staleness ${stale} ms <= 50 ms)"
    else
        if [[ $first_new == -1* ]]; then
            fail "$label: new address never served by T0+3000 ms (old one last at T0+${last_old} ms), allowed <= T0+2050 ms"
        else
            fail "$label: new address first served at T0+${first_new} ms (staleness ${stale} ms), allowed <= T0+2050 ms"
        fi
    fi
    if awk -v v="$first_new" 'BEGIN {exit !(v < 0 || v >= 1980)}'; then
        pass "$label: new address not served before expiry (T0+${first_new} ms >= T0+1980 ms)"
    else
        fail "$label: new address served at T0+${first_new} ms, before the TTL ran out (T0+2000 ms)"
    fi
    check "$label: old address never served again after the new one" 0 "$old_after"
    check "$label: every poll answered with the old or the new address (errors+other)" 0 "$((errors + other))"
    figures+=("$(printf '%-38s last old T0+%s ms, first new T0+%s ms, staleness %s ms (%s polls)' \
        "$label:" "$last_old" "$first_new" "$stale" "$polls")")
}
measure dns dns:127.0.0.1 "DNS door (UDP 127.0.0.1:53)"
measure ghbn gai-inet "nscd door, getaddrinfo(AF_INET)" 4 GETHOSTBYNAME
measure getai gai-unspec "nscd door, getaddrinfo(AF_UNSPEC)" 14 GETAI

echo "--- staleness = first new answer - (T0 + 2000 ms)"
for f in "${figures[@]}"; do echo "    $f"; done

# --- Summary ------------------------------------------------------------------------------------------------------
echo "run took $((SECONDS - started))s"
kill -0 "$sidecache_pid" 2>/dev/null && pass "sidecache alive at the end" || fail "sidecache exited during the run"
show_sidecache_warnings
finish
