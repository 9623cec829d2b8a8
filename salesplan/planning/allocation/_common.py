"""Small helpers shared by the allocation modules."""

from __future__ import annotations

import pandas as pd

from salesplan.data.checks import check_number

# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
#: the package's one parameter validator (:func:`salesplan.data.checks.check_number`)
_check_number = check_number


def _month_start(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(year=ts.year, month=ts.month, day=1)


