"""Number formatting and tables for leadership reports.

``money(x)`` and ``pct(x)`` return display strings (a :class:`Formatted` ``str`` that also
keeps the raw number in ``.raw``); ``styled_table(df, money_cols, pct_cols)`` returns a
:class:`Table` that renders as a formatted HTML table in notebooks and in the HTML
reports, with a deterministic text form (so ``pytest --nbval`` can compare it).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

__all__ = [
    "Formatted",
    "LABELS",
    "Table",
    "column_label",
    "decimal",
    "money",
    "number",
    "pct",
    "styled_table",
    "with_names",
]

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
        ``True`` gives ``12.3 M`` / ``450.0 k`` / ``1.2 bn`` (for headline figures); without
        a ``symbol``, the run's currency (``$SALESPLAN_CURRENCY``, set by ``salesplan run``
        from the ``currency`` parameter) is put in front: ``USD 12.3 M``.

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
    if compact and not symbol:  # headline figures name the run's currency ("USD 15.4 M")
        from salesplan.reports.i18n import get_currency

        symbol = f"{get_currency()} " if get_currency() else ""
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


#: most decimals :func:`decimal` shows for a tiny non-zero value
MAX_DECIMALS = 10


def decimal(x, decimals: int = 2, *, significant: int = 0) -> Formatted:
    """Format a number in fixed-point notation with thousands separators, never scientific.

    Parameters
    ----------
    x : float
        ``None``/NaN gives ``"–"``; infinities ``∞`` / ``-∞``.
    decimals : int, default 2
        Digits after the point.
    significant : int, default 0
        When > 0, a non-zero value that would show as zero keeps this many significant
        digits instead (at most :data:`MAX_DECIMALS` decimals): ``decimal(2e-06,
        significant=2) == '0.0000020'``.  0 keeps ``decimals`` (``'0.00'``), so
        float noise (``1e-12``) reads as zero.

    Examples
    --------
    >>> decimal(1234.5678)
    '1,234.57'
    >>> decimal(2e-06)
    '0.00'
    >>> decimal(-0.004, significant=2)
    '-0.0040'
    """
    if _is_missing(x):
        return Formatted(MISSING, None)
    v = float(x)
    if math.isinf(v):
        return Formatted("∞" if v > 0 else "-∞", v)
    d = decimals
    if significant > 0 and v != 0 and round(abs(v), decimals) == 0:
        d = min(MAX_DECIMALS, max(decimals, significant - 1 - math.floor(math.log10(abs(v)))))
    text = f"{v:,.{d}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")
    return Formatted(text, v)


def _cell_text(v) -> str:
    """Text of a value in an untyped (object) column or index: as the value reads
    (``2026``, ``0.5``, ``East``), whole floats without ``.0`` and never scientific
    notation (``2e-06`` -> ``0.0000020``)."""
    if _is_missing(v):
        return MISSING
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return str(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isinf(f):
            return "∞" if f > 0 else "-∞"
        if f.is_integer() and abs(f) < 1e15:
            return f"{f:.0f}"
        text = str(v)
        return decimal(f, 2, significant=2) if re.search(r"[eE]", text) else text
    return str(v)


#: Code-name words written as people write them in a sales report.
ACRONYMS: dict[str, str] = {
    "abc": "ABC", "aov": "AOV", "auc": "AUC", "bant": "BANT", "clv": "CLV", "dpd": "DPD",
    "fte": "FTE", "id": "ID", "ids": "IDs", "iv": "IV", "kpi": "KPI", "mase": "MASE",
    "mom": "MoM", "ote": "OTE", "p10": "P10", "p50": "P50", "p90": "P90", "pd": "PD",
    "psi": "PSI", "rfm": "RFM", "smape": "sMAPE", "yoy": "YoY", "ly": "last year",
    "pct": "%", "avg": "average", "qty": "quantity", "n": "number of",
    "roi": "ROI", "r2": "R²", "ltv": "LTV", "cac": "CAC", "sku": "SKU", "lo": "low",
    "hi": "high", "se": "std. error", "ci": "CI", "nps": "NPS", "arr": "ARR", "mrr": "MRR",
    "ytd": "YTD", "qtd": "QTD", "mtd": "MTD", "qoq": "QoQ", "rmse": "RMSE", "mae": "MAE",
    "mape": "MAPE", "wape": "WAPE", "dso": "DSO", "utc": "UTC", "vs": "vs",
}

#: Whole column names with the label a sales report uses (checked before the word rules).
LABELS: dict[str, str] = {
    "n": "Count",
    "se": "Std. error",
    "rel_se_a": "Rel. std. error (a)",
    "rel_se_b": "Rel. std. error (b)",
    "p_win": "P(win)",
    "p_stage": "P(stage)",
    "p_convert": "P(convert)",
    "p_attain": "P(attain)",
    "p_churn": "P(churn)",
    "p_alive": "P(alive)",
    "p_lo": "P low",
    "p_hi": "P high",
    "rep_id": "Rep ID",
    "rep_name": "Rep",
    "customer_name": "Customer",
    "region_name": "Region",
}


def column_label(name) -> str:
    """A code-style column name in words: ``abc_class`` -> ``ABC class``, ``mean_pd`` ->
    ``Mean PD``, ``region`` -> ``Region``, ``class_A`` -> ``Class A``, ``n_E`` -> ``At E``
    (a count per funnel stage).  Whole names in :data:`LABELS` take that label
    (``p_win`` -> ``P(win)``, ``rep_name`` -> ``Rep``).  Names already written for
    people (with spaces or symbols, e.g. ``P(churn)``) are returned unchanged."""
    text = str(name)
    if text in LABELS:
        return LABELS[text]
    m = re.fullmatch(r"n_([A-Z])", text)
    if m:
        return f"At {m.group(1)}"
    if not re.fullmatch(r"[a-z][a-z0-9]*(_([a-z0-9]+|[A-Z]))*", text):
        return text
    words = [ACRONYMS.get(w, w) for w in text.split("_")]
    if words[0] == words[0].lower():
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def _name_lookup(names, id_col: str) -> dict:
    """``names`` (mapping, Series or DataFrame) as a plain ``{id: name}`` dict."""
    if isinstance(names, pd.DataFrame):
        if id_col not in names.columns:
            raise KeyError(f"with_names: names table lacks column {id_col!r}; it has {list(names.columns)}")
        others = [c for c in names.columns if c != id_col]
        name_col = "name" if "name" in others else (others[0] if len(others) == 1 else None)
        if name_col is None:
            raise ValueError(f"with_names: names table needs a 'name' column or one column besides {id_col!r}; "
                             f"it has {list(names.columns)}")
        names = names.set_index(id_col)[name_col]
    if isinstance(names, pd.Series):
        pairs = names.dropna()
        dup = pairs.index[pairs.index.duplicated()]
        clash = sorted({str(i) for i in dup if pairs.loc[[i]].astype(str).nunique() > 1})
        if clash:
            raise ValueError(f"with_names: names give several names for id(s) {clash[:5]}; expected one each")
        return {k: v for k, v in pairs.items()}
    return dict(names)


def with_names(
    frame: pd.DataFrame,
    id_col: str,
    names,
    *,
    name_col: str | None = None,
) -> pd.DataFrame:
    """``frame`` with a name column right after its id column (people read names).

    Parameters
    ----------
    frame : DataFrame
        A table with an id column (rep, customer, region ...).  Not modified.
    id_col : str
        The id column, e.g. ``"rep_id"``.
    names : mapping, Series or DataFrame
        id -> name: a dict, a Series indexed by id, or a table with ``id_col`` and a
        ``name`` column (or exactly one other column), e.g. ``data.reps``.
    name_col : str, optional
        Name of the new column; default ``id_col`` with ``_id`` replaced by ``_name``
        (``rep_id`` -> ``rep_name``, shown as "Rep"), else ``<id_col>_name``.

    Returns
    -------
    DataFrame
        A copy with ``name_col`` inserted after ``id_col``; ids without a name get a
        missing value (shown as "–").

    Raises
    ------
    KeyError
        ``id_col`` is not a column of ``frame``.
    ValueError
        ``name_col`` already exists, or ``names`` gives one id two different names.
    """
    if id_col not in frame.columns:
        raise KeyError(f"with_names: column {id_col!r} not in the table; it has {list(frame.columns)}")
    if name_col is None:
        name_col = id_col[:-3] + "_name" if id_col.endswith("_id") else f"{id_col}_name"
    if name_col in frame.columns:
        raise ValueError(f"with_names: the table already has a column {name_col!r}; pass another name_col")
    lookup = _name_lookup(names, id_col)
    out = frame.copy()
    values = [lookup.get(i) if not _is_missing(i) else None for i in out[id_col]]
    out.insert(out.columns.get_loc(id_col) + 1, name_col, pd.Series(values, index=out.index, dtype=object))
    return out


def _zh_region_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A table whose rows are listed by region alphabetically (not ranked by a figure), in
    the order of a Chinese report (:func:`salesplan.reports.i18n.region_order`: 华北, 东北,
    华东, ...).  The regions are the ``region`` column, else the first column (a label
    column), else the index; rows of one region
    keep their order (a rep table grouped by region), rows before or after the block of
    regions (a company total) stay where they are."""
    from salesplan.reports.i18n import ZH_REGION_ORDER, _phrases

    if len(df) < 2:
        return df
    rank = {r: i for i, r in enumerate(ZH_REGION_ORDER)}  # 华北 -> 0; North (its entry) -> 0
    rank.update({en: rank[zh] for en, zh in _phrases("zh")[0].items() if zh in rank})
    keys = [df["region"]] if "region" in df.columns else []
    if len(df.columns) and df[df.columns[0]].dtype == object:
        keys.append(df[df.columns[0]])  # a label column ("Company", "North", ...)
    if not isinstance(df.index, pd.MultiIndex):
        keys.append(df.index)
    for values in keys:
        names = [str(r) for r in values]
        known = [rank.get(n) for n in names]
        at = [i for i, k in enumerate(known) if k is not None]
        if len({names[i] for i in at}) >= 2:
            break
    else:
        return df
    if at != list(range(at[0], at[-1] + 1)):
        return df
    block = names[at[0]:at[-1] + 1]
    if block != sorted(block):
        return df
    order = list(range(at[0])) + sorted(at, key=lambda i: known[i]) + list(range(at[-1] + 1, len(df)))
    return df if order == list(range(len(df))) else df.iloc[order]


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
    top_rows: int | None = None,
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
    top_rows : int, optional
        Rows the HTML report shows before the collapsed appendix with the full table
        (``0``: always the whole table); default: the report's rule
        (:class:`~salesplan.reports.layout.LayoutParams`: 15 rows of tables with 30+).

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
            formatters[c] = lambda v: decimal(v, 2)
        elif zh:
            formatters[c] = lambda v: _tr(_cell_text(v))
        else:
            formatters[c] = _cell_text

    text = pd.DataFrame({c: [formatters[c](v) for v in shown[c]] for c in shown.columns})
    if index:
        text.insert(0, shown.index.name or "", [_tr(_cell_text(i)) if zh else _cell_text(i)
                                                for i in shown.index])
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
    if top_rows is not None and (not isinstance(top_rows, int) or top_rows < 0):
        raise ValueError(f"styled_table: top_rows={top_rows!r}, expected an integer >= 0 or None")
    attrs = 'class="sp-table"' + ("" if top_rows is None else f' data-top-rows="{top_rows}"')
    styler = styler.set_table_attributes(attrs)
    if full_caption:
        styler = styler.set_caption(full_caption)
    return Table(data, styler, text, full_caption)
