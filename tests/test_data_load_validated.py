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


def test_data_health_reuses_the_runs_check_of_the_same_files(tmp_path, monkeypatch):
    """In a run, ``salesplan run`` has just checked the source for the day: notebook 01 shows
    that check's findings and reads its columns, without checking every table again; the
    same report and bundle as checking them itself.  Changed files are checked again."""
    from salesplan.data import source_records, validation
    from salesplan.data.source_records import RECORDS_ENV, recorded
    from salesplan.planning.data_health import HEALTH_COLUMNS
    from salesplan.reports.runner import check_source_data

    monkeypatch.setattr(source_records, "RECENT_SECONDS", 0.0)  # files written just now
    company = tiny_company()
    company["orders"].loc[0, "amount"] = -5.0  # a return: a warning the report must carry
    db = tmp_path / "c.duckdb"
    open_source(f"duckdb:///{db}").write(_bundle(company))
    src = open_source(f"duckdb:///{db}")
    want_report, want = load_validated(src, as_of=AS_OF, columns=HEALTH_COLUMNS)  # no records: checked
    assert want_report.warnings and want_report.ok
    records = tmp_path / ".source_records.json"
    quarter = (pd.Timestamp(AS_OF) + pd.Timedelta(days=1)).to_period("Q")
    assert check_source_data(f"duckdb:///{db}", str(quarter), as_of=AS_OF, records=records)
    assert AS_OF[:10] in recorded(records, src.identity())["reports"]
    monkeypatch.setenv(RECORDS_ENV, str(records))
    checks = []
    original = validation._check_source
    monkeypatch.setattr(validation, "_check_source", lambda *a: checks.append(1) or original(*a))
    report, data = load_validated(src, as_of=AS_OF, columns=HEALTH_COLUMNS)
    assert checks == []  # read, not checked again
    assert report.to_frame().equals(want_report.to_frame())
    assert (report.tables_checked, report.notes) == (want_report.tables_checked, want_report.notes)
    _same_bundle(data, want)
    load_validated(src, as_of=pd.Timestamp(AS_OF) + pd.Timedelta(days=1), columns=HEALTH_COLUMNS)
    assert checks == [1]  # another day: checked
    company["orders"].loc[1, "amount"] = -7.0
    open_source(f"duckdb:///{db}").write(_bundle(company), replace=True)  # the file changed
    report, _ = load_validated(src, as_of=AS_OF, columns=HEALTH_COLUMNS)
    assert checks == [1, 1] and report.warnings


def test_a_report_survives_its_record():
    from salesplan.data.validation import Finding, ValidationReport

    report = ValidationReport([Finding("orders", "amount", "sign", "negative", 3, ("O1", "O2"), "warning"),
                               Finding("orders", "", "missing_table", "no orders")], ("orders",), ("note",))
    import json

    back = ValidationReport.from_record(json.loads(json.dumps(report.to_record())))
    assert back == report
