"""The examples of the README and docs/TRAINING.md run as written (issue 27: "the README's two
commands and the docs' examples still run as written"). The README's `nnclient` session runs
against a real server; the quick reference at the top of docs/TRAINING.md runs line by line
in a scratch directory with the repository's datasets and examples, except the lines that
need files the section does not make (listed below, each with why)."""
import os
import re
import shlex
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, ".build", "debug")

# Lines of the TRAINING.md quick reference that stand for a user's own files or runs.
NEEDS_OTHER_FILES = {
    "nntrain fit … --early-stopping-patience": "'…' stands for the flags of the lines above",
    "nntrain fit … --logdir": "'…' stands for the flags of the lines above (TensorBoard: test_tensorboard_logs.py)",
    "nntrain fit --model m.json --data export.csv": "a user's ';'-separated file (test_raw_rows.py covers delimiters)",
    "nntrain fit --model examples/digits-from-encoder.json": "needs encoder.ckpt (test_transfer_pairs.py)",
    "nntrain evaluate siamese.ckpt": "needs a siamese run and support/query files (test_transfer_pairs.py)",
}


def quick_reference():
    with open(os.path.join(ROOT, "docs", "TRAINING.md")) as file:
        block = file.read().split("```\n", 2)[1]
    lines, pending = [], ""
    for line in block.splitlines():
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(pending.split("   #")[0].split("  #")[0].strip())
            pending = ""
    return [line for line in lines if line]


def test_the_training_quick_reference_runs_as_written(tmp_path):
    for name in ("datasets", "examples"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    with open(os.path.join(ROOT, "datasets", "digits.csv")) as file:
        digits = file.readlines()
    (tmp_path / "test.csv").write_text("".join(digits[:1] + digits[1:200]))
    (tmp_path / "rows.csv").write_text("".join(digits[:6]))
    (tmp_path / "labeled.csv").write_text("".join(digits))
    ran = []
    for line in quick_reference():
        if any(line.startswith(prefix) for prefix in NEEDS_OTHER_FILES):
            continue
        arguments = shlex.split(line)
        assert arguments[0] == "nntrain", line
        result = subprocess.run([os.path.join(BUILD, "nntrain"), *arguments[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{line}\n{result.stderr[-2000:]}"
        ran.append(line)
    assert len(ran) + len(NEEDS_OTHER_FILES) == len(quick_reference()), "every line is run or listed with its reason"
    assert (tmp_path / "lr-find.svg").exists() and (tmp_path / "predictions.csv").exists() and (tmp_path / "pairs.csv").exists()


def test_the_readme_client_session_runs_as_written(server, tmp_path):
    with open(os.path.join(ROOT, "README.md")) as file:
        readme = file.read()
    session = readme.split("$ .build/release/nnclient models", 1)[1].split("```", 1)[0]
    command = re.search(r"\$ (head -4 datasets/diamonds.csv > rows.csv && \.build/release/nnclient predict .*)", session).group(1)
    printed = session.split(command, 1)[1].strip().splitlines()
    os.symlink(os.path.join(ROOT, "datasets"), tmp_path / "datasets")
    os.makedirs(tmp_path / ".build" / "release")
    os.symlink(os.path.join(BUILD, "nnclient"), tmp_path / ".build" / "release" / "nnclient")
    result = subprocess.run(command + f" --port {server.binary_port}", shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == printed[0] == "price"
    assert float(lines[1]) == pytest.approx(float(printed[1]), rel=1e-5)
    assert len(lines) == 4, "three rows under the header"
    assert "note:" not in result.stderr, "the README uses the current spellings"
