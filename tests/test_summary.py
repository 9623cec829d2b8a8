"""The executive summary (salesplan.reports.summary).

Hand examples first (the bridge, each decision's revenue effect, the reconciliations,
formatting, atomic writes, runs without the targets or resource tables), then a real
plan of the demo company: the summary's numbers against the plan store read
independently, and headless Chromium (Debian's /usr/bin/chromium through Playwright):
the PDF prints to at most 2 A4 pages, nothing overflows at 1400 px and 420 px, no cell
shows scientific notation.  The real plan reuses the session's plan store when the
notebooks ran in this session (``make test``); alone, it runs 02-05 once (~1 min).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from machine import chromium_browser, need_chromium
from test_runner import make_notebook, needs_kernel

from salesplan.reports.render import render_index
from salesplan.reports.summary import (
    RunTables,
    SummaryParams,
    accounts_decision,
    amount,
    bridge_rows,
    budget_decision,
    build_summary,
    credit_decision,
    hiring_decision,
    quota_decision,
    reconciliations,
    render_summary_html,
    write_atomic,
    write_summary,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "salesplan_demo.duckdb"
SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE][+-]?\d")

# --------------------------------------------------------------------------- hand examples


def company(target=1220.0, quota=1342.0, **kw):
    row = {"quarter": "2027Q1", "currency": "EUR", "method": "growth", "last_year": 1000.0,
           "target": target, "quota": quota, "over_assignment": quota / target, "p_attain_target": 0.6,
           "growth_vs_ly": target / 1000.0 - 1, "forecast_p10": 1000.0, "forecast_p50": 1200.0,
           "forecast_p90": 1400.0, "below_p50": 0.0, "rep_share_at_quota": 0.45, "share_band_ok": False,
           "n_reps": 3, "n_vacancies": 0}
    row.update(kw)
    return pd.DataFrame([row])


def bridge():
    steps = [("2026Q1 actual", "total", 1000.0), ("carry-on forecast (P50)", "change", 200.0),
             ("pipeline not in the forecast", "change", 50.0), ("stretch", "change", -30.0),
             ("target 2027Q1", "total", 1220.0), ("over-assignment", "change", 122.0),
             ("sum of quotas", "total", 1342.0)]
    cum = [1000.0, 1200.0, 1250.0, 1220.0, 1220.0, 1342.0, 1342.0]
    return pd.DataFrame({"step": [s for s, _, _ in steps], "kind": [k for _, k, _ in steps],
                         "amount": [a for _, _, a in steps], "cumulative": cum, "currency": "EUR"})


def reps():
    return pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "name": ["Ann Lee", "王芳", "Bo Berg"],
                         "region": ["North", "North", "South"],
                         "level": ["key_account", "senior", "junior"], "vacant": [False] * 3,
                         "odds_flag": ["", "low odds", ""]})


def headcount():
    # North: needs 10 FTE, has 8 effective -> 20% of its 900 beyond today's reps = 180
    # South: needs 5, has 6 -> fully covered
    return pd.DataFrame({"region": ["North", "South"], "target": [900.0, 600.0],
                         "fte_needed": [10.0, 5.0], "effective_fte_today": [8.0, 6.0],
                         "headcount_needed": [11, 6], "reps_today": [9, 6], "gap": [2, 0]})


def hiring():
    return pd.DataFrame({"region": ["North", "North"],
                         "requisition_month": pd.to_datetime(["2027-01-01"] * 2),
                         "start_month": pd.to_datetime(["2027-03-01", "2027-04-01"]), "hires": [2, 1]})


def customers():
    return pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "region": ["North", "South", "North", "South"],
                         "abc_class": ["A", "A", "B", "A"], "rep_id": ["r1", "r3", "r2", "r3"],
                         "revenue": [100.0, 300.0, 500.0, 50.0], "p_churn": [0.6, 0.5, 0.9, 0.2],
                         "revenue_at_risk": [60.0, 150.0, 450.0, 10.0]})


def grades():
    return pd.DataFrame({"grade": ["A", "B", "D", "E"], "customers": [10, 5, 3, 2],
                         "revenue_12m": [600.0, 200.0, 120.0, 80.0],
                         "condition": ["open account", "open account", "deposit 30%", "cash before delivery"]})


def budget():
    # status quo 100 each; +-50% boxes; X goes to its ceiling, Y to its floor, Z stays
    split = pd.DataFrame({"region": ["X", "Y", "Z"], "spend": [150.0, 50.0, 100.0],
                          "response": [90.0, 20.0, 40.0], "lower": [50.0] * 3, "upper": [150.0] * 3,
                          "binding": ["max", "min", ""]})
    comparison = pd.DataFrame({"allocation": ["optimised", "status quo"], "spend": [300.0, 300.0],
                               "response": [150.0, 120.0]})
    return split, comparison


def run_tables(**extra) -> RunTables:
    tables = {"04/company": company(), "04/bridge": bridge(), "04/rep": reps()}
    tables.update(extra)
    return RunTables(period="2027Q1", run_id="r-test", tables=tables)


def test_bridge_has_every_step_with_changes_and_running_totals():
    b = bridge_rows(bridge(), "2027Q1")
    assert b["step"].tolist()[0] == "2026Q1 actual" and b["step"].tolist()[-1] == "sum of quotas"
    assert b["total"].tolist() == [1000.0, 1200.0, 1250.0, 1220.0, 1220.0, 1342.0, 1342.0]
    assert b.loc[~b["is_total"], "change"].tolist() == [200.0, 50.0, -30.0, 122.0]
    assert b.loc[b["is_total"], "change"].isna().all()
    assert "same quarter last year" in b["meaning"].iloc[0]
    with pytest.raises(ValueError, match=r"table 04/bridge: missing column\(s\) \['cumulative'\]"):
        bridge_rows(bridge().drop(columns="cumulative"), "2027Q1")


def test_quota_decision_counts_flagged_reps():
    d = quota_decision(company(), reps())
    assert d.value == 1342.0 and d.unit == "2027Q1 sales, EUR"
    assert "3 reps adding up to EUR 1.34 k" in d.action and "x1.10" in d.action
    assert "review the 1 quotas flagged" in d.action
    assert "45% of reps expected at quota (outside the healthy band)" in d.effect


def test_quota_decision_without_reps_approves_the_region_targets():
    regions = pd.DataFrame({"region": ["North", "South"], "target": [700.0, 642.0]})
    d = quota_decision(company(), reps().iloc[0:0], regions)
    assert d.value == 1342.0 and d.unit == "2027Q1 sales, EUR"
    assert d.action == ("Approve the region targets: 2 region(s) adding up to EUR 1.34 k (no rep quotas: the data "
                        "have no reps table, so each region holds its target).")
    assert "reps expected at quota" not in d.effect


def test_hiring_decision_revenue_beyond_todays_reps():
    d = hiring_decision(headcount(), hiring(), "2027Q1", "EUR")
    assert d.value == pytest.approx(180.0)  # 900 x (1 - 8/10) + 600 x 0
    assert d.action == "Open 3 sales positions now (North +3); first day Mar 2027."
    assert "EUR 180 of the 2027Q1 target" in d.effect and "they carry EUR 1.32 k" in d.effect


def test_accounts_to_call_are_a_class_at_or_above_the_threshold():
    d = accounts_decision(customers(), reps(), SummaryParams(accounts_listed=1), "EUR")
    # c2 (0.5, at risk 150) and c1 (0.6, 60); c3 is class B, c4 below 0.5
    assert d.value == pytest.approx(210.0)
    assert "Call the 2 A-class accounts" in d.action
    assert "c2 (South, Bo Berg) and 1 more" in d.action
    assert "bought EUR 400 in the last 12 months" in d.effect


def test_credit_cut_says_the_revenue_it_touches():
    hold = pd.DataFrame({"customer_id": ["c9"], "amount_overdue": [75.0]})
    d = credit_decision(grades(), hold, "EUR")
    assert d.value == pytest.approx(200.0)  # grades D and E: 120 + 80
    assert "20% of revenue" in d.effect  # 200 / 1000
    assert "5 customers in grade(s) D and E" in d.action
    assert "hold supplies to 1 customers" in d.action and "EUR 75 overdue" in d.action


def test_budget_shift_and_its_margin():
    split, comparison = budget()
    d = budget_decision(split, comparison, "2027Q1", "EUR")
    assert d.value == pytest.approx(30.0)  # 150 - 120
    assert "Move EUR 50 of the EUR 300 2027Q1 marketing budget: X +50; Y -50." == d.action
    assert "(+25.0%)" in d.effect  # 30 / 120


def test_reconciliations_in_words():
    load = pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "status": ["idle", "idle", "ok"]})
    split, comparison = budget()
    cust = customers()
    t = run_tables(**{"05/coverage_load": load, "05/headcount": headcount(), "05/hiring_plan": hiring(),
                      "03/customers": cust, "05/budget_split": split,
                      "05/budget_sensitivity": pd.DataFrame({"regret": [0.0, 0.0002, 0.0004]})})
    rec = {r.key: r for r in reconciliations(t)}
    assert set(rec) == {"idle_vs_hire", "gap_vs_hires", "risk_vs_target", "odds_vs_reps", "budget_limits"}
    assert rec["idle_vs_hire"].seems == "The resource report counts 2 of 3 reps as idle, yet the plan hires 3."
    assert "1 of them are key-account managers, judged by their own role" in rec["idle_vs_hire"].because
    assert "today's reps carry EUR 1.32 k of the EUR 1.22 k target" in rec["idle_vs_hire"].because
    assert "a gap of 2), but the hiring plan opens 3 positions" in rec["gap_vs_hires"].seems
    assert "EUR 670 of revenue at risk while" in rec["risk_vs_target"].seems  # 60 + 150 + 450 + 10
    assert "12-month revenue" in rec["risk_vs_target"].because
    assert "60% chance, but only 45% of reps" in rec["odds_vs_reps"].seems
    assert "±50% limit in 2 of 3 regions" in rec["budget_limits"].seems
    assert "reads 0.02%" in rec["budget_limits"].seems  # median regret 0.0002


def test_a_run_without_05_or_03_still_gets_a_summary_with_notes():
    s = build_summary(run_tables())
    assert [d.key for d in s.decisions] == ["quotas"]
    assert any("05" in n for n in s.notes) and any("03" in n for n in s.notes)
    page = render_summary_html(s)
    assert "EUR 1,220" in page and "Decisions to sign" in page


def test_a_resource_plan_for_another_target_is_flagged():
    hc = headcount()  # plans for 1,500, the target is 1,220
    s = build_summary(run_tables(**{"05/headcount": hc, "05/hiring_plan": hiring()}))
    assert any("built for a target of EUR 1,500, not EUR 1,220: re-run 05" in n for n in s.alerts)
    assert 'class="alert"' in render_summary_html(s)


def test_no_targets_tables_skips_with_a_note(tmp_path):
    notes = []
    assert write_summary(tmp_path, reports=[], note=notes.append) is None
    assert len(notes) == 1 and notes[0].startswith("summary: skipped:") and "04_quarterly_targets" in notes[0]
    assert not (tmp_path / "summary.html").exists()
    out = tmp_path / "index.html"
    render_index(out, run_id="r", period="2027Q1", source="s", reports=[],
                 summary={"skipped": "no executive summary: this run holds no targets tables"})
    assert "no executive summary" in out.read_text("utf-8")


def test_amounts_never_in_scientific_notation():
    assert amount(2e-06, "USD") == "USD 0" and amount(-2e-06) == "0"
    assert amount(1.5e12, "USD") == "USD 1,500,000,000,000"
    assert amount(15429737.5874824, "USD", compact=True) == "USD 15.43 M"
    assert amount(np.nan) == "–"


def test_summary_params_validate_themselves():
    with pytest.raises(ValueError, match="churn_threshold=1.5"):
        SummaryParams(churn_threshold=1.5)
    with pytest.raises(ValueError, match="accounts_listed=0"):
        SummaryParams(accounts_listed=0)


def test_write_atomic_never_leaves_half_a_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.html"
    write_atomic(target, "good")

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "half")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.html"]


# --------------------------------------------------------------------------- wiring (tiny run)

PUBLISH_PLAN = (
    "import sys; sys.path.insert(0, {here!r})\n"
    "from test_summary import company, bridge, reps\n"
    "from salesplan.reports import publish_tables\n"
    "publish_tables({{'company': company(), 'bridge': bridge(), 'rep': reps()}})"
)


@needs_kernel
def test_salesplan_run_writes_the_summary_and_index_opens_with_it(tmp_path):
    from salesplan.reports import run_plan

    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "04_targets.ipynb", [PUBLISH_PLAN.format(here=str(Path(__file__).parent))],
                  params="growth = None  # float: growth on last year\n")
    lines = []
    res = run_plan(notebooks_dir=nbs, out_dir=tmp_path / "reports", timeout=120, echo=lines.append,
                   params={"growth": 0.2})
    page = (res.run_dir / "summary.html").read_text("utf-8")
    assert 'data-key="target" data-value="1220.000000"' in page
    assert "Parameters changed from the defaults: <code>growth = 0.2</code>" in page
    index = res.index.read_text("utf-8")
    first = re.search(r'<main class="sp-main">.*?<a href="([^"]+)"', index, re.S).group(1)
    assert first == "summary.html"
    assert not list(res.run_dir.glob(".*.tmp-*"))  # no temporary file left
    assert any(line.startswith("summary: summary.html") for line in lines)


# --------------------------------------------------------------------------- a real plan



#: run-folder table name -> (store kind, store table name)
FROM_STORE = {
    "04_quarterly_targets": ("targets", {"company": "company", "bridge": "bridge", "region": "regions",
                                         "rep": "reps"}),
    "05_resource_allocation": ("allocation", None),
    "03_customer_risk": ("customer_risk", None),
    "02_forecast": ("forecast", {"accuracy": "accuracy"}),
}


def _store_runs(store, period, batch_id=None) -> dict:
    runs = store.list_runs()
    runs = runs[runs["period"] == period]
    if batch_id is not None:
        runs = runs[runs["batch_id"] == batch_id]
    return {kind: store.read_run(g["run_id"].iloc[-1]) for kind, g in runs.groupby("kind")}


def _folder_from_store(store, period, folder: Path) -> Path:
    """A run folder made of the session store's plan tables, laid out as publish_tables does."""
    runs = _store_runs(store, period)
    for nb, (kind, names) in FROM_STORE.items():
        if kind not in runs:
            continue
        tables = runs[kind].tables
        names = names or {k: k for k in tables}
        (folder / "tables" / nb).mkdir(parents=True)
        manifest = []
        for mine, theirs in names.items():
            if theirs in tables:
                tables[theirs].to_parquet(folder / "tables" / nb / f"{mine}.parquet")
                manifest.append({"name": mine, "file": f"{mine}.parquet"})
        (folder / "tables" / nb / "tables.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def real_plan(request, tmp_path_factory):
    """(run folder with summary.html/.pdf, the plan store's runs of that plan)."""
    from salesplan.data import PlanStore
    from salesplan.reports import resolve_url

    need_chromium()
    tmp = tmp_path_factory.mktemp("summary")
    if any(i.path.suffix == ".ipynb" for i in request.session.items):
        # make test: the notebooks ran before this file on this worker (tests/conftest.py)
        store = PlanStore(resolve_url(os.environ["SALESPLAN_PLAN_STORE"]))
        runs = _store_runs(store, "2027Q1")
        if {"targets", "allocation", "customer_risk"} <= set(runs):
            folder = _folder_from_store(store, "2027Q1", tmp / "run")
            assert write_summary(folder) is not None
            return folder, runs
    if not DEMO.exists():
        pytest.skip(f"the bundled demo {DEMO} is missing (make demo-data)")
    from salesplan.reports import run_plan

    store_url = f"duckdb:///{tmp / 'plan_store.duckdb'}"
    res = run_plan(source=f"duckdb:///{DEMO}", notebooks_dir=ROOT / "notebooks",
                   notebooks=["02_forecast", "03_customer_risk", "04_quarterly_targets",
                              "05_resource_allocation"],
                   downstream=False, out_dir=tmp / "reports", plan_store=store_url, timeout=600,
                   echo=lambda line: None)
    store = PlanStore(store_url)
    # the way `make test` builds its folder from the notebooks' store, checked on this plan
    from_store = _folder_from_store(store, res.period, tmp / "from-store")
    assert write_summary(from_store, pdf=False) is not None
    ours = _values((res.run_dir / "summary.html").read_text("utf-8"))
    assert _values((from_store / "summary.html").read_text("utf-8")) == ours
    return res.run_dir, _store_runs(store, res.period, batch_id=res.run_id)


def _values(page: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', page) if v}



@pytest.mark.slow
def test_summary_numbers_equal_the_plan_tables(real_plan):
    folder, runs = real_plan
    v = _values((folder / "summary.html").read_text("utf-8"))
    c = runs["targets"].tables["company"].iloc[0]
    assert v["target"] == pytest.approx(float(c["target"]), abs=1e-6)
    assert v["quota"] == pytest.approx(float(runs["targets"].tables["reps"]["quota"].sum()), rel=1e-9)
    assert v["p_attain_target"] == pytest.approx(float(c["p_attain_target"]))
    b = runs["targets"].tables["bridge"]
    for i, r in enumerate(b.itertuples()):
        assert v[f"bridge_total_{i}"] == pytest.approx(float(r.cumulative), abs=1e-5)
    assert b["step"].iloc[0].endswith("actual") and b["step"].iloc[-1] == "sum of quotas"
    # credit: revenue of graded customers without open credit, from the customer table
    cust = runs["customer_risk"].tables["customers"]
    graded = cust[cust["grade"].astype(str) != "nan"]
    tight = graded.loc[graded["condition"] != "open account", "revenue"].sum()
    assert v["effect_credit"] == pytest.approx(float(tight), rel=1e-9)
    calls = cust[(cust["abc_class"] == "A") & (cust["p_churn"] >= 0.5)]
    assert v["effect_accounts"] == pytest.approx(float(calls["revenue_at_risk"].sum()), rel=1e-9)
    comp = runs["allocation"].tables["budget_comparison"].set_index("allocation")["response"]
    assert v["effect_budget"] == pytest.approx(float(comp["optimised"] - comp["status quo"]), rel=1e-9)
    hc = runs["allocation"].tables["headcount"]
    beyond = sum(t * (1 - min(1.0, e / n)) for t, e, n in
                 zip(hc["target"], hc["effective_fte_today"], hc["fte_needed"]))
    assert v["effect_hiring"] == pytest.approx(beyond, rel=1e-9)
    hires = int(runs["allocation"].tables["hiring_plan"]["hires"].sum())
    assert f"Open {hires} sales positions now" in (folder / "summary.html").read_text("utf-8")


@pytest.mark.slow
def test_summary_prints_to_two_a4_pages_and_fits_1400_and_420_px(real_plan):
    folder, _ = real_plan
    pdf = (folder / "summary.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
    assert 1 <= pages <= 2, pages
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes and all(abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2 for w, h in boxes), boxes
    with chromium_browser() as browser:
        for width in (1400, 420):
            page = browser.new_page(viewport={"width": width, "height": 900})
            problems = []
            page.on("console", lambda m, problems=problems: problems.append(m.text)
                    if m.type in ("error", "warning") else None)
            page.on("requestfailed", lambda r, problems=problems: problems.append(r.url))
            page.goto((folder / "summary.html").as_uri(), wait_until="load")
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll <= width, (width, scroll)
            hidden = page.eval_on_selector_all(
                "table th, table td", "els => els.filter(e => e.getBoundingClientRect().width == 0"
                " || e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length")
            assert hidden == 0, (width, hidden)  # no column dropped or cut off
            cells = page.eval_on_selector_all("td, li, dt, dd, .number", "els => els.map(e => e.innerText)")
            assert cells and not [c for c in cells if SCIENTIFIC.search(c)]
            assert problems == []
            assert page.locator("ol.decisions > li").count() in range(4, 7)
            page.close()


def _run_folder(folder: Path, tables: dict[str, dict[str, pd.DataFrame]]) -> Path:
    """A run folder laid out as salesplan run leaves it (run.json, tables/<notebook>/)."""
    for nb, named in tables.items():
        (folder / "tables" / nb).mkdir(parents=True)
        for name, frame in named.items():
            frame.to_parquet(folder / "tables" / nb / f"{name}.parquet")
        (folder / "tables" / nb / "tables.json").write_text(
            json.dumps([{"name": n, "file": f"{n}.parquet"} for n in named]))
    (folder / "run.json").write_text(json.dumps({"run_id": folder.name, "period": "2027Q1", "notebooks": [
        {"name": nb, "html": f"{nb}.html", "notebook": f"{nb}.ipynb"} for nb in tables]}))
    return folder


def test_cli_rebuilds_the_summary_of_a_run_folder(tmp_path):
    from typer.testing import CliRunner

    from salesplan.cli import app

    split, comparison = budget()
    folder = _run_folder(tmp_path / "2027Q1-x", {
        "04_quarterly_targets": {"company": company(), "bridge": bridge(), "rep": reps()},
        "05_resource_allocation": {"headcount": headcount(), "hiring_plan": hiring(),
                                   "budget_split": split, "budget_comparison": comparison},
    })
    r = CliRunner().invoke(app, ["summary", str(folder), "--no-pdf"])
    assert r.exit_code == 0, r.output
    page = (folder / "summary.html").read_text("utf-8")
    assert _values(page)["effect_hiring"] == pytest.approx(180.0)
    assert _values(page)["effect_budget"] == pytest.approx(30.0)
    assert "run 2027Q1-x" in page and 'href="summary.pdf"' not in page
    r = CliRunner().invoke(app, ["summary", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert r.exit_code == 1 and "is not a run folder" in r.output


def test_a_stale_carried_report_is_an_alert_at_the_top(tmp_path):
    folder = _run_folder(tmp_path / "run", {
        "04_quarterly_targets": {"company": company(), "bridge": bridge()},
        "05_resource_allocation": {"headcount": headcount().assign(target=[732.0, 488.0]),
                                   "hiring_plan": hiring()}})
    info = json.loads((folder / "run.json").read_text())
    info["notebooks"][1].update(carried_from="2027Q1-old", stale=True)
    (folder / "run.json").write_text(json.dumps(info))
    files = write_summary(folder, pdf=False)
    stale = ("05_resource_allocation was carried over from run 2027Q1-old although a report it reads was "
             "re-run: re-run it before signing.")
    assert files.notes[0] == stale
    page = files.html.read_text("utf-8")
    assert page.index('class="alert"') < page.index('class="commit"')
    assert files.index_entry()["alerts"] == [stale]


def test_accounts_to_call_without_region_or_rep_columns():
    """An orders-only company: the risk list has no region or rep, the decision still reads."""
    from salesplan.reports.summary import SummaryParams, accounts_decision

    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "abc_class": ["A", "A"], "p_churn": [0.9, 0.2],
                              "revenue_at_risk": [900.0, 20.0], "revenue": [1000.0, 100.0]})
    d = accounts_decision(customers, None, SummaryParams(), "USD")
    assert "largest first: C1." in d.action and d.value == pytest.approx(900.0)
