"""Minimal companies in the review notebooks (issue 16 item 6): 03b, 06 and 07 on a small demo
company reduced to its orders (no customers, reps, opportunities, leads, activities,
invoices) run to the end with the parts that cannot work switched off, each said in one line.

Three papermill runs on ``generate(scale=0.2)`` data in a temporary folder (~20 s each).
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
PERIOD = "2027Q1"


def _orders_only_plan(orders: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A plan of record without rep quotas, as a company without a reps table would have:
    last year's same months x 1.1 for the company and its one region ``(none)``."""
    q = pd.Period(PERIOD, freq="Q")
    ly = orders[(orders["order_date"] >= (q - 4).start_time) & (orders["order_date"] <= (q - 4).end_time)]
    by_month = ly.groupby((ly["order_date"].dt.to_period("M") + 12).dt.start_time)["amount"].sum() * 1.1
    months = pd.concat([pd.DataFrame({"level": level, "entity": entity, "region": region, "month": by_month.index,
                                      "target": by_month.to_numpy(), "quota": by_month.to_numpy()})
                        for level, entity, region in (("company", "total", ""), ("region", "(none)", "(none)"))])
    total = float(by_month.sum())
    weeks = pd.date_range(q.start_time - pd.Timedelta(days=q.start_time.weekday()), q.end_time, freq="7D")
    return {"company": pd.DataFrame({"target": [total], "quota": [total], "over_assignment": [1.0]}),
            "regions": pd.DataFrame({"region": ["(none)"], "target": [total]}), "months": months,
            "weeks": pd.DataFrame({"level": "region", "entity": "(none)", "region": "(none)", "week_start": weeks,
                                   "target": total / len(weeks), "quota": total / len(weeks)})}


@pytest.fixture(scope="module")
def orders_only(tmp_path_factory):
    """URLs of an orders-only company (data to 2027-02-14) and of its plan store."""
    from salesplan.demo import generate

    folder = tmp_path_factory.mktemp("minimal")
    data = generate(seed=5, scale=0.2, as_of="2027-02-14").data
    data = replace(data, customers=None, reps=None, regions=None, invoices=None, opportunities=None,
                   stage_history=None, activities=None, marketing_spend=None, leads=None)
    source = f"duckdb:///{folder}/orders_only.duckdb"
    open_source(source).write(data, replace=True)
    store_url = f"duckdb:///{folder}/plans.duckdb"
    store = PlanStore(store_url)
    store.write_run("targets", PERIOD, {"growth": 0.1}, None, _orders_only_plan(data.orders))
    store.dispose()
    return source, store_url, folder


def _run(name: str, folder: Path, **parameters):
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager

    kernel = "salesplan" if "salesplan" in KernelSpecManager().find_kernel_specs() else "python3"
    out = folder / f"{name}.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=parameters,
                               kernel_name=kernel, cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    answer, texts = None, []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            meta = o.get("metadata", {}).get("salesplan", {})
            if "headlines" in meta:
                answer = meta["headlines"]["answer"]
            texts.append(str(o.get("data", {}).get("text/markdown", "")))
    return answer, "\n".join(texts)


@needs_kernel
def test_pipeline_notebook_without_leads_and_opportunities(orders_only):
    source, store_url, folder = orders_only
    answer, texts = _run("03b_pipeline", folder, source=source, plan_store=store_url, period=PERIOD)
    assert answer == "No leads and no open pipeline in these data: both sections are off (see the notes)."
    assert "*Section off: the data have no resolved leads (table `leads`).*" in texts
    assert ("**Notes.** - table 'leads' is absent or has no converted/disqualified lead: the lead section is off "
            "- table 'opportunities' is absent or empty: the pipeline section is off") in texts
    saved = PlanStore(store_url).read_run(kind="pipeline", period=PERIOD)
    assert list(saved.tables) == ["notes"] and len(saved.tables["notes"]) == 2


@needs_kernel
def test_weekly_review_without_reps_opportunities_or_approved_plan(orders_only):
    source, store_url, folder = orders_only
    answer, texts = _run("06_weekly_review", folder, source=source, plan_store=store_url, period=PERIOD,
                         actuals_source=None)
    assert answer.startswith("On 14 Feb 2027 (")
    assert "The plan has no rep quotas. Plan used: no plan of 2027Q1 is approved yet: this review uses the " \
           "latest plan of 2027Q1" in answer
    assert ("**Switched off:** the plan has no rep quotas: the reps' pace is off; no opportunities table: the "
            "pipeline term, the funnel re-plan and the deals to push are off.") in texts
    assert "*Section off: the plan has no rep quotas.*" in texts
    assert "Pipeline in the landing forecast: no opportunity data: the landing forecast has no pipeline term." in texts
    assert "No opportunity data: the funnel re-plan is off." in texts
    saved = PlanStore(store_url).read_run(kind="weekly_review", period=PERIOD)
    assert saved.meta["parameters"]["plan_approved"] is False
    assert "funnel_replan_weeks" not in saved.tables


@needs_kernel
def test_quarter_review_without_reps_and_opportunities(orders_only):
    source, store_url, folder = orders_only
    answer, texts = _run("07_quarter_review", folder, source=source, plan_store=store_url, period=PERIOD)
    assert answer.startswith("In 2026Q4 the company sold ")
    assert "reps missed (no quotas of the quarter in the plan store: reps are judged on growth against peers)" in answer
    assert " , " not in answer and " ." not in answer  # reps without names: ids only
    assert "*Section off: no activities and no opportunities in the data, so no process KPI" in texts
    line = [t for t in texts.split("\n") if t.startswith("**Switched off:**")]
    assert len(line) == 1
    for part in ("no reps table: peers are all reps", "no opportunities: funnel KPIs",
                 "no reps table: the KPI board by region is off"):
        assert part in line[0]
