"""Minimal companies (issue 16 item 6): the forecast (02) and customer-risk (03) notebooks (and 01) run to
the end on a company with only the ``orders`` table, and 03 on a company with one year of
history, with the sections that cannot work switched off and a one-line note that names the
table (or the history) that would turn them on.

The companies are the demo generator's at scale 0.1, with tables dropped or years cut, written
to a temporary CSV folder / DuckDB file.  The orders-only company's notebooks are those of its
whole ``salesplan run`` (the session's ``orders_only_run`` of ``tests/conftest.py``, made once and
shared with ``tests/test_minimal_companies_run.py``: the same CSV export, the same notebooks with
the same fast settings, its plan store); the one-year company's 03 runs here through papermill.
``pytest-xdist`` runs this file on one worker (``tests/conftest.py`` schedules by file), so the
notebooks run one after the other, never two kernels of this file at once.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from test_runner import needs_kernel

from salesplan.data import PlanStore, open_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FAST_FORECAST = {"n_paths": 200, "backtest_windows": 1, "reconcile_windows": 1}

pytestmark = [needs_kernel, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo():
    from salesplan.demo import generate

    return generate(seed=7, scale=0.1).data


@pytest.fixture(scope="module")
def one_year(demo, tmp_path_factory) -> str:
    start = pd.Timestamp("2026-01-01")
    data = dataclasses.replace(demo, orders=demo.orders[demo.orders["order_date"] >= start],
                               invoices=demo.invoices[demo.invoices["issue_date"] >= start])
    url = f"duckdb:///{tmp_path_factory.mktemp('one-year') / 'company.duckdb'}"
    open_source(url).write(data, replace=True)
    return url


def _run(notebook: str, source: str, tmp_path: Path, **params) -> tuple[list[str], str, str]:
    """Run a notebook; return its markdown outputs, its answer and the plan-store URL."""
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager

    kernel = "salesplan" if "salesplan" in KernelSpecManager().find_kernel_specs() else "python3"
    store = f"duckdb:///{tmp_path / 'plans.duckdb'}"
    out = tmp_path / f"{notebook}.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"), str(out), kernel_name=kernel,
                               parameters={"source": source, "plan_store": store, **params},
                               cwd=str(NOTEBOOKS), progress_bar=False)
    return (*_outputs(notebook, out), store)


def _ran(orders_only_run, notebook: str) -> tuple[list[str], str, str]:
    """The orders-only company's ``notebook`` as its whole run executed it: its markdown
    outputs, its answer and the run's plan-store URL (what :func:`_run` returns)."""
    orders_only_run.check_completed()
    return (*_outputs(notebook, orders_only_run.run_dir / f"{notebook}.ipynb"), orders_only_run.plan_store)


def _outputs(notebook: str, path: Path) -> tuple[list[str], str]:
    """The markdown outputs and the answer of an executed notebook (none failed, no traceback)."""
    nb = nbformat.read(str(path), as_version=4)
    notes, answer = [], None
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            assert o.get("output_type") != "error", f"{notebook}: {o.get('ename')}: {o.get('evalue')}"
            assert "Traceback" not in json.dumps(o), f"{notebook}: a traceback in the output"
            if "text/markdown" in o.get("data", {}):
                notes.append(o["data"]["text/markdown"])
            meta = o.get("metadata", {}).get("salesplan", {})
            answer = meta["headlines"]["answer"] if "headlines" in meta else answer
    return notes, answer


def test_forecast_of_an_orders_only_company(demo, orders_only_run):
    notes, answer, store = _ran(orders_only_run, "02_forecast")  # with FAST_FORECAST (the run's FAST)
    note = ("*Regions and reps: switched off: this data has no `customers` table (the region of each customer); "
            "add it to turn this section on.*")
    assert notes == [note, note]  # the region chart and the rep table
    assert answer.startswith("Carrying on as we are, 2027Q1 should bring about ")
    assert "largest region" not in answer
    run = PlanStore(store).read_run(kind="forecast", period="2027Q1")
    assert {k: run.meta["parameters"][k] for k in FAST_FORECAST} == FAST_FORECAST  # the fast settings
    assert list(run.tables["quarter"]["level"]) == ["company"]
    # the product lines come from the orders alone
    assert sorted(run.tables["product_lines"]["label"]) == sorted(demo.orders["product_line"].unique())


def test_customer_risk_of_an_orders_only_company(orders_only_run):
    notes, answer, store = _ran(orders_only_run, "03_customer_risk")
    regions = "*Switched off: this data has no `customers` table; add it (the region of each customer)"
    invoices = "*Switched off: this data has no `invoices` table; add it to turn the overdue-invoice warning"
    credit = "*Switched off: this data has no `invoices` table; add it to turn the credit scorecard on.*"
    assert sum(n.startswith(regions) for n in notes) == 2
    assert sum(n.startswith(invoices) for n in notes) == 2
    assert notes.count(credit) == 3  # scorecard, grades, stability
    assert "supply hold" not in answer and "grades" not in answer
    tables = PlanStore(store).read_run(kind="customer_risk", period="2027Q1").tables
    assert "scorecard" not in tables and "collection_by_rep" not in tables and "churn_by_rep" in tables


def test_customer_risk_of_a_company_with_one_year_of_history(one_year, tmp_path):
    notes, answer, store = _run("03_customer_risk", one_year, tmp_path)
    credit = ("*Switched off: the invoices start 2026-01-0")
    assert sum(n.startswith(credit) and "it needs more than 12 months of invoice history" in n for n in notes) == 3
    assert len(notes) == 3  # only the scorecard section is off: regions and invoices are there
    assert "go on supply hold." in answer
    tables = PlanStore(store).read_run(kind="customer_risk", period="2027Q1").tables
    assert "scorecard" not in tables and "supply_hold" in tables and "collection_by_rep" in tables


def test_data_health_of_an_orders_only_company(orders_only_run):
    notes, answer, store = _ran(orders_only_run, "01_data_health")
    assert answer.startswith("Yes. The data pass every check of the data contract")
    assert "optional table(s) are missing, so some features are off: customers, reps," in answer
    coverage = PlanStore(store).read_run(kind="data_health", period="2027Q1").tables["coverage"]
    assert coverage.loc[coverage["present"], "table"].tolist() == ["orders"]
