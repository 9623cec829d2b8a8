"""The leads-and-pipeline review (notebook ``03b_pipeline``) as plain functions.

Two sections, each switched off with a note when the data cannot carry it:

* **leads** (:func:`review_leads`): the lead -> opportunity rate per source and rep (the
  30% rule), the worth of each BANT answer (:class:`salesplan.models.leads.LeadConversionModel`);
* **open pipeline** (:func:`review_open_pipeline`): the win model checked on a time-based
  holdout, each open deal's P(win), the won value expected by the horizon per region with
  its P10/P50/P90 (:func:`pipeline_by_region`), the funnel shape per rep and stuck deals.

:func:`pipeline_review` runs both and, when both are on, ranks the open leads to work
first; :meth:`PipelineReview.tables` are the tables the notebook saves to the plan store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from salesplan.data.schema import BANT_ITEMS, SalesData
from salesplan.models import leads as _leads
from salesplan.planning import funnel as _funnel
from salesplan.planning import pipeline as _pl
from salesplan.planning.targets import scored_pipeline_key

__all__ = ["LeadReview", "OpenPipelineReview", "PipelineReview", "bant_params_from_text",
           "pipeline_by_region", "pipeline_review", "review_leads", "review_open_pipeline"]


def bant_params_from_text(weights: str, *, unknown_credit: float = 0.5, qualify_at: float = 3.0,
                          conversion_floor: float = 0.30) -> _leads.BANTParams:
    """:class:`~salesplan.models.leads.BANTParams` from the notebook's text parameter.

    Parameters
    ----------
    weights : str
        Four points separated by commas, in the order budget, authority, need, timing
        (e.g. ``"1,1,1,1"``).
    unknown_credit, qualify_at, conversion_floor
        As in :class:`~salesplan.models.leads.BANTParams`.

    Raises
    ------
    ValueError
        ``bant_weights`` is not four numbers (one line, with the value).
    """
    parts = [p.strip() for p in str(weights).split(",")]
    try:
        points = [float(p) for p in parts]
    except ValueError:
        points = []
    if len(points) != len(BANT_ITEMS):
        raise ValueError(f"bant_weights={weights!r}: expected four numbers "
                         f"({','.join(BANT_ITEMS)}), e.g. '1,1,1,1'")
    return _leads.BANTParams(weights=dict(zip(BANT_ITEMS, points)), unknown_credit=unknown_credit,
                             qualify_at=qualify_at, conversion_floor=conversion_floor)


@dataclass(frozen=True)
class LeadReview:
    """The lead section: rates per source and rep, overall rate, BANT effects.

    ``overall_rate`` = converted / (converted + disqualified) over all resolved leads
    (fraction); ``bant_effects`` is empty and ``model`` None when the conversion model
    cannot be fitted.
    """

    leads: pd.DataFrame
    by_source: pd.DataFrame
    by_rep: pd.DataFrame
    overall_rate: float
    bant_effects: pd.DataFrame
    model: _leads.LeadConversionModel | None


def review_leads(past: SalesData, bant: _leads.BANTParams) -> tuple[LeadReview | None, list[str]]:
    """The lead section on the data known at the scoring date, and its notes.

    Returns ``(None, [note])`` when table ``leads`` is absent or has no converted or
    disqualified lead; a note (and no BANT effects) when the conversion model cannot be
    fitted.
    """
    if past.leads is None or len(_leads.resolved_leads(past.leads)) == 0:
        return None, ["table 'leads' is absent or has no converted/disqualified lead: "
                      "the lead section is off"]
    leads = past.leads
    by_source = _leads.conversion_rates(leads, "source", bant)
    by_rep = _leads.conversion_rates(leads, "rep_id", bant)
    resolved = _leads.resolved_leads(leads)
    overall = float((resolved["status"] == "converted").mean())
    notes = []
    try:
        model = _leads.LeadConversionModel().fit(leads)
        effects = model.effects_
    except ValueError as exc:
        model, effects = None, pd.DataFrame()
        notes.append(f"lead conversion model off: {exc}")
    return LeadReview(leads, by_source, by_rep, overall, effects, model), notes


def pipeline_by_region(scored: pd.DataFrame, paths: pd.DataFrame) -> pd.DataFrame:
    """Open deals, open amount and the won value expected by the horizon, per region.

    Parameters
    ----------
    scored : DataFrame
        :func:`salesplan.planning.pipeline.scored_pipeline`.
    paths : DataFrame
        :func:`salesplan.planning.pipeline.pipeline_value_paths` by region (currency).

    Returns
    -------
    DataFrame
        ``region, open_deals, open_amount, expected_stage_average`` (sum of amount x
        P(win | stage) over the deals in the horizon), ``expected_scored`` (the same with
        each deal's P(win)), ``p10, p50, p90`` (quantiles of the paths); 0 where a region
        has no value.
    """
    g = scored.groupby("region")
    return pd.DataFrame({
        "open_deals": g["opportunity_id"].size(),
        "open_amount": g["amount"].sum(),
        "expected_stage_average": _pl.expected_pipeline_value(scored, by="region", column="p_stage"),
        "expected_scored": _pl.expected_pipeline_value(scored, by="region"),
        "p10": paths.quantile(0.10), "p50": paths.quantile(0.50), "p90": paths.quantile(0.90),
    }).fillna(0.0).rename_axis("region").reset_index()


@dataclass(frozen=True)
class OpenPipelineReview:
    """The open-pipeline section (all amounts in company currency).

    ``metrics``/``calibration`` are empty when the win model cannot be checked; ``scored``
    is empty when no deal is open.  ``paths`` (region columns), ``total`` (their sum per
    path), ``by_region``, ``shape``, ``stuck`` and ``rates`` are None without open deals.
    """

    cutoff: pd.Timestamp
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    scored: pd.DataFrame
    expected_scored: float = 0.0
    expected_stage: float = 0.0
    paths: pd.DataFrame | None = None
    total: pd.Series | None = None
    by_region: pd.DataFrame | None = None
    shape: pd.DataFrame | None = None
    stuck: pd.DataFrame | None = None
    rates: _funnel.FunnelRates | None = None

    @property
    def has_pipe(self) -> bool:
        """True when at least one deal is open on the scoring date."""
        return len(self.scored) > 0


def review_open_pipeline(past: SalesData, as_of, horizon_end, params: _pl.PipelineParams, *,
                         holdout_months: int = 18, n_paths: int = 2000, seed: int = 0,
                         memo=None, scoring: SalesData | None = None) -> tuple[OpenPipelineReview | None, list[str]]:
    """The open-pipeline section on the data known at ``as_of``, and its notes.

    The win model is checked on the snapshots after ``as_of - holdout_months`` months
    (:func:`salesplan.planning.pipeline.evaluate_holdout`); the pipeline open at ``as_of``
    is scored and its won value by ``horizon_end`` drawn ``n_paths`` times with ``seed``.
    Returns ``(None, [note])`` without opportunities; a review without open deals (and a
    note) when none is open or scoring fails.

    ``memo``: the memo of :func:`salesplan.planning.targets.memo_scorer` of a plan on the same
    data (``past`` is their cut at ``as_of``), e.g. filled by
    :func:`salesplan.planning.features.score_plan_pipeline`: with the default ``params`` the
    scored pipeline is read from it when it holds ``(as_of, horizon_end)`` (the same
    function of the same data, with those parameters), else scored here.

    ``scoring``: :func:`salesplan.planning.pipeline.scoring_data` of the data ``past`` was
    cut from, when the caller made it already (the plan's scoring does): cut at ``as_of``
    it is the reduction of ``past`` (same rows, same order), so it is not made again.
    """
    if past.opportunities is None or len(past.opportunities) == 0:
        return None, ["table 'opportunities' is absent or empty: the pipeline section is off"]
    as_of = pd.Timestamp(as_of)
    cutoff = as_of - pd.DateOffset(months=holdout_months)
    notes = []
    # what the win model and the rates read: the same numbers, smaller cuts
    past = _pl.scoring_data(past) if scoring is None else _pl.known_at(scoring, as_of)
    try:
        check = _pl.evaluate_holdout(past, cutoff, as_of, params)
        metrics, calibration = check["metrics"], check["calibration"]
    except ValueError as exc:
        metrics, calibration = pd.DataFrame(), pd.DataFrame()
        notes.append(f"win-model check off: {exc}")
    try:
        scored = _memo_scored(memo, as_of, horizon_end, params)
        if scored is None:
            scored = _pl.scored_pipeline(past, as_of, params, horizon_end=horizon_end)
    except ValueError as exc:  # the holdout check, if any, is still shown
        return OpenPipelineReview(cutoff, metrics, calibration, pd.DataFrame()), \
            notes + [f"scored pipeline off: {exc}"]
    if len(scored) == 0:
        notes.append(f"no opportunity is open on {as_of:%Y-%m-%d}")
        return OpenPipelineReview(cutoff, metrics, calibration, scored), notes
    rates = _funnel.estimate_rates(past, as_of=as_of)
    paths = _pl.pipeline_value_paths(scored, n_paths=n_paths, seed=seed, by="region")
    return OpenPipelineReview(
        cutoff, metrics, calibration, scored,
        expected_scored=_pl.expected_pipeline_value(scored),
        expected_stage=_pl.expected_pipeline_value(scored, column="p_stage"),
        paths=paths, total=paths.sum(axis=1), by_region=pipeline_by_region(scored, paths),
        shape=_funnel.diagnose_shape(scored, rates, by="rep_id"),
        stuck=_pl.stuck_deals(scored, top=None), rates=rates), notes


def _memo_scored(memo, as_of, horizon_end, params: _pl.PipelineParams) -> pd.DataFrame | None:
    """A copy of the memo's scored deals at ``(as_of, horizon_end)``, or None (not there, or
    ``params`` other than the defaults the memo's scorer uses)."""
    if memo is None or params != _pl.PipelineParams():
        return None
    key = scored_pipeline_key(as_of, horizon_end)
    return memo[key].copy() if key in memo else None


@dataclass(frozen=True)
class PipelineReview:
    """Both sections, the leads to work first and the notes (see :func:`pipeline_review`)."""

    as_of: pd.Timestamp
    horizon_end: pd.Timestamp
    leads: LeadReview | None
    pipeline: OpenPipelineReview | None
    to_work: pd.DataFrame | None = None
    notes: tuple = field(default_factory=tuple)

    @property
    def has_leads(self) -> bool:
        """True when the lead section is on."""
        return self.leads is not None

    @property
    def has_pipe(self) -> bool:
        """True when the pipeline section is on and a deal is open."""
        return self.pipeline is not None and self.pipeline.has_pipe

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables saved to the plan store (kind ``pipeline``), in the notebook's order."""
        out = {"notes": pd.DataFrame({"note": list(self.notes)}, dtype=object)}
        if self.leads is not None:
            out.update(lead_rates_by_source=self.leads.by_source, lead_rates_by_rep=self.leads.by_rep)
            if len(self.leads.bant_effects):
                out["bant_effects"] = self.leads.bant_effects
        if self.to_work is not None:
            out["leads_to_work_first"] = self.to_work.head(200)
        p = self.pipeline
        if p is not None and len(p.metrics):
            out.update(win_model_check=p.metrics, win_calibration=p.calibration)
        if self.has_pipe:
            out.update(scored_pipeline=p.scored, pipeline_by_region=p.by_region,
                       funnel_shape_by_rep=p.shape, stuck_deals=p.stuck)
        return out


def pipeline_review(past: SalesData, as_of, horizon_end, *, bant: _leads.BANTParams,
                    params: _pl.PipelineParams, holdout_months: int = 18, n_paths: int = 2000,
                    seed: int = 0, memo=None, scoring: SalesData | None = None) -> PipelineReview:
    """Leads, open pipeline and the leads to work first, on the data known at ``as_of``.

    Parameters
    ----------
    past : SalesData
        The data as known on ``as_of`` (``data.until(as_of)``).
    as_of, horizon_end : date-like
        Scoring date; last day the won value is counted to.
    bant, params
        The BANT rule; the win model's parameters.
    holdout_months, n_paths, seed, memo, scoring
        See :func:`review_open_pipeline`.

    Returns
    -------
    PipelineReview
        The leads to work first (expected value = P(convert) x the rep's median deal x the
        company's P(win from the top stage)) only when both sections are on and the
        conversion model was fitted.
    """
    as_of, horizon_end = pd.Timestamp(as_of), pd.Timestamp(horizon_end)
    lead_part, notes = review_leads(past, bant)
    pipe_part, pipe_notes = review_open_pipeline(past, as_of, horizon_end, params,
                                                 holdout_months=holdout_months, n_paths=n_paths,
                                                 seed=seed, memo=memo, scoring=scoring)
    to_work = None
    if lead_part is not None and lead_part.model is not None and pipe_part is not None \
            and pipe_part.has_pipe:
        deal_value = (past.opportunities.groupby("rep_id")["amount"].median()
                      * float(pipe_part.rates.win_probability.iloc[0]))
        to_work = _leads.leads_to_work_first(lead_part.leads, lead_part.model, deal_value,
                                            params=bant, top=None)
    return PipelineReview(as_of, horizon_end, lead_part, pipe_part, to_work,
                          tuple(notes + pipe_notes))
