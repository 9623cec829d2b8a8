"""The plan workbook: every plan table on its own sheet, formatted, written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["write_plan_workbook"]

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
    if any(h in c for h in _CUR_HINTS):
        return "#,##0"
    return None


def write_plan_workbook(tables: Mapping[str, pd.DataFrame], path) -> str:
    """Write the plan tables to an Excel workbook, atomically.

    Sheets: Company, Regions, Reps, Months (+ Weeks, SMART and any other table given)
    and Assumptions last.  Currency columns get ``#,##0``, probabilities/growth ``0.0%``,
    dates ``yyyy-mm-dd``; header bold and frozen; column widths fitted.  The workbook is
    written to a temporary file in the target folder and renamed over ``path``, so a
    reader never sees a half-written file.

    Parameters
    ----------
    tables : mapping name -> DataFrame
        E.g. :meth:`TargetPlan.tables`.  Needs at least ``company``.
    path : str or path-like

    Returns
    -------
    str
        The path written.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    if not isinstance(tables, Mapping) or "company" not in tables:
        raise ValueError("write_plan_workbook: tables must be a mapping with at least 'company'")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"write_plan_workbook: folder {folder!r} does not exist")
    wb = Workbook()
    wb.remove(wb.active)
    order = [k for k in ("company", "bridge", "regions", "reps", "products", "months", "weeks", "smart")
             if k in tables]
    order += [k for k in tables if k not in order and k != "assumptions"]
    if "assumptions" in tables:
        order.append("assumptions")
    used = set()
    for key in order:
        df = tables[key]
        if df is None:
            continue
        name = _SHEET_NAMES.get(key, str(key).replace("_", " ").title())[:31]
        for ch in "[]:*?/\\":
            name = name.replace(ch, "-")
        base, i = name, 2
        while name in used:
            name = f"{base[:28]}-{i}"
            i += 1
        used.add(name)
        ws = wb.create_sheet(name)
        df = df.reset_index(drop=True)
        ws.append([str(c) for c in df.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
        for rec in df.itertuples(index=False):
            row = []
            for v in rec:
                if isinstance(v, (pd.Timestamp,)):
                    v = None if pd.isna(v) else v.to_pydatetime()
                elif isinstance(v, (np.bool_,)):
                    v = bool(v)
                elif isinstance(v, (np.integer,)):
                    v = int(v)
                elif isinstance(v, (np.floating, float)):
                    v = None if not np.isfinite(v) else float(v)
                elif v is None or (not isinstance(v, str) and pd.isna(v)):
                    v = None
                elif not isinstance(v, (str, int, float, bool)):
                    v = str(v)
                row.append(v)
            ws.append(row)
        for j, col in enumerate(df.columns, start=1):
            fmt = _fmt_for(str(col), df[col].dtype)
            letter = ws.cell(row=1, column=j).column_letter
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, max_row=ws.max_row, min_col=j, max_col=j):
                    cell.number_format = fmt
            width = max([len(str(col))] + [len(str(x)) for x in df[col].head(200).tolist()]) + 2
            ws.column_dimensions[letter].width = min(max(width, 8), 60)
        ws.freeze_panes = "A2"
    from salesplan.reports.i18n import localize_workbook

    localize_workbook(wb)  # headers in the report language (English: unchanged)
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
