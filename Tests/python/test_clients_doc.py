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
