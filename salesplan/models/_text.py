"""Text columns as NumPy object arrays of ``str``, quickly."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["str_values"]


def str_values(s: pd.Series) -> np.ndarray:
    """``s.astype(str).to_numpy()``: an object array of ``str``, one per row.

    A pandas string column without missing values is read out directly: ``astype(str)``
    of such a column first builds a fixed-width NumPy unicode array (4 bytes per character
    of the longest value) and converts it back, ~4x slower at a million rows.  Other
    columns (numbers, objects, strings with missing values, which ``astype(str)`` spells
    ``"nan"``) take ``astype(str)``.

    Parameters
    ----------
    s : Series

    Returns
    -------
    numpy.ndarray of object (str)
    """
    if isinstance(s.dtype, pd.StringDtype) and not s.isna().any():
        return s.to_numpy(dtype=object)
    return s.astype(str).to_numpy()
