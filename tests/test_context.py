"""PlanContext: the history rule and the horizon, by hand-built examples."""

import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.planning.context import PlanContext, history_end_for


def _orders(last_day):
    days = pd.date_range("2025-01-01", last_day, freq="D")
    return pd.DataFrame({"order_id": range(len(days)), "order_date": days, "customer_id": "C1",
                         "amount": 1.0})


def test_history_ends_before_the_quarter_when_the_data_run_into_it():
    # data to 2027-02-14: the history for 2027Q1 still ends 2026-12-31
    assert history_end_for(_orders("2027-02-14"), "2027Q1") == pd.Timestamp("2026-12-31")


def test_history_ends_at_the_last_complete_month():
    # data to 2026-11-29: November is incomplete, so the history ends 2026-10-31
    assert history_end_for(_orders("2026-11-29"), "2027Q1") == pd.Timestamp("2026-10-31")
    # data to 2026-11-30: November is complete
    assert history_end_for(_orders("2026-11-30"), "2027Q1") == pd.Timestamp("2026-11-30")


def test_context_cuts_the_history_and_counts_the_horizon():
    data = SalesData(orders=_orders("2027-02-14"))
    ctx = PlanContext.build(data, "2027Q1")
    assert ctx.history_end == pd.Timestamp("2026-12-31")
    assert ctx.history.orders["order_date"].max() == pd.Timestamp("2026-12-31")
    assert len(ctx.data.orders) == len(data.orders)
    assert ctx.horizon_months == 3
    assert [str(m) for m in ctx.last_year_months] == ["2026-01", "2026-02", "2026-03"]
    assert [str(m) for m in ctx.previous_quarter_months] == ["2026-10", "2026-11", "2026-12"]
    # history to October: the quarter ends 5 months later
    assert PlanContext.build(SalesData(orders=_orders("2026-10-31")), "2027Q1").horizon_months == 5


def test_context_rejects_a_quarter_too_far_and_backtests_a_past_one():
    data = SalesData(orders=_orders("2026-12-31"))
    with pytest.raises(ValueError, match="2028Q2: the history ends 2026-12-31, so the quarter ends 18 months"):
        PlanContext.build(data, "2028Q2")
    past = PlanContext.build(data, "2026Q4")  # a back-test: the history stops before the quarter
    assert past.history_end == pd.Timestamp("2026-09-30") and past.horizon_months == 3


def test_fiscal_label():
    ctx = PlanContext.build(SalesData(orders=_orders("2026-12-31")), "2027Q1", fiscal_year_start_month=4)
    assert ctx.label.startswith("FY27")


def test_a_context_without_order_lines_keeps_its_dates_and_memo_and_holds_no_lines():
    data = SalesData(orders=_orders("2027-02-14"))
    ctx = PlanContext.build(data, "2027Q1", input_fingerprint="abc", fiscal_year_start_month=4)
    ctx.memo["k"] = 1
    bare = ctx.without_order_lines()
    assert len(bare.data.orders) == 0 and len(bare.history.orders) == 0
    assert list(bare.data.orders.columns) == list(data.orders.columns)  # the same columns
    assert bare.data.orders["order_date"].dtype == data.orders["order_date"].dtype
    assert (bare.quarter, bare.history_end, bare.input_fingerprint, bare.label, bare.horizon_months) == (
        pd.Period("2027Q1", "Q"), pd.Timestamp("2026-12-31"), "abc", "FY27Q4", 3)
    assert bare.memo is ctx.memo
    assert len(ctx.data.orders) == len(data.orders)  # the context it was made from is unchanged
