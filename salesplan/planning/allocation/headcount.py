"""Headcount and capacity: how many reps the targets need, and the hiring plan.

Part 1 of :mod:`salesplan.planning.allocation` (see its docstring for units and references).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date, require_columns
from salesplan.planning.allocation._common import _check_number, _month_start


# ======================================================================================
# 1. Headcount and capacity
# ======================================================================================
@dataclass(frozen=True)
class CapacityParams:
    """Sales-force sizing assumptions.

    Parameters
    ----------
    ramp_months : float
        Months until a new rep reaches full productivity.  Productivity ramps linearly:
        a rep in her ``k``-th month (``k = 1, 2, ...``) produces
        ``min(1, (k - 0.5) / ramp_months)`` of a full rep (mid-month tenure).
        ``0`` means productive from day one.
    expected_attainment : float
        Expected fraction of a full rep's quota capacity actually sold (e.g. 0.9).
    annual_attrition : float
        Fraction of reps leaving per year (unplanned).  The monthly hazard is
        ``q = annual_attrition / 12`` (simple rate, so hand examples stay readable).
    time_to_hire_months : float
        Months between opening a requisition and the new rep's first day.
    loaded_cost_per_month : float
        Fully loaded monthly cost of one rep (salary, variable pay at target, social
        charges, travel, tools), in currency.
    hiring_cost : float
        One-off cost of one hire (recruiting, onboarding), in currency.
    gross_margin_rate : float
        Gross margin per unit of sales, used by :func:`rep_break_even`.
    incremental_share : float
        Share of one additional rep's sales that is truly incremental (not taken from
        colleagues or from house accounts).  1 = every sale is new.
    """

    ramp_months: float = 6.0
    expected_attainment: float = 0.9
    annual_attrition: float = 0.15
    time_to_hire_months: int = 2
    loaded_cost_per_month: float = 10_000.0
    hiring_cost: float = 0.0
    gross_margin_rate: float = 0.35
    incremental_share: float = 1.0

    def __post_init__(self):
        _check_number("ramp_months", self.ramp_months, lo=0)
        _check_number("expected_attainment", self.expected_attainment, lo=0, lo_open=True, hi=2)
        _check_number("annual_attrition", self.annual_attrition, lo=0, hi=1)
        _check_number("time_to_hire_months", self.time_to_hire_months, lo=0)
        if int(self.time_to_hire_months) != self.time_to_hire_months:
            raise ValueError(
                f"time_to_hire_months must be a whole number of months, "
                f"got {self.time_to_hire_months!r}"
            )
        _check_number("loaded_cost_per_month", self.loaded_cost_per_month, lo=0)
        _check_number("hiring_cost", self.hiring_cost, lo=0)
        _check_number("gross_margin_rate", self.gross_margin_rate, lo=0, hi=1)
        _check_number("incremental_share", self.incremental_share, lo=0, hi=1)

    @property
    def monthly_attrition(self) -> float:
        """Monthly exit hazard ``q = annual_attrition / 12``."""
        return self.annual_attrition / 12.0

    @property
    def productive_fraction(self) -> float:
        """Steady-state share of a seat's time that is productive.

        Each seat cycles: a rep stays ``1/q`` months on average, of which the first
        ``R`` months ramp linearly (losing ``R/2`` months of output), then the seat is
        empty for ``T`` months (time to hire).  Productive fraction

        ``f = (1/q - R/2) / (1/q + T) = (1 - q R / 2) / (1 + q T)``

        (``1`` when ``q = 0``).
        """
        q = self.monthly_attrition
        if q == 0:
            return 1.0
        f = (1.0 - q * self.ramp_months / 2.0) / (1.0 + q * self.time_to_hire_months)
        return max(f, 1e-9)


def ramp_factor(tenure_months, ramp_months: float, curve=None) -> np.ndarray:
    """Productivity of a rep (share of a fully ramped rep): the one ramp of salesplan.

    ``t`` = tenure in months since the hire date (continuous; ``t < 0``: not hired, 0).

    * Linear: ``r(t) = min(1, t / ramp_months)`` (``ramp_months = 0``: 1 from day one).
    * With ``curve`` (productivity per tenure month, month ``k`` = tenure in ``(k-1, k]``):
      ``curve[k - 1]`` for ``k <= len(curve)``, else 1.

    A **month's** productivity is ``r`` at mid-month: tenure month ``k`` (hire month = 1)
    gives ``r(k - 0.5)``, which for the linear ramp is the month's average while ramping
    (``integral of t / R over (k-1, k] = (k - 0.5) / R``) and makes the output lost to a
    ramp ``R / 2`` months (:attr:`CapacityParams.productive_fraction`).  Used by the
    capacity and hiring plan here and by the quota capacity of
    :func:`salesplan.planning.targets.rep_capacity`.
    """
    t = np.asarray(tenure_months, dtype=float)
    if curve is not None:
        c = np.asarray(curve, dtype=float)
        k = np.maximum(np.ceil(t), 1).astype(int)
        out = np.where(k <= len(c), c[np.minimum(k, len(c)) - 1], 1.0)
    elif ramp_months <= 0:
        out = np.ones_like(t)
    else:
        out = np.minimum(1.0, np.maximum(t, 0.0) / float(ramp_months))
    return np.where(t < 0, 0.0, out)


def _per_region(value, regions, name: str) -> pd.Series:
    """Broadcast a scalar, Mapping, Series or (region, value) DataFrame to regions."""
    if isinstance(value, pd.DataFrame):
        if value.shape[1] == 1:
            value = value.iloc[:, 0]
        else:
            raise ValueError(f"{name}: pass a Series indexed by region, a mapping or a number")
    if isinstance(value, Mapping) and not isinstance(value, pd.Series):
        value = pd.Series(dict(value), dtype=float)
    if isinstance(value, pd.Series):
        missing = [r for r in regions if r not in value.index]
        if missing:
            raise ValueError(f"{name} has no value for region(s) {missing}")
        return value.reindex(list(regions)).astype(float)
    _check_number(name, value)
    return pd.Series(float(value), index=list(regions), dtype=float)


def rep_productivity(
    orders: pd.DataFrame,
    reps: pd.DataFrame,
    as_of,
    months: int = 12,
    ramp_months: float = 6.0,
    by: str = "region",
) -> pd.DataFrame:
    """Observed monthly sales of one fully ramped rep, by region.

    Sales over the trailing ``months`` months (``as_of`` included) credited to each rep
    (``orders.rep_id``), divided by that rep's *ramped* rep-months in the window
    (sum over the months the rep was employed of :func:`ramp_factor`).  Productivity of
    a region = sum of sales / sum of ramped rep-months.

    Returns
    -------
    DataFrame indexed by ``by`` with ``sales`` (currency), ``ramped_rep_months`` and
    ``productivity`` (currency per fully ramped rep per month).
    """
    require_columns(orders, "orders", ("order_date", "rep_id", "amount"))
    require_columns(reps, "reps", ("rep_id", by, "hire_date", "exit_date"))
    as_of = as_date(as_of, "as_of")
    start = _month_start(as_of) - pd.DateOffset(months=months - 1)
    win = orders[(orders["order_date"] >= start) & (orders["order_date"] <= as_of)]
    win = win[win["rep_id"].notna()]
    sales = win.groupby("rep_id")["amount"].sum()
    month_starts = pd.date_range(start, periods=months, freq="MS")
    rows = []
    for rep in reps.itertuples(index=False):
        hire = pd.Timestamp(rep.hire_date)
        exit_ = pd.Timestamp(rep.exit_date) if pd.notna(rep.exit_date) else None
        ramped = 0.0
        for m in month_starts:
            m_end = m + pd.offsets.MonthEnd(0)
            if hire > m_end or (exit_ is not None and exit_ < m):
                continue
            tenure = (m.year - hire.year) * 12 + (m.month - hire.month) + 0.5
            ramped += float(ramp_factor(tenure, ramp_months))
        rows.append((getattr(rep, by), rep.rep_id, ramped, float(sales.get(rep.rep_id, 0.0))))
    frame = pd.DataFrame(rows, columns=[by, "rep_id", "ramped_rep_months", "sales"])
    out = frame.groupby(by)[["sales", "ramped_rep_months"]].sum()
    out["productivity"] = out["sales"] / out["ramped_rep_months"].where(
        out["ramped_rep_months"] > 0
    )
    return out


def _targets_frame(targets: pd.DataFrame, target_col: str) -> pd.DataFrame:
    require_columns(targets, "targets", ("region", target_col))
    if targets["region"].duplicated().any() and "month" not in targets.columns:
        dup = targets.loc[targets["region"].duplicated(), "region"].tolist()
        raise ValueError(f"targets: region(s) {dup} appear more than once and there is no 'month'")
    if (pd.to_numeric(targets[target_col], errors="coerce") < 0).any():
        bad = targets.loc[targets[target_col] < 0, "region"].tolist()
        raise ValueError(f"targets.{target_col} must be >= 0; negative for {bad}")
    return targets.reset_index(drop=True)


def reps_needed(
    targets: pd.DataFrame,
    productivity,
    params: CapacityParams,
    period_months: float = 3.0,
    target_col: str = "target",
) -> pd.DataFrame:
    """Reps needed per region to carry its target.

    Formulas, per region ``r``::

        fte_r       = target_r / (productivity_r * expected_attainment * period_months)
        headcount_r = ceil(fte_r / productive_fraction)

    ``fte`` is the number of fully ramped, always-present reps the target needs;
    ``productive_fraction`` (:attr:`CapacityParams.productive_fraction`) grosses it up
    for seats that are empty or ramping because of attrition.

    Parameters
    ----------
    targets : DataFrame
        ``region`` and ``target_col`` (sales target for the period, currency).
    productivity : float, Mapping or Series
        Monthly sales of one fully ramped rep at 100% attainment, by region (see
        :func:`rep_productivity`).
    params : CapacityParams
    period_months : float
        Length of the target period in months.

    Returns
    -------
    DataFrame indexed by region: ``target``, ``productivity``, ``fte_needed``,
    ``headcount_needed`` (int).
    """
    _check_number("period_months", period_months, lo=0, lo_open=True)
    t = _targets_frame(targets, target_col).groupby("region", sort=False)[target_col].sum()
    prod = _per_region(productivity, t.index, "productivity")
    if (prod <= 0).any() or prod.isna().any():
        bad = prod[(prod <= 0) | prod.isna()].index.tolist()
        raise ValueError(f"productivity must be > 0 for every region; not for {bad}")
    fte = t / (prod * params.expected_attainment * period_months)
    head = np.ceil(fte / params.productive_fraction - 1e-9).astype(int)
    return pd.DataFrame(
        {"target": t, "productivity": prod, "fte_needed": fte, "headcount_needed": head}
    ).rename_axis("region")


def roster_capacity(
    reps: pd.DataFrame,
    as_of,
    horizon_months: int,
    params: CapacityParams,
) -> pd.DataFrame:
    """Expected effective FTE of today's roster, by region and future month.

    For each rep and plan month ``m = 1..horizon_months`` (the months after
    ``as_of``): present if hired by the month's end and not exited (``exit_date``, e.g.
    a planned exit) before the month starts; effective FTE =
    ``ramp_factor(tenure at mid-month) * (1 - q) ** (m - 0.5)`` where the survival term
    accounts for unplanned attrition (``q`` = monthly attrition).

    Returns
    -------
    DataFrame with ``region``, ``month`` (first day), ``m`` (1-based), ``headcount``
    (reps present, no attrition discount) and ``effective_fte``.
    """
    require_columns(reps, "reps", ("rep_id", "region", "hire_date", "exit_date"))
    as_of = as_date(as_of, "as_of")
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValueError(f"horizon_months must be a whole number >= 1, got {horizon_months!r}")
    first = _month_start(as_of) + pd.DateOffset(months=1)
    months = pd.date_range(first, periods=int(horizon_months), freq="MS")
    q = params.monthly_attrition
    rows = []
    for region, group in reps.groupby("region", sort=True):
        for k, m in enumerate(months, start=1):
            m_end = m + pd.offsets.MonthEnd(0)
            hire = pd.to_datetime(group["hire_date"])
            exit_ = pd.to_datetime(group["exit_date"])
            present = (hire <= m_end) & (exit_.isna() | (exit_ >= m))
            tenure = (m.year - hire.dt.year) * 12 + (m.month - hire.dt.month) + 0.5
            eff = ramp_factor(tenure[present].to_numpy(), params.ramp_months)
            surv = (1.0 - q) ** (k - 0.5)
            rows.append((region, m, k, int(present.sum()), float(eff.sum() * surv)))
    return pd.DataFrame(rows, columns=["region", "month", "m", "headcount", "effective_fte"])


def hiring_plan(
    targets: pd.DataFrame,
    reps: pd.DataFrame,
    productivity,
    params: CapacityParams,
    as_of,
    target_col: str = "target",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly hiring plan: who to requisition when so capacity carries the targets.

    ``targets`` holds one row per ``region`` and ``month`` (first day of each plan month
    after ``as_of``) with the monthly sales target.  For each region and month ``m``::

        need_m     = target_m / (productivity * expected_attainment)     (FTE)
        roster_m   = effective FTE of today's roster (see roster_capacity)
        gap_m      = need_m - roster_m - contribution of hires planned so far

    Hires start no earlier than month ``T + 1`` (requisitions opened now, ``T`` =
    time to hire).  Walking forward through the months, a positive gap in month ``m``
    is closed with ``ceil(gap / (1 - q) ** (m - s + 0.5))`` hires starting in month
    ``s = max(T + 1, m - ceil(R))`` -- the latest start that is fully ramped by ``m``
    when possible.  Hires are sized on heads (one hire = one FTE once ramped); while
    they ramp they contribute ``ramp_factor(age) * (1 - q) ** age`` FTE and the ramp
    shortfall stays visible in ``gap_fte`` (cover it with overtime, house accounts or
    earlier requisitions).  Gaps in
    months before ``T + 1`` cannot be closed by hiring and are reported as
    ``uncovered_fte``.

    Returns
    -------
    (monthly, hires)
        ``monthly``: region, month, need_fte, roster_fte, new_hire_fte, gap_fte
        (remaining shortfall, >= 0), uncovered_fte, headcount (roster present + hires
        started).  ``hires``: region, requisition_month, start_month, hires.
    """
    require_columns(targets, "targets", ("region", "month", target_col))
    as_of = as_date(as_of, "as_of")
    first = _month_start(as_of) + pd.DateOffset(months=1)
    tg = targets.reset_index(drop=True)
    tg["month"] = pd.to_datetime(tg["month"]).dt.to_period("M").dt.to_timestamp()
    tg["m"] = (tg["month"].dt.year - first.year) * 12 + (tg["month"].dt.month - first.month) + 1
    if (tg["m"] < 1).any():
        raise ValueError(f"targets.month must be after as_of={as_of.date()}; plan months start {first.date()}")
    horizon = int(tg["m"].max())
    regions = list(pd.unique(tg["region"]))
    prod = _per_region(productivity, regions, "productivity")
    roster = roster_capacity(reps[reps["region"].isin(regions)], as_of, horizon, params)
    q = params.monthly_attrition
    T = int(params.time_to_hire_months)
    R = params.ramp_months
    earliest = T + 1

    def contrib(m, s):
        age = m - s + 0.5
        if age <= 0:
            return 0.0
        return float(ramp_factor(age, R)) * (1.0 - q) ** age

    monthly, hires = [], []
    for region in regions:
        need = np.zeros(horizon)
        sub = tg[tg["region"] == region].groupby("m")[target_col].sum()
        for m, v in sub.items():
            need[m - 1] = v / (prod[region] * params.expected_attainment)
        rost = np.zeros(horizon)
        hc = np.zeros(horizon)
        rsub = roster[roster["region"] == region]
        rost[rsub["m"].to_numpy() - 1] = rsub["effective_fte"].to_numpy()
        hc[rsub["m"].to_numpy() - 1] = rsub["headcount"].to_numpy()
        planned: dict[int, int] = {}
        for m in range(1, horizon + 1):
            have = rost[m - 1] + sum(n * contrib(m, s) for s, n in planned.items())
            gap = need[m - 1] - have
            if gap <= 1e-9 or m < earliest:
                continue
            s = max(earliest, m - int(math.ceil(R)))
            # size on heads (a hire = 1 FTE once ramped): filling a gap with barely
            # ramped hires would over-hire for good; the ramp shortfall stays in gap_fte
            per = (1.0 - q) ** (m - s + 0.5)
            n = int(math.ceil(gap / per - 1e-9))
            planned[s] = planned.get(s, 0) + n
        for m in range(1, horizon + 1):
            new = sum(n * contrib(m, s) for s, n in planned.items())
            started = sum(n for s, n in planned.items() if s <= m)
            short = max(0.0, need[m - 1] - rost[m - 1] - new)
            monthly.append(
                (
                    region,
                    first + pd.DateOffset(months=m - 1),
                    need[m - 1],
                    rost[m - 1],
                    new,
                    short,
                    short if m < earliest else 0.0,
                    hc[m - 1] + started,
                )
            )
        for s, n in sorted(planned.items()):
            hires.append(
                (region, first + pd.DateOffset(months=s - 1 - T), first + pd.DateOffset(months=s - 1), n)
            )
    monthly_df = pd.DataFrame(
        monthly,
        columns=["region", "month", "need_fte", "roster_fte", "new_hire_fte", "gap_fte",
                 "uncovered_fte", "headcount"],
    )
    hires_df = pd.DataFrame(hires, columns=["region", "requisition_month", "start_month", "hires"])
    return monthly_df, hires_df


def rep_break_even(
    productivity,
    params: CapacityParams,
    horizon_months: int = 24,
    regions=None,
) -> pd.DataFrame:
    """Does one more rep pay for herself?  Incremental margin vs fully loaded cost.

    For a rep starting now, over months ``k = 1..horizon_months`` with survival
    ``S_k = (1 - q) ** (k - 0.5)``::

        margin = sum_k productivity * ramp_factor(k - 0.5) * expected_attainment
                       * incremental_share * gross_margin_rate * S_k
        cost   = hiring_cost + sum_k loaded_cost_per_month * S_k

    ``payback_month`` is the first month in which cumulative margin >= cumulative
    cost (NaN if never within the horizon).  ``steady_state_ratio`` = monthly margin of
    a fully ramped rep / monthly loaded cost.

    Returns
    -------
    DataFrame indexed by region: ``margin``, ``cost``, ``net``, ``break_even`` (bool),
    ``payback_month``, ``steady_state_ratio``.
    """
    if regions is None:
        if isinstance(productivity, (pd.Series, Mapping)):
            regions = list(productivity.keys() if isinstance(productivity, Mapping) else productivity.index)
        else:
            regions = ["all"]
    prod = _per_region(productivity, regions, "productivity")
    k = np.arange(1, int(horizon_months) + 1)
    surv = (1.0 - params.monthly_attrition) ** (k - 0.5)
    ramp = ramp_factor(k - 0.5, params.ramp_months)
    rows = {}
    for region, p in prod.items():
        m = p * ramp * params.expected_attainment * params.incremental_share
        m = m * params.gross_margin_rate * surv
        c = params.loaded_cost_per_month * surv
        cum = np.cumsum(m) - (np.cumsum(c) + params.hiring_cost)
        pay = int(k[np.argmax(cum >= 0)]) if (cum >= 0).any() else np.nan
        full = p * params.expected_attainment * params.incremental_share * params.gross_margin_rate
        rows[region] = {
            "margin": m.sum(),
            "cost": c.sum() + params.hiring_cost,
            "net": m.sum() - c.sum() - params.hiring_cost,
            "break_even": bool(m.sum() >= c.sum() + params.hiring_cost),
            "payback_month": pay,
            "steady_state_ratio": full / params.loaded_cost_per_month
            if params.loaded_cost_per_month > 0
            else np.inf,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("region")


