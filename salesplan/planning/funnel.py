"""Funnel back-calculation: from a revenue target to the opportunities needed per stage and week.

The five-level funnel of ``docs/domain.md`` section 3 (E potential -> D contacted ->
C acknowledged -> B intent -> A ready to buy -> won).  This module

1. estimates the **stage conversion rates** and **stage durations** from
   ``stage_history`` + ``opportunities`` (:func:`estimate_rates`), shrunk toward Beta
   priors where data are thin, and the **average deal size**;
2. **back-calculates** from weekly revenue targets the number of opportunities that must
   enter each stage in each week, lagged by the stage durations
   (:func:`back_calculate`), and compares with the current open pipeline (the gap =
   new leads needed);
3. **re-plans** the remaining weeks from actuals to date and the rates observed so far
   (:func:`replan`);
4. **diagnoses the funnel shape** (piled up at C, thin C with a crowded top, healthy)
   (:func:`diagnose_shape`).

Conventions
-----------
* ``stages`` are ordered top first (``("E","D","C","B","A")``); the conversion rate of
  the last stage is its win rate (A -> won).
* ``conv[k]`` = P(an opportunity that entered stage k reaches stage k+1 (or is won, for
  the last stage)).  ``P_win[k] = prod_{j >= k} conv[j]``.
* ``dur[k]`` = mean days from entering stage k to entering the next stage (to closing,
  for the last stage).  ``lag[k] = sum_{j >= k} dur[j]`` = days from entering k to the win.
* Counts of opportunities are *expected* counts (floats); round up when publishing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date, check_number, latest_date
from salesplan.data.schema import DEFAULT_STAGES, SalesData

__all__ = [
    "DEFAULT_PRIOR_RATES",
    "FunnelParams",
    "FunnelPlan",
    "FunnelRates",
    "back_calculate",
    "diagnose_shape",
    "estimate_rates",
    "observed_funnel_share",
    "open_pipeline",
    "replan",
    "week_starts",
    "weighted_pipeline",
]

#: Prior mean of each stage's conversion rate to the next stage (last: win rate).
#: Handbook defaults (domain.md section 3: needs-confirmed >= 60%, lead -> opportunity
#: >= 30%); used only in proportion to ``prior_strength`` pseudo-opportunities.
DEFAULT_PRIOR_RATES: Mapping[str, float] = MappingProxyType(
    {"E": 0.40, "D": 0.50, "C": 0.60, "B": 0.65, "A": 0.70}
)


def _frozen_map(name: str, value, allowed_keys=None, lo=None, hi=None, lo_open=False):
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}={value!r}: expected a mapping stage -> number")
    out = {}
    for k, v in value.items():
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{k!r}]={v!r}: expected a number") from None
        if not np.isfinite(fv) or (lo is not None and (fv <= lo if lo_open else fv < lo)) or (
            hi is not None and fv > hi
        ):
            rng = f"{'(' if lo_open else '['}{lo}, {hi}]"
            raise ValueError(f"{name}[{k!r}]={v!r}: expected a number in {rng}")
        out[str(k)] = fv
    return MappingProxyType(out)


@dataclass(frozen=True)
class FunnelParams:
    """Parameters of rate estimation, back-calculation and shape diagnosis.

    Parameters
    ----------
    prior_rates : mapping stage -> float in (0, 1]
        Prior mean of each stage's conversion rate (the last stage: win rate).
        Default :data:`DEFAULT_PRIOR_RATES`.
    prior_strength : float >= 0
        Weight of the prior in pseudo-opportunities: the Beta prior of stage k is
        ``Beta(a=s*m_k, b=s*(1-m_k))`` with ``s = prior_strength`` and ``m_k`` the prior
        mean; the posterior mean is ``(x_k + s*m_k) / (n_k + s)`` where ``n_k``
        opportunities entered k and were resolved (moved on, won or lost) and ``x_k`` of
        them moved on.  Default 20 (a stage with 20 resolved opportunities is half prior).
    prior_duration_days : float > 0
        Prior mean days in each stage; shrinkage ``(sum_days + s_d*d0) / (n + s_d)``.
    duration_prior_strength : float >= 0
        Pseudo-observations of the duration prior (default 5).
    lookback_days : int > 0
        Only opportunities created within ``lookback_days`` before ``as_of`` are used.
    deal_size : float, optional
        Average won deal size override (currency).  Default: mean ``amount`` of the won
        opportunities closed in the look-back window (at least ``min_won_deals``).
    min_won_deals : int
        Fewer won deals -> the deal size falls back to the mean amount of all
        opportunities in the window, then to the mean order amount.
    pivot_stage : str
        Stage whose stock is checked in the shape diagnosis (default ``"C"``).
    pile_up_ratio, thin_ratio, top_heavy_ratio : float
        Shape rules on observed/expected stock ratios, see :func:`diagnose_shape`.
    """

    prior_rates: Mapping[str, float] | None = None
    prior_strength: float = 20.0
    prior_duration_days: float = 14.0
    duration_prior_strength: float = 5.0
    lookback_days: int = 365
    deal_size: float | None = None
    min_won_deals: int = 5
    pivot_stage: str = "C"
    pile_up_ratio: float = 1.5
    thin_ratio: float = 0.6
    top_heavy_ratio: float = 1.2

    def __post_init__(self):
        pr = _frozen_map("prior_rates", self.prior_rates, lo=0.0, hi=1.0, lo_open=True)
        object.__setattr__(self, "prior_rates", pr)
        for name in ("prior_strength", "duration_prior_strength"):
            check_number(name, getattr(self, name), 0)
        check_number("prior_duration_days", self.prior_duration_days, 0, lo_open=True, what=" (days)")
        check_number("lookback_days", self.lookback_days, 1, integer=True, what=" (days)")
        if self.deal_size is not None and not (
            np.isfinite(self.deal_size) and self.deal_size > 0
        ):
            raise ValueError(f"deal_size={self.deal_size!r}: expected an amount > 0 or None")
        if self.min_won_deals < 0:
            raise ValueError(f"min_won_deals={self.min_won_deals!r}: expected >= 0")
        for name in ("pile_up_ratio", "top_heavy_ratio"):
            if not getattr(self, name) > 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected a ratio > 1")
        if not 0 < self.thin_ratio < 1:
            raise ValueError(f"thin_ratio={self.thin_ratio!r}: expected a ratio in (0, 1)")

    def prior_for(self, stages: tuple[str, ...]) -> np.ndarray:
        """Prior mean conversion rate of each stage (stages not given default to 0.5)."""
        pr = self.prior_rates if self.prior_rates is not None else DEFAULT_PRIOR_RATES
        unknown = sorted(set(pr) - set(stages)) if self.prior_rates is not None else []
        if unknown:
            raise ValueError(
                f"prior_rates names unknown stage(s) {unknown}; the funnel stages are {list(stages)}"
            )
        return np.array([pr.get(s, 0.5) for s in stages], dtype=float)


@dataclass(frozen=True)
class FunnelRates:
    """Stage conversion rates, durations and the deal size of one funnel.

    Attributes
    ----------
    stages : tuple of str
        Top first.
    conversion : ndarray
        ``conv[k]`` = P(entered stage k -> reaches k+1); last entry = win rate.
    duration_days : ndarray
        Mean days spent in stage k before moving on (last stage: before the win).
    deal_size : float
        Average won deal (currency).
    n_resolved, n_converted : ndarray
        The observed counts behind ``conversion`` (0 where only the prior speaks).
    """

    stages: tuple[str, ...]
    conversion: np.ndarray
    duration_days: np.ndarray
    deal_size: float
    n_resolved: np.ndarray = field(default=None)
    n_converted: np.ndarray = field(default=None)

    def __post_init__(self):
        k = len(self.stages)
        conv = np.asarray(self.conversion, dtype=float)
        dur = np.asarray(self.duration_days, dtype=float)
        if conv.shape != (k,) or dur.shape != (k,):
            raise ValueError(
                f"conversion and duration_days need one value per stage {list(self.stages)}"
            )
        if np.any(~np.isfinite(conv)) or np.any(conv <= 0) or np.any(conv > 1):
            raise ValueError(f"conversion={conv.tolist()}: expected rates in (0, 1]")
        if np.any(~np.isfinite(dur)) or np.any(dur < 0):
            raise ValueError(f"duration_days={dur.tolist()}: expected days >= 0")
        if not (np.isfinite(self.deal_size) and self.deal_size > 0):
            raise ValueError(f"deal_size={self.deal_size!r}: expected an amount > 0")
        object.__setattr__(self, "conversion", conv)
        object.__setattr__(self, "duration_days", dur)
        for name in ("n_resolved", "n_converted"):
            v = getattr(self, name)
            object.__setattr__(self, name, np.zeros(k) if v is None else np.asarray(v, float))

    @classmethod
    def from_mapping(cls, conversion: Mapping[str, float], duration_days: Mapping[str, float],
                     deal_size: float, stages: tuple[str, ...] = DEFAULT_STAGES) -> FunnelRates:
        """Rates given by hand, e.g. ``{"E": .5, "D": .5, ...}`` (every stage required)."""
        missing = [s for s in stages if s not in conversion or s not in duration_days]
        if missing:
            raise ValueError(f"rates missing for stage(s) {missing}")
        return cls(tuple(stages), np.array([conversion[s] for s in stages], float),
                   np.array([duration_days[s] for s in stages], float), float(deal_size))

    @property
    def win_probability(self) -> pd.Series:
        """``P_win[k] = prod_{j >= k} conv[j]``: P(an opportunity entering k is won)."""
        return pd.Series(np.cumprod(self.conversion[::-1])[::-1], index=list(self.stages))

    @property
    def lag_days(self) -> pd.Series:
        """``lag[k] = sum_{j >= k} dur[j]``: mean days from entering k to the win."""
        return pd.Series(np.cumsum(self.duration_days[::-1])[::-1], index=list(self.stages))

    def to_frame(self) -> pd.DataFrame:
        """One row per stage: conversion, duration, P(win), lag and observed counts."""
        return pd.DataFrame({
            "stage": list(self.stages),
            "conversion": self.conversion,
            "duration_days": self.duration_days,
            "win_probability": self.win_probability.to_numpy(),
            "lag_days": self.lag_days.to_numpy(),
            "n_resolved": self.n_resolved,
            "n_converted": self.n_converted,
            "deal_size": self.deal_size,
        })


# --------------------------------------------------------------------------- estimation

def _datetimes(col: pd.Series) -> pd.Series:
    """``pd.to_datetime(col)``; a ``datetime64[ns]`` column (the contract's dates) as it is,
    without ``to_datetime``'s scan of its values."""
    return col if col.dtype == "datetime64[ns]" else pd.to_datetime(col)


def _as_of(data: SalesData, as_of) -> pd.Timestamp:
    """``as_of`` read as a date (:func:`~salesplan.data.checks.as_date`); ``None``: the last
    order or opportunity date (:func:`~salesplan.data.checks.latest_date`)."""
    if as_of is not None:
        return as_date(as_of)
    opps = data.opportunities
    return latest_date(data.orders["order_date"],
                       opps["created_date"] if opps is not None and len(opps) else None)


def _first_entries(sh: pd.DataFrame, ids: pd.Index, stages: list) -> np.ndarray:
    """``(len(ids), K)`` datetime64[ns]: each opportunity's earliest ``entered_date`` in each
    stage of ``sh`` (the stage history), NaT where it has none.

    The minimum of a pivot table by opportunity and stage: rows of other opportunities,
    other stages or without a date are left out; ``ids`` unique text ids, ``sh["entered_date"]``
    ``datetime64[ns]``.  Dates are compared as integers, so the minima are the same dates.
    """
    row = ids.get_indexer(sh["opportunity_id"].astype(str))
    col = pd.Index(stages).get_indexer(sh["stage"].astype(str))
    dates = sh["entered_date"].to_numpy("datetime64[ns]")
    when = dates.view(np.int64)
    keep = (row >= 0) & (col >= 0) & ~np.isnat(dates)
    none = np.iinfo(np.int64).max
    first = np.full((len(ids), len(stages)), none, dtype=np.int64)
    np.minimum.at(first, (row[keep], col[keep]), when[keep])
    out = first.view("datetime64[ns]")
    out[first == none] = np.datetime64("NaT")
    return out


def _entry_matrix(data: SalesData, opps: pd.DataFrame) -> np.ndarray:
    """``(n_opps, K)`` datetime64 matrix of the date each opportunity entered each stage."""
    stages = list(data.stages)
    idx = pd.Index(opps["opportunity_id"].astype(str))
    sh = data.stage_history
    if sh is not None and len(sh) and idx.is_unique and sh["entered_date"].dtype == "datetime64[ns]":
        out = _first_entries(sh, idx, stages)  # the pivot table's minima, without the pivot table
    else:
        mat = pd.DataFrame(pd.NaT, index=idx, columns=stages, dtype="datetime64[ns]")
        if sh is not None and len(sh):
            sh = sh[sh["opportunity_id"].astype(str).isin(idx)]
            wide = sh.assign(opportunity_id=sh["opportunity_id"].astype(str)).pivot_table(
                index="opportunity_id", columns="stage", values="entered_date", aggfunc="min"
            )
            wide = wide.reindex(columns=stages)
            mat.loc[wide.index, :] = wide.to_numpy(dtype="datetime64[ns]")
        out = mat.to_numpy(dtype="datetime64[ns]")
    # the current stage is reached even when the history misses it
    cur = opps["stage"].astype(str).map({s: i for i, s in enumerate(stages)}).to_numpy()
    rows = np.arange(len(opps))
    missing = np.isnat(out[rows, cur])
    if missing.any():
        # unknown entry date of the current stage: the last known earlier entry, else creation
        created = _datetimes(opps["created_date"]).to_numpy(dtype="datetime64[ns]")
        out[rows[missing], cur[missing]] = created[missing]
    return out


def estimate_rates(
    data: SalesData,
    as_of=None,
    params: FunnelParams = FunnelParams(),
    *,
    rep_ids=None,
    region: str | None = None,
    prior: FunnelRates | None = None,
    since=None,
) -> FunnelRates:
    """Observed stage conversion rates, stage durations and deal size, with Beta priors.

    Parameters
    ----------
    data : SalesData
        Needs ``opportunities``; ``stage_history`` gives entry dates (without it only the
        current stage and creation date are known and durations fall back to the prior).
    as_of : date-like, optional
        Estimation date (default: the last order / opportunity date).
    params : FunnelParams
        Priors and the look-back window.
    rep_ids : iterable of str, optional
        Restrict to these reps' opportunities.
    region : str, optional
        Restrict to opportunities of customers in this region (needs ``customers``).
    prior : FunnelRates, optional
        Use these rates (e.g. the company's) as prior means instead of
        ``params.prior_rates`` -- hierarchical shrinkage of a rep or region toward the
        company, or of this quarter's observations toward the plan's rates.
    since : date-like, optional
        Only opportunities created on/after this date (overrides ``lookback_days``).

    Returns
    -------
    FunnelRates

    Notes
    -----
    For each opportunity the stages *reached* are every stage from the first entered to
    the furthest entered (a skipped stage counts as passed).  At stage k an opportunity is

    * *converted* if it reached a later stage, or was won at k;
    * *failed* if it was lost with k its furthest stage;
    * *censored* (left out at k) if it is still open with k its furthest stage.

    ``conv[k] = (x_k + s*m_k) / (n_k + s)`` (Beta(s*m_k, s*(1-m_k)) prior, posterior
    mean).  Durations: days from entering k to entering the next stage reached directly
    (k+1) or, for the last stage, to ``closed_date`` of a won deal; shrunk to the prior
    ``d0`` by ``(sum + s_d*d0)/(n + s_d)``.
    """
    if data.opportunities is None:
        raise ValueError("table 'opportunities' is absent: funnel rates need it")
    stages = tuple(data.stages)
    K = len(stages)
    as_of = _as_of(data, as_of)
    opps = data.opportunities.copy()
    opps["created_date"] = _datetimes(opps["created_date"])
    opps["closed_date"] = _datetimes(opps["closed_date"])
    start = pd.Timestamp(since) if since is not None else as_of - pd.Timedelta(
        days=params.lookback_days
    )
    keep = (opps["created_date"] >= start) & (opps["created_date"] <= as_of)
    if rep_ids is not None:
        keep &= opps["rep_id"].astype(str).isin([str(r) for r in rep_ids])
    if region is not None:
        if data.customers is None:
            raise ValueError("region filter needs table 'customers'")
        cust = data.customers.set_index("customer_id")["region"]
        keep &= opps["customer_id"].map(cust).astype(str).eq(str(region)).to_numpy()
    opps = opps[keep.to_numpy()].reset_index(drop=True)
    # outcome as of the estimation date
    outcome = opps["outcome"].astype(str).to_numpy().copy()
    closed_after = opps["closed_date"].notna().to_numpy() & (opps["closed_date"] > as_of).to_numpy()
    outcome[closed_after] = "open"

    if prior is not None:
        if tuple(prior.stages) != stages:
            raise ValueError(f"prior stages {prior.stages} differ from the data's {stages}")
        m = prior.conversion.copy()
        d0 = prior.duration_days.copy()
    else:
        m = params.prior_for(stages)
        d0 = np.full(K, params.prior_duration_days)
    s = params.prior_strength
    sd = params.duration_prior_strength

    n = np.zeros(K)
    x = np.zeros(K)
    dsum = np.zeros(K)
    dn = np.zeros(K)
    if len(opps):
        E = _entry_matrix(data, opps)
        E = np.where(E <= np.datetime64(as_of), E, np.datetime64("NaT"))
        has = ~np.isnat(E)
        cur = opps["stage"].astype(str).map({st: i for i, st in enumerate(stages)}).to_numpy()
        has[np.arange(len(opps)), cur] |= True
        first = np.where(has.any(1), has.argmax(1), cur)
        last = np.where(has.any(1), K - 1 - has[:, ::-1].argmax(1), cur)
        ks = np.arange(K)[None, :]
        reached = (ks >= first[:, None]) & (ks <= last[:, None])
        won = outcome == "won"
        lost = outcome == "lost"
        conv = reached & ((ks < last[:, None]) | won[:, None])
        fail = reached & (ks == last[:, None]) & lost[:, None]
        n = (conv | fail).sum(0).astype(float)
        x = conv.sum(0).astype(float)
        # durations: k -> k+1 entered directly
        with np.errstate(invalid="ignore"):
            for k in range(K - 1):
                ok = has[:, k] & has[:, k + 1] & ~np.isnat(E[:, k]) & ~np.isnat(E[:, k + 1])
                if ok.any():
                    days = (E[ok, k + 1] - E[ok, k]).astype("timedelta64[D]").astype(float)
                    days = days[days >= 0]
                    dsum[k] += days.sum()
                    dn[k] += len(days)
            closed = opps["closed_date"].to_numpy(dtype="datetime64[ns]")
            ok = won & ~np.isnat(E[:, K - 1]) & ~np.isnat(closed)
            if ok.any():
                days = (closed[ok] - E[ok, K - 1]).astype("timedelta64[D]").astype(float)
                days = days[days >= 0]
                dsum[K - 1] += days.sum()
                dn[K - 1] += len(days)
    rate = (x + s * m) / np.maximum(n + s, 1e-12)
    rate = np.where(n + s > 0, rate, m)
    rate = np.clip(rate, 1e-6, 1.0)
    dur = np.where(dn + sd > 0, (dsum + sd * d0) / np.maximum(dn + sd, 1e-12), d0)

    deal = params.deal_size
    if deal is None:
        deal = _deal_size(data, opps, outcome, as_of, params, prior)
    return FunnelRates(stages, rate, dur, float(deal), n, x)


def _deal_size(data, opps, outcome, as_of, params, prior) -> float:
    won = opps[(outcome == "won")]
    if len(won) >= max(params.min_won_deals, 1):
        return float(won["amount"].mean())
    if prior is not None:
        return float(prior.deal_size)
    if len(opps) and opps["amount"].mean() > 0:
        return float(opps["amount"].mean())
    orders = data.orders
    per = orders[orders["amount"] > 0].groupby(["customer_id", "order_date"])["amount"].sum()
    if len(per) == 0:
        raise ValueError("cannot estimate a deal size: no won deals, opportunities or orders")
    return float(per.mean())


# --------------------------------------------------------------------------- pipeline

def open_pipeline(data: SalesData, at=None) -> pd.DataFrame:
    """Opportunities open on date ``at`` with the stage they were in on that date.

    Open at ``at`` = ``created_date <= at`` and (no ``closed_date`` or ``closed_date >
    at``).  The stage at ``at`` is the furthest stage entered on or before ``at``
    (``stage_history``); without history, the current stage.

    Returns
    -------
    DataFrame
        ``opportunity_id, customer_id, rep_id, region, amount, stage, stage_entered``
        (``region`` from ``customers``; missing when ``customers`` is absent).
    """
    if data.opportunities is None:
        raise ValueError("table 'opportunities' is absent: the open pipeline needs it")
    at = _as_of(data, at)
    opps = data.opportunities.copy()
    opps["created_date"] = _datetimes(opps["created_date"])
    opps["closed_date"] = _datetimes(opps["closed_date"])
    is_open = (opps["created_date"] <= at) & (opps["closed_date"].isna() | (opps["closed_date"] > at))
    opps = opps[is_open].reset_index(drop=True)
    stages = list(data.stages)
    cols = ["opportunity_id", "customer_id", "rep_id", "region", "amount", "stage", "stage_entered"]
    if opps.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "amount" else object) for c in cols})
    E = _entry_matrix(data, opps)
    E = np.where(E <= np.datetime64(at), E, np.datetime64("NaT"))
    has = ~np.isnat(E)
    cur = opps["stage"].astype(str).map({s: i for i, s in enumerate(stages)}).to_numpy()
    k = np.where(has.any(1), len(stages) - 1 - has[:, ::-1].argmax(1), cur)
    entered = E[np.arange(len(opps)), k]
    entered = np.where(np.isnat(entered), opps["created_date"].to_numpy("datetime64[ns]"), entered)
    region = pd.Series(np.nan, index=opps.index, dtype=object)
    if data.customers is not None:
        region = opps["customer_id"].map(data.customers.set_index("customer_id")["region"])
    return pd.DataFrame({
        "opportunity_id": opps["opportunity_id"].to_numpy(),
        "customer_id": opps["customer_id"].to_numpy(),
        "rep_id": opps["rep_id"].to_numpy(),
        "region": region.to_numpy(),
        "amount": opps["amount"].to_numpy(dtype=float),
        "stage": np.array(stages, dtype=object)[k],
        "stage_entered": pd.to_datetime(entered),
    })


def weighted_pipeline(pipeline: pd.DataFrame, rates: FunnelRates, at, horizon_end=None) -> pd.Series:
    """Expected won revenue of each open opportunity, optionally only if it closes in time.

    ``w_i = amount_i * P_win[stage_i] * 1[at + remaining_i <= horizon_end]`` with
    ``remaining_i = max(lag[stage_i] - (at - stage_entered_i), dur_last/2)`` days (the
    mean time still to go, at least half the last stage).  Without ``horizon_end`` the
    time filter is off.

    Returns
    -------
    Series
        One value per row of ``pipeline`` (currency).
    """
    if pipeline.empty:
        return pd.Series(dtype=float)
    pw = rates.win_probability
    lag = rates.lag_days
    st = pipeline["stage"].astype(str)
    w = pipeline["amount"].to_numpy(float) * st.map(pw).to_numpy(float)
    if horizon_end is not None:
        age = (pd.Timestamp(at) - _datetimes(pipeline["stage_entered"])).dt.days.to_numpy(float)
        remaining = np.maximum(st.map(lag).to_numpy(float) - age, rates.duration_days[-1] / 2)
        days_left = (pd.Timestamp(horizon_end) - pd.Timestamp(at)).days
        w = w * (remaining <= days_left)
    return pd.Series(w, index=pipeline.index)


# --------------------------------------------------------------------------- back-calculation

def week_starts(start, end) -> pd.DatetimeIndex:
    """Mondays of the weeks that overlap ``[start, end]`` (weeks start on Monday)."""
    start = pd.Timestamp(start).normalize()
    first = start - pd.Timedelta(days=start.weekday())
    return pd.date_range(first, pd.Timestamp(end).normalize(), freq="W-MON")


@dataclass(frozen=True)
class FunnelPlan:
    """Result of :func:`back_calculate` / :func:`replan`.

    Attributes
    ----------
    targets : DataFrame
        ``entity, week_start, target`` -- the weekly revenue targets planned.
    weeks : DataFrame
        ``entity, week_start, stage, needed`` -- opportunities that must *enter* ``stage``
        in the week starting ``week_start`` (stage ``"won"``: deals to win that week).
        Weeks before the plan start are entries that should already have happened.
    gap : DataFrame
        One row per entity: ``target, deal_size, wins_needed, pipeline_expected,
        revenue_gap, new_leads_needed, last_lead_week, leads_in_time``.
    stage_gap : DataFrame
        ``entity, stage, needed_total, needed_before_start, open_now``.
    leads : DataFrame
        ``entity, week_start, new_leads`` -- the new E-stage leads per week that close the gap.
    rates : FunnelRates or mapping entity -> FunnelRates
    start, end : Timestamp
        Planned period (quarter) bounds; ``plan_from`` = first re-planned day.
    completion : DataFrame, optional
        After :func:`replan`: ``entity, week_start, target, actual, completion``.
    """

    targets: pd.DataFrame
    weeks: pd.DataFrame
    gap: pd.DataFrame
    stage_gap: pd.DataFrame
    leads: pd.DataFrame
    rates: object
    start: pd.Timestamp
    end: pd.Timestamp
    plan_from: pd.Timestamp
    completion: pd.DataFrame | None = None

    def rates_for(self, entity) -> FunnelRates:
        return self.rates[entity] if isinstance(self.rates, Mapping) else self.rates

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"funnel_weeks": self.weeks, "funnel_gap": self.gap,
               "funnel_stage_gap": self.stage_gap, "funnel_leads": self.leads}
        if isinstance(self.rates, Mapping):
            out["funnel_rates"] = pd.concat(
                [r.to_frame().assign(entity=e) for e, r in self.rates.items()], ignore_index=True)
        else:
            out["funnel_rates"] = self.rates.to_frame()
        if self.completion is not None:
            out["funnel_completion"] = self.completion
        return out


def _check_weekly(targets: pd.DataFrame) -> pd.DataFrame:
    need = {"entity", "week_start", "target"}
    if not isinstance(targets, pd.DataFrame) or not need <= set(targets.columns):
        got = list(targets.columns) if isinstance(targets, pd.DataFrame) else type(targets).__name__
        raise ValueError(f"weekly targets: expected columns {sorted(need)}, got {got}")
    t = targets[["entity", "week_start", "target"]].copy()
    t["week_start"] = pd.to_datetime(t["week_start"])
    if t["target"].isna().any() or (t["target"] < 0).any():
        bad = t.loc[t["target"].isna() | (t["target"] < 0), "entity"].unique()[:5].tolist()
        raise ValueError(f"weekly targets: 'target' must be >= 0; bad rows for entities {bad}")
    if (t["week_start"].dt.weekday != 0).any():
        raise ValueError("weekly targets: 'week_start' must be a Monday")
    return t


def back_calculate(
    weekly_targets: pd.DataFrame,
    rates: FunnelRates | Mapping[str, FunnelRates],
    pipeline: pd.DataFrame | None = None,
    *,
    start=None,
    end=None,
    entity_col: str = "rep_id",
    funnel_share: float = 1.0,
) -> FunnelPlan:
    """Opportunities needed per stage and week to meet weekly revenue targets.

    Parameters
    ----------
    weekly_targets : DataFrame
        ``entity, week_start, target`` (currency per week; weeks start on Monday).  Use
        ``TargetPlan.weeks`` filtered to one level, renamed ``entity``.
    rates : FunnelRates or mapping entity -> FunnelRates
        Conversion rates, durations and deal size (one set, or one per entity).
    pipeline : DataFrame, optional
        Open pipeline at the plan start (:func:`open_pipeline`), with a column
        ``entity_col`` naming the entity of each opportunity.
    start, end : date-like, optional
        Plan period; default the first Monday / last Sunday of the targets' weeks.
    entity_col : str
        Column of ``pipeline`` that holds the entity (``rep_id`` or ``region``).
    funnel_share : float in (0, 1]
        Share of the target that must come through the funnel (won opportunities); the
        rest is repeat business outside it.  See :func:`observed_funnel_share`.

    Returns
    -------
    FunnelPlan

    Notes
    -----
    Wins needed in week w: ``W_w = funnel_share * T_w / deal``.  Entries needed into stage k:
    ``N_k = W_w / P_win[k]``, timed ``lag[k] = sum_{j>=k} dur[j]`` days before w: with
    ``L = lag[k]/7`` weeks, a share ``1 - frac(L)`` goes to week ``w - floor(L)`` and
    ``frac(L)`` to ``w - floor(L) - 1``.

    Gap: expected revenue from the open pipeline that closes by ``end``
    (:func:`weighted_pipeline`); ``revenue_gap = max(0, sum_w T_w - pipeline_expected)``;
    ``new_leads_needed = revenue_gap / deal / P_win[E]``.  New leads close in time only if
    they enter E by ``end - lag[E]`` (``last_lead_week``); ``leads_in_time`` is False
    when that week is before the plan start -- the gap must then come from later stages.
    """
    t = _check_weekly(weekly_targets)
    if not (isinstance(funnel_share, (int, float)) and 0 < funnel_share <= 1):
        raise ValueError(f"funnel_share={funnel_share!r}: expected a share in (0, 1]")
    if start is None:
        start = t["week_start"].min()
    if end is None:
        end = t["week_start"].max() + pd.Timedelta(days=6)
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    ent_code, ents = pd.factorize(t["entity"])  # the groups of groupby("entity", sort=False), in its order
    ents = np.asarray(ents, dtype=object)
    ent_rates = [rates[e] if isinstance(rates, Mapping) else rates for e in ents]
    for e, r in zip(ents, ent_rates):
        if r is None:
            raise ValueError(f"no funnel rates for entity {e!r}")
    derived: dict[int, tuple] = {}  # per rates object, computed once
    for r in ent_rates:
        if id(r) not in derived:
            derived[id(r)] = _derived_rates(r, end)
    wins, entries = _stage_entries(t, ent_code, ent_rates, derived, funnel_share)
    weeks = (pd.DataFrame({"entity": ents[entries["entity"]], "week_start": entries["week_start"],
                           "stage": entries["stage"], "needed": entries["needed"]}) if len(entries["needed"])
             else pd.DataFrame([], columns=["entity", "week_start", "stage", "needed"]))
    order = {s: i for i, s in enumerate(list(_first_rates(rates).stages) + ["won"])}
    weeks = weeks.sort_values(["entity", "week_start", "stage"], key=lambda c: c.map(order) if c.name == "stage" else c,
                              kind="stable").reset_index(drop=True)
    gaps, sgaps, leads = _entity_gaps(t, ent_code, ents, ent_rates, derived, wins, entries, pipeline, rates,
                                      start=start, end=end, entity_col=entity_col, funnel_share=funnel_share)
    return FunnelPlan(
        targets=t.reset_index(drop=True), weeks=weeks, gap=pd.DataFrame(gaps),
        stage_gap=pd.DataFrame(sgaps),
        leads=pd.DataFrame(leads, columns=["entity", "week_start", "new_leads"]),
        rates=rates, start=start, end=end, plan_from=start,
    )


_WEEK = np.timedelta64(7, "D")


def _derived_rates(r: FunnelRates, end: pd.Timestamp) -> tuple:
    """What :func:`back_calculate` uses of one set of rates: ``(stages, P(win) per stage,
    lag days per stage, week shifts (:func:`_week_shifts`), last day a new lead closes by
    ``end``, the Monday of that day's week)``."""
    lag_d = r.lag_days.to_numpy()
    stages = list(r.stages)
    last_lead = (end - pd.Timedelta(days=float(lag_d[0]))).normalize()
    return (stages, r.win_probability.to_numpy(), lag_d, _week_shifts(stages, lag_d), last_lead,
            last_lead - pd.Timedelta(days=last_lead.weekday()))


def _stage_entries(t: pd.DataFrame, ent_code: np.ndarray, ent_rates: list, derived: dict,
                   funnel_share: float) -> tuple[np.ndarray, dict]:
    """The wins (per target row) and the entries needed per ``(entity, week, stage)`` of
    :func:`back_calculate`, for every entity at once.

    Each target row (week ``w``, wins ``W_w``) gives ``W_w`` wins in ``w`` and, per stage
    ``k``, ``W_w / P_win[k]`` entries split between two weeks (:func:`_week_shifts`).  The
    parts are summed per key in the order an entity's rows come (row by row, the wins, then
    each stage's first and second week): ``np.bincount`` adds them one after the other, as a
    running sum per key would.  Keys come in the order they first appear.

    Returns
    -------
    (wins, entries)
        ``wins`` (rows of ``t``; deals); ``entries``: ``entity`` (codes into the entities),
        ``week_start`` (datetime64[ns]), ``stage`` (text), ``needed`` (expected entries).
    """
    target = t["target"].to_numpy(float)
    week = t["week_start"].to_numpy("datetime64[ns]")
    wins = np.zeros(len(t))
    stage_names: dict[str, int] = {"won": 0}
    parts = []  # per rates object: (row positions, week (n, slots), stage code (slots,), value (n, slots), valid)
    rate_of_row = np.array([id(r) for r in ent_rates] + [0])[ent_code]  # code -1 (no entity): 0
    for rid, (_, pw, _, shifts, _, _) in derived.items():
        rows = np.flatnonzero((rate_of_row == rid) & (ent_code >= 0))
        deal = next(r for r in ent_rates if id(r) == rid).deal_size
        n_won = funnel_share * target[rows] / deal
        wins[rows] = n_won
        wk, vals, codes, ok = [week[rows]], [n_won], [0], [np.ones(len(rows), bool)]
        for k, st, shift, frac in shifts:
            need = n_won / pw[k]
            code = stage_names.setdefault(st, len(stage_names))
            w0 = week[rows] - shift
            wk += [w0, w0 - _WEEK]
            vals += [need * (1 - frac), need * frac]
            codes += [code, code]
            ok += [np.ones(len(rows), bool), np.full(len(rows), frac > 0)]
        parts.append((rows, np.stack(wk, 1), np.array(codes), np.stack(vals, 1), np.stack(ok, 1)))
    rows = np.concatenate([np.repeat(p[0], p[1].shape[1]) for p in parts]) if parts else np.zeros(0, int)
    wk = np.concatenate([p[1].ravel() for p in parts]) if parts else np.zeros(0, "datetime64[ns]")
    st = np.concatenate([np.tile(p[2], len(p[0])) for p in parts]) if parts else np.zeros(0, int)
    val = np.concatenate([p[3].ravel() for p in parts]) if parts else np.zeros(0)
    ok = np.concatenate([p[4].ravel() for p in parts]) if parts else np.zeros(0, bool)
    order = np.argsort(rows[ok], kind="stable")  # each entity's parts in its rows' order
    e, wk, st, val = ent_code[rows[ok]][order], wk[ok][order], st[ok][order], val[ok][order]
    wcode, wuniq = pd.factorize(wk)
    key = (e.astype(np.int64) * max(len(wuniq), 1) + wcode) * len(stage_names) + st
    kcode, kuniq = pd.factorize(key)
    needed = np.bincount(kcode, weights=val, minlength=len(kuniq))
    first = np.unique(kcode, return_index=True)[1]  # each key's first part (codes in order of appearance)
    names = np.array(list(stage_names), dtype=object)
    return wins, {"entity": e[first], "week_start": wk[first], "stage": names[st[first]],
                  "stage_code": st[first], "needed": needed, "stage_names": stage_names}


def _entity_gaps(t, ent_code, ents, ent_rates, derived, wins, entries, pipeline, rates, *, start, end,
                 entity_col, funnel_share) -> tuple[list, list, list]:
    """The gap, stage-gap and new-lead rows of :func:`back_calculate`, entity by entity
    (in the order of ``ents``), from the wins and the entries of :func:`_stage_entries`."""
    gaps, sgaps, leads = [], [], []
    # each entity's open deals: their row positions, found once (not one text scan per entity)
    pipe_rows = (pipeline.groupby(pipeline[entity_col].astype(str).to_numpy(), sort=False).indices
                 if pipeline is not None and len(pipeline) else {})
    pipe_stage = pipeline["stage"].astype(str).to_numpy() if pipe_rows else None
    # one set of rates: each deal's weight once (weighted_pipeline is row by row), summed per entity
    pipe_w = (weighted_pipeline(pipeline, rates, start, end).to_numpy()
              if pipe_rows and not isinstance(rates, Mapping) else None)
    start64, lo64 = start.to_datetime64(), (start - pd.Timedelta(days=6)).to_datetime64()
    target = t["target"].to_numpy(float)
    row_pos, key_pos = _positions(ent_code, len(ents)), _positions(entries["entity"], len(ents))
    codes = entries["stage_names"]
    for i, (ent, r) in enumerate(zip(ents, ent_rates)):
        stages, pw, lag_d, _, last_lead, last_lead_week = derived[id(r)]
        rows_t, kp = row_pos[i], key_pos[i]
        k_week, k_stage, k_val = entries["week_start"][kp], entries["stage_code"][kp], entries["needed"][kp]
        w_e = wins[rows_t]
        total = funnel_share * float(target[rows_t].sum())
        pipe_exp, open_by_stage = 0.0, dict.fromkeys(stages, 0)
        if str(ent) in pipe_rows:
            rows_e = pipe_rows[str(ent)]
            pipe_exp = float(np.nansum(pipe_w[rows_e]) if pipe_w is not None  # Series.sum: NaN skipped
                             else weighted_pipeline(pipeline.iloc[rows_e], r, start, end).sum())
            st_e = pipe_stage[rows_e]
            open_by_stage = {st: int((st_e == st).sum()) for st in stages}
        gap = max(0.0, total - pipe_exp)
        new_leads = gap / r.deal_size / pw[0]
        gaps.append({
            "entity": ent, "target": float(target[rows_t].sum()), "funnel_share": funnel_share,
            "funnel_target": total, "deal_size": r.deal_size,
            "wins_needed": total / r.deal_size, "pipeline_expected": pipe_exp,
            "revenue_gap": gap, "new_leads_needed": new_leads,
            "last_lead_week": last_lead_week, "leads_in_time": bool(last_lead >= start),
        })
        before = k_week < start64
        for k, st in enumerate(stages):
            n_tot = w_e.sum() / pw[k]
            n_before = sum(k_val[before & (k_stage == codes[st])].tolist())
            sgaps.append({"entity": ent, "stage": st, "needed_total": n_tot,
                          "needed_before_start": n_before, "open_now": float(open_by_stage[st])})
        # spread the new leads over the in-time weeks in proportion to the E entries needed
        in_time = (k_stage == codes[stages[0]]) & (k_week >= lo64) & (k_week <= last_lead.to_datetime64())
        ok_w, ok_v = k_week[in_time], k_val[in_time]
        tot_ok = sum(ok_v.tolist())
        if new_leads > 0 and tot_ok > 0:
            for j in np.lexsort((ok_v, ok_w)):
                leads.append({"entity": ent, "week_start": pd.Timestamp(ok_w[j]), "new_leads": new_leads * ok_v[j] / tot_ok})
        elif new_leads > 0:
            leads.append({"entity": ent, "week_start": max(start - pd.Timedelta(days=start.weekday()), min(last_lead_week, end)),
                          "new_leads": new_leads})
    return gaps, sgaps, leads


def _positions(codes: np.ndarray, n: int) -> list[np.ndarray]:
    """The positions of each code ``0 .. n-1`` in ``codes``, in their order (code -1 left out)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


def _week_shifts(stages: list, lag_d: np.ndarray) -> list[tuple]:
    """Per stage of :func:`back_calculate`: ``(k, stage, shift, frac)``: entries into stage
    ``k`` are timed ``L = lag_d[k] / 7`` weeks before the win, ``1 - frac`` of them in the
    week ``shift = 7 floor(L)`` days earlier and ``frac = L - floor(L)`` (0 below 1e-9) one
    week before that."""
    out = []
    for k, st in enumerate(stages):
        lag_w = lag_d[k] / 7.0
        f = int(np.floor(lag_w + 1e-9))
        frac = lag_w - f
        out.append((k, st, np.timedelta64(7 * f, "D"), 0.0 if frac < 1e-9 else frac))
    return out


def _first_rates(rates) -> FunnelRates:
    return next(iter(rates.values())) if isinstance(rates, Mapping) else rates


def observed_funnel_share(data: SalesData, as_of=None, days: int = 365) -> float:
    """Share of revenue that came through the funnel in the last ``days`` days.

    ``share = sum(amount of opportunities won in the window) / sum(order amount in the
    window)``, clipped to ``(0, 1]`` (1 when there is no opportunity data).
    """
    as_of = _as_of(data, as_of)
    lo = as_of - pd.Timedelta(days=days)
    o = data.orders
    rev = float(o.loc[(o["order_date"] > lo) & (o["order_date"] <= as_of), "amount"].sum())
    if data.opportunities is None or rev <= 0:
        return 1.0
    op = data.opportunities
    won = op[(op["outcome"] == "won") & (op["closed_date"] > lo) & (op["closed_date"] <= as_of)]
    share = float(won["amount"].sum()) / rev
    return float(min(1.0, share)) if share > 0 else 1.0


# --------------------------------------------------------------------------- re-plan

def replan(
    plan: FunnelPlan,
    actuals_to_date: pd.DataFrame,
    as_of,
    *,
    observed_rates: FunnelRates | Mapping[str, FunnelRates] | None = None,
    data: SalesData | None = None,
    params: FunnelParams = FunnelParams(),
    pipeline: pd.DataFrame | None = None,
    entity_col: str = "rep_id",
) -> FunnelPlan:
    """Re-plan the remaining weeks from actuals to date and the rates observed so far.

    Parameters
    ----------
    plan : FunnelPlan
        The plan made at the start of the period.
    actuals_to_date : DataFrame
        ``entity, week_start, actual`` -- won revenue per week so far (currency).
    as_of : date-like
        Last day with actuals; weeks starting after ``as_of`` are re-planned.  The week
        containing ``as_of`` is treated as done when ``as_of`` is its Sunday, else it is
        re-planned with its actual counted.
    observed_rates : FunnelRates or mapping, optional
        Rates observed this period.  If not given and ``data`` is, they are estimated from
        ``data`` over ``[plan.start, as_of]`` with the plan's rates as the Beta prior
        (``params.prior_strength`` pseudo-opportunities).  If neither, plan rates are kept.
    data : SalesData, optional
        Source of observed rates (and of the pipeline when ``pipeline`` is not given).
    pipeline : DataFrame, optional
        Open pipeline at ``as_of``; default :func:`open_pipeline` of ``data`` if given.

    Returns
    -------
    FunnelPlan
        ``targets`` = remaining weeks only, re-spread so that
        ``sum(remaining) = max(0, quarter target - actual to date)`` in proportion to the
        original weekly targets of those weeks (equal split if they were all zero);
        ``completion`` = weekly ``actual / target`` of the elapsed weeks, plus an
        ``ALL`` row with the quarter-to-date ratio; ``rates`` = updated rates.
    """
    as_of = as_date(as_of)
    need = {"entity", "week_start", "actual"}
    if not isinstance(actuals_to_date, pd.DataFrame) or not need <= set(actuals_to_date.columns):
        raise ValueError(f"actuals_to_date: expected columns {sorted(need)}")
    if not (plan.start <= as_of <= plan.end):
        raise ValueError(
            f"as_of={as_of.date()} is outside the planned period {plan.start.date()}..{plan.end.date()}"
        )
    act = actuals_to_date.copy()
    act["week_start"] = pd.to_datetime(act["week_start"])
    act["week_start"] = act["week_start"] - pd.to_timedelta(act["week_start"].dt.weekday, unit="D")
    act = act.groupby(["entity", "week_start"], as_index=False)["actual"].sum()
    unknown = sorted(set(act["entity"]) - set(plan.targets["entity"]))
    if unknown:
        raise ValueError(f"actuals_to_date names entities not in the plan: {unknown[:5]}")
    t = plan.targets
    week_end = t["week_start"] + pd.Timedelta(days=6)
    done = week_end <= as_of
    comp = t[done].merge(act, on=["entity", "week_start"], how="left").fillna({"actual": 0.0})
    comp["completion"] = np.where(comp["target"] > 0, comp["actual"] / comp["target"].where(comp["target"] > 0), np.nan)
    allrow = comp.groupby("entity", as_index=False)[["target", "actual"]].sum()
    allrow["week_start"] = pd.NaT
    allrow["completion"] = allrow["actual"] / allrow["target"].where(allrow["target"] > 0)
    allrow["entity_week"] = "ALL"
    comp["entity_week"] = "week"
    completion = pd.concat([comp, allrow], ignore_index=True)[
        ["entity", "entity_week", "week_start", "target", "actual", "completion"]
    ].rename(columns={"entity_week": "row"})

    quarter = t.groupby("entity")["target"].sum()
    got = act.groupby("entity")["actual"].sum().reindex(quarter.index, fill_value=0.0)
    remaining = (quarter - got).clip(lower=0.0)
    rest = t[~done].copy()
    new_rows = []
    for ent, g in rest.groupby("entity", sort=False):
        w = g["target"].to_numpy(float)
        w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
        new_rows.append(g.assign(target=remaining[ent] * w))
    rest = pd.concat(new_rows, ignore_index=True) if new_rows else rest

    rates = plan.rates
    if observed_rates is not None:
        rates = observed_rates
    elif data is not None:
        if isinstance(plan.rates, Mapping):
            rates = {e: estimate_rates(data, as_of, params, prior=r, since=plan.start,
                                       **({"rep_ids": [e]} if entity_col == "rep_id" else {"region": e}))
                     for e, r in plan.rates.items()}
        else:
            rates = estimate_rates(data, as_of, params, prior=plan.rates, since=plan.start)
    if pipeline is None and data is not None and data.opportunities is not None:
        pipeline = open_pipeline(data, as_of)
        if entity_col not in pipeline.columns:
            pipeline = None
    if rest.empty:
        new = replace(plan, targets=rest, weeks=plan.weeks.iloc[0:0], leads=plan.leads.iloc[0:0],
                      rates=rates, plan_from=as_of + pd.Timedelta(days=1), completion=completion)
        return new
    first = rest["week_start"].min()
    share = float(plan.gap["funnel_share"].iloc[0]) if "funnel_share" in plan.gap and len(plan.gap) else 1.0
    new = back_calculate(rest, rates, pipeline, start=max(first, as_of + pd.Timedelta(days=1)),
                         end=plan.end, entity_col=entity_col, funnel_share=share)
    return replace(new, start=plan.start, plan_from=as_of + pd.Timedelta(days=1),
                   completion=completion)


# --------------------------------------------------------------------------- shape

def diagnose_shape(
    pipeline: pd.DataFrame,
    rates: FunnelRates,
    *,
    by: str | None = "rep_id",
    params: FunnelParams = FunnelParams(),
) -> pd.DataFrame:
    """Funnel shape per entity: healthy, piled up at the pivot stage, or thin pivot / heavy top.

    In a steady funnel the stock at stage k is proportional to the flow into k times the
    time spent there: ``expected_k ∝ P(reach k from top) * dur[k]`` with
    ``P(reach k) = prod_{j<k} conv[j]``.  The observed stock shares are compared with the
    expected shares: ``ratio_k = observed_share_k / expected_share_k``.

    Rules (pivot = ``params.pivot_stage``, default C; top = the stages above it):

    * ``ratio_pivot >= pile_up_ratio`` (1.5) -> ``"piled_up"``: convert them now and
      refill the top;
    * ``ratio_pivot <= thin_ratio`` (0.6) and ``ratio_top >= top_heavy_ratio`` (1.2) ->
      ``"gap_coming"``: few acknowledged deals, many at the top -- revenue will dip after
      the current deals close;
    * otherwise ``"healthy"``.

    Parameters
    ----------
    pipeline : DataFrame
        Open opportunities with ``stage`` (and ``by``), e.g. :func:`open_pipeline`.
    by : str or None
        Column to group by; None = one funnel.

    Returns
    -------
    DataFrame
        One row per entity: ``n_<stage>`` counts, ``ratio_<stage>``, ``ratio_top``,
        ``shape`` and ``advice``.
    """
    stages = list(rates.stages)
    if params.pivot_stage not in stages:
        raise ValueError(f"pivot_stage={params.pivot_stage!r} is not a funnel stage {stages}")
    piv = stages.index(params.pivot_stage)
    reach = np.concatenate([[1.0], np.cumprod(rates.conversion[:-1])])
    expected = reach * np.maximum(rates.duration_days, 1e-9)
    expected = expected / expected.sum()
    p = pipeline.copy()
    if by is None:
        p["_all"] = "all"
        by = "_all"
    out = []
    for ent, g in p.groupby(by, sort=True):
        cnt = g["stage"].astype(str).value_counts().reindex(stages, fill_value=0).to_numpy(float)
        tot = cnt.sum()
        row = {"entity": ent, "n_open": tot}
        for s, c in zip(stages, cnt):
            row[f"n_{s}"] = c
        if tot == 0:
            row.update(shape="empty", advice="no open opportunities: fill the funnel from the top")
            out.append(row)
            continue
        ratio = (cnt / tot) / expected
        for s, r in zip(stages, ratio):
            row[f"ratio_{s}"] = r
        top = (cnt[:piv].sum() / tot) / expected[:piv].sum() if piv > 0 else np.nan
        row["ratio_top"] = top
        if ratio[piv] >= params.pile_up_ratio:
            shape, advice = "piled_up", f"many at {stages[piv]}: convert them now and refill the top"
        elif ratio[piv] <= params.thin_ratio and piv > 0 and top >= params.top_heavy_ratio:
            shape, advice = "gap_coming", (
                f"few at {stages[piv]}, many at the top: a gap is coming after current deals close;"
                " qualify and advance the top")
        else:
            shape, advice = "healthy", "each level shrinks by its conversion rate"
        row.update(shape=shape, advice=advice)
        out.append(row)
    return pd.DataFrame(out)
