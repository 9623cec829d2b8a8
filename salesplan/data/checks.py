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


def check_feature_frame(X: pd.DataFrame, table: str = "X", min_rows: int = 1) -> None:
    """Refuse model inputs that a fit would silently misread.

    * datetime and timedelta columns: a scorecard would bin them as categories and a
      likelihood would read them in nanoseconds; convert them explicitly (days since a
      date, ``.dt.days``);
    * text columns whose every value is a number (``"1200"``): numbers stored as text
      would become categories; convert with ``pd.to_numeric``;
    * columns with no value at all;
    * fewer than ``min_rows`` rows (a degenerate fit).

    Raises
    ------
    ValueError
        Naming the table, the column and what was expected.
    """
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
            raise ValueError(
                f"{table} column {c!r} holds {s.dtype} values; expected numbers or categories: "
                "convert it explicitly (e.g. days since a date, or .dt.days of a duration)"
            )
        if s.notna().sum() == 0:
            raise ValueError(f"{table} column {c!r} has no value at all; drop it or fill it")
        if s.dtype == object or str(s.dtype) in ("str", "string"):
            present = s.dropna()
            as_num = pd.to_numeric(present, errors="coerce")
            if len(present) and as_num.notna().all() and present.map(type).eq(str).all():
                raise ValueError(
                    f"{table} column {c!r} holds numbers stored as text (e.g. "
                    f"{present.iloc[0]!r}); they would be read as categories: convert it with "
                    "pd.to_numeric, or pass it in categorical_features to mean categories"
                )
    if len(X) < min_rows:
        raise ValueError(
            f"{table} has {len(X)} row(s); a fit needs at least {min_rows} to estimate "
            "anything (a degenerate fit is refused)"
        )


def check_numeric_input(values, name: str):
    """``values`` (array-like) refused when it holds dates, durations or text."""
    import numpy as np

    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise ValueError(
            f"{name} holds {dtype} values; expected plain numbers in the model's time unit: "
            f"convert explicitly (e.g. {name}.dt.days / 7 for weeks)"
        )
    if str(dtype) in ("object", "str", "string") or getattr(dtype, "kind", "") in ("U", "S", "O"):
        raise ValueError(f"{name} holds text ({dtype}); expected numbers: convert with pd.to_numeric")
