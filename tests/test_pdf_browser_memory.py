"""The summary's printer (headless Chromium) kept small in memory.

``PdfPrinter`` runs Chromium as one process (``--single-process --no-zygote``) and drives it
over its DevTools pipe, without Playwright's Node.js driver: printing a scale-10 summary its
tree's RSS sum is ~0.4 GB instead of ~1.2 GB (eleven processes: Playwright's driver, browser,
two zygotes, GPU, network, storage, print compositor, three renderers), and that sits beside
the last notebook's kernel at the run's memory peak.  In single-process mode a closed
browser context ends the browser, so the printer loads every file into one page: printing
several files in turn must still work.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from machine import need_chromium

#: A4 in PostScript points (210 x 297 mm at 72 pt per 25.4 mm)
A4_POINTS = (210 / 25.4 * 72, 297 / 25.4 * 72)


def _pages(html: Path, n: int) -> Path:
    """An HTML file of ``n`` printed pages (a page break after each section)."""
    sections = "".join(f'<section style="break-after: page">Region {i + 1} quota</section>' for i in range(n - 1))
    html.write_text(f"<html><body>{sections}<section>Region {n} quota</section></body></html>", "utf-8")
    return html


def _page_sizes(pdf: Path) -> list[tuple[float, float]]:
    """Width and height (points) of every page of ``pdf`` (its ``/MediaBox`` entries)."""
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    return [(float(w), float(h)) for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)]


def _child_processes(before: set[int] = frozenset()) -> list[list[str]]:
    """Command lines of this process's children (and theirs) started since ``before`` (their
    pids then): other tests in the same worker may leave processes of their own (joblib's)."""
    found = []
    for p in psutil.Process().children(recursive=True):
        if p.pid not in before:
            with contextlib.suppress(psutil.Error):
                found.append(p.cmdline())
    return [cmd for cmd in found if cmd]


def _child_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_the_printer_runs_chromium_as_one_process_before_and_after_a_print(tmp_path):
    from salesplan.reports.summary import PdfPrinter

    need_chromium()
    before = _child_pids()
    with PdfPrinter() as printer:
        printer._launched.result(timeout=180)
        launched = _child_processes(before)
        printer.print(_pages(tmp_path / "one.html", 1), tmp_path / "one.pdf")
        printed = _child_processes(before)
    for processes in (launched, printed):
        assert len(processes) == 1, [" ".join(cmd[:3]) for cmd in processes]  # no Node.js driver
        assert "chromium" in processes[0][0]
        assert not any(part.startswith("--type=") for part in processes[0])  # no zygote, renderer, GPU


def test_one_printer_prints_files_of_different_lengths_in_turn(tmp_path):
    from salesplan.reports.summary import PdfPrinter

    need_chromium()
    three, one = _pages(tmp_path / "three.html", 3), _pages(tmp_path / "one.html", 1)
    with PdfPrinter() as printer:
        pdfs = [printer.print(html, tmp_path / f"{i}.pdf") for i, html in enumerate((three, one, three))]
    sizes = [_page_sizes(pdf) for pdf in pdfs]
    assert [len(s) for s in sizes] == [3, 1, 3]
    for width, height in (size for pages in sizes for size in pages):
        assert abs(width - A4_POINTS[0]) < 1 and abs(height - A4_POINTS[1]) < 1


def test_printing_imports_no_playwright(tmp_path):
    need_chromium()
    html = _pages(tmp_path / "one.html", 1)
    code = ("import sys\n"
            "from salesplan.reports.summary import print_pdf\n"
            f"print_pdf({str(html)!r}, {str(tmp_path / 'one.pdf')!r})\n"
            "print('playwright' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["False"]
    assert len(_page_sizes(tmp_path / "one.pdf")) == 1


def test_a_printer_whose_browser_is_not_chromium_says_so_when_printing(tmp_path):
    from salesplan.reports.summary import PdfPrinter

    with PdfPrinter(chromium=sys.executable) as printer, \
            pytest.raises(RuntimeError, match="ended without answering"):
        printer.print(_pages(tmp_path / "one.html", 1), tmp_path / "one.pdf")
    assert not (tmp_path / "one.pdf").exists()


def test_a_browser_that_never_answers_is_killed_and_the_print_fails_in_time(tmp_path):
    import time

    from salesplan.reports.summary import PdfPrinter

    silent = tmp_path / "silent-browser"  # takes any switches and never answers on its pipe
    silent.write_text("#!/bin/sh\nexec sleep 300\n")
    silent.chmod(0o755)
    before = _child_pids()
    start = time.monotonic()
    printer = PdfPrinter(chromium=str(silent), answer_timeout=1.5)
    with pytest.raises(RuntimeError, match=r"silent-browser did not answer Target\.createBrowserContext within 1\.5 s"):
        printer.print(_pages(tmp_path / "one.html", 1), tmp_path / "one.pdf")
    printer.close()
    assert time.monotonic() - start < 60  # not the sleep's 300 s
    assert _child_processes(before) == []  # killed and reaped
    assert not (tmp_path / "one.pdf").exists()
