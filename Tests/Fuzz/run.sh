#!/usr/bin/env bash
# Builds the libFuzzer harness for the DNSWire decoders and runs it on a copy of the seed corpus.
#
#   bash Tests/Fuzz/run.sh
#
# Environment:
#   FUZZ_RUNS       inputs to execute (default 1000000); fewer executed is a failure
#   FUZZ_MAX_TIME   libFuzzer -max_total_time in seconds (default 900)
#   FUZZ_SANITIZE   swiftc -sanitize= value (default fuzzer,address)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-seed=1 -max_len=8192"
#   SWIFT_LOCK      lock file serialising Swift compiles on a shared machine (default /tmp/swift.lock)
#
# Output goes to .build-fuzz/ (gitignored): the binary, the working corpus, fuzz.log and crash artifacts.
# Exits non-zero if libFuzzer reports a crash or fewer than FUZZ_RUNS inputs ran.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

RUNS="${FUZZ_RUNS:-1000000}"
MAX_TIME="${FUZZ_MAX_TIME:-900}"
SANITIZE="${FUZZ_SANITIZE:-fuzzer,address}"
SWIFT_LOCK="${SWIFT_LOCK:-/tmp/swift.lock}"
OUT="$ROOT/.build-fuzz"

# One harness per untrusted-input codec: NAME MODULE HARNESS SEEDS LABEL.
TARGETS=(
    "dns-message-fuzzer DNSWire DNSMessageFuzzer.swift dns DNSMessage-decoder"
    "nscd-request-fuzzer NSCDWire NSCDRequestFuzzer.swift nscd nscd-request-parser"
)

fuzz_target() {
local NAME=$1 MODULE=$2 HARNESS="$ROOT/Tests/Fuzz/$3" SEEDS="$ROOT/Tests/Fuzz/corpus/$4" LABEL=${5//-/ }
local BIN="$OUT/$NAME"
mkdir -p "$OUT"

locked() {
    if command -v flock >/dev/null 2>&1; then flock "$SWIFT_LOCK" "$@"; else "$@"; fi
}

# Rebuild when the binary is missing, a source is newer, or the sanitizer set changed.
shopt -s nullglob
SOURCES=("$ROOT"/Sources/$MODULE/*.swift "$HARNESS")
shopt -u nullglob
needs_build=0
if [[ ! -x "$BIN" || "$(cat "$OUT/$NAME.sanitize" 2>/dev/null)" != "$SANITIZE" ]]; then
    needs_build=1
else
    for source in "${SOURCES[@]}"; do
        if [[ "$source" -nt "$BIN" ]]; then needs_build=1; break; fi
    done
fi
if [[ $needs_build == 1 ]]; then
    LINKER=()
    # The toolchain's lld links sanitizer runtimes without gold's "Cannot export local symbol" noise.
    if [[ -x "$(dirname "$(command -v swiftc)")/ld.lld" ]]; then LINKER=(-use-ld=lld); fi
    echo "fuzz: building $BIN (-sanitize=$SANITIZE)"
    if ! locked swiftc -parse-as-library -module-name "${MODULE}Fuzz" -sanitize="$SANITIZE" -O -g \
        "${LINKER[@]}" "${SOURCES[@]}" -o "$BIN.tmp" >"$OUT/$NAME.build.log" 2>&1; then
        grep -v "Cannot export local symbol" "$OUT/$NAME.build.log" >&2 || true
        echo "fuzz: build failed" >&2
        exit 1
    fi
    mv "$BIN.tmp" "$BIN"
    echo "$SANITIZE" >"$OUT/$NAME.sanitize"
fi

# Fuzz a copy, so new inputs libFuzzer keeps never land in the checked-in seeds.
rm -rf "$OUT/$NAME.corpus" "$OUT/$NAME.artifacts"
mkdir -p "$OUT/$NAME.corpus" "$OUT/$NAME.artifacts"
cp "$SEEDS"/*.bin "$OUT/$NAME.corpus/"
seed_count=$(find "$OUT/$NAME.corpus" -type f | wc -l)

echo "fuzz: running $RUNS inputs (max ${MAX_TIME}s) from $seed_count seeds; log in .build-fuzz/$NAME.log"
start=$(date +%s)
status=0
# Swift's own crash backtracer reads memory ASan flags as bad; libFuzzer's deadly-signal handler prints the stack.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
# shellcheck disable=SC2086
"$BIN" -runs="$RUNS" -max_total_time="$MAX_TIME" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/$NAME.artifacts/" ${FUZZ_ARGS:-} "$OUT/$NAME.corpus" >"$OUT/$NAME.log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - start ))

executed=$(sed -n 's/^Done \([0-9][0-9]*\) runs in .*/\1/p' "$OUT/$NAME.log" | tail -n 1)
executed="${executed:-0}"
shopt -s nullglob
artifacts=("$OUT"/$NAME.artifacts/*)
shopt -u nullglob
crashes=${#artifacts[@]}
if [[ $status != 0 && $crashes == 0 ]]; then crashes=1; fi

echo "fuzz: $LABEL executed $executed inputs, $crashes crashes (${elapsed}s, corpus now $(find "$OUT/$NAME.corpus" -type f | wc -l) files)"

if [[ $crashes != 0 ]]; then
    echo "fuzz: libFuzzer exited with status $status; end of .build-fuzz/$NAME.log:" >&2
    grep -v '^#[0-9]' "$OUT/$NAME.log" | tail -n 60 >&2
    for artifact in "${artifacts[@]}"; do
        echo "fuzz: artifact $artifact: $(od -An -tx1 -v "$artifact" | tr -d ' \n')" >&2
    done
    echo "fuzz: reproduce with: $BIN <artifact>" >&2
    exit 1
fi
if (( executed < RUNS )); then
    echo "fuzz: only $executed of $RUNS inputs ran (time limit ${MAX_TIME}s?)" >&2
    tail -n 20 "$OUT/$NAME.log" >&2
    exit 1
fi
}

for target in "${TARGETS[@]}"; do
    # shellcheck disable=SC2086
    fuzz_target $target
done
