"""Minimal companies through the planning notebooks (issue 16, item 6).

A small demo company (``generate(scale=0.1)``) with a table dropped or the history cut is
written to a DuckDB file in a temporary folder, and the targets (04) and resource (05)
notebooks run on it with papermill against a temporary plan store and model cache:

* one year of history -> 04 runs without the same-quarter-last-year parts, says so;
* no ``reps`` table -> 04 runs with region targets and no rep quotas, says so;
* one region -> 05 runs without the budget split between regions, says so;
* 05 before 04 -> stops with one line: run 04_quarterly_targets first.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from test_runner import needs_kernel

from salesplan.data import PlanStore, open_source

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.1


@pytest.fixture(scope="module")
def company():
    from salesplan.demo import generate

    return generate(scale=SCALE).data


def _write(folder: Path, data) -> str:
    url = f"duckdb:///{folder / 'company.duckdb'}"
    open_source(url).write(data, replace=True)
    return url


def _one_region(data):
    """Every customer, rep and spend row relabelled to one region (East)."""
    region = "East"
    spend = data.marketing_spend.groupby("month", as_index=False)["amount"].sum().assign(region=region)
    regions = pd.DataFrame({"region": [region], "maturity": ["mature"],
                            "market_potential": [float(data.regions["market_potential"].sum())]})
    return replace(data, customers=data.customers.assign(region=region), reps=data.reps.assign(region=region),
                   regions=regions, marketing_spend=spend[["region", "month", "amount"]])


def _run(folder: Path, notebook: str, source: str, **params):
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager

    kernel = "salesplan" if "salesplan" in KernelSpecManager().find_kernel_specs() else "python3"
    out = folder / f"{notebook}.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out), kernel_name=kernel, cwd=str(ROOT / "notebooks"),
        progress_bar=False, parameters={"source": source, "plan_store": f"duckdb:///{folder / 'plans.duckdb'}",
                                        "cache_dir": str(folder / "cache"), **params})
    return nbformat.read(str(out), as_version=4)


def _text(nb) -> str:
    """Every text and markdown output of the executed notebook, and the headline answer."""
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            data = o.get("data", {})
            parts += [str(data.get(k, "")) for k in ("text/markdown", "text/plain")]
            head = o.get("metadata", {}).get("salesplan", {}).get("headlines")
            if head:
                parts.append(head["answer"])
    return "\n".join(parts)


@needs_kernel
def test_one_year_of_history_plans_without_last_year(tmp_path, company):
    o = company.orders
    src = _write(tmp_path, replace(company, orders=o[o["order_date"] >= "2026-02-01"]))
    text = _text(_run(tmp_path, "04_quarterly_targets", src))
    assert "the same quarter last year is not in the data, so the growth rule" in text
    assert "Commit the company to" in text and "on 2026Q1" not in text.split("Commit the company to")[1][:200]
    assert "No monitoring back-test" in text  # 8 months before 2026Q4: less than a year
    run = PlanStore(f"duckdb:///{tmp_path / 'plans.duckdb'}").read_run(kind="targets", period="2027Q1")
    assert run.tables["company"]["method"].iloc[0] == "probability" or \
        run.tables["company"]["method"].iloc[0].startswith("probability")


@pytest.fixture(scope="module")
def no_reps(tmp_path_factory, company):
    """(folder, source URL, executed 04) of the company without a reps table: 04 runs once
    for the two tests of this company (the same data and parameters each would run it with)."""
    folder = tmp_path_factory.mktemp("no-reps")
    src = _write(folder, replace(company, reps=None))
    return folder, src, _run(folder, "04_quarterly_targets", src)


@needs_kernel
def test_no_reps_table_gives_region_targets_without_rep_quotas(no_reps):
    tmp_path, _, nb = no_reps
    text = _text(nb)
    assert "The data have no reps table: the regions get their targets" in text
    assert "No rep quotas" in text
    run = PlanStore(f"duckdb:///{tmp_path / 'plans.duckdb'}").read_run(kind="targets", period="2027Q1")
    t = run.tables
    assert len(t["reps"]) == 0
    company_target = t["company"]["target"].iloc[0]
    assert t["regions"]["target"].sum() == pytest.approx(company_target)
    assert (t["regions"]["quota"] == t["regions"]["target"]).all()  # over-assignment 1: quota = target
    assert (t["regions"]["n_reps"] == 0).all() and "months" in t and set(t["months"]["level"]) == {"company", "region"}
    notes = t["assumptions"].loc[t["assumptions"]["item"] == "note", "value"].tolist()
    assert not any("reps at quota" in n for n in notes) and any("no reps table" in n for n in notes)


@needs_kernel
def test_one_region_allocates_without_a_budget_split_and_05_needs_04(tmp_path, company):
    import papermill

    src = _write(tmp_path, _one_region(company))
    with pytest.raises(papermill.PapermillExecutionError, match="run 04_quarterly_targets first"):
        _run(tmp_path, "05_resource_allocation", src)
    _run(tmp_path, "04_quarterly_targets", src)
    text = _text(_run(tmp_path, "05_resource_allocation", src))
    assert "The company has one region (East): the marketing budget is not split between regions." in text
    assert "No budget split between regions" in text
    assert "marketing budget stays whole: the company has one region." in text
    run = PlanStore(f"duckdb:///{tmp_path / 'plans.duckdb'}").read_run(kind="allocation", period="2027Q1")
    assert "budget_split" not in run.tables and list(run.tables["headcount"]["region"]) == ["East"]


@needs_kernel
def test_no_reps_table_runs_05_with_the_budget_and_roster_parts_off(no_reps, company):
    from salesplan.reports.allocation_view import NO_ROSTER_NOTES

    tmp_path, src, _ = no_reps  # 04 ran there
    nb = _run(tmp_path, "05_resource_allocation", src)
    text = _text(nb)
    for part in ("headcount", "coverage", "commission"):  # one line each, in the answer and in its section
        assert text.count(NO_ROSTER_NOTES[part]) >= 2, part
    assert "No headcount or hiring plan: the data have no reps table" in text
    assert "Splitting the" in text and "marketing budget of 2027Q1 by the response curves" in text
    run = PlanStore(f"duckdb:///{tmp_path / 'plans.duckdb'}").read_run(kind="allocation", period="2027Q1")
    t = run.tables
    assert {"budget_split", "budget_comparison"} <= set(t)
    assert not {"headcount", "hiring_plan", "coverage_load", "commission_cost", "quota_to_ote"} & set(t)
    # the split spends the whole status-quo budget, each region within +-50% of its status quo
    split = t["budget_split"].set_index("region")["spend"]
    sq = company.marketing_spend
    end = pd.Timestamp("2026-12-31")
    last = sq[(sq["month"] <= end) & (sq["month"] > end - pd.DateOffset(months=12))]
    status_quo = last.groupby("region")["amount"].mean() * 3
    assert split.sum() == pytest.approx(status_quo.sum(), rel=1e-6)
    assert ((split / status_quo.reindex(split.index)).between(0.5 - 1e-6, 1.5 + 1e-6)).all()
