#!/usr/bin/env python3
"""Study 2: siamese encoders on digits and the unbalanced-pairs question. Pairs of digits 0-6
train a shared encoder with a contrastive loss: drawn uniformly (the natural ~14 % similar),
balanced to 50 %, or natural with the similar pairs weighted up (class_weight balanced). Then
the pair metrics on held-out natural pairs of the same digits, and one-shot accuracy on the
digits 7-9 the encoder never saw."""
import json

import numpy as np

from common import (ROOT, SEEDS, Study, bar_chart, dataset, markdown_table, mean_std, pct, pm, read_csv, run_nntrain,
                    run_parallel, split_rows, within_noise, write_csv)

SEEN, HELD_OUT = range(0, 7), range(7, 10)
PAIRS, VALIDATION_PAIRS = 8000, 4000
EPOCHS, LR = 20, 3e-3
EPISODES = 2000
CONDITIONS = {
    "natural pairs": dict(positive_fraction=None, class_weight=None),
    "balanced pairs": dict(positive_fraction=0.5, class_weight=None),
    "natural, class-weighted": dict(positive_fraction=None, class_weight="balanced"),
}


def siamese(class_weight):
    """examples/digits-siamese.json (64 → 64 relu → 16 shared by both branches, contrastive
    margin 1) with or without the class weight."""
    with open(f"{ROOT}/examples/digits-siamese.json") as file:
        spec = json.load(file)
    spec["outputs"][0].pop("class_weight", None)
    if class_weight:
        spec["outputs"][0]["class_weight"] = class_weight
    return spec


def pairs(study, source, count, seed, out, positive_fraction=None):
    flags = ["--positive-fraction", str(positive_fraction)] if positive_fraction is not None else []
    run_nntrain(["pairs", "--data", source, "--pairs", str(count), "--seed", str(seed), "--out", study.path(out), *flags])
    return study.path(out)


def data_files(study, seed):
    """Per seed: the seen digits split 80/20 (training pairs from the 80 %, natural validation
    pairs from the 20 %), and the unseen digits halved into one-shot support and queries."""
    header, rows = read_csv(dataset("digits.csv"))
    labels = rows[:, header.index("label")]
    seen, unseen = rows[np.isin(labels, SEEN)], rows[np.isin(labels, HELD_OUT)]
    train, validation = (seen[i] for i in split_rows(len(seen), seed))
    write_csv(study.path(f"seen-train-{seed}.csv"), header, train)
    write_csv(study.path(f"seen-validation-{seed}.csv"), header, validation)
    order = np.random.default_rng(seed).permutation(len(unseen))
    write_csv(study.path(f"support-{seed}.csv"), header, unseen[np.sort(order[::2])])
    write_csv(study.path(f"query-{seed}.csv"), header, unseen[np.sort(order[1::2])])
    for name, options in CONDITIONS.items():
        pairs(study, study.path(f"seen-train-{seed}.csv"), PAIRS, seed, f"pairs-{list(CONDITIONS).index(name)}-{seed}.csv",
              options["positive_fraction"])
    validation_pairs = pairs(study, study.path(f"seen-validation-{seed}.csv"), VALIDATION_PAIRS, seed + 50,
                             f"validation-pairs-{seed}.csv")
    _, values = read_csv(validation_pairs)
    return float(values[:, -1].mean())


def run(study, job):
    condition, seed = job
    index = list(CONDITIONS).index(condition)
    model_path = study.model(f"{index}-{seed}.json", siamese(CONDITIONS[condition]["class_weight"]))
    checkpoint = f"{index}-{seed}.ckpt"
    metrics = study.fit(model_path, study.path(f"pairs-{index}-{seed}.csv"), checkpoint, target="similar",
                        validation_data=study.path(f"validation-pairs-{seed}.csv"), seed=seed, epochs=EPOCHS, lr=LR)
    one_shot = json.loads(run_nntrain(["evaluate", study.path(checkpoint), "--one-shot", "--support", study.path(f"support-{seed}.csv"),
                                       "--data", study.path(f"query-{seed}.csv"), "--episodes", str(EPISODES),
                                       "--seed", str(seed), "--json"]).strip().splitlines()[-1])
    result = dict(auc=metrics["val_auc"], precision=metrics.get("val_precision", 0.0), recall=metrics.get("val_recall", 0.0),
                  one_shot=one_shot["one_shot_accuracy"], nearest=one_shot["nearest_neighbour_accuracy"])
    study.log(f"{condition}, seed {seed}: val_auc {result['auc']:.4f}, precision {result['precision']:.3f}, "
              f"recall {result['recall']:.3f}, 3-way one-shot {result['one_shot']:.3f}")
    return job, result


def main():
    with Study("s2_siamese") as study:
        natural_share = [data_files(study, seed) for seed in SEEDS]
        results = {}
        for (condition, _), value in run_parallel(lambda job: run(study, job), [(c, s) for c in CONDITIONS for s in SEEDS]):
            results.setdefault(condition, []).append(value)

        def column(condition, key):
            return [r[key] for r in results[condition]]

        table = markdown_table(
            ["training pairs", "val ROC AUC", "precision (d < 0.5)", "recall (d < 0.5)", "3-way one-shot, unseen digits",
             "nearest neighbour, unseen digits"],
            [[c, pm(column(c, "auc")), pm(column(c, "precision")), pm(column(c, "recall")), pct(column(c, "one_shot")),
              pct(column(c, "nearest"))] for c in CONDITIONS])
        path, link = study.image("s2_siamese.svg")
        keys = [("auc", "val ROC AUC"), ("recall", "recall at d < 0.5"), ("one_shot", "3-way one-shot (unseen)")]
        cells = [[mean_std(column(c, key)) for key, _ in keys] for c in CONDITIONS]
        bar_chart(path, [label for _, label in keys], list(CONDITIONS), [[m for m, _ in row] for row in cells],
                  [[e for _, e in row] for row in cells], "Siamese digits encoders: natural vs balanced vs weighted pairs",
                  "mean ± std over 3 seeds")
        study.write_section(
            2, "Siamese networks and unbalanced pairs",
            "One-shot learning … would usually reflect to siamese network. Question: when we train siamese network, do "
            "we have unbalanced data problem?",
            setup(natural_share), table, [("Pair metrics and one-shot accuracy per way of drawing the pairs", link)],
            answer(results, column, natural_share))


def setup(natural_share):
    return (f"Digits {SEEN.start}-{SEEN.stop - 1} split 80/20 per seed; `nntrain pairs` draws {PAIRS:,} training pairs "
            f"from the 80 %: uniformly (*natural*: {100 * np.mean(natural_share):.1f} % similar, Σ p² of 7 classes), with "
            f"`--positive-fraction 0.5` (*balanced*), or uniformly with `\"class_weight\": \"balanced\"` on the head "
            f"(*class-weighted*: similar pairs weigh ≈ 3.5, dissimilar ≈ 0.58). Model `examples/digits-siamese.json` "
            f"(64 pixels → 64 relu → 16, shared by both branches; contrastive loss, margin 1); `nntrain fit --target "
            f"similar --epochs {EPOCHS} --lr {LR} --seed 1|2|3 --threads 1`. Validation: {VALIDATION_PAIRS:,} natural "
            f"pairs of the held-out 20 % (ROC AUC; precision and recall of \"similar when the distance < margin/2\"). "
            f"One-shot: digits {HELD_OUT.start}-{HELD_OUT.stop - 1}, never seen in training, halved into support and "
            f"queries; `nntrain evaluate --one-shot --episodes {EPISODES}` (3-way, chance 33.3 %) and the nearest "
            f"neighbour among all support rows. Mean ± std over {len(SEEDS)} seeds.")


def answer(results, column, natural_share):
    def mean(condition, key):
        return mean_std(column(condition, key))[0]

    natural, balanced, weighted = CONDITIONS
    recall_gap = 100 * (mean(balanced, "recall") - mean(natural, "recall"))
    auc_noise = within_noise(column(natural, "auc"), column(balanced, "auc"))
    one_shot_noise = within_noise(column(natural, "one_shot"), column(balanced, "one_shot")) and \
        within_noise(column(natural, "one_shot"), column(weighted, "one_shot"))
    return (f"Yes, the pairs are unbalanced ({100 * np.mean(natural_share):.0f} % similar for 7 digits), and it shows at "
            f"the threshold: recall of similar pairs is {100 * mean(natural, 'recall'):.0f} % trained on natural pairs "
            f"against {100 * mean(balanced, 'recall'):.0f} % balanced ({recall_gap:+.0f} points) and "
            f"{100 * mean(weighted, 'recall'):.0f} % class-weighted, while the ranking is "
            f"{'about the same' if auc_noise else 'different'} (AUC {mean(natural, 'auc'):.3f} / {mean(balanced, 'auc'):.3f} / "
            f"{mean(weighted, 'auc'):.3f}) and 3-way one-shot accuracy on unseen digits is "
            f"{100 * mean(natural, 'one_shot'):.1f} / {100 * mean(balanced, 'one_shot'):.1f} / "
            f"{100 * mean(weighted, 'one_shot'):.1f} % (natural / balanced / weighted"
            f"{', within noise' if one_shot_noise else ''}; chance 33.3 %).")


if __name__ == "__main__":
    main()
