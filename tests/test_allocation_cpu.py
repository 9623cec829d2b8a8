"""The resource notebook's cheaper paths give the numbers of the paths they replace (issue 19)."""

from __future__ import annotations

import pandas as pd

from salesplan.planning import allocation as al
from salesplan.planning.allocation import coverage as cv


def _params():
    return al.CoverageParams(
        visits_per_year={(c, s): v for c, v in {"A": 12, "B": 6, "C": 0}.items() for s in al.LIFECYCLE_STAGES},
        calls_per_year={(c, s): 0 for c in "ABC" for s in al.LIFECYCLE_STAGES},
        hours_per_visit=2.0, selling_hours_per_month=10.0, overload=1.1, idle=0.7)


def _accounts():
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(10)], "rep_id": ["r1"] * 8 + ["r2"] * 2, "region": ["X"] * 10,
        "abc_class": ["A", "A", "A", "A", "B", "B", "B", "B", "A", "B"], "lifecycle_stage": ["maturity"] * 10})


def test_suggest_reassignments_with_the_callers_load_equals_its_own(monkeypatch):
    acc, params = _accounts(), _params()
    load = al.coverage_load(acc, params)
    own_moves, own_after = al.suggest_reassignments(acc, params)
    calls = []
    real = cv.coverage_load
    monkeypatch.setattr(cv, "coverage_load", lambda *a, **k: calls.append(1) or real(*a, **k))
    moves, after = al.suggest_reassignments(acc, params, load=load)
    assert calls == [1]  # only the load after the moves
    pd.testing.assert_frame_equal(moves, own_moves, check_exact=True)
    pd.testing.assert_frame_equal(after, own_after, check_exact=True)
    # r1: 4 A x 2 h + 4 B x 1 h = 12 h of 10 -> overloaded; a B account moves to r2 (3 h)
    assert load.loc["r1", "hours"] == 12 and len(moves) >= 1 and (moves["abc_class"] == "B").all()


def test_calibrated_capacity_counts_only_contacts_with_booked_accounts():
    acc = _accounts().assign(region="X")
    days = pd.to_datetime(["2026-06-01"] * 6)
    # r1..r3 each visit a booked account twice; r1 also visits a prospect c99 ten times (not account coverage)
    acts = pd.DataFrame({"date": list(days) + [pd.Timestamp("2026-06-02")] * 10,
                         "rep_id": ["r1", "r1", "r2", "r2", "r3", "r3"] + ["r1"] * 10,
                         "customer_id": ["c0", "c0", "c8", "c8", "c9", "c9"] + ["c99"] * 10,
                         "kind": ["visit"] * 16})
    reps = pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "level": ["senior"] * 3})
    out = cv.calibrate_coverage(acc, acts, "2026-12-31", _params(), reps=reps, min_reps=3)
    # each of the three seniors: 2 visits x 2 h / 12 months = 1/3 h per month; the median of three
    assert out.capacity_by_role == {"senior": 2 * 2.0 / 12}
