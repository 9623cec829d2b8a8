"""What counts as an order, in one place.

The contract's ``orders`` table holds **order lines**: ``order_id`` is a line id (one
product line of a purchase, or one return/credit-note line), not an order number.  An
**order** (a purchase occasion) is

    the lines of one customer on one day with ``amount >= 0``

so its key is ``(customer_id, order_date)`` and its **value** is the sum of those lines'
``amount`` (company currency, gross of returns).  Zero-value lines (free goods) belong to
an order, as in the CDNOW data.  Lines with ``amount < 0`` are returns or credit notes:
they are not orders (a return is usually dated days after its purchase and the contract
does not link the two); they count in *net* revenue only.  Two purchases of one customer
on one day are one order (the data cannot tell them apart).

Used by everything that counts orders or takes order values: RFM frequency
(:func:`salesplan.models.segments.rfm_scores`), the buy-till-you-die summary and the
churn features (:mod:`salesplan.models.churn`), order counts by region and month
(:func:`salesplan.planning.allocation.region_month_sales`), average order value in the
rep review (:mod:`salesplan.planning.performance`) and the order-value moments of the
weekly review (:mod:`salesplan.planning.review`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["ORDER_KEY", "count_orders", "lines_until", "order_values", "purchase_lines"]

#: The columns that identify one order.
ORDER_KEY: tuple[str, str] = ("customer_id", "order_date")


def lines_until(lines: pd.DataFrame, end) -> pd.DataFrame:
    """The lines of ``lines`` dated on or before ``end`` (``order_date <= end``).

    ``lines`` itself when every line is (the usual plan: the data end before the plan
    quarter), so the order lines -- ~0.7-1.5 GB at scale 100 -- are not copied for a cut
    that keeps them all; the first rows of ``lines`` (a slice, not a copy) when the lines
    are in date order (as a source that stores them so reads them: the monitoring and
    back-test quarters' cuts); else a new frame of the kept rows.  The result is only read
    (as every step reads a bundle's frames): values set in it would change ``lines``.

    Parameters
    ----------
    lines : DataFrame
        Lines with an ``order_date`` column (datetime).
    end : Timestamp
        The last day kept (inclusive).
    """
    kept = (lines["order_date"] <= end).to_numpy()
    n = int(kept.sum())
    if n == len(kept):
        return lines
    if kept[:n].all():  # in date order: the kept lines are the first n
        return lines.iloc[:n]
    return lines[kept]


def purchase_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """The lines of ``lines`` that belong to an order: ``amount >= 0`` (returns left out)."""
    return lines.loc[lines["amount"] >= 0]


def count_orders(lines: pd.DataFrame, by: str | Sequence[str] | None = None):
    """Number of orders among ``lines``, in total or per group of ``by`` columns.

    Parameters
    ----------
    lines : DataFrame
        Order lines with ``customer_id``, ``order_date``, ``amount`` and the ``by`` columns.
    by : str or sequence of str, optional
        Group columns (e.g. ``"customer_id"``, ``"rep_id"``, ``["region", "month"]``).

    Returns
    -------
    int or Series
        Distinct ``(customer_id, order_date)`` pairs with a line of ``amount >= 0``: an
        ``int`` without ``by``, else an int64 Series indexed by the groups that have
        orders (reindex with ``fill_value=0`` for the others).
    """
    pos = purchase_lines(lines)
    if by is None:
        return int(len(pos.drop_duplicates(list(ORDER_KEY))))
    cols = [by] if isinstance(by, str) else list(by)
    keys = list(dict.fromkeys([*cols, *ORDER_KEY]))
    return pos.drop_duplicates(keys).groupby(cols, sort=True).size().astype("int64")


def order_values(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order: ``customer_id``, ``order_date``, ``value`` (currency), ``lines``.

    ``value`` is the sum of the order's lines (``amount >= 0``); ``lines`` their number.
    Sorted by ``customer_id`` then ``order_date``.
    """
    pos = purchase_lines(lines)
    g = pos.groupby(list(ORDER_KEY), sort=True)["amount"]
    return pd.DataFrame({"value": g.sum(), "lines": g.size().astype("int64")}).reset_index()
