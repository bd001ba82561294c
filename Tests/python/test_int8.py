"""int8 weights end to end, with the real tools: nntrain fits digits, `nnexport --weights int8`
measures the int8 model against fp32 on the run's validation rows (and on --data) and writes
what it measured into the file, `nnexport inspect --explain` shows each layer's kernel choice
with its timings, and
nnserve serves the int8 file: tritonclient's answers keep fp32's classes on the whole file
within the gate's budget, and the load log names the kernel choice."""
import os
import re
import signal
import subprocess
import tempfile

import numpy as np
import pytest
import tritonclient.http as httpclient

from conftest import NNSERVE, ROOT

BUILD = os.path.dirname(NNSERVE)
DIGITS = os.path.join(ROOT, "datasets", "digits.csv")


def tool(name, *arguments, check=True):
    return subprocess.run([os.path.join(BUILD, name), *arguments], check=check, capture_output=True, text=True)


@pytest.fixture(scope="module")
def exported():
    work = tempfile.mkdtemp(prefix="nnserve-int8-")
    checkpoint = os.path.join(work, "digits.ckpt")
    tool("nntrain", "fit", "--model", os.path.join(ROOT, "examples", "digits.json"), "--data", DIGITS, "--epochs", "8",
         "--checkpoint", checkpoint)
    repository = os.path.join(work, "models")
    fp32 = tool("nnexport", checkpoint, "--repository", repository, "--name", "fp32")
    int8 = tool("nnexport", checkpoint, "--repository", repository, "--name", "int8", "--weights", "int8")
    return work, checkpoint, repository, fp32.stdout, int8.stdout


def test_export_measures_the_gate_on_the_validation_rows(exported):
    work, checkpoint, repository, fp32, int8 = exported
    assert "accuracy gate" not in fp32
    assert "accuracy gate on the run's 359 validation rows:" in int8, int8
    change = float(re.search(r"label\.accuracy change points (-?[\d.e-]+)", int8).group(1))
    assert change <= 0.3
    sizes = [os.path.getsize(os.path.join(repository, name, "1", "model.nnm")) for name in ("fp32", "int8")]
    assert sizes[1] < 0.5 * sizes[0], sizes

    # --data measures on the given rows; a budget nothing meets is refused, and nothing is written.
    with_data = tool("nnexport", checkpoint, "--repository", work, "--name", "int8-data", "--weights", "int8", "--data", DIGITS)
    assert "accuracy gate on 1797 rows of" in with_data.stdout
    # A budget is points or percent, never negative (a refusal's message: AccuracyGateTests).
    refused = tool("nnexport", checkpoint, "--repository", work, "--name", "refused", "--weights", "int8",
                   "--max-accuracy-drop=-1", check=False)
    assert refused.returncode != 0
    assert "--max-accuracy-drop must be a number of points or percent, 0 or more; got -1.0" in refused.stderr, refused.stderr
    assert not os.path.exists(os.path.join(work, "refused"))
    fp32_data = tool("nnexport", checkpoint, "--repository", work, "--weights", "fp32", "--data", DIGITS, check=False)
    assert fp32_data.returncode != 0 and "--data is for the accuracy gate of reduced --weights" in fp32_data.stderr


def test_inspect_explains_the_kernel_choice(exported):
    _, _, repository, _, _ = exported
    text = tool("nnexport", "inspect", os.path.join(repository, "int8", "1", "model.nnm"), "--explain").stdout
    assert "int8 weights" in text.splitlines()[0]
    assert "accuracy gate at export: label.accuracy_change_points" in text
    assert re.search(r"hidden1 64→128: (int8|fp32) \(8 rows int8 [\d.]+ µs, fp32 [\d.]+ µs; 64 rows int8", text), text
    assert "probabilities 128→10: fp32 (under 4096 weights, not timed)" in text


def test_nnserve_serves_the_int8_file_with_fp32s_classes(exported):
    _, _, repository, _, _ = exported
    rows = np.loadtxt(DIGITS, delimiter=",", skiprows=1, dtype=np.float32)
    pixels = rows[:, :64]
    process = subprocess.Popen([NNSERVE, repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        http = re.search(r"http (127\.0\.0\.1:\d+)", line).group(1)
        client = httpclient.InferenceServerClient(http)
        answers = {}
        for name in ("fp32", "int8"):
            request = httpclient.InferInput("pixels", list(pixels.shape), "FP32")
            request.set_data_from_numpy(pixels, binary_data=True)
            answers[name] = client.infer(name, [request]).as_numpy("label")
        changed = np.mean(answers["fp32"].argmax(axis=1) != answers["int8"].argmax(axis=1))
        assert changed <= 0.01, changed
        assert np.abs(answers["fp32"] - answers["int8"]).max() < 0.1
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0
    assert re.search(r"loaded int8 v1 in [\d.]+ ms", errors), errors
    assert "int8 v1 kernel choice: hidden1 64→128:" in errors, errors
