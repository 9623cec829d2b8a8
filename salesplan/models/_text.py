"""Text columns as NumPy object arrays of ``str``, quickly and once."""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

__all__ = ["object_values", "str_codes", "str_values"]

#: ``id(arrow-backed string array) -> (its pyarrow data, the object array)``; an entry
#: lives as long as the pandas array it was read from (see :func:`str_values`).
_READ: dict[int, tuple] = {}


def str_values(s: pd.Series) -> np.ndarray:
    """``s.astype(str).to_numpy()``: an object array of ``str``, one per row.

    A pandas string column without missing values is read out directly: ``astype(str)``
    of such a column first builds a fixed-width NumPy unicode array (4 bytes per character
    of the longest value) and converts it back, ~4x slower at a million rows.  Other
    columns (numbers, objects, strings with missing values, which ``astype(str)`` spells
    ``"nan"``) take ``astype(str)``.

    An Arrow-backed string column is read once per distinct value (one Python ``str``
    per distinct id, shared by its rows: a 12-million-line column of 300,000 customer ids
    holds 300,000 strings, not 12 million, and hashes each once), and the result is
    remembered for as long as that column's data live, read-only: the models read the
    same ``orders.customer_id`` many times in one assessment.

    Parameters
    ----------
    s : Series

    Returns
    -------
    numpy.ndarray of object (str)
        Read-only when it came from an Arrow-backed column (copy it to change it).
    """
    if isinstance(s.dtype, pd.StringDtype):
        arr = s.array
        data = getattr(arr, "_pa_array", None)
        if data is not None:
            hit = _READ.get(id(arr))
            if hit is not None and hit[0] is data:
                return hit[1]
            if data.null_count == 0:
                codes, uniques = pd.factorize(arr)
                values = uniques.to_numpy(dtype=object)[codes]
                values.flags.writeable = False
                if id(arr) not in _READ:
                    weakref.finalize(arr, _READ.pop, id(arr), None)
                _READ[id(arr)] = (data, values)
                return values
        if not s.isna().any():
            return s.to_numpy(dtype=object)
    return s.astype(str).to_numpy()


def object_values(s: pd.Series) -> np.ndarray:
    """``s.astype(object).to_numpy()``: an object array, ``nan`` where a text value is missing.

    An Arrow-backed string column whose missing value is ``nan`` is read once per distinct
    value (its rows share one ``str`` per id, as in :func:`str_values`); any other column
    takes ``astype(object)``.  A new, writable array.
    """
    if isinstance(s.dtype, pd.StringDtype) and hasattr(s.array, "_pa_array") and s.dtype.na_value is np.nan:
        codes, uniques = pd.factorize(s.array)
        return np.append(uniques.to_numpy(dtype=object), np.nan)[codes]  # code -1 (missing) -> nan
    return s.astype(object).to_numpy()


def str_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of :func:`str_values`: ``names[codes]`` equals ``str_values(s)``.

    ``names`` are the distinct values, sorted; so a code's order is its text's order, and a
    group-by (or a sort) on the codes gives the groups (the order) of the texts, without
    hashing or comparing one string per row.  An Arrow-backed string column is factorized
    by Arrow and its distinct values sorted (a 12-million-row column of 300,000 ids sorts
    300,000 strings).

    Parameters
    ----------
    s : Series

    Returns
    -------
    (numpy.ndarray of int32, numpy.ndarray of object (str))
        ``codes`` (one per row, ``0 <= code < len(names)``) and ``names``.
    """
    if isinstance(s.dtype, pd.StringDtype) and getattr(s.array, "_pa_array", None) is not None \
            and s.array._pa_array.null_count == 0:
        codes, uniques = pd.factorize(s.array)
        uniques = uniques.to_numpy(dtype=object)
        order = np.argsort(uniques, kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        return rank[codes], uniques[order]
    codes, names = pd.factorize(str_values(s), sort=True)
    return codes.astype(np.int32), np.asarray(names, dtype=object)
