"""The row of the summing matrix that holds each bottom series (reconciliation)."""

import numpy as np
import pytest

from salesplan.models.forecast.hierarchy import _bottom_rows


def test_bottom_rows_found_in_a_shuffled_summing_matrix():
    # rows: total, bottom 1, region {0, 1}, bottom 0, bottom 2, a second row of bottom 0
    S = np.array([
        [1, 1, 1],
        [0, 1, 0],
        [1, 1, 0],
        [1, 0, 0],
        [0, 0, 1],
        [1, 0, 0],
    ], dtype=float)
    # bottom 0 has two rows of its own (3 and 5): the last one is used
    assert _bottom_rows(S).tolist() == [5, 1, 4]


def test_a_bottom_series_without_a_row_of_its_own_is_named():
    S = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 1, 1]], dtype=float)
    with pytest.raises(ValueError, match="bottom series 2 has no row of S of its own"):
        _bottom_rows(S)
