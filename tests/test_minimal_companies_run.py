"""Minimal companies end to end (issue 16 item 6): the whole ``salesplan run`` (every notebook,
the runner, the summary, ``index.html``, the workbook) and ``salesplan validate``, through the
real CLI in a subprocess, on four small companies written with the real sources:

* **orders only**: a CSV folder holding ``orders.csv`` alone (an ERP export);
* **one year**: a DuckDB file, every dated row before 2026-01-01 dropped (12 months of history);
* **one region**: a DuckDB file, every customer, rep and spend row relabelled to East;
* **no reps**: a DuckDB file without the ``reps`` table.

Each company is ``generate(seed=7, scale=0.1)`` cut down, run once (a module-scoped fixture;
the orders-only company's run is the session's ``orders_only_run`` of ``tests/conftest.py``, shared
with ``tests/test_minimal_companies.py``; ~25-50 s each with the fast settings below; the file
takes ~2.5-3 min on 2 busy cores) and checked by several tests: the run completes,
``index.html`` lists every notebook, the summary and workbook are written (or skipped with a
note), and the notes of the switched-off features appear in the reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from test_runner import needs_kernel

from salesplan.data import open_source

pytestmark = [needs_kernel, pytest.mark.slow]

NOTEBOOKS = ("01_data_health", "02_forecast", "03_customer_risk", "03b_pipeline", "04_quarterly_targets",
             "05_resource_allocation", "06_weekly_review", "07_quarter_review")
#: the settings that keep a run short (forecast paths and back-test windows); every other parameter default
FAST = ("-p", "n_paths", "200", "-p", "backtest_windows", "1", "-p", "reconcile_windows", "1")
START = pd.Timestamp("2026-01-01")  # the one-year company's first day


# --------------------------------------------------------------------------- the companies

def _one_year(data):
    """Every dated row before :data:`START` dropped: an export of the last 12 months (leads
    converted into a dropped opportunity dropped with it)."""
    opp = data.opportunities[data.opportunities["created_date"] >= START]
    kept = set(opp["opportunity_id"])
    leads = data.leads[data.leads["created_date"] >= START]
    leads = leads[leads["converted_opportunity_id"].isna() | leads["converted_opportunity_id"].isin(kept)]
    return replace(data, orders=data.orders[data.orders["order_date"] >= START],
                   invoices=data.invoices[data.invoices["issue_date"] >= START], opportunities=opp,
                   stage_history=data.stage_history[data.stage_history["opportunity_id"].isin(kept)],
                   leads=leads, activities=data.activities[data.activities["date"] >= START],
                   marketing_spend=data.marketing_spend[data.marketing_spend["month"] >= START])


def _one_region(data, region: str = "East"):
    """Every customer, rep and spend row relabelled to one region."""
    spend = data.marketing_spend.groupby("month", as_index=False)["amount"].sum().assign(region=region)
    regions = pd.DataFrame({"region": [region], "maturity": ["mature"],
                            "market_potential": [float(data.regions["market_potential"].sum())]})
    return replace(data, customers=data.customers.assign(region=region), reps=data.reps.assign(region=region),
                   regions=regions, marketing_spend=spend[["region", "month", "amount"]])


def demo_company():
    """The demo company the minimal companies are cut from: ``generate(seed=7, scale=0.1)``."""
    from salesplan.demo import generate

    return generate(seed=7, scale=0.1).data


@pytest.fixture(scope="module")
def demo():
    return demo_company()


def _source(name: str, data, folder: Path) -> str:
    if name == "orders_only":  # a CSV folder with the one required table
        data.orders.to_csv(folder / "orders.csv", index=False)
        return str(folder)
    url = f"duckdb:///{folder / 'company.duckdb'}"
    changed = {"one_year": _one_year, "one_region": _one_region, "no_reps": lambda d: replace(d, reps=None)}[name]
    open_source(url).write(changed(data), replace=True)
    return url


# --------------------------------------------------------------------------- one run per company

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("salesplan")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "salesplan.cli"]
    env = {k: v for k, v in os.environ.items() if k not in ("SALESPLAN_PLAN_STORE",)}
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@dataclass
class Run:
    """One ``salesplan run`` of a company: exit code, output, and its folders."""

    source: str
    out: Path
    proc: subprocess.CompletedProcess

    @property
    def run_dir(self) -> Path:
        """The finished run's folder, else the failed run's partial copy."""
        latest = self.out / "latest"
        if latest.exists():
            return latest.resolve()
        failed = sorted(self.out.glob("failed-*"))
        assert failed, f"no run folder in {self.out}: {self.proc.stderr[-500:]}"
        return failed[-1]

    def notebook(self, name: str):
        path = self.run_dir / f"{name}.ipynb"
        assert path.exists(), f"{name} did not run: {self.proc.stderr[-500:]}"
        return nbformat.read(str(path), as_version=4)

    def texts(self, name: str) -> tuple[str, list[str]]:
        """The headline answer and the markdown outputs of one executed notebook."""
        answer, notes = "", []
        for cell in self.notebook(name).cells:
            for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
                assert o.get("output_type") != "error", f"{name}: {o.get('ename')}: {o.get('evalue')}"
                notes.append(str(o.get("data", {}).get("text/markdown", "")))
                head = o.get("metadata", {}).get("salesplan", {}).get("headlines")
                answer = head["answer"] if head else answer
        return answer, notes

    @property
    def plan_store(self) -> str:
        """URL of the run's plan store (``salesplan run``'s default: in the ``--out`` folder)."""
        return f"duckdb:///{self.out / 'plan_store.duckdb'}"

    def check_completed(self) -> None:
        """Exit 0 (else the end of stderr: the run's one-line error)."""
        err = " ".join(self.proc.stderr.split())
        assert self.proc.returncode == 0, err[-800:]

    def save(self, path: Path) -> None:
        """Write the run (source, folder, exit code and output) to ``path`` as JSON."""
        proc = {"args": self.proc.args, "returncode": self.proc.returncode, "stdout": self.proc.stdout,
                "stderr": self.proc.stderr}
        path.write_text(json.dumps({"source": self.source, "out": str(self.out), "proc": proc}), "utf-8")

    @classmethod
    def load(cls, path: Path) -> Run:
        """The run that :meth:`save` wrote to ``path``."""
        saved = json.loads(path.read_text("utf-8"))
        return cls(saved["source"], Path(saved["out"]), subprocess.CompletedProcess(**saved["proc"]))


def run_company(name: str, data, folder: Path) -> Run:
    """``salesplan run`` (the CLI, :data:`FAST` settings) of company ``name`` cut from ``data``,
    in ``folder`` (its data, model cache and ``reports/``)."""
    (folder / "data").mkdir(parents=True)
    source = _source(name, data, folder / "data")
    proc = _cli("run", "--source", source, "--out", str(folder / "reports"), *FAST,
                "-p", "cache_dir", str(folder / "cache"), cwd=folder)
    return Run(source, folder / "reports", proc)


@pytest.fixture(scope="module")
def runs(demo, tmp_path_factory, request):
    """Run each company at most once per module, on first use (the orders-only company once
    per session: ``orders_only_run``)."""
    done: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name == "orders_only":
            return request.getfixturevalue("orders_only_run")
        if name not in done:
            done[name] = run_company(name, demo, tmp_path_factory.mktemp(name))
        return done[name]

    return get


def _check_complete_run(run: Run) -> None:
    """index.html links every notebook's report; the workbook opens; the summary is there or skipped."""
    from openpyxl import load_workbook

    run.check_completed()
    index = (run.run_dir / "index.html").read_text("utf-8")
    for name in NOTEBOOKS:
        assert f'href="{name}.html"' in index and (run.run_dir / f"{name}.html").exists(), name
    assert (run.run_dir / "summary.html").exists() or "no executive summary" in index
    wb = load_workbook(run.run_dir / "salesplan_2027Q1.xlsx", read_only=True)
    assert {"Headlines", "Run"} <= set(wb.sheetnames)


def _sheets(run: Run) -> list[str]:
    from openpyxl import load_workbook

    return load_workbook(run.run_dir / "salesplan_2027Q1.xlsx", read_only=True).sheetnames


def _check_no_plan_sheets(run: Run) -> None:
    """No plan sheets (they are the rep quotas to edit) and the sheet "Run" says why; the
    summary asks to approve the region targets, not rep quotas."""
    from openpyxl import load_workbook

    wb = load_workbook(run.run_dir / "salesplan_2027Q1.xlsx", read_only=True)
    rows = {str(r[0]): str(r[1]) for r in wb["Run"].iter_rows(min_row=2, values_only=True)}
    assert "Plan reps" not in wb.sheetnames and "04 region" in wb.sheetnames
    assert rows["plan sheets"] == ("not written: the plan has no rep quotas (the data have no reps table); the "
                                   "region targets are on sheet '04 region'")
    summary = (run.run_dir / "summary.html").read_text("utf-8")
    assert "No rep quotas (the data have no reps table): the region targets add up to" in summary
    assert "Approve the region targets: " in summary and "Approve rep quotas" not in summary


# --------------------------------------------------------------------------- orders only

def test_orders_only_run_completes(runs):
    run = runs("orders_only")
    _check_complete_run(run)
    _check_no_plan_sheets(run)
    answer, _ = run.texts("05_resource_allocation")
    assert "No marketing budget split: the data have no marketing spend table." in answer
    html = (run.run_dir / "05_resource_allocation.html").read_text("utf-8")
    assert "this data has no marketing_spend table (monthly spend by region); add it to turn the budget split on" in html


def test_orders_only_reports_say_what_is_off(runs):
    run = runs("orders_only")
    answer, _ = run.texts("01_data_health")
    assert "9 optional table(s) are missing, so some features are off: customers, reps, regions," in answer
    _, notes = run.texts("02_forecast")
    assert notes.count("*Regions and reps: switched off: this data has no `customers` table (the region of each "
                       "customer); add it to turn this section on.*") == 2
    _, notes = run.texts("03_customer_risk")
    assert "*Switched off: this data has no `invoices` table; add it to turn the credit scorecard on.*" in notes
    _, notes = run.texts("03b_pipeline")
    assert "*Section off: the data have no resolved leads (table `leads`).*" in notes
    answer, notes = run.texts("04_quarterly_targets")
    assert "No rep quotas: the data have no reps table" in answer
    assert ("**Note.** The data have no opportunities table: the funnel back-calculation (stage rates, "
            "opportunities needed, funnel gap and shape) is switched off; add the table to turn it on.") in notes
    assert ("*Switched off: this data has no `opportunities` table; add it to turn the funnel back-calculation on "
            "(stage rates, opportunities needed, funnel gap and shape).*") in notes
    assert "No scenarios: they compare rep quotas, and the data have no reps table." in notes


def test_orders_only_targets_hold_the_company_as_one_region(runs):
    """Without customers the forecast has the company alone: its one region '(none)' carries
    the whole company target, and the plan has no rep rows (the tables 04 published)."""
    tables = runs("orders_only").run_dir / "tables" / "04_quarterly_targets"
    company, region, rep, month = (pd.read_parquet(tables / f"{t}.parquet") for t in ("company", "region", "rep",
                                                                                      "month"))
    assert region["region"].tolist() == ["(none)"]
    assert region["target"].iloc[0] == pytest.approx(company["target"].iloc[0])
    assert len(rep) == 0 and set(month["level"]) == {"company", "region"}


# --------------------------------------------------------------------------- one year of history

def test_one_year_run_completes(runs):
    run = runs("one_year")
    _check_complete_run(run)
    answer, _ = run.texts("05_resource_allocation")
    assert "The marketing split cannot be optimised from this history" in answer
    html = (run.run_dir / "05_resource_allocation.html").read_text("utf-8")
    assert "no region&#x27;s response curve could be identified from 12 months of spend" in html or \
        "no region's response curve could be identified from 12 months of spend" in html


def test_one_year_reports_say_what_is_off(runs):
    run = runs("one_year")
    answer, _ = run.texts("01_data_health")
    assert answer.startswith("Not yet: only 4 complete quarters of history (at least 8 needed).")
    _, notes = run.texts("03_customer_risk")
    credit = [n for n in notes if n.startswith("*Switched off: the invoices start 2026-01-01")]
    assert len(credit) == 3 and all("it needs more than 12 months of invoice history" in n for n in credit)
    _, notes = run.texts("04_quarterly_targets")
    assert ("No monitoring back-test: the data hold less than a year of history before the last complete "
            "quarter.") in notes


# --------------------------------------------------------------------------- one region

def test_one_region_run_completes(runs):
    run = runs("one_region")
    _check_complete_run(run)
    assert {"Plan company", "Plan regions", "Plan reps"} <= set(_sheets(run))  # the reps' quotas to edit
    answer, _ = run.texts("02_forecast")
    assert "largest region" not in answer and "grows fastest" not in answer  # one region is the company
    _, notes = run.texts("04_quarterly_targets")
    assert "**Note.** The company has one region (East): the marketing budget is not split between regions." in notes
    _, notes = run.texts("05_resource_allocation")
    assert "**Note.** The company has one region (East): the marketing budget is not split between regions." in notes
    assert ("**No budget split between regions:** the company has one region, so there is no budget split "
            "between regions to optimise") in notes
    answer, _ = run.texts("05_resource_allocation")
    assert "marketing budget stays whole: the company has one region." in answer


# --------------------------------------------------------------------------- no reps

def test_no_reps_run_completes(runs):
    run = runs("no_reps")
    _check_complete_run(run)
    _check_no_plan_sheets(run)
    answer, notes = run.texts("05_resource_allocation")
    assert answer.startswith("No headcount or hiring plan: the data have no reps table")
    assert "**Note.** No commission cost: the data have no reps table, so there are no rep quotas to pay " \
           "commission on." in notes


def test_no_reps_reports_say_what_is_off(runs):
    run = runs("no_reps")
    answer, notes = run.texts("04_quarterly_targets")
    assert "**Note.** The data have no reps table: the regions get their targets (quota = target), and no " \
           "rep quota is proposed." in notes
    assert "No rep quotas: the data have no reps table, so each region holds its target whole." in notes
    assert "No scenarios: they compare rep quotas, and the data have no reps table." in notes


# --------------------------------------------------------------------------- salesplan validate

VALIDATE_NOTES = {  # the optional tables each company lacks
    "orders_only": ["customers", "reps", "regions", "invoices", "opportunities", "stage_history", "activities",
                    "marketing_spend", "leads"],
    "one_year": [], "one_region": [], "no_reps": ["reps"],
}


@pytest.mark.parametrize("name", list(VALIDATE_NOTES))
def test_validate_says_what_is_missing_in_one_line_per_table(name, demo, tmp_path):
    source = _source(name, demo, tmp_path)
    proc = _cli("validate", source, "--no-summary", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].startswith("data check passed: ") and "error" not in proc.stdout.lower()
    notes = [ln for ln in lines if ln.startswith("  note: ")]
    assert [n.split("'")[1] for n in notes] == VALIDATE_NOTES[name]
    assert all(n.startswith(f"  note: table '{t}' is absent: ") and n.endswith(" switched off")
               for n, t in zip(notes, VALIDATE_NOTES[name]))
