#!/usr/bin/env python3
"""Study 9: the notes' "# need to check": normalize the data to extremely small values and the
float computation does "some sort of relu" for you, so no activation function is needed.
First what float32 does with tiny numbers (numpy, the arithmetic nntrain trains in); then
digits MLPs with linear activations on inputs scaled down to 1e-44, against relu, and against
both on standardized inputs."""
import numpy as np

from common import (SEEDS, Study, dataset, diagnose, digits_classifier, line_chart, markdown_table,
                    mean_series, mean_std, mlp, pct, per_seed, read_csv, run_parallel, short_number, write_csv)

F32 = np.float32
TINY = np.finfo(F32).tiny                      # smallest normal float32, 1.18e-38
SMALLEST = np.nextafter(F32(0), F32(1))        # smallest subnormal, 1.4e-45
SCALES = (1.0, 1e-3, 1e-5, 1e-10, 1e-20, 1e-30, 1e-38, 1e-39, 1e-41, 1e-44)
ACTIVATIONS = ("linear", "relu")
WIDTHS = (64, 64)
EPOCHS, LR = 20, 1e-3


def flush_to_zero(values):
    """What a CPU in FTZ/DAZ mode does with a subnormal result or operand: ±0, keeping the sign."""
    values = np.asarray(values, dtype=F32)
    return np.where(np.abs(values) < TINY, np.copysign(F32(0), values), values)


def precision_bits(value):
    """Significant bits a float32 holds for this value: 24 for normal numbers, fewer below TINY."""
    return 24 if abs(value) >= TINY else max(0, 24 - int(np.ceil(np.log2(TINY / abs(value)))))


def show(value):
    """A float32 as a short number, keeping the sign of zero ('-0')."""
    return f"{float(value):.3g}"


def float32_facts():
    """(expression, float32 result, what it shows) rows, computed, not asserted."""
    x, w, bias = F32(1e-39), F32(0.05), F32(0.01)
    return [
        ("smallest normal / subnormal float32", f"{show(TINY)} / {show(SMALLEST)}", "below 1.18e-38 values are subnormal, down to 1.4e-45"),
        ("x = 1e-39 as float32", f"{show(x)} ({precision_bits(x)} significant bits of 24)", "a subnormal input keeps its value, with fewer bits"),
        ("w·x and −w·x, w = 0.05", f"{show(w * x)} / {show(-w * x)}", "both signs survive: no relu"),
        ("1e-7 · x and −1e-7 · x", f"{show(F32(1e-7) * x)} / {show(F32(-1e-7) * x)}", "underflow rounds both signs to ±0: symmetric, no relu"),
        ("bias + w·x, bias = 0.01", f"{show(bias + w * x)} (equal to the bias: {bool(bias + w * x == bias)})",
         f"a bias swallows the tiny product (float32 spacing at 0.01 is {show(np.spacing(bias))})"),
        ("FTZ(w·x), FTZ(−w·x); relu of both", f"{show(flush_to_zero(w * x))} / {show(flush_to_zero(-w * x))}; "
         f"{show(np.maximum(w * x, 0))} / {show(np.maximum(-w * x, 0))}", "flush-to-zero zeroes tiny values of either sign; relu keeps the positive one"),
        ("g² in Adam's second moment, g = 1e-39", show(x * x), "underflows to 0"),
    ]


def data_file(study, scale):
    """digits with the pixels (0…16) divided by 16 and multiplied by scale, written with
    %.9g so that 6.25e-41 stays 6.25e-41 until nntrain reads it into float32."""
    header, rows = read_csv(dataset("digits.csv"))
    scaled = rows.copy()
    scaled[:, :64] = rows[:, :64] / 16 * scale
    return write_csv(study.path(f"digits-{scale:g}.csv"), header, scaled)


def run(study, job):
    """(val accuracy, gradient norm of the first layer's weights) for one run; scale None means
    the pixels as they are, standardized by the model."""
    activation, scale, seed = job
    key = f"{activation}-{scale if scale is None else f'{scale:g}'}-{seed}"
    model_path = study.model(f"{key}.json", digits_classifier(mlp(WIDTHS, activation), standardize=scale is None))
    data = dataset("digits.csv") if scale is None else study.path(f"digits-{scale:g}.csv")
    metrics = study.fit(model_path, data, f"{key}.ckpt", seed=seed, epochs=EPOCHS, lr=LR)
    gradient = diagnose(study.path(f"{key}.ckpt"), data)["h1"]["gradient_norm"]
    study.log(f"{activation}, inputs {'standardized' if scale is None else f'× {scale:g}'}, seed {seed}: "
              f"val_accuracy {metrics['val_accuracy']:.4f}, |dL/dW1| {gradient:.3g}")
    return job, (metrics["val_accuracy"], gradient)


def main():
    with Study("s9_subnormal_relu") as study:
        for scale in SCALES:
            data_file(study, scale)
        jobs = [(a, scale, seed) for a in ACTIVATIONS for scale in (None,) + SCALES for seed in SEEDS]
        results = per_seed(run_parallel(lambda job: run(study, job), jobs))

        def accuracies(activation, scale):
            return [a for a, _ in results[activation, scale]]

        def gradient(activation, scale):
            return short_number(mean_std([g for _, g in results[activation, scale]])[0], 2)

        rows = [[label] + [cell for a in ACTIVATIONS for cell in (pct(accuracies(a, scale)), gradient(a, scale))]
                for label, scale in [("standardized", None)] + [(f"pixels/16 × {short_number(s)}", s) for s in SCALES]]
        table = markdown_table(["inputs"] + [f"{a}: {what}" for a in ACTIVATIONS for what in ("val accuracy", "‖dL/dW1‖")],
                               rows)
        path, link = study.image("s9_subnormal_relu.svg")
        series = [mean_series(f"{a}, scaled inputs", SCALES, [accuracies(a, s) for s in SCALES]) for a in ACTIVATIONS]
        references = [("y", mean_std(accuracies(a, None))[0], f"{a}, standardized inputs") for a in ACTIVATIONS]
        line_chart(path, series, "Digits: accuracy vs input scale (standardize false)", "largest input value",
                   "validation accuracy", log_x=True, y_limits=(0, 1), x_ticks=[1, 1e-10, 1e-20, 1e-30, 1e-40],
                   references=references + [("y", 0.1, "chance"), ("x", float(TINY), "← subnormal inputs")])
        facts = markdown_table(["float32", "result", "what it shows"], float32_facts())
        study.write_section(
            9, "Can float underflow be the activation function?",
            "One can normalize the data to extremely small values that the system's float computation will do some "
            "sort of relu for you, thus you don't even need to put an activation function. (# need to check)",
            f"First the float32 arithmetic itself (numpy; nntrain trains in float32), table below the chart. Then "
            f"`digits.csv` with the pixels divided by 16 and multiplied by a scale (largest input = the scale, "
            f"`\"standardize\": false`), 64 → {' → '.join(map(str, WIDTHS))} with *linear* activations (the claim) or "
            f"relu → 10-way softmax; controls: both on standardized pixels. `nntrain fit --epochs {EPOCHS} --lr {LR} "
            f"--seed 1|2|3 --threads 1 --json` (adam); ‖dL/dW1‖ is the first layer's weight gradient norm from "
            f"`nntrain diagnose`. Validation accuracy, mean ± std over {len(SEEDS)} seeds.",
            table, [("Accuracy vs input scale", link)], answer(accuracies, gradient),
            notes="What float32 does with tiny numbers (computed by the script):\n\n" + facts)


def answer(accuracies, gradient):
    def accuracy(activation, scale):
        return 100 * mean_std(accuracies(activation, scale))[0]

    failed = [s for s in SCALES if max(accuracy(a, s) for a in ACTIVATIONS) < 20]
    first = max(failed)
    return (f"No: float32 treats tiny numbers symmetrically — subnormals keep both signs, underflow gives ±0, and "
            f"flush-to-zero would zero |x| < 1.18e-38 of either sign, a dead zone around 0, not a relu — and training "
            f"fails long before that: from inputs of at most {short_number(first)} down both the linear and the relu "
            f"network stayed at chance level ({accuracy('linear', first):.1f} % and {accuracy('relu', first):.1f} % at "
            f"{short_number(first)}, {accuracy('linear', 1e-39):.1f} % and {accuracy('relu', 1e-39):.1f} % at 1e-39) against "
            f"{accuracy('linear', None):.1f} % (linear) and {accuracy('relu', None):.1f} % (relu) on standardized inputs, "
            f"because the first layer's gradient shrinks with its inputs (‖dL/dW1‖ {gradient('linear', first)} at "
            f"{short_number(first)}, {gradient('linear', 1e-39)} at 1e-39) and its weights would have to grow by the "
            f"inverse factor to matter.")


if __name__ == "__main__":
    main()
