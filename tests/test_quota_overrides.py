"""The planner's quota overrides: apply_quota_overrides and propose_targets(quota_overrides=...).

Expected numbers are hand-computed or taken from the plan without overrides (the
proposal), never from the overridden plan itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_targets import MONTHS, _dist, _toy

from salesplan.planning.quota import apply_quota_overrides
from salesplan.planning.targets import QuarterDistribution, TargetParams, propose_targets


def test_apply_quota_overrides_hand_example():
    q = pd.Series([1000.0, 2000.0, 500.0], index=["r1", "r2", "r3"])
    new, flag = apply_quota_overrides(q, {"r2": 2549.9, "r3": 0}, unit=100)
    # 2549.9 / 100 = 25.499 -> 25 units = 2500; 0 stays 0; r1 keeps its proposal
    assert new.to_dict() == {"r1": 1000.0, "r2": 2500.0, "r3": 0.0}
    assert flag.to_dict() == {"r1": False, "r2": True, "r3": True}
    new, _ = apply_quota_overrides(q, {"r2": 2549.9})  # no unit: as given
    assert new["r2"] == 2549.9
    assert q.to_dict() == {"r1": 1000.0, "r2": 2000.0, "r3": 500.0}  # input untouched


@pytest.mark.parametrize("overrides", [None, {}])
def test_no_overrides_change_nothing(overrides):
    q = pd.Series([1000.0, 2000.0], index=["r1", "r2"])
    new, flag = apply_quota_overrides(q, overrides, unit=100)
    assert new.tolist() == [1000.0, 2000.0] and not flag.any()


@pytest.mark.parametrize(("overrides", "match"), [
    ({"r9": 100.0, "r1": 5.0}, r"rep id\(s\) \['r9'\] not in the plan's reps .*e\.g\. r1, r2"),
    ({"r1": -1.0}, r"quota_overrides\['r1'\] = -1\.0; expected a finite amount >= 0"),
    ({"r1": math.nan}, r"quota_overrides\['r1'\] = nan"),
    ({"r1": "1,000"}, r"quota_overrides\['r1'\] = '1,000'"),
    ({"r1": True}, r"quota_overrides\['r1'\] = True"),
    (["r1", 100.0], r"expected a mapping rep id -> amount"),
])
def test_bad_overrides_raise_one_line_errors(overrides, match):
    q = pd.Series([1000.0, 2000.0], index=["r1", "r2"])
    with pytest.raises(ValueError, match=match) as e:
        apply_quota_overrides(q, overrides, unit=100)
    assert "\n" not in str(e.value)


def test_bad_quotas_or_unit():
    with pytest.raises(ValueError, match="unique rep id"):
        apply_quota_overrides(pd.Series([1.0, 2.0], index=["r1", "r1"]), {"r1": 3.0})
    with pytest.raises(ValueError, match="unit=0"):
        apply_quota_overrides(pd.Series([1.0], index=["r1"]), {"r1": 3.0}, unit=0)


def test_propose_targets_with_overrides_moves_region_and_company_by_the_change():
    data = _toy()
    dist = _dist(season=(0.3, 0.3, 0.4))
    prm = TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none", rounding_unit=100,
                       over_assignment=1.10)
    base = propose_targets(data, dist, prm)
    b_reps = base.reps.set_index("rep_id")
    assert not base.reps["overridden"].any()
    assert (base.reps["quota_proposed"] == base.reps["quota"]).all()
    r1, r5 = b_reps.loc["r1", "quota"], b_reps.loc["r5", "quota"]
    # r1 (region A) +5,049.9 -> rounded to +5,000; r5 (region B) down to 1,000
    plan = propose_targets(data, dist, prm, quota_overrides={"r1": r1 + 5049.9, "r5": 1000})
    reps = plan.reps.set_index("rep_id")
    assert reps.loc["r1", "quota"] == r1 + 5000 and reps.loc["r5", "quota"] == 1000
    others = [r for r in reps.index if r not in ("r1", "r5")]
    assert (reps.loc[others, "quota"] == b_reps.loc[others, "quota"]).all()
    assert reps["overridden"].to_dict() == {r: r in ("r1", "r5") for r in reps.index}
    assert (reps["quota_proposed"] == b_reps["quota"]).all()
    # region = its reps; company = its regions; the target is untouched
    b_reg, reg = base.regions.set_index("region"), plan.regions.set_index("region")
    assert reg.loc["A", "quota"] == b_reg.loc["A", "quota"] + 5000
    assert reg.loc["B", "quota"] == b_reg.loc["B", "quota"] - (r5 - 1000)
    assert (reps.groupby("region")["quota"].sum() == reg["quota"]).all()
    c, bc = plan.company.iloc[0], base.company.iloc[0]
    assert c["quota"] == bc["quota"] + 5000 - (r5 - 1000) == reg["quota"].sum()
    assert c["target"] == bc["target"] and (reg["target"] == b_reg["target"]).all()
    assert c["over_assignment"] == pytest.approx(c["quota"] / c["target"], rel=1e-12)
    assert plan.bridge["amount"].iloc[-1] == c["quota"]
    # months and weeks follow the new quotas
    for lv, quarter in (("rep", reps["quota"]), ("region", reg["quota"])):
        for tab in (plan.months, plan.weeks):
            s = tab[tab.level == lv].groupby("entity")["quota"].sum()
            assert (s.reindex(quarter.index) == quarter).all(), lv
    # a higher quota is harder to make; a lower one easier
    assert reps.loc["r1", "p_attain_quota"] < b_reps.loc["r1", "p_attain_quota"]
    assert reps.loc["r5", "p_attain_quota"] >= b_reps.loc["r5", "p_attain_quota"]
    note = plan.assumptions[plan.assumptions["item"] == "note"]["value"].str.cat(sep=" | ")
    assert "2 rep quota(s) overridden by the planner (r1 " in note


def test_propose_targets_refuses_unknown_override():
    with pytest.raises(ValueError, match=r"rep id\(s\) \['nobody'\] not in the plan's reps"):
        propose_targets(_toy(), _dist(), TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none"),
                        quota_overrides={"nobody": 1.0})


def test_overridden_rep_outside_band_is_not_in_band():
    # own forecasts for the reps of region A: r1 is established (hired 2020, in post all quarter)
    rng = np.random.default_rng(3)
    regs = {"A": rng.normal(150_000, 15_000, (2000, 1)) * np.full((1, 3), 1 / 3),
            "B": rng.normal(90_000, 12_000, (2000, 1)) * np.full((1, 3), 1 / 3)}
    own = {"r1": regs["A"] * 0.6, "r5": regs["B"] * 0.5}
    dist = QuarterDistribution.from_arrays(MONTHS, regions=regs, reps=own)
    prm = TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none")
    base = propose_targets(_toy(), dist, prm).reps.set_index("rep_id")
    assert base.loc["r1", "established"] and base.loc["r1", "in_band"]
    too_high = math.ceil(base.loc["r1", "band_max"] / 100 + 10) * 100  # 1,000 above the band
    plan = propose_targets(_toy(), dist, prm, quota_overrides={"r1": too_high}).reps.set_index("rep_id")
    assert plan.loc["r1", "quota"] == too_high and not plan.loc["r1", "in_band"]
