"""Scored vs stage-average pipeline on generated companies whose future is known.

Two parts, both against the generator's truth (``company.truth.opportunity_fate``: the
eventual outcome and close date of every deal, also those still open):

A. Calibration of the win model on a time-based holdout (scale ``--cal-scale``, default 3,
   so that the holdout holds >= 2,000 opportunities): per-decile |observed - predicted|,
   Brier and AUC against the stage-average view, one row per seed.
B. Quarter error of the pipeline term of the bottom-up view: at the day before each of
   the last ``--quarters`` quarters of each history, the won value expected from the open
   pipeline by the quarter's end (``scored_pipeline`` -> ``expected_pipeline_value``, the
   scored and the stage-average column on the same deals and the same timing filter) is
   compared with the value the same open deals really won inside the quarter.  The
   forecast part of bottom-up is the same in both arms, so the difference in bottom-up
   error is the difference of this term.

    python benchmarks/pipeline_scoring.py --seeds 20 --quarters 4 --cal-seeds 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from salesplan.demo.generator import generate
from salesplan.planning.pipeline import (
    PipelineParams,
    evaluate_holdout,
    expected_pipeline_value,
    scored_pipeline,
)


def calibration_part(seeds, scale: float, cutoff: str) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        c = generate(seed=seed, scale=scale)
        r = evaluate_holdout(c.data, cutoff, params=PipelineParams())
        m = r["metrics"].set_index("model")
        rows.append({
            "seed": seed, "scale": scale,
            "holdout_opps": int(m.loc["scored", "n_opportunities"]),
            "holdout_rows": int(m.loc["scored", "n_rows"]),
            "max_gap_scored": m.loc["scored", "max_decile_gap"],
            "max_gap_stage": m.loc["stage_average", "max_decile_gap"],
            "brier_scored": m.loc["scored", "brier"], "brier_stage": m.loc["stage_average", "brier"],
            "auc_scored": m.loc["scored", "auc"], "auc_stage": m.loc["stage_average", "auc"],
            "gaps_scored": " ".join(f"{g:.3f}" for g in r["calibration"]["gap"]),
        })
        print(pd.DataFrame(rows[-1:]).drop(columns="gaps_scored").to_string(index=False, header=len(rows) == 1),
              flush=True)
    return pd.DataFrame(rows)


def quarter_part(seeds, scale: float, n_quarters: int, as_of: str) -> pd.DataFrame:
    rows = []
    end = pd.Timestamp(as_of).to_period("Q")
    for seed in seeds:
        c = generate(seed=seed, scale=scale, as_of=as_of)
        fate = c.truth.opportunity_fate.set_index("opportunity_id")
        for k in range(n_quarters, 0, -1):
            q = end - k + 1
            at = q.start_time.normalize() - pd.Timedelta(days=1)
            q_end = q.end_time.normalize()
            sp = scored_pipeline(c.data, at, horizon_end=q_end)
            f = fate.reindex(sp["opportunity_id"])
            landed = f["won"].to_numpy(bool) & (f["close_date"] <= q_end).to_numpy()
            actual = float(sp["amount"].to_numpy()[landed].sum())
            rows.append({"seed": seed, "quarter": str(q), "open_deals": len(sp), "actual": actual,
                         "scored": expected_pipeline_value(sp),
                         "stage_average": expected_pipeline_value(sp, column="p_stage")})
        print(f"seed {seed}: done", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="histories for the quarter error")
    ap.add_argument("--quarters", type=int, default=4, help="quarters per history")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--cal-seeds", type=int, default=5, help="histories for the calibration part")
    ap.add_argument("--cal-scale", type=float, default=3.0)
    ap.add_argument("--cutoff", default="2025-03-31", help="holdout starts after this date")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.cal_seeds > 0:
        print(f"A. calibration on a time-based holdout (scale {args.cal_scale}, cutoff {args.cutoff})")
        cal = calibration_part(range(1, args.cal_seeds + 1), args.cal_scale, args.cutoff)
        print(cal.to_string(index=False))
        print(f"seeds with every decile gap <= 0.05: scored {int((cal['max_gap_scored'] <= 0.05).sum())}"
              f"/{len(cal)}, stage average {int((cal['max_gap_stage'] <= 0.05).sum())}/{len(cal)}; "
              f"AUC scored > stage in {int((cal['auc_scored'] > cal['auc_stage']).sum())}/{len(cal)}; "
              f"Brier scored < stage in {int((cal['brier_scored'] < cal['brier_stage']).sum())}/{len(cal)}")
    if args.seeds > 0:
        print(f"\nB. quarter error of the pipeline term ({args.seeds} histories x {args.quarters} quarters, "
              f"scale {args.scale})")
        qe = quarter_part(range(1, args.seeds + 1), args.scale, args.quarters, "2026-12-31")
        err_s = qe["scored"] - qe["actual"]
        err_b = qe["stage_average"] - qe["actual"]
        summary = pd.DataFrame({
            "arm": ["scored", "stage_average"],
            "n_quarters": [len(qe)] * 2,
            "mean_actual": [qe["actual"].mean()] * 2,
            "mae": [err_s.abs().mean(), err_b.abs().mean()],
            "rmse": [np.sqrt((err_s ** 2).mean()), np.sqrt((err_b ** 2).mean())],
            "bias": [err_s.mean(), err_b.mean()],
            "mape_of_total": [err_s.abs().sum() / qe["actual"].sum(), err_b.abs().sum() / qe["actual"].sum()],
        })
        print(summary.round(1).to_string(index=False))
        better = int((err_s.abs() < err_b.abs()).sum())
        d = err_b.abs() - err_s.abs()
        print(f"scored closer in {better}/{len(qe)} quarters; mean |err| reduction "
              f"{d.mean():,.0f} (s.e. {d.std(ddof=1) / np.sqrt(len(d)):,.0f})")
    print(f"\nwall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
