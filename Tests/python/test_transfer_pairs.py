"""The practice's techniques end to end with the real executables: an autoencoder's encoder
initializes a frozen classifier (--init-from, "trainable": false); pair files train a siamese
encoder whose pair metrics and one-shot accuracy nntrain reports; the exported two-input model
answers `nnclient predict` from one pair CSV or one file per input, as `nntrain predict` does."""
import csv
import json
import os
import re
import signal
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, ".build", "debug")
DIGITS = os.path.join(ROOT, "datasets", "digits.csv")


def run(tool, *args, cwd):
    result = subprocess.run([os.path.join(BUILD, tool), *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def split_digits(directory):
    """Digits 0-6 to train the encoder on; 7-9 held out, halved into support and queries."""
    with open(DIGITS) as source:
        rows = list(csv.reader(source))
    header, body = rows[0], rows[1:]
    seen = [r for r in body if int(float(r[-1])) < 7]
    held_out = [r for r in body if int(float(r[-1])) >= 7]
    for name, part in (("seen.csv", seen), ("support.csv", held_out[::2]), ("query.csv", held_out[1::2])):
        with open(directory / name, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(part)


def test_pretrained_encoder_initializes_a_frozen_classifier(tmp_path):
    run("nntrain", "fit", "--model", os.path.join(ROOT, "examples", "digits-autoencoder.json"), "--data", DIGITS,
        "--epochs", "3", "--checkpoint", "encoder.ckpt", cwd=tmp_path)
    result = run("nntrain", "fit", "--model", os.path.join(ROOT, "examples", "digits-from-encoder.json"), "--data", DIGITS,
                 "--epochs", "3", "--lr", "0.01", "--init-from", "encoder.ckpt", "--checkpoint", "classifier.ckpt", "--json", cwd=tmp_path)
    assert "--init-from encoder.ckpt: loaded 2 layers: encode1 (dense 64×64), code (dense 64×16)" in result.stderr
    assert "not used (not in this model): decode1, reconstruction" in result.stderr
    assert last_json(result)["val_accuracy"] > 0.5
    summary = run("nntrain", "summary", "classifier.ckpt", cwd=tmp_path).stdout
    assert re.search(r"^encode1 .*4160 \(frozen\)$", summary, re.M), summary
    assert "frozen layers (\"trainable\": false): code, encode1; frozen throughout" in summary
    assert "initialized from encoder.ckpt (--init-from)" in summary


def test_siamese_pairs_one_shot_and_multi_input_predict(tmp_path):
    split_digits(tmp_path)
    natural = run("nntrain", "pairs", "--data", "seen.csv", "--pairs", "4000", "--out", "natural.csv", cwd=tmp_path)
    share = float(re.search(r"\(([\d.]+)%\)", natural.stderr).group(1))
    assert 11 < share < 18, natural.stderr  # Σ p² of 7 even classes ≈ 14%
    balanced = run("nntrain", "pairs", "--data", "seen.csv", "--pairs", "4000", "--positive-fraction", "0.5",
                   "--out", "balanced.csv", cwd=tmp_path)
    assert 47 < float(re.search(r"\(([\d.]+)%\)", balanced.stderr).group(1)) < 53

    fit = run("nntrain", "fit", "--model", os.path.join(ROOT, "examples", "digits-siamese.json"), "--data", "balanced.csv",
              "--target", "similar", "--epochs", "8", "--lr", "0.01", "--checkpoint", "siamese.ckpt", "--json", cwd=tmp_path)
    assert "class weights of 'similar': 0 →" in fit.stderr
    metrics = last_json(fit)
    assert metrics["val_auc"] > 0.9, metrics
    assert 0 < metrics["val_precision"] <= 1 and 0 < metrics["val_recall"] <= 1

    one_shot = last_json(run("nntrain", "evaluate", "siamese.ckpt", "--one-shot", "--support", "support.csv", "--data", "query.csv",
                             "--episodes", "1000", "--json", cwd=tmp_path))
    assert one_shot["ways"] == 3 and abs(one_shot["one_shot_chance"] - 1 / 3) < 1e-9
    assert one_shot["one_shot_accuracy"] > 0.45, one_shot  # digits it never saw, well above chance

    run("nnexport", "siamese.ckpt", "--repository", "repo", "--name", "pairs", cwd=tmp_path)
    # The encoder alone, for single rows: its input renamed, its columns without the pair's left_.
    encoder = run("nnexport", "siamese.ckpt", "--repository", "repo", "--name", "encoder", "--until", "embedding",
                  "--rename-input", "left=pixels", cwd=tmp_path)
    assert "renamed input 'left' to 'pixels'" in encoder.stdout + encoder.stderr
    inspected = run("nnexport", "inspect", str(tmp_path / "repo" / "encoder" / "1" / "model.nnm"), cwd=tmp_path).stdout
    assert "input  pixels [rows, 64]" in inspected and "features, in order: px0, px1, px2," in inspected, inspected
    with open(os.path.join(ROOT, "datasets", "digits.csv")) as source:
        (tmp_path / "digits5.csv").write_text("".join(source.readlines()[:6]))
    with open(tmp_path / "balanced.csv") as source:
        lines = source.read().splitlines()[:6]
    (tmp_path / "five.csv").write_text("\n".join(lines) + "\n")
    header = lines[0].split(",")
    for side in ("left", "right"):
        columns = [i for i, name in enumerate(header) if name.startswith(side + "_")]
        rows = [[line.split(",")[i] for i in columns] for line in lines]
        (tmp_path / f"{side}.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    offline = run("nntrain", "predict", "siamese.ckpt", "--data", "five.csv", cwd=tmp_path).stdout.splitlines()[1:]

    server = subprocess.Popen([os.path.join(BUILD, "nnserve"), str(tmp_path / "repo"), "--port", "0", "--http-port=-1",
                               "--grpc-port=-1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = re.search(r"binary 127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1)
        for files in (["--csv", "five.csv"], ["--input", "left=left.csv", "--input", "right=right.csv"]):
            served = run("nnclient", "predict", "--port", port, "--model", "pairs", *files, cwd=tmp_path).stdout.splitlines()[1:]
            assert len(served) == 5
            for mine, theirs in zip(served, offline):
                for a, b in zip(mine.split(","), theirs.split(",")):
                    assert abs(float(a) - float(b)) <= 1e-5 * max(1, abs(float(b)))
        refused = subprocess.run([os.path.join(BUILD, "nnclient"), "predict", "--port", port, "--model", "pairs", "--csv", "left.csv"],
                                 cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert "left.csv has no column 'right_px0' (a feature of input 'right')" in refused.stderr
        embedded = run("nnclient", "predict", "--port", port, "--model", "encoder", "--data", "digits5.csv", cwd=tmp_path).stdout.splitlines()
        assert embedded[0] == ",".join(f"embedding_{i}" for i in range(16)) and len(embedded) == 6, embedded
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
