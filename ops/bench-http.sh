#!/usr/bin/env bash
# HTTP benchmark, the same method as the Python serving anchor (bench/anchors/RESULTS.md §4):
# single-row KServe v2 JSON bodies (values uniform in [0, 1), 4 decimals), wrk with one thread
# and keep-alive connections on the same machine. Prints req/s, latency and × the anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
duration=${DURATION:-5}
repo=$(mktemp -d)
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$repo"' EXIT
swift build -c release --product nnserve >/dev/null
swift build -c release --product nnbench >/dev/null
.build/release/nnbench write-models "$repo" >/dev/null
python3 - "$repo" <<'PY'
import json, random, sys
random.seed(7)
for model, width in (("m1", 8), ("m2", 784)):
    data = [round(random.random(), 4) for _ in range(width)]
    body = {"inputs": [{"name": "x", "shape": [1, width], "datatype": "FP32", "data": data}]}
    open(f"{sys.argv[1]}/.payload_{model}.json", "w").write(json.dumps(body, separators=(",", ":")))
PY
.build/release/nnserve "$repo" --port 0 --http-port 0 --grpc-port 0 --poll-interval 0 "$@" > "$repo/.out" 2> "$repo/.err" &
server=$!
for _ in $(seq 50); do grep -q listening "$repo/.out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o 'http [0-9.]*:[0-9]*' "$repo/.out" | cut -d: -f2)
for model in m1 m2; do
  for connections in 1 16 64; do
    output=$(PAYLOAD="$repo/.payload_$model.json" wrk -t1 -c"$connections" -d"${duration}"s --latency -s bench/post.lua \
      "http://127.0.0.1:$port/v2/models/$model/infer")
    python3 - "$model" "$connections" "$output" <<'PY'
import json, re, sys
model, connections, text = sys.argv[1].upper(), sys.argv[2], sys.argv[3]
def micros(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m: return float("nan")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
anchor = json.load(open("bench/anchors.json"))["python_server_req_per_s"][model][connections]
print(f"{model} http c={connections}: {rps:,.0f} req/s, p50 {micros(50):.0f} µs, p90 {micros(90):.0f} µs, "
      f"p99 {micros(99):.0f} µs, errors {errors.group(1) if errors else 0}; anchor {anchor:,} req/s, {rps / anchor:.1f}x")
PY
  done
done
