"""The planning notebooks' inputs from the plan store: the forecast paths and the targets.

One definition of how the targets notebook (04) gets the forecast of a quarter and how the
resource notebook (05) gets the targets it allocates, both keyed by the parameters that
matter (:func:`salesplan.reports.upstream` with ``match``):

* the **forecast** of a quarter is the forecast notebook's run with the same input data,
  ``seed`` and ``history_end``; when absent (a back-test quarter, or 04 run alone) it is
  computed here with the forecast notebook's defaults (``hierarchy_forecast`` company ->
  region -> rep, the company alone without a ``customers`` table, 1,000 paths) and saved;
* the **targets** are the targets notebook's run with the same input data and
  ``history_end``; when absent 05 stops with one line (no silent defaults).
"""

from __future__ import annotations

from salesplan.data import PlanStore
from salesplan.planning.context import PlanContext
from salesplan.planning.targets import QuarterDistribution, quarter_paths_from_forecast
from salesplan.reports.results import upstream

__all__ = ["MissingTargets", "forecast_distribution", "forecast_levels", "plan_targets", "FORECAST_LEVELS"]

#: hierarchy of the forecast notebook: company, regions, reps
FORECAST_LEVELS = [(), ("region",), ("region", "rep_id")]
#: sample paths of the forecast notebook
N_PATHS = 1000


def forecast_levels(data) -> list[tuple[str, ...]]:
    """The forecast notebook's hierarchy for ``data``: :data:`FORECAST_LEVELS` when the data
    carry the customers' regions (a ``customers`` table), else the company alone (an
    orders-only company: no region, so no rep series under it)."""
    return list(FORECAST_LEVELS) if data.customers is not None else [()]


class MissingTargets(RuntimeError):
    """No targets run in the plan store for this data and quarter."""


def forecast_distribution(ctx: PlanContext, plan_store: str, *, source: str, seed: int,
                          cache_dir: str | None = None) -> tuple[QuarterDistribution, str]:
    """The sample paths of ``ctx.quarter``: the stored forecast run, else computed and saved.

    A stored ``forecast`` run qualifies when it has the same input fingerprint, ``seed``
    and ``history_end`` (``YYYY-MM-DD``).  Returns the distribution and the run id.
    """
    from salesplan.models.forecast import hierarchy_forecast

    def compute():
        hf = hierarchy_forecast(ctx.history, levels=forecast_levels(ctx.history), h=ctx.horizon_months,
                                n_paths=N_PATHS, seed=seed, cache_dir=cache_dir)
        return {"paths": quarter_paths_from_forecast(hf, ctx.period).to_frame()}

    run = upstream(plan_store, "forecast", ctx.period, input_fingerprint=ctx.input_fingerprint, compute=compute,
                   parameters=dict(period=ctx.period, source=source, method="combo", reconcile_method="auto",
                                   n_paths=N_PATHS, seed=seed, history_end=f"{ctx.history_end:%Y-%m-%d}"),
                   match=("seed", "history_end"))
    return QuarterDistribution(run.tables["paths"]), run.run_id


def plan_targets(ctx: PlanContext, plan_store: str):
    """The targets notebook's latest run for ``ctx`` and the forecast it was built on.

    Returns
    -------
    (targets run, QuarterDistribution)
        The run (``.tables``, ``.run_id``, ``.meta``) and the forecast paths recorded with it
        (``forecast_run`` parameter).

    Raises
    ------
    MissingTargets
        One line when the store has no targets run for this data, quarter and history:
        run 04_quarterly_targets first.
    """
    try:
        run = upstream(plan_store, "targets", ctx.period, input_fingerprint=ctx.input_fingerprint,
                       parameters={"history_end": f"{ctx.history_end:%Y-%m-%d}"}, match=("history_end",))
    except KeyError:
        raise MissingTargets(
            f"no targets for {ctx.period} on this data in the plan store: run 04_quarterly_targets first "
            f"(salesplan run -n 04 --period {ctx.period})") from None
    forecast_run = run.meta.get("parameters", {}).get("forecast_run")
    if not forecast_run:
        raise MissingTargets(f"the targets run {run.run_id} does not name its forecast: run 04_quarterly_targets "
                             "again first")
    from salesplan.reports import resolve_url

    store = PlanStore(resolve_url(plan_store))
    try:
        paths = store.read_run(forecast_run).tables["paths"]
    finally:
        store.dispose()
    return run, QuarterDistribution(paths)
