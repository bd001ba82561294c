#!/usr/bin/env python3
"""Study 12: equal or shrinking layer widths, at the same parameter count? Three relu layers
on digits, widths equal (w, w, w), shrinking (4a, 2a, a) or growing (a, 2a, 4a), with a
chosen so that the three shapes have (nearly) the same number of parameters, at two sizes."""
from common import (SEEDS, Study, bar_chart, dataset, digits_classifier, markdown_table, mean_std, mlp, pct, per_seed, pm,
                    run_parallel, within_noise)

EQUAL_WIDTHS = (32, 128)
EPOCHS, LR = 20, 3e-3
SHAPES = ("equal", "shrinking", "growing")


def parameters(widths, inputs=64, classes=10):
    sizes = [inputs, *widths, classes]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))


def widths(shape, equal):
    """The shape's widths whose parameter count is nearest the equal shape's with width `equal`."""
    if shape == "equal":
        return (equal,) * 3
    target = parameters((equal,) * 3)
    make = (lambda a: (4 * a, 2 * a, a)) if shape == "shrinking" else (lambda a: (a, 2 * a, 4 * a))
    return make(min(range(1, 4 * equal), key=lambda a: abs(parameters(make(a)) - target)))


def run(study, job):
    shape, equal, seed = job
    layers = widths(shape, equal)
    key = f"{shape}-{equal}-{seed}"
    metrics = study.fit(study.model(f"{key}.json", digits_classifier(mlp(layers))), dataset("digits.csv"), f"{key}.ckpt",
                        seed=seed, epochs=EPOCHS, lr=LR)
    study.log(f"{shape} {layers}, seed {seed}: val_accuracy {metrics['val_accuracy']:.4f}")
    return job, (metrics["val_accuracy"], metrics["val_loss"])


def main():
    with Study("s12_layer_widths") as study:
        results = per_seed(run_parallel(lambda job: run(study, job), [(s, e, seed) for e in EQUAL_WIDTHS for s in SHAPES for seed in SEEDS]))
        rows = [[f"{parameters(widths(s, e)):,}", s, " → ".join(map(str, widths(s, e))), pct([a for a, _ in results[s, e]]),
                 pm([l for _, l in results[s, e]])] for e in EQUAL_WIDTHS for s in SHAPES]
        table = markdown_table(["parameters", "shape", "widths", "val accuracy", "val loss"], rows)
        path, link = study.image("s12_layer_widths.svg")
        cells = [[mean_std([a for a, _ in results[s, e]]) for e in EQUAL_WIDTHS] for s in SHAPES]
        bar_chart(path, [f"{parameters((e,) * 3):,} parameters" for e in EQUAL_WIDTHS], list(SHAPES), [[m for m, _ in row] for row in cells],
                  [[d for _, d in row] for row in cells], "Digits, three relu layers: the same parameters, shaped three ways",
                  "validation accuracy (mean ± std, 3 seeds)", from_zero=False)

        def accuracy(shape, equal):
            return 100 * mean_std([a for a, _ in results[shape, equal]])[0]

        parts = []
        for e in EQUAL_WIDTHS:
            a, b = [a for a, _ in results["equal", e]], [a for a, _ in results["shrinking", e]]
            relation = "within seed noise of" if within_noise(a, b) else ("above" if accuracy("equal", e) > accuracy("shrinking", e) else "below")
            parts.append(f"at {parameters((e,) * 3):,} parameters equal widths ({accuracy('equal', e):.1f} %) are {relation} "
                         f"shrinking ones ({accuracy('shrinking', e):.1f} %; growing {accuracy('growing', e):.1f} %)")
        answer = "; ".join(parts) + " — the parameter count, not how it is split across the layers, is what moved accuracy here."
        if any(not within_noise([a for a, _ in results["equal", e]], [a for a, _ in results["shrinking", e]]) for e in EQUAL_WIDTHS):
            answer = "; ".join(parts) + "."
        answer = answer[0].upper() + answer[1:]
        study.write_section(
            12, "Equal or shrinking layer widths?", "Same number of parameters: equal widths, or shrinking towards the output?",
            f"`digits.csv`, 64 standardized pixels → three relu layers → 10-way softmax. Equal widths (w, w, w) for w in "
            f"{', '.join(map(str, EQUAL_WIDTHS))}; shrinking (4a, 2a, a) and growing (a, 2a, 4a) with a chosen for the nearest "
            f"parameter count. `nntrain fit --lr {LR:g} --epochs {EPOCHS} --seed 1|2|3 --threads 1 --json` (adam, batch 32). "
            f"Mean ± std over {len(SEEDS)} seeds.",
            table, [("Validation accuracy by layer shape at two parameter counts", link)], answer)


if __name__ == "__main__":
    main()
