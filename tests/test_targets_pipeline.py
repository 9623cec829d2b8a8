"""The targets' pipeline increment with scored vs stage-average win probabilities.

Expected numbers are hand-computed in the comments (never read back from the code).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from salesplan.planning.funnel import FunnelRates
from salesplan.planning.targets import TargetParams, propose_targets
from tests.test_targets import _dist, _toy


def _with_opps(data):
    opps = pd.DataFrame({
        "opportunity_id": ["o1"], "customer_id": ["c1"], "rep_id": ["r1"],
        "created_date": pd.to_datetime(["2026-12-01"]), "amount": [10_000.0],
        "stage": ["A"], "outcome": ["open"], "closed_date": pd.NaT})
    sh = pd.DataFrame({"opportunity_id": ["o1"], "stage": ["A"], "entered_date": pd.to_datetime(["2026-12-20"])})
    return replace(data, opportunities=opps, stage_history=sh).coerced()


def _deal(oid, region, rep, amount, p, in_h=True):
    return {"opportunity_id": oid, "customer_id": "c1", "rep_id": rep, "region": region,
            "amount": amount, "stage": "A", "p_win": p, "in_horizon": in_h}


# what a win model would say on each snapshot date (hand-made)
SCORES = {
    "2026-12-31": [_deal("n1", "A", "r1", 100_000.0, 0.4),      # 40,000 in A
                   _deal("n2", "B", "r4", 20_000.0, 0.5),       # 10,000 in B
                   _deal("n3", None, "r4", 8_000.0, 0.5)],      # no region: rep r4's region B, 4,000
    "2026-09-30": [_deal("h1", "A", "r1", 50_000.0, 0.5)],      # 25,000
    "2026-06-30": [_deal("h2", "A", "r1", 40_000.0, 0.5),       # 20,000
                   _deal("h3", "B", "r4", 1_000_000.0, 0.9, in_h=False)],  # closes too late: 0
    "2026-03-31": [_deal("h4", "B", "r4", 47_500.0, 0.5)],      # 23,750
}


class FakeScorer:
    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    def __call__(self, data, at, horizon_end):
        self.calls.append((pd.Timestamp(at), pd.Timestamp(horizon_end)))
        if self.fail:
            raise ValueError("WinModel.fit: needs won and lost deals")
        return pd.DataFrame(SCORES[f"{pd.Timestamp(at):%Y-%m-%d}"])


RATES = FunnelRates.from_mapping({s: 0.5 for s in "EDCBA"}, {s: 10.0 for s in "EDCBA"}, 10_000.0)


def test_pipeline_weights_validated():
    with pytest.raises(ValueError, match="pipeline_weights='win'"):
        TargetParams(quarter="2027Q1", pipeline_weights="win")
    assert TargetParams(quarter="2027Q1").pipeline_weights == "scored"


def test_scored_excess_increment_hand_example():
    data = _with_opps(_toy())
    dist = _dist(sd=(0.0, 0.0))  # every path: A 150,000, B 90,000 in the quarter
    scorer = FakeScorer()
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="excess", pipeline_weights="scored")
    plan = propose_targets(data, dist, prm, funnel_rates=RATES, pipeline_scorer=scorer)
    # as_of = last order 2026-12-31 = end of 2026Q4, so the history quarters are 2026Q4, Q3, Q2
    # (2026Q1 starts on the first order: left out); each scored the day before it starts,
    # horizon its end; the pipeline now is scored on as_of with horizon the end of 2027Q1.
    assert scorer.calls == [(pd.Timestamp(a), pd.Timestamp(h)) for a, h in (
        ("2026-12-31", "2027-03-31"), ("2026-09-30", "2026-12-31"),
        ("2026-06-30", "2026-09-30"), ("2026-03-31", "2026-06-30"))]
    # rho = (25,000 + 20,000 + 0 + 23,750) / revenue of Q4 + Q3 + Q2 (2,500 a day: 92 + 92 + 91
    # days = 687,500) = 68,750 / 687,500 = 0.1
    # W now: A 40,000; B 10,000 + 4,000 = 14,000
    # increment: A 40,000 - 0.1 * 150,000 = 25,000; B 14,000 - 0.1 * 90,000 = 5,000
    reg = plan.regions.set_index("region")
    assert reg.loc["A", "pipeline_now"] == pytest.approx(40_000.0)
    assert reg.loc["B", "pipeline_now"] == pytest.approx(14_000.0)
    assert reg.loc["A", "pipeline_increment"] == pytest.approx(25_000.0)
    assert reg.loc["B", "pipeline_increment"] == pytest.approx(5_000.0)
    assert plan.company.iloc[0]["pipeline_increment"] == pytest.approx(30_000.0)
    a = plan.assumptions.set_index("item")["value"]
    assert a["pipeline_weights_used"] == "scored"
    assert a["pipeline_rho"] == "0.10"


def test_stage_weights_on_the_same_dates_use_stage_averages():
    data = _with_opps(_toy())
    dist = _dist(sd=(0.0, 0.0))
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="excess", pipeline_weights="stage")
    scorer = FakeScorer()
    plan = propose_targets(data, dist, prm, funnel_rates=RATES, pipeline_scorer=scorer)
    assert scorer.calls == []  # the scorer is not asked
    # only o1 (c1, region A, created 2026-12-01) is ever open: now 10,000 * P(win | A) 0.5 = 5,000 in A
    # (remaining time max(lag - age, dur/2) is within the quarter); history dates: nothing open,
    # so rho has no numerator -> increment 0 with the note
    reg = plan.regions.set_index("region")
    assert reg.loc["A", "pipeline_now"] == pytest.approx(5_000.0)
    assert reg.loc["B", "pipeline_now"] == pytest.approx(0.0)
    assert plan.company.iloc[0]["pipeline_increment"] == 0.0
    assert any("no pipeline history" in n for n in plan.notes)
    assert plan.assumptions.set_index("item").loc["pipeline_weights_used", "value"] == "stage"


def test_scored_falls_back_to_stage_everywhere_when_no_model_can_be_trained():
    data = _with_opps(_toy())
    dist = _dist(sd=(0.0, 0.0))
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="excess", pipeline_weights="scored")
    plan = propose_targets(data, dist, prm, funnel_rates=RATES, pipeline_scorer=FakeScorer(fail=True))
    # the same figures as the stage arm above: A now 5,000, no history -> increment 0
    reg = plan.regions.set_index("region")
    assert reg.loc["A", "pipeline_now"] == pytest.approx(5_000.0)
    assert plan.company.iloc[0]["pipeline_increment"] == 0.0
    assert any("stage averages used for the pipeline and for rho" in n for n in plan.notes)
    assert plan.assumptions.set_index("item").loc["pipeline_weights_used", "value"] == "stage"


def test_new_customers_rule_with_scores_counts_only_accounts_without_orders():
    data = _with_opps(_toy())
    scores = [_deal("n1", "A", "r1", 100_000.0, 0.4), {**_deal("n2", "B", "r4", 30_000.0, 0.2),
                                                          "customer_id": "c9"}]
    calls = []

    def scorer(d, at, h):
        calls.append(pd.Timestamp(at))
        return pd.DataFrame(scores)

    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="new_customers",
                       pipeline_weights="scored")
    plan = propose_targets(data, _dist(), prm, funnel_rates=RATES, pipeline_scorer=scorer)
    # c1 has orders; c9 has none: 30,000 * 0.2 = 6,000 in B; no history dates are scored
    assert calls == [pd.Timestamp("2026-12-31")]
    reg = plan.regions.set_index("region")
    assert reg.loc["B", "pipeline_increment"] == pytest.approx(6_000.0)
    assert reg.loc["A", "pipeline_increment"] == pytest.approx(0.0)


def test_default_scorer_does_not_look_ahead():
    """The default scorer scores a past date as if the data ended there: same p_win on the
    full history and on the history cut at that date."""
    from salesplan.demo.generator import generate
    from salesplan.planning.targets import _scored_deals

    data = generate(seed=3, scale=0.15).data
    at, h = pd.Timestamp("2026-06-30"), pd.Timestamp("2026-09-30")
    full = _scored_deals(data, at, h).set_index("opportunity_id")
    cut = _scored_deals(data.until(at), at, h).set_index("opportunity_id")
    assert len(full) > 10
    assert full.index.equals(cut.index)
    np.testing.assert_allclose(full["p_win"].to_numpy(), cut["p_win"].to_numpy(), rtol=1e-9)


def test_pipeline_rho_hand_example_matches_the_plan():
    from salesplan.planning.targets import pipeline_rho

    data = _with_opps(_toy())
    prm = TargetParams(quarter="2027Q1", pipeline_weights="scored")
    # as_of = 2026-12-31 (end of 2026Q4): the same dates as the plan above:
    # (25,000 + 20,000 + 0 + 23,750) / 687,500 = 0.1
    rho, used = pipeline_rho(data, "2026-12-31", prm, scorer=FakeScorer())
    assert rho == pytest.approx(0.1) and used == "scored"
    # mid-quarter (2027-02-14): the last complete quarters before it, the same three dates
    scorer = FakeScorer()
    rho2, _ = pipeline_rho(data, "2027-02-14", prm, scorer=scorer)
    assert rho2 == pytest.approx(0.1)
    assert [a for a, _ in scorer.calls] == [pd.Timestamp(d) for d in ("2026-09-30", "2026-06-30", "2026-03-31")]
    rho3, used3 = pipeline_rho(data, "2026-12-31", prm, scorer=FakeScorer(fail=True))
    assert used3 == "stage" and np.isnan(rho3)  # stage weights: nothing open on those dates
