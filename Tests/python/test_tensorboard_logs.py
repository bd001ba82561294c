"""nntrain fit --logdir: the event files, read back by TensorBoard's own reader, hold the
values the run printed, and their records pass TensorBoard's CRC-32C checks."""
import glob
import os
import re
import subprocess

import pytest

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NNTRAIN = os.environ.get("NNTRAIN", os.path.join(ROOT, ".build", "debug", "nntrain"))
EPOCHS = 3
RATE = 0.003


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Trains digits for a few epochs with --logdir; returns (logdir, printed epochs)."""
    work = tmp_path_factory.mktemp("tensorboard")
    logdir = str(work / "logs")
    result = subprocess.run(
        [NNTRAIN, "fit", "--model", os.path.join(ROOT, "examples", "digits.json"),
         "--data", os.path.join(ROOT, "datasets", "digits.csv"), "--epochs", str(EPOCHS),
         "--lr", str(RATE), "--checkpoint", str(work / "run.ckpt"), "--logdir", logdir],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = {}
    for line in result.stderr.splitlines():
        match = re.match(r"epoch (\d+)/\d+  (.*)  \(", line)
        if match:
            values = match.group(2).split("  ")
            printed[int(match.group(1))] = {k: float(v) for k, v in (item.split(" ") for item in values)}
    assert sorted(printed) == list(range(1, EPOCHS + 1)), result.stderr
    return logdir, printed


def accumulator(directory):
    loaded = event_accumulator.EventAccumulator(
        directory, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0})
    loaded.Reload()
    return loaded


def records(path):
    """Every record of an event file through TensorBoard's reader, which checks both CRCs."""
    reader = pywrap_tensorflow.PyRecordReader_New(path)
    events = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return events
        event = event_pb2.Event()
        event.ParseFromString(reader.record())
        events.append(event)


def test_every_record_passes_tensorboards_checksums(run):
    logdir, _ = run
    for side in ("train", "validation"):
        (path,) = glob.glob(os.path.join(logdir, side, "events.out.tfevents.*"))
        events = records(path)
        assert events[0].file_version == "brain.Event:2"
        assert [e.step for e in events[1:] if e.summary.value] == sorted(e.step for e in events[1:] if e.summary.value)


def test_a_flipped_byte_fails_the_check(run, tmp_path):
    logdir, _ = run
    (path,) = glob.glob(os.path.join(logdir, "validation", "events.out.tfevents.*"))
    data = bytearray(open(path, "rb").read())
    data[-6] ^= 0x01
    broken = tmp_path / "events.out.tfevents.0.broken"
    broken.write_bytes(bytes(data))
    with pytest.raises(errors.DataLossError):
        records(str(broken))


def test_scalars_are_the_values_the_run_printed(run):
    logdir, printed = run
    train = accumulator(os.path.join(logdir, "train"))
    validation = accumulator(os.path.join(logdir, "validation"))
    assert set(train.Tags()["scalars"]) == {"loss", "learning_rate"}
    assert set(validation.Tags()["scalars"]) == {"loss", "accuracy", "top3_accuracy"}
    for event in train.Scalars("loss"):
        assert event.value == pytest.approx(printed[event.step]["loss"], abs=5e-5)
    for tag in ("loss", "accuracy", "top3_accuracy"):
        steps = [e.step for e in validation.Scalars(tag)]
        assert steps == list(range(1, EPOCHS + 1))
        for event in validation.Scalars(tag):
            assert event.value == pytest.approx(printed[event.step]["val_" + tag], abs=5e-5)
    assert [e.value for e in train.Scalars("learning_rate")] == pytest.approx([RATE] * EPOCHS)


def test_histograms_cover_every_weight_and_activation(run):
    logdir, _ = run
    train = accumulator(os.path.join(logdir, "train"))
    tags = set(train.Tags()["histograms"])
    assert {"hidden1/weights", "hidden1/bias", "hidden1/activations"} <= tags
    for tag in tags:
        events = train.Histograms(tag)
        assert [e.step for e in events] == list(range(1, EPOCHS + 1)), tag
        for event in events:
            histogram = event.histogram_value
            assert sum(histogram.bucket) == histogram.num, tag
            assert histogram.min <= histogram.max
    # digits: 64 pixels into hidden1's units.
    weights = train.Histograms("hidden1/weights")[0].histogram_value
    bias = train.Histograms("hidden1/bias")[0].histogram_value
    assert weights.num == 64 * bias.num
    # Batch norm's γ and β, one value per unit of bn1 (as many as hidden1's biases).
    assert {"bn1/gamma", "bn1/beta"} <= tags
    gamma = train.Histograms("bn1/gamma")[-1].histogram_value
    assert gamma.num == bias.num
    assert train.Histograms("bn1/beta")[-1].histogram_value.num == bias.num
