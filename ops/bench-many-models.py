#!/usr/bin/env python3
"""`make bench-many-models`: nnserve with thousands of models under --memory-budget.

Builds a repository of N model directories (the bundled diamonds and digits models, hard-linked:
each directory is still read, self-tested, compiled and evicted on its own), then measures with
the release nnserve and the Python binary-protocol client:
- startup: from exec to the "listening" line, under a budget (a scan) and, for the smaller
  repository, without one (every version loaded at start);
- first-request latency of a version never loaded, of one evicted (loaded before), and of a
  resident one, p50 and p99 (one request at a time, so each is one load);
- resident memory (VmRSS) idle, and after a uniform random stream over every model against the
  budget and the bytes the server counts (nnserve_resident_models_memory_bytes).
Prints a Markdown table with the CPU; docs/BENCHMARKS.md keeps it."""
import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "studies"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from common import cpu_description  # noqa: E402
from nnserve_client import Client  # noqa: E402

NNSERVE = os.environ.get("NNSERVE", os.path.join(ROOT, ".build", "release", "nnserve"))
MODELS = {"diamonds": ([[0.5, 1, 2, 3, 61, 55, 5, 5, 3]], "features"), "digits": ([[0.0] * 64], "pixels")}


def repository(path, count, model):
    source = os.path.join(ROOT, "models", model, "1", "model.nnm")
    for index in range(count):
        os.makedirs(os.path.join(path, f"m{index}", "1"))
        os.link(source, os.path.join(path, f"m{index}", "1", "model.nnm"))


def start(repo, *flags):
    """The server on ephemeral ports; returns (process, binary port, http port, seconds to listen)."""
    started = time.perf_counter()
    process = subprocess.Popen([NNSERVE, repo, "--port", "0", "--http-port", "0", "--grpc-port=-1", "--poll-interval", "0",
                                "--log-level", "warning", *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    seconds = time.perf_counter() - started
    ports = dict(re.findall(r"(binary|http) 127\.0\.0\.1:(\d+)", line))
    if "binary" not in ports:
        process.kill()
        raise SystemExit(f"nnserve did not start: {line!r}")
    return process, int(ports["binary"]), int(ports["http"]), seconds


def stop(process):
    process.terminate()
    process.wait(timeout=30)


def rss(process):
    with open(f"/proc/{process.pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read()).group(1)) * 1024


def metric(port, series):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    match = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def latencies(client, names, row, input_name):
    timings = []
    for name in names:
        started = time.perf_counter()
        client.predict(name, {input_name: row})
        timings.append((time.perf_counter() - started) * 1e3)
    return timings


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000, help="model directories under a budget")
    parser.add_argument("--eager-models", type=int, default=2_000, help="model directories loaded at start, without a budget")
    parser.add_argument("--resident", type=int, default=100, help="versions the budget holds")
    parser.add_argument("--stream", type=int, default=5_000, help="requests of the random stream")
    parser.add_argument("--model", choices=sorted(MODELS), default="diamonds")
    arguments = parser.parse_args()
    row, input_name = MODELS[arguments.model]
    work = tempfile.mkdtemp(prefix="nnserve-many-")
    rows = []
    try:
        repo = os.path.join(work, "repo")
        repository(repo, arguments.models, arguments.model)
        # The bytes of one resident version, as the server counts them.
        process, port, http, _ = start(repo, "--memory-budget", "1GiB")
        with Client(port=port) as client:
            client.predict("m0", {input_name: row})
        per_version = int(metric(http, 'nnserve_model_memory_bytes{model="m0",version="1"}'))
        stop(process)
        budget = per_version * arguments.resident

        process, port, http, startup = start(repo, "--memory-budget", str(budget))
        idle = rss(process)
        rows.append((f"startup, {arguments.models:,} models, --memory-budget", f"{startup * 1e3:.0f} ms", "scan only"))
        with Client(port=port) as client:
            cold = latencies(client, [f"m{index}" for index in range(0, 400)], row, input_name)
            warm = latencies(client, [f"m{index}" for index in range(400 - arguments.resident // 2, 400)] * 4, row, input_name)
            evicted = latencies(client, [f"m{index}" for index in range(0, 200)], row, input_name)
            generator = random.Random(2026)
            names = [f"m{generator.randrange(arguments.models)}" for _ in range(arguments.stream)]
            started = time.perf_counter()
            stream = latencies(client, names, row, input_name)
            stream_seconds = time.perf_counter() - started
        after = rss(process)
        counted = metric(http, "nnserve_resident_models_memory_bytes")
        loads = metric(http, 'nnserve_model_loads_total{outcome="loaded"}')
        stop(process)
        for label, values in (("first request, never loaded", cold), ("first request, evicted before", evicted),
                              ("request, resident", warm), (f"random stream over {arguments.models:,} models", stream)):
            rows.append((label, f"p50 {statistics.median(values):.2f} ms, p99 {percentile(values, 0.99):.2f} ms", f"{len(values)} requests"))
        rows.append(("stream throughput (1 client)", f"{len(stream) / stream_seconds:.0f} req/s", f"{int(loads):,} loads in all"))
        rows.append(("RSS idle → after the stream", f"{idle / 2**20:.1f} → {after / 2**20:.1f} MiB",
                     f"budget {budget / 2**20:.1f} MiB ({arguments.resident} × {per_version / 1024:.1f} KiB), counted {counted / 2**20:.1f} MiB, "
                     f"beyond idle + budget {(after - idle - budget) / 2**20:+.1f} MiB"))

        eager = os.path.join(work, "eager")
        repository(eager, arguments.eager_models, arguments.model)
        process, port, http, startup = start(eager)
        rows.append((f"startup, {arguments.eager_models:,} models, no budget", f"{startup * 1e3:.0f} ms",
                     f"every version loaded, RSS {rss(process) / 2**20:.1f} MiB"))
        stop(process)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"CPU: {cpu_description()}; model: {arguments.model} (bundled), release nnserve, 1 client, binary protocol")
    print("| measure | result | notes |\n|---|---|---|")
    for row_ in rows:
        print("| " + " | ".join(row_) + " |")


if __name__ == "__main__":
    main()
