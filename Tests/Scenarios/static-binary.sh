#!/usr/bin/env bash
# The image's binary, as the pod runs it: the release build with the Swift runtime linked in statically
# (Dockerfile.sidecar's build stage), started with an empty library path, as uid 65532 with no capabilities, bound
# to port 53 only through net.ipv4.ip_unprivileged_port_start=53 (the pod's sysctl).
#
#   static-binary.sh /path/to/.build-static/release/sidecache
#
# Needs root (to make the namespaces). Runs inside a private network + mount + PID namespace (only `lo`): knotd
# serves a test zone on 127.0.0.53:53; the sysctl, /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf and the tmpfs on
# /var/run/nscd exist in those namespaces only. Checks: no Swift runtime or Foundation shared library is needed or
# mapped, no Foundation code is linked in, dig and glibc (getent, through the nscd socket) get answers,
# `sidecache check` passes, /readyz turns ready, SIGTERM ends it with status 0. Prints the binary's size and idle
# RSS (for docs/kubernetes.md; not asserted). Ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scenario_enter 90 "unshare ip mount knotd dig getent ldd nm setpriv sysctl timeout" "$@"
# Inside the namespaces from here on.
require_loopback_only
add_addrconfig_addresses
isolate_glibc_env
scenario_workdir static-binary

# --- What the binary needs at run time --------------------------------------------------------------------------
libraries=$(ldd "$sidecache" 2>&1 || true)
echo "--- ldd $(basename "$sidecache")"
echo "$libraries"
if grep -qiE 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|not found' <<<"$libraries"; then
    fail "ldd: needs a Swift runtime, Foundation or a missing library"
else
    pass "ldd: only system libraries (no libswift*, no Foundation, nothing missing)"
fi
# Statically linked Foundation would not show in ldd: look for its symbols. Swift mangles a module name as
# <length><name>: Foundation's symbols start $s10Foundation, FoundationInternationalization's (ICU data, tens of MB)
# $s30FoundationInternationalization. FoundationEssentials ($s20...) is allowed: swift-argument-parser uses it.
symbols=$(nm "$sidecache" 2>/dev/null || true)
if [[ -z $symbols ]]; then
    fail "nm: the binary has no symbol table (stripped?); cannot look for Foundation"
else
    check "nm: no Foundation or FoundationInternationalization symbols among $(wc -l <<<"$symbols")" 0 \
        "$(grep -cE '\$s(10Foundation|30FoundationInternationalization)' <<<"$symbols" || true)"
    check "nm: no Yams symbols (sidecache inject is a separate binary)" 0 "$(grep -cE '\$s4Yams' <<<"$symbols" || true)"
    echo "info: $(grep -cE '\$s20FoundationEssentials' <<<"$symbols" || true) FoundationEssentials symbols (swift-argument-parser's)"
fi

# --- Upstream ---------------------------------------------------------------------------------------------------
start_k8s_test_upstream

# --- The pod's files and sysctl ---------------------------------------------------------------------------------
# The cluster domain is k8s.test here, so knotd answers every name of the search list (NXDOMAIN or data).
printf 'nameserver 127.0.0.1\nsearch default.svc.k8s.test svc.k8s.test k8s.test\noptions ndots:5\n' >"$work/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$work/hosts"
mount_private_etc
chown 65532:65532 /var/run/nscd
sysctl -q -w net.ipv4.ip_unprivileged_port_start=53

# As the pod's securityContext has it: uid/gid 65532, no supplementary groups, no capabilities at all, no new
# privileges, an environment with nothing but an empty LD_LIBRARY_PATH and the settings.
as_sidecar() {
    setpriv --reuid 65532 --regid 65532 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs \
        env -i LD_LIBRARY_PATH= "$@"
}
# The map's directory stands for the sidecar's own emptyDir (/run/sidecache in the pod), writable by the sidecar.
chmod 711 "$work"
mkdir -p "$work/sidecache-run"
chown 65532:65532 "$work/sidecache-run"
# setpriv and env exec, so $! is the daemon's PID.
setpriv --reuid 65532 --regid 65532 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs \
    env -i LD_LIBRARY_PATH= SIDECACHE_UPSTREAM=127.0.0.53 SIDECACHE_ADMIN_LISTEN=127.0.0.1:9253 SIDECACHE_THREADS=1 \
    SIDECACHE_LAME_DUCK=0s SIDECACHE_SHARED_MAP_FILE="$work/sidecache-run/hosts.map" "$sidecache" serve \
    >"$work/sidecache.log" 2>&1 &
sidecache_pid=$!
wait_until "$sidecache_pid" as_sidecar "$sidecache" check >/dev/null 2>&1 ||
    abort "sidecache did not answer 'sidecache check' within 10 s" "$work/sidecache.log"
pass "sidecache check: both doors answer (uid 65532, no capabilities, empty LD_LIBRARY_PATH)"
if [[ -f $work/sidecache-run/hosts.map ]] && ! grep -q 'shared map off' "$work/sidecache.log"; then
    pass "the shared hosts map is on, in the sidecar's own directory"
else
    fail "the shared hosts map is off: $(grep 'shared map' "$work/sidecache.log" | head -1)"
fi

maps=$(cat "/proc/$sidecache_pid/maps")
if grep -qiE 'libswift|Foundation|libdispatch' <<<"$maps"; then
    fail "the running daemon mapped a Swift runtime or Foundation library"
else
    pass "the running daemon maps no Swift runtime or Foundation library"
fi
check "runs as uid 65532" 65532 "$(awk '/^Uid:/ {print $2}' "/proc/$sidecache_pid/status")"
check "has no effective capabilities" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' "/proc/$sidecache_pid/status")"

check "dig A through 127.0.0.1:53" 192.0.2.80 "$(timeout 5 dig @127.0.0.1 +time=2 +tries=1 +short web.k8s.test A || true)"
check "dig A over TCP" 192.0.2.80 "$(timeout 5 dig @127.0.0.1 +tcp +time=2 +tries=1 +short web.k8s.test A || true)"
check "dig AAAA over TCP" 2001:db8::80 "$(timeout 5 dig @127.0.0.1 +tcp +time=2 +tries=1 +short web.k8s.test AAAA || true)"
# glibc through the nscd socket: the search list (from resolv.conf) completes the short name.
check "getent ahostsv4 (glibc, nscd door, search list)" 192.0.2.80 \
    "$(timeout 5 getent ahostsv4 web 2>/dev/null | awk 'NR == 1 {print $1}' || true)"
readyz_ok() (
    exec 3<>/dev/tcp/127.0.0.1/9253 && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && grep -q '^ready' <&3
)
ready=$(wait_until "$sidecache_pid" readyz_ok 2>/dev/null && echo ready || echo "not ready")
check "/readyz" ready "$ready"

echo "info: binary $(stat -c %s "$sidecache") bytes; idle RSS $(awk '/^VmRSS:/ {print $2, $3}' "/proc/$sidecache_pid/status")"

kill -TERM "$sidecache_pid"
status=0
timeout 10 tail --pid="$sidecache_pid" -f /dev/null || true
wait "$sidecache_pid" || status=$?
sidecache_pid=""
check "SIGTERM: exits with status 0" 0 "$status"

show_sidecache_warnings
finish
