"""Calibration of the target odds at company, region AND rep level across demo histories.

For each seed ``s`` (one demo history and one future of its true process):

1. ``generate(seed=s, scale)`` -> the history to 2026-12-31;
2. the notebooks' forecast: ``hierarchy_forecast`` company -> region -> rep (``combo``,
   1,000 reconciled paths) -> ``quarter_paths_from_forecast`` (plan quarter 2027Q1);
3. ``propose_targets`` with the default parameters (probability rule P = 0.6 floored at
   the P50, over-assignment chosen, rep quotas by the split rule and band); region growth
   caps opened to [-90%, +900%] (a fast-growing history can make the default caps
   infeasible; caps are policy, not odds);
4. one future ``simulate_future(months=3, seed=s)`` judges every target: company, region
   (region of the customer, else of the order's rep) and rep (orders credited to the rep).

Rows
----
* ``quantile`` rows: at each level a target set at the ``1 - P`` quantile of the node's
  outcome paths -- the odds the plan reports for it are P -- met in a share ``hit`` of
  cases (company: forecast + pipeline increment; region: region paths + increment; rep:
  the rep's outcome paths, i.e. own forecast paths widened by ``rep_spread``; reps with an
  own forecast, in post all quarter).
* ``forecast only`` rows: the same without the pipeline increment (the forecast's own
  calibration).
* ``plan`` rows: the plan's own targets / quotas: mean reported odds ``p_reported`` vs the
  realised hit rate, and (reps) by bands of reported odds.

``n`` = number of (seed, node) outcomes; ``se`` = standard error of the hit rate, clustered
by seed (the nodes of one history share its future): ``sd(per-seed hit rate) / sqrt(seeds)``
for region and rep rows, binomial ``sqrt(h(1-h)/n)`` for the company.

``reconcile`` (4th argument) sets ``hierarchy_forecast(reconcile_method=...)``: ``auto``
(the notebooks' setting) or e.g. ``mint_shrink`` -- to separate the forecast's error from
the odds mechanics of the plan; ``regions-auto`` forecasts company -> region only (as
``forecast_calibration.py``; reps then get no own paths and no rep rows).

Run:  .venv/bin/python benchmarks/targets_calibration.py [n_seeds] [scale] [n_jobs] [reconcile]
      [pipeline_weights: stage (default) | scored] [pipeline_rule: backtest (default) | excess | none]
      [world: 0 = the demo truth (default); m > 0 = :func:`pipeline_world` with deal amounts x m]

The first lines also report the pipeline increment as a share of the company forecast and,
for the ``backtest`` rule, the back-test fit (``b_hat``, its s.e., ``beta`` after shrinkage)
across the histories.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

PS = (0.5, 0.6, 0.8)
QUARTER = "2027Q1"


def _actuals(company, future: pd.DataFrame):
    cust = company.data.customers.set_index("customer_id")["region"]
    reps = company.data.reps.set_index("rep_id")["region"]
    reg = future["customer_id"].map(cust)
    reg = reg.where(reg.notna(), future["rep_id"].map(reps))
    regions = list(company.data.regions["region"])
    by_region = future.groupby(reg.to_numpy())["amount"].sum().reindex(regions, fill_value=0.0)
    by_rep = future.groupby(future["rep_id"].astype(str))["amount"].sum()
    return by_region, by_rep


def pipeline_world(company, future: pd.DataFrame, mult: float):
    """A variant of the demo truth in which won deals ARE revenue the order process misses.

    Every opportunity amount is multiplied by ``mult``; each deal that was open at the start
    of the quarter in which it is won (``truth.opportunity_fate``) adds one order of its
    amount on its close date (customer and rep of the deal): to the history when it closes
    by ``as_of``, to the simulated future when it closes after (the generator creates no
    deals after ``as_of``, hence only deals open at a quarter's start count, in the
    history too).  The weighted open pipeline then predicts revenue beyond the time
    series, one for one (true ``beta`` = 1).
    """
    from dataclasses import replace

    d = company.data
    opps = d.opportunities.copy()
    opps["amount"] = opps["amount"] * mult
    fate = company.truth.opportunity_fate.set_index("opportunity_id")
    o = opps.set_index("opportunity_id").join(fate[["won", "close_date"]])
    start_q = o["close_date"].dt.to_period("Q").dt.start_time
    o = o[o["won"] & (pd.to_datetime(o["created_date"]) < start_q)]
    line = str(d.orders["product_line"].iloc[0])
    extra = pd.DataFrame({"order_id": "WON-" + o.index.astype(str), "order_date": o["close_date"].to_numpy(),
                          "customer_id": o["customer_id"].to_numpy(), "rep_id": o["rep_id"].to_numpy(),
                          "product_line": line, "quantity": 1.0, "amount": o["amount"].to_numpy()})
    end = pd.Timestamp("2026-12-31")
    hist = pd.concat([d.orders, extra[extra["order_date"] <= end]], ignore_index=True)
    hist = hist.sort_values("order_date", kind="mergesort", ignore_index=True)
    fut = pd.concat([future, extra[extra["order_date"] > end]], ignore_index=True)
    return replace(company, data=replace(d, orders=hist, opportunities=opps).coerced()), fut


def one_seed(seed: int, scale: float = 0.3, n_paths: int = 1000, ps=PS, reconcile: str = "auto",
             pipeline_weights: str = "stage", pipeline_rule: str = "backtest", world: float = 0.0) -> list[dict]:
    """Records of one history / one future: one per (level, node, how, p)."""
    from salesplan.demo.generator import generate
    from salesplan.models.forecast import hierarchy_forecast
    from salesplan.planning.targets import (
        TargetParams,
        propose_targets,
        quarter_paths_from_forecast,
    )

    warnings.simplefilter("ignore")
    company = generate(seed=seed, scale=scale, as_of="2026-12-31")
    future = company.simulate_future(months=3, seed=seed)
    if world > 0:
        company, future = pipeline_world(company, future, world)
    act_r, act_rep = _actuals(company, future)
    levels = ((), ("region",)) if reconcile.startswith("regions-") else ((), ("region",), ("region", "rep_id"))
    hf = hierarchy_forecast(company.data, levels=levels, h=3, n_paths=n_paths, seed=seed,
                            reconcile_method=reconcile.removeprefix("regions-"))
    dist = quarter_paths_from_forecast(hf, QUARTER)
    prm = TargetParams(quarter=QUARTER, min_growth=-0.9, max_growth=9.0, seed=seed,
                       pipeline_weights=pipeline_weights, pipeline_rule=pipeline_rule)
    plan = propose_targets(company.data, dist, prm)
    out = []
    c = plan.company.iloc[0]
    regions_ = list(plan.regions["region"])
    pp = plan.pipeline_paths if plan.pipeline_paths is not None else np.zeros((n_paths, len(regions_)))
    pp = pd.DataFrame(np.broadcast_to(pp, (n_paths, len(regions_))), columns=regions_)  # (S, R) increment
    comp = dist.totals("company").iloc[:, 0].to_numpy() + pp.sum(axis=1).to_numpy()
    a_c = float(act_r.sum())
    f_mean = float(dist.totals("company").iloc[:, 0].mean())
    a = plan.assumptions.set_index("item")["value"]
    fit = {k: a.get(k, "") for k in ("pipeline_beta", "pipeline_beta_sd", "pipeline_b_hat", "pipeline_b_se")}
    out.append(dict(seed=seed, level="company", node="company", how="plan", p=np.nan, target=c["target"],
                    actual=a_c, hit=a_c >= c["target"], p_reported=c["p_attain_target"],
                    increment=float(c["pipeline_increment"]), forecast_mean=f_mean,
                    pipeline_now=float(plan.regions["pipeline_now"].sum()), **fit))
    reg = plan.regions.set_index("region")
    regt = dist.totals("region")
    for r in reg.index:
        out.append(dict(seed=seed, level="region", node=r, how="plan", p=np.nan, target=reg.loc[r, "target"],
                        actual=act_r[r], hit=act_r[r] >= reg.loc[r, "target"], p_reported=reg.loc[r, "p_attain_target"]))
    reps = plan.reps[~plan.reps["vacant"]].set_index("rep_id")
    for rid, r in reps.iterrows():
        a = float(act_rep.get(rid, 0.0))
        out.append(dict(seed=seed, level="rep", node=rid, how="plan", p=np.nan, target=r["quota"], actual=a,
                        hit=a >= r["quota"], p_reported=r["p_attain_quota"], established=bool(r["established"])))
    # rep outcome paths as the plan judges them: own paths widened by rep_spread
    own = dist.totals("rep") if "rep" in dist.levels else pd.DataFrame()
    judged = [rid for rid in reps.index[reps["established"]] if rid in own.columns and reps.loc[rid, "own_forecast"] > 0]
    for p in ps:
        t = float(np.quantile(comp, 1 - p))
        out.append(dict(seed=seed, level="company", node="company", how="quantile", p=p, target=t, actual=a_c,
                        hit=a_c >= t, p_reported=p))
        t0 = float(np.quantile(comp - pp.sum(axis=1).to_numpy(), 1 - p))  # the forecast alone, no increment
        out.append(dict(seed=seed, level="company", node="company", how="forecast only", p=p, target=t0,
                        actual=a_c, hit=a_c >= t0, p_reported=p))
        for r in reg.index:
            x = regt[r].to_numpy() + pp[r].to_numpy()
            t = float(np.quantile(x, 1 - p))
            out.append(dict(seed=seed, level="region", node=r, how="quantile", p=p, target=t, actual=act_r[r],
                            hit=act_r[r] >= t, p_reported=p))
            t0 = float(np.quantile(regt[r].to_numpy(), 1 - p))
            out.append(dict(seed=seed, level="region", node=r, how="forecast only", p=p, target=t0,
                            actual=act_r[r], hit=act_r[r] >= t0, p_reported=p))
        for rid in judged:
            x = own[rid].to_numpy()
            x = np.clip(x.mean() + prm.rep_spread * (x - x.mean()), 0, None)
            t = float(np.quantile(x, 1 - p))
            a = float(act_rep.get(rid, 0.0))
            out.append(dict(seed=seed, level="rep", node=rid, how="quantile", p=p, target=t, actual=a,
                            hit=a >= t, p_reported=p))
    return out


def run(seeds, scale=0.3, n_paths=1000, n_jobs=1, reconcile="auto", pipeline_weights="stage",
        pipeline_rule="backtest", world=0.0) -> pd.DataFrame:
    if n_jobs == 1:
        recs = [one_seed(s, scale, n_paths, PS, reconcile, pipeline_weights, pipeline_rule, world) for s in seeds]
    else:
        from joblib import Parallel, delayed

        recs = Parallel(n_jobs=n_jobs)(delayed(one_seed)(s, scale, n_paths, PS, reconcile, pipeline_weights,
                                                         pipeline_rule, world) for s in seeds)
    return pd.DataFrame([r for rr in recs for r in rr])


def _se(g: pd.DataFrame) -> float:
    if g["seed"].nunique() == len(g):
        h = g["hit"].mean()
        return float(np.sqrt(h * (1 - h) / len(g)))
    per = g.groupby("seed")["hit"].mean()
    return float(per.std(ddof=1) / np.sqrt(len(per)))


def summarize(rec: pd.DataFrame) -> pd.DataFrame:
    """Hit rate vs stated / reported odds per level, with n and the clustered s.e."""
    rows = []
    q = rec[rec["how"].isin(["quantile", "forecast only"])]
    for (how, level, p), g in q.groupby(["how", "level", "p"], sort=False):
        rows.append(dict(level=level, how=how, odds=f"P = {p:.1f}", n=len(g), seeds=g["seed"].nunique(),
                         p_reported=p, hit_rate=g["hit"].mean(), se=_se(g)))
    c = rec[(rec["how"] == "quantile") & (rec["level"] == "company") & (rec["p"] == 0.5)]
    if len(c):
        print(f"company: median P50 target / actual - 1 = {(c['target'] / c['actual'] - 1).median():+.1%} "
              f"(forecast + pipeline increment)")
    c0 = rec[(rec["how"] == "forecast only") & (rec["level"] == "company") & (rec["p"] == 0.5)]
    if len(c) and len(c0):
        e1, e0 = (c["target"] / c["actual"] - 1).to_numpy(), (c0["target"] / c0["actual"] - 1).to_numpy()
        print(f"company P50 / actual - 1: with the increment mean |err| {np.mean(np.abs(e1)):.2%} (bias "
              f"{np.mean(e1):+.2%}), forecast only {np.mean(np.abs(e0)):.2%} ({np.mean(e0):+.2%}); closer with "
              f"the increment in {int((np.abs(e1) < np.abs(e0) - 1e-12).sum())}/{len(e1)}, farther in "
              f"{int((np.abs(e1) > np.abs(e0) + 1e-12).sum())}/{len(e1)}")
    cp = rec[(rec["how"] == "plan") & (rec["level"] == "company")]
    if len(cp) and "increment" in cp:
        sh = cp["increment"] / cp["forecast_mean"]
        print(f"pipeline increment / company forecast mean: median {sh.median():+.2%}, mean {sh.mean():+.2%}, "
              f"min {sh.min():+.2%}, max {sh.max():+.2%}; weighted pipeline now / forecast: median "
              f"{(cp['pipeline_now'] / cp['forecast_mean']).median():.1%}")
        bh = pd.to_numeric(cp.get("pipeline_b_hat"), errors="coerce")
        if bh is not None and bh.notna().any():
            se = pd.to_numeric(cp["pipeline_b_se"], errors="coerce")
            beta = pd.to_numeric(cp["pipeline_beta"], errors="coerce")
            print(f"back-test fit: b_hat median {bh.median():+.3f} (mean {bh.mean():+.3f}, sd {bh.std():.3f}), "
                  f"se median {se.median():.3f}, |t| > 2 in {int((bh.abs() > 2 * se).sum())}/{len(bh)}; "
                  f"beta after shrinkage median {beta.median():.3f}, > 0 in {int((beta > 0).sum())}/{len(beta)}")
    pl = rec[rec["how"] == "plan"]
    for level, g in pl.groupby("level", sort=False):
        rows.append(dict(level=level, how="plan", odds="all", n=len(g), seeds=g["seed"].nunique(),
                         p_reported=g["p_reported"].mean(), hit_rate=g["hit"].mean(), se=_se(g)))
    r = pl[(pl["level"] == "rep") & pl["established"].fillna(False).astype(bool)]
    bins = pd.cut(r["p_reported"], [0, 0.2, 0.4, 0.6, 0.8, 1.0], include_lowest=True)
    for b, g in r.groupby(bins, observed=True):
        rows.append(dict(level="rep (established)", how="plan", odds=str(b), n=len(g), seeds=g["seed"].nunique(),
                         p_reported=g["p_reported"].mean(), hit_rate=g["hit"].mean(), se=_se(g)))
    return pd.DataFrame(rows)


def main(n_seeds=40, scale=0.3, n_jobs=1, reconcile="auto", pipeline_weights="stage", pipeline_rule="backtest",
         world=0.0):
    t0 = time.time()
    rec = run(range(n_seeds), scale=scale, n_jobs=n_jobs, reconcile=reconcile,
              pipeline_weights=pipeline_weights, pipeline_rule=pipeline_rule, world=world)
    res = summarize(rec)
    print(f"demo company, {n_seeds} seeds (histories) x 1 true future each, scale {scale}, plan quarter "
          f"{QUARTER}, reconciliation {reconcile!r}, pipeline_weights {pipeline_weights!r}, pipeline_rule "
          f"{pipeline_rule!r}, {f'pipeline world x{world:g}' if world > 0 else 'demo truth'}, default "
          f"TargetParams (caps opened); {time.time() - t0:.0f} s")
    print(res.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return rec, res


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 40, float(a[1]) if len(a) > 1 else 0.3, int(a[2]) if len(a) > 2 else 1,
         a[3] if len(a) > 3 else "auto", a[4] if len(a) > 4 else "stage", a[5] if len(a) > 5 else "backtest",
         float(a[6]) if len(a) > 6 else 0.0)
