#!/usr/bin/env bash
# The benchmark suite: sidecache against glibc nscd (`shared hosts no` and `yes`), unbound (2 threads) and dnsmasq,
# all in one run, in the pod of Tests/Scenarios/pod-lib.sh (a pod network namespace, the cluster DNS — knotd — in a
# second namespace behind a veth).
#
#   sudo bash bench/run.sh [--quick] [--binary PATH] [--docs | --no-docs]
#
#   --quick         shorter runs, one round, a 10 s staleness bound (about 2.5 minutes; figures noisier)
#   --binary PATH   measure this sidecache binary instead of building one (the default builds the binary as it
#                   ships: release, Swift runtime linked statically, `--scratch-path .build-static`)
#   --only "BLOCK..."  run only these blocks of gai, dns, stale, pass (for trying things out; never writes the docs)
#   --docs          also write the table into docs/benchmarks.md (section "Suite") and the chart into docs/img/
#                   (the default for a full run; --no-docs turns it off; a --quick run never writes the docs)
#
# Output: bench/out/suite[-quick].results (raw figures), .md (the markdown table with ratios) and .svg (the chart).
#
# What runs, each server alone in the pod (one at a time, so none shares the two cores with another), started fresh
# for each block and stopped with SIGKILL after it:
#   nscd door   bench/clients/gai_bench (getaddrinfo in a loop, SOCK_STREAM) on /var/run/nscd/socket over 100
#               cached service names, 1 and 2 threads, AF_INET and AF_UNSPEC, against glibc nscd `shared hosts no`
#               and `shared hosts yes`. The client's own resolv.conf names a dead address, so every successful call
#               was answered through the socket (a check with no server on it must give 0 answers).
#   DNS door    dnsperf QPS (-c 16 -q 200), resperf's maximum throughput (ramp to 300k QPS, -C 16), and p50/p99
#               at a fixed rate, over 1,000 cached names, against unbound (2 threads, so-reuseport) and dnsmasq.
#               16 client sockets, not 2: SO_REUSEPORT spreads queries over a server's threads by source port, and
#               two ports land on one thread about half the time (seen as a 1.6x swing between runs).
#               resperf ends when it cannot send at its ramp's rate ("fell behind"); on two cores it shares with
#               the server, that is often the client's limit, and the table says so.
#   first address   share of the most frequent first address over repeated lookups of a name with 4 A records.
#   staleness   a record with TTL 2 s is looked up (cached), changed at the cluster DNS, then looked up every 2 ms
#               until the new address comes: milliseconds after the TTL ended (bounded).
#   cache pass  10,000 names looked up twice on a fresh server; hit % = 1 - upstream queries in the second pass /
#               upstream queries in the first (counted by knotd); RSS after.
#   idle RSS    VmRSS a moment after the server became ready, before any load.
#   cold start  process start until /readyz answers 200 (sidecache), until the first answer (the others; sidecache's
#               first answers are given too). Median over every start in the run.
# The host's lock /tmp/swift.lock is held while each server is measured (no Swift build runs meanwhile), and
# released in between. Nothing leaves the pod and the cluster-DNS namespace.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)

if [[ -z ${SIDECACHE_SCENARIO_IN_NAMESPACE:-} ]]; then
    mode=full
    binary=""
    docs=auto
    only="gai dns stale pass"
    while [[ $# -gt 0 ]]; do
        case $1 in
            --quick) mode=quick; shift ;;
            --binary) binary=$(readlink -f -- "$2"); shift 2 ;;
            --docs) docs=yes; shift ;;
            --no-docs) docs=no; shift ;;
            --only) only=$2; shift 2 ;;
            *) echo "usage: $0 [--quick] [--binary PATH] [--only \"BLOCK...\"] [--docs | --no-docs]" >&2; exit 2 ;;
        esac
    done
    for block in $only; do
        [[ $block =~ ^(gai|dns|stale|pass)$ ]] || { echo "unknown block: $block" >&2; exit 2; }
    done
    [[ $docs == auto ]] && { [[ $mode == full && $only == "gai dns stale pass" ]] && docs=yes || docs=no; }
    [[ $mode == quick && $docs == yes ]] && { echo "a --quick run does not write the docs" >&2; exit 2; }
    if [[ $(id -u) != 0 ]]; then echo "bench/run.sh: needs root (network and mount namespaces, port 53)" >&2; exit 1; fi

    # Packages: the project's own, plus the two this suite alone needs. dnsmasq-base is the binary without the
    # Debian service (nothing starts at install time); matplotlib draws the chart.
    bash "$root/.ci/install-deps"
    missing=()
    for package in dnsmasq-base python3-matplotlib curl; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)
        [[ $status == ii* ]] || missing+=("$package")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "bench/run.sh: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

    if [[ -z $binary ]]; then
        echo "bench/run.sh: building sidecache (release, static Swift runtime)"
        (cd "$root" && flock /tmp/swift.lock swift build -c release --static-swift-stdlib --product sidecache \
            --scratch-path .build-static >/dev/null)
        binary=$root/.build-static/release/sidecache
    fi
    [[ -x $binary ]] || { echo "not executable: $binary" >&2; exit 2; }
    commit=$(git -C "$(dirname "$binary")" rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git -C "$(dirname "$binary")" status --porcelain --untracked-files=no -- :/Sources :/Package.swift 2>/dev/null | head -1)
    export SIDECACHE_BENCH_MODE=$mode SIDECACHE_BENCH_DOCS=$docs SIDECACHE_BENCH_ONLY=$only
    export SIDECACHE_BENCH_COMMIT="$commit${dirty:+ (with uncommitted changes)}"
    export SIDECACHE_BENCH_BINARY_KIND
    SIDECACHE_BENCH_BINARY_KIND=$(file -b "$binary" 2>/dev/null | grep -q 'statically linked' && echo static || true)
    [[ -n $SIDECACHE_BENCH_BINARY_KIND ]] || SIDECACHE_BENCH_BINARY_KIND=$(
        ldd "$binary" 2>/dev/null | grep -q libswiftCore && echo "dynamic Swift runtime" || echo "static Swift runtime")
    set -- "$binary"
fi

# shellcheck source=Tests/Scenarios/pod-lib.sh
. "$root/Tests/Scenarios/pod-lib.sh"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# The bound covers waits for /tmp/swift.lock too (up to 20 minutes per block while others build).
if [[ ${SIDECACHE_BENCH_MODE:-full} == quick ]]; then limit=3600; else limit=7200; fi
pod_enter "$limit" "nscd unbound dnsmasq dnsperf resperf gcc flock" "$@"

# ===================================================================================================================
# Inside the pod (network + mount + PID namespaces) from here on.
mode=$SIDECACHE_BENCH_MODE
runs() { [[ " $SIDECACHE_BENCH_ONLY " == *" $1 "* ]]; }
if [[ $mode == quick ]]; then
    gai_secs=2 gai_rounds=1 gai_families="inet unspec"
    dns_secs=3 dns_rounds=1 resperf_ramp=6 latency_secs=3
    stale_bound_ms=10000 first_count=2000 idle_wait=1
else
    gai_secs=6 gai_rounds=2 gai_families="inet unspec"
    dns_secs=8 dns_rounds=2 resperf_ramp=15 latency_secs=5
    stale_bound_ms=20000 first_count=2000 idle_wait=2
fi
gai_names=100 dns_names=1000 pass_names=10000
latency_rate=20000 resperf_max=300000 stale_ttl=2
# sidecache as it ships hands glibc its shared map (GETFDHST), as nscd does with `shared hosts yes`; sidecache-socket
# runs with `--shared-map off`, so every call goes through the socket, as with nscd's `shared hosts no`.
gai_servers="nscd-no nscd-yes sidecache-socket sidecache"
dns_servers="unbound dnsmasq sidecache"
all_servers="sidecache sidecache-socket nscd-no nscd-yes unbound dnsmasq"
first_interval_us=1000

pod_setup bench-suite server_pid
results=$work/results
: >"$results"
record() { echo "$*" >>"$results"; }
record "meta mode=$mode date=$(date -u +%Y-%m-%dT%H:%MZ) commit=${SIDECACHE_BENCH_COMMIT// /_}" \
    "binary=${SIDECACHE_BENCH_BINARY_KIND// /_} cores=$(nproc) gai_secs=$gai_secs gai_rounds=$gai_rounds" \
    "dns_secs=$dns_secs dns_rounds=$dns_rounds resperf_ramp=$resperf_ramp latency_rate=$latency_rate" \
    "latency_secs=$latency_secs stale_ttl=$stale_ttl stale_bound_ms=$stale_bound_ms first_count=$first_count" \
    "first_interval_us=$first_interval_us" \
    "gai_names=$gai_names dns_names=$dns_names pass_names=$pass_names" \
    "glibc=$(ldd --version | awk 'NR == 1 {print $NF}') nscd=$(nscd --version | awk 'NR == 1 {print $NF}')" \
    "unbound=$(unbound -V | awk '/^Version/ {print $2}') dnsmasq=$(dnsmasq --version | awk 'NR == 1 {print $3}')" \
    "dnsperf=$(dnsperf -h 2>&1 | awk '/^Version/ {print $2}') knot=$(knotd --version | awk '{print $NF}')"

# --- The cluster DNS: pod-lib's zones, plus the suite's names in svc.cluster.local ------------------------------
# gN.bench (getaddrinfo), dN.bench (dnsperf), pN.bench (the cache pass): one A each, TTL 3600 (the cache-hit
# figures are about hits; the pod-lib records keep Kubernetes' 30 s). st-SERVER-DOOR.bench: TTL 2, for staleness.
# Clients in the pod ask for "gN.bench" through the search list (ndots:5), as a pod asks for "svc.namespace".
# Addresses: gN -> 10.100.x.y, dN -> 10.110.x.y, pN -> 10.120.x.y.
names_awk() {  # names_awk PREFIX COUNT BASE FORMAT: one printf(FORMAT, name, address) per name
    awk -v p="$1" -v n="$2" -v b="$3" -v f="$4" 'BEGIN {
        for (i = 0; i < n; i++) printf f, p i, sprintf("10.%d.%d.%d", b + int(i / 65536) % 64, int(i / 256) % 256, i % 256) }'
}
{
    names_awk g "$gai_names" 100 '%s.bench 3600 IN A %s\n'
    names_awk d "$dns_names" 110 '%s.bench 3600 IN A %s\n'
    names_awk p "$pass_names" 120 '%s.bench 3600 IN A %s\n'
    for s in $all_servers; do
        for d in dns gai; do echo "st-$s-$d.bench $stale_ttl IN A 192.0.2.1"; done
    done
} >>"$work/svc.cluster.local.zone"
names_awk g "$gai_names" 100 '%s.bench %s\n' >"$work/gai.names"
names_awk d "$dns_names" 110 '%s.bench.svc.cluster.local A\n' >"$work/dns.queries"
names_awk p "$pass_names" 120 '%s.bench %s\n' >"$work/pass.names"
names_awk p "$pass_names" 120 '%s.bench.svc.cluster.local A\n' >"$work/pass.queries"

# knotd in the cluster-DNS node, as pod-lib's cluster_dns_start but without its query sniffer (a Python process
# reading every packet on dns0 would take CPU from the servers under test; knotd's own counters suffice here).
cluster_dns_conf >"$work/cluster-dns.conf"
mkdir -p "$work/db"
in_cluster knotd -c "$work/cluster-dns.conf" >>"$work/knot.log" 2>&1 &
knot_pid=$!
wait_until "$knot_pid" cluster_dns_up || true
cluster_dns_up || abort "knotd did not start on $CLUSTER_DNS:53" "$work/knot.log"
[[ $(cluster_dig "p$((pass_names - 1)).bench.svc.cluster.local" A) == "$(tail -n 1 "$work/pass.names" | cut -d' ' -f2)" ]] ||
    abort "knotd does not serve the suite's names" "$work/knot.log"

# --- Clients --------------------------------------------------------------------------------------------------------
gcc -O2 -pthread -o "$bin/gai_bench" "$root/bench/clients/gai_bench.c"
gcc -O2 -Wall -o "$bin/probe" "$root/bench/clients/probe.c"
# getaddrinfo clients run in a nested mount namespace whose resolv.conf has the pod's search list and ndots but a
# dead nameserver: glibc's own DNS fallback cannot succeed, so every answer came through the nscd socket.
{ echo "nameserver 127.0.0.9"; echo "search $POD_SEARCH"; echo "options ndots:5 attempts:1 timeout:1"; } >"$work/resolv.dead"
glibc_client() {  # glibc_client SECONDS_BOUND COMMAND...
    local bound=$1
    shift
    timeout -k 2 "$bound" unshare -m --propagation private \
        sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$work/resolv.dead" "$@"
}

# No server on the socket: nothing may resolve (proves the clients' answers come from the socket).
rm -rf /var/run/nscd/*
baseline=$(glibc_client 30 "$bin/gai_bench" -n "$work/gai.names" -o -f unspec)
[[ $(field ok "$baseline") == 0 ]] || abort "without a server on the socket getaddrinfo still resolved ($baseline)"
record "baseline $baseline"

# --- Servers --------------------------------------------------------------------------------------------------------
write_nscd_conf "$work/nscd-no.conf" no
write_nscd_conf "$work/nscd-yes.conf" yes
write_unbound_conf "$work/unbound.conf" "$work" 127.0.0.1 "$CLUSTER_DNS@53"

rss_of() {  # rss_of PID -> "VmRSS RssAnon RssFile" in KiB
    awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print r + 0, a + 0, f + 0}' "/proc/$1/status"
}

# The lock is held for each measurement block (released in between); servers do not inherit its descriptor.
lock_fd=""
lock_wait=0
take_lock() {
    local t=$SECONDS
    exec {lock_fd}>/tmp/swift.lock
    flock -w 1200 "$lock_fd" || abort "waited 20 minutes for /tmp/swift.lock"
    lock_wait=$((lock_wait + SECONDS - t))
}
drop_lock() {
    flock -u "$lock_fd"
    exec {lock_fd}>&-
    lock_fd=""
}

# start_server NAME: starts it alone in the pod, waits until it is ready, records cold start and idle RSS.
server=""
start_server() {
    server=$1
    rm -rf /var/run/nscd/*
    local t0 ready first_dns=none first_nscd=none
    case $server in
        sidecache*) pod_write_resolv 127.0.0.1 ;;
        nscd-*) pod_write_resolv "$CLUSTER_DNS" ;;  # nscd resolves with the pod's resolv.conf: the cluster DNS
        *) pod_write_resolv 127.0.0.1 ;;
    esac
    t0=$(date +%s%N)
    case $server in
        sidecache*)
            local extra=()
            [[ $server == sidecache-socket ]] && extra=(--shared-map off)
            "$sidecache" serve --upstream "$CLUSTER_DNS:53" --dns-listen 127.0.0.1:53 --nscd-socket "$NSCD_SOCKET" \
                --admin-listen "$ADMIN" --hosts-file /etc/hosts --resolv-conf /etc/resolv.conf --log-level warning \
                --shared-map-file "$work/sidecache-run/hosts.map" "${extra[@]}" \
                {lock_fd}>&- >>"$work/sidecache.log" 2>&1 &
            ;;
        nscd-no | nscd-yes) nscd -F -f "$work/$server.conf" {lock_fd}>&- >>"$work/nscd.log" 2>&1 & ;;
        unbound) unbound -d -c "$work/unbound.conf" {lock_fd}>&- >>"$work/unbound.log" 2>&1 & ;;
        dnsmasq)
            dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
                --server="$CLUSTER_DNS" --listen-address=127.0.0.1 --bind-interfaces --port=53 --cache-size=20000 \
                --user=root --pid-file="$work/dnsmasq.pid" --log-facility=- {lock_fd}>&- >>"$work/dnsmasq.log" 2>&1 &
            ;;
    esac
    server_pid=$!
    # Readiness: sidecache's /readyz, and for every server the first answer to a name no one has asked yet
    # (ns.cluster.local, one upstream query), through each door it has; all polled at once, every millisecond.
    case $server in
        sidecache*)
            local probes=()
            "$bin/probe" ready "http:$ADMIN" /readyz "$t0" 10000 >"$work/ready.http" & probes+=($!)
            "$bin/probe" ready dns:127.0.0.1 ns.cluster.local "$t0" 10000 >"$work/ready.dns" & probes+=($!)
            "$bin/probe" ready "nscd:$NSCD_SOCKET" ns.cluster.local. "$t0" 10000 >"$work/ready.nscd" & probes+=($!)
            wait "${probes[@]}"
            ready=$(field ready_ms "$(cat "$work/ready.http")")
            first_dns=$(field ready_ms "$(cat "$work/ready.dns")")
            first_nscd=$(field ready_ms "$(cat "$work/ready.nscd")")
            ;;
        nscd-*)
            ready=$(field ready_ms "$("$bin/probe" ready "nscd:$NSCD_SOCKET" ns.cluster.local. "$t0" 10000)")
            first_nscd=$ready
            ;;
        *)
            ready=$(field ready_ms "$("$bin/probe" ready dns:127.0.0.1 ns.cluster.local "$t0" 10000)")
            first_dns=$ready
            ;;
    esac
    kill -0 "$server_pid" 2>/dev/null || abort "$server exited at start" "$work/${server%%-*}.log"
    [[ $ready != none ]] || abort "$server was not ready within 10 s" "$work/${server%%-*}.log"
    sleep "$idle_wait"
    record "start server=$server ready_ms=$ready first_dns_ms=$first_dns first_nscd_ms=$first_nscd" \
        "idle_rss_kib=$(rss_of "$server_pid" | tr ' ' '/')"
}
stop_server() {
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
# Servers that have an nscd door / a DNS door.
has_nscd_door() { [[ $server == sidecache* || $server == nscd-* ]]; }
has_dns_door() { [[ $server == sidecache || $server == unbound || $server == dnsmasq ]]; }  # sidecache-socket: same DNS door

# CPU used on the machine by anything outside the pod's PID namespace during a timed run, in % of one core: the
# host's busy time (/proc/stat: user, nice, system, irq, softirq, steal) less the time of the pod's processes (its
# own /proc: each live process with the children it has reaped). Other engineers' work on the same machine shows here.
cpu_host() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
cpu_pod() { cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^.*) //' | awk '{s += $12 + $13 + $14 + $15} END {print s + 0}'; }
cpu_mark() { mark_host=$(cpu_host) mark_pod=$(cpu_pod) mark_ns=$(date +%s%N); }
cpu_other() {  # -> "other_cpu=PERCENT" since cpu_mark
    local host pod ns
    host=$(cpu_host) pod=$(cpu_pod) ns=$(date +%s%N)
    awk -v h=$((host - mark_host)) -v p=$((pod - mark_pod)) -v t=$((ns - mark_ns)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN {v = (h - p) / hz / (t / 1e9) * 100; printf "other_cpu=%.0f\n", v < 0 ? 0 : v}'
}
elapsed() { echo "$((SECONDS - started))s, of which $lock_wait s waiting for the lock"; }

# --- 1. The nscd door: getaddrinfo calls/s, p50, p99 -------------------------------------------------------------
echo "== nscd door: getaddrinfo, $gai_names names, ${gai_secs}s per run, $gai_rounds round(s) ($(elapsed))"
gai_block() {  # gai_block ROUND
    local order=$gai_servers s t f out
    (($1 % 2 == 0)) && order=$(tr ' ' '\n' <<<"$gai_servers" | tac | paste -sd' ' -)
    for s in $order; do
        start_server "$s"
        # Warm: one pass in each family; every name must come back right.
        for f in inet unspec; do
            out=$(glibc_client 60 "$bin/gai_bench" -n "$work/gai.names" -o -f "$f")
            [[ $(field ok "$out") == "$gai_names" ]] || abort "$s: warm-up pass ($f) did not answer every name: $out"
        done
        for t in 1 2; do
            for f in $gai_families; do
                cpu_mark
                out=$(glibc_client $((gai_secs + 30)) "$bin/gai_bench" -n "$work/gai.names" -t "$t" -d "$gai_secs" -f "$f")
                out="$out $(cpu_other)"
                record "gai server=$s round=$1 threads=$t family=$f $out"
                echo "   $s t=$t $f: $out"
            done
        done
        stop_server
    done
}
runs gai && for ((r = 1; r <= gai_rounds; r++)); do take_lock; gai_block "$r"; drop_lock; done

# --- 2. The DNS door: dnsperf QPS, resperf max, latency at a fixed rate ------------------------------------------
echo "== DNS door: dnsperf/resperf, $dns_names names ($(elapsed))"
dnsperf_line() {  # dnsperf output -> "sent=N completed=N lost=N qps=Q"
    awk '/Queries sent:/ {s = $3} /Queries completed:/ {c = $3} /Queries lost:/ {l = $3}
         /Queries per second:/ {q = $4} END {printf "sent=%s completed=%s lost=%s qps=%.0f\n", s, c, l, q}'
}
dns_block() {  # dns_block ROUND
    local order=$dns_servers s out lat
    (($1 % 2 == 0)) && order=$(tr ' ' '\n' <<<"$dns_servers" | tac | paste -sd' ' -)
    for s in $order; do
        start_server "$s"
        out=$(timeout 60 dnsperf -s 127.0.0.1 -d "$work/dns.queries" -n 1 -c 2 -q 50 2>&1 | dnsperf_line)
        [[ $(field completed "$out") == "$dns_names" ]] || abort "$s: warm-up did not answer every name: $out"
        cpu_mark
        out=$(timeout $((dns_secs + 30)) dnsperf -s 127.0.0.1 -d "$work/dns.queries" -l "$dns_secs" -c 16 -q 200 2>&1 |
            dnsperf_line)
        out="$out $(cpu_other)"
        record "dnsperf server=$s round=$1 $out"
        echo "   $s dnsperf: $out"
        cpu_mark
        out=$(cd "$work" && timeout $((resperf_ramp + 60)) resperf -s 127.0.0.1 -d "$work/dns.queries" -R \
            -m "$resperf_max" -r "$resperf_ramp" -c 0 -t 2 -C 16 -P "$work/resperf-$s-$1.plot" 2>&1 |
            awk '/Maximum throughput:/ {m = $3} /Lost at that point:/ {l = $5} /Queries sent:/ {s = $3}
                 /Fell behind/ {for (i = 1; i <= NF; i++) if ($i == "at") f = $(i + 1)}
                 END {printf "max_qps=%.0f lost_at_max=%s sent=%s fell_behind_at=%s\n", m, l, s, f == "" ? "none" : f}')
        out="$out $(cpu_other)"
        record "resperf server=$s round=$1 $out"
        echo "   $s resperf: $out"
        # Fixed rate; -v prints one line per answer ending in its latency in seconds.
        cpu_mark
        lat=$(timeout $((latency_secs + 30)) dnsperf -s 127.0.0.1 -d "$work/dns.queries" -l "$latency_secs" -c 16 \
            -q 200 -Q "$latency_rate" -v 2>/dev/null | awk '$1 == ">" {print $NF}' | sort -g |
            awk '{v[NR] = $1} END {if (NR == 0) {print "answers=0 p50_us=none p99_us=none"; exit}
                 printf "answers=%d p50_us=%.0f p99_us=%.0f\n", NR, v[int(NR * 0.50) + 1] * 1e6, v[int(NR * 0.99) + 1] * 1e6}')
        lat="$lat $(cpu_other)"
        record "latency server=$s round=$1 rate=$latency_rate $lat"
        echo "   $s latency at $latency_rate qps: $lat"
        stop_server
    done
}
runs dns && for ((r = 1; r <= dns_rounds; r++)); do take_lock; dns_block "$r"; drop_lock; done

# --- 3. First address (4 A records) and staleness after expiry ----------------------------------------------------
echo "== first address and staleness (TTL ${stale_ttl}s, bound $((stale_bound_ms / 1000))s) ($(elapsed))"
stale() {  # stale DOOR: DOOR is dns or gai
    local door=$1 name kind once t0 out
    if [[ $door == dns ]]; then
        name=st-$server-dns.bench.svc.cluster.local kind=dns:127.0.0.1
        once=$("$bin/probe" once "$kind" "$name")
    else
        name=st-$server-gai.bench kind=gai-inet
        once=$(glibc_client 10 "$bin/probe" once "$kind" "$name")
    fi
    t0=$(field t0 "$once")
    [[ $(field result "$once") == 192.0.2.1 ]] || abort "$server $door: first lookup of $name gave '$once'"
    cluster_dns_set svc.cluster.local "st-$server-$door.bench" "$stale_ttl" A 192.0.2.2
    if [[ $door == dns ]]; then
        out=$("$bin/probe" poll "$kind" "$name" 192.0.2.1 192.0.2.2 "$t0" $((stale_ttl * 1000)) "$stale_bound_ms")
    else
        out=$(glibc_client $((stale_ttl + stale_bound_ms / 1000 + 20)) "$bin/probe" poll "$kind" "$name" \
            192.0.2.1 192.0.2.2 "$t0" $((stale_ttl * 1000)) "$stale_bound_ms")
    fi
    record "stale server=$server door=$door bound_ms=$stale_bound_ms $out"
    echo "   $server $door staleness: $out"
}
if runs stale; then
    take_lock
    for s in $all_servers; do
        start_server "$s"
        if has_nscd_door; then
            out=$(glibc_client 60 "$bin/probe" first gai-unspec my-headless.my-ns "$first_count" "$first_interval_us")
            record "first server=$s door=gai $out"
            echo "   $s gai first address: $out"
        fi
        if has_dns_door; then
            out=$("$bin/probe" first dns:127.0.0.1 my-headless.my-ns.svc.cluster.local "$first_count" "$first_interval_us")
            record "first server=$s door=dns $out"
            echo "   $s dns first address: $out"
        fi
        has_dns_door && stale dns
        has_nscd_door && stale gai
        stop_server
    done
    drop_lock
fi

# --- 4. The 10,000-name cache pass ---------------------------------------------------------------------------------
echo "== cache pass, $pass_names names ($(elapsed))"
pass_once() {  # pass_once DOOR -> "ok=N secs=S"
    local out
    if [[ $1 == dns ]]; then
        out=$(timeout 120 dnsperf -s 127.0.0.1 -d "$work/pass.queries" -n 1 -c 2 -q 20 -t 3 2>&1 | dnsperf_line)
        echo "ok=$(field completed "$out") lost=$(field lost "$out")"
    else
        out=$(glibc_client 120 "$bin/gai_bench" -n "$work/pass.names" -o -f inet)
        echo "ok=$(field ok "$out") lost=$(($(field fail "$out") + $(field wrong "$out"))) secs=$(field secs "$out")"
    fi
}
if runs pass; then
    take_lock
    for sd in sidecache:gai nscd-no:gai sidecache:dns unbound:dns dnsmasq:dns; do
        start_server "${sd%%:*}"
        door=${sd#*:}
        up0=$(cluster_dns_queries)
        p1=$(pass_once "$door")
        up1=$(cluster_dns_queries)
        p2=$(pass_once "$door")
        up2=$(cluster_dns_queries)
        rss=$(rss_of "$server_pid" | tr ' ' '/')
        record "pass server=$server door=$door names=$pass_names first_ok=$(field ok "$p1") first_lost=$(field lost "$p1")" \
            "first_secs=$(field secs "$p1") second_ok=$(field ok "$p2") second_lost=$(field lost "$p2")" \
            "upstream_first=$((up1 - up0))" \
            "upstream_second=$((up2 - up1)) rss_kib=$rss"
        echo "   $server $door: first pass $p1, second pass $p2, upstream $((up1 - up0)) then $((up2 - up1)), RSS $rss KiB"
        stop_server
    done
    drop_lock
fi

# --- Report ----------------------------------------------------------------------------------------------------------
echo "== report ($(elapsed))"
out_dir=$root/bench/out
mkdir -p "$out_dir"
suffix=""
[[ $mode == quick ]] && suffix=-quick
record "meta total_secs=$((SECONDS - started)) lock_wait_secs=$lock_wait"
cp "$results" "$out_dir/suite$suffix.results"
report_args=("$out_dir/suite$suffix.results" --markdown "$out_dir/suite$suffix.md" --svg "$out_dir/suite$suffix.svg")
if [[ $SIDECACHE_BENCH_DOCS == yes ]]; then
    report_args+=(--docs "$root/docs/benchmarks.md" --docs-svg "$root/docs/img/benchmark-suite.svg")
fi
/usr/bin/python3 "$root/bench/report.py" "${report_args[@]}"
cat "$out_dir/suite$suffix.md"
for log in sidecache nscd unbound dnsmasq; do
    if [[ -s $work/$log.log ]] && grep -qiE 'error|fatal|critical' "$work/$log.log"; then
        echo "--- $log log (errors; informational)"
        grep -iE 'error|fatal|critical' "$work/$log.log" | head -n 10
    fi
done
echo "bench/run.sh: done in $(elapsed); outputs in bench/out/suite$suffix.{results,md,svg}"
