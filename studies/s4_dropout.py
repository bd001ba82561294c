#!/usr/bin/env python3
"""Study 4: should we put a dropout on each layer? Digits MLPs of two sizes with dropout on
the input and after every hidden layer, only before the output layer, or nowhere; on the
whole training split and on a scarce one (where overfitting, dropout's target, is worse)."""
from common import (SEEDS, DIGITS_REGIMES, Study, bar_chart, dataset, dense, digits_classifier, layer, markdown_table, mean_std, pct,
                    per_seed, run_parallel, within_noise)

SIZES = {"64-64": (64, 64), "512-512": (512, 512)}
PLACEMENTS = ("none", "before the last layer", "every layer")
RATE = 0.3
EPOCHS, LR = 40, 1e-3
REGIMES = DIGITS_REGIMES


def hidden_layers(widths, placement):
    """Dense relu layers; dropout on the pixels and after each of them ('every layer'), or
    only after the last one, right before the softmax layer ('before the last layer')."""
    layers = []

    def add(spec):
        layers.append(spec)
        return spec["name"]

    every = placement == "every layer"
    source = add(layer("drop0", "dropout", "pixels", rate=RATE)) if every else "pixels"
    for index, units in enumerate(widths, start=1):
        source = add(dense(f"h{index}", source, units))
        if every or (placement == "before the last layer" and index == len(widths)):
            source = add(layer(f"drop{index}", "dropout", source, rate=RATE))
    return layers


def run(study, job):
    size, placement, regime, seed = job
    key = f"{size}-{PLACEMENTS.index(placement)}-{list(REGIMES).index(regime)}-{seed}"
    model_path = study.model(f"{key}.json", digits_classifier(hidden_layers(SIZES[size], placement)))
    metrics = study.fit(model_path, dataset("digits.csv"), f"{key}.ckpt", seed=seed, epochs=EPOCHS, lr=LR,
                        validation_fraction=REGIMES[regime])
    study.log(f"{size}, dropout {placement}, {regime}, seed {seed}: val_accuracy {metrics['val_accuracy']:.4f}")
    return job, metrics["val_accuracy"]


def main():
    with Study("s4_dropout") as study:
        jobs = [(size, placement, regime, seed) for size in SIZES for regime in REGIMES for placement in PLACEMENTS
                for seed in SEEDS]
        accuracy = per_seed(run_parallel(lambda job: run(study, job), jobs))

        cases = [(size, regime) for size in SIZES for regime in REGIMES]
        table = markdown_table(["network", "training data"] + [f"dropout: {p}" for p in PLACEMENTS],
                               [[size, regime] + [pct(accuracy[size, p, regime]) for p in PLACEMENTS] for size, regime in cases])
        path, link = study.image("s4_dropout.svg")
        cells = [[mean_std(accuracy[size, p, regime]) for size, regime in cases] for p in PLACEMENTS]
        bar_chart(path, [f"{size}\n{regime.replace(' training', '')}" for size, regime in cases],
                  [f"dropout {p}" for p in PLACEMENTS], [[m for m, _ in row] for row in cells],
                  [[e for _, e in row] for row in cells], f"Digits: dropout {RATE} placement",
                  "validation accuracy (mean ± std, 3 seeds)", from_zero=False)

        study.write_section(
            4, "Should we put a dropout on each layer?",
            "Should we put a dropout to each layer?",
            f"`digits.csv`, 64 standardized pixels → two dense relu layers ({' or '.join(SIZES)}) → 10-way softmax. "
            f"Dropout (rate {RATE}) on the input and after both hidden layers (*every layer*), only after the second "
            f"hidden layer (*before the last layer*), or none. `nntrain fit --epochs {EPOCHS} --lr {LR} "
            f"--validation-fraction 0.2|0.8 --seed 1|2|3 --threads 1 --json` (adam, batch 32). Validation accuracy, "
            f"mean ± std over {len(SEEDS)} seeds.",
            table, [("Validation accuracy per dropout placement", link)], answer(accuracy, cases))


def answer(accuracy, cases):
    """Whether dropout on every layer wins, its gap to dropout before the last layer only, and
    what the best dropout gains over none."""
    def mean(case, placement):
        size, regime = case
        return 100 * mean_std(accuracy[size, placement, regime])[0]

    every_best = [c for c in cases if max(PLACEMENTS, key=lambda p: mean(c, p)) == "every layer"]
    gaps = [mean(c, "every layer") - mean(c, "before the last layer") for c in cases]
    noise = [(size, regime) for size, regime in cases
             if within_noise(accuracy[size, "every layer", regime], accuracy[size, "before the last layer", regime])]
    gains = [max(mean(c, p) for p in PLACEMENTS[1:]) - mean(c, "none") for c in cases]
    verdict = "Yes" if len(every_best) == len(cases) else "Not as a rule" if every_best else "No"
    return (f"{verdict}: dropout on every layer (input included) was the best placement in {len(every_best)} of "
            f"{len(cases)} cases and differed from dropout before the last layer only by {min(gaps):+.1f} to "
            f"{max(gaps):+.1f} points (within one standard deviation in {len(noise)} of {len(cases)}), and the best "
            f"placement changed accuracy against no dropout at all by {min(gains):+.1f} to {max(gains):+.1f} points.")


if __name__ == "__main__":
    main()
