"""The data contract: each broken input gives a finding that names table, column, rule
and the first offending ids; every failure is reported together."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesplan.data import DataValidationError, SalesData, validate
from salesplan.data.schema import SCHEMAS, coerce_table

AS_OF = "2026-06-30"


def tiny_company() -> dict[str, pd.DataFrame]:
    """A small, fully valid bundle with every table, Chinese names included."""
    regions = pd.DataFrame(
        {"region": ["华东", "North"], "maturity": ["mature", "emerging"], "market_potential": [5e6, 2e6]}
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "name": ["王伟", "Ann Lee"],
            "region": ["华东", "North"],
            "level": ["senior", "junior"],
            "hire_date": ["2020-01-06", "2025-03-01"],
            "exit_date": [None, "2026-09-30"],  # a planned exit after as_of is allowed
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "name": ["上海某某贸易有限公司", "Acme Ltd", "Beta GmbH"],
            "region": ["华东", "North", "North"],
            "industry": ["retail", None, "machinery"],
            "segment": ["enterprise", "smb", None],
            "credit_limit": [100000.0, 20000.0, None],
            "payment_terms_days": [30, 45, None],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4"],
            "order_date": ["2026-01-15", "2026-02-03", "2026-03-20", "2026-04-02"],
            "customer_id": ["C1", "C2", "C3", "C1"],
            "rep_id": ["R1", "R2", None, "R1"],
            "product_line": ["pumps", "valves", "pumps", "pumps"],
            "quantity": [10, 2, 1, -1],
            "amount": [5000.0, 800.0, 450.0, -500.0],
        }
    )
    invoices = pd.DataFrame(
        {
            "invoice_id": ["I1", "I2"],
            "customer_id": ["C1", "C2"],
            "issue_date": ["2026-01-15", "2026-02-03"],
            "due_date": ["2026-02-14", "2026-03-20"],
            "amount": [5000.0, 800.0],
            "paid_date": ["2026-02-10", None],
            "paid_amount": [5000.0, None],
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["P1", "P2"],
            "customer_id": ["C1", "C3"],
            "rep_id": ["R1", "R2"],
            "created_date": ["2026-01-02", "2026-03-01"],
            "amount": [12000.0, 3000.0],
            "stage": ["A", "D"],
            "outcome": ["won", "open"],
            "closed_date": ["2026-03-30", None],
        }
    )
    stage_history = pd.DataFrame(
        {
            "opportunity_id": ["P1", "P1", "P1", "P1", "P1", "P2", "P2"],
            "stage": ["E", "D", "C", "B", "A", "E", "D"],
            "entered_date": [
                "2026-01-02", "2026-01-20", "2026-02-05", "2026-03-01", "2026-03-15",
                "2026-03-01", "2026-04-01",
            ],
        }
    )
    activities = pd.DataFrame(
        {
            "date": ["2026-01-10", "2026-01-11"],
            "rep_id": ["R1", "R2"],
            "customer_id": ["C1", None],
            "kind": ["visit", "call"],
        }
    )
    marketing_spend = pd.DataFrame(
        {"region": ["华东", "North"], "month": ["2026-01-01", "2026-01-01"], "amount": [1000.0, 500.0]}
    )
    return {
        "orders": orders,
        "customers": customers,
        "reps": reps,
        "regions": regions,
        "invoices": invoices,
        "opportunities": opportunities,
        "stage_history": stage_history,
        "activities": activities,
        "marketing_spend": marketing_spend,
    }


def check(tables: dict[str, pd.DataFrame], **kw):
    return validate(SalesData.from_tables(tables, **kw), as_of=AS_OF)


def test_tiny_company_is_valid():
    report = check(tiny_company())
    assert report.ok, report.summary()
    assert report.findings == []
    assert "passed" in report.summary()


def test_coercion_gives_contract_dtypes():
    frame = coerce_table("orders", tiny_company()["orders"])
    assert list(frame.columns) == SCHEMAS["orders"].column_names
    assert str(frame["order_date"].dtype) == "datetime64[ns]"
    assert frame["amount"].dtype == "float64"
    assert frame["rep_id"].isna().tolist() == [False, False, True, False]
    assert frame["order_id"].tolist() == ["O1", "O2", "O3", "O4"]


def _mutate(table: str, column: str, row: int, value):
    tables = tiny_company()
    frame = tables[table].copy()
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    tables[table] = frame
    return tables


def _append_copy(table: str, row: int):
    tables = tiny_company()
    tables[table] = pd.concat([tables[table], tables[table].iloc[[row]]], ignore_index=True)
    return tables


# (description, tables, table, column, rule, text that must appear in the finding)
BROKEN_CASES = [
    ("duplicate order id", _mutate("orders", "order_id", 1, "O1"), "orders", "order_id", "unique", "order_id=O1"),
    ("unreadable date", _mutate("orders", "order_date", 2, "15/13/2026"), "orders", "order_date", "type", "order_id=O3"),
    ("order in the future", _mutate("orders", "order_date", 0, "2027-01-01"), "orders", "order_date", "after_as_of", "2026-06-30"),
    ("amount not a number", _mutate("orders", "amount", 1, "eight hundred"), "orders", "amount", "type", "eight hundred"),
    ("empty customer id", _mutate("orders", "customer_id", 0, None), "orders", "customer_id", "not_null", "order_id=O1"),
    ("blank customer id", _mutate("orders", "customer_id", 0, "  "), "orders", "customer_id", "not_null", "order_id=O1"),
    ("unknown customer", _mutate("orders", "customer_id", 1, "C99"), "orders", "customer_id", "foreign_key", "C99"),
    ("unknown rep", _mutate("orders", "rep_id", 0, "R9"), "orders", "rep_id", "foreign_key", "R9"),
    ("customer in unknown region", _mutate("customers", "region", 1, "华南"), "customers", "region", "foreign_key", "华南"),
    ("negative credit limit", _mutate("customers", "credit_limit", 0, -1.0), "customers", "credit_limit", "range", "customer_id=C1"),
    ("payment terms not whole", _mutate("customers", "payment_terms_days", 1, 30.5), "customers", "payment_terms_days", "type", "whole number"),
    ("payment terms over a year", _mutate("customers", "payment_terms_days", 0, 400), "customers", "payment_terms_days", "range", "365"),
    ("duplicate customer", _append_copy("customers", 1), "customers", "customer_id", "unique", "customer_id=C2"),
    ("unknown rep level", _mutate("reps", "level", 0, "director"), "reps", "level", "allowed", "director"),
    ("exit before hire", _mutate("reps", "exit_date", 0, "2019-01-01"), "reps", "exit_date", "date_order", "hire_date"),
    ("unknown maturity", _mutate("regions", "maturity", 1, "frontier"), "regions", "maturity", "allowed", "frontier"),
    ("negative market potential", _mutate("regions", "market_potential", 0, -10.0), "regions", "market_potential", "range", "region=华东"),
    ("due before issue", _mutate("invoices", "due_date", 0, "2026-01-01"), "invoices", "due_date", "date_order", "invoice_id=I1"),
    ("paid before issue", _mutate("invoices", "paid_date", 0, "2025-12-31"), "invoices", "paid_date", "date_order", "issue_date"),
    ("negative invoice", _mutate("invoices", "amount", 1, -800.0), "invoices", "amount", "range", "invoice_id=I2"),
    ("closed before created", _mutate("opportunities", "closed_date", 0, "2025-12-01"), "opportunities", "closed_date", "date_order", "opportunity_id=P1"),
    ("unknown stage", _mutate("opportunities", "stage", 1, "Z"), "opportunities", "stage", "allowed", "'Z'"),
    ("unknown outcome", _mutate("opportunities", "outcome", 1, "maybe"), "opportunities", "outcome", "allowed", "maybe"),
    ("stage history of unknown opportunity", _mutate("stage_history", "opportunity_id", 6, "P7"), "stage_history", "opportunity_id", "foreign_key", "P7"),
    ("stage entered twice", _mutate("stage_history", "stage", 1, "E"), "stage_history", "opportunity_id+stage", "unique", "opportunity_id=P1 stage=E"),
    ("unknown activity kind", _mutate("activities", "kind", 0, "lunch"), "activities", "kind", "allowed", "row 1"),
    ("activity after as_of", _mutate("activities", "date", 1, "2026-07-01"), "activities", "date", "after_as_of", "row 2"),
    ("negative marketing spend", _mutate("marketing_spend", "amount", 0, -1.0), "marketing_spend", "amount", "range", "region=华东"),
]


@pytest.mark.parametrize(
    "tables,table,column,rule,text",
    [case[1:] for case in BROKEN_CASES],
    ids=[case[0] for case in BROKEN_CASES],
)
def test_broken_input_is_named(tables, table, column, rule, text):
    report = check(tables)
    assert not report.ok
    matches = [f for f in report.errors if (f.table, f.column, f.rule) == (table, column, rule)]
    assert matches, report.summary()
    line = str(matches[0])
    assert text in line, line
    assert table in line and rule in line
    # nothing else is wrong with the tiny company, so exactly this rule fires
    assert {(f.table, f.column, f.rule) for f in report.errors} == {(table, column, rule)}


def test_missing_column_lists_what_the_table_has():
    tables = tiny_company()
    tables["invoices"] = tables["invoices"].drop(columns=["due_date"])
    report = check(tables)
    (finding,) = [f for f in report.errors if f.rule == "missing_column"]
    assert finding.table == "invoices" and finding.column == "due_date"
    assert "paid_date" in finding.message  # says what the table does have


def test_orders_are_required():
    data = SalesData(orders=None, customers=tiny_company()["customers"])  # type: ignore[arg-type]
    report = validate(data)
    assert [f.rule for f in report.errors] == ["missing_table"]
    assert "orders" in report.summary()
    with pytest.raises(ValueError, match="'orders' is required"):
        SalesData.from_tables({"customers": tiny_company()["customers"]})


def test_unknown_table_name_is_rejected():
    with pytest.raises(ValueError, match="unknown table"):
        SalesData.from_tables({**tiny_company(), "order_lines": pd.DataFrame()})


def test_all_failures_are_reported_together():
    tables = _mutate("orders", "order_id", 1, "O1")
    tables["reps"].loc[0, "level"] = "boss"
    tables["invoices"].loc[0, "due_date"] = "2025-01-01"
    report = check(tables)
    assert {f.rule for f in report.errors} == {"unique", "allowed", "date_order"}
    with pytest.raises(DataValidationError) as err:
        report.raise_if_errors()
    text = str(err.value)
    assert "3 error(s)" in text and "boss" in text and "invoice_id=I1" in text
    frame = report.to_frame()
    assert len(frame) == 3 and set(frame["table"]) == {"orders", "reps", "invoices"}


def test_first_offending_ids_are_capped_and_counted():
    tables = tiny_company()
    orders = pd.concat([tables["orders"]] * 3, ignore_index=True)  # every id three times
    tables["orders"] = orders
    report = check(tables)
    (finding,) = report.errors
    assert finding.n_rows == 12 and len(finding.examples) == 5
    assert str(finding).endswith(", ...")


def test_return_with_mismatched_sign_is_a_warning_only():
    tables = _mutate("orders", "amount", 3, 500.0)  # quantity -1, amount +500
    report = check(tables)
    assert report.ok
    (warning,) = report.warnings
    assert warning.rule == "sign" and "order_id=O4" in str(warning)


def test_optional_tables_switch_features_off_with_a_note():
    report = validate(SalesData(orders=tiny_company()["orders"]))
    assert report.ok
    assert any("invoices" in n and "credit scoring" in n for n in report.notes)
    assert len(report.notes) == 9  # every optional table, leads included


def test_custom_stages_are_allowed():
    tables = tiny_company()
    tables["opportunities"]["stage"] = ["won_stage", "lead"]
    tables["stage_history"]["stage"] = ["lead", "qualified", "proposal", "negotiation", "won_stage", "lead", "qualified"]
    stages = ("lead", "qualified", "proposal", "negotiation", "won_stage")
    assert check(tables, stages=stages).ok
    assert not check(tables).ok


def test_until_forgets_what_was_learnt_later():
    data = SalesData.from_tables(tiny_company())
    before = data.until("2026-02-05")
    assert before.orders["order_id"].tolist() == ["O1", "O2"]
    # I2 was issued 3 Feb and is not paid; I1 was paid on 10 Feb: unpaid on 5 Feb
    assert before.invoices["invoice_id"].tolist() == ["I1", "I2"]
    assert before.invoices["paid_date"].isna().all() and before.invoices["paid_amount"].isna().all()
    # P1 was won on 30 Mar: open on 5 Feb, at stage C (entered that day); P2 not created yet
    (p1,) = before.opportunities.itertuples()
    assert (p1.opportunity_id, p1.outcome, p1.stage) == ("P1", "open", "C")
    assert pd.isna(p1.closed_date)
    assert before.stage_history["stage"].tolist() == ["E", "D", "C"]
    assert before.activities["date"].max() <= pd.Timestamp("2026-02-05")
    assert validate(before, as_of="2026-02-05").ok
    # nothing changes when the cut is after every event
    after = data.until("2026-12-31")
    for name, frame in data.coerced().tables():
        pd.testing.assert_frame_equal(getattr(after, name), frame)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["", " ", "\t", "A1", "华东"]),
                          st.integers(-2, 2), st.floats(allow_nan=True, allow_infinity=False),
                          st.booleans()), max_size=40))
def test_map_distinct_equals_elementwise_map(values):
    """The factorised text coercion gives exactly the element-wise result, whatever the mix."""
    from salesplan.data.schema import _to_text, map_distinct

    s = pd.Series(values, dtype=object)
    expected = [_to_text(None if v is None or (isinstance(v, float) and v != v) else v)
                for v in values]
    got = map_distinct(s.where(s.notna(), None), _to_text)
    assert list(got) == expected
    texts = pd.Series([v for v in values if isinstance(v, str)] + [None], dtype=object)
    assert list(map_distinct(texts, _to_text)) == [_to_text(v) for v in texts]


def _as_arrow_text(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables as DuckDB and Parquet give them: every all-text column Arrow-backed."""
    from salesplan.data.schema import TEXT_DTYPE

    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for col in frame.columns:
            present = frame[col].dropna()
            if len(present) and all(isinstance(v, str) for v in present):
                frame[col] = frame[col].astype(TEXT_DTYPE)
        out[name] = frame
    return out


@pytest.mark.parametrize(
    "tables,table,column,rule,text",
    [case[1:] for case in BROKEN_CASES],
    ids=[case[0] for case in BROKEN_CASES],
)
def test_broken_arrow_text_input_is_named_alike(tables, table, column, rule, text):
    """Arrow text columns (blank test, key and foreign-key look-ups done in pyarrow) give
    the same findings, word for word, as the same values in ``object`` columns."""
    arrow = _as_arrow_text(tables)
    assert any(str(f[c].dtype) == "str" for f in arrow.values() for c in f.columns)
    expected = check(tables).to_frame()
    got = check(arrow).to_frame()
    pd.testing.assert_frame_equal(got, expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=3),
                          st.sampled_from(["", " ", "\t", "\u3000", "\x1c", "\x85", "\u200b", "A1", "华东"])),
                max_size=40),
       st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "A1", "华东", "0"]), st.text(max_size=2)),
                max_size=10))
def test_arrow_text_blanks_and_lookups_equal_python(values, reference):
    """Blank test and ``isin`` of Arrow text equal Python's ``str.strip`` and pandas' isin."""
    from salesplan.data.schema import TEXT_DTYPE
    from salesplan.data.validation import _is_blank, _isin

    s = pd.Series(values, dtype=TEXT_DTYPE)
    ref = pd.Series(reference, dtype=TEXT_DTYPE)
    blank = [v is None or not v.strip() for v in values]
    assert _is_blank(s).tolist() == blank
    wanted = set(v for v in reference if v is not None)
    assert _isin(s, ref).tolist() == [v is not None and v in wanted for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "A1", "A10", "华东", "a1"]), st.text(max_size=2)),
                max_size=40))
def test_arrow_text_duplicated_keys_equal_pandas(values):
    """Duplicated one-column Arrow keys (sorted in pyarrow) are pandas' duplicated rows."""
    from salesplan.data.schema import TEXT_DTYPE
    from salesplan.data.validation import _duplicated_keys

    frame = pd.DataFrame({"k": pd.Series(values, dtype=TEXT_DTYPE)})
    seen = pd.Series(values, dtype=object)
    expected = [v is not None and (seen == v).sum() > 1 for v in values]
    assert _duplicated_keys(frame, ["k"]).tolist() == expected


def test_blank_text_is_python_strip_for_every_code_point():
    """``blank_text`` (Arrow's ``utf8_is_space``) empties what ``str.strip()`` empties: every
    Unicode code point alone, doubled, beside a letter, the empty text and null."""
    import pyarrow as pa

    from salesplan.data.schema import blank_text

    chars = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF]
    values = chars + [c * 2 for c in chars[:0x3100]] + [c + "a" for c in chars[:0x3100]] + ["", None]
    got = blank_text(pa.array(values, type=pa.string())).to_pylist()
    assert got == [None if v is None else not v.strip() for v in values]
