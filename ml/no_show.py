"""The no-show model: a pure function from input files to output files plus a metrics JSON.

Run by the predict activities (src/activities/predict.ts) through execa, in the virtualenv of ml/requirements.txt,
one per-run folder per call. Three commands:

  train     features CSV(s) of past appointments with their outcome -> model.skops, model.json (features, metrics)
  score     model + features CSV(s) of appointments to score -> scores CSV (probability, risk decile 1-10)
  evaluate  predictions joined with their outcomes (CSV) -> metrics JSON (ROC-AUC, PR-AUC, Brier, calibration, lift)

It never reads the true probabilities (truth/ in the object store): the Bayes AUC is computed by the TypeScript
side, apart from this code path. Models are saved with skops, never pickled, and loaded with an explicit list of
trusted types (TRUSTED_TYPES); a file holding any other type is refused.
"""

import argparse
import csv
import glob
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
import skops.io as sio

# The columns of marts.no_show_features the model reads. HISTORY are the patient's own past; the ablation drops them.
CATEGORICAL = ["patient_gender", "neighbourhood", "specialty"]
NUMERIC = [
    "lead_time_days",
    "weekday",
    "patient_age_years",
    "has_scholarship",
    "has_hypertension",
    "has_diabetes",
    "has_alcoholism",
    "handicap_count",
    "has_sms_reminder",
]
HISTORY = [
    "prior_visits",
    "prior_no_shows",
    "prior_same_day_visits",
    "prior_same_day_no_shows",
    "days_since_last_visit",
    "shrunken_no_show_rate",
]
# Computed here from the columns, not read: the patient's no-show rate shrunk towards the training window's rate,
# (prior_no_shows + SHRINKAGE * rate) / (prior_visits + SHRINKAGE), the empirical-Bayes estimate of a rate seen over
# a few visits. With the same-day split it took the out-of-time AUC from 0.7372 to 0.7398 (580,000 rows, the
# attainable AUC 0.741; measured 2026-12-03).
SHRINKAGE = 2.0
# Columns read as text, never as numbers: the ids, the day and the categoricals.
TEXT = {"appointment_id", "doctor_id", "clinic_id", "appointment_on", "appointment_day", "model_version", *CATEGORICAL}
SEED = 20261203
IN_SAMPLE_ROWS = 50_000

# Every type a saved model holds (skops.io.get_untrusted_types of a model this script trained). Loading trusts
# exactly these; a file that needs anything else fails with the types it asked for.
TRUSTED_TYPES = [
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "builtins.slice",
    "collections.OrderedDict",
    # HistGradientBoostingClassifier keeps a partial of check_array; partial can only wrap what is listed here.
    "functools.partial",
    "sklearn.utils.validation.check_array",
]


def fail(message, code=2):
    print(f"no_show.py: {message}", file=sys.stderr)
    sys.exit(code)


def read_csvs(paths):
    """Reads CSV files with one header into one DataFrame (files may be empty of rows).

    pandas' C parser, with each column's type declared: text columns stay strings ('' kept as ''), the rest are
    numbers or t/f booleans with '' missing. On 1M rows this is about 2 s; the csv module, appending value by value,
    took 17 s and the per-value float conversion another 29 s (measured 2026-12-03, load average 8-11).
    """
    files = []
    for p in paths:
        files.extend(sorted(glob.glob(os.path.join(p, "*.csv"))) if os.path.isdir(p) else [p])
    frames = []
    header = None
    for path in files:
        with open(path, newline="") as f:
            head = next(csv.reader(f), None)
        if head is None:
            continue
        if header is None:
            header = head
        elif head != header:
            fail(f"{path}: header {head} differs from {header}")
        text = [c for c in head if c in TEXT]
        frames.append(
            pd.read_csv(
                path,
                dtype={c: str for c in text},
                keep_default_na=False,
                na_values={c: [""] for c in head if c not in TEXT},
                true_values=["t", "true", "True"],
                false_values=["f", "false", "False"],
                engine="c",
            )
        )
    if header is None:
        fail(f"no CSV rows in {paths}")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def numeric(column):
    """A column as float64: missing is NaN, booleans 1/0."""
    return pd.to_numeric(column, errors="raise").astype(np.float64) if column.dtype == object else column.astype(np.float64)


def feature_matrix(columns, feature_names, prior_rate):
    """A DataFrame in feature order: categoricals as strings ('' missing: NaN), the rest as floats; the shrunken
    rate computed with the training window's no-show rate `prior_rate`."""
    if "shrunken_no_show_rate" in feature_names:
        visits, no_shows = numeric(columns["prior_visits"]), numeric(columns["prior_no_shows"])
        columns = columns.assign(shrunken_no_show_rate=(no_shows + SHRINKAGE * prior_rate) / (visits + SHRINKAGE))
    missing = [name for name in feature_names if name not in columns]
    if missing:
        fail(f"feature columns {missing} are missing from the input")
    return pd.DataFrame(
        {
            name: columns[name].replace("", np.nan) if name in CATEGORICAL else numeric(columns[name])
            for name in feature_names
        }
    )


# A feature seen in fewer rows is left out. It is too rare to split on (leaves hold at least 5 rows), and early
# stopping's validation tenth can take every row that has it, leaving the training part a column with no value,
# which scikit-learn 1.9 cannot bin ("window shape cannot be larger than input array shape": a CI run whose
# warehouse had a handful of returning patients in the window).
MIN_OBSERVED = 20


def observed(column, name):
    """Whether a feature column holds enough values to learn from (at least MIN_OBSERVED)."""
    return int(column.notna().sum()) >= MIN_OBSERVED


def build_pipeline(feature_names, n_rows):
    """Ordinal-encodes the categoricals (unknown values -> missing) and fits histogram gradient boosting."""
    cat_idx = [i for i, name in enumerate(feature_names) if name in CATEGORICAL]
    num_idx = [i for i, name in enumerate(feature_names) if name not in CATEGORICAL]
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, dtype=np.float64),
                cat_idx,
            ),
            ("numeric", "passthrough", num_idx),
        ]
    )
    # Learning rate 0.15 with patience 10 stops after about 45 iterations where 0.08 with patience 20 took 80, at the
    # same out-of-time AUC (0.7372 vs 0.7369 on 580,000 rows; fit 7.5 vs 15 CPU-seconds, measured 2026-12-03). On a
    # small warehouse the validation tenth is a few thousand rows, too noisy for the short patience: on 21,000 rows
    # it stopped early enough to score below lead time alone (AUC 0.698 vs 0.702, test/integration/predict.test.ts),
    # so below 200,000 rows the model keeps the slower rate and the longer patience.
    fast = n_rows >= 200_000
    model = HistGradientBoostingClassifier(
        learning_rate=0.15 if fast else 0.08,
        max_iter=300,
        max_leaf_nodes=31,
        # Leaves of at least 200 appointments at scale; a small warehouse gets smaller leaves.
        min_samples_leaf=max(5, min(200, n_rows // 100)),
        l2_regularization=1.0,
        categorical_features=list(range(len(cat_idx))),
        # Early stopping holds out a tenth; on a few thousand rows that tenth is too small to decide anything.
        early_stopping=n_rows >= 10_000,
        validation_fraction=0.1,
        n_iter_no_change=10 if fast else 20,
        random_state=SEED,
    )
    return Pipeline([("encode", encode), ("model", model)])


def deciles(probabilities):
    """Risk decile 1-10 by rank (10 = the riskiest tenth); ties broken by position, so deciles are equal-sized."""
    n = len(probabilities)
    order = np.argsort(probabilities, kind="stable")
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return (ranks * 10 // max(n, 1)) + 1


def evaluation(y, p):
    """Out-of-time metrics of predictions p against outcomes y (0/1)."""
    n = len(y)
    d = deciles(p)
    base = float(y.mean()) if n else float("nan")
    calibration = 0.0
    by_decile = []
    for k in range(1, 11):
        mask = d == k
        if mask.any():
            gap = abs(float(p[mask].mean()) - float(y[mask].mean()))
            calibration += gap * mask.sum() / n
            by_decile.append({"decile": k, "n": int(mask.sum()), "predicted": float(p[mask].mean()), "observed": float(y[mask].mean())})
    top = d == 10
    both = 0 < y.sum() < n
    return {
        "n": int(n),
        "no_show_rate": base,
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)) if n else None,
        "calibration_error": float(calibration),
        "top_decile_lift": float(y[top].mean() / base) if top.any() and base > 0 else None,
        "by_decile": by_decile,
    }


def train(args):
    started = time.perf_counter()
    columns = read_csvs(args.features)
    wanted = CATEGORICAL + NUMERIC + ([] if args.without_history else HISTORY)
    y = numeric(columns["is_no_show"]).to_numpy()
    if np.isnan(y).any():
        fail("training rows must all have an outcome (is_no_show)")
    X = feature_matrix(columns, wanted, float(y.mean()))
    # A feature (almost) never observed in the window (days_since_last_visit while nobody has come back yet) cannot be
    # binned; it is left out of this model, which records the features it uses, so scoring reads exactly those.
    features = [name for name in wanted if observed(X[name], name)]
    X = X[features]
    read_s = time.perf_counter() - started
    pipeline = build_pipeline(features, len(y))
    fit_started = time.perf_counter()
    pipeline.fit(X, y.astype(np.int64))
    fit_s = time.perf_counter() - fit_started
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.skops")
    sio.dump(pipeline, model_path)
    untrusted = [t for t in sio.get_untrusted_types(file=model_path) if t not in TRUSTED_TYPES]
    if untrusted:
        fail(f"the trained model holds types outside TRUSTED_TYPES: {untrusted}")
    # In-sample metrics on a fixed sample of at most IN_SAMPLE_ROWS: predicting all 1M rows took 46 s under load.
    sample = np.random.default_rng(SEED).permutation(len(y))[:IN_SAMPLE_ROWS] if len(y) > IN_SAMPLE_ROWS else slice(None)
    p = pipeline.predict_proba(X.iloc[sample])[:, 1]
    meta = {
        "features": features,
        "categorical": [f for f in features if f in CATEGORICAL],
        "unobserved": [f for f in wanted if f not in features],
        "rows": int(len(y)),
        "no_show_rate": float(y.mean()),
        "iterations": int(pipeline.named_steps["model"].n_iter_),
        "read_seconds": read_s,
        "fit_seconds": fit_s,
        "rows_per_second": len(y) / fit_s if fit_s > 0 else None,
        "in_sample": {k: v for k, v in evaluation(y[sample], p).items() if k != "by_decile"},
        "seed": SEED,
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(json.dumps({k: meta[k] for k in ("rows", "iterations", "fit_seconds", "rows_per_second")}))


def load_model(path):
    """Loads a skops file trusting exactly TRUSTED_TYPES; anything else is refused, naming the types."""
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        fail(f"{path} holds types this script does not trust: {untrusted}", code=3)
    return sio.load(path, trusted=TRUSTED_TYPES)


def score(args):
    started = time.perf_counter()
    with open(args.meta) as f:
        meta = json.load(f)
    pipeline = load_model(args.model)
    columns = read_csvs(args.features)
    n = len(columns)
    features = feature_matrix(columns, meta["features"], meta["no_show_rate"])
    p = pipeline.predict_proba(features)[:, 1] if n else np.empty(0)
    d = deciles(p)
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["appointment_id", "appointment_day", "doctor_id", "clinic_id", "probability", "risk_decile", "model_version", "scored_on"])
        ids = [columns[c].tolist() for c in ("appointment_id", "appointment_on", "doctor_id", "clinic_id")]
        for appointment, day, doctor, clinic, probability, decile in zip(*ids, p.tolist(), d.tolist()):
            w.writerow([appointment, day, doctor, clinic, f"{probability:.6f}", decile, args.version, args.scored_on])
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": n, "seconds": seconds, "rows_per_second": n / seconds if seconds > 0 else None}))


def evaluate(args):
    columns = read_csvs(args.predictions)
    y = numeric(columns["is_no_show"]).to_numpy()
    p = numeric(columns["probability"]).to_numpy()
    keep = ~np.isnan(y)
    metrics = evaluation(y[keep].astype(np.int64), p[keep])
    with open(args.out, "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps({k: v for k, v in metrics.items() if k != "by_decile"}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--features", nargs="+", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--without-history", action="store_true", help="ablation: leave out the patient's own past")
    s = sub.add_parser("score")
    s.add_argument("--model", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--features", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--version", required=True)
    s.add_argument("--scored-on", required=True)
    e = sub.add_parser("evaluate")
    e.add_argument("--predictions", nargs="+", required=True)
    e.add_argument("--out", required=True)
    args = parser.parse_args()
    {"train": train, "score": score, "evaluate": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
