"""Plan of record: approve / supersede / compare / plans, the relational plan tables and
the approved-plan view, on DuckDB and on a real PostgreSQL (``pg_url``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from test_runner import make_notebook, needs_kernel
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.data.store import PlanError, PlanStore, target_rows

cli = CliRunner()


def plan_tables(east=600.0, west=400.0):
    """A tiny but complete plan: company 1,000 = East + West; quotas x1.1."""
    company = pd.DataFrame({"quarter": ["2027Q1"], "target": [east + west],
                            "quota": [1.1 * (east + west)], "p_attain_target": [0.6],
                            "p_attain_quota": [0.45], "odds_flag": [""]})
    regions = pd.DataFrame({"region": ["East", "West"], "target": [east, west],
                            "quota": [1.1 * east, 1.1 * west], "p_attain_target": [0.6, 0.55],
                            "p_attain_quota": [0.5, 0.4]})
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "name": ["Ann", "李雷"], "region": ["East", "West"],
                         "quota": [1.1 * east, 1.1 * west], "p_attain_quota": [0.5, 0.4]})
    months = pd.DataFrame({"level": ["company"] * 3, "entity": ["total"] * 3, "region": [None] * 3,
                           "month": pd.to_datetime(["2027-01-01", "2027-02-01", "2027-03-01"]),
                           "target": [300.0, 300.0, east + west - 600.0],
                           "quota": [330.0, 330.0, 1.1 * (east + west) - 660.0]})
    weeks = pd.DataFrame({"level": ["rep", "rep"], "entity": ["r1", "r2"], "region": ["East", "West"],
                          "week_start": pd.to_datetime(["2027-01-04", "2027-01-04"]),
                          "target": [50.0, 30.0], "quota": [55.0, 33.0]})
    return {"company": company, "regions": regions, "reps": reps, "months": months, "weeks": weeks,
            "smart": pd.DataFrame({"x": [1]})}


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path}/plans.duckdb"
        st = PlanStore(url)
        st.cli_args = ["--store", url]
    else:
        pg_url = request.getfixturevalue("pg_url")
        st = PlanStore(pg_url, schema=f"p_{uuid.uuid4().hex[:10]}")
        st.cli_args = None  # the CLI has no --schema: CLI tests use DuckDB
    yield st
    st.dispose()


def test_target_rows_cover_every_level_and_grain():
    rows = target_rows("r", "2027Q1", plan_tables())
    # 1 company + 2 regions + 2 reps (quarter) + 3 months + 2 weeks
    assert len(rows) == 10
    q = rows[rows["grain"] == "quarter"].set_index(["level", "entity"])
    assert q.loc[("company", "total"), "target"] == 1000.0
    assert q.loc[("rep", "r2"), "quota"] == pytest.approx(440.0)
    assert pd.isna(q.loc[("rep", "r2"), "target"])  # reps carry quotas, not targets
    assert str(q.loc[("rep", "r2"), "start_date"]) == "2027-01-01"
    assert rows[rows["grain"] == "week"]["entity"].tolist() == ["r1", "r2"]


def test_approve_supersede_history_and_compare(store):
    store.begin_batch("2027Q1-b1", period="2027Q1", name="board v1", notebooks=["04_quarterly_targets"])
    a = store.write_run("targets", "2027Q1", {"growth": 0.10, "blend": 0.5}, "fp", plan_tables(),
                        batch_id="2027Q1-b1", name="board v1")
    store.end_batch("2027Q1-b1", "complete")
    b = store.write_run("targets", "2027Q1", {"growth": 0.12, "blend": 0.5}, "fp",
                        plan_tables(east=650.0, west=400.0), name="board v2")
    assert store.approved_run("2027Q1") is None

    first = store.approve("2027Q1-b1", by="Chen CEO", note="as discussed")  # a salesplan run id
    assert first["run_id"] == a and first["superseded"] is None
    assert store.approved_run("2027Q1").run_id == a
    second = store.approve(b, by="Dana CFO")
    assert second["superseded"] == a
    got = store.approved_run("2027Q1")
    assert got.run_id == b and got.meta["approval"]["approved_by"] == "Dana CFO"

    hist = store.approvals("2027Q1")
    assert hist["run_id"].tolist() == [a, b]
    assert hist["status"].tolist() == ["superseded", "approved"]
    assert hist["superseded_by"].iloc[0] == hist["approval_id"].iloc[1]
    assert hist["note"].iloc[0] == "as discussed"

    plans = store.plans().set_index("run_id")
    assert plans.loc[a, "status"] == "superseded" and plans.loc[a, "name"] == "board v1"
    assert plans.loc[a, "salesplan_run"] == "2027Q1-b1"
    assert plans.loc[b, "status"] == "approved" and plans.loc[b, "approved_by"] == "Dana CFO"

    # approving A again makes it current again; B is superseded; history has three rows
    store.approve(a, by="Chen CEO")
    assert store.approved_run("2027Q1").run_id == a
    assert store.approvals("2027Q1")["status"].tolist() == ["superseded", "superseded", "approved"]

    c = store.compare(a, b)
    assert c.parameters.to_dict("records") == [{"parameter": "growth", "a": 0.10, "b": 0.12}]
    t = c.targets.set_index(["grain", "level", "entity"])
    # East +50 -> company +50 (target), quotas +55; March month +50; West and weeks unchanged
    assert t.loc[("quarter", "company", "total"), "target_change"] == pytest.approx(50.0)
    assert t.loc[("quarter", "region", "East"), "quota_change"] == pytest.approx(55.0)
    assert t.loc[("quarter", "rep", "r1"), "quota_change"] == pytest.approx(55.0)
    assert t.loc[("month", "company", "total"), "target_change"] == pytest.approx(50.0)
    assert ("quarter", "region", "West") not in t.index and "week" not in c.targets["grain"].tolist()
    assert len(c.targets) == 4


def test_bad_approvals_are_one_line_errors(store):
    with pytest.raises(PlanError, match="unknown run id 'nope'"):
        store.approve("nope", by="x")
    f = store.write_run("forecast", "2027Q1", {}, None, {"paths": pd.DataFrame({"v": [1.0]})})
    with pytest.raises(PlanError, match="'forecast' run, not a plan"):
        store.approve(f, by="x")
    store.begin_batch("2027Q1-bad", period="2027Q1", notebooks=["04_quarterly_targets"])
    t = store.write_run("targets", "2027Q1", {}, None, plan_tables(), batch_id="2027Q1-bad")
    store.end_batch("2027Q1-bad", "failed")
    for ref in ("2027Q1-bad", t):
        with pytest.raises(PlanError, match="which failed; a failed run cannot be approved"):
            store.approve(ref, by="x")
    store.begin_batch("2027Q1-run", period="2027Q1", notebooks=["04_quarterly_targets"])
    with pytest.raises(PlanError, match="did not finish"):
        store.approve("2027Q1-run", by="x")
    store.begin_batch("2027Q1-fc", period="2027Q1", notebooks=["02_forecast"])
    store.end_batch("2027Q1-fc", "complete")
    with pytest.raises(PlanError, match="partial: it holds no targets run"):
        store.approve("2027Q1-fc", by="x")
    part = store.write_run("targets", "2027Q1", {}, None, {"company": plan_tables()["company"]})
    with pytest.raises(PlanError, match="partial: it lacks the plan table"):
        store.approve(part, by="x")
    good = store.write_run("targets", "2027Q1", {}, None, plan_tables())
    with pytest.raises(PlanError, match="--by"):
        store.approve(good, by=" ")
    store.approve(good, by="x")
    with pytest.raises(PlanError, match="already the approved plan of 2027Q1"):
        store.approve(good, by="y")
    assert store.approvals()["status"].tolist() == ["approved"]


def _sql(store, query: str) -> pd.DataFrame:
    """A plain SQL SELECT through the database's own driver (no salesplan reading code)."""
    if store.url.startswith("duckdb"):
        import duckdb

        path = store.url.split("duckdb:///", 1)[1]
        con = duckdb.connect(path, read_only=True)
        try:
            return con.execute(query).df()
        finally:
            con.close()
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(store._url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database) as con:
        with con.cursor() as cur:
            cur.execute(f"SET search_path TO {store.schema}")
            cur.execute(query)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_approved_quotas_with_one_select(store):
    a = store.write_run("targets", "2027Q1", {}, None, plan_tables())
    b = store.write_run("targets", "2027Q1", {}, None, plan_tables(east=700.0, west=300.0))
    store.write_run("targets", "2027Q2", {}, None, plan_tables(east=1.0, west=2.0))
    store.approve(a, by="A")
    store.approve(b, by="B")  # supersedes a: the view shows b only
    store.dispose()
    got = _sql(store, "SELECT entity, quota, approved_by FROM approved_plan_targets "
                      "WHERE period = '2027Q1' AND level = 'rep' AND grain = 'quarter' ORDER BY entity")
    assert got["entity"].tolist() == ["r1", "r2"]
    assert got["quota"].astype(float).tolist() == pytest.approx([770.0, 330.0])
    assert set(got["approved_by"]) == {"B"}
    # 2027Q2 has no approved plan: nothing in the view
    assert _sql(store, "SELECT COUNT(*) AS n FROM approved_plan_targets WHERE period = '2027Q2'"
                )["n"].iloc[0] == 0
    # every run's targets are plain rows too
    n = _sql(store, "SELECT COUNT(*) AS n FROM plan_targets")["n"].iloc[0]
    assert n == 3 * 10


def test_cli_approve_plans_compare(tmp_path):
    url = f"duckdb:///{tmp_path}/plans.duckdb"
    st = PlanStore(url)
    st.begin_batch("2027Q1-20270105-090000", period="2027Q1", name="board v1")
    a = st.write_run("targets", "2027Q1", {"growth": 0.1}, "fp", plan_tables(),
                     batch_id="2027Q1-20270105-090000", name="board v1")
    st.end_batch("2027Q1-20270105-090000", "complete")
    b = st.write_run("targets", "2027Q1", {"growth": 0.2}, "fp", plan_tables(east=610.0), name="board v2")
    st.begin_batch("2027Q1-broken", period="2027Q1")
    st.end_batch("2027Q1-broken", "failed")
    st.dispose()
    s = ["--store", url]

    r = cli.invoke(app, ["approve", "2027Q1-20270105-090000", "--by", "Chen", "--note", "v1 ok", *s])
    assert r.exit_code == 0, r.output
    assert f"approved: {a} is the plan of record of 2027Q1 (by Chen" in r.output
    r = cli.invoke(app, ["approve", b, "--by", "Dana", *s])
    assert r.exit_code == 0 and f"superseded: {a}" in r.output

    r = cli.invoke(app, ["plans", *s])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "status" in lines[0] and "approved_by" in lines[0]
    assert "board v2" in lines[1] and "approved" in lines[1] and "Dana" in lines[1]
    assert "board v1" in lines[2] and "superseded" in lines[2] and "Chen" in lines[2]

    out = tmp_path / "diff.csv"
    r = cli.invoke(app, ["compare", a, b, "--out", str(out), *s])
    assert r.exit_code == 0, r.output
    assert "growth" in r.output and "0.1" in r.output and "0.2" in r.output
    assert "targets that differ: 4 of 10" in r.output
    diff = pd.read_csv(out)
    assert diff.loc[(diff["level"] == "region") & (diff["grain"] == "quarter"), "target_change"].tolist() == [10.0]

    for args, message in [
        (["approve", "nope", "--by", "x"], "error: unknown run id 'nope'"),
        (["approve", "2027Q1-broken", "--by", "x"], "error: salesplan run 2027Q1-broken, which failed"),
        (["compare", a, "nope"], "error: unknown run id 'nope'"),
    ]:
        r = cli.invoke(app, [*args, *s])
        assert r.exit_code == 1, r.output
        assert r.output.strip().splitlines() == [r.output.strip().splitlines()[0]]
        assert r.output.startswith(message) and "Traceback" not in r.output


@needs_kernel
def test_salesplan_run_name_and_status_reach_the_store(tmp_path):
    """`salesplan run --name` records the run (complete / failed) and names its plans;
    the complete run can be approved by its id, the failed one cannot."""

    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    here = str(Path(__file__).parent)
    writer = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from test_plan_of_record import plan_tables\n"
        "from salesplan.data import PlanStore\n"
        "PlanStore(plan_store).write_run('targets', period, {'growth': 0.1}, 'fp', plan_tables())\n"
        "if fail: raise ValueError('boom')"
    )
    make_notebook(nbs / "04_targets.ipynb", [writer], params="fail = False  # bool\n")
    url = f"duckdb:///{(out / 'plan_store.duckdb').resolve()}"
    r = cli.invoke(app, ["run", "--notebooks-dir", str(nbs), "--out", str(out), "--name", "board v2",
                         "--timeout", "120"])
    assert r.exit_code == 0, r.output
    good = (out / "latest.txt").read_text().strip()
    r = cli.invoke(app, ["run", "--notebooks-dir", str(nbs), "--out", str(out), "--timeout", "120",
                         "-p", "fail", "true"])
    assert r.exit_code == 1
    st = PlanStore(url)
    batches = st.batches().set_index("batch_id")
    assert batches.loc[good, "status"] == "complete" and batches.loc[good, "name"] == "board v2"
    bad = [b for b in batches.index if b != good][0]
    assert batches.loc[bad, "status"] == "failed"
    plans = st.plans().set_index("salesplan_run")
    assert plans.loc[good, "name"] == "board v2" and plans.loc[bad, "status"] == "failed run"
    st.dispose()
    r = cli.invoke(app, ["approve", bad, "--by", "x", "--store", url])
    assert r.exit_code == 1 and "which failed" in r.output
    r = cli.invoke(app, ["approve", good, "--by", "Chen", "--store", url])
    assert r.exit_code == 0, r.output
    assert PlanStore(url).approved_run("2027Q1").meta["batch_id"] == good
    # 'latest' = reports/latest.txt: the failed run did not move it, so it is the good run
    r = cli.invoke(app, ["approve", "latest", "--by", "Li", "--store", url, "--out", str(out)])
    assert r.exit_code == 1 and "is already the approved plan of 2027Q1" in r.output
    r = cli.invoke(app, ["approve", "latest", "--by", "Li", "--store", url,
                         "--out", str(tmp_path / "nothing")])
    assert r.exit_code == 1 and "run `salesplan run` first" in r.output


def test_resource_plan_of_the_approved_run_with_one_select(store):
    """Headcount and budget of the allocation run that belongs to the same salesplan run
    as the approved targets run."""
    headcount = pd.DataFrame({"region": ["East", "West"], "headcount_needed": [5, 3], "reps_today": [4, 3],
                              "gap": [1, 0]})
    hiring = pd.DataFrame({"region": ["East", "East"], "requisition_month": pd.to_datetime(["2027-01-01"] * 2),
                           "start_month": pd.to_datetime(["2027-03-01", "2027-02-01"]), "hires": [1, 2]})
    budget = pd.DataFrame({"region": ["East", "West"], "spend": [1000.0, 2500.0]})
    for batch, spend in (("b1", 1.0), ("b2", 2.0)):
        store.begin_batch(batch, period="2027Q1")
        store.write_run("targets", "2027Q1", {}, None, plan_tables(), batch_id=batch)
        store.write_run("allocation", "2027Q1", {}, None,
                        {"headcount": headcount, "hiring_plan": hiring,
                         "budget_split": budget.assign(spend=budget["spend"] * spend)}, batch_id=batch)
        store.end_batch(batch, "complete")
    store.approve("b2", by="CFO")
    store.dispose()
    hc = _sql(store, "SELECT region, headcount_needed, hires, first_start FROM approved_plan_headcount "
                     "WHERE period = '2027Q1' ORDER BY region")
    assert hc["region"].tolist() == ["East", "West"]
    assert hc["hires"].astype(float).tolist() == [3.0, 0.0]
    assert str(hc["first_start"].iloc[0])[:10] == "2027-02-01"
    b = _sql(store, "SELECT region, monthly_spend FROM approved_plan_budget ORDER BY region")
    assert b["monthly_spend"].astype(float).tolist() == [2000.0, 5000.0]  # batch b2: x2
