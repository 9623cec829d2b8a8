"""Calibration of the forecast -> attainment-odds pipeline across demo-company histories.

For each seed ``s``: generate a demo company (``generate(seed=s, scale)``), forecast the
plan quarter (2027Q1) with the real pipeline ``hierarchy_forecast`` (total -> region) ->
``quarter_paths_from_forecast`` -> ``propose_targets`` / ``attainment_odds``, and judge
the targets on ONE future drawn from the true process with the same seed
(``simulate_future(months=3, seed=s)``, true dropout dates).  Over many seeds this is the
probability integral transform (PIT) across histories: a target proposed at
P(actual >= target) = p should be met in a share p of seeds.

Rows
----
* ``company / propose_targets``: the company target of ``propose_targets`` at
  ``target_probability = p`` (probability rule, not floored at the P50, no pipeline; region
  growth caps opened to [-90%, +900%] -- caps are a planning policy, not part of the
  odds, and a fast-growing history can make the default +60% cap infeasible);
* ``company / quantile`` and ``region / quantile``: the target ``q_{1-p}`` of the
  node's quarter-total paths (the odds ``attainment_odds`` reports for it is p);
* ``region / propose_targets``: the decomposed (capped) region targets of the plan --
  their mean reported odds ``p_attain_target`` against the realised hit rate.

``cov80`` is the share of actual quarter totals inside the 10-90% path quantiles;
``se`` the binomial standard error ``sqrt(p (1 - p) / n)`` of a hit rate over ``n``
independent histories (region rows: 6 regions per seed, treated as independent).
``bias`` is the mean of ``forecast mean / actual - 1``.

New customers' orders in the future have ids unknown to the history; their region is
the region of the order's rep (the territory they were assigned to).

Run:  .venv/bin/python benchmarks/forecast_calibration.py [n_seeds] [scale] [n_jobs]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

PS = (0.3, 0.5, 0.6, 0.8)
QUARTER = "2027Q1"


def actual_by_region(company, future: pd.DataFrame) -> pd.Series:
    """Quarter revenue per region of a simulated future (new customers via their rep)."""
    cust = company.data.customers.set_index("customer_id")["region"]
    reps = company.data.reps.set_index("rep_id")["region"]
    reg = future["customer_id"].map(cust)
    reg = reg.where(reg.notna(), future["rep_id"].map(reps))
    if reg.isna().any():
        raise ValueError("future orders with neither a known customer nor a known rep")
    regions = list(company.data.regions["region"])
    return future.groupby(reg.to_numpy())["amount"].sum().reindex(regions, fill_value=0.0)


def one_seed(seed: int, scale: float = 0.3, n_paths: int = 1000, ps=PS) -> list[dict]:
    """Records (one per node and p) of one history / one future."""
    from salesplan.demo.generator import generate
    from salesplan.models.forecast import hierarchy_forecast
    from salesplan.planning.targets import (
        TargetParams,
        attainment_odds,
        propose_targets,
        quarter_paths_from_forecast,
    )

    warnings.simplefilter("ignore")
    company = generate(seed=seed, scale=scale, as_of="2026-12-31")
    act = actual_by_region(company, company.simulate_future(months=3, seed=seed))
    hf = hierarchy_forecast(company.data, levels=((), ("region",)), h=3, n_paths=n_paths,
                            seed=seed)
    dist = quarter_paths_from_forecast(hf, QUARTER)
    tot = {"company": dist.totals("company").iloc[:, 0].to_numpy()}
    reg_tot = dist.totals("region")
    nodes = [("company", "company", act.sum(), tot["company"])]
    nodes += [("region", r, act[r], reg_tot[r].to_numpy()) for r in act.index]
    out = []
    for p in ps:
        plan = propose_targets(company.data, dist, TargetParams(
            quarter=QUARTER, target_probability=p, floor_at_p50=False,
            pipeline_rule="none", min_growth=-0.9, max_growth=9.0))
        t_c = float(plan.company.iloc[0]["target"])
        out.append({"seed": seed, "level": "company", "node": "company", "how": "propose_targets",
                        "p": p, "target": t_c, "actual": act.sum(), "hit": act.sum() >= t_c,
                        "p_reported": float(attainment_odds(tot["company"], t_c))})
        reg = plan.regions.set_index("region")
        for r in act.index:
            t_r = float(reg.loc[r, "target"])
            out.append({"seed": seed, "level": "region", "node": r, "how": "propose_targets", "p": p,
                            "target": t_r, "actual": act[r], "hit": act[r] >= t_r,
                            "p_reported": float(reg.loc[r, "p_attain_target"])})
        for level, node, a, paths in nodes:
            t = float(np.quantile(paths, 1 - p))
            out.append({"seed": seed, "level": level, "node": node, "how": "quantile", "p": p, "target": t,
                            "actual": a, "hit": a >= t, "p_reported": float(attainment_odds(paths, t))})
    for level, node, a, paths in nodes:
        lo, hi = np.quantile(paths, [0.1, 0.9])
        out.append({"seed": seed, "level": level, "node": node, "how": "interval", "p": np.nan,
                        "target": np.nan, "actual": a, "hit": bool(lo <= a <= hi),
                        "p_reported": 0.8, "fc_mean": float(paths.mean()),
                        "pit": float(np.mean(paths < a))})
    return out


def run(seeds, scale=0.3, n_paths=1000, n_jobs=1, ps=PS) -> pd.DataFrame:
    if n_jobs == 1:
        recs = [one_seed(s, scale, n_paths, ps) for s in seeds]
    else:
        from joblib import Parallel, delayed

        recs = Parallel(n_jobs=n_jobs)(delayed(one_seed)(s, scale, n_paths, ps) for s in seeds)
    return pd.DataFrame([r for rr in recs for r in rr])


def summarize(rec: pd.DataFrame) -> pd.DataFrame:
    """Hit rate per (level, how, p), reported odds, binomial s.e.; cov80 and bias per level."""
    rows = []
    iv = rec[rec["how"] == "interval"]
    for (level, how, p), g in rec[rec["how"] != "interval"].groupby(["level", "how", "p"]):
        n = len(g)
        ivl = iv[iv["level"] == level]
        rows.append({"level": level, "how": how, "p": p, "n": n, "hit_rate": g["hit"].mean(),
                         "p_reported": g["p_reported"].mean(),
                         "se": np.sqrt(p * (1 - p) / n),
                         "cov80": ivl["hit"].mean(),
                         "bias": (ivl["fc_mean"] / ivl["actual"] - 1).mean()})
    return pd.DataFrame(rows)


def main(n_seeds=40, scale=0.3, n_jobs=1):
    t0 = time.time()
    rec = run(range(n_seeds), scale=scale, n_jobs=n_jobs)
    res = summarize(rec)
    print(f"demo company, {n_seeds} seeds (histories) x 1 true future each, scale {scale}, "
          f"plan quarter {QUARTER}; {time.time() - t0:.0f} s")
    print(res.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return rec, res


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 40, float(a[1]) if len(a) > 1 else 0.3,
         int(a[2]) if len(a) > 2 else 1)
