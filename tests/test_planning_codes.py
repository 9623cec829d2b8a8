"""Hand examples of the planning steps that work on integer codes (issue 19): the peers of
a rep who missed, monthly sales by region, the order lines' regions, the customer panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.data.orders import count_orders
from salesplan.data.schema import SalesData
from salesplan.planning.allocation.response import _customer_panel, monthly_region_sales
from salesplan.planning.performance import DiagnosisParams, diagnose_misses
from salesplan.planning.targets import _orders_with_region, _text_codes


def _kpis() -> pd.DataFrame:
    """Five reps: A1-A3 senior North, A4 senior South, A5 junior North; activity ratios
    (calls + visits) / prev4_activity = 0.5, 1.0, 1.2, 1.0, 0.6; A1, A4, A5 missed."""
    reps = ["A1", "A2", "A3", "A4", "A5"]
    n = len(reps)
    nan = np.full(n, np.nan)
    return pd.DataFrame({
        "rep_id": reps, "name": reps, "region": ["North", "North", "North", "South", "North"],
        "level": ["senior", "senior", "senior", "senior", "junior"],
        "attainment": [0.8, 1.1, 1.2, 0.9, 0.5], "growth_yoy": nan, "quota": nan, "ly_revenue": nan,
        "calls": [5.0, 10.0, 12.0, 10.0, 6.0], "visits": np.zeros(n), "prev4_activity": np.full(n, 10.0),
        "aov": nan, "prev4_aov": nan, "revenue_m1": nan, "revenue_m2": nan, "revenue_m3": nan,
        "prev4_revenue": nan, "funnel_depth": nan, "quote_success": nan, "quotes_12m": nan, "win_rate": nan,
        "closed_12m": nan,
    })


def test_peers_fall_back_from_region_to_level_to_all_reps():
    d = diagnose_misses(_kpis(), DiagnosisParams(min_peers=2)).set_index("rep_id")
    # A1: A2 and A3 share level and region; median ratio 1.1, own 0.5 -> severity 1 - 0.5 / 1.1
    assert d.loc["A1", "peers"] == "2 reps, same level and region"
    assert d.loc["A1", "driver"] == "activity"
    assert d.loc["A1", "peer_median"] == pytest.approx(1.1)
    assert d.loc["A1", "severity"] == pytest.approx(1 - 0.5 / 1.1)
    # A4: alone in the South -> the seniors A1-A3 (median 1.0); own 1.0 is not below 0.75
    assert d.loc["A4", "peers"] == "3 reps, same level"
    assert d.loc["A4", "driver"] == "none found"
    # A5: the only junior -> all four others (ratios 0.5, 1.0, 1.2, 1.0: median 1.0); own 0.6
    assert d.loc["A5", "peers"] == "4 reps, all reps"
    assert d.loc["A5", "severity"] == pytest.approx(0.4)
    assert set(d.index) == {"A1", "A4", "A5"}


def test_a_rep_without_region_is_compared_with_the_level():
    k = _kpis()
    k.loc[0, "region"] = np.nan  # A1: no region -> no same-region peers
    d = diagnose_misses(k, DiagnosisParams(min_peers=2)).set_index("rep_id")
    assert d.loc["A1", "peers"] == "3 reps, same level"  # A2, A3, A4
    assert d.loc["A1", "peer_median"] == pytest.approx(1.0)


def _lines() -> tuple[pd.DataFrame, pd.DataFrame]:
    orders = pd.DataFrame({
        "order_date": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-01-20", "2026-02-03", "2026-02-03",
                                      "2026-02-10", "2026-01-07"]),
        "customer_id": ["c1", "c1", "c2", "c1", "c2", "c3", "c9"],
        "rep_id": ["r1", "r1", "r2", "r1", "r2", "r2", "r1"],
        "product_line": ["p"] * 7,
        "amount": [100.0, 50.0, 30.0, -20.0, 40.0, 70.0, 5.0],
    })
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "region": ["North", "South", np.nan]})
    return orders, customers


def test_monthly_region_sales_hand_example():
    orders, customers = _lines()
    out = monthly_region_sales(orders, customers)
    # c3 has no region and c9 is not a customer: both left out
    expected = pd.DataFrame({
        "region": ["North", "North", "South", "South"],
        "month": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-01", "2026-02-01"]),
        "sales": [150.0, -20.0, 30.0, 40.0],
        "orders": [1, 0, 1, 1],  # c1's two lines on 5 Jan are one order; a return is no order
        "gross_sales": [150.0, 0.0, 30.0, 40.0],
    })
    pd.testing.assert_frame_equal(out.astype({"region": object}), expected)
    # a customers table with a repeated id goes through the join (each line once per match)
    twice = pd.concat([customers, customers.iloc[[1]]], ignore_index=True)
    south = monthly_region_sales(orders, twice).set_index(["region", "month"])["sales"]
    assert south.loc[("South", pd.Timestamp("2026-01-01"))] == 60.0


def test_monthly_region_orders_equal_count_orders_of_the_joined_lines():
    # the coded path counts orders from integers; the join path (a repeated customer row
    # sends monthly_region_sales there) uses count_orders: same counts, same-day lines,
    # zero-value lines (an order) and returns (not one) included
    rng = np.random.default_rng(7)
    n = 4000
    orders = pd.DataFrame({
        "order_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D"),
        "customer_id": rng.choice([f"c{i}" for i in range(60)], n),
        "amount": rng.choice([-30.0, 0.0, 10.0, 25.0, 40.0], n),
    })
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(55)],  # c55-c59 unknown
                              "region": rng.choice(["East", "North", "West"], 55)})
    customers.loc[3, "region"] = np.nan
    coded = monthly_region_sales(orders, customers)
    joined = orders.merge(customers.dropna(), on="customer_id")
    joined["month"] = joined["order_date"].dt.to_period("M").dt.to_timestamp()
    expected = count_orders(joined, ["region", "month"])
    got = coded.set_index(["region", "month"])["orders"]
    pd.testing.assert_series_equal(got[got > 0], expected, check_names=False, check_index_type=False)
    assert (got[got == 0].index.isin(expected.index) == False).all()  # noqa: E712
    assert expected.sum() == len(joined[joined["amount"] >= 0].drop_duplicates(["customer_id", "order_date"]))


def test_orders_take_the_customer_region_else_the_rep_region_else_none():
    orders, customers = _lines()
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "region": ["East", np.nan]})
    o = _orders_with_region(SalesData(orders=orders, customers=customers, reps=reps))
    # c3 (no region) belongs to r2 (no region): "(none)"; c9 (unknown) to r1: East
    assert list(o["region"]) == ["North", "North", "South", "North", "South", "(none)", "East"]
    assert o["region"].dtype == object and all(type(v) is str for v in o["region"])


def test_text_codes_of_runs_and_of_mixed_values():
    codes, names = _text_codes(pd.Series(["b", "b", "a", "a", "b", None, None], dtype=object))
    assert list(names) == ["b", "a", "nan"]  # a missing value is one name, "nan"
    assert list(codes) == [0, 0, 1, 1, 0, 2, 2]
    codes, names = _text_codes(pd.Series([1, "1", 2.0], dtype=object))  # distinct values, same text
    assert list(names) == ["1", "2.0"] and list(codes) == [0, 0, 1]


def test_customer_panel_counts_interior_repeat_orders():
    # c1 buys on 5 Jan, 3 Feb, 10 Mar and 20 Mar: first and last bound the window, the
    # 3 Feb and 10 Mar orders are interior (Feb, Mar); c2 buys once (no interior order)
    orders = pd.DataFrame({
        "order_date": pd.to_datetime(["2026-01-05", "2026-02-03", "2026-02-03", "2026-03-10", "2026-03-20",
                                      "2026-01-15"]),
        "customer_id": ["c1", "c1", "c1", "c1", "c1", "c2"],
        "amount": [10.0, 5.0, 7.0, 1.0, 2.0, 3.0],
    })
    customers = pd.DataFrame({"customer_id": ["c2", "c1"], "region": ["South", "North"]})
    months = pd.date_range("2026-01-01", "2026-03-01", freq="MS")
    p = _customer_panel(orders, customers, ["North", "South"], months, np.ones((2, 3)))
    np.testing.assert_array_equal(p["Y"], [[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])  # c1, then c2 (id order)
    np.testing.assert_array_equal(p["creg"], [0, 1])
    np.testing.assert_array_equal(p["amount"], [10.0, 12.0, 1.0, 2.0, 3.0])  # 3 Feb's lines: one order
    np.testing.assert_array_equal(p["rank"], [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(p["m_ev"], [0, 1, 2, 2, 0])
    # exposure (days) of c1: interior days 6 Jan .. 19 Mar -> Jan 26, Feb 28, Mar 19
    np.testing.assert_array_equal(p["E"][0], [26.0, 28.0, 19.0])
