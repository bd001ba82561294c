"""Hostile gRPC clients, written with the `h2` package at the frame level, and the
measurements that judge the server under them: health-probe latency on the health port, a
fresh tritonclient served, the server's RSS. Used by test_grpc_hostile.py (a few seconds per
attack) and runnable alone for the issue's 30-second figures:

    python3 Tests/python/grpc_attacks.py --nnserve .build/release/nnserve --seconds 30

Every loop is bounded in time and count and talks only to 127.0.0.1."""
import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INFER = "/inference.GRPCInferenceService/ModelInfer"
LIVE = "/inference.GRPCInferenceService/ServerLive"


# ---------------------------------------------------------------------------------------------
# The server under attack

class Server:
    """nnserve on 127.0.0.1 with ephemeral ports (gRPC, HTTP, health) over a copy of the bundled
    models, stopped by its pid."""

    def __init__(self, executable, extra=()):
        self.repository = tempfile.mkdtemp(prefix="nnserve-attack-")
        for name in ("digits", "diamonds"):
            shutil.copytree(os.path.join(ROOT, "models", name, "1"), os.path.join(self.repository, name, "1"))
        self.process = subprocess.Popen(
            [executable, self.repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--health-port", "0",
             "--poll-interval", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        ports = dict(re.findall(r"(binary|http|grpc|health) 127\.0\.0\.1:(\d+)", line))
        assert {"grpc", "http", "health"} <= set(ports), f"no ports in nnserve's first line: {line!r}"
        self.grpc = int(ports["grpc"])
        self.http = int(ports["http"])
        self.health = int(ports["health"])

    def rss(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def metrics(self):
        return http_get(self.http, "/metrics", timeout=10)[1]

    def metric(self, name, **labels):
        """The sum of a family's samples whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        shutil.rmtree(self.repository, ignore_errors=True)
        return code


def http_get(port, path, timeout=2.0):
    """(status, body) of GET `path` on a new connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


class HealthProber(threading.Thread):
    """GET /v2/health/live on the health port every `interval` seconds; keeps each latency (a
    failure or a timeout counts as the timeout)."""

    def __init__(self, port, interval=0.05, timeout=2.0):
        super().__init__(daemon=True)
        self.port, self.interval, self.timeout = port, interval, timeout
        self.latencies = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                status, _ = http_get(self.port, "/v2/health/live", timeout=self.timeout)
                ok = status == 200
            except OSError:
                ok = False
            elapsed = time.monotonic() - started
            self.latencies.append(elapsed if ok else self.timeout)
            self.failures += 0 if ok else 1
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)
        return self


def fresh_triton_infer(port):
    """A new tritonclient.grpc client's ModelInfer on digits: the first row's 10 scores."""
    import numpy as np
    import tritonclient.grpc as grpcclient
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        tensor = grpcclient.InferInput("pixels", [1, 64], "FP32")
        tensor.set_data_from_numpy(np.zeros((1, 64), dtype=np.float32))
        return client.infer("digits", [tensor], client_timeout=10).as_numpy("label").ravel()
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# An HTTP/2 client that does what it is told, frame by frame

def infer_message(rows=1):
    """A framed ModelInferRequest for digits with `rows` rows of 64 pixels (raw contents)."""
    from tritonclient.grpc import service_pb2
    request = service_pb2.ModelInferRequest(model_name="digits")
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "pixels", "FP32"
    tensor.shape.extend([rows, 64])
    request.raw_input_contents.append(struct.pack(f"<{rows * 64}f", *([1.0] * (rows * 64))))
    body = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(body)) + body


class RawClient:
    """One HTTP/2 connection from h2, without h2's automatic window updates: the attacker
    decides what to send and what to acknowledge."""

    def __init__(self, port, initial_window=None, timeout=5.0):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        if initial_window is not None:
            self.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window})
        self.flush()
        self.goaway = None
        self.closed = False
        self.answers = {}
        self.statuses = {}
        # The server's SETTINGS (its 1 MiB windows) before anything is sent.
        deadline = time.monotonic() + timeout
        while self.h2.remote_settings.initial_window_size == 65535 and time.monotonic() < deadline and not self.closed:
            self.poll(0.01)

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            try:
                self.socket.sendall(data)
            except OSError:
                self.closed = True

    def headers(self, stream, path, end_stream=False):
        self.h2.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
                                      ("content-type", "application/grpc"), ("te", "trailers")], end_stream=end_stream)

    def call(self, stream, path, message=b"\x00\x00\x00\x00\x00"):
        self.headers(stream, path)
        self.send_message(stream, message, end_stream=True)

    def send_message(self, stream, data, end_stream=False, wait=5.0):
        """DATA frames of at most the peer's frame size, each when the windows allow it (for
        up to `wait` seconds: then h2 raises FlowControlError)."""
        size = self.h2.max_outbound_frame_size
        deadline = time.monotonic() + wait
        for start in range(0, len(data), size):
            piece = data[start:start + size]
            while self.h2.local_flow_control_window(stream) < len(piece) and time.monotonic() < deadline and not self.closed:
                self.flush()
                self.poll(0.005)
            self.h2.send_data(stream, piece, end_stream=end_stream and start + size >= len(data))

    def send_raw(self, frames):
        """Bytes that bypass h2's state (frames it would refuse to make)."""
        try:
            self.socket.sendall(frames)
        except OSError:
            self.closed = True

    def poll(self, timeout=0.0):
        """Reads what has arrived (waiting up to `timeout`); False once the server closed."""
        self.socket.settimeout(timeout if timeout > 0 else 0.000001)
        try:
            while True:
                data = self.socket.recv(1 << 20)
                if not data:
                    self.closed = True
                    return False
                for event in self.h2.receive_data(data):
                    self._note(event)
                self.socket.settimeout(0.000001)
        except (socket.timeout, BlockingIOError):
            pass
        except (OSError, h2.exceptions.ProtocolError):
            self.closed = True
            return False
        self.flush()
        return True

    def _note(self, event):
        if isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event.error_code
        elif isinstance(event, h2.events.DataReceived):
            self.answers[event.stream_id] = self.answers.get(event.stream_id, 0) + len(event.data)
        elif isinstance(event, h2.events.TrailersReceived) or isinstance(event, h2.events.ResponseReceived):
            for name, value in event.headers:
                if name == "grpc-status":
                    self.statuses[event.stream_id] = int(value)

    def close(self):
        try:
            self.socket.close()
        except OSError:
            pass


def window_update(stream, increment):
    return struct.pack(">I", 4)[1:] + bytes([0x8, 0]) + struct.pack(">I", stream) + struct.pack(">I", increment)


# ---------------------------------------------------------------------------------------------
# The attacks: each runs for `seconds` and returns what it saw

def tiny_data_frames(port, seconds):
    """One ModelInfer whose message is announced as 16 MiB and arrives in 64-byte DATA frames,
    within the windows the server opens."""
    client = RawClient(port)
    client.headers(1, INFER)
    client.h2.send_data(1, b"\x00" + struct.pack(">I", (16 << 20) - 16))
    client.flush()
    deadline = time.monotonic() + seconds
    sent = 0
    chunk = b"\x00" * 64
    while time.monotonic() < deadline and not client.closed:
        window = min(client.h2.local_flow_control_window(1), 64 * 256)
        for _ in range(window // 64):
            client.h2.send_data(1, chunk)
            sent += 64
        client.flush()
        client.poll(0.001 if window < 64 else 0.0)
        if 1 in client.statuses:
            break
    client.close()
    return {"sent": sent, "status": client.statuses.get(1), "goaway": client.goaway}


def window_update_flood(port, seconds, connections=2):
    """Connection-level WINDOW_UPDATEs of 1, as fast as the socket takes them, from a few
    connections; each is reopened when the server closes it."""
    closed_by_server = 0
    goaways = set()
    deadline = time.monotonic() + seconds
    burst = window_update(0, 1) * 2048
    clients = [RawClient(port) for _ in range(connections)]
    while time.monotonic() < deadline:
        for index, client in enumerate(clients):
            client.send_raw(burst)
            client.poll()
            if client.closed:
                closed_by_server += 1
                if client.goaway is not None:
                    goaways.add(int(client.goaway))
                client.close()
                clients[index] = RawClient(port)
    for client in clients:
        client.close()
    return {"closed_by_server": closed_by_server, "goaways": goaways}


def zero_window(port, seconds, calls=256, rows=4096):
    """Announces a zero stream window, never opens it, and asks for answers."""
    client = RawClient(port, initial_window=0)
    client.poll(0.2)
    message = infer_message(rows)
    stream = 1
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not client.closed and stream < 2 * calls:
        try:
            client.call(stream, INFER, message)
        except h2.exceptions.ProtocolError:
            break
        stream += 2
        client.flush()
        client.poll()
    while time.monotonic() < deadline and not client.closed:
        client.poll(0.1)
    client.close()
    return {"calls": stream // 2, "closed": client.closed, "goaway": client.goaway}


def half_sent_messages(port, seconds, streams=255, bytes_each=132 * 1024):
    """Streams whose messages are announced as 16 MiB and stop after `bytes_each` bytes, plus a
    small call now and then to look busy."""
    client = RawClient(port)
    client.poll(0.2)
    prefix = b"\x00" + struct.pack(">I", (16 << 20) - 16)
    opened = []
    for index in range(streams):
        stream = 2 * index + 1
        client.headers(stream, INFER)
        room = min(bytes_each, client.h2.local_flow_control_window(stream))
        if room <= len(prefix):
            # The server stopped opening the connection's window: the rest would only be HEADERS.
            client.flush()
            client.poll(0.05)
            room = min(bytes_each, client.h2.local_flow_control_window(stream))
            if room <= len(prefix):
                opened.append(stream)
                continue
        client.send_message(stream, prefix + b"\x00" * max(0, room - len(prefix)))
        opened.append(stream)
        client.flush()
        client.poll()
        if client.closed:
            break
    next_stream = 2 * streams + 1
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not client.closed:
        client.poll(1.0)
        if not client.closed:
            # HEADERS alone (the connection's window may be shut): enough to look busy.
            client.headers(next_stream, LIVE, end_stream=True)
            next_stream += 2
            client.flush()
    ended = sum(1 for stream in opened if stream in client.statuses)
    client.close()
    return {"opened": len(opened), "ended_by_server": ended, "statuses": set(client.statuses[s] for s in opened if s in client.statuses)}


def slot_holders(port, seconds, connections, every=4.0):
    """`connections` clients that each send one tiny call every `every` seconds and otherwise
    sit on their connection slot."""
    clients = []
    for _ in range(connections):
        try:
            clients.append(RawClient(port))
        except OSError:
            break
    stream = 1
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for client in clients:
            if not client.closed:
                client.call(stream, LIVE)
                client.flush()
                client.poll()
        stream += 2
        time.sleep(min(every, max(0.0, deadline - time.monotonic())))
    still_open = sum(1 for client in clients if client.poll() and not client.closed)
    for client in clients:
        client.close()
    return {"connected": len(clients), "still_open": still_open}


def rapid_reset(port, seconds, rows=256):
    """ModelInfer calls reset as soon as they are sent, reconnecting when the server's reset
    limit sends GOAWAY."""
    message = infer_message(rows)
    sent = reconnects = 0
    deadline = time.monotonic() + seconds
    client = RawClient(port)
    stream = 1
    while time.monotonic() < deadline:
        if client.closed or stream > 2_000_000:
            client.close()
            client = RawClient(port)
            stream = 1
            reconnects += 1
        try:
            client.call(stream, INFER, message)
            client.h2.reset_stream(stream)
        except h2.exceptions.ProtocolError:
            client.closed = True
            continue
        sent += 1
        stream += 2
        if sent % 16 == 0:
            client.flush()
            client.poll()
    client.close()
    return {"sent": sent, "reconnects": reconnects}


def disconnect_in_flight(port, rounds, calls=200, rows=64):
    """Rounds of connections that send `calls` ModelInfer calls and close without reading."""
    message = infer_message(rows)
    for _ in range(rounds):
        client = RawClient(port)
        for index in range(calls):
            client.call(2 * index + 1, INFER, message)
        client.flush()
        client.close()
    return {"rounds": rounds}


# ---------------------------------------------------------------------------------------------
# A run of every attack with the judging measurements, for the figures in the notes

def judge(server, attack, **kwargs):
    """Runs `attack` while probing health, asking a fresh tritonclient for a prediction
    halfway and sampling RSS; then waits up to 10 s for RSS to come back within 10% of idle."""
    idle = server.rss()
    prober = HealthProber(server.health)
    prober.start()
    served = []
    peak = [idle]
    attacking = threading.Event()
    attacking.set()

    def fresh():
        time.sleep(kwargs.get("seconds", 3) / 2)
        try:
            served.append(fresh_triton_infer(server.grpc) is not None)
        except Exception as error:  # noqa: BLE001 - the error is the measurement
            served.append(repr(error))

    def watch():
        while attacking.is_set():
            peak[0] = max(peak[0], server.rss())
            time.sleep(0.1)

    helpers = [threading.Thread(target=fresh, daemon=True), threading.Thread(target=watch, daemon=True)]
    for helper in helpers:
        helper.start()
    outcome = attack(server.grpc, **kwargs)
    attacking.clear()
    for helper in helpers:
        helper.join(timeout=30)
    prober.stop()
    ended = time.monotonic()
    after = server.rss()
    while after > 1.1 * idle and time.monotonic() - ended < 10:
        time.sleep(0.25)
        after = server.rss()
    return {
        "attack": attack.__name__, **outcome,
        "health_max_ms": round(1000 * max(prober.latencies or [0]), 1), "health_failures": prober.failures, "probes": len(prober.latencies),
        "fresh_client_served": served, "rss_idle_mb": round(idle / 2**20, 1), "rss_peak_mb": round(peak[0] / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1), "rss_back_in_s": round(time.monotonic() - ended, 1),
        "idle_bytes": idle, "peak_bytes": peak[0], "after_bytes": after,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nnserve", default=os.path.join(ROOT, ".build", "release", "nnserve"))
    parser.add_argument("--seconds", type=float, default=30)
    options = parser.parse_args()
    # 1,030 slot holders need more descriptors than the usual soft limit of 1,024 (nnserve
    # inherits the raised limit).
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    server = Server(options.nnserve)
    try:
        fresh_triton_infer(server.grpc)
        for attack, kwargs in [(tiny_data_frames, {}), (window_update_flood, {"connections": 4}), (zero_window, {}),
                               (half_sent_messages, {}), (rapid_reset, {}), (slot_holders, {"connections": 1030})]:
            result = judge(server, attack, seconds=options.seconds, **kwargs)
            print({key: value for key, value in result.items() if not key.endswith("_bytes")}, flush=True)
        idle = server.rss()
        print({"attack": "disconnect_in_flight", **disconnect_in_flight(server.grpc, rounds=8), "rss_idle_mb": round(idle / 2**20, 1),
               "rss_after_mb": round(server.rss() / 2**20, 1)})
        print({"cancelled_queued": server.metric("nnserve_cancelled_requests_total", stage="queued"),
               "cancelled_computing": server.metric("nnserve_cancelled_requests_total", stage="computing"),
               "abusive_closed": server.metric("nnserve_abusive_clients_closed_total")})
    finally:
        server.stop()


if __name__ == "__main__":
    main()
