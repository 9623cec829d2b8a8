"""The weekly review (notebook ``06_weekly_review``) as plain functions.

Pace against the plan of record (:func:`salesplan.planning.monitor.progress`), the landing
forecast (:func:`salesplan.planning.review.landing_forecast`) with the open pipeline above the
usual, the funnel re-plan of the remaining weeks and the week's actions.  Each part that
the data cannot carry (no opportunities, no reps table, a plan without rep quotas) is
switched off with a one-line note in :attr:`WeeklyReview.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from salesplan.data import SalesData
from salesplan.data.orders import lines_until
from salesplan.data.paths import SamplePaths
from salesplan.planning import funnel as _funnel
from salesplan.planning.monitor import MonitorParams, MonitorReport, progress
from salesplan.planning.pipeline import scored_pipeline
from salesplan.planning.review import (
    LandingParams,
    action_list,
    forecast_moments,
    landing_forecast,
    orders_with_region,
    pipeline_by_entity,
    pipeline_data_end,
    plan_from_tables,
    revenue_dispersion,
    run_rate_basis,
    weekday_profile,
)
from salesplan.planning.targets import TargetParams, pipeline_backtest_fit

__all__ = ["PlanOfRecord", "WeeklyReview", "forecast_prior", "funnel_replan", "landing_pipeline",
           "late_deals_and_shape", "named_deals", "orders_until", "plan_of_record", "review_day_for", "stored_forecast_paths", "weekly_review",
           "with_actuals"]

#: the pipeline term needs opportunity data at most this many days older than the review day
PIPELINE_STALE_DAYS = 7
_REP_COLUMNS = ["rep_id", "name", "region", "quota", "vacant"]


def with_actuals(data: SalesData, actual_orders: pd.DataFrame | None) -> SalesData:
    """``data`` with the order lines of ``actual_orders`` dated after its last order added
    (the quarter in progress kept in a separate source); ``data`` itself when None."""
    if actual_orders is None:
        return data
    extra = actual_orders[actual_orders["order_date"] > data.orders["order_date"].max()]
    return replace(data, orders=pd.concat([data.orders, extra], ignore_index=True))


def orders_until(data: SalesData, day) -> SalesData:
    """``data`` with the order lines dated on or before ``day`` only (the other tables as
    they are: the review reads the opportunities as the data know them)."""
    return replace(data, orders=lines_until(data.orders, pd.Timestamp(day)))


def review_day_for(orders: pd.DataFrame, period, as_of=None) -> pd.Timestamp:
    """The review day: ``as_of``, else the last order date, at most the quarter's last day.

    Raises
    ------
    ValueError
        ``as_of`` outside the quarter, or after the last order of ``orders`` (one line with
        the dates).
    """
    q = pd.Period(period, freq="Q")
    q_start, q_end = q.start_time.normalize(), q.end_time.normalize()
    last_order = pd.Timestamp(orders["order_date"].max())
    day = pd.Timestamp(as_of) if as_of else min(last_order, q_end)
    if as_of and not q_start <= day <= q_end:
        raise ValueError(f"as_of={as_of} is outside {q} ({q_start:%Y-%m-%d}..{q_end:%Y-%m-%d})")
    if day > last_order:
        raise ValueError(f"as_of={day:%Y-%m-%d} is after the last order in the data ({last_order:%Y-%m-%d})")
    return day


@dataclass(frozen=True)
class PlanOfRecord:
    """The plan a review judges against.

    Attributes
    ----------
    run : PlanRun
        The stored ``targets`` run.
    approved : bool
        True for the period's approved plan, False for the latest plan (none approved).
    note : str
        One line naming which plan is used (and who approved it, when).
    plan : SimpleNamespace
        :func:`salesplan.planning.review.plan_from_tables` of the run, with an empty rep
        roster when the plan has no rep quotas.
    """

    run: object
    approved: bool
    note: str
    plan: object


def plan_of_record(store, period: str) -> PlanOfRecord:
    """The approved plan of ``period`` in ``store`` (a :class:`salesplan.data.PlanStore`),
    else its latest ``targets`` run, with a one-line note saying which.

    Raises
    ------
    ValueError
        The store holds no targets run of ``period`` (one line: run the targets notebook).
    """
    run = store.approved_run(period)
    approved = run is not None
    if approved:
        a = run.meta["approval"]
        note = (f"the approved plan of {period} (approved by {a['approved_by']} "
                f"on {pd.Timestamp(a['approved_at']):%Y-%m-%d})")
    else:
        try:
            run = store.read_run(kind="targets", period=period)
        except KeyError:
            raise ValueError(f"the plan store holds no plan (targets run) for {period}; run the targets "
                             "notebook first (salesplan run)") from None
        note = (f"no plan of {period} is approved yet: this review uses the latest plan of {period} "
                "in the plan store (approve one with `salesplan approve RUN_ID --by NAME`)")
    tables = dict(run.tables)
    if tables.get("reps") is None or len(tables["reps"]) == 0:
        tables["reps"] = pd.DataFrame({c: pd.Series(dtype=bool if c == "vacant" else object)
                                       for c in _REP_COLUMNS}).astype({"quota": float})
    return PlanOfRecord(run, approved, note, plan_from_tables(tables, period))


def forecast_prior(plan, forecast_paths: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.Series | None]:
    """Monthly means (and quarter spread) the landing forecast starts from.

    Parameters
    ----------
    plan : SimpleNamespace
        From :func:`salesplan.planning.review.plan_from_tables` (``months``).
    forecast_paths : DataFrame, optional
        The ``paths`` table of the forecast run the plan was built on (``level, node,
        month, path, value``); None = no forecast run.

    Returns
    -------
    (DataFrame, Series or None)
        ``entity, month, mean`` for the company (``total``) and the regions (currency per
        month): the paths' mean, else the plan's monthly targets; and the coefficient of
        variation of each entity's quarter total over the paths (None without paths: the
        landing forecast then assumes its default level uncertainty).
    """
    if forecast_paths is not None:
        paths = forecast_paths[forecast_paths["level"].isin(["company", "region"])]
        paths = paths.sort_values(["level", "node", "month", "path"], kind="stable")
        return forecast_moments(SamplePaths.from_frame(paths, series_col="node", date_col="month",
                                                       value_col="value"))
    mo = plan.months
    fm = mo[mo["level"].isin(["company", "region"])].rename(columns={"target": "mean"})
    return fm[["entity", "month", "mean"]], None


def _region_of_rep(plan) -> pd.Series:
    return plan.reps.drop_duplicates("rep_id").set_index("rep_id")["region"]


def landing_pipeline(data: SalesData, record: PlanOfRecord, review_day, history_end
                     ) -> tuple[pd.DataFrame | None, dict | None, str]:
    """The open-pipeline term of the landing forecast, weighted as the plan weighed it.

    The deals open on ``review_day`` expected to close by the quarter's end, weighted by the
    plan's ``pipeline_weights`` (assumption of the targets run; default ``"scored"``), per
    region and in total (:func:`salesplan.planning.review.pipeline_by_entity`), with the
    plan's back-test rule fitted on the history to ``history_end``
    (:func:`salesplan.planning.targets.pipeline_backtest_fit`: the usual pipeline per
    forecast unit ``rho`` per region and the share ``beta`` +- ``sd`` of the excess
    pipeline that the forecast misses), so the review counts the pipeline as the plan did.
    Off (None, None) without opportunity data, or when they end more than
    :data:`PIPELINE_STALE_DAYS` days before the review day (a stale pipeline looks open at
    full value).

    Returns
    -------
    (DataFrame or None, dict or None, str)
        The term, the fit (``rho``, ``beta``, ``sd``, ...), and a one-line note.
    """
    review_day = pd.Timestamp(review_day)
    q_end = record.plan.params.period.end_time.normalize()
    asm = record.run.tables.get("assumptions")
    asm_w = asm.loc[asm["item"] == "pipeline_weights", "value"] if asm is not None else pd.Series(dtype=object)
    weights = str(asm_w.iloc[0]) if len(asm_w) else "scored"
    end = pipeline_data_end(data)
    if end is None:
        return None, None, "no opportunity data: the landing forecast has no pipeline term"
    if end < review_day - pd.Timedelta(days=PIPELINE_STALE_DAYS):
        return None, None, (f"none: the opportunity data end on {end:%Y-%m-%d}, more than a week before the "
                            "review day, so their deals would look open at full value (the plan weighs "
                            f"deals by: {weights})")
    try:
        fit = pipeline_backtest_fit(data, history_end, TargetParams(quarter=str(record.plan.params.period),
                                                                    pipeline_weights=weights))
        used = fit["weights_used"]
        sp = scored_pipeline(data, review_day, horizon_end=q_end)
    except ValueError as e:
        return None, None, f"none: {e}"
    sp = sp.assign(region=sp["region"].where(sp["region"].notna(), sp["rep_id"].map(_region_of_rep(record.plan))))
    by = pipeline_by_entity(sp, by="region", column="p_win" if used == "scored" else "p_stage")
    return by, fit, ("open deals weighted by " + ("their scored win probability (win model per deal)"
                                                  if used == "scored" else "stage-average win probabilities")
                     + f"; counted at {fit['beta']:.0%} (+-{fit['sd']:.0%}) of their excess over the usual "
                       "pipeline, as the plan's back-test rule measured")


def funnel_replan(data: SalesData, plan, review_day, history_end, rates: _funnel.FunnelRates | None):
    """The funnel re-plan of the remaining weeks by region, and the rates it used.

    The plan's region week targets are back-calculated into stage entries
    (:func:`salesplan.planning.funnel.back_calculate`, with the conversion rates, durations and
    deal size observed up to ``review_day`` and the funnel's share of revenue on the year to
    ``history_end``), then re-spread after the weekly actuals to date
    (:func:`salesplan.planning.funnel.replan`).  ``rates``:
    :func:`salesplan.planning.funnel.estimate_rates` on the data to ``review_day``.

    Returns
    -------
    FunnelReplan or None
        None without rates (no opportunities table) or without region week targets.
    """
    if rates is None or plan.weeks is None:
        return None
    review_day = pd.Timestamp(review_day)
    q = plan.params.period
    q_start, q_end = q.start_time.normalize(), q.end_time.normalize()
    wk = plan.weeks[plan.weeks["level"] == "region"][["entity", "week_start", "target"]]
    share = _funnel.observed_funnel_share(data, history_end)
    start_plan = _funnel.back_calculate(wk, rates, None, start=q_start, end=q_end, entity_col="region",
                                        funnel_share=share)
    o = orders_with_region(data, plan.reps)
    cur = o[(o["order_date"] >= q_start) & (o["order_date"] <= review_day)]
    wk_act = (cur.assign(week_start=cur["order_date"] - pd.to_timedelta(cur["order_date"].dt.weekday, unit="D"))
              .groupby(["region", "week_start"], as_index=False)["amount"].sum()
              .rename(columns={"region": "entity", "amount": "actual"}))
    wk_act = wk_act[wk_act["entity"].isin(set(wk["entity"]))]
    return _funnel.replan(start_plan, wk_act, review_day, observed_rates=rates)


def late_deals_and_shape(data: SalesData, plan, review_day, rates, late_stages=("B", "A")):
    """Open deals at ``late_stages`` (largest first) and the funnel shape by region.

    Returns ``(None, None)`` without opportunities or without an open deal on
    ``review_day``; the shape is None without ``rates``.  A deal without a region takes
    its rep's region in the plan.
    """
    if data.opportunities is None:
        return None, None
    pipe = _funnel.open_pipeline(data, review_day)
    if len(pipe) == 0:
        return None, None
    late = pipe[pipe["stage"].isin(list(late_stages))].sort_values("amount", ascending=False)
    if "region" not in pipe.columns:
        pipe = pipe.assign(region=pipe["rep_id"].map(_region_of_rep(plan)))
    shape = _funnel.diagnose_shape(pipe, rates, by="region") if rates is not None else None
    return late, shape


@dataclass(frozen=True)
class WeeklyReview:
    """Everything the weekly review shows and saves (amounts in company currency).

    Attributes
    ----------
    review_day : pandas.Timestamp
    record : PlanOfRecord
    monitor : MonitorReport
        Pace to date (``summary``) and root causes.
    landing : DataFrame
        :func:`salesplan.planning.review.landing_forecast`, entity ``total`` = company.
    dispersion_phi : float
        Over-dispersion of weekly revenue used by the landing forecast.
    pipeline_note : str
        What the landing forecast's pipeline term holds (one line).
    rates, replan, stage_end
        Funnel rates to the review day, the re-plan of the remaining weeks, the last
        stage-history date (None without opportunities).
    actions : DataFrame
        :func:`salesplan.planning.review.action_list`.
    names : Series or None
        rep_id -> name (None without a reps table).
    notes : tuple of str
        One line per part switched off.
    """

    review_day: pd.Timestamp
    record: PlanOfRecord
    monitor: MonitorReport
    landing: pd.DataFrame
    dispersion_phi: float
    pipeline_note: str
    rates: object = None
    replan: object = None
    stage_end: pd.Timestamp | None = None
    actions: pd.DataFrame | None = None
    names: pd.Series | None = None
    notes: tuple = field(default_factory=tuple)

    @property
    def summary(self) -> pd.DataFrame:
        """The monitor's pace table (levels company, region, rep)."""
        return self.monitor.summary

    @property
    def company(self) -> pd.Series:
        """The company row of the pace table."""
        s = self.summary
        return s[s["level"] == "company"].iloc[0]

    @property
    def company_landing(self) -> pd.Series:
        """The company row (``total``) of the landing forecast."""
        return self.landing[self.landing["entity"] == "total"].iloc[0]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables saved to the plan store (kind ``weekly_review``)."""
        out = {"pace": self.summary, "root_causes": self.monitor.root_causes, "landing": self.landing,
               "actions": self.actions}
        if self.replan is not None:
            out.update({"funnel_replan_weeks": self.replan.weeks, "funnel_replan_gap": self.replan.gap})
        return out


def _landing(data, record, summary, review_day, history_end, forecast_paths, interval, pipe):
    """Landing forecast of the company and regions (see :func:`weekly_review`)."""
    plan = record.plan
    q_start = plan.params.period.start_time.normalize()
    k_eff, phi = revenue_dispersion(data.orders, history_end)
    lp = LandingParams(interval=interval, weekday_weights=weekday_profile(data.orders, history_end))
    fm, cv = forecast_prior(plan, forecast_paths)
    o = orders_with_region(data, plan.reps)
    basis = pd.concat([run_rate_basis(o, q_start, review_day).rename({"company": "total"}),
                       run_rate_basis(o, q_start, review_day, by="region")])
    targets_q = pd.concat([pd.Series({"total": float(plan.company["target"].iloc[0])}),
                           plan.regions.set_index("region")["target"]])
    land = landing_forecast(summary.set_index("entity")["actual_to_date"], fm, review_day, targets=targets_q,
                            k=k_eff, forecast_cv=cv, run_rate_basis=basis, params=lp, pipeline=pipe[0],
                            pipeline_rho=None if pipe[1] is None else pd.Series(pipe[1]["rho"]),
                            pipeline_beta=None if pipe[1] is None else (pipe[1]["beta"], pipe[1]["sd"]))
    return land, phi


def weekly_review(data: SalesData, record: PlanOfRecord, review_day, history_end, *,
                  forecast_paths: pd.DataFrame | None = None, tolerance: float = 0.15,
                  interval: float = 0.80, late_stages=("B", "A")) -> WeeklyReview:
    """Pace, root causes, landing forecast, funnel re-plan and actions on ``review_day``.

    Parameters
    ----------
    data : SalesData
        Orders up to ``review_day`` (the quarter so far and the history before it).
    record : PlanOfRecord
        :func:`plan_of_record`.
    review_day : date-like
        Inside the plan quarter.
    history_end : date-like
        Last day of the plan's history (the day before the quarter): weekday profile,
        order-value moments, dispersion, funnel share and ``rho`` are measured on the
        year before it.
    forecast_paths : DataFrame, optional
        The plan's forecast paths (:func:`forecast_prior`).
    tolerance, interval, late_stages
        The 15% rule; the landing interval's probability; stages whose deals to push.
    """
    review_day = pd.Timestamp(review_day)
    plan = record.plan
    mon = progress(plan, data, review_day, params=MonitorParams(tolerance=tolerance))
    pipe = landing_pipeline(data, record, review_day, history_end)
    land, phi = _landing(data, record, mon.summary, review_day, history_end, forecast_paths, interval, pipe)
    rates = _funnel.estimate_rates(data, review_day) if data.opportunities is not None else None
    replan = funnel_replan(data, plan, review_day, history_end, rates)
    stage_end = data.stage_history["entered_date"].max() if data.stage_history is not None else None
    late, shape = late_deals_and_shape(data, plan, review_day, rates, late_stages)
    names = data.reps.set_index("rep_id")["name"] if data.reps is not None else None
    notes = []
    if len(plan.reps) == 0:
        notes.append("the plan has no rep quotas: the reps' pace is off")
    elif names is None:
        notes.append("no reps table: reps are shown by id, without names")
    if data.opportunities is None:
        notes.append("no opportunities table: the pipeline term, the funnel re-plan and the deals to push are off")
    late = named_deals(late, names, data.customers)
    return WeeklyReview(review_day, record, mon, land, phi, pipe[2], rates, replan, stage_end,
                        action_list(mon.summary, late_deals=late, shape=shape, names=names), names, tuple(notes))


def _label(ids: pd.Series, names) -> pd.Series:
    """``"id name"`` for ids with a name, the id alone otherwise."""
    named = ids.map(names) if names is not None else pd.Series(None, index=ids.index, dtype=object)
    return pd.Series([str(i) if pd.isna(n) or n == "" else f"{i} {n}" for i, n in zip(ids, named)],
                     index=ids.index, dtype=object).where(ids.notna(), ids)


def named_deals(late: pd.DataFrame | None, rep_names: pd.Series | None,
                customers: pd.DataFrame | None) -> pd.DataFrame | None:
    """The deals to push with each id followed by its name (``"R0008 Ann Lee"``,
    ``"C001382 Acme Ltd"``) so that the week's actions name people and customers; ids
    without a name (or without a ``reps`` / ``customers`` table) stay as they are."""
    if late is None or not len(late):
        return late
    out = late.copy()
    if "rep_id" in out.columns:
        out["rep_id"] = _label(out["rep_id"], rep_names)
    if "customer_id" in out.columns and customers is not None and "name" in customers.columns:
        out["customer_id"] = _label(out["customer_id"],
                                    customers.drop_duplicates("customer_id").set_index("customer_id")["name"])
    return out


def stored_forecast_paths(store, period: str) -> pd.DataFrame | None:
    """The ``paths`` table of the latest forecast run of ``period`` in ``store``, or None
    (no forecast run: the landing forecast starts from the plan's monthly targets)."""
    try:
        return store.read_run(kind="forecast", period=period).tables["paths"]
    except KeyError:
        return None
