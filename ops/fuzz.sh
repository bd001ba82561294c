#!/usr/bin/env bash
# Fuzzes every parser nnserve exposes (Fuzz/Sources): each target built with libFuzzer and
# AddressSanitizer, run for FUZZ_SECONDS (default 60) from the committed seed corpus
# (Fuzz/corpus/<target>) plus what earlier runs on this machine found (.build-fuzz/corpus),
# with the target's dictionary when it has one. Prints executions and coverage per target;
# a crash leaves its input in .build-fuzz/crashes/ and fails the run (turn it into a
# regression test of the normal suite). Usage: ops/fuzz.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wire http grpc model checkpoint config modeljson csv onnx)
# SwiftPM's --sanitize=fuzzer instruments only the fuzz target's own module in a clean build
# (2,419 counters for fuzz-csv; libFuzzer ran blind: "no interesting inputs"): the coverage
# libFuzzer needs is asked for explicitly, for every module (137,397 counters).
coverage=(-Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
echo "building fuzz targets (libFuzzer + ASan, release, .build-fuzz)"
for target in "${targets[@]}"; do
  # -enable-testing: fuzz-http reaches the server's internal request types.
  NNSERVE_FUZZ=1 swift build -c release -Xswiftc -enable-testing "${coverage[@]}" --scratch-path .build-fuzz \
      --sanitize=fuzzer --sanitize=address --product "fuzz-$target" 2>&1 \
    | grep -E "error|warning: |Compiling fuzz|Build of product" || true
  [ -x ".build-fuzz/release/fuzz-$target" ] || { echo "fuzz-$target did not build" >&2; exit 1; }
done
mkdir -p .build-fuzz/crashes
status=0
for target in "${targets[@]}"; do
  work=".build-fuzz/corpus/$target"
  mkdir -p "$work"
  dictionary=()
  [ -f "Fuzz/dictionaries/$target.dict" ] && dictionary=(-dict="Fuzz/dictionaries/$target.dict")
  log=$(mktemp)
  # symbolize=0: symbolizing a Swift trap hung once; the crash input is what matters.
  if ASAN_OPTIONS=detect_leaks=0:symbolize=0 timeout $((seconds + 120)) ".build-fuzz/release/fuzz-$target" "$work" "Fuzz/corpus/$target" "${dictionary[@]}" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 \
      -artifact_prefix=".build-fuzz/crashes/$target-" >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
  fi
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  coverage=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -n 1 || echo "cov: ?")
  corpus=$(ls "$work" | wc -l)
  echo "fuzz-$target: $result, $runs executions in ${seconds} s, $coverage, corpus $corpus inputs"
  if [ "$result" = CRASH ]; then
    grep -E "ERROR|SUMMARY|Fatal error|precondition|artifact" "$log" | head -n 20 >&2
  fi
  rm -f "$log"
done
exit "$status"
