"""``str_values``: the same strings as ``astype(str).to_numpy()`` for every kind of column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.models._text import str_values


@pytest.mark.parametrize("column", [
    pd.Series(["C1", "C22", "Ä-3", ""], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    pd.Series(["C1", "C22", "Ä-3", ""], dtype=pd.StringDtype("python")),
    pd.Series(["C1", np.nan, "C3"], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    pd.Series(["C1", 7, None], dtype=object),
    pd.Series([101, 102, 103]),
    pd.Series([], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
])
def test_str_values_equal_astype_str(column):
    got = str_values(column)
    expected = column.astype(str).to_numpy()
    assert got.dtype == object
    assert [type(v) for v in got] == [str] * len(column)
    assert got.tolist() == expected.tolist()
