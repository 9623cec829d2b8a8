"""The targets' ``backtest`` pipeline rule: how much of the open pipeline the forecast misses.

Expected numbers are hand-computed in the comments (never read back from the code).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from salesplan.data.schema import SalesData
from salesplan.planning.funnel import FunnelRates
from salesplan.planning.targets import (
    QuarterDistribution,
    TargetParams,
    company_target,
    pipeline_effect,
    propose_targets,
)

# Two regions x three back-test quarters.  Back-test forecast A 100, B 200 in every quarter
# (scales D_A = 100, D_B = 200; weights v = D / mean D = 2/3, 4/3).
Q = ["q1", "q2", "q3"] * 2
REG = ["A"] * 3 + ["B"] * 3
FHAT = [100.0] * 3 + [200.0] * 3
# opening pipeline: z = W / D = A 0.1 0.2 0.3, B 0.1 0.3 0.2 -> centred A -.1 0 .1, B -.1 .1 0
W = [10.0, 20.0, 30.0, 20.0, 60.0, 40.0]
# S_zz = 2/3 * (.01 + 0 + .01) + 4/3 * (.01 + .01 + 0) = 0.04


def test_pipeline_fully_missed_by_the_forecast_gives_beta_one():
    # the forecast missed exactly the pipeline beyond the region's usual: err = W - 20 (A), W - 40 (B)
    err = [-10.0, 0.0, 10.0, -20.0, 20.0, 0.0]
    fit = pipeline_effect(err, FHAT, W, Q, REG)
    # y~ = z~ exactly -> b_hat = 1, residuals 0 -> se 0, no shrinkage
    assert fit["b_hat"] == pytest.approx(1.0)
    assert fit["se"] == pytest.approx(0.0, abs=1e-12)
    assert fit["beta"] == pytest.approx(1.0) and fit["sd"] == pytest.approx(0.0, abs=1e-12)
    # usual pipeline per forecast unit: A 60 / 300 = 0.2, B 120 / 600 = 0.2, all 180 / 900
    assert fit["rho"] == pytest.approx({"A": 0.2, "B": 0.2})
    assert fit["z_bar"] == pytest.approx(0.2)
    assert (fit["n"], fit["n_quarters"], fit["reason"]) == (6, 3, "")


def test_pipeline_already_in_the_forecast_gives_beta_zero():
    # misses unrelated to the pipeline: y = err / D = A 0 .3 0 (centred -.1 .2 -.1), B 0
    err = [0.0, 30.0, 0.0, 0.0, 0.0, 0.0]
    fit = pipeline_effect(err, FHAT, W, Q, REG)
    # sum v z~ y~ = 2/3 * ((-.1)(-.1) + 0 * .2 + .1 * (-.1)) = 0 -> b_hat = 0
    assert fit["b_hat"] == pytest.approx(0.0, abs=1e-12)
    # se_ols^2 = 2/3 * (.01 + .04 + .01) / (6 - 2 - 1) / .04 = 1/3;
    # cluster scores by quarter: 2/3 * (-.1)(-.1) = 1/150, 0, -1/150 ->
    # se_cl^2 = 3/2 * 2 / 150^2 / .04^2 = 1/12 < 1/3 -> se = sqrt(1/3)
    assert fit["se"] == pytest.approx(math.sqrt(1 / 3))
    assert fit["beta"] == 0.0 and fit["sd"] == 0.0 and fit["shrink"] == 0.0
    # the whole forecast error zero: nothing to learn, beta 0
    fit0 = pipeline_effect([0.0] * 6, FHAT, W, Q, REG)
    assert fit0["b_hat"] == pytest.approx(0.0, abs=1e-12) and fit0["beta"] == 0.0


def test_noisy_effect_is_shrunk_hand_example():
    # y = z + (A: 0 .3 0, B: 0): y~ = z~ + (A: -.1 .2 -.1, B: 0)
    err = [10.0, 50.0, 30.0, 20.0, 60.0, 40.0]
    fit = pipeline_effect(err, FHAT, W, Q, REG)
    # b_hat = (2/3 * (.02 + 0 + 0) + 4/3 * .02) / .04 = 1; residuals as in the test above -> se = sqrt(1/3)
    assert fit["b_hat"] == pytest.approx(1.0)
    assert fit["se"] == pytest.approx(math.sqrt(1 / 3))
    # t^2 = 3 -> f = 1 - 1/3 = 2/3; beta = 2/3; sd = sqrt(2/3) * sqrt(1/3) = sqrt(2) / 3
    assert fit["shrink"] == pytest.approx(2 / 3)
    assert fit["beta"] == pytest.approx(2 / 3)
    assert fit["sd"] == pytest.approx(math.sqrt(2) / 3)


def test_too_little_history_gives_no_estimate():
    fit = pipeline_effect([1.0, 2.0], [100.0, 100.0], [5.0, 6.0], ["q1", "q2"], ["A", "A"])
    assert fit["beta"] == 0.0 and "2 region-quarters in 2 quarters" in fit["reason"]
    with pytest.raises(ValueError, match="pipeline_backtest_quarters=2"):
        TargetParams(quarter="2027Q1", pipeline_backtest_quarters=2)
    with pytest.raises(ValueError, match="'backtest', 'excess'"):
        TargetParams(quarter="2027Q1", pipeline_rule="ratio")
    assert TargetParams(quarter="2027Q1").pipeline_rule == "backtest"


def test_company_target_uses_the_increment_paths():
    # F = 100 on every path; increment 5 with deviations -10, 0, 10, 20: B = 95, 105, 115, 125
    ct = company_target(np.full(4, 100.0), 5.0, 90.0, TargetParams(quarter="2027Q1", rounding_unit=1.0,
                                                                   target_probability=0.5),
                        increment_dev=np.array([-10.0, 0.0, 10.0, 20.0]))
    # median of B (linear interpolation between 105 and 115) = 110; share of B >= 110 = 2/4
    assert ct["target_exact"] == pytest.approx(110.0)
    assert ct["p_attain_target"] == pytest.approx(0.5)
    assert ct["pipeline_increment"] == pytest.approx(5.0)


# ---------------------------------------------------------------- end to end, a steady company

MONTHS = pd.date_range("2027-01-01", periods=3, freq="MS")


def _steady():
    """Two regions, each one order of 10,000 (A) / 20,000 (B) on the 1st of every month,
    2024-01 .. 2026-12: every quarter's revenue is 30,000 / 60,000, so the back-test forecast
    (seasonal naive x trailing growth 1) is exact in every back-test quarter."""
    regions = pd.DataFrame({"region": ["A", "B"], "maturity": ["mature", "emerging"],
                            "market_potential": [1e6, 1e6]})
    customers = pd.DataFrame({"customer_id": ["cA", "cB"], "name": ["a", "b"], "region": ["A", "B"]})
    reps = pd.DataFrame({"rep_id": ["rA", "rB"], "name": ["Ann", "Bo"], "region": ["A", "B"],
                         "level": ["senior", "senior"], "hire_date": pd.to_datetime(["2020-01-01"] * 2),
                         "exit_date": pd.to_datetime([None, None])})
    rows = [(f"{c}{d:%Y%m}", d, c, r, "P", 1.0, a) for d in pd.date_range("2024-01-01", "2026-12-01", freq="MS")
            for c, r, a in (("cA", "rA", 10_000.0), ("cB", "rB", 20_000.0))]
    orders = pd.DataFrame(rows, columns=["order_id", "order_date", "customer_id", "rep_id", "product_line",
                                         "quantity", "amount"])
    opps = pd.DataFrame({"opportunity_id": ["o0"], "customer_id": ["cA"], "rep_id": ["rA"],
                         "created_date": pd.to_datetime(["2024-01-02"]), "amount": [1_000.0], "stage": ["A"],
                         "outcome": ["lost"], "closed_date": pd.to_datetime(["2024-02-01"])})
    sh = pd.DataFrame({"opportunity_id": ["o0"], "stage": ["A"], "entered_date": pd.to_datetime(["2024-01-02"])})
    return SalesData(orders=orders, customers=customers, reps=reps, regions=regions,
                     opportunities=opps, stage_history=sh).coerced()


def _flat_dist():
    # every path: A 30,000, B 60,000 in the quarter (10,000 / 20,000 a month)
    return QuarterDistribution.from_arrays(MONTHS, regions={"A": np.full((200, 3), 10_000.0),
                                                            "B": np.full((200, 3), 20_000.0)})


class Scorer:
    """Hand-made scored pipeline: region A's weighted pipeline swings 3,000 / 6,000 / 9,000
    over the back-test quarters, B's 4,000 / 8,000; now A 15,000, B 8,000."""

    def __init__(self):
        self.calls = []

    def __call__(self, data, at, horizon_end):
        at = pd.Timestamp(at)
        self.calls.append(at)
        if at == pd.Timestamp("2026-12-31"):
            wa, wb = 15_000.0, 8_000.0
        else:
            k = (at.year * 4 + at.quarter)
            wa, wb = 3_000.0 * (1 + k % 3), 4_000.0 * (1 + k % 2)
        return pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["cA", "cB"], "rep_id": ["rA", "rB"],
                             "region": ["A", "B"], "amount": [wa, wb], "stage": ["A", "A"],
                             "p_win": [1.0, 1.0], "in_horizon": [True, True]})


RATES = FunnelRates.from_mapping({s: 0.5 for s in "EDCBA"}, {s: 10.0 for s in "EDCBA"}, 10_000.0)


def test_pipeline_fully_in_the_forecast_adds_nothing_end_to_end():
    data, scorer = _steady(), Scorer()
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_weights="scored", rounding_unit=100)
    plan = propose_targets(data, _flat_dist(), prm, funnel_rates=RATES, pipeline_scorer=scorer,
                           as_of="2026-12-31")
    # as_of 2026-12-31 (end of 2026Q4): back-test quarters 2026Q4 .. 2025Q1 (8; each has the
    # four quarters before it), scored the day before each starts; the pipeline now first
    assert scorer.calls[0] == pd.Timestamp("2026-12-31")
    assert scorer.calls[1:] == [pd.Timestamp(d) for d in (
        "2026-09-30", "2026-06-30", "2026-03-31", "2025-12-31", "2025-09-30", "2025-06-30", "2025-03-31",
        "2024-12-31")]
    # revenue never moved with the pipeline (every back-test error 0) -> beta 0 -> no increment,
    # although the pipeline now (A 15,000) is far above its usual
    reg = plan.regions.set_index("region")
    assert reg.loc["A", "pipeline_now"] == pytest.approx(15_000.0)
    assert reg["pipeline_increment"].abs().max() == pytest.approx(0.0, abs=1e-9)
    c = plan.company.iloc[0]
    # target = P60 of a flat 90,000 forecast (floored at the P50 = 90,000), met on every path
    assert c["target"] == pytest.approx(90_000.0)
    assert c["p_attain_target"] == pytest.approx(1.0)
    a = plan.assumptions.set_index("item")["value"]
    assert a["pipeline_beta"] == "0.00"
    assert a["pipeline_backtest_obs"] == "16 region-quarters in 8 quarters"
    # the old ratio rule counts A's excess: rho = usual W / revenue > 0, W now above it
    old = propose_targets(data, _flat_dist(), TargetParams(quarter="2027Q1", growth=None, pipeline_rule="excess",
                                                           pipeline_weights="scored"),
                          funnel_rates=RATES, pipeline_scorer=Scorer(), as_of="2026-12-31")
    assert old.regions.set_index("region").loc["A", "pipeline_increment"] > 0


def test_short_history_gives_no_increment_with_a_note():
    from tests.test_targets import _dist, _toy
    from tests.test_targets_pipeline import FakeScorer, _with_opps

    plan = propose_targets(_with_opps(_toy()), _dist(sd=(0.0, 0.0)),
                           TargetParams(quarter="2027Q1", growth=None, pipeline_weights="scored"),
                           funnel_rates=RATES, pipeline_scorer=FakeScorer())
    # orders only in 2026: no quarter has the four quarters before it -> no back-test rows
    assert plan.company.iloc[0]["pipeline_increment"] == 0.0
    assert any("too little history" in n and "0 region-quarters" in n for n in plan.notes)


def test_backtest_fit_for_the_weekly_review_hand_example():
    from salesplan.planning.targets import pipeline_backtest_fit

    fit = pipeline_backtest_fit(_steady(), "2026-12-31", TargetParams(quarter="2027Q1", pipeline_weights="scored"),
                                rates=RATES, scorer=Scorer())
    # the day before each back-test quarter, k = 4 * year + quarter of that day:
    # 2026-09-30 8107, 06-30 8106, 03-31 8105, 2025-12-31 8104, 09-30 8103, 06-30 8102, 03-31 8101,
    # 2024-12-31 8100 -> A 3,000 * (1 + k % 3) = 6, 3, 9, 6, 3, 9, 6, 3 thousand (45,000);
    # B 4,000 * (1 + k % 2) = 8, 4, 8, 4, 8, 4, 8, 4 thousand (48,000).
    # Back-test forecasts A 30,000 and B 60,000 every quarter: rho_A = 45,000 / 240,000 = 0.1875,
    # rho_B = 48,000 / 480,000 = 0.1; z_bar = 93,000 / 720,000
    assert fit["rho"] == pytest.approx({"A": 0.1875, "B": 0.1})
    assert fit["z_bar"] == pytest.approx(93_000 / 720_000)
    assert fit["beta"] == 0.0 and fit["weights_used"] == "scored"
    assert (fit["n"], fit["n_quarters"]) == (16, 8)
