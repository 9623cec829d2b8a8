"""Tests for salesplan.planning.commission: hand-computed examples written out in the comments."""

import numpy as np
import pytest

from salesplan.planning import commission as cm

PLAN = cm.CommissionPlan(tiers=((0, 0.05), (500_000, 0.07)))


def test_two_tier_hand_example():
    # 800k: 5% * 500k = 25,000 + 7% * 300k = 21,000 -> 46,000
    # 300k: 5% * 300k = 15,000; 500k exactly: 25,000; negative (returns): 0
    out = cm.commission([800_000, 300_000, 500_000, -10_000], PLAN)
    assert out.tolist() == pytest.approx([46_000.0, 15_000.0, 25_000.0, 0.0])


def test_three_tiers_cap_accelerator_and_retro():
    plan = cm.CommissionPlan(tiers=((0, 0.02), (100_000, 0.04), (200_000, 0.06)),
                             accelerators=((1.0, 1.5),), cap=9_000.0)
    # sales 250k, quota 150k:
    #   [0,100k) 2%            = 2,000
    #   [100k,150k) 4%         = 2,000
    #   [150k,200k) 4% * 1.5   = 3,000   (above quota: accelerated)
    #   [200k,250k) 6% * 1.5   = 4,500
    #   total 11,500 -> capped at 9,000
    assert cm.commission(250_000, plan, quota=150_000) == pytest.approx(9_000.0)
    nocap = cm.CommissionPlan(tiers=plan.tiers, accelerators=plan.accelerators)
    assert cm.commission(250_000, nocap, quota=150_000) == pytest.approx(11_500.0)
    # retroactive: 250k is in the 6% tier -> 6% on everything, x1.5 above quota:
    #   6% * 150k = 9,000 + 6% * 1.5 * 100k = 9,000 -> 18,000
    retro = cm.CommissionPlan(tiers=plan.tiers, accelerators=plan.accelerators, retroactive=True)
    assert cm.commission(250_000, retro, quota=150_000) == pytest.approx(18_000.0)
    with pytest.raises(ValueError, match="quota"):
        cm.commission(1.0, plan)


def test_quarterly_plan_sums_months():
    plan = cm.CommissionPlan(tiers=((0, 0.05), (1_000_000, 0.07)), period="quarter",
                             base_per_period=10_000)
    # months 400k + 400k + 400k = 1.2M: 5% * 1M + 7% * 200k = 50,000 + 14,000 = 64,000 + base 10k
    assert cm.pay([[400_000, 400_000, 400_000]], plan).ravel().tolist() == pytest.approx([74_000.0])


def test_simulated_cost_quantiles_and_ratio():
    # two reps, 3 months, 5 simulations; rep 2 always sells 100k/month (5% -> 5k/month)
    # rep 1 sells k * 200k/month in simulation k = 1..5 (all below 500k -> 5%)
    sims = np.zeros((5, 2, 3))
    for k in range(5):
        sims[k, 0, :] = (k + 1) * 200_000
        sims[k, 1, :] = 100_000
    plan = cm.CommissionPlan(tiers=((0, 0.05), (500_000, 0.07)), base_per_period=1_000)
    summary, per = cm.simulate_plan_cost(sims, plan, quota=np.full((2, 3), 200_000.0))
    # sim k (1-based): rep 1 monthly s=200k*k -> 5%*min(s,500k) + 7%*max(s-500k,0)
    #   k=1: 10k, k=2: 20k, k=3: 25k+7k=32k, k=4: 25k+21k=46k, k=5: 25k+35k=60k (per month)
    # total commission per sim = 3*(c1 + 5k) = 45k, 75k, 111k, 153k, 195k; pay adds 6 * 1k
    # median (P50) = sim 3: commission 111k, pay 117k, sales 3*(600k+100k) = 2.1M
    assert summary.loc["P50", "commission"] == pytest.approx(111_000.0)
    assert summary.loc["P50", "pay"] == pytest.approx(117_000.0)
    assert summary.loc["P50", "sales"] == pytest.approx(2_100_000.0)
    # cost-of-sales ratio per sim = pay / sales: 51k/0.9M = .0567, 81k/1.5M = .0540,
    # 117k/2.1M = .0557, 159k/2.7M = .0589, 201k/3.3M = .0609 -> its own median is 51/900
    assert summary.loc["P50", "cost_of_sales"] == pytest.approx(51_000 / 900_000)
    # P10 with linear interpolation between sims 1 and 2 at 0.4: 45k + 0.4 * 30k = 57k
    assert summary.loc["P10", "commission"] == pytest.approx(57_000.0)
    # OTE: 3 months at quota 200k -> 3 * (10k + 1k base) = 33k
    assert per["ote"].tolist() == pytest.approx([33_000.0, 33_000.0])
    assert per.loc[1, "attainment_p50"] == pytest.approx(0.5)
    # commission at the sales quantile: sales and commission rise together here, so it is
    # the commission interpolated as the sales quantile is: P10 57k, P50 sim 3 = 111k,
    # P90 between sims 4 and 5 at 0.6: 153k + 0.6 * 42k = 178.2k
    assert summary["commission_at_sales_q"].iloc[:3].tolist() == pytest.approx([57_000.0, 111_000.0, 178_200.0])


def test_commission_at_the_median_of_an_even_number_of_simulations_is_the_midpoint():
    # four simulations of one rep, one month; the median of sales (2.5M) lies halfway
    # between sims 2 and 3, equally near both: the commission is their midpoint, whatever
    # the last bit of the totals (nearest-simulation picking chose one by rounding)
    plan = cm.CommissionPlan(tiers=((0, 0.05), (2_200_000, 0.10)))
    sales = np.array([1_000_000, 2_000_000, 3_000_000, 4_000_000], dtype=float)
    for nudge in (0.0, 1e-9, -1e-9):
        sims = sales.copy()
        sims[1] += nudge
        summary, _ = cm.simulate_plan_cost(sims.reshape(4, 1, 1), plan, quantiles=(0.5,))
        # sim 2: 5% * 2M = 100k; sim 3: 5% * 2.2M + 10% * 0.8M = 190k -> 145k
        assert summary.loc["P50", "commission_at_sales_q"] == pytest.approx(145_000.0)


def test_quota_to_ote_flags():
    out = cm.quota_to_ote([300_000, 500_000, 700_000], 100_000, rep_ids=["a", "b", "c"])
    assert out["ratio"].tolist() == pytest.approx([3.0, 5.0, 7.0])
    assert out["flag"].tolist() == ["low", "", "high"]


def test_bad_parameters():
    with pytest.raises(ValueError, match="declared progressive"):
        cm.CommissionPlan(tiers=((0, 0.07), (500_000, 0.05)))
    cm.CommissionPlan(tiers=((0, 0.07), (500_000, 0.05)), progressive=False)  # allowed
    with pytest.raises(ValueError, match="ascending"):
        cm.CommissionPlan(tiers=((0, 0.05), (500_000, 0.06), (400_000, 0.07)))
    with pytest.raises(ValueError, match="first threshold must be 0"):
        cm.CommissionPlan(tiers=((100, 0.05),))
    with pytest.raises(ValueError, match="rate"):
        cm.CommissionPlan(tiers=((0, -0.05),))
    with pytest.raises(ValueError, match="above 1"):
        cm.CommissionPlan(tiers=((0, 5.0),))
    with pytest.raises(ValueError, match="cap"):
        cm.CommissionPlan(cap=-1.0)
    with pytest.raises(ValueError, match="n_sims, n_reps, n_months"):
        cm.simulate_plan_cost(np.zeros((3, 4)), PLAN)


@pytest.mark.parametrize("retroactive", [False, True])
def test_cost_sums_made_a_block_of_simulations_at_a_time_equal_those_of_the_whole(monkeypatch, retroactive):
    # the sums of commission() over the whole (sims, reps, periods) array, exactly, whatever
    # the block: a quarterly plan with tiers, an accelerator and a cap
    rng = np.random.default_rng(3)
    plan = cm.CommissionPlan(tiers=((0.0, 0.04), (60_000.0, 0.06), (150_000.0, 0.09)), period="quarter",
                             accelerators=((1.0, 1.5),), cap=20_000.0, retroactive=retroactive)
    sales = rng.gamma(2.0, 30_000.0, size=(37, 11, 6))
    quota = rng.gamma(2.0, 30_000.0, size=(11, 6))
    ps = cm._to_periods(sales, plan)
    pq = np.broadcast_to(cm._to_periods(quota, plan), ps.shape)
    whole = cm.commission(ps, plan, pq)
    monkeypatch.setattr(cm, "_COMMISSION_BLOCK", 5 * ps[0].size)  # blocks of 5 simulations, the last of 2
    tot, per_rep = cm._commission_sums(ps, plan, pq)
    assert np.array_equal(tot, whole.sum(axis=(1, 2))) and np.array_equal(per_rep, whole.sum(axis=2))
    assert (whole > 0).mean() > 0.9 and (whole == 20_000.0).any()  # the tiers and the cap are used
