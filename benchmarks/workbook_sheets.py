"""CPU of writing a notebook's raw table sheets into the run workbook.

The runner adds each notebook's published tables to the plan workbook as it ends
(:meth:`salesplan.reports.workbook.RunWorkbook.add_notebook`), beside the notebooks still
running.  This times that call for one notebook's tables of a run (its ``tables/`` folder),
against the reference in the same process: the same sheets built of openpyxl cells and
written by openpyxl (``add_table_sheet`` + ``WorksheetWriter``), alternated run by run,
and checks that both write the same XML.

    .venv/bin/python benchmarks/workbook_sheets.py RUN/tables [--notebook 03_customer_risk] [--repeat 3]
        [--no-reference]   # add_notebook only: with PYTHONPATH=<another checkout>, that code's

Prints CPU seconds (``time.process_time``) per repeat, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def _reference(tables: list, tab_index: int) -> list[bytes]:
    """The sheets' XML as openpyxl writes cells (every value a cell object)."""
    from openpyxl import Workbook
    from openpyxl.worksheet._writer import WorksheetWriter

    from salesplan.reports.workbook import _TAB_COLORS, add_table_sheet

    wb, out = Workbook(), []
    wb.remove(wb.active)
    for table, frame in tables:
        writer = WorksheetWriter(add_table_sheet(wb, f"03 {table}", frame,
                                                 tab_color=_TAB_COLORS[tab_index % len(_TAB_COLORS)]))
        writer.write()
        out.append(Path(writer.out).read_bytes())
        writer.cleanup()
    return out


def _run_workbook(name: str, tables: list, tab_index: int) -> list[bytes]:
    """The sheets' XML as the runner writes them (:meth:`RunWorkbook.add_notebook`)."""
    from salesplan.reports.workbook import RunWorkbook

    book = RunWorkbook()
    book.add_notebook(name, tables, tab_index)
    out = [Path(w.out).read_bytes() for w in book._ahead.values()]
    book._discard()
    return out


def main(argv: list[str] | None = None) -> None:
    """Time both ways ``--repeat`` times each (alternated) and print the medians."""
    from salesplan.reports.runner import _published_tables

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", type=Path, help="a run's published tables folder (RUN/tables)")
    ap.add_argument("--notebook", default="03_customer_risk")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-reference", action="store_true", help="time add_notebook only (e.g. of another checkout)")
    args = ap.parse_args(argv)
    tables = list(_published_tables(args.tables, args.notebook))
    print(f"{args.notebook}: {len(tables)} tables, {sum(len(f) for _, f in tables):,} rows, "
          f"{sum(f.size for _, f in tables):,} values")
    ways = {"openpyxl cells": lambda: _reference(tables, 2),
            "add_notebook": lambda: _run_workbook(args.notebook, tables, 2)}
    if args.no_reference:
        del ways["openpyxl cells"]
    cpu: dict[str, list[float]] = {k: [] for k in ways}
    xml = {}
    for i in range(args.repeat):
        for key in (list(ways) if i % 2 == 0 else list(ways)[::-1]):
            t0 = time.process_time()
            xml[key] = ways[key]()
            cpu[key].append(time.process_time() - t0)
            print(f"  {key:15s} CPU {cpu[key][-1]:7.2f} s")
    med = {k: statistics.median(v) for k, v in cpu.items()}
    if args.no_reference:
        print(f"median CPU s: add_notebook {med['add_notebook']:.2f}")
        return
    assert xml["openpyxl cells"] == xml["add_notebook"], "the sheets' XML differs"
    print(f"median CPU s: openpyxl cells {med['openpyxl cells']:.2f}, add_notebook {med['add_notebook']:.2f}, "
          f"ratio {med['openpyxl cells'] / med['add_notebook']:.1f}x; same XML: yes")


if __name__ == "__main__":
    main()
