"""Notebook 01's reading (issue 19): ``load_validated`` gives the report of validating the
whole raw bundle and the bundle ``raw.coerced()`` gives, reading one table at a time."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.data import fingerprint, load_validated, validate
from salesplan.data.schema import TABLE_NAMES
from salesplan.data.sources import SourceError, open_source
from tests.test_data_validate_source import _csv_folder
from tests.test_validation import AS_OF, BROKEN_CASES, tiny_company


def _same_bundle(got, want):
    assert [n for n, _ in got.tables()] == [n for n, _ in want.tables()]
    for name, frame in want.tables():
        pd.testing.assert_frame_equal(getattr(got, name), frame, check_exact=True)
    assert got.stages == want.stages and got.options == want.options
    assert got.unread == want.unread == ()


@pytest.mark.parametrize(
    "tables", [tiny_company()] + [case[1] for case in BROKEN_CASES],
    ids=["valid"] + [case[0] for case in BROKEN_CASES],
)
def test_same_report_and_coerced_bundle_as_the_whole_raw_bundle(tmp_path, tables):
    src = _csv_folder(tmp_path, tables)
    raw = src.load(coerce=False)
    want = validate(raw, as_of=AS_OF)
    report, data = load_validated(src, as_of=AS_OF)
    assert [str(f) for f in report.findings] == [str(f) for f in want.findings]
    assert (report.ok, report.tables_checked, report.notes) == (want.ok, want.tables_checked, want.notes)
    _same_bundle(data, raw.coerced())


def test_duckdb_source_bundle_and_fingerprint(tmp_path):
    company = tiny_company()
    src = open_source(f"duckdb:///{tmp_path}/c.duckdb")
    src.write(_bundle(company))
    report, data = load_validated(src, as_of=AS_OF)
    assert report.ok
    _same_bundle(data, src.load(coerce=False).coerced())
    # the tables are kept as coerced: no second coercion, the same fingerprint
    assert data.coerced().orders is data.orders
    assert src.fingerprint(data) == fingerprint(src.load()) == fingerprint(data)


def _bundle(tables):
    from salesplan.data import SalesData

    return SalesData.from_tables({k: v for k, v in tables.items() if k in TABLE_NAMES})


def test_absent_tables_are_none_with_the_same_notes(tmp_path):
    tables = {k: v for k, v in tiny_company().items() if k in ("orders", "customers")}
    src = _csv_folder(tmp_path, tables)
    report, data = load_validated(src, as_of=AS_OF)
    want = validate(src.load(coerce=False), as_of=AS_OF)
    assert report.notes == want.notes and any("'reps'" in n for n in report.notes)
    assert data.reps is None and data.customers is not None


def test_a_source_without_orders_is_one_line(tmp_path):
    src = _csv_folder(tmp_path, {"customers": tiny_company()["customers"]})
    with pytest.raises(SourceError) as err:
        load_validated(src, as_of=AS_OF)
    assert "required table 'orders' not found" in str(err.value) and "\n" not in str(err.value)


def test_kept_columns_are_those_of_the_whole_bundle_and_the_fingerprint_the_sources(tmp_path):
    from salesplan.data.summary import describe
    from salesplan.planning.data_health import HEALTH_COLUMNS, table_coverage

    company = tiny_company()
    src = open_source(f"duckdb:///{tmp_path}/c.duckdb")
    src.write(_bundle(company))
    whole_report, whole = load_validated(src, as_of=AS_OF)
    report, data = load_validated(src, as_of=AS_OF, columns=HEALTH_COLUMNS)
    # every column is checked all the same; the bundle keeps the named columns only
    assert [str(f) for f in report.findings] == [str(f) for f in whole_report.findings]
    assert list(data.orders.columns) == ["order_date", "customer_id", "product_line", "amount"]
    for name, frame in whole.tables():
        kept = [c for c in frame.columns if name not in HEALTH_COLUMNS or c in HEALTH_COLUMNS[name]]
        pd.testing.assert_frame_equal(getattr(data, name), frame[kept], check_exact=True)
    # what the data-health figures read is there: the same coverage table and facts
    pd.testing.assert_frame_equal(table_coverage(data), table_coverage(whole))
    pd.testing.assert_frame_equal(describe(data), describe(whole))
    assert src.fingerprint(data) == fingerprint(src.load())
