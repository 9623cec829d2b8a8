"""The runner's start of a warm re-run (issue 19 item 1): the notebooks' declared parameters
read from their JSON, the same as papermill reads them, and kernels warmed up from it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from salesplan.reports import runner
from salesplan.reports.kernels import _code_cells, warmup_code

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _fresh(path: Path) -> dict:
    runner._declared_cached.cache_clear()
    return runner._declared_parameters(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_declared_parameters_equal_papermills_on_every_notebook(path):
    assert NOTEBOOKS, "no notebooks found"
    expected = {k: dict(v) for k, v in papermill.inspect_notebook(str(path)).items()}
    assert expected, f"{path.name} declares no parameters: the comparison would be empty"
    assert _fresh(path) == expected


CELLS = {
    "plain and annotated": "a = 1\nb: float = 0.2  # the goal\nc = 'x'  # type: str\n",
    "multi-line dict with comments": "d = {\n    'a': 1,  # first\n    'b': 2,\n}  # mapping\ne = None\n",
    "two equals skipped": "x = y = 3\nz = 4\n",
    "blank, comments, no assignment": "# only words\n\nprint('hi')\n",
    "annotation in quotes, list": "names: 'list' = ['a', 'b']  # who\n",
    "empty": "",
}


def _notebook(tmp_path: Path, source: str, *, as_list: bool = False, language: str = "python") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "salesplan", "language": language, "display_name": "x"}
    nb.metadata["language_info"] = {"name": language}
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell(source),
                nbformat.v4.new_code_cell("later = 1")]
    nb.cells[1].metadata["tags"] = ["parameters"]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    if as_list:  # as Jupyter writes a cell's source: one string per line
        raw = json.loads(path.read_text("utf-8"))
        raw["cells"][1]["source"] = source.splitlines(keepends=True)
        path.write_text(json.dumps(raw), "utf-8")
    return path


@pytest.mark.parametrize("as_list", [False, True], ids=["text", "lines"])
@pytest.mark.parametrize("name", list(CELLS))
def test_declared_parameters_equal_papermills_on_edge_cells(tmp_path, name, as_list):
    path = _notebook(tmp_path, CELLS[name], as_list=as_list)
    expected = {k: dict(v) for k, v in papermill.inspect_notebook(str(path)).items()}
    assert _fresh(path) == expected


def test_edge_cells_parse_to_the_values_written():
    # the expected values are written here by hand, not taken from the parser
    got = runner.inspect_python_parameters(CELLS["plain and annotated"] + CELLS["multi-line dict with comments"])
    assert got == [
        {"name": "a", "inferred_type_name": "None", "default": "1", "help": ""},
        {"name": "b", "inferred_type_name": "float", "default": "0.2", "help": "the goal"},
        {"name": "c", "inferred_type_name": "str", "default": "'x'", "help": ""},
        {"name": "d", "inferred_type_name": "None", "default": "{'a': 1,'b': 2,}", "help": "mapping"},
        {"name": "e", "inferred_type_name": "None", "default": "None", "help": ""},
    ]
    assert [p["name"] for p in runner.inspect_python_parameters(CELLS["two equals skipped"])] == ["z"]


def test_notebook_without_parameters_cell_declares_nothing(tmp_path):
    path = _notebook(tmp_path, "a = 1")
    raw = json.loads(path.read_text("utf-8"))
    raw["cells"][1]["metadata"]["tags"] = []
    path.write_text(json.dumps(raw), "utf-8")
    assert _fresh(path) == {} == dict(papermill.inspect_notebook(str(path)))


def test_other_language_is_left_to_papermill(tmp_path, monkeypatch):
    path = _notebook(tmp_path, "a <- 1", language="R")
    calls = []
    real = papermill.inspect_notebook
    monkeypatch.setattr(papermill, "inspect_notebook", lambda p: calls.append(p) or real(p))
    assert _fresh(path) == {}  # papermill cannot inspect R parameters: none, as before
    assert calls == [str(path)]


def test_parameter_docs_read_from_the_json(tmp_path):
    path = _notebook(tmp_path, "# growth (float): the goal\n# over last year\ngrowth = 0.1\nx = 2\n", as_list=True)
    assert runner.parameter_docs(path) == {"growth": "growth (float): the goal over last year", "x": ""}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_warmup_reads_the_code_cells_nbformat_reads(path):
    nb = nbformat.read(str(path), as_version=4)
    assert _code_cells(path) == [c.source for c in nb.cells if c.cell_type == "code"]
    assert "import" in warmup_code(path)  # every planning notebook imports the package


def test_warmup_code_of_an_unreadable_notebook_is_empty(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", "utf-8")
    assert warmup_code(bad) == "" and warmup_code(tmp_path / "missing.ipynb") == ""


DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "salesplan_demo.duckdb"


def test_the_data_check_says_whether_it_read_the_tables(tmp_path):
    records = tmp_path / ".source_records.json"
    url = f"duckdb:///{DEMO}"
    assert runner.check_source_data(url, "2027Q1", records=records) is True  # read and checked
    assert runner.check_source_data(url, "2027Q1", records=records) is False  # spared: unchanged
    assert runner.check_source_data(url, "2027Q1") is True  # no records file: always read


def test_one_printer_prints_several_pages_from_its_page_opened_ahead(tmp_path):
    from machine import need_chromium

    from salesplan.reports.summary import PdfPrinter

    need_chromium()
    pages = []
    for i in (1, 2, 3):
        page = tmp_path / f"p{i}.html"
        page.write_text(f"<html><body><h1>Page {i}</h1></body></html>", "utf-8")
        pages.append(page)
    with PdfPrinter() as printer:
        pdfs = [printer.print(p, tmp_path / f"p{i}.pdf") for i, p in enumerate(pages)]
    assert [p.read_bytes()[:5] for p in pdfs] == [b"%PDF-"] * 3  # the page opened ahead, then new ones
