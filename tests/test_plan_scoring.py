"""Plan speed (issue 19): the pipeline notebook scores the open pipeline at the dates the
targets weigh it (:func:`score_plan_pipeline`), so the targets notebook reads them from the
model cache instead of training a win model per date after the forecast.

:func:`pipeline_dates` is the one definition of those dates (:func:`pipeline_increment`
uses it); the keys scored ahead are exactly the keys the plan, its scenarios and its
monitoring quarter then ask for.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from salesplan.data import SalesData, open_source
from salesplan.planning import targets as tg
from salesplan.planning.context import PlanContext
from salesplan.planning.features import (
    PLAN_BASIS_MEMO,
    monitor_context,
    plan_features,
    quarter_plan,
    quarter_scenarios,
    score_plan_pipeline,
)
from salesplan.planning.targets import QuarterDistribution, TargetParams, pipeline_dates

ROOT = Path(__file__).resolve().parents[1]
PATHS = ROOT / "tests" / "snapshots" / "plan" / "forecast-2027Q1" / "paths.parquet"
DEMO = ROOT / "data" / "demo" / "salesplan_demo.duckdb"


def _history(first_order="2024-01-01", first_opp="2024-01-01", last="2026-12-31"):
    days = pd.date_range(first_order, last, freq="D")
    orders = pd.DataFrame({"order_id": range(len(days)), "order_date": days, "customer_id": "C1", "amount": 1.0})
    opps = pd.DataFrame({"opportunity_id": ["O1"], "created_date": [pd.Timestamp(first_opp)]})
    return SalesData(orders=orders, opportunities=opps)


def _pair(at, end):
    return pd.Timestamp(at), pd.Timestamp(end)


def test_pipeline_dates_of_each_rule():
    data, q, as_of, first = _history(), pd.Period("2027Q1", "Q"), pd.Timestamp("2026-12-31"), pd.Timestamp("2024-01-01")
    now = _pair("2026-12-31", "2027-03-31")
    assert pipeline_dates(data, q, as_of, first, TargetParams(quarter="2027Q1", pipeline_rule="none")) == []
    assert pipeline_dates(data, q, as_of, first, TargetParams(quarter="2027Q1", pipeline_rule="new_customers")) == [now]
    # excess: the last 4 complete quarters (2026Q4 back to 2026Q1), each the day before it starts
    assert pipeline_dates(data, q, as_of, first, TargetParams(quarter="2027Q1", pipeline_rule="excess")) == [
        now, _pair("2026-09-30", "2026-12-31"), _pair("2026-06-30", "2026-09-30"),
        _pair("2026-03-31", "2026-06-30"), _pair("2025-12-31", "2026-03-31")]
    # backtest: the last 8 complete quarters whose four quarters before are complete (2025Q1 on)
    bt = pipeline_dates(data, q, as_of, first, TargetParams(quarter="2027Q1"))
    assert bt[0] == now and len(bt) == 9
    assert bt[1] == _pair("2026-09-30", "2026-12-31") and bt[-1] == _pair("2024-12-31", "2025-03-31")
    # a history starting mid-2024 (first complete quarter 2024Q3): back-test quarters from 2025Q3 only
    late = pipeline_dates(_history("2024-05-10"), q, as_of, pd.Timestamp("2024-05-10"), TargetParams(quarter="2027Q1"))
    assert late[1:] == [_pair("2026-09-30", "2026-12-31"), _pair("2026-06-30", "2026-09-30"),
                        _pair("2026-03-31", "2026-06-30"), _pair("2025-12-31", "2026-03-31"),
                        _pair("2025-09-30", "2025-12-31"), _pair("2025-06-30", "2025-09-30")]
    # quarters that start before the first opportunity have no opening pipeline: left out
    few = pipeline_dates(_history(first_opp="2026-02-01"), q, as_of, first, TargetParams(quarter="2027Q1"))
    assert few[1:] == [_pair("2026-09-30", "2026-12-31"), _pair("2026-06-30", "2026-09-30"),
                       _pair("2026-03-31", "2026-06-30")]


def test_score_plan_pipeline_is_off_without_scored_weights_or_opportunities():
    ctx = PlanContext.build(_history(), "2027Q1")
    assert score_plan_pipeline(ctx, TargetParams(quarter="2027Q1", pipeline_weights="stage")) == 0
    assert score_plan_pipeline(ctx, TargetParams(quarter="2027Q1", pipeline_rule="none")) == 0
    no_opps = PlanContext.build(replace(_history(), opportunities=None), "2027Q1")
    assert score_plan_pipeline(no_opps) == 0 and no_opps.memo == {}


def test_score_plan_pipeline_stops_at_a_date_without_win_model(monkeypatch):
    def fails(data, at, horizon_end):
        raise ValueError("WinModel.fit: needs won and lost deals")

    monkeypatch.setattr(tg, "_scored_deals", fails)
    ctx = PlanContext.build(_history(), "2027Q1")
    assert score_plan_pipeline(ctx) == 0 and ctx.memo == {}


@pytest.fixture(scope="module")
def demo():
    if not PATHS.exists() or not DEMO.exists():
        pytest.skip("demo data or forecast snapshot absent")
    return open_source(f"duckdb:///{DEMO}").load(), pd.read_parquet(PATHS)


def _shifted(paths: pd.DataFrame, quarters: int) -> QuarterDistribution:
    """The plan quarter's paths moved ``quarters`` quarters back (the dates scored do not
    depend on the forecast's values)."""
    month = pd.to_datetime(paths["month"]) - pd.DateOffset(months=3 * quarters)
    return QuarterDistribution(paths.assign(month=month))


def test_the_keys_scored_ahead_are_the_keys_the_plan_asks_for(demo, monkeypatch):
    data, paths = demo
    calls = []

    def fake(data_, at, horizon_end):  # no win model here: the keys are what is tested
        calls.append((pd.Timestamp(at), pd.Timestamp(horizon_end)))
        return pd.DataFrame()

    monkeypatch.setattr(tg, "_scored_deals", fake)
    ctx = PlanContext.build(data, "2027Q1")
    ahead = replace(ctx, memo={})
    n = score_plan_pipeline(ahead)
    assert n == len(calls) == len(ahead.memo) >= 2
    calls.clear()
    asked = replace(ctx, memo={})  # the targets notebook's steps, with an empty memo of their own
    params = TargetParams(quarter="2027Q1")
    features = plan_features(asked)
    dist = QuarterDistribution(paths)
    plan, _ = quarter_plan(asked, dist, params, features)
    assert PLAN_BASIS_MEMO in asked.memo  # the plan's basis, left for the scenarios
    quarter_scenarios(asked, dist, params, features, base_plan=plan)
    assert PLAN_BASIS_MEMO not in asked.memo  # taken out by them
    mctx = monitor_context(asked)
    assert mctx is not None
    quarter_plan(mctx, _shifted(paths, (ctx.quarter - mctx.quarter).n), replace(params, quarter=mctx.label),
                 region_funnel=False)
    assert set(asked.memo) == set(ahead.memo)  # no plan basis kept for the back-test quarter
    assert len(calls) == len(ahead.memo)  # each key scored once: nothing new asked after the memo
