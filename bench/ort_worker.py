"""ONNX Runtime, timed on request, so `nnbench kernels` can alternate it with our kernels in
one run (the VM is noisy: only ratios measured side by side mean anything).

Protocol (one line each way): nnbench writes `MODEL BATCH THREADS BLOCK_SECONDS`; the worker
answers the median seconds per call, or `error: ...`. `MODEL:int8` is ONNX Runtime's own
dynamic int8 of the model (`quantize_dynamic`, per-channel int8 weights, the MatMul form it
quantizes); `error MODEL` answers that int8 model's largest error against the fp32 model on 256
seeded rows, relative to the largest output magnitude. On start it prints `ready onnxruntime
VERSION` or `unavailable: REASON` and exits.

The models are bench/anchors/models.py's shapes built from numpy (no torch needed), one
`Gemm` per layer with K x N weights and `Relu` between, M2 ending in `Softmax`, M4 with its
batch norm folded (the faster of the anchors' two M4 forms; nnserve folds it too). Sessions
as the anchors make them: CPUExecutionProvider, ORT_ENABLE_ALL, sequential, inter-op 1.
Calls go through an IO binding bound once, the lightest way Python can drive a session; the
timing copies nnbench's Stopwatch: >= 50 ms warm-up, 5 blocks, median block.
"""
import sys
import time

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as error:  # the caller falls back to the recorded anchor figures
    print(f"unavailable: {error} (pip install onnxruntime onnx)", flush=True)
    sys.exit(0)

LAYERS = {
    "M1": [(8, 30), (30, 30), (30, 1)],
    "M2": [(784, 300), (300, 100), (100, 10)],
    "M3": [(256, 1024), (1024, 1024), (1024, 1024), (1024, 16)],
}


def build(name, matmul=False):
    """The model as ONNX bytes and its input width; `matmul` writes MatMul + Add instead of Gemm
    (quantize_dynamic quantizes MatMul), with the same weights."""
    rng = np.random.default_rng(1234)
    nodes, initializers = [], []

    def gemm(x, k, n, tag):
        weights = (rng.standard_normal((k, n)) * np.sqrt(2.0 / k)).astype(np.float32)
        bias = ((rng.random(n) - 0.5) * 0.1).astype(np.float32)
        initializers.extend([numpy_helper.from_array(weights, f"{tag}_W"), numpy_helper.from_array(bias, f"{tag}_B")])
        if matmul:
            nodes.append(helper.make_node("MatMul", [x, f"{tag}_W"], [f"{tag}_product"]))
            nodes.append(helper.make_node("Add", [f"{tag}_product", f"{tag}_B"], [f"{tag}_out"]))
        else:
            nodes.append(helper.make_node("Gemm", [x, f"{tag}_W", f"{tag}_B"], [f"{tag}_out"]))
        return f"{tag}_out"

    def relu(x):
        nodes.append(helper.make_node("Relu", [x], [f"{x}_relu"]))
        return f"{x}_relu"

    if name in LAYERS:
        layers = LAYERS[name]
        width_in, width_out = layers[0][0], layers[-1][1]
        h = "input"
        for index, (k, n) in enumerate(layers):
            h = gemm(h, k, n, f"fc{index}")
            if index < len(layers) - 1:
                h = relu(h)
        nodes.append(helper.make_node("Softmax" if name == "M2" else "Identity", [h], ["output"], **({"axis": -1} if name == "M2" else {})))
    elif name == "M4":
        width_in, width_out = 64, 1
        h = relu(gemm("input", 64, 256, "fc1"))
        h = relu(gemm(h, 256, 256, "fc2"))
        nodes.append(helper.make_node("Concat", ["input", h], ["concat"], axis=1))
        nodes.append(helper.make_node("Identity", [gemm("concat", 320, 1, "out")], ["output"]))
    else:
        raise ValueError(f"unknown model {name}")
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width_in])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", width_out])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), width_in


def build_int8(name):
    """ONNX Runtime's dynamic int8 of the model: int8 per-channel weights, inputs quantized per
    call (DynamicQuantizeLinear + MatMulInteger), as its documentation recommends for MLPs."""
    import os
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    blob, width = build(name, matmul=True)
    with tempfile.TemporaryDirectory() as directory:
        source, target = os.path.join(directory, "fp32.onnx"), os.path.join(directory, "int8.onnx")
        with open(source, "wb") as handle:
            handle.write(blob)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
        with open(target, "rb") as handle:
            return handle.read(), width


sessions = {}


def session(name, threads):
    """A reference model by name, or an ONNX file by path (`nnbench onnx FILE`)."""
    if (name, threads) not in sessions:
        if name.endswith(".onnx"):
            blob = name  # InferenceSession reads the file and its external data beside it
            width = onnx.load(name, load_external_data=False).graph.input[0].type.tensor_type.shape.dim[1].dim_value
        elif name.endswith(":int8"):
            blob, width = build_int8(name[: -len(":int8")])
        else:
            blob, width = build(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions[(name, threads)] = (ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"]), width)
    return sessions[(name, threads)]


def seconds_per_call(name, batch, threads, block_seconds):
    sess, width = session(name, threads)
    x = np.random.default_rng(5).uniform(-1, 1, (batch, width)).astype(np.float32)
    binding = sess.io_binding()
    binding.bind_cpu_input(sess.get_inputs()[0].name, x)
    for output in sess.get_outputs():
        binding.bind_output(output.name)
    run = sess.run_with_iobinding

    def timed(calls):
        start = time.perf_counter()
        for _ in range(calls):
            run(binding)
        return time.perf_counter() - start

    calls, elapsed = 1, timed(1)
    while elapsed < 0.05:
        calls *= 2
        elapsed = timed(calls)
    calls = max(1, int(calls * block_seconds / elapsed))
    return sorted(timed(calls) / calls for _ in range(5))[2]


def int8_error(name):
    fp32, width = session(name, 1)
    int8, _ = session(f"{name}:int8", 1)
    x = np.random.default_rng(5).uniform(-1, 1, (256, width)).astype(np.float32)
    exact = fp32.run(None, {fp32.get_inputs()[0].name: x})[0].astype(np.float64)
    reduced = int8.run(None, {int8.get_inputs()[0].name: x})[0].astype(np.float64)
    return float(np.abs(reduced - exact).max() / max(np.abs(exact).max(), 1e-6))


print(f"ready onnxruntime {ort.__version__}", flush=True)
for line in sys.stdin:
    try:
        if line.startswith("error "):
            print(f"{int8_error(line.split()[1]):.9g}", flush=True)
            continue
        name, batch, threads, block = line.split()
        print(f"{seconds_per_call(name, int(batch), int(threads), float(block)):.9g}", flush=True)
    except Exception as error:  # noqa: BLE001 - reported to nnbench, which keeps going
        print(f"error: {error}".replace("\n", " "), flush=True)
