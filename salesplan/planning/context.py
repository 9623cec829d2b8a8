"""The plan context: one definition of the plan quarter, its history and horizon.

Every planning notebook used to cut "the history" itself (three copies of the same
``min(quarter start - 1 day, last complete month end)`` rule).  :class:`PlanContext` is
built once from the loaded data and the plan quarter and handed to every planning step.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from salesplan.data import SalesData
from salesplan.data.orders import lines_until
from salesplan.planning.fiscal_calendar import fiscal_label

__all__ = ["PlanContext", "covers_quarter", "history_end_for"]

#: the plan quarter must end within this many months of the end of the history
MAX_HORIZON_MONTHS = 12


def history_end_for(orders: pd.DataFrame, quarter) -> pd.Timestamp:
    """Last day of the history used to plan ``quarter``.

    The history is the complete months before the quarter: it ends the day before the
    quarter starts, or earlier, at the end of the last month the data cover completely (a
    month is complete when the orders reach its last day).

    Parameters
    ----------
    orders : DataFrame
        Order lines with ``order_date``.
    quarter : str or pandas.Period
        The plan quarter, e.g. ``"2027Q1"``.

    Returns
    -------
    pandas.Timestamp
        ``min(quarter start - 1 day, end of the last complete month)``.
    """
    q = pd.Period(quarter, freq="Q")
    if len(orders) == 0:
        raise ValueError("orders: no order lines, so there is no history to plan from")
    last_day = pd.Timestamp(orders["order_date"].max())
    last_complete = (last_day + pd.Timedelta(days=1)).to_period("M").start_time - pd.Timedelta(days=1)
    return min(q.start_time - pd.Timedelta(days=1), last_complete)


def covers_quarter(first_order, quarter) -> bool:
    """True when a history whose first order is ``first_order`` covers the whole ``quarter``.

    Month grain: the first order falls in or before the quarter's first month (a company's
    first order rarely lands on the 1st).  Used for the same quarter last year: when it is
    not covered, its revenue is not last year's (growth rule and caps are off).
    """
    q = pd.Period(quarter, freq="Q")
    return pd.Timestamp(first_order).to_period("M") <= q.asfreq("M", "s")


@dataclass(frozen=True)
class PlanContext:
    """The plan quarter, the data and the history every planning step uses.

    Build it with :meth:`build`.  Attributes:

    Attributes
    ----------
    quarter : pandas.Period
        The plan quarter (calendar quarter).
    data : SalesData
        All the data as loaded (the weekly review reads the in-quarter orders from it).
    history : SalesData
        ``data`` with the order lines on or before ``history_end`` only (made on first
        use: a back-test quarter's history is a copy of most order lines, ~0.6 GB at 12M
        lines, which a step that cuts the lines itself need not hold).
    history_end : pandas.Timestamp
        See :func:`history_end_for`.
    input_fingerprint : str or None
        :func:`salesplan.data.fingerprint` of ``data`` (keys the plan store's runs).
    fiscal_year_start_month : int
        1 = calendar fiscal year; 4 = fiscal year from April (labels only).
    memo : MutableMapping
        Results computed once per data set and shared by every planning step of the
        context (and of the back-test contexts made from it with :meth:`with_quarter`),
        e.g. the scored pipeline of each snapshot date
        (:func:`salesplan.planning.targets.memo_scorer`).  Not part of equality.
    """

    quarter: pd.Period
    data: SalesData
    history_end: pd.Timestamp
    input_fingerprint: str | None = None
    fiscal_year_start_month: int = 1
    memo: MutableMapping = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, data: SalesData, period, *, input_fingerprint: str | None = None,
              fiscal_year_start_month: int = 1, max_horizon_months: int = MAX_HORIZON_MONTHS
              ) -> PlanContext:
        """The context of plan quarter ``period`` on ``data``.

        Raises
        ------
        ValueError
            When the quarter does not start after the history, or ends more than
            ``max_horizon_months`` months after it (one line naming both dates).
        """
        q = pd.Period(period, freq="Q")
        if not 1 <= int(fiscal_year_start_month) <= 12:
            raise ValueError(f"fiscal_year_start_month={fiscal_year_start_month!r}: expected 1..12")
        end = history_end_for(data.orders, q)
        h = (q.asfreq("M", "e") - end.to_period("M")).n
        if h < 3 or h > max_horizon_months:
            raise ValueError(
                f"period {q}: the history ends {end:%Y-%m-%d}, so the quarter ends {h} months after "
                f"it; plan a quarter that starts after the history and ends within "
                f"{max_horizon_months} months of it")
        return cls(q, data, end, input_fingerprint, int(fiscal_year_start_month))

    def history_lines(self) -> np.ndarray:
        """Boolean mask of the loaded order lines in the history (dated on or before
        ``history_end``)."""
        return (self.data.orders["order_date"] <= self.history_end).to_numpy()

    @cached_property
    def history(self) -> SalesData:
        """``data`` with the order lines on or before ``history_end`` only."""
        # every line in the history (the usual plan: the data end before the quarter): the
        # history shares the loaded frame instead of holding a filtered copy of it
        return replace(self.data, orders=lines_until(self.data.orders, self.history_end))

    def without_order_lines(self) -> PlanContext:
        """This context with none of the loaded order lines (an empty ``orders`` table of
        the same columns): the same quarter, history end, fingerprint and :attr:`memo`.

        For a notebook that has taken from the lines everything it needs (the forecast
        notebook: the lines coded for its series, the reps who sold, the monitoring quarter's
        context) and then keeps only the context's dates: at 12M order lines the lines are
        ~0.7 GB for the rest of the notebook.  Anything read from :attr:`data`'s or
        :attr:`history`'s orders after this is empty, so take it before.
        """
        return replace(self, data=self.data.without_tables("orders"))

    def with_quarter(self, period, **kwargs) -> PlanContext:
        """The context of another quarter on the same data (:meth:`build` with this context's
        fingerprint and fiscal year), sharing :attr:`memo`: what the memo holds depends on
        the data and the snapshot date only, never on the quarter planned."""
        kw = dict(input_fingerprint=self.input_fingerprint, fiscal_year_start_month=self.fiscal_year_start_month)
        return replace(PlanContext.build(self.data, period, **{**kw, **kwargs}), memo=self.memo)

    @property
    def period(self) -> str:
        """The plan quarter as text, e.g. ``"2027Q1"``."""
        return str(self.quarter)

    @property
    def last_month(self) -> pd.Period:
        """The last month of the history."""
        return self.history_end.to_period("M")

    @property
    def quarter_months(self) -> pd.PeriodIndex:
        """The three months of the plan quarter."""
        return pd.period_range(self.quarter.asfreq("M", "s"), self.quarter.asfreq("M", "e"), freq="M")

    @property
    def horizon_months(self) -> int:
        """Months from the end of the history to the end of the plan quarter (3..12)."""
        return (self.quarter_months[-1] - self.last_month).n

    @property
    def last_year_months(self) -> pd.PeriodIndex:
        """The same quarter a year earlier (months)."""
        return self.quarter_months - 12

    @property
    def previous_quarter_months(self) -> pd.PeriodIndex:
        """The quarter before the plan quarter (months)."""
        return self.quarter_months - 3

    @property
    def label(self) -> str:
        """The quarter's name in the company's fiscal calendar (``"2027Q1"``, ``"FY27Q4"``)."""
        return fiscal_label(self.quarter, self.fiscal_year_start_month)

    @property
    def regions(self) -> list[str]:
        """The company's regions, sorted: from the regions table, else the customers'."""
        if self.data.regions is not None:
            return sorted(self.data.regions["region"].astype(str))
        if self.data.customers is not None and "region" in self.data.customers:
            return sorted(self.data.customers["region"].dropna().astype(str).unique())
        return []
