"""Plan-table snapshots: what the notebooks wrote to the plan store, kept as Parquet files.

The committed notebooks are checked in two ways (docs/ARCHITECTURE.md, "Notebook
checks"): nbval compares every printed output as text, tolerating only what a last-bit
float difference between CPUs can do to a printed number; and every table the notebooks
write to the plan store is compared here with a committed snapshot under a relative
tolerance of 1e-6 (:data:`RTOL`).  ``python -m salesplan.reports.refresh_notebooks``
writes both.

Layout: ``<folder>/<kind>-<period>/<table>.parquet``, one file per table of the latest
complete run of each ``(kind, period)`` in the store.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ATOL", "DIAGNOSTIC_RTOL", "RTOL", "compare_tables", "dump_store", "load_snapshots", "store_tables"]

#: Relative tolerance of a plan-table value against its snapshot: far above what
#: last-bit float differences between CPUs produce (~1e-12), far below a real change
#: (a 0.01% change of any value fails).
RTOL = 1e-6
#: Absolute tolerance: ``ATOL * max(1, largest |value| of the column)``.  Values that are
#: small differences of large quantities (a regret of 4.6e-06 on a margin of ~1), or small
#: members of a column of large ones (a rep's sample path of 716 beside company paths of
#: millions: 1.2e-6 relative seen between BLAS kernels and thread schedules), carry the
#: noise of the large quantity, not a relative 1e-6 of their own.
ATOL = 1e-9
#: Standard errors of fitted parameters (columns ``se``, ``*_se``, ``se_*``, ``rel_se*``)
#: are diagnostics of ill-identified fits and move ~1e-6 relative between BLAS kernels
#: (1.26331313 vs 1.26331440 seen); they get 1e-5.  Plan numbers keep 1e-6.
DIAGNOSTIC_RTOL = 1e-5
_DIAGNOSTIC = re.compile(r"^(se|rel_se(_\w+)?|se_\w+|\w+_se)$")


def store_tables(store_url: str) -> dict[str, pd.DataFrame]:
    """Every table of the latest complete run per ``(kind, period)``, keyed
    ``"<kind>-<period>/<table>"``."""
    from salesplan.data import PlanStore

    store = PlanStore(store_url)
    try:
        runs = store.list_runs()
        out: dict[str, pd.DataFrame] = {}
        for (kind, period), _ in runs.groupby(["kind", "period"], sort=True):
            run = store.read_run(kind=kind, period=period)
            for name, table in run.tables.items():
                out[f"{kind}-{period}/{name}"] = table
        return out
    finally:
        store.dispose()


def dump_store(store_url: str, folder: str | Path) -> list[Path]:
    """Write :func:`store_tables` as Parquet files under ``folder`` (replacing it)."""
    import shutil

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    written = []
    for key, table in store_tables(store_url).items():
        path = folder / f"{key}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        _plain(table).to_parquet(path, index=False, compression="zstd")
        written.append(path)
    return written


def load_snapshots(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The snapshot tables under ``folder``, keyed like :func:`store_tables`."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder).with_suffix("")): pd.read_parquet(p)
        for p in sorted(folder.glob("*/*.parquet"))
    }


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """The table with its index as columns and text column labels (Parquet-ready)."""
    flat = table.reset_index(drop=isinstance(table.index, pd.RangeIndex))
    flat.columns = [str(c) for c in flat.columns]
    return flat


def compare_tables(actual: pd.DataFrame, expected: pd.DataFrame, *, rtol: float = RTOL) -> list[str]:
    """Differences between a plan table and its snapshot, one line each (empty = equal).

    Shape, column names and the values of text, date and boolean columns must be equal;
    numbers must agree within ``|a - b| <= rtol * max(|a|, |b|) + ATOL * max(1, scale)``,
    ``scale`` the column's largest absolute value (``rtol`` is :data:`DIAGNOSTIC_RTOL` for
    standard-error columns); NaN only equals NaN.
    """
    actual, expected = _plain(actual), _plain(expected)
    if list(actual.columns) != list(expected.columns):
        return [f"columns {list(actual.columns)} != snapshot {list(expected.columns)}"]
    if len(actual) != len(expected):
        return [f"{len(actual)} rows != snapshot {len(expected)} rows"]
    problems = []
    for col in actual.columns:
        a, e = actual[col], expected[col]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(e) \
                and not pd.api.types.is_bool_dtype(a):
            av, ev = a.to_numpy(float), e.to_numpy(float)
            tol = max(rtol, DIAGNOSTIC_RTOL) if _DIAGNOSTIC.match(str(col)) else rtol
            finite = np.abs(ev[np.isfinite(ev)])
            atol = ATOL * max(1.0, float(finite.max()) if finite.size else 1.0)
            both_nan = np.isnan(av) & np.isnan(ev)
            with np.errstate(invalid="ignore"):
                close = np.abs(av - ev) <= tol * np.maximum(np.abs(av), np.abs(ev)) + atol
            bad = ~(close | both_nan | (av == ev))
        else:
            bad = ~((a.astype(str) == e.astype(str)) | (a.isna() & e.isna())).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            i = rows[0]
            problems.append(f"column {col!r}: {len(rows)} row(s) differ, first row {i}: "
                            f"{a.iloc[i]!r} != snapshot {e.iloc[i]!r}")
    return problems
