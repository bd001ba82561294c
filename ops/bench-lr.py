#!/usr/bin/env python3
"""`make bench-lr`: does `nntrain fit --lr auto` train as well as the best rate of a grid?

On each problem (the datasets, model shapes and losses a user brings: small and large tables,
one head and three, regression and classification, pairs, raw strings), the grid trains at
half-decades from 1e-4 to 1 and the auto run picks its own rate; both over 10 seeds, the same
epochs and settings otherwise. Prints a Markdown table (grid best, auto, gap) with the CPU;
docs/TRAINING.md keeps it. Uses the release nntrain; runs 2 processes of 1 thread each."""
import argparse
import concurrent.futures
import json
import math
import statistics
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "studies"))
from common import DIGITS_PIXELS, cpu_description, dense, mlp, read_csv, write_csv, write_json  # noqa: E402

NNTRAIN = os.environ.get("NNTRAIN", os.path.join(ROOT, ".build", "release", "nntrain"))
DATASETS = os.path.join(ROOT, "datasets")
GRID = [10 ** (exponent / 2) for exponent in range(-8, 1)]
# The issue asked for 3 seeds; 10 cut the noise of a 36-row (wine) or 262-row (titanic)
# validation split, where one row is 2.8 or 0.4 accuracy points.
SEEDS = tuple(range(1, 11))


def classifier(inputs, widths, classes, activation="relu", **options):
    """An MLP on one input ending in a softmax (classes > 1) or sigmoid head named `target`."""
    layers = mlp(widths, activation, source="features", **options)
    units, head, loss = (classes, "softmax", "sparse_categorical_crossentropy") if classes > 1 else (1, "sigmoid", "binary_crossentropy")
    layers.append(dense("head", layers[-1]["name"], units, head))
    return {"inputs": [{"name": "features", **inputs}], "layers": layers, "outputs": [{"name": "target", "node": "head", "loss": loss}]}


def multitask_data(work):
    """digits.csv plus its parity and whether the digit has a closed loop (0, 6, 8, 9)."""
    header, rows = read_csv(os.path.join(DATASETS, "digits.csv"))
    label = rows[:, header.index("label")]
    extra = [[value % 2, float(value in (0, 6, 8, 9))] for value in label]
    import numpy as np
    return write_csv(os.path.join(work, "digits-tasks.csv"), header + ["parity", "loop"], np.column_stack([rows, extra]))


def multitask_model():
    """The case of issue 27: a 64-64 trunk with three heads (label, parity, loop)."""
    layers = mlp((64, 64))
    outputs = []
    for task, units, activation, loss in (("label", 10, "softmax", "sparse_categorical_crossentropy"),
                                          ("parity", 1, "sigmoid", "binary_crossentropy"), ("loop", 1, "sigmoid", "binary_crossentropy")):
        layers.append(dense(f"{task}_head", "h2", units, activation))
        outputs.append({"name": task, "node": f"{task}_head", "loss": loss})
    return {"inputs": [{"name": "pixels", "columns": DIGITS_PIXELS}], "layers": layers, "outputs": outputs}


def pairs_data(work):
    """20,000 digit pairs (half similar), drawn by nntrain pairs."""
    path = os.path.join(work, "pairs.csv")
    subprocess.run([NNTRAIN, "pairs", "--data", os.path.join(DATASETS, "digits.csv"), "--label", "label", "--pairs", "20000",
                    "--positive-fraction", "0.5", "--out", path, "--seed", "1"], check=True, capture_output=True)
    return path


def problems(work):
    """name: (model file, data file, monitored metric, higher is better, fit flags)."""
    digits = os.path.join(DATASETS, "digits.csv")
    model = lambda name, spec: write_json(os.path.join(work, name + ".json"), spec)  # noqa: E731
    return {
        "digits (examples/digits.json)": (os.path.join(ROOT, "examples", "digits.json"), digits, "val_accuracy", True, {"epochs": 20}),
        "diamonds, wide & deep (examples/diamonds.json)": (os.path.join(ROOT, "examples", "diamonds.json"), os.path.join(DATASETS, "diamonds.csv"),
                                                           "val_rmse", False, {"epochs": 8, "target": "price", "batch_size": 64}),
        "diamonds, MLP, mse": (model("diamonds-mlp", {"inputs": [{"name": "features"}], "layers": mlp((64, 32), source="features") + [dense("price", "h2", 1, "linear")],
                                                      "outputs": [{"name": "price", "node": "price", "loss": "mse"}]}),
                               os.path.join(DATASETS, "diamonds.csv"), "val_rmse", False, {"epochs": 8, "target": "price", "batch_size": 64}),
        "wine": (model("wine", classifier({}, (32,), 3)), os.path.join(DATASETS, "wine.csv"), "val_accuracy", True, {"epochs": 60, "target": "label"}),
        "breast cancer": (model("breast-cancer", classifier({}, (32, 16), 1)), os.path.join(DATASETS, "breast_cancer.csv"), "val_accuracy", True,
                          {"epochs": 40, "target": "malignant"}),
        "multitask digits, 3 heads": (model("multitask", multitask_model()), multitask_data(work), "val_label_accuracy", True, {"epochs": 30}),
        "deep sigmoid stack (6 × 64)": (model("sigmoid", classifier({"columns": DIGITS_PIXELS}, (64,) * 6, 10, activation="sigmoid")), digits,
                                        "val_accuracy", True, {"epochs": 30, "target": "label"}),
        "siamese pairs (examples/digits-siamese.json)": (os.path.join(ROOT, "examples", "digits-siamese.json"), pairs_data(work), "val_auc", True,
                                                         {"epochs": 10}),
        "penguins, raw (examples/penguins.json)": (os.path.join(ROOT, "examples", "penguins.json"), os.path.join(DATASETS, "penguins.csv"),
                                                   "val_accuracy", True, {"epochs": 60}),
        "titanic, raw (examples/titanic.json)": (os.path.join(ROOT, "examples", "titanic.json"), os.path.join(DATASETS, "titanic.csv"),
                                                 "val_accuracy", True, {"epochs": 30}),
    }


def fit(job):
    """One run: (job, its metric, the rate it trained at); a diverged run scores the worst."""
    name, model, data, metric, higher, flags, rate, seed, work = job
    checkpoint = os.path.join(work, f"run-{abs(hash((name, rate, seed)))}.ckpt")
    arguments = [NNTRAIN, "fit", "--model", model, "--data", data, "--checkpoint", checkpoint, "--json", "--threads", "1",
                 "--seed", str(seed), "--lr", "auto" if rate == "auto" else f"{rate:.6g}"]
    for key, value in flags.items():
        arguments += [f"--{key.replace('_', '-')}", str(value)]
    result = subprocess.run(arguments, capture_output=True, text=True)
    chosen = rate
    if rate == "auto":
        line = next((line for line in result.stderr.splitlines() if line.startswith("--lr auto: ") and "note:" not in line), "")
        chosen = float(line.split()[2]) if line else float("nan")
        if os.environ.get("BENCH_LR_TRIALS"):
            print(f"{name}, seed {seed}: " + "; ".join(line for line in result.stderr.splitlines() if line.startswith("trial ")), file=sys.stderr)
    if result.returncode != 0:
        return job, (0.0 if higher else math.inf), chosen
    return job, json.loads(result.stdout.strip().splitlines()[-1])[metric], chosen


def mean(values):
    return sum(values) / len(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the problems whose name contains this")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 1…N (default %(default)s)")
    arguments = parser.parse_args()
    seeds = tuple(range(1, arguments.seeds + 1))
    if not os.access(NNTRAIN, os.X_OK):
        sys.exit(f"no nntrain at {NNTRAIN}: run `swift build -c release --product nntrain`")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-lr-") as work:
        chosen = {name: spec for name, spec in problems(work).items() if not arguments.only or arguments.only in name}
        jobs = [(name, model, data, metric, higher, flags, rate, seed, work)
                for name, (model, data, metric, higher, flags) in chosen.items() for rate in [*GRID, "auto"] for seed in seeds]
        scores, rates = {}, {}
        with concurrent.futures.ThreadPoolExecutor(arguments.jobs) as pool:
            for job, score, rate in pool.map(fit, jobs):
                scores.setdefault((job[0], job[6]), []).append(score)
                if job[6] == "auto":
                    rates.setdefault(job[0], []).append(rate)
                    print(f"{job[0]}, seed {job[7]}: auto {rate:.3g} → {score:.4g}", file=sys.stderr, flush=True)
    print(f"CPU: {cpu_description()}; nntrain fit --threads 1, seeds 1-{len(seeds)}; grid {', '.join(f'{rate:.3g}' for rate in GRID)}; "
          f"{len(jobs)} runs in {time.time() - started:.0f} s\n")
    print("| problem | metric | grid best (rate) ± seed σ | --lr auto (rates chosen) | gap | within bar |")
    print("|---|---|---|---|---|---|")
    failures = 0
    for name, (_, _, metric, higher, flags) in chosen.items():
        grid = {rate: mean(scores[(name, rate)]) for rate in GRID}
        best_rate = (max if higher else min)(grid, key=grid.get)
        best, auto = grid[best_rate], mean(scores[(name, "auto")])
        if higher:
            gap = f"{(best - auto) * 100:+.1f} points"
            ok = best - auto <= 0.01 and auto >= 0.9 * best
        else:
            gap = f"{(auto / best - 1) * 100:+.1f}%"
            ok = auto <= best * 1.05
        failures += not ok
        rate_text = ", ".join(f"{rate:.2g}" for rate in rates[name])
        spread = statistics.stdev(scores[(name, best_rate)]) if len(seeds) > 1 else 0.0
        print(f"| {name} | {metric} ({flags.get('epochs')} epochs) | {best:.4g} ({best_rate:.2g}) ± {spread:.2g} | {auto:.4g} ({rate_text}) | {gap} | "
              f"{'yes' if ok else '**no**'} |")
    print("\nThe grid, mean over the seeds (diverged runs count as 0 accuracy or infinite RMSE):\n")
    print("| problem | " + " | ".join(f"{rate:.2g}" for rate in GRID) + " |")
    print("|---|" + "---|" * len(GRID))
    for name in chosen:
        print(f"| {name} | " + " | ".join(f"{mean(scores[(name, rate)]):.4g}" for rate in GRID) + " |")
    print(f"\n{len(chosen) - failures} of {len(chosen)} problems within 1 accuracy point (or 5% RMSE) of the grid's best rate.")


if __name__ == "__main__":
    main()
