"""Tests of salesplan.models.segments against hand-computed examples."""

import pandas as pd
import pytest

from salesplan.models.segments import (
    ABCParams,
    LifecycleParams,
    NewCustomerParams,
    RFMParams,
    abc_classes,
    customer_segments,
    lifecycle_stages,
    new_customer_alerts,
    new_customer_counts,
    rfm_scores,
)


def _orders(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["order_id"] = [f"o{i}" for i in range(len(df))]
    df["order_date"] = pd.to_datetime(df["order_date"])
    return df


# ------------------------------------------------------------------ ABC (hand example)
def test_abc_ten_customers_by_hand():
    # revenue in the trailing 12 months, total 1000:
    # c01 500 c02 200 c03 100 | c04 60 c05 50 c06 40 | c07 20 c08 15 c09 10 c10 5
    # share before each: 0 .5 .7 | .8 .86 .91 | .95 .97 .985 .995
    # A = before < .80 -> c01..c03; B = before < .95 -> c04..c06; C = the rest
    rev = {"c01": 500, "c02": 200, "c03": 100, "c04": 60, "c05": 50,
           "c06": 40, "c07": 20, "c08": 15, "c09": 10, "c10": 5}
    rows = []
    for c, r in rev.items():
        rows.append((c, "2024-03-01", r / 2))
        rows.append((c, "2024-11-30", r / 2))
    rows.append(("c10", "2023-06-30", 10_000))  # older than 12 months: ignored
    rows.append(("c09", "2025-01-05", 10_000))  # after as_of: ignored
    out = abc_classes(_orders(rows), "2024-12-31").set_index("customer_id")
    expected = {"c01": "A", "c02": "A", "c03": "A", "c04": "B", "c05": "B", "c06": "B",
                    "c07": "C", "c08": "C", "c09": "C", "c10": "C"}
    assert out["abc_class"].to_dict() == expected
    assert out.loc["c01", "revenue"] == 500
    assert out["share"].sum() == pytest.approx(1.0)
    assert out.loc["c03", "cum_share"] == pytest.approx(0.8)


def test_abc_params_and_customers_without_orders():
    rows = [("a", "2024-06-01", 90), ("b", "2024-06-01", 10)]
    cust = pd.DataFrame({"customer_id": ["a", "b", "z"], "region": ["N", "S", "S"]})
    out = abc_classes(_orders(rows), "2024-12-31", ABCParams(a_share=0.5, b_share=0.9),
                      customers=cust).set_index("customer_id")
    # before: a 0 -> A; b .9 -> C (not < .9); z has no revenue -> C
    assert out["abc_class"].to_dict() == {"a": "A", "b": "C", "z": "C"}
    assert out.loc["z", "revenue"] == 0 and out.loc["z", "region"] == "S"


@pytest.mark.parametrize("kw", [{"a_share": 0}, {"a_share": 0.9, "b_share": 0.8},
                                {"window_months": 0}])
def test_abc_params_validate(kw):
    with pytest.raises(ValueError, match=list(kw)[-1]):
        ABCParams(**kw)


# ------------------------------------------------------------------ RFM
def test_rfm_quintiles_by_hand():
    # five customers -> with 5 bins the score is the rank (1 = worst)
    rows = [
        ("a", "2024-12-30", 100), ("a", "2024-12-01", 100), ("a", "2024-11-01", 100),
        ("b", "2024-12-20", 50),
        ("c", "2024-10-01", 500), ("c", "2024-09-01", 500),
        ("d", "2024-06-01", 10), ("d", "2024-05-01", 10), ("d", "2024-04-01", 10),
        ("d", "2024-03-01", 10),
        ("e", "2023-12-31", 20),
    ]
    out = rfm_scores(_orders(rows), "2024-12-31").set_index("customer_id")
    # recency days: a 1, b 11, c 91, d 213, e 366 -> R 5 4 3 2 1
    assert out["recency_days"].to_dict() == {"a": 1, "b": 11, "c": 91, "d": 213, "e": 366}
    assert out["r_score"].to_dict() == {"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}
    # frequency: a 3, b 1, c 2, d 4, e 1 -> ranks b,e tie at 1.5 -> ceil(5*1.5/5)=2
    assert out["f_score"].to_dict() == {"a": 4, "b": 2, "c": 3, "d": 5, "e": 2}
    # monetary: a 300, b 50, c 1000, d 40, e 20 -> M 4 3 5 2 1
    assert out["m_score"].to_dict() == {"a": 4, "b": 3, "c": 5, "d": 2, "e": 1}
    assert out.loc["a", "rfm_cell"] == "544" and out.loc["a", "rfm_total"] == 13


def test_rfm_ten_customers_two_per_quintile():
    rows = [(f"c{i:02d}", "2024-12-01", float(i)) for i in range(1, 11)]
    out = rfm_scores(_orders(rows), "2024-12-31", RFMParams(n_bins=5))
    # ceil(5 * i / 10): 1 1 2 2 3 3 4 4 5 5
    assert out["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


# ------------------------------------------------------------------ lifecycle
def test_lifecycle_by_hand():
    # as_of 2024-12-31: recent = (2024-06-30, 2024-12-31], prior = (2023-12-31, 2024-06-30]
    rows = [
        ("new", "2024-09-15", 100),                                       # tenure 3 -> intro
        ("grow", "2023-01-10", 10), ("grow", "2024-03-01", 100), ("grow", "2024-09-01", 150),
        ("mat", "2023-01-10", 10), ("mat", "2024-03-01", 100), ("mat", "2024-09-01", 110),
        ("dec", "2023-01-10", 10), ("dec", "2024-03-01", 100), ("dec", "2024-09-01", 50),
        ("gone", "2023-02-01", 100),                                      # nothing for 22 months
    ]
    out = lifecycle_stages(_orders(rows), "2024-12-31").set_index("customer_id")
    assert out["stage"].astype(str).to_dict() == {
        "dec": "decline", "gone": "decline", "grow": "growth", "mat": "maturity",
        "new": "introduction"}
    assert out.loc["new", "tenure_months"] == 3
    assert out.loc["grow", "trend"] == pytest.approx(0.5)
    assert out.loc["mat", "trend"] == pytest.approx(0.1)
    # a looser growth threshold turns the mature customer into a growing one
    out2 = lifecycle_stages(_orders(rows), "2024-12-31",
                            LifecycleParams(growth_threshold=0.05)).set_index("customer_id")
    assert out2.loc["mat", "stage"] == "growth"


def test_lifecycle_params_validate():
    with pytest.raises(ValueError, match="decline_threshold"):
        LifecycleParams(decline_threshold=0.1)


# ------------------------------------------------------------------ new-customer alert
def test_new_customer_alert_two_falls_in_a_row():
    # first orders per month: North 3, 5, 4, 2 (falls in Mar and Apr -> alert in Apr)
    #                         South 1, 2, 1, 3 (one fall in Mar only)
    rows, cust = [], []
    plan = {"N": [3, 5, 4, 2], "S": [1, 2, 1, 3]}
    for region, counts in plan.items():
        for m, k in enumerate(counts, start=1):
            for j in range(k):
                cid = f"{region}{m}{j}"
                cust.append((cid, region))
                rows.append((cid, f"2024-{m:02d}-10", 10))
                rows.append((cid, "2024-04-20", 10))  # repeat orders do not count
    customers = pd.DataFrame(cust, columns=["customer_id", "region"])
    out = new_customer_counts(_orders(rows), "2024-04-30", customers)
    n = out[out.region == "N"]
    assert n["new_customers"].tolist() == [3, 5, 4, 2]
    assert n["falls"].tolist() == [0, 0, 1, 2]
    assert n["alert"].tolist() == [False, False, False, True]
    assert not out[out.region == "S"]["alert"].any()
    alerts = new_customer_alerts(_orders(rows), "2024-04-30", customers)
    assert alerts["region"].tolist() == ["N"]
    # as_of mid-May: May is partial and dropped, same answer
    assert new_customer_alerts(_orders(rows), "2024-05-15", customers)["region"].tolist() == ["N"]
    # three falls required -> no alert
    assert new_customer_alerts(_orders(rows), "2024-04-30", customers,
                               NewCustomerParams(falls_in_a_row=3)).empty


# ------------------------------------------------------------------ bad inputs
def test_errors_name_the_problem():
    orders = _orders([("a", "2024-06-01", 10)])
    with pytest.raises(ValueError, match="missing column.*amount"):
        abc_classes(orders.drop(columns="amount"), "2024-12-31")
    with pytest.raises(ValueError, match="before the first order"):
        rfm_scores(orders, "2020-01-01")
    with pytest.raises(ValueError, match="does not reach|do not reach"):
        lifecycle_stages(orders, "2030-01-01")
    with pytest.raises(ValueError, match="empty"):
        abc_classes(orders.iloc[:0], "2024-12-31")
    with pytest.raises(ValueError, match="no region"):
        new_customer_counts(orders, "2024-06-30",
                            pd.DataFrame({"customer_id": ["b"], "region": ["N"]}))


def test_a_missing_order_date_is_named_by_line_id_or_by_row():
    # the notebooks do not load the line ids (issue 19): the message then names the rows
    orders = _orders([("a", "2024-06-01", 10), ("b", None, 5), ("c", "2024-07-01", 7), ("d", None, 1)])
    with pytest.raises(ValueError, match=r"'order_date': missing dates in 2 line\(s\), first order_id\(s\) \['o1', 'o3'\]"):
        abc_classes(orders, "2024-12-31")
    with pytest.raises(ValueError, match=r"missing dates in 2 line\(s\), first row\(s\) \[1, 3\] of the table as read"):
        abc_classes(orders.drop(columns="order_id"), "2024-12-31")
    # without line ids the classes are those of the same lines with them
    good = orders.dropna(subset=["order_date"])
    pd.testing.assert_frame_equal(abc_classes(good.drop(columns="order_id"), "2024-12-31"),
                                  abc_classes(good, "2024-12-31"))


def test_customer_segments_are_the_four_tables_read_once():
    # one reading of the orders (integer customer codes) for ABC, lifecycle, RFM and new
    # customers: the same tables as the four functions on their own
    from salesplan.demo import generate

    data = generate(seed=5, scale=0.1).data
    abc = ABCParams(a_share=0.7, b_share=0.9)
    got = customer_segments(data.orders, "2026-06-30", abc, customers=data.customers)
    assert set(got) == {"abc", "stages", "rfm", "new_counts"}
    pd.testing.assert_frame_equal(got["abc"], abc_classes(data.orders, "2026-06-30", abc, data.customers),
                                  check_exact=True)
    pd.testing.assert_frame_equal(got["stages"], lifecycle_stages(data.orders, "2026-06-30"), check_exact=True)
    pd.testing.assert_frame_equal(got["rfm"], rfm_scores(data.orders, "2026-06-30"), check_exact=True)
    pd.testing.assert_frame_equal(got["new_counts"], new_customer_counts(data.orders, "2026-06-30", data.customers),
                                  check_exact=True)
    assert got["abc"]["customer_id"].map(type).eq(str).all()
    assert got["rfm"]["customer_id"].is_monotonic_increasing
