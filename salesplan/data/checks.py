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


#: Days an ``as_of`` may lie after the last event of the data it reads (a year of silence
#: is plausible for one customer's orders; more means the data do not reach ``as_of``).
MAX_DAYS_AFTER_DATA = 366


def check_as_of(as_of, dates, table: str, event: str = "event",
                max_days_after: int = MAX_DAYS_AFTER_DATA) -> pd.Timestamp:
    """The one rule for a valid ``as_of`` (the last observed day, inclusive).

    ``as_of`` is valid when it reads as a date (:func:`as_date`: time and time zone
    dropped, midnight) and lies inside the data it is applied to:

        first(dates) <= as_of <= last(dates) + max_days_after days

    Before the first event nothing is known; long after the last one the data do not reach
    ``as_of``.  Models that know their data's end precisely pass a smaller
    ``max_days_after`` (credit: 31 days, since payment states after the data end are
    unknown).  ``as_of=None`` means the last event date.

    Parameters
    ----------
    as_of : date-like or None
    dates : Series or array of dates
        The event dates of the table read (e.g. ``orders.order_date``); missing dates are
        ignored.
    table, event : str
        For the message, e.g. ``"orders"`` and ``"order"``.
    max_days_after : int
        Days ``as_of`` may lie after the last event.

    Returns
    -------
    pandas.Timestamp
        ``as_of`` at midnight.

    Raises
    ------
    ValueError
        Not a date, no dated event, before the first event, too long after the last.
    """
    d = dates if isinstance(dates, pd.Series) else pd.Series(dates)
    if not pd.api.types.is_datetime64_any_dtype(d.dtype):  # a date column is read as it is, not copied
        d = pd.to_datetime(d, errors="coerce")
    first, last = d.min(), d.max()  # missing dates skipped
    if pd.isna(first):
        raise ValueError(f"table {table!r} has no dated {event}; expected at least one to place as_of")
    first, last = first.normalize(), last.normalize()
    if as_of is None:
        return last
    ts = as_date(as_of)
    if ts < first:
        raise ValueError(
            f"as_of={ts.date()} is before the first {event} ({first.date()}) of table {table!r}: "
            f"nothing is known at as_of; expected a date from {first.date()} on"
        )
    if (ts - last).days > max_days_after:
        raise ValueError(
            f"as_of={ts.date()} is {(ts - last).days} days after the last {event} ({last.date()}) "
            f"of table {table!r}: the data do not reach as_of; expected at most "
            f"{max_days_after} days after the data end"
        )
    return ts


def latest_date(*dates) -> pd.Timestamp:
    """The last date (midnight) over several date series: the default ``as_of`` of a data set."""
    last = [pd.to_datetime(pd.Series(d), errors="coerce").max() for d in dates if d is not None]
    last = [x for x in last if pd.notna(x)]
    if not last:
        raise ValueError("no dated row in the data: cannot place as_of; pass as_of explicitly")
    return pd.Timestamp(max(last)).normalize()


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


def check_number(name: str, value, lo=None, hi=None, *, lo_open: bool = False,
                 hi_open: bool = False, integer: bool = False, allow_none: bool = False,
                 what: str = "") -> None:
    """The one validator of numeric parameters (the frozen parameter dataclasses call it).

    ``value`` must be a finite real number (not a bool; a whole number when ``integer``)
    inside ``[lo, hi]`` (``(`` / ``)`` with ``lo_open`` / ``hi_open``; ``None`` = no bound);
    ``None`` passes when ``allow_none``.

    Raises
    ------
    ValueError
        One line naming the parameter, its value and the expected domain, e.g.
        ``parameter growth=-1.5 is invalid: expected a number in (-1, inf) (fraction)``.
    """
    import math

    import numpy as np

    if value is None and allow_none:
        return
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(float(value))
    if ok:
        ok = not ((lo is not None and (value < lo or (lo_open and value == lo)))
                  or (hi is not None and (value > hi or (hi_open and value == hi))))
    if not ok:
        kind = "a whole number" if integer else "a number"
        if lo is None and hi is None:
            dom = ""
        elif hi is None:
            dom = f" {'>' if lo_open else '>='} {lo}"
        elif lo is None:
            dom = f" {'<' if hi_open else '<='} {hi}"
        else:
            dom = f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        none = " or None" if allow_none else ""
        raise bad_parameter(name, value, f"{kind}{dom}{none}{what}")
