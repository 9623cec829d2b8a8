"""salesplan run: time limits, the data check before any notebook, date parameters and
plan-store rows of failed runs.  Real kernels, real notebooks written in tmp_path."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from salesplan.cli import _params_from_args
from salesplan.reports.runner import RunError, json_safe, run_plan


def _kernel_available() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return bool({"salesplan", "python3"} & set(KernelSpecManager().find_kernel_specs()))


needs_kernel = pytest.mark.skipif(not _kernel_available(), reason="no Jupyter kernel installed")


def notebook(path: Path, cells: list[str], *, params: str = "", depends_on=()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "salesplan", "display_name": "salesplan",
                                 "language": "python"}
    nb.metadata["salesplan"] = {"depends_on": list(depends_on)}
    p = nbformat.v4.new_code_cell(
        'period = "2027Q1"\nsource = "duckdb:///nowhere.duckdb"\nplan_store = None\n' + params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Limits"), p,
                *[nbformat.v4.new_code_cell(c) for c in cells]]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@needs_kernel
def test_cell_timeout_is_enforced_and_the_last_good_report_stays(tmp_path):
    nbs, out = tmp_path / "nb", tmp_path / "reports"
    notebook(nbs / "01_quick.ipynb", ["print('quick')"])
    good = run_plan(notebooks=nbs, out_dir=out, timeout=60, echo=lambda _: None)
    notebook(nbs / "01_quick.ipynb", ["import time\ntime.sleep(8)"])
    t0 = time.monotonic()
    with pytest.raises(RunError) as e:
        run_plan(notebooks=nbs, out_dir=out, timeout=2, echo=lambda _: None)
    assert time.monotonic() - t0 < 8
    assert "01_quick: " in str(e.value)
    assert "timed out: a cell ran longer than 2 s (--timeout)" in str(e.value)
    assert "\n" not in str(e.value)
    assert (out / "latest.txt").read_text().strip() == good.run_id
    assert e.value.failed_dir.name.startswith("failed-")


@needs_kernel
def test_a_timed_out_notebook_leaves_its_partial_copy(tmp_path):
    """The runner's papermill engine writes the notebook only at the end: a run cut short
    by a cell's time limit still leaves the copy with the outputs of the cells that ran."""
    nbs, out = tmp_path / "nb", tmp_path / "reports"
    notebook(nbs / "01_slow.ipynb", ["print('first cell ran')", "import time\ntime.sleep(8)"])
    with pytest.raises(RunError) as e:
        run_plan(notebooks=nbs, out_dir=out, timeout=2, echo=lambda _: None)
    partial = nbformat.read(str(e.value.failed_dir / "01_slow.ipynb"), as_version=4)
    ran, slow = (next(c for c in partial.cells if c.source.startswith(start)) for start in ("print", "import time"))
    assert [o.get("text") for o in ran.outputs] == ["first cell ran\n"]
    assert ran.metadata["papermill"]["status"] == "completed"
    assert slow.metadata["papermill"]["end_time"] is not None  # written after the cut


@needs_kernel
def test_whole_run_limit(tmp_path):
    nbs = tmp_path / "nb"
    # the limit leaves a loaded machine time to start the kernel (the cell gets what is left
    # of the 20 s); the 600 s cell must be stopped by it, not by --timeout
    notebook(nbs / "01_slow.ipynb", ["import time\ntime.sleep(600)"])
    notebook(nbs / "02_next.ipynb", ["print('next')"], depends_on=["01_slow"])
    t0 = time.monotonic()
    with pytest.raises(RunError, match=r"01_slow: .*timed out: a cell ran longer than \d+ s "
                                       r"\(--run-timeout\)") as e:
        run_plan(notebooks=nbs, out_dir=tmp_path / "r", timeout=600, run_timeout=20,
                 echo=lambda _: None)
    assert int(re.search(r"longer than (\d+) s", str(e.value)).group(1)) <= 20
    assert time.monotonic() - t0 < 300  # stopped long before the 600 s cell would end


@needs_kernel
def test_date_parameters_are_accepted(tmp_path):
    nbs = tmp_path / "nb"
    notebook(nbs / "01_as_of.ipynb", ["print('as_of is', type(as_of).__name__, as_of)"],
             params="as_of = None\n")
    params = _params_from_args(["-p", "as_of", "2026-12-31"])
    assert params == {"as_of": dt.date(2026, 12, 31)}  # YAML reads a date
    res = run_plan(notebooks=nbs, out_dir=tmp_path / "r", params=params, echo=lambda _: None)
    executed = nbformat.read(str(res.notebooks[0].notebook), as_version=4)
    assert "as_of is str 2026-12-31" in str(executed.cells[-1].outputs)


def test_json_safe_turns_dates_into_text():
    value = {"a": dt.date(2026, 1, 2), "b": [dt.datetime(2026, 1, 2, 3, 4)], "c": 1}
    assert json_safe(value) == {"a": "2026-01-02", "b": ["2026-01-02 03:04:00"], "c": 1}


def test_bad_data_fail_the_run_before_any_notebook(tmp_path):
    nbs = tmp_path / "nb"
    notebook(nbs / "01_never.ipynb", ["raise SystemExit('must not run')"])
    export = tmp_path / "export"
    export.mkdir()
    pd.DataFrame({
        "order_id": ["O1", "O2"], "order_date": ["2026-01-05", "2026-13-01"],
        "customer_id": ["C1", "C1"], "rep_id": ["", ""], "product_line": ["A", "A"],
        "quantity": [1, 1], "amount": [10.0, 12.0],
    }).to_csv(export / "orders.csv", index=False)
    with pytest.raises(RunError) as e:
        run_plan(source=str(export), notebooks=nbs, out_dir=tmp_path / "r", echo=lambda _: None)
    text = str(e.value)
    assert text.startswith("data check failed before any notebook ran: orders.order_date (type): "
                           "not a date: '2026-13-01'")
    assert "order_id=O2 (row 2)" in text and "\n" not in text
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@needs_kernel
def test_failed_run_leaves_no_complete_rows_in_the_plan_store(tmp_path):
    from salesplan.data import PlanStore

    nbs, store = tmp_path / "nb", f"duckdb:///{tmp_path / 'store.duckdb'}"
    write = ("import pandas as pd\nfrom salesplan.data import PlanStore\n"
             "PlanStore(plan_store).write_run('forecast', period, {}, None, "
             "{'t': pd.DataFrame({'x': [1.0]})})")
    notebook(nbs / "01_writes.ipynb", [write])
    notebook(nbs / "02_fails.ipynb", ["raise ValueError('region caps')"], depends_on=["01_writes"])
    with pytest.raises(RunError, match=r"02_fails: cell In \[\d+\] failed .*ValueError: region caps"):
        run_plan(notebooks=nbs, out_dir=tmp_path / "r", plan_store=store, jobs=1,
                 echo=lambda _: None)
    assert PlanStore(store).list_runs().empty  # the forecast of the failed run is not served
    import duckdb

    con = duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM plan_runs").fetchall() == [("failed",)]
    con.close()


@needs_kernel
def test_every_notebook_shows_the_runs_currency_and_fiscal_quarters(tmp_path):
    """A notebook that does not declare currency/fiscal_year_start_month still shows the
    run's currency on headline amounts and names quarters in the fiscal calendar."""
    import json

    nbs = tmp_path / "nb"
    notebook(nbs / "01_plain.ipynb", [
        "from salesplan.reports import money, publish_headlines\n"
        'publish_headlines(f"Plan {period}.", {f"Target {period}": money(15_429_200, compact=True)})'])
    notebook(nbs / "02_targets.ipynb", ["print(currency, fiscal_year_start_month)"],
             params='currency = "USD"\nfiscal_year_start_month = 1\n')
    res = run_plan(notebooks=nbs, out_dir=tmp_path / "r", echo=lambda _: None,
                   params={"currency": "EUR", "fiscal_year_start_month": 4})
    heads = json.loads((res.run_dir / "headlines.json").read_text("utf-8"))["01_plain"]
    assert heads["answer"] == "Plan FY27Q4 (2027Q1)."
    assert heads["figures"][0]["label"] == "Target FY27Q4 (2027Q1)"
    assert heads["figures"][0]["display"] == "EUR 15.4 M"
    # without the parameters: the declaring notebook's defaults (USD, calendar quarters)
    res = run_plan(notebooks=nbs, out_dir=tmp_path / "r2", echo=lambda _: None)
    heads = json.loads((res.run_dir / "headlines.json").read_text("utf-8"))["01_plain"]
    assert heads["figures"][0] == {**heads["figures"][0], "label": "Target 2027Q1", "display": "USD 15.4 M"}
