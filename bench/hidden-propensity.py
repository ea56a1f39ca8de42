"""How much of a hidden no-show propensity can six weeks of history reveal? A simulation for the generator's design.

The generator gives each patient a no-show propensity on the log-odds: a visible part (attributes, booking) and a
hidden part per visit class (src/domain/generator/population.ts, VISIT_CLASSES.hiddenScale). Issue 11 asks for a
model within 0.02 AUC of the true probabilities (the Bayes AUC) after 30 weekdays, and for the history features to be
worth at least 0.03 AUC. The best any model can do is the posterior predictive given the patient's outcomes in the
window (bench/model-bound.ts measures it on the real data); this script computes the same three AUCs on a simplified
copy of the generator (visit classes, lead-time base rates, SMS and age odds, a visible patient effect) in seconds,
so that a design can be chosen before the generator changes:

  bayes    the AUC of the true probabilities on the last day;
  attain   the AUC of the posterior predictive (the patient's class known, as the visit count all but reveals it);
  visible  the AUC of the prior mean (no history): attain - visible is what history can add, bayes - attain what no
           model can close.

Run with the model's Python (pandas-free; numpy and scikit-learn): `~/.cache/healthsynth/ml-*/bin/python
bench/hidden-propensity.py`. Measured 2026-12-06 (40,000 appointments a day, seed 1):

  hidden scale by class (chronic/frequent/occasional/rare), chronic visits   gap    history adds   repeat share
  0.62 for every class (the generator before), every 5th weekday            0.080  0.035          0.45
  1.3 / 0.2 / 0.1 / 0.1, every 5th weekday                                  0.025  0.075          0.45
  1.3 / 0.2 / 0.1 / 0.1, every 3rd weekday                                  0.021  0.072          0.47
  1.3 / 0 / 0 / 0, every 3rd weekday                                        0.014  0.072          0.47
  1.3 / 0 / 0 / 0, every 2nd weekday, 0.7% of patients (the generator now)  0.007  0.074          0.46

The real generator measured (bench/model.ts, two 30-weekday windows at medium): every 3rd weekday, a gap of 0.019
and 0.020 for the model (0.014 and 0.015 of it out of any model's reach); see the README's no-show model section.
"""

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

SHARES = {5: [0.02, 0.08, 0.3, 0.6], 3: [0.012, 0.08, 0.3, 0.608], 2: [0.007, 0.08, 0.3, 0.613]}
BASE_BY_LEAD = np.array([0.05, 0.22, 0.28, 0.33, 0.36, 0.38])
LEAD_SHARE = np.array([0.35, 0.65 * 0.18, 0.65 * 0.3, 0.65 * 0.25, 0.65 * 0.2, 0.65 * 0.07])
AGE_LOG_ODDS = np.array([0.05, 0.3, -0.05, -0.33])
AGE_SHARE = [0.25, 0.2, 0.35, 0.2]
GRID = (np.arange(64) + 0.5) / 64


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def simulate(scales, chronic_every, per_day, days, rng):
    shares = np.array(SHARES[chronic_every])
    rates = np.array([1 / chronic_every, 1 / 20, 1 / 90, 1 / 400])
    n = int(per_day / (shares * rates).sum())
    cls = rng.choice(4, size=n, p=shares)
    scale = np.asarray(scales)[cls]
    u = rng.random(n)
    hidden = scale * np.log(u / (1 - u))
    visible_patient = rng.normal(0, 0.25, n)
    visits = []
    for _ in range(days + 1):
        who = np.nonzero(rng.random(n) < rates[cls])[0]
        lead = rng.choice(6, size=who.size, p=LEAD_SHARE / LEAD_SHARE.sum())
        sms = (lead >= 2) & (rng.random(who.size) < 0.6)
        age = rng.choice(AGE_LOG_ODDS, size=who.size, p=AGE_SHARE)
        logit = np.log(BASE_BY_LEAD[lead] / (1 - BASE_BY_LEAD[lead])) + np.where(sms, np.log(0.72), 0) + age
        visits.append((who, logit + visible_patient[who]))
    # An intercept that keeps the overall rate where the visible part alone puts it (the generator calibrates too).
    v_all = np.concatenate([v for _, v in visits])
    h_all = np.concatenate([hidden[w] for w, _ in visits])
    target, lo, hi = sigmoid(v_all).mean(), -3.0, 3.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(v_all + h_all + mid).mean() < target else (lo, mid)
    c = (lo + hi) / 2
    history, seen, repeats, total = {}, set(), 0, 0
    for day, (who, v) in enumerate(visits):
        p = sigmoid(v + hidden[who] + c)
        y = rng.random(who.size) < p
        if day == days:
            post, prior = np.empty(who.size), np.empty(who.size)
            for k, (i, vi) in enumerate(zip(who, v)):
                h = scale[i] * np.log(GRID / (1 - GRID))
                likelihood = np.ones(GRID.size)
                for vj, yj in history.get(i, ()):
                    q = sigmoid(vj + h + c)
                    likelihood *= q if yj else 1 - q
                pk = sigmoid(vi + h + c)
                post[k] = (likelihood * pk).sum() / likelihood.sum()
                prior[k] = pk.mean()
            bayes, attain, visible = (roc_auc_score(y, s) for s in (p, post, prior))
            return {
                "no_show_rate": round(float(y.mean()), 3),
                "bayes": round(bayes, 3),
                "attain": round(attain, 3),
                "visible": round(visible, 3),
                "gap": round(bayes - attain, 3),
                "history_adds": round(attain - visible, 3),
                "repeat_share": round(repeats / total, 3),
            }
        for i, vi, yi in zip(who, v, y):
            history.setdefault(i, []).append((vi, yi))
            total += 1
            repeats += i in seen
            seen.add(i)
    raise AssertionError("unreachable")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1.3,0,0,0", help="hidden logistic scale per class, chronic first")
    ap.add_argument("--chronic-every", type=int, choices=sorted(SHARES), default=2)
    ap.add_argument("--per-day", type=int, default=40_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    if len(scales) != 4:
        ap.error("--scales takes four numbers")
    print(simulate(scales, args.chronic_every, args.per_day, args.days, np.random.default_rng(args.seed)))


if __name__ == "__main__":
    main()
