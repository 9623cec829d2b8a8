"""Content fingerprints of input data, used to key caches and to record plan inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from salesplan.data.schema import SalesData


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 (hex) of a DataFrame's column names, dtypes and values, row order included.

    Uses :func:`pandas.util.hash_pandas_object`, which is stable across runs and
    platforms for the same values and dtypes.
    """
    return columns_fingerprint(
        ((frame.columns[i], frame.iloc[:, i]) for i in range(frame.shape[1])), frame.shape[1]
    )


def columns_fingerprint(columns: Iterable[tuple[object, pd.Series]], count: int) -> str:
    """:func:`frame_fingerprint` of the table whose columns are ``columns``, in order.

    ``columns`` yields ``(name, series)`` pairs (``count`` of them, all of one length) and
    may produce each column only when asked: the columns are hashed one at a time and
    only the running row hash (8 bytes a row) is kept between them, so a table read
    from its source one column at a time is never held whole
    (:meth:`salesplan.data.sources.Source.fingerprint`).
    """
    # pandas' row hash of a frame: its columns' hashes combined (hash_pandas_object), one
    # column prepared at a time so that a text column's Python objects live only while
    # it is hashed
    from pandas.core.util.hashing import combine_hash_arrays

    names: list[str] = []
    dtypes: list[str] = []

    def hashes():
        for name, series in columns:
            names.append(str(name))
            dtypes.append(_dtype_name(series.dtype))
            yield _column_hash(series)

    rows = combine_hash_arrays(hashes(), count)
    h = hashlib.sha256()
    h.update("\x1f".join(names).encode())
    h.update("\x1f".join(dtypes).encode())
    h.update(rows.tobytes())
    return h.hexdigest()


def _dtype_name(dtype) -> str:
    """The dtype as the fingerprint names it: text columns are ``object`` whether held as
    Python objects or as Arrow strings (:data:`~salesplan.data.schema.TEXT_DTYPE`), so
    the fingerprint of the same values does not depend on how they are held."""
    return "object" if isinstance(dtype, pd.StringDtype) else str(dtype)


#: rows of a text column turned into Python objects at a time for hashing
_CHUNK = 1_000_000


def _column_hash(s: pd.Series) -> np.ndarray:
    """pandas' hash of each value of column ``s`` (``hash_pandas_object(s, index=False)``).

    Values hash one by one, so a column of distinct texts is hashed in chunks of
    :data:`_CHUNK` rows: at most that many Python strings exist at once.
    """
    h = _hashable(s)
    if len(h) > _CHUNK and (h.dtype == object or isinstance(h.dtype, pd.StringDtype)):
        return np.concatenate([
            pd.util.hash_array(h.iloc[i : i + _CHUNK].to_numpy(dtype=object), categorize=False)
            for i in range(0, len(h), _CHUNK)
        ])
    return pd.util.hash_pandas_object(h, index=False, categorize=False).to_numpy()


def _hashable(s: pd.Series):
    """Column ``s`` in the form that hashes fastest to the same numbers.

    :func:`pandas.util.hash_pandas_object` gives each row the hash of its value whatever
    the form (nulls included): a categorical's categories are hashed once and taken by
    code, which suits repeated ids (customers, reps); a text column of mostly distinct
    values without nulls (line ids; a null hashes as the categorical's null only there) is
    hashed value by value as ``object``.  Which form is used depends on the share of
    distinct values among the first 10,000 rows; it changes the speed only.
    """
    if not (isinstance(s.dtype, pd.StringDtype) or s.dtype == object):
        return s
    head = s.iloc[:10_000]
    if head.nunique(dropna=False) > len(head) // 2 and not s.isna().any():
        return s if len(s) > _CHUNK else pd.Series(s.to_numpy(dtype=object), copy=False)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return pd.Series(
        pd.Categorical.from_codes(codes, pd.Index(np.asarray(uniques, dtype=object), dtype=object))
    )


def combine(stages, digests) -> str:
    """The bundle fingerprint from the funnel ``stages`` and ``(table, frame digest)`` pairs
    in contract order (:func:`frame_fingerprint` of each coerced table)."""
    h = hashlib.sha256()
    h.update(",".join(stages).encode())
    for name, digest in digests:
        h.update(name.encode())
        h.update(digest.encode())
    return h.hexdigest()


def fingerprint(data: SalesData | pd.DataFrame, coerce: bool = True) -> str:
    """SHA-256 (hex) of every present table of ``data`` after coercion to the contract.

    Two bundles with the same content give the same fingerprint whatever source they
    were loaded from (DuckDB, CSV, Parquet, PostgreSQL).

    Parameters
    ----------
    coerce : bool, default True
        Coerce the tables first (:meth:`SalesData.coerced`).  ``False`` skips that pass
        for a bundle that is already coerced -- what ``Source.load()`` and
        ``SalesData.coerced()`` return -- and gives the same fingerprint for it, since
        coercion is idempotent; on 1.2M order lines it saves ~3 s of the ~4 s.
    """
    if isinstance(data, pd.DataFrame):
        return frame_fingerprint(data)
    tables = (data.coerced() if coerce else data).tables()
    return combine(data.stages, ((name, frame_fingerprint(frame)) for name, frame in tables))
