#!/usr/bin/env bash
# The three fronts side by side, in one run against one server: M1 and M2 (nnbench
# write-models), one row per request, at concurrency 1, 16 and 64, over the binary protocol
# (nnclient bench), KServe v2 gRPC (nnclient bench --protocol grpc: raw_input_contents, as
# tritonclient sends) and KServe v2 HTTP/JSON (wrk), and the C client's load generator
# (clients/c, one connection, pipelined) on the binary protocol. Client and server share the
# machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
duration=${DURATION:-5}
repo=$(mktemp -d)
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$repo"' EXIT
for product in nnserve nnclient nnbench; do swift build -c release --product "$product" >/dev/null; done
make -s -C clients/c >/dev/null
.build/release/nnbench write-models "$repo" >/dev/null
python3 - "$repo" <<'PY'
import json, random, sys
random.seed(7)
for model, width in (("m1", 8), ("m2", 784)):
    data = [round(random.random(), 4) for _ in range(width)]
    body = {"inputs": [{"name": "x", "shape": [1, width], "datatype": "FP32", "data": data}]}
    open(f"{sys.argv[1]}/.payload_{model}.json", "w").write(json.dumps(body, separators=(",", ":")))
PY
.build/release/nnserve "$repo" --port 0 --http-port 0 --grpc-port 0 --poll-interval 0 > "$repo/.out" 2> "$repo/.err" &
server=$!
for _ in $(seq 50); do grep -q listening "$repo/.out" 2>/dev/null && break; sleep 0.1; done
binary=$(grep -o 'binary [0-9.]*:[0-9]*' "$repo/.out" | cut -d: -f2)
http=$(grep -o 'http [0-9.]*:[0-9]*' "$repo/.out" | cut -d: -f2)
grpc=$(grep -o 'grpc [0-9.]*:[0-9]*' "$repo/.out" | cut -d: -f2)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) vCPU, $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo no AVX-512)"
echo "| model | concurrency | binary req/s (p50 µs) | gRPC req/s (p50 µs) | HTTP req/s (p50 µs) | C loadgen, binary req/s (p50 µs) | gRPC / binary | HTTP / binary | C / nnclient |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in m1 m2; do
  for c in 1 16 64; do
    b=$(.build/release/nnclient bench --port "$binary" --model "$model" --concurrency "$c" --duration "$duration" --json)
    g=$(.build/release/nnclient bench --port "$grpc" --protocol grpc --model "$model" --concurrency "$c" --duration "$duration" --json)
    cl=$(clients/c/build/loadgen 127.0.0.1 "$binary" "$model" "$c" "$duration" | tail -1)
    h=$(PAYLOAD="$repo/.payload_$model.json" wrk -t1 -c"$c" -d"${duration}"s --latency -s bench/post.lua "http://127.0.0.1:$http/v2/models/$model/infer")
    python3 - "$model" "$c" "$b" "$g" "$h" "$cl" <<'PY'
import json, re, sys
model, c, binary, grpc, text, native = sys.argv[1].upper(), sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
p50 = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
errors = binary["errors"] + grpc["errors"] + native["errors"] + (1 if re.search(r"Non-2xx|Socket errors", text) else 0)
print(f"| {model} | {c} | {binary['requests_per_s']:,.0f} ({binary['p50_us']:.0f}) | {grpc['requests_per_s']:,.0f} ({grpc['p50_us']:.0f}) | "
      f"{rps:,.0f} ({p50:.0f}) | {native['requestsPerSecond']:,.0f} ({native['p50Micros']:.0f}) | "
      f"{grpc['requests_per_s'] / binary['requests_per_s']:.2f} | {rps / binary['requests_per_s']:.2f} | {native['requestsPerSecond'] / binary['requests_per_s']:.2f} |"
      + ("" if errors == 0 else f" errors: binary {binary['errors']}, grpc {grpc['errors']}, http see wrk"))
PY
  done
done
