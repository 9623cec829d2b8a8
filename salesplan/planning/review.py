"""The weekly review inside a quarter: pace against the plan of record, the landing
forecast, and the list of actions.

domain.md section 1: progress is reviewed every week; a deviation of more than 15% from
the plan to date triggers a root-cause search (``salesplan.planning.monitor``).  This module adds
what a weekly review needs on top of that:

* :func:`landing_forecast` - where the quarter lands, given the actuals to date;
* :func:`flag_deviations` - the 15% rule on any table of expected vs actual amounts;
* :func:`plan_from_tables` - a stored targets run, usable by :func:`salesplan.planning.monitor.progress`;
* :func:`action_list` - who is off pace, which late-stage deals to push, where to refill
  the top of the funnel.

Landing forecast
----------------
Revenue of a period is a sum of orders; given the customers' buying rates it is a
compound Poisson sum, whose variance is ``E[N] E[X^2] = mean * E[X^2] / E[X]`` with
``X`` the order value.  The forecast gives a prior for the quarter's level ``F`` (mean)
with relative uncertainty ``s_F`` (its paths' coefficient of variation, minus the part
that is order-by-order noise).  With ``p`` the share of the quarter's expected revenue
due by ``as_of`` (monthly forecast profile, weekday weights inside each month) and
``A`` the actual to date, the level ratio ``rho`` (actual level / forecast level) is
updated by precision weighting::

    rho_hat = A / (F p)        var_obs = k / (F p) + (rho_hat e_p)^2       k = E[X^2] / E[X]
    rho     = (1 / s_F^2 + rho_hat / var_obs) / (1 / s_F^2 + 1 / var_obs)
    s_rho^2 = 1 / (1 / s_F^2 + 1 / var_obs)

    remaining R: mean  F (1 - p) rho
                 var   (F (1 - p))^2 s_rho^2  +  F (1 - p) rho k
    landing L = A + R  (normal), interval L +- z sd, P(make target) = P(L >= target)

Open pipeline (``pipeline=``, optional).  The forecast's remaining ``R`` already holds the
revenue that the *usual* open pipeline brings; only the excess of the scored pipeline over
that counts (the ``excess`` rule of :mod:`salesplan.planning.targets`, same ``rho``).  With the deals
open at ``as_of`` expected to close by the quarter's end (``in_horizon``), amounts ``a_i``
and scored win probabilities ``p_i`` (:func:`salesplan.planning.pipeline.scored_pipeline`)::

    W = sum a_i p_i      V = sum a_i^2 p_i (1 - p_i)      (independent Bernoulli wins)
    excess X = max(0, W - rho_pipe R)                 f = X / W
    landing L = A + R + X,   var += f^2 V   (the excess taken as the share f of every deal)

``rho_pipe`` = pipeline expected at a quarter's start / that quarter's revenue
(:func:`salesplan.planning.targets.pipeline_rho`), applied to the expected rest ``R``.

With ``pipeline_beta=(beta, sd)`` the ``backtest`` rule of :mod:`salesplan.planning.targets`
(:func:`salesplan.planning.targets.pipeline_backtest_fit`: ``beta`` = the share of the pipeline beyond
the usual that the company's own back-test shows the forecast misses, ``rho_pipe`` its
``z_bar`` or the region's ``rho``) replaces the excess::

    X = beta (W - rho_pipe R)   (may be negative: a thin pipeline lowers the landing)
    f = |X| / W,   var += f^2 V + sd^2 (W - rho_pipe R)^2

``e_p`` is the relative uncertainty of the pace share (``LandingParams.pace_error``).
``k`` is estimated from the order values of the ``history_days`` before the quarter
(orders as in :mod:`salesplan.data.orders`), times the over-dispersion ``phi``
of weekly revenue (:func:`revenue_dispersion`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.data.checks import as_date, check_number
from salesplan.data.orders import order_values
from salesplan.data.paths import SamplePaths
from salesplan.planning.monitor import month_pace, weekday_weights_checked

__all__ = [
    "forecast_moments",
    "LandingParams",
    "action_list",
    "flag_deviations",
    "landing_forecast",
    "orders_with_region",
    "order_value_moments",
    "pipeline_by_entity",
    "pipeline_data_end",
    "pace_share",
    "plan_from_tables",
    "revenue_dispersion",
    "run_rate_basis",
    "weekday_profile",
]


@dataclass(frozen=True)
class LandingParams:
    """Parameters of :func:`landing_forecast`.

    Parameters
    ----------
    interval : float in (0, 1)
        Central probability of the landing interval (default 0.80: P10-P90).
    weekday_weights : 7 floats >= 0
        Selling weight of Monday..Sunday for pacing within a month.
    prior_cv : float > 0
        Relative uncertainty of the forecast's level when no sample paths give it
        (default 0.10).
    min_prior_cv : float > 0
        Floor of the level uncertainty taken from paths (default 0.02).
    history_days : int >= 30
        Days before the quarter whose orders give the order-value moments.
    pace_error : float >= 0
        Relative uncertainty of the pace share ``p`` (the within-quarter profile is itself
        a forecast): adds ``(rho_hat * pace_error)^2`` to the variance of the run-rate
        ratio.  Default 0.03, set on simulated companies (seeds 100-139 of
        :func:`salesplan.demo.generator.generate`, not those of the calibration test).
    """

    interval: float = 0.80
    weekday_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
    prior_cv: float = 0.10
    min_prior_cv: float = 0.02
    history_days: int = 365
    pace_error: float = 0.03

    def __post_init__(self):
        check_number("interval", self.interval, 0, 1, lo_open=True, hi_open=True,
                     what=" (a probability, e.g. 0.8)")
        object.__setattr__(self, "weekday_weights", weekday_weights_checked(self.weekday_weights))
        for name in ("prior_cv", "min_prior_cv"):
            check_number(name, getattr(self, name), 0, lo_open=True, what=" (a fraction, e.g. 0.10)")
        check_number("pace_error", self.pace_error, 0, what=" (a fraction, e.g. 0.03)")
        check_number("history_days", self.history_days, 30, integer=True, what=" (days)")


def pace_share(month_means: pd.Series, as_of, weekday_weights=(1, 1, 1, 1, 1, 0, 0)) -> float:
    """Share of a quarter's expected revenue due by ``as_of`` (inclusive).

    ``month_means``: expected revenue per month (index = month start).  Each month's
    amount is spread over its days by ``weekday_weights``::

        p = sum_m mean_m * sum_{d in m, d <= as_of} w_d / sum_{d in m} w_d  /  sum_m mean_m
    """
    values = month_means.to_numpy(float)
    total = float(values.sum())
    if not len(values) or total <= 0:
        return 0.0
    share = month_pace([pd.Timestamp(m) for m in month_means.index], as_of, weekday_weights)
    return float((values * share).sum() / total)


def weekday_profile(orders: pd.DataFrame, end, days: int = 365) -> tuple[float, ...]:
    """Selling weight of Monday..Sunday: net revenue per weekday over the ``days`` up to
    ``end``, scaled to a mean of 1 (weekdays without sales get 0)."""
    end = pd.Timestamp(end)
    o = orders[(orders["order_date"] <= end) & (orders["order_date"] > end - pd.Timedelta(days=days))]
    by = o.groupby(o["order_date"].dt.weekday)["amount"].sum().reindex(range(7), fill_value=0.0)
    by = by.clip(lower=0.0)
    if by.sum() <= 0:
        return (1.0,) * 7
    return tuple(float(x) for x in by / by.mean())


def order_value_moments(orders: pd.DataFrame, end, days: int = 365) -> tuple[float, float]:
    """``(E[X], E[X^2] / E[X])`` of order values (currency) over the ``days`` up to ``end``.

    Order value = the order's lines summed (:mod:`salesplan.data.orders`: one customer's
    non-negative lines of one day; without ``customer_id`` each line is one order);
    orders of value <= 0 are left out.  ``E[X^2] / E[X]`` is the variance of revenue per unit of expected revenue of a
    compound Poisson sum of such orders.
    """
    end = pd.Timestamp(end)
    o = orders[(orders["order_date"] <= end) & (orders["order_date"] > end - pd.Timedelta(days=days))]
    x = order_values(o)["value"].to_numpy(float) if "customer_id" in o.columns \
        else o["amount"].to_numpy(float)
    x = x[x > 0]
    if len(x) < 10:
        raise ValueError(f"order_value_moments: only {len(x)} orders with a positive value in the "
                         f"{days} days to {end.date()}; expected at least 10")
    return float(x.mean()), float((x ** 2).mean() / x.mean())


def revenue_dispersion(orders: pd.DataFrame, end, days: int = 365) -> tuple[float, float]:
    """Variance of revenue per unit of expected revenue: ``(k_eff, phi)`` (currency).

    ``k = E[X^2] / E[X]`` of order values (:func:`order_value_moments`) is the compound
    Poisson variance per unit of revenue.  Real revenue is more dispersed (new customers
    bring clusters of orders, large accounts order in bursts): ``phi`` measures it on the
    weekly revenue ``W_t`` of the ``days`` up to ``end`` against the mean of the two weeks
    on each side ``E_t``::

        phi = max(1, sum (W_t - E_t)^2 / sum (k E_t) / (1 + 1/4))

    (the ``1 + 1/4`` removes the noise of ``E_t`` itself); ``k_eff = phi * k``.
    """
    end = pd.Timestamp(end)
    _, k = order_value_moments(orders, end, days)
    o = orders[(orders["order_date"] <= end) & (orders["order_date"] > end - pd.Timedelta(days=days))]
    d = o.groupby(o["order_date"].dt.normalize())["amount"].sum()
    d = d.reindex(pd.date_range(end - pd.Timedelta(days=days - 1), end, freq="D"), fill_value=0.0)
    w = d.resample("W-SUN").sum().iloc[1:-1]
    e = (w.rolling(5, center=True).sum() - w) / 4
    ok = e.notna() & (e > 0)
    if ok.sum() < 8:
        return k, 1.0
    phi = float(((w - e)[ok] ** 2).sum() / (k * e[ok]).sum() / 1.25)
    phi = max(1.0, phi)
    return phi * k, phi


def forecast_moments(paths: SamplePaths) -> tuple[pd.DataFrame, pd.Series]:
    """The forecast inputs of :func:`landing_forecast` from the plan quarter's sample paths.

    Parameters
    ----------
    paths : SamplePaths
        Entity x path x month revenue of the plan quarter (currency), e.g. the stored
        forecast run's ``paths`` table read with ``SamplePaths.from_frame(frame,
        series_col="node", date_col="month", value_col="value")``.

    Returns
    -------
    (DataFrame, Series)
        ``forecast_months`` (``entity, month, mean``: the mean over paths per month) and
        ``forecast_cv`` (entity -> standard deviation over paths of the quarter total,
        ``ddof=1``, divided by its mean).
    """
    if not isinstance(paths, SamplePaths):
        raise TypeError(f"paths: expected SamplePaths, got {type(paths).__name__}")
    dates = paths.dates if paths.dates is not None else pd.RangeIndex(paths.horizon)
    mean = paths.values.mean(axis=1)  # series x month
    months = pd.DataFrame({
        "entity": np.repeat(np.asarray(paths.series, dtype=object), paths.horizon),
        "month": np.tile(np.asarray(dates), paths.n_series),
        "mean": mean.reshape(-1),
    })
    tot = paths.values.sum(axis=2)  # series x path
    cv = pd.Series(tot.std(axis=1, ddof=1) / tot.mean(axis=1), index=pd.Index(paths.series),
                   name="forecast_cv")
    return months, cv


def landing_forecast(
    actual_to_date: pd.Series,
    forecast_months: pd.DataFrame,
    as_of,
    *,
    targets: pd.Series | None = None,
    k: float | pd.Series,
    forecast_cv: pd.Series | None = None,
    run_rate_basis: pd.Series | None = None,
    pipeline: pd.DataFrame | None = None,
    pipeline_rho: float | pd.Series | None = None,
    pipeline_beta: tuple[float, float] | None = None,
    params: LandingParams = LandingParams(),
) -> pd.DataFrame:
    """Where the quarter lands per entity, conditioning on the actuals to date.

    Parameters
    ----------
    actual_to_date : Series
        Entity -> net revenue from the first day of the quarter to ``as_of`` (currency).
    forecast_months : DataFrame
        ``entity, month, mean``: the forecast's expected revenue per month of the quarter
        (made before the quarter; e.g. the mean of the forecast run's paths).
    as_of : date-like
        Last day of actuals (inclusive).
    targets : Series, optional
        Entity -> quarter target; gives ``p_make_target`` and ``gap_to_target``.
    k : float or Series
        Revenue variance per unit of expected revenue (currency), per entity or one for
        all: ``k_eff`` of :func:`revenue_dispersion`.
    forecast_cv : Series, optional
        Entity -> coefficient of variation of the forecast's quarter total (from its
        paths); the level uncertainty is ``sqrt(cv^2 - k / F)``, at least
        ``params.min_prior_cv``.  Default ``params.prior_cv``.
    run_rate_basis : Series, optional
        Entity -> the amount to date that measures the pace (default ``actual_to_date``).
        Returns booked early in a quarter belong to the sales of the quarter before; pass
        the gross sales to date times ``1 - return share`` (:func:`run_rate_basis`) so
        that they do not read as a slow start.
    pipeline : DataFrame, optional
        Index entity, columns ``expected`` (``W``) and ``variance`` (``V``): the scored
        open pipeline expected to close by the quarter's end (:func:`pipeline_by_entity`).
        Entities absent get no pipeline term.
    pipeline_rho : float or Series, optional
        ``rho_pipe`` (module docstring), one for all or per entity (e.g. the ``rho`` per
        region of :func:`salesplan.planning.targets.pipeline_backtest_fit`); required with
        ``pipeline``.  NaN or an entity absent from the Series: no history to measure the
        usual pipeline, so no pipeline term.
    pipeline_beta : (float, float), optional
        ``(beta, sd)`` of the ``backtest`` rule (module docstring); None (default): the
        ``excess`` rule ``X = max(0, W - rho_pipe R)``.
    params : LandingParams

    Returns
    -------
    DataFrame
        One row per entity: ``forecast`` (F), ``pace_share`` (p), ``actual_to_date``,
        ``expected_to_date`` (F p), ``run_rate_ratio`` (rho_hat), ``level_ratio`` (rho),
        ``remaining``, ``landing``, ``landing_sd``, ``landing_lo``, ``landing_hi``
        (the central ``params.interval``); with ``pipeline`` also ``pipeline_expected``
        (``W``), ``pipeline_usual`` (``rho_pipe R``), ``pipeline_excess`` (``X``, included
        in ``landing``) and ``pipeline_sd`` (``f sqrt(V)``); with targets ``target``,
        ``gap_to_target`` (landing - target) and ``p_make_target``.
    """
    as_of = as_date(as_of)
    if pipeline is not None:
        if pipeline_rho is None:
            raise ValueError("landing_forecast: pipeline given without pipeline_rho (the usual "
                             "pipeline / revenue ratio, salesplan.planning.targets.pipeline_rho)")
        miss = {"expected", "variance"} - set(pipeline.columns)
        if miss:
            raise ValueError(f"landing_forecast: pipeline lacks column(s) {sorted(miss)}; "
                             "expected index entity, columns expected, variance")
    fm = forecast_months.copy()
    need = {"entity", "month", "mean"}
    if not need <= set(fm.columns):
        raise ValueError(f"forecast_months: expected columns {sorted(need)}, got {list(fm.columns)}")
    fm["month"] = pd.to_datetime(fm["month"])
    z = stats.norm.ppf(0.5 + params.interval / 2)
    rows = []
    for ent, g in fm.groupby("entity", sort=False):
        months = g.groupby("month")["mean"].sum().sort_index()
        F = float(months.sum())
        p = pace_share(months, as_of, params.weekday_weights)
        A = float(actual_to_date.get(ent, 0.0))
        B = float(run_rate_basis.get(ent, 0.0)) if run_rate_basis is not None else A
        kk = float(k[ent]) if isinstance(k, pd.Series) else float(k)
        if F <= 0:
            rows.append(dict(entity=ent, forecast=F, pace_share=p, actual_to_date=A,
                             expected_to_date=0.0, run_rate_ratio=np.nan, level_ratio=np.nan,
                             remaining=0.0, landing=A, landing_sd=0.0, landing_lo=A, landing_hi=A,
                             **({} if pipeline is None else dict(pipeline_expected=0.0, pipeline_usual=0.0,
                                                                  pipeline_excess=0.0, pipeline_sd=0.0))))
            continue
        if forecast_cv is not None and ent in forecast_cv.index and np.isfinite(forecast_cv[ent]):
            s2 = max(float(forecast_cv[ent]) ** 2 - kk / F, params.min_prior_cv ** 2)
        else:
            s2 = params.prior_cv ** 2
        if p > 0:
            rho_hat = B / (F * p)
            var_obs = kk / (F * p) + (rho_hat * params.pace_error) ** 2
            prec = 1 / s2 + 1 / var_obs
            rho = (1 / s2 + rho_hat / var_obs) / prec
            s_rho2 = 1 / prec
        else:
            rho_hat, rho, s_rho2 = np.nan, 1.0, s2
        rest = F * (1 - p)
        r_mean = rest * max(rho, 0.0)
        r_var = rest ** 2 * s_rho2 + r_mean * kk
        extra = {}
        if pipeline is not None:
            W = float(pipeline["expected"].get(ent, 0.0))
            V = float(pipeline["variance"].get(ent, 0.0))
            rho_p = (float(pipeline_rho.get(ent, np.nan)) if isinstance(pipeline_rho, pd.Series)
                     else float(pipeline_rho))
            usual = rho_p * r_mean if np.isfinite(rho_p) else W
            if pipeline_beta is None:
                X, v_b = max(0.0, W - usual), 0.0
            else:
                X, v_b = pipeline_beta[0] * (W - usual), (pipeline_beta[1] * (W - usual)) ** 2
            f = abs(X) / W if W > 0 else 0.0
            r_mean, r_var = r_mean + X, r_var + f * f * V + v_b
            extra = dict(pipeline_expected=W, pipeline_usual=usual, pipeline_excess=X,
                         pipeline_sd=float(np.sqrt(f * f * max(V, 0.0) + v_b)))
        L, sd = A + r_mean, float(np.sqrt(max(r_var, 0.0)))
        rows.append(dict(entity=ent, forecast=F, pace_share=p, actual_to_date=A,
                         expected_to_date=F * p, run_rate_ratio=rho_hat, level_ratio=rho,
                         remaining=r_mean, landing=L, landing_sd=sd,
                         landing_lo=L - z * sd, landing_hi=L + z * sd, **extra))
    out = pd.DataFrame(rows)
    if targets is not None:
        t = out["entity"].map(targets).astype(float)
        out["target"] = t
        out["gap_to_target"] = out["landing"] - t
        sd = out["landing_sd"].where(out["landing_sd"] > 0)
        p_make = 1 - stats.norm.cdf((t - out["landing"]) / sd)
        out["p_make_target"] = np.where(sd.isna(), (out["landing"] >= t).astype(float), p_make)
        out.loc[t.isna(), "p_make_target"] = np.nan
    return out


def pipeline_by_entity(scored: pd.DataFrame, *, by: str = "region", total: str | None = "total",
                       column: str = "p_win") -> pd.DataFrame:
    """Expected won value ``W`` and its variance ``V`` of the open deals closing in the horizon.

    ``W_e = sum_{i in e} a_i p_i``, ``V_e = sum_{i in e} a_i^2 p_i (1 - p_i)`` (currency,
    currency^2) over the rows of ``scored`` (:func:`salesplan.planning.pipeline.scored_pipeline`) with
    ``in_horizon``; ``p_i = scored[column]``; wins independent.  One row per value of
    ``by`` (missing: ``"(none)"``) and, unless ``total`` is None, a row ``total`` over all deals.

    Returns
    -------
    DataFrame
        Index ``entity``; columns ``expected``, ``variance``, ``n_deals``.
    """
    d = scored[scored["in_horizon"].astype(bool)]
    a = d["amount"].to_numpy(float)
    p = d[column].to_numpy(float)
    f = pd.DataFrame({"entity": d[by].astype(object).fillna("(none)").astype(str).to_numpy(),
                      "expected": a * p, "variance": a * a * p * (1 - p), "n_deals": 1})
    out = f.groupby("entity").sum()
    if total is not None:
        out.loc[total] = [float(f["expected"].sum()), float(f["variance"].sum()), len(f)]
    out["n_deals"] = out["n_deals"].astype(int)
    return out


def pipeline_data_end(data) -> pd.Timestamp | None:
    """Last day the opportunity data know of: the latest ``created_date``, ``closed_date``
    (table ``opportunities``) or ``entered_date`` (``stage_history``); None without
    opportunities.

    A pipeline scored on a review day long after this date is stale: its deals look open
    although some have closed, and they keep their full value while the expected rest of
    the quarter shrinks, so the landing forecast's pipeline term grows without cause.  The
    weekly review adds the pipeline term only when this date is within a week of the review
    day.
    """
    if data.opportunities is None or len(data.opportunities) == 0:
        return None
    o = data.opportunities
    dates = [pd.to_datetime(o["created_date"]).max(), pd.to_datetime(o["closed_date"]).max()]
    if data.stage_history is not None and len(data.stage_history):
        dates.append(pd.to_datetime(data.stage_history["entered_date"]).max())
    dates = [d for d in dates if pd.notna(d)]
    return pd.Timestamp(max(dates)).normalize() if dates else None


def run_rate_basis(orders: pd.DataFrame, start, as_of, *, by: str | None = None,
                   history_days: int = 365) -> pd.Series:
    """Gross sales from ``start`` to ``as_of`` times ``1 - return share`` (per ``by``).

    ``return share`` = -(negative amounts) / positive amounts over the ``history_days``
    before ``start``: the net sales the pace implies, without the returns of the previous
    quarter's orders that are booked early in this one.
    """
    start, as_of = as_date(start, "start"), as_date(as_of)
    h = orders[(orders["order_date"] < start) & (orders["order_date"] >= start - pd.Timedelta(days=history_days))]
    gross_h = h.loc[h["amount"] > 0, "amount"].sum()
    share = float(-h.loc[h["amount"] < 0, "amount"].sum() / gross_h) if gross_h > 0 else 0.0
    cur = orders[(orders["order_date"] >= start) & (orders["order_date"] <= as_of) & (orders["amount"] > 0)]
    if by is None:
        return pd.Series({"company": float(cur["amount"].sum()) * (1 - share)})
    return cur.groupby(by)["amount"].sum() * (1 - share)


def orders_with_region(data, reps: pd.DataFrame | None = None) -> pd.DataFrame:
    """``data.orders`` with a ``region`` column: the customer's region, else the region of
    the order's rep (``reps``: ``rep_id, region``; default ``data.reps``), else ``"(none)"``."""
    o = data.orders.copy()
    reg = pd.Series(np.nan, index=o.index, dtype=object)
    if data.customers is not None:
        reg = o["customer_id"].map(data.customers.set_index("customer_id")["region"])
    reps = reps if reps is not None else data.reps
    if reps is not None:
        reg = reg.where(reg.notna(), o["rep_id"].map(reps.drop_duplicates("rep_id").set_index("rep_id")["region"]))
    o["region"] = reg.astype(object).where(reg.notna(), "(none)").astype(str)
    return o


def flag_deviations(table: pd.DataFrame, tolerance: float = 0.15, *, expected: str = "expected",
                    actual: str = "actual", min_expected: float = 0.0) -> pd.DataFrame:
    """The 15% rule: ``deviation = actual / expected - 1``; flag ``|deviation| > tolerance``.

    Returns ``table`` with ``deviation`` and ``flag`` (``"ahead"``, ``"behind"`` or ``""``);
    rows whose expected amount is at most ``min_expected`` are never flagged.
    """
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance={tolerance!r}: expected a fraction in (0, 1), e.g. 0.15")
    e = table[expected].astype(float)
    a = table[actual].astype(float)
    dev = (a / e.where(e > 0)) - 1
    flag = np.where((dev.abs() > tolerance + 1e-12) & (e > min_expected),
                    np.where(dev > 0, "ahead", "behind"), "")
    return table.assign(deviation=dev, flag=flag)


def plan_from_tables(tables: dict, period: str):
    """A stored targets run as the object :func:`salesplan.planning.monitor.progress` reads
    (``params.period``, ``params.over_assignment``, ``reps``, ``months``)."""
    company = tables["company"]
    factor = float(company["over_assignment"].iloc[0]) if "over_assignment" in company.columns else \
        float(company["quota"].iloc[0] / company["target"].iloc[0])
    reps = tables["reps"].copy()
    if "vacant" not in reps.columns:
        reps["vacant"] = False
    return SimpleNamespace(params=SimpleNamespace(period=pd.Period(period, freq="Q"), over_assignment=factor),
                           reps=reps, months=tables["months"], company=company,
                           regions=tables.get("regions"), weeks=tables.get("weeks"))


def action_list(summary: pd.DataFrame, *, late_deals: pd.DataFrame | None = None,
                shape: pd.DataFrame | None = None, names: pd.Series | None = None,
                max_deals: int = 10) -> pd.DataFrame:
    """The week's actions: reps and regions off pace, late-stage deals to push, funnel
    tops to refill.

    Parameters
    ----------
    summary : DataFrame
        :attr:`salesplan.planning.monitor.MonitorReport.summary` (``level, entity, region,
        expected_to_date, actual_to_date, gap, deviation, flag``).
    late_deals : DataFrame, optional
        Open opportunities at the late stages (``opportunity_id, rep_id, customer_id,
        stage, amount``), largest first.
    shape : DataFrame, optional
        :func:`salesplan.planning.funnel.diagnose_shape` by region (``entity, shape, advice``).
    names : Series, optional
        rep_id -> name.

    Returns
    -------
    DataFrame
        ``priority, who, what, why`` (priority 1 = first).
    """
    rows = []
    s = summary[summary["flag"] == "behind"].sort_values("gap")
    for r in s.itertuples(index=False):
        if r.level == "company":
            continue
        who = r.entity if names is None else f"{r.entity} {names.get(r.entity, '')}".strip()
        what = ("review the region's pipeline with its manager" if r.level == "region"
                else "1:1 this week: daily call plan, target-tracking sheet")
        rows.append(dict(priority=1 if r.level == "region" else 2, who=f"{r.level} {who}", what=what,
                         why=f"{r.deviation:+.0%} vs plan to date ({r.gap:,.0f} behind)"))
    if late_deals is not None and len(late_deals):
        for d in late_deals.head(max_deals).itertuples(index=False):
            rows.append(dict(priority=3, who=f"rep {d.rep_id}",
                             what=f"push deal {d.opportunity_id} ({d.customer_id}) to close",
                             why=f"open at stage {d.stage}, {d.amount:,.0f}"))
    if shape is not None and len(shape):
        for r in shape[shape["shape"].isin(["gap_coming", "piled_up", "empty"])].itertuples(index=False):
            rows.append(dict(priority=4, who=f"region {r.entity}", what=r.advice, why=f"funnel shape: {r.shape}"))
    return pd.DataFrame(rows, columns=["priority", "who", "what", "why"]).sort_values(
        "priority", kind="stable", ignore_index=True)
