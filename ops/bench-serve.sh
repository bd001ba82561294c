#!/usr/bin/env bash
# Serving benchmark: nnserve on loopback with M1-M4 (nnbench write-models), driven by
# nnclient bench (client and server share the machine's cores). Prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-5}
repo=$(mktemp -d)
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$repo"' EXIT
swift build -c release --product nnserve --product nnclient --product nnbench >/dev/null 2>&1 || {
  swift build -c release --product nnserve >/dev/null; swift build -c release --product nnclient >/dev/null; swift build -c release --product nnbench >/dev/null; }
.build/release/nnbench write-models "$repo" >/dev/null
run_server() {
  .build/release/nnserve "$repo" --port 0 --http-port 0 --grpc-port 0 --poll-interval 0 "$@" > "$repo/.out" 2> "$repo/.err" &
  server=$!
  for _ in $(seq 50); do grep -q listening "$repo/.out" 2>/dev/null && break; sleep 0.1; done
  port=$(grep -o 'binary [0-9.]*:[0-9]*' "$repo/.out" | cut -d: -f2)
}
run_server
# One line per run, with the ratio to the Python serving anchor (bench/anchors.json).
bench() {
  local model=$1 c=$2 line rps anchor
  line=$(.build/release/nnclient bench --port "$port" --model "$model" --concurrency "$c" --duration "$duration")
  rps=$(echo "$line" | grep -oE '[0-9]+ req/s' | grep -oE '[0-9]+')
  anchor=$(python3 -c "import json; print(json.load(open('bench/anchors.json'))['python_server_req_per_s']['${model^^}']['$c'])")
  echo "$line; anchor $anchor req/s, $(python3 -c "print(f'{$rps / $anchor:.1f}')")x"
}
for model in m1 m2; do
  for c in 1 16 64; do bench $model $c; done
done
kill -TERM $server; wait $server || true
run_server --max-batch-size 1
echo "max batch size 1:"
bench m2 64
