#!/usr/bin/env bash
# End-to-end: musl (static getaddrinfo) and Go (pure-Go resolver) programs resolve through sidecache's DNS door.
#
#   dns-door-clients.sh /path/to/sidecache
#
# Needs root. Runs entirely inside a private network + mount (+ PID) namespace it creates (only `lo` exists there, so no
# packet can leave loopback): knotd serves a test zone on 127.0.0.53:53, sidecache listens on 127.0.0.1:53 and
# [::1]:53 and forwards to knotd, and a resolv.conf pointing at sidecache is bind-mounted over /etc/resolv.conf (in
# that mount namespace only). Expected answers are taken from knotd directly with dig before sidecache starts, so
# knotd's query counter afterwards is exactly what sidecache sent upstream.
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scenario_enter 120 "unshare ip mount knotd knotc dig musl-gcc go timeout" "$@"
# Inside the namespaces from here on.
require_loopback_only
scenario_workdir dns-door-clients

# Our own resolv.conf goes over /etc/resolv.conf before any DNS tool runs, so nothing here can even try the
# machine's nameserver (and this namespace has no route to it anyway).
resolv=$work/resolv.conf
write_resolv() {  # write_resolv NAMESERVER
    printf 'nameserver %s\nsearch a.sc.test sc.test\noptions timeout:2 attempts:2\n' "$1" >"$resolv"
}
write_resolv 127.0.0.1
mount --bind "$resolv" /etc/resolv.conf
mounts=(/etc/resolv.conf)

# Comma-separated, sorted, unique set from addresses on stdin (one a line or comma-separated).
norm() {
    tr ',' '\n' | grep -E '^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F]*:[0-9a-fA-F:.]*$' | LC_ALL=C sort -u |
        paste -sd, - || true
}

# --- Clients, compiled in the background while the servers start ------------------------------------------------
(
    musl-gcc -static -O2 -Wall -o "$work/musl_resolve" "$here/clients/musl_resolve.c"
    mkdir -p "$work/go"
    cp "$here/clients/go_resolve.go" "$work/go/"
    cd "$work/go"
    env GOCACHE="$work/gocache" GOPATH="$work/gopath" GO111MODULE=off GOFLAGS= CGO_ENABLED=0 \
        go build -o "$work/go_resolve" go_resolve.go
) >"$work/build.log" 2>&1 &
build_pid=$!

# --- Upstream: knotd on 127.0.0.53:53 ---------------------------------------------------------------------------
big_records=""
for i in $(seq 1 40); do big_records+="big A 198.51.100.$i"$'\n'; done
cat >"$work/sc.test.zone" <<EOF
\$ORIGIN sc.test.
\$TTL 300
@        SOA   ns hostmaster 1 3600 600 86400 60
@        NS    ns
ns       A     127.0.0.53
one      A     192.0.2.1
one      AAAA  2001:db8::1
four     A     192.0.2.11
four     A     192.0.2.12
four     A     192.0.2.13
four     A     192.0.2.14
v4only   A     192.0.2.21
v6only   AAAA  2001:db8::6
alias    CNAME mid
mid      CNAME one
dangling CNAME nowhere
web      A     192.0.2.31
web      AAAA  2001:db8::31
$big_records
EOF
knot_conf_counting_zone sc.test >"$work/knot.conf"
start_knotd "$work/knot.conf"

dig_short() {  # dig_short SERVER NAME TYPE...   -> addresses/targets, one a line
    local server=$1 name=$2; shift 2
    local args=()
    for type in "$@"; do args+=("$name" "$type"); done
    # +ignore: a truncated UDP reply is not retried over TCP behind our back.
    { timeout 10 dig "@$server" -p 53 +time=2 +tries=1 +ignore +short "${args[@]}" 2>/dev/null || true; } |
        grep -v '^;' || true
}
dig_status() {  # dig_status SERVER NAME TYPE   -> NOERROR / NXDOMAIN / ...
    timeout 10 dig "@$1" -p 53 +time=2 +tries=1 "$2" "$3" 2>/dev/null |
        sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -n1 || true
}
answers() {  # answers SERVER NAME TYPE   -> true when SERVER gives any answer
    [[ -n $(dig_short "$1" "$2" "$3" | head -n1) ]]
}
wait_for() {  # wait_for SERVER NAME TYPE PID   (10 s at most; gives up early if PID exits)
    wait_until "$4" answers "$1" "$2" "$3"
}
upstream_queries() {
    timeout 5 knotc -c "$work/knot.conf" stats mod-stats.server-operation 2>/dev/null |
        awk -F' = ' '/\[query\]/ {n += $2} END {print n + 0}'
}

wait_for 127.0.0.53 sc.test SOA "$knot_pid" || abort "knotd did not start on 127.0.0.53:53" "$work/knot.log"

# --- Expected answers, straight from the upstream, before sidecache exists -------------------------------------
positive=(one.sc.test four.sc.test v4only.sc.test v6only.sc.test alias.sc.test web.sc.test big.sc.test)
declare -A expect
for name in "${positive[@]}"; do
    expect[$name]=$(dig_short 127.0.0.53 "$name" A AAAA | norm)
done
expect[ONE.Sc.TeSt]=${expect[one.sc.test]}
expect[web]=${expect[web.sc.test]}    # via the search list: web.a.sc.test is NXDOMAIN, web.sc.test exists
expect[four]=${expect[four.sc.test]}
alias_target=$(dig_short 127.0.0.53 alias.sc.test CNAME)     # first link only
alias_final=$(dig_short 127.0.0.53 mid.sc.test CNAME)        # end of the chain
upstream_nx=$(dig_status 127.0.0.53 nope.sc.test A)
upstream_dangling=$(dig_status 127.0.0.53 dangling.sc.test A)
upstream_soa=$(dig_short 127.0.0.53 sc.test SOA)
# Sanity of the fixture itself.
check "upstream fixture: one.sc.test" "192.0.2.1,2001:db8::1" "${expect[one.sc.test]}"
check "upstream fixture: big.sc.test has 40 addresses" 40 "$(tr ',' '\n' <<<"${expect[big.sc.test]}" | grep -c .)"
check "upstream fixture: alias chain alias -> mid -> one" "mid.sc.test. one.sc.test." "$alias_target $alias_final"
check "upstream fixture: nope.sc.test is NXDOMAIN" NXDOMAIN "$upstream_nx"
upstream_before=$(upstream_queries)

# --- sidecache on 127.0.0.1:53 and [::1]:53 --------------------------------------------------------------------
# The nscd door's socket goes to the work directory: this scenario mounts nothing on /var/run/nscd, and the host's
# real path must never be touched.
"$sidecache" serve --upstream 127.0.0.53:53 --nscd-socket "$work/nscd.socket" --log-level notice --shared-map off \
    >"$work/sidecache.log" 2>&1 &
sidecache_pid=$!
wait_for 127.0.0.1 sc.test SOA "$sidecache_pid" ||
    abort "sidecache did not answer on 127.0.0.1:53" "$work/sidecache.log"
check "sidecache answers on [::1]:53" "$upstream_soa" "$(dig_short ::1 sc.test SOA)"

wait "$build_pid" || abort "building the clients failed" "$work/build.log"

# --- dig through sidecache agrees with the upstream -------------------------------------------------------------
for name in "${positive[@]}"; do
    check "dig via sidecache (UDP): $name" "${expect[$name]}" "$(dig_short 127.0.0.1 "$name" A AAAA | norm)"
done
# A client without EDNS gets at most 512 bytes: 40 A records do not fit, so the reply must carry TC.
big_noedns_flags=$(timeout 10 dig @127.0.0.1 +noedns +ignore +time=2 +tries=1 big.sc.test A 2>/dev/null |
    sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' || true)
if [[ " $big_noedns_flags " == *" tc "* ]]; then
    pass "dig via sidecache (UDP, no EDNS): big.sc.test reply is truncated (flags: $big_noedns_flags)"
else
    fail "dig via sidecache (UDP, no EDNS): big.sc.test: expected the TC flag, flags were '$big_noedns_flags'"
fi
check "dig via sidecache (TCP): big.sc.test" "${expect[big.sc.test]}" \
    "$(timeout 10 dig @127.0.0.1 +tcp +time=2 +tries=1 +short big.sc.test A 2>/dev/null | grep -v '^;' | norm)"
check "dig via sidecache: nope.sc.test status" NXDOMAIN "$(dig_status 127.0.0.1 nope.sc.test A)"
check "dig via sidecache: dangling.sc.test status" "$upstream_dangling" "$(dig_status 127.0.0.1 dangling.sc.test A)"

# A repeated query must be a cache hit: nothing more reaches the upstream.
dig_short 127.0.0.1 one.sc.test A >/dev/null
q0=$(upstream_queries)
for _ in 1 2 3; do dig_short 127.0.0.1 one.sc.test A >/dev/null; done
check "repeated queries are served from cache (upstream queries added)" 0 "$(($(upstream_queries) - q0))"

# --- The clients --------------------------------------------------------------------------------------------------
names=("${positive[@]}" ONE.Sc.TeSt web four nope.sc.test dangling.sc.test nosuchname)
run_clients() {  # -> $work/musl.out, $work/go.out
    timeout 30 "$work/musl_resolve" "${names[@]}" >"$work/musl.out" 2>&1 || true
    timeout 30 "$work/go_resolve" "${names[@]}" >"$work/go.out" 2>&1 || true
}
# musl's dynamic loader prints "Version 1.2.3" when run by itself; 1.2.4 added the TCP fallback on TC.
musl_version=$( (for loader in /lib/ld-musl-*.so.1; do "$loader" 2>&1; break; done) | sed -n 's/^Version //p' | head -n1)
musl_version=${musl_version:-unknown}
musl_has_tcp_fallback() {
    [[ $musl_version != unknown ]] &&
        [[ $(printf '%s\n1.2.4\n' "$musl_version" | sort -V | head -n1) == 1.2.4 ]]
}
result_of() { awk -v n="$2" '$1 == n && ($2 == "OK" || $2 == "ERR") {$1 = ""; sub(/^ /, ""); print; exit}' "$1"; }

kill -0 "$sidecache_pid" 2>/dev/null || abort "sidecache exited before the clients ran" "$work/sidecache.log"
run_clients
for client in musl go; do
    out=$work/$client.out
    for name in one.sc.test four.sc.test v4only.sc.test v6only.sc.test alias.sc.test ONE.Sc.TeSt web four; do
        got=$(result_of "$out" "$name")
        check "$client: $name" "OK ${expect[$name]}" "$got"
    done
    # big.sc.test: 40 A records do not fit a 512-byte reply. Go retries over TCP on TC and must see all of them, as
    # must musl from 1.2.4 on. musl 1.2.3 and older have no TCP fallback: they use what the truncated UDP reply
    # holds (sidecache, like knotd, sends TC with an empty answer section), so there only "no addresses, or some of
    # the right ones" can be asked for.
    got=$(result_of "$out" big.sc.test)
    if [[ $client == go ]] || musl_has_tcp_fallback; then
        check "$client: big.sc.test (TC, TCP fallback)" "OK ${expect[big.sc.test]}" "$got"
    else
        addrs=${got#OK }
        extra=$(comm -13 <(tr ',' '\n' <<<"${expect[big.sc.test]}" | LC_ALL=C sort) \
                         <(tr ',' '\n' <<<"$addrs" | LC_ALL=C sort) | paste -sd, -)
        if [[ $got == OK\ * && -n $addrs && -z $extra ]]; then
            pass "$client: big.sc.test (musl $musl_version, no TCP fallback) gives $(tr ',' '\n' <<<"$addrs" | grep -c .) of 40 addresses"
        elif [[ $got == "ERR Name does not resolve" ]]; then
            pass "$client: big.sc.test (musl $musl_version, no TCP fallback): empty truncated reply -> $got"
        else
            fail "$client: big.sc.test: expected a subset of the 40 addresses or no answer, got '$got'"
        fi
    fi
    # NXDOMAIN (also at the end of a CNAME chain) must be "no such name", not a timeout or server failure.
    [[ $client == musl ]] && nx_error="ERR Name does not resolve" || nx_error="ERR no such host (no such host)"
    check "$client: nope.sc.test is NXDOMAIN" "$nx_error" "$(result_of "$out" nope.sc.test)"
    check "$client: dangling.sc.test (CNAME to nothing) is NXDOMAIN" "$nx_error" "$(result_of "$out" dangling.sc.test)"
    # nosuchname: NXDOMAIN under both search domains, then "nosuchname." which knotd (authoritative for sc.test
    # only) REFUSES, so a temporary-failure error is the right outcome here.
    got=$(result_of "$out" nosuchname)
    if [[ $got == ERR* ]]; then pass "$client: nosuchname fails ($got)"; else fail "$client: nosuchname: expected ERR, got '$got'"; fi
done

# Canonical names: musl's AI_CANONNAME, Go's LookupCNAME, both must follow the whole chain.
musl_canon=$(timeout 10 "$work/musl_resolve" -c alias.sc.test 2>&1 | awk '$2 == "CNAME" {print $3}' || true)
check "musl: AI_CANONNAME of alias.sc.test" "${alias_final%.}" "$musl_canon"
go_canon=$(timeout 10 "$work/go_resolve" -cname alias.sc.test one.sc.test 2>&1 || true)
check "go: LookupCNAME alias.sc.test" "CNAME $alias_final" "$(awk '$1 == "alias.sc.test" {print $2, $3}' <<<"$go_canon")"
check "go: LookupCNAME one.sc.test (no CNAME)" "CNAME one.sc.test." "$(awk '$1 == "one.sc.test" {print $2, $3}' <<<"$go_canon")"

# Shuffle (on by default): 40 fresh lookups of a 4-address name must not always put the same address first.
dist=$(timeout 30 "$work/musl_resolve" -n 40 four.sc.test 2>&1 || true)
kinds=$(grep -c ' FIRST ' <<<"$dist" || true)
if grep -q 'RUNS ok=40 err=0' <<<"$dist" && ((kinds >= 2)); then
    pass "musl: 40 lookups of four.sc.test, first address varies ($(awk '$2 == "FIRST" {printf "%s%s=%s", s, $3, $4; s=" "}' <<<"$dist"))"
else
    fail "musl: first-address distribution of four.sc.test: $(tr '\n' ';' <<<"$dist")"
fi

# The IPv6 door: the same through nameserver ::1 (the bind mount shows the rewritten file).
write_resolv ::1
check "/etc/resolv.conf now names ::1" "nameserver ::1" "$(grep '^nameserver' /etc/resolv.conf || true)"
for client in musl go; do
    got=$(timeout 10 "$work/${client}_resolve" one.sc.test web 2>&1 || true)
    check "$client via [::1]:53: one.sc.test, web" \
        "one.sc.test OK ${expect[one.sc.test]}|web OK ${expect[web]}" "$(paste -sd'|' - <<<"$got")"
done
write_resolv 127.0.0.1

# --- Summary ------------------------------------------------------------------------------------------------------
upstream_after=$(upstream_queries)
echo "sidecache sent $((upstream_after - upstream_before)) queries upstream; run took $((SECONDS - started))s"
if ! kill -0 "$sidecache_pid" 2>/dev/null; then
    fail "sidecache exited during the run"
fi
show_sidecache_warnings
if ((failed > 0)); then
    for client in musl go; do echo "--- $client output"; cat "$work/$client.out" 2>/dev/null || true; done
fi
finish
