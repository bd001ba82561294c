#!/usr/bin/env python3
"""Study 5: does SELU self-normalize? A 16-layer digits MLP with selu + lecun_normal on
standardized inputs, the same on raw pixels (standardize false), relu + he_normal, and
relu + he_normal with batch norm; the mean and standard deviation of every block's output
(from `nntrain diagnose`) at initialization and after training, and the accuracy."""
from common import (SEEDS, Study, dataset, dense, diagnose, digits_classifier, layer, line_chart, markdown_table,
                    mean_series, mean_std, pm, pct, run_parallel, short_number)

DEPTH, WIDTH = 16, 64
EPOCHS, LR = 20, 1e-3
# A checkpoint "at initialization": a rate of 1e-9 moves no weight by more than ~1e-6 in 10
# epochs, while batch norm's moving statistics (momentum 0.99) converge over its ~450 steps,
# so that diagnose's inference-mode pass normalizes as training would.
INIT_LR, INIT_EPOCHS = 1e-9, 10
REPORTED_LAYERS = (1, DEPTH // 2, DEPTH)


def blocks(activation, initializer, batch_norm):
    """DEPTH blocks of WIDTH units; each block's output is named b<i> for diagnose."""
    layers, source = [], "pixels"
    for index in range(1, DEPTH + 1):
        if batch_norm:
            layers += [dense(f"d{index}", source, WIDTH, "linear", initializer=initializer),
                       layer(f"n{index}", "batch_norm", f"d{index}"),
                       layer(f"b{index}", "activation", f"n{index}", activation=activation)]
        else:
            layers.append(dense(f"b{index}", source, WIDTH, activation, initializer=initializer))
        source = f"b{index}"
    return layers


CONFIGS = {
    "selu (lecun_normal)": (blocks("selu", "lecun_normal", False), True),
    "selu, raw inputs": (blocks("selu", "lecun_normal", False), False),
    "relu (he_normal)": (blocks("relu", "he_normal", False), True),
    "relu + batch norm": (blocks("relu", "he_normal", True), True),
}
STAGES = {"init": dict(lr=INIT_LR, epochs=INIT_EPOCHS), "trained": dict(lr=LR, epochs=EPOCHS)}


def run(study, job):
    """Train (or barely train, for 'init') and diagnose: (accuracy, [(mean, std) per block])."""
    config, stage, seed = job
    hidden, standardize = CONFIGS[config]
    key = f"{list(CONFIGS).index(config)}-{stage}-{seed}"
    model_path = study.model(f"{key}.json", digits_classifier(hidden, standardize=standardize))
    checkpoint = f"{key}.ckpt"
    metrics = study.fit(model_path, dataset("digits.csv"), checkpoint, seed=seed, **STAGES[stage])
    table = diagnose(study.path(checkpoint), dataset("digits.csv"))
    per_block = [(table[f"b{i}"]["mean"], table[f"b{i}"]["std"]) for i in range(1, DEPTH + 1)]
    study.log(f"{config}, {stage}, seed {seed}: val_accuracy {metrics['val_accuracy']:.4f}, "
              f"block {DEPTH} mean {per_block[-1][0]:.3f} std {per_block[-1][1]:.3f}")
    return job, (metrics["val_accuracy"], per_block)


def moments(results, config, stage, block, which):
    """Per seed: the mean (which=0) or std (which=1) of a block's output (blocks count from 1)."""
    return [results[config, stage, seed][1][block - 1][which] for seed in SEEDS]


def accuracies(results, config):
    return [results[config, "trained", seed][0] for seed in SEEDS]


def std_chart(study, stage, results):
    path, link = study.image(f"s5_selu_{stage}.svg")
    numbers = range(1, DEPTH + 1)
    series = [mean_series(config, numbers, [moments(results, config, stage, n, 1) for n in numbers]) for config in CONFIGS]
    values = [y for s in series for y in s.ys]
    line_chart(path, series, f"Std of each block's output, {'at initialization' if stage == 'init' else 'trained'}",
               "block (dense layer, + batch norm, + activation)", "std over rows and units (diagnose)",
               log_y=max(values) / min(values) > 20, x_ticks=list(numbers),
               references=[("y", 1.0, "std 1")])
    return f"Per-layer std, {stage}", link


def table(results):
    header = ["network", "checkpoint", "val accuracy"] + [f"block {b}: mean, std" for b in REPORTED_LAYERS]
    rows = []
    for config in CONFIGS:
        for stage in STAGES:
            accuracy = pct(accuracies(results, config)) if stage == "trained" else "—"
            rows.append([config, stage, accuracy] + [f"{pm(moments(results, config, stage, b, 0), 2)}, "
                                                     f"{pm(moments(results, config, stage, b, 1), 2)}" for b in REPORTED_LAYERS])
    return markdown_table(header, rows)


def answer(results):
    selu, raw, relu, _ = CONFIGS

    def last(config, stage, which):
        return mean_std(moments(results, config, stage, DEPTH, which))[0]

    def accuracy(config):
        return 100 * mean_std(accuracies(results, config))[0]

    ranking = "; ".join(f"{config} {accuracy(config):.1f} %" for config in sorted(CONFIGS, key=accuracy, reverse=True))
    first_raw = mean_std(moments(results, raw, "init", 1, 1))[0]
    return (f"At initialization yes: with standardized inputs block {DEPTH} of the selu stack is at mean "
            f"{last(selu, 'init', 0):.2f}, std {last(selu, 'init', 1):.2f} (relu: {last(relu, 'init', 0):.2f}, "
            f"{last(relu, 'init', 1):.2f}), and even from raw pixels the std falls from {first_raw:.2f} at block 1 to "
            f"{last(raw, 'init', 1):.2f} at block {DEPTH}; after {EPOCHS} epochs of training it is not (block {DEPTH}: "
            f"mean {last(selu, 'trained', 0):.2f}, std {last(selu, 'trained', 1):.2f}); validation accuracies: {ranking}.")


def main():
    with Study("s5_selu") as study:
        jobs = [(config, stage, seed) for config in CONFIGS for stage in STAGES for seed in SEEDS]
        results = dict(run_parallel(lambda job: run(study, job), jobs))
        images = [std_chart(study, stage, results) for stage in STAGES]
        study.write_section(
            5, "Does SELU self-normalize?",
            "Does SELU self-normalize?",
            f"`digits.csv`, 64 pixels → {DEPTH} blocks of {WIDTH} units → 10-way softmax. A block is `dense` with selu "
            f"(lecun_normal) or relu (he_normal), or `dense` (linear, he_normal) → `batch_norm` → relu `activation`. "
            f"*raw inputs*: `\"standardize\": false` (pixels 0…16). Trained: `nntrain fit --epochs {EPOCHS} --lr {LR} "
            f"--seed 1|2|3 --threads 1 --json` (adam, batch 32). *init*: the same with `--lr {short_number(INIT_LR)} --epochs "
            f"{INIT_EPOCHS}` (weights unchanged, batch norm's moving statistics settled). Mean and std of each block's "
            f"output over all 1,797 rows and its units, from `nntrain diagnose CKPT --data digits.csv` (inference mode); "
            f"mean ± std over {len(SEEDS)} seeds.",
            table(results), images, answer(results))


if __name__ == "__main__":
    main()
