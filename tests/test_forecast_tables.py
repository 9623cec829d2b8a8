"""The forecast notebook's tables (salesplan.planning.forecast_tables), by hand-built examples."""

import numpy as np
import pandas as pd
import pytest

from salesplan.planning import forecast_tables as ft


def _months(*labels):
    return [pd.Period(m, freq="M") for m in labels]


def _long():
    # company "total": Jan-Mar 2026 = 10, 20, 30 ; Oct-Dec 2026 = 40, 50, 60
    # region "r": only Feb-Mar 2026 (its January is missing) and Oct-Dec 2026 = 1, 2, 3
    rows = [("total", m, y) for m, y in zip(["2026-01", "2026-02", "2026-03", "2026-10", "2026-11", "2026-12"],
                                            [10, 20, 30, 40, 50, 60])]
    rows += [("r", m, y) for m, y in zip(["2026-02", "2026-03", "2026-10", "2026-11", "2026-12"], [5, 5, 1, 2, 3])]
    return pd.DataFrame([(u, pd.Timestamp(m + "-01"), float(y)) for u, m, y in rows], columns=["unique_id", "ds", "y"])


LY = _months("2026-01", "2026-02", "2026-03")
PREV = _months("2026-10", "2026-11", "2026-12")


def test_actual_in_sums_complete_quarters_only():
    got = ft.actual_in(_long(), LY)
    assert got["total"] == 60.0  # 10 + 20 + 30
    assert np.isnan(got["r"])  # January missing: no comparable actual
    assert ft.actual_in(_long(), PREV)["r"] == 6.0


def test_quarter_summary_mean_ranges_and_growth():
    # 101 simulated quarters 0..100 for the company, 5 for r on every path
    q = np.vstack([np.arange(101.0), np.full(101, 5.0)])
    info = pd.DataFrame({"unique_id": ["total", "r"], "level": ["company", "region"], "label": ["Company", "r"]})
    out = ft.quarter_summary(["total", "r"], q, _long(), info, LY, PREV)
    assert list(out.columns) == ["unique_id", "level", "label", "mean", "lo-80", "hi-80", "lo-95", "hi-95",
                                 "last_year", "last_quarter", "growth_vs_ly"]
    c = out.set_index("unique_id").loc["total"]
    # quantiles of 0..100 by linear interpolation are the percentages themselves
    assert (c["mean"], c["lo-80"], c["hi-80"], c["lo-95"], c["hi-95"]) == pytest.approx((50, 10, 90, 2.5, 97.5))
    assert c["last_year"] == 60 and c["last_quarter"] == 150
    assert c["growth_vs_ly"] == pytest.approx(50 / 60 - 1)
    r = out.set_index("unique_id").loc["r"]
    assert np.isnan(r["last_year"]) and np.isnan(r["growth_vs_ly"]) and r["last_quarter"] == 6


def test_quarter_summary_rejects_a_shape_that_does_not_match_the_ids():
    with pytest.raises(ValueError, match=r"quarter_totals: shape \(1, 3\); expected \(2, n_paths\)"):
        ft.quarter_summary(["a", "b"], np.zeros((1, 3)), _long(), pd.DataFrame({"unique_id": ["a", "b"]}), LY, PREV)


def test_monthly_table_one_row_per_series_and_month():
    paths = np.stack([np.arange(101.0), np.arange(101.0) + 100], axis=1)[None]  # (1 series, 101 paths, 2 months)
    out = ft.monthly_table(["total"], paths, pd.DataFrame({"unique_id": ["total"], "label": ["Company"]}),
                           pd.Period("2027-01", freq="M"))
    assert list(out["ds"]) == [pd.Timestamp("2027-01-01"), pd.Timestamp("2027-02-01")]
    assert list(out["mean"]) == [50.0, 150.0]
    assert list(out["lo-80"]) == pytest.approx([10.0, 110.0])
    assert list(out["label"]) == ["Company", "Company"]


def _cv():
    # two months of one company series and one region series, method "combo" and "snaive"
    rows = []
    for uid in ("total", "r"):
        for meth, f in (("combo", 110.0), ("snaive", 80.0)):
            for y in (100.0, 100.0):
                rows.append({"unique_id": uid, "method": meth, "y": y, "mean": f,
                             "abs_scaled_error": abs(f - y) / 10, "smape": 200 * abs(y - f) / (abs(y) + abs(f)),
                             "lo-80": f - 15, "hi-80": f + 15, "lo-95": f - 30, "hi-95": f + 30})
    return pd.DataFrame(rows)


def test_accuracy_by_level_fractions_and_names():
    out = ft.accuracy_by_level(_cv(), {"total": "company", "r": "region"})
    assert list(out["level"]) == ["company", "company", "region", "region"]
    assert list(out["method"]) == ["combo", "seasonal naive", "combo", "seasonal naive"]
    combo = out.iloc[0]
    assert combo["mase"] == pytest.approx(1.0)  # |110 - 100| / 10
    assert combo["smape"] == pytest.approx(200 * 10 / 210 / 100)  # as a fraction
    assert combo["bias_pct"] == pytest.approx(20 / 200)  # sum(f - y) / sum|y|
    assert combo["rel_mase"] == pytest.approx(1.0 / 2.0)  # naive errs 20 -> MASE 2
    assert combo["coverage-80"] == 1.0  # 100 inside 95..125
    naive = out.iloc[1]
    assert naive["coverage-80"] == 0.0  # 100 outside 65..95
    assert naive["coverage-95"] == 1.0


def test_interval_coverage_and_series_table():
    cv = _cv()
    assert ft.interval_coverage(cv, "combo") == 1.0
    assert ft.interval_coverage(cv, "snaive") == 0.0
    assert np.isnan(ft.interval_coverage(cv, "theta"))
    per = ft.accuracy_per_series(cv, {"total": "company", "r": "region"}, {"total": "Company", "r": "North"})
    tab = ft.accuracy_series_table(per, "combo")
    assert list(tab["label"]) == ["Company", "North"]
    assert tab["smape"].iloc[0] == pytest.approx(200 * 10 / 210 / 100)


def _reps():
    return pd.DataFrame({
        "rep_id": ["R1", "R2", "R3", "R4"], "name": ["Ann", "Bo", "Cy", "Di"], "region": ["N", "N", "S", "S"],
        "hire_date": pd.to_datetime(["2020-01-01", "2026-11-01", "2020-01-01", "2020-01-01"]),
        "exit_date": pd.to_datetime([None, None, "2026-10-15", "2026-06-30"])})


def test_roster_notes_new_rep_and_reps_who_have_left():
    base = pd.DataFrame({"unique_id": ["total", "region=S|rep_id=R3", "region=S|rep_id=R4", "region=N|rep_id=R1"],
                         "model": ["combo", "combo", "sba", "combo"], "n_obs": [24, 24, 24, 24], "reason": ""})
    level_of = {"total": "company", "region=S|rep_id=R3": "rep", "region=S|rep_id=R4": "rep",
                "region=N|rep_id=R1": "rep"}
    label_of = {"total": "Company", "region=S|rep_id=R3": "R3 Cy", "region=S|rep_id=R4": "R4 Di",
                "region=N|rep_id=R1": "R1 Ann"}
    reasons = ft.series_reasons([base], level_of, label_of, "combo")
    assert list(reasons["treatment"]) == ["standard model", "standard model", "intermittent sales (Croston/SBA)",
                                          "standard model"]
    sold = ft.reps_with_sales(pd.DataFrame({"rep_id": ["R1", "R3", "R4", None, "R1"]}))
    assert sold == {"R1", "R3", "R4"}  # distinct, no null
    out = ft.add_roster_notes(reasons, _reps(), sold, pd.Timestamp("2027-01-01"),
                              {"region=S|rep_id=R3": 1234.0, "region=S|rep_id=R4": 0.0}, "{:,.0f}".format)
    by = out.set_index("label")
    assert list(out["label"]) == ["Company", "R1 Ann", "R2 Bo", "R3 Cy", "R4 Di"]  # company first, then reps
    assert by.loc["R2 Bo", "treatment"] == "rep without sales history"
    assert by.loc["R2 Bo", "reason"].startswith("no sales in the history (hired 2026-11-01)")
    assert by.loc["R3 Cy", "treatment"] == "rep has left"
    assert by.loc["R3 Cy", "reason"] == ("left on 2026-10-15; their accounts moved to other reps; "
                                         "1,234 still forecast on their name (reconciled share)")
    assert by.loc["R4 Di", "reason"] == "left on 2026-06-30; their accounts moved to other reps"
    assert by.loc["R1 Ann", "treatment"] == "standard model"
    # the reps table: R4 left and is forecast 0, so it is hidden; R3 still carries 1,234
    quarter = pd.DataFrame({"unique_id": ["region=N|rep_id=R1", "region=S|rep_id=R3", "region=S|rep_id=R4"],
                            "region": ["N", "S", "S"], "label": ["R1 Ann", "R3 Cy", "R4 Di"],
                            "last_year": 1.0, "mean": [10.0, 1234.0, 0.0], "lo-80": 0.0, "hi-80": 1.0,
                            "growth_vs_ly": 0.0})
    tab, hidden = ft.rep_table(quarter, out)
    assert hidden == 1 and list(tab["label"]) == ["R1 Ann", "R3 Cy"]
    summary = ft.treatment_summary(out)
    assert summary.to_dict("records")[0] == {"level": "company", "treatment": "standard model", "series": 1}
    assert int(summary.loc[summary["treatment"] == "rep has left", "series"].iloc[0]) == 2


def test_roster_notes_without_a_reps_table_only_sort():
    reasons = pd.DataFrame({"unique_id": ["p", "total"], "level": ["product line", "company"],
                            "label": ["Tools", "Company"], "treatment": "standard model"})
    out = ft.add_roster_notes(reasons, None, frozenset(), pd.Timestamp("2027-01-01"), {}, str)
    assert list(out["unique_id"]) == ["total", "p"]


def test_history_wide_and_reconciliation_table():
    w = ft.history_wide(_long(), ["total", "r"], ["Company", "North"], "2026-10-01")
    assert list(w.columns) == ["Company", "North"] and list(w["North"]) == [1.0, 2.0, 3.0]
    scores = pd.DataFrame({"method": ["bottom_up", "top_down"], "mase": [1.0, 0.9]})
    assert list(ft.reconciliation_table(scores, "top_down")["chosen"]) == [False, True]
    assert ft.reconciliation_table(pd.DataFrame(), "ols").empty
