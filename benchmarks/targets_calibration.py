"""Calibration of quarterly attainment odds on the demo company's true process.

Targets are proposed by ``propose_targets`` at P(actual >= target) = p and judged on
independent quarters simulated from the generator's truth (``simulate_future``):

* ``truth`` rows: the distribution fed to the planner is itself drawn from the true
  process (5-fold cross-fit), so the hit rate should equal p up to sampling error;
* ``forecast`` rows: the distribution comes from ``salesplan.forecast.hierarchy_forecast``
  fitted on the history only -- the hit rate measures how far the forecaster's odds are
  from the truth (what a planner actually gets).

Run:  .venv/bin/python benchmarks/targets_calibration.py [n_quarters] [scale]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from salesplan.synthetic import generate
from salesplan.targets import (
    QuarterDistribution,
    TargetParams,
    propose_targets,
    quarter_paths_from_forecast,
)

MONTHS = pd.date_range("2027-01-01", periods=3, freq="MS")


def simulate(company, n):
    regions, months, paths = company.future_revenue_paths(range(10_000, 10_000 + n), months=3)
    assert list(months) == list(MONTHS)
    return regions, paths


def main(n=400, scale=0.4):
    t0 = time.time()
    company = generate(seed=7, scale=scale, as_of="2026-12-31")
    regions, paths = simulate(company, n)
    t_sim = time.time() - t0
    actual_c = paths.sum(axis=(1, 2))
    actual_r = paths.sum(axis=2)
    rows = []
    folds = np.array_split(np.random.default_rng(0).permutation(n), 5)
    for p in (0.3, 0.5, 0.6, 0.8):
        hit, rp, rh = [], [], []
        for test in folds:
            train = np.setdiff1d(np.arange(n), test)
            dist = QuarterDistribution.from_arrays(MONTHS, regions={r: paths[train, i] for i, r in enumerate(regions)})
            plan = propose_targets(company.data, dist, TargetParams(quarter="2027Q1", growth=None, blend=0.0,
                                                                    target_probability=p, pipeline_rule="none"))
            hit.extend(actual_c[test] >= plan.company.iloc[0]["target"])
            reg = plan.regions.set_index("region")
            rp.extend(reg.loc[regions, "p_attain_target"])
            rh.extend((actual_r[test] >= reg.loc[regions, "target"].to_numpy()[None, :]).mean(axis=0))
        rows.append(dict(source="truth", p=p, company_hit=np.mean(hit), se=np.sqrt(p * (1 - p) / n),
                         region_pred=np.mean(rp), region_hit=np.mean(rh)))
    t1 = time.time()
    from salesplan.forecast import hierarchy_forecast
    hf = hierarchy_forecast(company.data, levels=((), ("region",)), h=3, n_paths=1000, seed=0)
    t_fc = time.time() - t1
    dist = quarter_paths_from_forecast(hf)
    for p in (0.3, 0.5, 0.6, 0.8):
        plan = propose_targets(company.data, dist, TargetParams(quarter="2027Q1", growth=None, blend=0.0,
                                                                target_probability=p, pipeline_rule="none"))
        reg = plan.regions.set_index("region")
        rows.append(dict(source="forecast", p=p, company_hit=float((actual_c >= plan.company.iloc[0]["target"]).mean()),
                         se=np.sqrt(p * (1 - p) / n), region_pred=float(reg.loc[regions, "p_attain_target"].mean()),
                         region_hit=float((actual_r >= reg.loc[regions, "target"].to_numpy()[None, :]).mean())))
    res = pd.DataFrame(rows)
    print(f"demo company seed 7, scale {scale}, {n} simulated quarters 2027Q1 "
          f"(simulation {t_sim:.0f} s, hierarchy forecast {t_fc:.0f} s)")
    print(f"true mean company quarter {actual_c.mean():,.0f}; forecast mean {dist.totals('company')['total'].mean():,.0f}")
    print(res.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return res


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 0.4
    main(n, scale)
