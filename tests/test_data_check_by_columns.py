"""The data check of a long table read in column groups (issue 19: the runner's check at
scale 100 never holds the raw order lines beside their coerced copy): the same findings,
word for word and in the same order, and the same coerced tables and fingerprint."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.data import load_validated, validate, validate_source
from salesplan.data import validation as V
from salesplan.data.sources import open_source
from tests.test_data_validate_source import _csv_folder
from tests.test_validation import AS_OF, BROKEN_CASES, tiny_company


def _by_columns(src, monkeypatch, seen):
    """``src`` read and checked one column at a time (as DuckDB does for a long table)."""
    monkeypatch.setattr(src, "checks_by_columns", True, raising=False)
    monkeypatch.setattr(src, "_column_batches", lambda name, cols: [[c] for c in cols])
    read = src._read_table

    def spy(name, columns=None):
        seen.append((name, None if columns is None else tuple(columns)))
        return read(name, columns)

    monkeypatch.setattr(src, "_read_table", spy)
    return src


@pytest.mark.parametrize(
    "tables", [tiny_company()] + [case[1] for case in BROKEN_CASES],
    ids=["valid"] + [case[0] for case in BROKEN_CASES],
)
def test_column_groups_give_the_findings_of_the_whole_table(tmp_path, monkeypatch, tables):
    src = _csv_folder(tmp_path, tables)
    raw = src.load(coerce=False)
    want = validate(raw, as_of=AS_OF)
    seen: list = []
    _by_columns(src, monkeypatch, seen)
    report, fp = validate_source(src, as_of=AS_OF, fingerprint=True)
    assert [str(f) for f in report.findings] == [str(f) for f in want.findings]
    assert (report.ok, report.tables_checked, report.notes) == (want.ok, want.tables_checked, want.notes)
    # every table was read one column at a time, never whole
    assert seen and all(cols is not None and len(cols) == 1 for _, cols in seen)
    _, data = load_validated(src, as_of=AS_OF)
    good = raw.coerced()
    for name, frame in good.tables():
        pd.testing.assert_frame_equal(getattr(data, name), frame, check_exact=True)
    if want.ok:
        assert fp == src.fingerprint(good)


def test_duckdb_checks_a_long_table_by_columns(tmp_path, monkeypatch):
    from salesplan.data import SalesData
    from salesplan.data import sources as S
    from salesplan.data.schema import TABLE_NAMES

    company = tiny_company()
    src = open_source(f"duckdb:///{tmp_path}/c.duckdb")
    src.write(SalesData.from_tables({k: v for k, v in company.items() if k in TABLE_NAMES}))
    whole = validate(src.load(coerce=False), as_of=AS_OF)
    want_fp = src.fingerprint()
    monkeypatch.setattr(S, "BATCH_VALUES", 1)  # every table "long": one column a read
    calls: list = []
    real = V._check_table_by_columns
    monkeypatch.setattr(V, "_check_table_by_columns",
                        lambda spec, *a: calls.append(spec.name) or real(spec, *a))
    report, fp = validate_source(src, as_of=AS_OF, fingerprint=True)
    assert "orders" in calls
    assert [str(f) for f in report.findings] == [str(f) for f in whole.findings]
    assert fp == want_fp


def test_missing_and_extra_columns_keep_their_findings_and_order(tmp_path, monkeypatch):
    tables = tiny_company()
    tables["orders"] = tables["orders"].drop(columns=["quantity"]).assign(note="x")
    src = _csv_folder(tmp_path, tables)
    raw = src.load(coerce=False)
    want = validate(raw, as_of=AS_OF)
    assert any(f.rule == "missing_column" for f in want.findings)
    _by_columns(src, monkeypatch, [])
    report, _ = validate_source(src, as_of=AS_OF)
    assert [str(f) for f in report.findings] == [str(f) for f in want.findings]
    _, data = load_validated(src, as_of=AS_OF)
    pd.testing.assert_frame_equal(data.orders, raw.coerced().orders, check_exact=True)
