"""Starts the real nnserve executable on 127.0.0.1 (ephemeral ports: binary, HTTP, gRPC) over a
copy of the bundled model repository, and stops it by its pid after the session."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NNSERVE = os.environ.get("NNSERVE", os.path.join(ROOT, ".build", "debug", "nnserve"))
MAX_BODY_SIZE = 65536


class Server:
    def __init__(self, process, base, grpc, binary_port):
        self.process = process
        self.base = base
        self.grpc = grpc
        self.binary_port = binary_port
        self.http = requests.Session()

    def url(self, path):
        return self.base + path


@pytest.fixture(scope="session")
def server():
    repository = tempfile.mkdtemp(prefix="nnserve-pytest-")
    for name in ("digits", "diamonds"):
        shutil.copytree(os.path.join(ROOT, "models", name, "1"), os.path.join(repository, name, "1"))
    process = subprocess.Popen(
        [NNSERVE, repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0",
         "--max-body-size", str(MAX_BODY_SIZE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.search(r"http 127\.0\.0\.1:(\d+)", line)
    assert match, f"no HTTP port in nnserve's first line: {line!r}"
    grpc = re.search(r"grpc (127\.0\.0\.1:\d+)", line)
    assert grpc, f"no gRPC port in nnserve's first line: {line!r}"
    binary = re.search(r"binary 127\.0\.0\.1:(\d+)", line)
    yield Server(process, f"http://127.0.0.1:{match.group(1)}", grpc.group(1), int(binary.group(1)))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    shutil.rmtree(repository, ignore_errors=True)


@pytest.fixture(scope="session")
def digits_rows():
    """(pixels, label) rows of the real digits dataset."""
    rows = []
    with open(os.path.join(ROOT, "datasets", "digits.csv")) as csv:
        header = csv.readline().strip().split(",")
        assert len(header) == 65
        for line in csv:
            values = [float(v) for v in line.strip().split(",")]
            rows.append((values[:64], int(values[64])))
    return rows
