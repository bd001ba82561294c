#!/usr/bin/env python3
"""Study 3: is multitask always better? Digits with heads on one shared trunk: the digit
(10 classes), its parity and whether it has a closed loop (0, 6, 8, 9) — related tasks —
against each task trained alone; then the same three heads plus a head regressing a column
of random noise (unrelated), at weight 1 and 10, so that it competes for the trunk."""
import numpy as np

from common import (SEEDS, DIGITS_PIXELS, DIGITS_REGIMES, Study, bar_chart, dataset, dense, markdown_table, mean_std, mlp, pct,
                    read_csv, run_parallel, within_noise, write_csv)

TRUNK = (64, 64)
EPOCHS, LR = 30, 3e-3
TASKS = ("label", "parity", "loop")
# head: (loss, units, activation)
HEADS = {"label": ("sparse_categorical_crossentropy", 10, "softmax"), "parity": ("binary_crossentropy", 1, "sigmoid"),
         "loop": ("binary_crossentropy", 1, "sigmoid"), "noise": ("mse", 1, "linear")}
RELATED = {"label": 1, "parity": 1, "loop": 1}
# name: the heads and their loss weights; "single" trains one model per task instead.
SETUPS = {"single task": None, "label + parity + loop": RELATED,
          "+ noise head, weight 1": {**RELATED, "noise": 1}, "+ noise head, weight 10": {**RELATED, "noise": 10}}
REGIMES = DIGITS_REGIMES
LOOP_DIGITS = (0, 6, 8, 9)


def data_file(study, seed):
    """digits.csv plus the derived targets; the noise column is seeded."""
    header, rows = read_csv(dataset("digits.csv"))
    label = rows[:, header.index("label")]
    noise = np.random.default_rng(seed).normal(size=len(label))
    extra = np.column_stack([label % 2, np.isin(label, LOOP_DIGITS), noise])
    return write_csv(study.path(f"digits-tasks-{seed}.csv"), header + ["parity", "loop", "noise"], np.column_stack([rows, extra]))


def model(weights):
    """The shared trunk with one head per task, Σ weight · loss."""
    layers = mlp(TRUNK)
    outputs = []
    for task, weight in weights.items():
        loss, units, activation = HEADS[task]
        layers.append(dense(f"{task}_head", layers[len(TRUNK) - 1]["name"], units, activation))
        outputs.append({"name": task, "node": f"{task}_head", "loss": loss, "weight": weight})
    return {"inputs": [{"name": "pixels", "columns": DIGITS_PIXELS}], "layers": layers, "outputs": outputs}


def accuracy(metrics, task):
    """A single head reports val_accuracy, one of several val_<head>_accuracy."""
    return metrics.get(f"val_{task}_accuracy", metrics.get("val_accuracy"))


def run(study, job):
    """One training run: {task: validation accuracy} for the tasks it trains."""
    regime, setup, weights, seed = job
    key = f"{list(REGIMES).index(regime)}-{'-'.join(f'{t}{w}' for t, w in weights.items())}-{seed}"
    model_path = study.model(f"model-{key}.json", model(weights))
    metrics = study.fit(model_path, study.path(f"digits-tasks-{seed}.csv"), f"{key}.ckpt", seed=seed, epochs=EPOCHS,
                        lr=LR, validation_fraction=REGIMES[regime])
    result = {task: accuracy(metrics, task) for task in weights if task in TASKS}
    study.log(f"{regime}, {setup}, seed {seed}: " + ", ".join(f"{t} {a:.4f}" for t, a in result.items()))
    return job, result


def jobs():
    for regime in REGIMES:
        for setup, weights in SETUPS.items():
            for seed in SEEDS:
                for heads in ([{task: 1} for task in TASKS] if weights is None else [weights]):
                    yield regime, setup, heads, seed


def collect(results):
    """accuracies[regime][setup][task] = one value per seed."""
    accuracies = {r: {s: {t: [] for t in TASKS} for s in SETUPS} for r in REGIMES}
    for (regime, setup, _, _), result in results:
        for task, value in result.items():
            accuracies[regime][setup][task].append(value)
    return accuracies


def change(accuracies, regime, task, setup):
    """Mean change in points of accuracy against the task trained alone."""
    cell = accuracies[regime]
    return 100 * (mean_std(cell[setup][task])[0] - mean_std(cell["single task"][task])[0])


def main():
    with Study("s3_multitask") as study:
        for seed in SEEDS:
            data_file(study, seed)
        accuracies = collect(run_parallel(lambda job: run(study, job), list(jobs())))

        rows = [[regime, task] + [pct(accuracies[regime][setup][task]) for setup in SETUPS]
                for regime in REGIMES for task in TASKS]
        table = markdown_table(["training data", "task (val accuracy)"] + list(SETUPS), rows)

        groups = [f"{task}\n{regime.replace(' training', '')}" for regime in REGIMES for task in TASKS]
        cells = [[mean_std(accuracies[r][s][t]) for r in REGIMES for t in TASKS] for s in SETUPS]
        path, link = study.image("s3_multitask.svg")
        bar_chart(path, groups, list(SETUPS), [[m for m, _ in row] for row in cells], [[e for _, e in row] for row in cells],
                  "Digits: validation accuracy, single task vs shared trunk", "validation accuracy (mean ± std, 3 seeds)", from_zero=False)

        study.write_section(
            3, "Is multitask always better?",
            "Is multitask always better?",
            f"`digits.csv` with three derived targets: `parity` (label % 2), `loop` (label in "
            f"{', '.join(map(str, LOOP_DIGITS))}) and `noise` (standard normal, unrelated to the image). Trunk: 64 pixels → "
            f"{' → '.join(map(str, TRUNK))} relu, shared by one head per task (label: 10-way softmax, sparse "
            f"cross-entropy; parity, loop: sigmoid, binary cross-entropy; noise: linear, mse), loss Σ weight · loss. "
            f"`nntrain fit --epochs {EPOCHS} --lr {LR} --validation-fraction 0.2|0.8 --seed 1|2|3 --threads 1 --json`; "
            f"the split comes from the seed. Each cell: validation accuracy, mean ± std over {len(SEEDS)} seeds.",
            table, [("Single task vs multitask accuracy", link)], answer(accuracies))


def answer(accuracies):
    """How far the related heads moved each task, which moves exceed the seeds' noise, and
    what the noise head at weight 10 cost."""
    related = [change(accuracies, r, t, "label + parity + loop") for r in REGIMES for t in TASKS]
    beyond_noise = [f"{t} with {r.split()[0]} rows, {change(accuracies, r, t, 'label + parity + loop'):+.1f}"
                    for r in REGIMES for t in TASKS
                    if not within_noise(accuracies[r]["single task"][t], accuracies[r]["label + parity + loop"][t])]
    noisy = [change(accuracies, r, t, "+ noise head, weight 10") for r in REGIMES for t in TASKS]
    effect = "a loss on every task" if max(noisy) < 0 else "a gain on every task" if min(noisy) > 0 else "mixed"
    return (f"No: training the related heads together moved each task's accuracy by {min(related):+.1f} to "
            f"{max(related):+.1f} points against training it alone (more than one standard deviation over seeds only "
            f"for {'; '.join(beyond_noise) or 'none'}), while an unrelated noise head at weight 10 changed it by "
            f"{min(noisy):+.1f} to {max(noisy):+.1f} points, {effect}.")


if __name__ == "__main__":
    main()
