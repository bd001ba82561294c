#!/usr/bin/env bash
# The executor's no-allocation test under every OpenBLAS core type this CPU can run (and
# under OpenBLAS's own choice): OpenBLAS picks kernels per CPU, some of which allocate inside
# sgemm, and the serving path must allocate nothing whichever it picks. Machines often set
# OPENBLAS_CORETYPE in the environment, which would otherwise hide the CPU's own choice.
# Prints one line per core type (not XCTest's summary, which .ci/run reads from `swift test`).
set -euo pipefail
cd "$(dirname "$0")/.."
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { [[ " $flags " == *" $1 "* ]]; }
coretypes=(auto)
if has avx2 && has fma; then coretypes+=(Haswell Zen); fi
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then coretypes+=(SkylakeX); fi
if has avx512_bf16; then coretypes+=(Cooperlake); fi
status=0
for coretype in "${coretypes[@]}"; do
  if [ "$coretype" = auto ]; then
    environment=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  else
    environment=(env OPENBLAS_CORETYPE="$coretype")
  fi
  log=$(mktemp)
  if "${environment[@]}" swift test --skip-build --disable-swift-testing --filter AllocationTests >"$log" 2>&1; then
    echo "no allocation in Executor.run with OPENBLAS_CORETYPE=$coretype: ok"
  else
    echo "no allocation in Executor.run with OPENBLAS_CORETYPE=$coretype: FAILED" >&2
    grep -E "error:" "$log" >&2 || tail -n 20 "$log" >&2
    status=1
  fi
  rm -f "$log"
done
exit "$status"
