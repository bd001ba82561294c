"""nntrain tune for real: a study killed with SIGKILL mid-run continues with --resume to the
result of an uninterrupted one (read from the study database with sqlite3), and its best
checkpoint exports and serves the predictions nntrain predict gives."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, ".build", "debug")
STUDY = ["--space", os.path.join(ROOT, "examples", "digits-space.json"),
         "--model", os.path.join(ROOT, "examples", "digits.json"),
         "--data", os.path.join(ROOT, "datasets", "digits.csv"),
         "--population", "4", "--epochs-per-generation", "1", "--monitor", "val_accuracy", "--seed", "5", "--json"]


def tune(directory, *extra):
    result = subprocess.run([os.path.join(BUILD, "nntrain"), "tune", *extra], cwd=directory,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def members(database):
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT m.generation, m.member, m.value, m.replaced_by, h.name, h.value, h.text FROM member m "
            "JOIN hyperparameter h USING (generation, member) ORDER BY 1, 2, 5").fetchall()


def committed(database):
    try:
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT count(*) FROM generation").fetchone()[0]
    except sqlite3.Error:
        return 0


def part_trained(generation_directory):
    try:
        return any(p.name.endswith(".progress.ckpt") for p in generation_directory.iterdir())
    except OSError:  # not made yet, or removed once committed
        return False


def test_a_killed_study_resumes_to_the_uninterrupted_result(tmp_path):
    whole = tmp_path / "whole"
    whole.mkdir()
    reference = tune(whole, *STUDY, "--generations", "6", "--workers", "2", "--study", "study.db")

    killed = tmp_path / "killed"
    killed.mkdir()
    process = subprocess.Popen([os.path.join(BUILD, "nntrain"), "tune", *STUDY, "--generations", "6", "--workers", "2", "--study", "study.db"],
                               cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Killed mid-generation: some members of generation 3 have finished their epoch, the
    # generation is not committed.
    progress = killed / "study.db.members" / "g2"
    deadline = time.time() + 300
    while not part_trained(progress) and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    was_running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    if was_running:
        assert committed(killed / "study.db") == 2, "killed during the third generation"
    # `nntrain resume study.db` is `nntrain tune --resume study.db` (resume CKPT vs tune --resume DB).
    resumed = json.loads(subprocess.run([os.path.join(BUILD, "nntrain"), "resume", "study.db", "--json"], cwd=killed,
                                        capture_output=True, text=True, timeout=600, check=True).stdout.strip().splitlines()[-1])
    assert resumed == reference
    assert members(killed / "study.db") == members(whole / "study.db")


def test_the_best_checkpoint_exports_and_serves_what_nntrain_predicts(tmp_path):
    best = tune(tmp_path, *STUDY, "--generations", "2", "--study", "study.db", "--out", "best.ckpt")
    subprocess.run([os.path.join(BUILD, "nnexport"), "best.ckpt", "--repository", "models", "--name", "tuned"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    with open(os.path.join(ROOT, "datasets", "digits.csv")) as csv:
        header, *rows = [line.strip() for line in csv][:4]
    (tmp_path / "rows.csv").write_text("\n".join([header, *rows]) + "\n")
    predicted = subprocess.run([os.path.join(BUILD, "nntrain"), "predict", "best.ckpt", "--data", "rows.csv"],
                               cwd=tmp_path, check=True, capture_output=True, text=True, timeout=120).stdout.splitlines()
    expected = [[float(v) for v in line.split(",")[:10]] for line in predicted[1:]]

    server = subprocess.Popen([os.path.join(BUILD, "nnserve"), "models", "--port", "0", "--http-port", "0", "--grpc-port", "0"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = re.search(r"http 127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1)
        pixels = [float(v) for row in rows for v in row.split(",")[:64]]
        response = requests.post(f"http://127.0.0.1:{port}/v2/models/tuned/infer", timeout=30,
                                 json={"inputs": [{"name": "pixels", "shape": [3, 64], "datatype": "FP32", "data": pixels}]})
        assert response.status_code == 200, response.text
        served = response.json()["outputs"][0]["data"]
        for row in range(3):
            for column in range(10):
                assert abs(served[row * 10 + column] - expected[row][column]) <= 1e-5 + 1e-4 * abs(expected[row][column])
        assert best["value"] > 0.5
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_ctrl_c_stops_after_the_current_epoch_and_resumes(tmp_path):
    whole = tmp_path / "whole"
    whole.mkdir()
    reference = tune(whole, *STUDY, "--generations", "4", "--study", "study.db")
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    process = subprocess.Popen([os.path.join(BUILD, "nntrain"), "tune", *STUDY, "--generations", "4", "--study", "study.db"],
                               cwd=stopped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while committed(stopped / "study.db") < 1 and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode != 0:  # the signal arrived before the study ended
        assert process.returncode == 130, stderr
        assert "stopping after the current epoch" in stderr
        assert "continue with: nntrain tune --resume study.db" in stderr
    assert tune(stopped, "--resume", "study.db", "--json") == reference


def test_a_study_killed_as_it_starts_leaves_a_whole_database_or_none(tmp_path):
    """Killed in its first moments (before, while or after its database is made): either there
    is no study.db and the command that started it starts it again, or --resume continues it."""
    for index, delay in enumerate([0.0, 0.02, 0.05, 0.1, 0.2, 0.4]):
        directory = tmp_path / f"k{index}"
        directory.mkdir()
        process = subprocess.Popen([os.path.join(BUILD, "nntrain"), "tune", *STUDY, "--generations", "1", "--study", "study.db"],
                                   cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if (directory / "study.db").exists():
            assert tune(directory, "--resume", "study.db", "--json")["value"] is not None
        else:
            refused = subprocess.run([os.path.join(BUILD, "nntrain"), "tune", "--resume", "study.db"], cwd=directory,
                                     capture_output=True, text=True, timeout=60)
            assert refused.returncode == 64 and "no such study database" in refused.stderr, refused.stderr
            assert tune(directory, *STUDY, "--generations", "1", "--study", "study.db")["value"] is not None


def test_a_refused_study_leaves_nothing_and_the_tables_number_generations_as_printed(tmp_path):
    """Issue 27's first hour: a study refused before it starts left an empty .db (which the next
    --resume then tripped over); the report did not name the checkpoint it wrote; the database
    numbered generations from 0 where the screen says 1."""
    refused_flags = [flag if flag != "val_accuracy" else "val_acuracy" for flag in STUDY]
    refused = subprocess.run([os.path.join(BUILD, "nntrain"), "tune", *refused_flags, "--generations", "1", "--study", "refused.db"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "val_acuracy" in refused.stderr, refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing is left behind"

    result = subprocess.run([os.path.join(BUILD, "nntrain"), "tune", *STUDY, "--generations", "2", "--study", "study.db", "--out", "best.ckpt"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert re.search(r"lineage of member \d+, whose weights best\.ckpt holds", result.stdout), result.stdout
    assert "generation 2/2" in result.stderr
    with sqlite3.connect(tmp_path / "study.db") as connection:
        assert connection.execute("SELECT generation, generation_number FROM generation_numbered ORDER BY 1").fetchall() == [(0, 1), (1, 2)]
        assert {row[0] for row in connection.execute("SELECT generation_number FROM member_numbered")} == {1, 2}
