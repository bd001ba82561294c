#!/usr/bin/env bash
# Runs XCTest suites under a sanitizer: `ops/test-sanitized.sh thread [filter]` (ThreadSanitizer;
# by default the server, batcher and parallel executor tests) or `ops/test-sanitized.sh address`
# (AddressSanitizer; by default the whole suite). Builds into its own scratch path
# (.build-tsan / .build-asan), so the tests start the sanitized nnserve and nnexport of that
# build (NNTestSupport.BuildProducts). Every process writes its reports to a log directory
# instead of stderr: a server's report would otherwise vanish into a pipe the test never reads.
# Fails when XCTest fails or when any process (the test runner or a server it started) wrote
# a report. The no-allocation tests are skipped there (the sanitizer owns malloc).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=${1:?usage: ops/test-sanitized.sh thread|address [XCTest filter]}
case "$sanitizer" in
  thread)  scratch=.build-tsan; default_filter='NNServerTests|ParallelExecutorTests|StudyTests' ;;
  address) scratch=.build-asan; default_filter='' ;;
  *) echo "unknown sanitizer '$sanitizer' (thread or address)" >&2; exit 2 ;;
esac
filter=${2:-$default_filter}
reports="$scratch/reports"
rm -rf "$reports"
mkdir -p "$reports"
echo "building the tests with --sanitize=$sanitizer ($scratch)"
build_log="$scratch/build.log"
if ! swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >"$build_log" 2>&1; then
  grep -E "error" "$build_log" | sort -u | head -n 20 >&2
  echo "the $sanitizer-sanitized build failed (whole log: $build_log)" >&2
  exit 1
fi
# The linker warns about the sanitizer runtime's local symbols; the rest is worth seeing.
grep -E "error|warning: " "$build_log" | grep -v "Cannot export local symbol" | sort -u || true
filter_arguments=()
[ -n "$filter" ] && filter_arguments=(--filter "$filter")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# halt_on_error=0: one report does not hide the next; every process logs to its own file.
# Tests that measure the server's memory skip themselves under AddressSanitizer.
export NNSERVE_SANITIZER="$sanitizer"
export TSAN_OPTIONS="log_path=$PWD/$reports/tsan:halt_on_error=0:second_deadlock_stack=1"
export ASAN_OPTIONS="log_path=$PWD/$reports/asan:detect_leaks=0:symbolize=1"
status=0
swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --disable-swift-testing \
  "${filter_arguments[@]}" >"$log" 2>&1 || status=$?
grep -E "Executed [0-9]+ tests" "$log" | tail -n 1 || tail -n 30 "$log"
grep -E "error: |failed \(" "$log" | head -n 20 || true
report_files=$(find "$reports" -type f | sort)
if [ -n "$report_files" ]; then
  echo "$sanitizer sanitizer reports ($(echo "$report_files" | wc -l) processes):" >&2
  for file in $report_files; do
    echo "== $file" >&2
    grep -E "^(WARNING|ERROR|SUMMARY): |^    #[0-9] " "$file" | head -n 40 >&2
  done
  status=1
else
  echo "$sanitizer sanitizer: no reports"
fi
exit "$status"
