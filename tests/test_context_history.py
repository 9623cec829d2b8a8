"""PlanContext's history (issue 19): the order lines up to the history's end, without a
second copy of them when every line is in the history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.data import SalesData
from salesplan.planning.context import PlanContext


def _orders(last_day: str) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", last_day, freq="7D").union([pd.Timestamp(last_day)])
    return pd.DataFrame({"order_id": [f"o{i}" for i in range(len(days))], "order_date": days,
                         "customer_id": "c1", "rep_id": "r1", "amount": 10.0})


def test_every_line_in_the_history_shares_the_frame():
    orders = _orders("2026-12-31")  # the data end the day before the plan quarter
    ctx = PlanContext.build(SalesData(orders=orders), "2027Q1")
    assert ctx.history_end == pd.Timestamp("2026-12-31")
    assert (orders["order_date"] <= ctx.history_end).all()
    assert ctx.history.orders is ctx.data.orders is orders
    assert ctx.history is not ctx.data


def test_lines_after_the_history_end_are_cut():
    orders = _orders("2027-01-20")  # lines inside the plan quarter
    ctx = PlanContext.build(SalesData(orders=orders), "2027Q1")
    want = orders[orders["order_date"] <= pd.Timestamp("2026-12-31")]
    assert len(want) < len(orders)
    pd.testing.assert_frame_equal(ctx.history.orders, want)
    assert ctx.data.orders is orders and len(ctx.data.orders) == len(orders)


def test_lines_until_copies_only_when_it_cuts():
    from salesplan.data.orders import lines_until

    orders = _orders("2026-12-31")
    assert lines_until(orders, pd.Timestamp("2026-12-31")) is orders  # every line kept: no copy
    cut = lines_until(orders, pd.Timestamp("2026-06-30"))
    assert cut is not orders and len(cut) < len(orders)
    assert cut["order_date"].max() <= pd.Timestamp("2026-06-30")
    pd.testing.assert_frame_equal(cut, orders[orders["order_date"] <= pd.Timestamp("2026-06-30")])


def test_lines_in_date_order_are_cut_without_a_copy():
    from salesplan.data.orders import lines_until

    orders = _orders("2026-12-31")  # in date order, as sources that store them so read them
    end = pd.Timestamp("2026-06-30")
    cut = lines_until(orders, end)
    assert len(cut) < len(orders) and cut["order_date"].max() <= end
    assert np.shares_memory(cut["amount"].to_numpy(), orders["amount"].to_numpy())  # not a copy
    assert (cut.index == orders.index[: len(cut)]).all()
    pd.testing.assert_frame_equal(cut, orders[orders["order_date"] <= end], check_index_type="equiv")
    # out of date order: the kept rows are taken (a copy), in their order
    shuffled = orders.iloc[::-1].reset_index(drop=True)
    got = lines_until(shuffled, end)
    pd.testing.assert_frame_equal(got, shuffled[shuffled["order_date"] <= end])
    assert got["order_date"].is_monotonic_decreasing
    assert not np.shares_memory(got["amount"].to_numpy(), shuffled["amount"].to_numpy())
