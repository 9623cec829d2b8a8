"""The weekly review (notebook 06) functions, on hand-built tables and a real plan store."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from salesplan.data import PlanStore, SalesData
from salesplan.planning.weekly import (
    forecast_prior,
    funnel_replan,
    landing_pipeline,
    late_deals_and_shape,
    orders_until,
    plan_of_record,
    review_day_for,
    stored_forecast_paths,
    with_actuals,
)
from salesplan.reports.reviews import (
    demo_actuals_source,
    landing_view,
    not_ready_text,
    pace_view,
    replan_views,
    reps_off_pace_view,
    root_cause_view,
    stale_stage_note,
)


def _orders(dates, amounts=None):
    d = pd.to_datetime(dates)
    return pd.DataFrame({"order_id": [f"o{i}" for i in range(len(d))], "order_date": d,
                         "customer_id": "c1", "rep_id": "r1",
                         "amount": amounts if amounts is not None else [10.0] * len(d)})


def _plan_tables(with_reps=True):
    months = pd.DataFrame({"level": ["company"] * 3 + ["region"] * 3,
                           "entity": ["total"] * 3 + ["North"] * 3, "region": [""] * 3 + ["North"] * 3,
                           "month": list(pd.to_datetime(["2027-01-01", "2027-02-01", "2027-03-01"])) * 2,
                           "target": [100.0, 200.0, 300.0] * 2, "quota": [100.0, 200.0, 300.0] * 2})
    reps = pd.DataFrame({"rep_id": ["r1"], "name": ["Ann"], "region": ["North"], "quota": [600.0],
                         "vacant": [False]})
    t = {"company": pd.DataFrame({"target": [600.0], "quota": [600.0], "over_assignment": [1.0]}),
         "regions": pd.DataFrame({"region": ["North"], "target": [600.0]}), "months": months,
         "weeks": pd.DataFrame({"level": "region", "entity": "North", "region": "North",
                                "week_start": pd.date_range("2026-12-28", periods=14, freq="7D"),
                                "target": 600.0 / 14, "quota": 600.0 / 14})}
    if with_reps:
        t["reps"] = reps
    return t


def test_actuals_add_only_later_orders_and_orders_until_cuts_orders_only():
    data = SalesData(orders=_orders(["2026-12-30", "2026-12-31"]))
    actuals = _orders(["2026-12-31", "2027-01-05", "2027-01-09"], [99.0, 20.0, 30.0])
    got = with_actuals(data, actuals)
    # the 2026-12-31 line of the actuals source is already covered by the data
    assert got.orders["amount"].tolist() == [10.0, 10.0, 20.0, 30.0]
    assert with_actuals(data, None) is data
    cut = orders_until(got, "2027-01-05")
    assert cut.orders["order_date"].max() == pd.Timestamp("2027-01-05") and len(cut.orders) == 3


def test_review_day_defaults_to_the_last_order_inside_the_quarter():
    o = _orders(["2026-12-20", "2027-02-14"])
    assert review_day_for(o, "2027Q1") == pd.Timestamp("2027-02-14")
    assert review_day_for(o, "2027Q1", "2027-01-31") == pd.Timestamp("2027-01-31")
    assert review_day_for(_orders(["2027-05-02"]), "2027Q1") == pd.Timestamp("2027-03-31")
    with pytest.raises(ValueError, match=r"as_of=2026-12-31 is outside 2027Q1 \(2027-01-01..2027-03-31\)"):
        review_day_for(o, "2027Q1", "2026-12-31")
    with pytest.raises(ValueError, match=r"as_of=2027-03-01 is after the last order in the data \(2027-02-14\)"):
        review_day_for(o, "2027Q1", "2027-03-01")
    # a quarter not started: the review day is before it (the notebook's "nothing to review yet")
    assert review_day_for(_orders(["2026-12-31"]), "2027Q1") == pd.Timestamp("2026-12-31")
    assert not_ready_text(pd.Timestamp("2026-12-31"), "2027Q1").startswith(
        "Nothing to review yet: the data end on 2026-12-31, before 2027Q1 starts (2027-01-01).")


def test_plan_of_record_prefers_the_approved_plan_and_says_which(tmp_path):
    store = PlanStore(f"duckdb:///{tmp_path}/plans.duckdb")
    with pytest.raises(ValueError, match="the plan store holds no plan \\(targets run\\) for 2027Q1"):
        plan_of_record(store, "2027Q1")
    first = store.write_run("targets", "2027Q1", {}, None, _plan_tables())
    latest = plan_of_record(store, "2027Q1")
    assert not latest.approved and latest.run.run_id == first
    assert latest.note.startswith("no plan of 2027Q1 is approved yet: this review uses the latest plan")
    store.approve(first, by="Chen Wei")
    bigger = _plan_tables()
    bigger["company"] = bigger["company"].assign(target=1200.0)
    store.write_run("targets", "2027Q1", {}, None, bigger)
    rec = plan_of_record(store, "2027Q1")
    assert rec.approved and rec.run.run_id == first and float(rec.plan.company["target"].iloc[0]) == 600.0
    assert rec.note.startswith("the approved plan of 2027Q1 (approved by Chen Wei on ")
    assert stored_forecast_paths(store, "2027Q1") is None
    store.dispose()


def test_a_plan_without_rep_quotas_gets_an_empty_roster(tmp_path):
    store = PlanStore(f"duckdb:///{tmp_path}/plans.duckdb")
    store.write_run("targets", "2027Q1", {}, None, _plan_tables(with_reps=False))
    rec = plan_of_record(store, "2027Q1")
    assert len(rec.plan.reps) == 0
    assert {"rep_id", "region", "quota", "vacant"} <= set(rec.plan.reps.columns)
    store.dispose()


def test_forecast_prior_means_and_spread_by_hand():
    m1, m2 = pd.Timestamp("2027-01-01"), pd.Timestamp("2027-02-01")
    # two paths of the company: quarter totals 10+20=30 and 30+40=70 -> mean 50, sd (ddof 1) 28.28
    paths = pd.DataFrame({"level": "company", "node": "total", "month": [m1, m2, m1, m2],
                          "path": [0, 0, 1, 1], "value": [10.0, 20.0, 30.0, 40.0]})
    fm, cv = forecast_prior(None, paths)
    assert fm.set_index("month")["mean"].tolist() == [20.0, 30.0]
    assert set(fm["entity"]) == {"total"}
    assert cv["total"] == pytest.approx(np.sqrt(800.0) / 50.0)
    plan = type("P", (), {"months": _plan_tables()["months"]})()
    fm, cv = forecast_prior(plan, None)
    assert cv is None
    assert fm[fm["entity"] == "North"]["mean"].tolist() == [100.0, 200.0, 300.0]


def test_parts_without_opportunities_are_off():
    data = SalesData(orders=_orders(["2027-01-05"]))

    class Rec:
        run = type("R", (), {"tables": {}})()
        plan = type("P", (), {"params": type("Q", (), {"period": pd.Period("2027Q1", freq="Q")})(),
                              "weeks": None, "reps": _plan_tables()["reps"]})()

    assert landing_pipeline(data, Rec(), "2027-01-05", "2026-12-31") == (
        None, None, "no opportunity data: the landing forecast has no pipeline term")
    assert funnel_replan(data, Rec.plan, "2027-01-05", "2026-12-31", None) is None
    assert late_deals_and_shape(data, Rec.plan, "2027-01-05", None) == (None, None)


def test_stale_opportunity_data_switch_the_pipeline_term_off():
    opps = pd.DataFrame({"opportunity_id": ["x"], "customer_id": ["c1"], "rep_id": ["r1"],
                         "created_date": pd.to_datetime(["2026-12-01"]), "closed_date": pd.to_datetime([None]),
                         "outcome": [None], "amount": [10.0], "stage": ["C"]})
    data = SalesData(orders=_orders(["2027-01-20"]), opportunities=opps)

    class Rec:
        run = type("R", (), {"tables": {}})()
        plan = type("P", (), {"params": type("Q", (), {"period": pd.Period("2027Q1", freq="Q")})()})()

    by, rho, note = landing_pipeline(data, Rec(), "2027-01-20", "2026-12-31")
    assert by is None and rho is None
    assert note.startswith("none: the opportunity data end on 2026-12-01, more than a week before the review day")
    assert note.endswith("(the plan weighs deals by: scored)")


def test_views_label_the_pace_tables():
    s = pd.DataFrame({"level": ["company", "region", "rep", "rep"], "entity": ["total", "North", "r1", "r2"],
                      "region": ["", "North", "North", "North"], "plan_quarter": [600.0, 600.0, 300.0, 300.0],
                      "expected_to_date": [100.0, 100.0, 50.0, 50.0], "actual_to_date": [80.0, 80.0, 30.0, 50.0],
                      "gap": [-20.0, -20.0, -20.0, 0.0], "deviation": [-0.2, -0.2, -0.4, 0.0],
                      "flag": ["behind", "behind", "behind", ""]})
    pv = pace_view(s, 0.15)
    assert pv[""].tolist() == ["Company", "North"] and pv["flag"].tolist() == ["behind > 15%"] * 2
    rv = reps_off_pace_view(s, pd.Series({"r1": "Ann"}), 0.15)
    assert rv["rep"].tolist() == ["r1"] and rv["name"].tolist() == ["Ann"]
    assert reps_off_pace_view(s, None, 0.15)["name"].tolist() == [""]


def test_demo_actuals_source_and_stale_stage_note(tmp_path):
    (tmp_path / "salesplan_demo.duckdb").write_bytes(b"")
    src = f"duckdb:///{tmp_path}/salesplan_demo.duckdb"
    assert demo_actuals_source(src, "auto") is None  # no actuals file next to it
    (tmp_path / "salesplan_demo_actuals.duckdb").write_bytes(b"")
    assert demo_actuals_source(src, "auto") == f"duckdb:///{tmp_path}/salesplan_demo_actuals.duckdb"
    assert demo_actuals_source(f"duckdb:///{tmp_path}/other.duckdb", "auto") is None
    assert demo_actuals_source(src, "csv:///x") == "csv:///x" and demo_actuals_source(src, None) is None
    assert stale_stage_note(pd.Timestamp("2027-01-03"), "2027Q1") is None
    assert stale_stage_note(None, "2027Q1") is None
    assert stale_stage_note(pd.Timestamp("2026-12-31"), "2027Q1").startswith(
        "*Note:* the stage history in the data ends on 2026-12-31, before the quarter")


def test_root_causes_keep_the_top_three_per_dimension_with_labels():
    rc = pd.DataFrame({"dimension": ["region"] * 4 + ["rep", "stage"], "entity": ["a", "b", "c", "d", "r1", "E"],
                       "expected": 1.0, "actual": 0.5, "contribution": -0.5, "share_of_gap": 0.25,
                       "flag": "", "rank": [4, 1, 2, 3, 1, 1]})
    got = root_cause_view(rc)
    assert got["where"].tolist() == ["b", "c", "d", "r1"]  # stage rows are not shown
    assert list(got.columns) == ["dimension", "where", "plan to date", "actual to date", "contribution to the gap",
                                 "share of the gap", "flag"]


def test_landing_view_names_the_interval_bounds():
    land = pd.DataFrame({"entity": ["total", "North"], "actual_to_date": 1.0, "expected_to_date": 1.0,
                         "remaining": 1.0, "landing": 2.0, "landing_lo": 1.5, "landing_hi": 2.5, "target": 2.0,
                         "gap_to_target": 0.0, "p_make_target": 0.5})
    view, money_cols = landing_view(land, 0.8)
    assert view[""].tolist() == ["Company", "North"]
    assert "low (10%)" in money_cols and "high (90%)" in money_cols and "chance of target" not in money_cols


def test_replan_weeks_from_the_review_week_rounded_up():
    weeks = pd.DataFrame({"week_start": pd.to_datetime(["2027-01-04", "2027-02-08", "2027-02-08", "2027-02-15",
                                                        "2027-02-15"]),
                          "stage": ["E", "E", "won", "E", "E"], "needed": [9.0, 2.2, 0.5, 1.0, 1.0000000001]})
    rates = SimpleNamespace(stages=("E",), to_frame=lambda: pd.DataFrame(
        {"stage": ["E"], "conversion": [0.5], "duration_days": [10.0], "n_resolved": [40], "other": [1]}))
    rt, w = replan_views(SimpleNamespace(weeks=weeks), rates, pd.Timestamp("2027-02-14"))
    # weeks starting after 2027-02-07 only; two regions of 1.0 each -> 2 (not 3 for a float hair)
    assert w.index.tolist() == ["2027-02-08", "2027-02-15"]
    assert w.to_dict("list") == {"E": [3, 2], "won": [1, 0]}
    assert list(rt.columns) == ["stage", "converts to next (observed)", "days in stage", "opportunities observed"]
