# Pod harness: a Kubernetes pod and its cluster DNS on one machine, for the scenario scripts and the benchmarks.
# Sourced, not run (it sources lib.sh itself):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/pod-lib.sh"
#   pod_enter 120 "gcc" "$@"          # re-executes the script inside fresh namespaces (SKIP without root)
#   pod_setup my-scenario             # the pod, the cluster-DNS node, the veth, the private /etc files, the zones
#   cluster_dns_start                 # knotd on 198.18.0.2:53 in the cluster-DNS node, behind the veth
#   sidecache_start                   # sidecache in the pod: DNS door 127.0.0.1:53, nscd door, admin 127.0.0.1:9253
#   ... checks with pass/fail/check (lib.sh) ...
#   finish
#
# The layout (nothing but these two namespaces; no default route anywhere, so no packet can leave them):
#
#   pod (the script's own network + mount + PID namespaces)       cluster-DNS node (a child `unshare -n`)
#     lo       127.0.0.1/8, 127.0.0.2/32, ::1, fd00::2/128          lo
#     pod0     198.18.0.1/30  <------------- veth -------------->   dns0  198.18.0.2/30   knotd :53
#     sidecache: DNS door 127.0.0.1:53, nscd door /var/run/nscd/socket, admin 127.0.0.1:9253, upstream 198.18.0.2:53
#
# In the pod's mount namespace only: a tmpfs "emptyDir" on /var/run/nscd, and bind mounts over /etc/resolv.conf
# (nameserver 127.0.0.1, search my-ns.svc.cluster.local svc.cluster.local cluster.local, options ndots:5),
# /etc/hosts (with a hostAliases entry) and /etc/nsswitch.conf (hosts: files dns). 198.18.0.0/15 is the RFC 2544
# benchmarking range. The cluster-DNS node shares the pod's mount namespace (knotd reads its files from $work).
#
# Variables (set by pod_setup unless noted):
#   work                  the scenario's scratch directory (removed at exit)
#   POD_ADDR              198.18.0.1, the pod's end of the veth
#   CLUSTER_DNS           198.18.0.2, the cluster DNS server
#   NSCD_SOCKET           /var/run/nscd/socket
#   ADMIN                 127.0.0.1:9253, sidecache's admin listener
#   cluster_pid           PID of the cluster-DNS node's keeper process (its network namespace: nsenter -t PID -n)
#   knot_pid, sidecache_pid, sniffer_pid   the daemons (empty when not running)
#   resolv                $work/resolv.conf, the file bind-mounted over /etc/resolv.conf (rewrite it in place)
#   bin                   $work/bin, where pod_build_clients puts the clients
#   POD_CLIENTS           Tests/Scenarios/clients (absolute), the clients' sources, set when this file is sourced
# (pod_enter is lib.sh's scenario_enter: the sourcing script takes exactly one argument, the sidecache binary.)
#
# Functions:
#   pod_enter LIMIT "TOOL..." SCRIPT_ARGS...   scenario_enter (lib.sh) with the pod's tools added, then the glibc
#                                              environment cleaned (isolate_glibc_env). LIMIT bounds the whole run.
#   pod_setup NAME [PID_VAR...]                $work (/tmp/NAME.XXXXXX) and the EXIT trap (which SIGKILLs the sniffer
#                                              and the node, then stops the daemons whose PIDs are in PID_VAR...,
#                                              sidecache and knotd, unmounts and removes $work), then all of the
#                                              following, in order:
#     pod_network                              pod lo (+127.0.0.2/32, fd00::2/128), the cluster-DNS node, the veth;
#                                              asserts (abort) both namespaces hold only lo + the veth end and have
#                                              no default route, and that each end reaches the other
#     pod_files                                resolv.conf (pod_write_resolv 127.0.0.1), hosts, nsswitch.conf and
#                                              the /var/run/nscd tmpfs, all bind-mounted in this mount namespace
#     pod_write_zones                          the zone files (below) into $work; append records before starting
#   pod_write_resolv NAMESERVER...             rewrites resolv.conf in place with these nameservers, the search list
#                                              and ndots:5 ($POD_RESOLV_OPTIONS adds to the options line)
#   pod_build_clients [glibc] [loop] [musl] [go] [ttl]
#                                              compiles clients into $bin in the background (pod_wait_clients waits;
#                                              aborts on a build failure): glibc -> glibc_resolve, loop ->
#                                              loop_resolve (glibc), musl -> musl_resolve + musl_loop (static),
#                                              go -> go_resolve + go_loop (CGO_ENABLED=0), ttl -> ttl_probe
#   cluster_dns_start                          knotd in the cluster-DNS node (and, the first time, the query sniffer
#                                              on dns0); waits until it answers, aborts if it does not
#   cluster_dns_stop                           stops knotd (SIGTERM, waits): queries then get ICMP port unreachable
#                                              (rate-limited by the kernel: most tries simply time out)
#   cluster_dns_freeze / cluster_dns_thaw      SIGSTOP / SIGCONT knotd: queries then time out
#   cluster_dns_set ZONE OWNER TTL TYPE RDATA... replaces the RRset OWNER/TYPE (OWNER relative to ZONE, or @) with
#                                              one record per RDATA, through a knotc transaction; waits until the
#                                              server answers with the new set (dig from the pod across the veth)
#   cluster_dig NAME TYPE                      the server's answer, asked directly across the veth: sorted, one line
#   cluster_dns_queries                        queries knotd itself counted (mod-stats), all transports
#   query_log_mark                             the current length of the query log (the sniffer on dns0)
#   query_log_since MARK                       the queries that reached the server since MARK, one per line:
#                                              "<transport> <source> <qname> <QTYPE>"; waits (3 s at most) until
#                                              the sniffer has logged as many queries as knotd counted
#   sidecache_start [FLAG...]                  sidecache in the pod (flags added to the standard ones); waits for
#                                              both doors (sidecache check) and /readyz, aborts if they never come
#   sidecache_stop [SIGNAL]                    sends SIGNAL (default TERM) and waits; sets sidecache_status
#   admin_get PATH                             GET http://$ADMIN/PATH, the body on stdout (status 1 unless 2xx)
#   admin_status PATH                          the HTTP status code of GET http://$ADMIN/PATH (000: no answer)
#   metric NAME_WITH_LABELS                    one sample's value from /metrics (0 when absent), e.g.
#                                              metric sidecache_upstream_requests_total
#   now_ms                                     CLOCK_REALTIME in ms (the clients print the same clock)
#
# Zones (knotd is authoritative for the root zone too, so unknown names are NXDOMAIN, never REFUSED):
#   svc.cluster.local   my-svc.my-ns (ClusterIP 10.96.0.10, fd00:10:96::a), my-headless.my-ns (4 A, 10.244.1.11-14),
#                       other-svc.other-ns (10.96.0.40), v4svc.my-ns (A only), alias.my-ns (CNAME my-svc.my-ns)
#   cluster.local       pod records (10-244-1-5.my-ns.pod)
#   example.test        www (A + AAAA), api (CNAME chain), four (4 A), v4only, nxcname (CNAME to nothing)
#   .                   SOA/NS only
# TTLs: 30 s in svc.cluster.local, 300 s elsewhere; every SOA has a negative TTL of 300 s.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The client sources, wherever the sourcing script lives (bench/ too).
POD_CLIENTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/clients" && pwd)
POD_ADDR=198.18.0.1
CLUSTER_DNS=198.18.0.2
NSCD_SOCKET=/var/run/nscd/socket
ADMIN=127.0.0.1:9253
POD_SEARCH='my-ns.svc.cluster.local svc.cluster.local cluster.local'
POD_RESOLV_OPTIONS=${POD_RESOLV_OPTIONS:-}
POD_TOOLS="unshare nsenter ip mount knotd knotc dig curl python3 timeout"

pod_enter() {
    local limit=$1 tools=$2
    shift 2
    scenario_enter "$limit" "$POD_TOOLS $tools" "$@"
    isolate_glibc_env
}

now_ms() { date +%s%3N; }

# --- Network -----------------------------------------------------------------------------------------------------
in_cluster() { nsenter -t "$cluster_pid" -n -- "$@"; }

pod_network() {
    require_loopback_only             # aborts unless this namespace holds nothing but lo; brings lo up
    add_addrconfig_addresses          # 127.0.0.2/32 and fd00::2/128 on lo
    # The cluster-DNS node: a process in a network namespace of its own, kept alive until the pod's PID namespace
    # ends (the sleep is bounded too).
    unshare -n -- sleep 3600 &
    cluster_pid=$!
    local i
    for i in $(seq 1 50); do
        [[ $(readlink "/proc/$cluster_pid/ns/net" 2>/dev/null) != "$(readlink /proc/self/ns/net)" ]] && break
        sleep 0.02
    done
    [[ $(readlink "/proc/$cluster_pid/ns/net") != "$(readlink /proc/self/ns/net)" ]] ||
        abort "the cluster-DNS node did not get a network namespace of its own"
    ip link add pod0 type veth peer name dns0 netns "$cluster_pid"
    ip addr add "$POD_ADDR/30" dev pod0
    ip link set pod0 up
    in_cluster ip link set lo up
    in_cluster ip addr add "$CLUSTER_DNS/30" dev dns0
    in_cluster ip link set dns0 up

    # Nothing but lo and the veth end, and no default route, on either side.
    local side links
    for side in pod cluster; do
        if [[ $side == pod ]]; then
            links=$(ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | paste -sd' ' -)
            [[ $links == "lo pod0" ]] || abort "pod namespace: expected links 'lo pod0', found '$links'"
            [[ -z $(ip route show default; ip -6 route show default) ]] || abort "pod namespace has a default route"
        else
            links=$(in_cluster ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | paste -sd' ' -)
            [[ $links == "dns0 lo" ]] || abort "cluster-DNS namespace: expected links 'dns0 lo', found '$links'"
            [[ -z $(in_cluster ip route show default; in_cluster ip -6 route show default) ]] ||
                abort "cluster-DNS namespace has a default route"
        fi
    done
    ping_ok || ping_ok || abort "the veth does not carry traffic between $POD_ADDR and $CLUSTER_DNS"
}
# A UDP datagram from the pod reaches the node across the veth (python3 listens there; no ping binary needed).
ping_ok() {
    in_cluster timeout 3 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(2)
sys.exit(0 if s.recvfrom(64)[0] == b"pod" else 1)' "$CLUSTER_DNS" 2>/dev/null &
    local listener=$! i
    for i in $(seq 1 20); do
        kill -0 "$listener" 2>/dev/null || break
        echo -n pod 2>/dev/null >"/dev/udp/$CLUSTER_DNS/9999" || true
        sleep 0.1
    done
    wait "$listener"
}

# --- Private files -------------------------------------------------------------------------------------------------
pod_write_resolv() {
    {
        local ns
        for ns in "$@"; do printf 'nameserver %s\n' "$ns"; done
        printf 'search %s\n' "$POD_SEARCH"
        printf 'options ndots:5%s\n' "${POD_RESOLV_OPTIONS:+ $POD_RESOLV_OPTIONS}"
    } >"$resolv"
}
pod_files() {
    resolv=$work/resolv.conf
    pod_write_resolv 127.0.0.1
    cat >"$work/hosts" <<'EOF'
# Kubernetes-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
10.244.1.5	my-pod.my-ns.pod.cluster.local	my-pod
# Entries added by HostAliases.
10.1.2.3	foo.local	bar.local
EOF
    mount_private_etc
}

# --- Zones ---------------------------------------------------------------------------------------------------------
pod_write_zones() {
    local soa='SOA ns.cluster.local. hostmaster.cluster.local. 1 3600 600 86400 300'
    cat >"$work/root.zone" <<EOF
\$ORIGIN .
\$TTL 300
@   $soa
@   NS ns.cluster.local.
EOF
    cat >"$work/cluster.local.zone" <<EOF
\$ORIGIN cluster.local.
\$TTL 300
@                      $soa
@                      NS    ns
ns                     A     $CLUSTER_DNS
10-244-1-5.my-ns.pod   A     10.244.1.5
EOF
    cat >"$work/svc.cluster.local.zone" <<EOF
\$ORIGIN svc.cluster.local.
\$TTL 30
@                      $soa
@                      NS    ns.cluster.local.
my-svc.my-ns           A     10.96.0.10
my-svc.my-ns           AAAA  fd00:10:96::a
my-headless.my-ns      A     10.244.1.11
my-headless.my-ns      A     10.244.1.12
my-headless.my-ns      A     10.244.1.13
my-headless.my-ns      A     10.244.1.14
other-svc.other-ns     A     10.96.0.40
v4svc.my-ns            A     10.96.0.50
alias.my-ns            CNAME my-svc.my-ns
txtonly.my-ns          TXT   "a name with no address"
EOF
    cat >"$work/example.test.zone" <<EOF
\$ORIGIN example.test.
\$TTL 300
@          $soa
@          NS    ns.cluster.local.
www        A     192.0.2.10
www        AAAA  2001:db8::10
api        CNAME lb
lb         CNAME lb-1
lb-1       A     192.0.2.21
lb-1       A     192.0.2.22
four       A     192.0.2.51
four       A     192.0.2.52
four       A     192.0.2.53
four       A     192.0.2.54
v4only     A     192.0.2.30
nxcname    CNAME gone
EOF
    pod_zones=(. cluster.local svc.cluster.local example.test)
}

pod_setup() {
    scenario_workdir "$@"
    sniffer_pid=
    cluster_pid=
    trap pod_cleanup EXIT
    bin=$work/bin
    mkdir -p "$bin"
    pod_network
    pod_files
    pod_write_zones
}

# The EXIT trap: the sniffer and the node's keeper get SIGKILL (a test runner may start us with SIGTERM blocked, and
# neither installs a handler), then lib.sh's cleanup stops the daemons, unmounts and removes $work.
pod_cleanup() {
    local status=$? p
    set +e
    for p in "${sniffer_pid:-}" "${cluster_pid:-}"; do
        [[ -n $p ]] && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    (exit "$status")
    cleanup
}

# --- Clients -------------------------------------------------------------------------------------------------------
pod_build_clients() {
    local what
    (
        set -e
        for what in "$@"; do
            case $what in
                glibc) gcc -O2 -Wall -o "$bin/glibc_resolve" "$POD_CLIENTS/glibc_resolve.c" ;;
                loop) gcc -O2 -Wall -o "$bin/loop_resolve" "$POD_CLIENTS/loop_resolve.c" ;;
                musl)
                    musl-gcc -static -O2 -Wall -o "$bin/musl_resolve" "$POD_CLIENTS/musl_resolve.c"
                    musl-gcc -static -O2 -Wall -o "$bin/musl_loop" "$POD_CLIENTS/loop_resolve.c" ;;
                go)
                    mkdir -p "$work/go/resolve" "$work/go/loop"
                    cp "$POD_CLIENTS/go_resolve.go" "$work/go/resolve/"
                    cp "$POD_CLIENTS/go_loop.go" "$work/go/loop/"
                    (cd "$work/go/resolve" && env GOCACHE="$work/gocache" GOPATH="$work/gopath" GO111MODULE=off \
                        GOFLAGS= CGO_ENABLED=0 go build -o "$bin/go_resolve" go_resolve.go)
                    (cd "$work/go/loop" && env GOCACHE="$work/gocache" GOPATH="$work/gopath" GO111MODULE=off \
                        GOFLAGS= CGO_ENABLED=0 go build -o "$bin/go_loop" go_loop.go) ;;
                ttl) gcc -O2 -Wall -o "$bin/ttl_probe" "$POD_CLIENTS/ttl_probe.c" ;;
                *) echo "pod_build_clients: unknown client $what" >&2; exit 2 ;;
            esac
        done
    ) >"$work/build.log" 2>&1 &
    build_pid=$!
}
pod_wait_clients() {
    wait "$build_pid" || abort "building the clients failed" "$work/build.log"
}

# --- The cluster DNS server (knotd in the cluster-DNS node) ----------------------------------------------------------
cluster_dns_conf() {
    cat <<EOF
server:
    listen: $CLUSTER_DNS@53
    rundir: $work
    user: root:root
    udp-workers: 2
    tcp-workers: 1
    background-workers: 1
control:
    listen: $work/knot.sock
database:
    storage: $work/db
log:
  - target: stderr
    any: error
mod-stats:
  - id: counters
template:
  - id: default
    storage: $work
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    global-module: mod-stats/counters
zone:
EOF
    local z f
    for z in "${pod_zones[@]}"; do
        [[ $z == . ]] && f=root.zone || f=$z.zone
        printf '  - domain: "%s"\n    file: "%s"\n' "$z" "$f"
    done
}
cluster_dig() {  # cluster_dig NAME TYPE   -> the answer's data, sorted, comma-separated ("" when none)
    timeout 5 dig "@$CLUSTER_DNS" +time=1 +tries=1 +short "$1" "$2" 2>/dev/null | grep -v '^;' | LC_ALL=C sort |
        paste -sd, - || true
}
cluster_dns_up() { [[ -n $(cluster_dig ns.cluster.local A) ]]; }
cluster_dns_start() {
    [[ -z ${knot_pid:-} ]] || abort "cluster_dns_start: knotd is already running"
    if [[ -z ${sniffer_pid:-} ]]; then
        : >"$work/queries.log"
        rm -f "$work/sniffer.ready"
        # nsenter itself, not the in_cluster function, so that $! is the process that runs (nsenter execs it).
        nsenter -t "$cluster_pid" -n -- python3 "$POD_CLIENTS/query_sniffer.py" dns0 "$work/queries.log" "$work/sniffer.ready" \
            >"$work/sniffer.err" 2>&1 &
        sniffer_pid=$!
        local i
        for i in $(seq 1 100); do
            [[ -e $work/sniffer.ready ]] && break
            kill -0 "$sniffer_pid" 2>/dev/null || break
            sleep 0.05
        done
        [[ -e $work/sniffer.ready ]] || abort "the query sniffer did not start" "$work/sniffer.err"
    fi
    [[ -f $work/cluster-dns.conf ]] || cluster_dns_conf >"$work/cluster-dns.conf"
    mkdir -p "$work/db"
    query_log_base=$(wc -l <"$work/queries.log")   # knotd's counters start at zero with each start
    nsenter -t "$cluster_pid" -n -- knotd -c "$work/cluster-dns.conf" >>"$work/knot.log" 2>&1 &
    knot_pid=$!
    wait_until "$knot_pid" cluster_dns_up || true
    cluster_dns_up || abort "knotd did not start on $CLUSTER_DNS:53" "$work/knot.log"
}
cluster_dns_stop() {
    [[ -n ${knot_pid:-} ]] || return 0
    kill -CONT "$knot_pid" 2>/dev/null || true
    kill "$knot_pid" 2>/dev/null || true
    wait "$knot_pid" 2>/dev/null || true
    knot_pid=
}
cluster_dns_freeze() { kill -STOP "$knot_pid"; }
cluster_dns_thaw() { kill -CONT "$knot_pid"; }
knotc_() { timeout 10 knotc -c "$work/cluster-dns.conf" "$@"; }
cluster_dns_set() {  # cluster_dns_set ZONE OWNER TTL TYPE RDATA...
    local zone=$1 owner=$2 ttl=$3 type=$4 rdata fqdn want got i
    shift 4
    [[ $owner == @ ]] && fqdn=$zone || fqdn=$owner.$zone
    {
        knotc_ zone-begin "$zone" &&
            { knotc_ zone-unset "$zone" "$owner" "$type" || true; } &&
            for rdata in "$@"; do knotc_ zone-set "$zone" "$owner" "$ttl" "$type" "$rdata" || exit 1; done &&
            knotc_ zone-commit "$zone"
    } >>"$work/knotc.log" 2>&1 || { knotc_ zone-abort "$zone" >/dev/null 2>&1; abort "knotc could not change $fqdn $type" "$work/knotc.log"; }
    want=$(printf '%s\n' "$@" | LC_ALL=C sort | paste -sd, -)
    for i in $(seq 1 100); do
        got=$(cluster_dig "$fqdn" "$type")
        [[ $got == "$want" ]] && return 0
        sleep 0.01
    done
    abort "the server still answers '$got' for $fqdn $type, not '$want'"
}
cluster_dns_queries() {
    knotc_ stats mod-stats.server-operation 2>/dev/null | awk -F' = ' '/\[query\]/ {n += $2} END {print n + 0}'
}
query_log_mark() { wc -l <"$work/queries.log"; }
query_log_since() {  # query_log_since MARK
    local i
    # The sniffer sees a query before knotd counts it; wait until it has logged at least what knotd counted (only
    # meaningful while knotd runs).
    if [[ -n ${knot_pid:-} ]]; then
        local counted
        for i in $(seq 1 30); do
            counted=$(cluster_dns_queries)
            (($(wc -l <"$work/queries.log") - ${query_log_base:-0} >= counted)) && break
            sleep 0.1
        done
    fi
    tail -n +"$(($1 + 1))" "$work/queries.log" | awk '{print $2, $3, $4, $5}'
}

# --- sidecache in the pod ------------------------------------------------------------------------------------------
sidecache_start() {
    [[ -z ${sidecache_pid:-} ]] || abort "sidecache_start: sidecache is already running"
    "$sidecache" serve --upstream "$CLUSTER_DNS:53" --dns-listen 127.0.0.1:53 --nscd-socket "$NSCD_SOCKET" \
        --admin-listen "$ADMIN" --hosts-file /etc/hosts --resolv-conf /etc/resolv.conf --log-level notice \
        --shared-map-file "$work/sidecache-run/hosts.map" "$@" \
        >>"$work/sidecache.log" 2>&1 &
    sidecache_pid=$!
    sidecache_up() {
        timeout 5 "$sidecache" check --dns 127.0.0.1:53 --socket "$NSCD_SOCKET" --timeout 500 >/dev/null 2>&1 &&
            admin_get readyz >/dev/null
    }
    wait_until "$sidecache_pid" sidecache_up || true
    sidecache_up || abort "sidecache did not become ready (doors and /readyz)" "$work/sidecache.log"
}
sidecache_stop() {  # sidecache_stop [SIGNAL]   -> sidecache_status: the exit status
    sidecache_status=
    [[ -n ${sidecache_pid:-} ]] || return 0
    kill -"${1:-TERM}" "$sidecache_pid" 2>/dev/null || true
    sidecache_status=0
    wait "$sidecache_pid" 2>/dev/null || sidecache_status=$?
    sidecache_pid=
}
admin_get() { curl -fsS --max-time 5 "http://$ADMIN/$1" 2>/dev/null; }
admin_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$ADMIN/$1" 2>/dev/null || true; }
metric() {
    admin_get metrics | awk -v k="$1" '$1 == k {v = $2} END {print v + 0}'
}
