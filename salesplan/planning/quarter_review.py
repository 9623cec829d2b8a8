"""The quarter-end rep review (notebook ``07_quarter_review``) as plain functions.

Which quarter is reviewed (:func:`review_quarter`), which quotas judge it
(:func:`quarter_quotas`: the quarter's approved plan, else its latest plan, else the quotas
the targets notebook re-built for it), and the review itself (:func:`quarter_review`): KPIs,
ranking, driver diagnosis of the misses, commission statement and KPI boards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from salesplan.data import SalesData
from salesplan.planning.commission import CommissionPlan
from salesplan.planning.performance import (
    DiagnosisParams,
    commission_statement,
    diagnose_misses,
    kpi_board,
    rank_reps,
    rep_kpis,
)

__all__ = ["QuarterReview", "missed_reps", "quarter_quotas", "quarter_review", "review_quarter"]

NO_QUOTAS = "no quotas of the quarter in the plan store: reps are judged on growth against peers"


def review_quarter(orders: pd.DataFrame, period, quarter=None) -> pd.Period:
    """The quarter to review: ``quarter``, else the last complete quarter of ``orders``
    before the plan quarter ``period``.

    A quarter is complete when the orders reach its last day:
    ``min(period - 1, quarter(last order + 1 day) - 1)``.
    """
    if quarter is not None:
        return pd.Period(quarter, freq="Q")
    last = pd.Timestamp(orders["order_date"].max())
    return min(pd.Period(period, freq="Q") - 1, (last + pd.Timedelta(days=1)).to_period("Q") - 1)


def quarter_quotas(store, quarter, period) -> tuple[pd.Series | None, str]:
    """Quotas (rep_id -> currency) the reviewed quarter is judged on, and a one-line note.

    In order: the approved plan of ``quarter`` in ``store`` (a
    :class:`salesplan.data.PlanStore`); its latest ``targets`` run when none is approved
    (the note says so); the quotas the targets notebook of plan quarter ``period`` re-built
    for ``quarter`` (table ``<quarter>_monitor_summary``); else None (reps are judged on
    growth against peers).
    """
    q = str(pd.Period(quarter, freq="Q"))
    run = store.approved_run(q)
    if run is not None and "reps" in run.tables:
        return run.tables["reps"].set_index("rep_id")["quota"], f"quotas of the approved {q} plan"
    try:
        t = store.read_run(kind="targets", period=q).tables["reps"]
        return t.set_index("rep_id")["quota"], f"quotas of the latest {q} plan (none is approved)"
    except KeyError:
        pass
    try:
        mon = store.read_run(kind="targets", period=str(period)).tables[f"{q}_monitor_summary"]
    except KeyError:
        return None, NO_QUOTAS
    r = mon[mon["level"] == "rep"]
    return r.set_index("entity")["plan_quarter"], f"quotas of the {q} plan as re-built by the targets notebook of {period}"


def missed_reps(kpis: pd.DataFrame, has_quotas: bool) -> pd.Series:
    """Who missed: attainment under 100% with quotas, else growth on last year under the
    reps' median (bool per row of ``kpis``)."""
    if has_quotas:
        return kpis["attainment"] < 1
    return kpis["growth_yoy"] < kpis["growth_yoy"].median()


@dataclass(frozen=True)
class QuarterReview:
    """The quarter-end review of quarter ``quarter`` (amounts in company currency).

    Attributes
    ----------
    kpis, ranked, diagnosis : DataFrame
        :func:`~salesplan.planning.performance.rep_kpis`, :func:`~.rank_reps`,
        :func:`~.diagnose_misses`.
    statement : DataFrame
        :func:`~salesplan.planning.performance.commission_statement` (months and ``total``).
    board, board_reps : DataFrame
        :func:`~salesplan.planning.performance.kpi_board` by region (with the ``company``
        row) and by rep.
    missed : Series of bool
        :func:`missed_reps`, aligned with ``kpis``.
    notes : tuple of str
        One line per KPI or part switched off.
    """

    quarter: pd.Period
    kpis: pd.DataFrame
    ranked: pd.DataFrame
    diagnosis: pd.DataFrame
    statement: pd.DataFrame
    board: pd.DataFrame
    board_reps: pd.DataFrame
    missed: pd.Series
    notes: tuple = field(default_factory=tuple)

    @property
    def totals(self) -> pd.DataFrame:
        """The commission statement's quarter rows, indexed by rep_id."""
        return self.statement[self.statement["period"] == "total"].set_index("rep_id")

    @property
    def company(self) -> pd.Series:
        """The company row of the KPI board."""
        return self.board[self.board["region"] == "company"].iloc[0]

    @property
    def has_regions(self) -> bool:
        """True when the KPI board has at least one region row."""
        return bool((self.board["region"] != "company").any())

    def first_reasons(self) -> pd.Series:
        """How often each driver is the first named reason of a miss, most frequent first."""
        d = self.diagnosis
        return d[(d["rank"] == 1) & (d["driver"] != "none found")]["driver"].value_counts()

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables saved to the plan store (kind ``rep_review``)."""
        return {"rep_kpis": self.ranked, "diagnosis": self.diagnosis, "commission": self.statement,
                "kpi_board": self.board, "kpi_board_reps": self.board_reps}


def quarter_review(data: SalesData, quarter, *, quotas: pd.Series | None = None,
                   commission: CommissionPlan = CommissionPlan(),
                   diagnosis: DiagnosisParams = DiagnosisParams()) -> QuarterReview:
    """KPIs, ranking, diagnosis of the misses, commission and KPI boards of ``quarter``.

    Parameters
    ----------
    data : SalesData
        Orders (required); the other tables switch on the KPIs that need them.
    quarter : str or pandas.Period
        The quarter reviewed (complete).
    quotas : Series, optional
        rep_id -> quota of the quarter (:func:`quarter_quotas`); without them a rep missed
        when the growth on last year is under the reps' median.
    commission : CommissionPlan
        Applied to each month's actual sales, plus base pay.
    diagnosis : DiagnosisParams
        Threshold against the peers' median and the time box.
    """
    q = pd.Period(quarter, freq="Q")
    kpis, notes = rep_kpis(data, q, quotas=quotas)
    both = (kpis, rep_kpis(data, q - 1)[0])  # each quarter's KPIs once, for both boards
    if data.reps is None:
        notes = [*notes, "no reps table: the KPI board by region is off (the company row remains)"]
    return QuarterReview(q, kpis, rank_reps(kpis), diagnose_misses(kpis, diagnosis),
                         commission_statement(data.orders, q, commission), kpi_board(data, q, by="region", kpis=both),
                         kpi_board(data, q, by="rep_id", kpis=both), missed_reps(kpis, quotas is not None), tuple(notes))
