"""The Python client of clients/python against the real server's binary protocol: it builds
as a wheel, predicts what the HTTP front answers, pipelines, splits a DataFrame by the model's
feature names, and reports errors and timeouts."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from nnserve_client import Client, NNServeError  # noqa: E402

DIAMONDS = np.array([[0.23, 4, 5, 1, 61.5, 55, 3.95, 3.98, 2.43], [1.5, 3, 2, 4, 62.1, 57, 7.3, 7.35, 4.55]], dtype=np.float32)


@pytest.fixture(scope="module")
def client(server):
    with Client("127.0.0.1", server.binary_port, timeout=20) as connection:
        yield connection


def http_predict(server, model, name, rows):
    body = {"inputs": [{"name": name, "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}]}
    output = server.http.post(server.url(f"/v2/models/{model}/infer"), json=body).json()["outputs"][0]
    return np.array(output["data"], dtype=np.float32).reshape(output["shape"])


def test_builds_as_a_wheel(tmp_path):
    # From a copy: a build leaves build/ and *.egg-info beside the sources.
    source = tmp_path / "source"
    shutil.copytree(os.path.join(ROOT, "clients", "python"), source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    wheels = tmp_path / "wheels"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in wheels.iterdir()] == ["nnserve_client-0.1.0-py3-none-any.whl"]


def test_predicts_what_http_answers(server, client):
    prices = client.predict("diamonds", DIAMONDS)
    assert prices.dtype == np.float32 and prices.shape == (2, 1)
    assert np.array_equal(prices, http_predict(server, "diamonds", "features", DIAMONDS))
    assert client.predict("diamonds", DIAMONDS[0]).shape == (1, 1), "one row as a 1-D array"
    assert client.health() == (True, True)
    assert [name for name, _, _ in client.models()] == ["diamonds", "digits"]
    metadata = client.metadata("diamonds")
    assert list(metadata.inputs[0].feature_names) == ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]


def test_pipelines_requests_and_matches_answers_by_id(client, digits_rows):
    pixels = np.array([p for p, _ in digits_rows[:40]], dtype=np.float32)
    ids = [client.submit("digits", pixels[i:i + 1]) for i in range(40)]
    answers = {request_id: client.receive(request_id)["label"] for request_id in reversed(ids)}
    together = client.predict("digits", pixels)
    for index, request_id in enumerate(ids):
        assert np.array_equal(answers[request_id][0], together[index])
    assert (together.argmax(axis=1) == [label for _, label in digits_rows[:40]]).mean() > 0.9


def test_a_dataframe_is_split_by_feature_names(client):
    import pandas
    columns = ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]
    frame = pandas.DataFrame(DIAMONDS, columns=columns)
    shuffled = frame[list(reversed(columns))].assign(note=7.0)
    result = client.predict_frame("diamonds", shuffled)
    assert list(result.columns) == ["price"]
    assert np.allclose(result["price"].to_numpy(), client.predict("diamonds", DIAMONDS)[:, 0])
    with pytest.raises(ValueError, match=r"needs columns \['carat'\]"):
        client.predict_frame("diamonds", frame.drop(columns=["carat"]))


def test_errors_name_the_value_and_the_connection_goes_on(client):
    with pytest.raises(NNServeError) as raised:
        client.predict("diamonds", DIAMONDS[:, :8])
    assert raised.value.code == "INVALID_ARGUMENT"
    assert raised.value.message == "input 'features' has 8 features; model 'diamonds' v1 expects 9"
    with pytest.raises(NNServeError) as raised:
        client.predict("nope", {"x": DIAMONDS})
    assert raised.value.code == "NOT_FOUND"
    assert client.predict("diamonds", DIAMONDS).shape == (2, 1)


def test_a_wait_past_the_timeout_raises_and_the_late_answer_is_dropped(server, digits_rows):
    with Client("127.0.0.1", server.binary_port, timeout=20) as connection:
        pixels = np.array([p for p, _ in digits_rows], dtype=np.float32)
        many = np.tile(pixels, (3, 1))[:4000]
        request_id = connection.submit("digits", many)
        # Parsing and computing 4,000 rows takes the server far longer than a microsecond.
        connection.timeout = 1e-6
        connection._socket.settimeout(1e-6)
        with pytest.raises(TimeoutError):
            connection.receive(request_id)
        connection.timeout = 20
        connection._socket.settimeout(20)
        assert connection.predict("digits", pixels[:2]).shape == (2, 10), "the late answer did not confuse the next one"
