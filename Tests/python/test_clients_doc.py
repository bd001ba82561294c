"""Runs the Python examples of docs/CLIENTS.md against the session's server (its ports in
place of the documented ones), so the documentation cannot drift from the clients."""
import os
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "clients", "python"))


def example(name):
    text = open(os.path.join(ROOT, "docs", "CLIENTS.md")).read()
    block = text.split(f"<!-- example:{name}:begin -->")[1].split(f"<!-- example:{name}:end -->")[0]
    return block.split("```python")[1].split("```")[0]


def run(code, server, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = code.replace('"127.0.0.1", 8500', f'"127.0.0.1", {server.binary_port}').replace("localhost:8001", server.grpc)
    exec(compile(code, "docs/CLIENTS.md", "exec"), {})
    return capsys.readouterr().out


def test_binary_client_example(server, capsys, monkeypatch):
    lines = run(example("python-binary"), server, capsys, monkeypatch).splitlines()
    prices = [float(v) for v in re.findall(r"[\d.]+", lines[0])]
    assert prices == pytest.approx([362.3138, 10942.073], rel=1e-5)
    assert [float(v) for v in re.findall(r"\d+\.\d+", lines[1])] == pytest.approx(prices, rel=1e-5)
    assert lines[2] == "INVALID_ARGUMENT input 'features' has 8 features; model 'diamonds' v1 expects 9"


def test_dataframe_example(server, capsys, monkeypatch):
    output = run(example("python-frame"), server, capsys, monkeypatch)
    header, *rows = output.strip().splitlines()
    assert header.split() == ["price", "predicted"]
    assert len(rows) == 3
    for row in rows:
        _, price, predicted = row.split()
        assert abs(float(predicted) - float(price)) < 600, row


def test_raw_rows_example(capsys, monkeypatch):
    """The raw-rows example against a server of the bundled titanic model."""
    import shutil
    import signal
    import subprocess
    import tempfile
    from conftest import NNSERVE
    repository = tempfile.mkdtemp(prefix="nnserve-doc-raw-")
    shutil.copytree(os.path.join(ROOT, "models", "titanic", "1"), os.path.join(repository, "titanic", "1"))
    process = subprocess.Popen([NNSERVE, repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"binary 127\.0\.0\.1:(\d+)", process.stdout.readline()).group(1))
        monkeypatch.chdir(ROOT)
        code = example("python-raw-rows").replace('"127.0.0.1", 8500', f'"127.0.0.1", {port}')
        exec(compile(code, "docs/CLIENTS.md", "exec"), {})
        lines = capsys.readouterr().out.strip().splitlines()
        probabilities = [float(v) for v in re.findall(r"\d\.\d+", " ".join(lines[:2]))]
        assert len(probabilities) == 2 and all(0 < p < 1 for p in probabilities)
        assert lines[-4].split() == ["survived", "survived_label"]
        assert [line.split()[-1] for line in lines[-3:]] == ["yes", "yes", "yes"]  # first-class passengers of the file
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        shutil.rmtree(repository, ignore_errors=True)
