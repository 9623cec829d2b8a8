"""The customer-risk tables (salesplan.planning.customer_risk), by hand-built examples, and the
whole assessment on a small demo company with tables taken away."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.planning import customer_risk as cr


def _abc():
    # revenue: A customers a1 (600), a2 (300) in North / South; B b1 (80); C c1 (20); c2 has no revenue
    return pd.DataFrame({"customer_id": ["a1", "a2", "b1", "c1", "c2"],
                         "region": ["North", "South", "North", "South", "South"],
                         "revenue": [600.0, 300.0, 80.0, 20.0, 0.0],
                         "abc_class": ["A", "A", "B", "C", "C"]})


def test_abc_by_class_counts_active_customers_only():
    out = cr.abc_by_class(_abc()).set_index("abc_class")
    assert list(out.index) == ["A", "B", "C"]
    assert list(out["customers"]) == [2, 1, 1]  # c2 (no revenue) is not active
    assert out.loc["A", "revenue"] == 900.0
    assert out.loc["A", "share_of_customers"] == pytest.approx(2 / 4)
    assert out.loc["A", "share_of_revenue"] == pytest.approx(900 / 1000)


def test_abc_by_region_a_shares_largest_region_first():
    table, revenue = cr.abc_by_region(_abc())
    assert list(table["region"]) == ["North", "South"]  # 680 vs 320
    north = table.iloc[0]
    assert (north["customers"], north["a_customers"]) == (2, 1)
    assert north["a_share_of_revenue"] == pytest.approx(600 / 680)
    assert north["region_share_of_all_a_revenue"] == pytest.approx(600 / 900)
    assert list(revenue.index) == ["North", "South"] and list(revenue.columns) == ["A", "B", "C"]
    assert revenue.loc["South", "C"] == 20.0


def test_lifecycle_table_every_stage_a_row():
    stages = pd.DataFrame({"customer_id": ["a1", "a2", "b1"], "stage": ["growth", "growth", "decline"]})
    rfm = pd.DataFrame({"customer_id": ["a1", "a2", "b1"], "r_score": [5, 3, 1], "f_score": [4, 4, 2],
                        "m_score": [5, 4, 2]})
    out = cr.lifecycle_table(stages, _abc(), rfm, ["introduction", "growth", "maturity", "decline"]).set_index("stage")
    assert list(out.index) == ["introduction", "growth", "maturity", "decline"]
    assert out.loc["growth", "customers"] == 2 and out.loc["growth", "revenue_12m"] == 900.0
    assert out.loc["growth", "recency_score"] == 4.0
    assert out.loc["growth", "class_A"] == 2 and out.loc["decline", "class_B"] == 1
    assert out.loc["introduction", "customers"] == 0


def test_collection_rate_by_rep():
    as_of = pd.Timestamp("2026-12-31")
    inv = pd.DataFrame({
        "customer_id": ["x", "x", "y", "z", "x"],
        # due in the window except the last (due 2025-06-30, 18 months before)
        "due_date": pd.to_datetime(["2026-03-31", "2026-09-30", "2026-06-30", "2026-12-15", "2025-06-30"]),
        "amount": [100.0, 200.0, 50.0, 40.0, 999.0],
        # x: first paid on time, second paid late; y unpaid; z paid after as_of (not collected)
        "paid_date": pd.to_datetime(["2026-03-20", "2026-11-15", None, "2027-01-10", "2025-06-01"]),
        "paid_amount": [100.0, 150.0, np.nan, 40.0, 999.0]})
    owner = pd.Series({"x": "R1", "y": "R2"})  # z has no owner
    table, rate = cr.collection_by_rep(inv, owner, as_of)
    by = table.set_index("rep_id")
    assert list(table["rep_id"]) == ["R2", "(none)", "R1"]  # lowest rate first; ties: largest billed first
    assert by.loc["R1", "billed"] == 300.0 and by.loc["R1", "collected"] == 250.0
    assert by.loc["R1", "collected_on_time"] == 100.0
    assert by.loc["R1", "collection_rate"] == pytest.approx(250 / 300)
    assert by.loc["R2", "collection_rate"] == 0.0 and by.loc["(none)", "collected"] == 0.0
    assert rate == pytest.approx(250 / 390)


def test_supply_hold_adds_up_overdue_invoices():
    warning = pd.DataFrame({"invoice_id": ["i1", "i2", "i3"], "customer_id": ["x", "x", "y"],
                            "amount": [10.0, 30.0, 50.0], "days_overdue": [40, 90, 35]})
    out = cr.supply_hold(warning, pd.Series({"x": "E", "y": "B"}), pd.Series({"x": "North", "y": "South"}))
    assert list(out.columns) == ["customer_id", "invoices", "amount_overdue", "oldest_days_overdue", "grade", "region"]
    assert out.to_dict("records")[0] == {"customer_id": "y", "invoices": 1, "amount_overdue": 50.0,
                                         "oldest_days_overdue": 35, "grade": "B", "region": "South"}
    assert out.iloc[1]["amount_overdue"] == 40.0 and out.iloc[1]["oldest_days_overdue"] == 90
    bare = cr.supply_hold(warning, None, None)
    assert list(bare.columns) == ["customer_id", "invoices", "amount_overdue", "oldest_days_overdue"]


def test_credit_grade_table_sums_and_leaves_out_empty_grades():
    pol = pd.DataFrame({"grade": ["A", "A", "C"], "pd": [0.01, 0.03, 0.12], "points": [650.0, 630.0, 560.0],
                        "revenue_12m": [1200.0, 600.0, 300.0], "recommended_limit": [300.0, 150.0, 25.0],
                        "payment_terms_days": [60, 60, 30], "condition": ["", "", ""]},
                       index=pd.Index(["x", "y", "z"], name="customer_id"))
    out = cr.credit_grade_table(pol, ["A", "B", "C", "D", "E"])
    assert list(out["grade"]) == ["A", "C"]
    a = out.iloc[0]
    assert a["customers"] == 2 and a["mean_pd"] == pytest.approx(0.02) and a["recommended_limit"] == 450.0
    assert a["payment_terms_days"] == 60


def test_new_customer_table_last_months_and_alert():
    months = pd.date_range("2026-07-01", periods=6, freq="MS")
    counts = pd.DataFrame({"region": ["N"] * 6 + ["S"] * 6, "month": list(months) * 2,
                           "new_customers": [5, 5, 5, 5, 4, 3] + [1, 1, 1, 1, 1, 2],
                           "falls": [0, 0, 0, 0, 1, 2] + [0] * 6,
                           "alert": [False] * 5 + [True] + [False] * 6})
    out = cr.new_customer_table(counts, months=3)
    assert list(out.columns) == ["region", "2026-10", "2026-11", "2026-12", "falls in a row", "alert"]
    assert out.iloc[0].to_dict() == {"region": "N", "2026-10": 5, "2026-11": 4, "2026-12": 3,
                                     "falls in a row": 2, "alert": "add marketing"}
    assert out.iloc[1]["alert"] == ""


def test_customer_table_without_credit_or_invoices():
    risk = pd.DataFrame({"customer_id": ["a1"], "rep_id": ["R1"], "p_churn": [0.2], "p_alive": [0.9],
                         "clv": [100.0], "revenue_at_risk": [120.0]})
    stages = pd.DataFrame({"customer_id": ["a1"], "stage": ["growth"]})
    rfm = pd.DataFrame({"customer_id": ["a1"], "rfm_cell": ["555"], "rfm_total": [15]})
    out = cr.customer_table(_abc().drop(columns="region"), stages, rfm, risk, None, None)
    assert list(out.columns) == ["customer_id", "abc_class", "revenue", "stage", "rfm_cell", "rfm_total", "rep_id",
                                 "p_churn", "p_alive", "clv", "revenue_at_risk"]
    assert out.iloc[0]["stage"] == "growth" and np.isnan(out.iloc[1]["p_churn"])


def test_parameters_check_themselves():
    with pytest.raises(ValueError, match="abc_a_share=0.9, abc_b_share=0.8; expected 0 < abc_a_share <= abc_b_share"):
        cr.CustomerRiskParams(abc_a_share=0.9, abc_b_share=0.8)
    with pytest.raises(ValueError, match="transaction_model='nbd'"):
        cr.CustomerRiskParams(transaction_model="nbd")
    with pytest.raises(ValueError, match="churn_threshold=1.5"):
        cr.CustomerRiskParams(churn_threshold=1.5)


@pytest.fixture(scope="module")
def small_company():
    from salesplan.demo import generate

    return generate(seed=7, scale=0.1).data


def test_orders_only_company_switches_regions_credit_and_invoices_off(small_company):
    data = SalesData(orders=small_company.orders)
    out = cr.assess_customers(data, "2026-12-31")
    assert set(out.notes) == {"regions", "invoices", "credit"}
    assert "`customers` table" in out.notes["regions"] and "`invoices` table" in out.notes["invoices"]
    assert out.abc_by_region is None and out.risk_by_region is None and out.credit is None
    assert out.hold is None and out.collection is None
    saved = out.outputs()
    assert set(saved) == {"customers", "abc_by_class", "lifecycle", "new_customers", "churn_by_rep",
                          "churn_top_accounts"}
    # every customer with an order up to as_of is in the customer table
    assert set(saved["customers"]["customer_id"]) == set(small_company.orders["customer_id"])


def test_one_year_of_invoices_switches_the_scorecard_off_but_keeps_the_warning(small_company):
    start = pd.Timestamp("2026-01-01")
    data = dataclasses.replace(small_company, orders=small_company.orders[small_company.orders["order_date"] >= start],
                               invoices=small_company.invoices[small_company.invoices["issue_date"] >= start])
    out = cr.assess_customers(data, "2026-12-31")
    assert set(out.notes) == {"credit"}
    assert out.notes["credit"].startswith("the invoices start 2026-01")
    assert "it needs more than 12 months of invoice history" in out.notes["credit"]
    assert out.hold is not None and "grade" not in out.hold and "region" in out.hold
    overdue = small_company.invoices[(small_company.invoices["issue_date"] >= start)]
    # the collection rate is cash collected by as_of over the billed amount of invoices due in 2026
    due = overdue[(overdue["due_date"] > pd.Timestamp("2025-12-31")) & (overdue["due_date"] <= pd.Timestamp("2026-12-31"))]
    paid = due.loc[due["paid_date"] <= pd.Timestamp("2026-12-31"), "paid_amount"].sum()
    assert out.collection_rate == pytest.approx(paid / due["amount"].sum())
