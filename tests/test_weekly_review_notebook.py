"""The weekly review notebook against an approved plan, and without one (papermill on the
bundled demo; the plan tables come from the committed plan-table snapshots)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from test_runner import needs_kernel

from salesplan.data import PlanStore

ROOT = Path(__file__).resolve().parents[1]
SNAP = ROOT / "tests" / "snapshots" / "plan"


def _tables(kind: str) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted((SNAP / kind).glob("*.parquet"))}


def _headline(nb) -> str:
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            meta = o.get("metadata", {}).get("salesplan", {})
            if "headlines" in meta:
                return meta["headlines"]["answer"]
    raise AssertionError("no headline")


@needs_kernel
@pytest.mark.parametrize("approve", [True, False])
def test_weekly_review_uses_the_approved_plan_or_says_there_is_none(tmp_path, approve):
    import papermill

    url = f"duckdb:///{tmp_path}/plans.duckdb"
    store = PlanStore(url)
    store.write_run("forecast", "2027Q1", {}, None, _tables("forecast-2027Q1"))
    targets = _tables("targets-2027Q1")
    a = store.write_run("targets", "2027Q1", {"growth": 0.1}, None, targets)
    if approve:
        store.approve(a, by="Chen Wei")
        # a later, different plan that is not approved must not be used
        bigger = {**targets, "company": targets["company"].assign(target=targets["company"]["target"] * 2)}
        store.write_run("targets", "2027Q1", {"growth": 0.5}, None, bigger)
    store.dispose()
    out = tmp_path / "06.ipynb"
    from jupyter_client.kernelspec import KernelSpecManager

    kernel = "salesplan" if "salesplan" in KernelSpecManager().find_kernel_specs() else "python3"
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_weekly_review.ipynb"), str(out),
                               parameters={"plan_store": url}, kernel_name=kernel,
                               cwd=str(ROOT / "notebooks"), progress_bar=False)
    answer = _headline(nbformat.read(str(out), as_version=4))
    target = targets["company"]["target"].iloc[0]
    assert f"{target / 1e6:.1f} M" in answer  # the approved (first) plan's target, not the doubled one
    if approve:
        assert "the approved plan of 2027Q1 (approved by Chen Wei" in answer
    else:
        assert "no plan of 2027Q1 is approved yet" in answer
    saved = PlanStore(url).read_run(kind="weekly_review", period="2027Q1")
    assert saved.meta["parameters"]["plan_run"] == a
    assert json.dumps(saved.meta["parameters"]["plan_approved"]) == json.dumps(approve)


@needs_kernel
def test_weekly_review_of_a_quarter_without_data_is_a_note(tmp_path):
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager

    kernel = "salesplan" if "salesplan" in KernelSpecManager().find_kernel_specs() else "python3"
    url = f"duckdb:///{tmp_path}/plans.duckdb"
    out = tmp_path / "06.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_weekly_review.ipynb"), str(out),
                               parameters={"plan_store": url, "period": "2027Q2", "actuals_source": None},
                               kernel_name=kernel, cwd=str(ROOT / "notebooks"), progress_bar=False)
    answer = _headline(nbformat.read(str(out), as_version=4))
    assert answer.startswith("Nothing to review yet: the data end on 2026-12-31, before 2027Q2 starts")
