#!/usr/bin/env python3
"""Study 7: dead ReLUs against the learning rate. A digits MLP of three relu layers trained
with adam and with plain sgd over a sweep of rates; the fraction of units that are zero on
every row (`nntrain diagnose`), per layer, and the validation accuracy."""
from common import (SEEDS, PALETTE, RunFailed, Study, dataset, diagnose, digits_classifier, finished, line_chart,
                    markdown_table, mean_series, mean_std, mlp, pct, per_seed, run_parallel)

WIDTHS = (128, 128, 128)
LAYERS = [f"h{i}" for i in range(1, len(WIDTHS) + 1)]
RATES = (1e-4, 3e-4, 1e-3, 3e-3, 6e-3, 1e-2, 2e-2, 3e-2, 1e-1, 3e-1, 1.0)
OPTIMIZERS = ("adam", "sgd")
EPOCHS = 20
CLAIM = (0.2, 0.3)


def run(study, job):
    """(val accuracy, {layer: dead fraction}) or (None, None) when the loss diverged."""
    optimizer, rate, seed = job
    key = f"{optimizer}-{RATES.index(rate)}-{seed}"
    model_path = study.model(f"{key}.json", digits_classifier(mlp(WIDTHS)))
    try:
        metrics = study.fit(model_path, dataset("digits.csv"), f"{key}.ckpt", seed=seed, epochs=EPOCHS,
                            optimizer=optimizer, lr=rate)
    except RunFailed as failure:
        study.log(f"{optimizer} lr {rate:g}, seed {seed}: {failure}")
        return job, (None, None)
    table = diagnose(study.path(f"{key}.ckpt"), dataset("digits.csv"))
    dead = {name: table[name]["dead"] for name in LAYERS}
    study.log(f"{optimizer} lr {rate:g}, seed {seed}: val_accuracy {metrics['val_accuracy']:.4f}, dead "
              + " ".join(f"{name} {fraction:.0%}" for name, fraction in dead.items()))
    return job, (metrics["val_accuracy"], dead)


def overall(dead):
    """Dead fraction of all hidden units (the layers are equally wide)."""
    return None if dead is None else sum(dead.values()) / len(dead)


def charts(study, results):
    dead_path, dead_link = study.image("s7_dead_relu.svg")
    series = []
    for optimizer, dashed in zip(OPTIMIZERS, (False, True)):
        for index, name in enumerate(LAYERS):
            runs = [[d[name] if d else None for _, d in results[optimizer, rate]] for rate in RATES]
            series.append(mean_series(f"{optimizer}, {name}", RATES, runs, dashed=dashed, color=PALETTE[index]))
    line_chart(dead_path, series, "Digits: dead relu units after 20 epochs", "learning rate",
               "fraction of the layer's units dead", log_x=True,
               references=[("y", CLAIM[0], "20 %"), ("y", CLAIM[1], "30 %")], y_limits=(0, 1))
    accuracy_path, accuracy_link = study.image("s7_dead_relu_accuracy.svg")
    series = [mean_series(optimizer, RATES, [[a for a, _ in results[optimizer, rate]] for rate in RATES])
              for optimizer in OPTIMIZERS]
    line_chart(accuracy_path, series, "Digits: validation accuracy", "learning rate", "validation accuracy",
               log_x=True, references=[("y", 0.1, "chance")], y_limits=(0, 1))
    return [("Dead relu fraction per layer vs learning rate", dead_link), ("Accuracy vs learning rate", accuracy_link)]


def table(results):
    rows = []
    for optimizer in OPTIMIZERS:
        for rate in RATES:
            runs = results[optimizer, rate]
            rows.append([optimizer, f"{rate:g}", pct([a for a, _ in runs])]
                        + [pct([d[name] if d else None for _, d in runs]) for name in LAYERS]
                        + [pct([overall(d) for _, d in runs])])
    return markdown_table(["optimizer", "lr", "val accuracy"] + [f"dead in {name}" for name in LAYERS] + ["dead, all"], rows)


def answer(results):
    """Whether a network that trains well has 20-30 % dead units, and at which rates they appear."""
    def mean_of(values):
        values = finished(values)
        return mean_std(values)[0] if values else None

    def dead(optimizer, rate):
        return mean_of([overall(d) for _, d in results[optimizer, rate]])

    def accuracy(optimizer, rate):
        return mean_of([a for a, _ in results[optimizer, rate]])

    def at(optimizer, rate):
        return f"lr {rate:g} ({100 * dead(optimizer, rate):.0f} % dead, {100 * accuracy(optimizer, rate):.1f} % accuracy)"

    best = {o: max((r for r in RATES if accuracy(o, r) is not None), key=lambda r: accuracy(o, r)) for o in OPTIMIZERS}

    def where(optimizer):
        """The rates in the 20-30 % band, or the two around it, or 'never'."""
        rates = [r for r in RATES if dead(optimizer, r) is not None]
        band = [r for r in rates if CLAIM[0] <= dead(optimizer, r) <= CLAIM[1]]
        below = [r for r in rates if dead(optimizer, r) < CLAIM[0]]
        above = [r for r in rates if dead(optimizer, r) > CLAIM[1] and below and r > max(below)]
        if band or above:
            shown = band or [max(below), min(above)]
            side = "past" if min(shown) > best[optimizer] else "around"
            return (f"with {optimizer} {'at' if band else 'between'} " + " and ".join(at(optimizer, r) for r in shown)
                    + f", {side} its best rate,")
        diverged = [r for r in RATES if dead(optimizer, r) is None]
        return (f"never with {optimizer} (at most {100 * max(dead(optimizer, r) for r in rates):.0f} % dead"
                + (f"; it diverged from lr {min(diverged):g} on)" if diverged else ")"))

    top = max(dead(o, best[o]) for o in OPTIMIZERS)
    verdict = "No, not in a network that trains well" if top < CLAIM[0] else "Yes"
    first_alive = all(d[LAYERS[0]] == 0 for runs in results.values() for _, d in runs if d)
    return (f"{verdict}: at each optimizer's best rate at most {100 * top:.0f} % of the units were dead — "
            + ", ".join(f"{o} {at(o, best[o])}" for o in OPTIMIZERS) + " — and 20–30 % dead appeared only "
            + " and ".join(where(o) for o in OPTIMIZERS)
            + (f"; {LAYERS[0]} never lost a unit, the deeper layers died first." if first_alive else "."))


def main():
    with Study("s7_dead_relu") as study:
        jobs = [(optimizer, rate, seed) for optimizer in OPTIMIZERS for rate in RATES for seed in SEEDS]
        results = per_seed(run_parallel(lambda job: run(study, job), jobs))
        study.write_section(
            7, "Dead ReLUs vs learning rate", "Does \"20 to 30% dead\" hold, and where?",
            f"`digits.csv`, 64 standardized pixels → {' → '.join(map(str, WIDTHS))} relu (he_normal) → 10-way softmax. "
            f"`nntrain fit --optimizer adam|sgd --lr R --epochs {EPOCHS} --seed 1|2|3 --threads 1 --json` (batch 32) for "
            f"R from {RATES[0]:g} to {RATES[-1]:g}; then `nntrain diagnose CKPT --data digits.csv`: a unit is dead when it "
            f"is 0 on all 1,797 rows. A run whose loss became inf or NaN counts as diverged. Mean ± std over "
            f"{len(SEEDS)} seeds.",
            table(results), charts(study, results), answer(results))


if __name__ == "__main__":
    main()
