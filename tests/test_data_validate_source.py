"""Validating a source one table at a time (issue 19 item 3): the same report as
validating the whole raw bundle, and the source's fingerprint from the checked tables."""

from __future__ import annotations

import pytest

from salesplan.data import validate, validate_source
from salesplan.data.sources import SourceError, open_source
from tests.test_validation import AS_OF, BROKEN_CASES, tiny_company


def _csv_folder(tmp_path, tables):
    """The tables as written (raw values, broken ones included) in a CSV folder."""
    folder = tmp_path / "export"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return open_source(f"{folder}?format=csv")


def _lines(report):
    return [str(f) for f in report.findings]


@pytest.mark.parametrize(
    "tables", [tiny_company()] + [case[1] for case in BROKEN_CASES],
    ids=["valid"] + [case[0] for case in BROKEN_CASES],
)
def test_table_by_table_gives_the_whole_bundle_report(tmp_path, tables):
    src = _csv_folder(tmp_path, tables)
    want = validate(src.load(coerce=False), as_of=AS_OF)
    report, fp = validate_source(src, as_of=AS_OF, fingerprint=True)
    assert _lines(report) == _lines(want)
    assert report.ok == want.ok and report.tables_checked == want.tables_checked
    assert report.notes == want.notes
    assert fp == src.fingerprint()


def test_absent_tables_give_the_same_notes_and_no_fingerprint_unasked(tmp_path):
    tables = {k: v for k, v in tiny_company().items() if k in ("orders", "customers")}
    src = _csv_folder(tmp_path, tables)
    report, fp = validate_source(src, as_of=AS_OF)
    want = validate(src.load(coerce=False), as_of=AS_OF)
    assert fp is None and report.notes == want.notes and any("'reps'" in n for n in report.notes)
    assert _lines(report) == _lines(want)


def test_a_source_without_orders_is_one_line(tmp_path):
    src = _csv_folder(tmp_path, {"customers": tiny_company()["customers"]})
    with pytest.raises(SourceError) as err:
        validate_source(src, as_of=AS_OF)
    assert "required table 'orders' not found" in str(err.value) and "\n" not in str(err.value)
