# Shared by the benchmark scripts (sourced, not run): the Knot DNS upstream they all measure against.

# write_bench_upstream WORK NAMES LISTEN [SERVER-LINE...]
# Writes WORK/bench.test.zone with NAMES A records (n0..n<NAMES-1>.bench.test -> 10.x.y.z) and WORK/knot.conf
# listening on LISTEN (ADDRESS@PORT); extra `server:` lines (e.g. "udp-workers: 1") may follow.
write_bench_upstream() {
    local work=$1 names=$2 listen=$3
    shift 3
    {
        echo '$ORIGIN bench.test.'
        echo '$TTL 3600'
        echo '@ IN SOA ns1 hostmaster 1 3600 600 86400 60'
        echo '@ IN NS ns1'
        echo 'ns1 IN A 127.0.0.53'
        for ((i = 0; i < names; i++)); do echo "n$i IN A 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"; done
    } > "$work/bench.test.zone"
    {
        echo "server:"
        echo "    listen: $listen"
        echo "    rundir: $work"
        echo "    user: root:root"
        local line
        for line in "$@"; do echo "    $line"; done
        cat <<KNOT
database:
    storage: $work/db
log:
  - target: stderr
    any: error
template:
  - id: default
    storage: $work
    file: "%s.zone"
zone:
  - domain: bench.test
KNOT
    } > "$work/knot.conf"
}

# write_nscd_conf FILE SHARED: glibc nscd's configuration as the benchmarks run it (hosts only, one hour positive,
# 20 s negative, no persistence), with `shared hosts SHARED` (yes: clients read its shared-memory map).
write_nscd_conf() {
    local file=$1 shared=$2
    printf '\t%s\n' "debug-level 0" "paranoia no" "enable-cache passwd no" "enable-cache group no" \
        "enable-cache services no" "enable-cache netgroup no" "enable-cache hosts yes" \
        "positive-time-to-live hosts 3600" "negative-time-to-live hosts 20" "suggested-size hosts 211" \
        "check-files hosts yes" "persistent hosts no" "shared hosts $shared" "max-db-size hosts 33554432" >"$file"
}

# glibc_bench_namespace PREFIX TMPFS_SIZE SHARED
# Inside a fresh network + mount namespace: lo up with 127.0.0.2/32 (so AI_ADDRCONFIG lets getaddrinfo ask), a
# scratch directory in $work (removed at exit, after killing $server_pid and $knot_pid), a tmpfs on /var/run/nscd,
# and bind mounts of our own resolv.conf (nameserver 127.0.0.53; $work/resolv.dead names nobody), hosts,
# nsswitch.conf and nscd.conf (`shared hosts SHARED`) over /etc. The mounts live and die with the namespace.
glibc_bench_namespace() {
    local prefix=$1 size=$2 shared=$3
    ip link set lo up
    ip addr add 127.0.0.2/32 dev lo
    work=$(mktemp -d "/tmp/$prefix.XXXXXX")
    knot_pid=""
    server_pid=""
    trap 'for pid in $server_pid $knot_pid; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
    [ -d /var/run/nscd ] || { echo "no /var/run/nscd: install the nscd package (bash .ci/install-deps)" >&2; exit 1; }
    mount -t tmpfs -o "size=$size,mode=755" tmpfs /var/run/nscd
    mountpoint -q /var/run/nscd || { echo "tmpfs on /var/run/nscd missing" >&2; exit 1; }
    printf 'nameserver 127.0.0.53\noptions attempts:1 timeout:1\n' >"$work/resolv.conf"
    printf 'nameserver 127.0.0.9\noptions attempts:1 timeout:1\n' >"$work/resolv.dead"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$work/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files dns\nservices: files\nnetgroup: files\n' >"$work/nsswitch.conf"
    write_nscd_conf "$work/nscd.conf" "$shared"
    mount --bind "$work/resolv.conf" /etc/resolv.conf
    mount --bind "$work/hosts" /etc/hosts
    mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
    mount --bind "$work/nscd.conf" /etc/nscd.conf
}

# write_unbound_conf FILE WORK INTERFACE FORWARD: unbound as the DNS-door reference (performance-notes.md): 2 threads,
# SO_REUSEPORT, 16 MiB caches, prefetch, answering on INTERFACE:53 and forwarding everything to FORWARD
# (ADDRESS@PORT; loopback allowed); its files in WORK.
write_unbound_conf() {
    local file=$1 work=$2 interface=$3 forward=$4
    cat >"$file" <<UNBOUND
server:
    interface: $interface
    port: 53
    num-threads: 2
    so-reuseport: yes
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$work"
    pidfile: "$work/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    module-config: "iterator"
    msg-cache-size: 16m
    rrset-cache-size: 16m
    prefetch: yes
    # unbound answers names under test. itself (NXDOMAIN, a default local zone of RFC 6761); the benchmarks' names
    # live there and must be forwarded like everything else.
    local-zone: "test." nodefault
forward-zone:
    name: "."
    forward-addr: $forward
UNBOUND
}
