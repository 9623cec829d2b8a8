"""Number formatting and tables for leadership reports.

``money(x)`` and ``pct(x)`` return display strings (a :class:`Formatted` ``str`` that also
keeps the raw number in ``.raw``); ``styled_table(df, money_cols, pct_cols)`` returns a
:class:`Table` that renders as a formatted HTML table in notebooks and in the HTML
reports, with a deterministic text form (so ``pytest --nbval`` can compare it).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

__all__ = ["Formatted", "Table", "column_label", "money", "number", "pct", "styled_table"]

MISSING = "–"  # en dash for missing values
_SCALES = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


class Formatted(str):
    """A display string that remembers the number it was made from (``.raw``)."""

    raw: float | None

    def __new__(cls, text: str, raw=None):
        obj = super().__new__(cls, text)
        obj.raw = None if raw is None else float(raw)
        return obj


def _is_missing(x) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def money(x, decimals: int = 0, *, symbol: str = "", compact: bool = False) -> Formatted:
    """Format an amount of money in the company currency.

    Parameters
    ----------
    x : float
        The amount (company currency).  ``None``/NaN gives ``"–"``.
    decimals : int, default 0
        Digits after the decimal point (in compact form: of the scaled number, default 1
        is used when ``decimals`` is 0).
    symbol : str, default ""
        Currency symbol put in front, e.g. ``"¥"`` or ``"€ "``.
    compact : bool, default False
        ``True`` gives ``12.3 M`` / ``450.0 k`` / ``1.2 bn`` (for headline figures).

    Examples
    --------
    >>> money(1234567.891)
    '1,234,568'
    >>> money(-1500, symbol="$")
    '-$1,500'
    >>> money(12_345_678, compact=True)
    '12.3 M'
    """
    if _is_missing(x):
        return Formatted(MISSING, None)
    v = float(x)
    if _zh():  # 万/亿, the company currency on headline (compact) figures
        from salesplan.reports.i18n import zh_amount

        cur = symbol.strip() or (None if compact else "")
        return Formatted(zh_amount(v, None if abs(v) >= 1e4 else decimals, currency=cur), v)
    sign = "-" if v < 0 else ""
    a = abs(v)
    if compact:
        d = decimals or 1
        for scale, suffix in _SCALES:
            if round(a, 6) >= scale:
                return Formatted(f"{sign}{symbol}{a / scale:,.{d}f} {suffix}", v)
        return Formatted(f"{sign}{symbol}{a:,.0f}", v)
    text = f"{a:,.{decimals}f}"
    if text.strip("0.,") == "":
        sign = ""
    return Formatted(f"{sign}{symbol}{text}", v)


def _zh() -> bool:
    """True when the report language is Chinese (:mod:`salesplan.reports.i18n`)."""
    from salesplan.reports.i18n import get_language

    return get_language() == "zh"


def _tr(text):
    """``text`` in the report language (unchanged in English)."""
    from salesplan.reports.i18n import translate

    return translate(text)


def pct(x, decimals: int = 1, *, signed: bool = False) -> Formatted:
    """Format a fraction as a percentage: ``pct(0.153) == '15.3%'``.

    Parameters
    ----------
    x : float
        A fraction (0.15 means 15 %).  ``None``/NaN gives ``"–"``.
    decimals : int, default 1
    signed : bool, default False
        Put ``+`` in front of positive values (for growth and deviations).
    """
    if _is_missing(x):
        return Formatted(MISSING, None)
    v = float(x)
    if math.isinf(v):
        return Formatted("∞%" if v > 0 else "-∞%", v)
    text = f"{v * 100:{'+' if signed else ''},.{decimals}f}%"
    if text.lstrip("+-").rstrip("%").strip("0.,") == "":
        text = f"{0:.{decimals}f}%"
    return Formatted(text, v)


def number(x, decimals: int = 0) -> Formatted:
    """Format a count or quantity with thousands separators: ``number(3000) == '3,000'``."""
    if _is_missing(x):
        return Formatted(MISSING, None)
    return Formatted(f"{float(x):,.{decimals}f}", float(x))


#: Code-name words written as people write them in a sales report.
ACRONYMS: dict[str, str] = {
    "abc": "ABC", "aov": "AOV", "auc": "AUC", "bant": "BANT", "clv": "CLV", "dpd": "DPD",
    "fte": "FTE", "id": "ID", "ids": "IDs", "iv": "IV", "kpi": "KPI", "mase": "MASE",
    "mom": "MoM", "ote": "OTE", "p10": "P10", "p50": "P50", "p90": "P90", "pd": "PD",
    "psi": "PSI", "rfm": "RFM", "smape": "sMAPE", "yoy": "YoY", "ly": "last year",
    "pct": "%", "avg": "average", "qty": "quantity", "n": "number of",
}


def column_label(name) -> str:
    """A code-style column name in words: ``abc_class`` -> ``ABC class``, ``need_fte`` ->
    ``Need FTE``, ``region`` -> ``Region``.  Names already written for people (with
    spaces, capitals or symbols, e.g. ``P(churn)``) are returned unchanged."""
    text = str(name)
    if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", text):
        return text
    words = [ACRONYMS.get(w, w) for w in text.split("_")]
    if words[0] == words[0].lower():
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def _zh_region_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A table with one row per region, listed alphabetically (not ranked by a figure),
    in the order of a Chinese report (:func:`salesplan.reports.i18n.region_order`)."""
    from salesplan.reports.i18n import region_order

    if "region" not in df.columns or not df["region"].is_unique or len(df) < 2:
        return df
    names = [str(r) for r in df["region"]]
    if names != sorted(names):
        return df
    order = region_order(names)
    if order == names:
        return df
    return df.iloc[[names.index(n) for n in order]]


def _whole_numbers(values: pd.Series) -> bool:
    v = values.dropna()
    return len(v) > 0 and bool(((v % 1) == 0).all()) and bool((v.abs() < 1e15).all())


class Table:
    """A formatted table: HTML in notebooks/reports, plain text elsewhere.

    Attributes
    ----------
    data : DataFrame
        The unformatted numbers.
    styler : pandas.io.formats.style.Styler
        The pandas Styler used for HTML (deterministic ``uuid``).
    caption : str or None
    """

    def __init__(self, data: pd.DataFrame, styler, text: pd.DataFrame, caption: str | None):
        self.data = data
        self.styler = styler
        self._text = text
        self.caption = caption

    def to_html(self) -> str:
        return self.styler.to_html()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        body = self._text.to_string(index=False) if len(self._text) else "(no rows)"
        return f"{self.caption}\n{body}" if self.caption else body

    def __len__(self) -> int:
        return len(self.data)


def _cols(df: pd.DataFrame, cols: Iterable[str] | None) -> list[str]:
    cols = list(cols or [])
    unknown = [c for c in cols if c not in df.columns]
    if unknown:
        raise KeyError(
            f"styled_table: column(s) {unknown} not in the table; it has {list(df.columns)}"
        )
    return cols


def styled_table(
    df: pd.DataFrame,
    money_cols: Sequence[str] = (),
    pct_cols: Sequence[str] = (),
    int_cols: Sequence[str] = (),
    *,
    caption: str | None = None,
    index: bool = False,
    money_decimals: int = 0,
    pct_decimals: int = 1,
    symbol: str = "",
    max_rows: int | None = 200,
    labels: Mapping[str, str] | None = None,
) -> Table:
    """A leadership-ready table: money with thousands separators, fractions as percents.

    Parameters
    ----------
    df : DataFrame
        The table.  Keep it sorted: the order is shown as is.
    money_cols, pct_cols, int_cols : sequence of str
        Columns formatted with :func:`money`, :func:`pct` (values are fractions) and
        :func:`number`.  Numeric columns not listed are shown with up to 2 decimals.
    caption : str, optional
        Title shown above the table (say what is counted and in which unit).
    index : bool, default False
        Show the DataFrame index as the first column(s).
    max_rows : int or None, default 200
        Show at most this many rows (a note tells how many were left out).
    labels : mapping, optional
        Column headers to show instead of the column names; other code-style names are
        shown in words by :func:`column_label` (``abc_class`` -> ``ABC class``).
        Numeric columns not listed above whose values are all whole numbers are shown
        as whole numbers (``8``, not ``8.00``).

    Returns
    -------
    Table
        Renders as HTML (``class="sp-table"``); ``.styler`` is the pandas Styler.
    """
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    zh = _zh()
    if zh:
        df = _zh_region_rows(df)
    money_cols, pct_cols, int_cols = _cols(df, money_cols), _cols(df, pct_cols), _cols(df, int_cols)
    data = df
    shown = df if index else df.reset_index(drop=True)
    note = None
    if max_rows is not None and len(shown) > max_rows:
        note = (f"first {max_rows:,} of {len(shown):,} rows shown" if not zh
                else f"显示前 {max_rows:,} 行（共 {len(shown):,} 行）")
        shown = shown.head(max_rows)

    formatters = {}
    for c in money_cols:
        formatters[c] = lambda v, d=money_decimals: money(v, d, symbol=symbol)
    for c in pct_cols:
        formatters[c] = lambda v, d=pct_decimals: pct(v, d)
    for c in int_cols:
        formatters[c] = lambda v: number(v)
    for c in shown.columns:
        if c in formatters:
            continue
        if pd.api.types.is_bool_dtype(shown[c]):
            formatters[c] = lambda v: MISSING if _is_missing(v) else _tr("yes" if v else "no")
        elif pd.api.types.is_integer_dtype(shown[c]):
            formatters[c] = lambda v: number(v)
        elif pd.api.types.is_float_dtype(shown[c]) and _whole_numbers(shown[c]):
            formatters[c] = lambda v: number(v)
        elif pd.api.types.is_float_dtype(shown[c]):
            formatters[c] = lambda v: MISSING if _is_missing(v) else f"{v:,.2f}"
        elif zh:
            formatters[c] = lambda v: MISSING if _is_missing(v) else _tr(v)
        else:
            formatters[c] = lambda v: MISSING if _is_missing(v) else str(v)

    text = pd.DataFrame({c: [formatters[c](v) for v in shown[c]] for c in shown.columns})
    if index:
        text.insert(0, shown.index.name or "", [_tr(i) if zh else str(i) for i in shown.index])
    header = {c: (dict(labels or {}).get(c) or column_label(c)) for c in shown.columns}
    if zh:  # the Chinese header of the English label, else of the column name
        header = {c: (t if (t := _tr(h)) != h else _tr(str(c))) for c, h in header.items()}
        caption = _tr(caption) if caption else caption
    text.columns = [header.get(c, str(c)) for c in text.columns]

    full_caption = caption if note is None else (f"{caption} ({note})" if caption else note)
    digest = hashlib.sha1(
        (str(full_caption) + "|" + "|".join(map(str, shown.columns)) + "|" + str(len(shown)))
        .encode("utf-8")
    ).hexdigest()[:10]
    styler = shown.style.format(formatters, na_rep=MISSING).set_uuid(digest)
    if not index:
        styler = styler.hide(axis="index")
    right = [c for c in shown.columns if c in money_cols or c in pct_cols or c in int_cols
             or pd.api.types.is_numeric_dtype(shown[c])]
    if right:
        styler = styler.set_properties(subset=right, **{"text-align": "right"})
    styler = styler.relabel_index([header[c] for c in shown.columns], axis="columns")
    styler = styler.set_table_attributes('class="sp-table"')
    if full_caption:
        styler = styler.set_caption(full_caption)
    return Table(data, styler, text, full_caption)
