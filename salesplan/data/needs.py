"""What each notebook reads from the data source: one definition for all notebooks.

A notebook reads only the tables and columns its steps use (:data:`NOTEBOOK_COLUMNS`;
the others stay in the source), and its input fingerprint -- which keys its runs in the
plan store -- is that of the whole source, computed one table (DuckDB, Parquet: one
column) at a time (:meth:`salesplan.data.sources.Source.fingerprint`), so it equals the
fingerprint of the same data read whole by any notebook or source kind::

    from salesplan.data.needs import load_for
    data, source = load_for("02_forecast", resolve_url(source))
    ctx = PlanContext.build(data, period, input_fingerprint=source.fingerprint(data))

Memory and time: at scale 100 (12.2M order lines) ``activities`` (~8.9M rows),
``invoices`` (~3.4M) and ``leads`` are each as large as a good part of ``orders``;
a notebook that does not use them does not hold them, and of ``orders`` only the
validation notebook holds the line ids and quantities no step reads.
"""

from __future__ import annotations

from salesplan.data.schema import SCHEMAS, TABLE_NAMES, SalesData


def _all_but(*names: str) -> tuple[str, ...]:
    return tuple(n for n in TABLE_NAMES if n not in names)


def _but(table: str, *names: str) -> tuple[str, ...]:
    """The contract columns of ``table`` except ``names``."""
    return tuple(c for c in SCHEMAS[table].column_names if c not in names)


#: The columns :meth:`SalesData.until` (and :func:`salesplan.planning.pipeline.known_at`)
#: read to cut a table at a date -- its dates and the facts it undoes -- and the keys
#: that join the tables: every notebook that loads a table loads these of it.
CUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_date", "customer_id", "rep_id", "amount"),
    "invoices": ("customer_id", "issue_date", "paid_date", "paid_amount"),
    "opportunities": ("opportunity_id", "created_date", "stage", "outcome", "closed_date"),
    "stage_history": ("opportunity_id", "stage", "entered_date"),
    "activities": ("date", "customer_id"),
    "marketing_spend": ("region", "month"),
    "leads": ("lead_id", "created_date", "status", "closed_date", "converted_opportunity_id"),
}

#: orders without the line id and the quantity: read only by validation (01)
_ORDERS = _but("orders", "order_id", "quantity")
#: orders without the product line as well: read only by the forecast (02), the targets
#: (04) and the weekly monitor (06); at scale 100 a text of 12.2M values (~180 MB)
_ORDERS_NO_PRODUCT = _but("orders", "order_id", "quantity", "product_line")
#: leads without the disqualification reason (read only by validation)
_LEADS = _but("leads", "disqualified_reason")
#: activities as the win model reads them: each customer's activity dates (feature
#: ``activity_days``); the rep and the kind (visits, calls) are read only by the allocation
#: (05) and the quarter review (07).  At scale 100, 8.9M rows: the two texts are ~220 MB
_ACTIVITY_DATES = ("date", "customer_id")

#: What each notebook's steps read: ``{table: columns}`` of the contract tables it loads
#: (``None``: every column the source holds, extra ones included); the other tables are
#: not loaded.  Found by reading the columns the notebook's package functions touch
#: (planning/, models/, reports/ helpers they call; ``grep '"column"'``): a table or
#: column missing here would switch a section off or fail a step, which the notebooks'
#: committed outputs (nbval) and the plan-table snapshots would show.  The small tables
#: (customers, reps, regions, marketing) are read whole: several steps look whether an
#: optional column is there (``"name" in reps.columns``) and they hold little.
NOTEBOOK_COLUMNS: dict[str, dict[str, tuple[str, ...] | None]] = {
    # validation checks every table, every column and the keys between tables
    "01_data_health": dict.fromkeys(TABLE_NAMES),
    # monthly series by region, rep and product line (customers' regions), the rep roster
    "02_forecast": {"orders": _ORDERS, "customers": None, "reps": None, "regions": None},
    # segments, churn (activities as a feature), credit (invoices), names
    "03_customer_risk": {"orders": _ORDERS_NO_PRODUCT, "customers": None, "reps": None,
                         "regions": None, "invoices": None,
                         "activities": ("date", "customer_id", "kind")},
    # leads, funnel and scored pipeline (stage history, activities); no payments
    "03b_pipeline": {**dict.fromkeys(_all_but("invoices", "marketing_spend")),
                     "orders": _ORDERS_NO_PRODUCT, "leads": _LEADS, "activities": _ACTIVITY_DATES},
    # targets, funnel, scored pipeline, monitoring; no payments, no marketing
    "04_quarterly_targets": {**dict.fromkeys(_all_but("invoices", "marketing_spend")),
                             "orders": _ORDERS, "leads": _LEADS, "activities": _ACTIVITY_DATES},
    # headcount, marketing budget, coverage (activities), commission, ABC classes; no
    # payments, no leads (the targets it allocates are read from the plan store)
    "05_resource_allocation": {**dict.fromkeys(_all_but("invoices", "leads")),
                               "orders": _ORDERS_NO_PRODUCT},
    # the quarter in progress: orders, open deals and their stages, the plan's regions/reps
    "06_weekly_review": {**dict.fromkeys(_all_but("invoices", "activities", "marketing_spend")),
                         "orders": _ORDERS, "leads": _LEADS},
    # rep results and the diagnosis (activities, collection rate, deals); no leads, no
    # marketing
    "07_quarter_review": {**dict.fromkeys(_all_but("leads", "marketing_spend")),
                          "orders": _ORDERS_NO_PRODUCT, "invoices": _but("invoices", "invoice_id")},
}

#: The contract tables each notebook reads (those of :data:`NOTEBOOK_COLUMNS`).
NOTEBOOK_TABLES: dict[str, tuple[str, ...]] = {
    notebook: tuple(n for n in TABLE_NAMES if n in tables)
    for notebook, tables in NOTEBOOK_COLUMNS.items()
}


def tables_for(notebook: str) -> tuple[str, ...]:
    """The contract tables ``notebook`` reads (:data:`NOTEBOOK_TABLES`).

    Raises
    ------
    ValueError
        ``notebook`` is not one of the plan's notebooks (named with the known ones).
    """
    if notebook not in NOTEBOOK_COLUMNS:
        raise ValueError(
            f"notebook {notebook!r} is unknown: expected one of {sorted(NOTEBOOK_COLUMNS)}"
        )
    return NOTEBOOK_TABLES[notebook]


def columns_for(notebook: str) -> dict[str, tuple[str, ...]]:
    """``{table: columns}`` of the tables ``notebook`` reads some columns of only
    (:data:`NOTEBOOK_COLUMNS`; the tables it reads whole are not named).

    Raises
    ------
    ValueError
        ``notebook`` is not one of the plan's notebooks.
    """
    tables_for(notebook)
    return {t: cols for t, cols in NOTEBOOK_COLUMNS[notebook].items() if cols is not None}


def load_for(notebook: str, url: str, *, coerce: bool = True):
    """Open ``url`` and read the tables and columns ``notebook`` needs.

    Only those columns are read from the source (the ``SELECT`` list of a DuckDB or SQL
    query, the columns read of a CSV or Parquet file); a column the source lacks is
    simply absent from the bundle, as when the table is read whole, and the step that
    needs it says so.

    Returns
    -------
    (SalesData, Source)
        The bundle (tables the notebook does not read are ``None`` and listed in its
        ``unread``; tables the source lacks are ``None`` as with ``load()``) and the open
        source, whose ``fingerprint(data)`` is the input fingerprint of the whole data
        (the columns not loaded are read for it one at a time where the source allows).
    """
    from salesplan.data.sources import open_source

    source = open_source(url)
    data: SalesData = source.load(tables_for(notebook), coerce=coerce, skip_absent=True,
                                  columns=columns_for(notebook))
    return data, source
