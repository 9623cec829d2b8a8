"""Reading raw values of real exports: dates and numbers, without silent guesses.

A CSV export holds text; how that text is read is decided once per column, from all
of its values, never value by value:

* **Dates.**  ISO dates (``2026-03-05``, with or without a time) are read as such.
  ``05/03/2026`` is day-first when some value has a first part above 12, month-first
  when some value has a second part above 12; when every value reads both ways the
  column is *ambiguous*, and a column mixing formats is *mixed*: both are errors
  unless the source declares the format (``date_format=%d/%m/%Y``).  Numbers are Excel
  serial day numbers only when declared (``date_format=excel``).
* **Numbers.**  Plain numbers (``1234.56``, ``-3``, ``1e3``).  Thousands separators,
  a decimal comma and currency symbols only when declared (``thousands=","``,
  ``decimal=","``, ``currency="$"``).  ``inf`` and ``nan`` are never numbers.

Values that cannot be read become missing in the coerced table and are reported as
*unreadable* by :func:`salesplan.data.validate` (which reads the raw values with the
same functions), with the reason.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, fields
from decimal import Decimal

import numpy as np
import pandas as pd

__all__ = ["ReadOptions", "ParsedColumn", "parse_dates", "parse_numbers", "EXCEL_EPOCH"]

#: Excel's day 0 (serial 1 = 1900-01-01, counting Excel's phantom 1900-02-29).
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?"
_YMD_RE = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME + "$")
_XXY_RE = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME + "$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_NOT_FINITE = re.compile(r"^[+-]?(?:inf|infinity|nan)$", re.IGNORECASE)
_CURRENCY_CHARS = re.compile(r"[$€£¥₹₩₽¢]|\b(?:USD|EUR|GBP|CNY|RMB|JPY|CHF)\b")


@dataclass(frozen=True)
class ReadOptions:
    """How the raw values of a source are read and which plausibility limits apply.

    Set them in the source URL query (``exports/2026?date_format=%d/%m/%Y&decimal=,``)
    or with the ``salesplan validate`` / ``salesplan run`` options of the same names.

    Attributes
    ----------
    date_format : str, optional
        ``strftime`` format of every text date (``%d/%m/%Y``), or ``excel`` for Excel
        serial day numbers.  Default: detected per column from all values.
    decimal : str, default "."
        Decimal mark of text numbers (``","`` for ``1234,56``).
    thousands : str, optional
        Thousands separator of text numbers (``","``, ``"."``, ``" "``, ``"'"``).
    currency : str, optional
        Currency symbol or code written next to amounts (``"$"``, ``"€"``, ``"EUR"``).
    first_date : str, optional
        ``YYYY-MM-DD``: event dates before it are errors (suspected typos).  Default:
        isolated dates more than ``max_gap_days`` before (or after) the rest are.
    max_gap_days : int, default 366
        A run of event dates separated from the bulk by a gap longer than this, and
        holding at most 1% of the rows, is reported as suspected typos.
    outlier_mads : float, default 200
        An order amount more than this many median absolute deviations from both its
        customer's and the company's median is a warning.
    outlier_error_mads : float, default 10000
        ... and an error when it is this many MADs from the company's median.
    """

    date_format: str | None = None
    decimal: str = "."
    thousands: str | None = None
    currency: str | None = None
    first_date: str | None = None
    max_gap_days: int = 366
    outlier_mads: float = 200.0
    outlier_error_mads: float = 10000.0

    def __post_init__(self):
        if self.decimal not in (".", ","):
            raise ValueError(f"option decimal={self.decimal!r} is invalid: expected '.' or ','")
        if self.thousands is not None and (
            self.thousands == self.decimal or self.thousands not in (",", ".", " ", "'", "\u00a0")
        ):
            raise ValueError(
                f"option thousands={self.thousands!r} is invalid: expected one of ',', '.', "
                f"' ', \"'\" and different from decimal={self.decimal!r}"
            )
        if self.date_format is not None and self.date_format != "excel" and "%" not in self.date_format:
            raise ValueError(
                f"option date_format={self.date_format!r} is invalid: expected a strftime "
                "format such as %d/%m/%Y, or 'excel'"
            )
        if self.first_date is not None:
            try:
                pd.Timestamp(self.first_date)
            except (TypeError, ValueError):
                raise ValueError(
                    f"option first_date={self.first_date!r} is invalid: expected YYYY-MM-DD"
                ) from None
        if not (int(self.max_gap_days) >= 1):
            raise ValueError(f"option max_gap_days={self.max_gap_days!r} is invalid: expected >= 1")
        if not (0 < float(self.outlier_mads) <= float(self.outlier_error_mads)):
            raise ValueError(
                f"options outlier_mads={self.outlier_mads!r}, outlier_error_mads="
                f"{self.outlier_error_mads!r} are invalid: expected 0 < outlier_mads <= "
                "outlier_error_mads"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names (also the URL query keys)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: dict) -> ReadOptions:
        """Options from text values (a URL query); unknown names raise ``ValueError``."""
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise ValueError(f"unknown read option(s) {unknown}; expected {list(cls.names())}")
        kw: dict = {}
        for k, v in values.items():
            if k in ("max_gap_days",):
                kw[k] = _number_option(k, v, int)
            elif k in ("outlier_mads", "outlier_error_mads"):
                kw[k] = _number_option(k, v, float)
            else:
                kw[k] = v
        return cls(**kw)

    def changed(self) -> dict:
        """The options that differ from the defaults (for messages and URLs)."""
        default = ReadOptions()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}


def _number_option(name: str, value, kind):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"option {name}={value!r} is invalid: expected a number") from None


@dataclass
class ParsedColumn:
    """The result of reading one raw column.

    Attributes
    ----------
    values : pandas.Series
        The values read (missing where blank or unreadable).
    unreadable : numpy.ndarray of bool
        Rows holding a value that could not be read.
    reason : str
        What the unreadable values are not, e.g. ``"not a date"``, plus a hint.
    problem : str
        A column-level problem (ambiguous or mixed date formats), or ``""``.
    problem_rows : numpy.ndarray of bool
        The rows the problem concerns (the minority format, or every row).
    """

    values: pd.Series
    unreadable: np.ndarray
    reason: str = ""
    problem: str = ""
    problem_rows: np.ndarray | None = None


def _is_blank(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _uniques(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 for null) and the distinct non-null values."""
    arr = raw.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    except TypeError:  # unhashable values
        uniques = arr
        codes = np.arange(len(arr))
    return codes, np.asarray(uniques, dtype=object)


# --------------------------------------------------------------------------- dates


def _date_or_none(y: int, m: int, d: int) -> np.datetime64 | None:
    try:
        return np.datetime64(_dt.date(y, m, d), "ns")
    except ValueError:
        return None


def _excel_serial(v) -> np.datetime64 | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x) or not (1 <= x < 2958466):
        return None
    return np.datetime64((EXCEL_EPOCH + pd.Timedelta(days=math.floor(x))).to_datetime64(), "ns")


def _is_number(v) -> bool:
    return isinstance(v, (int, float, Decimal, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def parse_dates(raw: pd.Series, options: ReadOptions | None = None) -> ParsedColumn:
    """Read a raw column of dates, detecting the text format from all of its values.

    Parameters
    ----------
    raw : pandas.Series
        Values as read from the source: text, dates/datetimes, or numbers.
    options : ReadOptions, optional
        ``date_format`` declares the format (``%d/%m/%Y``, or ``excel`` for serials).

    Returns
    -------
    ParsedColumn
        ``datetime64[ns]`` values at midnight (a time of day and a time zone offset are
        dropped, keeping the local calendar date).  Unreadable values, and every value
        of an ambiguous or mixed column (``problem``), are missing.
    """
    options = options or ReadOptions()
    raw = raw.reset_index(drop=True)
    n = len(raw)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return ParsedColumn(_midnight_ns(raw), np.zeros(n, bool))
    codes, uniques = _uniques(raw)
    read, fmt, numbers, pending = _read_date_values(uniques, options.date_format)
    declared = options.date_format
    problems = [_resolve_day_month(pending, read, fmt)]
    problem_uniques = np.zeros(len(uniques), dtype=bool)
    for i, *_ in pending:
        if fmt[i] == "!":
            problem_uniques[i] = True
    problems.append(_mixed_formats(codes, uniques, fmt, read, problem_uniques))
    values = _take(read, codes)
    unread_u = fmt == "?"
    unreadable = np.zeros(n, bool) if not len(uniques) else (codes >= 0) & unread_u[codes]
    problem_rows = np.zeros(n, bool) if not len(uniques) else (codes >= 0) & problem_uniques[codes]
    problem = "; ".join(p for p in problems if p)
    return ParsedColumn(
        pd.Series(values, dtype="datetime64[ns]"),
        unreadable,
        _date_reason(declared, numbers[unread_u].any()),
        problem,
        problem_rows if problem else None,
    )


def _midnight_ns(values: pd.Series) -> pd.Series:
    """Dates and times as ``datetime64[ns]`` at midnight (local calendar date kept).

    Dates read from DuckDB or Parquet (``datetime64[ms]`` or ``[us]`` at midnight already)
    are only converted to nanoseconds; the time of day is cut only when a value has one
    (pandas' ``normalize`` takes as long as the conversion itself)."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    out = values.astype("datetime64[ns]")
    ticks = out.to_numpy().view("int64")
    if ((ticks % 86_400_000_000_000 != 0) & out.notna().to_numpy()).any():
        out = out.dt.normalize()
    return out


def _read_date_values(uniques: np.ndarray, declared: str | None):
    """Read each distinct raw value; ``05/03/2026``-style values are left ``pending``.

    Returns ``(read, fmt, numbers, pending)``: the dates read, the text format of each
    (``"?"`` unreadable, ``""`` blank, a date object or a declared format), which values
    are numbers, and ``(index, a, b, year, separator)`` of the day/month-undecided ones.
    """
    read = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[ns]")
    fmt = np.full(len(uniques), "?", dtype=object)
    numbers = np.zeros(len(uniques), dtype=bool)
    pending: list[tuple[int, int, int, int, str]] = []
    texts: dict[int, str] = {}
    for i, v in enumerate(uniques):
        if _is_blank(v):
            fmt[i] = ""
        elif isinstance(v, (pd.Timestamp, _dt.date, np.datetime64)):
            ts = pd.Timestamp(v)
            if ts.tz is not None:
                ts = ts.tz_localize(None)
            read[i], fmt[i] = np.datetime64(ts.normalize().to_datetime64(), "ns"), ""
        elif declared == "excel":
            ts = _excel_serial(v)
            if ts is not None:
                read[i], fmt[i] = ts, ""
        elif _is_number(v):
            numbers[i] = True
        elif isinstance(v, str):
            text = v.strip()
            if declared:
                texts[i] = text
            elif _PLAIN_NUMBER.match(text):
                numbers[i] = True
            elif m := _YMD_RE.match(text):
                ts = _date_or_none(int(m[1]), int(m[3]), int(m[4]))
                if ts is not None:
                    read[i], fmt[i] = ts, f"%Y{m[2]}%m{m[2]}%d"
            elif m := _XXY_RE.match(text):
                pending.append((i, int(m[1]), int(m[3]), int(m[4]), m[2]))
    if texts:
        idx = np.fromiter(texts, dtype=int)
        got = pd.to_datetime(pd.Series(list(texts.values()), dtype=object), format=declared,
                             errors="coerce")
        if getattr(got.dt, "tz", None) is not None:
            got = got.dt.tz_localize(None)
        got = got.dt.normalize().astype("datetime64[ns]").to_numpy()
        ok = ~np.isnat(got)
        read[idx[ok]] = got[ok]
        fmt[idx[ok]] = ""
    return read, fmt, numbers, pending


def _take(read: np.ndarray, codes: np.ndarray) -> np.ndarray:
    if not len(read):
        return np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[ns]")
    out = read[np.where(codes >= 0, codes, 0)]
    out[codes < 0] = np.datetime64("NaT")
    return out


def _date_reason(declared: str | None, has_numbers: bool) -> str:
    if declared == "excel":
        return "not an Excel serial day number (date_format=excel)"
    if declared:
        return f"not a date in the declared format {declared}"
    if has_numbers:
        return ("not a date (numbers are read as Excel serial day numbers only when "
                "declared: date_format=excel)")
    return "not a date (expected YYYY-MM-DD, or declare date_format=...)"


def _resolve_day_month(pending, read, fmt) -> str:
    """Decide day-first or month-first per separator for ``05/03/2026``-style values.

    Marks the values read (``fmt`` = their format), unreadable (``"?"``), or part of an
    ambiguous / contradictory group (``"!"``); returns the problem text or ``""``.
    """
    problems = []
    for sep in sorted({p[4] for p in pending}):
        group = [p for p in pending if p[4] == sep]
        dm = [_date_or_none(y, b, a) for _, a, b, y, _ in group]  # a = day
        md = [_date_or_none(y, a, b) for _, a, b, y, _ in group]  # a = month
        day_ex = [f"{a:02d}{sep}{b:02d}{sep}{y}" for (_, a, b, y, _), x, z in zip(group, dm, md)
                  if x is not None and z is None]
        month_ex = [f"{a:02d}{sep}{b:02d}{sep}{y}" for (_, a, b, y, _), x, z in zip(group, dm, md)
                    if z is not None and x is None]
        dmy, mdy = f"%d{sep}%m{sep}%Y", f"%m{sep}%d{sep}%Y"
        if day_ex and month_ex:
            problems.append(
                f"mixed date formats: day-first {dmy} (e.g. '{day_ex[0]}') and month-first "
                f"{mdy} (e.g. '{month_ex[0]}') in one column; declare the format "
                f"(date_format={dmy}) or fix the export"
            )
        elif not day_ex and not month_ex:
            ok = [p for p, x in zip(group, dm) if x is not None]
            if ok:
                _, a, b, y, _ = ok[0]
                problems.append(
                    f"ambiguous dates: every value reads both as {dmy} and as {mdy} "
                    f"(e.g. '{a:02d}{sep}{b:02d}{sep}{y}'); declare the format: "
                    f"date_format={dmy} or date_format={mdy}"
                )
        for (i, *_), x, z in zip(group, dm, md):
            if x is None and z is None:
                continue  # stays unreadable
            if day_ex and not month_ex:
                if x is not None:
                    read[i], fmt[i] = x, dmy
            elif month_ex and not day_ex:
                if z is not None:
                    read[i], fmt[i] = z, mdy
            else:
                fmt[i] = "!"
    return "; ".join(problems)


def _mixed_formats(codes, uniques, fmt, read, problem_uniques) -> str:
    """Error text when the readable text values use more than one format; the minority
    format's values become missing and are marked in ``problem_uniques``."""
    named = np.array([f not in ("", "?", "!") for f in fmt], dtype=bool)
    if not named.any():
        return ""
    valid = codes >= 0
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    per_unique = np.bincount(codes[valid], minlength=len(uniques))
    for i in np.flatnonzero(named):
        counts[fmt[i]] = counts.get(fmt[i], 0) + int(per_unique[i])
        first.setdefault(fmt[i], str(uniques[i]).strip())
    if len(counts) < 2:
        return ""
    order = sorted(counts, key=lambda f: (-counts[f], f))
    for i in np.flatnonzero(named):
        if fmt[i] != order[0]:
            read[i] = np.datetime64("NaT")
            problem_uniques[i] = True
    seen = ", ".join(f"{f} ({counts[f]} rows, e.g. '{first[f]}')" for f in order)
    return (f"mixed date formats: {seen}; expected one format per column: fix the export "
            f"or declare it (date_format={order[0]})")


# --------------------------------------------------------------------------- numbers


def _number_pattern(options: ReadOptions) -> re.Pattern | None:
    """The accepted text form when separators are declared (None: plain numbers only)."""
    if options.thousands is None and options.decimal == ".":
        return None
    d = re.escape(options.decimal)
    if options.thousands is None:
        return re.compile(rf"^[+-]?(?:\d+(?:{d}\d*)?|{d}\d+)$")
    t = re.escape(options.thousands)
    return re.compile(rf"^[+-]?(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)(?:{d}\d+)?$")


def _read_number(text: str, options: ReadOptions, pattern: re.Pattern | None) -> float | None:
    s = text.strip()
    if options.currency:
        s = s.replace(options.currency, "").strip()
    if s.startswith("(") and s.endswith(")") and options.currency:
        s = "-" + s[1:-1].strip()  # accounting negatives, (1,234.00)
    if pattern is None:
        return float(s) if _PLAIN_NUMBER.match(s) else None
    if not pattern.match(s):
        return None
    if options.thousands:
        s = s.replace(options.thousands, "")
    return float(s.replace(options.decimal, "."))


def parse_numbers(raw: pd.Series, options: ReadOptions | None = None) -> ParsedColumn:
    """Read a raw column of numbers; separators and currency only as declared.

    Parameters
    ----------
    raw : pandas.Series
        Numbers, or text such as ``"1234.56"`` (``"1.234,56"`` with ``decimal=","``
        and ``thousands="."``; ``"$891.61"`` with ``currency="$"``).
    options : ReadOptions, optional

    Returns
    -------
    ParsedColumn
        ``float64`` values; blanks are missing, and so are unreadable values, which
        include ``inf``/``nan`` (text or float) -- never a number of the plan.
    """
    options = options or ReadOptions()
    raw = raw.reset_index(drop=True)
    n = len(raw)
    if pd.api.types.is_bool_dtype(raw.dtype):
        raw = raw.astype(object)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.astype("float64", copy=False)  # float64 already: no copy (read-only here)
        unreadable = np.isinf(values.to_numpy())
        if not unreadable.any():  # the usual case: no second copy of the column
            return ParsedColumn(values, unreadable, _number_reason([], options))
        return ParsedColumn(values.where(~unreadable), unreadable, _number_reason(
            raw[unreadable].astype(str).tolist(), options))
    codes, uniques = _uniques(raw)
    read = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    pattern = _number_pattern(options)
    for i, v in enumerate(uniques):
        if _is_blank(v):
            continue
        if _is_number(v):
            x = float(v)
        elif isinstance(v, str):
            x = _read_number(v, options, pattern)
        else:
            x = None
        if x is None or not math.isfinite(x):
            bad[i] = True
        else:
            read[i] = x
    values = read[np.where(codes >= 0, codes, 0)] if len(uniques) else np.full(n, np.nan)
    values[codes < 0] = np.nan
    unreadable = (codes >= 0) & bad[codes] if len(uniques) else np.zeros(n, bool)
    examples = [str(v) for v in uniques[bad][:5]]
    return ParsedColumn(pd.Series(values, dtype="float64"), unreadable,
                        _number_reason(examples, options))


def _number_reason(examples: list[str], options: ReadOptions) -> str:
    """``not a number`` plus what the examples look like and which option reads them."""
    hints = []
    if any(_NOT_FINITE.match(e.strip()) for e in examples):
        hints.append("inf/nan are not finite numbers")
    if not options.changed() or options.thousands is None:
        if any(re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", e.strip()) for e in examples):
            hints.append("thousands separator ',': declare thousands=','")
        elif any(re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?|[+-]?\d+,\d+", e.strip())
                 for e in examples):
            hints.append("decimal comma: declare decimal=',' (and thousands='.')")
    if options.currency is None and any(_CURRENCY_CHARS.search(e) for e in examples):
        hints.append("currency symbol: declare currency= (e.g. currency=$)")
    if options.changed().keys() & {"decimal", "thousands", "currency"} and not hints:
        declared = ", ".join(f"{k}={v!r}" for k, v in options.changed().items()
                             if k in ("decimal", "thousands", "currency"))
        hints.append(f"read with {declared}")
    return "not a number" + (f" ({'; '.join(hints)})" if hints else "")
