"""One definition per concept (issue 13): orders, days past due, as_of, parameter checks,
secrets, sample paths and the ramp.  Expected values are worked out by hand in comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.data.checks import check_as_of, check_number, latest_date
from salesplan.data.invoices import days_past_due
from salesplan.data.orders import count_orders, order_values
from salesplan.data.paths import SamplePaths
from salesplan.data.secrets import is_secret_name, query_has_secret, redact_url, scrub


def _lines() -> pd.DataFrame:
    # c1 buys two lines on Jan 5 (one order), returns part on Jan 20, buys again on Feb 1;
    # c2 buys one line on Jan 5 plus a free (zero) line; c3 buys on Feb 10, returns it Feb 25
    rows = [
        ("L1", "2024-01-05", "c1", 100.0), ("L2", "2024-01-05", "c1", 50.0),
        ("R1", "2024-01-20", "c1", -30.0), ("L3", "2024-02-01", "c1", 10.0),
        ("L4", "2024-01-05", "c2", 70.0), ("L5", "2024-01-05", "c2", 0.0),
        ("L6", "2024-02-10", "c3", 40.0), ("R2", "2024-02-25", "c3", -40.0),
    ]
    f = pd.DataFrame(rows, columns=["order_id", "order_date", "customer_id", "amount"])
    f["order_date"] = pd.to_datetime(f["order_date"])
    return f


# ------------------------------------------------------------------------------ orders
def test_an_order_is_one_customer_day_of_non_negative_lines():
    lines = _lines()
    assert count_orders(lines) == 4  # c1: Jan 5, Feb 1; c2: Jan 5; c3: Feb 10
    assert count_orders(lines, "customer_id").to_dict() == {"c1": 2, "c2": 1, "c3": 1}
    v = order_values(lines)
    assert v["value"].tolist() == [150.0, 10.0, 70.0, 40.0]
    assert v["lines"].tolist() == [2, 1, 2, 1]  # the free line belongs to c2's order


def test_rfm_frequency_counts_orders_not_lines():
    from salesplan.models.segments import RFMParams, rfm_scores

    out = rfm_scores(_lines(), "2024-03-01", RFMParams(n_bins=2)).set_index("customer_id")
    # 8 lines, 7 order ids per customer before the fix (c1: 4, c2: 2, c3: 2); orders: 2, 1, 1
    assert out["frequency"].to_dict() == {"c1": 2, "c2": 1, "c3": 1}
    # recency from the last purchase, not the last return: c3 bought Feb 10 -> 20 days
    # to Mar 1 (2024 is a leap year); c1 Feb 1 -> 29 days; c2 Jan 5 -> 56 days
    assert out["recency_days"].to_dict() == {"c1": 29, "c2": 56, "c3": 20}
    assert out["monetary"].to_dict() == {"c1": 130.0, "c2": 70.0, "c3": 0.0}  # net


def test_churn_summary_counts_the_same_orders():
    from salesplan.models.churn import rfm_summary

    s = rfm_summary(_lines(), "2024-03-01", freq="D")
    # occasions: c1 Jan 5 and Feb 1 -> one repeat; c2, c3 one occasion each
    assert s.loc["c1", "frequency"] == 1 and s.loc["c2", "frequency"] == 0
    assert s.loc["c1", "recency"] == 27  # Jan 5 -> Feb 1


# ------------------------------------------------------------------------------ DPD
def test_days_past_due_at_as_of():
    due = pd.Series(pd.to_datetime(["2024-01-31"] * 4))
    paid = pd.Series(pd.to_datetime(["2024-02-10", "2024-02-10", "2024-01-20", None]))
    as_of = [pd.Timestamp("2024-02-05"), pd.Timestamp("2024-02-20"),
             pd.Timestamp("2024-02-20"), pd.Timestamp("2024-03-01")]
    got = [int(days_past_due(due.iloc[[i]], paid.iloc[[i]], as_of[i]).iloc[0]) for i in range(4)]
    # open at Feb 5 (paid later): 5 days; paid Feb 10: 10; paid early: 0; never: Jan 31 -> Mar 1
    assert got == [5, 10, 0, 30]


def test_credit_and_churn_use_the_same_dpd():
    from salesplan.models.credit import invoice_dpd

    inv = pd.DataFrame({
        "invoice_id": ["i1", "i2"], "customer_id": ["c1", "c1"],
        "issue_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
        "due_date": pd.to_datetime(["2024-01-31", "2024-01-31"]),
        "amount": [100.0, 50.0], "paid_date": pd.to_datetime(["2024-02-10", None]),
    })
    d = invoice_dpd(inv, "2024-02-20")
    assert d["dpd"].tolist() == [10, 20]


# ------------------------------------------------------------------------------ as_of
def test_as_of_rule():
    dates = pd.Series(pd.to_datetime(["2024-01-05", "2024-06-30"]))
    assert check_as_of(None, dates, "orders", "order") == pd.Timestamp("2024-06-30")
    assert check_as_of("2024-03-01T15:00+02:00", dates, "orders") == pd.Timestamp("2024-03-01")
    assert check_as_of("2025-07-01", dates, "orders") == pd.Timestamp("2025-07-01")  # +366 d
    with pytest.raises(ValueError, match="before the first order"):
        check_as_of("2024-01-04", dates, "orders", "order")
    with pytest.raises(ValueError, match="367 days after the last order"):
        check_as_of("2025-07-02", dates, "orders", "order")
    with pytest.raises(ValueError, match="is not a date"):
        check_as_of("soon", dates, "orders")
    assert latest_date(dates, pd.Series(pd.to_datetime(["2024-07-02"]))) == pd.Timestamp("2024-07-02")


def test_models_share_the_as_of_rule():
    from salesplan.models.churn import rfm_summary
    from salesplan.models.segments import rfm_scores

    for call in (lambda a: rfm_summary(_lines(), a), lambda a: rfm_scores(_lines(), a)):
        with pytest.raises(ValueError, match="before the first order"):
            call("2023-12-31")
        with pytest.raises(ValueError, match="days after the last order"):
            call("2025-03-01")  # 370 days after Feb 25, 2024


# ------------------------------------------------------------------------------ parameters
def test_check_number():
    check_number("x", 0.5, 0, 1)
    check_number("n", 3, 1, integer=True)
    check_number("cap", None, 0, allow_none=True)
    with pytest.raises(ValueError, match=r"parameter x=1\.5 is invalid: expected a number in \[0, 1\]"):
        check_number("x", 1.5, 0, 1)
    with pytest.raises(ValueError, match=r"expected a number > 0"):
        check_number("x", 0, 0, lo_open=True)
    with pytest.raises(ValueError, match="whole number"):
        check_number("n", 2.0, 1, integer=True)
    for bad in (True, float("nan"), "1", None):
        with pytest.raises(ValueError):
            check_number("x", bad)


# ------------------------------------------------------------------------------ secrets
@pytest.mark.parametrize("name, secret", [
    ("db_password", True), ("PGPASSWORD", True), ("api_token", True), ("client_secret", True),
    ("apiKey", True), ("secret_key", True), ("key", True), ("private_key", True),
    ("key_account_share", False), ("monkey", False), ("region", False),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def test_secret_urls(monkeypatch):
    url = "postgresql://u:s3cret@h:5432/db?sslmode=require&token=abc"
    assert redact_url(url) == "postgresql://u:***@h:5432/db?sslmode=require&token=***"
    assert query_has_secret(url) and not query_has_secret("duckdb:///x.db?timeout=5")
    monkeypatch.setenv("PGPASSWORD", "hunter2")
    assert scrub("login hunter2 failed at postgresql://u:pw@h/db") == \
        "login *** failed at postgresql://u:***@h/db"


# ------------------------------------------------------------------------------ sample paths
def test_sample_paths_axis_order():
    a = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)  # path x series x time
    p = SamplePaths.from_array(a, ["A", "B", "C"], axes=("path", "series", "time"))
    assert (p.n_series, p.n_paths, p.horizon) == (3, 2, 4)
    assert p.values[1, 0, 2] == a[0, 1, 2]
    assert np.array_equal(p.array(("path", "series", "time")), a)
    # totals over time of series B on path 1: a[1, 1, :] = 16 + 17 + 18 + 19
    assert p.totals().loc["B", 1] == 70.0
    dates = pd.date_range("2027-01-01", periods=4, freq="MS")
    q = SamplePaths(p.values, p.series, dates)
    back = SamplePaths.from_frame(q.to_frame().sample(frac=1, random_state=0))
    assert set(back.series) == {"A", "B", "C"}  # in order of first appearance
    assert np.array_equal(back.select(q.series).values, q.values)
    assert SamplePaths.from_frame(q.to_frame()).series == ("A", "B", "C")
    with pytest.raises(ValueError, match="3-d"):
        SamplePaths(np.zeros((2, 3)), ["A", "B"])
    with pytest.raises(ValueError, match="axes"):
        SamplePaths.from_array(a, ["A", "B", "C"], axes=("path", "node", "time"))
