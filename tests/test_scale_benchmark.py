"""benchmarks/scale.py: which cell each notebook was running at the whole run's memory peak."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import nbformat


def _scale():
    spec = importlib.util.spec_from_file_location(
        "scale_benchmark", Path(__file__).parents[1] / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _executed(path: Path, cells: list[tuple[str, str | None, str | None]]) -> None:
    """An executed notebook: code cells with papermill's start and end times (None: not run)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# title"))
    for source, start, end in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["papermill"] = {"start_time": start, "end_time": end, "status": "completed"}
        nb.cells.append(cell)
    nbformat.write(nb, path)


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_the_cells_running_at_an_instant_are_named_per_notebook(tmp_path):
    _executed(tmp_path / "02_forecast.ipynb", [
        ("period = '2027Q1'", "2026-12-03T17:00:00.000000Z", "2026-12-03T17:00:01.000000Z"),
        ("# company -> region -> rep\nhf = fit()", "2026-12-03T17:00:01.500000Z", "2026-12-03T17:02:30.000000Z"),
        ("cv = backtest()", "2026-12-03T17:02:30.100000Z", "2026-12-03T17:04:00.000000Z")])
    _executed(tmp_path / "03b_pipeline.ipynb", [
        ("x = 1", "2026-12-03T17:00:00.000000Z", "2026-12-03T17:00:02.000000Z"),
        ("scored = score()", "2026-12-03T17:00:03.000000Z", "2026-12-03T17:01:00.000000Z")])
    _executed(tmp_path / "04_quarterly_targets.ipynb", [("plan()", None, None)])  # not started
    (tmp_path / "run.json").write_text("{}")  # other files of the run folder are not read
    running = _scale()._cells_running
    # 17:00:30: 02 in its hierarchy cell (index 2: the markdown title is cell 0), 03b scoring
    assert running(tmp_path, _at("2026-12-03T17:00:30")) == {
        "02_forecast": "cell 2: # company -> region -> rep", "03b_pipeline": "cell 2: scored = score()"}
    # 17:00:02.5: 03b between two cells, 02 in its second cell
    assert running(tmp_path, _at("2026-12-03T17:00:02.5")) == {"02_forecast": "cell 2: # company -> region -> rep"}
    assert running(tmp_path, _at("2026-12-03T17:10:00")) == {}  # after every cell


def test_the_run_folder_is_the_one_the_log_names(tmp_path):
    scale = _scale()
    log = "source: x\nsalesplan run 2027Q1-20261203-175732: period 2027Q1, source y\n[1/8] 02_forecast ...\n"
    assert scale._run_dir(tmp_path, log) == tmp_path / "2027Q1-20261203-175732"
    assert scale._run_dir(tmp_path, "the data check failed\n") is None
