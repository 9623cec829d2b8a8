"""Order lines -> series by integer key codes: the same series as grouping the lines by text."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast import summing_matrix, to_long
from salesplan.models.forecast.data import _order_periods, period_start


def _orders(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    cust = rng.choice(["C1", "C2", "C3", "C4", "C9"], n)  # C9: not in the customers table
    cust = np.where(rng.random(n) < 0.02, None, cust).astype(object)
    rep = rng.choice(["R1", "R2", "R3", None], n, p=[0.4, 0.3, 0.25, 0.05])
    return pd.DataFrame({"order_date": dates, "customer_id": pd.array(cust, dtype="string"),
                         "rep_id": pd.array(rep, dtype="string"),
                         "amount": np.round(rng.gamma(2.0, 500.0, n), 2)
                         * np.where(rng.random(n) < 0.05, -1, 1)})


def _customers():
    return pd.DataFrame({"customer_id": pd.array(["C1", "C2", "C3", "C4"], dtype="string"),
                         "region": pd.array(["North", "South", None, "North"], dtype="string")})


def _reference_long(lines, keys, freq):
    """The series by pandas on text keys (nulls '(none)'), grid filled with zeros."""
    work = pd.DataFrame({"ds": period_start(lines["order_date"], freq), "y": lines["amount"]})
    for k in keys:
        work[k] = lines[k].astype(object).where(lines[k].notna(), "(none)").astype(str)
    agg = work.groupby([*keys, "ds"], sort=True, as_index=False)["y"].sum()
    end = agg["ds"].max()
    out = []
    for kv, g in agg.groupby(list(keys), sort=True):
        kv = kv if isinstance(kv, tuple) else (kv,)
        grid = pd.date_range(g["ds"].min(), end, freq=freq)
        y = g.set_index("ds")["y"].reindex(grid, fill_value=0.0)
        out.append(pd.DataFrame({"unique_id": "|".join(f"{k}={v}" for k, v in zip(keys, kv)),
                                 "ds": grid, "y": y.to_numpy()}))
    return pd.concat(out, ignore_index=True).sort_values(["unique_id", "ds"], ignore_index=True)


@pytest.mark.parametrize("freq", ["MS", "QS", "W-MON"])
def test_customer_keys_same_series_as_merging_the_lines(freq):
    orders, customers = _orders(), _customers()
    merged = orders.merge(customers, on="customer_id", how="left")
    got = to_long(SimpleNamespace(orders=orders, customers=customers), keys=("region", "rep_id"), freq=freq)
    ref = _reference_long(merged, ("region", "rep_id"), freq)
    pd.testing.assert_frame_equal(got[["unique_id", "ds", "y"]], ref, check_exact=True)
    assert "region=(none)|rep_id=R1" in set(got["unique_id"])  # unknown / null customers, null region


def test_duplicate_customer_ids_still_merge():
    orders = _orders(500)
    customers = pd.concat([_customers(), _customers().iloc[[0]]], ignore_index=True)  # C1 twice
    merged = orders.merge(customers, on="customer_id", how="left")  # C1's lines twice, as before
    got = to_long(SimpleNamespace(orders=orders, customers=customers), keys=("region",))
    pd.testing.assert_frame_equal(got[["unique_id", "ds", "y"]], _reference_long(merged, ("region",), "MS"),
                                  check_exact=True)


def test_values_with_the_same_text_are_one_series():
    orders = pd.DataFrame({"order_date": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-03"]),
                           "amount": [1.0, 2.0, 4.0], "rep_id": pd.array([1, "1", None], dtype=object)})
    got = to_long(orders, keys=("rep_id",))
    assert list(got["unique_id"]) == ["rep_id=(none)", "rep_id=1", "rep_id=1"]
    assert list(got["y"]) == [4.0, 3.0, 0.0]


def test_missing_key_column_names_it():
    orders = _orders(50)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['segment'\]"):
        to_long(SimpleNamespace(orders=orders, customers=_customers()), keys=("segment",))


def test_lines_hold_codes_not_text():
    lines = _order_periods(SimpleNamespace(orders=_orders(), customers=_customers()), ("region", "rep_id"), "MS")
    # the smallest integer type for the codes: 4 reps' texts and "(none)"; 3 regions
    assert lines.codes["rep_id"].dtype == np.int8 and lines.period.dtype == np.int32
    assert sorted(lines.labels["region"]) == ["(none)", "North", "South"]


def test_summing_matrix_by_hand():
    bottom = pd.DataFrame({"region": ["N", "N", "S", "(none)"], "rep_id": ["a", "b", "a", "c"]})
    nodes = pd.DataFrame({"level": [0, 1, 1, 1, 2, 2, 2, 2],
                          "region": [None, "N", "S", "(none)", "N", "N", "S", "(none)"],
                          "rep_id": [None, None, None, None, "a", "b", "a", "c"]})
    S = summing_matrix(nodes, bottom, [(), ("region",), ("region", "rep_id")])
    expected = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                         [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    assert np.array_equal(S, expected)


def test_summing_matrix_null_keys_compare_as_values():
    bottom = pd.DataFrame({"region": ["N", None], "rep_id": ["a", "b"]})
    nodes = pd.DataFrame({"level": [0, 0], "region": ["N", None], "rep_id": [None, None]})
    S = summing_matrix(nodes, bottom, [("region",)])
    assert np.array_equal(S, np.array([[1.0, 0.0], [0.0, 1.0]]))  # None == None, as numpy compares


def test_code_types_grow_with_the_number_of_values():
    from salesplan.models.forecast.data import _code_type

    assert [_code_type(n) for n in (1, 128, 129, 32768, 32769)] == [np.int8, np.int8, np.int16, np.int16, np.int32]
    orders = pd.DataFrame({"order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(300) % 60, unit="D"),
                           "amount": 1.0, "rep_id": [f"R{i}" for i in range(300)]})
    lines = _order_periods(orders, ("rep_id",), "MS")
    assert lines.codes["rep_id"].dtype == np.int16
    pd.testing.assert_frame_equal(to_long(lines, keys=("rep_id",)), to_long(orders, keys=("rep_id",)), check_exact=True)
