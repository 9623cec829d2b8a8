"""Monitoring: actual vs plan to date, paced by seasonality, with a root-cause table.

Weekly review of ``docs/domain.md`` section 1: when actual deviates from the plan to date
by more than ``tolerance`` (15 %), find where the gap comes from -- region, rep, product
line, funnel stage -- and rank the causes by their contribution to the gap.

Pacing
------
The plan to date is *paced by seasonality*: each month's planned amount (which already
follows the forecast's seasonal profile, see :mod:`salesplan.planning.targets`) is spread over the
days of the month by ``weekday_weights``; the expected-to-date amount is the sum over the
days up to and including ``as_of``::

    expected_to_date = sum_m plan_m * sum_{d in m, d <= as_of} w_d / sum_{d in m} w_d

Root causes
-----------
With the company gap ``G = actual - expected`` (to date), each entity ``i`` of a dimension
contributes ``c_i = actual_i - expected_i`` and ``share_of_gap_i = c_i / G``.  Within a
dimension the shares sum to 1 (regions, reps, product lines are each a full partition of
the company); rows are ranked by ``share_of_gap`` (largest first: the entities that
explain most of the gap, in its direction).

* **region**: expected from the region targets' months;
* **rep**: expected from the rep quota months divided by the over-assignment factor (so
  reps sum to the company target); orders of reps not in the plan count for the region's
  vacancy (held by the manager) or ``unassigned:<region>``;
* **product_line**: the company expected split by each product line's share of revenue
  in the same quarter last year (the trailing 365 days when that is empty);
* **funnel_stage** (leading indicator, needs a :class:`~salesplan.planning.funnel.FunnelPlan`):
  planned entries into each stage to date minus actual entries (``stage_history``);
  ``contribution = (actual - planned) * deal_size * P_win(stage)``: future revenue at
  risk (not part of the to-date gap; ``share_of_gap`` is given for scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date, check_number
from salesplan.data.schema import SalesData

__all__ = ["MonitorParams", "MonitorReport", "expected_to_date", "progress"]


@dataclass(frozen=True)
class MonitorParams:
    """Parameters of a progress review.

    Parameters
    ----------
    tolerance : float in (0, 1)
        Flag ``|actual / expected - 1| > tolerance`` (default 0.15).
    weekday_weights : 7 floats >= 0
        Selling weight of Monday..Sunday for pacing within a month.
    min_expected : float >= 0
        Entities expected to sell less than this (currency) to date are not flagged.
    """

    tolerance: float = 0.15
    weekday_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
    min_expected: float = 0.0

    def __post_init__(self):
        check_number("tolerance", self.tolerance, 0, 1, lo_open=True, hi_open=True,
                     what=" (a fraction, e.g. 0.15)")
        object.__setattr__(self, "weekday_weights", weekday_weights_checked(self.weekday_weights))
        check_number("min_expected", self.min_expected, 0, what=" (an amount, currency)")


@dataclass(frozen=True)
class MonitorReport:
    """Result of :func:`progress`.

    Attributes
    ----------
    summary : DataFrame
        ``level, entity, region, plan_quarter, expected_to_date, actual_to_date, gap,
        deviation, pace_share, flag`` for the company, regions and reps (reps against
        their quota).
    root_causes : DataFrame
        ``dimension, entity, expected, actual, contribution, share_of_gap, deviation,
        flag, rank`` sorted by ``share_of_gap`` (largest first).
    funnel : DataFrame or None
        ``stage, planned_to_date, actual_to_date, shortfall, revenue_at_risk``.
    as_of : Timestamp
    """

    summary: pd.DataFrame
    root_causes: pd.DataFrame
    funnel: pd.DataFrame | None
    as_of: pd.Timestamp

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"monitor_summary": self.summary, "monitor_root_causes": self.root_causes}
        if self.funnel is not None:
            out["monitor_funnel"] = self.funnel
        return out


def weekday_weights_checked(value) -> tuple[float, ...]:
    """``value`` as 7 selling weights (Monday..Sunday) >= 0 with a positive sum; else a
    ValueError naming ``weekday_weights``."""
    ww = tuple(float(x) for x in value)
    if len(ww) != 7 or any(x < 0 for x in ww) or sum(ww) <= 0:
        raise ValueError(f"weekday_weights={value!r}: expected 7 weights >= 0, sum > 0")
    return ww


def month_pace(months, as_of, ww) -> np.ndarray:
    """Share of each month's plan that falls on or before ``as_of`` (weekday weighted):
    ``sum_{d in m, d <= as_of} w_d / sum_{d in m} w_d`` per month start ``m``."""
    as_of = as_date(as_of)
    months = pd.DatetimeIndex(months)
    out = np.zeros(len(months))
    for k, m in enumerate(months):
        days = pd.date_range(m, m + pd.offsets.MonthEnd(0), freq="D")
        w = np.asarray(ww)[days.weekday]
        if w.sum() <= 0:
            w = np.ones(len(days))
        out[k] = w[days <= as_of].sum() / w.sum()
    return out


def expected_to_date(months_plan: pd.DataFrame, as_of, *, column: str = "target",
                     weekday_weights=(1, 1, 1, 1, 1, 0, 0)) -> pd.DataFrame:
    """Plan to date per entity, paced by the monthly (seasonal) plan and weekdays.

    Parameters
    ----------
    months_plan : DataFrame
        ``entity, month, <column>`` (e.g. ``TargetPlan.months`` filtered to a level).
    as_of : date-like
        Last day of actuals (inclusive).
    column : str
        The planned amount column (``target`` or ``quota``).

    Returns
    -------
    DataFrame
        ``entity, plan_quarter, expected_to_date, pace_share`` (``pace_share`` =
        expected / quarter plan).
    """
    as_of = as_date(as_of)
    mp = months_plan.copy()
    mp["month"] = pd.to_datetime(mp["month"])
    months = pd.DatetimeIndex(sorted(mp["month"].unique()))
    pace = pd.Series(month_pace(months, as_of, weekday_weights), index=months)
    mp["exp"] = mp[column].astype(float) * mp["month"].map(pace).to_numpy()
    g = mp.groupby("entity", sort=False).agg(plan_quarter=(column, "sum"), expected_to_date=("exp", "sum"))
    g["pace_share"] = np.where(g["plan_quarter"] > 0, g["expected_to_date"] / g["plan_quarter"].where(g["plan_quarter"] > 0, 1), 0.0)
    return g.reset_index()


def _flag(dev, expected, params):
    return (np.abs(dev) > params.tolerance) & (expected > params.min_expected)


def progress(
    plan,
    actuals: SalesData | pd.DataFrame,
    as_of,
    *,
    params: MonitorParams = MonitorParams(),
    funnel_plan=None,
    customers: pd.DataFrame | None = None,
) -> MonitorReport:
    """Actual vs plan to date, flags beyond ``tolerance`` and a root-cause table.

    Parameters
    ----------
    plan : TargetPlan
        From :func:`salesplan.planning.targets.propose_targets`.
    actuals : SalesData or DataFrame
        Orders (``order_date, customer_id, rep_id, product_line, amount``) including the
        quarter so far and (for product-line shares) last year's same quarter; a
        ``SalesData`` also supplies ``customers`` (order regions) and ``stage_history``.
    as_of : date-like
        Last day with actuals (inclusive), inside the plan quarter.
    params : MonitorParams
    funnel_plan : FunnelPlan, optional
        Adds the funnel-stage rows (planned vs actual stage entries to date).
    customers : DataFrame, optional
        ``customer_id, region`` when ``actuals`` is a bare orders frame.

    Returns
    -------
    MonitorReport
    """
    as_of = as_date(as_of)
    q = plan.params.period
    qs, qe = q.start_time.normalize(), q.end_time.normalize()
    if not (qs <= as_of <= qe):
        raise ValueError(f"as_of={as_of.date()} is outside the plan quarter {q} ({qs.date()}..{qe.date()})")
    if isinstance(actuals, SalesData):
        orders = actuals.orders
        customers = actuals.customers if customers is None else customers
        data = actuals
    elif isinstance(actuals, pd.DataFrame):
        orders, data = actuals, None
    else:
        raise ValueError(f"actuals: expected SalesData or an orders DataFrame, got {type(actuals).__name__}")
    need = {"order_date", "customer_id", "rep_id", "amount"}
    if not need <= set(orders.columns):
        raise ValueError(f"orders: missing column(s) {sorted(need - set(orders.columns))}")
    od = orders["order_date"]
    od = od if od.dtype == "datetime64[ns]" else pd.to_datetime(od)
    # only the lines of the quarter to date and of the year before it are read below
    lo = min((q - 4).start_time, qs - pd.Timedelta(days=365))
    keep = ((od >= lo) & (od <= as_of)).to_numpy()
    o = orders[keep].copy()
    o["order_date"] = od[keep]
    if "product_line" not in o.columns:
        o["product_line"] = "(all)"
    reps = plan.reps
    region_of_rep = reps.set_index("rep_id")["region"]
    if customers is not None:
        reg = o["customer_id"].map(customers.set_index("customer_id")["region"])
    else:
        reg = pd.Series(np.nan, index=o.index, dtype=object)
    reg = reg.where(reg.notna(), o["rep_id"].map(region_of_rep))
    o["region"] = reg.astype(object).where(reg.notna(), "(none)").astype(str)
    cur = o[(o["order_date"] >= qs) & (o["order_date"] <= as_of)]

    ww = params.weekday_weights
    mo = plan.months
    factor = float(plan.params.over_assignment)

    # ------------------------------------------------------------ summary
    rows = []
    comp = expected_to_date(mo[mo.level == "company"], as_of, column="target", weekday_weights=ww)
    reg_e = expected_to_date(mo[mo.level == "region"], as_of, column="target", weekday_weights=ww)
    rep_e = expected_to_date(mo[mo.level == "rep"], as_of, column="quota", weekday_weights=ww)
    act_total = float(cur["amount"].sum())
    act_reg = cur.groupby("region")["amount"].sum()
    real = reps[~reps["vacant"]]
    real_ids = set(real["rep_id"])
    vac_by_region = reps[reps["vacant"]].groupby("region")["rep_id"].first()
    rep_key = cur["rep_id"].astype(object).where(cur["rep_id"].isin(real_ids))
    fallback = cur["region"].map(vac_by_region)
    fallback = fallback.where(fallback.notna(), "unassigned:" + cur["region"])
    rep_key = rep_key.where(rep_key.notna(), fallback)
    act_rep = cur.groupby(rep_key.to_numpy())["amount"].sum()

    def add(level, ent, region, e_row, actual):
        exp = float(e_row["expected_to_date"])
        dev = actual / exp - 1 if exp > 0 else np.nan
        rows.append(dict(level=level, entity=ent, region=region, plan_quarter=float(e_row["plan_quarter"]),
                         expected_to_date=exp, actual_to_date=actual, gap=actual - exp, deviation=dev,
                         pace_share=float(e_row["pace_share"])))

    add("company", "total", "", comp.iloc[0], act_total)
    for r in reg_e.itertuples(index=False):
        add("region", r.entity, r.entity, r._asdict(), float(act_reg.get(r.entity, 0.0)))
    for r in rep_e.itertuples(index=False):
        add("rep", r.entity, str(region_of_rep.get(r.entity, "")), r._asdict(), float(act_rep.get(r.entity, 0.0)))
    summary = pd.DataFrame(rows)
    summary["flag"] = np.where(
        _flag(summary["deviation"].fillna(0).to_numpy(), summary["expected_to_date"].to_numpy(), params),
        np.where(summary["deviation"] > 0, "ahead", "behind"), "")

    # ------------------------------------------------------------ root causes
    G = act_total - float(comp.iloc[0]["expected_to_date"])
    rc = []
    for r in reg_e.itertuples(index=False):
        rc.append(("region", r.entity, r.expected_to_date, float(act_reg.get(r.entity, 0.0))))
    extra_reg = sorted(set(act_reg.index) - set(reg_e["entity"]))
    for r in extra_reg:
        rc.append(("region", r, 0.0, float(act_reg[r])))
    for r in rep_e.itertuples(index=False):
        rc.append(("rep", r.entity, r.expected_to_date / factor, float(act_rep.get(r.entity, 0.0))))
    for r in sorted(set(act_rep.index) - set(rep_e["entity"])):
        rc.append(("rep", r, 0.0, float(act_rep[r])))
    # product lines: company expected x last year's same-quarter mix
    ly = o[(o["order_date"] >= (q - 4).start_time) & (o["order_date"] <= (q - 4).end_time)]
    if ly["amount"].sum() <= 0:
        ly = o[(o["order_date"] < qs) & (o["order_date"] >= qs - pd.Timedelta(days=365))]
    mix = ly.groupby("product_line")["amount"].sum()
    mix = mix[mix > 0]
    act_pl = cur.groupby("product_line")["amount"].sum()
    exp_c = float(comp.iloc[0]["expected_to_date"])
    if mix.sum() > 0:
        mix = mix / mix.sum()
        for pl in sorted(set(mix.index) | set(act_pl.index)):
            rc.append(("product_line", pl, exp_c * float(mix.get(pl, 0.0)), float(act_pl.get(pl, 0.0))))
    funnel_tab = None
    if funnel_plan is not None:
        funnel_tab = _funnel_rows(funnel_plan, data, as_of)
        for r in funnel_tab.itertuples(index=False):
            rc.append(("funnel_stage", r.stage, np.nan, np.nan, -r.revenue_at_risk))
    rcd = pd.DataFrame([x if len(x) == 5 else (*x, x[3] - x[2]) for x in rc],
                       columns=["dimension", "entity", "expected", "actual", "contribution"])
    rcd["share_of_gap"] = rcd["contribution"] / G if abs(G) > 1e-9 else np.nan
    rcd["deviation"] = np.where(rcd["expected"] > 0, rcd["actual"] / rcd["expected"].where(rcd["expected"] > 0, 1) - 1, np.nan)
    rcd["flag"] = np.where(_flag(rcd["deviation"].fillna(0).to_numpy(), rcd["expected"].fillna(0).to_numpy(), params),
                           np.where(rcd["deviation"] > 0, "ahead", "behind"), "")
    key = rcd["share_of_gap"] if abs(G) > 1e-9 else -rcd["contribution"].abs()
    rcd["rank"] = key.groupby(rcd["dimension"]).rank(ascending=False, method="first").astype(int)
    rcd = rcd.assign(_k=key).sort_values("_k", ascending=False, kind="stable").drop(columns="_k").reset_index(drop=True)
    return MonitorReport(summary, rcd, funnel_tab, as_of)


def _funnel_rows(fp, data: SalesData | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """Planned vs actual stage entries to date; revenue at risk of the shortfall."""
    rates = fp.rates_for(next(iter(fp.gap["entity"]))) if len(fp.gap) else fp.rates
    stages = list(rates.stages)
    w = fp.weeks.copy()
    start_week = fp.start - pd.Timedelta(days=fp.start.weekday())
    w = w[(w["week_start"] >= start_week) & (w["week_start"] <= as_of)]
    # partial current week: days elapsed / 7
    frac = ((as_of - w["week_start"]).dt.days + 1).clip(upper=7) / 7.0
    planned = (w["needed"] * frac).groupby(w["stage"]).sum()
    entities = set(fp.gap["entity"].astype(str))
    actual = pd.Series(0.0, index=stages + ["won"])
    if data is not None and data.opportunities is not None:
        opps = data.opportunities
        col = "rep_id"
        of_entities = opps[col].astype(str).isin(entities)
        mine = opps[of_entities] if of_entities.any() else opps
        if data.stage_history is not None:
            sh = data.stage_history
            # ids as object arrays: a hash-table look-up (Arrow text isin makes a scalar of every id)
            ids = pd.unique(mine["opportunity_id"].to_numpy(dtype=object))
            in_ids = pd.Series(sh["opportunity_id"].to_numpy(dtype=object), index=sh.index).isin(ids)
            sh = sh[in_ids & (sh["entered_date"] >= fp.start) & (sh["entered_date"] <= as_of)]
            actual.update(sh.groupby("stage").size().astype(float))
        won = mine[(mine["outcome"] == "won") & (mine["closed_date"] >= fp.start) & (mine["closed_date"] <= as_of)]
        actual["won"] = float(len(won))
    pw = rates.win_probability
    rows = []
    for st in stages + ["won"]:
        pl = float(planned.get(st, 0.0))
        ac = float(actual.get(st, 0.0))
        p = 1.0 if st == "won" else float(pw[st])
        short = pl - ac
        rows.append(dict(stage=st, planned_to_date=pl, actual_to_date=ac, shortfall=short,
                         revenue_at_risk=short * rates.deal_size * p))
    return pd.DataFrame(rows)
