"""nnserve's HTTP front, exercised with nothing but the KServe v2 / Open Inference Protocol
spec: every endpoint, the binary tensor data extension, the repository extension, every error
case of the issue, and /metrics read by prometheus_client's parser."""
import json
import math
import struct

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import MAX_BODY_SIZE


def infer(server, model, body, path_version=None, **kwargs):
    version = f"/versions/{path_version}" if path_version else ""
    return server.http.post(server.url(f"/v2/models/{model}{version}/infer"), json=body, **kwargs)


def pixels_request(rows, datatype="FP32", **extra):
    data = [value for pixels, _ in rows for value in pixels]
    if datatype.startswith("INT") or datatype.startswith("UINT"):
        data = [int(v) for v in data]
    body = {"inputs": [{"name": "pixels", "shape": [len(rows), 64], "datatype": datatype, "data": data}]}
    body.update(extra)
    return body


def f32(values):
    """JSON numbers as the FP32 values they print (the shortest text reads back exactly)."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# Health and metadata -------------------------------------------------------------------------

def test_server_live_and_ready(server):
    assert server.http.get(server.url("/v2/health/live")).status_code == 200
    assert server.http.get(server.url("/v2/health/ready")).status_code == 200


def test_server_metadata(server):
    response = server.http.get(server.url("/v2"))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "nnserve"
    assert isinstance(body["version"], str) and body["version"]
    assert "binary_tensor_data" in body["extensions"] and "model_repository" in body["extensions"]


@pytest.mark.parametrize("path", ["/v2/models/digits", "/v2/models/digits/versions/1"])
def test_model_metadata(server, path):
    response = server.http.get(server.url(path))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "digits"
    assert body["versions"] == ["1"]
    assert isinstance(body["platform"], str)
    assert body["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]
    assert body["outputs"] == [{"name": "label", "datatype": "FP32", "shape": [-1, 10]}]
    # nnserve's addition: which column is which feature, in order.
    assert body["feature_names"] == {"pixels": [f"px{i}" for i in range(64)]}


@pytest.mark.parametrize("path", ["/v2/models/digits/ready", "/v2/models/digits/versions/1/ready"])
def test_model_ready(server, path):
    assert server.http.get(server.url(path)).status_code == 200


@pytest.mark.parametrize("path", ["/v2/models/nope/ready", "/v2/models/digits/versions/7/ready"])
def test_model_not_ready_is_4xx(server, path):
    assert 400 <= server.http.get(server.url(path)).status_code < 500


def test_metadata_of_unknown_model_and_version(server):
    response = server.http.get(server.url("/v2/models/nope"))
    assert response.status_code == 404
    assert "nope" in error_of(response)
    response = server.http.get(server.url("/v2/models/digits/versions/7"))
    assert response.status_code == 404
    assert "version 7" in error_of(response)


# Inference -----------------------------------------------------------------------------------

def test_infer_classifies_real_digits(server, digits_rows):
    rows = digits_rows[:64]
    response = infer(server, "digits", pixels_request(rows, id="batch-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "digits" and body["model_version"] == "1" and body["id"] == "batch-1"
    [output] = body["outputs"]
    assert output["name"] == "label" and output["datatype"] == "FP32" and output["shape"] == [64, 10]
    probabilities = [output["data"][i * 10:(i + 1) * 10] for i in range(64)]
    assert all(math.isclose(sum(p), 1, rel_tol=1e-4) for p in probabilities)
    correct = sum(p.index(max(p)) == label for p, (_, label) in zip(probabilities, rows))
    assert correct >= 58, f"{correct}/64 correct"


def test_infer_with_version_nested_data_and_selected_output(server, digits_rows):
    rows = digits_rows[:3]
    flat = infer(server, "digits", pixels_request(rows)).json()["outputs"][0]["data"]
    nested = {"inputs": [{"name": "pixels", "shape": [3, 64], "datatype": "FP32", "data": [p for p, _ in rows]}],
              "outputs": [{"name": "label"}]}
    response = infer(server, "digits", nested, path_version=1)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == flat


@pytest.mark.parametrize("datatype", ["INT32", "UINT8", "INT64", "FP64"])
def test_lossless_datatypes_give_the_fp32_answer(server, digits_rows, datatype):
    rows = digits_rows[5:7]
    expected = infer(server, "digits", pixels_request(rows)).json()["outputs"][0]["data"]
    response = infer(server, "digits", pixels_request(rows, datatype))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == expected


def test_bool_inputs_are_zero_and_one(server, digits_rows):
    pixels = [1.0 if v > 8 else 0.0 for v in digits_rows[0][0]]
    expected = infer(server, "digits", {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": pixels}]})
    response = infer(server, "digits", {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "BOOL",
                                                    "data": [v == 1.0 for v in pixels]}]})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == expected.json()["outputs"]


def test_binary_tensor_data_in_and_out(server, digits_rows):
    rows = digits_rows[10:14]
    expected = infer(server, "digits", pixels_request(rows)).json()["outputs"][0]["data"]
    header = json.dumps({"inputs": [{"name": "pixels", "shape": [4, 64], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 4 * 64 * 4}}],
                         "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}).encode()
    payload = b"".join(struct.pack("<64f", *pixels) for pixels, _ in rows)
    response = server.http.post(server.url("/v2/models/digits/infer"), data=header + payload,
                                headers={"Inference-Header-Content-Length": str(len(header)),
                                         "Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    length = int(response.headers["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:length])
    [output] = meta["outputs"]
    assert output["parameters"]["binary_data_size"] == 4 * 10 * 4 and "data" not in output
    assert list(struct.unpack("<40f", response.content[length:])) == f32(expected)


def test_raw_binary_request(server, digits_rows):
    pixels, _ = digits_rows[20]
    expected = infer(server, "digits", pixels_request([digits_rows[20]])).json()["outputs"][0]["data"]
    response = server.http.post(server.url("/v2/models/digits/infer"), data=struct.pack("<64f", *pixels),
                                headers={"Inference-Header-Content-Length": "0"})
    assert response.status_code == 200, response.text
    length = int(response.headers["Inference-Header-Content-Length"])
    assert list(struct.unpack("<10f", response.content[length:])) == f32(expected)


def test_keep_alive_connection_serves_many_requests(server, digits_rows):
    for pixels, _ in digits_rows[:20]:
        response = infer(server, "digits", {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": pixels}]})
        assert response.status_code == 200


# Errors --------------------------------------------------------------------------------------

def post_raw(server, path, data, headers=None):
    return server.http.post(server.url(path), data=data, headers=headers or {"Content-Type": "application/json"})


def test_body_that_is_not_json(server):
    response = post_raw(server, "/v2/models/digits/infer", b"{\"inputs\": [")
    assert response.status_code == 400
    assert "not valid JSON" in error_of(response)


def test_data_length_does_not_match_shape(server):
    body = {"inputs": [{"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": [0.0] * 100}]}
    response = infer(server, "digits", body)
    assert response.status_code == 400
    message = error_of(response)
    assert "'pixels'" in message and "100 values" in message and "128" in message


def test_unknown_datatype(server):
    body = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FLOAT", "data": [0.0] * 64}]}
    response = infer(server, "digits", body)
    assert response.status_code == 400
    assert "datatype 'FLOAT'" in error_of(response)


def test_body_over_the_size_limit(server):
    body = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}],
            "padding": "x" * (MAX_BODY_SIZE + 1)}
    response = infer(server, "digits", body)
    assert response.status_code == 400
    assert f"limit of {MAX_BODY_SIZE} bytes" in error_of(response)


@pytest.mark.parametrize("body, says", [
    ({"inputs": [{"name": "pixels", "shape": [1, 63], "datatype": "FP32", "data": [0.0] * 63}]}, "63 features"),
    ({"inputs": [{"name": "image", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}, "unknown input 'image'"),
    ({"inputs": []}, "input 'pixels' is missing"),
    ({"inputs": [{"name": "pixels", "shape": [0, 64], "datatype": "FP32", "data": []}]}, "empty"),
    ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "INT32", "data": [0.5] * 64}]}, "element 0 is 0.5"),
    ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": ["a"] * 64}]}, "a string"),
    ({"inputs": [{"name": "pixels", "datatype": "FP32", "data": [0.0] * 64}]}, "'inputs[0].shape' is missing"),
    ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}],
      "outputs": [{"name": "digit"}]}, "unknown output 'digit'"),
    ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}],
      "parameters": {"timeout": "1ms"}}, "timeout"),
])
def test_invalid_inference_requests_are_400_naming_the_field(server, body, says):
    response = infer(server, "digits", body)
    assert response.status_code == 400, response.text
    assert says in error_of(response)


def test_values_that_overflow_fp32_are_refused(server):
    # 1e999 is valid JSON; as FP32 it is infinite, which the model rejects.
    body = '{"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [' + ",".join(["1e999"] * 64) + ']}]}'
    response = post_raw(server, "/v2/models/digits/infer", body.encode())
    assert response.status_code == 400
    assert "finite" in error_of(response)


def test_unknown_model_and_version_are_404(server):
    body = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}
    assert infer(server, "nope", body).status_code == 404
    assert infer(server, "digits", body, path_version=3).status_code == 404


def test_wrong_method_and_unknown_path(server):
    response = server.http.get(server.url("/v2/models/digits/infer"))
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    response = server.http.get(server.url("/v3/anything"))
    assert response.status_code == 404
    assert "no endpoint" in error_of(response)


def test_a_bad_request_does_not_close_the_connection(server, digits_rows):
    assert post_raw(server, "/v2/models/digits/infer", b"garbage").status_code == 400
    assert infer(server, "digits", pixels_request(digits_rows[:1])).status_code == 200


# Repository extension ------------------------------------------------------------------------

def test_repository_index_unload_and_load(server, digits_rows):
    index = server.http.post(server.url("/v2/repository/index")).json()
    assert {(entry["name"], entry["version"], entry["state"]) for entry in index} == {
        ("digits", "1", "READY"), ("diamonds", "1", "READY")}

    assert server.http.post(server.url("/v2/repository/models/diamonds/unload")).status_code == 200
    assert server.http.get(server.url("/v2/models/diamonds/ready")).status_code >= 400
    ready = server.http.post(server.url("/v2/repository/index"), json={"ready": True}).json()
    assert [entry["name"] for entry in ready] == ["digits"]
    assert infer(server, "digits", pixels_request(digits_rows[:1])).status_code == 200

    assert server.http.post(server.url("/v2/repository/models/diamonds/load")).status_code == 200
    assert server.http.get(server.url("/v2/models/diamonds/ready")).status_code == 200
    response = server.http.post(server.url("/v2/repository/models/unknown/load"))
    assert response.status_code == 404
    assert "unknown" in error_of(response)


# Metrics -------------------------------------------------------------------------------------

def test_metrics_parse_and_count_requests(server, digits_rows):
    def scrape():
        response = server.http.get(server.url("/metrics"))
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return {family.name: family for family in text_string_to_metric_families(response.text)}

    def ok_count(families):
        for sample in families["nnserve_requests"].samples:
            labels = sample.labels
            if (sample.name == "nnserve_requests_total" and labels["model"] == "digits"
                    and labels["protocol"] == "http" and labels["outcome"] == "ok"):
                return sample.value
        return 0

    before = scrape()
    for _ in range(5):
        assert infer(server, "digits", pixels_request(digits_rows[:2])).status_code == 200
    after = scrape()
    assert ok_count(after) - ok_count(before) == 5

    expected = {
        "nnserve_requests": "counter", "nnserve_rows": "counter", "nnserve_batch_size_rows": "histogram",
        "nnserve_queue_duration_seconds": "histogram", "nnserve_compute_duration_seconds": "histogram",
        "nnserve_request_duration_seconds": "histogram", "nnserve_queue_depth_rows": "gauge",
        "nnserve_model_versions_loaded": "gauge", "process_resident_memory_bytes": "gauge",
    }
    for name, kind in expected.items():
        assert name in after, f"missing {name}"
        assert after[name].type == kind, f"{name} is {after[name].type}"
        assert after[name].documentation, f"{name} has no help"
    resident = after["process_resident_memory_bytes"].samples[0].value
    assert resident > 1e6
