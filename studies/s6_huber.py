#!/usr/bin/env python3
"""Study 6: MSE vs Huber (vs MAE) on diamonds prices when 5 % of the training prices are
outliers (multiplied by 10 to 50) and the validation prices are clean; with no outliers as
the control, and with the outliers cleaned up by a robust price-per-carat rule instead."""
import numpy as np

from common import (SEEDS, Study, bar_chart, dataset, dense, markdown_table, mean_std, per_seed, pm, read_csv, run_parallel,
                    split_rows, within_noise, write_csv)

ROWS = 16000
OUTLIER_FRACTION, OUTLIER_FACTORS = 0.05, (10, 50)
EPOCHS, BATCH, LR = 20, 64, 3e-3
LOSSES = {"mse": {"loss": "mse"}, "huber δ 1": {"loss": "huber", "delta": 1.0},
          "huber δ 0.1": {"loss": "huber", "delta": 0.1}, "mae": {"loss": "mae"}}
CONDITIONS = ("no outliers", "5 % outliers", "5 % outliers, cleaned")
# The cleaning rule: log(price) against log(carat) is close to a line; a row more than this
# many robust standard deviations (1.4826 × MAD) from it is dropped.
CLEANING_SIGMAS = 4


def model(loss):
    """examples/diamonds.json with the head's loss: 9 features → 64 → 64 relu, concatenated
    with the features (wide & deep) → softplus price."""
    return {"inputs": [{"name": "features"}],
            "layers": [dense("hidden1", "features", 64), dense("hidden2", "hidden1", 64),
                       {"name": "wide_deep", "type": "concat", "inputs": ["features", "hidden2"]},
                       dense("price", "wide_deep", 1, "softplus")],
            "outputs": [{"name": "price", "node": "price", **LOSSES[loss]}]}


def corrupt(prices, rng):
    """A copy with OUTLIER_FRACTION of the prices multiplied by a factor drawn uniformly from
    OUTLIER_FACTORS, and a mask of the corrupted rows."""
    corrupted = rng.random(len(prices)) < OUTLIER_FRACTION
    factors = rng.uniform(*OUTLIER_FACTORS, size=len(prices))
    return np.where(corrupted, prices * factors, prices), corrupted


def suspicious(carat, price):
    """Rows far from the robust line of log(price) against log(carat)."""
    x, y = np.log(carat), np.log(price)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    # Refit on the rows within 3 robust sigmas, so the outliers do not pull the line.
    sigma = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    slope, intercept = np.polyfit(x[np.abs(residual) < 3 * sigma], y[np.abs(residual) < 3 * sigma], 1)
    residual = y - (slope * x + intercept)
    sigma = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    return np.abs(residual) > CLEANING_SIGMAS * sigma


def plausible_sizes(header, rows):
    """Rows whose x, y, z are a diamond's (not 0 mm, not 58.9 mm): the 23 others are errors in
    the features, on which any model extrapolates; one in a validation split would swamp the
    RMSE with an error that has nothing to do with the price outliers studied here."""
    sizes = rows[:, [header.index(axis) for axis in "xyz"]]
    return np.all((sizes > 0) & (sizes < 20), axis=1)


def data_files(study, seed):
    """Per seed: a subsample of ROWS rows split 80/20; the training split as is, with outliers,
    and with outliers then cleaned; the clean validation split. Returns the files and notes."""
    header, rows = read_csv(dataset("diamonds.csv"))
    rows = rows[plausible_sizes(header, rows)]
    rng = np.random.default_rng(seed)
    rows = rows[rng.choice(len(rows), ROWS, replace=False)]
    train, validation = (rows[i] for i in split_rows(ROWS, seed))
    carat, price = header.index("carat"), header.index("price")
    noisy = train.copy()
    noisy[:, price], corrupted = corrupt(train[:, price], rng)
    dropped = suspicious(noisy[:, carat], noisy[:, price])
    files = {condition: study.path(f"train-{i}-{seed}.csv") for i, condition in enumerate(CONDITIONS)}
    write_csv(files["no outliers"], header, train)
    write_csv(files["5 % outliers"], header, noisy)
    write_csv(files["5 % outliers, cleaned"], header, noisy[~dropped])
    write_csv(study.path(f"validation-{seed}.csv"), header, validation)
    notes = dict(outliers=int(corrupted.sum()), caught=int((dropped & corrupted).sum()),
                 false_alarms=int((dropped & ~corrupted).sum()), std_clean=float(train[:, price].std()),
                 std_noisy=float(noisy[:, price].std()))
    study.log(f"seed {seed}: {notes['outliers']} outliers in {len(train)} training rows; cleaning dropped "
              f"{notes['caught']} of them and {notes['false_alarms']} clean rows")
    return notes


def run(study, job):
    loss, condition, seed = job
    key = f"{list(LOSSES).index(loss)}-{CONDITIONS.index(condition)}-{seed}"
    model_path = study.model(f"{key}.json", model(loss))
    metrics = study.fit(model_path, study.path(f"train-{CONDITIONS.index(condition)}-{seed}.csv"), f"{key}.ckpt",
                        validation_data=study.path(f"validation-{seed}.csv"), seed=seed, epochs=EPOCHS,
                        batch_size=BATCH, lr=LR)
    study.log(f"{loss}, {condition}, seed {seed}: val_rmse {metrics['val_rmse']:.0f}, val_mae {metrics['val_mae']:.0f}")
    return job, (metrics["val_rmse"], metrics["val_mae"])


def main():
    with Study("s6_huber") as study:
        notes = [data_files(study, seed) for seed in SEEDS]
        jobs = [(loss, condition, seed) for loss in LOSSES for condition in CONDITIONS for seed in SEEDS]
        results = per_seed(run_parallel(lambda job: run(study, job), jobs))

        def metric(loss, condition, index):
            return [value[index] for value in results[loss, condition]]

        rows = [[loss] + [f"{pm(metric(loss, c, 0), 0)} / {pm(metric(loss, c, 1), 0)}" for c in CONDITIONS]
                for loss in LOSSES]
        table = markdown_table(["loss"] + [f"{c}: val RMSE / MAE ($)" for c in CONDITIONS], rows)

        path, link = study.image("s6_huber.svg")
        cells = [[mean_std(metric(loss, c, 0)) for loss in LOSSES] for c in CONDITIONS]
        means = [m for row in cells for m, _ in row]
        bar_chart(path, list(LOSSES), list(CONDITIONS), [[m for m, _ in row] for row in cells],
                  [[e for _, e in row] for row in cells], "Diamonds: clean validation RMSE by training loss",
                  "validation RMSE, $ (mean ± std, 3 seeds)", log_y=max(means) / min(means) > 10)
        study.write_section(6, "MSE vs Huber with outliers", "Clean up out-liers or use huber loss.",
                            setup(notes), table, [("Validation RMSE per loss and training data", link)],
                            answer(results, metric, notes))


def setup(notes):
    def average(key):
        return np.mean([n[key] for n in notes])

    return (f"{ROWS:,} random rows of `diamonds.csv` per seed (of those with plausible x, y, z: 23 rows with a 0 or "
            f"a 31.8 mm side are feature errors), split 80/20. In the training split "
            f"{OUTLIER_FRACTION * 100:.0f} % of the prices (≈ {average('outliers'):.0f} rows) are multiplied by a factor "
            f"drawn from U({OUTLIER_FACTORS[0]}, {OUTLIER_FACTORS[1]}); the validation split stays clean. *cleaned*: "
            f"rows more than {CLEANING_SIGMAS} robust sigmas (1.4826 × MAD) off a robust line of log(price) against "
            f"log(carat) are dropped — it caught {average('caught'):.0f} of the outliers and {average('false_alarms'):.0f} "
            f"clean rows on average. Model: `examples/diamonds.json` (9 standardized features → 64 → 64 relu, concat "
            f"with the features → softplus) with the head's loss set; `nntrain fit --validation-data val.csv --epochs "
            f"{EPOCHS} --batch-size {BATCH} --lr {LR} --seed 1|2|3 --threads 1 --json`. Regression heads train on "
            f"prices divided by the training prices' std, so δ is in those units: δ 1 ≈ ${average('std_clean'):,.0f} "
            f"on clean training prices but ≈ ${average('std_noisy'):,.0f} with the outliers in. Validation RMSE / MAE "
            f"in dollars on the clean split, mean ± std over {len(SEEDS)} seeds.")


def answer(results, metric, notes):
    def rmse(loss, condition):
        return mean_std(metric(loss, condition, 0))[0]

    clean, noisy, cleaned = CONDITIONS
    robust = [loss for loss in LOSSES if loss != "mse"]
    best = min(robust, key=lambda loss: rmse(loss, noisy))
    if within_noise(metric("mse", cleaned, 0), metric(best, noisy, 0)):
        lead = f"Both work, about equally well ({best} on the raw data vs mse after cleaning, within one std)"
    elif rmse("mse", cleaned) < rmse(best, noisy):
        lead = "Cleaning up the outliers worked best"
    else:
        lead = f"{best} on the raw data worked best"
    delta_one = np.mean([n["std_noisy"] for n in notes])
    return (f"{lead}: with {OUTLIER_FRACTION * 100:.0f} % outliers MSE's clean validation RMSE rose from "
            f"${rmse('mse', clean):,.0f} to ${rmse('mse', noisy):,.0f}; huber δ 1 (≈ ${delta_one:,.0f}, as the outliers "
            f"inflate the price std δ is measured in) brought it only to ${rmse('huber δ 1', noisy):,.0f}, huber δ 0.1 "
            f"to ${rmse('huber δ 0.1', noisy):,.0f}, mae to ${rmse('mae', noisy):,.0f}, and cleaning then mse to "
            f"${rmse('mse', cleaned):,.0f}.")


if __name__ == "__main__":
    main()
