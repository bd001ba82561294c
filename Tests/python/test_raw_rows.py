"""Raw tables end to end: nntrain fits the three raw datasets (strings, gaps, quoted fields,
text labels) from their example model files, nnexport writes them, nnserve serves them, and
the same raw CSV rows sent over every protocol — tritonclient HTTP (JSON and the binary
extension), tritonclient gRPC (raw_input_contents), gRPC typed bytes_contents, the binary
protocol through nnserve_client — get the predictions `nntrain predict` gives on that CSV.
Then drift: rows drawn from the training file keep every column's drift index low; shifted
rows push the shifted column past the alert threshold, and the counters show the gaps,
unknown categories and out-of-range numbers."""
import csv
import io
import os
import re
import signal
import subprocess
import sys
import tempfile

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.grpc import service_pb2, service_pb2_grpc

from conftest import NNSERVE, ROOT

sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from nnserve_client import Client, NNServeError  # noqa: E402

BUILD = os.path.dirname(NNSERVE)
DATASETS = os.path.join(ROOT, "datasets")
# model name -> (model file, data file, epochs, output)
RUNS = {
    "titanic": ("titanic.json", "titanic.csv", 5, "survived"),
    "penguins": ("penguins.json", "penguins.csv", 5, "species"),
    "diamonds": ("diamonds.json", "diamonds_raw.csv", 1, "price"),
}
DRIFT_WINDOW = 200


def read_csv(path):
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def raw_server():
    work = tempfile.mkdtemp(prefix="nnserve-raw-")
    repository = os.path.join(work, "models")
    expected = {}
    for name, (model_file, data_file, epochs, _) in RUNS.items():
        data = os.path.join(DATASETS, data_file)
        checkpoint = os.path.join(work, f"{name}.ckpt")
        subprocess.run([os.path.join(BUILD, "nntrain"), "fit", "--model", os.path.join(ROOT, "examples", model_file), "--data", data,
                        "--epochs", str(epochs), "--checkpoint", checkpoint], check=True, capture_output=True)
        subprocess.run([os.path.join(BUILD, "nnexport"), checkpoint, "--repository", repository, "--name", name],
                       check=True, capture_output=True)
        predicted = subprocess.run([os.path.join(BUILD, "nntrain"), "predict", checkpoint, "--data", data],
                                   check=True, capture_output=True, text=True).stdout
        expected[name] = list(csv.DictReader(io.StringIO(predicted)))
    process = subprocess.Popen([NNSERVE, repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0",
                                "--drift-window-rows", str(DRIFT_WINDOW)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    ports = {
        "http": re.search(r"http (127\.0\.0\.1:\d+)", line).group(1),
        "grpc": re.search(r"grpc (127\.0\.0\.1:\d+)", line).group(1),
        "binary": int(re.search(r"binary 127\.0\.0\.1:(\d+)", line).group(1)),
    }
    yield ports, expected
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def columns_of(name):
    """The model's raw columns (from the served metadata) and the CSV's rows, as written."""
    header, rows = read_csv(os.path.join(DATASETS, RUNS[name][1]))
    return header, rows


def expected_values(expected, name, rows):
    output = RUNS[name][3]
    fields = [key for key in expected[name][0] if key == output or re.fullmatch(rf"{output}_\d+", key)]
    return np.array([[float(row[key]) for key in fields] for row in expected[name][:rows]], dtype=np.float32)


def served_columns(ports, name):
    metadata = requests.get(f"http://{ports['http']}/v2/models/{name}").json()
    return metadata, [tensor["name"] for tensor in metadata["inputs"]]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_metadata_names_every_column_with_its_kind(raw_server, name):
    ports, _ = raw_server
    metadata, columns = served_columns(ports, name)
    kinds = {column["name"]: column for column in metadata["columns"]}
    assert set(kinds) == set(columns)
    for tensor in metadata["inputs"]:
        kind = kinds[tensor["name"]]["kind"]
        assert tensor["datatype"] == ("BYTES" if kind == "categorical" else "FP32") and tensor["shape"] == [-1, 1]
        if kind == "categorical":
            assert kinds[tensor["name"]]["categories"] > 0
    if name == "titanic":
        assert metadata["labels"] == {"survived": ["no", "yes"]}
        assert kinds["sex"] == {"name": "sex", "kind": "categorical", "categories": 2}
    if name == "penguins":
        assert metadata["labels"] == {"species": ["Adelie", "Chinstrap", "Gentoo"]}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_same_raw_rows_get_nntrain_predicts_answers_on_every_protocol(raw_server, name):
    ports, expected = raw_server
    header, rows = columns_of(name)
    rows = rows[:300]
    _, columns = served_columns(ports, name)
    output = RUNS[name][3]
    want = expected_values(expected, name, len(rows))
    text = {column: np.array([[row[header.index(column)]] for row in rows], dtype=np.object_) for column in columns}

    def close(got, how):
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-4 * max(1, float(np.abs(want).max())), err_msg=how)

    # tritonclient HTTP, JSON and the binary tensor extension: every field as the CSV wrote it.
    http = httpclient.InferenceServerClient(ports["http"])
    for binary in (False, True):
        inputs = []
        for column in columns:
            tensor = httpclient.InferInput(column, [len(rows), 1], "BYTES")
            tensor.set_data_from_numpy(text[column], binary_data=binary)
            inputs.append(tensor)
        result = http.infer(name, inputs, outputs=[httpclient.InferRequestedOutput(output, binary_data=binary)])
        close(result.as_numpy(output), f"tritonclient HTTP binary={binary}")
    # tritonclient gRPC: BYTES in raw_input_contents.
    client = grpcclient.InferenceServerClient(ports["grpc"])
    inputs = []
    for column in columns:
        tensor = grpcclient.InferInput(column, [len(rows), 1], "BYTES")
        tensor.set_data_from_numpy(text[column])
        inputs.append(tensor)
    close(client.infer(name, inputs).as_numpy(output), "tritonclient gRPC")
    # gRPC typed contents: bytes_contents, numbers of gap-free numeric columns as fp32_contents.
    request = service_pb2.ModelInferRequest(model_name=name)
    metadata, _ = served_columns(ports, name)
    kinds = {column["name"]: column["kind"] for column in metadata["columns"]}
    for column in columns:
        tensor = request.inputs.add(name=column, shape=[len(rows), 1])
        fields = [row[header.index(column)] for row in rows]
        if kinds[column] == "numeric" and all(fields):
            tensor.datatype = "FP32"
            tensor.contents.fp32_contents.extend(float(field) for field in fields)
        else:
            tensor.datatype = "BYTES"
            tensor.contents.bytes_contents.extend(field.encode() for field in fields)
    with grpc.insecure_channel(ports["grpc"]) as channel:
        reply = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    close(np.frombuffer(reply.raw_output_contents[0], dtype=np.float32) if reply.raw_output_contents
          else np.array(reply.outputs[0].contents.fp32_contents, dtype=np.float32), "gRPC bytes_contents")
    # The binary protocol, through nnserve_client: strings as text, gaps as None.
    with Client("127.0.0.1", ports["binary"], timeout=30) as binary:
        got = binary.predict_rows(name, {column: [row[header.index(column)] or None for row in rows] for column in columns})
        close(got, "binary protocol")


def test_predict_frame_answers_labels_like_nntrain_predict(raw_server):
    pandas = pytest.importorskip("pandas")
    ports, expected = raw_server
    frame = pandas.read_csv(os.path.join(DATASETS, "penguins.csv"))
    with Client("127.0.0.1", ports["binary"], timeout=30) as client:
        table = client.predict_frame("penguins", frame)
    assert list(table["species_label"]) == [row["species_label"] for row in expected["penguins"]]


def test_binary_head_classification_carries_labels(raw_server):
    ports, expected = raw_server
    header, rows = columns_of("titanic")
    body = {"inputs": [{"name": column, "datatype": "BYTES", "shape": [3, 1], "data": [row[header.index(column)] or None for row in rows[:3]]}
                       for column in ("sex", "age", "passengerClass")],
            "outputs": [{"name": "survived", "parameters": {"classification": 2}}]}
    reply = requests.post(f"http://{ports['http']}/v2/models/titanic/infer", json=body)
    assert reply.status_code == 200, reply.text
    classes = reply.json()["outputs"][0]["data"]
    for row in range(3):
        top = classes[row * 2].split(":")
        assert top[2] == expected["titanic"][row]["survived_label"]
        assert {classes[row * 2].split(":")[2], classes[row * 2 + 1].split(":")[2]} == {"no", "yes"}


def test_bad_values_are_refused_naming_the_column_and_row_without_disturbing_others(raw_server):
    ports, _ = raw_server
    url = f"http://{ports['http']}/v2/models/titanic/infer"

    def body(sex, age, klass="1st", datatype="BYTES"):
        return {"inputs": [{"name": "sex", "datatype": "BYTES", "shape": [len(sex), 1], "data": sex},
                           {"name": "age", "datatype": datatype, "shape": [len(age), 1], "data": age},
                           {"name": "passengerClass", "datatype": "BYTES", "shape": [len(sex), 1], "data": [klass] * len(sex)}]}
    reply = requests.post(url, json=body(["female", "male"], ["29", "twenty"]))
    assert reply.status_code == 400 and reply.json()["error"] == "input 'age' row 1: 'twenty' is not a number (column 'age' is numeric)"
    reply = requests.post(url, json=body(["x" * 300], ["29"]))
    assert reply.status_code == 400 and "a category of 300 bytes (column 'sex')" in reply.json()["error"]
    reply = requests.post(url, json=body(["female"], [1.5], datatype="INT32"))
    assert reply.status_code == 400 and reply.json()["error"] == "input 'age' element 0 is 1.5, not a valid INT32 value"
    # Not UTF-8, in the binary tensor extension.
    binary = b"\x02\x00\x00\x00\xff\xfe"
    header = ('{"inputs":[{"name":"sex","datatype":"BYTES","shape":[1,1],"parameters":{"binary_data_size":%d}},'
              '{"name":"age","datatype":"BYTES","shape":[1,1],"data":["3"]},'
              '{"name":"passengerClass","datatype":"BYTES","shape":[1,1],"data":["1st"]}]}' % len(binary)).encode()
    reply = requests.post(url, data=header + binary, headers={"Inference-Header-Content-Length": str(len(header))})
    assert reply.status_code == 400 and reply.json()["error"] == "input 'sex' element 0 is not UTF-8 text"
    # Gaps and unknown categories are answered, not refused.
    reply = requests.post(url, json=body([None, "robot"], [None, "40"], klass="9th"))
    assert reply.status_code == 200, reply.text
    # A column left out is named.
    with Client("127.0.0.1", ports["binary"], timeout=30) as client, pytest.raises(NNServeError) as refused:
        client.predict_rows("titanic", {"sex": ["female"], "age": ["29"]})
    assert "input 'passengerClass' is missing" in str(refused.value)


def metrics(ports, model):
    text = requests.get(f"http://{ports['http']}/metrics").text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("model") == model and "column" in sample.labels:
                values[(sample.name, sample.labels["column"])] = sample.value
    return values


def test_drift_stays_low_on_training_rows_and_crosses_the_threshold_on_shifted_rows(raw_server):
    ports, _ = raw_server
    header, rows = columns_of("titanic")
    columns = ("sex", "age", "passengerClass")
    rng = np.random.default_rng(7)
    url = f"http://{ports['http']}/v2/models/titanic/infer"

    def send(chosen):
        for start in range(0, len(chosen), 50):
            batch = chosen[start:start + 50]
            body = {"inputs": [{"name": column, "datatype": "BYTES", "shape": [len(batch), 1],
                                "data": [row[header.index(column)] for row in batch]} for column in columns]}
            assert requests.post(url, json=body).status_code == 200

    before = metrics(ports, "titanic")
    send([rows[i] for i in rng.integers(0, len(rows), 2 * DRIFT_WINDOW)])
    drawn = metrics(ports, "titanic")
    for column in columns:
        assert drawn[("nnserve_column_drift_psi", column)] < 0.25, (column, drawn)
        assert drawn[("nnserve_column_drift_window_rows", column)] >= DRIFT_WINDOW * 9 // 10
    gaps = sum(1 for row in rows if not row[header.index("age")])
    assert drawn[("nnserve_column_missing_total", "age")] > before.get(("nnserve_column_missing_total", "age"), 0)
    assert gaps > 0
    # Sixty years older, and a class the model never saw.
    shifted = [row[:header.index("age")] + [str(float(row[header.index("age")]) + 60) if row[header.index("age")] else ""]
               + row[header.index("age") + 1:] for row in rows]
    shifted = [row[:header.index("passengerClass")] + ["crew"] for row in shifted]
    send([shifted[i] for i in rng.integers(0, len(shifted), 2 * DRIFT_WINDOW)])
    after = metrics(ports, "titanic")
    assert after[("nnserve_column_drift_psi", "age")] > 0.25, after
    assert after[("nnserve_column_drift_psi", "passengerClass")] > 0.25, after
    assert after[("nnserve_column_drift_psi", "sex")] < 0.25, after
    assert after[("nnserve_column_outside_training_range_total", "age")] > drawn[("nnserve_column_outside_training_range_total", "age")]
    assert after[("nnserve_column_unknown_categories_total", "passengerClass")] - drawn[("nnserve_column_unknown_categories_total", "passengerClass")] == 2 * DRIFT_WINDOW


C_RAW_ROWS = r"""
#include <stdio.h>
#include "nnserve.h"

/* Three titanic rows as their CSV wrote them: a gap as NULL, another as "". */
int main(int argc, char **argv) {
    (void)argc;
    nnserve_client *client;
    char error[256];
    if (nnserve_connect("127.0.0.1", atoi(argv[1]), 10000, &client, error, sizeof error) != NNSERVE_OK) return fprintf(stderr, "%s\n", error), 1;
    const char *sex[] = {"female", "male", "female"};
    const char *age[] = {"29.0", NULL, ""};
    const char *klass[] = {"1st", "3rd", "2nd"};
    nnserve_input inputs[] = {
        {.name = "sex", .rows = 3, .width = 1, .text = sex},
        {.name = "age", .rows = 3, .width = 1, .text = age},
        {.name = "passengerClass", .rows = 3, .width = 1, .text = klass},
    };
    nnserve_result result;
    if (nnserve_predict(client, "titanic", inputs, 3, &result) != NNSERVE_OK) return fprintf(stderr, "%s\n", nnserve_last_error(client)), 1;
    for (int64_t row = 0; row < result.outputs[0].rows; row++) printf("%.9g\n", result.outputs[0].data[row]);
    nnserve_result_free(&result);
    nnserve_close(client);
    return 0;
}
"""


def test_the_c_client_sends_raw_columns(raw_server, tmp_path):
    ports, _ = raw_server
    client = os.path.join(ROOT, "clients", "c")
    subprocess.run(["make", "-C", client], check=True, capture_output=True, timeout=300)
    source = tmp_path / "raw_rows.c"
    source.write_text("#include <stdlib.h>\n" + C_RAW_ROWS)
    program = str(tmp_path / "raw_rows")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-I", os.path.join(client, "include"), str(source),
                    os.path.join(client, "build", "libnnserve.a"), "-lprotobuf-c", "-o", program], check=True, capture_output=True)
    got = [float(line) for line in subprocess.run([program, str(ports["binary"])], check=True, capture_output=True, text=True).stdout.split()]
    body = {"inputs": [{"name": "sex", "datatype": "BYTES", "shape": [3, 1], "data": ["female", "male", "female"]},
                       {"name": "age", "datatype": "BYTES", "shape": [3, 1], "data": ["29.0", None, "NA"]},
                       {"name": "passengerClass", "datatype": "BYTES", "shape": [3, 1], "data": ["1st", "3rd", "2nd"]}]}
    want = requests.post(f"http://{ports['http']}/v2/models/titanic/infer", json=body).json()["outputs"][0]["data"]
    np.testing.assert_array_equal(np.array(got, dtype=np.float32), np.array(want, dtype=np.float32))


def test_nnclient_predict_sends_a_raw_csv(raw_server, tmp_path):
    """`nnclient predict --csv` on titanic rows as the file writes them (a quoted name with a
    comma, an empty age), and the same rows separated by ';'."""
    ports, expected = raw_server
    with open(os.path.join(DATASETS, "titanic.csv"), newline="") as file:
        lines = file.read().splitlines(keepends=True)[:21]
    path = tmp_path / "rows.csv"
    path.write_text("".join(lines))
    header, rows = read_csv(str(path))
    semicolons = tmp_path / "rows-semicolon.csv"
    with open(semicolons, "w", newline="") as file:
        csv.writer(file, delimiter=";").writerows([header] + rows)
    nnclient = os.path.join(BUILD, "nnclient")
    for arguments in ([str(path)], [str(semicolons), "--delimiter", ";"]):
        output = subprocess.run([nnclient, "predict", "--port", str(ports["binary"]), "--model", "titanic", "--data", *arguments],
                                check=True, capture_output=True, text=True).stdout.splitlines()
        assert output[0] == "survived,survived_label"
        got = [line.split(",") for line in output[1:]]
        assert len(got) == 20
        want = expected["titanic"][:20]
        np.testing.assert_allclose([float(row[0]) for row in got], [float(row["survived"]) for row in want], rtol=1e-4)
        assert [row[1] for row in got] == [row["survived_label"] for row in want]


def test_a_drift_window_of_no_rows_is_refused():
    result = subprocess.run([NNSERVE, os.path.join(ROOT, "models"), "--drift-window-rows", "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--drift-window-rows 0: the drift window holds at least 1 value per column" in result.stderr
