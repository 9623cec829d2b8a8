"""Churn and lifetime value benchmark.

1. CDNOW (Fader, Hardie & Lee 2005): BG/NBD, Pareto/NBD and Gamma-Gamma parameters vs
   the published ones, cumulative repeat transactions at week 78 vs the actual 4,339, fit
   times (median of ``--repeats`` runs).
2. Demo company (``salesplan.demo.generator.generate(seed=7)``, when available): the churn
   classifier (churn = no order in the next 90 days) against the generator's futures
   (``simulate_future(months=3)``) and true dropouts; BG/NBD / Pareto/NBD p_alive against
   ``truth.customers.alive_at_as_of``.

Run:  .venv/bin/python benchmarks/churn_cdnow.py [--repeats 3] [--no-demo]
"""

from __future__ import annotations

import argparse
import time
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from salesplan.models.churn import (
    BetaGeoModel,
    ChurnClassifier,
    GammaGammaModel,
    ParetoNBDModel,
    churn_labels,
    churn_risk_by,
    churn_risk_list,
    rfm_summary,
)

PUBLISHED = {
    "BG/NBD": ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, -9582.4),
    "Pareto/NBD": ({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, -9595.0),
    "Gamma-Gamma": ({"p": 6.25, "q": 3.74, "gamma": 15.44}, None),
}


def load_cdnow() -> pd.DataFrame:
    ref = resources.files("salesplan") / "reference" / "CDNOW_sample.txt"
    with resources.as_file(ref) as path:
        raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str,
                          names=["master_id", "customer_id", "date", "cds", "amount"])
    return pd.DataFrame({
        "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "customer_id": raw["customer_id"].astype(int).astype(str),
        "amount": raw["amount"].astype(float),
    })


def sig3(ours, pub):
    unit = 10.0 ** (np.floor(np.log10(abs(pub))) - 2)
    return abs(ours - pub) <= 0.5 * unit + 1e-12


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def ks(y, p):
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def ece(y, p, bins=10):
    """Expected calibration error over equal-count bins of p."""
    order = np.argsort(p)
    total = 0.0
    for chunk in np.array_split(order, bins):
        total += len(chunk) * abs(p[chunk].mean() - y[chunk].mean())
    return total / len(p)


def cdnow(repeats: int) -> None:
    orders = load_cdnow()
    summary = rfm_summary(orders, "1997-09-30", freq="W")
    print(f"CDNOW: {len(summary)} customers, calibration 39 weeks (1997-01-01..1997-09-30)\n")
    print(f"{'model':<12}{'param':<8}{'ours':>10}{'published':>11}{'abs err':>10}"
          f"{'rel err':>9}  3 sig. digits")
    fitted = {}
    for name, cls in (("BG/NBD", BetaGeoModel), ("Pareto/NBD", ParetoNBDModel),
                      ("Gamma-Gamma", GammaGammaModel)):
        model, secs = timed(lambda cls=cls: cls().fit(summary), repeats)
        fitted[name] = model
        pub, pub_ll = PUBLISHED[name]
        for k, v in pub.items():
            ours = model.params_[k]
            print(f"{name:<12}{k:<8}{ours:>10.4f}{v:>11.3f}{abs(ours - v):>10.4f}"
                  f"{abs(ours / v - 1):>9.2%}  {'ok' if sig3(ours, v) else 'NO'}")
        ll = f"{model.log_likelihood_:.2f}" + (f" (published {pub_ll})" if pub_ll else "")
        print(f"{name:<12}log-likelihood {ll}; fit {secs:.2f} s (median of {repeats})\n")

    days = orders.drop_duplicates(["customer_id", "order_date"])
    actual = len(days) - days["customer_id"].nunique()
    first = orders.groupby("customer_id")["order_date"].min()
    t = (pd.Timestamp("1998-06-30") - first).dt.days.to_numpy() / 7.0
    print("Cumulative repeat transactions at week 78 (1998-06-30), from each customer's "
          "first purchase:")
    for name in ("BG/NBD", "Pareto/NBD"):
        exp = fitted[name].expected_purchases(t).sum()
        print(f"  {name:<11} expected {exp:8.1f}  actual {actual}  error {exp / actual - 1:+.2%}")
    cal_end = pd.Timestamp("1997-09-30")
    hold = days[days["order_date"] > cal_end]
    y_hold = hold.groupby("customer_id").size().reindex(summary.index).fillna(0).to_numpy()
    for name in ("BG/NBD", "Pareto/NBD"):
        pred = fitted[name].conditional_expected_purchases(39, summary)
        print(f"  {name:<11} holdout (weeks 40-78) expected {pred.sum():8.1f} vs actual "
              f"{y_hold.sum():.0f}; per-customer corr {np.corrcoef(pred, y_hold)[0, 1]:.3f}")


def demo(repeats: int) -> None:
    try:
        from salesplan.demo.generator import generate
    except ImportError:
        print("\nsalesplan.synthetic not available: demo evaluation skipped")
        return
    as_of = pd.Timestamp("2026-12-31")
    company = generate(seed=7, scale=1.0, as_of=str(as_of.date()))
    data, truth = company.data, company.truth.customers.set_index("customer_id")
    print(f"\nDemo company (seed 7): {len(data.orders):,} order lines, "
          f"{data.orders['customer_id'].nunique():,} customers with orders, as_of {as_of.date()}")
    clf, secs = timed(lambda: ChurnClassifier(horizon_days=90).fit(data, as_of), repeats)
    print(f"ChurnClassifier fit {secs:.1f} s (median of {repeats}); calibration "
          f"{clf.calibration_method_}; training snapshots:\n"
          f"{clf.training_summary_.to_string(index=False)}")
    t0 = time.perf_counter()
    risk = churn_risk_list(data, as_of, classifier=clf).set_index("customer_id")
    print(f"churn_risk_list {time.perf_counter() - t0:.1f} s")
    future = company.simulate_future(months=3, seed=1)
    both = pd.concat([data.orders, future[~future["customer_id"].str.startswith("NEW")]])
    y = churn_labels(both, as_of, 90, risk.index).to_numpy()
    dead = (~truth["alive_at_as_of"].reindex(risk.index).astype(bool)).to_numpy().astype(int)
    rows = []
    for label, target, score in (
        ("p_churn vs no order next 90 days", y, risk["p_churn"].to_numpy()),
        ("p_churn vs true dropout <= as_of", dead, risk["p_churn"].to_numpy()),
    ):
        auc = roc_auc_score(target, score)
        rows.append((label, auc, ks(target, score), 2 * auc - 1,
                     brier_score_loss(target, score), ece(target, score),
                     score.mean(), target.mean()))
    summ = rfm_summary(data.orders, as_of).reindex(risk.index)
    for name, cls in (("BG/NBD", BetaGeoModel), ("Pareto/NBD", ParetoNBDModel)):
        score = 1 - cls().fit(summ).conditional_probability_alive(summ)
        auc = roc_auc_score(dead, score)
        rows.append((f"1-p_alive ({name}) vs true dropout", auc, ks(dead, score), 2 * auc - 1,
                     brier_score_loss(dead, score), ece(dead, score), score.mean(),
                     dead.mean()))
    print(f"\n{'score vs target':<40}{'AUC':>7}{'KS':>7}{'Gini':>7}{'Brier':>8}{'ECE':>7}"
          f"{'mean p':>8}{'rate':>7}")
    for r in rows:
        print(f"{r[0]:<40}{r[1]:>7.3f}{r[2]:>7.3f}{r[3]:>7.3f}{r[4]:>8.4f}{r[5]:>7.3f}"
              f"{r[6]:>8.3f}{r[7]:>7.3f}")
    base = np.full(len(y), y.mean())
    print(f"(Brier of the constant base rate for the 90-day target: "
          f"{brier_score_loss(y, base):.4f})")
    actual_q = (both[(both["order_date"] > as_of) & (both["amount"] >= 0)]
                .drop_duplicates(["customer_id", "order_date"]).groupby("customer_id").size()
                .reindex(risk.index).fillna(0))
    print(f"Expected purchase days next quarter (Pareto/NBD): "
          f"{risk['expected_purchases_next_quarter'].sum():,.0f} vs simulated {actual_q.sum():,.0f}")
    print(f"\nRevenue at risk = p_churn x trailing-12-month revenue: "
          f"{risk['revenue_at_risk'].sum():,.0f} of {risk['revenue_12m'].sum():,.0f}")
    print(churn_risk_by(risk.reset_index(), "region").to_string(index=False,
                                                                 float_format="{:,.2f}".format))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-demo", action="store_true")
    args = ap.parse_args()
    cdnow(args.repeats)
    if not args.no_demo:
        demo(args.repeats)


if __name__ == "__main__":
    main()
