"""gzip and deflate on both protocols with the real clients (tritonclient's compression
arguments, grpcio's call compression, requests), and decompression bombs refused at the
front's limit on the inflated size with the server's memory unchanged."""
import gzip
import zlib

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc

from conftest import MAX_BODY_SIZE


def digits_batch(digits_rows, count=4):
    return np.array([pixels for pixels, _ in digits_rows[:count]], dtype=np.float32)


def resident_kib(server):
    with open(f"/proc/{server.process.pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_tritonclient_http_gzip_both_ways_answers_as_plain(server, digits_rows):
    rows = digits_batch(digits_rows)
    client = httpclient.InferenceServerClient(server.base.removeprefix("http://"))
    tensor = httpclient.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=False)
    plain = client.infer("digits", [tensor]).as_numpy("label")
    for algorithm in ("gzip", "deflate"):
        answer = client.infer("digits", [tensor], request_compression_algorithm=algorithm, response_compression_algorithm=algorithm)
        assert np.array_equal(answer.as_numpy("label"), plain), algorithm
    client.close()


def test_http_bodies_compressed_by_hand(server, digits_rows):
    rows = digits_batch(digits_rows, 8)
    body = {"inputs": [{"name": "pixels", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}]}
    import json
    raw = json.dumps(body).encode()
    plain = server.http.post(server.url("/v2/models/digits/infer"), data=raw, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    zipped = server.http.post(server.url("/v2/models/digits/infer"), data=gzip.compress(raw),
                              headers={"Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    assert zipped.status_code == 200, zipped.text
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert int(zipped.headers["Content-Length"]) < len(plain.content)
    assert zipped.json()["outputs"] == plain.json()["outputs"]  # requests inflates it
    deflated = server.http.post(server.url("/v2/models/digits/infer"), data=zlib.compress(raw), headers={"Content-Encoding": "deflate"})
    assert deflated.json()["outputs"] == plain.json()["outputs"]

    refused = server.http.post(server.url("/v2/models/digits/infer"), data=raw, headers={"Content-Encoding": "br"})
    assert refused.status_code == 415 and "'br' is not supported" in refused.json()["error"]
    corrupt = server.http.post(server.url("/v2/models/digits/infer"), data=gzip.compress(raw)[:-12], headers={"Content-Encoding": "gzip"})
    assert corrupt.status_code == 400 and "ends early" in corrupt.json()["error"], corrupt.text


def test_an_http_decompression_bomb_is_refused_with_bounded_memory(server):
    bomb = gzip.compress(bytes(60 << 20), compresslevel=9)  # 60 MiB of zeros in ~60 KiB
    assert len(bomb) < MAX_BODY_SIZE
    before = resident_kib(server)
    for _ in range(5):
        reply = server.http.post(server.url("/v2/models/digits/infer"), data=bomb, headers={"Content-Encoding": "gzip"})
        assert reply.status_code == 413
        assert f"inflates to more than the limit of {MAX_BODY_SIZE} bytes" in reply.json()["error"]
    assert resident_kib(server) - before < 16 * 1024, "the bomb was inflated past the limit"
    assert server.http.get(server.url("/v2/health/ready")).status_code == 200


def test_tritonclient_grpc_gzip_answers_as_plain(server, digits_rows):
    rows = digits_batch(digits_rows)
    client = grpcclient.InferenceServerClient(server.grpc)
    tensor = grpcclient.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    plain = client.infer("digits", [tensor]).as_numpy("label")
    for algorithm in ("gzip", "deflate"):
        assert np.array_equal(client.infer("digits", [tensor], compression_algorithm=algorithm).as_numpy("label"), plain), algorithm
    client.close()


def test_a_grpc_decompression_bomb_is_refused_at_the_message_limit(server):
    channel = grpc.insecure_channel(server.grpc)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = service_pb2.ModelInferRequest(model_name="digits")
    request.inputs.add(name="pixels", datatype="FP32", shape=[80_000, 64])
    request.raw_input_contents.append(bytes(80_000 * 64 * 4))  # 20 MB of zeros, ~20 KB in gzip
    before = resident_kib(server)
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, compression=grpc.Compression.Gzip, timeout=20)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "inflates to more than" in raised.value.details()
    assert resident_kib(server) - before < 16 * 1024
    channel.close()
