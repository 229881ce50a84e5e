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
