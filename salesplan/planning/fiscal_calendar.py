"""Fiscal calendar and currency labels of the target plan.

A fiscal year starts on the first day of ``fiscal_year_start_month`` (1 = January, the
calendar year).  Fiscal quarters are three consecutive months from that start.  A fiscal
year is named by the calendar year in which it **ends** (the pandas ``Q-<end month>``
convention; e.g. with ``fiscal_year_start_month = 4`` FY27 runs April 2026 - March 2027,
so FY27Q1 = April-June 2026 and calendar 2027Q1 = FY27Q4).  With a start in January the
fiscal quarter is the calendar quarter and is written ``2027Q1``.

Every amount the plan shows carries the company ``currency`` label (a code such as
``"CNY"`` or a symbol such as ``"¥"``); :func:`currency_label` gives the text used in
headers and captions.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["currency_label", "fiscal_freq", "fiscal_label", "fiscal_quarter", "quarter_months"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FY = re.compile(r"^(?:FY)?(\d{2}|\d{4})-?Q([1-4])$")


def _check_start(start_month) -> int:
    if isinstance(start_month, bool) or not isinstance(start_month, int) or not 1 <= start_month <= 12:
        raise ValueError(f"fiscal_year_start_month={start_month!r}: expected an integer month 1..12 "
                         "(1 = January, 4 = April)")
    return start_month


def fiscal_freq(start_month: int = 1) -> str:
    """pandas frequency of fiscal quarters: ``"Q-<month before the start>"`` (``Q-DEC`` for 1)."""
    s = _check_start(start_month)
    return f"Q-{_MONTHS[(s - 2) % 12]}"


def fiscal_quarter(quarter, start_month: int = 1) -> pd.Period:
    """A fiscal quarter as a ``pandas.Period`` with frequency :func:`fiscal_freq`.

    Parameters
    ----------
    quarter : str, Period or date-like
        ``"FY27Q1"``, ``"FY2027Q1"``, ``"2027Q1"`` or ``"2027-Q1"`` (fiscal year named by
        the calendar year in which it ends), a Period (re-expressed in the fiscal
        frequency: it must start on a fiscal quarter boundary) or a date inside the quarter.
    start_month : int
        First month of the fiscal year (1..12).

    Returns
    -------
    pandas.Period
        ``start_time`` / ``end_time`` are the quarter's first and last day.

    Examples
    --------
    >>> fiscal_quarter("FY27Q1", 4).start_time.date()   # April 2026
    datetime.date(2026, 4, 1)
    """
    freq = fiscal_freq(start_month)
    if isinstance(quarter, pd.Period):
        if quarter.freqstr[0] != "Q":
            raise ValueError(f"quarter={quarter!r}: expected a quarterly period")
        p = pd.Period(quarter.start_time, freq=freq)
        if p.start_time != quarter.start_time.normalize():
            raise ValueError(f"quarter={quarter!r} does not start on a quarter boundary of a fiscal year "
                             f"starting in month {start_month}")
        return p
    if isinstance(quarter, str):
        s = quarter.strip().upper().replace(" ", "")
        m = _FY.match(s)
        if not m:
            try:  # a date inside the quarter, e.g. "2026-12-15"
                return pd.Period(pd.Timestamp(quarter.strip()), freq=freq)
            except (TypeError, ValueError):
                raise ValueError(f"quarter={quarter!r}: expected text like '2027Q1' or 'FY27Q1'") from None
        year = int(m.group(1))
        year = 2000 + year if year < 100 else year
        return pd.Period(f"{year}Q{m.group(2)}", freq=freq)
    try:
        ts = pd.Timestamp(quarter)
    except (TypeError, ValueError):
        raise ValueError(f"quarter={quarter!r}: expected text like '2027Q1', a Period or a date") from None
    return pd.Period(ts, freq=freq)


def quarter_months(q: pd.Period) -> pd.DatetimeIndex:
    """The three month starts of quarter ``q`` (any fiscal frequency)."""
    return pd.date_range(q.start_time.normalize(), periods=3, freq="MS")


def fiscal_label(q: pd.Period, start_month: int = 1, *, months: bool = False) -> str:
    """``"2027Q1"`` for a calendar fiscal year, else ``"FY27Q4"``; ``months=True`` adds
    ``" (Jan–Mar 2027)"``."""
    p = fiscal_quarter(q, start_month)
    lab = str(p) if start_month == 1 else f"FY{p.qyear % 100:02d}Q{p.quarter}"
    if months:
        s, e = p.start_time, p.end_time
        span = f"{s:%b}–{e:%b %Y}" if s.year == e.year else f"{s:%b %Y}–{e:%b %Y}"
        lab = f"{lab} ({span})"
    return lab


def currency_label(currency: str = "") -> str:
    """Text naming the currency of every amount: ``"CNY"`` -> ``"CNY"``; ``""`` -> ``"company currency"``."""
    if not isinstance(currency, str):
        raise ValueError(f"currency={currency!r}: expected a code or symbol such as 'CNY', 'EUR' or '¥'")
    return currency.strip() or "company currency"
