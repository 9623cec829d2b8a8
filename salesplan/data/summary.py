"""A short, readable description of a sales data bundle (what `make plan` prints first)."""

from __future__ import annotations

import pandas as pd

from salesplan.data.schema import SalesData


def describe(data: SalesData) -> pd.DataFrame:
    """Headline facts of ``data``: one row per fact, columns ``fact`` and ``value``.

    Revenue is the sum of order-line ``amount`` (company currency); returns (negative
    lines) are counted apart and netted in ``net revenue``.
    """
    orders = data.orders
    sales = orders.loc[orders["amount"] >= 0, "amount"]
    returns = orders.loc[orders["amount"] < 0, "amount"]
    first, last = orders["order_date"].min(), orders["order_date"].max()
    rows = [
        ("order lines", f"{len(orders):,}"),
        ("period", f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"),
        ("customers with orders", f"{orders['customer_id'].nunique():,}"),
        ("gross sales", f"{sales.sum():,.0f}"),
        ("returns / credit notes", f"{returns.sum():,.0f} ({len(returns):,} lines)"),
        ("net revenue", f"{orders['amount'].sum():,.0f}"),
        ("product lines", f"{orders['product_line'].nunique():,}"),
    ]
    for name, frame in data.tables():
        if name != "orders":
            rows.append((f"table {name}", f"{len(frame):,} rows"))
    if data.reps is not None:
        active = data.reps["exit_date"].isna() | (data.reps["exit_date"] > last)
        rows.append(("active reps", f"{int(active.sum()):,}"))
    if data.regions is not None:
        rows.append(("regions", ", ".join(map(str, data.regions["region"]))))
    return pd.DataFrame(rows, columns=["fact", "value"])


def yearly_revenue(data: SalesData) -> pd.DataFrame:
    """Net revenue by calendar year and quarter (rows: year, columns: Q1..Q4, total)."""
    orders = data.orders
    when = orders["order_date"].dt
    # grouped by whole-number keys: no copy of the order lines, no text label per line
    sums = orders["amount"].groupby([when.year.rename("year"), when.quarter.rename("quarter")]).sum()
    table = sums.unstack("quarter", fill_value=0.0).sort_index()
    table.columns = pd.Index([f"Q{q}" for q in table.columns], name="quarter")
    table["total"] = table.sum(axis=1)
    return table
