"""The resource plan of one quarter: headcount, marketing budget and account coverage.

The resource notebook (05) calls these three functions on the quarter's targets; each
assembles the parts of :mod:`salesplan.planning.allocation` the same way every time:

* :func:`headcount_plan` -- reps needed per region against today's roster, the hiring
  plan and the economics of one more rep (one table per region).
* :func:`status_quo_spend` and :func:`marketing_plan` -- the status-quo budget (each
  region's average monthly spend of the last 12 months x 3), response curves, the
  optimised split, the 80% rule and the sensitivity check.
* :func:`coverage_plan` -- account hours per rep against selling hours, suggested moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from salesplan.data.orders import lines_until
from salesplan.data.schema import SalesData
from salesplan.models import segments
from salesplan.planning.allocation import budget as _budget
from salesplan.planning.allocation import coverage as _coverage
from salesplan.planning.allocation import headcount as _headcount
from salesplan.planning.allocation import response as _response
from salesplan.planning.allocation.coverage import CoverageParams
from salesplan.planning.allocation.headcount import CapacityParams

__all__ = ["NO_SPEND_NOTE", "MarketingPlan", "all_held_note", "allocation_tables", "coverage_plan", "headcount_plan",
           "marketing_plan", "status_quo_spend"]


def headcount_plan(region_targets: pd.DataFrame, month_targets: pd.DataFrame, history: SalesData,
                   history_end, cap: CapacityParams, *, productivity_months: int = 12):
    """Reps needed per region, the hiring plan and the capacity by month.

    Parameters
    ----------
    region_targets : DataFrame
        ``region, target`` (quarter, company currency).
    month_targets : DataFrame
        The targets plan's ``months`` table (rows of ``level == "region"`` are used).
    history : SalesData
        Orders up to ``history_end`` and the ``reps`` roster.
    history_end : date-like
    cap : CapacityParams

    Raises
    ------
    ValueError
        Without a ``reps`` table (one line).

    Returns
    -------
    (headcount, capacity_by_month, hires)
        ``headcount``: one row per region (sorted): ``region, target, productivity,
        fte_needed, headcount_needed, reps_today, effective_fte_today, gap`` (= needed -
        today) and the break-even of one more rep over 24 months (``net, break_even,
        payback_month, steady_state_ratio``); ``capacity_by_month`` and ``hires`` as
        :func:`hiring_plan`.
    """
    if history.reps is None or len(history.reps) == 0:
        raise ValueError("table 'reps' is absent or empty: the resource plan sizes the sales force from the "
                         "roster; add a reps table (the targets notebook runs without one)")
    end = pd.Timestamp(history_end)
    productivity = _headcount.rep_productivity(history.orders, history.reps, end, months=productivity_months,
                                    ramp_months=cap.ramp_months)["productivity"]
    needed = _headcount.reps_needed(region_targets, productivity, cap, period_months=3)
    roster = _headcount.roster_capacity(history.reps, end, 3, cap)
    first_month = roster[roster["m"] == 1].set_index("region")
    headcount = needed.join(first_month[["headcount", "effective_fte"]].rename(
        columns={"headcount": "reps_today", "effective_fte": "effective_fte_today"}))
    headcount["gap"] = headcount["headcount_needed"] - headcount["reps_today"]
    rm = month_targets[month_targets["level"] == "region"].rename(columns={"entity": "region_name"})
    rm = rm.assign(region=rm["region"].where(rm["region"].notna(), rm["region_name"]))
    monthly_need, hires = _headcount.hiring_plan(rm[["region", "month", "target"]], history.reps, productivity, cap, end)
    break_even = _headcount.rep_break_even(productivity, cap, horizon_months=24)
    headcount = headcount.join(break_even[["net", "break_even", "payback_month", "steady_state_ratio"]])
    headcount = headcount.rename_axis("region").reset_index().sort_values("region", ignore_index=True)
    return headcount, monthly_need, hires


def status_quo_spend(marketing_spend: pd.DataFrame, history_end, regions, *, months: int = 12,
                     period_months: int = 3) -> pd.Series:
    """The status-quo marketing budget of each region for a period.

    ``spend_r = period_months x mean(monthly spend of region r over the ``months`` months
    to history_end)`` (months after ``history_end`` are ignored; a region without spend,
    or every region when there is no ``marketing_spend`` table, gets 0).  Returns a Series named ``spend`` indexed by ``regions`` (company currency).
    """
    end = pd.Timestamp(history_end)
    if marketing_spend is None:  # no marketing_spend table: nothing spent that we know of
        return pd.Series(0.0, index=list(regions), name="spend")
    hist = marketing_spend[marketing_spend["month"] <= end]
    last = hist[hist["month"] > end - pd.DateOffset(months=months)]
    return (last.groupby("region")["amount"].mean() * period_months).reindex(list(regions)).fillna(0.0).rename("spend")


#: Why there is no budget split when the data have no marketing spend.
NO_SPEND_NOTE = ("switched off: this data has no marketing_spend table (monthly spend by region); "
                 "add it to turn the budget split on")


def all_held_note(fit: pd.DataFrame) -> str:
    """Why there is no budget split when no region's response curve could be identified.

    Every region then keeps its status-quo spend (:func:`fit_response_curves`' fallback 3);
    the note names the shortest history and the first region's reason."""
    months = int(fit["n_months"].min()) if len(fit) else 0
    first = str(fit["reason"].iloc[0]).split(";")[0] if len(fit) else ""
    return (f"no region's response curve could be identified from {months} months of spend and sales "
            f"({fit.index[0]}: {first}), so every region keeps its status-quo spend; a split needs "
            "planned variation in spend (tests, cuts, heavy-ups) over at least 18 months")


@dataclass
class MarketingPlan:
    """The quarter's marketing budget split (see :func:`marketing_plan`).

    ``error`` is the one-line reason when no split is made (then the other results are
    ``None``); ``status_quo`` and ``budget`` are always set.
    """

    budget: float
    status_quo: pd.Series
    error: str | None = None
    fit: pd.DataFrame | None = None
    curves: dict | None = None
    best: object = None
    allocations: dict = field(default_factory=dict)
    comparison: pd.DataFrame | None = None
    split: pd.DataFrame | None = None
    scenarios: pd.DataFrame | None = None
    one_at_a_time: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables saved to the plan store (none when no split was made)."""
        if self.error is not None:
            return {}
        return {"response_curves": self.fit.reset_index(),
                "budget_split": self.best.table.rename_axis("region").reset_index(),
                "budget_comparison": self.comparison.rename_axis("allocation").reset_index(),
                "budget_sensitivity": self.scenarios}


def marketing_plan(data: SalesData, history_end, regions, *, budget: float | None = None,
                   gross_margin_rate: float, max_change: float, fit_level: str = "customer",
                   rule_concentration: float = 0.8, curve_error: float = 0.2, n_scenarios: int = 30,
                   seed: int = 0, split_regions: bool = True, months: int = 3,
                   classes: pd.DataFrame | None = None) -> MarketingPlan:
    """Response curves, the optimised split, the status quo and the 80% rule, judged alike.

    The budget is ``budget`` or the status quo's total (:func:`status_quo_spend`).  With
    ``split_regions`` false (one region) or when no response curve can be identified
    (``fit_response_curves`` raises), no split is made and ``error`` says why.  The status
    quo allocation is the status quo scaled to the budget; the 80% rule puts
    ``rule_concentration`` of it by the regions' share of A-class revenue: the ABC classes
    of :func:`salesplan.models.segments.abc_classes` on ``history_end``, or ``classes``,
    that frame computed once for the run (checked: same day and thresholds, else a
    one-line ``ValueError``).
    """
    end = pd.Timestamp(history_end)
    abc = None if classes is None else segments.check_abc_frame(classes, end)
    regions = list(regions)
    status_quo = status_quo_spend(data.marketing_spend, end, regions, period_months=months)
    total = float(budget) if budget is not None else float(status_quo.sum())
    out = MarketingPlan(total, status_quo)
    if data.marketing_spend is None:
        out.error = NO_SPEND_NOTE
        return out
    if not split_regions:
        out.error = "the company has one region, so there is no budget split between regions to optimise"
        return out
    orders = lines_until(data.orders, end)  # no copy when the data end before the quarter
    spend_hist = data.marketing_spend[data.marketing_spend["month"] <= end]
    sales = _response.monthly_region_sales(orders, data.customers, end)
    maturity = data.regions.set_index("region")["maturity"] if data.regions is not None else None
    try:
        out.fit = _response.fit_response_curves(spend_hist, sales, gross_margin_rate, groups=maturity, level=fit_level,
                                      orders=orders, customers=data.customers)
        out.curves = _response.curves_from_fit(out.fit)
    except ValueError as exc:  # no curve can be identified: say why, skip the split
        out.error, out.fit = str(exc), None
        return out
    if (out.fit["source"] == "held").all():  # nothing to optimise: say so, do not dress it up
        out.error = all_held_note(out.fit)
        return out
    constraints = _budget.BudgetConstraints(total, last_year=status_quo.to_dict(), max_change=max_change)
    out.best = _budget.optimise_budget(out.curves, constraints, months=months)
    if abc is None:
        abc = segments.abc_classes(orders, end, customers=data.customers).set_index("customer_id")["abc_class"]
    shares = _budget.a_class_share_by_region(orders, data.customers, end, classes=abc).reindex(regions)
    rule = _budget.rule_of_thumb_allocation(shares, total, concentration=rule_concentration)
    out.allocations = {"optimised": out.best.spend, "status quo": status_quo * total / status_quo.sum(),
                       "80% rule": rule}
    out.comparison = _budget.compare_allocations(out.curves, out.allocations, months=months, constraints=constraints)
    out.split = pd.DataFrame({"status quo": out.allocations["status quo"], "80% rule": rule,
                              "optimised": out.best.spend}).reindex(regions)
    out.scenarios, out.one_at_a_time = _budget.curve_sensitivity(out.curves, out.best.spend, constraints, months=months,
                                                         error=curve_error, n_scenarios=n_scenarios, seed=seed)
    return out


def coverage_plan(history: SalesData, history_end, params: CoverageParams, *, calibrate: bool = True,
                  classes: pd.DataFrame | None = None):
    """Account hours per rep against selling hours, and the moves that balance them.

    Accounts get their ABC class (``classes``: the frame of
    :func:`~salesplan.models.segments.abc_classes` on ``history_end`` when computed once for
    the run, checked as in :func:`marketing_plan`) and lifecycle stage on ``history_end``
    (:mod:`salesplan.models.segments`) and their owner's role (``reps.level``).  With
    ``calibrate`` and an ``activities`` table, the contact norms and each role's capacity
    come from the observed activity (:func:`~salesplan.planning.allocation.coverage.calibrate_coverage`);
    else ``params`` as given.  Returns ``(load, moves, load_after, params)``: the loads of
    :func:`coverage_load` and :func:`suggest_reassignments` and the norms used.
    """
    end = pd.Timestamp(history_end)
    if classes is None:
        classes = segments.abc_classes(history.orders, end, customers=history.customers)
    abc = segments.check_abc_frame(classes, end)
    stages = segments.lifecycle_stages(history.orders, end)
    accounts = _coverage.account_book(history.orders, history.customers, end, classes=abc,
                            stages=stages.set_index("customer_id")["stage"].astype(str), reps=history.reps)
    acts = history.activities
    if calibrate and acts is not None and len(acts):
        params = _coverage.calibrate_coverage(accounts, acts, end, params, reps=history.reps)
    load = _coverage.coverage_load(accounts, params, history.reps)
    moves, load_after = _coverage.suggest_reassignments(accounts, params, history.reps, load=load)
    return load, moves, load_after, params


def allocation_tables(*, headcount=None, hires=None, monthly_need=None, load=None, moves=None, cost_summary=None,
                      cost_per_rep=None, ote_check=None, marketing: MarketingPlan) -> dict[str, pd.DataFrame]:
    """The resource plan's tables for the plan store and the workbook; the roster parts
    that were switched off (``None``: no reps table) are left out."""
    out = {"headcount": headcount, "hiring_plan": hires, "capacity_by_month": monthly_need,
           "coverage_load": None if load is None else load.reset_index(), "account_moves": moves,
           "commission_cost": None if cost_summary is None else cost_summary.rename_axis("scenario").reset_index(),
           "commission_per_rep": None if cost_per_rep is None else cost_per_rep.reset_index(),
           "quota_to_ote": None if ote_check is None else ote_check.reset_index()}
    return {**{k: v for k, v in out.items() if v is not None}, **marketing.tables()}
