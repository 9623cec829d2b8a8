"""``str_values``: the same strings as ``astype(str).to_numpy()`` for every kind of column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.models._text import object_values, str_codes, str_values


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


def test_str_values_share_one_string_per_id_and_read_a_column_once():
    column = pd.Series(["C1", "C2", "C1", "C1"], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    got = str_values(column)
    assert got[0] is got[2] is got[3]  # one str per distinct id, not one per row
    assert str_values(column) is got  # the same column again: read once
    assert not got.flags.writeable  # shared, so read-only
    column.iloc[1] = "C9"  # a changed column is read again
    assert str_values(column).tolist() == ["C1", "C9", "C1", "C1"]


@pytest.mark.parametrize("column", [
    pd.Series(["R1", np.nan, "R2", "R1"], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    pd.Series(["R1", None, "R2"], dtype=pd.StringDtype("python")),
    pd.Series(["R1", None, 3], dtype=object),
    pd.Series([1, 2]),
])
def test_object_values_equal_astype_object(column):
    got = object_values(column)
    expected = column.astype(object).to_numpy()
    assert got.dtype == object
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g is e) or (g == e and type(g) is type(e)) or (pd.isna(g) and pd.isna(e) and type(g) is type(e))


@pytest.mark.parametrize("column", [
    pd.Series(["C2", "C10", "C1", "C2", "Ä"], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    pd.Series(["C2", "C10", "C1", "C2"], dtype=pd.StringDtype("python")),
    pd.Series(["b", np.nan, "a"], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    pd.Series(["b", 7, None], dtype=object),
    pd.Series([30, 4, 30]),
])
def test_str_codes_spell_str_values_in_text_order(column):
    codes, names = str_codes(column)
    assert names[codes].tolist() == column.astype(str).tolist()
    assert names.tolist() == sorted(set(column.astype(str)))  # distinct, sorted: code order = text order
    assert codes.dtype == np.int32
