"""The quarter-end rep review (notebook 07) functions, on hand-built tables and a real plan store."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.data import PlanStore, SalesData
from salesplan.planning.commission import CommissionPlan
from salesplan.planning.quarter_review import (
    NO_QUOTAS,
    missed_reps,
    quarter_quotas,
    quarter_review,
    review_quarter,
)
from salesplan.reports.reviews import commission_caption, quarter_headlines


def _orders(rows):
    d = pd.DataFrame(rows, columns=["order_date", "rep_id", "customer_id", "amount"])
    d["order_date"] = pd.to_datetime(d["order_date"])
    d["order_id"] = [f"o{i}" for i in range(len(d))]
    return d


def test_the_reviewed_quarter_is_the_last_complete_one_before_the_plan_quarter():
    o = _orders([("2026-12-31", "r1", "c1", 1.0)])
    assert review_quarter(o, "2027Q1") == pd.Period("2026Q4", freq="Q")
    # the data stop mid-December: 2026Q4 is not complete
    assert review_quarter(_orders([("2026-12-15", "r1", "c1", 1.0)]), "2027Q1") == pd.Period("2026Q3", freq="Q")
    # data beyond the plan quarter's start do not move it
    assert review_quarter(_orders([("2027-02-14", "r1", "c1", 1.0)]), "2027Q1") == pd.Period("2026Q4", freq="Q")
    assert review_quarter(o, "2027Q1", "2026Q2") == pd.Period("2026Q2", freq="Q")


def _targets(quota):
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "region": "N", "quota": [quota, 2 * quota], "vacant": False})
    return {"company": pd.DataFrame({"target": [3 * quota]}), "regions": pd.DataFrame({"region": ["N"]}),
            "reps": reps, "months": pd.DataFrame({"level": ["company"]}), "weeks": pd.DataFrame({"level": ["company"]})}


def test_quotas_come_from_the_approved_plan_else_the_latest_else_the_rebuilt_ones(tmp_path):
    store = PlanStore(f"duckdb:///{tmp_path}/plans.duckdb")
    assert quarter_quotas(store, "2026Q4", "2027Q1") == (None, NO_QUOTAS)
    mon = pd.DataFrame({"level": ["company", "rep"], "entity": ["total", "r1"], "plan_quarter": [50.0, 40.0]})
    store.write_run("targets", "2027Q1", {}, None, {"2026Q4_monitor_summary": mon})
    q, note = quarter_quotas(store, "2026Q4", "2027Q1")
    assert q.to_dict() == {"r1": 40.0}
    assert note == "quotas of the 2026Q4 plan as re-built by the targets notebook of 2027Q1"
    first = store.write_run("targets", "2026Q4", {}, None, _targets(100.0))
    q, note = quarter_quotas(store, "2026Q4", "2027Q1")
    assert q.to_dict() == {"r1": 100.0, "r2": 200.0} and note == "quotas of the latest 2026Q4 plan (none is approved)"
    store.approve(first, by="Ana")
    store.write_run("targets", "2026Q4", {}, None, _targets(999.0))
    q, note = quarter_quotas(store, "2026Q4", "2027Q1")
    assert q.to_dict() == {"r1": 100.0, "r2": 200.0} and note == "quotas of the approved 2026Q4 plan"
    store.dispose()


def test_missed_is_under_quota_or_under_the_median_growth():
    k = pd.DataFrame({"attainment": [0.9, 1.0, 1.2], "growth_yoy": [0.1, -0.2, 0.3]})
    assert missed_reps(k, True).tolist() == [True, False, False]
    assert missed_reps(k, False).tolist() == [False, True, False]  # median growth 0.1


def test_review_without_reps_table_names_reps_by_id_and_notes_it():
    rows = []
    for m in ("2025-10-15", "2025-11-15", "2025-12-15", "2026-07-15", "2026-10-15", "2026-11-15", "2026-12-15"):
        rows += [(m, "r1", "c1", 1000.0), (m, "r2", "c2", 500.0)]
    rows += [("2026-11-20", "r2", "c3", 2000.0)]
    data = SalesData(orders=_orders(rows))
    r = quarter_review(data, "2026Q4", commission=CommissionPlan(tiers=((0.0, 0.1),), base_per_period=100.0))
    assert "no reps table: the KPI board by region is off (the company row remains)" in r.notes
    assert not r.has_regions
    # 2026Q4: r1 3,000, r2 3,500; a year earlier 3,000 and 1,500: company +45%
    assert r.company["revenue"] == pytest.approx(6500.0)
    assert r.company["growth_yoy"] == pytest.approx(6500.0 / 4500.0 - 1)
    # commission 10% of each month's sales + base 100 a month: 650 + 600
    assert r.totals["pay"].sum() == pytest.approx(1250.0)
    answer, figures = quarter_headlines(r, NO_QUOTAS)
    # growth r1 0%, r2 +133%: median 66.7%, so r1 missed; r2 ranks first on revenue
    assert "1 of 2 reps missed" in answer
    assert "Top performers: r2, r1. " in answer  # ids alone, without trailing blanks
    assert figures["Reps who missed"] == "1 of 2"
    assert list(r.tables()) == ["rep_kpis", "diagnosis", "commission", "kpi_board", "kpi_board_reps"]


def test_commission_caption_names_tiers_and_base():
    plan = CommissionPlan(tiers=((0.0, 0.05), (500_000.0, 0.07)), base_per_period=6000.0)
    assert commission_caption("2026Q4", plan, 6000.0) == (
        "Commission 2026Q4: 5% from 0, 7% from 500.0 k a month, base 6,000 a month (company currency)")
