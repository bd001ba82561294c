#!/usr/bin/env python3
"""Builds the ONNX fixtures of Tests/NNOnnxTests/Fixtures with real exporters, and what ONNX
Runtime answers on them, so the test suite checks the importer without PyTorch at run time.

  pip install torch onnx onnxruntime onnxscript scikit-learn skl2onnx
  python3 ops/onnx-fixtures.py        # rewrites the fixtures; commit them

Each `NAME.onnx` (+ `NAME.onnx.data` for external data) has `NAME.json`: the input rows, ONNX
Runtime's outputs for them, and the versions that made them. `refused/NAME.onnx` are files
the importer must refuse; `refused/NAME.json` holds a phrase the refusal must contain.
"""
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

warnings.filterwarnings("ignore")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NNOnnxTests", "Fixtures")
RNG = np.random.default_rng(7)


def record(name, rows, note, batch_one=False):
    """Runs ONNX Runtime on `rows` (one row at a time for a fixed batch of 1) and writes NAME.json."""
    path = os.path.join(ROOT, f"{name}.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    if batch_one:
        results = [session.run(None, {input_name: rows[i:i + 1]}) for i in range(len(rows))]
        answers = [np.concatenate([r[k] for r in results]) for k in range(len(outputs))]
    else:
        answers = session.run(None, {input_name: rows})
    fixture = {
        "note": note,
        "made_with": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, **made_with()},
        "inputs": {input_name: {"shape": list(rows.shape), "values": rows.reshape(-1).tolist()}},
        "outputs": {},
    }
    for output, answer in zip(outputs, answers):
        if answer.dtype != np.float32:
            continue  # class labels: the importer leaves them out and the test checks that
        answer = answer.reshape(len(rows), -1)
        fixture["outputs"][output] = {"shape": list(answer.shape), "values": answer.reshape(-1).tolist()}
    with open(os.path.join(ROOT, f"{name}.json"), "w") as f:
        json.dump(fixture, f, indent=1)
    print(f"{name}: {os.path.getsize(path)} bytes, outputs {list(fixture['outputs'])}")


def made_with():
    versions = {}
    for module in ("torch", "sklearn", "skl2onnx"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    return versions


def torch_fixtures():
    import torch
    import torch.nn as nn

    torch.manual_seed(3)

    class Tabular(nn.Module):
        """Batch norm, ReLU, a GELU residual block, softplus, a flattening view, softmax."""

        def __init__(self):
            super().__init__()
            self.a, self.bn, self.b, self.c = nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 16), nn.Linear(16, 3)
            self.drop = nn.Dropout(0.3)

        def forward(self, x):
            h = self.drop(torch.relu(self.bn(self.a(x))))
            h = nn.functional.gelu(self.b(h)) + h
            h = nn.functional.softplus(h)
            h = h.view(h.size(0), -1)
            return torch.softmax(self.c(h), dim=-1)

    class Activations(nn.Module):
        """Every other activation, two branches concatenated, constants, a regression output."""

        def __init__(self):
            super().__init__()
            self.left, self.right = nn.Linear(6, 10), nn.Linear(6, 10)
            self.mid, self.out = nn.Linear(20, 12), nn.Linear(12, 2)

        def forward(self, x):
            x = (x - 0.5) / 2.0
            left = nn.functional.leaky_relu(self.left(x), 0.2)
            right = nn.functional.elu(self.right(x), alpha=0.7)
            h = torch.cat([left, right], dim=1)
            h = torch.selu(self.mid(h)).unsqueeze(1).squeeze(1)
            h = torch.sigmoid(h) * 3.0
            return self.out(h)

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))

        def forward(self, x):
            return self.net(x)

    tabular = Tabular()
    with torch.no_grad():  # running statistics a trained network would have
        tabular.bn.running_mean.copy_(torch.randn(16) * 0.3)
        tabular.bn.running_var.copy_(torch.rand(16) + 0.5)
        tabular.bn.weight.copy_(torch.rand(16) + 0.5)
        tabular.bn.bias.copy_(torch.randn(16) * 0.1)
    tabular.eval()
    rows = RNG.normal(size=(6, 8)).astype(np.float32)
    example = (torch.from_numpy(rows),)
    dynamic = {"x": {0: "batch"}, "probabilities": {0: "batch"}}
    for opset in (13, 17):
        torch.onnx.export(tabular, example, os.path.join(ROOT, f"torch_script_opset{opset}.onnx"), input_names=["x"],
                          output_names=["probabilities"], dynamic_axes=dynamic, opset_version=opset, dynamo=False)
        record(f"torch_script_opset{opset}", rows, f"torch.onnx.export(dynamo=False, opset_version={opset}): Gemm, BatchNormalization, erf-spelled GELU, Shape/Gather/Concat/Reshape")
    torch.onnx.export(tabular, example, os.path.join(ROOT, "torch_dynamo.onnx"), input_names=["x"], output_names=["probabilities"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=True)
    record("torch_dynamo", rows, "torch.onnx.export(dynamo=True): opset 18+, Gelu, softplus threshold as Greater/Where, external data")

    activations = Activations().eval()
    rows6 = RNG.normal(size=(5, 6)).astype(np.float32)
    torch.onnx.export(activations, (torch.from_numpy(rows6),), os.path.join(ROOT, "torch_activations.onnx"), input_names=["features"],
                      output_names=["y"], dynamic_axes={"features": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False)
    record("torch_activations", rows6, "leaky_relu(0.2), elu(0.7), selu, sigmoid, concat, unsqueeze/squeeze, constant scaling")

    plain = Plain().eval()
    torch.onnx.export(plain, (torch.from_numpy(rows[:1]),), os.path.join(ROOT, "torch_fixed_batch.onnx"), input_names=["x"],
                      output_names=["y"], opset_version=13, dynamo=False)
    record("torch_fixed_batch", rows, "no dynamic axes: a fixed batch of 1, served at any batch", batch_one=True)


def sklearn_fixtures():
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = RNG.normal(loc=3, scale=2, size=(300, 5)).astype(np.float32)
    species = np.array(["adelie", "chinstrap", "gentoo"])[(features[:, 0] > 3).astype(int) + (features[:, 1] > 4)]
    classifier = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=400, random_state=0)).fit(features, species)
    model = to_onnx(classifier, features[:1], options={id(classifier): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    onnx.save(model, os.path.join(ROOT, "sklearn_classifier.onnx"))
    record("sklearn_classifier", features[:6], "StandardScaler + MLPClassifier (string classes), zipmap=False: Scaler, MatMul+Add, Softmax; the label output is left out")
    target = features[:, 0] * 2 - features[:, 2]
    regressor = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", max_iter=500, random_state=0)).fit(features, target)
    onnx.save(to_onnx(regressor, features[:1], target_opset={"": 15, "ai.onnx.ml": 3}), os.path.join(ROOT, "sklearn_regressor.onnx"))
    record("sklearn_regressor", features[:6], "StandardScaler + MLPRegressor(tanh), opset 15: output reshaped to [-1, 1]")
    zipmap = to_onnx(classifier, features[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    refuse("sklearn_zipmap", zipmap, "zipmap")


def helper_fixtures():
    """Edge cases real exporters write less often, built with ONNX's helper."""
    def weights(name, *shape, typed=False):
        value = RNG.normal(scale=0.5, size=shape).astype(np.float32)
        if typed:  # float_data instead of raw_data
            return helper.make_tensor(name, TensorProto.FLOAT, shape, value.reshape(-1).tolist())
        return numpy_helper.from_array(value, name)

    nodes = [
        helper.make_node("Identity", ["x"], ["x_copy"]),
        helper.make_node("Scaler", ["x_copy"], ["scaled"], domain="ai.onnx.ml", offset=[0.5, -1, 0, 2], scale=[2, 0.5, 1, 0.25]),
        helper.make_node("Cast", ["scaled"], ["scaled_float"], to=TensorProto.FLOAT),
        helper.make_node("Gemm", ["scaled_float", "w1", "c1"], ["g1"], alpha=0.5, beta=2.0, transB=0),
        helper.make_node("BatchNormalization", ["g1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["h1"]),
        helper.make_node("Constant", [], ["w2"], value=weights("w2_value", 6, 6, typed=True)),
        helper.make_node("MatMul", ["h1", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["a2"]),
        helper.make_node("Sub", ["a2", "shift"], ["s2"]),
        helper.make_node("Div", ["s2", "two"], ["d2"]),
        helper.make_node("Add", ["d2", "h1"], ["residual"]),
        helper.make_node("Flatten", ["residual"], ["flat"], axis=1),
        helper.make_node("Dropout", ["flat"], ["dropped"]),
        helper.make_node("Concat", ["dropped", "h1"], ["joined"], axis=1),
        helper.make_node("Gemm", ["joined", "w3", "c3"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    initializers = [
        weights("w1", 4, 6), numpy_helper.from_array(RNG.normal(size=(1, 6)).astype(np.float32), "c1"),
        numpy_helper.from_array((RNG.random(6) + 0.5).astype(np.float32), "bn_scale"),
        numpy_helper.from_array(RNG.normal(size=6).astype(np.float32) * 0.1, "bn_bias"),
        numpy_helper.from_array(RNG.normal(size=6).astype(np.float32) * 0.2, "bn_mean"),
        numpy_helper.from_array((RNG.random(6) + 0.5).astype(np.float32), "bn_var"),
        weights("b2", 6), weights("shift", 6), numpy_helper.from_array(np.array(2, dtype=np.float32), "two"),
        weights("w3", 3, 12), weights("c3", 3),
    ]
    graph = helper.make_graph(nodes, "edge_cases", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid("ai.onnx.ml", 1)], ir_version=6)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(ROOT, "helper_edge_cases.onnx"))
    record("helper_edge_cases", RNG.normal(size=(7, 4)).astype(np.float32),
           "opset 11, IR 6: Scaler, Cast, Gemm(alpha, beta, C [1,N]), BatchNormalization, Constant typed weights, MatMul+Add, Sub/Div by constants, residual Add, Flatten, Dropout, Concat, Softmax(axis=1)")

    def simple(op_nodes, name, opset=17, outputs=None, extra=(), domain_ml=False):
        inits = [weights("w", 4, 4), weights("b", 4)] + list(extra)
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"])] + op_nodes
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                                  outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
        imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 1)] if domain_ml else [])
        return helper.make_model(graph, opset_imports=imports)

    refuse("conv", simple([helper.make_node("Conv", ["h", "w"], ["y"])], "conv"), "Conv is not an MLP operation")
    refuse("gelu_tanh", simple([helper.make_node("Gelu", ["h"], ["y"], approximate="tanh")], "gelu_tanh", opset=20), "matches no activation")
    refuse("normalizer", simple([helper.make_node("Normalizer", ["h"], ["y"], domain="ai.onnx.ml", norm="L2")], "normalizer", domain_ml=True), "Normalizer")
    refuse("softmax_axis0", simple([helper.make_node("Softmax", ["h"], ["y"], axis=0)], "softmax_axis0"), "across the batch")
    refuse("training_batch_norm", simple([helper.make_node("BatchNormalization", ["h", "s", "b", "b", "s"], ["y", "mean", "var"], training_mode=1)],
                                         "training_batch_norm", opset=15, extra=[weights("s", 4)]), "eval() mode")
    refuse("log_softmax", simple([helper.make_node("LogSoftmax", ["h"], ["y"])], "log_softmax"), "LogSoftmax")
    refuse("relu6", simple([helper.make_node("Clip", ["h", "zero", "six"], ["y"])], "relu6",
                           extra=[numpy_helper.from_array(np.array(0, np.float32), "zero"), numpy_helper.from_array(np.array(6, np.float32), "six")]),
           "matches no activation")
    refuse("clip_0_100", simple([helper.make_node("Clip", ["h", "zero", "hundred"], ["y"])], "clip_0_100",
                                extra=[numpy_helper.from_array(np.array(0, np.float32), "zero"), numpy_helper.from_array(np.array(100, np.float32), "hundred")]),
           "matches no activation")
    wide = simple([helper.make_node("Identity", ["x"], ["y"])], "input_dims_overflow")
    wide.graph.input[0].type.tensor_type.shape.dim.extend([onnx.TensorShapeProto.Dimension(dim_value=1 << 20) for _ in range(4)])
    refuse("input_dims_overflow", wide, "nnserve takes up to", check=False)
    refuse("identity_without_input", simple([helper.make_node("Identity", [], ["y"])], "identity_without_input"), "input 0 is missing", check=False)
    piece = numpy_helper.from_array(np.zeros(1000, np.float32), "piece")
    blowup = [helper.make_node("Concat", ["piece"] * 1000, ["c1"], axis=0), helper.make_node("Concat", ["c1"] * 1000, ["c2"], axis=0),
              helper.make_node("Concat", ["c2"] * 1000, ["c3"], axis=0), helper.make_node("Add", ["h", "c3"], ["y"])]
    refuse("concat_blowup", simple(blowup, "concat_blowup", extra=[piece]), "more than 16777216 numbers", check=False)
    cycle = simple([helper.make_node("Relu", ["y"], ["z"]), helper.make_node("Add", ["h", "z"], ["y"])], "cycle")
    refuse("cycle", cycle, "cycle", check=False)
    missing = simple([helper.make_node("MatMul", ["h", "missing_weights"], ["y"])], "missing_initializer")
    refuse("missing_initializer", missing, "no node, initializer or input defines it", check=False)
    lookup = simple([helper.make_node("Cast", ["h"], ["index"], to=TensorProto.INT64), helper.make_node("Gather", ["w", "index"], ["y"])], "embedding")
    refuse("embedding", lookup, "casts a computed value", check=False)


def refuse(name, model, phrase, check=True):
    os.makedirs(os.path.join(ROOT, "refused"), exist_ok=True)
    onnx.save(model, os.path.join(ROOT, "refused", f"{name}.onnx"))
    with open(os.path.join(ROOT, "refused", f"{name}.json"), "w") as f:
        json.dump({"refusal_contains": phrase}, f)
    print(f"refused/{name}: expects '{phrase}'")


if __name__ == "__main__":
    os.makedirs(ROOT, exist_ok=True)
    helper_fixtures()
    sklearn_fixtures()
    torch_fixtures()
