"""Words for the notebooks (salesplan.reports.narrative) and the notebooks' parameter specs
(salesplan.reports.notebook_params)."""

import pandas as pd
import pytest

from salesplan.reports import ParameterError
from salesplan.reports import narrative as nv
from salesplan.reports.notebook_params import NOTEBOOK_PARAMETERS, check_notebook_parameters


def test_plain_bins():
    assert nv.plain_bin("[-inf, 2.50)") == "below 2.50"
    assert nv.plain_bin("[2.50, 10.00)") == "2.50 to below 10.00"
    assert nv.plain_bin("[10.00, inf)") == "10.00 or more"
    assert nv.plain_bin("Missing") == "no data (no invoice in the last 12 months)"
    assert nv.plain_bin("retail") == "retail"


def test_forecast_node_labels():
    nodes = pd.DataFrame({"unique_id": ["total", "region=N", "region=N|rep_id=R1", "region=N|rep_id=(none)"],
                          "level_name": ["total", "region", "region/rep_id", "region/rep_id"],
                          "region": [None, "N", "N", "N"], "rep_id": [None, None, "R1", "(none)"]})
    reps = pd.DataFrame({"rep_id": ["R1"], "name": ["王芳"]})
    out = nv.forecast_node_info(nodes, reps)
    assert list(out["label"]) == ["Company", "N", "R1 王芳", "(no rep: house accounts)"]
    assert list(out["level"]) == ["company", "region", "rep", "rep"]
    # a company-only hierarchy (no customers table) has no region or rep columns
    only = nv.forecast_node_info(nodes.iloc[:1, :2], None)
    assert list(only.columns) == ["unique_id", "level", "region", "rep_id", "label"]
    assert only["label"].tolist() == ["Company"]


def test_forecast_answer_with_and_without_regions():
    company = {"mean": 14_100_000, "lo-80": 13_000_000, "hi-80": 15_250_000, "growth_vs_ly": 0.1}
    regions = pd.DataFrame({"region": ["North", "South"], "mean": [9e6, 5.1e6], "growth_vs_ly": [0.05, 0.2]})
    acc = {"smape": 0.04}, {"smape": 0.09}
    text = nv.forecast_answer("2027Q1", company, regions, *acc, "2026Q1")
    assert text == ("Carrying on as we are, 2027Q1 should bring about 14.1 M of net revenue (company currency) "
                    "(80% likely between 13.0 M and 15.2 M), "
                    "+10.0% on 2026Q1. North is the largest region (9.0 M); South grows fastest (+20.0%). "
                    "In backtests the forecast of the company's monthly net revenue erred 4.0% on average "
                    "(sMAPE; seasonal naive: 9.0%).")
    bare = nv.forecast_answer("2027Q1", company, regions.iloc[:0], *acc, "2026Q1")
    assert "region" not in bare and bare.endswith("(sMAPE; seasonal naive: 9.0%).")
    one = nv.forecast_answer("2027Q1", company, regions.iloc[:1], *acc, "2026Q1")  # one region: no comparison
    assert one == bare


def test_forecast_figures_show_the_company_hit_rate_with_period_and_unit():
    company = {"mean": 14_368_675, "lo-80": 12_829_409, "hi-80": 15_875_452, "lo-95": 12_049_161,
               "hi-95": 16_704_341, "growth_vs_ly": 0.248}
    # the company's backtest: 7 of 12 months inside the 80% range (the pooled rate of all
    # series, e.g. 81.6%, is not what the headline shows)
    main = {"smape": 0.068, "rel_mase": 0.49, "coverage-80": 7 / 12}
    figs = nv.forecast_figures("2027Q1", "2026Q1", company, main, 12, 34, 81, "mint_shrink")
    assert figs["Company months inside the 80% range (backtest, 12 months)"] == "58.3%"
    assert figs["Company forecast, net revenue 2027Q1, company currency (mean)"] == "14.4 M"
    assert figs["80% range, net revenue 2027Q1, company currency"] == "12.8 M – 15.9 M"
    assert figs["vs 2026Q1 (same quarter last year, net revenue)"] == "+24.8%"
    assert figs["Series on a fallback (new, short, intermittent)"] == "34 of 81 series"
    assert figs["Levels made to add up by"] == "mint shrink"
    assert not any("all series" in k for k in figs)


def test_credit_policy_revenue_is_the_revenue_of_grades_off_open_credit():
    grades = pd.DataFrame({"grade": ["A", "B", "C", "D", "E"],
                           "revenue_12m": [10.0e6, 20.0e6, 12.0e6, 6.0e6, 9.0e6],
                           "condition": ["open account"] * 3 + ["deposit 30%", "cash before delivery"]})
    rev, share = nv.credit_policy_revenue(grades)
    assert rev == 15.0e6  # D + E
    assert share == pytest.approx(15 / 57)  # of 57 M in all grades: 26.3%
    assert nv.credit_policy_revenue(None) is None
    with pytest.raises(KeyError, match="lacks column 'condition'"):
        nv.credit_policy_revenue(grades.drop(columns="condition"))


def test_name_columns_put_names_beside_customer_and_rep_ids():
    class Data:
        customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Acme Pumps", "Beta Valves"]})
        reps = pd.DataFrame({"rep_id": ["R1"], "name": ["Wang Fang"]})

    frame = pd.DataFrame({"customer_id": ["C2", "C9"], "rep_id": ["R1", "R1"], "entity": ["R1", "R2"], "x": [1, 2]})
    out = nv.name_columns(frame, Data())
    assert list(out.columns) == ["customer_id", "customer_name", "rep_id", "rep_name", "entity", "x"]
    assert out["customer_name"].tolist() == ["Beta Valves", None]
    assert out["rep_name"].tolist() == ["Wang Fang", "Wang Fang"]
    extra = nv.name_columns(frame, Data(), {"entity": "reps"})
    assert extra["entity_name"].tolist() == ["Wang Fang", None]
    assert list(frame.columns) == ["customer_id", "rep_id", "entity", "x"]  # not modified

    class NoCustomers:
        customers, reps = None, Data.reps

    assert "customer_name" not in nv.name_columns(frame, NoCustomers()).columns
    assert nv.name_columns(None, Data()) is None  # a section switched off


def _risk_inputs():
    by_class = pd.DataFrame({"abc_class": ["A", "B", "C"], "customers": [20, 30, 50],
                             "share_of_customers": [0.2, 0.3, 0.5], "share_of_revenue": [0.8, 0.15, 0.05]})
    risk = pd.DataFrame({"p_churn": [0.9, 0.6, 0.1], "revenue_at_risk": [900_000.0, 60_000.0, 1_000.0],
                         "abc_class": ["A", "C", "B"]})
    return by_class, risk


def test_customer_risk_headlines_all_sections():
    by_class, risk = _risk_inputs()
    warning = pd.DataFrame({"amount": [100_000.0, 50_000.0]})
    hold = pd.DataFrame({"customer_id": ["x"]})
    grades = pd.Series(["A", "E", "D", "B"])
    grade_table = pd.DataFrame({"grade": ["A", "B", "D", "E"], "revenue_12m": [600_000.0, 200_000.0, 150_000.0, 50_000.0],
                                "condition": ["open account", "open account", "deposit 30%", "cash before delivery"]})
    answer, figures = nv.customer_risk_headlines(
        by_class, risk, 0.5, pd.DataFrame({"region": ["East"], "revenue_at_risk": [700_000.0]}),
        pd.DataFrame({"region": ["West"]}), 30, warning, hold, grades, ["D", "E"], 0.93, 0.71,
        grade_table=grade_table, horizon_days=90)
    # revenue at risk: 900 k + 60 k + 1 k = 961 k over 12 months; the policy: D + E = 200 k of 1 M = 20%
    assert answer == ("20 A-class customers (20.0% of active customers) carry 80.0% of the last 12 months' revenue. "
                      "2 customers are more likely than not to place no order in the next 90 days; weighted by "
                      "that chance, 961.0 k of 12-month revenue is at risk "
                      "(most in East: 700.0 k). 1 customers have invoices more than 30 days overdue "
                      "(150.0 k) and go on supply hold; 2 customers in grades D and E should get no more open "
                      "credit (deposit or cash before delivery); the credit policy affects customers with 200.0 k "
                      "of the last 12 months' revenue (20.0%).")
    assert figures["Revenue at risk, 12 months (sum of P(churn) x last 12 months' revenue)"] == "961.0 k"
    assert figures["Customers at risk: no order expected in the next 90 days (P(churn) ≥ 50%)"] == "2"
    assert figures["Revenue of customers the credit policy takes off open credit, last 12 months"] == (
        "200.0 k (20.0% of revenue)")
    assert figures["A-class customers at risk"] == "1"
    assert figures["Customers in grades D / E"] == "2"
    assert figures["Regions with falling new-customer counts"] == "West"
    assert figures["Scorecard back-test AUC"] == "0.71"


def test_customer_risk_headlines_switched_off_sections_read_off():
    by_class, risk = _risk_inputs()
    answer, figures = nv.customer_risk_headlines(by_class, risk, 0.5, None, pd.DataFrame({"region": []}), 30,
                                                 None, None, None, [], None, float("nan"))
    assert answer.endswith("961.0 k of 12-month revenue is at risk.")
    assert figures["Revenue of customers the credit policy takes off open credit, last 12 months"] == "off"
    assert figures["Customers on supply hold"] == "off" and figures["Collection rate, last 12 months"] == "off"
    assert figures["Customers in the worst credit grades"] == "off"
    assert figures["Scorecard back-test AUC"] == "–"


def test_missing_table_note_and_data_health_answer():
    assert nv.missing_table_note("Regions", "customers", "the region of each customer") == (
        "*Regions: switched off: this data has no `customers` table (the region of each customer); "
        "add it to turn this section on.*")
    ok = nv.data_health_answer([], "2027Q1", 16, 8, ["leads"])
    assert ok == ("Yes. The data pass every check of the data contract and hold 16 complete quarters of history "
                  "(at least 8 needed); 1 optional table(s) are missing, so some features are off: leads.")
    bad = nv.data_health_answer([("short_history", {"quarters": 3, "needed": 8}),
                                 ("returns", {"share": 0.12, "limit": 0.05})], "2027Q1", 3, 8, [])
    assert bad == ("Not yet: only 3 complete quarters of history (at least 8 needed); returns are 12.0% of gross "
                   "sales (more than 5.0%). Fix the source before trusting the 2027Q1 plan.")


def _namespace(notebook):
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / f"{notebook}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    ns = {}
    exec("".join(cell["source"]), ns)
    return ns


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PARAMETERS))
def test_each_notebooks_defaults_pass_and_match_the_spec(notebook):
    ns = _namespace(notebook)
    values = check_notebook_parameters(notebook, ns)
    # the spec names exactly the notebook's parameters
    assert set(values) == {k for k in ns if not k.startswith("__")}


def test_bad_parameters_are_one_error():
    ns = _namespace("03_customer_risk")
    with pytest.raises(ParameterError, match="parameter 'churn_threshold' = 2.0 .*; parameter 'top_n' = 0"):
        check_notebook_parameters("03_customer_risk", {**ns, "churn_threshold": 2.0, "top_n": 0})
    with pytest.raises(ParameterError, match="'abc_b_share' = 0.5 is below abc_a_share = 0.8"):
        check_notebook_parameters("03_customer_risk", {**ns, "abc_b_share": 0.5})
    with pytest.raises(ParameterError, match="parameter 'n_paths' is missing"):
        check_notebook_parameters("02_forecast", {k: v for k, v in _namespace("02_forecast").items() if k != "n_paths"})
    with pytest.raises(ValueError, match="notebook='04_targets'"):
        check_notebook_parameters("04_targets", {})


def test_name_columns_keep_the_asked_columns_that_exist():
    reps = pd.DataFrame({"rep_id": ["R1"], "name": ["Wang Fang"]})

    class WithReps:
        customers, reps = None, pd.DataFrame({"rep_id": ["R1"], "name": ["Wang Fang"]})

    frame = pd.DataFrame({"customer_id": ["C1"], "rep_id": ["R1"], "x": [1.0]})
    out = nv.name_columns(frame, WithReps(), columns=["customer_id", "customer_name", "rep_id", "rep_name", "x"])
    assert list(out.columns) == ["customer_id", "rep_id", "rep_name", "x"]  # no customers table: no name column
    assert out["rep_name"].tolist() == reps["name"].tolist()
