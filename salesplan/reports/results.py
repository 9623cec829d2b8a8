"""Reading upstream notebook results from the plan store, deterministically.

A downstream notebook (targets) needs what an upstream one (forecast) saved.  Reading
"the latest run" alone would make its output depend on which notebook ran last (pytest
workers, a planner's experiments).  :func:`upstream` therefore reads the latest run of
that kind for this period *made from the same input data* (same fingerprint) and, when
there is none, computes it on the spot and saves it, so a notebook gives the same
numbers alone in JupyterLab, under ``salesplan run`` and under ``pytest --nbval``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

__all__ = ["upstream"]


def upstream(
    plan_store: str,
    kind: str,
    period: str,
    *,
    input_fingerprint: str | None = None,
    compute: Callable[[], Mapping[str, pd.DataFrame]] | None = None,
    parameters: Mapping[str, Any] | None = None,
):
    """The tables of the latest ``kind`` run for ``period`` (and input), computed if absent.

    Parameters
    ----------
    plan_store : str
        Plan store URL (relative ``duckdb:///`` paths are resolved like the notebooks'
        ``source``; see :func:`salesplan.reports.resolve_url`).
    kind, period : str
        What to read, e.g. ``"forecast"``, ``"2027Q1"``.
    input_fingerprint : str, optional
        :func:`salesplan.data.fingerprint` of the data the downstream notebook uses; only
        runs made from the same data qualify.
    compute : callable, optional
        Called with no argument when no run qualifies; returns the tables
        (name -> DataFrame), which are saved as a new ``kind`` run with ``parameters``.
    parameters : mapping, optional
        Parameters recorded with a computed run.

    Returns
    -------
    salesplan.data.store.PlanRun
        ``.tables`` (name -> DataFrame) and ``.meta`` (run id, parameters, ...).

    Raises
    ------
    KeyError
        No qualifying run and no ``compute``: the message says which notebook to run.
    """
    from salesplan.data import PlanStore
    from salesplan.reports import resolve_url

    store = PlanStore(resolve_url(plan_store))
    runs = store.list_runs(kind)
    runs = runs[runs["period"] == period]
    if input_fingerprint is not None:
        runs = runs[runs["input_fingerprint"] == input_fingerprint]
    if len(runs):
        return store.read_run(runs["run_id"].iloc[-1])
    if compute is None:
        data_note = " from the same input data" if input_fingerprint else ""
        raise KeyError(
            f"the plan store {store.url} holds no '{kind}' run for {period}{data_note}; "
            f"run the '{kind}' notebook first (salesplan run -n <its name>)"
        )
    tables = dict(compute())
    run_id = store.write_run(kind, period, dict(parameters or {}), input_fingerprint, tables)
    return store.read_run(run_id)
