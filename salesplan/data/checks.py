"""Argument checks shared by the models and planning steps, with planner-readable errors."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(frame: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    """Raise when ``frame`` is not a DataFrame or lacks any of ``columns``.

    The message names the table, the missing columns and the columns it does have, e.g.
    ``table 'orders' is missing column(s) ['amount']; expected at least [...], got [...]``.
    """
    columns = list(columns)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table {table!r}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"table {table!r} is missing column(s) {missing}; expected at least {columns}"
            f", got {list(frame.columns)}"
        )


def as_date(value, name: str = "as_of") -> pd.Timestamp:
    """``value`` as a timezone-naive midnight :class:`pandas.Timestamp`; a clear error if not a date."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a date") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"{name}={value!r} is not a date")
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def bad_parameter(name: str, value, expected: str) -> ValueError:
    """The error for a parameter outside its domain: ``parameter growth=-1.5 is invalid: expected ...``."""
    return ValueError(f"parameter {name}={value!r} is invalid: expected {expected}")
