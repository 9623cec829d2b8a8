"""The targets notebook's cheaper paths give the numbers of the paths they replace (issue 19).

``largest_remainder_rows`` against the one-row ``largest_remainder`` (bit for bit) and the
stage entry dates of ``funnel._first_entries`` against hand-written dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.planning import funnel as fn
from salesplan.planning.targets import (
    largest_remainder,
    largest_remainder_rows,
)


def test_largest_remainder_rows_hand_example():
    # 1,000 in units of 100 = 10 units: 3.33 each -> 3, 3, 3 and the one left to the first (ties: lowest index);
    # 700 by 5 : 2 -> 5.0 and 2.0 units exactly; a row of zero weights -> equal shares 2, 1, 1 units of 100 = 400
    out = largest_remainder_rows([1000.0, 700.0, 400.0], [[1, 1, 1], [5, 2, 0], [0, 0, 0]], 100.0)
    np.testing.assert_array_equal(out, [[400.0, 300.0, 300.0], [500.0, 200.0, 0.0], [200.0, 100.0, 100.0]])


@pytest.mark.parametrize("width", [1, 3, 8, 13, 14, 17])
def test_largest_remainder_rows_equal_the_one_row_calls_bit_for_bit(width):
    rng = np.random.default_rng(width)
    n = 40
    w = rng.lognormal(0, 2, (n, width)) * rng.choice([1e-3, 1.0, 1e6], (n, 1))
    w[rng.random((n, width)) < 0.15] = 0.0
    w[0] = 0.0
    totals = np.round(rng.lognormal(10, 3, n)) * 100
    for weights in (w, np.asfortranarray(w)):  # rows strided as the weekly splits give them
        one = np.array([largest_remainder(totals[i], weights[i], 100.0) for i in range(n)])
        rows = largest_remainder_rows(totals, weights, 100.0)
        assert rows.shape == (n, width) and rows.tobytes() == one.tobytes()
        np.testing.assert_array_equal(rows.sum(axis=1), totals)


def test_largest_remainder_rows_refuses_as_the_one_row_call():
    with pytest.raises(ValueError, match="multiple of unit"):
        largest_remainder_rows([1000.0, 150.0], [[1, 1], [1, 1]], 100.0)
    with pytest.raises(ValueError, match="finite and >= 0"):
        largest_remainder_rows([1000.0], [[1, -1]], 100.0)
    assert largest_remainder_rows([], np.zeros((0, 3)), 100.0).shape == (0,)  # as np.array([]) of no rows
    for total in (np.nan, np.inf):  # a total that is no number is refused, never split into NaN quotas
        with pytest.raises(ValueError, match="multiple of unit"):
            largest_remainder(total, [1, 2, 3], 100.0)
        with pytest.raises(ValueError, match="multiple of unit"):
            largest_remainder_rows([1000.0, total], [[1, 1, 1], [1, 2, 3]], 100.0)


def test_first_entries_hand_example():
    stages = ["lead", "qualified", "proposal"]
    sh = pd.DataFrame({
        "opportunity_id": ["o1", "o1", "o1", "o2", "o2", "o9", "o3"],
        "stage": ["lead", "lead", "proposal", "qualified", "unknown", "lead", "lead"],
        "entered_date": pd.to_datetime(["2026-03-05", "2026-03-01", "2026-04-01", "2026-02-10",
                                        "2026-01-01", "2026-01-01", None]),
    })
    got = fn._first_entries(sh, pd.Index(["o1", "o2", "o3"]), stages)
    nat = np.datetime64("NaT")
    want = np.array([[np.datetime64("2026-03-01"), nat, np.datetime64("2026-04-01")],  # the earlier of two lead entries
                     [nat, np.datetime64("2026-02-10"), nat],  # an unknown stage left out
                     [nat, nat, nat]], dtype="datetime64[ns]")  # no date: no entry; o9 is not asked for
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
