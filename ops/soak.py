#!/usr/bin/env python3
"""Soak benchmark: nnserve (release) at saturation for --duration seconds while a new version
of the model is published every --reload-every seconds and a stream of malformed requests
(binary and HTTP) runs beside the load. Reports, per window: requests served, load errors,
p99, the server's RSS, open descriptors and threads; at the end, the malformed requests by
the answer they got and the verdict: no load request failed, every malformed request got a
refusal (or its connection closed, where the protocol says so), RSS ended where it started.

Run by `make soak` (not in CI: it takes ten minutes). Writes a JSON record with --json.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RELEASE = os.path.join(ROOT, ".build", "release")
PREFACE = b"NNSP" + struct.pack(">I", 1)
ERROR_CODES = {1: "INVALID_ARGUMENT", 2: "NOT_FOUND", 3: "RESOURCE_EXHAUSTED",
               4: "DEADLINE_EXCEEDED", 5: "UNAVAILABLE", 6: "INTERNAL"}


# --- a few protobuf messages of proto/nnserve/wire.proto, encoded by hand -------------------

def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire_type, payload):
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def predict_request(request_id, model, name, rows, width):
    tensor = (field(1, 2, name.encode())
              + field(2, 2, varint(rows) + varint(width))
              + field(3, 2, struct.pack(f"<{rows * width}f", *([0.5] * (rows * width)))))
    predict = field(1, 2, model.encode()) + field(3, 2, tensor)
    return field(1, 0, request_id) + field(10, 2, predict)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def read_error_code(sock):
    """The error code of the next response frame ('ok' for a non-error response), or 'closed'."""
    header = recv_exactly(sock, 4)
    if header is None:
        return "closed"
    payload = recv_exactly(sock, struct.unpack(">I", header)[0])
    if payload is None:
        return "closed"
    # Response: id = 1, then a oneof; Error is field 14 in wire.proto's Response, holding code = 1.
    position, code = 0, None
    while position < len(payload):
        key, position = decode_varint(payload, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = decode_varint(payload, position)
        elif wire_type == 2:
            length, position = decode_varint(payload, position)
            body = payload[position:position + length]
            position += length
            if number == ERROR_FIELD:
                code = 0
                if body[:1] == b"\x08":
                    code, _ = decode_varint(body, 1)
        else:
            return "undecodable"
    return "ok" if code is None else ERROR_CODES.get(code, f"code {code}")


def decode_varint(data, position):
    result, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def recv_exactly(sock, count):
    data = bytearray()
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def response_error_field():
    text = open(os.path.join(ROOT, "proto", "nnserve", "wire.proto")).read()
    body = text[text.index("message Response"):]
    return int(re.search(r"Error error = (\d+);", body).group(1))


ERROR_FIELD = response_error_field()


# --- the parts of the run -------------------------------------------------------------------

class Malformed(threading.Thread):
    """Sends malformed requests at about `rate` per second and counts the answers by kind."""

    def __init__(self, port, http_port, model, width, rate, stop):
        super().__init__(daemon=True)
        self.port, self.http_port, self.model, self.width = port, http_port, model, width
        self.rate, self.stop = rate, stop
        self.answers = {}
        self.sent = 0
        self.wrong = []
        self.random = random.Random(7)

    def count(self, kind, answer, expected):
        key = f"{kind}: {answer}"
        self.answers[key] = self.answers.get(key, 0) + 1
        self.sent += 1
        if answer not in expected and len(self.wrong) < 20:
            self.wrong.append(key)

    def binary(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(PREFACE)
        return sock

    def run(self):
        sock = self.binary()
        web = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        request_id = 1 << 40
        interval = 1.0 / self.rate
        next_send = time.monotonic()
        while not self.stop.is_set():
            request_id += 1
            kind = self.random.choice(["wrong width", "unknown model", "garbage message",
                                       "bad preface", "oversize frame", "http bad json",
                                       "http wrong shape", "http unknown model"])
            try:
                if kind == "wrong width":
                    sock.sendall(frame(predict_request(request_id, self.model, "x", 2, self.width + 3)))
                    self.count(kind, read_error_code(sock), {"INVALID_ARGUMENT"})
                elif kind == "unknown model":
                    sock.sendall(frame(predict_request(request_id, "no-such-model", "x", 1, self.width)))
                    self.count(kind, read_error_code(sock), {"NOT_FOUND"})
                elif kind == "garbage message":
                    sock.sendall(frame(bytes([0xFF, 0xFF, 0xFF]) + self.random.randbytes(20)))
                    # A frame that is not a Request breaks the stream: the server answers with a
                    # connection error and closes, so the next requests need a new connection.
                    self.count(kind, read_error_code(sock), {"INVALID_ARGUMENT"})
                    sock.close()
                    sock = self.binary()
                elif kind == "bad preface":
                    with socket.create_connection(("127.0.0.1", self.port), timeout=10) as bad:
                        bad.sendall(b"GET / HTTP/1.1\r\n\r\n")
                        self.count(kind, read_error_code(bad), {"INVALID_ARGUMENT", "closed"})
                elif kind == "oversize frame":
                    with socket.create_connection(("127.0.0.1", self.port), timeout=10) as bad:
                        bad.sendall(PREFACE + struct.pack(">I", 0x7FFFFFFF))
                        self.count(kind, read_error_code(bad), {"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", "closed"})
                else:
                    path = f"/v2/models/{'no-such-model' if kind == 'http unknown model' else self.model}/infer"
                    if kind == "http bad json":
                        body = b'{"inputs": [{"name": "x", "shape": [1, '
                    else:
                        width = self.width + (5 if kind == "http wrong shape" else 0)
                        body = json.dumps({"inputs": [{"name": "x", "shape": [1, width], "datatype": "FP32",
                                                       "data": [0.5] * width}]}).encode()
                    web.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                    response = web.getresponse()
                    response.read()
                    self.count(kind, str(response.status), {"400", "404"})
            except (OSError, http.client.HTTPException) as error:
                self.count(kind, f"client error {type(error).__name__}", set())
                sock.close()
                sock = self.binary()
                web.close()
                web = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
            next_send += interval
            delay = next_send - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_send = time.monotonic()
        sock.close()


class Reloader(threading.Thread):
    """Publishes the model's newest version again as version N+1 every `every` seconds (staged
    beside the repository and renamed in, as nnexport does), keeping the newest three."""

    def __init__(self, model_dir, every, stop):
        super().__init__(daemon=True)
        self.model_dir, self.every, self.stop = model_dir, every, stop
        self.published = 0

    def versions(self):
        return sorted(int(entry) for entry in os.listdir(self.model_dir) if entry.isdigit())

    def run(self):
        while not self.stop.wait(self.every):
            versions = self.versions()
            newest = versions[-1]
            staging = os.path.join(self.model_dir, f".tmp-soak-{newest + 1}")
            shutil.copytree(os.path.join(self.model_dir, str(newest)), staging)
            os.rename(staging, os.path.join(self.model_dir, str(newest + 1)))
            self.published += 1
            for old in versions[:-2]:
                shutil.rmtree(os.path.join(self.model_dir, str(old)), ignore_errors=True)


def process_figures(pid):
    status = open(f"/proc/{pid}/status").read()
    rss_kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd")), threads


def model_width(model_dir):
    metadata = json.loads(urllib.request.urlopen(f"{BASE}/v2/models/{os.path.basename(model_dir)}", timeout=10).read())
    return int(metadata["inputs"][0]["shape"][-1])


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main():
    global BASE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--window", type=float, default=10, help="seconds per reported window")
    parser.add_argument("--reload-every", type=float, default=3, help="seconds between published versions")
    parser.add_argument("--malformed-rate", type=float, default=200, help="malformed requests per second")
    parser.add_argument("--concurrency", type=int, default=32, help="load requests in flight")
    parser.add_argument("--model", default="digits", help="bundled model under load")
    parser.add_argument("--json", help="write the record to this file")
    arguments = parser.parse_args()

    repository = tempfile.mkdtemp(prefix="nnserve-soak-")
    for name in ("digits", "diamonds"):
        shutil.copytree(os.path.join(ROOT, "models", name, "1"), os.path.join(repository, name, "1"))
    log_path = os.path.join(repository, ".server.log")
    log = open(log_path, "w")
    server = subprocess.Popen([os.path.join(RELEASE, "nnserve"), repository, "--port", "0", "--http-port", "0", "--grpc-port", "0",
                               "--poll-interval", "1"], stdout=subprocess.PIPE, stderr=log, text=True)
    line = server.stdout.readline()
    port = int(re.search(r"binary 127\.0\.0\.1:(\d+)", line).group(1))
    http_port = int(re.search(r"http 127\.0\.0\.1:(\d+)", line).group(1))
    BASE = f"http://127.0.0.1:{http_port}"
    model_dir = os.path.join(repository, arguments.model)
    width = model_width(model_dir)

    print(f"soak: {cpu_name()}, {os.cpu_count()} CPUs; nnserve pid {server.pid}; model {arguments.model} "
          f"(width {width}); {arguments.duration:.0f} s at concurrency {arguments.concurrency}, a version "
          f"published every {arguments.reload_every:g} s, {arguments.malformed_rate:g} malformed requests/s")
    stop = threading.Event()
    malformed = Malformed(port, http_port, arguments.model, width, arguments.malformed_rate, stop)
    reloader = Reloader(model_dir, arguments.reload_every, stop)
    windows = []
    started = time.monotonic()
    malformed.start()
    reloader.start()
    print(f"{'t s':>6} {'requests':>9} {'req/s':>8} {'errors':>6} {'p99 us':>8} {'RSS MiB':>8} {'fds':>4} {'threads':>7}")
    try:
        while time.monotonic() - started < arguments.duration:
            result = subprocess.run([os.path.join(RELEASE, "nnclient"), "bench", "--port", str(port),
                                     "--model", arguments.model, "--concurrency", str(arguments.concurrency),
                                     "--duration", str(arguments.window), "--json"],
                                    capture_output=True, text=True, timeout=arguments.window + 60)
            if result.returncode != 0:
                raise SystemExit(f"nnclient bench failed: {result.stderr.strip()}")
            report = json.loads(result.stdout)
            rss, fds, threads = process_figures(server.pid)
            window = {"t": round(time.monotonic() - started, 1), "requests": report["requests"],
                      "requests_per_s": round(report["requests_per_s"]), "errors": report["errors"],
                      "failures": report["failures"],
                      "p99_us": round(report["p99_us"], 1), "rss_mib": round(rss, 1), "fds": fds, "threads": threads}
            windows.append(window)
            print(f"{window['t']:>6.0f} {window['requests']:>9} {window['requests_per_s']:>8} {window['errors']:>6} "
                  f"{window['p99_us']:>8.0f} {window['rss_mib']:>8.1f} {fds:>4} {threads:>7}", flush=True)
            for kind, count in report["failures"].items():
                print(f"         {count} x {kind}", flush=True)
    finally:
        stop.set()
        malformed.join(timeout=15)
        reloader.join(timeout=15)
        server.send_signal(signal.SIGTERM)
        exit_status = server.wait(timeout=60)
        log.close()

    loads = sum(1 for entry in open(log_path) if re.search(rf"\] loaded {arguments.model} v\d+", entry))
    served = sum(window["requests"] for window in windows)
    load_errors = sum(window["errors"] for window in windows)
    # The first window warms up (arenas, connection buffers): RSS is compared with its end.
    baseline = windows[0]["rss_mib"]
    final = windows[-1]["rss_mib"]
    rss_ok = final <= baseline * 1.10 + 16
    print(f"served {served} requests ({load_errors} failed) and {malformed.sent} malformed requests "
          f"({100 * malformed.sent / max(1, served + malformed.sent):.2f}% of traffic); "
          f"{reloader.published} versions published, {loads} loaded by the server; exit status {exit_status}")
    for key, count in sorted(malformed.answers.items()):
        print(f"  {key}: {count}")
    print(f"RSS after the first window {baseline:.1f} MiB, at the end {final:.1f} MiB "
          f"(max {max(w['rss_mib'] for w in windows):.1f}); p99 first {windows[0]['p99_us']:.0f} us, "
          f"last {windows[-1]['p99_us']:.0f} us, worst {max(w['p99_us'] for w in windows):.0f} us")
    failures = []
    if load_errors:
        failures.append(f"{load_errors} load requests failed")
    if malformed.wrong:
        failures.append(f"unexpected answers to malformed requests: {sorted(set(malformed.wrong))}")
    if not rss_ok:
        failures.append(f"RSS grew from {baseline:.1f} to {final:.1f} MiB")
    if exit_status != 0:
        failures.append(f"nnserve exited with status {exit_status}")
    if loads < reloader.published // 2:
        failures.append(f"only {loads} of {reloader.published} published versions were loaded")
    print("soak: " + ("ok" if not failures else "FAILED: " + "; ".join(failures)))
    if arguments.json:
        with open(arguments.json, "w") as out:
            json.dump({"cpu": cpu_name(), "arguments": vars(arguments), "windows": windows, "served": served,
                       "load_errors": load_errors, "malformed": malformed.answers, "published": reloader.published,
                       "loaded": loads, "exit_status": exit_status, "failures": failures}, out, indent=1)
    shutil.rmtree(repository, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
