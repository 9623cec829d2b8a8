"""Sources: round trips through every backend, secrets, clear errors."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.data.sources import (
    DuckDBSource,
    FolderSource,
    SourceError,
    SQLSource,
    open_source,
    redact_url,
)


def hand_data() -> SalesData:
    """A small bundle written by hand: Unicode names, nulls, dates, a negative return.

    Rows are in key order, which databases return (they keep no row order)."""
    orders = pd.DataFrame(
        {
            "order_id": ["007", "o1", "o2", "o3", "o4"],
            "order_date": pd.to_datetime(
                ["2026-03-31", "2026-01-05", "2026-01-20", "2026-02-03", "2026-02-10"]
            ),
            "customer_id": ["c2", "c1", "c2", "c1", "c3"],
            "rep_id": [None, "r1", None, "r2", "r1"],
            "product_line": ["NA", "设备", "服务", "设备", "耗材"],
            "quantity": [2.0, 3.0, 1.0, -1.0, 12.5],
            "amount": [1e-7, 1234.56, 0.1 + 0.2, -411.52, 98765.4321],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "name": ["上海某某贸易有限公司", 'Müller GmbH, "Köln"', "北京\n新客户"],
            "region": ["华东", "华北", "华北"],
            "industry": ["制造业", None, "retail"],
            "segment": [None, "SMB", "enterprise"],
            "credit_limit": [500000.0, np.nan, 0.0],
            "payment_terms_days": pd.array([30, None, 60], dtype="Int64"),
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["r1", "r2"],
            "name": ["张伟", "李娜"],
            "region": ["华东", "华北"],
            "level": ["senior", "junior"],
            "hire_date": pd.to_datetime(["2020-03-01", "2025-07-15"]),
            "exit_date": pd.to_datetime([None, "2026-06-30"]),
        }
    )
    regions = pd.DataFrame(
        {
            "region": ["华东", "华北"],
            "maturity": ["mature", "emerging"],
            "market_potential": [1.5e8, 3.25e7],
        }
    )
    invoices = pd.DataFrame(
        {
            "invoice_id": ["i1", "i2"],
            "customer_id": ["c1", "c2"],
            "issue_date": pd.to_datetime(["2026-01-05", "2026-01-20"]),
            "due_date": pd.to_datetime(["2026-02-04", "2026-02-19"]),
            "amount": [1234.56, 0.30000000000000004],
            "paid_date": pd.to_datetime(["2026-02-01", None]),
            "paid_amount": [1234.56, np.nan],
        }
    )
    return SalesData(
        orders=orders, customers=customers, reps=reps, regions=regions, invoices=invoices
    ).coerced()


def assert_same(loaded: SalesData, expected: SalesData, *, key_order: bool = False) -> None:
    """Frames identical; ``key_order``: expect rows sorted by the table key (databases)."""
    expected = expected.coerced()
    assert [n for n, _ in loaded.tables()] == [n for n, _ in expected.tables()]
    specs = expected.specs()
    for name, frame in expected.tables():
        if key_order:
            cols = list(specs[name].key or specs[name].column_names)
            frame = frame.sort_values(cols, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(loaded, name), frame, check_exact=True, obj=name)



@pytest.fixture
def pg_schema(pg_url):
    """A fresh PostgreSQL schema, dropped afterwards."""
    url = pg_url
    schema = f"t_{uuid.uuid4().hex[:10]}"
    yield url, schema
    import sqlalchemy as sa

    src = open_source(url)
    with src.engine.begin() as con:
        con.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    src.dispose()


def _targets(tmp_path):
    return {
        "duckdb": f"duckdb:///{tmp_path}/demo.duckdb",
        "csv": (str(tmp_path / "csv"), "csv"),
        "parquet": (f"file://{tmp_path}/pq", "parquet"),
        "sqlite": f"sqlite:///{tmp_path}/demo.sqlite",
    }


def _open(target):
    if isinstance(target, tuple):
        return open_source(target[0], format=target[1])
    return open_source(target)


@pytest.mark.parametrize("backend", ["duckdb", "csv", "parquet", "sqlite"])
def test_round_trip_hand_data(tmp_path, backend):
    data = hand_data()
    target = _targets(tmp_path)[backend]
    _open(target).write(data)
    # a fresh source object, auto-detecting the format
    src = open_source(target[0] if isinstance(target, tuple) else target)
    loaded = src.load()
    assert_same(loaded, data)
    assert loaded.opportunities is None and loaded.marketing_spend is None
    assert src.tables()[:5] == ["orders", "customers", "reps", "regions", "invoices"]


def test_round_trip_duckdb_memory():
    data = hand_data()
    src = open_source("duckdb:///:memory:")
    src.write(data)
    assert_same(src.load(), data)
    assert src.sql("SELECT count(*) AS n FROM orders")["n"].iloc[0] == 5


@pytest.mark.postgres
def test_round_trip_postgres(pg_schema):
    url, schema = pg_schema
    data = hand_data()
    src = open_source(url, schema=schema)
    src.write(data)
    assert_same(open_source(url, schema=schema).load(), data)
    total = src.sql(f'SELECT sum(amount) AS s FROM "{schema}".orders')["s"].iloc[0]
    assert total == pytest.approx(data.orders["amount"].sum())
    src.dispose()


def _synthetic():
    synthetic = pytest.importorskip("salesplan.demo.generator")
    if not hasattr(synthetic, "generate"):
        pytest.skip("salesplan.demo.generator.generate is not available yet")
    return synthetic.generate(seed=7, scale=0.2).data


@pytest.mark.parametrize("backend", ["duckdb", "csv", "parquet", "sqlite"])
def test_round_trip_synthetic(tmp_path, backend):
    data = _synthetic()
    target = _targets(tmp_path)[backend]
    _open(target).write(data)
    assert_same(_open(target).load(), data, key_order=backend == "sqlite")


@pytest.mark.postgres
def test_round_trip_synthetic_postgres(pg_schema):
    url, schema = pg_schema
    data = _synthetic()
    src = open_source(url, schema=schema)
    src.write(data)
    assert_same(src.load(), data, key_order=True)
    src.dispose()


@pytest.mark.parametrize("backend", ["duckdb", "csv", "parquet", "sqlite"])
def test_row_order(tmp_path, backend):
    """Files and DuckDB keep the written row order; SQL databases sort by the key."""
    data = hand_data()
    shuffled = SalesData(orders=data.orders.iloc[[3, 0, 4, 1, 2]].reset_index(drop=True))
    target = _targets(tmp_path)[backend]
    _open(target).write(shuffled)
    got = _open(target).load().orders
    expected = data.orders if backend == "sqlite" else shuffled.orders
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_open_source_kinds(tmp_path):
    assert isinstance(open_source("duckdb:///:memory:"), DuckDBSource)
    assert isinstance(open_source(str(tmp_path)), FolderSource)
    assert isinstance(open_source(f"file://{tmp_path}"), FolderSource)
    assert isinstance(open_source(tmp_path), FolderSource)
    assert isinstance(open_source("sqlite:///x.sqlite"), SQLSource)
    assert open_source("duckdb:////abs/x.duckdb").path == "/abs/x.duckdb"
    assert open_source("duckdb:///rel/x.duckdb").path == "rel/x.duckdb"


def test_load_subset_and_write_refuses_overwrite(tmp_path):
    data = hand_data()
    src = open_source(f"duckdb:///{tmp_path}/d.duckdb")
    src.write(data)
    sub = src.load(tables=["customers"])
    assert sub.customers is not None and sub.reps is None and sub.orders is not None
    with pytest.raises(SourceError, match="already exist"):
        src.write(data)
    with pytest.raises(SourceError, match="not found"):
        src.load(tables=["opportunities"])
    # replace: the source afterwards holds exactly the new bundle
    small = SalesData(orders=data.orders.iloc[:2])
    src.write(small, replace=True)
    assert src.tables() == ["orders"]
    assert_same(src.load(), small)


def test_folder_replace_keeps_other_files_and_is_atomic(tmp_path):
    folder = tmp_path / "exp"
    src = open_source(folder, format="csv")
    src.write(hand_data())
    (folder / "README.txt").write_text("keep me", encoding="utf-8")
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(RuntimeError, match="disk full"):
        _fail_midway(src)  # the 2nd file fails: the folder keeps its old content
    assert sorted(p.name for p in folder.iterdir()) == before
    assert_same(open_source(folder).load(), hand_data())
    src.write(SalesData(orders=hand_data().orders), replace=True)
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "orders.csv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _fail_midway(src):
    original = src._write_csv
    calls = []

    def flaky(name, frame, out):
        calls.append(name)
        if len(calls) == 2:
            raise RuntimeError("disk full (simulated)")
        original(name, frame, out)

    src._write_csv = flaky
    try:
        src.write(hand_data(), replace=True)
    finally:
        del src._write_csv


def test_duckdb_write_failure_leaves_nothing(tmp_path):
    src = open_source(f"duckdb:///{tmp_path}/d.duckdb")
    src.write(SalesData(orders=hand_data().orders.iloc[:1]))
    data = hand_data()
    with pytest.raises(SourceError, match="already exist"):
        src.write(data)  # orders clashes, checked inside the transaction
    assert src.tables() == ["orders"]
    assert len(src.load().orders) == 1


# ----------------------------------------------------------------------- secrets


def test_redact_url():
    assert (
        redact_url("postgresql+psycopg://planner:s3cr@t@db:5432/erp")
        == "postgresql+psycopg://planner:***@db:5432/erp"
    )
    assert redact_url("postgresql://planner@db/erp") == "postgresql://planner@db/erp"
    assert (
        redact_url("postgresql://u@h/db?password=abc&x=1") == "postgresql://u@h/db?password=***&x=1"
    )
    assert redact_url("duckdb:///a.duckdb") == "duckdb:///a.duckdb"


def test_password_never_shown(monkeypatch):
    secret = "Top$ecret-4711"
    monkeypatch.setenv("SALESPLAN_DB_PASSWORD", secret)
    url = "postgresql+psycopg://planner:${SALESPLAN_DB_PASSWORD}@127.0.0.1:1/erp"
    src = open_source(url)
    assert secret not in repr(src) and secret not in str(src)
    assert "***" in repr(src)
    assert secret not in repr(src.engine)
    with pytest.raises(SourceError) as err:
        src.load()
    assert secret not in str(err.value) and "***" in str(err.value)
    # a literal password is masked too
    src2 = open_source(f"postgresql+psycopg://planner:{secret}@127.0.0.1:1/erp")
    assert secret not in repr(src2)
    with pytest.raises(SourceError) as err:
        src2.tables()
    assert secret not in str(err.value)


def test_missing_env_variable_is_named(monkeypatch):
    monkeypatch.delenv("NO_SUCH_PW_VAR", raising=False)
    with pytest.raises(SourceError, match="NO_SUCH_PW_VAR"):
        open_source("postgresql+psycopg://u:${NO_SUCH_PW_VAR}@h/db")


@pytest.mark.postgres
def test_postgres_password_from_env(monkeypatch, pg_schema):
    """The URL of SALESPLAN_TEST_PG_URL works with its password moved to an env var."""
    from sqlalchemy.engine import make_url

    url, schema = pg_schema
    u = make_url(url)
    password = u.password or os.environ.get("PGPASSWORD")
    if not password:
        pytest.skip("no password in the URL or PGPASSWORD")
    monkeypatch.setenv("SALESPLAN_DB_PASSWORD", password)
    templ = u.set(password="PLACEHOLDER").render_as_string(hide_password=False)
    templ = templ.replace("PLACEHOLDER", "${SALESPLAN_DB_PASSWORD}")
    src = open_source(templ, schema=schema)
    src.write(SalesData(orders=hand_data().orders))
    assert password not in repr(src)
    assert len(src.load().orders) == 5
    src.dispose()


# ----------------------------------------------------------------------- errors


def test_unknown_scheme():
    with pytest.raises(SourceError, match="scheme 'ftp'"):
        open_source("ftp://example.org/data")
    with pytest.raises(SourceError, match="unknown URL scheme 'mailto'"):
        open_source("mailto:sales@example.org")


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SourceError, match="does not exist") as err:
        open_source(missing).load()
    assert str(missing) in str(err.value)


def test_missing_duckdb_file(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        open_source(f"duckdb:///{tmp_path}/nope.duckdb").load()
    assert not (tmp_path / "nope.duckdb").exists()


def test_folder_without_orders(tmp_path):
    hand_data().customers.to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(SourceError) as err:
        open_source(tmp_path).load()
    msg = str(err.value)
    assert "orders.csv" in msg and "orders.parquet" in msg and str(tmp_path) in msg
    assert "customers" in msg


def test_database_without_orders(tmp_path):
    src = open_source(f"sqlite:///{tmp_path}/x.sqlite")
    with pytest.raises(SourceError, match="'orders' not found"):
        src.load()


def test_unreadable_csv_names_file(tmp_path):
    hand_data().orders.to_csv(tmp_path / "orders.csv", index=False)
    (tmp_path / "customers.csv").write_bytes("customer_id,name\nc1,上海贸易\n".encode("gb18030"))
    with pytest.raises(SourceError) as err:
        open_source(tmp_path).load()
    assert "customers.csv" in str(err.value) and "UTF-8" in str(err.value)
    # the right encoding reads it
    got = open_source(tmp_path, encoding="gb18030").load(tables=["customers"])
    assert got.customers["name"].iloc[0] == "上海贸易"


def test_malformed_csv_names_file(tmp_path):
    (tmp_path / "orders.csv").write_text('order_id,amount\n"o1,1\n', encoding="utf-8")
    with pytest.raises(SourceError, match="orders.csv"):
        open_source(tmp_path).load()


def test_csv_text_is_kept_verbatim(tmp_path):
    """Leading zeros, 'NA' and BOM-prefixed headers survive; only empty fields are null."""
    text = (
        "\ufefforder_id,order_date,customer_id,rep_id,product_line,quantity,amount\n"
        "007,2026-01-02,0042,,NA,1,-5.5\n"
    )
    (tmp_path / "orders.csv").write_text(text, encoding="utf-8")
    o = open_source(tmp_path).load().orders
    assert o["order_id"].iloc[0] == "007" and o["customer_id"].iloc[0] == "0042"
    assert o["product_line"].iloc[0] == "NA" and pd.isna(o["rep_id"].iloc[0])
    assert o["amount"].iloc[0] == -5.5
    assert o["order_date"].iloc[0] == pd.Timestamp("2026-01-02")


def test_ambiguous_folder(tmp_path):
    hand_data().orders.to_csv(tmp_path / "orders.csv", index=False)
    hand_data().orders.to_parquet(tmp_path / "orders.parquet", index=False)
    with pytest.raises(SourceError, match="several files"):
        open_source(tmp_path).load()
    assert len(open_source(tmp_path, format="parquet").load().orders) == 5


def test_folder_sql(tmp_path):
    open_source(tmp_path / "f", format="parquet").write(hand_data())
    got = open_source(tmp_path / "f").sql(
        "SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region"
    )
    assert dict(zip(got["region"], got["n"])) == {"华东": 1, "华北": 2}
