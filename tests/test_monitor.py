"""Tests of salesplan.planning.monitor: pacing by seasonality, flags and the root-cause table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from salesplan.planning.monitor import MonitorParams, expected_to_date, progress
from salesplan.planning.targets import QuarterDistribution, TargetParams, propose_targets

MONTHS = pd.date_range("2027-01-01", periods=3, freq="MS")


def test_expected_to_date_paced_by_month_plan_and_weekdays():
    mp = pd.DataFrame({"entity": "x", "month": MONTHS, "target": [30_000.0, 20_000.0, 50_000.0]})
    # as_of Sun 2027-01-31: all of January -> 30,000 (30% of the quarter, not 31/90 = 34%)
    e = expected_to_date(mp, "2027-01-31").iloc[0]
    assert e["expected_to_date"] == pytest.approx(30_000.0) and e["pace_share"] == pytest.approx(0.3)
    # as_of Fri 2027-02-05: Feb 2027 has 20 weekdays, Feb 1-5 are 5 of them -> 20,000 * 5/20
    e = expected_to_date(mp, "2027-02-05").iloc[0]
    assert e["expected_to_date"] == pytest.approx(30_000 + 5_000)
    # Sat/Sun add nothing
    assert expected_to_date(mp, "2027-02-07").iloc[0]["expected_to_date"] == pytest.approx(35_000)


def _setup():
    regions = pd.DataFrame({"region": ["A", "B"], "maturity": ["mature", "emerging"], "market_potential": [1e6, 1e6]})
    customers = pd.DataFrame({"customer_id": ["a1", "a2", "b1"], "name": ["x", "y", "z"], "region": ["A", "A", "B"]})
    reps = pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "name": ["p", "q", "s"], "region": ["A", "A", "B"],
                         "level": ["senior", "senior", "senior"],
                         "hire_date": pd.to_datetime(["2020-01-01"] * 3), "exit_date": pd.NaT})
    days = pd.date_range("2026-01-01", "2026-12-31", freq="D")
    rows = []
    for i, d in enumerate(days):
        for c, rep, pl, amt in (("a1", "r1", "P", 500.0), ("a2", "r2", "Q", 500.0), ("b1", "r3", "P", 1000.0)):
            rows.append((f"h{i}{c}", d, c, rep, pl, 1.0, amt))
    orders = pd.DataFrame(rows, columns=["order_id", "order_date", "customer_id", "rep_id", "product_line",
                                         "quantity", "amount"])
    from salesplan.data.schema import SalesData
    data = SalesData(orders=orders, customers=customers, reps=reps, regions=regions).coerced()
    S = 400
    rng = np.random.default_rng(0)
    dist = QuarterDistribution.from_arrays(MONTHS, regions={
        "A": rng.normal(90_000, 5_000, S)[:, None] * np.array([[0.3, 0.3, 0.4]]),
        "B": rng.normal(90_000, 5_000, S)[:, None] * np.array([[0.3, 0.3, 0.4]])})
    plan = propose_targets(data, dist, TargetParams(quarter="2027Q1", growth=None, pipeline_rule="none",
                                                    over_assignment=1.0))
    return data, plan


def test_progress_flags_and_root_causes():
    data, plan = _setup()
    # January actuals: A on plan by rep r1, rep r2 sells nothing; B on plan. Product Q (r2's) collapses.
    as_of = pd.Timestamp("2027-01-31")
    mo = plan.months.set_index(["level", "entity", "month"])
    jan = MONTHS[0]
    b_t = mo.loc[("region", "B", jan), "target"]
    r1_q = mo.loc[("rep", "r1", jan), "quota"]
    new = pd.DataFrame({
        "order_id": ["n1", "n2"], "order_date": pd.to_datetime(["2027-01-15", "2027-01-20"]),
        "customer_id": ["a1", "b1"], "rep_id": ["r1", "r3"], "product_line": ["P", "P"],
        "quantity": 1.0, "amount": [r1_q, b_t]})
    act = replace(data, orders=pd.concat([data.orders, new], ignore_index=True))
    rep = progress(plan, act, as_of, params=MonitorParams(tolerance=0.15))
    s = rep.summary.set_index(["level", "entity"])
    # company: expected = January target (as_of = month end), actual = r1's quota + B's target
    exp_c = mo.loc[("company", "total", jan), "target"]
    assert s.loc[("company", "total"), "expected_to_date"] == pytest.approx(exp_c)
    gap = r1_q + b_t - exp_c
    assert s.loc[("company", "total"), "gap"] == pytest.approx(gap)
    # region A: actual r1_q vs a_t (about half) -> behind; B on plan -> no flag
    assert s.loc[("region", "A"), "flag"] == "behind" and s.loc[("region", "B"), "flag"] == ""
    assert s.loc[("rep", "r2"), "flag"] == "behind" and s.loc[("rep", "r2"), "deviation"] == pytest.approx(-1.0)
    rc = rep.root_causes
    top = rc.iloc[0]
    # the biggest cause, with the whole gap: rep r2 / region A / product line Q
    assert top["share_of_gap"] == pytest.approx(max(rc["share_of_gap"]))
    for dim, ent in (("region", "A"), ("rep", "r2"), ("product_line", "Q")):
        row = rc[(rc.dimension == dim) & (rc.entity == ent)].iloc[0]
        assert row["rank"] == 1 and row["share_of_gap"] > 0.9
    # each dimension explains the whole gap
    for dim in ("region", "rep", "product_line"):
        assert rc[rc.dimension == dim]["contribution"].sum() == pytest.approx(gap, rel=1e-6, abs=1e-6)


def test_monitor_bad_inputs():
    with pytest.raises(ValueError, match="tolerance"):
        MonitorParams(tolerance=1.5)
    data, plan = _setup()
    with pytest.raises(ValueError, match="outside the plan quarter"):
        progress(plan, data, "2027-05-01")
