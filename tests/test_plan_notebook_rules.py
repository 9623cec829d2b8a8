"""The rules that the targets (04) and resource (05) notebooks used to compute in cells,
now package functions: expected values are worked out by hand here."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from salesplan.data import PlanStore, SalesData
from salesplan.planning.allocation.quarter import status_quo_spend
from salesplan.planning.commission import rep_sales_paths
from salesplan.planning.context import PlanContext
from salesplan.planning.features import PlanFeatures, monitor_context, plan_features, quarter_plan
from salesplan.planning.targets import TargetParams
from salesplan.reports import targets_view as tv
from salesplan.reports.inputs import MissingTargets, plan_targets
from salesplan.reports.notebook_params import check_notebook_parameters


def _orders(start: str, end: str = "2026-12-31") -> pd.DataFrame:
    days = pd.date_range(start, end, freq="D")
    return pd.DataFrame({"order_id": [f"o{i}" for i in range(len(days))], "order_date": days,
                         "customer_id": ["c1", "c2"] * (len(days) // 2) + ["c1"] * (len(days) % 2),
                         "rep_id": "r1", "product_line": "p", "quantity": 1, "amount": 100.0})


def _customers(*regions) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["c1", "c2"], "region": list(regions)})


# --------------------------------------------------------------------------- budget


def test_status_quo_spend_is_three_times_the_mean_month_of_the_last_year():
    months = pd.date_range("2025-01-01", "2026-12-01", freq="MS")
    spend = pd.DataFrame({"region": "A", "month": months, "amount": np.arange(1.0, len(months) + 1)})
    got = status_quo_spend(spend, "2026-06-30", ["A", "B"])
    # months 2025-07 .. 2026-06 are the 7th..18th: amounts 7..18, mean 12.5, x 3
    assert got.to_dict() == {"A": 37.5, "B": 0.0} and got.name == "spend"


# --------------------------------------------------------------------------- commission


def test_rep_sales_are_the_regions_path_times_the_quota_share_times_a_mean_one_factor():
    region_paths = np.array([[[100.0, 200.0, 300.0], [50.0, 50.0, 50.0]],
                             [[10.0, 20.0, 30.0], [5.0, 5.0, 5.0]]])  # (S=2, G=2: A, B, M=3)
    quota = np.array([[1.0, 1.0, 3.0], [3.0, 1.0, 1.0], [7.0, 7.0, 7.0]])  # reps a1, a2 in A; b1 in B
    exact = rep_sales_paths(region_paths, ["A", "A", "B"], quota, noise_sd=0.0, seed=0)
    assert exact[0, 0].tolist() == [25.0, 100.0, 225.0]  # shares 1/4, 1/2, 3/4 of A
    assert exact[1, 1].tolist() == [7.5, 10.0, 7.5]
    assert exact[:, 2].tolist() == region_paths[:, 1].tolist()  # the only rep of B
    sd, seed = 0.3, 11
    z = np.random.default_rng(seed).standard_normal((2, 3))
    noisy = rep_sales_paths(region_paths, ["A", "A", "B"], quota, noise_sd=sd, seed=seed)
    np.testing.assert_allclose(noisy, exact * np.exp(sd * z - sd * sd / 2)[:, :, None], rtol=1e-12)


# --------------------------------------------------------------------------- features


def test_features_of_a_full_company():
    data = SalesData(orders=_orders("2024-01-01"), customers=_customers("A", "B"),
                     reps=pd.DataFrame({"rep_id": ["r1"], "region": ["A"]}),
                     opportunities=pd.DataFrame({"opportunity_id": ["x1"]}))
    f = plan_features(PlanContext.build(data, "2027Q1"))
    assert (f.last_year, f.rep_quotas, f.region_split, f.funnel, dict(f.notes)) == (True, True, True, True, {})


def test_features_of_a_minimal_company_are_off_with_a_note_each():
    data = SalesData(orders=_orders("2026-02-01"), customers=_customers("A", "A"))
    f = plan_features(PlanContext.build(data, "2027Q1"))
    assert (f.last_year, f.rep_quotas, f.region_split) == (False, False, False)
    assert f.notes["last_year"].startswith("The history starts 2026-02-01, after the start of 2026Q1")
    assert "no reps table" in f.notes["rep_quotas"]
    assert f.notes["region_split"].startswith("The company has one region (A)")
    assert not f.funnel and f.notes["funnel"].startswith("The data have no opportunities table: the funnel ")
    # the history starting in the first month of last year's quarter is enough
    data = SalesData(orders=_orders("2026-01-20"), customers=_customers("A", "B"))
    assert plan_features(PlanContext.build(data, "2027Q1")).last_year


def test_growth_without_last_years_quarter_is_refused_in_one_line():
    data = SalesData(orders=_orders("2026-02-01"), customers=_customers("A", "B"))
    ctx = PlanContext.build(data, "2027Q1")
    with pytest.raises(ValueError, match=r"^growth=0.1: the data do not cover 2026Q1 .*growth rule is not "
                                         r"available; give board_target or leave growth empty$"):
        quarter_plan(ctx, None, TargetParams(quarter="2027Q1", growth=0.1), PlanFeatures(False, True, True))


def test_an_orders_only_company_plans_itself_as_one_region_without_a_funnel():
    """No customers (so no region in the forecast), no reps, no opportunities: the company's
    paths stand for one region '(none)' that holds the whole target; no rep rows, no funnel."""
    from salesplan.planning.targets import QuarterDistribution

    data = SalesData(orders=_orders("2024-01-01"))
    ctx = PlanContext.build(data, "2027Q1")
    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    values = np.array([[2900.0, 3000.0, 3100.0], [3900.0, 4000.0, 4100.0]])  # two paths: 9,000 and 12,000
    frame = pd.DataFrame({"level": "company", "node": "total", "month": np.tile(months, 2),
                          "path": np.repeat([0, 1], 3), "value": values.ravel()})
    features = plan_features(ctx)
    assert (features.rep_quotas, features.region_split, features.funnel) == (False, False, False)
    plan, funnel_regions = quarter_plan(ctx, QuarterDistribution(frame),
                                        TargetParams(quarter="2027Q1", board_target=30000.0), features)
    assert funnel_regions is None and plan.funnel is None and len(plan.reps) == 0
    assert plan.company["target"].iloc[0] == 30000.0  # the board's number, far above last year's 9,000
    # the one region holds it whole: its growth caps (x1.6 of last year at most) split nothing
    assert plan.regions["region"].tolist() == ["(none)"] and plan.regions["target"].tolist() == [30000.0]


def test_the_monitoring_quarter_is_the_last_complete_one_with_a_year_before_it():
    full = PlanContext.build(SalesData(orders=_orders("2024-01-01"), customers=_customers("A", "B")), "2027Q1")
    m = monitor_context(full)
    assert (str(m.quarter), m.history_end) == ("2026Q4", pd.Timestamp("2026-09-30"))
    # data ending mid-quarter: the last complete quarter is 2026Q3
    mid = PlanContext.build(SalesData(orders=_orders("2024-01-01", "2026-11-15"),
                                      customers=_customers("A", "B")), "2027Q1")
    assert str(monitor_context(mid).quarter) == "2026Q3"
    short = PlanContext.build(SalesData(orders=_orders("2026-02-01"), customers=_customers("A", "B")), "2027Q1")
    assert monitor_context(short) is None  # 2026-02 .. 2026-09: 8 months before 2026Q4


# --------------------------------------------------------------------------- presentation


def _company(**kw):
    row = dict(method="probability", last_year=0.0, forecast_p50=1000.0, forecast_p10=800.0, forecast_p90=1200.0,
               pipeline_increment=100.0, bottom_up=1100.0, target=1200.0, stretch=100.0, below_p50=0.0,
               growth_vs_ly=np.nan, quota=1200.0, over_assignment=1.0, p_attain_target=0.6, p_attain_quota=0.6,
               rep_share_at_quota=np.nan, n_vacancies=0)
    row.update(kw)
    return pd.DataFrame([row])


def test_bridge_without_last_year_starts_at_the_forecast():
    from salesplan.planning.targets import target_bridge

    company = _company()
    plan = SimpleNamespace(bridge=target_bridge(company, "2027Q1", "2026Q1"))
    assert tv.bridge_rows(plan, True) is plan.bridge
    br = tv.bridge_rows(plan, False)
    assert br["step"].tolist() == ["carry-on forecast (P50)", "pipeline not in the forecast", "stretch",
                                   "target 2027Q1", "over-assignment", "sum of quotas"]
    assert br["kind"].iloc[0] == "total" and br["amount"].tolist() == [1000.0, 100.0, 100.0, 1200.0, 0.0, 1200.0]
    assert br["cumulative"].tolist() == [1000.0, 1100.0, 1200.0, 1200.0, 1200.0, 1200.0]


def test_headlines_without_reps_or_last_year_leave_those_parts_out():
    plan = SimpleNamespace(company=_company(), regions=pd.DataFrame({"odds_flag": ["", "stretch"]}),
                           reps=pd.DataFrame())
    answer, figures = tv.targets_headlines(
        plan, quarter_name="2027Q1", ly_name="2026Q1", m=tv.money_in("USD"), cur="USD", growth=None,
        target_probability=0.6, band=(0.8, 1.5), healthy=(0.55, 0.7), last_year=False)
    assert answer == ("Commit the company to USD 1.2 k in 2027Q1 (the target met with probability 60%), a 60% "
                      "chance of being met. No rep quotas: the data have no reps table; region targets add up "
                      "to the company target.")
    assert "Growth on 2026Q1" not in figures and "Vacancies" not in figures
    assert figures["Targets flagged (low or high odds)"] == "1 regions"


def test_how_the_target_was_set_in_words():
    c = {"method": "growth"}
    assert tv.how_set(c, 0.1, 0.6, "2026Q1") == "+10.0% on 2026Q1"
    assert tv.how_set({"method": "probability, floored at P50"}, None, 0.6, "x").startswith(
        "set at the median forecast: the 60%-probability figure")


@pytest.mark.parametrize("row, words", [
    (dict(status="house_accounts", vacant=True), "accounts without a current rep (held by the manager)"),
    (dict(status="region_without_rep", vacant=True), "region without a rep (held by the manager)"),
    (dict(status="vacancy", vacant=True), "vacancy (held by the manager)"),
    (dict(status="no_book", vacant=False), "no own forecast: review the territory"),
    (dict(status="", vacant=False, ramp_avg=0.5), "new hire ramping (50% productive)"),
    (dict(status="", vacant=False, ramp_avg=1.0, presence=0.25), "in post 25% of the quarter"),
    (dict(status="", vacant=False, ramp_avg=1.0, presence=1.0, established=False, history_quarters=2),
     "2 quarters in post: by capacity"),
    (dict(status="", vacant=False, ramp_avg=1.0, presence=1.0, established=True), ""),
])
def test_rep_situation_in_words(row, words):
    assert tv.rep_situation(row) == words


# --------------------------------------------------------------------------- parameters and inputs


def test_targets_and_resources_parameters_are_checked_with_their_pair_rules():
    from salesplan.reports.params import ParameterError

    good = dict(period="2027Q1", source="duckdb:///x", plan_store=None, board_target=None, growth=None,
                target_probability=0.6, pipeline_weights="stage", over_assignment=None, band_low=0.8, band_high=1.5,
                min_history_quarters=4, weight_own_forecast=0.6, weight_recent=0.2, weight_capacity=0.2,
                odds_low=0.3, odds_high=0.9, healthy_low=0.55, healthy_high=0.7, ramp_months=5,
                rounding_unit=100.0, fiscal_year_start_month=1, currency="USD", monitor_tolerance=0.15, seed=0,
                quota_overrides=None, cache_dir=None)
    assert set(check_notebook_parameters("04_quarterly_targets", good)) == set(good)
    with pytest.raises(ParameterError, match=r"parameter 'odds_low' = 0.95 must be below 'odds_high' = 0.9"):
        check_notebook_parameters("04_quarterly_targets", {**good, "odds_low": 0.95})
    with pytest.raises(ParameterError, match=r"'healthy_low' = 0.8 must be below 'healthy_high' = 0.7"):
        check_notebook_parameters("04_quarterly_targets", {**good, "healthy_low": 0.8})
    with pytest.raises(ParameterError, match=r"parameter 'seed' is missing"):
        check_notebook_parameters("04_quarterly_targets", {k: v for k, v in good.items() if k != "seed"})
    with pytest.raises(ParameterError, match=r"quota_overrides"):
        check_notebook_parameters("04_quarterly_targets", {**good, "quota_overrides": [1, 2]})


def test_the_resource_notebook_stops_without_targets_and_reads_the_forecast_they_used(tmp_path):
    url = f"duckdb:///{tmp_path / 'plans.duckdb'}"
    ctx = PlanContext.build(SalesData(orders=_orders("2024-01-01"), customers=_customers("A", "B")), "2027Q1",
                            input_fingerprint="fp")
    with pytest.raises(MissingTargets, match=r"^no targets for 2027Q1 on this data in the plan store: run "
                                             r"04_quarterly_targets first"):
        plan_targets(ctx, url)
    store = PlanStore(url)
    paths = pd.DataFrame({"level": "company", "node": "total", "month": pd.date_range("2027-01-01", periods=3,
                                                                                     freq="MS").repeat(2),
                          "path": [0, 1] * 3, "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    f_run = store.write_run("forecast", "2027Q1", {"seed": 0}, "fp", {"paths": paths})
    company = pd.DataFrame({"target": [9.0]})
    store.write_run("targets", "2027Q1", {"history_end": "2026-09-30", "forecast_run": f_run}, "fp",
                    {"company": company})  # another history: does not qualify
    with pytest.raises(MissingTargets):
        plan_targets(ctx, url)
    t_run = store.write_run("targets", "2027Q1", {"history_end": "2026-12-31", "forecast_run": f_run}, "fp",
                            {"company": company})
    store.dispose()
    run, dist = plan_targets(ctx, url)
    assert run.run_id == t_run and dist.n_paths == 2
    np.testing.assert_allclose(dist.cube("company")[:, 0, :], [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])


def test_the_resource_plan_without_a_roster_stops_in_one_line():
    from salesplan.planning.allocation import CapacityParams
    from salesplan.planning.allocation.quarter import headcount_plan

    data = SalesData(orders=_orders("2024-01-01"), customers=_customers("A", "B"))
    with pytest.raises(ValueError, match=r"^table 'reps' is absent or empty: the resource plan sizes the sales "
                                         r"force from the roster"):
        headcount_plan(pd.DataFrame({"region": ["A"], "target": [1.0]}), pd.DataFrame(), data,
                       "2026-12-31", CapacityParams())


def test_one_region_has_its_status_quo_budget_but_no_split():
    from salesplan.planning.allocation.quarter import marketing_plan

    months = pd.date_range("2025-01-01", "2026-12-01", freq="MS")
    spend = pd.DataFrame({"region": "A", "month": months, "amount": 1000.0})
    data = SalesData(orders=_orders("2024-01-01"), customers=_customers("A", "A"), marketing_spend=spend)
    mk = marketing_plan(data, "2026-12-31", ["A"], gross_margin_rate=0.35, max_change=0.5, split_regions=False)
    assert mk.budget == 3000.0 and mk.status_quo.to_dict() == {"A": 3000.0}
    assert mk.error.startswith("the company has one region") and mk.tables() == {}
    assert marketing_plan(data, "2026-12-31", ["A"], budget=5000.0, gross_margin_rate=0.35, max_change=0.5,
                          split_regions=False).budget == 5000.0
