"""Resource allocation plans: headcount, marketing budget and account coverage.

Where the people, time and money go next period to carry the targets (domain.md
sections 2, 4 and 5).  Three independent parts, each a set of plain functions over
DataFrames with a frozen, self-validating parameter dataclass:

1. **Headcount and capacity** -- :class:`CapacityParams`, :func:`rep_productivity`,
   :func:`reps_needed`, :func:`roster_capacity`, :func:`hiring_plan`,
   :func:`rep_break_even`.
2. **Budget allocation** -- response curves (:class:`ResponseCurve`) fitted from the
   ``marketing_spend`` history (:func:`fit_response_curves`) or calibrated from a
   planner's judgments (:func:`calibrate_from_judgments`, Little's four points), the
   optimiser :func:`optimise_budget` under :class:`BudgetConstraints`, the rule of thumb
   :func:`rule_of_thumb_allocation` ("80% where the A-class customers are"),
   :func:`compare_allocations` and :func:`curve_sensitivity`.
3. **Account coverage** -- :class:`CoverageParams`, :func:`account_book`,
   :func:`coverage_load`, :func:`suggest_reassignments`.

This module imports :mod:`salesplan.data` and :mod:`salesplan.segments` (ABC classes and
lifecycle stages, used when the caller does not pass them); targets and forecasts come
in as DataFrame columns so that planning modules stay free of import cycles.

Units
-----
Money is in the company currency.  Response curves map the spend of **one month** in
one allocation unit (a region, or a region x customer-class cell -- the optimiser does
not care what the keys mean) to the **incremental gross margin of that month**.  A
budget over ``months`` months is spread evenly over them, so a period allocation ``X``
earns ``months * r(X / months)``.

References
----------
.. [Little70] Little, J. D. C. (1970). Models and managers: the concept of a decision
   calculus. *Management Science* 16(8), B466-B485 (ADBUDG and the judgmental
   calibration from four points).
.. [Zoltners] Zoltners, A. A., Sinha, P. and Lorimer, S. E. (2004). *Sales Force Design
   for Strategic Advantage*, ch. 5-6 (sizing from workload and from response).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from salesplan.data.checks import as_date, require_columns
from salesplan.segments import LIFECYCLE_STAGES, ABCParams
from salesplan.segments import abc_classes as _segment_abc_classes
from salesplan.segments import lifecycle_stages as _segment_lifecycle_stages

__all__ = [
    # headcount
    "CapacityParams",
    "ramp_factor",
    "rep_productivity",
    "reps_needed",
    "roster_capacity",
    "hiring_plan",
    "rep_break_even",
    # budget
    "ResponseCurve",
    "BudgetConstraints",
    "BudgetPlan",
    "monthly_region_sales",
    "fit_response_curves",
    "curves_from_fit",
    "calibrate_from_judgments",
    "optimise_budget",
    "evaluate_allocation",
    "a_class_share_by_region",
    "rule_of_thumb_allocation",
    "compare_allocations",
    "curve_sensitivity",
    # coverage
    "LIFECYCLE_STAGES",
    "CoverageParams",
    "account_book",
    "coverage_load",
    "suggest_reassignments",
]


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def _check_number(name: str, value, lo=None, hi=None, lo_open=False, allow_none=False):
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        rel = ">" if lo_open else ">="
        raise ValueError(f"{name} must be {rel} {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be <= {hi}, got {value!r}")


def _month_start(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(year=ts.year, month=ts.month, day=1)


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


def ramp_factor(tenure_months, ramp_months: float) -> np.ndarray:
    """Productivity of a rep with ``tenure_months`` of tenure, linear ramp.

    ``min(1, max(0, tenure) / ramp_months)`` (1 when ``ramp_months == 0``).  Callers
    that work month by month pass the mid-month tenure ``k - 0.5``.
    """
    t = np.maximum(np.asarray(tenure_months, dtype=float), 0.0)
    if ramp_months <= 0:
        return np.where(t >= 0, 1.0, 0.0)
    return np.minimum(1.0, t / float(ramp_months))


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


# ======================================================================================
# 2. Budget allocation
# ======================================================================================
_KINDS = ("exp", "adbudg", "callable", "expmix", "held")


@dataclass(frozen=True)
class ResponseCurve:
    """Incremental gross margin of one month as a function of that month's spend.

    Kinds
    -----
    ``"exp"`` (concave, saturating)
        ``r(x) = a * (1 - exp(-x / b))``; ``a`` = margin at saturation, ``b`` = spend
        scale (``r(b) = 0.63 a``).  ``r'(x) = (a / b) exp(-x / b)``.
    ``"adbudg"`` (Little's ADBUDG / Hill curve; S-shaped when ``c > 1``)
        ``r(x) = a * x**c / (b**c + x**c)``; ``b`` = half-saturation spend, ``c`` =
        shape.  Little's full form adds the response at zero spend, kept in ``floor``
        (reported, irrelevant to the optimum).
    ``"expmix"`` (expected exponential curve under parameter uncertainty)
        ``r(x) = mean_d a_d * (1 - exp(-x / b_d))`` over posterior draws ``(a_d, b_d)``
        (``draws``, a tuple of (a, b) pairs; see :func:`fit_response_curves`).  A mean of
        concave curves, so concave; optimising it maximises the *expected* margin
        rather than the margin at the point estimate.  ``a``, ``b`` hold the point
        estimate (display only).
    ``"held"`` (no usable curve)
        The data do not identify the curve and no comparable region lends one: the
        optimiser keeps the unit at ``hold`` (monthly spend, the status quo) and the
        curve's value is unknown (``NaN``); ``reason`` says why.
    ``"callable"``
        ``r(x) = fn(x)`` (e.g. a generator's true curve).  Marginals by central
        differences.

    ``a``, ``b`` > 0; ``c`` > 0.
    """

    kind: str = "exp"
    a: float = 1.0
    b: float = 1.0
    c: float = 1.0
    floor: float = 0.0
    fn: Callable[[float], float] | None = field(default=None, compare=False, repr=False)
    draws: tuple | None = field(default=None, compare=False, repr=False)
    hold: float | None = None
    reason: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"ResponseCurve.kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "callable":
            if not callable(self.fn):
                raise ValueError("ResponseCurve(kind='callable') needs a callable fn")
            return
        if self.kind == "held":
            _check_number("ResponseCurve.hold", self.hold, lo=0)
            return
        if self.kind == "expmix":
            d = np.asarray(self.draws, dtype=float) if self.draws is not None else np.zeros((0, 2))
            if d.ndim != 2 or d.shape[1] != 2 or len(d) == 0:
                raise ValueError("ResponseCurve(kind='expmix') needs draws: a sequence of (a, b) pairs")
            if not (np.isfinite(d).all() and (d[:, 0] >= 0).all() and (d[:, 1] > 0).all()):
                raise ValueError("ResponseCurve(kind='expmix'): draws need a >= 0 and b > 0, finite")
            object.__setattr__(self, "_a", d[:, 0].copy())
            object.__setattr__(self, "_b", d[:, 1].copy())
        _check_number("ResponseCurve.a", self.a, lo=0)
        _check_number("ResponseCurve.b", self.b, lo=0, lo_open=True)
        _check_number("ResponseCurve.c", self.c, lo=0, lo_open=True)

    # -- evaluation ---------------------------------------------------------------
    def __call__(self, x):
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        if self.kind == "exp":
            return self.a * -np.expm1(-x / self.b)
        if self.kind == "expmix":
            return (self._a * -np.expm1(-x[..., None] / self._b)).mean(axis=-1)
        if self.kind == "held":
            return np.full(x.shape, np.nan) if x.ndim else np.float64(np.nan)
        if self.kind == "adbudg":
            z = (x / self.b) ** self.c
            return self.a * z / (1.0 + z)
        f = np.vectorize(lambda v: float(self.fn(float(v))), otypes=[float])
        return f(x)

    def marginal(self, x):
        """``r'(x)``: incremental margin of the next unit of monthly spend."""
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        if self.kind == "exp":
            return self.a / self.b * np.exp(-x / self.b)
        if self.kind == "expmix":
            return (self._a / self._b * np.exp(-x[..., None] / self._b)).mean(axis=-1)
        if self.kind == "held":
            return np.full(x.shape, np.nan) if x.ndim else np.float64(np.nan)
        if self.kind == "adbudg":
            with np.errstate(divide="ignore", invalid="ignore"):
                u = x / self.b
                z = u**self.c
                d = self.a * self.c * u ** (self.c - 1.0) / self.b / (1.0 + z) ** 2
            if self.c < 1:
                d = np.where(x == 0, np.inf, d)
            return d
        h = np.maximum(1e-6 * np.maximum(x, 1.0), 1e-6)
        lo = np.maximum(x - h, 0.0)
        return (self(x + h) - self(lo)) / (x + h - lo)

    @property
    def concave(self) -> bool:
        """True when ``r`` is concave on ``x >= 0`` (exact KKT applies)."""
        return self.kind in ("exp", "expmix", "held") or (self.kind == "adbudg" and self.c <= 1.0)

    def inverse_marginal(self, lam: float) -> float:
        """Spend ``x >= 0`` with ``r'(x) = lam`` (0 if ``r'(0) <= lam``); concave only."""
        if self.kind == "exp":
            top = self.a / self.b
            return 0.0 if lam >= top or self.a == 0 else float(self.b * math.log(top / lam))
        if not self.concave:
            raise ValueError("inverse_marginal needs a concave curve")
        if self.kind == "held":
            return float(self.hold)
        if float(self.marginal(0.0)) <= lam:
            return 0.0
        hi = self.b
        while float(self.marginal(hi)) > lam:
            hi *= 2.0
            if hi > 1e300:
                return hi
        return float(optimize.brentq(lambda v: float(self.marginal(v)) - lam, 0.0, hi, xtol=1e-12 * hi))

    def scaled(self, a_factor: float = 1.0, b_factor: float = 1.0) -> ResponseCurve:
        """The curve with ``a`` and ``b`` multiplied (callable: output times a_factor)."""
        if self.kind == "callable":
            fn = self.fn
            return ResponseCurve("callable", fn=lambda v: a_factor * fn(v))
        if self.kind == "held":
            return self
        draws = None
        if self.kind == "expmix":
            draws = tuple(zip(self._a * a_factor, self._b * b_factor))
        return ResponseCurve(self.kind, self.a * a_factor, self.b * b_factor, self.c, self.floor,
                             draws=draws)


def _curves_dict(curves) -> dict[str, ResponseCurve]:
    if isinstance(curves, pd.DataFrame):
        return curves_from_fit(curves)
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping unit -> ResponseCurve (or a fit table)")
    for k, v in curves.items():
        if not isinstance(v, ResponseCurve):
            raise ValueError(f"curves[{k!r}] must be a ResponseCurve, got {type(v).__name__}")
    return dict(curves)


@dataclass(frozen=True)
class BudgetConstraints:
    """Constraints on a budget split (amounts per period, currency).

    Parameters
    ----------
    total : float
        Budget of the period, >= 0.
    minimum, maximum : float or Mapping unit -> float
        Per-unit floor and ceiling (``maximum=None``: no ceiling).
    last_year : Mapping unit -> float, optional
        Spend of the same period last year, required when ``max_change`` is set.
    max_change : float, optional
        Maximum relative change against last year: ``|x_i - ly_i| <= max_change * ly_i``.
    spend_all : bool
        True: spend exactly ``total``.  False: spend at most ``total`` and stop where a
        unit of spend returns less than a unit of margin (objective = margin - spend).
    """

    total: float
    minimum: float | Mapping[str, float] = 0.0
    maximum: float | Mapping[str, float] | None = None
    last_year: Mapping[str, float] | None = None
    max_change: float | None = None
    spend_all: bool = True

    def __post_init__(self):
        _check_number("total", self.total, lo=0)
        for name in ("minimum", "maximum", "last_year"):
            v = getattr(self, name)
            if v is None:
                continue
            items = v.items() if isinstance(v, Mapping) else [("all units", v)]
            for k, val in items:
                _check_number(f"{name}[{k!r}]", val, lo=0)
        _check_number("max_change", self.max_change, lo=0, allow_none=True)
        if self.max_change is not None and self.last_year is None:
            raise ValueError("max_change is set but last_year is missing: pass last year's spend")
        if self.maximum is not None:
            mins = self.minimum if isinstance(self.minimum, Mapping) else None
            maxs = self.maximum if isinstance(self.maximum, Mapping) else None
            keys = set(mins or {}) | set(maxs or {}) or {"all units"}
            for k in keys:
                lo = (mins or {}).get(k, 0.0) if mins is not None else self.minimum
                hi = (maxs or {}).get(k, np.inf) if maxs is not None else self.maximum
                if lo > hi:
                    raise ValueError(f"minimum {lo!r} is above maximum {hi!r} for {k!r}")

    def bounds(self, units) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit ``(lower, upper)`` after combining min/max and max change.

        Raises ``ValueError`` when the box is empty for a unit or when ``total`` cannot
        be met (``sum(lower) > total``, or ``sum(upper) < total`` with ``spend_all``).
        """
        units = list(units)

        def get(v, k, default):
            if v is None:
                return default
            if isinstance(v, Mapping):
                return float(v.get(k, default))
            return float(v)

        lo = np.array([get(self.minimum, u, 0.0) for u in units])
        hi = np.array([get(self.maximum, u, np.inf) for u in units])
        if self.max_change is not None:
            missing = [u for u in units if u not in self.last_year]
            if missing:
                raise ValueError(f"last_year has no spend for unit(s) {missing}")
            ly = np.array([float(self.last_year[u]) for u in units])
            lo = np.maximum(lo, ly * (1 - self.max_change))
            hi = np.minimum(hi, ly * (1 + self.max_change))
        bad = [u for u, l, h in zip(units, lo, hi) if l > h + 1e-9]
        if bad:
            raise ValueError(
                f"no feasible spend for unit(s) {bad}: minimum/last-year floor above the "
                "maximum/last-year ceiling"
            )
        if lo.sum() > self.total * (1 + 1e-12) + 1e-9:
            raise ValueError(
                f"the per-unit minimums add up to {lo.sum():,.2f}, above total={self.total:,.2f}"
            )
        if self.spend_all and hi.sum() < self.total * (1 - 1e-12) - 1e-9:
            raise ValueError(
                f"the per-unit maximums add up to {hi.sum():,.2f}, below total={self.total:,.2f}; "
                "raise the maximums or set spend_all=False"
            )
        return lo, hi


@dataclass(frozen=True)
class BudgetPlan:
    """An optimised split.

    Attributes
    ----------
    table : DataFrame indexed by unit
        ``spend`` (period), ``response`` (incremental margin of the period),
        ``marginal`` (margin per extra unit of spend at the optimum), ``lower``,
        ``upper``, ``binding`` ("min", "max" or "").
    total_response : float
    multiplier : float
        The Lagrange multiplier (common marginal return of unconstrained units).
    method : str
    """

    table: pd.DataFrame
    total_response: float
    multiplier: float
    method: str

    @property
    def spend(self) -> pd.Series:
        return self.table["spend"]


def _period_value(curve: ResponseCurve, X, months: float):
    return months * curve(np.asarray(X, dtype=float) / months)


def evaluate_allocation(curves, allocation, months: float = 1.0) -> pd.DataFrame:
    """Incremental margin and marginal return of a given split under ``curves``.

    ``response_i = months * r_i(X_i / months)``, ``marginal_i = r_i'(X_i / months)``
    (margin per extra unit of spend, the same in monthly and period terms).

    Returns
    -------
    DataFrame indexed by unit: ``spend``, ``response``, ``marginal``.
    """
    curves = _curves_dict(curves)
    alloc = pd.Series(allocation, dtype=float) if isinstance(allocation, Mapping) else allocation
    missing = [u for u in curves if u not in alloc.index]
    if missing:
        raise ValueError(f"allocation has no spend for unit(s) {missing}")
    rows = {}
    for u, c in curves.items():
        X = float(alloc[u])
        rows[u] = {
            "spend": X,
            "response": float(_period_value(c, X, months)),
            "marginal": float(c.marginal(X / months)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("unit")


def _kkt(curves, units, lo, hi, total, spend_all, months):
    """Exact optimum for separable concave curves by bisection on the multiplier.

    ``x_i(lam) = clip(months * g_i(lam), lo_i, hi_i)`` with ``g_i = (r_i')^{-1}``;
    ``sum_i x_i(lam)`` is non-increasing in ``lam``; find ``lam`` with sum = total.
    """

    def spend(lam):
        return np.array(
            [min(max(months * curves[u].inverse_marginal(lam), l), h) for u, l, h in zip(units, lo, hi)]
        )

    if not spend_all:
        x1 = spend(1.0)
        if x1.sum() <= total:
            return x1, 1.0
    if total <= lo.sum() + 1e-12:
        return lo.copy(), float(max(float(curves[u].marginal(l / months)) for u, l in zip(units, lo)))
    # bracket in log-space
    m_lo = [float(curves[u].marginal(l / months)) for u, l in zip(units, lo)]
    lam_hi = max(v for v in m_lo if np.isfinite(v)) if any(np.isfinite(m_lo)) else 1.0
    lam_hi = max(lam_hi, 1e-300) * 2.0
    while spend(lam_hi).sum() > total:
        lam_hi *= 4.0
    lam_lo = lam_hi / 4.0
    while spend(lam_lo).sum() < total:
        lam_lo /= 4.0
        if lam_lo < 1e-300:
            break
    a, b = math.log(lam_lo), math.log(lam_hi)
    for _ in range(200):
        mid = 0.5 * (a + b)
        if spend(math.exp(mid)).sum() > total:
            a = mid
        else:
            b = mid
        if b - a < 1e-15:
            break
    lam = math.exp(0.5 * (a + b))
    x = spend(lam)
    # remove the last rounding residual on the interior units (keeps the total exact)
    resid = total - x.sum()
    free = (x > lo + 1e-9) & (x < hi - 1e-9)
    if free.any() and abs(resid) > 0:
        x[free] += resid / free.sum()
        x = np.clip(x, lo, hi)
    return x, lam


def _dp(curves, units, lo, hi, total, spend_all, months, grid):
    """Global optimum on a grid by dynamic programming (any curve shape)."""
    extra = total - lo.sum()
    if extra <= 0:
        return lo.copy()
    h = extra / grid
    n_steps = np.minimum(np.floor((hi - lo) / h + 1e-9), grid).astype(int)
    V = np.zeros(1)  # value after first k units, indexed by steps used
    choices = []
    for u, l, ns in zip(units, lo, n_steps):
        vals = _period_value(curves[u], l + h * np.arange(ns + 1), months)
        if not spend_all:
            vals = vals - h * np.arange(ns + 1)
        size = min(len(V) + ns, grid + 1)
        newV = np.full(size, -np.inf)
        arg = np.zeros(size, dtype=int)
        for j in range(ns + 1):
            cand = V[: size - j] + vals[j] if size - j <= len(V) else None
            if cand is None:
                cand = np.concatenate([V + vals[j], np.full(size - j - len(V), -np.inf)])
            seg = newV[j:]
            better = cand > seg
            seg[better] = cand[better]
            arg[j:][better] = j
        choices.append(arg)
        V = newV
    g = grid if spend_all else int(np.argmax(V))
    if spend_all and not np.isfinite(V[g]):
        g = int(np.argmax(np.where(np.isfinite(V), np.arange(len(V)), -1)))
    steps = np.zeros(len(units), dtype=int)
    for i in range(len(units) - 1, -1, -1):
        steps[i] = choices[i][g]
        g -= steps[i]
    return lo + h * steps


def _polish(curves, units, lo, hi, total, spend_all, months, x0):
    scale = max(total, 1.0)

    def f(z):
        x = z * scale
        v = sum(float(_period_value(curves[u], xi, months)) for u, xi in zip(units, x))
        if not spend_all:
            v -= x.sum()
        return -v / scale

    def grad(z):
        x = z * scale
        g = np.array([float(curves[u].marginal(xi / months)) for u, xi in zip(units, x)])
        g = np.where(np.isfinite(g), g, 1e6)
        if not spend_all:
            g = g - 1.0
        return -g

    cons = (
        [{"type": "eq", "fun": lambda z: z.sum() - total / scale, "jac": lambda z: np.ones_like(z)}]
        if spend_all
        else [{"type": "ineq", "fun": lambda z: total / scale - z.sum(), "jac": lambda z: -np.ones_like(z)}]
    )
    bnds = [(l / scale, (h / scale if np.isfinite(h) else None)) for l, h in zip(lo, hi)]
    res = optimize.minimize(
        f, x0 / scale, jac=grad, bounds=bnds, constraints=cons, method="SLSQP",
        options={"maxiter": 500, "ftol": 1e-15},
    )
    x = np.clip(res.x * scale, lo, hi)
    if spend_all:
        free = (x > lo + 1e-9) & (x < hi - 1e-9)
        if free.any():
            x[free] += (total - x.sum()) / free.sum()
    return x if f(x / scale) <= f(x0 / scale) + 1e-15 else x0


def optimise_budget(
    curves,
    constraints: BudgetConstraints,
    months: float = 1.0,
    method: str = "auto",
    grid: int = 2000,
) -> BudgetPlan:
    """Split a budget to maximise expected incremental gross margin.

    Maximise ``sum_i months * r_i(X_i / months)`` subject to ``sum_i X_i = total``
    (``<= total`` with ``spend_all=False``, objective then net of spend) and
    ``lower_i <= X_i <= upper_i`` (:meth:`BudgetConstraints.bounds`).

    Methods
    -------
    ``"kkt"`` (default for concave curves, exact)
        KKT conditions of the separable concave problem: every unit strictly inside its
        bounds has the same marginal return ``lam``; ``X_i = clip(months * g_i(lam),
        lower_i, upper_i)`` with ``g_i`` the inverse marginal; ``lam`` found by
        bisection on ``sum_i X_i(lam) = total``.  For ``r = a (1 - exp(-x/b))``:
        ``g(lam) = b ln(a / (b lam))``.
    ``"dp"`` (default when some curve is S-shaped or a callable)
        Dynamic programming on a grid of ``grid`` steps of the free budget (global
        optimum up to the grid), then polished by SLSQP from the grid solution.
    ``"slsqp"``
        SLSQP from the equal split and from the proportional-to-bounds split; best kept.

    Units with a ``"held"`` curve (not identified, see :func:`fit_response_curves`) are
    kept at ``months * hold`` (their status quo; an error if that is outside their
    bounds), with ``binding="held"`` and an unknown (``NaN``) response; the rest of the
    budget is optimised over the other units.  ``"expmix"`` curves (expected response
    over posterior draws) are concave and use ``"kkt"``.

    Returns
    -------
    BudgetPlan
    """
    curves = _curves_dict(curves)
    _check_number("months", months, lo=0, lo_open=True)
    all_units = list(curves)
    lo_all, hi_all = constraints.bounds(all_units)
    held = {u: months * float(c.hold) for u, c in curves.items() if c.kind == "held"}
    for i, u in enumerate(all_units):
        if u in held and not (lo_all[i] - 1e-9 <= held[u] <= hi_all[i] + 1e-9):
            raise ValueError(
                f"unit {u!r} has no identified curve ({curves[u].reason or 'held'}) and is held at "
                f"its status quo {held[u]:,.2f}, outside its bounds [{lo_all[i]:,.2f}, {hi_all[i]:,.2f}]"
            )
    units = [u for u in all_units if u not in held]
    free_idx = [all_units.index(u) for u in units]
    lo, hi = lo_all[free_idx], hi_all[free_idx]
    total = float(constraints.total) - sum(held.values())
    spend_all = constraints.spend_all
    if held and (lo.sum() > total + 1e-9 or (spend_all and (hi.sum() < total - 1e-9 or not units))):
        raise ValueError(
            f"unit(s) {sorted(held)} are held at their status quo (no identified curve), "
            f"{sum(held.values()):,.2f} in all; the other units' bounds cannot take the remaining "
            f"{total:,.2f} of total={constraints.total:,.2f}"
        )
    if not units:
        x_all = np.array([held[u] for u in all_units])
        table = evaluate_allocation(curves, pd.Series(x_all, index=all_units), months)
        table["lower"], table["upper"], table["binding"] = lo_all, hi_all, "held"
        return BudgetPlan(table, float(np.nansum(table["response"])), np.nan, "held")
    curves_free = curves
    curves = {u: curves_free[u] for u in units}
    if method == "auto":
        method = "kkt" if all(c.concave for c in curves.values()) else "dp"
    if method == "kkt":
        if not all(c.concave for c in curves.values()):
            raise ValueError("method='kkt' needs concave curves (exp, or adbudg with c <= 1)")
        x, lam = _kkt(curves, units, lo, hi, total, spend_all, months)
    elif method == "dp":
        _check_number("grid", grid, lo=10)
        x = _dp(curves, units, lo, hi, total, spend_all, months, int(grid))
        x = _polish(curves, units, lo, hi, total, spend_all, months, x)
        lam = np.nan
    elif method == "slsqp":
        starts = []
        hi_f = np.where(np.isfinite(hi), hi, lo + total)
        for w in (np.ones(len(units)), hi_f - lo):
            w = w / w.sum() if w.sum() > 0 else np.ones(len(units)) / len(units)
            starts.append(np.clip(lo + w * (total - lo.sum()), lo, hi))
        best, best_v = None, -np.inf
        for s in starts:
            x = _polish(curves, units, lo, hi, total, spend_all, months, s)
            v = sum(float(_period_value(curves[u], xi, months)) for u, xi in zip(units, x))
            if v > best_v:
                best, best_v = x, v
        x, lam = best, np.nan
    else:
        raise ValueError(f"method must be 'auto', 'kkt', 'dp' or 'slsqp', got {method!r}")
    x_all = np.array([held[u] if u in held else x[units.index(u)] for u in all_units])
    table = evaluate_allocation(curves_free, pd.Series(x_all, index=all_units), months)
    table["lower"] = lo_all
    table["upper"] = hi_all
    tol = 1e-7 * max(float(constraints.total), 1.0)
    table["binding"] = np.where(x_all <= lo_all + tol, "min", np.where(x_all >= hi_all - tol, "max", ""))
    table.loc[list(held), "binding"] = "held"
    if not np.isfinite(lam):
        free = table["binding"] == ""
        lam = float(table.loc[free, "marginal"].median()) if free.any() else np.nan
    return BudgetPlan(table, float(np.nansum(table["response"])), float(lam), method)


# -- data: monthly sales and spend by region ------------------------------------------
def monthly_region_sales(orders: pd.DataFrame, customers: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Monthly net sales and order counts by region (orders joined to ``customers.region``).

    Returns
    -------
    DataFrame ``region``, ``month`` (first day), ``sales`` (net, currency), ``orders``
    (number of orders: distinct customer x order date with a positive line -- the
    contract's ``order_id`` is a line id), ``gross_sales`` (positive lines, currency).
    Order counts are much less noisy than currency (no order-value noise), which is
    what :func:`fit_response_curves` uses by default.
    """
    require_columns(orders, "orders", ("order_date", "customer_id", "amount"))
    require_columns(customers, "customers", ("customer_id", "region"))
    o = orders[["order_date", "customer_id", "amount"]]
    if as_of is not None:
        o = o[o["order_date"] <= as_date(as_of, "as_of")]
    o = o.merge(customers[["customer_id", "region"]], on="customer_id", how="inner")
    o["month"] = o["order_date"].dt.to_period("M").dt.to_timestamp()
    out = o.groupby(["region", "month"])["amount"].sum().rename("sales")
    pos = o[o["amount"] > 0]
    n = pos.drop_duplicates(["customer_id", "order_date"]).groupby(["region", "month"]).size()
    gross = pos.groupby(["region", "month"])["amount"].sum()
    out = pd.concat([out, n.rename("orders"), gross.rename("gross_sales")], axis=1)
    out = out.fillna({"orders": 0, "gross_sales": 0.0}).reset_index()
    out["orders"] = out["orders"].astype("int64")
    return out


def _design(months: pd.Series, trend: bool, seasonal: bool) -> np.ndarray:
    cols = [np.ones(len(months))]
    t = (months.dt.year - months.dt.year.min()) * 12 + months.dt.month
    t = (t - t.mean()).to_numpy(dtype=float)
    if trend:
        cols.append(t / max(np.abs(t).max(), 1.0))
    if seasonal:
        for mo in range(2, 13):
            cols.append((months.dt.month == mo).to_numpy(dtype=float))
    return np.column_stack(cols)


def _shape(kind, x, b, c):
    if kind == "exp":
        return -np.expm1(-x / b)
    z = (x / b) ** c
    return z / (1.0 + z)


def _profile_sse(y, Z, x, kind, b, c):
    """SSE of the best linear fit given the curve's nonlinear parameters."""
    f = _shape(kind, x, b, c)
    A = np.column_stack([Z, f])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    r = y - A @ coef
    return float(r @ r), coef


def _fit_one(y, Z, x, kind, b_bounds, c_grid):
    """Variable projection: profile the SSE over b (and c), linear in the rest."""
    lb, ub = np.log(b_bounds[0]), np.log(b_bounds[1])
    best = (np.inf, None, None, None)
    for c in c_grid:
        grid = np.linspace(lb, ub, 41)
        sse = [(_profile_sse(y, Z, x, kind, math.exp(g), c)[0], g) for g in grid]
        _, g0 = min(sse)
        lo_g, hi_g = max(lb, g0 - (ub - lb) / 40), min(ub, g0 + (ub - lb) / 40)
        res = optimize.minimize_scalar(
            lambda g, c=c: _profile_sse(y, Z, x, kind, math.exp(g), c)[0],
            bounds=(lo_g, hi_g), method="bounded", options={"xatol": 1e-6},
        )
        s, coef = _profile_sse(y, Z, x, kind, math.exp(res.x), c)
        if s < best[0]:
            best = (s, math.exp(res.x), c, coef)
    return best


def _rel_se(y, Z, x, kind, b, c, coef):
    """Relative standard errors of (a, b) from the Gauss-Newton Jacobian."""
    a = coef[-1]
    f = _shape(kind, x, b, c)
    if kind == "exp":
        dfdb = -a * (x / b**2) * np.exp(-x / b)
    else:
        z = (x / b) ** c
        dfdb = -a * c * z / b / (1.0 + z) ** 2
    J = np.column_stack([Z, f, dfdb])
    r = y - np.column_stack([Z, f]) @ coef
    dof = max(len(y) - J.shape[1], 1)
    s2 = float(r @ r) / dof
    try:
        cov = s2 * np.linalg.inv(J.T @ J)
        se_a, se_b = math.sqrt(max(cov[-2, -2], 0)), math.sqrt(max(cov[-1, -1], 0))
    except np.linalg.LinAlgError:
        return np.inf, np.inf
    return (se_a / abs(a) if a != 0 else np.inf), se_b / b


def _smooth_order_value(t, value, ri, R):
    """Per-region log-linear trend of the monthly mean order value (currency/order)."""
    out = np.empty_like(value)
    for r in range(R):
        m = (ri == r) & np.isfinite(value) & (value > 0)
        sel = ri == r
        if m.sum() >= 2:
            A = np.column_stack([np.ones(m.sum()), t[m]])
            coef, *_ = np.linalg.lstsq(A, np.log(value[m]), rcond=None)
            out[sel] = np.exp(coef[0] + coef[1] * t[sel])
        else:
            out[sel] = np.nanmean(value[m]) if m.any() else np.nan
    return out


def _fit_joint(df, regions, measure, groups, trend_deg, seasonal, b_range):
    """Joint nonlinear least squares over all regions (see :func:`fit_response_curves`).

    ``df`` has region, month, amount, sales (and orders, gross_sales for
    ``measure="orders"``).  Returns ``{region: dict(A, b, rel_se_a, rel_se_b, r2, rmse,
    dispersion, b_at_bound, corr_ab)}`` with ``A`` incremental *revenue* at saturation;
    ``rel_se_*`` are the standard errors of ``log A`` and ``log b`` and ``corr_ab`` their
    correlation (Laplace approximation of the posterior under a flat prior).
    """
    df = df[df["region"].isin(regions)].reset_index(drop=True)
    R = len(regions)
    ri = df["region"].map({r: i for i, r in enumerate(regions)}).to_numpy()
    months = df["month"]
    mo = months.dt.month.to_numpy() - 1
    tt = ((months.dt.year - months.dt.year.min()) * 12 + months.dt.month).to_numpy(float)
    span = max(tt.max() - tt.min(), 1.0)
    t = 2.0 * (tt - tt.mean()) / span
    x = df["amount"].to_numpy(float)
    mean_x = np.array([x[ri == i].mean() for i in range(R)])
    xs = x / mean_x[ri]
    revm = np.array([df["sales"].to_numpy(float)[ri == i].mean() for i in range(R)])
    if measure == "orders":
        y = df["orders"].to_numpy(float)
        value = df["gross_sales"].to_numpy(float) / np.maximum(y, 1.0)
        conv = 1.0 / _smooth_order_value(t, value, ri, R)
    else:
        y = df["sales"].to_numpy(float)
        conv = np.ones_like(y)
    ym = np.array([y[ri == i].mean() for i in range(R)])
    # Poisson-like weights for counts; relative errors for currency
    wsd = np.sqrt(ym) if measure == "orders" else ym * 0.05
    gkeys = sorted({groups.get(r, r) for r in regions}, key=str) if groups else list(regions)
    gi = np.array([gkeys.index(groups.get(r, r) if groups else r) for r in regions])
    G = len(gkeys)
    S = 11 if seasonal else 0
    nb = 1 + trend_deg  # level + trend terms
    n_reg = R * (nb + 1)  # + log A
    P = S + n_reg + G

    def unpack(p):
        s = np.r_[0.0, p[:S]] if seasonal else np.zeros(1)
        s = s - s.mean()
        q = p[S : S + n_reg].reshape(R, nb + 1)
        return s, q, p[S + n_reg :]

    def model(p):
        s, q, lc = unpack(p)
        lb = q[ri, 0].copy()
        for k in range(1, nb):
            lb += q[ri, k] * t**k
        if seasonal:
            lb += s[mo]
        A = np.exp(q[ri, nb]) * revm[ri]
        b = np.exp(lc[gi[ri]])
        return ym[ri] * np.exp(lb) + A * -np.expm1(-xs / b) * conv

    def resid(p):
        return (y - model(p)) / wsd[ri]

    lo = np.full(P, -np.inf)
    hi = np.full(P, np.inf)
    la = S + np.arange(R) * (nb + 1) + nb
    lo[la], hi[la] = math.log(1e-5), math.log(10.0)
    lo[S + n_reg :], hi[S + n_reg :] = math.log(b_range[0]), math.log(b_range[1])
    best = None
    for b0 in (0.3, 1.0, 3.0):
        p0 = np.zeros(P)
        p0[la] = math.log(0.05)
        p0[S + n_reg :] = math.log(b0)
        p0 = np.clip(p0, lo + 1e-9, hi - 1e-9)
        res = optimize.least_squares(resid, p0, bounds=(lo, hi), method="trf")
        if best is None or res.cost < best.cost:
            best = res
    s, q, lc = unpack(best.x)
    r = best.fun
    J = best.jac
    cov = np.linalg.pinv(J.T @ J)
    out = {}
    fitted = model(best.x)
    disp = np.empty(R)
    for i in range(R):
        m = ri == i
        dof = max(m.sum() - (nb + 1) - (S + G) / R, 1.0)
        disp[i] = float((r[m] ** 2).sum() / dof)
    for i, reg in enumerate(regions):
        m = ri == i
        dof = max(m.sum() - (nb + 1) - (S + G) / R, 1.0)
        s2 = float((r[m] ** 2).sum() / dof)
        ia, ib = la[i], S + n_reg + gi[i]
        # cov is in units of the whitened residuals; scale by the region's dispersion
        se_a = math.sqrt(max(cov[ia, ia], 0.0) * s2)
        se_b = math.sqrt(max(cov[ib, ib], 0.0) * s2)
        sse = float(((y[m] - fitted[m]) ** 2).sum())
        sst = float(((y[m] - y[m].mean()) ** 2).sum())
        out[reg] = {
            "A": float(math.exp(q[i, nb]) * revm[i]),
            "b": float(math.exp(lc[gi[i]]) * mean_x[i]),
            "rel_se_a": se_a,
            "rel_se_b": se_b,
            "r2": 1 - sse / sst if sst > 0 else np.nan,
            "rmse": math.sqrt(sse / m.sum()),
            "dispersion": s2,
            "a_at_bound": q[i, nb] <= lo[ia] + 1e-3,
            "b_at_bound": not (lo[ib] + 0.02 < lc[gi[i]] < hi[ib] - 0.02),
            "group": gkeys[gi[i]],
            "corr_ab": float(cov[ia, ib] / math.sqrt(cov[ia, ia] * cov[ib, ib]))
            if cov[ia, ia] > 0 and cov[ib, ib] > 0 else 0.0,
        }
    return out, np.exp(s) if seasonal else None


# -- customer-level panel (conditional Poisson with customer fixed effects) -------------
def _customer_panel(orders, customers, regions, months, spend_x):
    """Interior repeat orders of each customer on the month grid, and their exposure.

    Events are distinct (customer, order date) with a positive line.  For each customer
    the window is the open interval between its first and last event in the grid: given
    those two times, the events in between are i.i.d. with density proportional to the
    purchase intensity on the window, whatever the customer's acquisition and dropout
    (Poisson-process property; dropout independent of the purchases), so the window needs
    no at-risk guess.  Returns a dict of arrays (Y, E: customers x months; creg; and the
    event arrays used for repeat revenue).
    """
    M = len(months)
    o = orders.loc[orders["amount"] > 0, ["customer_id", "order_date", "amount"]]
    o = o[(o["order_date"] >= months[0]) & (o["order_date"] < months[-1] + pd.offsets.MonthBegin(1))]
    o = o.groupby(["customer_id", "order_date"], sort=True)["amount"].sum().reset_index()
    o["r"] = o["customer_id"].map(customers.set_index("customer_id")["region"]).map(
        {r: i for i, r in enumerate(regions)})
    o = o[o["r"].notna()]
    day0 = months[0]
    d = (o["order_date"] - day0).dt.days.to_numpy()
    m = ((o["order_date"].dt.year - day0.year) * 12 + o["order_date"].dt.month - day0.month).to_numpy()
    r_ev = o["r"].to_numpy().astype(int)
    cid, ci = np.unique(o["customer_id"].to_numpy(), return_inverse=True)
    C = len(cid)
    rank = o.groupby(ci).cumcount().to_numpy()
    cnt = np.bincount(ci, minlength=C)
    last = rank == cnt[ci] - 1
    fd = np.zeros(C, dtype=np.int64)
    ld = np.zeros(C, dtype=np.int64)
    fd[ci[rank == 0]] = d[rank == 0]
    ld[ci[last]] = d[last]
    creg = np.zeros(C, dtype=np.int64)
    creg[ci] = r_ev
    inter = (rank > 0) & ~last
    Y = np.zeros((C, M))
    np.add.at(Y, (ci[inter], m[inter]), 1.0)
    edges = np.array([(x - day0).days for x in months] + [((months[-1] + pd.offsets.MonthBegin(1)) - day0).days])
    # exposure in days: day k covers [k, k + 1); interior events fall on days fd+1 .. ld-1
    E = np.clip(np.minimum(edges[None, 1:], ld[:, None]) - np.maximum(edges[None, :-1], fd[:, None] + 1),
                0, None).astype(float)
    E[~np.isfinite(spend_x[creg])] = 0.0  # months without spend data for the region
    Y[E <= 0] = 0.0
    return {"Y": Y, "E": E, "creg": creg, "r_ev": r_ev, "m_ev": m, "rank": rank,
            "amount": o["amount"].to_numpy(float)}


def _panel_month_effects(panel, R, M, ridge=1e-3):
    """Stage 1: per region, the conditional-Poisson MLE of free month effects ``eta_rm``.

    Given a customer's total ``n_i``, its months are multinomial with probabilities
    ``E_im exp(eta_rm) / sum_m' E_im' exp(eta_rm')`` (customer fixed effect conditioned
    out).  Newton steps; score ``sum_i (y_im - n_i pi_im)``, information ``sum_i n_i
    (diag pi_i - pi_i pi_i')`` (singular along the region's level; a tiny ridge fixes
    it).  Returns ``(eta R x M, info R x M x M, interior events per region)``.
    """
    eta_all = np.zeros((R, M))
    info = np.zeros((R, M, M))
    events = np.zeros(R)
    for r in range(R):
        rows = panel["creg"] == r
        Yr, Er = panel["Y"][rows], panel["E"][rows]
        nr = Yr.sum(axis=1)
        k = nr > 0
        Yr, Er, nr = Yr[k], Er[k], nr[k]
        events[r] = nr.sum()
        if events[r] == 0:
            continue
        ys = Yr.sum(axis=0)
        eta = np.zeros(M)
        for _ in range(60):
            lam = Er * np.exp(eta - eta.max())
            pi = lam / lam.sum(axis=1, keepdims=True)
            I = np.diag(nr @ pi) - (pi * nr[:, None]).T @ pi
            step = np.linalg.solve(I + ridge * np.eye(M), ys - nr @ pi - ridge * eta)
            eta += np.clip(step, -2.0, 2.0)
            if np.abs(step).max() < 1e-9:
                break
        lam = Er * np.exp(eta - eta.max())
        pi = lam / lam.sum(axis=1, keepdims=True)
        eta_all[r] = eta
        info[r] = np.diag(nr @ pi) - (pi * nr[:, None]).T @ pi
    return eta_all, info, events


def _panel_baseline(panel, factor, R, M, cal, t, deg, seasonal, acq_months=3):
    """Smoothed repeat-purchase revenue without marketing, ``B_rm`` (currency/month).

    Repeat revenue = revenue of all events except a customer's first one when that falls
    after the first ``acq_months`` months of the grid (earlier first events are taken as
    repeat orders of customers acquired before the history).  ``log(revenue / factor)``
    (the current marketing multiplier removed) is fitted by least squares on a region
    level + region polynomial trend of degree ``deg`` + shared calendar months.
    """
    acq = (panel["rank"] == 0) & (panel["m_ev"] >= acq_months)
    rev = np.zeros((R, M))
    np.add.at(rev, (panel["r_ev"][~acq], panel["m_ev"][~acq]), panel["amount"][~acq])
    cols = [np.kron(np.eye(R), np.vander(t, deg + 1))]
    if seasonal:
        cols.append(np.tile(np.stack([(cal == k).astype(float) for k in range(1, 12)], 1), (R, 1)))
    Z = np.hstack(cols)
    ok = (rev > 0).ravel()
    y = np.log(np.where(rev > 0, rev / factor, 1.0)).ravel()
    coef, *_ = np.linalg.lstsq(Z[ok], y[ok], rcond=None)
    return np.exp(Z @ coef).reshape(R, M)


def _fit_customer(df, orders, customers, regions, groups, trend_deg, seasonal, b_range, outer=2):
    """Customer-level fit (see :func:`fit_response_curves`, ``level="customer"``).

    Stage 1 (:func:`_panel_month_effects`) estimates free month effects per region from
    the customer panel; stage 2 fits the structural model to them by minimum distance
    with the stage-1 information as weight (asymptotically the conditional MLE)::

        eta_rm = S_m + trend_r(t) + log(1 + A_r (1 - exp(-x_rm / b_r)) / B_rm)

    ``B_rm`` the smoothed repeat revenue without marketing (:func:`_panel_baseline`,
    re-estimated ``outer`` times with the fitted multiplier removed).  The level of each
    region is conditioned out with the customers.  Returns the same dict as
    :func:`_fit_joint`.
    """
    df = df[df["region"].isin(regions)]
    months = pd.date_range(df["month"].min(), df["month"].max(), freq="MS")
    R, M = len(regions), len(months)
    X = (df.pivot_table(index="region", columns="month", values="amount", aggfunc="sum")
         .reindex(index=regions, columns=months).to_numpy(float))
    panel = _customer_panel(orders, customers, regions, months, X)
    eta_hat, info, events = _panel_month_effects(panel, R, M)
    have = np.isfinite(X)
    mean_x = np.array([X[i, have[i]].mean() for i in range(R)])
    Xs = np.where(have, X, 0.0) / mean_x[:, None]
    cal = months.month.to_numpy() - 1
    t = np.linspace(-1.0, 1.0, M) if M > 1 else np.zeros(M)
    gkeys = sorted({groups.get(r, r) for r in regions}, key=str) if groups else list(regions)
    gi = np.array([gkeys.index(groups.get(r, r) if groups else r) for r in regions])
    G = len(gkeys)
    S = 11 if seasonal else 0
    nt = trend_deg
    P = S + R * nt + R + G
    ik = S + R * nt + np.arange(R)
    ib = S + R * nt + R + gi
    L = []  # whitening: L' L = info (its null direction, the region level, dropped)
    for r in range(R):
        w, V = np.linalg.eigh(info[r])
        keep = w > 1e-8 * max(w.max(), 1e-300)
        L.append(np.sqrt(w[keep])[:, None] * V[:, keep].T)
    off = np.cumsum([0] + [len(l) for l in L])
    tp = np.stack([t ** (j + 1) for j in range(nt)]) if nt else np.zeros((0, M))

    def eta_model(p, W):
        s = np.r_[0.0, p[:S]] if seasonal else np.zeros(1)
        lin = (s[cal] if seasonal else np.zeros(M))[None, :] + p[S:S + R * nt].reshape(R, nt) @ tp
        k = np.exp(p[ik])[:, None]
        b = np.exp(p[ib])[:, None]
        return lin + np.log1p(k * W * -np.expm1(-Xs / b))

    lo = np.full(P, -np.inf)
    hi = np.full(P, np.inf)
    lo[ik], hi[ik] = math.log(1e-5), math.log(10.0)
    lo[S + R * nt + R:], hi[S + R * nt + R:] = math.log(b_range[0]), math.log(b_range[1])
    factor = np.ones((R, M))
    starts = [None]
    for it in range(outer):
        B = _panel_baseline(panel, factor, R, M, cal, t, nt + 1, seasonal)
        Bref = B.mean(axis=1)
        W = Bref[:, None] / B

        def resid(p, W=W):
            e = eta_hat - eta_model(p, W)
            return np.concatenate([L[r] @ e[r] for r in range(R)])

        best = None
        if it == 0:
            starts = []
            for b0 in (0.3, 1.0, 3.0):
                p0 = np.zeros(P)
                p0[ik] = math.log(0.05)
                p0[S + R * nt + R:] = math.log(b0)
                starts.append(np.clip(p0, lo + 1e-9, hi - 1e-9))
        for p0 in starts:
            res = optimize.least_squares(resid, p0, bounds=(lo, hi), method="trf")
            if best is None or res.cost < best.cost:
                best = res
        starts = [np.clip(best.x, lo + 1e-9, hi - 1e-9)]
        k = np.exp(best.x[ik])
        bs = np.exp(best.x[ib])
        factor = 1.0 + k[:, None] * W * -np.expm1(-Xs / bs[:, None])
    cov = np.linalg.pinv(best.jac.T @ best.jac)
    r_all = best.fun
    out = {}
    for i, reg in enumerate(regions):
        seg = r_all[off[i]:off[i + 1]]
        dof = max(len(seg) - nt - 1 - (S + G) / R, 1.0)
        s2 = float(seg @ seg / dof)  # ~1 when the month effects are as precise as Poisson
        ia, ibb = ik[i], ib[i]
        out[reg] = {
            "A": float(k[i] * Bref[i]),
            "b": float(bs[i] * mean_x[i]),
            "rel_se_a": math.sqrt(max(cov[ia, ia], 0.0) * max(s2, 1.0)),
            "rel_se_b": math.sqrt(max(cov[ibb, ibb], 0.0) * max(s2, 1.0)),
            "r2": np.nan,
            "rmse": np.nan,
            "dispersion": s2,
            "a_at_bound": best.x[ia] <= lo[ia] + 1e-3,
            "b_at_bound": not (lo[ibb] + 0.02 < best.x[ibb] < hi[ibb] - 0.02),
            "group": gkeys[gi[i]],
            "corr_ab": float(cov[ia, ibb] / math.sqrt(cov[ia, ia] * cov[ibb, ibb]))
            if cov[ia, ia] > 0 and cov[ibb, ibb] > 0 else 0.0,
            "panel_events": float(events[i]),
        }
    return out


def fit_response_curves(
    spend: pd.DataFrame,
    sales: pd.DataFrame,
    gross_margin_rate: float,
    kind: str = "exp",
    trend: bool | str = "auto",
    seasonal: bool | str = "auto",
    min_months: int = 18,
    min_spend_cv: float = 0.05,
    max_rel_se: float = 2.0,
    b_range: tuple[float, float] = (0.05, 20.0),
    judgments: pd.DataFrame | None = None,
    attributed: bool = False,
    method: str = "auto",
    measure: str = "auto",
    groups: Mapping[str, str] | pd.Series | None = None,
    status_quo_months: int = 12,
    level: str = "region",
    orders: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fit one response curve per region from spend and sales history.

    Two estimators (``method``; ``"auto"``: ``"joint"`` for ``kind="exp"`` without
    ``attributed``, else ``"separate"``).

    ``"joint"`` -- all regions in one nonlinear least-squares fit, region ``r``, month
    ``t``, calendar month ``m(t)``::

        y_rt = L_r * exp(trend_r(t)) * S_m(t) + A_r * (1 - exp(-x_rt / b_r)) * k_rt

    ``y`` is the monthly order count (``measure="orders"``, the default when ``sales``
    has ``orders`` and ``gross_sales`` columns as from :func:`monthly_region_sales`) or
    net sales (``"sales"``).  The baseline is multiplicative: a region level ``L_r``, a
    polynomial trend in time (``trend``: ``"auto"`` = quadratic from 36 months, linear
    from 24; or an int degree) and monthly seasonal factors ``S_m`` *shared by all
    regions* (``seasonal``; ``"auto"``: from 36 months; geometric mean 1).  The
    response is additive and in currency: ``A_r`` = incremental revenue at saturation;
    for counts ``k_rt = 1 / v_rt`` converts it with the region's mean order value
    ``v_rt`` (a log-linear trend fitted to ``gross_sales / orders``), else ``k = 1``.
    ``b_r / mean spend`` is shared by the regions of a group when ``groups`` maps
    region -> group (e.g. ``regions.maturity``): partial pooling of the curve *shape*
    while each region keeps its own level ``A_r``.  Residuals are weighted by
    ``1 / sqrt(mean count)`` (Poisson) or ``1 / mean sales``; standard errors of
    ``log A`` and ``log b`` (= relative SEs) from the Gauss-Newton Jacobian scaled by
    each region's residual variance (``dispersion``: ~1 for Poisson counts).
    ``a = gross_margin_rate * A``.  Spend is identified by planned variation: geo
    hold-outs, cuts and heavy-ups; the ``+-`` noise of business-as-usual spend alone
    rarely identifies ``b``.

    ``level="customer"`` (joint method only; needs ``orders`` and ``customers``) fits
    the same curve from a **customer-level panel** instead of regional totals: each
    customer's monthly repeat orders between its first and last order (the orders in
    between are i.i.d. with density proportional to the purchase intensity, whatever the
    acquisition and dropout -- no at-risk guess), with a customer fixed effect
    conditioned out (given a customer's total, months are multinomial), so customer
    heterogeneity and the changing alive base leave the noise.  Month effects::

        eta_rm = S_m + trend_r(t) + log(1 + A_r (1 - exp(-x_rm / b_r)) / B_rm)

    (the generator's mechanism: spend scales the region's purchase rates by 1 +
    incremental revenue / baseline revenue), ``B_rm`` the region's repeat revenue without
    marketing, smoothed (log-polynomial trend + season, the fitted multiplier removed,
    re-estimated twice).  Fitted in two stages -- free month effects per region by
    conditional Poisson ML, then the structural model by minimum distance weighted with
    their information -- asymptotically the conditional MLE.  ``a = gross_margin_rate *
    A_r``; standard errors scaled by the month-effect dispersion when above 1;
    ``panel_events`` = interior orders used.  On the demo data it is *not* more precise
    than the regional fit: with a common multiplier per region-month the regional order
    count is (nearly) sufficient, the regional fit's dispersion is already ~1-1.4, and the
    panel drops each customer's first and last order (benchmarks/RESULTS.md).

    ``"separate"`` -- one fit per region (the original estimator). Model, per region,
    month ``t``::

        gross_margin_rate * sales_t = base_t + a * shape(spend_t; b[, c]) + e_t

    ``base_t`` = intercept (+ linear trend when ``trend``; + month-of-year dummies when
    ``seasonal``; ``"auto"``: trend from 24 months, season from 36).  With
    ``attributed=True`` the ``sales`` are sales *attributed to the spend* (campaign
    tracking, promo codes) and ``base_t = 0``: the curve goes through the origin.  Fitted by least
    squares with variable projection: for given ``b`` (and ``c``) the model is linear,
    so the residual sum of squares is profiled over ``log b`` in
    ``[b_range[0], b_range[1]] * mean spend`` (grid, then bounded Brent); ADBUDG also
    tries ``c`` in {0.5, 0.75, 1, 1.5, 2, 3}.

    A fit is *accepted* when: at least ``min_months`` months; the spend varies
    (coefficient of variation >= ``min_spend_cv``); ``a > 0``; ``b`` is not at a bound
    (otherwise saturation is not identified from the range of spend seen); relative
    standard errors of ``a`` and ``b`` <= ``max_rel_se``.  Otherwise the region falls
    back, with the reason recorded, to (1) the planner's ``judgments`` for it
    (:func:`calibrate_from_judgments`) when given, else (2) a *pooled* curve borrowed
    **only from accepted regions of the same group** (``groups``, e.g.
    ``regions.maturity``): their median ``b / mean spend`` and median response-to-margin
    share ``a / mean margin`` scaled to the region, with the donors' largest relative
    SEs; else (3) ``kind="held"``: no curve -- the optimiser keeps the region at its
    status-quo spend (mean monthly spend of the last ``status_quo_months`` months,
    ``status_quo_spend``) and ``reason`` says why.  Without ``groups`` nothing is
    borrowed.  A mature (saturated) region is never given an emerging region's shape.

    Parameters
    ----------
    spend : DataFrame
        ``region``, ``month``, ``amount`` (monthly marketing spend, the
        ``marketing_spend`` table).
    sales : DataFrame
        ``region``, ``month``, ``sales`` (see :func:`monthly_region_sales`).
    gross_margin_rate : float
        Margin per unit of sales.
    level : {"region", "customer"}
        Fit the joint model to regional monthly totals (default) or to the customer
        panel built from ``orders`` (``customer_id``, ``order_date``, ``amount``) and
        ``customers`` (``customer_id``, ``region``).

    Returns
    -------
    DataFrame indexed by region: ``kind``, ``a``, ``b``, ``c``, ``source`` ("fit",
    "judgment", "pooled", "held"), ``n_months``, ``mean_spend``, ``spend_cv``, ``r2``,
    ``rmse``, ``rel_se_a``, ``rel_se_b`` (standard errors of ``log a``, ``log b``),
    ``corr_ab`` (their correlation; 0 for the separate fit), ``accepted`` (bool),
    ``reason``, ``group``, ``status_quo_spend`` (monthly), and for the joint fit
    ``measure``, ``dispersion``.  Turn it into curves with :func:`curves_from_fit`
    (by default the *expected* curve over the fit's parameter uncertainty).
    """
    if kind not in ("exp", "adbudg"):
        raise ValueError(f"kind must be 'exp' or 'adbudg', got {kind!r}")
    if method not in ("auto", "joint", "separate"):
        raise ValueError(f"method must be 'auto', 'joint' or 'separate', got {method!r}")
    if method == "auto":
        method = "joint" if (kind == "exp" and not attributed) else "separate"
    if method == "joint" and (kind != "exp" or attributed):
        raise ValueError("method='joint' needs kind='exp' and attributed=False")
    has_counts = {"orders", "gross_sales"} <= set(sales.columns)
    if measure not in ("auto", "orders", "sales"):
        raise ValueError(f"measure must be 'auto', 'orders' or 'sales', got {measure!r}")
    if measure == "auto":
        measure = "orders" if has_counts else "sales"
    if measure == "orders" and not has_counts:
        raise ValueError("measure='orders' needs sales columns 'orders' and 'gross_sales' "
                         "(see monthly_region_sales)")
    if groups is not None:
        groups = dict(groups.items()) if isinstance(groups, (Mapping, pd.Series)) else None
    if level not in ("region", "customer"):
        raise ValueError(f"level must be 'region' or 'customer', got {level!r}")
    if level == "customer":
        if method != "joint":
            raise ValueError("level='customer' needs method='joint' (kind='exp', attributed=False)")
        if orders is None or customers is None:
            raise ValueError("level='customer' needs orders= and customers= (the customer panel)")
        require_columns(orders, "orders", ("customer_id", "order_date", "amount"))
        require_columns(customers, "customers", ("customer_id", "region"))
    _check_number("gross_margin_rate", gross_margin_rate, lo=0, lo_open=True, hi=1)
    require_columns(spend, "marketing_spend", ("region", "month", "amount"))
    require_columns(sales, "sales", ("region", "month", "sales"))
    if b_range[0] <= 0 or b_range[0] >= b_range[1]:
        raise ValueError(f"b_range must be (low, high) with 0 < low < high, got {b_range!r}")
    sp = spend.copy()
    sp["month"] = pd.to_datetime(sp["month"]).dt.to_period("M").dt.to_timestamp()
    sa = sales.copy()
    sa["month"] = pd.to_datetime(sa["month"]).dt.to_period("M").dt.to_timestamp()
    df = sp.merge(sa, on=["region", "month"], how="inner").sort_values(["region", "month"])
    c_grid = (1.0,) if kind == "exp" else (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    _check_number("status_quo_months", status_quo_months, lo=1)
    last_sp = sp["month"].max()
    recent = sp[sp["month"] > last_sp - pd.DateOffset(months=int(status_quo_months))]
    sq_spend = recent.groupby("region")["amount"].mean()
    rows, data, eligible = {}, {}, []
    for region, g in df.groupby("region", sort=True):
        x = g["amount"].to_numpy(float)
        y = gross_margin_rate * g["sales"].to_numpy(float)
        n = len(g)
        tr = (n >= 24) if trend == "auto" else bool(trend)
        se = (n >= 36) if seasonal == "auto" else bool(seasonal)
        Z = (np.zeros((n, 0)) if attributed
             else _design(g["month"].reset_index(drop=True), tr, se))
        data[region] = (y, Z, x)
        mean_x = float(x.mean()) if n else 0.0
        cv = float(x.std() / mean_x) if mean_x > 0 else 0.0
        row = {"kind": kind, "a": np.nan, "b": np.nan, "c": 1.0, "source": "fit",
               "n_months": n, "mean_spend": mean_x, "mean_margin": float(y.mean()) if n else np.nan,
               "spend_cv": cv, "r2": np.nan, "rmse": np.nan, "rel_se_a": np.nan,
               "rel_se_b": np.nan, "corr_ab": 0.0, "accepted": False, "reason": "",
               "method": method, "group": (groups or {}).get(region, region),
               "status_quo_spend": float(sq_spend.get(region, np.nan))}
        if n < min_months:
            row["reason"] = f"only {n} months of spend and sales (< min_months={min_months})"
        elif mean_x <= 0 or cv < min_spend_cv:
            row["reason"] = f"spend barely varies (CV {cv:.3f} < {min_spend_cv}); slope not identified"
        elif n <= Z.shape[1] + 4:
            row["reason"] = f"{n} months is too few for {Z.shape[1] + 2} parameters"
        elif method == "joint":
            row["method"] = "joint"
            eligible.append(region)
        else:
            bb = (b_range[0] * mean_x, b_range[1] * mean_x)
            sse, b, c, coef = _fit_one(y, Z, x, kind, bb, c_grid)
            a = float(coef[-1])
            sst = float(((y - y.mean()) ** 2).sum())
            rse_a, rse_b = _rel_se(y, Z, x, kind, b, c, coef) if a > 0 else (np.inf, np.inf)
            row.update(a=a, b=b, c=c, r2=1 - sse / sst if sst > 0 else np.nan,
                       rmse=math.sqrt(sse / n), rel_se_a=rse_a, rel_se_b=rse_b)
            at_bound = b <= bb[0] * 1.01 or b >= bb[1] * 0.99
            if a <= 0:
                row["reason"] = f"fitted saturation a={a:,.0f} <= 0: no positive response found"
            elif at_bound:
                row["reason"] = (f"b={b:,.0f} at its bound {bb[0]:,.0f}..{bb[1]:,.0f}: "
                                 "saturation not identified by the spend range seen")
            elif not (rse_a <= max_rel_se and rse_b <= max_rel_se):
                row["reason"] = (f"imprecise fit: relative SE a={rse_a:.2f}, b={rse_b:.2f} "
                                 f"(> max_rel_se={max_rel_se})")
            else:
                row["accepted"] = True
        rows[region] = row
    if not rows:
        raise ValueError("marketing_spend and sales share no (region, month): nothing to fit")
    if eligible:
        n_max = max(rows[r]["n_months"] for r in eligible)
        deg = ((2 if n_max >= 36 else 1 if n_max >= 24 else 0) if trend == "auto"
               else int(trend))
        seas = (n_max >= 36) if seasonal == "auto" else bool(seasonal)
        if level == "customer":
            jf = _fit_customer(df, orders, customers, eligible, groups, deg, seas, b_range)
        else:
            jf, _ = _fit_joint(df, eligible, measure, groups, deg, seas, b_range)
        for region in eligible:
            f = jf[region]
            row = rows[region]
            a = gross_margin_rate * f["A"]
            row.update(a=a, b=f["b"], r2=f["r2"], rmse=f["rmse"], rel_se_a=f["rel_se_a"],
                       rel_se_b=f["rel_se_b"], corr_ab=f["corr_ab"], dispersion=f["dispersion"],
                       group=f["group"], measure=measure, level=level)
            if level == "customer":
                row["panel_events"] = f["panel_events"]
            if f["a_at_bound"]:
                row["reason"] = "fitted saturation a at its lower bound: no positive response found"
            elif f["b_at_bound"]:
                row["reason"] = (f"b={f['b']:,.0f} at its bound {b_range} x mean spend: "
                                 "saturation not identified by the spend range seen")
            elif not (f["rel_se_a"] <= max_rel_se and f["rel_se_b"] <= max_rel_se):
                row["reason"] = (f"imprecise fit: relative SE a={f['rel_se_a']:.2f}, "
                                 f"b={f['rel_se_b']:.2f} (> max_rel_se={max_rel_se})")
            else:
                row["accepted"] = True
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("region")
    # -- fallbacks ------------------------------------------------------------------
    # (1) the planner's judgments; (2) the accepted regions of the SAME group (maturity):
    # their median shape b / mean spend and response share a / mean margin; (3) nothing
    # comparable: the region is held at its status-quo spend, with the reason.  Never
    # borrow across groups: a mature region is not an emerging one.
    judged = calibrate_from_judgments(judgments) if judgments is not None else None
    accepted = out[out["accepted"]]
    rejected = list(out.index[~out["accepted"]])
    out.loc[rejected, ["a", "b"]] = np.nan
    for region in rejected:
        why = out.loc[region, "reason"]
        if judged is not None and region in judged:
            cv = judged[region]
            out.loc[region, ["kind", "a", "b", "c", "source"]] = [cv.kind, cv.a, cv.b, cv.c, "judgment"]
            out.loc[region, ["rel_se_a", "rel_se_b", "corr_ab"]] = [np.nan, np.nan, 0.0]
            out.loc[region, "reason"] = why + "; using the planner's judgments"
            continue
        grp = out.loc[region, "group"]
        donors = accepted[(accepted["group"] == grp) & (accepted.index != region)]
        if groups and len(donors) and out.loc[region, "mean_spend"] > 0:
            ratio = float((donors["b"] / donors["mean_spend"]).median())
            share = float((donors["a"] / donors["mean_margin"]).median())
            out.loc[region, ["a", "b", "c", "source"]] = [
                share * out.loc[region, "mean_margin"], ratio * out.loc[region, "mean_spend"], 1.0, "pooled"]
            out.loc[region, "kind"] = "exp"
            # the borrowed curve is as uncertain as the donors' (at least)
            out.loc[region, ["rel_se_a", "rel_se_b", "corr_ab"]] = [
                float(donors["rel_se_a"].max()), float(donors["rel_se_b"].max()),
                float(donors["corr_ab"].median())]
            out.loc[region, "reason"] = why + (
                f"; using the accepted {grp!r} regions' ({', '.join(map(str, donors.index))}) "
                f"median b/mean spend={ratio:.2f} and a/mean margin={share:.3f}")
            continue
        sq = out.loc[region, "status_quo_spend"]
        out.loc[region, ["kind", "source", "rel_se_a", "rel_se_b", "corr_ab"]] = [
            "held", "held", np.nan, np.nan, 0.0]
        where = f"of group {grp!r}" if groups else "(no groups given to borrow within)"
        out.loc[region, "reason"] = why + (
            f"; no accepted region {where}: kept at its status-quo spend "
            f"{sq:,.0f}/month (mean of the last {int(status_quo_months)} months)")
    return out


def curves_from_fit(
    fit: pd.DataFrame,
    uncertainty: str = "expected",
    n_draws: int = 200,
    seed: int = 0,
) -> dict[str, ResponseCurve]:
    """``{region: ResponseCurve}`` from :func:`fit_response_curves`' table.

    ``uncertainty="expected"`` (default): for exponential fits with standard errors, the
    curve is the *expected* response over ``n_draws`` draws of the Laplace posterior
    ``(log a, log b) ~ N((log a_hat, log b_hat), [[se_a^2, rho se_a se_b], [rho se_a se_b,
    se_b^2]])`` (``rel_se_a``, ``rel_se_b``, ``corr_ab``; standard normals truncated at
    +-3; ``seed`` makes it deterministic, and the same draws are used for every region):
    ``kind="expmix"``.  Since the budget objective is a sum over regions, its expectation
    needs only each region's own marginal posterior.  ``"plugin"``: the point estimate.
    Regions without a curve (``source == "held"``) become ``kind="held"`` curves that the
    optimiser keeps at ``status_quo_spend``.
    """
    require_columns(fit, "fit", ("kind", "a", "b", "c"))
    if uncertainty not in ("expected", "plugin"):
        raise ValueError(f"uncertainty must be 'expected' or 'plugin', got {uncertainty!r}")
    _check_number("n_draws", n_draws, lo=1)
    z = np.clip(np.random.default_rng(seed).standard_normal((int(n_draws), 2)), -3.0, 3.0)
    out = {}
    for region, row in fit.iterrows():
        if row["kind"] == "held":
            out[region] = ResponseCurve("held", hold=float(row["status_quo_spend"]),
                                        reason=str(row.get("reason", "")))
            continue
        if not np.isfinite(row["a"]) or not np.isfinite(row["b"]):
            raise ValueError(f"fit row {region!r} has no curve: {row.get('reason', '')}")
        a, b = float(max(row["a"], 0.0)), float(row["b"])
        sa, sb = float(row.get("rel_se_a", np.nan)), float(row.get("rel_se_b", np.nan))
        if (uncertainty == "expected" and row["kind"] == "exp" and a > 0
                and np.isfinite(sa) and np.isfinite(sb)):
            rho = float(np.clip(row.get("corr_ab", 0.0) if pd.notna(row.get("corr_ab", 0.0)) else 0.0,
                                -0.999, 0.999))
            la = math.log(a) + sa * z[:, 0]
            lb = math.log(b) + sb * (rho * z[:, 0] + math.sqrt(1 - rho**2) * z[:, 1])
            out[region] = ResponseCurve("expmix", a, b, draws=np.column_stack([np.exp(la), np.exp(lb)]))
        else:
            out[region] = ResponseCurve(str(row["kind"]), a, b, float(row["c"]))
    return out


def calibrate_from_judgments(judgments: pd.DataFrame) -> dict[str, ResponseCurve]:
    """ADBUDG curves from a planner's four judgments per unit (Little 1970).

    ``judgments`` has ``region`` (or ``unit``), ``current_spend`` (monthly) and the
    expected monthly gross margin ``at_zero`` (no spend), ``at_saturation`` (unlimited
    spend), ``at_current`` and ``at_plus50`` (spend +50%).  With
    ``a = at_saturation - at_zero`` and ``y = (r - at_zero) / a``, the curve
    ``y = x**c / (b**c + x**c)`` gives ``y / (1 - y) = (x / b)**c``, hence::

        c = ln(odds(y_plus50) / odds(y_current)) / ln(1.5)
        b = current_spend / odds(y_current) ** (1 / c)

    Requires ``at_zero < at_current < at_plus50 < at_saturation``.  ``floor`` keeps
    ``at_zero``.
    """
    key = "region" if "region" in judgments.columns else "unit"
    cols = (key, "current_spend", "at_zero", "at_saturation", "at_current", "at_plus50")
    require_columns(judgments, "judgments", cols)
    out = {}
    for row in judgments.itertuples(index=False):
        u = getattr(row, key)
        x0, r0, rs, rc, r5 = (float(getattr(row, c)) for c in cols[1:])
        if not x0 > 0:
            raise ValueError(f"judgments[{u!r}]: current_spend must be > 0, got {x0!r}")
        if not (r0 < rc < r5 < rs):
            raise ValueError(
                f"judgments[{u!r}]: expected at_zero < at_current < at_plus50 < at_saturation, "
                f"got {r0!r}, {rc!r}, {r5!r}, {rs!r}"
            )
        a = rs - r0
        yc, y5 = (rc - r0) / a, (r5 - r0) / a
        oc, o5 = yc / (1 - yc), y5 / (1 - y5)
        c = math.log(o5 / oc) / math.log(1.5)
        b = x0 / oc ** (1.0 / c)
        out[u] = ResponseCurve("adbudg", a, b, c, floor=r0)
    return out


# -- ABC classes and the 80% rule ---------------------------------------------------------
def _abc_series(orders: pd.DataFrame, as_of, months: int) -> pd.Series:
    """customer_id -> ABC class from :func:`salesplan.segments.abc_classes` (A = first 80%)."""
    abc = _segment_abc_classes(orders, as_of, ABCParams(window_months=int(months)))
    return abc.set_index("customer_id")["abc_class"].astype(str)


def a_class_share_by_region(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    as_of,
    classes: pd.Series | None = None,
    months: int = 12,
) -> pd.DataFrame:
    """Where the A-class customers are: revenue of A and non-A customers by region.

    Returns
    -------
    DataFrame indexed by region: ``a_revenue``, ``other_revenue``, ``a_share`` (region's
    share of all A-class revenue), ``other_share``, ``n_a``, ``n_customers``.
    """
    require_columns(customers, "customers", ("customer_id", "region"))
    as_of = as_date(as_of, "as_of")
    if classes is None:
        classes = _abc_series(orders, as_of, months)
    start = as_of - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    w = orders[(orders["order_date"] >= start) & (orders["order_date"] <= as_of)]
    rev = w.groupby("customer_id")["amount"].sum().clip(lower=0)
    c = customers[["customer_id", "region"]].copy()
    c["revenue"] = c["customer_id"].map(rev).fillna(0.0)
    c["is_a"] = c["customer_id"].map(classes).fillna("C").eq("A")
    g = c.groupby("region")
    out = pd.DataFrame(
        {
            "a_revenue": g.apply(lambda d: d.loc[d["is_a"], "revenue"].sum(), include_groups=False),
            "other_revenue": g.apply(lambda d: d.loc[~d["is_a"], "revenue"].sum(), include_groups=False),
            "n_a": g["is_a"].sum().astype(int),
            "n_customers": g.size(),
        }
    )
    out["a_share"] = out["a_revenue"] / out["a_revenue"].sum() if out["a_revenue"].sum() > 0 else 0.0
    osum = out["other_revenue"].sum()
    out["other_share"] = out["other_revenue"] / osum if osum > 0 else 1.0 / len(out)
    return out


def rule_of_thumb_allocation(shares: pd.DataFrame, total: float, concentration: float = 0.8) -> pd.Series:
    """"Put ~80% of promotional resources where the A-class customers are."

    ``X_i = total * (concentration * a_share_i + (1 - concentration) * other_share_i)``
    with the shares of :func:`a_class_share_by_region`.  Constraints are *not* applied
    (the rule does not know them); :func:`compare_allocations` reports feasibility.
    """
    require_columns(shares, "shares", ("a_share", "other_share"))
    _check_number("total", total, lo=0)
    _check_number("concentration", concentration, lo=0, hi=1)
    x = total * (concentration * shares["a_share"] + (1 - concentration) * shares["other_share"])
    return x.rename("spend")


def compare_allocations(
    curves,
    allocations: Mapping[str, pd.Series],
    months: float = 1.0,
    constraints: BudgetConstraints | None = None,
) -> pd.DataFrame:
    """Expected incremental margin of named allocations under the same curves.

    Returns
    -------
    DataFrame indexed by allocation name: ``spend``, ``response``, ``roi`` (response /
    spend), ``vs_best`` (response / best response - 1), ``feasible`` (bool, when
    ``constraints`` given), and ``unvalued_spend`` when some curves are ``"held"``
    (their response is unknown and left out of ``response``; compare allocations that
    give held units the same spend).
    """
    curves = _curves_dict(curves)
    rows = {}
    lo = hi = None
    if constraints is not None:
        lo, hi = constraints.bounds(list(curves))
    for name, alloc in allocations.items():
        ev = evaluate_allocation(curves, alloc, months)
        row = {"spend": ev["spend"].sum(), "response": ev["response"].sum()}
        if ev["response"].isna().any():  # held units: value unknown, spend reported apart
            row["unvalued_spend"] = float(ev.loc[ev["response"].isna(), "spend"].sum())
        row["roi"] = row["response"] / row["spend"] if row["spend"] > 0 else np.nan
        if constraints is not None:
            x = ev["spend"].to_numpy()
            tol = 1e-6 * max(constraints.total, 1)
            ok = bool((x >= lo - tol).all() and (x <= hi + tol).all())
            ok &= (abs(x.sum() - constraints.total) <= tol) if constraints.spend_all else (x.sum() <= constraints.total + tol)
            row["feasible"] = ok
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out["vs_best"] = out["response"] / out["response"].max() - 1.0
    return out


def curve_sensitivity(
    curves,
    allocation: pd.Series,
    constraints: BudgetConstraints,
    months: float = 1.0,
    error: float = 0.2,
    n_scenarios: int = 50,
    seed: int = 0,
    method: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much is lost if the curves are off by up to +-``error``?

    Scenarios draw, per unit, ``a`` and ``b`` multipliers uniformly in
    ``[1 - error, 1 + error]`` (callable curves: output multiplier only).  In each, the
    chosen ``allocation`` is evaluated and the budget is re-optimised on the perturbed
    curves; ``regret = 1 - chosen / reoptimised`` (share of attainable margin lost by
    planning on the wrong curves).  One-at-a-time rows scale one unit's ``a`` by
    ``1 - error`` and ``1 + error``.

    Returns
    -------
    (scenarios, one_at_a_time)
        ``scenarios``: scenario, chosen, reoptimised, regret.  ``one_at_a_time``: unit,
        factor, chosen, reoptimised, regret, spend_shift (re-optimised minus chosen spend
        of that unit).
    """
    curves = _curves_dict(curves)
    _check_number("error", error, lo=0, hi=0.99)
    rng = np.random.default_rng(seed)
    units = list(curves)

    def run(pert):
        chosen = evaluate_allocation(pert, allocation, months)["response"].sum()
        plan = optimise_budget(pert, constraints, months, method)
        return chosen, plan

    rows = []
    for s in range(int(n_scenarios)):
        fa = rng.uniform(1 - error, 1 + error, len(units))
        fb = rng.uniform(1 - error, 1 + error, len(units))
        pert = {u: curves[u].scaled(fa[i], fb[i]) for i, u in enumerate(units)}
        chosen, plan = run(pert)
        rows.append((s, chosen, plan.total_response, 1 - chosen / plan.total_response if plan.total_response > 0 else 0.0))
    scen = pd.DataFrame(rows, columns=["scenario", "chosen", "reoptimised", "regret"])
    rows = []
    for u in units:
        for f in (1 - error, 1 + error):
            pert = dict(curves)
            pert[u] = curves[u].scaled(f, 1.0)
            chosen, plan = run(pert)
            rows.append((u, f, chosen, plan.total_response,
                         1 - chosen / plan.total_response if plan.total_response > 0 else 0.0,
                         float(plan.spend[u] - allocation[u])))
    oat = pd.DataFrame(rows, columns=["unit", "factor", "chosen", "reoptimised", "regret", "spend_shift"])
    return scen, oat


# ======================================================================================
# 3. Account coverage
# ======================================================================================
_DEFAULT_VISITS = {
    ("A", "introduction"): 6, ("A", "growth"): 6, ("A", "maturity"): 4, ("A", "decline"): 6,
    ("B", "introduction"): 4, ("B", "growth"): 4, ("B", "maturity"): 2, ("B", "decline"): 3,
    ("C", "introduction"): 1, ("C", "growth"): 1, ("C", "maturity"): 0, ("C", "decline"): 1,
}
_DEFAULT_CALLS = {
    ("A", "introduction"): 24, ("A", "growth"): 12, ("A", "maturity"): 12, ("A", "decline"): 24,
    ("B", "introduction"): 12, ("B", "growth"): 12, ("B", "maturity"): 6, ("B", "decline"): 12,
    ("C", "introduction"): 6, ("C", "growth"): 4, ("C", "maturity"): 4, ("C", "decline"): 4,
}


@dataclass(frozen=True)
class CoverageParams:
    """Contact norms and rep capacity.

    Parameters
    ----------
    visits_per_year, calls_per_year : Mapping (abc_class, lifecycle_stage) -> float
        Contact frequency norms (defaults: A quarterly-plus visits, C served by phone).
    hours_per_visit, hours_per_call : float
        Hours per contact, travel and preparation included.
    selling_hours_per_month : float
        Hours per rep per month available for customer contact.
    overload, idle : float
        Utilisation (hours needed / capacity) above ``overload`` flags an overloaded
        rep, below ``idle`` an idle one.
    """

    visits_per_year: Mapping = field(default_factory=lambda: dict(_DEFAULT_VISITS))
    calls_per_year: Mapping = field(default_factory=lambda: dict(_DEFAULT_CALLS))
    hours_per_visit: float = 3.0
    hours_per_call: float = 0.5
    selling_hours_per_month: float = 80.0
    overload: float = 1.1
    idle: float = 0.7

    def __post_init__(self):
        for name in ("visits_per_year", "calls_per_year"):
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise ValueError(f"{name} must map (abc_class, stage) -> contacts per year")
            for k, v in table.items():
                if not (isinstance(k, tuple) and len(k) == 2):
                    raise ValueError(f"{name}: key {k!r} must be (abc_class, lifecycle_stage)")
                _check_number(f"{name}[{k!r}]", v, lo=0)
        _check_number("hours_per_visit", self.hours_per_visit, lo=0)
        _check_number("hours_per_call", self.hours_per_call, lo=0)
        _check_number("selling_hours_per_month", self.selling_hours_per_month, lo=0, lo_open=True)
        _check_number("idle", self.idle, lo=0)
        _check_number("overload", self.overload, lo=0)
        if self.idle >= self.overload:
            raise ValueError(f"idle={self.idle!r} must be below overload={self.overload!r}")

    def hours_per_month(self, abc_class: str, stage: str) -> float:
        """``(visits * hours_per_visit + calls * hours_per_call) / 12``."""
        key = (abc_class, stage)
        if key not in self.visits_per_year or key not in self.calls_per_year:
            raise ValueError(f"no contact norm for (abc_class, stage)={key!r}")
        return (self.visits_per_year[key] * self.hours_per_visit
                + self.calls_per_year[key] * self.hours_per_call) / 12.0


def account_book(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    as_of,
    classes: pd.Series | None = None,
    stages: pd.Series | None = None,
    reps: pd.DataFrame | None = None,
    months: int = 12,
) -> pd.DataFrame:
    """One row per account with its owner, region, ABC class and lifecycle stage.

    Owner = the rep with the most revenue from the customer over the trailing
    ``months`` months (ties: first in order); customers with no rep-credited revenue
    (house accounts) are left out.  Reps that have left by ``as_of`` (``reps``
    given) are dropped as owners.

    Returns
    -------
    DataFrame ``customer_id``, ``rep_id``, ``region``, ``abc_class``,
    ``lifecycle_stage``, ``revenue`` (trailing, currency).
    """
    require_columns(orders, "orders", ("order_date", "customer_id", "rep_id", "amount"))
    require_columns(customers, "customers", ("customer_id", "region"))
    as_of = as_date(as_of, "as_of")
    classes = _abc_series(orders, as_of, months) if classes is None else classes
    if stages is None:
        st = _segment_lifecycle_stages(orders, as_of)
        stages = st.set_index("customer_id")["stage"].astype(str)
    start = as_of - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    w = orders[(orders["order_date"] >= start) & (orders["order_date"] <= as_of) & orders["rep_id"].notna()]
    by = w.groupby(["customer_id", "rep_id"], sort=False)["amount"].sum().reset_index()
    if reps is not None:
        require_columns(reps, "reps", ("rep_id", "exit_date"))
        gone = reps.loc[reps["exit_date"].notna() & (pd.to_datetime(reps["exit_date"]) <= as_of), "rep_id"]
        by = by[~by["rep_id"].isin(set(gone))]
    by = by.sort_values(["customer_id", "amount"], ascending=[True, False], kind="mergesort")
    own = by.drop_duplicates("customer_id")
    rev = w.groupby("customer_id")["amount"].sum()
    out = own[["customer_id", "rep_id"]].merge(customers[["customer_id", "region"]], on="customer_id", how="left")
    out["abc_class"] = out["customer_id"].map(classes).fillna("C")
    out["lifecycle_stage"] = out["customer_id"].map(stages).fillna("maturity")
    out["revenue"] = out["customer_id"].map(rev).fillna(0.0)
    return out.reset_index(drop=True)


def coverage_load(accounts: pd.DataFrame, params: CoverageParams, reps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hours each rep needs per month to cover her book, against capacity.

    ``hours_i = sum over the rep's accounts of (visits * hours_per_visit + calls *
    hours_per_call) / 12`` from the norms of (abc_class, lifecycle_stage);
    ``utilisation = hours / selling_hours_per_month``; ``status`` = "overloaded"
    (> ``overload``), "idle" (< ``idle``) or "ok".  Reps in ``reps`` (still employed)
    without accounts appear with zero hours.

    Returns
    -------
    DataFrame indexed by rep_id: ``region``, ``accounts``, ``a_accounts``, ``hours``,
    ``capacity``, ``utilisation``, ``status``.
    """
    require_columns(accounts, "accounts", ("customer_id", "rep_id", "region", "abc_class", "lifecycle_stage"))
    acc = accounts.copy()
    acc["hours"] = [params.hours_per_month(c, s) for c, s in zip(acc["abc_class"], acc["lifecycle_stage"])]
    g = acc.groupby("rep_id")
    out = pd.DataFrame(
        {
            "region": g["region"].agg(lambda s: s.mode().iloc[0] if len(s.mode()) else s.iloc[0]),
            "accounts": g.size(),
            "a_accounts": g["abc_class"].agg(lambda s: int((s == "A").sum())),
            "hours": g["hours"].sum(),
        }
    )
    if reps is not None:
        require_columns(reps, "reps", ("rep_id", "region"))
        active = reps
        if "exit_date" in reps.columns:
            active = reps[reps["exit_date"].isna()]
        for r in active.itertuples(index=False):
            if r.rep_id not in out.index:
                out.loc[r.rep_id] = {"region": r.region, "accounts": 0, "a_accounts": 0, "hours": 0.0}
    out["capacity"] = params.selling_hours_per_month
    out["utilisation"] = out["hours"] / out["capacity"]
    out["status"] = np.where(
        out["utilisation"] > params.overload, "overloaded",
        np.where(out["utilisation"] < params.idle, "idle", "ok"),
    )
    out[["accounts", "a_accounts"]] = out[["accounts", "a_accounts"]].astype(int)
    return out.rename_axis("rep_id")


def suggest_reassignments(
    accounts: pd.DataFrame,
    params: CoverageParams,
    reps: pd.DataFrame | None = None,
    max_moves: int = 10_000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Greedy rebalancing of account books within each region.

    Rules: A-class accounts never move (the relationship stays with its rep); accounts
    move only within a region.  Repeat: take the most loaded rep of a region whose
    utilisation is above ``overload`` and the least loaded rep of the same region; move
    the B/C account (B before C, larger hours first) that brings the donor closest to
    ``1.0`` without lifting the receiver above ``1.0`` -- or any account that strictly
    lowers the larger of the two utilisations; stop when no move helps.  Each move
    strictly lowers ``max(u_donor, u_receiver)``, so the loop ends.

    Returns
    -------
    (moves, load_after)
        ``moves``: customer_id, region, abc_class, hours, from_rep, to_rep,
        from_util_before, to_util_before.  ``load_after``: :func:`coverage_load` of the
        rebalanced book.
    """
    acc = accounts.copy()
    acc["hours"] = [params.hours_per_month(c, s) for c, s in zip(acc["abc_class"], acc["lifecycle_stage"])]
    load = coverage_load(acc, params, reps)
    cap = params.selling_hours_per_month
    hours = load["hours"].to_dict()
    region_of = load["region"].to_dict()
    moves = []
    for region in sorted(set(region_of.values())):
        members = [r for r, g in region_of.items() if g == region]
        if len(members) < 2:
            continue
        while len(moves) < max_moves:
            donor = max(members, key=lambda r: hours[r])
            recv = min(members, key=lambda r: hours[r])
            if hours[donor] / cap <= params.overload or donor == recv:
                break
            cand = acc[(acc["rep_id"] == donor) & (acc["abc_class"] != "A") & (acc["hours"] > 0)]
            if cand.empty:
                members = [m for m in members if m != donor]
                if len(members) < 2:
                    break
                continue
            before = max(hours[donor], hours[recv])
            best, best_key = None, None
            for idx, row in cand.iterrows():
                h = row["hours"]
                after = max(hours[donor] - h, hours[recv] + h)
                if after >= before - 1e-12:
                    continue
                fits = hours[recv] + h <= cap + 1e-12
                key = (not fits, 0 if row["abc_class"] == "B" else 1, abs(hours[donor] - h - cap), -h)
                if best_key is None or key < best_key:
                    best, best_key = idx, key
            if best is None:
                members = [m for m in members if m != donor]
                if len(members) < 2:
                    break
                continue
            h = acc.at[best, "hours"]
            moves.append((acc.at[best, "customer_id"], region, acc.at[best, "abc_class"], h,
                          donor, recv, hours[donor] / cap, hours[recv] / cap))
            hours[donor] -= h
            hours[recv] += h
            acc.at[best, "rep_id"] = recv
    mv = pd.DataFrame(moves, columns=["customer_id", "region", "abc_class", "hours", "from_rep",
                                      "to_rep", "from_util_before", "to_util_before"])
    return mv, coverage_load(acc.drop(columns="hours"), params, reps)
