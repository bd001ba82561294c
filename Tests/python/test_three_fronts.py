"""The three fronts (binary protocol, KServe v2 HTTP, KServe v2 gRPC) are codecs of one serving
core: asked the same questions — is the server ready, is each model ready, which versions does
it serve, what does it answer for the same rows or the same bad request — they give the same
answers, before and after an unload, a load, a new version and during a graceful shutdown's
grace period. Each front is asked with its real client (nnserve_client, requests, grpcio)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc
import numpy as np
import pytest
import requests
from tritonclient.grpc import service_pb2, service_pb2_grpc

from conftest import NNSERVE, ROOT

sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from nnserve_client import Client, NNServeError  # noqa: E402

MODELS = ("digits", "diamonds")
INPUTS = {"digits": ("pixels", 64), "diamonds": ("features", 9)}
# gRPC and binary error codes by the HTTP status KServe's REST mapping gives them.
HTTP_STATUS = {"INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "UNAVAILABLE": 503}


class Fronts:
    """One server, asked through all three fronts."""

    def __init__(self, repository, *extra):
        self.repository = repository
        self.process = subprocess.Popen(
            [NNSERVE, repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        self.http_base = "http://127.0.0.1:" + re.search(r"http 127\.0\.0\.1:(\d+)", line).group(1)
        self.binary = Client("127.0.0.1", int(re.search(r"binary 127\.0\.0\.1:(\d+)", line).group(1)), timeout=20)
        self.grpc_address = re.search(r"grpc (127\.0\.0\.1:\d+)", line).group(1)
        self.channel = grpc.insecure_channel(self.grpc_address)
        self.grpc = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self.http = requests.Session()

    def close(self):
        self.binary.close()
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    # The questions, one answer per front --------------------------------------------------

    def server_ready(self):
        _, binary = self.binary.health()
        reply = self.http.get(self.http_base + "/v2/health/ready")
        http = reply.status_code == 200
        assert reply.json()["ready"] is http, reply.text
        grpc_ready = self.grpc.ServerReady(service_pb2.ServerReadyRequest()).ready
        return {"binary": binary, "http": http, "grpc": grpc_ready}

    def versions(self, model):
        """The served versions (None when the model is not served), as each front reports them."""
        try:
            binary = sorted(self.binary.metadata(model).versions)
        except NNServeError as error:
            assert error.code == "NOT_FOUND", error
            binary = None
        reply = self.http.get(self.http_base + f"/v2/models/{model}")
        http = sorted(int(v) for v in reply.json()["versions"]) if reply.status_code == 200 else None
        try:
            grpc_versions = sorted(int(v) for v in self.grpc.ModelMetadata(service_pb2.ModelMetadataRequest(name=model)).versions)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error
            grpc_versions = None
        return {"binary": binary, "http": http, "grpc": grpc_versions}

    def model_ready(self, model):
        http = self.http.get(self.http_base + f"/v2/models/{model}/ready").status_code == 200
        grpc_ready = self.grpc.ModelReady(service_pb2.ModelReadyRequest(name=model)).ready
        # The binary protocol's model readiness is its model list.
        binary = any(name == model and ready for name, _, ready in self.binary.models())
        return {"binary": binary, "http": http, "grpc": grpc_ready}

    def infer(self, model, rows, input_name=None):
        """Each front's answer for the same rows: ("ok", version, outputs) or ("error", code)."""
        name = input_name or INPUTS[model][0]
        answers = {}
        try:
            # The response itself (the client's predict returns the outputs only): its version too.
            response = self.binary._wait(self.binary.submit(model, {name: rows}))
            answers["binary"] = ("ok", response.predict.version,
                                 {o.name: np.asarray(o.data, dtype=np.float32).tolist() for o in sorted(response.predict.outputs, key=lambda o: o.name)})
        except NNServeError as error:
            answers["binary"] = ("error", error.code)
        body = {"inputs": [{"name": name, "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}]}
        reply = self.http.post(self.http_base + f"/v2/models/{model}/infer", json=body)
        if reply.status_code == 200:
            answer = reply.json()
            answers["http"] = ("ok", int(answer["model_version"]),
                               {o["name"]: np.asarray(o["data"], dtype=np.float32).tolist() for o in sorted(answer["outputs"], key=lambda o: o["name"])})
        else:
            answers["http"] = ("error", {v: k for k, v in HTTP_STATUS.items()}.get(reply.status_code, str(reply.status_code)))
        request = service_pb2.ModelInferRequest(model_name=model)
        tensor = request.inputs.add(name=name, datatype="FP32", shape=list(rows.shape))
        request.raw_input_contents.append(rows.astype("<f4").tobytes())
        del tensor
        try:
            response = self.grpc.ModelInfer(request)
            outputs = {o.name: np.frombuffer(raw, dtype="<f4").tolist() for o, raw in zip(response.outputs, response.raw_output_contents)}
            answers["grpc"] = ("ok", int(response.model_version), dict(sorted(outputs.items())))
        except grpc.RpcError as error:
            answers["grpc"] = ("error", error.code().name)
        return answers

    def unload(self, model):
        assert self.http.post(self.http_base + f"/v2/repository/models/{model}/unload").status_code == 200

    def load(self, model):
        assert self.http.post(self.http_base + f"/v2/repository/models/{model}/load").status_code == 200


def same(answers):
    values = list(answers.values())
    assert all(value == values[0] for value in values), answers
    return values[0]


@pytest.fixture
def repository():
    path = tempfile.mkdtemp(prefix="nnserve-fronts-")
    for name in MODELS:
        shutil.copytree(os.path.join(ROOT, "models", name, "1"), os.path.join(path, name, "1"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fronts(repository):
    server = Fronts(repository)
    yield server
    server.close()


def rows_for(model, count=3, seed=0):
    width = INPUTS[model][1]
    return np.random.default_rng(seed).uniform(0, 4, size=(count, width)).astype(np.float32)


def ask_everything(fronts):
    """Every question, every front; each answer must agree across fronts."""
    state = {"ready": same(fronts.server_ready())}
    for model in MODELS:
        state[model] = (same(fronts.versions(model)), same(fronts.model_ready(model)), same(fronts.infer(model, rows_for(model)))[:2])
    # The same bad requests: a wrong width, an unknown input, an unknown model.
    state["wrong width"] = same(fronts.infer("digits", rows_for("digits")[:, :7]))
    state["unknown input"] = same(fronts.infer("digits", rows_for("digits"), input_name="x"))
    state["unknown model"] = same(fronts.infer("nope", rows_for("digits"), input_name="pixels"))
    return state


def test_the_fronts_agree_across_unload_load_new_version(fronts, repository):
    start = ask_everything(fronts)
    assert start["ready"] is True
    assert start["digits"] == ([1], True, ("ok", 1))
    assert start["wrong width"] == ("error", "INVALID_ARGUMENT")
    assert start["unknown input"] == ("error", "INVALID_ARGUMENT")
    assert start["unknown model"] == ("error", "NOT_FOUND")

    # The case: after an unload, HTTP said not ready and the binary front said ready.
    fronts.unload("diamonds")
    unloaded = ask_everything(fronts)
    assert unloaded["ready"] is False
    assert unloaded["diamonds"] == (None, False, ("error", "NOT_FOUND"))
    assert unloaded["digits"] == start["digits"]

    fronts.load("diamonds")
    assert ask_everything(fronts) == start

    # A second version on disk, loaded by request: every front serves v2 and lists both.
    shutil.copytree(os.path.join(repository, "digits", "1"), os.path.join(repository, "digits", "2"))
    fronts.load("digits")
    newer = ask_everything(fronts)
    assert newer["digits"][0] == [2] or newer["digits"][0] == [1, 2]
    assert newer["digits"][2] == ("ok", 2)
    assert newer["ready"] is True


def test_the_fronts_agree_during_the_shutdown_grace(repository):
    server = Fronts(repository, "--shutdown-grace", "3", "--exit-timeout", "10")
    try:
        assert same(server.server_ready()) is True
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Not ready on every front, while predictions are still answered on every front.
        assert same(server.server_ready()) is False
        answer = same({front: value[:2] for front, value in server.infer("digits", rows_for("digits")).items()})
        assert answer == ("ok", 1)
    finally:
        server.close()
