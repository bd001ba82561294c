#!/usr/bin/env bash
# A/B of the serving path for a refactor: the same (current) nnclient bench against a baseline
# nnserve and the current one, alternated per configuration so both see the same machine
# weather; M1/M2 at concurrency 1, 16, 64 over each of PROTOCOLS (default "binary grpc");
# ROUNDS rounds (default 3). One JSON line per run, prefixed "round side protocol model
# concurrency". Build the baseline in a worktree first:
#   git worktree add /tmp/base <rev> && (cd /tmp/base && swift build -c release --product nnserve)
#   BASE=/tmp/base ops/bench-serve-ab.sh > ab.txt
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BASE:?BASE=<checkout of the baseline, built with swift build -c release --product nnserve>}
rounds=${ROUNDS:-3}
protocols=${PROTOCOLS:-binary grpc}
swift build -c release --product nnserve >/dev/null
swift build -c release --product nnclient >/dev/null
swift build -c release --product nnbench >/dev/null
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
.build/release/nnbench write-models "$repo" >/dev/null
run() {
  local server=$1 protocol=$2 model=$3 c=$4
  "$server" "$repo" --port 0 --http-port 0 --grpc-port 0 --poll-interval 0 > "$repo/.out" 2> "$repo/.err" &
  local pid=$!
  for _ in $(seq 50); do grep -q listening "$repo/.out" 2>/dev/null && break; sleep 0.1; done
  local port
  port=$(grep -o "$protocol [0-9.]*:[0-9]*" "$repo/.out" | cut -d: -f2)
  .build/release/nnclient bench --port "$port" --protocol "$protocol" --model "$model" --concurrency "$c" --duration 4 --json
  kill -TERM "$pid"; wait "$pid" || true
}
for round in $(seq "$rounds"); do
  for protocol in $protocols; do
    for model in m1 m2; do
      for c in 1 16 64; do
        echo "$round base $protocol $model $c $(run "$base/.build/release/nnserve" "$protocol" $model $c)"
        echo "$round new $protocol $model $c $(run .build/release/nnserve "$protocol" $model $c)"
      done
    done
  done
done
