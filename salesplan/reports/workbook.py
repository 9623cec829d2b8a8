"""The plan workbook: a planning model on top, the raw tables after it.

**Plan sheets** (:func:`add_plan_sheets`), one per level, formatted and printable
(landscape, fit to width, header rows repeated):

* ``Plan reps``: one row per rep (id, name, region, level, own forecast, fairness band,
  proposed quota), an editable ``quota override`` column (yellow) and live formulas:
  ``quota = override if a number, else proposed``, change vs the proposal, variance vs
  the rep's own forecast, ``overridden``;
* ``Plan regions``: forecast, target and ``quota = SUMIF`` of its reps' quotas, variance
  vs target and forecast, overrides counted;
* ``Plan company``: ``sum of quotas = SUM`` of the regions, over-assignment, variances.

Conditional formatting marks a quota outside its fairness band and a variance beyond
``tolerance`` (default 15%, the domain's deviation rule).  A hidden ``salesplan`` sheet
records the period and the plan's rep ids, so :func:`read_quota_overrides` can check a
planner's edits (``salesplan run --overrides plan.xlsx``).

**Raw tables** (:func:`add_table_sheet`): one sheet per table, number formats by column
name (``#,##0`` amounts, ``0.0%`` shares, ``yyyy-mm-dd`` dates), header bold and frozen,
landscape fit to width; the sheets of one notebook share a tab colour.

**Language**: with ``report_language = "zh"`` (:func:`salesplan.reports.i18n.get_language`)
the plan sheets are Chinese end to end -- sheet names, titles, headers, notes, labels,
region names (in :func:`~salesplan.reports.i18n.region_order`), the quarter (2027年第1季度)
-- from ``translations/zh.yaml``; numbers stay numbers and the formulas are the same
(cell addresses, no header text).  :func:`read_quota_overrides` reads a workbook written
in either language.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["OverrideError", "PlanSheets", "RunWorkbook", "add_plan_sheets", "add_table_sheet", "plan_sheet_names",
           "read_quota_overrides", "rounding_unit_of", "write_plan_workbook"]

PLAN_REPS, PLAN_REGIONS, PLAN_COMPANY = "Plan reps", "Plan regions", "Plan company"
META_SHEET = "salesplan"
META_KIND = "salesplan plan workbook"
OVERRIDE_HEADER = "quota override"
REP_ID_HEADER = "rep id"
FIRST_ROW = 5  # header on row 4: title (1), explanation (2), blank (3)
_AMOUNT, _PCT, _DATE = "#,##0", "0.0%", "yyyy-mm-dd"
_HEADER_FILL, _INPUT_FILL = "DDEBF7", "FFF2CC"
_RED_FILL, _ORANGE_FILL = "FFC7CE", "F8CBAD"
_TAB_COLORS = ("4472C4", "ED7D31", "A5A5A5", "FFC000", "5B9BD5", "70AD47", "264478", "9E480E", "636363")
_SHEET_NAMES = {"company": "Company", "bridge": "Bridge", "regions": "Regions", "reps": "Reps",
                "products": "Products", "months": "Months",
                "weeks": "Weeks", "smart": "SMART", "assumptions": "Assumptions"}
_PCT_HINTS = ("p_attain", "growth", "pct", "share", "odds", "probability", "conversion", "presence",
              "ramp_avg", "completion", "deviation", "blend")
_CUR_HINTS = ("target", "quota", "amount", "forecast", "last_year", "top_down", "bottom_up", "gap",
              "pipeline", "revenue", "deal", "actual", "expected", "base", "uplift", "potential", "cap_min",
              "cap_max", "contribution", "plan")


def _fmt_for(col: str, dtype) -> str | None:
    c = col.lower()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "yyyy-mm-dd"
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    if c in ("over_assignment", "rep_noise_sd"):
        return "0.00"
    if any(h in c for h in _PCT_HINTS):
        return "0.0%"
    if "_vs_" in c:  # a ratio such as quota_vs_own_forecast
        return "0.00"
    if c.startswith("band_m"):
        return "#,##0"
    if any(h in c for h in _CUR_HINTS):
        return "#,##0"
    return None


def _cell_value(v):
    """A pandas/numpy value as something openpyxl writes (None for missing and +-inf;
    text for anything else it cannot hold, e.g. lists)."""
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.tz_localize(None).to_pydatetime() if v.tzinfo else v.to_pydatetime()
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v) if np.isfinite(v) else None
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, (str, int, datetime.date, datetime.time)):
        return v.replace(tzinfo=None) if isinstance(v, datetime.datetime) and v.tzinfo else v
    return str(v)


def _sheet_title(wb, text: str) -> str:
    """A valid, unused sheet name (31 characters, no ``[]:*?/\\``)."""
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in str(text))[:31] or "sheet"
    used = {n.lower() for n in wb.sheetnames}
    base, k = name, 1
    while name.lower() in used:
        k += 1
        name = f"{base[: 31 - len(str(k)) - 1]}~{k}"
    return name


def _t(text: str) -> str:
    """``text`` in the report language (:func:`salesplan.reports.i18n.translate`; English as is)."""
    from salesplan.reports.i18n import translate

    return translate(text)


def _tf(template: str, **values) -> str:
    """A sentence with named ``{slots}``: the template is translated as a whole (an
    ``exact`` entry keyed by the English template), then filled in."""
    from salesplan.reports.i18n import get_language, translate

    return (template if get_language() == "en" else translate(template)).format(**values)


def _period(quarter: str) -> str:
    """The plan quarter as the reader says it (``2027Q1``; zh ``2027年第1季度``)."""
    from salesplan.reports.i18n import get_language, zh_period

    return zh_period(quarter) if get_language() == "zh" else quarter


def _currency_name(cur: str) -> str:
    """The currency as the reader says it: the code in English; zh 元 for CNY, 美元/欧元...
    for the common codes (:data:`salesplan.reports.i18n.CURRENCY_NAMES_ZH`), else its translation."""
    from salesplan.reports.i18n import _YUAN, CURRENCY_NAMES_ZH, get_language

    if get_language() != "zh" or not cur:
        return cur
    return "元" if cur.upper() in _YUAN or cur in _YUAN else CURRENCY_NAMES_ZH.get(cur.upper(), _t(cur))


def _unit(cur: str) -> str:
    """The amount unit of a title: `` (CNY)``; zh ``（单位：元）``."""
    from salesplan.reports.i18n import get_language

    if not cur:
        return ""
    return f"（单位：{_currency_name(cur)}）" if get_language() == "zh" else f" ({cur})"


def plan_sheet_names(lang: str | None = None) -> tuple[str, str, str]:
    """(reps, regions, company) plan sheet names in ``lang`` (default: the report language)."""
    from salesplan.reports.i18n import translate

    return tuple(translate(n, lang) for n in (PLAN_REPS, PLAN_REGIONS, PLAN_COMPANY))


def _print_setup(ws, title_rows: str) -> None:
    """Landscape, fit to one page wide (as many pages tall as needed), header rows repeated."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = title_rows
    ws.print_options.gridLines = False
    ws.page_margins.left = ws.page_margins.right = 0.4


def _style_header(cells) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    for cell in cells:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=_HEADER_FILL)
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _translated_values(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text cells in the report language (zh: ``Central`` -> 华中,
    ``idle`` -> 空闲; a text without an entry, an id, a name or a quarter code such as
    ``2027Q1``, stays); en: as is."""
    from salesplan.reports.i18n import get_language, translate

    if get_language() == "en":
        return frame
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        texts = {v: translate(v) for v in pd.unique(out[col])  # a quarter code stays a key
                 if isinstance(v, str) and not re.fullmatch(r"\d{4}Q[1-4]", v)}
        changed = {k: v for k, v in texts.items() if v != k}
        if changed:
            out[col] = out[col].map(lambda v, m=changed: m.get(v, v) if isinstance(v, str) else v)
    return out


def add_table_sheet(wb, name: str, frame: pd.DataFrame, *, tab_color: str | None = None):
    """Add ``frame`` as a formatted raw-table sheet named ``name`` (made valid and unique).

    Header bold and frozen, number formats by column name and dtype (:func:`_fmt_for`),
    column widths fitted (8-60 characters), landscape fit to width with the header
    repeated on every printed page.  A non-default index is written as columns.
    Returns the worksheet.
    """
    ws, frame, formats = _table_sheet(wb, name, frame, tab_color)
    _append_rows(ws, frame, formats, 0, len(frame))
    return ws


def _table_sheet(wb, name: str, frame: pd.DataFrame, tab_color: str | None):
    """The sheet of :func:`add_table_sheet` with its header row, widths and print setup but
    no data rows yet; returns ``(worksheet, frame as written, number format per column)``."""
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame = frame.reset_index(drop=True)
    from salesplan.reports.i18n import header, sheet_name  # the report language (en: as is)

    frame = _translated_values(frame)
    ws = wb.create_sheet(_sheet_title(wb, sheet_name(name)))
    if tab_color:
        ws.sheet_properties.tabColor = tab_color
    ws.append([header(c) for c in frame.columns])
    _style_header(ws[1])
    formats = []
    for j, col in enumerate(frame.columns, start=1):
        fmt = _fmt_for(str(col), frame[col].dtype)
        formats.append(fmt)
        shown = [len(str(col))] + [len(f"{x:,.0f}" if isinstance(x, float) and np.isfinite(x) and fmt == _AMOUNT
                                       else str(x)) for x in frame[col].head(200).tolist()]
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = min(max(max(shown) + 2, 8), 60)
    ws.freeze_panes = "A2"
    _print_setup(ws, "1:1")
    return ws, frame, formats


def _column_values(column: pd.Series) -> list:
    """:func:`_cell_value` of every value of ``column``, a numpy number column converted in
    one step (``tolist``; non-finite floats None), a text column of ``str`` and None as it
    is, others value by value."""
    values = column.to_numpy() if column.dtype.kind in "biuf" and isinstance(column.dtype, np.dtype) else None
    if values is None:
        out = column.tolist()
        if column.dtype == object and all(type(v) is str or v is None for v in out):
            return out
        return [_cell_value(v) for v in out]
    out = values.tolist()
    if values.dtype.kind == "f":
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            out[i] = None
    return out


def _append_rows(ws, frame: pd.DataFrame, formats: list, start: int, stop: int) -> None:
    """Append rows ``start:stop`` of ``frame`` below the sheet's last row, each cell with its
    column's number format (``formats``, from :func:`_table_sheet`)."""
    part = frame.iloc[start:stop]
    first = ws._current_row + 1
    if not len(part.columns):  # nothing to write, but the rows are counted as before
        ws._current_row += len(part)
        return
    for row in zip(*(_column_values(part.iloc[:, j]) for j in range(len(part.columns)))):
        ws.append(row)
    cells = ws._cells
    for j, fmt in enumerate(formats, start=1):
        if fmt:
            for r in range(first, ws._current_row + 1):
                cells[(r, j)].number_format = fmt


def _write_table_sheet(wb, name: str, frame: pd.DataFrame, *, tab_color: str | None, chunk: int = 5000):
    """:func:`add_table_sheet`, its XML written now, ``chunk`` rows at a time.

    The same XML as writing the whole sheet at once (``WorksheetWriter(ws).write()``):
    the header row is written by openpyxl, the data rows as text (:func:`_rows_xml`), so
    no cell object is made for a value (a 300,000-customer table is ~6 million cells,
    ~2 GB as cells; openpyxl spends ~0.5 ms of CPU a row making and writing them).
    Returns ``(worksheet, writer)``; the sheet keeps no cells (they are in ``writer.out``).
    """
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet._writer import WorksheetWriter
    from openpyxl.worksheet.dimensions import SheetDimension

    ws, frame, formats = _table_sheet(wb, name, frame, tab_color)
    extent = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}" if len(frame.columns) else None

    class SheetWriter(WorksheetWriter):
        def write_dimensions(self):  # the whole table's extent, as the written cells' would be
            if extent:
                self.xf.send(SheetDimension(extent).to_tree())
            else:
                super().write_dimensions()

    writer = SheetWriter(ws)
    writer.write()  # the header row (a frame without columns has none, and no data cells)
    ws._cells.clear()
    if extent and len(frame):
        head, tail = Path(writer.out).read_bytes().split(b"</sheetData>", 1)
        with open(writer.out, "wb") as out:
            out.write(head)
            for start in range(0, len(frame), chunk):
                out.write(_rows_xml(writer, frame.iloc[start:start + chunk], formats, start + 2).encode())
            out.write(b"</sheetData>" + tail)
    return ws, writer


class _Unusual(Exception):
    """A value :func:`_column_xml` does not write (openpyxl writes its chunk)."""


def _rows_xml(writer, part: pd.DataFrame, formats: list, first: int) -> str:
    """The ``<row>`` elements of the rows of ``part`` (sheet rows ``first``...), as openpyxl
    writes the cells ``ws.append`` makes of them with their column's number format.

    Numbers, booleans, dates of date columns, plain text and missing values are written
    here; a chunk holding another value (a formula-like or error-code text, a date in a
    text column...) or an openpyxl writing through lxml is written by openpyxl's cells.
    The number formats and styles are registered on the workbook in openpyxl's order:
    the date-time format when a date is bound, then the columns' formats, then their styles.
    """
    import openpyxl
    from openpyxl.cell.cell import get_time_format
    from openpyxl.utils import get_column_letter

    wb = writer.ws.parent
    values = [_column_values(part.iloc[:, j]) for j in range(len(formats))]
    rows = range(first, first + len(part))
    cols: list = [None] * len(formats)
    try:
        if openpyxl.LXML or wb.iso_dates:
            raise _Unusual
        for j in (j for j, fmt in enumerate(formats) if not fmt):  # may be unusual: before any registration
            cols[j] = _column_xml(get_column_letter(j + 1), "", values[j], rows, wb.epoch, dates=False)
    except _Unusual:
        return _cell_rows_xml(writer, part, formats, first)
    if any(v is not None for j, fmt in enumerate(formats) if fmt == _DATE for v in values[j]):
        wb._number_formats.add(get_time_format(datetime.datetime))  # bound as a date-time first
    for j, style in _format_styles(writer.ws, formats).items():
        cols[j] = _column_xml(get_column_letter(j + 1), f' s="{style}"', values[j], rows, wb.epoch,
                              dates=formats[j] == _DATE)
    return "".join(f'<row r="{r}">{"".join(cells)}</row>' for r, cells in zip(rows, zip(*cols)))


def _format_styles(ws, formats: list) -> dict[int, int]:
    """{column index: style id} of the formatted columns' cells, registered as openpyxl
    does (every number format, then every cell style, in column order)."""
    from openpyxl.cell.cell import Cell

    cells = {j: Cell(ws, row=2, column=j + 1) for j, fmt in enumerate(formats) if fmt}
    for j, cell in cells.items():
        cell.number_format = formats[j]
    return {j: cell.style_id for j, cell in cells.items()}


def _column_xml(letter: str, style: str, values: list, rows: range, epoch, *, dates: bool) -> list[str]:
    """The ``<c>`` elements of one column (``""`` for a cell openpyxl skips: no value, no
    style): openpyxl's (et_xmlfile) text for each value; :class:`_Unusual` for any other."""
    from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
    from openpyxl.utils.datetime import to_excel

    out = []
    for r, v in zip(rows, values):
        t = type(v)
        if v is None:
            out.append(f'<c r="{letter}{r}"{style} t="n" />' if style else "")
        elif t is float or t is int:
            out.append(f'<c r="{letter}{r}"{style} t="n"><v>{v:.16g}</v></c>')
        elif t is bool:
            out.append(f'<c r="{letter}{r}"{style} t="b"><v>{int(v)}</v></c>')
        elif t is str and not v:
            out.append(f'<c r="{letter}{r}"{style} t="inlineStr" />')
        elif t is str:
            if (len(v) > 1 and v[0] == "=") or v in ERROR_CODES or len(v) > 32767 or ILLEGAL_CHARACTERS_RE.search(v):
                raise _Unusual
            stripped = v.strip()
            space = ' xml:space="preserve"' if stripped and stripped != v else ""
            text = v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f'<c r="{letter}{r}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>')
        elif t is datetime.datetime and dates:
            out.append(f'<c r="{letter}{r}"{style} t="n"><v>{to_excel(v, epoch):.16g}</v></c>')
        else:
            raise _Unusual
    return out


def _cell_rows_xml(writer, part: pd.DataFrame, formats: list, first: int) -> str:
    """:func:`_rows_xml` written by openpyxl: the rows appended as cells to the sheet of
    ``writer`` (its ``WorksheetWriter``), each row written by its ``write_row``; the
    cells are then dropped."""
    from io import BytesIO

    from openpyxl.xml.functions import xmlfile

    ws = writer.ws
    ws._current_row = first - 1
    _append_rows(ws, part, formats, 0, len(part))
    held: dict[int, list] = {}
    for (r, _c), cell in sorted(ws._cells.items()):
        held.setdefault(r, []).append(cell)
    buffer = BytesIO()
    with xmlfile(buffer) as xf, xf.element("sheetData"):
        for r in range(first, first + len(part)):
            writer.write_row(xf, held.get(r, []), r)
    ws._cells.clear()
    text = buffer.getvalue().decode()
    return text[text.index(">") + 1:text.rindex("<")]


# --------------------------------------------------------------------------- plan sheets


@dataclass(frozen=True)
class PlanSheets:
    """Where :func:`add_plan_sheets` put things (sheet names, first/last data rows)."""

    reps: str
    regions: str
    company: str
    first_row: int
    last_rep_row: int
    last_region_row: int
    total_row: int


def _situation(r) -> str:
    """The slot's situation in words (``status`` of :class:`TargetPlan.reps`), in the
    report language."""
    status = r.get("status") if isinstance(r.get("status"), str) else ""
    if status == "house_accounts":
        text = "accounts without a rep (manager)"
    elif bool(r.get("vacant", False)):
        text = "vacancy (manager)"
    elif status == "no_book":
        text = "no own forecast"
    elif status:
        text = status.replace("_", " ").replace(",", ", ")
    elif float(r.get("ramp_avg", 1) or 1) < 1:
        text = "new hire ramping"
    else:
        text = ""
    return _t(text) if text else ""


def _put_table(ws, headers, rows, formats, widths, *, first_row=FIRST_ROW) -> None:
    """Header on ``first_row - 1``, then ``rows`` (values or ``=formulas``) with formats."""
    from openpyxl.utils import get_column_letter

    for j, h in enumerate(headers, start=1):
        ws.cell(row=first_row - 1, column=j, value=h)
        ws.column_dimensions[get_column_letter(j)].width = widths[j - 1]
    _style_header(ws[first_row - 1])
    for i, row in enumerate(rows):
        for j, v in enumerate(row, start=1):
            c = ws.cell(row=first_row + i, column=j, value=_cell_value(v))
            if formats[j - 1]:
                c.number_format = formats[j - 1]


def _title(ws, title: str, explain: str) -> None:
    from openpyxl.styles import Alignment, Font

    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = explain
    ws["A2"].alignment = Alignment(wrap_text=False)
    ws["A2"].font = Font(italic=True, color="595959")


def _level(level) -> str:
    """A rep level as shown: ``key_account`` -> ``key account`` (zh: 大客户经理)."""
    from salesplan.reports.i18n import get_language

    text = "" if level is None or (isinstance(level, float) and math.isnan(level)) else str(level)
    return text.replace("_", " ") if get_language() == "en" else _t(text)


def _name(name) -> str | None:
    """A rep's name; a slot's made-up name (``vacant (was Ann)``) in the report language."""
    from salesplan.reports.i18n import get_language

    if not isinstance(name, str):
        return None if name is None or pd.isna(name) else str(name)
    return name if get_language() == "en" else _t(name)


def _rep_rows(reps: pd.DataFrame, r0: int) -> list[list]:
    """Values and formulas of the Plan reps rows (columns A-Q, see :func:`_rep_sheet`).

    The formulas use cell addresses only (``L = IF(ISNUMBER(K), K, J)``; ``Q`` flags a
    number in the override column K), so they are the same in every language."""
    out = []
    yes = _t("yes")
    for i, (_, r) in enumerate(reps.iterrows()):
        k = r0 + i
        bmax = r.get("band_max")
        banded = bmax is not None and pd.notna(bmax) and np.isfinite(bmax)
        over = bool(r.get("overridden", False))
        proposed = r["quota_proposed"] if "quota_proposed" in r and pd.notna(r["quota_proposed"]) else r["quota"]
        out.append([
            r["rep_id"], _name(r.get("name", "")), _t(str(r["region"])), _level(r.get("level", "")),
            r.get("hire_date"), _situation(r), r.get("own_forecast"),
            r.get("band_min") if banded else None, bmax if banded else None,
            proposed, r["quota"] if over else None,
            f"=IF(ISNUMBER(K{k}),K{k},J{k})", f"=L{k}-J{k}", f'=IF(J{k}>0,L{k}/J{k}-1,"")',
            f'=IF(N(G{k})>0,L{k}/G{k}-1,"")', r.get("p_attain_quota"), f'=IF(ISNUMBER(K{k}),"{yes}","")'])
    return out


REP_HEADERS = [REP_ID_HEADER, "name", "region", "level", "hire date", "situation", "own forecast",
               "band low", "band high", "proposed quota", OVERRIDE_HEADER, "quota", "change vs proposal",
               "change vs proposal %", "vs own forecast", "chance of quota (as run)", "overridden"]


def _by_region_order(frame: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """``frame`` sorted by region -- alphabetical in English, the Chinese order
    (:func:`salesplan.reports.i18n.region_order`: 华北, 东北, 华东, ...) in zh -- then by ``then``."""
    from salesplan.reports.i18n import region_order

    order = region_order(sorted(frame["region"].astype(str).unique()))
    rank = frame["region"].astype(str).map({r: i for i, r in enumerate(order)})
    return (frame.assign(_region_rank=rank).sort_values(["_region_rank", *then], kind="stable")
            .drop(columns="_region_rank").reset_index(drop=True))


def _rep_sheet(wb, reps: pd.DataFrame, cur: str, quarter: str, tolerance: float, unit: float) -> tuple:
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    name_reps, _, _ = plan_sheet_names()
    override = _t(OVERRIDE_HEADER)
    ws = wb.create_sheet(name_reps)
    _title(ws, _tf("Rep quotas {quarter}", quarter=_period(quarter)) + _unit(cur),
           _tf("Type a quota in the yellow column '{override}' (empty = the proposal); quota, changes, region "
               "and company totals recalculate. Orange: outside the fairness band; red: more than {tol} "
               "from the proposal. Re-plan with: salesplan run --overrides <this file>",
               override=override, tol=f"{tolerance:.0%}"))
    reps = _by_region_order(reps, ["vacant", "rep_id"] if "vacant" in reps else ["rep_id"])
    r0, n = FIRST_ROW, len(reps)
    last = r0 + max(n, 1) - 1
    fmts = [None, None, None, None, _DATE, None, _AMOUNT, _AMOUNT, _AMOUNT, _AMOUNT, _AMOUNT, _AMOUNT, _AMOUNT,
            _PCT, _PCT, _PCT, None]
    widths = [14, 22, 12, 12, 11, 20, 13, 12, 12, 13, 13, 13, 12, 11, 11, 11, 10]
    _put_table(ws, [_t(h) for h in REP_HEADERS], _rep_rows(reps, r0), fmts, widths)
    for k in range(r0, r0 + n):
        ws.cell(row=k, column=11).fill = PatternFill("solid", fgColor=_INPUT_FILL)
        ws.cell(row=k, column=12).font = Font(bold=True)
    dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                        showErrorMessage=True, errorTitle=override,
                        error=_tf("Type an amount >= 0 ({cur} per quarter), or leave empty for the proposal.",
                                  cur=_currency_name(cur)))
    dv.add(f"K{r0}:K{last}")
    ws.add_data_validation(dv)
    red, orange = PatternFill("solid", bgColor=_RED_FILL), PatternFill("solid", bgColor=_ORANGE_FILL)
    ws.conditional_formatting.add(f"L{r0}:L{last}", FormulaRule(
        formula=[f"AND(ISNUMBER($H{r0}),ISNUMBER($I{r0}),OR($L{r0}<$H{r0}-{unit!r},$L{r0}>$I{r0}+{unit!r}))"],
        fill=orange))  # one rounding unit of slack, as the plan's in_band
    ws.conditional_formatting.add(f"N{r0}:N{last}", FormulaRule(
        formula=[f"AND(ISNUMBER($N{r0}),ABS($N{r0})>{tolerance!r})"], fill=red))
    ws.conditional_formatting.add(f"A{r0}:Q{last}", FormulaRule(
        formula=[f"ISNUMBER($K{r0})"], font=Font(bold=True, color="9C5700")))
    ws.freeze_panes = f"C{r0}"
    ws.auto_filter.ref = f"A{r0 - 1}:Q{last}"  # sorting keeps the totals right: regions use SUMIF
    _print_setup(ws, f"{r0 - 1}:{r0 - 1}")
    return ws, last


REGION_HEADERS = ["region", "region maturity", "number of reps", "last year", "forecast", "target", "proposed quota", "quota",
                  "quota vs target", "quota vs forecast", "target vs last year", "quotas overridden",
                  "chance of target"]


def _region_sheet(wb, regions: pd.DataFrame, rep_last: int, cur: str, quarter: str, tolerance: float):
    """Plan regions: one row per region (the report language's order), ``quota = SUMIF``
    of its reps' quotas, overrides counted as numbers in the reps' override column."""
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Font, PatternFill

    name_reps, name_regions, _ = plan_sheet_names()
    ws = wb.create_sheet(name_regions)
    _title(ws, _tf("Region targets and quotas {quarter}", quarter=_period(quarter)) + _unit(cur),
           _tf("quota = sum of the region's rep quotas on '{reps}' (overrides included); red: more than "
               "{tol} from the target or the forecast", reps=name_reps, tol=f"{tolerance:.0%}"))
    regions = _by_region_order(regions, [])
    r0 = FIRST_ROW
    rr = f"'{name_reps}'!$C${r0}:$C${rep_last}"
    col = {c: f"'{name_reps}'!${c}${r0}:${c}${rep_last}" for c in ("J", "K", "L")}
    rows = []
    for i, (_, g) in enumerate(regions.iterrows()):
        k = r0 + i
        rows.append([_t(str(g["region"])), _t(str(g.get("maturity", "") or "")), g.get("n_reps"), g.get("last_year"),
                     g.get("forecast_mean"), g["target"], f"=SUMIF({rr},$A{k},{col['J']})",
                     f"=SUMIF({rr},$A{k},{col['L']})",
                     f'=IF(F{k}>0,H{k}/F{k}-1,"")', f'=IF(E{k}>0,H{k}/E{k}-1,"")', f'=IF(D{k}>0,F{k}/D{k}-1,"")',
                     f"=SUMPRODUCT(({rr}=$A{k})*ISNUMBER({col['K']}))", g.get("p_attain_target")])
    last = r0 + len(rows) - 1
    t = last + 1
    rows.append([_t("Total"), "", f"=SUM(C{r0}:C{last})", *[f"=SUM({c}{r0}:{c}{last})" for c in "DEFGH"],
                 f'=IF(F{t}>0,H{t}/F{t}-1,"")', f'=IF(E{t}>0,H{t}/E{t}-1,"")', f'=IF(D{t}>0,F{t}/D{t}-1,"")',
                 f"=SUM(L{r0}:L{last})", None])
    fmts = [None, None, "0", _AMOUNT, _AMOUNT, _AMOUNT, _AMOUNT, _AMOUNT, _PCT, _PCT, _PCT, "0", _PCT]
    _put_table(ws, [_t(h) for h in REGION_HEADERS], rows, fmts, [14, 12, 7, 13, 13, 13, 14, 13, 10, 10, 10, 10, 10])
    for cell in ws[t]:
        cell.font = Font(bold=True)
    red = PatternFill("solid", bgColor=_RED_FILL)
    ws.conditional_formatting.add(f"I{r0}:J{t}", FormulaRule(
        formula=[f"AND(ISNUMBER(I{r0}),ABS(I{r0})>{tolerance!r})"], fill=red))
    ws.freeze_panes = f"B{r0}"
    _print_setup(ws, f"{r0 - 1}:{r0 - 1}")
    return ws, last, t


def _method(method) -> str:
    """The company table's ``method`` (``board``, ``growth``, ``probability``...) in the
    report language (entries ``target method <method>``; an unknown method as it is)."""
    from salesplan.reports.i18n import get_language

    if not isinstance(method, str) or not method:
        return ""
    if get_language() == "en":
        return method
    out = _t(f"target method {method}")
    return method if out == f"target method {method}" else out


def _company_rows(company: pd.Series, quarter: str, reg) -> tuple[dict, list]:
    """Row numbers by key and (label, value or formula, format, note) of Plan company."""
    r = {name: FIRST_ROW + i for i, name in enumerate(
        ["quarter", "method", "ly", "p50", "p10", "p90", "pipe", "target", "reg_target", "proposed", "quota",
         "change", "oa", "q_vs_t", "q_vs_f", "t_vs_ly", "chance", "n_over"])}
    _, name_regions, _ = plan_sheet_names()
    method = company.get("method", "")
    rows = [
        ("quarter", _period(str(company.get("quarter", quarter))), None, ""),
        ("how the target is set", _method(method), None, ""),
        ("same quarter last year (actual)", company.get("last_year"), _AMOUNT, ""),
        ("forecast, median (P50)", company.get("forecast_p50"), _AMOUNT, "carry-on forecast"),
        ("forecast, low (P10)", company.get("forecast_p10"), _AMOUNT, "9 in 10 quarters above"),
        ("forecast, high (P90)", company.get("forecast_p90"), _AMOUNT, "1 in 10 quarters above"),
        ("pipeline not in the forecast", company.get("pipeline_increment"), _AMOUNT, ""),
        ("company target", company.get("target"), _AMOUNT, "the plan's number"),
        ("sum of the regions' targets", f"=SUM({reg('F')})", _AMOUNT,
         _tf("'{sheet}' column F", sheet=name_regions)),
        ("proposed sum of quotas", f"=SUM({reg('G')})", _AMOUNT, "before overrides"),
        ("sum of quotas", f"=SUM({reg('H')})", _AMOUNT, "sum of the regions, overrides included"),
        ("change vs proposal", f"=B{r['quota']}-B{r['proposed']}", _AMOUNT, ""),
        ("over-assignment", f'=IF(B{r["target"]}>0,B{r["quota"]}/B{r["target"]},"")', "0.00",
         "sum of quotas / target"),
        ("quota vs target", f'=IF(B{r["target"]}>0,B{r["quota"]}/B{r["target"]}-1,"")', _PCT, ""),
        ("quota vs forecast (P50)", f'=IF(B{r["p50"]}>0,B{r["quota"]}/B{r["p50"]}-1,"")', _PCT, ""),
        ("target vs last year", f'=IF(B{r["ly"]}>0,B{r["target"]}/B{r["ly"]}-1,"")', _PCT, ""),
        ("chance of meeting the target", company.get("p_attain_target"), _PCT, "from the forecast paths"),
        ("rep quotas overridden", f"=SUM({reg('L')})", "0", ""),
    ]
    return r, [(_t(a), b, fmt, _t(d) if d else "") for a, b, fmt, d in rows]


def _company_sheet(wb, company: pd.Series, reg_last: int, cur: str, quarter: str, tolerance: float):
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Font, PatternFill

    _, name_regions, name_company = plan_sheet_names()
    ws = wb.create_sheet(name_company)
    _title(ws, _tf("Company plan {quarter}", quarter=_period(quarter)) + _unit(cur),
           _tf("sum of quotas = sum of the regions on '{regions}' (each the sum of its reps); red: more than "
               "{tol} from the target or the forecast", regions=name_regions, tol=f"{tolerance:.0%}"))
    reg = lambda c: f"'{name_regions}'!{c}{FIRST_ROW}:{c}{reg_last}"  # noqa: E731
    r, rows = _company_rows(company, quarter, reg)
    _put_table(ws, [_t("item"), _t("value"), _t("how")], [[a, b, d] for a, b, _, d in rows],
               [None, None, None], [34, 16, 44])
    for i, (_, _, fmt, _) in enumerate(rows):
        ws.cell(row=FIRST_ROW + i, column=2).number_format = fmt or "General"
    for key in ("target", "quota"):
        ws.cell(row=r[key], column=1).font = ws.cell(row=r[key], column=2).font = Font(bold=True)
    red = PatternFill("solid", bgColor=_RED_FILL)
    for key in ("q_vs_t", "q_vs_f"):
        ws.conditional_formatting.add(f"B{r[key]}", FormulaRule(
            formula=[f"AND(ISNUMBER(B{r[key]}),ABS(B{r[key]})>{tolerance!r})"], fill=red))
    _print_setup(ws, f"{FIRST_ROW - 1}:{FIRST_ROW - 1}")
    return ws, r


def rounding_unit_of(assumptions: pd.DataFrame | None) -> float:
    """``rounding_unit`` of a plan's assumptions table (``item, value``), 0 when absent."""
    if not isinstance(assumptions, pd.DataFrame) or not {"item", "value"} <= set(assumptions.columns):
        return 0.0
    hit = assumptions.loc[assumptions["item"] == "rounding_unit", "value"]
    try:
        unit = float(hit.iloc[0]) if len(hit) else 0.0
    except (TypeError, ValueError):
        return 0.0
    return unit if math.isfinite(unit) and unit >= 0 else 0.0


def add_plan_sheets(wb, company: pd.DataFrame, regions: pd.DataFrame, reps: pd.DataFrame, *,
                    tolerance: float = 0.15, run_id: str = "", period: str | None = None,
                    rounding_unit: float = 0.0) -> PlanSheets:
    """Add the Plan company / Plan regions / Plan reps sheets (first) and the hidden meta sheet (last).

    In the report language (:func:`plan_sheet_names`; zh: 公司计划 / 大区计划 / 销售代表计划,
    every title, header, label and note in Chinese, regions in the Chinese order); the
    formulas are the same in every language.

    Parameters
    ----------
    wb : openpyxl Workbook
    company, regions, reps : DataFrame
        :class:`salesplan.planning.targets.TargetPlan` tables (``company``, ``regions``, ``reps``;
        notebook 04 publishes them as ``company``, ``region``, ``rep``).  ``reps`` may
        carry ``quota_proposed`` and ``overridden``: an overridden rep's quota is written
        into the override column, the proposal beside it.
    tolerance : float in (0, 1), default 0.15
        Variances beyond +-tolerance are shaded red.
    run_id : str
        Recorded on the meta sheet.
    period : str, optional
        The run's plan quarter (``YYYYQn``) recorded on the meta sheet, which
        :func:`read_quota_overrides` checks (default: the company table's ``quarter``).
    rounding_unit : float >= 0, default 0
        Currency; a quota within one unit of its band counts as inside, as the plan's
        ``in_band`` (:func:`rounding_unit_of` reads it from the assumptions table).

    Returns
    -------
    PlanSheets
    """
    if not (isinstance(rounding_unit, Real) and math.isfinite(rounding_unit) and rounding_unit >= 0):
        raise ValueError(f"add_plan_sheets: rounding_unit={rounding_unit!r}; expected an amount >= 0")
    if not (isinstance(tolerance, Real) and 0 < tolerance < 1):
        raise ValueError(f"add_plan_sheets: tolerance={tolerance!r}; expected a fraction in (0, 1)")
    for name, df, need in (("company", company, ("target",)), ("regions", regions, ("region", "target")),
                           ("reps", reps, ("rep_id", "region", "quota"))):
        miss = [c for c in need if not isinstance(df, pd.DataFrame) or c not in df.columns]
        if miss or len(df) == 0:
            raise ValueError(f"add_plan_sheets: table {name} lacks column(s) {miss or 'rows'}; "
                             f"expected a TargetPlan table with {list(need)}")
    c = company.iloc[0]
    cur, quarter = str(c.get("currency", "")), str(c.get("quarter", ""))
    ws_reps, rep_last = _rep_sheet(wb, reps, cur, quarter, tolerance, float(rounding_unit))
    ws_reg, reg_last, total = _region_sheet(wb, regions, rep_last, cur, quarter, tolerance)
    ws_comp, _ = _company_sheet(wb, c, reg_last, cur, quarter, tolerance)
    for offset, ws in enumerate((ws_comp, ws_reg, ws_reps)):  # company, regions, reps first
        wb.move_sheet(ws, offset=offset - wb.index(ws))
    from salesplan.reports.i18n import get_language

    meta = wb.create_sheet(META_SHEET)  # hidden, read by machines: English keys in every language
    meta.append(["key", "value"])
    for k, v in (("kind", META_KIND), ("format", 1), ("period", period or quarter), ("currency", cur),
                 ("run_id", run_id), ("language", get_language())):
        meta.append([k, v])
    for rid in reps["rep_id"]:
        meta.append(["rep_id", str(rid)])
    meta.sheet_state = "hidden"
    wb.active = 0
    return PlanSheets(ws_reps.title, ws_reg.title, ws_comp.title, FIRST_ROW, rep_last, reg_last, total)


# --------------------------------------------------------------------------- whole workbooks


def _save_atomically(wb, path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"write_plan_workbook: folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".plan-", suffix=".xlsx", dir=folder)
    os.close(fd)
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_plan_workbook(tables: Mapping[str, pd.DataFrame], path, *, tolerance: float = 0.15) -> str:
    """Write the plan tables to an Excel workbook, atomically.

    Sheets: the plan sheets (:func:`add_plan_sheets`: Plan company, Plan regions, Plan
    reps) when ``company``, ``regions`` and ``reps`` are given, then one raw sheet per
    table (Company, Bridge, Regions, Reps, Products, Months, Weeks, SMART, any other
    table, Assumptions last; :func:`add_table_sheet`).  The workbook is written to a
    temporary file in the target folder and renamed over ``path``, so a reader never
    sees a half-written file.

    Parameters
    ----------
    tables : mapping name -> DataFrame
        E.g. :meth:`TargetPlan.tables`.  Needs at least ``company``.
    path : str or path-like
    tolerance : float, default 0.15
        Variances beyond +-tolerance are shaded red on the plan sheets.

    Returns
    -------
    str
        The path written.
    """
    from openpyxl import Workbook

    if not isinstance(tables, Mapping) or "company" not in tables:
        raise ValueError("write_plan_workbook: tables must be a mapping with at least 'company'")
    path = os.fspath(path)
    wb = Workbook()
    wb.remove(wb.active)
    if all(isinstance(tables.get(k), pd.DataFrame) for k in ("company", "regions", "reps")):
        add_plan_sheets(wb, tables["company"], tables["regions"], tables["reps"], tolerance=tolerance,
                        rounding_unit=rounding_unit_of(tables.get("assumptions")))
    order = [k for k in ("company", "bridge", "regions", "reps", "products", "months", "weeks", "smart")
             if k in tables]
    order += [k for k in tables if k not in order and k != "assumptions"]
    if "assumptions" in tables:
        order.append("assumptions")
    for key in order:
        if tables[key] is not None:
            add_table_sheet(wb, _SHEET_NAMES.get(key, str(key).replace("_", " ").title()), tables[key])
    if META_SHEET in wb.sheetnames:  # hidden sheet last
        wb.move_sheet(META_SHEET, offset=len(wb.sheetnames) - 1 - wb.index(wb[META_SHEET]))
    return _save_atomically(wb, path)


# --------------------------------------------------------------------------- a run's workbook

#: the tables of the targets notebook that the plan sheets read (``assumptions``: rounding)
PLAN_TABLES = ("company", "region", "rep")
#: the sheet "Run" says this (row ``plan sheets``) when the plan has no rep quotas
NO_PLAN_SHEETS = ("not written: the plan has no rep quotas (the data have no reps table); the region targets "
                  "are on sheet '{sheet}'")


class _NoSheets:
    sheetnames: tuple = ()


class RunWorkbook:
    """The workbook of a ``salesplan run``, built as the notebooks' tables become final.

    :meth:`add_notebook` adds one notebook's published tables as raw sheets (in its tab
    colour) and writes their XML at once, deflated as the file will hold it (to temporary
    files, :class:`_Deflated`; the cells are then freed): the runner adds a notebook right
    after its report, while the next notebooks run, and a carried-over notebook's tables
    while the re-run notebooks run.  Given the run's ``run_id`` and ``period``, the plan
    sheets are built and written too when the first notebook (by tab index) with plan
    tables is added (at scale 100 the plan sheets and the deflating took ~10 s after the
    last notebook; benchmarks/RESULTS.md, session 24).  :meth:`save` adds
    the notebooks not added yet, the plan sheets, the headlines and the run's parameters,
    puts the sheets in their order and writes the file: what a workbook built in one go
    from the same tables holds, sheet for sheet and cell for cell (:meth:`save` builds it
    in one go when the sheets added ahead would not be named or coloured as that one, or
    the plan sheets built ahead are not those of the run's first plan notebook, id and
    period).

    Sheets, in order: the plan sheets (:func:`add_plan_sheets`, from the first notebook
    that published ``company``, ``region`` and ``rep`` tables; none when its ``rep`` table
    is empty: the sheet "Run" then says so in its row ``plan sheets``), "Headlines",
    "Run", every published table grouped by notebook (one tab colour per notebook, by the
    notebook's place in the run), the hidden meta sheet last.  In the report language.
    """

    def __init__(self, *, run_id: str | None = None, period: str | None = None):
        from openpyxl import Workbook

        self._wb = Workbook()
        self._wb.remove(self._wb.active)
        self._added: dict[str, tuple[int, list, dict]] = {}  # notebook -> (tab index, sheets, plan tables)
        self._ahead: dict[int, _Deflated] = {}  # id(worksheet) -> its XML, written and deflated
        self._asked: dict[int, str] = {}  # id(worksheet) -> the name it asked for
        # the plan sheets are built ahead (when their notebook is added) only when the run's id
        # and period, which the meta sheet records, are known now
        self._plan_info = None if run_id is None or period is None else (str(run_id), str(period))
        self._plan_from: str | None = None  # the notebook whose plan sheets were built ahead

    def add_notebook(self, name: str, tables, tab_index: int) -> None:
        """Add notebook ``name``'s ``(table name, frame)`` pairs (in publishing order) as
        raw sheets ``"<prefix> <table>"`` in tab colour ``tab_index`` (its place among the
        run's notebooks) and write them now."""
        prefix = name.split("_", 1)[0]
        sheets, plan = [], {}
        for table, frame in tables:
            if table in (*PLAN_TABLES, "assumptions"):
                plan[table] = frame
            asked = f"{prefix} {table}"
            ws, writer = _write_table_sheet(self._wb, asked, frame,
                                            tab_color=_TAB_COLORS[tab_index % len(_TAB_COLORS)])
            self._ahead[id(ws)], self._asked[id(ws)] = _Deflated.of(writer), asked
            sheets.append(ws)
        self._added[name] = (tab_index, sheets, plan)
        if (self._plan_info is not None and self._plan_from is None and _has_plan(plan) and len(plan["rep"])
                and not any(i < tab_index and _has_plan(p) for i, _, p in self._added.values())):
            self._build_plan_sheets(name, plan)

    def _build_plan_sheets(self, name: str, plan: Mapping[str, pd.DataFrame]) -> None:
        """The plan sheets of notebook ``name``'s tables, built and written now (the run's
        id and period given to the constructor); :meth:`save` keeps them when ``name`` is
        the first of the run's notebooks with plan tables and the run's id and period are
        the same, else it builds the workbook in one go."""
        from openpyxl.worksheet._writer import WorksheetWriter

        before = {id(ws) for ws in self._wb.worksheets}
        _plan_sheets_of(self._wb, plan, *self._plan_info)
        for ws in self._wb.worksheets:
            if id(ws) not in before:
                writer = WorksheetWriter(ws)
                writer.write()
                ws._cells.clear()  # written: the file takes the XML
                self._ahead[id(ws)] = _Deflated.of(writer)
        self._plan_from = name

    def save(self, path, *, run_info: Mapping, results, tables) -> Path:
        """Write the workbook to ``path``.

        Parameters
        ----------
        run_info : mapping
            Items of the sheet "Run" (``parameter <name>`` items keep the name as typed).
        results : sequence
            The run's notebooks in report order, each with ``name``, ``title`` and
            ``headlines`` (the record of :func:`salesplan.reports.publish.publish_headlines`).
        tables : callable
            ``tables(name)`` -> the ``(table name, frame)`` pairs of a notebook not added yet.
        """
        place = {r.name: i for i, r in enumerate(results)}
        if self._added and all(place.get(n) == i for n, (i, _, _) in self._added.items()):
            for r in results:
                if r.name not in self._added:
                    self.add_notebook(r.name, tables(r.name), place[r.name])
            if self._no_clash() and self._plan_sheets_hold(run_info, results):
                return self._finish(Path(path), run_info, results)
        self._discard()  # built in one go, in the order of the sheets
        fresh = RunWorkbook()
        raw = [(r, list(tables(r.name))) for r in results]
        fresh._added = {r.name: (i, [], {k: f for k, f in t if k in (*PLAN_TABLES, "assumptions")})
                        for i, (r, t) in enumerate(raw)}
        run_info = fresh._add_plan_sheets(run_info, results)
        add_table_sheet(fresh._wb, "Headlines", _headline_rows(results))
        add_table_sheet(fresh._wb, "Run", pd.DataFrame(_run_sheet_rows(run_info), columns=["item", "value"]))
        for i, (r, t) in enumerate(raw):
            for table, frame in t:
                add_table_sheet(fresh._wb, f"{r.name.split('_', 1)[0]} {table}", frame,
                                tab_color=_TAB_COLORS[i % len(_TAB_COLORS)])
        return fresh._finish(Path(path), None, results)

    def _plan_sheets_hold(self, run_info: Mapping, results) -> bool:
        """Whether the plan sheets built ahead (if any) are those of a workbook built in one
        go: from the first notebook of ``results`` with plan tables, for this run's id and
        period."""
        if self._plan_from is None:
            return True
        first = next((r.name for r in results if _has_plan(self._added[r.name][2])), None)
        return (first == self._plan_from
                and self._plan_info == (str(run_info.get("run id", "")), str(run_info.get("period", ""))))

    def _no_clash(self) -> bool:
        """Whether the raw sheets added ahead are named as in a workbook built in one go
        (plan sheets, headlines and run first): no name needed a ``~k`` suffix and none can
        clash with another sheet's, so the order of adding changed no name."""
        from salesplan.reports.i18n import sheet_name

        fixed = [*plan_sheet_names(), META_SHEET, sheet_name("Headlines"), sheet_name("Run")]
        titles = [_sheet_title(_NoSheets(), t) for t in fixed]
        for ws in self._wb.worksheets:
            if id(ws) in self._asked:
                if _sheet_title(_NoSheets(), sheet_name(self._asked[id(ws)])) != ws.title:
                    return False
                titles.append(ws.title)
        return len({t.lower() for t in titles}) == len(titles)

    def _finish(self, path: Path, run_info: Mapping | None, results) -> Path:
        """The plan sheets, headlines and run (unless ``run_info`` is None: made already),
        the sheets in order, the file."""
        wb = self._wb
        if run_info is not None:
            run_info = self._add_plan_sheets(run_info, results)
            add_table_sheet(wb, "Headlines", _headline_rows(results))
            add_table_sheet(wb, "Run", pd.DataFrame(_run_sheet_rows(run_info), columns=["item", "value"]))
            for r in results:  # the raw sheets after the plan sheets, headlines and run, by notebook
                for ws in self._added[r.name][1]:
                    wb.move_sheet(ws, offset=len(wb.sheetnames) - 1 - wb.index(ws))
        if META_SHEET in wb.sheetnames:  # the hidden sheet last
            wb.move_sheet(META_SHEET, offset=len(wb.sheetnames) - 1 - wb.index(wb[META_SHEET]))
        _save_with(wb, path, self._ahead)
        return path

    def _discard(self) -> None:
        for written in self._ahead.values():
            written.cleanup()
        self._ahead.clear()

    def _add_plan_sheets(self, run_info: Mapping, results) -> dict:
        from salesplan.reports.i18n import get_language, sheet_name, translate

        run_info = dict(run_info)
        for r in results:
            found = self._added[r.name][2]
            if not _has_plan(found):
                continue
            if len(found["rep"]) == 0:  # the region sheet's name as the raw sheets get it
                region_sheet = _sheet_title(_NoSheets(), sheet_name(f"{r.name.split('_', 1)[0]} region"))
                note = translate(NO_PLAN_SHEETS) if get_language() != "en" else NO_PLAN_SHEETS
                run_info["plan sheets"] = note.format(sheet=region_sheet)
            elif r.name != self._plan_from:  # else built ahead
                _plan_sheets_of(self._wb, found, str(run_info.get("run id", "")), str(run_info.get("period", "")))
            break
        return run_info


def _has_plan(tables: Mapping) -> bool:
    """Whether a notebook's tables (name -> frame) hold every table of :data:`PLAN_TABLES`."""
    return all(k in tables for k in PLAN_TABLES)


def _plan_sheets_of(wb, tables: Mapping[str, pd.DataFrame], run_id: str, period: str) -> None:
    """:func:`add_plan_sheets` of a notebook's plan tables (``assumptions``: the rounding)."""
    add_plan_sheets(wb, tables["company"], tables["region"], tables["rep"], run_id=run_id, period=period,
                    rounding_unit=rounding_unit_of(tables.get("assumptions")))


def _sheet_name(text: str) -> str:
    from salesplan.reports.i18n import sheet_name

    return sheet_name(text)


def _headline_rows(results) -> pd.DataFrame:
    rows = [{"report": r.title, "figure": f["label"], "shown as": f["display"], "value": f["value"]}
            for r in results for f in (r.headlines or {}).get("figures", [])]
    return pd.DataFrame(rows, columns=["report", "figure", "shown as", "value"])


def _run_sheet_rows(run_info: Mapping) -> list[tuple[str, object]]:
    """(item, value) rows of the sheet "Run", the items in the report language
    (``parameter <name>``: the parameter's name is kept as it is typed)."""
    from salesplan.reports.i18n import translate

    rows = []
    for k, v in run_info.items():
        k = str(k)
        if k.startswith("parameter "):
            rows.append((f"{translate('parameter')} {k.removeprefix('parameter ')}", v))
        else:
            rows.append((translate(k), v))
    return rows


def _save_with(wb, path: Path, ahead: dict) -> None:
    """``wb.save(path)``, the worksheets in ``ahead`` (id -> :class:`_Deflated`) taken from
    their XML written and deflated ahead instead of written and compressed again."""
    from zipfile import ZIP_DEFLATED, ZipFile

    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.writer.excel import ExcelWriter

    class AheadWriter(ExcelWriter):
        def write_worksheet(self, ws):
            written = ahead.pop(id(ws), None)
            if written is None:
                return super().write_worksheet(ws)
            ws._drawing = SpreadsheetDrawing()  # as ExcelWriter.write_worksheet (openpyxl 3.1)
            ws._drawing.charts = ws._charts
            ws._drawing.images = ws._images
            ws._rels = written.rels
            written.add_to(self._archive, ws.path[1:])
            self.manifest.append(ws)
            written.cleanup()

    archive = ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True)
    wb.properties.modified = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
    try:
        AheadWriter(wb, archive).save()
    finally:
        for written in ahead.values():
            written.cleanup()
        ahead.clear()


class _Deflated:
    """A worksheet's XML, written ahead and deflated as the workbook's zip file holds it.

    ``ZipFile.write`` compresses a member when the file is saved: for a run at scale 100
    that is ~4.5 s of zlib at the end of the run (a 270 MB customer sheet), after the last
    notebook.  A sheet written ahead is deflated at once instead (in the runner's render
    thread, beside the kernels) into a temporary file -- the same raw deflate stream
    (``zlib`` level 6 = ``Z_DEFAULT_COMPRESSION``, ``wbits=-15``) ``ZipFile.write`` makes,
    with its CRC-32 and sizes -- and :meth:`add_to` copies it into the archive.
    """

    CHUNK = 1 << 20

    def __init__(self, path: str, info, rels):
        self.path, self.info, self.rels = path, info, rels

    @classmethod
    def of(cls, writer) -> _Deflated:
        """Deflate ``writer.out`` (an openpyxl ``WorksheetWriter`` whose XML is written)
        and remove it."""
        import zlib
        from zipfile import ZIP_DEFLATED, ZipInfo

        info = ZipInfo.from_file(writer.out, "sheet.xml")  # time and mode, as ZipFile.write takes them
        info.compress_type = ZIP_DEFLATED
        fd, path = tempfile.mkstemp(prefix="salesplan-sheet-", suffix=".deflate")
        crc = size = 0
        try:
            deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            with open(writer.out, "rb") as src, os.fdopen(fd, "wb") as out:
                while block := src.read(cls.CHUNK):
                    crc, size = zlib.crc32(block, crc), size + len(block)
                    out.write(deflate.compress(block))
                out.write(deflate.flush())
                info.compress_size = out.tell()
        except BaseException:
            os.remove(path)
            raise
        finally:
            writer.cleanup()
        info.CRC, info.file_size = crc, size
        return cls(path, info, writer._rels)

    def add_to(self, archive, arcname: str) -> None:
        """Add the member ``arcname`` to ``archive`` (a ``ZipFile`` open for writing to a
        seekable file), as ``ZipFile.write`` would: zipfile has no public way to add data
        compressed beforehand, so this does what ``ZipFile._open_to_write`` and
        ``_ZipWriteFile.close`` do (Python 3.8-3.13) with the sizes and CRC known."""
        from zipfile import ZIP64_LIMIT, LargeZipFile

        try:  # zipfile's own state; a zipfile without it: the member inflated and written again
            fp, start, writecheck = archive.fp, archive.start_dir, archive._writecheck
            allow_zip64, writing = archive._allowZip64, archive._writing
        except AttributeError:
            return self._inflate_into(archive, arcname)
        info = self.info
        info.filename, info.orig_filename = arcname, arcname
        info.flag_bits = 0x00
        info._compresslevel = archive.compresslevel
        zip64 = info.file_size * 1.05 > ZIP64_LIMIT
        if zip64 and not allow_zip64:
            raise LargeZipFile("Filesize would require ZIP64 extensions")
        if writing:
            raise ValueError("Can't write to ZIP archive while an open writing handle exists")
        fp.seek(start)
        info.header_offset = fp.tell()
        writecheck(info)
        archive._didModify = True
        fp.write(info.FileHeader(zip64))
        with open(self.path, "rb") as src:
            while block := src.read(self.CHUNK):
                fp.write(block)
        archive.start_dir = fp.tell()
        archive.filelist.append(info)
        archive.NameToInfo[arcname] = info

    def _inflate_into(self, archive, arcname: str) -> None:
        """Add the member through ``ZipFile.open(arcname, "w")`` (compressed again)."""
        import zlib

        inflate = zlib.decompressobj(-15)
        with open(self.path, "rb") as src, archive.open(arcname, "w") as out:
            while block := src.read(self.CHUNK):
                out.write(inflate.decompress(block))
            out.write(inflate.flush())

    def cleanup(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)


# --------------------------------------------------------------------------- reading overrides


class OverrideError(ValueError):
    """A planner's override that cannot be used; ``str(err)`` is one line naming the
    file, sheet, row, column and what was expected."""


def _meta(wb) -> dict:
    if META_SHEET not in wb.sheetnames:
        return {}
    out: dict = {"rep_id": []}
    for k, v in wb[META_SHEET].iter_rows(min_row=2, max_col=2, values_only=True):
        if k == "rep_id":
            out["rep_id"].append(str(v))
        elif k is not None:
            out[str(k)] = v
    return out


def _labels(text: str) -> tuple[str, ...]:
    """``text`` as salesplan writes it in each report language (English first)."""
    from salesplan.reports.i18n import LANGUAGES, translate

    return tuple(dict.fromkeys(translate(text, lang) for lang in LANGUAGES))


def _plan_reps_sheet(wb, name: str):
    """The workbook's rep plan sheet, in whichever language it was written."""
    for title in _labels(PLAN_REPS):
        if title in wb.sheetnames:
            return wb[title]
    raise OverrideError(f"{name}: no sheet {' or '.join(repr(t) for t in _labels(PLAN_REPS))}; expected a plan "
                        "workbook written by salesplan run (salesplan_<period>.xlsx)")


def _header_row(ws, name: str) -> tuple[int, int, int]:
    """(header row, rep id column, override column) of the rep plan sheet; the headers
    may be English or Chinese (a column is found by either of its names)."""
    ids = {t.lower() for t in _labels(REP_ID_HEADER)}
    overrides = {t.lower() for t in _labels(OVERRIDE_HEADER)}
    for row in ws.iter_rows(min_row=1, max_row=12):
        heads = {str(c.value).strip().lower(): c.column for c in row if isinstance(c.value, str)}
        c_id = next((heads[h] for h in heads if h in ids), None)
        c_over = next((heads[h] for h in heads if h in overrides), None)
        if c_id and c_over:
            return row[0].row, c_id, c_over
    expected = " and ".join("/".join(repr(t) for t in _labels(h)) for h in (REP_ID_HEADER, OVERRIDE_HEADER))
    raise OverrideError(f"{name}: sheet '{ws.title}' has no header row with {expected} in its first 12 rows; "
                        "expected the sheet as salesplan wrote it")


def _checked_override(name: str, cell, id_cell, c_id: int, v, meta: dict, seen: Mapping,
                      heads: tuple[str, str] = (REP_ID_HEADER, OVERRIDE_HEADER)) -> str:
    """The rep id of one override row, or a one-line OverrideError naming the cell
    (sheet and column by the names the workbook shows)."""
    from openpyxl.utils import get_column_letter

    ws = cell.parent
    id_head, over_head = heads
    where = f"{name}: sheet '{ws.title}', row {cell.row}, column {cell.column_letter} ({over_head})"
    id_where = (f"{name}: sheet '{ws.title}', row {cell.row}, column {get_column_letter(c_id)} "
                f"({id_head}, overridden in column {cell.column_letter})")
    known = meta.get("rep_id") or []
    rid = None if id_cell is None or id_cell.value is None else str(id_cell.value).strip()
    if not rid:
        raise OverrideError(f"{id_where}: no rep id; expected a rep id of the plan beside an override")
    if known and rid not in set(known):
        raise OverrideError(f"{id_where}: unknown rep id {rid!r}; expected one of the plan's {len(known)} rep "
                            f"ids (e.g. {', '.join(known[:3])})")
    if rid in seen:
        raise OverrideError(f"{where}: rep id {rid!r} overridden twice; expected one row per rep")
    unit = f"{meta.get('currency') or 'currency'} per quarter"
    if isinstance(v, bool) or not isinstance(v, Real):
        raise OverrideError(f"{where}: {v!r} is not a number; expected an amount >= 0 ({unit}) or an empty cell")
    if not math.isfinite(v) or v < 0:
        raise OverrideError(f"{where}: {v!r} for {rid}; expected a finite amount >= 0 ({unit}) or an empty cell")
    return rid


def read_quota_overrides(path, *, period: str | None = None) -> dict[str, float]:
    """The planner's quota overrides of a plan workbook: ``{rep id: amount}``.

    Reads sheet ``Plan reps`` (:func:`add_plan_sheets`): every row whose
    ``quota override`` cell holds a value.  A formula counts by its computed value (saved
    by Excel or LibreOffice).  The workbook may be written in any report language: the
    sheet and its ``rep id`` / ``quota override`` columns are found by their English or
    Chinese names (``销售代表计划``, ``代表编号`` / ``指标调整``), whatever the current language.

    Parameters
    ----------
    path : str or path-like
        An ``.xlsx`` written by ``salesplan run`` (``salesplan_<period>.xlsx``) or
        :func:`write_plan_workbook`, edited by the planner.
    period : str, optional
        The plan quarter of the run that will use the overrides; a workbook of another
        period is refused.

    Returns
    -------
    dict
        Rep id -> quota (currency per quarter, finite, >= 0); empty when nothing is overridden.

    Raises
    ------
    OverrideError
        One line: file, sheet, row, column and expected value -- a rep id not in the plan
        (or twice), a value that is not a number, a negative amount, a missing sheet, a
        workbook of another period.
    """
    from openpyxl import load_workbook

    p = Path(path)
    name = p.name
    if not p.is_file():
        raise OverrideError(f"{path}: no such file; expected the plan workbook (.xlsx) to read overrides from")
    try:
        wb = load_workbook(p)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same error to the planner
        raise OverrideError(f"{name}: cannot be read as an Excel workbook ({type(e).__name__}); "
                            "expected an .xlsx written by salesplan run") from None
    ws = _plan_reps_sheet(wb, name)
    meta = _meta(wb)
    if period is not None and meta.get("period") not in (None, str(period)):
        raise OverrideError(f"{name}: sheet '{META_SHEET}' says period {meta['period']}, this run plans {period}; "
                            f"expected the workbook of {period}")
    head, c_id, c_over = _header_row(ws, name)
    heads = (str(ws.cell(row=head, column=c_id).value).strip(), str(ws.cell(row=head, column=c_over).value).strip())
    values = None  # computed values, loaded only when an override cell holds a formula
    out: dict[str, float] = {}
    for row in ws.iter_rows(min_row=head + 1):
        by_col = {c.column: c for c in row}
        id_cell, cell = by_col.get(c_id), by_col.get(c_over)
        if cell is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
            continue
        v = cell.value
        if isinstance(v, str) and v.startswith("="):
            if values is None:
                values = load_workbook(p, data_only=True)[ws.title]
            v = values.cell(row=cell.row, column=cell.column).value
            if v is None:
                raise OverrideError(f"{name}: sheet '{ws.title}', row {cell.row}, column {cell.column_letter} "
                                    f"({heads[1]}): formula {cell.value} has no computed value; expected a number "
                                    "(type it, or save the file in Excel or LibreOffice first)")
        rid = _checked_override(name, cell, id_cell, c_id, v, meta, out, heads)
        out[rid] = float(v)
    return out
