"""nnserve --memory-budget with Triton's own clients: a repository of twelve models served in
the memory of three, each asked for its metadata and config before inferring (tritonclient's
usual order, which must load an evicted model rather than fail), the index and /metrics read
back with prometheus_client's parser."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families

from conftest import NNSERVE, ROOT

MODELS = 12
ROW = np.array([[0.23, 4, 5, 1, 61.5, 55, 3.95, 3.98, 2.43]], dtype=np.float32)


def start(repository, *flags):
    process = subprocess.Popen([NNSERVE, repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0",
                                "--log-level", "warning", *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    http = re.search(r"http (127\.0\.0\.1:\d+)", line)
    grpc = re.search(r"grpc (127\.0\.0\.1:\d+)", line)
    assert http and grpc, f"nnserve did not start: {line!r}"
    return process, http.group(1), grpc.group(1)


def stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def metrics(http):
    return {sample.name + str(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(requests.get(f"http://{http}/metrics").text) for sample in family.samples}


@pytest.fixture(scope="module")
def repository():
    path = tempfile.mkdtemp(prefix="nnserve-budget-")
    for index in range(MODELS):
        shutil.copytree(os.path.join(ROOT, "models", "diamonds", "1"), os.path.join(path, f"m{index}", "1"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def per_version(repository):
    """The bytes one version holds, as the server counts them."""
    process, http, _ = start(repository, "--memory-budget", "1GiB")
    try:
        httpclient.InferenceServerClient(http).get_model_metadata("m0")
        return metrics(http)["nnserve_model_memory_bytes[('model', 'm0'), ('version', '1')]"]
    finally:
        stop(process)


def test_twelve_models_in_the_memory_of_three(repository, per_version):
    budget = int(3.5 * per_version)
    process, http, grpc = start(repository, "--memory-budget", str(budget))
    try:
        rest = httpclient.InferenceServerClient(http)
        assert rest.is_server_ready()
        assert all(rest.is_model_ready(f"m{index}") for index in range(MODELS)), "a version that would load is ready"
        assert metrics(http)["nnserve_resident_models_memory_bytes[]"] == 0, "asking readiness loads nothing"

        answers = []
        for index in range(MODELS):
            name = f"m{index}"
            assert rest.get_model_metadata(name)["inputs"][0]["shape"] == [-1, 9]
            features = httpclient.InferInput("features", list(ROW.shape), "FP32")
            features.set_data_from_numpy(ROW)
            answers.append(rest.infer(name, [features]).as_numpy("price"))
        assert all(np.array_equal(answer, answers[0]) for answer in answers), "every copy answers as the first"

        # m0 was evicted long ago: gRPC's config and metadata load it again, then it infers.
        stub = grpcclient.InferenceServerClient(grpc)
        assert stub.get_model_config("m0").config.max_batch_size == 64
        assert stub.get_model_metadata("m0").inputs[0].name == "features"
        features = grpcclient.InferInput("features", list(ROW.shape), "FP32")
        features.set_data_from_numpy(ROW)
        assert np.array_equal(stub.infer("m0", [features]).as_numpy("price"), answers[0])

        index = {(entry["name"], entry.get("reason", "")) for entry in requests.post(f"http://{http}/v2/repository/index").json()}
        assert ("m1", "evicted (--memory-budget, least recently used): its next request loads it again") in index
        assert ("m0", "") in index, "resident again"

        samples = metrics(http)
        assert samples["nnserve_memory_budget_bytes[]"] == budget
        assert samples["nnserve_resident_models_memory_bytes[]"] <= budget
        assert len([key for key in samples if key.startswith("nnserve_model_memory_bytes[")]) == 3
        assert samples["nnserve_model_evictions_total[]"] >= MODELS - 3
        assert samples["nnserve_model_loads_total[('outcome', 'loaded')]"] == MODELS + 1
    finally:
        stop(process)
