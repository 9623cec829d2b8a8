"""Hand examples for issue 14: the rep split rule, the fairness band, rep odds from own paths,
the over-assignment choice, the board-number path, the fiscal calendar, the currency label
and the scenarios.  Every expected number is computed by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.data.schema import SalesData
from salesplan.planning.fiscal_calendar import currency_label, fiscal_label, fiscal_quarter
from salesplan.planning.quota import (
    band_split,
    expected_productivity,
    history_quarters,
    recent_share,
)
from salesplan.planning.targets import (
    QuarterDistribution,
    TargetParams,
    company_target,
    compare_scenarios,
    default_scenarios,
    propose_targets,
    target_bridge,
)

MONTHS = pd.date_range("2027-01-01", periods=3, freq="MS")


def _data(roster=None):
    """Region A (customers c1, c2) and B (c3); orders every day of 2026: c1 by r1 1,000,
    c2 by r9 (not on the roster) 500, c3 by r5 700."""
    regions = pd.DataFrame({"region": ["A", "B"], "maturity": ["mature", "emerging"],
                            "market_potential": [6e6, 4e6]})
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "name": ["n1", "n2", "n3"],
                              "region": ["A", "A", "B"]})
    if roster is None:
        roster = pd.DataFrame({"rep_id": ["r1", "r2", "r5"], "name": ["Ann", "Bob", "Ed"],
                               "region": ["A", "A", "B"], "level": ["senior", "junior", "senior"],
                               "hire_date": pd.to_datetime(["2020-01-01", "2021-03-01", "2021-01-01"]),
                               "exit_date": pd.NaT})
    days = pd.date_range("2026-01-01", "2026-12-31", freq="D")
    rows = [(f"o{i}-{c}", d, c, rep, pl, 1.0, amt) for i, d in enumerate(days)
            for c, rep, pl, amt in (("c1", "r1", "P", 1000.0), ("c2", "r9", "Q", 500.0), ("c3", "r5", "P", 700.0))]
    orders = pd.DataFrame(rows, columns=["order_id", "order_date", "customer_id", "rep_id", "product_line",
                                         "quantity", "amount"])
    return SalesData(orders=orders, customers=customers, reps=roster, regions=regions).coerced()


def _const(v, S=50):
    return np.full((S, 3), v / 3.0)


# ----------------------------------------------------------------------------- split rule

def test_expected_productivity_hand_example():
    # book B = 100 + 200 = 300 (established reps only)
    # e1 = (.6*100 + .2*.25*300 + .2*.4*300) / 1 = 60 + 15 + 24 = 99
    # e2 = .6*200 + .2*.75*300 + .2*.4*300 = 120 + 45 + 24 = 189
    # e3 (new hire, capacity only) = .2 * 300 = 60
    e = expected_productivity(np.array([100.0, 200.0, 0.0]), np.array([0.25, 0.75, 0.0]),
                              np.array([0.4, 0.4, 0.2]), np.array([True, True, False]), (0.6, 0.2, 0.2))
    assert np.allclose(e, [99.0, 189.0, 60.0])
    # weights are normalised: (3, 1, 1) = (.6, .2, .2)
    assert np.allclose(expected_productivity(np.array([100.0, 200.0, 0.0]), np.array([0.25, 0.75, 0.0]),
                                             np.array([0.4, 0.4, 0.2]), np.array([True, True, False]),
                                             (3, 1, 1)), e)
    # a slot that is not a person (house accounts) keeps its own forecast and is out of the book
    e2 = expected_productivity(np.array([100.0, 50.0]), np.array([1.0, 0.0]), np.array([1.0, 0.0]),
                               np.array([True, True]), (0.6, 0.2, 0.2), own_only=np.array([False, True]))
    assert np.allclose(e2, [100.0, 50.0])  # .6*100 + .2*1*100 + .2*1*100 = 100


def test_band_split_hand_examples():
    # 1000 over weights 1:1:2 -> 250, 250, 500; child 2 capped at 150 -> 850 over 1:2
    x, ok = band_split(1000.0, [1, 1, 2], [0, 0, 0], [np.inf, 150, np.inf])
    assert ok and np.allclose(x, [850 / 3, 150.0, 1700 / 3])
    # floor binding: 300 over 1:9 with child 1 at least 60 -> 60, 240
    x, ok = band_split(300.0, [1, 9], [60, 0], [np.inf, np.inf])
    assert ok and np.allclose(x, [60.0, 240.0])
    # infeasible above: both bounded at [100, 200], total 500 > 400 -> same ratio to hi: 250, 250
    x, ok = band_split(500.0, [1, 3], [100, 100], [200, 200])
    assert not ok and np.allclose(x, [250.0, 250.0])
    # infeasible below: total 100 < 200 -> 100 * lo / sum lo = 50, 50
    x, ok = band_split(100.0, [1, 3], [100, 100], [200, 200])
    assert not ok and np.allclose(x, [50.0, 50.0])


def test_history_and_recent_share_hand_examples():
    # hired 2026-01-01: 12 whole months before 2027-01-01 -> 4 quarters; 2026-01-02: 11 -> 3;
    # 2026-10-01: 3 months -> 1; hired after the start -> 0
    h = history_quarters(pd.Series(pd.to_datetime(["2026-01-01", "2026-01-02", "2026-10-01", "2027-02-01"])),
                         pd.Timestamp("2027-01-01"))
    assert h.tolist() == [4, 3, 1, 0]
    orders = pd.DataFrame({"order_date": pd.to_datetime(["2026-06-30", "2026-07-01", "2026-12-31", "2026-08-01"]),
                           "rep_id": ["a", "a", "b", "c"], "amount": [999.0, 100.0, 300.0, 50.0]})
    reps = pd.DataFrame({"rep_id": ["a", "b", "c"], "region": ["X", "X", "Y"]})
    # last 2 quarters to 2026-12-31 = Jul-Dec: a 100, b 300 -> .25, .75; c alone in Y -> 1
    s = recent_share(orders, reps, pd.Timestamp("2026-12-31"), 2)
    assert np.allclose(s.loc[["a", "b", "c"]].to_numpy(), [0.25, 0.75, 1.0])


def _rep_plan(band_low=0.8, **kw):
    """Region A only: r1 (senior, own 100,000), r2 (junior, own 50,000), region = sum."""
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": _const(150_000.0)},
                                           reps={"r1": _const(100_000.0), "r2": _const(50_000.0)})
    prm = TargetParams(quarter="2027Q1", regions=("A",), pipeline_rule="none", over_assignment=1.0,
                       band_low=band_low, **kw)
    return propose_targets(_data(), dist, prm)


def test_rep_split_rule_end_to_end_hand_example():
    # target = P50 of constant paths = 150,000; quota = target (over-assignment 1)
    # recent share Jul-Dec 2026: r1 sold 1,000/day, r2 nothing -> 1, 0; capacity 1 : .7
    # e1 = .6*100,000 + .2*1*150,000 + .2*(1/1.7)*150,000 = 60,000 + 30,000 + 17,647.06 = 107,647.06
    # e2 = .6*50,000 + 0 + .2*(.7/1.7)*150,000 = 30,000 + 12,352.94 = 42,352.94 (sum 150,000)
    # bands: r1 [80,000, 150,000], r2 [40,000, 75,000] -> not binding; rounding to 100 by
    # largest remainder: 1076 + 423 units, the last unit to r2 (.53 > .47) -> 107,600 / 42,400
    plan = _rep_plan()
    reps = plan.reps.set_index("rep_id")
    assert plan.company.iloc[0]["target"] == 150_000.0
    assert list(reps.index) == ["r1", "r2"]  # no house slot: the reps own the whole region
    assert reps.loc["r1", "quota"] == 107_600.0 and reps.loc["r2", "quota"] == 42_400.0
    assert reps["established"].all() and reps["in_band"].all()
    assert reps.loc["r2", "quota_vs_own_forecast"] == pytest.approx(42_400 / 50_000)


def test_band_binds_hand_example():
    # band_low 0.9: r2 needs >= 45,000 > 42,352.94 -> r2 = 45,000, r1 = 105,000
    reps = _rep_plan(band_low=0.9).reps.set_index("rep_id")
    assert reps.loc["r2", "quota"] == 45_000.0 and reps.loc["r1", "quota"] == 105_000.0


def test_house_accounts_slot_and_no_book_rep():
    # region A = 200,000 but its reps own 150,000: the 50,000 of accounts without a current
    # rep are a slot held by the manager, quota = its own forecast share (band .8-1.5)
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": _const(200_000.0)},
                                           reps={"r1": _const(100_000.0), "r2": _const(50_000.0)})
    plan = propose_targets(_data(), dist, TargetParams(quarter="2027Q1", regions=("A",), pipeline_rule="none",
                                                       over_assignment=1.0))
    reps = plan.reps.set_index("rep_id")
    assert reps.loc["HOUSE:A", "holder"] == "manager:A" and reps.loc["HOUSE:A", "vacant"]
    assert reps.loc["HOUSE:A", "own_forecast"] == pytest.approx(50_000.0)
    # e_house = 50,000; reps as above but with book 150,000: 107,647 + 42,353; sum 200,000
    assert reps.loc["HOUSE:A", "quota"] == 50_000.0
    assert reps["quota"].sum() == 200_000.0
    assert plan.company.iloc[0]["n_reps"] == 2 and plan.company.iloc[0]["n_vacancies"] == 0
    # a rep with 4+ quarters in post and no own forecast: capacity term only, flagged
    dist0 = QuarterDistribution.from_arrays(MONTHS, regions={"A": _const(100_000.0)},
                                            reps={"r1": _const(100_000.0)})
    reps0 = propose_targets(_data(), dist0, TargetParams(quarter="2027Q1", regions=("A",), pipeline_rule="none",
                                                         over_assignment=1.0, min_growth=-0.9)).reps.set_index("rep_id")
    # book 100,000: e1 = .6*100,000 + .2*1*100,000 + .2*(1/1.7)*100,000 = 91,764.71;
    # e2 = .2*(.7/1.7)*100,000 = 8,235.29; r1's band [80,000, 150,000] holds -> 91,800 / 8,200
    assert reps0.loc["r2", "status"] == "no_book" and reps0.loc["r2", "quota"] == 8_200.0


def test_rep_odds_come_from_own_paths():
    # r1's own quarter totals 60,000..140,000 in 81 equal steps of 1,000 (mean 100,000),
    # r2 constant 50,000; the rep's odds = share of own paths >= quota
    S = 81
    r1 = np.linspace(60_000, 140_000, S)[:, None] * np.full((1, 3), 1 / 3)
    r2 = _const(50_000.0, S)
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": r1 + r2}, reps={"r1": r1, "r2": r2})
    prm = TargetParams(quarter="2027Q1", regions=("A",), pipeline_rule="none", over_assignment=1.0,
                       weight_own_forecast=1.0, weight_recent=0.0, weight_capacity=0.0, board_target=165_000.0)
    reps = propose_targets(_data(), dist, prm).reps.set_index("rep_id")
    # by own forecast only: 165,000 x 100/150 = 110,000 and 55,000 (both inside .8-1.5)
    assert reps.loc["r1", "quota"] == 110_000.0 and reps.loc["r2", "quota"] == 55_000.0
    # r1: paths >= 110,000 are 110k..140k = 31 of 81; r2 never reaches 55,000
    assert reps.loc["r1", "p_attain_quota"] == pytest.approx(31 / 81)
    assert reps.loc["r2", "p_attain_quota"] == 0.0
    # rep_spread 2: path 100,000 + 2 (x - 100,000) >= 110,000 <=> x >= 105,000: 36 of 81
    reps2 = propose_targets(_data(), dist, TargetParams(**{**prm.__dict__, "rep_spread": 2.0})).reps.set_index("rep_id")
    assert reps2.loc["r1", "p_attain_quota"] == pytest.approx(36 / 81)


def test_over_assignment_chosen_for_the_healthy_band():
    # one rep = the region = the company; own paths 50,000..150,000 in steps of 1,000 (101 paths);
    # board target 100,000; share at quota for factor a = #(x >= 100,000 a) / 101
    # = (151 - 100 a) / 101.  Healthy band (.3, .5) -> middle .4: a = 1.10 gives 41/101 = .406,
    # a = 1.11 gives 40/101 = .396 -> |.006| vs |.004| -> 1.11, quota 111,000
    x = np.linspace(50_000, 150_000, 101)[:, None] * np.full((1, 3), 1 / 3)
    roster = pd.DataFrame({"rep_id": ["r1"], "name": ["Ann"], "region": ["A"], "level": ["senior"],
                           "hire_date": pd.to_datetime(["2020-01-01"]), "exit_date": pd.NaT})
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": x}, reps={"r1": x})
    plan = propose_targets(_data(roster), dist, TargetParams(
        quarter="2027Q1", regions=("A",), pipeline_rule="none", board_target=100_000.0,
        healthy_share=(0.3, 0.5), min_growth=-0.9))
    c = plan.company.iloc[0]
    assert c["over_assignment"] == 1.11 and c["quota"] == 111_000.0
    assert c["rep_share_at_quota"] == pytest.approx(40 / 101)
    assert plan.params.over_assignment == 1.11


# ----------------------------------------------------------------------------- company target

def test_company_target_board_growth_probability_hand_examples():
    F = np.arange(1, 101) * 1_000.0  # 1,000 .. 100,000; median 50,500
    base = dict(quarter="2027Q1", rounding_unit=100)
    # probability 0.6 with 2,000 of pipeline: 40% quantile of F + 2,000 = 40,600 + 2,000 = 42,600
    # (numpy linear: position .4*99 = 39.6 -> 40,000 + .6*1,000 = 40,600), below the P50 50,500
    ct = company_target(F, 2_000.0, 40_000.0, TargetParams(**base, floor_at_p50=False))
    assert ct["method"] == "probability" and ct["target"] == 42_600.0
    assert ct["below_p50"] == pytest.approx(50_500 - 42_600)
    # default: floored at the P50 (50,500), rounded up to the unit
    ct = company_target(F, 2_000.0, 40_000.0, TargetParams(**base))
    assert ct["method"] == "probability, floored at P50" and ct["target"] == 50_500.0 and ct["below_p50"] == 0
    # P(F + 2,000 >= 50,500) = #(F >= 48,500) / 100 = 52 / 100
    assert ct["p_attain_target"] == pytest.approx(0.52)
    # growth: 40,000 x 1.1 = 44,000 (6,500 below the P50, reported, not changed)
    ct = company_target(F, 2_000.0, 40_000.0, TargetParams(**base, growth=0.1))
    assert ct["method"] == "growth" and ct["target"] == 44_000.0 and ct["below_p50"] == 6_500.0
    # the board number wins over growth
    ct = company_target(F, 2_000.0, 40_000.0, TargetParams(**base, growth=0.1, board_target=61_234.0))
    assert ct["method"] == "board" and ct["target"] == 61_200.0 and ct["below_p50"] == 0.0
    assert ct["stretch"] == pytest.approx(61_200 - 50_500 - 2_000)


def test_board_number_path_and_bridge():
    data = _data()
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": _const(150_000.0), "B": _const(60_000.0)})
    plan = propose_targets(data, dist, TargetParams(quarter="2027Q1", board_target=230_000.0,
                                                    pipeline_rule="none", over_assignment=1.05))
    c = plan.company.iloc[0]
    assert c["method"] == "board" and c["target"] == 230_000.0 and c["quota"] == 241_500.0
    b = plan.bridge.set_index("step")
    # LY 2026Q1 = 90 days x 2,200 = 198,000 -> P50 210,000 (+12,000) -> pipeline 0 -> stretch
    # +20,000 -> target 230,000 -> over-assignment +11,500 -> quotas 241,500
    assert b["amount"].tolist() == pytest.approx([198_000, 12_000, 0, 20_000, 230_000, 11_500, 241_500])
    assert b["cumulative"].iloc[-1] == 241_500.0 and b["cumulative"].iloc[3] == 230_000.0
    low = propose_targets(data, dist, TargetParams(quarter="2027Q1", board_target=190_000.0, pipeline_rule="none"))
    assert low.company.iloc[0]["below_p50"] == 20_000.0
    assert any("20,000 below the P50" in n for n in low.notes)
    tb = target_bridge(plan.company, "2027Q1", "2026Q1")
    assert tb["step"].iloc[0] == "2026Q1 actual" and tb["step"].iloc[4] == "target 2027Q1"


def test_product_line_targets_follow_the_mix():
    # region A's last 4 quarters: product P (c1) 1,000/day, Q (c2) 500/day -> 2/3, 1/3
    data = _data()
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": _const(150_000.0), "B": _const(60_000.0)})
    plan = propose_targets(data, dist, TargetParams(quarter="2027Q1", board_target=210_000.0, pipeline_rule="none"))
    pr = plan.products.set_index(["region", "product_line"])
    ta = plan.regions.set_index("region").loc["A", "target"]
    assert pr.loc[("A", "P"), "target"] == pytest.approx(round(ta * 2 / 3 / 100) * 100, abs=100)
    assert pr.loc[("A", "P"), "target"] + pr.loc[("A", "Q"), "target"] == ta
    assert pr.loc[("B", "P"), "share"] == 1.0


# ----------------------------------------------------------------------------- calendar, currency

def test_fiscal_calendar_april_start():
    q = fiscal_quarter("FY27Q1", 4)  # FY27 = Apr 2026 - Mar 2027
    assert q.start_time == pd.Timestamp("2026-04-01") and q.end_time.normalize() == pd.Timestamp("2026-06-30")
    assert fiscal_label(pd.Period("2027Q1", freq="Q"), 4) == "FY27Q4"
    assert fiscal_label(fiscal_quarter("FY28Q1", 4), 4, months=True) == "FY28Q1 (Apr–Jun 2027)"
    assert fiscal_label(pd.Period("2027Q1", freq="Q"), 1) == "2027Q1"
    # a plan of FY28Q1 (Apr-Jun 2027): last year = Apr-Jun 2026 = 91 days x 2,200 = 200,200
    dist = QuarterDistribution.from_arrays(pd.date_range("2027-04-01", periods=3, freq="MS"),
                                           regions={"A": _const(150_000.0), "B": _const(60_000.0)})
    plan = propose_targets(_data(), dist, TargetParams(quarter="FY28Q1", fiscal_year_start_month=4,
                                                       pipeline_rule="none", growth=0.0))
    c = plan.company.iloc[0]
    assert c["quarter"] == "FY28Q1" and c["last_year"] == 200_200.0 and c["target"] == 200_200.0
    assert plan.bridge["step"].iloc[0] == "FY27Q1 actual"


def test_fiscal_calendar_february_start():
    q = fiscal_quarter("FY28Q1", 2)  # FY28 = Feb 2027 - Jan 2028
    assert q.start_time == pd.Timestamp("2027-02-01") and q.end_time.normalize() == pd.Timestamp("2027-04-30")
    assert fiscal_label(fiscal_quarter("2026-12-15", 2), 2, months=True) == "FY27Q4 (Nov 2026–Jan 2027)"
    with pytest.raises(ValueError, match="fiscal_year_start_month=0"):
        fiscal_quarter("FY27Q1", 0)
    # Feb-Apr 2027 plan: last year Feb-Apr 2026 = (28 + 31 + 30) days x 2,200 = 195,800
    months = pd.date_range("2027-02-01", periods=3, freq="MS")
    dist = QuarterDistribution.from_arrays(months, regions={"A": _const(150_000.0), "B": _const(60_000.0)})
    plan = propose_targets(_data(), dist, TargetParams(quarter="FY28Q1", fiscal_year_start_month=2,
                                                       pipeline_rule="none", growth=0.0))
    assert plan.company.iloc[0]["last_year"] == 195_800.0
    mo = plan.months[plan.months["level"] == "company"]
    assert list(pd.to_datetime(mo["month"])) == list(months)
    assert mo["target"].sum() == 195_800.0
    with pytest.raises(ValueError, match="outside the forecast"):  # paths of another quarter
        propose_targets(_data(), dist, TargetParams(quarter="FY28Q2", fiscal_year_start_month=2))


def test_currency_label_on_every_amount_table():
    assert currency_label("") == "company currency" and currency_label(" CNY ") == "CNY"
    with pytest.raises(ValueError, match="currency"):
        TargetParams(quarter="2027Q1", currency=5)
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": _const(150_000.0), "B": _const(60_000.0)})
    plan = propose_targets(_data(), dist, TargetParams(quarter="2027Q1", currency="CNY", pipeline_rule="none"))
    for name in ("company", "regions", "reps", "products", "bridge"):
        assert (plan.tables()[name]["currency"] == "CNY").all(), name
    a = plan.assumptions.set_index("item")
    assert a.loc["currency", "value"] == "CNY"


# ----------------------------------------------------------------------------- scenarios

@pytest.mark.parametrize("kw", [{}, {"growth": 0.05}, {"board_target": 220_000.0}, {"over_assignment": 1.2},
                                {"target_probability": 0.8, "floor_at_p50": False}])
def test_conservative_never_above_base(kw):
    rng = np.random.default_rng(0)
    dist = QuarterDistribution.from_arrays(MONTHS, regions={"A": rng.normal(150_000, 20_000, (400, 1)) * np.ones((1, 3)) / 3,
                                                            "B": rng.normal(60_000, 9_000, (400, 1)) * np.ones((1, 3)) / 3})
    base = TargetParams(quarter="2027Q1", pipeline_rule="none", **kw)
    t = compare_scenarios(_data(), dist, default_scenarios(base))
    for row in ("company_target", "company_quota"):
        assert t.loc[row, "conservative"] <= t.loc[row, "base"] <= t.loc[row, "stretch"], (row, t.loc[row])


def test_waterfall_chart_floats_the_changes():
    from salesplan.reports.charts import waterfall_chart

    steps = pd.DataFrame({"step": ["last year", "forecast", "stretch", "target"],
                          "kind": ["total", "change", "change", "total"], "amount": [100.0, 30.0, -10.0, 120.0]})
    fig = waterfall_chart(steps, title="bridge", xlabel="step", ylabel="revenue (USD)")
    bars = fig.axes[0].patches
    # totals stand on 0; +30 floats on 100; -10 floats down from 130 (bottom 130, height -10)
    assert [(b.get_y(), b.get_height()) for b in bars] == [(0.0, 100.0), (100.0, 30.0), (130.0, -10.0), (0.0, 120.0)]
    with pytest.raises(ValueError, match="columns"):
        waterfall_chart(steps.drop(columns="kind"), title="t", xlabel="x", ylabel="y")
