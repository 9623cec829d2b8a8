"""Each customer's first order date computed once (:func:`salesplan.planning.pipeline.scoring_data`)
and read at every cut (:func:`first_order_dates`) against the old per-cut computation: the
minimum ``order_date`` per customer of the cut lines, and against hand values."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.data.schema import SalesData
from salesplan.planning.pipeline import first_order_dates, scoring_data

d = pd.Timestamp


def _data() -> SalesData:
    # C1: a return on its first day (01-10), sales later; C2: first and only sales on 02-01;
    # C3: sales from 03-15 on (after the early cuts); C4: two lines on one day (01-20)
    rows = [("C1", "2026-01-10", -5.0), ("C1", "2026-01-12", 20.0), ("C1", "2026-03-01", 7.0),
            ("C2", "2026-02-01", 3.0), ("C2", "2026-02-01", 4.0),
            ("C3", "2026-03-15", 9.0), ("C3", "2026-03-20", 1.0),
            ("C4", "2026-01-20", 2.0), ("C4", "2026-01-20", -2.0)]
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(len(rows))],
                           "order_date": [d(r[1]) for r in rows], "customer_id": [r[0] for r in rows],
                           "rep_id": "R1", "product_line": "P", "quantity": 1.0, "amount": [r[2] for r in rows]})
    return SalesData(orders=orders)


#: hand: the customers that had ordered by each cut (inclusive) and their first order day
HAND = {"2026-01-09": {},
        "2026-01-10": {"C1": d("2026-01-10")},
        "2026-01-31": {"C1": d("2026-01-10"), "C4": d("2026-01-20")},
        "2026-02-01": {"C1": d("2026-01-10"), "C2": d("2026-02-01"), "C4": d("2026-01-20")},
        "2026-03-15": {"C1": d("2026-01-10"), "C2": d("2026-02-01"), "C3": d("2026-03-15"), "C4": d("2026-01-20")},
        "2026-12-31": {"C1": d("2026-01-10"), "C2": d("2026-02-01"), "C3": d("2026-03-15"), "C4": d("2026-01-20")}}


def _as_dict(first: pd.Series) -> dict:
    return {str(k): pd.Timestamp(v) for k, v in first.items()}


@pytest.mark.parametrize("cut", sorted(HAND))
def test_first_order_dates_of_a_cut_of_the_reduced_orders_are_the_old_per_cut_minimum(cut):
    data = _data()
    old = data.until(cut).orders.groupby("customer_id")["order_date"].min()  # the computation before
    new = first_order_dates(scoring_data(data).until(cut).orders)
    assert _as_dict(new) == _as_dict(old) == HAND[cut]
    assert new.index.is_unique
    assert new.dtype == old.dtype


def test_first_order_dates_of_plain_orders_are_the_minimum_per_customer():
    orders = _data().orders
    assert "first_order" not in orders.columns
    assert _as_dict(first_order_dates(orders)) == HAND["2026-12-31"]


def test_the_reduced_orders_mark_one_first_row_per_customer_at_amount_zero():
    o = scoring_data(_data()).orders
    marked = o[o["first_order"]]
    assert sorted(zip(marked["customer_id"], marked["order_date"], marked["amount"])) == [
        ("C1", d("2026-01-10"), 0.0), ("C2", d("2026-02-01"), 0.0), ("C3", d("2026-03-15"), 0.0),
        ("C4", d("2026-01-20"), 0.0)]
    assert (o.loc[~o["first_order"], "amount"] > 0).all()  # the other rows: customer-day sums of sales
