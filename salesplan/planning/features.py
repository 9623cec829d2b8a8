"""What a company's data can carry: the plan features that need more than the orders.

A small company may export only one year of orders, no ``reps`` table or a single region.
The plan still runs; the parts that cannot work are switched off and said so (issue 16,
"minimal companies"):

* **Same quarter last year** (the growth rule, growth on last year, the bridge's first
  step): on when the history covers the whole same quarter a year before the plan quarter,
  i.e. the first order falls in or before that quarter's first month.
* **Rep quotas**: on when the ``reps`` table has at least one row.  Without it the
  regions get their targets and quotas (over-assignment 1: quota = target) and no rep
  quota is proposed.
* **Budget split between regions**: on with two regions or more.
* **Funnel back-calculation** (stage rates, opportunities needed, funnel gap, funnel shape):
  on when the ``opportunities`` table has at least one row.
* **Monitoring back-test** (targets notebook): on when the history before the re-planned
  quarter spans at least :data:`MIN_MONITOR_HISTORY_MONTHS` months.

:func:`quarter_plan` is the targets notebook's one call: :func:`propose_targets` plus the
funnel back-calculation, with the features above applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from salesplan.planning import funnel as _funnel
from salesplan.planning.context import PlanContext, covers_quarter
from salesplan.planning.targets import (
    QuarterDistribution,
    TargetParams,
    TargetPlan,
    compare_scenarios,
    default_scenarios,
    memo_scorer,
    pipeline_dates,
    plan_funnel,
    propose_targets,
    propose_targets_and_basis,
    scored_pipeline_key,
)

__all__ = ["FUNNEL_OFF_NOTE", "MIN_MONITOR_HISTORY_MONTHS", "NO_REGION", "PlanFeatures", "monitor_context", "monitor_history_ok",
           "open_funnel_shape", "plan_features", "quarter_plan", "quarter_scenarios", "score_plan_pipeline",
           "targets_tables"]

#: months of history needed before a quarter to re-plan it in the monitoring back-test
MIN_MONITOR_HISTORY_MONTHS = 12

#: the report's sentence when the data have no opportunities (funnel switched off)
FUNNEL_OFF_NOTE = ("The data have no opportunities table: the funnel back-calculation (stage rates, opportunities "
                   "needed, funnel gap and shape) is switched off; add the table to turn it on.")

#: the one region of a company whose data name no region (orders only): the label the targets
#: give orders without a region (``salesplan.planning.targets``)
NO_REGION = "(none)"

#: the memo key (kind) under which :func:`quarter_plan` leaves the rep plan's
#: :class:`~salesplan.planning.targets.PlanBasis` of a quarter that is not a back-test in the
#: context's memo, as ``(quarter, distribution, basis)``, for :func:`quarter_scenarios`
#: (which takes it out); a memo kept on disk keeps it in the process only
#: (``salesplan.reports.inputs.DiskMemo``)
PLAN_BASIS_MEMO = ("plan_basis",)


@dataclass(frozen=True)
class PlanFeatures:
    """Which plan features the data carry, with one note per feature switched off.

    Attributes
    ----------
    last_year : bool
        The history covers the same quarter last year (growth rule, bridge from last year).
    rep_quotas : bool
        A non-empty ``reps`` table: rep quotas are proposed.
    region_split : bool
        Two regions or more: the marketing budget is split between regions.
    notes : dict
        Feature name (``"last_year"``, ``"rep_quotas"``, ``"region_split"``, ``"funnel"``) ->
        one sentence for the report, for each feature switched off.
    funnel : bool
        A non-empty ``opportunities`` table: the funnel back-calculation is made.
    """

    last_year: bool
    rep_quotas: bool
    region_split: bool
    notes: Mapping[str, str] = field(default_factory=dict)
    funnel: bool = True


def plan_features(ctx: PlanContext) -> PlanFeatures:
    """The features of :class:`PlanFeatures` that ``ctx``'s data carry.

    Rules (module docstring): ``last_year`` iff month(first order) <= first month of
    ``ctx.quarter - 4``; ``rep_quotas`` iff ``reps`` has a row; ``region_split`` iff
    ``len(ctx.regions) >= 2``; ``funnel`` iff ``opportunities`` has a row.
    """
    o = ctx.history.orders
    first = pd.Timestamp(o["order_date"].min())
    ly = ctx.quarter - 4
    last_year = covers_quarter(first, ly)
    reps = ctx.data.reps is not None and len(ctx.data.reps) > 0
    split = len(ctx.regions) >= 2
    funnel = ctx.data.opportunities is not None and len(ctx.data.opportunities) > 0
    notes = {}
    if not last_year:
        notes["last_year"] = (
            f"The history starts {first:%Y-%m-%d}, after the start of {ly}: the same quarter last year is not in "
            "the data, so the growth rule and growth on last year are switched off (the default target rule, "
            "a probability on the forecast, does not need them).")
    if not reps:
        notes["rep_quotas"] = ("The data have no reps table: the regions get their targets (quota = target), "
                               "and no rep quota is proposed.")
    if not split:
        notes["region_split"] = (f"The company has one region ({', '.join(ctx.regions) or 'none named'}): the "
                                 "marketing budget is not split between regions.")
    if not funnel:
        notes["funnel"] = FUNNEL_OFF_NOTE
    return PlanFeatures(bool(last_year), bool(reps), bool(split), notes, funnel=bool(funnel))


def monitor_history_ok(ctx: PlanContext, min_months: int = MIN_MONITOR_HISTORY_MONTHS) -> bool:
    """True when ``ctx``'s history spans at least ``min_months`` months (first order month to
    the last history month, both counted).  Read from the loaded lines: a back-test
    quarter's history (a copy of the lines) is not made for it."""
    first = pd.Timestamp(ctx.data.orders["order_date"][ctx.history_lines()].min()).to_period("M")
    return (ctx.last_month - first).n + 1 >= min_months


def _region_roster(ctx: PlanContext) -> pd.DataFrame:
    """One capacity-only slot per region standing for the region (no reps table).

    Named ``REGION:<region>``, hired before the history starts, level ``senior``: each
    region's quota goes whole to its one slot, and the slot rows are dropped afterwards.
    """
    start = pd.Timestamp(ctx.history.orders["order_date"].min()) - pd.DateOffset(years=10)
    regions = ctx.regions or [NO_REGION]
    return pd.DataFrame({"rep_id": [f"REGION:{r}" for r in regions], "name": regions, "region": regions,
                         "level": "senior", "hire_date": start, "exit_date": pd.NaT})


def _region_paths(dist: QuarterDistribution, ctx: PlanContext) -> QuarterDistribution:
    """``dist`` without its rep paths; without any region (no ``customers`` and ``regions``
    tables: a company-only forecast) the company paths stand for one region
    :data:`NO_REGION`, the label orders without a region get in the targets."""
    return dist.without_reps(stand_in_region=None if ctx.regions else NO_REGION)


def _without_reps(plan: TargetPlan) -> TargetPlan:
    """``plan`` with the stand-in region slots removed: no rep rows, no rep counts, rep odds
    and the notes about them (share of reps at quota, over-assignment grid) dropped."""
    company = plan.company.copy()
    for col in [c for c in company.columns if c.startswith("rep_share")]:
        company[col] = np.nan
    keep = {k: getattr(plan, k)[getattr(plan, k)["level"] != "rep"].reset_index(drop=True)
            for k in ("months", "weeks", "smart")}
    note = "no reps table: each region holds its target whole (quota = target), no rep quotas"
    a = plan.assumptions
    a = a[~((a["item"] == "note") & a["value"].astype(str).str.contains("reps at quota"))]
    a = pd.concat([a, pd.DataFrame([{"item": "note", "value": note, "note": "note"}])], ignore_index=True)
    notes = tuple(n for n in plan.notes if "reps at quota" not in n) + (note,)
    return replace(plan, company=company, regions=plan.regions.assign(n_reps=0), reps=plan.reps.iloc[0:0], **keep,
                   assumptions=a, notes=notes, over_assignment_grid=None,
                   rep_share_paths=np.full_like(plan.rep_share_paths, np.nan, dtype=float))


def quarter_plan(ctx: PlanContext, dist: QuarterDistribution, params: TargetParams,
                 features: PlanFeatures | None = None, *, quota_overrides: Mapping[str, float] | None = None,
                 region_funnel: bool = True) -> tuple[TargetPlan, object]:
    """The targets of ``ctx.quarter``: :func:`propose_targets` on ``ctx.history`` and the funnel.

    Parameters
    ----------
    ctx : PlanContext
        The quarter to plan (the plan quarter or a back-test quarter).
    dist : QuarterDistribution
        The forecast's sample paths of that quarter.
    params : TargetParams
    features : PlanFeatures, optional
        Default :func:`plan_features` of ``ctx``.  Without ``last_year`` a ``growth`` goal is
        refused (one line); without ``rep_quotas`` each region holds its quota whole
        (over-assignment 1) and the plan has no rep rows.
    quota_overrides : mapping rep id -> amount, optional
        The planner's rep quotas (``propose_targets(quota_overrides=...)``); refused in one
        line without rep quotas.

    Returns
    -------
    (TargetPlan, FunnelPlan)
        The plan with the funnel of the rep quotas attached (of the region targets without
        reps), and the funnel of the region targets (for the report; ``None`` when
        ``region_funnel`` is false).  Without ``funnel`` (no opportunities) the plan has no
        funnel and the second item is ``None``.  The rep plan's basis is left in
        ``ctx.memo`` for :func:`quarter_scenarios` (:data:`PLAN_BASIS_MEMO`; none for a
        back-test quarter).
    """
    features = features or plan_features(ctx)
    if params.growth is not None and not features.last_year:
        raise ValueError(f"growth={params.growth!r}: the data do not cover {ctx.quarter - 4} (the same quarter "
                         "last year), so the growth rule is not available; give board_target or leave growth empty")
    if quota_overrides and not features.rep_quotas:
        raise ValueError("quota_overrides: the data have no reps table, so there are no rep quotas to override")
    end = ctx.history_end
    scorer = memo_scorer(ctx.memo)  # each snapshot date scored once per data (plan, scenarios, monitoring)
    if features.rep_quotas:
        plan, basis = propose_targets_and_basis(ctx.history, dist, params, as_of=end, quota_overrides=quota_overrides,
                                                pipeline_scorer=scorer)
        ctx.memo.pop(PLAN_BASIS_MEMO, None)
        if not _is_backtest(ctx):  # for the scenarios (~0.4 GB at 6,700 reps: one kept, none for a back-test)
            ctx.memo[PLAN_BASIS_MEMO] = (ctx.quarter, dist, basis)
        if features.funnel:
            plan = plan_funnel(plan, ctx.history, level="rep", as_of=end)
    else:
        region_dist = _region_paths(dist, ctx)
        plan = _without_reps(propose_targets(ctx.history, region_dist, replace(params, over_assignment=1.0),
                                             roster=_region_roster(ctx), as_of=end, pipeline_scorer=scorer))
        if features.funnel:
            plan = plan_funnel(plan, ctx.history, level="region", as_of=end)
    if not region_funnel or not features.funnel:
        return plan, None
    return plan, plan_funnel(plan, ctx.history, level="region", as_of=end).funnel


def _is_backtest(ctx: PlanContext) -> bool:
    """Whether ``ctx`` plans a quarter of the past: its data hold orders after its history
    (the monitoring back-test, :func:`monitor_context`), which has no scenarios."""
    orders = ctx.data.orders
    return orders is not None and len(orders) > 0 and pd.Timestamp(orders["order_date"].max()) > ctx.history_end


def quarter_scenarios(ctx: PlanContext, dist: QuarterDistribution, params: TargetParams,
                      features: PlanFeatures, *, base_plan: TargetPlan | None = None) -> pd.DataFrame | None:
    """:func:`compare_scenarios` of :func:`default_scenarios` on ``ctx``'s history; ``None``
    without rep quotas (the scenarios compare rep quotas and their odds).

    ``base_plan``: :func:`quarter_plan`'s plan of ``ctx``, ``dist`` and ``params`` made
    without ``quota_overrides``; it is the ``base`` scenario (not proposed a second time).
    The plan basis :func:`quarter_plan` left in ``ctx.memo`` for this quarter and ``dist``
    serves the scenarios of its :func:`~salesplan.planning.targets.basis_key` (the default
    ones differ from ``params`` in the target and over-assignment only: none is computed
    again) and is then taken out of the memo.
    """
    if not features.rep_quotas:
        return None
    kept = ctx.memo.get(PLAN_BASIS_MEMO)
    bases = [kept[2]] if kept is not None and kept[0] == ctx.quarter and kept[1] is dist else []
    if bases:
        del ctx.memo[PLAN_BASIS_MEMO]
    return compare_scenarios(ctx.history, dist, default_scenarios(params), as_of=ctx.history_end,
                             pipeline_scorer=memo_scorer(ctx.memo),
                             plans={"base": base_plan} if base_plan is not None else None, bases=bases)


def monitor_context(ctx: PlanContext, min_months: int = MIN_MONITOR_HISTORY_MONTHS) -> PlanContext | None:
    """The context of the monitoring back-test: the last complete quarter of the data.

    The quarter is ``min(plan quarter - 1, quarter of (last order + 1 day) - 1)``, planned
    with the data before it (:meth:`PlanContext.build`).  ``None`` when that history spans
    fewer than ``min_months`` months (:func:`monitor_history_ok`).
    """
    data_end = pd.Timestamp(ctx.data.orders["order_date"].max())
    q = min(ctx.quarter - 1, (data_end + pd.Timedelta(days=1)).to_period("Q") - 1)
    if q.start_time <= pd.Timestamp(ctx.data.orders["order_date"].min()):
        return None
    mctx = ctx.with_quarter(q)  # shares ctx.memo: the snapshot dates it scores are the plan's too
    return mctx if monitor_history_ok(mctx, min_months) else None


def score_plan_pipeline(ctx: PlanContext, params: TargetParams | None = None, *, scoring=None) -> int:
    """Score the open pipeline at every date the targets of ``ctx`` weigh it, into ``ctx.memo``.

    The dates are :func:`~salesplan.planning.targets.pipeline_dates` of the plan quarter
    and of the monitoring back-test's quarter (:func:`monitor_context`); each date's deals
    are scored as :func:`quarter_plan` scores them (:func:`~salesplan.planning.targets.memo_scorer`:
    a win model trained on the data known then).  None of it needs the forecast, so a
    notebook that runs before the forecast is ready (the pipeline notebook) can do it and
    leave the results in a memo shared through the model cache
    (:func:`salesplan.reports.inputs.plan_memo`); the targets notebook then reads them.
    Same memo keys, same function: the plan's numbers are those it computes itself.

    Parameters
    ----------
    ctx : PlanContext
        The plan's context (its ``memo`` receives the scored deals).
    params : TargetParams, optional
        The targets' parameters (``pipeline_weights``, ``pipeline_rule`` and the number of
        history quarters decide the dates); default ``TargetParams`` of ``ctx``'s quarter.
    scoring : SalesData, optional
        :func:`salesplan.planning.pipeline.scoring_data` of ``ctx.data`` when the caller
        made it already (the pipeline notebook shares it with its review); default: made
        here when a date is not in the memo yet.

    Returns
    -------
    int
        Number of distinct ``(date, horizon end)`` pairs now in the memo; 0 when the targets do not score the
        pipeline (stage weights, rule ``none``, no opportunities).  A date whose win model
        cannot be trained stops the scoring there (the targets then use stage averages,
        as they would without this call).
    """
    params = params or TargetParams(quarter=ctx.period)
    if params.pipeline_weights != "scored" or ctx.history.opportunities is None \
            or len(ctx.history.opportunities) == 0 or len(ctx.history.orders) == 0:
        return 0
    scorer, done, slim = memo_scorer(ctx.memo), set(), scoring
    mctx = monitor_context(ctx)
    for c in ([ctx] if mctx is None else [ctx, mctx]):
        first = c.history.orders["order_date"].min()
        history = None  # c.history as the scoring reads it (the same scores, smaller cuts)
        for key in pipeline_dates(c.history, c.quarter, c.history_end, first, params):
            if history is None and scored_pipeline_key(*key) not in ctx.memo:
                from salesplan.planning import pipeline  # lazy: scikit-learn only when scoring

                slim = pipeline.scoring_data(ctx.data) if slim is None else slim
                o = slim.orders  # c.history is ctx.data with the orders cut at its end
                history = replace(slim, orders=o[(o["order_date"] <= c.history_end).to_numpy()
                                                 ].reset_index(drop=True))
            try:
                scorer(history if history is not None else c.history, *key)
            except ValueError:  # no win model at that date: the plan falls back to stage averages
                return len(done)
            done.add(key)
    return len(done)


def open_funnel_shape(ctx: PlanContext, rates) -> pd.DataFrame:
    """The open pipeline's shape on ``ctx.history_end``: all regions (``entity = "All
    regions"``) then each region (:func:`salesplan.planning.funnel.diagnose_shape`); ``None``
    without opportunities (the funnel switched off)."""
    if ctx.history.opportunities is None or len(ctx.history.opportunities) == 0:
        return None
    pipe = _funnel.open_pipeline(ctx.history, ctx.history_end)
    return pd.concat([_funnel.diagnose_shape(pipe, rates, by=None).assign(entity="All regions"),
                      _funnel.diagnose_shape(pipe, rates, by="region")], ignore_index=True)


def targets_tables(plan: TargetPlan, funnel_regions, scenarios: pd.DataFrame | None = None,
                   monitor=None, monitor_quarter=None) -> dict[str, pd.DataFrame]:
    """Every table the targets notebook saves: the plan's, the region funnel gap, the
    scenarios (one row per scenario) and the monitoring tables prefixed ``<quarter>_``."""
    tables = {**plan.tables(), **({"funnel_region_gap": funnel_regions.gap} if funnel_regions is not None else {})}
    if scenarios is not None:
        tables["scenarios"] = scenarios.T.rename_axis("scenario").reset_index().astype(
            {"target_probability": float, "growth": float})
    if monitor is not None:
        tables.update({f"{monitor_quarter}_{k}": v for k, v in monitor.tables().items()})
    return tables
