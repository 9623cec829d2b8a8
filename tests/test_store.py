"""Plan store: exact round trips, one-transaction writes, kill -9, masked secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from salesplan.data.store import PlanRun, PlanStore, StoreError, sanitize_parameters


def outputs() -> dict[str, pd.DataFrame]:
    """Output frames with awkward dtypes: text with nulls, Int64, category, dates, index."""
    targets = pd.DataFrame(
        {
            "region": pd.Series(["华东", "华北", None], dtype=object),
            "rep_id": ["r1", "r2", "r3"],
            "target": [1.0e6, 2.5e5 + 0.1, np.nan],
            "n_customers": pd.array([12, None, 3], dtype="Int64"),
            "abc": pd.Categorical(["A", "C", "B"], categories=["A", "B", "C"], ordered=True),
            "week": pd.to_datetime(["2027-01-04", "2027-01-11", None]),
            "flag": [True, False, True],
            "count": np.array([1, 2, 3], dtype="int32"),
            "at": pd.to_datetime(["2027-01-01 08:00", None, "2027-03-31 00:00"]).tz_localize("UTC"),
        }
    )
    funnel = pd.DataFrame(
        {"needed": [100.0, 40.0, 12.0]},
        index=pd.Index(["E", "D", "C"], name="stage"),
    )
    wide = pd.DataFrame(np.arange(6.0).reshape(2, 3), columns=[2027, 2028, 2029])
    multi = pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")], names=["k", "m"])
    )
    empty = pd.DataFrame({"a": pd.Series([], dtype="float64"), "b": pd.Series([], dtype=object)})
    return {"targets": targets, "funnel": funnel, "wide": wide, "multi": multi, "empty": empty}


def assert_tables_equal(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)



def _output_rows(store, other_than: str | None = None) -> int:
    """Rows of stored outputs in every outputs table: ``plan_outputs`` and, in DuckDB, each
    run's own (``plan_outputs_<hex>``); with ``other_than``, those of other runs only."""
    tables = ["plan_outputs"]
    if store._db.outputs_per_run:
        tables += [t for (t,) in store._db.rows(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'plan_outputs_%'")]
    where = " WHERE run_id <> :r" if other_than else ""
    return sum(store._db.rows(f"SELECT count(*) FROM {t}{where}", {"r": other_than} if other_than else {})[0][0]
               for t in tables)


@pytest.fixture
def pg_store(pg_url):
    url = pg_url
    schema = f"s_{uuid.uuid4().hex[:10]}"
    store = PlanStore(url, schema=schema)
    yield store
    import sqlalchemy as sa

    with store._db.engine.begin() as con:
        con.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    store.dispose()


@pytest.fixture(params=["duckdb", "duckdb-memory", "sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "duckdb":
        return PlanStore(f"duckdb:///{tmp_path}/plans.duckdb")
    if request.param == "duckdb-memory":
        return PlanStore("duckdb:///:memory:")
    if request.param == "sqlite":
        return PlanStore(f"sqlite:///{tmp_path}/plans.sqlite")
    return request.getfixturevalue("pg_store")


def test_round_trip_exact(store):
    frames = outputs()
    params = {"growth": 0.2, "regions": ("华东", "华北"), "as_of": pd.Timestamp("2026-12-31")}
    run_id = store.write_run("targets", "2027Q1", params, "abc123", frames)
    assert run_id.startswith("targets-2027Q1-")
    run = store.read_run(run_id)
    assert isinstance(run, PlanRun) and run.run_id == run_id
    assert_tables_equal(run.tables, frames)
    meta = run.meta
    assert meta["kind"] == "targets" and meta["period"] == "2027Q1"
    assert meta["status"] == "complete" and meta["input_fingerprint"] == "abc123"
    assert meta["parameters"] == {
        "growth": 0.2,
        "regions": ["华东", "华北"],
        "as_of": "2026-12-31T00:00:00",
    }
    assert meta["salesplan_version"]
    assert meta["created_at"].tz is not None


def test_latest_and_filters(store):
    a = store.write_run("targets", "2027Q1", {"v": 1}, "f1", {"t": pd.DataFrame({"x": [1]})})
    time.sleep(0.002)
    b = store.write_run("funnel", "2027Q1", {"v": 2}, "f1", {"t": pd.DataFrame({"x": [2]})})
    time.sleep(0.002)
    c = store.write_run("targets", "2027Q2", {"v": 3}, "f2", {"t": pd.DataFrame({"x": [3]})})
    assert store.read_run().run_id == c
    assert store.read_run(kind="targets", period="2027Q1").run_id == a
    assert store.read_run(kind="funnel").tables["t"]["x"].tolist() == [2]
    runs = store.list_runs()
    assert runs["run_id"].tolist() == [a, b, c]
    assert store.list_runs(kind="targets")["run_id"].tolist() == [a, c]
    assert str(runs["created_at"].dt.tz) == "UTC"
    with pytest.raises(KeyError, match="kind='churn'"):
        store.read_run(kind="churn")


def test_failing_write_leaves_nothing(store):
    first = store.write_run("targets", "2027Q1", {}, "f0", outputs())
    bad = {
        "ok": pd.DataFrame({"x": np.arange(1000.0)}),
        "broken": pd.DataFrame({"mixed": pd.Series([1, "two", 3.0], dtype=object)}),
        "never": pd.DataFrame({"y": [1]}),
    }
    with pytest.raises(TypeError, match="'broken'.*'mixed'"):
        store.write_run("targets", "2027Q2", {}, "f1", bad)
    assert store.list_runs()["run_id"].tolist() == [first]
    assert _output_rows(store, other_than=first) == 0
    assert _output_rows(store) > 0  # the first run's outputs are counted
    assert_tables_equal(store.read_run(first).tables, outputs())


def test_failure_at_commit_time_leaves_nothing(store):
    def boom():
        raise RuntimeError("crash right before commit")

    store._before_commit = boom
    with pytest.raises(RuntimeError, match="before commit"):
        store.write_run("targets", "2027Q1", {}, None, outputs())
    store._before_commit = None
    assert store.list_runs().empty
    assert _output_rows(store) == 0


def test_large_frame_split_into_parts(tmp_path, monkeypatch):
    import salesplan.data.store as store_mod

    monkeypatch.setattr(store_mod, "_PART_BYTES", 1000)
    store = PlanStore(f"duckdb:///{tmp_path}/p.duckdb")
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=5000)})
    run_id = store.write_run("k", "p", {}, None, {"big": frame})
    assert _output_rows(store) > 10
    pd.testing.assert_frame_equal(store.read_run(run_id).tables["big"], frame, check_exact=True)


# ----------------------------------------------------------------------- kill -9

_CHILD = textwrap.dedent(
    """
    import sys, time, pathlib
    import numpy as np, pandas as pd
    from salesplan.data.store import PlanStore

    url, ready = sys.argv[1], pathlib.Path(sys.argv[2])
    store = PlanStore(url)
    rng = np.random.default_rng(1)
    big = pd.DataFrame({"x": rng.normal(size=3_000_000), "y": rng.integers(0, 9, 3_000_000)})

    def hold():
        ready.write_text("ready")
        time.sleep(600)

    store._before_commit = hold
    store.write_run("targets", "2027Q2", {"n": 1}, "f-child",
                    {"small": pd.DataFrame({"a": [1]}), "big": big, "big2": big})
    """
)


def test_kill_9_during_write_leaves_no_partial_run(tmp_path):
    url = f"duckdb:///{tmp_path}/plans.duckdb"
    store = PlanStore(url)
    first = store.write_run("targets", "2027Q1", {"n": 0}, "f0", outputs())
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(f"child exited early: {child.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("child never reached the commit point")
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    again = PlanStore(url)
    assert again.list_runs()["run_id"].tolist() == [first]
    assert _output_rows(again, other_than=first) == 0
    assert_tables_equal(again.read_run().tables, outputs())
    # the store still takes new runs
    second = again.write_run("targets", "2027Q2", {}, "f1", {"t": pd.DataFrame({"x": [1]})})
    assert again.list_runs()["run_id"].tolist() == [first, second]


# ----------------------------------------------------------------------- secrets


@dataclass(frozen=True)
class Params:
    growth: float
    db_password: str
    source_url: str
    key_account_share: float


def test_parameters_are_sanitized(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "envSecret-999")
    params = {
        "password": "hunter2",
        "API_KEY": "k-123",
        "token": "t-456",
        "nested": {"client_secret": "s-789", "note": "uses envSecret-999 today"},
        "source": "postgresql+psycopg://planner:hunter3@db:5432/erp",
        "key_account_share": 0.8,
        "growth": np.float64(0.25),
        "weeks": np.int64(13),
    }
    clean = sanitize_parameters(params)
    text = json.dumps(clean)
    for secret in ("hunter2", "k-123", "t-456", "s-789", "envSecret-999", "hunter3"):
        assert secret not in text
    assert clean["source"] == "postgresql+psycopg://planner:***@db:5432/erp"
    assert clean["key_account_share"] == 0.8 and clean["growth"] == 0.25 and clean["weeks"] == 13
    store = PlanStore(f"duckdb:///{tmp_path}/p.duckdb")
    run_id = store.write_run("targets", "2027Q1", params, None, {})
    stored = store.list_runs()["parameters"].iloc[0]
    for secret in ("hunter2", "k-123", "t-456", "s-789", "envSecret-999", "hunter3"):
        assert secret not in stored
    dc = Params(0.1, "pw-dc", "sqlite:///x", 0.5)
    run_id = store.write_run("targets", "2027Q1", dc, None, {})
    assert store.read_run(run_id).meta["parameters"] == {
        "growth": 0.1,
        "db_password": "***",
        "source_url": "sqlite:///x",
        "key_account_share": 0.5,
    }


def test_store_url_password_masked(monkeypatch):
    monkeypatch.setenv("SALESPLAN_DB_PASSWORD", "Store-Secret-1")
    with pytest.raises(StoreError) as err:
        PlanStore("postgresql+psycopg://planner:${SALESPLAN_DB_PASSWORD}@127.0.0.1:1/plans")
    assert "Store-Secret-1" not in str(err.value) and "***" in str(err.value)
    with pytest.raises(StoreError) as err:
        PlanStore("postgresql+psycopg://planner:Store-Secret-2@127.0.0.1:1/plans")
    assert "Store-Secret-2" not in str(err.value)


def test_repr_masks_password(tmp_path):
    store = PlanStore(f"duckdb:///{tmp_path}/p.duckdb")
    assert "p.duckdb" in repr(store)
    unopened = object.__new__(PlanStore)
    unopened._url = "postgresql+psycopg://u:pw-in-url@127.0.0.1:1/db"
    assert "pw-in-url" not in repr(unopened) and "u:***@" in repr(unopened)


@pytest.mark.postgres
def test_postgres_store_repr_and_params(pg_store):
    password = os.environ.get("PGPASSWORD") or "\x00never"
    assert password not in repr(pg_store)
    run_id = pg_store.write_run("targets", "2027Q1", {"password": password}, None, {})
    assert password not in pg_store.list_runs()["parameters"].iloc[0]
    assert pg_store.read_run(run_id).meta["parameters"] == {"password": "***"}


def test_bad_inputs(tmp_path):
    store = PlanStore(f"duckdb:///{tmp_path}/p.duckdb")
    with pytest.raises(ValueError, match="kind"):
        store.write_run("", "2027Q1", {}, None, {})
    with pytest.raises(TypeError, match="tables\\['x'\\]"):
        store.write_run("k", "2027Q1", {}, None, {"x": [1, 2]})
    with pytest.raises(StoreError, match="expected duckdb"):
        PlanStore("plans.duckdb")


def test_duckdb_runs_keep_their_outputs_apart_and_older_stores_read_on(tmp_path, monkeypatch):
    # a DuckDB store puts each run's outputs in a table of its own: appending them to one
    # table made every write rewrite all earlier payloads at the checkpoint (issue 19)
    import salesplan.data.store as store_mod

    url = f"duckdb:///{tmp_path}/p.duckdb"
    store = PlanStore(url)
    monkeypatch.setattr(store_mod._DuckDB, "outputs_per_run", False)  # as stores wrote before
    old = store.write_run("targets", "2027Q1", {}, "f0", outputs())
    monkeypatch.undo()
    new = store.write_run("targets", "2027Q2", {}, "f1", {"t": pd.DataFrame({"x": [1.5, 2.5]})})
    own = store_mod._run_outputs_table(new)
    assert own.startswith("plan_outputs_") and own != store_mod._run_outputs_table(old)
    rows = {t: store._db.rows(f"SELECT DISTINCT run_id FROM {t}") for t in ("plan_outputs", own)}
    assert rows == {"plan_outputs": [(old,)], own: [(new,)]}
    again = PlanStore(url)  # both read back, each from where it was written
    assert_tables_equal(again.read_run(old).tables, outputs())
    assert again.read_run(new).tables["t"]["x"].tolist() == [1.5, 2.5]
    assert again.read_run(kind="targets").run_id == new
