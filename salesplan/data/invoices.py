"""Days past due of an invoice, in one place.

Seen at the end of day ``as_of``, an invoice is **settled** when it has a ``paid_date`` on
or before ``as_of`` (a payment after ``as_of`` is not known yet: the invoice is open), and
its **days past due** are

    dpd = max(0, end - due_date)  in days,  end = paid_date if settled else as_of

so a settled invoice keeps the lateness it was paid with and an open one ages day by day.
An invoice *reaches* ``d`` days past due on ``due_date + d`` unless settled before that
day.  Used by the credit features, the early-warning list and the credit target
(:mod:`salesplan.models.credit`) and by the churn features (:mod:`salesplan.models.churn`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["days_past_due", "settled_by"]


def _dates(s: pd.Series) -> pd.Series:
    """``pd.to_datetime(s)``; a ``datetime64[ns]`` Series as it is (``to_datetime`` would
    first sample it through Python ``Timestamp`` objects to return the same values)."""
    if isinstance(s, pd.Series) and s.dtype == "datetime64[ns]":
        return s
    return pd.to_datetime(s)


def settled_by(paid_date: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """True where the invoice is paid on or before ``as_of`` (missing ``paid_date``: open)."""
    paid = _dates(paid_date)
    return paid.notna() & (paid <= as_of)


def days_past_due(due_date: pd.Series, paid_date: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Days past due at ``as_of`` (module docstring), int64, aligned with ``due_date``.

    Parameters
    ----------
    due_date, paid_date : Series of dates
        Per invoice; ``paid_date`` missing (NaT) for invoices never paid.
    as_of : Timestamp
        The day the invoices are seen at (midnight; see
        :func:`salesplan.data.checks.check_as_of`).

    Returns
    -------
    Series
        ``max(0, end - due_date)`` in whole days, ``end = paid_date`` when
        ``paid_date <= as_of`` else ``as_of``; float with NaN where ``due_date`` is missing.
    """
    due = _dates(due_date)
    paid = _dates(paid_date)
    end = paid.where(settled_by(paid, as_of), as_of)
    days = np.maximum((end - due).dt.days.to_numpy(dtype=float), 0.0)
    if np.isnan(days).any():  # a missing due date has no lateness
        return pd.Series(days, index=due.index)
    return pd.Series(days.astype("int64"), index=due.index)
