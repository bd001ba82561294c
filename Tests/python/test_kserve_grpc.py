"""nnserve's gRPC front with the real tritonclient.grpc client (and, for what that client does
not send, Triton's own generated stubs): health, metadata, inference with raw and typed
contents, every error with its status code, Triton's configuration, statistics and repository
extensions, and the protocol label on /metrics."""
import os

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT


@pytest.fixture(scope="module")
def client(server):
    return grpcclient.InferenceServerClient(server.grpc)


@pytest.fixture(scope="module")
def stub(server):
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc))


def pixels(rows):
    return np.array([p for p, _ in rows], dtype=np.float32)


def infer_digits(client, array, **kwargs):
    tensor = grpcclient.InferInput("pixels", list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return client.infer("digits", [tensor], **kwargs)


def status_of(call):
    with pytest.raises(InferenceServerException) as raised:
        call()
    return raised.value.status(), raised.value.message()


def test_health_and_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits") and client.is_model_ready("digits", "1")
    assert not client.is_model_ready("no-such-model")
    metadata = client.get_server_metadata()
    assert metadata.name == "nnserve"
    assert {"binary_tensor_data", "model_repository", "model_configuration", "statistics"} <= set(metadata.extensions)
    model = client.get_model_metadata("digits", as_json=True)
    assert model["name"] == "digits" and model["versions"] == ["1"] and model["platform"] == "nnserve"
    assert model["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": ["-1", "64"]}]
    assert model["outputs"] == [{"name": "label", "datatype": "FP32", "shape": ["-1", "10"]}]


def test_infer_classifies_real_digits_as_http_does(server, client, digits_rows):
    rows = digits_rows[:64]
    result = infer_digits(client, pixels(rows), request_id="batch-7")
    assert result.get_response().id == "batch-7"
    probabilities = result.as_numpy("label")
    assert probabilities.shape == (64, 10)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert (probabilities.argmax(axis=1) == [label for _, label in rows]).sum() >= 58
    body = {"inputs": [{"name": "pixels", "shape": [64, 64], "datatype": "FP32", "data": pixels(rows).ravel().tolist()}]}
    http = server.http.post(server.url("/v2/models/digits/infer"), json=body).json()["outputs"][0]["data"]
    assert np.array_equal(np.array(http, dtype=np.float32).reshape(64, 10), probabilities), "one request path, the same numbers"


def test_typed_contents_and_other_datatypes(stub, client, digits_rows):
    rows = digits_rows[:3]
    expected = infer_digits(client, pixels(rows)).as_numpy("label")
    request = service_pb2.ModelInferRequest(model_name="digits", id="typed")
    tensor = request.inputs.add(name="pixels", datatype="FP32", shape=[3, 64])
    tensor.contents.fp32_contents.extend(pixels(rows).ravel().tolist())
    request.outputs.add(name="label", parameters={"binary_data": service_pb2.InferParameter(bool_param=False)})
    response = stub.ModelInfer(request)
    assert response.id == "typed" and response.model_version == "1" and not response.raw_output_contents
    assert np.array_equal(np.array(response.outputs[0].contents.fp32_contents, dtype=np.float32).reshape(3, 10), expected)
    # digits' pixels are whole numbers: INT32 typed contents give the same answer.
    request = service_pb2.ModelInferRequest(model_name="digits")
    tensor = request.inputs.add(name="pixels", datatype="INT32", shape=[3, 64])
    tensor.contents.int_contents.extend(int(v) for v in pixels(rows).ravel())
    raw = stub.ModelInfer(request).raw_output_contents[0]
    assert np.array_equal(np.frombuffer(raw, dtype="<f4").reshape(3, 10), expected)
    # ... and UINT8 as raw contents.
    uint8 = grpcclient.InferInput("pixels", [3, 64], "UINT8")
    uint8.set_data_from_numpy(pixels(rows).astype(np.uint8))
    assert np.array_equal(client.infer("digits", [uint8]).as_numpy("label"), expected)


def test_errors_carry_status_codes_and_name_the_value(stub, client, digits_rows):
    array = pixels(digits_rows[:2])
    tensor = grpcclient.InferInput("pixels", [2, 64], "FP32")
    tensor.set_data_from_numpy(array)
    assert status_of(lambda: client.infer("nope", [tensor])) == (
        "StatusCode.NOT_FOUND", "unknown model 'nope'; loaded models are 'diamonds', 'digits'")
    assert status_of(lambda: client.infer("digits", [tensor], model_version="7")) == (
        "StatusCode.NOT_FOUND", "model 'digits' has no version 7; loaded versions are 1")
    assert status_of(lambda: client.infer("digits", [tensor], model_version="x")) == (
        "StatusCode.INVALID_ARGUMENT", "model version 'x' is not a positive integer")
    narrow = grpcclient.InferInput("pixels", [2, 63], "FP32")
    narrow.set_data_from_numpy(array[:, :63])
    assert status_of(lambda: infer_digits(client, array[:, :63])) == (
        "StatusCode.INVALID_ARGUMENT", "input 'pixels' has 63 features; model 'digits' v1 expects 64")
    wrong = grpcclient.InferInput("image", [2, 64], "FP32")
    wrong.set_data_from_numpy(array)
    code, message = status_of(lambda: client.infer("digits", [wrong]))
    assert code == "StatusCode.INVALID_ARGUMENT" and "'image'" in message
    request = service_pb2.ModelInferRequest(model_name="digits")
    request.inputs.add(name="pixels", datatype="FP32", shape=[2, 64])
    request.raw_input_contents.append(array.tobytes()[:-4])
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "input 'pixels' raw_input_contents[0] has 508 bytes; shape [2, 64] of FP32 needs 512 bytes"
    request = service_pb2.ModelInferRequest(model_name="digits")
    request.inputs.add(name="pixels", datatype="BYTES", shape=[1, 1]).contents.bytes_contents.append(b"x")
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request)
    assert raised.value.details() == "input 'pixels' is text (BYTES); model 'digits' v1 takes it as [rows, 64] numbers (FP32)"


def test_a_deadline_the_client_sets_is_kept(client, digits_rows):
    # A timeout parameter of 1 µs expires before the batcher can run the request.
    code, message = status_of(lambda: infer_digits(client, pixels(digits_rows[:1]), timeout=1))
    assert code == "StatusCode.DEADLINE_EXCEEDED", message
    # A generous gRPC deadline changes nothing.
    assert infer_digits(client, pixels(digits_rows[:1]), client_timeout=30).as_numpy("label").shape == (1, 10)


def test_model_config_over_grpc_and_http(server, client):
    config = client.get_model_config("digits", as_json=True)["config"]
    assert config["name"] == "digits" and config["platform"] == "nnserve" and config["backend"] == "nnserve"
    assert config["max_batch_size"] > 0
    assert config["input"] == [{"name": "pixels", "data_type": "TYPE_FP32", "dims": ["64"]}]
    assert config["output"] == [{"name": "label", "data_type": "TYPE_FP32", "dims": ["10"]}]
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    assert "dynamic_batching" in config
    http = server.http.get(server.url("/v2/models/digits/config"))
    assert http.status_code == 200 and http.json() == config


def test_statistics_count_what_was_served(server, client, digits_rows):
    before = client.get_inference_statistics("diamonds", as_json=True)["model_stats"][0]
    rows = np.array([[0.3, 2, 3, 4, 61.0, 57.0, 4.3, 4.3, 2.6]] * 5, dtype=np.float32)
    features = grpcclient.InferInput("features", [5, 9], "FP32")
    features.set_data_from_numpy(rows)
    for _ in range(3):
        client.infer("diamonds", [features])
    narrow = grpcclient.InferInput("features", [1, 8], "FP32")
    narrow.set_data_from_numpy(rows[:1, :8].copy())
    assert status_of(lambda: client.infer("diamonds", [narrow]))[0] == "StatusCode.INVALID_ARGUMENT"
    after = client.get_inference_statistics("diamonds", as_json=True)["model_stats"][0]
    count = lambda stats, key: int(stats["inference_stats"].get(key, {}).get("count", 0))
    assert count(after, "success") - count(before, "success") == 3
    assert count(after, "fail") - count(before, "fail") == 1
    assert int(after["inference_count"]) - int(before.get("inference_count", 0)) == 15
    assert count(after, "queue") - count(before, "queue") == 3
    assert int(after["inference_stats"]["compute_infer"]["ns"]) > 0
    http = server.http.get(server.url("/v2/models/diamonds/stats")).json()["model_stats"][0]
    assert http["name"] == "diamonds" and http["version"] == "1"
    assert http["inference_stats"]["success"]["count"] == count(after, "success")
    everything = server.http.get(server.url("/v2/models/stats")).json()["model_stats"]
    assert [(m["name"], m["version"]) for m in everything] == [("diamonds", "1"), ("digits", "1")]


def test_requests_are_counted_with_the_grpc_label(server, client, digits_rows):
    infer_digits(client, pixels(digits_rows[:1]))
    text = server.http.get(server.url("/metrics")).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "nnserve_requests_total" and s.labels.get("protocol") == "grpc" and s.labels.get("model") == "digits"]
    assert any(s.labels["outcome"] == "ok" and s.value >= 1 for s in samples)


def test_repository_index_unload_and_load(client):
    index = client.get_model_repository_index(as_json=True)["models"]
    assert [(m["name"], m["version"], m["state"]) for m in index] == [("diamonds", "1", "READY"), ("digits", "1", "READY")]
    client.unload_model("diamonds")
    assert not client.is_model_ready("diamonds")
    assert not client.is_server_ready(), "a model unloaded on request is not served"
    client.load_model("diamonds")
    assert client.is_model_ready("diamonds") and client.is_server_ready()
    code, message = status_of(lambda: client.load_model("no-such-model"))
    assert code == "StatusCode.NOT_FOUND" and "no-such-model" in message


def test_the_readme_snippet_runs(server, capsys):
    readme = open(os.path.join(ROOT, "README.md")).read()
    snippet = readme.split("<!-- grpc-example:begin -->")[1].split("<!-- grpc-example:end -->")[0]
    code = snippet.split("```python")[1].split("```")[0].replace("localhost:8001", server.grpc)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.split("\n")
    prices = np.array([float(v) for v in printed[0].replace("[", " ").replace("]", " ").split()])
    assert np.allclose(prices, [362.3138, 10942.073], rtol=1e-5), printed[0]
    max_batch_size, inference_count = (int(v) for v in printed[1].split())
    assert max_batch_size > 0 and inference_count >= 2


def test_connections_over_the_limit_are_refused_and_counted(tmp_path):
    import re
    import shutil
    import signal
    import subprocess
    from conftest import NNSERVE
    repository = tmp_path / "models"
    shutil.copytree(os.path.join(ROOT, "models", "digits", "1"), repository / "digits" / "1")
    process = subprocess.Popen([NNSERVE, str(repository), "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0",
                                "--max-grpc-connections", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        address = re.search(r"grpc (127\.0\.0\.1:\d+)", line).group(1)
        http = re.search(r"http (127\.0\.0\.1:\d+)", line).group(1)
        # grpcio shares one connection between channels unless each has its own pool.
        own = [("grpc.use_local_subchannel_pool", 1)]
        first = grpcclient.InferenceServerClient(address, channel_args=own)
        assert first.is_server_live()
        second = grpcclient.InferenceServerClient(address, channel_args=own)
        with pytest.raises(InferenceServerException) as raised:
            second.is_server_live()
        assert raised.value.status() == "StatusCode.UNAVAILABLE"
        assert first.is_server_live(), "the admitted connection is unaffected"
        import requests
        text = requests.get(f"http://{http}/metrics", timeout=10).text
        refused = [s for family in text_string_to_metric_families(text) for s in family.samples
                   if s.name == "nnserve_refused_connections_total" and s.labels.get("protocol") == "grpc"]
        assert refused and refused[0].value >= 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_what_the_front_does_not_serve_is_said_with_its_status(server, digits_rows):
    channel = grpc.insecure_channel(server.grpc)
    unknown = channel.unary_unary("/inference.GRPCInferenceService/ModelStreamInferOnce",
                                  request_serializer=lambda m: m.SerializeToString(), response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as raised:
        unknown(service_pb2.ServerLiveRequest())
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ModelStreamInferOnce" in raised.value.details()
    # gzip was refused here before issue 29; it is served now (test_compression.py has the rest).
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    assert stub.ServerLive(service_pb2.ServerLiveRequest(), compression=grpc.Compression.Gzip).live


def test_a_request_over_the_frame_limit_is_resource_exhausted(tmp_path, digits_rows):
    import re
    import shutil
    import signal
    import subprocess
    from conftest import NNSERVE
    repository = tmp_path / "models"
    shutil.copytree(os.path.join(ROOT, "models", "digits", "1"), repository / "digits" / "1")
    process = subprocess.Popen([NNSERVE, str(repository), "--port", "0", "--http-port=-1", "--grpc-port", "0", "--poll-interval", "0",
                                "--max-frame-size", "4096"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = re.search(r"grpc (127\.0\.0\.1:\d+)", process.stdout.readline()).group(1)
        client = grpcclient.InferenceServerClient(address)
        assert infer_digits(client, pixels(digits_rows[:8])).as_numpy("label").shape == (8, 10), "2 KiB fits"
        code, message = status_of(lambda: infer_digits(client, pixels(digits_rows[:64])))
        assert code == "StatusCode.RESOURCE_EXHAUSTED", message
        assert "nnserve takes at most 4096 (--max-frame-size)" in message
        assert infer_digits(client, pixels(digits_rows[:1])).as_numpy("label").shape == (1, 10), "the connection serves on"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_grpc_over_tls_offers_h2_and_serves(tmp_path, digits_rows):
    """gRPC clients require HTTP/2 by ALPN over TLS; the front offers it with the other
    fronts' certificate (made here with openssl for 127.0.0.1)."""
    import re
    import shutil
    import signal
    import subprocess
    from conftest import NNSERVE
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    repository = tmp_path / "models"
    shutil.copytree(os.path.join(ROOT, "models", "digits", "1"), repository / "digits" / "1")
    process = subprocess.Popen([NNSERVE, str(repository), "--port", "0", "--http-port=-1", "--grpc-port", "0", "--poll-interval", "0",
                                "--tls-cert", str(cert), "--tls-key", str(key)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = re.search(r"grpc (127\.0\.0\.1:\d+)", process.stdout.readline()).group(1)
        client = grpcclient.InferenceServerClient(address, ssl=True, root_certificates=str(cert))
        assert client.is_server_live()
        assert infer_digits(client, pixels(digits_rows[:2])).as_numpy("label").shape == (2, 10)
        plain = grpcclient.InferenceServerClient(address)
        with pytest.raises(InferenceServerException):
            plain.is_server_live(client_timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
