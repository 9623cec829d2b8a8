"""Can this data carry the plan?  The data-health notebook's (01) figures and rules.

- :func:`revenue_history`: net revenue per complete calendar quarter, the number of
  complete quarters, the last four quarters against the four before;
- :func:`revenue_by_year`: the same revenue as a quarter x year table with year totals;
- :func:`return_share`: returns and credit notes as a share of gross sales;
- :func:`health_problems`: the rules that make the answer "not yet";
- :func:`table_coverage`: which tables of the data contract are present, and what each
  switches on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from salesplan.data import SCHEMAS, SalesData

__all__ = ["HEALTH_COLUMNS", "RevenueHistory", "health_problems", "return_share", "revenue_by_year",
           "revenue_history", "revenue_year_table", "table_coverage"]


def _first_date_column(name: str) -> str | None:
    """The date column :func:`table_coverage` shows for table ``name`` (its first one)."""
    return next((c.name for c in SCHEMAS[name].columns if c.kind == "date"), None)


#: The tables whose every column the notebook's figures may read (small: kept whole).
_READ_WHOLE = ("customers", "reps", "regions", "marketing_spend")
#: What the data-health figures read once every column is checked (``columns`` of
#: :func:`salesplan.data.load_validated`): of the order lines the dates, customers, product
#: lines and amounts (:func:`revenue_history`, :func:`return_share`,
#: :func:`salesplan.data.summary.describe`); of the other large tables their rows and the
#: date :func:`table_coverage` shows.  The small tables are kept whole.
HEALTH_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_date", "customer_id", "product_line", "amount"),
    **{name: tuple(c for c in (_first_date_column(name),) if c)
       for name in SCHEMAS if name not in ("orders", *_READ_WHOLE)},
}


@dataclass(frozen=True)
class RevenueHistory:
    """Net revenue by complete calendar quarter (see :func:`revenue_history`).

    Attributes
    ----------
    by_quarter : Series
        Index quarter (``pandas.Period``), net revenue (company currency), complete
        quarters from ``first_full`` to ``last_full`` that hold orders.
    first_full, last_full : pandas.Period
        The first quarter the orders cover from its first day; the last quarter that ends
        on or before the data's date.
    quarters : int
        Complete quarters of history ``last_full - first_full + 1`` (0 when negative).
    last4, prev4 : float
        Revenue of the last four complete quarters and of the four before (NaN when the
        history is shorter).
    growth : float
        ``last4 / prev4 - 1`` (NaN when not computable).
    first_day, last_day : pandas.Timestamp
        The first and last order dates.
    """

    by_quarter: pd.Series
    first_full: pd.Period
    last_full: pd.Period
    quarters: int
    last4: float
    prev4: float
    growth: float
    first_day: pd.Timestamp
    last_day: pd.Timestamp

    def revenue_of(self, quarter) -> float:
        """Net revenue of one complete quarter (NaN when it is not in the history)."""
        return float(self.by_quarter.get(pd.Period(quarter, freq="Q"), float("nan")))


def revenue_history(orders: pd.DataFrame, as_of) -> RevenueHistory:
    """Net revenue (returns included) per complete calendar quarter up to ``as_of``.

    A quarter is complete when the orders start on or before its first day and ``as_of``
    is on or after its last day.

    Parameters
    ----------
    orders : DataFrame
        ``order_date``, ``amount`` (company currency; returns negative).
    as_of : date
        The data's date.
    """
    as_of = pd.Timestamp(as_of)
    if len(orders) == 0:
        raise ValueError("orders: no order lines, so there is no revenue history")
    quarter = orders["order_date"].dt.to_period("Q")
    first_day, last_day = orders["order_date"].min(), orders["order_date"].max()
    first_full = quarter.min() if first_day == quarter.min().start_time else quarter.min() + 1
    q_of = as_of.to_period("Q")
    last_full = q_of if as_of.normalize() == q_of.end_time.normalize() else q_of - 1
    by_quarter = orders.groupby(quarter)["amount"].sum().sort_index()
    by_quarter = by_quarter[(by_quarter.index >= first_full) & (by_quarter.index <= last_full)]
    last4 = by_quarter.iloc[-4:].sum() if len(by_quarter) >= 4 else float("nan")
    prev4 = by_quarter.iloc[-8:-4].sum() if len(by_quarter) >= 8 else float("nan")
    growth = last4 / prev4 - 1 if prev4 == prev4 and prev4 != 0 else float("nan")
    return RevenueHistory(by_quarter=by_quarter, first_full=first_full, last_full=last_full,
                          quarters=max(0, (last_full - first_full).n + 1), last4=last4, prev4=prev4,
                          growth=growth, first_day=first_day, last_day=last_day)


def revenue_by_year(by_quarter: pd.Series) -> pd.DataFrame:
    """Quarterly revenue as a quarter x year table, every quarter Q1-Q4 a row.

    Returns
    -------
    DataFrame
        Index ``quarter`` ("Q1".."Q4"), one column per year (text), net revenue (NaN for a
        quarter outside the history).
    """
    frame = by_quarter.rename_axis("q").rename("amount").reset_index()
    return (frame.assign(year=frame["q"].dt.year.astype(str), quarter="Q" + frame["q"].dt.quarter.astype(str))
            .pivot(index="quarter", columns="year", values="amount")
            .reindex(["Q1", "Q2", "Q3", "Q4"]))


def revenue_year_table(by_year: pd.DataFrame) -> pd.DataFrame:
    """One row per year: Q1-Q4, ``year total`` and ``growth vs previous year`` (fraction)."""
    table = by_year.T.rename_axis("year").rename_axis(None, axis=1)
    table["year total"] = table.sum(axis=1, min_count=1)
    table["growth vs previous year"] = table["year total"].pct_change()
    return table


def return_share(orders: pd.DataFrame) -> float:
    """Returns and credit notes over gross sales: ``-sum(negative amounts) / sum(positive amounts)``."""
    gross = orders.loc[orders["amount"] > 0, "amount"].sum()
    returns = -orders.loc[orders["amount"] < 0, "amount"].sum()
    return returns / gross if gross else float("nan")


def health_problems(history: RevenueHistory, returns: float, as_of, *, min_history_quarters: int,
                    max_return_share: float, stale_days: int = 31) -> list[tuple[str, dict]]:
    """The rules that keep the data from carrying the plan.

    Returns
    -------
    list of (rule, facts)
        ``("short_history", {"quarters", "needed"})`` when fewer complete quarters than
        ``min_history_quarters``; ``("returns", {"share", "limit"})`` when returns exceed
        ``max_return_share`` of gross sales; ``("stale", {"last_day", "as_of"})`` when the
        last order is more than ``stale_days`` days before ``as_of``.
    """
    as_of = pd.Timestamp(as_of)
    out = []
    if history.quarters < min_history_quarters:
        out.append(("short_history", {"quarters": history.quarters, "needed": min_history_quarters}))
    if returns > max_return_share:
        out.append(("returns", {"share": returns, "limit": max_return_share}))
    if history.last_day < as_of - pd.Timedelta(days=stale_days):
        out.append(("stale", {"last_day": history.last_day, "as_of": as_of}))
    return out


def table_coverage(data: SalesData) -> pd.DataFrame:
    """Every table of the data contract: present, rows, first and last date, what it enables.

    Returns
    -------
    DataFrame
        ``table, present, rows, first date, last date`` (``YYYY-MM-DD`` of the table's first
        date column, empty without one), ``what it enables``.
    """
    rows = []
    for name, spec in SCHEMAS.items():
        frame = getattr(data, name)
        dc = _first_date_column(name)
        dated = frame is not None and dc is not None and len(frame) > 0
        rows.append({
            "table": name,
            "present": frame is not None,
            "rows": len(frame) if frame is not None else 0,
            "first date": f"{frame[dc].min():%Y-%m-%d}" if dated else "",
            "last date": f"{frame[dc].max():%Y-%m-%d}" if dated else "",
            "what it enables": "everything (required)" if spec.required else spec.feature,
        })
    return pd.DataFrame(rows)
