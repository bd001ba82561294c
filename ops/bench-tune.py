#!/usr/bin/env python3
"""The tuning evaluation of docs/TUNING.md: population based training vs random search vs
the example model file's defaults, at an equal budget of training epochs, on diamonds
(val_rmse) and digits (val_accuracy), over seeds; then a study's wall time at 1 and 2
workers. Runs the release nntrain; prints Markdown tables with the CPU."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "studies"))
from common import cpu_description  # noqa: E402
NNTRAIN = os.path.join(ROOT, ".build", "release", "nntrain")
DATASETS = {
    "digits": dict(model="examples/digits.json", space="examples/digits-space.json", data="datasets/digits.csv",
                   monitor="val_accuracy", extra=[]),
    "diamonds": dict(model="examples/diamonds.json", space="examples/diamonds-space.json", data="datasets/diamonds.csv",
                     monitor="val_rmse", extra=["--target", "price"]),
    # Also L2 and the activation, and narrower layers than the example's: what a wider search costs.
    "diamonds, wide space": dict(model="examples/diamonds.json", space="examples/diamonds-space-wide.json", data="datasets/diamonds.csv",
                                 monitor="val_rmse", extra=["--target", "price"]),
}


def run(arguments, cwd):
    result = subprocess.run([NNTRAIN, *arguments], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def study(name, algorithm, seed, args, workers=2):
    spec = DATASETS[name]
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()
        result = run(["tune", "--algorithm", algorithm, "--space", os.path.join(ROOT, spec["space"]),
                      "--model", os.path.join(ROOT, spec["model"]), "--data", os.path.join(ROOT, spec["data"]), *spec["extra"],
                      "--population", str(args.population), "--generations", str(args.generations),
                      "--epochs-per-generation", str(args.epochs_per_generation), "--monitor", spec["monitor"],
                      "--seed", str(seed), "--workers", str(workers), "--json"], work)
        return result["value"], time.monotonic() - started


def defaults(name, seed, epochs):
    spec = DATASETS[name]
    with tempfile.TemporaryDirectory() as work:
        result = run(["fit", "--model", os.path.join(ROOT, spec["model"]), "--data", os.path.join(ROOT, spec["data"]), *spec["extra"],
                      "--epochs", str(epochs), "--seed", str(seed), "--checkpoint", "run.ckpt", "--json"], work)
        return result[spec["monitor"]]


def summary(values, digits):
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0
    return f"{mean:.{digits}f} ± {spread:.{digits}f} ({', '.join(f'{v:.{digits}f}' for v in values)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--epochs-per-generation", type=int, default=2)
    args = parser.parse_args()
    epochs = args.generations * args.epochs_per_generation
    budget = args.population * epochs
    print(f"CPU: {cpu_description()}; nntrain release build; {time.strftime('%Y-%m-%d')}")
    print(f"budget: {args.population} members × {args.generations} generations × {args.epochs_per_generation} epochs = {budget} epochs "
          f"per study; the defaults train one model for {epochs} epochs\n")
    print("| dataset (metric) | defaults | random search | PBT |")
    print("|---|---|---|---|")
    for name, spec in DATASETS.items():
        digits = 4 if spec["monitor"] == "val_accuracy" else 1
        results = {"defaults": [defaults(name, seed, epochs) for seed in args.seeds],
                   "random": [study(name, "random", seed, args)[0] for seed in args.seeds],
                   "pbt": [study(name, "pbt", seed, args)[0] for seed in args.seeds]}
        print(f"| {name} ({spec['monitor']}) | {summary(results['defaults'], digits)} | {summary(results['random'], digits)} | "
              f"{summary(results['pbt'], digits)} |", flush=True)
    print("\n| dataset | PBT wall time, 1 worker | 2 workers | speed-up |")
    print("|---|---|---|---|")
    for name in ("digits", "diamonds"):
        one = study(name, "pbt", args.seeds[0], args, workers=1)[1]
        two = study(name, "pbt", args.seeds[0], args, workers=2)[1]
        print(f"| {name} | {one:.1f} s | {two:.1f} s | {one / two:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
