"""The data-health figures (salesplan.planning.data_health), by hand-built examples."""

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.planning import data_health as dh


def _orders():
    # one order of 100 on the 15th of every month from 2024-02-15 to 2026-12-15, plus a return of
    # -30 in 2026-03; 2024Q1 starts on 2024-02-15, so it is not complete
    days = pd.date_range("2024-02-01", "2026-12-01", freq="MS") + pd.Timedelta(days=14)
    o = pd.DataFrame({"order_date": days, "amount": 100.0, "customer_id": "c"})
    ret = pd.DataFrame({"order_date": [pd.Timestamp("2026-03-20")], "amount": [-30.0], "customer_id": ["c"]})
    return pd.concat([o, ret], ignore_index=True)


def test_revenue_history_counts_complete_quarters():
    h = dh.revenue_history(_orders(), "2026-12-31")
    assert h.first_full == pd.Period("2024Q2") and h.last_full == pd.Period("2026Q4")
    assert h.quarters == 11
    assert h.revenue_of("2026Q1") == 270.0  # 3 x 100 - 30
    assert h.last4 == 1170.0 and h.prev4 == 1200.0
    assert h.growth == pytest.approx(1170 / 1200 - 1)
    assert np.isnan(h.revenue_of("2024Q1"))


def test_an_as_of_inside_a_quarter_leaves_it_out():
    h = dh.revenue_history(_orders(), "2026-12-30")
    assert h.last_full == pd.Period("2026Q3") and h.quarters == 10


def test_short_history_has_no_growth():
    # orders from 2026-01-15: 2026Q1 is not complete, so three quarters and no "last 4"
    h = dh.revenue_history(_orders()[_orders()["order_date"] >= "2026-01-01"], "2026-12-31")
    assert h.quarters == 3 and np.isnan(h.last4) and np.isnan(h.prev4) and np.isnan(h.growth)


def test_revenue_by_year_and_year_table():
    h = dh.revenue_history(_orders(), "2026-12-31")
    by_year = dh.revenue_by_year(h.by_quarter)
    assert list(by_year.index) == ["Q1", "Q2", "Q3", "Q4"] and list(by_year.columns) == ["2024", "2025", "2026"]
    assert np.isnan(by_year.loc["Q1", "2024"]) and by_year.loc["Q1", "2026"] == 270.0
    table = dh.revenue_year_table(by_year)
    assert table.loc["2025", "year total"] == 1200.0 and table.loc["2024", "year total"] == 900.0
    assert table.loc["2026", "growth vs previous year"] == pytest.approx(1170 / 1200 - 1)


def test_return_share_and_problems():
    o = _orders()
    gross = 35 * 100.0  # 35 monthly orders
    assert dh.return_share(o) == pytest.approx(30 / gross)
    h = dh.revenue_history(o, "2026-12-31")
    assert dh.health_problems(h, 0.01, "2026-12-31", min_history_quarters=8, max_return_share=0.05) == []
    problems = dh.health_problems(h, 0.2, "2027-03-31", min_history_quarters=12, max_return_share=0.05)
    assert [rule for rule, _ in problems] == ["short_history", "returns", "stale"]
    assert problems[0][1] == {"quarters": 11, "needed": 12}
    assert problems[2][1]["last_day"] == pd.Timestamp("2026-12-15")


def test_table_coverage_of_an_orders_only_company():
    o = _orders().assign(order_id=lambda d: d.index.astype(str))
    cov = dh.table_coverage(SalesData(orders=o)).set_index("table")
    assert cov.loc["orders", "present"] and cov.loc["orders", "rows"] == 36
    assert cov.loc["orders", "first date"] == "2024-02-15" and cov.loc["orders", "last date"] == "2026-12-15"
    assert cov.loc["orders", "what it enables"] == "everything (required)"
    assert not cov.loc["invoices", "present"] and cov.loc["invoices", "first date"] == ""
