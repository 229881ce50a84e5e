#!/usr/bin/env bash
# The sidecar image for real: built as an OCI image (.ci/build-image, umoci), unpacked and started by an OCI
# runtime (crun) as uid 65532, next to a glibc 2.31 business container made from a Debian 11 (bullseye) rootfs.
#
#   image-glibc-bullseye.sh /path/to/.build-static/release/sidecache
#
# The argument is the build stage's binary (Dockerfile.sidecar: swift build -c release --static-swift-stdlib
# --product sidecache), unstripped. Needs root. Before entering the namespaces (the only step that uses the network:
# the Debian mirror, http://deb.debian.org/debian unless SIDECACHE_DEBIAN_MIRROR says otherwise), the bullseye rootfs
# comes from the cache, SIDECACHE_TEST_CACHE (default /var/cache/sidecache-tests)/debootstrap/bullseye-minbase-amd64,
# or is made there once by debootstrap (about 1 minute; serialised with flock, bounded to 10 minutes).
#
# Everything else runs inside a private network + mount + PID namespace (the pod's network: only lo, with
# 127.0.0.2/32 and fd00::2/128 for AI_ADDRCONFIG): knotd serves k8s.test on 127.0.0.53:53 (the cluster DNS); the
# sidecar container (the image's rootfs, read-only, the image's own config: user, entrypoint, cmd, env) and the
# business container (an overlay on the cached rootfs, so the cache stays pristine) share only the network namespace,
# the socket emptyDir at /var/run/nscd (read-only in the business container) and the pod's resolv.conf and hosts; the
# sidecar alone mounts its map emptyDir at /run/sidecache, as in sidecar-yaml/ (glibc gets the map as a descriptor
# over the socket). crun keeps its state under $work; in this mount namespace a tmpfs hides the host's hybrid cgroup
# hierarchy, which crun refuses, and crun runs with its cgroup manager disabled.
#
# Checks: the image is what Dockerfile.sidecar's final stage holds (`.ci/build-image check`: every path, owner and
# mode, the config), and a Dockerfile that drifted is caught; the daemon runs as 65532 with no capabilities from the
# image's files only; the business container's glibc is 2.31; getent (glibc 2.31) resolves through the socket (one
# GETAI / GETHOSTBYNAME each, counted on the daemon's /metrics, no query on the DNS door) and then from the shared
# map (new processes: GETFDHST only, no lookup on the socket); the host's /var/run/nscd is untouched; SIGTERM through
# the runtime ends the sidecar with status 0. Prints the image's sizes. Ends with "N passed, M failed"; exits 1 on
# any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cache=${SIDECACHE_TEST_CACHE:-/var/cache/sidecache-tests}/debootstrap
export SIDECACHE_BULLSEYE_ROOTFS=$cache/bullseye-minbase-amd64

# bullseye_rootfs: the cached rootfs, made first if absent. A finished rootfs is renamed into place, so a run that
# was killed half-way leaves only a .partial directory, which the next run removes.
bullseye_rootfs() {
    mkdir -p "$cache"
    exec 9>"$cache/bullseye.lock"
    flock -w 660 9 || { echo "cannot lock $cache/bullseye.lock" >&2; exit 2; }
    if [[ ! -d $SIDECACHE_BULLSEYE_ROOTFS ]]; then
        local partial=$SIDECACHE_BULLSEYE_ROOTFS.partial started=$SECONDS
        rm -rf -- "$partial"
        echo "debootstrap: bullseye (minbase) into $partial"
        if ! timeout 600 debootstrap --variant=minbase bullseye "$partial" \
            "${SIDECACHE_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1; then
            tail -n 20 "$cache/debootstrap.log"
            echo "debootstrap failed (log: $cache/debootstrap.log)" >&2
            exit 2
        fi
        rm -f "$partial"/var/cache/apt/archives/*.deb
        mv -- "$partial" "$SIDECACHE_BULLSEYE_ROOTFS"
        echo "debootstrap: done in $((SECONDS - started)) s"
    fi
    exec 9>&-
}
if [[ $(id -u) -eq 0 && -z ${SIDECACHE_SCENARIO_IN_NAMESPACE:-} ]]; then
    command -v debootstrap >/dev/null || { echo "missing tool: debootstrap" >&2; exit 2; }
    bullseye_rootfs
fi

scenario_enter 240 "unshare ip mount knotd dig umoci skopeo crun strip ldd python3 curl timeout" "$@"
# Inside the namespaces from here on.
require_loopback_only
add_addrconfig_addresses
isolate_glibc_env
scenario_workdir image-bullseye business_pid
root=$(cd "$here/../.." && pwd)
state=$work/crun
runtime() { crun --root "$state" --cgroup-manager=disabled "$@"; }
# The containers go before lib.sh's cleanup stops the processes and unmounts (the PID namespace ends them anyway).
trap 'status=$?; set +e; runtime delete --force sidecar 2>/dev/null; runtime delete --force business 2>/dev/null
      (exit $status); cleanup' EXIT
host_nscd_before=$(ls -A /var/run/nscd 2>/dev/null | paste -sd, -)

# --- The image ----------------------------------------------------------------------------------------------------
build_started=$SECONDS
python3 "$root/.ci/build-image" build "$sidecache" "$work/oci" --tag test >"$work/build.log" 2>&1 ||
    abort "build-image build failed" "$work/build.log"
pass "built the OCI image with umoci in $((SECONDS - build_started)) s ($(grep '^built' "$work/build.log"))"
python3 "$root/.ci/build-image" check "$work/oci" --tag test >"$work/check.log" 2>&1 || true
while IFS= read -r line; do
    case $line in
        "PASS "*) pass "image: ${line#PASS }" ;;
        "FAIL "*) fail "image: ${line#FAIL }" ;;
        "    "*) echo "$line" ;;
        info:*) echo "$line" ;;
    esac
done <"$work/check.log"
grep -q '^PASS layer holds exactly' "$work/check.log" ||
    abort "build-image check did not compare the layer" "$work/check.log"

# Drift: a Dockerfile whose final stage copies one more file, or runs a command, no longer matches.
sed 's|^COPY --from=build /out/sidecache /sidecache$|&\nCOPY --from=build /out/sidecache /usr/local/bin/sidecache|' \
    "$root/Dockerfile.sidecar" >"$work/Dockerfile.more"
if python3 "$root/.ci/build-image" check "$work/oci" --tag test --dockerfile "$work/Dockerfile.more" \
    >"$work/drift.log" 2>&1; then
    fail "check passes an image that lacks a file the Dockerfile copies"
else
    grep -q 'missing /usr/local/bin/sidecache' "$work/drift.log" &&
        pass "check catches a Dockerfile COPY the image lacks (missing /usr/local/bin/sidecache)" ||
        fail "drift not reported as the missing file: $(head -c 300 "$work/drift.log")"
fi
sed 's|^USER 65532:65532$|RUN ["/sidecache", "check"]\n&|' "$root/Dockerfile.sidecar" >"$work/Dockerfile.run"
status=0
python3 "$root/.ci/build-image" build "$sidecache" "$work/oci-drift" --dockerfile "$work/Dockerfile.run" \
    >"$work/drift-run.log" 2>&1 || status=$?
check "build refuses a final stage with an instruction it does not replicate (RUN): status 3" 3 "$status"

# --- The cluster DNS and the pod's shared pieces ----------------------------------------------------------------
start_k8s_test_upstream
mkdir -p "$work/nscd" "$work/sidecache-run" "$work/etc"
chown 65532:65532 "$work/nscd" "$work/sidecache-run"
printf 'nameserver 127.0.0.1\nsearch default.svc.k8s.test svc.k8s.test k8s.test\noptions ndots:5\n' \
    >"$work/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n198.18.0.1\tbusiness-pod\n' >"$work/etc/hosts"
# The pod's securityContext sysctl: port 53 for a non-root process, in this network namespace only.
sysctl -q -w net.ipv4.ip_unprivileged_port_start=53
# crun refuses the host's hybrid cgroup layout; in this mount namespace only, /sys/fs/cgroup is an empty tmpfs.
mount -t tmpfs -o size=64k cgroup-hidden /sys/fs/cgroup
mounts=(/sys/fs/cgroup "${mounts[@]}")

# bundle_config CONFIG ROLE: makes an OCI runtime config a pod member: the pod's network namespace (no "network"
# entry: the runtime's own, which is this script's), no cgroup mount, the pod's resolv.conf and hosts, the socket
# emptyDir; ROLE sidecar: read-only root, the map emptyDir, the manifest's environment and securityContext (no
# capabilities, no new privileges); ROLE business: writable root, the socket read-only, `sleep` as PID 1.
bundle_config() {
    python3 - "$1" "$2" "$work" <<'PY'
import json, sys
path, role, work = sys.argv[1:4]
c = json.load(open(path))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] in ("pid", "ipc", "uts", "mount")]
c["linux"].pop("resources", None)
c["linux"].pop("cgroupsPath", None)
c["mounts"] = [m for m in c["mounts"] if not m["destination"].startswith("/sys/fs/cgroup")]
def bind(source, destination, writable):
    c["mounts"].append({"destination": destination, "type": "bind", "source": source,
                        "options": ["rbind", "rw" if writable else "ro", "nosuid", "nodev"]})
bind(f"{work}/etc/resolv.conf", "/etc/resolv.conf", False)
bind(f"{work}/etc/hosts", "/etc/hosts", False)
p = c["process"]
p["terminal"] = False
if role == "sidecar":
    c["root"]["readonly"] = True
    bind(f"{work}/nscd", "/var/run/nscd", True)
    bind(f"{work}/sidecache-run", "/run/sidecache", True)
    p["env"] = p.get("env", []) + ["SIDECACHE_UPSTREAM=127.0.0.53", "SIDECACHE_ADMIN_LISTEN=127.0.0.1:9253",
                                   "SIDECACHE_THREADS=1", "SIDECACHE_LAME_DUCK=0s"]
    p["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
    p["noNewPrivileges"] = True
else:
    c["root"] = {"path": f"{work}/business-rootfs", "readonly": False}
    bind(f"{work}/nscd", "/var/run/nscd", False)
    p["args"] = ["/bin/sleep", "600"]
    p["user"] = {"uid": 0, "gid": 0}
    p["env"] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
    p["cwd"] = "/"
json.dump(c, open(path, "w"), indent=1)
PY
}

# --- The sidecar: the image, unpacked, run by crun with the image's config ---------------------------------------
umoci unpack --image "$work/oci:test" "$work/sidecar" >"$work/unpack.log" 2>&1 ||
    abort "umoci unpack failed" "$work/unpack.log"
image_process=$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["process"]
print(p["user"]["uid"], p["user"]["gid"], " ".join(p["args"]), p["cwd"])' "$work/sidecar/config.json")
check "unpacked runtime config from the image: uid gid args cwd" "65532 65532 /sidecache serve /home/nonroot" \
    "$image_process"
bundle_config "$work/sidecar/config.json" sidecar
runtime run --bundle "$work/sidecar" --pid-file "$work/sidecar.pid" sidecar >"$work/sidecache.log" 2>&1 &
sidecache_pid=$!  # crun's: it waits for the container and exits with its status
admin() { curl -fsS --max-time 3 "http://127.0.0.1:9253/$1" 2>/dev/null; }
ready() { [[ $(admin readyz 2>/dev/null) == ready* && -S $work/nscd/socket ]]; }
wait_until "$sidecache_pid" ready || abort "the sidecar did not turn ready within 10 s" "$work/sidecache.log"
daemon=$(cat "$work/sidecar.pid")
pass "sidecar ready: /readyz, and the socket in the emptyDir"
check "the daemon runs as uid 65532" 65532 "$(awk '/^Uid:/ {print $2}' "/proc/$daemon/status")"
check "... with no effective capabilities" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' "/proc/$daemon/status")"
check "... and its root is the image: /sidecache, the loader, passwd" "yes" \
    "$(cd "/proc/$daemon/root" && [[ -x sidecache && -e lib64/ld-linux-x86-64.so.2 && -f etc/passwd ]] && echo yes)"
libraries=$(awk '$6 ~ /\.so/ {print $6}' "/proc/$daemon/maps" | sort -u | paste -sd' ' -)
echo "    mapped: $libraries"
if grep -qiE 'libswift|Foundation|libdispatch' <<<"$libraries"; then
    fail "the daemon mapped a Swift runtime or Foundation library"
else
    pass "the daemon maps only the image's C libraries"
fi
[[ -f $work/sidecache-run/hosts.map ]] && pass "the shared map is on, in the sidecar's own emptyDir (/run/sidecache)" ||
    fail "no map file in the sidecar's /run/sidecache: $(grep -m1 'shared map' "$work/sidecache.log" || true)"

# --- The business container: Debian 11, glibc 2.31 -----------------------------------------------------------------
mkdir -p "$work/business-rootfs" "$work/upper" "$work/overlay-work" "$work/business"
mount -t overlay -o "lowerdir=$SIDECACHE_BULLSEYE_ROOTFS,upperdir=$work/upper,workdir=$work/overlay-work" \
    business-rootfs "$work/business-rootfs"
mounts=("$work/business-rootfs" "${mounts[@]}")
(cd "$work/business" && crun spec)
bundle_config "$work/business/config.json" business
runtime run --bundle "$work/business" business >"$work/business.log" 2>&1 &
business_pid=$!
business_up() { runtime exec business /bin/true 2>/dev/null; }
wait_until "$business_pid" business_up || abort "the business container did not start" "$work/business.log"
in_business() { timeout 10 crun --root "$state" exec business "$@"; }
check "business container: glibc version" "glibc 2.31" "$(in_business getconf GNU_LIBC_VERSION 2>&1 || true)"
check "business container: the socket is in its /var/run/nscd, the map directory is not there" "socket-only" \
    "$(in_business /bin/sh -c '[ -S /var/run/nscd/socket ] && [ ! -e /run/sidecache ] && echo socket-only' 2>&1 ||
        true)"

metric() {  # metric NAME_WITH_LABELS: one sample of the daemon's /metrics (0 when absent)
    admin metrics | awk -v t="$1" '$1 == t {v = $2} END {printf "%d\n", v + 0}'
}
nscd_requests() { metric "sidecache_nscd_requests_total{type=\"$1\"}"; }
dns_door() {  # queries answered on the DNS door, both transports
    admin metrics | awk '$1 ~ /^sidecache_frontend_requests_total\{/ && $1 ~ /door="dns-(udp|tcp)"/ {v += $2}
        END {printf "%d\n", v + 0}'
}
[[ $(admin metrics | grep -c '^sidecache_nscd') -gt 0 ]] ||
    abort "cannot read the sidecar's /metrics" "$work/sidecache.log"
addresses() { awk '{print $1}' | sort -u | paste -sd, -; }

# --- getaddrinfo through the socket, then from the map ------------------------------------------------------------
# getent ahosts is getaddrinfo (AF_UNSPEC): GETAI. getent hosts is gethostbyname2(AF_INET6): GETHOSTBYNAMEv6.
# (glibc 2.31's getaddrinfo sends GETAI for AF_INET too; 2.36 sends GETHOSTBYNAME, see shared-map-glibc.sh.)
# Each line: request type, getent database, expected addresses.
for lookup in "GETAI ahosts 192.0.2.80,2001:db8::80" "GETHOSTBYNAMEv6 hosts 2001:db8::80"; do
    read -r type database expected <<<"$lookup"
    ai=$(nscd_requests "$type"); fd=$(nscd_requests GETFDHST); dns=$(dns_door)
    got=$(in_business getent "$database" web 2>&1 | addresses || true)
    check "glibc 2.31 getent $database web (search list): first lookup" "$expected" "$got"
    check "... went through the socket: one $type request" 1 "$(($(nscd_requests "$type") - ai))"
    check "... and nothing through the DNS door (glibc did not fall back)" 0 "$(($(dns_door) - dns))"
    ai=$(nscd_requests "$type"); fd=$(nscd_requests GETFDHST); wrong=0
    for i in $(seq 1 20); do
        got=$(in_business getent "$database" web 2>&1 | addresses || true)
        [[ $got == "$expected" ]] || wrong=$((wrong + 1))
    done
    check "20 more getent $database web processes: all right" 0 "$wrong"
    check "... no $type request on the socket: the shared map answered" 0 "$(($(nscd_requests "$type") - ai))"
    check "... each process asked for the map once (GETFDHST)" 20 "$(($(nscd_requests GETFDHST) - fd))"
done
before=$(nscd_requests GETAI)
check "glibc 2.31 getent ahosts for an NXDOMAIN name: not found" "2" \
    "$(in_business getent ahosts nothing.k8s.test >/dev/null 2>&1; echo $?)"
check "... once through the socket (each search candidate in one GETAI)" 1 "$(($(nscd_requests GETAI) - before))"

check "the host's /var/run/nscd is untouched" "$host_nscd_before" "$(ls -A /var/run/nscd 2>/dev/null | paste -sd, -)"

# --- Shutdown through the runtime ---------------------------------------------------------------------------------
runtime kill sidecar TERM
status=0
timeout 10 tail --pid="$sidecache_pid" -f /dev/null || true
wait "$sidecache_pid" || status=$?
sidecache_pid=""
check "crun kill TERM: the sidecar exits with status 0" 0 "$status"
check "... and removes its socket" "gone" "$([[ -e $work/nscd/socket ]] && echo present || echo gone)"
runtime kill business KILL 2>/dev/null || true
wait "$business_pid" 2>/dev/null || true
business_pid=""

echo "run took $((SECONDS - started))s"
show_sidecache_warnings
finish
