"""Real exports in, no silent wrong plans: broken inputs, each with its one-line message.

Every case builds a real input (CSV/Parquet files or a DuckDB file in ``tmp_path``,
frames for the model APIs), runs the public entry point and checks the one line it
reports: the rule, the table/column and the words a planner needs.  Expected texts are
written by hand.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.data import fingerprint, validate
from salesplan.data.intake import ReadOptions
from salesplan.data.sources import SourceError, open_source

N = 60


def base_orders(n: int = N) -> pd.DataFrame:
    """``n`` weekly ISO-dated order lines of 5 customers (the valid starting point)."""
    days = pd.date_range("2025-01-03", periods=n, freq="7D")
    return pd.DataFrame(
        {
            "order_id": [f"O{i + 1}" for i in range(n)],
            "order_date": days.strftime("%Y-%m-%d"),
            "customer_id": [f"C{i % 5 + 1}" for i in range(n)],
            "rep_id": ["R1" if i % 3 else "" for i in range(n)],
            "product_line": ["A" if i % 2 else "B" for i in range(n)],
            "quantity": [1.0 + i % 4 for i in range(n)],
            "amount": [100.0 + 3 * i for i in range(n)],
        }
    )


def with_values(column: str, values: dict, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Orders with ``{row: raw text}`` written into ``column`` (as text)."""
    frame = base_orders() if frame is None else frame
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    for row, value in values.items():
        frame.loc[row, column] = value
    return frame


def dates(fmt: str, small_days: bool = False) -> pd.DataFrame:
    """Base orders with dates written in ``fmt``; ``small_days``: only days 1-12."""
    frame = base_orders()
    day = pd.to_datetime(frame["order_date"])
    if small_days:
        frame, day = frame[day.dt.day <= 12].reset_index(drop=True), day[day.dt.day <= 12]
    frame["order_date"] = day.dt.strftime(fmt).to_numpy()
    return frame


def write_folder(folder, files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, pd.DataFrame):
            if name.endswith(".parquet"):
                content.to_parquet(path, index=False)
            else:
                content.to_csv(path, index=False)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def report_lines(tmp_path, files: dict, query: str = "") -> list[str]:
    """Findings of ``salesplan.data.validate`` on the raw folder, or the source error."""
    folder = tmp_path / "export"
    write_folder(folder, files)
    try:
        raw = open_source(f"{folder}{query}").load(coerce=False)
    except SourceError as e:
        return [f"(source) {e}"]
    return [str(f) for f in validate(raw, as_of="2026-12-31").findings]


def csv(frame: pd.DataFrame, **kw) -> str:
    return frame.to_csv(index=False, **kw)


# (id, files, URL query, expected rule, expected text in that one line)
CASES = [
    # --- dates
    ("date day-first ambiguous", {"orders.csv": dates("%d/%m/%Y", small_days=True)}, "",
     "date_format", "ambiguous dates: every value reads both as %d/%m/%Y and as %m/%d/%Y"),
    ("date mixed ISO and day-first", {"orders.csv": with_values("order_date", {3: "25/03/2025"})},
     "", "date_format", "mixed date formats: %Y-%m-%d (59 rows, e.g. '2025-01-03'), %d/%m/%Y"),
    ("date day-first and month-first", {"orders.csv": with_values(
        "order_date", {i: v for i, v in enumerate(["25/03/2025", "03/25/2025"] * 30)})}, "",
     "date_format", "day-first %d/%m/%Y (e.g. '25/03/2025') and month-first %m/%d/%Y"),
    ("date month 13", {"orders.csv": with_values("order_date", {16: "2026-13-01", 40: "2026-13-01"})},
     "", "type", "orders.order_date (type): not a date: '2026-13-01'"),
    ("date rows named", {"orders.csv": with_values("order_date", {16: "2026-13-01"})}, "",
     "type", "order_id=O17 (row 17)"),
    ("date word in a date", {"orders.csv": with_values("order_date", {5: "paid"})}, "",
     "type", "not a date: 'paid'"),
    ("date Excel serial text", {"orders.csv": with_values("order_date", {5: "45292"})}, "",
     "type", "Excel serial day numbers only when declared: date_format=excel"),
    ("date Parquet integer serials", {"orders.parquet": base_orders().assign(
        order_date=lambda d: (pd.to_datetime(d["order_date"]) - pd.Timestamp("1899-12-30")).dt.days)},
     "", "type", "not a date: '45660'"),
    ("date two-digit year", {"orders.csv": with_values("order_date", {2: "05/03/26"})}, "",
     "type", "not a date: '05/03/26'"),
    ("date month name", {"orders.csv": with_values("order_date", {2: "5 Mar 2026"})}, "",
     "type", "not a date: '5 Mar 2026'"),
    ("date declared format not met", {"orders.csv": with_values("order_date", {0: "2025-01-03"},
                                                                dates("%d/%m/%Y"))},
     "?date_format=%d/%m/%Y", "type", "not a date in the declared format %d/%m/%Y"),
    ("date typo'd year", {"orders.csv": with_values("order_date", {7: "1996-03-05"})}, "",
     "date_outlier", "suspected typos: fix them, or set first_date= to accept them: 1996-03-05"),
    ("date typo far in the future", {"orders.csv": with_values("order_date", {7: "2062-03-05"})},
     "", "after_as_of", "date after the data's as-of date 2026-12-31"),
    ("date before first_date", {"orders.csv": base_orders()}, "?first_date=2025-06-01",
     "date_outlier", "dates before first_date=2025-06-01 (suspected typos)"),
    ("date optional column unreadable", {
        "orders.csv": base_orders(),
        "reps.csv": "rep_id,name,region,level,hire_date,exit_date\nR1,Ann,North,senior,2020-01-01,soon\n",
        "regions.csv": "region,maturity,market_potential\nNorth,mature,10\n"},
     "", "type", "reps.exit_date (type): not a date: 'soon'"),
    # --- numbers
    ("number thousands separator", {"orders.csv": with_values("amount", {4: "1,234.56"})}, "",
     "type", "not a number: '1,234.56' (thousands separator ',': declare thousands=',')"),
    ("number currency symbol", {"orders.csv": with_values("amount", {4: "$891.61"})}, "",
     "type", "not a number: '$891.61' (currency symbol: declare currency="),
    ("number N/A", {"orders.csv": with_values("amount", {4: "N/A"})}, "",
     "type", "orders.amount (type): not a number: 'N/A'"),
    ("number inf text", {"orders.csv": with_values("amount", {4: "inf"})}, "",
     "type", "not a number: 'inf' (inf/nan are not finite numbers)"),
    ("number NaN text", {"orders.csv": with_values("quantity", {4: "NaN"})}, "",
     "type", "orders.quantity (type): not a number: 'NaN'"),
    ("number inf in Parquet", {"orders.parquet": base_orders().assign(
        amount=lambda d: d["amount"].where(d.index != 3, np.inf))}, "",
     "type", "not a number: 'inf'"),
    ("number decimal comma", {"orders.csv": with_values("amount", {4: "1,5"})}, "",
     "type", "decimal comma: declare decimal=','"),
    ("number declared separators not met", {"orders.csv": with_values("amount", {4: "1,234.56"})},
     "?thousands=.&decimal=,", "type",
     "not a number: '100.0', '103.0', '106.0' (read with decimal=',', thousands='.')"),
    ("number text in optional column", {
        "orders.csv": base_orders(),
        "customers.csv": "customer_id,name,region,credit_limit\nC1,a,r,unlimited\nC2,b,r,1\n"
                         "C3,c,r,1\nC4,d,r,1\nC5,e,r,1\n"}, "",
     "type", "customers.credit_limit (type): not a number: 'unlimited'"),
    ("number not whole", {
        "orders.csv": base_orders(),
        "customers.csv": "customer_id,name,region,payment_terms_days\nC1,a,r,30.5\nC2,b,r,1\n"
                         "C3,c,r,1\nC4,d,r,1\nC5,e,r,1\n"}, "",
     "type", "customers.payment_terms_days (type): not a whole number: '30.5'"),
    ("number huge amount", {"orders.csv": with_values("amount", {9: "5000000000"})}, "",
     "outlier", "[error] orders.amount (outlier): amount(s) up to 5e+09 lie more than 10000 MADs"),
    ("number 1e300", {"orders.csv": with_values("amount", {9: "1e300"})}, "",
     "outlier", "up to 1e+300 lie more than 10000 MADs"),
    ("number all negative", {"orders.csv": base_orders().assign(
        amount=lambda d: -d["amount"], quantity=lambda d: -d["quantity"])}, "",
     "sign", "no positive amount: every order line is a return or zero"),
    # --- files and encodings
    ("file GBK text", {"orders.csv": csv(with_values("product_line", {0: "设备"})).encode("gbk")},
     "", None, "orders.csv': not valid utf-8 text ("),
    ("file GBK hint", {"orders.csv": csv(with_values("product_line", {0: "设备"})).encode("gbk")},
     "", None, "--encoding gb18030, or ?encoding=gb18030 in the source URL"),
    ("file semicolons", {"orders.csv": csv(base_orders(), sep=";")}, "",
     None, "its fields are separated by semicolon, not comma; declare the delimiter"),
    ("file empty", {"orders.csv": ""}, "", None, "EmptyDataError: No columns to parse from file"),
    ("file header only", {"orders.csv": "order_id,order_date,customer_id,rep_id,product_line,"
                                        "quantity,amount\n"}, "",
     "empty", "orders (empty): table 'orders' has no rows (a header only)"),
    ("file PNG renamed", {"orders.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe"},
     "", None, "cannot read CSV file"),
    ("file unknown encoding", {"orders.csv": base_orders()}, "?encoding=klingon", None,
     "unknown encoding 'klingon'; expected a Python codec name"),
    ("file bad read option", {"orders.csv": base_orders()}, "?decimal=x", None,
     "option decimal='x' is invalid: expected '.' or ','"),
    ("file bad date_format option", {"orders.csv": base_orders()}, "?date_format=DD/MM", None,
     "option date_format='DD/MM' is invalid: expected a strftime format"),
    ("file no orders", {"customers.csv": "customer_id,name,region\nC1,a,r\n"}, "", None,
     "required table 'orders' not found"),
    ("file missing column", {"orders.csv": base_orders().drop(columns=["amount"])}, "",
     "missing_column", "orders.amount (missing_column): column 'amount' is missing"),
]


@pytest.mark.parametrize("files, query, rule, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_broken_input_gets_one_clear_line(tmp_path, files, query, rule, expected):
    lines = report_lines(tmp_path, files, query)
    hits = [ln for ln in lines if expected in ln]
    assert hits, f"expected {expected!r} in one of {lines}"
    line = hits[0]
    assert "\n" not in line and "Traceback" not in line
    if rule is None:
        assert line.startswith("(source) source "), line
    else:  # an error: the plan stops, nothing is silently accepted
        assert f"({rule})" in line and line.startswith("[error] "), line


def test_unusual_amount_is_a_warning_with_its_row(tmp_path):
    lines = report_lines(tmp_path, {"orders.csv": with_values("amount", {10: "20000"})})
    assert lines == [
        "[warning] orders.amount (outlier): amount(s) up to 20,000 lie more than 200 MADs "
        "(outlier_mads) from the company's median 191.50 (MAD 45.00) and from the customer's "
        "own - 1 row; first: order_id=O11 (row 11)"]


def test_cases_are_distinct_and_many():
    assert len({c[0] for c in CASES}) == len(CASES) >= 38


@pytest.mark.parametrize("query, fmt", [("?date_format=%d/%m/%Y", "%d/%m/%Y"),
                                        ("?date_format=%m-%d-%Y", "%m-%d-%Y"),
                                        ("?date_format=%d.%m.%Y", "%d.%m.%Y")])
def test_declared_date_format_reads_what_detection_refuses(tmp_path, query, fmt):
    write_folder(tmp_path / "a", {"orders.csv": dates(fmt, small_days=True)})
    write_folder(tmp_path / "b", {"orders.csv": dates("%Y-%m-%d", small_days=True)})
    assert [f.rule for f in validate(open_source(tmp_path / "a").load(coerce=False)).errors] == [
        "date_format"]  # ambiguous undeclared
    got = open_source(f"{tmp_path / 'a'}{query}").load()
    assert got.orders["order_date"].equals(open_source(tmp_path / "b").load().orders["order_date"])


def test_excel_serials_only_when_declared(tmp_path):
    frame = base_orders().iloc[:3].assign(order_date=[45292, 45293, 45658])
    write_folder(tmp_path, {"orders.parquet": frame})
    got = open_source(f"{tmp_path}?date_format=excel").load().orders["order_date"]
    assert [f"{d:%Y-%m-%d}" for d in got] == ["2024-01-01", "2024-01-02", "2025-01-01"]
    assert open_source(tmp_path).load().orders["order_date"].isna().all()  # never 1970


def test_declared_separators_and_currency(tmp_path):
    frame = base_orders().iloc[:3].assign(amount=["€1.234,56", "€-7,5", "€12"])
    write_folder(tmp_path, {"orders.csv": csv(frame, sep=";")})
    url = f"{tmp_path}?delimiter=;&decimal=,&thousands=.&currency=€"
    assert open_source(url).load().orders["amount"].tolist() == [1234.56, -7.5, 12.0]


def test_utf8_bom_is_read(tmp_path):
    (tmp_path / "orders.csv").write_bytes("\ufeff".encode() + csv(base_orders()).encode())
    orders = open_source(tmp_path).load().orders
    assert orders.columns[0] == "order_id" and len(orders) == N


def test_corrupt_duckdb_file_is_one_line(tmp_path):
    path = tmp_path / "broken.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SourceError) as e:
        open_source(f"duckdb:///{path}").load()
    assert "cannot open DuckDB file" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads any file")
def test_permission_denied_is_one_line(tmp_path):
    write_folder(tmp_path, {"orders.csv": base_orders()})
    (tmp_path / "orders.csv").chmod(0)
    with pytest.raises(SourceError, match="Permission denied") as e:
        open_source(tmp_path).load()
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- the plan


def test_day_first_file_fails_then_passes_declared_to_the_iso_data(tmp_path):
    """A DD/MM/YYYY export is never read value by value.

    The demo generator's orders, written day-first: with every day of the month present
    the format is detected and the data are the ISO file's exactly; kept to days 1-12
    (every value reads both ways) the file fails validation, and with the declared format
    it is the ISO file's data exactly.  Same fingerprint = same input to every notebook,
    which are deterministic functions of it: the same plan tables.
    """
    from salesplan.demo.generator import generate

    orders = generate(seed=3, scale=0.05, as_of="2026-12-31").data.coerced().orders
    small = orders[orders["order_date"].dt.day <= 12].reset_index(drop=True)
    for name, frame in (("all", orders), ("small", small)):
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            folder = tmp_path / f"{name}-{fmt.replace('/', '').replace('%', '').replace('-', '')}"
            write_folder(folder, {"orders.csv": frame.assign(
                order_date=frame["order_date"].dt.strftime(fmt))})
    iso_all = open_source(tmp_path / "all-Ymd").load()
    assert fingerprint(open_source(tmp_path / "all-dmY").load()) == fingerprint(iso_all)
    assert iso_all.orders["order_date"].equals(orders["order_date"])

    raw = open_source(tmp_path / "small-dmY").load(coerce=False)
    report = validate(raw, as_of="2026-12-31")
    assert [(f.table, f.column, f.rule) for f in report.errors] == [
        ("orders", "order_date", "date_format")]
    assert "ambiguous dates" in str(report.errors[0])
    declared = open_source(f"{tmp_path / 'small-dmY'}?date_format=%d/%m/%Y").load(coerce=False)
    assert validate(declared, as_of="2026-12-31").ok
    iso_small = open_source(tmp_path / "small-Ymd").load()
    assert fingerprint(declared) == fingerprint(iso_small)
    from salesplan.data.summary import yearly_revenue

    pd.testing.assert_frame_equal(yearly_revenue(declared.coerced()), yearly_revenue(iso_small))


def test_day_first_file_with_only_small_days_is_ambiguous_not_swapped(tmp_path):
    frame = base_orders()
    days = pd.to_datetime(frame["order_date"])
    frame = frame[days.dt.day <= 12].reset_index(drop=True)
    frame["order_date"] = pd.to_datetime(frame["order_date"]).dt.strftime("%d/%m/%Y")
    write_folder(tmp_path, {"orders.csv": frame})
    report = validate(open_source(tmp_path).load(coerce=False))
    assert [f.rule for f in report.errors] == ["date_format"]
    assert open_source(tmp_path).load().orders["order_date"].isna().all()


# --------------------------------------------------------------------------- CLI


cli = CliRunner()


def test_cli_validate_checks_raw_values_and_exits_1(tmp_path):
    write_folder(tmp_path, {"orders.csv": with_values("amount", {4: "1,234.56"})})
    res = cli.invoke(app, ["validate", str(tmp_path), "--no-summary"])
    assert res.exit_code == 1
    assert "orders.amount (type): not a number: '1,234.56'" in res.output
    assert "required but empty" not in res.output


def test_cli_validate_options_declare_formats(tmp_path):
    frame = dates("%d/%m/%Y", small_days=True)
    frame["amount"] = [f"{1000 + 300 * i:,.2f}" for i in range(len(frame))]
    write_folder(tmp_path, {"orders.csv": frame})
    assert cli.invoke(app, ["validate", str(tmp_path), "--no-summary"]).exit_code == 1
    res = cli.invoke(app, ["validate", str(tmp_path), "--no-summary", "--date-format",
                           "%d/%m/%Y", "--thousands", ","])
    assert res.exit_code == 0, res.output
    assert "data check passed" in res.output


def test_cli_source_error_is_one_line_and_debug_shows_traceback(tmp_path):
    res = cli.invoke(app, ["validate", str(tmp_path / "nowhere")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: source ") and "does not exist" in lines[0]
    res = cli.invoke(app, ["validate", str(tmp_path / "nowhere"), "--debug"])
    assert "Traceback" in res.output


# --------------------------------------------------------------------------- SQL


def _silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return srv, held


def test_frozen_sql_source_ends_within_the_timeout():
    srv, held = _silent_server()
    port = srv.getsockname()[1]
    t0 = time.monotonic()
    try:
        with pytest.raises(SourceError) as e:
            open_source(f"postgresql+psycopg://planner@127.0.0.1:{port}/sales?timeout=2").load()
    finally:
        srv.close()
        for c in held:
            c.close()
    took = time.monotonic() - t0
    assert took < 2 + 5, took
    text = str(e.value)
    assert "\n" not in text and "timeout" in text.lower()


def test_refused_sql_source_is_one_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(SourceError) as e:
        open_source(f"postgresql+psycopg://planner@127.0.0.1:{port}/sales?timeout=3").load()
    assert "\n" not in str(e.value) and "listing tables failed" in str(e.value)


def test_sql_timeout_reaches_the_driver():
    from salesplan.data.sources import SQLSource

    src = open_source("postgresql+psycopg://planner@127.0.0.1:1/sales?timeout=7&sslmode=disable")
    assert isinstance(src, SQLSource) and src.timeout == 7
    args = src.engine.dialect.create_connect_args(src.engine.url)[1]
    assert args["sslmode"] == "disable"  # the driver's own parameter is kept
    src = open_source("sqlite:///:memory:")
    assert src.timeout == 60


# --------------------------------------------------------------------------- models


def scorecard_data(n: int = 60):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"days_late": rng.gamma(2.0, 5.0, n), "segment": rng.choice(["a", "b"], n)})
    y = (X["days_late"] + rng.normal(0, 3, n) > 10).astype(int).to_numpy()
    return X, y


MODEL_CASES = [
    ("scorecard datetime column",
     lambda X: X.assign(opened=pd.date_range("2020-01-01", periods=len(X))),
     "X column 'opened' holds datetime64[ns] values"),
    ("scorecard timedelta column",
     lambda X: X.assign(age=pd.to_timedelta(np.arange(len(X)), unit="D")),
     "X column 'age' holds timedelta64[ns] values"),
    ("scorecard numbers as text",
     lambda X: X.assign(limit=[str(100 * i) for i in range(len(X))]),
     "X column 'limit' holds numbers stored as text (e.g. '0')"),
    ("scorecard all missing", lambda X: X.assign(empty=np.nan),
     "X column 'empty' has no value at all"),
    ("scorecard three rows", lambda X: X.iloc[:3],
     "X has 3 row(s); a fit needs at least 20"),
]


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in MODEL_CASES],
                         ids=[c[0] for c in MODEL_CASES])
def test_scorecard_refuses_inputs_it_would_misread(mutate, expected):
    from salesplan.models.credit import CreditScorecard

    X, y = scorecard_data()
    X = mutate(X)
    with pytest.raises(ValueError) as e:
        CreditScorecard().fit(X, y[: len(X)])
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_bgnbd_refuses_timedelta_T_and_three_customers():
    from salesplan.models.churn import BetaGeoModel

    summary = pd.DataFrame({"frequency": [1.0, 2.0, 0.0] * 5, "recency": [3.0, 5.0, 0.0] * 5,
                            "T": [10.0, 12.0, 8.0] * 5})
    with pytest.raises(ValueError, match=r"summary.T holds timedelta64\[ns\] values"):
        BetaGeoModel().fit(summary.assign(T=pd.to_timedelta(summary["T"], unit="D")))
    with pytest.raises(ValueError, match="summary.recency holds text"):
        BetaGeoModel().fit(summary.assign(recency=summary["recency"].astype(str)))
    with pytest.raises(ValueError, match="summary has 3 customer"):
        BetaGeoModel().fit(summary.iloc[:3])


def test_read_options_validate_themselves():
    with pytest.raises(ValueError, match="thousands=','.*different from decimal"):
        ReadOptions(decimal=",", thousands=",")
    with pytest.raises(ValueError, match="first_date='soon'"):
        ReadOptions(first_date="soon")


# --------------------------------------------------------------------------- minimal companies


def test_orders_only_company_validates_and_says_what_is_off(tmp_path):
    write_folder(tmp_path, {"orders.csv": base_orders()})
    report = validate(open_source(tmp_path).load(coerce=False), as_of="2026-12-31")
    assert report.ok and report.findings == []
    assert "note: table 'customers' is absent: customer names, regions, credit limits" in report.summary()
    assert "note: table 'reps' is absent: rep quotas, ramp-up, headcount" in report.summary()


def _kernel_available() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return bool({"salesplan", "python3"} & set(KernelSpecManager().find_kernel_specs()))


@pytest.mark.skipif(not _kernel_available(), reason="no Jupyter kernel installed")
def test_one_month_of_orders_gets_a_data_health_answer_not_a_crash(tmp_path):
    from pathlib import Path

    from salesplan.reports.runner import run_plan

    frame = base_orders(n=60)
    frame["order_date"] = pd.date_range("2026-12-01", periods=60, freq="12h").strftime("%Y-%m-%d")
    write_folder(tmp_path / "export", {"orders.csv": frame})
    nb = Path(__file__).resolve().parents[1] / "notebooks" / "01_data_health.ipynb"
    res = run_plan(source=str(tmp_path / "export"), notebooks=[nb], out_dir=tmp_path / "r",
                   echo=lambda _: None, downstream=False)
    answer = res.headlines["01_data_health"]["answer"]
    assert answer.startswith("Not yet: only 0 complete quarters of history (at least 8 needed)")
