"""Budget allocation on the demo company, judged against the generator's true curves.

For the plan quarter after ``as_of`` (3 months), the budget is the status quo: each
region's mean monthly spend over the last 12 months, times 3.  Allocations compared,
all evaluated under the TRUE response curves ``truth.response``:

* the rule of thumb: 80% of the budget by region share of A-class revenue, 20% by
  share of the other customers' revenue (A = customers making the first 80% of
  trailing-12-month revenue, :func:`salesplan.models.segments.abc_classes`);
* the optimiser on curves FITTED FROM DATA (no truth used in fitting) at two levels --
  ``region`` (regional monthly order counts, the default) and ``customer`` (customer
  panel, conditional Poisson with customer fixed effects, ``level="customer"``) -- and
  two ways:
  ``plug-in``  optimise the point-estimate curves;
  ``expected`` (the library default) optimise the expected response over 200 draws of
               the fit's Laplace posterior of (log a, log b) (seed 0);
* the true optimum: the optimiser on the true curves under the SAME constraints.

Curves: :func:`salesplan.planning.allocation.fit_response_curves` on ``marketing_spend`` (with its
planned geo tests: dark, cut and heavy-up months) and monthly regional order counts from
``orders``; joint fit (shared multiplicative season, per-region level and trend), curve
shape shared within ``regions.maturity``; library defaults otherwise (a fit is accepted
up to relative SE 2; a rejected region borrows only from accepted regions of its own
maturity, else it is held at its status-quo spend).

Constraints (the true optimum is computed under the same ones):
``total``   the budget only;
``tested``  also at most the largest monthly spend seen per region (no extrapolation);
``+-50%``   each region within +-50% of its status-quo spend (the planner's "maximum
            change against last year"; the notebook default).

Reference: ``attributed`` -- curves fitted to campaign-attributed sales taken from the
truth (``expected_revenue.marketing_revenue`` x log-normal noise, CV 0.1).

Goal: the optimiser's allocation earns >= 5% more incremental margin than the 80% rule
and is within 1% of the true optimum.

Run: ``.venv/bin/python benchmarks/allocation_demo.py [--seeds 7 1 2 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from salesplan.demo.generator import generate
from salesplan.planning import allocation as al

MONTHS = 3
METHODS = {"plug-in": "plugin", "expected": "expected"}
#: "region": joint fit to regional monthly order counts (library default);
#: "customer": the same curves from the customer panel (conditional Poisson, customer FE)
LEVELS = ("region", "customer")


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


def fit_history(company, pooled: bool = True, level: str = "region") -> pd.DataFrame:
    """Fit table from data only: orders, customers, regions, marketing_spend, margin rate."""
    data, truth = company.data, company.truth
    sales = al.monthly_region_sales(data.orders, data.customers, truth.as_of)
    groups = data.regions.set_index("region")["maturity"] if pooled else None
    orders = data.orders[data.orders["order_date"] <= truth.as_of]
    return al.fit_response_curves(data.marketing_spend, sales, truth.gross_margin_rate,
                                  groups=groups, level=level, orders=orders,
                                  customers=data.customers)


def fit_attributed(company, cv: float = 0.1, seed: int = 0) -> pd.DataFrame:
    truth = company.truth
    er = truth.expected_revenue
    rng = np.random.default_rng(seed)
    noise = rng.lognormal(-0.5 * np.log1p(cv**2), np.sqrt(np.log1p(cv**2)), len(er)) if cv > 0 else 1.0
    attributed = er[["region", "month"]].assign(sales=er["marketing_revenue"] * noise)
    spend = er[["region", "month"]].assign(amount=er["marketing_spend"])
    return al.fit_response_curves(spend, attributed, truth.gross_margin_rate, attributed=True)


def constraints_for(company, status_quo, total, name: str) -> al.BudgetConstraints:
    if name == "total":
        return al.BudgetConstraints(total)
    if name == "tested":
        sp = company.data.marketing_spend
        return al.BudgetConstraints(total, maximum=(sp.groupby("region")["amount"].max() * MONTHS).to_dict())
    if name == "+-50%":
        return al.BudgetConstraints(total, last_year=status_quo.to_dict(), max_change=0.5)
    raise ValueError(name)


def evaluate(company, fit, uncertainty="expected", constraints="total"):
    """One case: (comparison under the TRUE curves, fitted plan, true plan)."""
    status_quo, total, rule, true_curves, true_exp = setup(company)
    cons = constraints_for(company, status_quo, total, constraints)
    true_plan = al.optimise_budget(true_exp, cons, months=MONTHS)
    plan = al.optimise_budget(al.curves_from_fit(fit, uncertainty=uncertainty), cons, months=MONTHS)
    cmp = al.compare_allocations(
        true_curves,
        {"status quo": status_quo, "80% rule": rule, "optimiser (fitted)": plan.spend,
         "true optimum": true_plan.spend},
        months=MONTHS, constraints=cons,
    )
    return cmp, plan, true_plan


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
    pd.set_option("display.width", 200)
    rows, ses = [], []
    for seed in args.seeds:
        t0 = time.perf_counter()
        company = generate(seed=seed)
        print(f"\n=== demo company seed={seed} (generated in {time.perf_counter() - t0:.1f}s) ===")
        reg = company.truth.regions.set_index("region")
        fits = {}
        for level in LEVELS:
            t1 = time.perf_counter()
            fits[level] = fit = fit_history(company, level=level)
            t_fit = time.perf_counter() - t1
            print(f"\n{level}-level fit vs truth ({t_fit:.1f}s; a: margin/month at saturation, "
                  "b: spend scale; err = log(fit / truth)):")
            show = fit[["a", "b", "rel_se_a", "rel_se_b", "corr_ab", "dispersion", "group", "source"]]
            show = show.join(reg[["response_a", "response_b"]])
            show["err_a"] = np.log(show["a"] / show["response_a"])
            show["err_b"] = np.log(show["b"] / show["response_b"])
            print(show.round(3).to_string())
            for why in fit.loc[fit["source"] != "fit", "reason"]:
                print("  -", why)
            ses.append({"seed": seed, "level": level, "mean_rel_se_a": fit["rel_se_a"].mean(),
                        "mean_rel_se_b": fit["rel_se_b"].mean(),
                        "rms_err_a": float(np.sqrt(np.nanmean(show["err_a"] ** 2))),
                        "rms_err_b": float(np.sqrt(np.nanmean(show["err_b"] ** 2)))})
        cases = [(lv, m, c) for lv in LEVELS for c in ("total", "tested", "+-50%") for m in METHODS]
        cases += [("attributed", "plug-in", "total")]
        att = None
        for source, method, cons in cases:
            if source == "attributed":
                att = fit_attributed(company, 0.1, 100 * seed) if att is None else att
            f = fits[source] if source in fits else att
            cmp, _plan, _ = evaluate(company, f, METHODS[method], cons)
            gain, short, met = goal(cmp)
            opt_gain = cmp.loc["true optimum", "response"] / cmp.loc["80% rule", "response"] - 1
            label = (f"history ({source} level), shape pooled by maturity" if source in fits
                     else "attributed sales (truth + 10% noise)")
            held = int((f["source"] == "held").sum())
            rows.append({"seed": seed, "curves": label, "method": method, "constraints": cons,
                         "accepted": f"{int(f['accepted'].sum())}/{len(f)}", "held": held,
                         "true_opt_vs_rule": opt_gain, "gain_vs_rule": gain,
                         "short_of_optimum": short, "goal": met})
            if source == "region" and method == "expected" and cons == "+-50%":
                print("\nincremental margin of the quarter under the TRUE curves (expected, +-50%):")
                print(cmp.round(4).to_string())
    out = pd.DataFrame(rows)
    print("\n=== summary (gain = optimiser / 80% rule - 1; short = 1 - optimiser / true optimum "
          "under the same constraints) ===")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    hist = out[out["curves"].str.startswith("history")]
    print("\nmean over seeds (history):")
    print(hist.groupby(["curves", "constraints", "method"])[["gain_vs_rule", "short_of_optimum"]].mean()
          .to_string(float_format=lambda v: f"{v:.4f}"))
    print("\nparameter precision (mean over regions of the relative SE; RMS of log(fit / truth)):")
    print(pd.DataFrame(ses).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return out


if __name__ == "__main__":
    main()
