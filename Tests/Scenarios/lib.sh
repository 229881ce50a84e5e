# Shared pieces of the end-to-end scenario scripts in this folder. Sourced, not run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Functions only (plus the PASS/FAIL counters); the sourcing script keeps `set -euo pipefail` and decides what runs
# when. `$0` below is the sourcing script.

usage() { echo "usage: $0 /path/to/sidecache" >&2; exit 2; }

# scenario_enter LIMIT_SECONDS "TOOL..." SCRIPT_ARGS...
# Outside the namespaces: checks the arguments, root (SKIP and exit 0 without it) and the tools, then re-executes the
# script inside a private network + mount + PID namespace, bounded by LIMIT_SECONDS. Inside the namespaces (the
# re-executed script): sets sidecache, here (the script's folder) and started, and returns.
scenario_enter() {
    local limit=$1 tools=$2 tool
    shift 2
    [[ $# -eq 1 ]] || usage

    if [[ $(id -u) -ne 0 ]]; then
        echo "SKIP: needs root (creates network/mount namespaces, binds port 53)"
        exit 0
    fi

    if [[ -z ${SIDECACHE_SCENARIO_IN_NAMESPACE:-} ]]; then
        sidecache=$(readlink -f -- "$1")
        [[ -x $sidecache ]] || { echo "not executable: $1" >&2; exit 2; }
        for tool in $tools; do
            command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
        done
        export SIDECACHE_SCENARIO_IN_NAMESPACE=1
        # The whole run is bounded. The inner script's EXIT trap stops its daemons; the PID namespace (the script is
        # its init) guarantees they die with it even if the script is killed outright.
        exec timeout --kill-after=10 "$limit" \
            unshare -n -m --propagation private -p --fork --kill-child --mount-proc -- \
            bash "$(readlink -f -- "$0")" "$sidecache"
    fi

    # ---------------------------------------------------------------------------------------------------------------
    # Inside the namespaces.
    sidecache=$1
    here=$(cd "$(dirname "$0")" && pwd)
    started=$SECONDS
}

# Each of these would change how glibc resolves (LOCALDOMAIN even makes it skip nscd for hosts).
isolate_glibc_env() {
    unset LOCALDOMAIN RES_OPTIONS HOSTALIASES
    export LC_ALL=C
}

# Belt and braces: this must be a fresh network namespace holding nothing but loopback.
require_loopback_only() {
    if ip -o link show | awk -F': ' '{print $2}' | grep -qvx 'lo'; then
        echo "refusing to run: network namespace has interfaces besides lo" >&2
        exit 2
    fi
    ip link set lo up
}

# AI_ADDRCONFIG ignores loopback addresses: with only 127.0.0.1/::1, getaddrinfo(AF_INET/AF_INET6) fails with
# EAI_NONAME before asking anyone, and AF_UNSPEC would be narrowed to AF_INET (GETHOSTBYNAME instead of GETAI).
add_addrconfig_addresses() {
    ip addr add 127.0.0.2/32 dev lo
    ip -6 addr add fd00::2/128 dev lo
}

# scenario_workdir NAME [PID_VAR...]
# Makes $work (/tmp/NAME.XXXXXX) and the EXIT trap that cleans up: stops the daemons whose PIDs are in PID_VAR...
# (in that order), then in sidecache_pid, then in knot_pid (each only if set), unmounts everything in `mounts`
# (newest first: callers prepend) and removes $work.
scenario_workdir() {
    local name=$1 var
    shift
    work=$(mktemp -d "/tmp/$name.XXXXXX")
    cleanup_pid_vars=("$@" sidecache_pid knot_pid)
    for var in "${cleanup_pid_vars[@]}"; do
        printf -v "$var" '%s' ''
    done
    mounts=()
    trap cleanup EXIT
    trap 'exit 143' TERM INT HUP
}
cleanup() {
    local status=$?
    set +e
    local var m
    for var in "${cleanup_pid_vars[@]}"; do
        [[ -n ${!var:-} ]] && kill "${!var}" 2>/dev/null && wait "${!var}" 2>/dev/null
    done
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
    rm -rf -- "$work"
    exit "$status"
}

# --- PASS/FAIL ---------------------------------------------------------------------------------------------------
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
summary() { echo "$passed passed, $failed failed"; }
abort() {  # abort REASON [LOG]   a setup step failed: count it, show the log, end the run
    fail "$1"
    [[ -n ${2:-} && -s $2 ]] && { echo "--- $(basename "$2")"; tail -n 30 "$2"; }
    summary
    exit 1
}
# field KEY "k1=v1 k2=v2 ..."   -> the value of KEY in a client's "key=value" output line (first match)
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k {print $2; exit}'; }
check() {  # check DESCRIPTION EXPECTED ACTUAL
    if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# --- Private files: resolv.conf, hosts, nsswitch.conf, /var/run/nscd -------------------------------------------
# mount_private_etc: $work/resolv.conf and $work/hosts must be written already. Writes $work/nsswitch.conf
# (hosts: files dns), bind-mounts the three over /etc's and mounts an empty tmpfs on /var/run/nscd, all in this mount
# namespace only.
mount_private_etc() {
    local pair
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nservices: files\n' \
        >"$work/nsswitch.conf"
    for pair in "$work/resolv.conf:/etc/resolv.conf" "$work/hosts:/etc/hosts" "$work/nsswitch.conf:/etc/nsswitch.conf"; do
        mount --bind "${pair%%:*}" "${pair#*:}"
        mounts=("${pair#*:}" "${mounts[@]}")
    done
    # The mount point must already exist (Debian's libc-bin/nscd layout has it): creating it would change the host's
    # filesystem. The tmpfs hides whatever it holds, in this namespace only.
    [[ -d /var/run/nscd && ! -L /var/run/nscd ]] || abort "/var/run/nscd is not a directory here; cannot mount a tmpfs on it"
    mount -t tmpfs -o mode=0755,size=4m tmpfs /var/run/nscd
    mounts=(/var/run/nscd "${mounts[@]}")
    [[ -z $(ls -A /var/run/nscd) ]] || abort "/var/run/nscd is not empty after mounting the tmpfs"
}

# --- Upstream: knotd on 127.0.0.53:53 --------------------------------------------------------------------------
# knot_conf_head: the server, control, database and log sections (everything lives in $work).
knot_conf_head() {
    cat <<EOF
server:
    listen: 127.0.0.53@53
    rundir: $work
    user: root:root
control:
    listen: $work/knot.sock
database:
    storage: $work/db
log:
  - target: stderr
    any: error
EOF
}
# knot_conf_zones ZONE...: a plain template and the zones, each from $work/ZONE.zone ($work/root.zone for ".").
knot_conf_zones() {
    local z f
    cat <<EOF
template:
  - id: default
    storage: $work
    semantic-checks: off
zone:
EOF
    for z in "$@"; do
        [[ $z == . ]] && f=root.zone || f=$z.zone
        printf '  - domain: "%s"\n    file: "%s"\n' "$z" "$f"
    done
}
# knot_conf_counting_zone ZONE: the server head and one zone from $work/ZONE.zone, with knotd's query counters
# (mod-stats) on, for scripts that count what sidecache sent upstream (knotc ... stats mod-stats.server-operation).
knot_conf_counting_zone() {
    knot_conf_head
    cat <<EOF
mod-stats:
  - id: counters
template:
  - id: default
    storage: $work
    file: "%s.zone"
    semantic-checks: off
    global-module: mod-stats/counters
zone:
  - domain: $1
EOF
}
# start_knotd CONF: knotd in the background, log in $work/knot.log, PID in knot_pid.
start_knotd() {
    mkdir -p "$work/db"
    knotd -c "$1" >"$work/knot.log" 2>&1 &
    knot_pid=$!
}

# start_k8s_test_upstream: knotd on 127.0.0.53:53, authoritative for k8s.test (web A 192.0.2.80, web AAAA
# 2001:db8::80, so a pod with the cluster domain k8s.test gets NXDOMAIN or data for every search candidate); waits
# until it answers, aborts if it does not. The image scenarios' cluster DNS.
start_k8s_test_upstream() {
    cat >"$work/k8s.test.zone" <<'ZONE'
$ORIGIN k8s.test.
$TTL 300
@    SOA  ns hostmaster 1 3600 600 86400 60
@    NS   ns
ns   A    127.0.0.53
web  A    192.0.2.80
web  AAAA 2001:db8::80
ZONE
    { knot_conf_head; knot_conf_zones k8s.test; } >"$work/knot.conf"
    start_knotd "$work/knot.conf"
    wait_until "$knot_pid" dig @127.0.0.53 +time=1 +tries=1 +short k8s.test SOA >/dev/null ||
        abort "knotd did not start" "$work/knot.log"
}

# wait_until PID COMMAND...: runs COMMAND every 0.1 s until it succeeds (status 0) or 10 s have passed (status 1);
# gives up early (status 1) once PID has exited.
wait_until() {
    local pid=$1 i
    shift
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# --- Summary -----------------------------------------------------------------------------------------------------
show_sidecache_warnings() {
    if grep -qiE 'warning|error|critical|fatal' "$work/sidecache.log"; then
        echo "--- sidecache log (warnings and worse; informational)"
        grep -iE 'warning|error|critical|fatal' "$work/sidecache.log" | head -n 20
    fi
}
# finish: the final "N passed, M failed" line; status 1 (so the script exits 1) on any failure.
finish() {
    summary
    ((failed == 0))
}
