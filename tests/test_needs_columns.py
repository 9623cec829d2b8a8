"""Each notebook loads only the columns its steps read (issue 19 item 2): the projection
is pushed into the source's read, the bundle keeps what cutting at a date and joining
need, and the input fingerprint stays that of the whole source, read one column at a
time where the source can."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.data.needs import (
    CUT_COLUMNS,
    NOTEBOOK_COLUMNS,
    NOTEBOOK_TABLES,
    columns_for,
    load_for,
)
from salesplan.data.schema import SCHEMAS, TABLE_NAMES
from salesplan.data.sources import DuckDBSource, SourceError, open_source
from tests.test_data_scale import _old_fingerprint
from tests.test_sources import hand_data

KINDS = ("duckdb", "csv", "parquet", "sqlite")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The hand bundle in a DuckDB file, CSV and Parquet folders and a SQLite file."""
    root = tmp_path_factory.mktemp("needs")
    urls = {
        "duckdb": f"duckdb:///{root / 'd.duckdb'}",
        "csv": f"{root / 'csv'}?format=csv",
        "parquet": f"{root / 'pq'}?format=parquet",
        "sqlite": f"sqlite:///{root / 'd.sqlite'}",
    }
    out = {}
    for kind, url in urls.items():
        out[kind] = open_source(url)
        out[kind].write(hand_data())
    return out


def test_projections_name_contract_columns_and_keep_what_cuts_need():
    assert set(NOTEBOOK_TABLES) == set(NOTEBOOK_COLUMNS)
    for notebook, tables in NOTEBOOK_COLUMNS.items():
        assert "orders" in tables and set(tables) <= set(TABLE_NAMES), notebook
        for table, cols in tables.items():
            if cols is None:
                continue
            assert set(cols) <= set(SCHEMAS[table].column_names), (notebook, table)
            # SalesData.until / known_at and the joins between tables read these
            assert set(CUT_COLUMNS.get(table, ())) <= set(cols), (notebook, table)
    # validation reads every column of every table
    assert columns_for("01_data_health") == {}
    with pytest.raises(ValueError, match="notebook 'nope' is unknown"):
        columns_for("nope")


@pytest.mark.parametrize("kind", KINDS)
def test_a_notebook_bundle_lacks_unread_columns_and_keeps_the_fingerprint(sources, kind):
    src = sources[kind]
    whole = _old_fingerprint(src.load())
    data, opened = load_for("02_forecast", src._url)
    # the line ids and quantities are read by validation only: not loaded for the forecast
    assert "order_id" not in data.orders and "quantity" not in data.orders
    assert list(data.orders.columns) == ["order_date", "customer_id", "rep_id",
                                         "product_line", "amount"]
    assert data.orders["product_line"].tolist() == ["NA", "设备", "服务", "设备", "耗材"]
    assert data.customers is not None and "name" in data.customers  # read whole
    assert data.invoices is None and "invoices" in data.unread
    assert opened.fingerprint(data) == whole
    # every notebook: the fingerprint of the whole source, whatever it loaded
    for notebook in NOTEBOOK_COLUMNS:
        part, opened = load_for(notebook, src._url)
        assert opened.fingerprint(part) == whole, notebook


def test_only_the_forecast_targets_and_monitor_read_product_lines(sources):
    # the line ids are read by validation only; the product lines by 02, 04 and 06
    for notebook in NOTEBOOK_COLUMNS:
        data, _ = load_for(notebook, sources["duckdb"]._url)
        assert ("order_id" in data.orders) == (notebook == "01_data_health"), notebook
        reads_lines = notebook in ("01_data_health", "02_forecast", "04_quarterly_targets", "06_weekly_review")
        assert ("product_line" in data.orders) == reads_lines, notebook
    data, _ = load_for("03_customer_risk", sources["duckdb"]._url)
    assert list(data.orders.columns) == ["order_date", "customer_id", "rep_id", "amount"]
    data, _ = load_for("07_quarter_review", sources["duckdb"]._url)
    assert data.invoices is not None and "invoice_id" not in data.invoices
    assert {"customer_id", "due_date", "amount", "paid_amount"} <= set(data.invoices)


def test_fingerprint_reads_one_column_at_a_time_from_duckdb(sources, monkeypatch):
    import salesplan.data.sources as sources_module

    # a table of as many rows as BATCH_VALUES or more is read one column at a time
    monkeypatch.setattr(sources_module, "BATCH_VALUES", 1)
    src = open_source(sources["duckdb"]._url)
    data = src.load(["orders"], columns={"orders": ["order_date", "amount"]})
    whole = _old_fingerprint(sources["duckdb"].load())
    reads = []
    real = DuckDBSource._read_table

    def spy(self, name, columns=None):
        reads.append((name, None if columns is None else tuple(columns)))
        return real(self, name, columns)

    monkeypatch.setattr(DuckDBSource, "_read_table", spy)
    assert src.fingerprint(data) == whole
    assert reads and all(cols is not None and len(cols) == 1 for _, cols in reads)
    # the loaded columns are hashed as they are, not read again
    assert ("orders", ("order_date",)) not in reads and ("orders", ("amount",)) not in reads
    assert ("orders", ("order_id",)) in reads
    # by default a small table's columns are read together
    monkeypatch.setattr(sources_module, "BATCH_VALUES", 1_000_000)
    reads.clear()
    assert src.fingerprint(data) == whole
    assert ("orders", ("order_id", "customer_id", "rep_id", "product_line", "quantity")) in reads


def test_a_changed_projected_table_is_not_taken_for_the_loaded_one(sources):
    data, src = load_for("06_weekly_review", sources["duckdb"]._url)
    cut = data.orders[data.orders["order_date"] <= "2026-01-31"].reset_index(drop=True)
    changed = SalesData(**{**{n: getattr(data, n) for n in TABLE_NAMES}, "orders": cut})
    # a cut of some columns is not a table of the source: the source's table is hashed
    assert src.fingerprint(changed) == _old_fingerprint(sources["duckdb"].load())


def test_sql_reads_only_the_asked_and_ordering_columns_in_key_order(sources):
    src = sources["sqlite"]
    whole = src.load(coerce=False).orders
    part = src._read_table("orders", ["amount", "customer_id"])
    assert list(part.columns) == ["amount", "customer_id"]
    pd.testing.assert_frame_equal(part, whole[["amount", "customer_id"]])


def test_until_of_a_bundle_without_the_disqualification_reason():
    d = pd.to_datetime
    leads = pd.DataFrame({
        "lead_id": ["l1", "l2", "l3"], "created_date": d(["2026-01-02", "2026-01-10", "2026-03-01"]),
        "source": ["web", "event", "web"], "rep_id": ["r1", None, "r2"],
        "customer_id": [None, "c1", None], "prospect_name": ["A", None, "B"],
        "budget": ["yes", "no", "unknown"], "authority": ["yes", "yes", "no"],
        "need": ["yes", "no", "yes"], "timing": ["no", "no", "yes"],
        "status": ["converted", "disqualified", "open"],
        "closed_date": d(["2026-01-20", "2026-02-20", None]),
        "converted_opportunity_id": ["p1", None, None],
        "disqualified_reason": [None, "no budget", None],
    })
    full = SalesData(orders=hand_data().orders, leads=leads)
    part = SalesData(orders=hand_data().orders, leads=leads.drop(columns="disqualified_reason"))
    for cut in ("2026-01-31", "2026-02-28"):
        want = full.until(cut).leads.drop(columns="disqualified_reason")
        pd.testing.assert_frame_equal(part.until(cut).leads, want)
    # the lead disqualified after the first cut is open again then
    assert part.until("2026-01-31").leads["status"].tolist() == ["converted", "open"]


def test_a_column_the_source_lacks_is_absent_and_a_read_error_is_one_line(tmp_path):
    data = hand_data()
    url = f"duckdb:///{tmp_path / 'd.duckdb'}"
    src = open_source(url)
    src.write(SalesData(**{**{n: getattr(data, n) for n in TABLE_NAMES},
                           "orders": data.orders.drop(columns="product_line")}))
    part, _ = load_for("02_forecast", url)  # read as when the table is read whole
    assert "product_line" not in part.orders and "amount" in part.orders
    with pytest.raises(SourceError) as err:
        src._read_table("orders", ["product_line"])
    assert "\n" not in str(err.value) and "reading table 'orders' failed" in str(err.value)
