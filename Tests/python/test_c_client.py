"""The C client of clients/c, built with its Makefile and run against the real server: its
example's predictions equal `nnclient predict`'s, its load generator pipelines without errors,
and a server error reaches the caller as a code and the server's message."""
import os
import re
import subprocess

import numpy as np
import pytest

from conftest import ROOT

CLIENT = os.path.join(ROOT, "clients", "c")
NNCLIENT = os.path.join(ROOT, ".build", "debug", "nnclient")


@pytest.fixture(scope="module")
def build():
    result = subprocess.run(["make", "-C", CLIENT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for product in ("libnnserve.a", "libnnserve.so", "predict", "loadgen"):
        assert os.path.exists(os.path.join(CLIENT, "build", product)), product
    return os.path.join(CLIENT, "build")


def rows_file(tmp_path, name, count):
    with open(os.path.join(ROOT, "datasets", f"{name}.csv")) as csv:
        lines = [next(csv) for _ in range(count + 1)]
    path = tmp_path / f"{name}.csv"
    path.write_text("".join(lines))
    return str(path)


def nnclient_predictions(server, model, path):
    output = subprocess.run([NNCLIENT, "predict", "--port", str(server.binary_port), "--model", model, "--data", path],
                            capture_output=True, text=True, timeout=60, check=True).stdout.strip().splitlines()
    return [[float(v) for v in line.split(",")] for line in output[1:]]


@pytest.mark.parametrize("model, count", [("diamonds", 20), ("digits", 30)])
def test_predictions_equal_nnclient_predict(server, build, tmp_path, model, count):
    path = rows_file(tmp_path, model, count)
    result = subprocess.run([os.path.join(build, "predict"), "127.0.0.1", str(server.binary_port), model, path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    ours = np.array([[float(v) for v in line.split(",")] for line in result.stdout.strip().splitlines()], dtype=np.float32)
    # Both print the float32 exactly (C with 9 digits, Swift its shortest form): equal as float32.
    assert np.array_equal(ours, np.array(nnclient_predictions(server, model, path), dtype=np.float32))


def test_the_readme_example_predicts_the_whole_file(server, build, tmp_path):
    """The README's command on the full diamonds.csv (53,940 rows, more than one request may
    carry): sent in requests of the model's batch size, one line per row, as nnclient predicts."""
    path = os.path.join(ROOT, "datasets", "diamonds.csv")
    result = subprocess.run([os.path.join(build, "predict"), "127.0.0.1", str(server.binary_port), "diamonds", path],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 53_940
    ours = np.array([[float(v) for v in line.split(",")] for line in lines[-5:]], dtype=np.float32)
    with open(path) as csv:
        tail = [csv.readline()] + csv.readlines()[-5:]
    last = str(tmp_path / "last5.csv")
    with open(last, "w") as out:
        out.writelines(tail)
    assert np.array_equal(ours, np.array(nnclient_predictions(server, "diamonds", last), dtype=np.float32))


def test_a_server_error_reaches_the_caller(server, build, tmp_path):
    path = rows_file(tmp_path, "diamonds", 2)
    result = subprocess.run([os.path.join(build, "predict"), "127.0.0.1", str(server.binary_port), "nope", path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "unknown model 'nope'; loaded models are 'diamonds', 'digits'"
    refused = subprocess.run([os.path.join(build, "predict"), "127.0.0.1", "1", "diamonds", path], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stderr.startswith("cannot connect to 127.0.0.1:1:")


def test_load_generator_keeps_requests_in_flight(server, build):
    result = subprocess.run([os.path.join(build, "loadgen"), "127.0.0.1", str(server.binary_port), "digits", "8", "1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = result.stdout.strip().splitlines()
    assert re.match(r"digits c=8 rows/request=1: \d+ req/s", report[0]), report[0]
    stats = dict(re.findall(r'"(\w+)":([\d.]+)', report[1]))
    assert float(stats["requests"]) > 100 and float(stats["errors"]) == 0


def test_the_documented_example_compiles_and_runs(server, build, tmp_path):
    text = open(os.path.join(ROOT, "docs", "CLIENTS.md")).read()
    body = text.split("## C: clients/c")[1].split("```c")[1].split("```")[0]
    include, _, statements = body.partition("\n\n")
    program = tmp_path / "example.c"
    program.write_text(f"#include <stdio.h>\n{include}\n\nint main(void) {{\n{statements.replace('8500', str(server.binary_port))}\nreturn 0;\n}}\n")
    flags = subprocess.run(["pkg-config", "--libs", "libprotobuf-c"], capture_output=True, text=True, check=True).stdout.split()
    compiled = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-I", os.path.join(CLIENT, "include"), str(program),
                               os.path.join(build, "libnnserve.a"), *flags, "-o", str(tmp_path / "example")],
                              capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    result = subprocess.run([str(tmp_path / "example")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "362.314 10942.1", result.stdout + result.stderr
