"""Issue 14 "done when" on the demo plan 2027Q1: the bundled demo company and the forecast
paths of its committed plan snapshot (the forecast notebook's output), default parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesplan.data import open_source
from salesplan.planning.targets import QuarterDistribution, TargetParams, propose_targets

ROOT = Path(__file__).resolve().parents[1]
PATHS = ROOT / "tests" / "snapshots" / "plan" / "forecast-2027Q1" / "paths.parquet"
DEMO = ROOT / "data" / "demo" / "salesplan_demo.duckdb"


@pytest.fixture(scope="module")
def demo_plan():
    if not PATHS.exists() or not DEMO.exists():
        pytest.skip("demo data or forecast snapshot absent")
    data = open_source(f"duckdb:///{DEMO}").load()
    dist = QuarterDistribution(pd.read_parquet(PATHS))
    # default parameters except stage weights: the default scored weights train a win model
    # per back-test quarter (~50 s); on this demo both give beta 0, increment 0 (RESULTS.md)
    return dist, propose_targets(data, dist, TargetParams(quarter="2027Q1", pipeline_weights="stage"),
                                 as_of="2026-12-31")


def test_demo_plan_meets_the_done_when_lines(demo_plan):
    dist, plan = demo_plan
    reps = plan.reps[~plan.reps["vacant"]]
    hist = reps[(reps["history_quarters"] >= 4) & reps["own_forecast"].notna()]
    assert len(hist) >= 40
    # correlation(rep quota, rep own forecast) >= 0.7 among reps with >= 4 quarters of history
    assert np.corrcoef(hist["quota"], hist["own_forecast"])[0, 1] >= 0.7
    # >= 90% of them inside the band 0.8-1.5 x own forecast (one rounding unit of slack)
    ratio = hist["quota"] / hist["own_forecast"]
    inside = (hist["quota"] >= 0.8 * hist["own_forecast"] - 100) & (hist["quota"] <= 1.5 * hist["own_forecast"] + 100)
    assert inside.mean() >= 0.9, ratio.describe()
    # spread of the reps' odds >= 25 points
    assert reps["p_attain_quota"].max() - reps["p_attain_quota"].min() >= 0.25
    # the company target >= the P50 of the forecast with default parameters
    p50 = float(np.median(dist.totals("company").iloc[:, 0]))
    assert plan.company.iloc[0]["target"] >= p50
    # quotas add up: reps -> regions -> company
    assert plan.reps["quota"].sum() == plan.company.iloc[0]["quota"] == plan.regions["quota"].sum()
