"""ONNX in and out, for real: the fixtures real exporters wrote (Tests/NNOnnxTests/Fixtures)
dropped into a repository as <name>/1/model.onnx are served on all three fronts with ONNX
Runtime's answers; a file that cannot be converted is refused in the repository index with
its reason; and models nntrain made, written as ONNX by nnexport, pass onnx.checker and run in
ONNX Runtime with the answers nnserve gives."""
import glob
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import ROOT
from test_three_fronts import Fronts

FIXTURES = os.path.join(ROOT, "Tests", "NNOnnxTests", "Fixtures")
NNEXPORT = os.environ.get("NNEXPORT", os.path.join(ROOT, ".build", "debug", "nnexport"))


def fixtures():
    return sorted(os.path.basename(path)[:-5] for path in glob.glob(os.path.join(FIXTURES, "*.json")))


def relative_error(actual, expected):
    """Largest difference relative to each row's largest magnitude (nnserve's self-test measure)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = np.maximum(np.abs(expected).max(axis=1, keepdims=True), 1e-6)
    return float((np.abs(actual - expected) / scale).max())


@pytest.fixture(scope="module")
def onnx_fronts():
    repository = tempfile.mkdtemp(prefix="nnserve-onnx-")
    for name in fixtures():
        os.makedirs(os.path.join(repository, name, "1"))
        shutil.copy(os.path.join(FIXTURES, f"{name}.onnx"), os.path.join(repository, name, "1", "model.onnx"))
        for data in glob.glob(os.path.join(FIXTURES, f"{name}.onnx.data")):  # external data keeps its file name
            shutil.copy(data, os.path.join(repository, name, "1", os.path.basename(data)))
    os.makedirs(os.path.join(repository, "conv", "1"))
    shutil.copy(os.path.join(FIXTURES, "refused", "conv.onnx"), os.path.join(repository, "conv", "1", "model.onnx"))
    fronts = Fronts(repository)
    yield fronts
    fronts.close()
    shutil.rmtree(repository, ignore_errors=True)


@pytest.mark.parametrize("name", fixtures())
def test_onnx_fixture_served_on_three_fronts_as_onnxruntime_answers(onnx_fronts, name):
    with open(os.path.join(FIXTURES, f"{name}.json")) as f:
        fixture = json.load(f)
    (input_name, rows), = fixture["inputs"].items()
    rows = np.asarray(rows["values"], dtype=np.float32).reshape(rows["shape"])
    answers = onnx_fronts.infer(name, rows, input_name=input_name)
    for front, answer in answers.items():
        assert answer[0] == "ok", (front, answer)
        assert set(answer[2]) == set(fixture["outputs"]), (front, answer[2].keys())
        for output, expected in fixture["outputs"].items():
            got = np.asarray(answer[2][output], dtype=np.float32).reshape(expected["shape"])
            want = np.asarray(expected["values"], dtype=np.float32).reshape(expected["shape"])
            assert relative_error(got, want) <= 1e-5, (name, front, output)


def test_unconvertible_onnx_is_refused_in_the_index_with_its_reason(onnx_fronts):
    index = onnx_fronts.http.post(onnx_fronts.http_base + "/v2/repository/index", json={}).json()
    conv = [entry for entry in index if entry["name"] == "conv"]
    assert conv and conv[0]["state"] == "UNAVAILABLE", index
    assert "Conv is not an MLP operation" in conv[0]["reason"], conv
    ready = {entry["name"] for entry in index if entry.get("state") == "READY"}
    assert set(fixtures()) <= ready, index


def test_classifier_metadata_and_labels_from_scikit_learn(onnx_fronts):
    metadata = onnx_fronts.http.get(onnx_fronts.http_base + "/v2/models/sklearn_classifier").json()
    assert [o["name"] for o in metadata["outputs"]] == ["probabilities"]
    with open(os.path.join(FIXTURES, "sklearn_classifier.json")) as f:
        rows = json.load(f)["inputs"]["X"]
    body = {"inputs": [{"name": "X", "shape": rows["shape"], "datatype": "FP32", "data": rows["values"]}],
            "outputs": [{"name": "probabilities", "parameters": {"classification": 1}}]}
    answer = onnx_fronts.http.post(onnx_fronts.http_base + "/v2/models/sklearn_classifier/infer", json=body).json()
    labels = [entry.split(":")[-1] for entry in answer["outputs"][0]["data"]]
    assert set(labels) <= {"adelie", "chinstrap", "gentoo"}, answer


@pytest.mark.parametrize("model", ["diamonds", "digits"])
def test_nntrain_model_exported_to_onnx_runs_in_onnxruntime_as_nnserve(model, tmp_path):
    onnx_path = str(tmp_path / f"{model}.onnx")
    written = subprocess.run([NNEXPORT, "to-onnx", os.path.join(ROOT, "models", model, "1", "model.nnm"), "--output", onnx_path],
                             capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    exported = onnx.load(onnx_path)
    onnx.checker.check_model(exported, full_check=True)
    assert exported.opset_import[0].version == 17 and exported.ir_version == 8
    assert [n.op_type for n in exported.graph.node].count("Gemm") >= 2
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    (input_info,) = session.get_inputs()
    width = input_info.shape[1]
    rows = np.random.default_rng(5).normal(size=(9, width)).astype(np.float32) * 2 + 1
    theirs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {input_info.name: rows})))
    # The same file served by nnserve (model.onnx in a version directory) and the .nnm it came from.
    repository = tmp_path / "repository"
    os.makedirs(repository / f"{model}_onnx" / "1")
    shutil.copy(onnx_path, repository / f"{model}_onnx" / "1" / "model.onnx")
    os.makedirs(repository / model)
    shutil.copytree(os.path.join(ROOT, "models", model, "1"), repository / model / "1")
    fronts = Fronts(str(repository))
    try:
        for served in (model, f"{model}_onnx"):
            answers = fronts.infer(served, rows, input_name=input_info.name)
            for front, answer in answers.items():
                assert answer[0] == "ok", (served, front, answer)
                for output, values in theirs.items():
                    got = np.asarray(answer[2][output], dtype=np.float32).reshape(values.shape)
                    assert relative_error(got, values) <= 1e-5, (served, front, output)
    finally:
        fronts.close()


def test_raw_column_model_refuses_onnx_export_by_name(tmp_path):
    written = subprocess.run([NNEXPORT, "to-onnx", os.path.join(ROOT, "models", "titanic", "1", "model.nnm"), "--output", str(tmp_path / "t.onnx")],
                             capture_output=True, text=True)
    assert written.returncode != 0
    assert "takes raw columns" in written.stderr, written.stderr
