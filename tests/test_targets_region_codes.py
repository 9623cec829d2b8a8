"""The targets' group-bys on integer region codes (issue 19): the order lines' region codes,
a quarter's revenue per region and the product mix give the same numbers as the text
group-bys they replace (hand examples, and sums whose rounding depends on the order)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.data.schema import SalesData
from salesplan.planning.targets import (
    PlanScope,
    TargetParams,
    _lookup,
    _quarter_revenue,
    _quarter_revenues,
    _region_lines,
    product_split,
)


def _data() -> SalesData:
    """Seven lines in 2026Q1-Q2: c1 North, c2 South, c3 without region (its rep r2 is in
    the East), c9 not a customer (rep r1, in the North)."""
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(7)],
        "order_date": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-03-31", "2026-04-01", "2026-02-03",
                                      "2026-02-10", "2026-06-30"]),
        "customer_id": ["c1", "c1", "c2", "c1", "c2", "c3", "c9"],
        "rep_id": ["r1", "r1", "r2", "r1", "r2", "r2", "r1"],
        "product_line": ["p", "q", "p", "p", "q", "p", "q"],
        "quantity": [1.0] * 7,
        "amount": [100.0, 50.0, 30.0, -20.0, 40.0, 70.0, 5.0],
    })
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "region": ["North", "South", np.nan]})
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "region": ["North", "East"]})
    return SalesData(orders=orders, customers=customers, reps=reps)


def test_region_codes_name_the_same_regions_as_the_text():
    o, lines = _region_lines(_data())
    assert list(o["region"]) == ["North", "North", "South", "North", "South", "East", "North"]
    assert list(lines.categories[lines.codes]) == list(o["region"])
    assert list(lines.categories) == ["North", "South", "East"]  # in the order they first occur


def test_lookup_codes_texts_in_first_seen_order_and_marks_missing():
    names: dict[str, int] = {"West": 0}
    table = pd.Series(["South", np.nan, 7, "South"], index=["a", "b", "c", "d"])
    keys = pd.Series(["d", "b", "x", "c", "a", None, "d"])
    # d -> South (new: 1), b -> no value, x -> unknown key, c -> 7 as text "7" (new: 2)
    assert list(_lookup(keys, table, names)) == [1, -1, -1, 2, 1, -1, 1]
    assert names == {"West": 0, "South": 1, "7": 2}
    assert list(_lookup(pd.Series([], dtype=object), table, names)) == []


def test_quarter_revenues_hand_example():
    o, lines = _region_lines(_data())
    q1, q2 = pd.Period("2026Q1"), pd.Period("2026Q2")
    rev = _quarter_revenues(o, lines, pd.period_range(q1, q2, freq="Q"), ["East", "North", "West", "South"])
    # Q1: East 70 (c3 via r2), North 100 + 50, West no lines, South 30 + 40;
    # Q2: North -20 + 5 (c9 via r1); 31 Mar and 1 Apr fall in their own quarters
    np.testing.assert_array_equal(rev[q1], [70.0, 150.0, 0.0, 70.0])
    np.testing.assert_array_equal(rev[q2], [0.0, -15.0, 0.0, 0.0])
    assert _quarter_revenues(o, lines, pd.PeriodIndex([], freq="Q"), ["North"]) == {}


def test_quarter_revenues_equal_the_text_group_by_bit_for_bit():
    rng = np.random.default_rng(3)
    n = 20_000
    regions = np.array(["North", "South", "East", "(none)"], dtype=object)
    o = pd.DataFrame({
        "order_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D"),
        # magnitudes from 1e-3 to 1e7: a sum's last bits depend on the order of its terms
        "amount": rng.normal(size=n) * 10.0 ** rng.integers(-3, 8, n),
    })
    o.loc[rng.integers(0, n, 50), "amount"] = np.nan
    code = rng.integers(0, len(regions), n)
    o["region"] = regions[code]
    lines = pd.Categorical.from_codes(code, categories=pd.Index(regions, dtype=object))
    quarters = pd.period_range("2025Q1", "2027Q1", freq="Q")  # 2027Q1 has no lines
    wanted = ["South", "West", "North", "East"]
    rev = _quarter_revenues(o, lines, quarters, wanted)
    for q in quarters:
        expected = _quarter_revenue(o, q).reindex(wanted, fill_value=0.0).to_numpy(float)
        assert rev[q].tobytes() == expected.tobytes(), q


def _scope(o: pd.DataFrame, lines, regions) -> PlanScope:
    R = len(regions)
    return PlanScope(pd.Period("2026Q3"), pd.DatetimeIndex([]), pd.Timestamp("2026-06-30"),
                     o["order_date"].min(), o, regions, regions, pd.DataFrame(), np.zeros((1, R, 3)),
                     np.zeros((1, 3)), np.array([]), np.array([]), np.zeros(R), pd.Period("2025Q3"), [],
                     order_regions=lines)


def test_product_split_hand_example_with_and_without_codes():
    o, lines = _region_lines(_data())
    params = TargetParams(quarter="2026Q3", product_quarters=2, rounding_unit=1.0)
    regions = ["North", "South", "West"]
    with_codes = product_split(np.array([300.0, 110.0, 40.0]), _scope(o, lines, regions), params)
    from_text = product_split(np.array([300.0, 110.0, 40.0]), _scope(o, None, regions), params)
    pd.testing.assert_frame_equal(with_codes, from_text)
    # North: p 100 - 20 = 80, q 50 + 5 = 55; South: p 30, q 40; West has no lines: the
    # company mix (p 100 - 20 + 30 + 70 = 180, q 50 + 40 + 5 = 95)
    assert list(with_codes["region"]) == ["North", "North", "South", "South", "West", "West"]
    assert list(with_codes["product_line"]) == ["p", "q"] * 3
    np.testing.assert_array_equal(with_codes["mix_revenue"], [80.0, 55.0, 30.0, 40.0, 180.0, 95.0])
    np.testing.assert_array_equal(with_codes["target"], [178.0, 122.0, 47.0, 63.0, 26.0, 14.0])
