"""Weekly review: the 15% rule on a hand example, and the landing forecast's calibration
across simulated mid-quarter futures of the demo generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.demo.generator import generate
from salesplan.planning.monitor import MonitorParams, progress
from salesplan.planning.review import (
    LandingParams,
    flag_deviations,
    landing_forecast,
    pace_share,
    pipeline_by_entity,
    pipeline_data_end,
    plan_from_tables,
    revenue_dispersion,
    weekday_profile,
)


def test_15_percent_rule_hand_example():
    t = pd.DataFrame({"expected": [100.0, 100.0, 100.0, 100.0, 0.0],
                      "actual": [84.0, 85.0, 115.0, 116.0, 5.0]})
    got = flag_deviations(t, 0.15)
    # -16% behind; -15% exactly is not "more than 15%"; +15% not; +16% ahead; no plan: no flag
    assert got["flag"].tolist() == ["behind", "", "", "ahead", ""]
    assert got["deviation"].iloc[0] == pytest.approx(-0.16)
    with pytest.raises(ValueError, match="tolerance"):
        flag_deviations(t, 15)


def _hand_plan():
    months = pd.to_datetime(["2027-01-01", "2027-02-01", "2027-03-01"])
    rows = []
    for m in months:
        rows += [("company", "company", None, m, 1000.0, 1100.0),
                 ("region", "East", "East", m, 600.0, 660.0), ("region", "West", "West", m, 400.0, 440.0),
                 ("rep", "r1", "East", m, np.nan, 660.0), ("rep", "r2", "West", m, np.nan, 440.0)]
    tables = {
        "company": pd.DataFrame({"target": [3000.0], "quota": [3300.0], "over_assignment": [1.1]}),
        "reps": pd.DataFrame({"rep_id": ["r1", "r2"], "region": ["East", "West"], "vacant": [False, False],
                              "quota": [1980.0, 1320.0]}),
        "months": pd.DataFrame(rows, columns=["level", "entity", "region", "month", "target", "quota"]),
    }
    return plan_from_tables(tables, "2027Q1")


def test_15_percent_rule_with_root_causes_on_a_hand_plan():
    plan = _hand_plan()
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3"], "order_date": pd.to_datetime(["2027-01-10", "2027-01-20", "2026-01-15"]),
        "customer_id": ["c1", "c2", "c1"], "rep_id": ["r1", "r2", "r1"], "product_line": ["P", "P", "P"],
        "amount": [480.0, 410.0, 100.0]})
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "region": ["East", "West"]})
    # reviewed on 31 January: the whole January plan is due, nothing of February/March
    rep = progress(plan, orders, "2027-01-31", params=MonitorParams(tolerance=0.15), customers=customers)
    s = rep.summary.set_index("entity")
    assert s.loc["total", "expected_to_date"] == pytest.approx(1000.0)
    assert s.loc["total", "deviation"] == pytest.approx(890 / 1000 - 1)  # -11%: no flag
    assert s.loc["total", "flag"] == ""
    assert s.loc["East", "deviation"] == pytest.approx(480 / 600 - 1) and s.loc["East", "flag"] == "behind"
    assert s.loc["West", "flag"] == ""
    assert s.loc["r1", "deviation"] == pytest.approx(480 / 660 - 1) and s.loc["r1", "flag"] == "behind"
    assert s.loc["r2", "flag"] == ""  # 410 / 440 - 1 = -6.8%
    rc = rep.root_causes
    east = rc[(rc["dimension"] == "region") & (rc["entity"] == "East")].iloc[0]
    # gap G = 890 - 1000 = -110; East contributes -120 -> 109% of the gap, rank 1
    assert east["contribution"] == pytest.approx(-120.0)
    assert east["share_of_gap"] == pytest.approx(120 / 110)
    assert east["rank"] == 1


def test_pace_share_hand_example():
    # January 2027 starts on a Friday; Mon-Fri weights: Jan has 21 weekdays, Feb 20, Mar 23.
    months = pd.Series([100.0, 100.0, 100.0], index=pd.to_datetime(["2027-01-01", "2027-02-01", "2027-03-01"]))
    assert pace_share(months, "2027-01-31") == pytest.approx(1 / 3)
    # 8 January (Fri): weekdays 1, 4-8 Jan = 6 of 21
    assert pace_share(months, "2027-01-08") == pytest.approx(6 / 21 / 3)
    assert pace_share(months, "2027-02-14", weekday_weights=(1,) * 7) == pytest.approx((1 + 14 / 28) / 3)


def test_landing_params_validate():
    with pytest.raises(ValueError, match="interval"):
        LandingParams(interval=80)
    with pytest.raises(ValueError, match="pace_error"):
        LandingParams(pace_error=-1)


def _month_totals(frame: pd.DataFrame, months: pd.DatetimeIndex) -> np.ndarray:
    m = frame["order_date"].dt.to_period("M").dt.start_time
    return frame.groupby(m)["amount"].sum().reindex(months, fill_value=0.0).to_numpy()


def test_landing_forecast_80_interval_covers_75_to_85_percent_of_simulated_quarters():
    """20 simulated companies x 20 futures each (n = 400), reviewed on a mid-quarter day
    between 20 January and 10 March.  The forecast the review starts from is the mean of
    20 other simulated futures of the same company (an unbiased forecast, as a good
    forecast is on average); the landing interval is judged on the quarter that the
    future actually produced.

    20 x 20 rather than 40 x 10 (a third less CPU: half the companies and their 20 prior
    futures): the hits do not cluster by company -- on 40 companies x 20 futures the
    intra-company correlation of a hit is -0.008 and the companies' coverages spread as
    binomial noise (sd 0.081 vs 0.089) -- so the 400 hits weigh as 400 independent ones in
    both designs (standard error of the coverage 0.02 at 80%) and the 75-85% criterion
    keeps its power.  Coverage on 40 x 10: 0.795; on these 20 x 20: 0.7925."""
    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    hits, n_companies, n_futures = [], 20, 20
    for c in range(n_companies):
        company = generate(seed=200 + c, scale=0.3)
        hist = company.data.orders
        prior = np.array([_month_totals(company.simulate_future(months=3, seed=5000 + j), months)
                          for j in range(20)])
        fm = pd.DataFrame({"entity": "company", "month": months, "mean": prior.mean(axis=0)})
        cv = pd.Series({"company": prior.sum(axis=1).std(ddof=1) / prior.sum(axis=1).mean()})
        k, _ = revenue_dispersion(hist, "2026-12-31")
        params = LandingParams(weekday_weights=weekday_profile(hist, "2026-12-31"))
        for f in range(n_futures):
            fut = company.simulate_future(months=3, seed=f)
            as_of = pd.Timestamp("2027-01-20") + pd.Timedelta(days=(7 * c + 13 * f) % 50)
            actual = fut.loc[fut["order_date"] <= as_of, "amount"].sum()
            truth = fut.loc[fut["order_date"] <= "2027-03-31", "amount"].sum()
            r = landing_forecast(pd.Series({"company": actual}), fm, as_of, k=k, forecast_cv=cv,
                                 params=params).iloc[0]
            hits.append(r["landing_lo"] <= truth <= r["landing_hi"])
    coverage = float(np.mean(hits))
    print(f"landing 80% interval coverage: {coverage:.4f} of n = {len(hits)}")
    assert len(hits) == 400
    assert 0.75 <= coverage <= 0.85, f"80% landing interval covered {coverage:.1%} of {len(hits)}"


def _hand_scored():
    return pd.DataFrame({"opportunity_id": ["d1", "d2", "d3"], "region": ["A", "B", "A"],
                         "amount": [100_000.0, 20_000.0, 500_000.0], "p_win": [0.5, 0.5, 0.9],
                         "in_horizon": [True, True, False]})


def test_pipeline_by_entity_hand_example():
    pb = pipeline_by_entity(_hand_scored())
    # d3 closes after the horizon: left out.  A: W = 100,000 * 0.5 = 50,000,
    # V = 100,000^2 * 0.5 * 0.5 = 2.5e9; B: 10,000 and 20,000^2 * 0.25 = 1e8; total: the sums
    assert pb.loc["A", "expected"] == pytest.approx(50_000.0)
    assert pb.loc["A", "variance"] == pytest.approx(2.5e9)
    assert pb.loc["B", "expected"] == pytest.approx(10_000.0)
    assert pb.loc["B", "variance"] == pytest.approx(1e8)
    assert pb.loc["total", "expected"] == pytest.approx(60_000.0)
    assert pb.loc["total", "variance"] == pytest.approx(2.6e9)
    assert pb.loc["total", "n_deals"] == 2


def test_landing_forecast_adds_only_the_excess_pipeline_hand_example():
    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    fm = pd.DataFrame({"entity": "total", "month": months, "mean": 100_000.0})
    pb = pipeline_by_entity(_hand_scored())
    act = pd.Series({"total": 0.0})
    # review day before the quarter: pace share p = 0, so level ratio 1 and R = F = 300,000,
    # var R = (300,000 * 0.10)^2 + 300,000 * k(1,000) = 9e8 + 3e8 = 1.2e9
    base = landing_forecast(act, fm, "2026-12-31", k=1_000.0).iloc[0]
    assert base["landing"] == pytest.approx(300_000.0)
    assert base["landing_sd"] == pytest.approx(np.sqrt(1.2e9))
    # usual pipeline rho R = 0.1 * 300,000 = 30,000; W = 60,000 -> excess 30,000 = half (f = 0.5)
    # of every deal: var + 0.25 * 2.6e9 = 6.5e8 -> sd sqrt(1.85e9); pipeline sd 0.5 sqrt(2.6e9)
    r = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=0.1).iloc[0]
    assert r["pipeline_expected"] == pytest.approx(60_000.0)
    assert r["pipeline_usual"] == pytest.approx(30_000.0)
    assert r["pipeline_excess"] == pytest.approx(30_000.0)
    assert r["pipeline_sd"] == pytest.approx(0.5 * np.sqrt(2.6e9))
    assert r["landing"] == pytest.approx(330_000.0)
    assert r["landing_sd"] == pytest.approx(np.sqrt(1.85e9))
    # z(0.9) = 1.2816: the 80% interval is landing +- 1.2816 sd
    assert r["landing_hi"] - r["landing"] == pytest.approx(1.2815516 * np.sqrt(1.85e9), rel=1e-6)
    # a pipeline no larger than usual (rho R = 0.3 * 300,000 = 90,000 >= 60,000) adds nothing,
    # and so does a NaN rho (no history to tell what is usual)
    for rho in (0.3, float("nan")):
        r0 = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=rho).iloc[0]
        assert r0["pipeline_excess"] == 0.0
        assert r0["landing"] == pytest.approx(300_000.0)
        assert r0["landing_sd"] == pytest.approx(np.sqrt(1.2e9))
    with pytest.raises(ValueError, match="pipeline_rho"):
        landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb)


def test_landing_forecast_backtest_rule_counts_beta_of_the_pipeline_beyond_the_usual():
    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    fm = pd.DataFrame({"entity": "total", "month": months, "mean": 100_000.0})
    pb = pipeline_by_entity(_hand_scored())  # W = 60,000, V = 2.6e9 (total)
    act = pd.Series({"total": 0.0})
    # as above: R = 300,000, var R = 1.2e9; usual 0.1 * 300,000 = 30,000; W - usual = 30,000
    # beta 0.5, sd 0.2: X = 15,000; f = 15,000 / 60,000 = 0.25;
    # var = 1.2e9 + 0.0625 * 2.6e9 + (0.2 * 30,000)^2 = 1.2e9 + 1.625e8 + 3.6e7 = 1.3985e9
    r = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=0.1,
                         pipeline_beta=(0.5, 0.2)).iloc[0]
    assert r["pipeline_excess"] == pytest.approx(15_000.0)
    assert r["landing"] == pytest.approx(315_000.0)
    assert r["landing_sd"] == pytest.approx(np.sqrt(1.3985e9))
    assert r["pipeline_sd"] == pytest.approx(np.sqrt(1.625e8 + 3.6e7))
    # a pipeline thinner than usual lowers the landing: usual 0.3 * 300,000 = 90,000 ->
    # X = 0.5 * (60,000 - 90,000) = -15,000; beta 0 (pipeline fully in the forecast) adds nothing
    r2 = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=0.3,
                          pipeline_beta=(0.5, 0.0)).iloc[0]
    assert r2["landing"] == pytest.approx(285_000.0)
    r3 = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=0.1,
                          pipeline_beta=(0.0, 0.0)).iloc[0]
    assert r3["landing"] == pytest.approx(300_000.0)
    assert r3["landing_sd"] == pytest.approx(np.sqrt(1.2e9))
    # rho per entity (a Series) = the same figures as the scalar; an entity absent: no term
    r4 = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=pd.Series({"total": 0.1}),
                          pipeline_beta=(0.5, 0.2)).iloc[0]
    assert r4["landing"] == pytest.approx(315_000.0)
    r5 = landing_forecast(act, fm, "2026-12-31", k=1_000.0, pipeline=pb, pipeline_rho=pd.Series({"A": 0.1}),
                          pipeline_beta=(0.5, 0.2)).iloc[0]
    assert r5["landing"] == pytest.approx(300_000.0)


def test_pipeline_data_end_is_the_latest_opportunity_event():
    from salesplan.data.schema import SalesData

    orders = pd.DataFrame({"order_id": ["o1"], "order_date": pd.to_datetime(["2027-02-14"]), "customer_id": ["c1"],
                           "rep_id": ["r1"], "product_line": ["P"], "quantity": [1.0], "amount": [10.0]})
    assert pipeline_data_end(SalesData(orders=orders)) is None
    opps = pd.DataFrame({"opportunity_id": ["d1", "d2"], "customer_id": ["c1", "c1"], "rep_id": ["r1", "r1"],
                         "created_date": pd.to_datetime(["2026-11-01", "2026-12-01"]), "amount": [1.0, 2.0],
                         "stage": ["A", "B"], "outcome": ["won", "open"],
                         "closed_date": pd.to_datetime(["2026-12-20", None])})
    sh = pd.DataFrame({"opportunity_id": ["d2"], "stage": ["B"], "entered_date": pd.to_datetime(["2026-12-28"])})
    # created 12-01, closed 12-20, stage entered 12-28: the data know of 2026-12-28
    assert pipeline_data_end(SalesData(orders=orders, opportunities=opps)) == pd.Timestamp("2026-12-20")
    assert pipeline_data_end(SalesData(orders=orders, opportunities=opps, stage_history=sh)) == pd.Timestamp("2026-12-28")


def test_forecast_moments_from_sample_paths():
    from salesplan.data.paths import SamplePaths
    from salesplan.planning.review import forecast_moments

    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    # East: paths (10, 20, 30), (20, 20, 20), (30, 20, 10) -> quarter totals 60, 60, 60
    # West: (1, 1, 1), (2, 2, 2), (3, 3, 3) -> totals 3, 6, 9: sd 3, mean 6, cv 0.5
    values = [[[10, 20, 30], [20, 20, 20], [30, 20, 10]], [[1, 1, 1], [2, 2, 2], [3, 3, 3]]]
    fm, cv = forecast_moments(SamplePaths(np.array(values, float), ["East", "West"], months))
    assert fm[fm.entity == "East"]["mean"].tolist() == [20.0, 20.0, 20.0]
    assert fm[fm.entity == "West"]["mean"].tolist() == [2.0, 2.0, 2.0]
    assert list(fm["month"].iloc[:3]) == list(months)
    assert cv["East"] == 0.0 and cv["West"] == pytest.approx(0.5)
