"""How a notebook hands its results to the runner: headline figures and tables.

``publish_headlines(answer, figures)`` displays the answer and a headline table in the
notebook (the HTML report moves that cell to the top) and tags the output with
metadata ``{"salesplan": {"headlines": ...}}``; the runner reads it back from the
executed notebook (:func:`extract_headlines`) for ``index.html``, ``headlines.json``
and the workbook.  Nothing is written to disk, so the notebook runs the same in
JupyterLab, under papermill and under ``pytest --nbval``.

``publish_tables({"name": df})`` adds tables to the run's Excel workbook.  Under the
runner (environment ``SALESPLAN_RUN_DIR`` and ``SALESPLAN_NOTEBOOK`` set) it writes them
as Parquet into ``<run dir>/tables/<notebook>/``; elsewhere it does nothing.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from salesplan.reports.format import Formatted

__all__ = [
    "HEADLINES_TAG",
    "METADATA_KEY",
    "extract_headlines",
    "publish_headlines",
    "publish_tables",
    "run_dir",
]

METADATA_KEY = "salesplan"
#: Cells with this tag are moved to the top of the HTML report (after the title).
HEADLINES_TAG = "headlines"
ENV_RUN_DIR = "SALESPLAN_RUN_DIR"
ENV_NOTEBOOK = "SALESPLAN_NOTEBOOK"


def _entry(label: str, value: Any) -> dict:
    if isinstance(value, Formatted):
        return {"label": str(label), "display": str(value), "value": value.raw}
    if isinstance(value, bool) or value is None:
        return {"label": str(label), "display": "–" if value is None else ("yes" if value else "no"),
                "value": None}
    if isinstance(value, (int, float)) or hasattr(value, "__float__") and not isinstance(value, str):
        v = float(value)
        text = f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"
        return {"label": str(label), "display": text, "value": v}
    return {"label": str(label), "display": str(value), "value": None}


def publish_headlines(answer: str, figures: Mapping[str, Any], *, title: str | None = None) -> None:
    """Show the notebook's answer and headline figures; make them visible to the runner.

    Call it once per notebook, in a cell tagged ``headlines`` (the HTML report puts that
    cell first).

    Parameters
    ----------
    answer : str
        One or two sentences answering the notebook's question, in plain words.
    figures : mapping of str to value
        Label -> value, in display order.  Format values with
        :func:`salesplan.reports.format.money` / ``pct`` / ``number`` (the raw number is
        kept too); other numbers get thousands separators, text is shown as is.
    title : str, optional
        Heading of the block (default "Headline figures").

    Returns nothing (so the cell shows only the headline block).  The record
    ``{"answer": ..., "figures": [{"label", "display", "value"}, ...]}`` travels in the
    output's metadata; :func:`extract_headlines` reads it back from the notebook.
    """
    from IPython.display import display

    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("publish_headlines: 'answer' must be a non-empty sentence")
    record = {
        "answer": answer.strip(),
        "figures": [_entry(k, v) for k, v in figures.items()],
    }
    heading = title or "Headline figures"
    from salesplan.reports.i18n import get_fiscal_start, get_language, translate

    if get_fiscal_start() != 1:  # quarters by the company's fiscal calendar
        record["answer"] = fiscal_quarter_names(record["answer"], get_fiscal_start())
        for f in record["figures"]:
            f["label"] = fiscal_quarter_names(f["label"], get_fiscal_start())

    if get_language() != "en":  # the report language (the runner's report_language)
        record["answer"], heading = translate(record["answer"]), translate(heading)
        for f in record["figures"]:
            f["label"] = translate(f["label"])
            if f["value"] is None:
                f["display"] = translate(f["display"])
    rows = "".join(
        f"<tr><th scope=\"row\">{html.escape(f['label'])}</th>"
        f"<td>{html.escape(f['display'])}</td></tr>"
        for f in record["figures"]
    )
    body = (
        '<div class="sp-headlines">'
        f'<p class="sp-answer">{html.escape(record["answer"])}</p>'
        f'<table class="headlines"><caption>{html.escape(heading)}</caption>'
        f"<tbody>{rows}</tbody></table></div>"
    )
    width = max([len(f["label"]) for f in record["figures"]] + [5])
    text = "\n".join(
        [record["answer"], "", heading + ":"]
        + [f"  {f['label']:<{width}}  {f['display']}" for f in record["figures"]]
    )
    display(
        {"text/html": body, "text/plain": text},
        raw=True,
        metadata={METADATA_KEY: {"headlines": record}},
    )


_QUARTER = re.compile(r"\b(\d{4})Q([1-4])\b")


def fiscal_quarter_names(text: str, start_month: int) -> str:
    """``text`` with each calendar quarter ``YYYYQn`` named in the fiscal calendar.

    With a fiscal year from April (``start_month=4``), ``"2027Q1"`` becomes
    ``"FY27Q4 (2027Q1)"``: the fiscal name first, the calendar quarter kept beside it so a
    reader can match it to the tables.  ``start_month=1`` leaves the text as it is, and so
    does a fiscal year whose quarters are not calendar quarters (the notebooks plan
    calendar quarters: start months 1, 4, 7, 10).

    Examples
    --------
    >>> fiscal_quarter_names("Target 2027Q1 vs 2026Q1", 4)
    'Target FY27Q4 (2027Q1) vs FY26Q4 (2026Q1)'
    """
    if int(start_month) == 1:
        return text
    from salesplan.planning.fiscal_calendar import fiscal_label

    def name(m):
        q = pd.Period(f"{m.group(1)}Q{m.group(2)}", freq="Q")
        try:
            return f"{fiscal_label(q, int(start_month))} ({m.group(0)})"
        except ValueError:  # fiscal quarters not aligned with calendar quarters: keep the name
            return m.group(0)
    return _QUARTER.sub(name, text)


def run_dir() -> Path | None:
    """The folder of the current run when executed by the runner, else ``None``."""
    d = os.environ.get(ENV_RUN_DIR)
    return Path(d) if d else None


_SAFE = re.compile(r"[^\w\-]+", re.UNICODE)


def publish_tables(tables: Mapping[str, pd.DataFrame]) -> None:
    """Add tables to the run's Excel workbook (one sheet each); no-op outside a run.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Sheet name (short, e.g. ``"coverage"``) -> table.  Keep the numbers raw (not
        formatted strings) so planners can compute with them in Excel.

    Returns nothing (so a notebook cell ending with it shows no output); the Parquet
    files go to ``<run dir>/tables/<notebook>/`` with a ``tables.json`` manifest.
    """
    base = run_dir()
    notebook = os.environ.get(ENV_NOTEBOOK)
    if base is None or not notebook:
        return
    folder = base / "tables" / notebook
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    order = []
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"publish_tables: {name!r} is a {type(frame).__name__}, expected a DataFrame")
        safe = _SAFE.sub("_", str(name)).strip("_") or "table"
        path = folder / f"{safe}.parquet"
        frame.to_parquet(path, index=not isinstance(frame.index, pd.RangeIndex))
        written.append(path)
        order.append({"name": str(name), "file": path.name})
    manifest = folder / "tables.json"
    previous = json.loads(manifest.read_text("utf-8")) if manifest.exists() else []
    keep = [e for e in previous if e["name"] not in {o["name"] for o in order}]
    manifest.write_text(json.dumps(keep + order, ensure_ascii=False, indent=1), "utf-8")
    return


def extract_headlines(nb) -> dict | None:
    """The record published by :func:`publish_headlines` in an executed notebook.

    ``nb`` is a :mod:`nbformat` notebook (or a path).  Returns the last record found, or
    ``None`` when the notebook published none.
    """
    if isinstance(nb, (str, Path)):
        import nbformat

        nb = nbformat.read(str(nb), as_version=4)
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            meta = out.get("metadata", {}).get(METADATA_KEY, {})
            if "headlines" in meta:
                found = meta["headlines"]
    return found
