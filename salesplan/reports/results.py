"""Reading upstream notebook results from the plan store, deterministically.

A downstream notebook (targets) needs what an upstream one (forecast) saved.  Reading
"the latest run" alone would make its output depend on which notebook ran last (pytest
workers, a planner's experiments).  :func:`upstream` therefore reads the latest run of
that kind for this period *made from the same input data* (same fingerprint) and, when
there is none, computes it on the spot and saves it, so a notebook gives the same
numbers alone in JupyterLab, under ``salesplan run`` and under ``pytest --nbval``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
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
    match: Sequence[str] = (),
    read: bool = True,
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
    match : sequence of str
        Names of ``parameters`` that matter: a stored run qualifies only when it recorded
        the same value for each (compared as JSON text), else ``compute`` runs with the
        caller's parameters.  E.g. the targets notebook asks for the forecast with its own
        ``seed`` and ``history_end``; a forecast stored with another seed does not qualify.
    read : bool
        False: only make sure the run is stored (computed and saved if absent) and return
        its id, reading no table back (a notebook that saves a run for a later one).

    Returns
    -------
    salesplan.data.store.PlanRun or str
        ``.tables`` (name -> DataFrame) and ``.meta`` (run id, parameters, ...); with
        ``read=False`` the run id.

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
    if match and len(runs):
        wanted = {k: _as_json(dict(parameters or {}).get(k)) for k in match}
        same = runs["parameters"].map(lambda text: all(
            _as_json(json.loads(text or "{}").get(k)) == v for k, v in wanted.items()))
        runs = runs[same.astype(bool)]
    if len(runs):
        return store.read_run(runs["run_id"].iloc[-1]) if read else str(runs["run_id"].iloc[-1])
    if compute is None:
        data_note = " from the same input data" if input_fingerprint else ""
        param_note = f" with the same {', '.join(match)}" if match else ""
        raise KeyError(
            f"the plan store {store.url} holds no '{kind}' run for {period}{data_note}{param_note}; "
            f"run the '{kind}' notebook first (salesplan run -n <its name>)"
        )
    tables = dict(compute())
    run_id = store.write_run(kind, period, dict(parameters or {}), input_fingerprint, tables)
    del tables  # saved: with read=False nothing holds them further
    return store.read_run(run_id) if read else run_id


def _as_json(value) -> str:
    """A parameter value as canonical JSON text (numbers 1 and 1.0 compare equal)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True, default=str)
