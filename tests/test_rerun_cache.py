"""What a re-run on unchanged data reuses: the source's data check and fingerprint (kept by
file identity, :mod:`salesplan.data.source_records`), a browser launched ahead for the
summary PDF, and the IRI grammar that is no longer compiled on import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from salesplan.data import fingerprint, open_source, source_records
from salesplan.data.source_records import RECORDS_ENV, add_record, recorded
from salesplan.reports.runner import RunError, check_source_data


@pytest.fixture
def no_recent_guard(monkeypatch):
    """Files written by a test are seconds old: let them have an identity."""
    monkeypatch.setattr(source_records, "RECENT_SECONDS", 0.0)


def _orders(rows: int = 3, bad_date: bool = False) -> pd.DataFrame:
    dates = [f"2026-0{1 + i % 9}-1{i % 9}" for i in range(rows)]
    if bad_date:
        dates[-1] = "2026-13-01"
    return pd.DataFrame({
        "order_id": [f"O{i}" for i in range(rows)], "order_date": dates,
        "customer_id": ["C1"] * rows, "rep_id": [""] * rows, "product_line": ["A"] * rows,
        "quantity": [1] * rows, "amount": [10.0 + i for i in range(rows)],
    })


def _export(folder, **kw):
    folder.mkdir(exist_ok=True)
    _orders(**kw).to_csv(folder / "orders.csv", index=False)
    return folder


def test_any_change_to_the_files_gives_another_identity(tmp_path, no_recent_guard):
    export = _export(tmp_path / "export")
    src = open_source(str(export))
    first = src.identity()
    assert first is not None and src.identity() == first  # unchanged: the same
    f = export / "orders.csv"
    st = f.stat()
    text = f.read_text()
    f.write_text(text.replace("10.0", "19.0"))  # same size ...
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old modification time
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    second = src.identity()
    assert second is not None and second != first
    pd.DataFrame({"customer_id": ["C1"], "name": ["a"]}).to_csv(export / "customers.csv", index=False)
    assert src.identity() not in (first, second)  # a table file added
    assert open_source(f"{export}?delimiter=;").identity() != src.identity()  # read another way


def test_a_just_written_file_and_a_database_have_no_identity(tmp_path):
    export = _export(tmp_path / "export")
    assert open_source(str(export)).identity() is None  # written < 2 s ago
    assert open_source("duckdb:///:memory:").identity() is None
    assert open_source(f"sqlite:///{tmp_path / 'x.sqlite'}").identity() is None


def test_fingerprint_of_the_raw_tables_equals_the_fingerprint_of_the_data(tmp_path):
    export = _export(tmp_path / "export", rows=12)
    pd.DataFrame({"customer_id": ["C1"], "name": ["a"], "region": ["N"]}).to_csv(
        export / "customers.csv", index=False)
    src = open_source(str(export))
    expected = fingerprint(src.load())
    assert src.fingerprint(raw=src.load(coerce=False)) == expected
    assert src.fingerprint(raw=src.load(["orders"], coerce=False)) == expected  # customers read
    assert src.fingerprint() == expected


def test_a_recorded_fingerprint_is_used_only_while_the_files_are_unchanged(tmp_path, monkeypatch,
                                                                           no_recent_guard):
    export = _export(tmp_path / "export")
    src = open_source(str(export))
    real = src.fingerprint()
    records = tmp_path / "records.json"
    add_record(records, src.identity(), fingerprint="f" * 64)  # a marker, not a real hash
    assert src.fingerprint() == real  # no records file named: computed
    monkeypatch.setenv(RECORDS_ENV, str(records))
    assert src.fingerprint() == "f" * 64
    _export(export, rows=4)  # changed
    assert src.fingerprint() == fingerprint(src.load()) != real


def test_a_passed_check_is_recorded_and_not_repeated_until_a_file_changes(tmp_path, monkeypatch,
                                                                          no_recent_guard):
    export = _export(tmp_path / "export")
    records = tmp_path / "r" / ".source_records.json"
    check_source_data(str(export), "2026Q4", records=records)
    src = open_source(str(export))
    entry = recorded(records, src.identity())
    assert entry["checked"] == ["2026-09-30"]  # the day before the quarter
    assert entry["fingerprint"] == fingerprint(src.load())

    reads = []  # the tables read (the check reads them one at a time)
    original = type(src)._read_table
    monkeypatch.setattr(type(src), "_read_table",
                        lambda self, name, *a, **k: reads.append(name) or original(self, name, *a, **k))
    check_source_data(str(export), "2026Q4", records=records)
    assert reads == []  # unchanged files, same day: not read again
    check_source_data(str(export), "2026Q4", as_of="2026-10-15", records=records)
    assert "orders" in reads  # another day: checked
    before = len(reads)
    _export(export, bad_date=True)
    with pytest.raises(RunError, match="not a date: '2026-13-01'"):
        check_source_data(str(export), "2026Q4", records=records)  # changed: checked, fails
    assert reads[before:].count("orders") == 1


def test_a_run_passes_the_records_file_to_its_kernels(tmp_path):
    from salesplan.reports.runner import _kernel_env, _prepare_parameters

    cfg = _prepare_parameters("2027Q1", None, {}, None, None, None, tmp_path)
    env = _kernel_env(cfg, "run-1", None, "en", {}, None, tmp_path / ".source_records.json")
    assert env[RECORDS_ENV] == str(tmp_path / ".source_records.json")


def test_kernels_get_the_allocator_settings_unless_the_environment_has_its_own(tmp_path, monkeypatch):
    from salesplan.reports.runner import KERNEL_ALLOCATOR_ENV, _kernel_env, _prepare_parameters

    for k in KERNEL_ALLOCATOR_ENV:
        monkeypatch.delenv(k, raising=False)
    cfg = _prepare_parameters("2027Q1", None, {}, None, None, None, tmp_path)
    env = _kernel_env(cfg, "run-1", None, "en", {}, None)
    assert env["ARROW_DEFAULT_MEMORY_POOL"] == "system"
    # a process started with them (as the kernels are) allocates Arrow buffers with malloc
    code = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "system"
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")  # the user's choice stays
    env = _kernel_env(cfg, "run-1", None, "en", {}, None)
    assert {**os.environ, **env}["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"  # as the kernel gets it


def test_kernels_side_by_side_share_the_cores_between_their_blas_threads(tmp_path, monkeypatch):
    from salesplan.reports.runner import (
        BLAS_THREADS_ENV,
        _kernel_env,
        _prepare_parameters,
        kernel_blas_threads,
    )

    assert [kernel_blas_threads(j, cpus=c) for j, c in ((2, 2), (2, 8), (3, 8), (4, 2), (1, 1))] == [1, 4, 2, 1, 1]
    for k in BLAS_THREADS_ENV:
        monkeypatch.delenv(k, raising=False)
    cfg = _prepare_parameters("2027Q1", None, {}, None, None, None, tmp_path)
    env = _kernel_env(cfg, "run-1", None, "en", {}, None, jobs=len(os.sched_getaffinity(0)) + 1)
    assert all(env[k] == "1" for k in BLAS_THREADS_ENV)
    # a process started with them (as the kernels are) runs numpy's BLAS on that many threads
    code = ("import numpy, threadpoolctl; "
            "print(sorted({p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[1]"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # the user's choice stays
    env = _kernel_env(cfg, "run-1", None, "en", {}, None, jobs=2)
    assert {**os.environ, **env}["OPENBLAS_NUM_THREADS"] == "3"


def test_one_browser_prints_several_pdfs(tmp_path):
    from machine import need_chromium

    from salesplan.reports.summary import PdfPrinter, print_pdf

    need_chromium()
    pages = []
    for i in (1, 2):
        page = tmp_path / f"p{i}.html"
        page.write_text(f"<html><body><h1>Page {i}</h1></body></html>", "utf-8")
        pages.append(page)
    with PdfPrinter() as printer:
        one = printer.print(pages[0], tmp_path / "p1.pdf")
        two = printer.print(pages[1], tmp_path / "p2.pdf")
    three = print_pdf(pages[0], tmp_path / "p3.pdf")
    for pdf in (one, two, three):
        assert pdf.read_bytes().startswith(b"%PDF-")


def test_a_printer_without_chromium_says_what_is_missing(tmp_path):
    from salesplan.reports.summary import PdfPrinter

    with PdfPrinter(chromium=str(tmp_path / "no-chromium")) as printer, \
            pytest.raises(RuntimeError, match="cannot print x.pdf: Chromium not found"):
        printer.print(tmp_path / "x.html", tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_reading_notebooks_does_not_compile_the_iri_grammar_but_iri_checks_still_work():
    pytest.importorskip("rfc3987_syntax")
    code = ("import sys, json\n"
            "from salesplan.reports import render\n"
            "import nbformat, papermill, jsonschema\n"
            "before = 'lark' in sys.modules\n"
            "check = jsonschema.FormatChecker()\n"
            "print(json.dumps([before, check.conforms('https://例え.jp/a?b=c', 'iri'),"
            " check.conforms('http:// bad', 'iri'), 'lark' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [False, True, False, True]


def test_the_browser_is_launched_ahead_only_for_a_run_that_can_have_a_summary(tmp_path):
    from machine import need_chromium

    from salesplan.reports.runner import _summary_printer

    need_chromium()
    nbs = tmp_path / "nb"
    nbs.mkdir()
    for stem in ("01_data", "04_quarterly_targets", "05_allocation"):
        (nbs / f"{stem}.ipynb").write_text("{}", "utf-8")
    assert _summary_printer([nbs / "01_data.ipynb"], partial=False) is None  # no targets notebook
    printer = _summary_printer([nbs / "05_allocation.ipynb"], partial=True)  # 04's tables carried over
    try:
        assert printer is not None
        page = tmp_path / "s.html"
        page.write_text("<html><body>summary</body></html>", "utf-8")
        assert printer.print(page, tmp_path / "s.pdf").read_bytes().startswith(b"%PDF-")
    finally:
        if printer is not None:
            printer.close()


def test_a_notebook_records_the_fingerprint_of_unchanged_files_for_the_next(tmp_path, monkeypatch,
                                                                            no_recent_guard):
    """Without a data check (``--no-check``) the first notebook's fingerprint is recorded for
    the files as they were read; a bundle changed by the caller, or files changed since
    they were read, record nothing."""
    from salesplan.data import load_for

    export = _export(tmp_path / "export", rows=6)
    pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["a", "b"], "region": ["N", "S"]}).to_csv(
        export / "customers.csv", index=False)
    real = open_source(str(export)).fingerprint()
    records = tmp_path / "records.json"
    monkeypatch.setenv(RECORDS_ENV, str(records))
    data, src = load_for("02_forecast", str(export))
    cut = data.__class__(**{**data.__dict__, "customers": data.customers.iloc[:1]})  # read whole: hashed as cut
    assert src.fingerprint(cut) != real  # the cut bundle's own fingerprint ...
    assert not records.exists()  # ... is not the source's: not recorded
    data, src = load_for("02_forecast", str(export))
    _export(export, rows=6, bad_date=True)  # changed after the load (as many rows)
    src.fingerprint(data)
    assert not records.exists()
    changed = fingerprint(open_source(str(export)).load())
    data, src = load_for("02_forecast", str(export))
    assert src.fingerprint(data) == changed
    assert recorded(records, src.identity()) == {"fingerprint": changed}
    add_record(records, src.identity(), fingerprint="f" * 64)  # a marker: the record is what is read
    assert load_for("07_quarter_review", str(export))[1].fingerprint() == "f" * 64


def test_a_large_sources_fingerprint_is_hashed_beside_the_check(tmp_path, monkeypatch, no_recent_guard):
    """Above ``FINGERPRINT_BESIDE_BYTES`` the fingerprint is computed in a second process
    while the tables are checked: the same number; a failed check stops that process."""
    from salesplan.reports import runner

    monkeypatch.setattr(runner, "FINGERPRINT_BESIDE_BYTES", 0)  # every source is "large"
    started, procs = [], []
    original = runner._Beside.__init__

    def init(self, url):
        started.append(url)
        original(self, url)
        procs.append(self._proc)

    monkeypatch.setattr(runner._Beside, "__init__", init)
    export = _export(tmp_path / "export", rows=12)
    records = tmp_path / "r" / ".source_records.json"
    assert check_source_data(str(export), "2026Q4", records=records)
    src = open_source(str(export))
    assert started == [str(export)]
    assert recorded(records, src.identity())["fingerprint"] == fingerprint(src.load())
    bad = _export(tmp_path / "bad", bad_date=True)
    with pytest.raises(RunError, match="not a date"):
        check_source_data(str(bad), "2026Q4", records=records)
    assert len(started) == 2 and all(p.poll() is not None for p in procs)  # stopped, not left running
    assert "fingerprint" not in recorded(records, open_source(str(bad)).identity())
