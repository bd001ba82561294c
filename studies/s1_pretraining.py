#!/usr/bin/env python3
"""Study 1: autoencoder pretraining on digits. An autoencoder learns an encoder from every
training row without its label; a classifier then starts from that encoder (frozen, frozen
then fine-tuned, or fine-tuned from the start) with 5 %, 10 % or all of the labels, against
the same classifier trained from scratch."""
import json
import math

import numpy as np

from common import (ROOT, SEEDS, Series, Study, dataset, line_chart, markdown_table, mean_std, pct, read_csv,
                    run_parallel, split_rows, within_noise, write_csv)

LABEL_FRACTIONS = (0.05, 0.10, 1.0)
# Each classifier gets about the same number of optimizer steps whatever its labels, and stops
# early on the validation loss (the same rule for every condition).
STEPS, BATCH, LR, PATIENCE = 1500, 32, 3e-3, 20
AUTOENCODER_EPOCHS = 60
CONDITIONS = {
    "from scratch": dict(init=False, frozen=False),
    "encoder frozen": dict(init=True, frozen=True),
    "frozen, then fine-tuned": dict(init=True, frozen=True, thaw=True),
    "encoder fine-tuned": dict(init=True, frozen=False),
}


def example(name):
    with open(f"{ROOT}/examples/{name}") as file:
        return json.load(file)


def classifier(frozen):
    """examples/digits-from-encoder.json: the autoencoder's encoder (64 → 64 → 16 relu) and a
    softmax layer, its encoder layers frozen or not."""
    spec = example("digits-from-encoder.json")
    for layer in spec["layers"]:
        layer.pop("trainable", None)
        if frozen and layer["name"] != "classes":
            layer["trainable"] = False
    return spec


def data_files(study, seed):
    """The seed's 80/20 split of digits; the labeled subsets of the training split."""
    header, rows = read_csv(dataset("digits.csv"))
    train, validation = (rows[i] for i in split_rows(len(rows), seed))
    write_csv(study.path(f"train-{seed}.csv"), header, train)
    write_csv(study.path(f"validation-{seed}.csv"), header, validation)
    order = np.random.default_rng(seed + 100).permutation(len(train))
    for fraction in LABEL_FRACTIONS:
        labeled = train[np.sort(order[:math.ceil(fraction * len(train))])]
        write_csv(study.path(f"labeled-{fraction}-{seed}.csv"), header, labeled)
    return len(train)


def pretrain(study, seed):
    """The autoencoder on every training row (labels unused: its input and targets are the
    pixel columns)."""
    metrics = study.fit(study.model("autoencoder.json", example("digits-autoencoder.json")), study.path(f"train-{seed}.csv"),
                        f"encoder-{seed}.ckpt", validation_data=study.path(f"validation-{seed}.csv"), seed=seed,
                        epochs=AUTOENCODER_EPOCHS, lr=LR)
    study.log(f"autoencoder seed {seed}: val_r2 {metrics['val_r2']:.3f}")
    return metrics["val_r2"]


def run(study, job, train_rows):
    condition, fraction, seed = job
    settings = CONDITIONS[condition]
    labeled = math.ceil(fraction * train_rows)
    epochs = max(20, math.ceil(STEPS / math.ceil(labeled / BATCH)))
    options = dict(validation_data=study.path(f"validation-{seed}.csv"), seed=seed, epochs=epochs, lr=LR,
                   early_stopping_patience=PATIENCE)
    if settings["init"]:
        options["init_from"] = study.path(f"encoder-{seed}.ckpt")
    if settings.get("thaw"):
        options["unfreeze_after"] = epochs // 2
        # Patience counts from the thaw: a frozen phase that plateaus must not end the run.
        options["early_stopping_patience"] = epochs
    key = f"{list(CONDITIONS).index(condition)}-{fraction}-{seed}"
    model_path = study.model(f"{key}.json", classifier(settings["frozen"]))
    metrics = study.fit(model_path, study.path(f"labeled-{fraction}-{seed}.csv"), f"{key}.ckpt", **options)
    study.log(f"{condition}, {fraction:.0%} labels ({labeled} rows, {epochs} epochs), seed {seed}: "
              f"val_accuracy {metrics['val_accuracy']:.4f} (epoch {metrics['epoch']:.0f})")
    return job, metrics["val_accuracy"]


def main():
    with Study("s1_pretraining") as study:
        train_rows = [data_files(study, seed) for seed in SEEDS][0]
        reconstruction = run_parallel(lambda seed: pretrain(study, seed), SEEDS)
        jobs = [(condition, fraction, seed) for fraction in LABEL_FRACTIONS for condition in CONDITIONS for seed in SEEDS]
        accuracy = {}
        for (condition, fraction, _), value in run_parallel(lambda job: run(study, job, train_rows), jobs):
            accuracy.setdefault((condition, fraction), []).append(value)

        header = ["classifier"] + [f"{f:.0%} labels ({math.ceil(f * train_rows)} rows)" for f in LABEL_FRACTIONS]
        table = markdown_table(header, [[c] + [pct(accuracy[c, f]) for f in LABEL_FRACTIONS] for c in CONDITIONS])
        path, link = study.image("s1_pretraining.svg")
        series = [Series(c, [100 * f for f in LABEL_FRACTIONS], [100 * mean_std(accuracy[c, f])[0] for f in LABEL_FRACTIONS],
                         [100 * mean_std(accuracy[c, f])[1] for f in LABEL_FRACTIONS], dashed=c == "from scratch")
                  for c in CONDITIONS]
        line_chart(path, series, "Digits: pretrained encoder vs from scratch", "labeled training rows, % (log scale)",
                   "validation accuracy, % (mean ± std, 3 seeds)", log_x=True, x_ticks=[100 * f for f in LABEL_FRACTIONS])
        study.write_section(
            1, "Autoencoder pretraining with few labels",
            "Use autoencoder on unlabeled data, then drop decoder and use the encoder to do classification … useful "
            "when we have a huge unlabeled data but only a small part of it is labeled.",
            setup(train_rows, reconstruction), table, [("Validation accuracy against the share of labels", link)],
            answer(accuracy))


def setup(train_rows, reconstruction):
    return (f"`digits.csv` split 80/20 per seed ({train_rows:,} training rows). The autoencoder "
            f"(`examples/digits-autoencoder.json`: 64 pixels → 64 → 16 relu code → 64 → 64) trains on every training "
            f"row without its label for {AUTOENCODER_EPOCHS} epochs (validation R² of the reconstruction "
            f"{mean_std(reconstruction)[0]:.2f}). The classifier (`examples/digits-from-encoder.json`: the same encoder, "
            f"then a 10-way softmax) trains on 5 %, 10 % or all of the training rows' labels: *from scratch*; from the "
            f"encoder with `--init-from encoder.ckpt` and its layers `\"trainable\": false` (*frozen*); frozen for half the "
            f"epochs, then `--unfreeze-after` (*frozen, then fine-tuned*); or loaded and trainable (*fine-tuned*). "
            f"`nntrain fit --lr {LR} --batch-size {BATCH}` for about {STEPS} steps (epochs = {STEPS} / steps per epoch, "
            f"at least 20) with `--early-stopping-patience {PATIENCE}` on val_loss (the thawed runs: no early stop), "
            f"validation on the held-out 20 %; accuracy of the kept epoch, mean ± std over {len(SEEDS)} seeds.")


def answer(accuracy):
    def mean(condition, fraction):
        return 100 * mean_std(accuracy[condition, fraction])[0]

    few = LABEL_FRACTIONS[0]
    pretrained = [c for c in CONDITIONS if c != "from scratch"]
    best_few = max(pretrained, key=lambda c: mean(c, few))
    best_all = max(pretrained, key=lambda c: mean(c, 1.0))
    gain_few = mean(best_few, few) - mean("from scratch", few)
    gain_all = mean(best_all, 1.0) - mean("from scratch", 1.0)
    verdict = "helps" if gain_few > 0 and not within_noise(accuracy[best_few, few], accuracy["from scratch", few]) \
        else "does not help measurably"
    with_all = ("within noise of training from scratch" if within_noise(accuracy[best_all, 1.0], accuracy["from scratch", 1.0])
                else f"{gain_all:+.1f} points from scratch")
    frozen_all = mean("encoder frozen", 1.0) - mean("from scratch", 1.0)
    return (f"With {few:.0%} of the labels pretraining {verdict}: {best_few} reaches {mean(best_few, few):.1f} % against "
            f"{mean('from scratch', few):.1f} % from scratch ({gain_few:+.1f} points; the frozen encoder alone "
            f"{mean('encoder frozen', few):.1f} %), while with all labels the best pretrained classifier is {with_all} "
            f"({mean(best_all, 1.0):.1f} vs {mean('from scratch', 1.0):.1f} %) and the frozen encoder alone is "
            f"{frozen_all:+.1f} points from it.")

if __name__ == "__main__":
    main()
