"""`--metrics-compat triton`: Triton's per-model metric names, types and units beside nnserve's
own, so dashboards and autoscaling rules written for Triton read nnserve unchanged. Checked
against the names Triton's published Grafana dashboard queries, with values from real traffic
(tritonclient), parsed by prometheus_client and linted by promtool."""
import shutil
import subprocess

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families

from test_three_fronts import Fronts, repository  # noqa: F401 (the fixture)

# Every metric the PromQL expressions of triton-inference-server/server
# deploy/k8s-onprem/dashboard.json read ("Triton Inference Server" dashboard).
DASHBOARD_METRICS = ["nv_inference_count", "nv_inference_request_success", "nv_inference_request_failure",
                     "nv_inference_compute_infer_duration_us", "nv_inference_queue_duration_us"]
# Triton's metrics documentation: the per-model counters (and the pending-request gauge).
DOCUMENTED_COUNTERS = ["nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
                       "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                       "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
                       "nv_inference_compute_output_duration_us"]


def scrape(fronts):
    return fronts.http.get(fronts.http_base + "/metrics").text


def samples(text):
    """nv_* samples by (name, labels). prometheus_client names counter samples `<family>_total`;
    Triton's counters (and these) carry no suffix on the wire, so the family name is kept."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("nv_"):
                found[(family.name, tuple(sorted(sample.labels.items())))] = (family.type, sample.value)
    return found


def value(found, name, **labels):
    return found[(name, tuple(sorted(labels.items())))][1]


def test_triton_metric_names_count_real_traffic(repository):  # noqa: F811
    fronts = Fronts(repository, "--metrics-compat", "triton")
    try:
        assert not [name for name, _ in samples(scrape(fronts)) if name not in DOCUMENTED_COUNTERS + ["nv_inference_pending_request_count"]]
        client = grpcclient.InferenceServerClient(fronts.grpc_address)
        rows = np.random.default_rng(1).uniform(0, 16, size=(3, 64)).astype(np.float32)
        for _ in range(4):
            tensor = grpcclient.InferInput("pixels", list(rows.shape), "FP32")
            tensor.set_data_from_numpy(rows)
            client.infer("digits", [tensor])
        wrong = grpcclient.InferInput("pixels", [1, 60], "FP32")
        wrong.set_data_from_numpy(rows[:1, :60])
        with pytest.raises(Exception):
            client.infer("digits", [wrong])
        client.close()

        text = scrape(fronts)
        found = samples(text)
        digits = {"model": "digits", "version": "1"}
        assert value(found, "nv_inference_request_success", **digits) == 4
        assert value(found, "nv_inference_count", **digits) == 12, "inferences count rows, as Triton's do"
        assert 1 <= value(found, "nv_inference_exec_count", **digits) <= 4
        assert value(found, "nv_inference_request_failure", reason="OTHER", **digits) == 1
        assert value(found, "nv_inference_request_failure", reason="REJECTED", **digits) == 0
        assert value(found, "nv_inference_request_duration_us", **digits) > value(found, "nv_inference_compute_infer_duration_us", **digits) > 0
        assert value(found, "nv_inference_pending_request_count", **digits) == 0
        for name in DOCUMENTED_COUNTERS:
            kind = {key: kind for key, (kind, _) in found.items() if key[0] == name}
            assert kind and set(kind.values()) == {"counter"}, name
        for name in DASHBOARD_METRICS:
            assert any(key[0] == name and ("model", "digits") in key[1] for key in found), name
        if shutil.which("promtool"):
            lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            # Parsed as Prometheus reads it; its naming advice (no _total, "_us") is Triton's naming, kept on purpose.
            assert "error" not in (lint.stdout + lint.stderr).lower(), lint.stdout + lint.stderr
            assert "nv_inference_count counter metrics should have \"_total\" suffix" in lint.stdout + lint.stderr, "promtool read the family"
    finally:
        fronts.close()


def test_without_the_flag_there_is_no_triton_family(server):
    assert "nv_inference" not in server.http.get(server.url("/metrics")).text


def test_the_exposition_has_no_total_suffix_as_triton_writes_it(repository):  # noqa: F811
    fronts = Fronts(repository, "--metrics-compat", "triton")
    try:
        lines = [line for line in scrape(fronts).splitlines() if line.startswith("nv_inference_request_success")]
        assert lines == ['nv_inference_request_success{model="diamonds",version="1"} 0', 'nv_inference_request_success{model="digits",version="1"} 0']
    finally:
        fronts.close()
