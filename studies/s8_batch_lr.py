#!/usr/bin/env python3
"""Study 8: batch size vs learning rate — does the linear scaling rule hold? Digits, sgd with
momentum (the setting of Goyal et al.), the same epochs at every batch size: a fixed rate, the
rate scaled linearly from batch 32 (`--scale-lr linear`), and the best rate of a grid."""
import math

import numpy as np

from common import (SEEDS, RunFailed, Series, Study, dataset, digits_classifier, finished, line_chart, markdown_table,
                    mean_series, mean_std, mlp, pct, per_seed, run_parallel)

BATCHES = (16, 32, 64, 128, 256, 512)
BASE_BATCH = 32
# Powers of two, so that a rate scaled linearly from a grid rate is on the grid too.
RATES = tuple(0.00125 * 2 ** k for k in range(10))
EPOCHS, MOMENTUM = 10, 0.9
WIDTHS = (128, 128)


def run(study, job):
    """Validation accuracy, or None when the loss diverged. job: (batch, rate, scaled, seed);
    scaled runs pass the base rate with --scale-lr linear, as a user would."""
    batch, rate, scaled, seed = job
    key = f"{batch}-{rate:g}-{'linear' if scaled else 'fixed'}-{seed}"
    scaling = dict(scale_lr="linear", base_batch_size=BASE_BATCH) if scaled else {}
    try:
        metrics = study.fit(study.path("model.json"), dataset("digits.csv"), f"{key}.ckpt", seed=seed, epochs=EPOCHS,
                            batch_size=batch, lr=rate, optimizer="momentum", momentum=MOMENTUM, **scaling)
    except RunFailed as failure:
        study.log(f"batch {batch}, lr {rate:g}{' scaled' if scaled else ''}, seed {seed}: {failure}")
        return job, None
    study.log(f"batch {batch}, lr {rate:g}{' scaled linearly' if scaled else ''}, seed {seed}: "
              f"val_accuracy {metrics['val_accuracy']:.4f}")
    return job, metrics["val_accuracy"]


def mean_accuracy(values):
    """Mean over seeds; a cell where a seed diverged ranks below every finished one."""
    return mean_std(values)[0] if None not in values else -math.inf


def charts(study, grid, scaled, base_rate, best):
    accuracy_path, accuracy_link = study.image("s8_batch_lr.svg")
    series = [mean_series(f"fixed lr {base_rate:g}", BATCHES, [grid[b, base_rate, False] for b in BATCHES]),
              mean_series(f"linear: {base_rate:g} × batch / {BASE_BATCH}", BATCHES, [scaled[b] for b in BATCHES]),
              mean_series("best lr of the grid", BATCHES, [grid[b, best[b], False] for b in BATCHES], dashed=True)]
    line_chart(accuracy_path, series, f"Digits, momentum sgd, {EPOCHS} epochs at every batch size", "batch size",
               "validation accuracy", log_x=True, x_ticks=list(BATCHES))
    rate_path, rate_link = study.image("s8_best_lr.svg")
    series = [Series("best lr of the grid", list(BATCHES), [best[b] for b in BATCHES]),
              Series("linear rule", list(BATCHES), [base_rate * b / BASE_BATCH for b in BATCHES], dashed=True),
              Series("square-root rule", list(BATCHES), [base_rate * (b / BASE_BATCH) ** 0.5 for b in BATCHES], dashed=True)]
    line_chart(rate_path, series, "Best learning rate per batch size", "batch size", "learning rate", log_x=True,
               log_y=True, x_ticks=list(BATCHES))
    return [("Accuracy vs batch size", accuracy_link), ("Best learning rate vs batch size", rate_link)]


def best_rates(grid, seeds=None):
    """The rate of the best mean accuracy at each batch size, over the given seeds' runs
    (indices into SEEDS; default all)."""
    def score(batch, rate):
        values = grid[batch, rate, False]
        return mean_accuracy([values[i] for i in seeds] if seeds is not None else values)

    return {b: max(RATES, key=lambda r: score(b, r)) for b in BATCHES}


def exponent(best):
    """k in best lr ∝ batch^k, least squares on the logs (the linear rule says k = 1)."""
    return float(np.polyfit(np.log(BATCHES), np.log([best[b] for b in BATCHES]), 1)[0])


def main():
    with Study("s8_batch_lr") as study:
        study.model("model.json", digits_classifier(mlp(WIDTHS)))
        grid = per_seed(run_parallel(lambda job: run(study, job),
                                     [(b, r, False, s) for b in BATCHES for r in RATES for s in SEEDS]))
        best = best_rates(grid)
        base_rate = best[BASE_BATCH]
        study.log(f"best rate at batch {BASE_BATCH}: {base_rate:g}; now scaled linearly from it")
        linear = per_seed(run_parallel(lambda job: run(study, job), [(b, base_rate, True, s) for b in BATCHES for s in SEEDS]))
        scaled = {b: linear[b, base_rate, True] for b in BATCHES}

        rows = [[b, pct(grid[b, base_rate, False]), f"{base_rate * b / BASE_BATCH:g}", pct(scaled[b]), f"{best[b]:g}",
                 pct(grid[b, best[b], False])] for b in BATCHES]
        table = markdown_table(["batch", f"fixed lr {base_rate:g}", "linear lr", "linear: accuracy", "best grid lr",
                                "best grid: accuracy"], rows)
        study.write_section(
            8, "Batch size vs learning rate", "Batch size vs learning rate — does the linear scaling rule hold?",
            f"`digits.csv`, 64 standardized pixels → {' → '.join(map(str, WIDTHS))} relu → 10-way softmax; "
            f"`nntrain fit --optimizer momentum --momentum {MOMENTUM} --epochs {EPOCHS} --batch-size B --seed 1|2|3 "
            f"--threads 1 --json`, so larger batches take fewer steps. Grid: `--lr` in {', '.join(f'{r:g}' for r in RATES)}"
            f" at every batch size; its best rate at batch {BASE_BATCH} ({base_rate:g}) is then used fixed, and scaled "
            f"with `--lr {base_rate:g} --scale-lr linear --base-batch-size {BASE_BATCH}`. Validation accuracy, mean ± std "
            f"over {len(SEEDS)} seeds; a diverged run (inf/NaN loss) is marked.",
            table, charts(study, grid, scaled, base_rate, best), answer(grid, scaled, base_rate, best))


def answer(grid, scaled, base_rate, best):
    def accuracy(values):
        done = finished(values)
        return f"{100 * mean_std(done)[0]:.1f} %" if len(done) == len(values) else "diverged"

    k, spread = mean_std([exponent(best_rates(grid, [seed])) for seed in range(len(SEEDS))])
    verdict = "Roughly" if 0.8 <= k <= 1.2 else "Partly" if 0.4 <= k < 0.8 else "No"
    over = [b for b in BATCHES if base_rate * b / BASE_BATCH > best[b]]
    largest = BATCHES[-1]
    return (f"{verdict}: the best rate grew as batch^{k:.2f} ± {spread:.2f} over seeds (linear rule: batch^1, "
            f"square-root rule: batch^0.5), from {best[BATCHES[0]]:g} at batch {BATCHES[0]} to {best[largest]:g} at "
            f"{largest}" + (f", so the linear rule overshot from batch {over[0]} on" if over else "")
            + f"; at batch {largest} the linearly scaled rate {base_rate * largest / BASE_BATCH:g} reached "
            f"{accuracy(scaled[largest])}, the unscaled {base_rate:g} {accuracy(grid[largest, base_rate, False])}, and the "
            f"grid's best ({best[largest]:g}) {accuracy(grid[largest, best[largest], False])}.")


if __name__ == "__main__":
    main()
