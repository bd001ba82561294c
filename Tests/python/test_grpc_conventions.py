"""The gRPC conventions beside the KServe v2 unary calls, with real clients: grpc.health.v1
Check and Watch (grpcio-health-checking's stubs, what grpc-health-probe and Kubernetes `grpc:`
probes send), Triton's ModelStreamInfer through tritonclient's streaming API, and a service
nnserve does not serve (server reflection) refused at once rather than at the deadline."""
import queue
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from test_three_fronts import Fronts, repository  # noqa: F401 (the fixture)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


@pytest.fixture(scope="module")
def health(server):
    channel = grpc.insecure_channel(server.grpc)
    yield health_pb2_grpc.HealthStub(channel)
    channel.close()


def test_health_check_answers_for_the_server_and_each_model(health):
    for service in ("", "inference.GRPCInferenceService", "digits", "diamonds"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == SERVING, service
    with pytest.raises(grpc.RpcError) as raised:
        health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "unknown service 'nope'" in raised.value.details()


def test_health_watch_sends_each_change(repository):  # noqa: F811
    fronts = Fronts(repository, "--idle-timeout", "2")
    channel = grpc.insecure_channel(fronts.grpc_address)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        server_watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        model_watch = stub.Watch(health_pb2.HealthCheckRequest(service="diamonds"), timeout=30)
        unknown = stub.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=30)
        assert next(server_watch).status == SERVING
        assert next(model_watch).status == SERVING
        assert next(unknown).status == SERVICE_UNKNOWN
        unknown.cancel()
        # An unload turns both to NOT_SERVING; the watches stay open past the idle timeout.
        time.sleep(2.5)
        fronts.unload("diamonds")
        assert next(server_watch).status == NOT_SERVING
        assert next(model_watch).status == NOT_SERVING
        fronts.load("diamonds")
        assert next(server_watch).status == SERVING
        assert next(model_watch).status == SERVING
        server_watch.cancel()
        model_watch.cancel()
    finally:
        channel.close()
        fronts.close()


def digits_input(rows):
    tensor = grpcclient.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    return tensor


def test_stream_infer_answers_each_request_in_order_with_errors_in_band(server, digits_rows):
    client = grpcclient.InferenceServerClient(server.grpc)
    answers = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    rows = [np.array([digits_rows[i][0]], dtype=np.float32) for i in range(12)]
    try:
        for index, row in enumerate(rows):
            if index == 5:
                # A bad request in the middle: its answer is an error, the stream goes on.
                client.async_stream_infer("digits", [digits_input(row[:, :60])], request_id="bad")
            client.async_stream_infer("digits", [digits_input(row)], request_id=f"r{index}")
        received = [answers.get(timeout=20) for _ in range(len(rows) + 1)]
    finally:
        client.stop_stream()
        client.close()
    ok = [(result, error) for result, error in received if error is None]
    errors = [error for _, error in received if error is not None]
    assert len(errors) == 1 and "60" in str(errors[0]), errors
    assert [result.get_response().id for result, _ in ok] == [f"r{index}" for index in range(len(rows))]
    unary = grpcclient.InferenceServerClient(server.grpc)
    for (result, _), row in zip(ok, rows):
        expected = unary.infer("digits", [digits_input(row)]).as_numpy("label")
        assert np.array_equal(result.as_numpy("label"), expected)
    unary.close()


def test_a_service_not_served_is_refused_at_once(server):
    channel = grpc.insecure_channel(server.grpc)
    reflection = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                       request_serializer=lambda b: b, response_deserializer=lambda b: b)
    started = time.monotonic()
    # The request stream stays open (a reflection client's does): the answer may not wait for it.
    pending = queue.Queue()
    calls = reflection(iter(pending.get, None), timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        next(calls)
    pending.put(None)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "no server reflection" in raised.value.details()
    assert time.monotonic() - started < 5
    channel.close()


def expected_classes(scores, k):
    """Triton's format: "score:index", highest first (C's %f), equal scores in index order."""
    rows = []
    for row in scores:
        order = sorted(range(len(row)), key=lambda i: (-float(row[i]), i))[:k]
        rows.append([b"%f:%d" % (float(row[i]), i) for i in order])
    return np.array(rows, dtype=np.object_)


def test_classification_answers_the_top_classes_as_triton_does(server, digits_rows):
    """tritonclient's class_count, over HTTP (JSON and binary data) and gRPC: BYTES [rows, k]
    with each row's top classes of the model's output."""
    import tritonclient.http as httpclient

    rows = np.array([pixels for pixels, _ in digits_rows[:5]], dtype=np.float32)
    clients = {"grpc": (grpcclient, grpcclient.InferenceServerClient(server.grpc)),
               "http": (httpclient, httpclient.InferenceServerClient(server.base.removeprefix("http://")))}
    for protocol, (module, client) in clients.items():
        tensor = module.InferInput("pixels", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        scores = client.infer("digits", [tensor]).as_numpy("label")
        forms = [{}] if protocol == "grpc" else [{"binary_data": True}, {"binary_data": False}]
        for form in forms:
            for k in (1, 3, 12):
                output = module.InferRequestedOutput("label", class_count=k, **form)
                classes = client.infer("digits", [tensor], outputs=[output]).as_numpy("label")
                # JSON data comes back as str (as from Triton), binary data as bytes.
                classes = np.vectorize(lambda v: v if isinstance(v, bytes) else v.encode(), otypes=[object])(classes)
                assert classes.shape == (5, min(k, 10)), (protocol, form, k)
                assert np.array_equal(classes, expected_classes(scores, k)), (protocol, form, k, classes[0])
        client.close()


def test_priority_and_sequences_are_refused_never_ignored(server, digits_rows):
    """Triton schedules by priority and keeps sequences for stateful models; nnserve does
    neither, and says so with INVALID_ARGUMENT on both protocols rather than answer as if it had."""
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    rows = np.array([digits_rows[0][0]], dtype=np.float32)
    clients = {"grpc": (grpcclient, grpcclient.InferenceServerClient(server.grpc)),
               "http": (httpclient, httpclient.InferenceServerClient(server.base.removeprefix("http://")))}
    for protocol, (module, client) in clients.items():
        tensor = module.InferInput("pixels", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        cases = [({"priority": 2}, "priority 2"),
                 ({"sequence_id": 7, "sequence_start": True}, "take no sequences")]
        for arguments, says in cases:
            with pytest.raises(InferenceServerException) as raised:
                client.infer("digits", [tensor], **arguments)
            assert says in raised.value.message(), (protocol, raised.value.message())
            if protocol == "grpc":
                assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
            else:
                assert raised.value.status() == "400"
        # The same request without them is answered.
        assert client.infer("digits", [tensor]).as_numpy("label").shape == (1, 10)
        client.close()
