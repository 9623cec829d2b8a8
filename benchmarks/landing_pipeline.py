"""Weekly landing forecast with and without the scored-pipeline term on simulated mid-quarter reviews.

The setting of ``tests/test_review.py``'s coverage test (companies seeds 200.., scale 0.3,
10 futures each, review day 20 Jan - 10 Mar 2027), plus ``targets.pipeline_rho`` at
2026-12-31 and ``scored_pipeline`` on the review day.  The generator's opportunity data end
on 2026-12-31 (the pipeline is frozen at the quarter's start) and its won deals bring no
orders beyond the order process, so this measures the cost of a stale pipeline term.

    python benchmarks/landing_pipeline.py 20

Three arms: no pipeline term; the ``excess`` rule (``pipeline_rho``); the ``backtest`` rule
(``pipeline_backtest_fit`` with scored weights at 2026-12-31 -> ``pipeline_beta``).
"""
import sys

import numpy as np
import pandas as pd

from salesplan.demo.generator import generate
from salesplan.planning.pipeline import scored_pipeline
from salesplan.planning.review import (
    LandingParams,
    landing_forecast,
    pipeline_by_entity,
    revenue_dispersion,
    weekday_profile,
)
from salesplan.planning.targets import TargetParams, pipeline_backtest_fit, pipeline_rho

months = pd.date_range("2027-01-01", periods=3, freq="MS")
def mt(frame):
    m = frame["order_date"].dt.to_period("M").dt.start_time
    return frame.groupby(m)["amount"].sum().reindex(months, fill_value=0.0).to_numpy()
n_c = int(sys.argv[1]) if len(sys.argv) > 1 else 20
h0, h1, h2, ex, ex2 = [], [], [], [], []
for c in range(n_c):
    company = generate(seed=200 + c, scale=0.3)
    data = company.data
    hist = data.orders
    prior = np.array([mt(company.simulate_future(months=3, seed=5000 + j)) for j in range(20)])
    fm = pd.DataFrame({"entity": "company", "month": months, "mean": prior.mean(axis=0)})
    cv = pd.Series({"company": prior.sum(axis=1).std(ddof=1) / prior.sum(axis=1).mean()})
    k, _ = revenue_dispersion(hist, "2026-12-31")
    params = LandingParams(weekday_weights=weekday_profile(hist, "2026-12-31"))
    rho, used = pipeline_rho(data, "2026-12-31", TargetParams(quarter="2027Q1", pipeline_rule="excess",
                                                              pipeline_weights="scored"))
    fit = pipeline_backtest_fit(data, "2026-12-31", TargetParams(quarter="2027Q1", pipeline_weights="scored"))
    for f in range(10):
        fut = company.simulate_future(months=3, seed=f)
        as_of = pd.Timestamp("2027-01-20") + pd.Timedelta(days=(7 * c + 13 * f) % 50)
        actual = fut.loc[fut["order_date"] <= as_of, "amount"].sum()
        truth = fut.loc[fut["order_date"] <= "2027-03-31", "amount"].sum()
        sp = scored_pipeline(data, as_of, horizon_end="2027-03-31")
        pb = pipeline_by_entity(sp, total="company")
        a = pd.Series({"company": actual})
        r0 = landing_forecast(a, fm, as_of, k=k, forecast_cv=cv, params=params).iloc[0]
        r1 = landing_forecast(a, fm, as_of, k=k, forecast_cv=cv, params=params, pipeline=pb, pipeline_rho=rho).iloc[0]
        h0.append(r0["landing_lo"] <= truth <= r0["landing_hi"])
        h1.append(r1["landing_lo"] <= truth <= r1["landing_hi"])
        r2 = landing_forecast(a, fm, as_of, k=k, forecast_cv=cv, params=params, pipeline=pb,
                              pipeline_rho=fit["z_bar"], pipeline_beta=(fit["beta"], fit["sd"])).iloc[0]
        h2.append(r2["landing_lo"] <= truth <= r2["landing_hi"])
        ex2.append(r2["pipeline_excess"] / r0["landing"])
        ex.append((r1["pipeline_excess"], r1["pipeline_expected"], r1["pipeline_usual"], r0["landing"], truth))
    print(c, used, f"rho={rho:.4f}", f"beta={fit['beta']:.3f} (b_hat {fit['b_hat']:+.2f}, se {fit['se']:.2f})",
          f"cov0={np.mean(h0):.3f} cov1={np.mean(h1):.3f} cov2={np.mean(h2):.3f}", flush=True)
e = np.array(ex)
print(f"n={len(h0)} coverage without pipeline {np.mean(h0):.4f}, with {np.mean(h1):.4f}; "
      f"excess>0 in {np.mean(e[:,0]>0):.2f}; mean excess / landing {np.mean(e[:,0]/e[:,3]):.4f}; "
      f"mean W / usual {np.mean(e[:,1])/np.mean(e[:,2]):.3f}; mean (truth - landing0)/landing0 {np.mean((e[:,4]-e[:,3])/e[:,3]):+.4f}")
print(f"backtest rule (pipeline_beta, scored weights): coverage {np.mean(h2):.4f}; term != 0 in "
      f"{np.mean(np.abs(ex2) > 0):.2f} of reviews; mean term / landing {np.mean(ex2):+.4f}")
