"""What every study shares: where things are, running nntrain, small statistics, Markdown,
and a dependency-free SVG writer (line charts and grouped bar charts).

A study is a script `studies/sN_name.py` that trains small models with `nntrain --threads 1`
over a few seeds and writes `docs/studies/sN_name.md` (one `## N. Title` section) and its
charts under `docs/images/studies/`; `studies/build_doc.py` joins the sections into
docs/STUDIES.md. Only the standard library and numpy, so a fresh clone can rerun them.
"""
import concurrent.futures
import html
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATASETS = os.path.join(ROOT, "datasets")
SECTIONS_DIR = os.path.join(ROOT, "docs", "studies")
IMAGES_DIR = os.path.join(ROOT, "docs", "images", "studies")
# Image links are relative to docs/, where STUDIES.md lives.
IMAGES_LINK = "images/studies"

SEEDS = (1, 2, 3)
DIGITS_PIXELS = [f"px{i}" for i in range(64)]
# --validation-fraction for digits.csv (1,797 rows): nntrain's seeded split then trains on
# 1,438 rows, or on 359 — a scarce-data regime, where overfitting and sharing matter more.
DIGITS_REGIMES = {"1,438 training rows": 0.2, "359 training rows": 0.8}


def nntrain():
    """The nntrain binary: $NNTRAIN, or the release build of this checkout."""
    path = os.environ.get("NNTRAIN", os.path.join(ROOT, ".build", "release", "nntrain"))
    if not os.access(path, os.X_OK):
        sys.exit(f"no nntrain at {path}: run `swift build -c release --product nntrain` or set NNTRAIN")
    return path


def parallel_jobs():
    """At most two nntrain processes at once: the machines have two cores and each run is
    single-threaded (`--threads 1` keeps runs bit-reproducible)."""
    return max(1, min(2, int(os.environ.get("STUDY_JOBS", "2"))))


def dataset(name):
    return os.path.join(DATASETS, name)


# ---------------------------------------------------------------- data files

def read_csv(path):
    """(header, rows as a float64 matrix) of a numeric CSV file with a header row."""
    with open(path) as file:
        header = file.readline().strip().split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def write_csv(path, header, rows):
    # %.9g keeps every float32 digit, integers stay integers, and tiny values (1e-40) survive.
    np.savetxt(path, rows, delimiter=",", header=",".join(header), comments="", fmt="%.9g")
    return path


def split_rows(count, seed, validation_fraction=0.2):
    """Shuffled (training, validation) row indices, seeded."""
    order = np.random.default_rng(seed).permutation(count)
    held_out = int(round(count * validation_fraction))
    return order[held_out:], order[:held_out]


# ---------------------------------------------------------------- model files

def dense(name, source, units, activation="relu", **options):
    return {"name": name, "type": "dense", "inputs": [source], "units": units, "activation": activation, **options}


def layer(name, kind, source, **options):
    """Any other layer (batch_norm, dropout, activation, …) reading one node."""
    return {"name": name, "type": kind, "inputs": [source], **options}


def mlp(widths, activation="relu", source="pixels", prefix="h", **options):
    """A chain of dense layers h1, h2, … reading `source`; options go to every layer."""
    layers = []
    for index, units in enumerate(widths, start=1):
        layers.append(dense(f"{prefix}{index}", source, units, activation, **options))
        source = layers[-1]["name"]
    return layers


def digits_classifier(hidden, standardize=True):
    """The 64 pixels → `hidden` layers → 10-way softmax on `label`. The input names its
    columns so that extra columns of a study's CSV are never read as features."""
    last = hidden[-1]["name"] if hidden else "pixels"
    return {
        "inputs": [{"name": "pixels", "columns": DIGITS_PIXELS, "standardize": standardize}],
        "layers": hidden + [dense("probabilities", last, 10, "softmax")],
        "outputs": [{"name": "label", "node": "probabilities", "loss": "sparse_categorical_crossentropy"}],
    }


def write_json(path, value):
    with open(path, "w") as file:
        json.dump(value, file, indent=1)
    return path


# ---------------------------------------------------------------- running nntrain

class RunFailed(Exception):
    """nntrain exited non-zero; the message is its error line (for example 'training loss
    became inf at epoch 1, step 3; …' when a learning rate diverges)."""


def cli_flags(options):
    """{"batch_size": 64, "lr": 0.01} → ["--batch-size", "64", "--lr", "0.01"]."""
    flags = []
    for key, value in options.items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


def run_nntrain(arguments):
    result = subprocess.run([nntrain(), *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        # The error is the last line, or the one before a usage hint.
        lines = [line for line in result.stderr.strip().splitlines() if line.strip() and "--help" not in line]
        raise RunFailed(f"nntrain {arguments[0]}: " + (lines[-1].strip() if lines else f"exit status {result.returncode}"))
    return result.stdout


def fit(model_path, data_path, checkpoint, **options):
    """Train and return the final metrics (`--json`, the last line of stdout).
    Options are fit's flags in snake_case: seed=1, epochs=20, lr=1e-3, batch_size=64, …"""
    output = run_nntrain(["fit", "--model", model_path, "--data", data_path,
                          "--checkpoint", checkpoint, "--json", "--threads", "1", *cli_flags(options)])
    return json.loads(output.strip().splitlines()[-1])


def evaluate(checkpoint, data_path):
    output = run_nntrain(["evaluate", checkpoint, "--data", data_path, "--json", "--threads", "1"])
    return json.loads(output.strip().splitlines()[-1])


# name, activation, units, dead, saturated, mean, std, |W|, |dL/dW|: exactly nine fields.
# Finding lines after the table ("h3: selu output has …") never have an integer third field.
DIAGNOSE_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\d+)" + r"\s+(\S+)" * 6 + r"\s*$")


def parse_diagnose(text):
    """The per-layer table of `nntrain diagnose` as dicts; '-' (not applicable) is None,
    percentages are fractions."""
    def number(field):
        if field == "-":
            return None
        return float(field[:-1]) / 100 if field.endswith("%") else float(field)

    layers = []
    for line in text.splitlines():
        match = DIAGNOSE_ROW.match(line)
        if not match or match.group(1) == "layer":
            continue
        name, activation, units, *values = match.groups()
        dead, saturated, mean, std, weight_norm, gradient_norm = map(number, values)
        layers.append(dict(name=name, activation=activation, units=int(units), dead=dead, saturated=saturated,
                           mean=mean, std=std, weight_norm=weight_norm, gradient_norm=gradient_norm))
    return layers


def diagnose(checkpoint, data_path):
    """Per-layer diagnosis of a checkpoint on (at most 4,096 of) the rows of data_path,
    keyed by layer name."""
    return {row["name"]: row for row in parse_diagnose(run_nntrain(["diagnose", checkpoint, "--data", data_path]))}


def run_parallel(function, items):
    """function(item) for every item, two at a time, results in the items' order."""
    with concurrent.futures.ThreadPoolExecutor(parallel_jobs()) as pool:
        return list(pool.map(function, items))


def per_seed(pairs):
    """{job without its seed: [value, …]} from (job, value) pairs whose job tuple ends with the
    seed; the values keep the pairs' order (SEEDS order when the jobs list seeds last)."""
    grouped = {}
    for job, value in pairs:
        grouped.setdefault(job[:-1], []).append(value)
    return grouped


# ---------------------------------------------------------------- statistics and Markdown

def mean_std(values):
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def finished(values):
    """The values of the runs that finished: a diverged run's value is None."""
    return [v for v in values if v is not None]


def summarize(values, formatted):
    """formatted(mean, std) over the runs that finished, noting the ones that diverged."""
    done = finished(values)
    if not done:
        return "diverged"
    text = formatted(*mean_std(done))
    return text if len(done) == len(values) else f"{text} ({len(values) - len(done)} of {len(values)} diverged)"


def pm(values, digits=3):
    """'0.973 ± 0.004' over seeds."""
    return summarize(values, lambda mean, std: f"{mean:.{digits}f} ± {std:.{digits}f}")


def pct(values, digits=1):
    """'97.3 ± 0.4 %' for fractions over seeds."""
    return summarize(values, lambda mean, std: f"{100 * mean:.{digits}f} ± {100 * std:.{digits}f} %")


def within_noise(a, b):
    """Whether two sets of per-seed results differ by no more than the larger of their
    standard deviations: the studies call such a difference noise, not an effect."""
    (mean_a, std_a), (mean_b, std_b) = mean_std(a), mean_std(b)
    return abs(mean_a - mean_b) <= max(std_a, std_b)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_description():
    """The CPU as every benchmark record names it: model, family and model numbers, vCPUs,
    vector ISA (ops/bench-lr.py and ops/bench-tune.py print it)."""
    fields = {}
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    avx512 = "AVX-512" if "avx512f" in fields.get("flags", "") else "AVX2, no AVX-512"
    return (f"{fields.get('model name', 'unknown CPU')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, "
            f"{os.cpu_count()} vCPU, {avx512}")


def cpu_name():
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return "unknown CPU"


# ---------------------------------------------------------------- one study

class Study:
    """A study's run: a temporary working directory, progress lines with the elapsed time,
    and its section of docs/STUDIES.md.

        with Study("s4_dropout") as study:
            path = study.path("train.csv")
            study.log("64-64 seed 1: val_accuracy 0.97")
            study.write_section(number=4, title=…, question=…, setup=…, table=…, images=[…], answer=…)
    """

    def __init__(self, name):
        self.name = name
        self.started = time.monotonic()
        self.runs = 0

    def __enter__(self):
        self.workdir = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
        self.log(f"nntrain {nntrain()}, {parallel_jobs()} process(es) at a time, seeds {', '.join(map(str, SEEDS))}")
        return self

    def __exit__(self, *exception):
        self.workdir.cleanup()
        if exception[0] is None:
            self.log(f"done: {self.runs} training runs in {self.elapsed():.0f} s")

    def path(self, filename):
        return os.path.join(self.workdir.name, filename)

    def elapsed(self):
        return time.monotonic() - self.started

    def log(self, message):
        print(f"[{self.name} {self.elapsed():6.1f} s] {message}", flush=True)

    def model(self, filename, spec):
        return write_json(self.path(filename), spec)

    def fit(self, model_path, data_path, checkpoint, **options):
        """common.fit, counted for the section's footer."""
        self.runs += 1
        return fit(model_path, data_path, self.path(checkpoint), **options)

    def image(self, filename):
        """(path to write, Markdown link target) of a chart."""
        os.makedirs(IMAGES_DIR, exist_ok=True)
        return os.path.join(IMAGES_DIR, filename), f"{IMAGES_LINK}/{filename}"

    def write_section(self, number, title, question, setup, table, images, answer, notes=""):
        """docs/studies/<name>.md. images: (alt text, link) pairs; the answer is one sentence."""
        parts = [f"## {number}. {title}", "", f"> {question}", "", f"**Setup.** {setup.strip()}", "", table, ""]
        parts += [f"![{alt}]({link})\n" for alt, link in images]
        if notes:
            parts += [notes.strip(), ""]
        parts += [f"**Answer.** {answer.strip()}", "",
                  f"<sub>`studies/{self.name}.py`: {self.runs} training runs, {self.elapsed():.0f} s "
                  f"with {parallel_jobs()} processes.</sub>", ""]
        os.makedirs(SECTIONS_DIR, exist_ok=True)
        path = os.path.join(SECTIONS_DIR, f"{self.name}.md")
        with open(path, "w") as file:
            file.write("\n".join(parts))
        self.log(f"wrote {os.path.relpath(path, ROOT)}")


# ---------------------------------------------------------------- SVG charts

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"]
HEIGHT = 440
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 78, 560, 46, HEIGHT - 62
FONT = 'font-family="Helvetica, Arial, sans-serif"'


@dataclass
class Series:
    """One line of a line chart; a y of None (a diverged run) leaves a gap."""
    label: str
    xs: list
    ys: list
    errors: list = None
    dashed: bool = False
    color: str = None  # default: the palette's next colour


def mean_series(label, xs, runs, **style):
    """A Series of the mean ± std over seeds at each x (runs[i]: the values at xs[i]); a gap
    where every run diverged."""
    stats = [mean_std(finished(values)) if finished(values) else (None, None) for values in runs]
    return Series(label, list(xs), [m for m, _ in stats], [e for _, e in stats], **style)


def nice_step(span, count):
    """A 1, 2 or 5 × 10^k step giving about `count` intervals over span."""
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def short_number(value, digits=6):
    """1e-05 → 1e-5, 0.5 → 0.5, 1000 → 1000 (at most `digits` significant): ticks and prose."""
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    # 1e-05 → 1e-5: shorter, and reads like the docs.
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)


class Axis:
    """Maps data values to pixels between `start` and `end` (end < start for y), with ticks:
    nice 1-2-5 steps on linear axes, powers of ten on log axes, or the ticks given."""

    def __init__(self, values, start, end, log=False, ticks=None, include_zero=False, limits=None):
        values = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
        if include_zero and not log:
            values.append(0.0)
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if limits:
            # A fixed range (a fraction is within 0…1, however wide its error bar).
            low, high = limits
        self.log, self.start, self.end = log, start, end
        if ticks:
            # Given ticks (batch sizes, layer numbers): the data's range, a little padded.
            low, high = min(values + list(ticks)), max(values + list(ticks))
            low, high = (math.log10(low), math.log10(high)) if log else (low, high)
            pad = 0.04 * (high - low or 1)
            self.low, self.high, self.ticks = low - pad, high + pad, list(ticks)
        elif log:
            low_exp, high_exp = math.log10(low), math.log10(high)
            pad = max(0.05 * (high_exp - low_exp), 0.05)
            self.low, self.high = low_exp - pad, high_exp + pad
            decades = range(math.floor(self.low), math.ceil(self.high) + 1)
            # Over two decades or less, powers of ten alone leave too few ticks: add 2× and 5×.
            multiples = (1, 2, 5) if self.high - self.low <= 2.5 else (1,)
            self.ticks = [m * 10.0 ** k for k in decades for m in multiples
                          if self.low <= math.log10(m * 10.0 ** k) <= self.high]
        else:
            if high == low:
                low, high = low - 0.5, high + 0.5
            step = nice_step(high - low, 5)
            self.low, self.high = math.floor(low / step) * step, math.ceil(high / step) * step
            count = int(round((self.high - self.low) / step))
            # Rounded: no 0.30000000000000004 in the labels.
            self.ticks = [round(self.low + i * step, 12) for i in range(count + 1)]

    def __call__(self, value):
        position = math.log10(value) if self.log else value
        return self.start + (position - self.low) / (self.high - self.low) * (self.end - self.start)

    def clip(self, value):
        """The value, or the nearer end of the axis when it lies beyond."""
        low, high = (10 ** self.low, 10 ** self.high) if self.log else (self.low, self.high)
        return min(max(value, low), high)

    def contains(self, value):
        return value is not None and math.isfinite(value) and (value > 0 or not self.log)


def svg_text(x, y, text, size=12, anchor="middle", weight="normal", rotate=None, color="#222"):
    transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{color}" {FONT}{transform}>{html.escape(str(text))}</text>')


def svg_line(x1, y1, x2, y2, color="#222", width=1.0, dashed=False):
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"{dash}/>'


def svg_frame(title, x_label, y_label, legend_labels):
    """The white page, wide enough for the legend right of the plot, the title and the axis labels."""
    width = PLOT_RIGHT + 70 + 7 * max(map(len, legend_labels), default=0)
    middle = (PLOT_LEFT + PLOT_RIGHT) / 2
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}">',
            f'<rect width="{width}" height="{HEIGHT}" fill="white"/>',
            svg_text(middle, 26, title, size=15, weight="bold"),
            svg_text(middle, HEIGHT - 16, x_label, size=13),
            svg_text(20, (PLOT_TOP + PLOT_BOTTOM) / 2, y_label, size=13, rotate=-90)]


def svg_y_axis(y_axis):
    """Horizontal grid lines with tick labels, and the axis line."""
    parts = []
    for tick in y_axis.ticks:
        y = y_axis(tick)
        parts.append(svg_line(PLOT_LEFT, y, PLOT_RIGHT, y, color="#e4e4e4"))
        parts.append(svg_text(PLOT_LEFT - 7, y + 4, short_number(tick), size=11, anchor="end"))
    parts.append(svg_line(PLOT_LEFT, PLOT_TOP, PLOT_LEFT, PLOT_BOTTOM))
    parts.append(svg_line(PLOT_LEFT, PLOT_BOTTOM, PLOT_RIGHT, PLOT_BOTTOM))
    return parts


def svg_x_ticks(x_axis):
    parts = []
    for tick in x_axis.ticks:
        x = x_axis(tick)
        parts.append(svg_line(x, PLOT_BOTTOM, x, PLOT_BOTTOM + 5))
        parts.append(svg_text(x, PLOT_BOTTOM + 19, short_number(tick), size=11))
    return parts


def svg_legend(entries):
    """entries: (label, colour, kind) with kind 'line', 'dashed' or 'box'; right of the plot."""
    parts, x = [], PLOT_RIGHT + 18
    for index, (label, color, kind) in enumerate(entries):
        y = PLOT_TOP + 8 + 22 * index
        if kind == "box":
            parts.append(f'<rect x="{x}" y="{y - 7}" width="22" height="12" fill="{color}"/>')
        else:
            parts.append(svg_line(x, y, x + 22, y, color=color, width=2.5, dashed=kind == "dashed"))
        parts.append(svg_text(x + 30, y + 4, label, size=12, anchor="start"))
    return parts


def svg_error_bar(x, low, high, color):
    cap = 4
    return [svg_line(x, low, x, high, color=color), svg_line(x - cap, low, x + cap, low, color=color),
            svg_line(x - cap, high, x + cap, high, color=color)]


def save_svg(path, parts):
    with open(path, "w") as file:
        file.write("\n".join(parts + ["</svg>", ""]))
    return path


def line_chart(path, series, title, x_label, y_label, log_x=False, log_y=False, x_ticks=None,
               references=(), y_limits=None):
    """Lines with markers and optional ± error bars; references are (axis 'x' or 'y', value,
    label) drawn as grey dashed lines (a 20 % threshold, chance accuracy, …); y_limits fixes
    the y range, error bars are cut at it."""
    xs = [x for s in series for x in s.xs]
    ys = [y + sign * (e or 0) for s in series for y, e in zip(s.ys, s.errors or [0] * len(s.ys))
          if y is not None for sign in (-1, 1)]
    ys += [value for axis, value, _ in references if axis == "y"]
    x_axis = Axis(xs, PLOT_LEFT, PLOT_RIGHT, log=log_x, ticks=x_ticks)
    y_axis = Axis(ys, PLOT_BOTTOM, PLOT_TOP, log=log_y, limits=y_limits)
    y_label += " (log scale)" if log_y else ""
    parts = svg_frame(title, x_label, y_label, [s.label for s in series]) + svg_y_axis(y_axis) + svg_x_ticks(x_axis)
    parts += svg_references(references, x_axis, y_axis)
    colors = [line.color or PALETTE[index % len(PALETTE)] for index, line in enumerate(series)]
    for line, color in zip(series, colors):
        parts += svg_series(line, color, x_axis, y_axis)
    legend = [(line.label, color, "dashed" if line.dashed else "line") for line, color in zip(series, colors)]
    return save_svg(path, parts + svg_legend(legend))


def svg_references(references, x_axis, y_axis):
    """Grey dashed lines across the plot, labelled at the right end (horizontal) or half way
    up (vertical); a label that would overlap the previous one goes under its line."""
    parts, label_ys = [], []
    # Highest first, so that of two close lines the upper is labelled above, the lower under.
    for axis, value, label in sorted(references, key=lambda r: (r[0] != "y", -r[1])):
        if axis == "y":
            y = y_axis(value)
            label_y = y - 5 if all(abs(y - 5 - used) > 13 for used in label_ys) else y + 14
            label_ys.append(label_y)
            parts += [svg_line(PLOT_LEFT, y, PLOT_RIGHT, y, color="#888", dashed=True),
                      svg_text(PLOT_RIGHT - 4, label_y, label, size=11, anchor="end", color="#666")]
        else:
            x = x_axis(value)
            parts += [svg_line(x, PLOT_TOP, x, PLOT_BOTTOM, color="#888", dashed=True),
                      svg_text(x + 4, (PLOT_TOP + PLOT_BOTTOM) / 2, label, size=11, anchor="start", color="#666")]
    return parts


def svg_series(line, color, x_axis, y_axis):
    """One series: polyline segments between the points that exist, markers, error bars."""
    parts, segment = [], []
    errors = line.errors or [None] * len(line.ys)
    points = list(zip(line.xs, line.ys, errors)) + [(None, None, None)]  # the sentinel ends the last segment
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    for x, y, error in points:
        if x is not None and y_axis.contains(y):
            segment.append((x_axis(x), y_axis(y)))
            if error:
                low = y_axis.clip(y - error) if y_axis.contains(y - error) else y
                parts += svg_error_bar(x_axis(x), y_axis(low), y_axis(y_axis.clip(y + error)), color)
            continue
        if len(segment) > 1:
            coordinates = " ".join(f"{px:.1f},{py:.1f}" for px, py in segment)
            parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"/>' for px, py in segment]
        segment = []
    return parts


def svg_bar(x, width, value, error, base, y_axis, color):
    """One bar from the base line (pixels) to value, with its ± error bar."""
    top = y_axis(value)
    parts = [f'<rect x="{x:.1f}" y="{min(top, base):.1f}" width="{width:.1f}" height="{abs(base - top):.1f}" fill="{color}"/>']
    if error:
        low = y_axis(value - error) if y_axis.contains(value - error) else top
        parts += svg_error_bar(x + width / 2, low, y_axis(value + error), "#222")
    return parts


def bar_chart(path, groups, series_labels, values, errors, title, y_label, log_y=False, from_zero=True):
    """Grouped bars: values[s][g] is series s in group g (None: no bar), ± errors[s][g].
    A group label may hold '\\n' for a second line. from_zero=False starts the axis near the
    smallest bar, for differences of a few points between values near 1 (the axis says so)."""
    tops = [v + (e or 0) for row, row_errors in zip(values, errors) for v, e in zip(row, row_errors) if v is not None]
    bottoms = [v - (e or 0) for row, row_errors in zip(values, errors) for v, e in zip(row, row_errors) if v is not None]
    y_axis = Axis(tops + bottoms, PLOT_BOTTOM, PLOT_TOP, log=log_y, include_zero=from_zero)
    base = y_axis(10 ** y_axis.low if log_y else 0.0 if from_zero else y_axis.low)
    y_label += " (log scale)" if log_y else ""
    parts = svg_frame(title, "", y_label, series_labels) + svg_y_axis(y_axis)
    group_width = (PLOT_RIGHT - PLOT_LEFT) / len(groups)
    bar_width = group_width * 0.78 / len(series_labels)
    for g, group in enumerate(groups):
        left = PLOT_LEFT + g * group_width + group_width * 0.11
        for s in range(len(series_labels)):
            if values[s][g] is not None:
                parts += svg_bar(left + s * bar_width, bar_width - 2, values[s][g], errors[s][g], base, y_axis,
                                 PALETTE[s % len(PALETTE)])
        for line_number, text in enumerate(group.split("\n")):
            parts.append(svg_text(PLOT_LEFT + (g + 0.5) * group_width, PLOT_BOTTOM + 18 + 14 * line_number, text, size=12))
    legend = [(label, PALETTE[s % len(PALETTE)], "box") for s, label in enumerate(series_labels)]
    return save_svg(path, parts + svg_legend(legend))
