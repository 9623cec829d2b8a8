"""Budget allocation on the demo company, judged against the generator's true curves.

For the plan quarter after ``as_of`` (3 months), the budget is the status quo: each
region's mean monthly spend over the last 12 months, times 3.  Allocations compared,
all evaluated under the TRUE response curves ``truth.response``:

* status quo;
* the rule of thumb: 80% of the budget by region share of A-class revenue, 20% by
  share of the other customers' revenue (A = customers making the first 80% of
  trailing-12-month revenue);
* the optimiser on curves FITTED FROM DATA (no truth used in fitting);
* the true optimum (optimiser on the true curves, same constraints).

Curve sources
-------------
``history``     what the company has: ``marketing_spend`` (with its planned geo tests:
                dark, cut and heavy-up months) and monthly regional order counts from
                ``orders`` -- :func:`salesplan.allocation.fit_response_curves`, joint
                fit (shared multiplicative season, per-region level and trend), with
                (``pooled=maturity``) or without the curve shape shared within
                ``regions.maturity``.  ``max_rel_se=1`` (regions with a worse fit fall
                back to the pooled median, as the library does).
``attributed``  reference only: campaign-attributed sales taken from the truth
                (``expected_revenue.marketing_revenue`` x log-normal noise, CV 0.1).

Constraints: ``total`` only, or ``tested`` = also at most the largest monthly spend
seen in each region's history (do not extrapolate a curve beyond tested spend).

Goal: the optimiser's allocation earns >= 5% more incremental margin than the 80% rule
and is within 1% of the true optimum.

Run: ``.venv/bin/python benchmarks/allocation_demo.py [--seeds 7 1 2 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from salesplan import allocation as al
from salesplan.synthetic import generate

MONTHS = 3


def setup(company):
    """Budget, status quo, rule-of-thumb split and the true curves of a demo company."""
    data, truth = company.data, company.truth
    as_of = truth.as_of
    sp = data.marketing_spend
    last12 = sp[sp["month"] > as_of - pd.DateOffset(months=12)]
    status_quo = last12.groupby("region")["amount"].mean() * MONTHS
    total = float(status_quo.sum())
    shares = al.a_class_share_by_region(data.orders, data.customers, as_of)
    rule = al.rule_of_thumb_allocation(shares.reindex(status_quo.index), total)
    reg = truth.regions.set_index("region")
    true_curves = {
        r: al.ResponseCurve("callable", fn=(lambda x, r=r: truth.response(r, x)))
        for r in status_quo.index
    }
    # the generator's curves are exponential: the exact optimum uses them in closed form
    true_exp = {r: al.ResponseCurve("exp", reg.loc[r, "response_a"], reg.loc[r, "response_b"])
                for r in status_quo.index}
    return status_quo, total, rule, true_curves, true_exp


def fit_curves(company, source: str, cv: float = 0.0, seed: int = 0, pooled: bool = True):
    """Fitted curves and the fit table (or the reason no curve could be fitted)."""
    data, truth = company.data, company.truth
    if source == "history":
        # only data: orders, customers, regions, marketing_spend (+ the margin rate)
        sales = al.monthly_region_sales(data.orders, data.customers, truth.as_of)
        groups = data.regions.set_index("region")["maturity"] if pooled else None
        fit = al.fit_response_curves(data.marketing_spend, sales, truth.gross_margin_rate,
                                     groups=groups, max_rel_se=1.0)
    elif source == "attributed":
        er = truth.expected_revenue
        rng = np.random.default_rng(seed)
        noise = rng.lognormal(-0.5 * np.log1p(cv**2), np.sqrt(np.log1p(cv**2)), len(er)) if cv > 0 else 1.0
        attributed = er[["region", "month"]].assign(sales=er["marketing_revenue"] * noise)
        spend = er[["region", "month"]].assign(amount=er["marketing_spend"])
        fit = al.fit_response_curves(spend, attributed, truth.gross_margin_rate, attributed=True)
    else:
        raise ValueError(source)
    return al.curves_from_fit(fit), fit


def evaluate(company, source="history", cv=0.1, seed=0, constraints="total", pooled=True,
             hold_rejected=False):
    """Run one case; returns (comparison table, fit table, fitted plan, true plan)."""
    status_quo, total, rule, true_curves, true_exp = setup(company)
    kw = {}
    if constraints == "tested":
        sp = company.data.marketing_spend
        kw["maximum"] = (sp.groupby("region")["amount"].max() * MONTHS).to_dict()
    cons = al.BudgetConstraints(total, **kw)
    curves, fit = fit_curves(company, source, cv, seed, pooled)
    true_plan = al.optimise_budget(true_exp, cons, months=MONTHS)  # reference: planning limits
    if hold_rejected:
        # a region whose curve the data do not identify keeps its status-quo spend
        held = {r: float(status_quo[r]) for r in fit.index[~fit["accepted"]]}
        mx = {r: kw.get("maximum", {}).get(r, np.inf) for r in status_quo.index}
        cons_fit = al.BudgetConstraints(total, minimum={r: held.get(r, 0.0) for r in mx},
                                        maximum={r: held.get(r, mx[r]) for r in mx})
    else:
        cons_fit = cons
    plan = al.optimise_budget(curves, cons_fit, months=MONTHS)
    cmp = al.compare_allocations(
        true_curves,
        {"status quo": status_quo, "80% rule": rule, "optimiser (fitted)": plan.spend,
         "true optimum": true_plan.spend},
        months=MONTHS, constraints=cons,
    )
    return cmp, fit, plan, true_plan


def goal(cmp) -> tuple[float, float, bool]:
    """(gain over the 80% rule, shortfall vs the true optimum, goal met)."""
    opt = cmp.loc["optimiser (fitted)", "response"]
    gain = opt / cmp.loc["80% rule", "response"] - 1
    short = 1 - opt / cmp.loc["true optimum", "response"]
    return gain, short, bool(gain >= 0.05 and short <= 0.01)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 1, 2, 3])
    args = ap.parse_args(argv)
    pd.set_option("display.width", 160)
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        company = generate(seed=seed)
        print(f"\n=== demo company seed={seed} (generated in {time.perf_counter() - t0:.1f}s) ===")
        cases = [("history", pooled, cons, False) for pooled in (True, False)
                 for cons in ("total", "tested")]
        cases += [("history", True, "tested", True), ("attributed", False, "total", False)]
        for source, pooled, cons, hold in cases:
            t1 = time.perf_counter()
            cmp, fit, plan, _true_plan = evaluate(company, source, 0.1, 100 * seed, cons, pooled,
                                                 hold_rejected=hold)
            gain, short, met = goal(cmp)
            opt_gain = cmp.loc["true optimum", "response"] / cmp.loc["80% rule", "response"] - 1
            label = {"history": "history, shape pooled by maturity" if pooled else "history, per region",
                     "attributed": "attributed sales (truth + 10% noise)"}[source]
            if hold:
                cons = cons + ", rejected held at status quo"
            rows.append({"seed": seed, "curves": label, "constraints": cons,
                         "accepted": f"{int(fit['accepted'].sum())}/{len(fit)}",
                         "true_opt_vs_rule": opt_gain, "gain_vs_rule": gain,
                         "short_of_optimum": short, "goal": met,
                         "secs": time.perf_counter() - t1})
            if source == "history" and pooled and cons == "tested" and not hold:
                print("\nincremental margin of the quarter under the TRUE curves:")
                print(cmp.round(4).to_string())
                reg = company.truth.regions.set_index("region")
                show = fit[["a", "b", "rel_se_a", "rel_se_b", "dispersion", "r2", "source"]].join(
                    reg[["response_a", "response_b"]]).join(plan.table[["spend", "marginal"]])
                print("\nfitted curves vs truth (a: margin/month at saturation, b: spend scale):")
                print(show.round(3).to_string())
    out = pd.DataFrame(rows)
    print("\n=== summary (gain = optimiser / 80% rule - 1; short = 1 - optimiser / true optimum) ===")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return out


if __name__ == "__main__":
    main()
