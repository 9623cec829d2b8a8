"""What each notebook reads from the data source: one definition for all notebooks.

A notebook reads only the tables its steps use (the others stay in the source), and its
input fingerprint -- which keys its runs in the plan store -- is that of the whole source,
computed one table at a time (:meth:`salesplan.data.sources.Source.fingerprint`), so it
equals the fingerprint of the same data read whole by any notebook or source kind::

    from salesplan.data.needs import load_for
    data, source = load_for("02_forecast", resolve_url(source))
    ctx = PlanContext.build(data, period, input_fingerprint=source.fingerprint(data))

Memory and time: at scale 100 (12.2M order lines) ``activities`` (~8.9M rows),
``invoices`` (~3.4M) and ``leads`` are each as large as a good part of ``orders``;
a notebook that does not use them does not hold them.
"""

from __future__ import annotations

from salesplan.data.schema import TABLE_NAMES, SalesData


def _all_but(*names: str) -> tuple[str, ...]:
    return tuple(n for n in TABLE_NAMES if n not in names)


#: The contract tables each notebook's steps read (the rest are not loaded).  Found by
#: reading every table the notebook's package functions touch (planning/, models/,
#: reports/ helpers they call); a table missing here would switch a section off, which
#: the notebooks' committed outputs (nbval) and the plan-table snapshots would show.
NOTEBOOK_TABLES: dict[str, tuple[str, ...]] = {
    # validation checks every table and its keys between tables
    "01_data_health": TABLE_NAMES,
    # monthly series by region and rep (customers' regions), the rep roster notes
    "02_forecast": ("orders", "customers", "reps", "regions"),
    # segments, churn (activities as a feature), credit (invoices), names
    "03_customer_risk": ("orders", "customers", "reps", "regions", "invoices", "activities"),
    # leads, funnel and scored pipeline (stage history, activities); no payments
    "03b_pipeline": _all_but("invoices", "marketing_spend"),
    # targets, funnel, scored pipeline, monitoring; no payments, no marketing
    "04_quarterly_targets": _all_but("invoices", "marketing_spend"),
    # headcount, marketing budget, coverage (activities), commission; no payments
    "05_resource_allocation": _all_but("invoices"),
    # the quarter in progress: orders, open deals and their stages, the plan's regions/reps
    "06_weekly_review": _all_but("invoices", "activities", "marketing_spend"),
    # rep results and the diagnosis (activities, payments, deals); no leads, no marketing
    "07_quarter_review": _all_but("leads", "marketing_spend"),
}


def tables_for(notebook: str) -> tuple[str, ...]:
    """The contract tables ``notebook`` reads (:data:`NOTEBOOK_TABLES`).

    Raises
    ------
    ValueError
        ``notebook`` is not one of the plan's notebooks (named with the known ones).
    """
    if notebook not in NOTEBOOK_TABLES:
        raise ValueError(
            f"notebook {notebook!r} is unknown: expected one of {sorted(NOTEBOOK_TABLES)}"
        )
    return NOTEBOOK_TABLES[notebook]


def load_for(notebook: str, url: str, *, coerce: bool = True):
    """Open ``url`` and read the tables ``notebook`` needs.

    Returns
    -------
    (SalesData, Source)
        The bundle (tables the notebook does not read are ``None`` and listed in its
        ``unread``; tables the source lacks are ``None`` as with ``load()``) and the open
        source, whose ``fingerprint(data)`` is the input fingerprint of the whole data.
    """
    from salesplan.data.sources import open_source

    source = open_source(url)
    data: SalesData = source.load(tables_for(notebook), coerce=coerce, skip_absent=True)
    return data, source
