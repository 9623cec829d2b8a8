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

__all__ = ["ATOL", "DIAGNOSTIC_RTOL", "DIFFERENCE_OF", "RTOL", "compare_tables", "dump_store",
           "load_snapshots", "numbers_match", "store_tables", "texts_match"]

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
#: Columns that are a small difference of larger figures of the same row: ``{column: the
#: figure}``.  Such a value carries the rounding noise of the figure in absolute terms (a
#: target's stretch of 97 above a P50 of 14.4M moves by 0.015 when the P50 moves by 1e-9
#: relative on another CPU), so it is compared within ``rtol * |figure|`` of its row.
DIFFERENCE_OF = {
    "stretch": "forecast_p50",  # target - P50 - pipeline increment (targets: company, scenarios)
    "uplift_existing": "base",  # region target terms beside the region's base (targets: regions)
    "uplift_new": "base",
    "amount": "cumulative",  # a bridge step beside the running total it moves (targets: bridge)
}
#: a number as the reports print it: 1,234,567 / -12.5 / 0.34 / 1.2e-06 / 15%
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


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


def _value_and_unit(token: str) -> tuple[float, float]:
    mantissa, _, exponent = token.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10.0 ** int(exponent) if exponent else 1.0
    return float(mantissa) * scale, 10.0 ** -decimals * scale


def numbers_match(a: str, b: str, *, rtol: float = RTOL) -> bool:
    """True when two printed numbers are equal as text, or one unit of their last printed
    digit apart **and** within ``rtol`` relative: the rounding flip a last-bit float
    difference can cause next to a rounding boundary (6,521,298 vs 6,521,299)."""
    if a == b:
        return True
    (x, unit_x), (y, unit_y) = _value_and_unit(a), _value_and_unit(b)
    if unit_x != unit_y:
        return False
    diff = abs(x - y)
    return diff <= unit_x * (1 + 1e-9) and diff <= rtol * max(abs(x), abs(y))


def texts_match(reference: str, actual: str, *, rtol: float = RTOL) -> bool:
    """True when two texts are equal apart from their printed numbers, which appear in the
    same order and each pair of which :func:`numbers_match`."""
    if reference == actual:
        return True
    if not isinstance(reference, str) or not isinstance(actual, str):
        return False
    ref_numbers, act_numbers = _NUMBER.findall(reference), _NUMBER.findall(actual)
    return (_NUMBER.split(reference) == _NUMBER.split(actual) and len(ref_numbers) == len(act_numbers)
            and all(numbers_match(r, a, rtol=rtol) for r, a in zip(ref_numbers, act_numbers)))


def compare_tables(actual: pd.DataFrame, expected: pd.DataFrame, *, rtol: float = RTOL) -> list[str]:
    """Differences between a plan table and its snapshot, one line each (empty = equal).

    Shape, column names and the values of date and boolean columns must be equal; text
    must be equal apart from printed numbers, which may differ by a rounding flip of their
    last digit within ``rtol`` (:func:`texts_match`); numbers must agree within
    ``|a - b| <= rtol * max(|a|, |b|, |f|) + ATOL * max(1, scale)``, ``scale`` the column's
    largest absolute value and ``f`` the row's figure the column is a difference of
    (:data:`DIFFERENCE_OF`, when the table has it; else 0); ``rtol`` is
    :data:`DIAGNOSTIC_RTOL` for standard-error columns. NaN only equals NaN.
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
            size = np.maximum(np.abs(av), np.abs(ev))
            if DIFFERENCE_OF.get(str(col)) in expected.columns:
                figure = pd.to_numeric(expected[DIFFERENCE_OF[str(col)]], errors="coerce").to_numpy(float)
                size = np.fmax(size, np.abs(figure))
            with np.errstate(invalid="ignore"):
                close = np.abs(av - ev) <= tol * size + atol
            bad = ~(close | both_nan | (av == ev))
        else:
            bad = ~((a.astype(str) == e.astype(str)) | (a.isna() & e.isna())).to_numpy()
            for i in np.flatnonzero(bad):  # printed numbers: a last-digit rounding flip only
                bad[i] = not texts_match(e.iloc[i], a.iloc[i], rtol=rtol)
        if bad.any():
            rows = np.flatnonzero(bad)
            i = rows[0]
            problems.append(f"column {col!r}: {len(rows)} row(s) differ, first row {i}: "
                            f"{a.iloc[i]!r} != snapshot {e.iloc[i]!r}")
    return problems
