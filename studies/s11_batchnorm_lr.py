#!/usr/bin/env python3
"""Study 11: does batch norm allow a higher learning rate? A digits MLP of three relu layers,
with and without batch norm after each dense layer: lr-find's usable range (where the loss
stops falling) and a grid of fits at rising rates."""
import json

from common import (SEEDS, Study, dataset, digits_classifier, layer, dense, line_chart, markdown_table, mean_series,
                    mean_std, mlp, pct, per_seed, run_nntrain, run_parallel, RunFailed, finished)

WIDTHS = (128, 128, 128)
RATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
EPOCHS = 15
MODELS = ("plain", "batch norm")


def hidden(kind):
    """Three relu layers; with batch norm, dense (linear) → batch_norm → relu each."""
    if kind == "plain":
        return mlp(WIDTHS)
    layers, source = [], "pixels"
    for index, units in enumerate(WIDTHS, start=1):
        layers += [dense(f"d{index}", source, units, "linear"), layer(f"bn{index}", "batch_norm", f"d{index}"),
                   layer(f"h{index}", "activation", f"bn{index}", activation="relu")]
        source = f"h{index}"
    return layers


def fit(study, job):
    kind, rate, seed = job
    key = f"{MODELS.index(kind)}-{RATES.index(rate)}-{seed}"
    try:
        metrics = study.fit(study.model(f"{key}.json", digits_classifier(hidden(kind))), dataset("digits.csv"), f"{key}.ckpt",
                            seed=seed, epochs=EPOCHS, lr=rate)
    except RunFailed as failure:
        study.log(f"{kind} lr {rate:g}, seed {seed}: {failure}")
        return job, None
    study.log(f"{kind} lr {rate:g}, seed {seed}: val_accuracy {metrics['val_accuracy']:.4f}")
    return job, metrics["val_accuracy"]


def sweep(study, job):
    """lr-find's rate at the smoothed minimum (where the loss stops falling) and its choice."""
    kind, seed = job
    model = study.model(f"sweep-{MODELS.index(kind)}-{seed}.json", digits_classifier(hidden(kind)))
    output = run_nntrain(["lr-find", "--model", model, "--data", dataset("digits.csv"), "--seed", str(seed), "--threads", "1",
                          "--json", "--csv", study.path(f"sweep-{seed}.csv"), "--svg", study.path(f"sweep-{seed}.svg")])
    result = json.loads(output.strip().splitlines()[-1])
    study.log(f"{kind}, seed {seed}: lr-find minimum at {result['minimum_lr']:.3g}, suggests {result['suggested_lr']:.3g}")
    return job, (result["minimum_lr"], result["suggested_lr"])


def main():
    with Study("s11_batchnorm_lr") as study:
        fits = per_seed(run_parallel(lambda job: fit(study, job), [(k, r, s) for k in MODELS for r in RATES for s in SEEDS]))
        sweeps = {kind: values for (kind,), values in per_seed(run_parallel(lambda job: sweep(study, job), [(k, s) for k in MODELS for s in SEEDS])).items()}

        def accuracy(kind, rate):
            values = finished(fits[kind, rate])
            return mean_std(values)[0] if len(values) == len(SEEDS) else 0.0

        def usable(kind):
            """The rates within 1 point of the model's best (every seed finished)."""
            best = max(accuracy(kind, r) for r in RATES)
            return [r for r in RATES if accuracy(kind, r) >= best - 0.01]

        rows = [[kind, f"{rate:g}", pct(fits[kind, rate])] for kind in MODELS for rate in RATES]
        table = markdown_table(["model", "lr", "val accuracy"], rows)
        sweep_rows = [[kind, f"{mean_std([m for m, _ in sweeps[kind]])[0]:.3g}", f"{mean_std([c for _, c in sweeps[kind]])[0]:.3g}",
                       f"{min(usable(kind)):g} … {max(usable(kind)):g}"] for kind in MODELS]
        table += "\n\n" + markdown_table(["model", "lr-find: loss stops falling at", "lr-find's choice",
                                          "rates within 1 point of the best fit"], sweep_rows)
        path, link = study.image("s11_batchnorm_lr.svg")
        line_chart(path, [mean_series(kind, RATES, [fits[kind, r] for r in RATES]) for kind in MODELS],
                   f"Digits, 3 × 128 relu: validation accuracy after {EPOCHS} epochs", "learning rate", "validation accuracy",
                   log_x=True, y_limits=(0, 1))
        plain_top, norm_top = max(usable("plain")), max(usable("batch norm"))
        plain_min, norm_min = (mean_std([m for m, _ in sweeps[k]])[0] for k in MODELS)
        verdict = "Yes" if norm_top > plain_top else "Not here"
        answer = (f"{verdict}: with batch norm the loss keeps falling up to {norm_min:.2g} in lr-find (without: {plain_min:.2g}) "
                  f"and fits stay within a point of the best up to lr {norm_top:g} (without: {plain_top:g}, "
                  f"{100 * accuracy('plain', max(RATES)):.0f} % at {max(RATES):g} against "
                  f"{100 * accuracy('batch norm', max(RATES)):.0f} % with batch norm).")
        study.write_section(
            11, "Does batch norm allow a higher learning rate?", "Batch norm lets us use a higher learning rate — how much higher?",
            f"`digits.csv`, 64 standardized pixels → 3 × 128 relu → 10-way softmax, plain or with `batch_norm` between each "
            f"dense layer (linear) and its relu. `nntrain fit --lr R --epochs {EPOCHS} --seed 1|2|3 --threads 1 --json` (adam, "
            f"batch 32) for R from {RATES[0]:g} to {RATES[-1]:g}, and `nntrain lr-find --json` on the same model files (the rate "
            f"where the smoothed loss stops falling, and the rate the finder chose). A diverged run counts as 0 in 'within 1 "
            f"point'. Mean ± std over {len(SEEDS)} seeds.",
            table, [("Validation accuracy vs learning rate, with and without batch norm", link)], answer)


if __name__ == "__main__":
    main()
