#!/usr/bin/env python3
"""Study 13: can dropout make validation beat training, and when? A digits MLP (2 × 256 relu)
with dropout 0, 0.2 and 0.5 after each hidden layer, on 1,438 and on 359 training rows,
stopped after 2, 5 and 30 epochs: the training loss nntrain prints (measured with dropout
on, averaged over the epoch), the same rows' loss in inference mode (`nntrain evaluate`),
and the validation loss."""
import numpy as np

from common import (DIGITS_REGIMES, SEEDS, Study, bar_chart, dataset, dense, digits_classifier, evaluate, layer, markdown_table,
                    mean_std, per_seed, pm, read_csv, run_parallel, split_rows, write_csv)

RATES = (0.0, 0.2, 0.5)
WIDTHS = (256, 256)
EPOCHS, LR = (2, 5, 30), 1e-3
REGIMES = DIGITS_REGIMES


def hidden(rate):
    layers, source = [], "pixels"
    for index, units in enumerate(WIDTHS, start=1):
        layers.append(dense(f"h{index}", source, units))
        source = f"h{index}"
        if rate > 0:
            layers.append(layer(f"drop{index}", "dropout", source, rate=rate))
            source = f"drop{index}"
    return layers


def split_files(study, regime, seed):
    """The training and validation rows as files, so the training rows can be evaluated too."""
    header, rows = read_csv(dataset("digits.csv"))
    training, validation = split_rows(len(rows), seed, REGIMES[regime])
    index = list(REGIMES).index(regime)
    return (write_csv(study.path(f"train-{index}-{seed}.csv"), header, rows[np.sort(training)]),
            write_csv(study.path(f"validation-{index}-{seed}.csv"), header, rows[np.sort(validation)]))


def run(study, job):
    rate, regime, epochs, seed = job
    key = f"{RATES.index(rate)}-{list(REGIMES).index(regime)}-{epochs}-{seed}"
    train, validation = split_files(study, regime, seed)
    metrics = study.fit(study.model(f"{key}.json", digits_classifier(hidden(rate))), train, f"{key}.ckpt", seed=seed,
                        epochs=epochs, lr=LR, validation_data=validation)
    inference = evaluate(study.path(f"{key}.ckpt"), train)
    result = (metrics["loss"], inference["loss"], metrics["val_loss"], inference["accuracy"], metrics["val_accuracy"])
    study.log(f"dropout {rate}, {regime}, {epochs} epochs, seed {seed}: printed loss {result[0]:.4f}, train (inference) {result[1]:.4f}, "
              f"val {result[2]:.4f}")
    return job, result


def main():
    with Study("s13_dropout_validation") as study:
        jobs = [(r, g, e, s) for g in REGIMES for r in RATES for e in EPOCHS for s in SEEDS]
        results = per_seed(run_parallel(lambda job: run(study, job), jobs))

        def column(case, index):
            return [r[index] for r in results[case]]

        all_cases = [(rate, regime, epochs) for regime in REGIMES for rate in RATES for epochs in EPOCHS]
        rows = [[regime, f"{rate:g}", str(epochs), pm(column(case, 0)), pm(column(case, 1)), pm(column(case, 2)),
                 f"{sum(r[2] < r[0] for r in results[case])} of {len(SEEDS)}"] for case in all_cases for rate, regime, epochs in [case]]
        table = markdown_table(["training data", "dropout", "epochs", "training loss, printed (dropout on)",
                                "training rows, inference mode", "val loss", "val < printed"], rows)
        path, link = study.image("s13_dropout_validation.svg")
        # The chart: the first regime after the fewest epochs, where the effect is.
        cases = [(rate, list(REGIMES)[0], EPOCHS[0]) for rate in RATES] + [(rate, list(REGIMES)[0], EPOCHS[-1]) for rate in RATES]
        labels = ("train, printed", "train, inference", "validation")
        cells = [[mean_std(column(case, i)) for case in cases] for i in range(3)]
        bar_chart(path, [f"dropout {rate:g}\nepoch {epochs}" for rate, _, epochs in cases], list(labels),
                  [[m for m, _ in row] for row in cells], [[d for _, d in row] for row in cells],
                  f"Digits, 2 × 256 relu, {list(REGIMES)[0]}: which loss is lower?", "loss (mean ± std, 3 seeds)")

        def mean(case, index):
            return mean_std(column(case, index))[0]

        beats_printed = [case for case in all_cases if mean(case, 2) < mean(case, 0)]
        beats_inference = [case for case in all_cases if mean(case, 2) < mean(case, 1)]
        described = lambda cases: ", ".join(f"dropout {r:g} after {e} epochs on {g.split(' ')[0]} rows" for r, g, e in cases) or "never"  # noqa: E731
        answer = (f"Only against the printed training loss: the validation loss was lower than it with {described(beats_printed)}, "
                  f"because that loss is measured with dropout switching units off (and averaged over an epoch of a model "
                  f"still learning); against the same training rows in inference mode, validation was lower "
                  f"{described(beats_inference)} — dropout makes validation look better than training, it does not make "
                  f"the model fit unseen rows better than the ones it trained on.")
        if beats_inference:
            answer = (f"Yes, even in inference mode with {described(beats_inference)}; against the printed (dropout-on) "
                      f"training loss with {described(beats_printed)}.")
        study.write_section(
            13, "Can dropout make validation beat training?",
            "Can dropout make the validation loss lower than the training loss — and when?",
            f"`digits.csv` split by seed into training and validation files (the training rows: "
            f"{', '.join(REGIMES)}), 64 standardized pixels → {' → '.join(map(str, WIDTHS))} relu, `dropout` of the row's rate "
            f"after each → 10-way softmax. `nntrain fit --data train.csv --validation-data validation.csv --lr {LR:g} "
            f"--epochs {'|'.join(map(str, EPOCHS))} --seed 1|2|3 --threads 1 --json` (adam, batch 32): the printed training loss is the last "
            f"epoch's mean over its batches, with dropout on; `nntrain evaluate CKPT --data train.csv` gives the same rows' loss "
            f"in inference mode (dropout off, as served). Mean ± std over {len(SEEDS)} seeds.",
            table, [("Training loss (printed and in inference mode) and validation loss", link)], answer)


if __name__ == "__main__":
    main()
