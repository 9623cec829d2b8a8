"""Coverage norms calibrated to the company's own activity (issue 17, item 3): a hand example."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.planning import allocation as al


def _accounts():
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4"],
        "rep_id": ["R1", "R1", "R2", "K1"],
        "region": ["East"] * 4,
        "abc_class": ["B", "B", "B", "A"],
        "lifecycle_stage": ["maturity", "maturity", "maturity", "growth"],
        "role": ["junior", "junior", "junior", "key_account"],
    })


def _activities():
    rows = ([("2026-06-01", "R1", "C1", "visit")] * 2 + [("2026-06-02", "R1", "C1", "call")] * 4
            + [("2026-07-01", "R1", "C2", "call")] * 2 + [("2026-08-01", "R2", "C3", "visit")]
            + [("2026-08-02", "R2", None, "call")]            # prospecting: no account, not counted
            + [("2026-03-01", "K1", "C4", "visit")] * 6 + [("2026-03-02", "K1", "C4", "call")] * 12
            + [("2025-12-31", "R1", "C1", "visit")]           # outside the 12 months to 2026-12-31
            + [("2026-09-01", "R1", "C1", "email")])          # e-mails take no hours
    return pd.DataFrame(rows, columns=["date", "rep_id", "customer_id", "kind"]).assign(
        date=lambda f: pd.to_datetime(f["date"]))


def test_calibrated_norms_and_role_capacity_by_hand():
    p = al.calibrate_coverage(_accounts(), _activities(), "2026-12-31", min_accounts=2, min_reps=2)
    # (B, maturity): 3 accounts with 2+0+1 visits and 4+2+0 calls -> 1 visit and 2 calls a year
    assert p.visits_per_year[("B", "maturity")] == pytest.approx(1.0)
    assert p.calls_per_year[("B", "maturity")] == pytest.approx(2.0)
    assert p.visits_per_year[("junior", "B", "maturity")] == pytest.approx(1.0)
    # (A, growth) has one account (< 2): the default norm stays, no key-account cell
    assert p.visits_per_year[("A", "growth")] == 6 and ("key_account", "A", "growth") not in p.visits_per_year
    # capacity: R1 (2x3 h + 6x0.5 h)/12 = 0.75 h, R2 3/12 = 0.25 h -> junior median 0.5 h/month;
    # one key-account rep (< 2) keeps the 80 selling hours
    assert p.capacity_by_role == {"junior": pytest.approx(0.5)}
    assert p.capacity("key_account") == 80.0
    assert p.basis == "observed activity of the 12 months to 2026-12-31"


def test_calibrated_load_says_idle_and_overloaded_against_the_role_norm():
    p = al.calibrate_coverage(_accounts(), _activities(), "2026-12-31", min_accounts=2, min_reps=2)
    load = al.coverage_load(_accounts(), p)
    # one (B, maturity) account = (1 x 3 + 2 x 0.5)/12 = 1/3 h a month
    assert load.loc["R1", "hours"] == pytest.approx(2 / 3) and load.loc["R1", "utilisation"] == pytest.approx(4 / 3)
    assert load.loc["R2", "utilisation"] == pytest.approx(2 / 3)
    assert load.loc["K1", "utilisation"] == pytest.approx(2.0 / 80)  # (6x3 + 12x0.5)/12 = 2 h of 80
    assert load["status"].to_dict() == {"K1": "idle", "R1": "overloaded", "R2": "idle"}
    assert load["role"].to_dict() == {"K1": "key_account", "R1": "junior", "R2": "junior"}
    # moving one 1/3-h account R1 -> R2 gives 2/3 and 4/3: no better, so no move
    moves, _ = al.suggest_reassignments(_accounts(), p)
    assert moves.empty


def test_role_norm_wins_and_moves_stay_within_the_role():
    acc = _accounts()
    p = al.CoverageParams(visits_per_year={("B", "maturity"): 0, ("A", "growth"): 0,
                                           ("key_account", "A", "growth"): 12},
                          calls_per_year={("B", "maturity"): 24, ("A", "growth"): 0,
                                          ("key_account", "A", "growth"): 0},
                          capacity_by_role={"junior": 1.0, "key_account": 30.0})
    load = al.coverage_load(acc, p)
    assert load.loc["K1", "hours"] == pytest.approx(12 * 3 / 12)  # the key-account norm: 3 h
    assert load.loc["K1", "utilisation"] == pytest.approx(0.1)  # 3 h of 30
    # junior: one B account = 24 x 0.5 / 12 = 1 h; R1 2 h of 1 (200%), R2 1 h (100%); moving 1 h to R2
    # gives R1 100%, R2 200%: max unchanged, so no move -- and K1 (10%), in the same region, never
    # receives a junior's account (it would bring R1 to 100%, K1 to 13%)
    moves, after = al.suggest_reassignments(acc, p)
    assert moves.empty and after.loc["K1", "accounts"] == 1
    with pytest.raises(ValueError, match="capacity_by_role"):
        al.CoverageParams(capacity_by_role={"junior": 0})
