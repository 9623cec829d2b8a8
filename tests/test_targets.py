"""Tests of salesplan.planning.targets: reconciliation, capacity, odds calibration, errors, outputs.

Expected numbers are hand-computed in the comments (never read back from the code).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan.data.schema import SalesData
from salesplan.planning import targets as tg
from salesplan.planning.allocation import ramp_factor
from salesplan.planning.funnel import FunnelRates
from salesplan.planning.targets import (
    QuarterDistribution,
    TargetParams,
    _propose_on,
    basis_key,
    compare_scenarios,
    default_scenarios,
    largest_remainder,
    plan_basis,
    propose_targets,
    propose_targets_and_basis,
    quarter_paths_from_forecast,
    rep_capacity,
)
from salesplan.reports.workbook import write_plan_workbook

MONTHS = pd.date_range("2027-01-01", periods=3, freq="MS")
DEMO_SCALE = 0.15  # a small demo company keeps 200 simulated quarters fast
DEMO_QUARTERS = 200


def _toy(seed=0, roster=None):
    """Two regions, five reps, orders 2026-01..2026-12 (LY quarter 2026Q1 = 2027Q1 - 4)."""
    regions = pd.DataFrame({"region": ["A", "B"], "maturity": ["mature", "emerging"],
                            "market_potential": [6e6, 4e6]})
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "name": ["n1", "n2", "n3", "n4"],
                              "region": ["A", "A", "B", "B"]})
    if roster is None:
        roster = pd.DataFrame({
            "rep_id": ["r1", "r2", "r3", "r4", "r5"],
            "name": ["Ann", "Bob", "Cy", "Di", "Ed"],
            "region": ["A", "A", "A", "B", "B"],
            "level": ["senior", "junior", "senior", "senior", "key_account"],
            "hire_date": pd.to_datetime(["2020-01-01", "2027-02-01", "2019-05-01", "2018-01-01", "2021-01-01"]),
            "exit_date": pd.to_datetime([None, None, "2027-02-15", "2027-03-01", None]),
        })
    days = pd.date_range("2026-01-01", "2026-12-31", freq="D")
    rows = []
    for i, d in enumerate(days):
        for c, rep, amt in (("c1", "r1", 1000.0), ("c2", "r3", 500.0), ("c3", "r4", 300.0), ("c4", "r5", 700.0)):
            rows.append((f"o{i}-{c}", d, c, rep, "P", 1.0, amt))
    orders = pd.DataFrame(rows, columns=["order_id", "order_date", "customer_id", "rep_id", "product_line",
                                         "quantity", "amount"])
    data = SalesData(orders=orders, customers=customers, reps=roster, regions=regions).coerced()
    return data


def _dist(S=2000, mu=(150_000.0, 90_000.0), sd=(15_000.0, 12_000.0), seed=1, season=(1 / 3, 1 / 3, 1 / 3)):
    rng = np.random.default_rng(seed)
    regs = {}
    for r, m, s in zip(("A", "B"), mu, sd):
        q = rng.normal(m, s, S)
        regs[r] = q[:, None] * np.asarray(season)[None, :]
    return QuarterDistribution.from_arrays(MONTHS, regions=regs)


def test_largest_remainder_hand_examples():
    # 1000 over (1,1,1) in units of 100: 10 units, exact 3.33 each -> floors 3,3,3, one unit
    # left goes to the largest remainder (a tie: first) -> 400, 300, 300
    assert largest_remainder(1000, [1, 1, 1], 100).tolist() == [400, 300, 300]
    # 1000 over (0.55, 0.45): exact 5.5 / 4.5 units -> 5 / 4 + the tie to the first -> 600 / 400
    assert largest_remainder(1000, [0.55, 0.45], 100).tolist() == [600, 400]
    # 700 over (0.1, 0.2, 0.7) unit 100: exact 0.7, 1.4, 4.9 -> floors 0,1,4 (5) + 2 units to
    # remainders .9 and .7 -> 0+1, 1, 4+1 = 100, 100, 500
    assert largest_remainder(700, [0.1, 0.2, 0.7], 100).tolist() == [100, 100, 500]
    with pytest.raises(ValueError, match="multiple of unit"):
        largest_remainder(1050, [1, 1], 100)


def test_ramp_exit_capacity_hand_example():
    p = TargetParams(quarter="2027Q1", ramp_months=5)
    # the one ramp: tenure month k (hire month = 1) at mid-month tenure k - 0.5:
    # (k - 0.5) / 5 = .1, .3, ..., .9 in month 5, full from month 6; not hired yet -> 0
    assert np.allclose(ramp_factor(np.array([0, 1, 2, 5, 6, 9]) - 0.5, 5),
                       [0, 0.1, 0.3, 0.9, 1.0, 1.0])
    assert np.allclose(ramp_factor([-0.5, 0.5], 0), [0.0, 1.0])  # productive from day one
    # explicit curve per tenure month; 1 after it
    assert np.allclose(ramp_factor([0.5, 1.5, 2.5], 5, curve=(0.1, 0.5)), [0.1, 0.5, 1.0])
    roster = pd.DataFrame({
        "rep_id": ["new", "mid", "exit", "gone"], "region": "A",
        "level": ["junior", "junior", "senior", "senior"],
        "hire_date": pd.to_datetime(["2027-02-01", "2027-02-15", "2019-01-01", "2019-01-01"]),
        "exit_date": pd.to_datetime([None, None, "2027-02-15", "2026-11-30"]),
    })
    cap = rep_capacity(roster, "2027Q1", p).set_index(["rep_id", "month"])["capacity"]
    # new: junior weight .7; Jan absent; Feb tenure 1 -> .7*.1 = .07; Mar tenure 2 -> .7*.3 = .21
    assert np.allclose(cap.loc["new"].to_numpy(), [0.0, 0.07, 0.21])
    # mid: hired Feb 15 -> 14 of 28 Feb days present: .7 * .1 * .5 = .035; Mar .7*.3 = .21
    assert np.allclose(cap.loc["mid"].to_numpy(), [0.0, 0.035, 0.21])
    # exit: senior (1.0), works Feb 1..14 = 14/28 of February, nothing in March
    assert np.allclose(cap.loc["exit"].to_numpy(), [1.0, 0.5, 0.0])
    assert "gone" not in cap.index.get_level_values(0)


def test_totals_reconcile_at_every_level_and_vacancies():
    data = _toy()
    dist = _dist(season=(0.3, 0.3, 0.4))
    prm = TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none", rounding_unit=100,
                       over_assignment=1.10)
    plan = propose_targets(data, dist, prm)
    c = plan.company.iloc[0]
    reg, reps, mo, wk = plan.regions, plan.reps, plan.months, plan.weeks
    allv = np.concatenate([reg[["target", "quota"]].to_numpy().ravel(), reps["quota"].to_numpy(),
                           mo["quota"].to_numpy(), wk["quota"].to_numpy(), [c["target"], c["quota"]]])
    assert np.allclose(allv % 100, 0)
    assert reg["target"].sum() == c["target"]
    assert reg["quota"].sum() == c["quota"] == reps["quota"].sum()
    assert c["quota"] == round(c["target"] * 1.10 / 100) * 100
    for r, g in reps.groupby("region"):
        assert g["quota"].sum() == reg.set_index("region").loc[r, "quota"]
    for lv, col in (("company", "target"), ("company", "quota"), ("region", "target"),
                    ("region", "quota"), ("rep", "quota")):
        m = mo[mo.level == lv].groupby("entity")[col].sum()
        w = wk[wk.level == lv].groupby("entity")[col].sum()
        if lv == "company":
            quarter = pd.Series({"total": c[col]})
        elif lv == "region":
            quarter = reg.set_index("region")[col]
        else:
            quarter = reps.set_index("rep_id")["quota"]
        assert (m.reindex(quarter.index) == quarter).all(), (lv, col)
        assert (w.reindex(quarter.index) == quarter).all(), (lv, col)
    # r3 exits 2027-02-15 but r2 is hired in region A on 2027-02-01 ... before the exit, so
    # r3's remaining days are a vacancy held by A's manager; r4 exits 2027-03-01: vacancy in B
    vac = reps[reps.vacant]
    assert set(vac.rep_id) == {"VACANT:r3", "VACANT:r4"}
    assert (vac.holder == ["manager:A", "manager:B"]).all()
    assert "planned_hire" in reps.set_index("rep_id").loc["r2", "status"]
    # the new hire has no January quota (not yet employed)
    r2 = mo[(mo.level == "rep") & (mo.entity == "r2")].set_index("month")["quota"]
    assert r2.iloc[0] == 0 and r2.iloc[2] > r2.iloc[1] > 0
    # r4 (exit March 1) gets no March quota; its vacancy only March
    r4 = mo[(mo.level == "rep") & (mo.entity == "r4")]["quota"].to_numpy()
    v4 = mo[(mo.level == "rep") & (mo.entity == "VACANT:r4")]["quota"].to_numpy()
    assert r4[2] == 0 and v4[0] == 0 and v4[1] == 0 and v4[2] > 0


def test_rep_split_by_capacity_hand_example():
    # region B, equal months: r4 senior Jan+Feb (cap 1+1+0 = 2), vacancy after r4's exit
    # (senior * .7 in March = .7), r5 key account (1.4*3 = 4.2): shares 2 : .7 : 4.2 of B's quota
    data = _toy()
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="none")
    plan = propose_targets(data, _dist(), prm)
    reps = plan.reps.set_index("rep_id")
    qb = plan.regions.set_index("region").loc["B", "quota"]
    exact = qb * np.array([2.0, 0.7, 4.2]) / 6.9
    got = reps.loc[["r4", "VACANT:r4", "r5"], "quota"].to_numpy()
    assert np.all(np.abs(got - exact) <= 100)
    assert got.sum() == qb


def test_region_without_rep_held_by_manager_and_explicit_vacancies():
    roster = pd.DataFrame({"rep_id": ["r1"], "name": ["Ann"], "region": ["A"], "level": ["senior"],
                           "hire_date": pd.to_datetime(["2020-01-01"]), "exit_date": pd.NaT})
    data = _toy(roster=roster)
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="none")
    plan = propose_targets(data, _dist(), prm)
    b = plan.reps[plan.reps.region == "B"]
    assert list(b.rep_id) == ["VACANT:B"] and b.vacant.all() and (b.holder == "manager:B").all()
    assert b.quota.sum() == plan.regions.set_index("region").loc["B", "quota"]
    vac = pd.DataFrame({"region": ["A"], "level": ["senior"]})
    plan2 = propose_targets(data, _dist(), prm, vacancies=vac)
    a = plan2.reps[plan2.reps.region == "A"].set_index("rep_id")
    # r1 senior (cap 3) and a vacant senior territory at 70% (cap 2.1): 3 : 2.1
    qa = plan2.regions.set_index("region").loc["A", "quota"]
    assert abs(a.loc["r1", "quota"] - qa * 3 / 5.1) <= 100
    with pytest.raises(ValueError, match="unknown region"):
        propose_targets(data, _dist(), prm, vacancies=pd.DataFrame({"region": ["Z"], "level": ["junior"]}))


def test_growth_target_hand_example_and_below_p50_is_reported():
    data = _toy()
    dist = _dist()
    # LY quarter 2026Q1: 90 days x (1000+500+300+700) = 225,000; growth 10% -> 247,500
    prm = TargetParams(quarter="2027Q1", growth=0.10, pipeline_rule="none")
    plan = propose_targets(data, dist, prm)
    c = plan.company.iloc[0]
    assert c["last_year"] == pytest.approx(225_000.0)
    assert c["method"] == "growth" and c["target"] == 247_500.0
    # the paths' P50 is ~240,000 (150k + 90k): the growth target lies above it
    assert c["below_p50"] == 0.0
    low = propose_targets(data, dist, TargetParams(quarter="2027Q1", growth=-0.20, pipeline_rule="none",
                                                   min_growth=-0.5))
    cl = low.company.iloc[0]
    # 225,000 x 0.8 = 180,000, below the P50 by P50 - 180,000 (about 60,000), and a note says so
    p50 = float(np.median(dist.totals("company")["total"]))
    assert cl["target"] == 180_000.0 and cl["below_p50"] == pytest.approx(p50 - 180_000.0)
    assert any("below the P50" in n for n in low.notes)


def test_pipeline_new_customers_rule_counts_only_new_accounts():
    data = _toy()
    opps = pd.DataFrame({
        "opportunity_id": ["o1", "o2"], "customer_id": ["c5", "c1"], "rep_id": ["r1", "r1"],
        "created_date": pd.to_datetime(["2026-12-01", "2026-12-01"]), "amount": [10_000.0, 50_000.0],
        "stage": ["A", "A"], "outcome": ["open", "open"], "closed_date": pd.NaT})
    sh = pd.DataFrame({"opportunity_id": ["o1", "o2"], "stage": ["A", "A"],
                       "entered_date": pd.to_datetime(["2026-12-20", "2026-12-20"])})
    cust = pd.concat([data.customers, pd.DataFrame({"customer_id": ["c5"], "name": ["n5"], "region": ["B"]})])
    from dataclasses import replace
    data = replace(data, customers=cust, opportunities=opps, stage_history=sh).coerced()
    rates = FunnelRates.from_mapping({s: 0.5 for s in "EDCBA"}, {s: 10.0 for s in "EDCBA"}, 10_000.0)
    prm = TargetParams(quarter="2027Q1", growth=None, pipeline_rule="new_customers", pipeline_weights="stage")
    plan = propose_targets(data, _dist(), prm, funnel_rates=rates)
    # only c5 (no order before as_of) counts: 10,000 * P(win | A) = 10,000 * 0.5 = 5,000, in region B
    assert plan.company.iloc[0]["pipeline_increment"] == pytest.approx(5_000.0)
    assert plan.regions.set_index("region").loc["B", "pipeline_increment"] == pytest.approx(5_000.0)


def test_attainment_odds_calibrated_on_known_process():
    # region quarter totals ~ N(mu, sd) independent: company ~ N(240k, sqrt(15k^2+12k^2))
    S = 4000
    dist = _dist(S=S, seed=3)
    prm = TargetParams(quarter="2027Q1", growth=None, target_probability=0.6, floor_at_p50=False,
                       pipeline_rule="none", rounding_unit=100)
    plan = propose_targets(_toy(), dist, prm)
    c = plan.company.iloc[0]
    mu, sd = 240_000.0, np.hypot(15_000.0, 12_000.0)
    p_true = 1 - stats.norm.cdf((c["target"] - mu) / sd)
    # quantile estimate from S=4000 paths: coverage s.e. sqrt(.24/4000) = .008; rounding to 100
    # moves P by < 100 * pdf(0.25 sd)/sd ~ .002 -> tolerance .03 (> 3 s.e.)
    assert abs(p_true - 0.6) < 0.03
    assert abs(c["p_attain_target"] - p_true) < 0.03
    # every region target's odds match the true normal probability
    reg = plan.regions.set_index("region")
    for r, m, s in (("A", 150_000.0, 15_000.0), ("B", 90_000.0, 12_000.0)):
        pt = 1 - stats.norm.cdf((reg.loc[r, "target"] - m) / s)
        assert abs(reg.loc[r, "p_attain_target"] - pt) < 0.03
    # fresh quarters from the same process: hit rate of the company target (N=4000 -> s.e. .008)
    rng = np.random.default_rng(99)
    fresh = rng.normal(150_000, 15_000, 4000) + rng.normal(90_000, 12_000, 4000)
    assert abs((fresh >= c["target"]).mean() - 0.6) < 0.035


def _demo_region_paths(company, seeds):
    sp = company.future_revenue_paths(seeds, months=3)
    assert list(sp.dates) == list(MONTHS)
    return list(sp.series), sp.array(("path", "series", "time"))  # S x R x 3


@pytest.fixture(scope="module")
def demo():
    synthetic = pytest.importorskip("salesplan.demo.generator")
    company = synthetic.generate(seed=7, scale=DEMO_SCALE, as_of="2026-12-31")
    regions, paths = _demo_region_paths(company, range(DEMO_QUARTERS))
    return company, regions, paths


def test_attainment_odds_calibrated_on_demo_company_truth(demo):
    """Targets proposed at P = 0.6 from the true process are met in ~60% of new quarters.

    5-fold cross-fit over 200 simulated quarters: targets from 160 paths, judged on the 40
    held out.  s.e. of the hit rate: binomial sqrt(.6*.4/200) = .035, plus the error of an
    empirical quantile from 160 paths (coverage s.e. sqrt(.24/160) = .039 per fold, ~.02
    averaged over 5 folds) -> total ~.04; tolerance 3 s.e. = .12.
    """
    company, regions, paths = demo
    S = paths.shape[0]
    folds = np.array_split(np.random.default_rng(0).permutation(S), 5)
    hits, reg_pred, reg_hit = [], [], []
    for test_idx in folds:
        train = np.setdiff1d(np.arange(S), test_idx)
        dist = QuarterDistribution.from_arrays(
            MONTHS, regions={r: paths[train, i, :] for i, r in enumerate(regions)})
        prm = TargetParams(quarter="2027Q1", growth=None, target_probability=0.6, floor_at_p50=False,
                           pipeline_rule="none")
        plan = propose_targets(company.data, dist, prm)
        t = plan.company.iloc[0]["target"]
        hits.extend(paths[test_idx].sum(axis=(1, 2)) >= t)
        reg = plan.regions.set_index("region")
        for i, r in enumerate(regions):
            reg_pred.append(reg.loc[r, "p_attain_target"])
            reg_hit.append((paths[test_idx, i, :].sum(axis=1) >= reg.loc[r, "target"]).mean())
    rate = float(np.mean(hits))
    assert abs(rate - 0.6) < 0.12, rate
    # the odds reported for the (decomposed, capped) region targets are calibrated too:
    # mean predicted vs mean realised over 6 regions x 5 folds
    assert abs(np.mean(reg_pred) - np.mean(reg_hit)) < 0.08


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match=r"growth=-1.5"):
        TargetParams(quarter="2027Q1", growth=-1.5)
    with pytest.raises(ValueError, match=r"over_assignment=0.9"):
        TargetParams(quarter="2027Q1", over_assignment=0.9)
    with pytest.raises(ValueError, match="quarter"):
        TargetParams(quarter="2027Q5")
    with pytest.raises(ValueError, match=r"board_target=-5"):
        TargetParams(quarter="2027Q1", board_target=-5)
    with pytest.raises(ValueError, match=r"band_low=1.2"):
        TargetParams(quarter="2027Q1", band_low=1.2)
    with pytest.raises(ValueError, match=r"fiscal_year_start_month=13"):
        TargetParams(quarter="2027Q1", fiscal_year_start_month=13)
    with pytest.raises(ValueError, match="min_growth"):
        TargetParams(quarter="2027Q1", min_growth=0.5, max_growth=0.1)
    with pytest.raises(ValueError, match="level_weights"):
        TargetParams(quarter="2027Q1", level_weights={"junior": 1, "senior": 1, "intern": 1})
    data, dist = _toy(), _dist()
    with pytest.raises(ValueError, match="unknown region"):
        propose_targets(data, dist, TargetParams(quarter="2027Q1", regions=("A", "Nowhere")))
    with pytest.raises(ValueError, match="empty roster"):
        propose_targets(data, dist, TargetParams(quarter="2027Q1"), roster=data.reps.iloc[0:0])
    with pytest.raises(ValueError, match="outside the forecast"):
        propose_targets(data, dist, TargetParams(quarter="2027Q2"))
    with pytest.raises(ValueError, match="outside the data"):
        d19 = QuarterDistribution.from_arrays(pd.date_range("2019-01-01", periods=3, freq="MS"),
                                              regions={"A": np.ones((5, 3))})
        propose_targets(data, d19, TargetParams(quarter="2019Q1"))
    with pytest.raises(ValueError, match="caps are infeasible"):
        propose_targets(data, dist, TargetParams(quarter="2027Q1", growth=3.0, max_growth=0.1))
    with pytest.raises(ValueError, match="unknown region"):
        propose_targets(data, QuarterDistribution.from_arrays(MONTHS, regions={"Z": np.ones((5, 3))}),
                        TargetParams(quarter="2027Q1"))


def test_odds_flags_smart_and_rep_share():
    data = _toy()
    prm = TargetParams(quarter="2027Q1", growth=0.5, pipeline_rule="none", max_growth=2.0)
    plan = propose_targets(data, _dist(), prm)
    c = plan.company.iloc[0]
    assert c["p_attain_target"] < 0.30 and c["odds_flag"] == "stretch"
    sm = plan.smart.set_index(["level", "entity"])
    assert not sm.loc[("company", "total"), "achievable"] and not sm.loc[("company", "total"), "smart"]
    assert sm["relevant"].all() and sm["specific"].all() and sm["time_bound"].all()
    # a very stretched plan: few reps reach quota, outside the 55-70% band
    assert c["rep_share_at_quota"] < 0.55 and not c["share_band_ok"]
    easy = propose_targets(data, _dist(), TargetParams(quarter="2027Q1", growth=-0.5,
                                                       pipeline_rule="none", min_growth=-0.9))
    assert easy.company.iloc[0]["odds_flag"] == "sandbag"


def test_rep_share_correlated_within_region():
    # a region common factor makes the share of reps at quota spread out across paths
    data = _toy()
    plan = propose_targets(data, _dist(), TargetParams(quarter="2027Q1", growth=None, pipeline_rule="none",
                                                       over_assignment=1.0, rep_noise_sd=0.05))
    sh = plan.rep_share_paths
    real = plan.reps[~plan.reps.vacant]
    p = real["p_attain_quota"].to_numpy()
    # if reps were independent: sd of the share = sqrt(sum p(1-p)) / n
    sd_indep = np.sqrt((p * (1 - p)).sum()) / len(p)
    # perfect correlation within the two regions (3 + 2 reps) would give ~.36, independence ~.22
    assert sh.std() > 1.25 * sd_indep
    assert sh.mean() == pytest.approx(p.mean())


def test_scenarios_and_workbook(tmp_path):
    data, dist = _toy(), _dist()
    base = TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none")
    table = compare_scenarios(data, dist, default_scenarios(base))
    assert list(table.columns) == ["conservative", "base", "stretch"]
    t = table.loc["company_target"]
    assert t["conservative"] < t["base"] < t["stretch"]
    plan = propose_targets(data, dist, base)
    # the plan already made for the base scenario is used as it is: the same table
    pd.testing.assert_frame_equal(compare_scenarios(data, dist, default_scenarios(base), plans={"base": plan}), table)
    path = tmp_path / "plan.xlsx"
    write_plan_workbook(plan.tables(), path)
    from openpyxl import load_workbook
    wb = load_workbook(path)
    assert wb.sheetnames[:3] == ["Plan company", "Plan regions", "Plan reps"]  # tests/test_workbook.py
    assert wb.sheetnames[3:9] == ["Company", "Bridge", "Regions", "Reps", "Products", "Months"]
    assert wb.sheetnames[-2:] == ["Assumptions", "salesplan"]  # the hidden meta sheet last
    ws = wb["Company"]
    hdr = [c.value for c in ws[1]]
    assert ws.cell(row=2, column=hdr.index("target") + 1).value == plan.company.iloc[0]["target"]
    assert ws.cell(row=2, column=hdr.index("target") + 1).number_format == "#,##0"
    assert ws.cell(row=2, column=hdr.index("p_attain_target") + 1).number_format == "0.0%"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.xlsx"]  # no temp file left


def test_forecast_adapter_long_paths():
    rng = np.random.default_rng(0)
    rows = []
    for uid in ("total", "region=A", "region=B", "region=A|rep_id=r1"):
        for s in range(10):
            for m in pd.date_range("2027-01-01", periods=4, freq="MS"):
                rows.append((uid, m, s, rng.uniform(1, 2)))
    long = pd.DataFrame(rows, columns=["unique_id", "ds", "sample", "y"])
    d = quarter_paths_from_forecast(long)
    assert str(d.quarter) == "2027Q1" and d.n_paths == 10
    assert d.levels == ("company", "region", "rep")
    assert d.nodes("rep") == ["r1"]
    exp = long[(long.unique_id == "region=A") & (long.ds < "2027-04-01")].groupby("sample")["y"].sum()
    assert np.allclose(d.totals("region")["A"].to_numpy(), exp.to_numpy())


def test_forecast_adapter_hierarchy_forecast_object():
    # duck-typed HierarchyForecast: nodes, paths (nodes, paths, h), forecast with ds per node
    class HF:
        pass

    hf = HF()
    hf.nodes = pd.DataFrame({"unique_id": ["total", "region=A", "region=B"]})
    rng = np.random.default_rng(1)
    b = rng.uniform(1, 2, (2, 50, 3))
    hf.paths = np.concatenate([b.sum(axis=0, keepdims=True), b])
    hf.forecast = pd.DataFrame({"unique_id": np.repeat(hf.nodes.unique_id, 3),
                                "ds": np.tile(MONTHS.to_numpy(), 3)})
    d = quarter_paths_from_forecast(hf)
    assert d.n_paths == 50 and d.nodes("region") == ["A", "B"]
    assert np.allclose(d.totals("company")["total"], b.sum(axis=(0, 2)))


def test_forecast_adapter_sample_paths_sums_a_rep_of_two_regions():
    # dated SamplePaths (built from the arrays, no long frame): rep r1 sells in regions A and B,
    # so its cube is the sum of both series; the fourth month is outside 2027Q1 and dropped
    from salesplan.data.paths import SamplePaths

    ids = ["total", "region=A", "region=B", "region=A|rep_id=r1", "region=B|rep_id=r1", "other_key=x"]
    vals = np.arange(len(ids) * 2 * 4, dtype=float).reshape(len(ids), 2, 4) + 0.25
    sp = SamplePaths(vals, ids, pd.date_range("2027-01-01", periods=4, freq="MS"))
    d = quarter_paths_from_forecast(sp)
    assert str(d.quarter) == "2027Q1" and d.n_paths == 2
    assert d.nodes("rep") == ["r1"] and d.nodes("region") == ["A", "B"]
    # path 0, January: series 3 holds 24.25 .. and series 4 holds 32.25 ..
    assert d.cube("rep")[0, 0, :].tolist() == [24.25 + 32.25, 25.25 + 33.25, 26.25 + 34.25]
    assert d.cube("company")[1, 0, :].tolist() == [4.25, 5.25, 6.25]
    # the long frame of the same paths gives the same cubes, bit for bit
    f = quarter_paths_from_forecast(sp.to_frame())
    for lv in ("company", "region", "rep"):
        assert f.nodes(lv) == d.nodes(lv) and np.array_equal(f.cube(lv), d.cube(lv))


def test_quarter_distribution_frame_checks_stay_one_line():
    fr = QuarterDistribution.from_arrays(MONTHS, company=np.ones((3, 3))).to_frame()
    with pytest.raises(ValueError, match="duplicate row level='company' node='total'"):
        QuarterDistribution(pd.concat([fr, fr.iloc[[4]]], ignore_index=True))
    with pytest.raises(ValueError, match="lack some month x path values"):
        QuarterDistribution(fr.iloc[1:])
    with pytest.raises(ValueError, match="unknown level"):
        QuarterDistribution(fr.assign(level="nation"))


def _old_layout_frame(d: QuarterDistribution) -> pd.DataFrame:
    """The long frame as the code before issue #19 wrote it: object text, datetime months,
    int64 paths, one block per level (path, node, month order)."""
    out = []
    for lv in d.levels:
        arr = d.cube(lv)
        S, N, M = arr.shape
        out.append(pd.DataFrame({
            "level": lv, "node": np.repeat(np.asarray(d.nodes(lv), dtype=object), M)[None, :].repeat(S, 0).ravel(),
            "month": np.tile(d.months.to_numpy(), S * N), "path": np.repeat(np.arange(S), N * M),
            "value": arr.ravel()}))
    return pd.concat(out, ignore_index=True)


def _same_distribution(a: QuarterDistribution, b: QuarterDistribution) -> bool:
    return (a.levels == b.levels and list(a.months) == list(b.months) and a.n_paths == b.n_paths
            and all(a.nodes(lv) == b.nodes(lv) and np.array_equal(a.cube(lv), b.cube(lv)) for lv in a.levels))


def _small_distribution() -> QuarterDistribution:
    rng = np.random.default_rng(3)
    return QuarterDistribution.from_arrays(
        MONTHS, regions={"West": rng.normal(size=(4, 3)), "East": rng.normal(size=(4, 3))},
        reps={"R2": rng.normal(size=(4, 3)), "R10": rng.normal(size=(4, 3)), "R1": rng.normal(size=(4, 3))})


def test_quarter_distribution_compact_frame():
    d = _small_distribution()
    fr = d.to_frame()
    assert {c: str(t) for c, t in fr.dtypes.items()} == {
        "level": "category", "node": "category", "month": "category", "path": "int16", "value": "float64"}
    old = _old_layout_frame(d)
    # the same rows, values and order as the plain long frame
    plain = fr.astype({"level": object, "node": object, "month": "datetime64[ns]", "path": "int64"})
    pd.testing.assert_frame_equal(plain, old, check_exact=True)
    keys = ["level", "node", "month", "path"]
    np.testing.assert_array_equal(fr.sort_values(keys, kind="stable")["value"].to_numpy(),
                                  old.sort_values(keys, kind="stable")["value"].to_numpy())
    assert fr["level"].tolist()[:12] == ["company"] * 12 and fr["node"].iloc[12] == "East"
    # read back: the compact frame, the plain frame (stores written before) and any row order
    for frame in (fr, old, fr.sample(frac=1, random_state=0), old.sample(frac=1, random_state=1)):
        assert _same_distribution(QuarterDistribution(frame), QuarterDistribution(old))
    back = QuarterDistribution(fr)
    assert back.nodes("rep") == ["R1", "R10", "R2"]
    assert np.array_equal(back.cube("rep")[:, 1, :], d.cube("rep", ["R10"])[:, 0, :])


def test_quarter_distribution_without_reps():
    """``without_reps`` = the long frame without its rep rows, read back (the route it replaces):
    the same levels, nodes, cubes and company flag; the rep cubes are not shared."""
    d = _small_distribution()  # regions and reps, the company summed from the regions
    via_frame = QuarterDistribution(_old_layout_frame(d).query("level != 'rep'"))
    got = d.without_reps()
    assert got.levels == ("company", "region") and _same_distribution(got, via_frame)
    assert got.company_from_regions == via_frame.company_from_regions
    assert got.nodes("region") == ["East", "West"]
    got.cube("region")[:] = 0.0  # its own arrays: the original is untouched
    assert not np.array_equal(d.cube("region"), got.cube("region"))
    # a company-only forecast: the company paths also stand for one region
    rng = np.random.default_rng(5)
    only = QuarterDistribution.from_arrays(MONTHS, company=rng.normal(size=(4, 3)),
                                           reps={"R1": rng.normal(size=(4, 3))})
    frame = _old_layout_frame(only).query("level != 'rep'")
    stand_in = pd.concat([frame, frame.assign(level="region", node="(no region)")], ignore_index=True)
    got = only.without_reps(stand_in_region="(no region)")
    assert _same_distribution(got, QuarterDistribution(stand_in))
    assert np.array_equal(got.cube("region")[:, 0, :], only.cube("company")[:, 0, :])
    assert only.without_reps().levels == ("company",)


def test_quarter_distribution_compact_frame_checks():
    fr = _small_distribution().to_frame()
    with pytest.raises(ValueError, match="duplicate row level='rep' node='R2'"):
        QuarterDistribution(pd.concat([fr, fr.iloc[[len(fr) - 1]]], ignore_index=True))
    with pytest.raises(ValueError, match="level 'region' node.*lack some month x path values"):
        QuarterDistribution(fr.drop(index=20))
    with pytest.raises(ValueError, match="missing or non-finite"):
        QuarterDistribution(fr.assign(value=fr["value"].where(fr.index != 7)))
    with pytest.raises(ValueError, match="exactly three consecutive months"):
        QuarterDistribution(fr[fr["month"] != MONTHS[1]])
    # a level filtered away keeps its category but has no rows: not a level of the paths
    assert QuarterDistribution(fr[fr["level"] != "rep"]).levels == ("company", "region")


def test_quarter_distribution_round_trip_through_plan_store(tmp_path):
    from salesplan.data import PlanStore

    d = _small_distribution()
    store = PlanStore(f"duckdb:///{tmp_path}/plans.duckdb")
    new = store.write_run("forecast", "2027Q1", {}, None, {"paths": d.to_frame()})
    old = store.write_run("forecast", "2027Q1", {}, None, {"paths": _old_layout_frame(d)})  # earlier layout
    for run_id in (new, old):
        back = QuarterDistribution(store.read_run(run_id).tables["paths"])
        assert _same_distribution(back, d)
    pd.testing.assert_frame_equal(store.read_run(new).tables["paths"], d.to_frame(), check_exact=True)
    store.dispose()


def test_week_splits_of_many_rows_hand_example():
    from salesplan.planning.targets import _day_weights, _week_split, _week_splits

    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    dayw = _day_weights(months, (1.0,) * 7)
    # 10 a day in every month (310 / 31, 280 / 28, 310 / 31): 2027-01-01 is a Friday, so the
    # week of Mon 2026-12-28 holds 3 days (30), 12 full weeks 70, the week of Mon 2027-03-29 3 days
    out = _week_splits(np.array([[310.0, 280.0, 310.0], [0.0, 0.0, 0.0]]), months, dayw)
    assert out.shape == (2, 14)
    assert out[0] == pytest.approx([30.0] + [70.0] * 12 + [30.0]) and (out[1] == 0).all()
    # each row is the one-row split, value for value
    rows = np.random.default_rng(3).random((7, 3)) * 1e5
    wk = _day_weights(months, (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0))
    many = _week_splits(rows, months, wk)
    assert all(np.array_equal(many[j], _week_split(rows[j], months, wk).to_numpy()) for j in range(7))


def test_scenarios_share_one_plan_basis_and_match_separate_plans(monkeypatch):
    # conservative and stretch share one plan_basis (same basis_key); every plan made on it
    # equals the plan propose_targets makes alone, notes included, and the basis is not changed
    data, dist = _toy(), _dist()
    base = TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none")
    sc = default_scenarios(base)
    assert basis_key(sc["conservative"]) == basis_key(sc["stretch"]) == basis_key(base)
    basis = plan_basis(data, dist, base)
    notes_before = list(basis.scope.notes)
    for prm in sc.values():
        alone, shared = propose_targets(data, dist, prm), _propose_on(basis, prm, None)
        for name, table in alone.tables().items():
            pd.testing.assert_frame_equal(shared.tables()[name], table, check_exact=True)
        assert shared.notes == alone.notes
    assert basis.scope.notes == notes_before
    with pytest.raises(ValueError, match="other parameters"):
        _propose_on(basis, replace(base, band_low=0.7), None)
    table = compare_scenarios(data, dist, sc)
    assert table.loc["company_target", "stretch"] == propose_targets(data, dist, sc["stretch"]).company.iloc[0]["target"]
    # the plan's own basis given (propose_targets_and_basis): no basis made again, the same table
    plan, own = propose_targets_and_basis(data, dist, base)
    made = []
    monkeypatch.setattr(tg, "plan_basis", lambda *a, **k: made.append(1) or plan_basis(*a, **k))
    given = compare_scenarios(data, dist, sc, plans={"base": plan}, bases=[own])
    assert made == []
    pd.testing.assert_frame_equal(given, table, check_exact=True)
    for name, t in propose_targets(data, dist, base).tables().items():
        pd.testing.assert_frame_equal(plan.tables()[name], t, check_exact=True)
