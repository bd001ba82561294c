#!/usr/bin/env python3
"""Study 14: is a multitask network "features plus a linear last layer"? A shared 64-64 trunk
trained on digits with three heads (label, parity, closed loop); then a linear probe — one
softmax layer trained on the frozen last hidden layer (`--init-from`, `"trainable": false`) —
against the label head, and against a linear model on the raw pixels."""
import numpy as np

from common import (DIGITS_PIXELS, SEEDS, Study, bar_chart, dataset, dense, markdown_table, mean_std, mlp, pct, per_seed,
                    read_csv, run_parallel, within_noise, write_csv)

TRUNK = (64, 64)
EPOCHS, LR = 30, 3e-3
LOOP_DIGITS = (0, 6, 8, 9)
ARMS = ("label head of the multitask model", "linear probe on its last hidden layer", "linear model on the pixels")


def data_file(study):
    header, rows = read_csv(dataset("digits.csv"))
    label = rows[:, header.index("label")]
    extra = np.column_stack([label % 2, np.isin(label, LOOP_DIGITS)])
    return write_csv(study.path("digits-tasks.csv"), header + ["parity", "loop"], np.column_stack([rows, extra]))


def inputs():
    return [{"name": "pixels", "columns": DIGITS_PIXELS}]


def multitask():
    layers = mlp(TRUNK)
    heads = {"label": (10, "softmax", "sparse_categorical_crossentropy"), "parity": (1, "sigmoid", "binary_crossentropy"),
             "loop": (1, "sigmoid", "binary_crossentropy")}
    outputs = []
    for task, (units, activation, loss) in heads.items():
        layers.append(dense(f"{task}_head", f"h{len(TRUNK)}", units, activation))
        outputs.append({"name": task, "node": f"{task}_head", "loss": loss})
    return {"inputs": inputs(), "layers": layers, "outputs": outputs}


def probe():
    """The trunk, frozen (its weights come from the multitask run), and a new softmax layer."""
    layers = mlp(TRUNK, trainable=False)
    layers.append(dense("probe", f"h{len(TRUNK)}", 10, "softmax"))
    return {"inputs": inputs(), "layers": layers, "outputs": [{"name": "label", "node": "probe", "loss": "sparse_categorical_crossentropy"}]}


def linear():
    return {"inputs": inputs(), "layers": [dense("linear", "pixels", 10, "softmax")],
            "outputs": [{"name": "label", "node": "linear", "loss": "sparse_categorical_crossentropy"}]}


def run(study, seed, data):
    """One seed: the multitask model, its probe, the pixel baseline (same split: same seed)."""
    shared = study.fit(study.model(f"multitask-{seed}.json", multitask()), data, f"multitask-{seed}.ckpt", seed=seed, epochs=EPOCHS, lr=LR)
    probed = study.fit(study.model(f"probe-{seed}.json", probe()), data, f"probe-{seed}.ckpt", seed=seed, epochs=EPOCHS, lr=LR,
                       init_from=study.path(f"multitask-{seed}.ckpt"))
    baseline = study.fit(study.model(f"linear-{seed}.json", linear()), data, f"linear-{seed}.ckpt", seed=seed, epochs=EPOCHS, lr=LR)
    result = (shared["val_label_accuracy"], probed["val_accuracy"], baseline["val_accuracy"])
    study.log(f"seed {seed}: head {result[0]:.4f}, probe {result[1]:.4f}, pixels {result[2]:.4f}")
    return (seed,), result


def main():
    with Study("s14_linear_probe") as study:
        data = data_file(study)
        results = dict(run_parallel(lambda seed: run(study, seed, data), list(SEEDS)))
        arms = [[results[(seed,)][i] for seed in SEEDS] for i in range(len(ARMS))]
        table = markdown_table(["classifier of the digit", "val accuracy"], [[name, pct(values)] for name, values in zip(ARMS, arms)])
        path, link = study.image("s14_linear_probe.svg")
        cells = [mean_std(values) for values in arms]
        bar_chart(path, ["digit (10 classes)"], list(ARMS), [[m] for m, _ in cells], [[d] for _, d in cells],
                  "Digits: the multitask head vs a linear probe on its features", "validation accuracy (mean ± std, 3 seeds)",
                  from_zero=False)
        head, probed, pixels = (100 * m for m, _ in cells)
        same = within_noise(arms[0], arms[1])
        answer = (f"{'Yes' if same else 'Not quite'}: a linear layer trained on the frozen last hidden layer reaches "
                  f"{probed:.1f} % against the head's {head:.1f} % ({'within' if same else 'outside'} seed noise), so the head "
                  f"is {'no more than' if same else 'more than'} a linear classifier of the trunk's features")
        if within_noise(arms[1], arms[2]):
            answer += (f"; but on digits a linear model on the pixels reaches {pixels:.1f} %, within seed noise of the probe too: "
                       "the pixels are nearly linearly separable already, and the trunk's features add little to that.")
        else:
            answer += f", and those features are what lifts it {probed - pixels:.1f} points over a linear model on the pixels ({pixels:.1f} %)."
        study.write_section(
            14, "Is a multitask network features plus a linear last layer?",
            "Multitask: is the network \"features plus a linear last layer\"? (a linear probe on the last hidden layer against the head)",
            f"`digits.csv` with `parity` (label % 2) and `loop` (label in {', '.join(map(str, LOOP_DIGITS))}); 64 standardized pixels "
            f"→ {' → '.join(map(str, TRUNK))} relu → three heads (10-way softmax, two sigmoids), Σ of their losses. Then the probe: "
            f"the same trunk with `\"trainable\": false`, started from the multitask run (`--init-from`), and a new 10-way softmax "
            f"layer on h{len(TRUNK)}; and a 10-way softmax on the pixels alone. Each `nntrain fit --lr {LR:g} --epochs {EPOCHS} "
            f"--seed 1|2|3 --threads 1 --json` (adam, batch 32; the seed fixes the same validation split for all three). "
            f"Mean ± std over {len(SEEDS)} seeds.",
            table, [("Label head, linear probe and pixel baseline", link)], answer)


if __name__ == "__main__":
    main()
