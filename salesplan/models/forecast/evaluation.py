"""Rolling-origin backtests and the accuracy report (MASE, sMAPE, bias, coverage)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.models.forecast.data import canonical_freq, season_length_of, validate_long
from salesplan.models.forecast.engine import Forecaster, _mase_scale


def cross_validation(
    df: pd.DataFrame,
    h: int,
    n_windows: int = 3,
    step: int | None = None,
    methods=None,
    baseline: str = "snaive",
    level=None,
    model: Forecaster | None = None,
    **forecaster_kwargs,
) -> pd.DataFrame:
    """Rolling-origin backtest: refit at each origin, forecast ``h`` periods, compare.

    Origins are ``T - h - step*k`` for ``k = 0..n_windows-1`` on the common calendar (the
    last ``ds`` of the frame); a series enters a window when it has history before the
    cutoff. Each method is a :class:`Forecaster` fitted on the data up to the cutoff
    (its own interval calibration uses only that data, so coverage is honest).

    Parameters
    ----------
    df : DataFrame
        Long format ``unique_id, ds, y``.
    h : int
        Horizon in periods.
    n_windows : int
        Number of origins.
    step : int, optional
        Periods between origins (default ``h``).
    methods : iterable of str, optional
        Forecaster methods to evaluate (``"auto"`` allowed); default the method of
        ``model`` (``"combo"`` without one). ``baseline`` is added.
    baseline : str
        Reference method for relative scores (seasonal naive).
    level : tuple of int, optional
        Interval levels recorded (default ``(80, 95)``, or the levels of ``model``).
    model : Forecaster, optional
        The configuration scored, e.g. the plan's own fitted forecaster: every window
        fits a :class:`Forecaster` with its parameters (``method`` set to each of
        ``methods``) and, when ``model`` was fitted with ``groups``, the groups of the
        window's series (a hierarchy's levels: per-level calibration and, with
        ``global_pool="group"``, one global network per level). Not together with
        ``level`` or ``forecaster_kwargs``.
    **forecaster_kwargs
        Without ``model``: passed to :class:`Forecaster` (``freq``, ``n_jobs``,
        ``cache_dir`` ...).

    Returns
    -------
    DataFrame
        ``unique_id, method, cutoff, ds, h, y, mean, lo-L, hi-L, model, error,
        abs_scaled_error, smape`` with ``error = y - mean``, ``abs_scaled_error =
        |error| / mean|y_t - y_{t-m}|`` (in-sample at the cutoff) and ``smape =
        200 |y - mean| / (|y| + |mean|)`` (0 when both are 0).
    """
    params, groups = _scored_configuration(model, level, forecaster_kwargs)
    freq = params["freq"]
    clean = validate_long(df, freq=freq, allow_negative=params["allow_negative"])[
        ["unique_id", "ds", "y"]]
    m = int(params["season_length"] or season_length_of(freq))
    step = int(step or h)
    end = clean["ds"].max()
    periods = pd.date_range(end=end, periods=h + step * (n_windows - 1) + 1, freq=freq)
    methods = list(dict.fromkeys([*(methods or (params["method"],)), baseline]))
    out = []
    for k in range(n_windows):
        cutoff = periods[-(h + step * k) - 1]
        train = clean[clean["ds"] <= cutoff]
        test = clean[(clean["ds"] > cutoff) & (clean["ds"] <= cutoff + (h) * _offset(freq))]
        if train.empty or test.empty:
            continue
        keep = set(train["unique_id"]) & set(test["unique_id"])
        train = train[train["unique_id"].isin(keep)]
        scales = {u: _mase_scale(g["y"].to_numpy(), m) for u, g in train.groupby("unique_id")}
        fit_groups = {u: g for u, g in groups.items() if u in keep}  # the window's series
        for meth in methods:
            fc = Forecaster(**{**params, "method": meth}).fit(train, groups=fit_groups)
            p = fc.predict(h)
            p = p.merge(test, on=["unique_id", "ds"], how="inner")
            p["h"] = p.groupby("unique_id").cumcount() + 1
            p["method"] = meth
            p["cutoff"] = cutoff
            p["scale"] = p["unique_id"].map(scales)
            out.append(p)
    if not out:
        raise ValueError(f"cross_validation: no window with both history and {h} test periods; "
                         f"the data ends {end.date()}")
    res = pd.concat(out, ignore_index=True)
    res["error"] = res["y"] - res["mean"]
    res["abs_scaled_error"] = np.abs(res["error"]) / res["scale"]
    den = np.abs(res["y"]) + np.abs(res["mean"])
    res["smape"] = np.where(den > 0, 200 * np.abs(res["error"]) / np.where(den > 0, den, 1), 0.0)
    cols = ["unique_id", "method", "cutoff", "ds", "h", "y", "mean"]
    cols += [c for c in res.columns if c.startswith(("lo-", "hi-"))]
    cols += ["model", "error", "abs_scaled_error", "smape"]
    return res[cols]


def _scored_configuration(model, level, forecaster_kwargs) -> tuple[dict, dict]:
    """``(params, groups)`` of the forecaster :func:`cross_validation` fits at every window:
    the :class:`Forecaster` parameters (``freq`` canonical) and the group of each series
    (``{}``: one group)."""
    if model is None:
        model = Forecaster(level=(80, 95) if level is None else level, **forecaster_kwargs)
    elif level is not None or forecaster_kwargs:
        raise ValueError("cross_validation: pass either model= or the Forecaster keywords "
                         f"(level, {', '.join(forecaster_kwargs) or '...'}), not both")
    params = model.get_params()
    params["freq"] = canonical_freq(params["freq"])
    return params, (model.groups_ if hasattr(model, "series_") else {})


def _offset(freq):
    return pd.tseries.frequencies.to_offset(freq)


def accuracy_report(cv_results: pd.DataFrame, baseline: str = "snaive") -> dict[str, pd.DataFrame]:
    """MASE, sMAPE, bias and interval coverage per series and overall.

    Parameters
    ----------
    cv_results : DataFrame
        Output of :func:`cross_validation` (needs ``unique_id, method, y, mean,
        abs_scaled_error, smape``; ``lo-L/hi-L`` for coverage).
    baseline : str
        Method the relative MASE is computed against (``rel_mase = MASE / MASE_baseline``
        of the same series, overall as the geometric mean of the ratios).

    Returns
    -------
    dict
        ``"per_series"``: ``unique_id, method, mase, smape, bias, rel_mase, coverage-L``;
        ``"overall"``: one row per method with means (``bias`` = mean(mean - y), in units
        of ``y``; ``bias_pct`` = sum(mean - y) / sum|y| in percent).
    """
    need = {"unique_id", "method", "y", "mean", "abs_scaled_error", "smape"}
    miss = need - set(cv_results.columns)
    if miss:
        raise ValueError(f"accuracy_report: cv_results lacks columns {sorted(miss)}; pass the "
                         "output of cross_validation")
    r = cv_results.copy()
    r["fe"] = r["mean"] - r["y"]
    levels = sorted({int(c[3:]) for c in r.columns if c.startswith("lo-")})
    for lv in levels:
        r[f"coverage-{lv}"] = ((r["y"] >= r[f"lo-{lv}"]) & (r["y"] <= r[f"hi-{lv}"])).astype(float)
    agg = {"mase": ("abs_scaled_error", "mean"), "smape": ("smape", "mean"),
           "bias": ("fe", "mean"), "abs_y": ("y", lambda s: np.abs(s).sum()),
           "sum_fe": ("fe", "sum")}
    for lv in levels:
        agg[f"coverage-{lv}"] = (f"coverage-{lv}", "mean")
    per = r.groupby(["unique_id", "method"], sort=True).agg(**agg).reset_index()
    if baseline in set(per["method"]):
        base = per[per["method"] == baseline].set_index("unique_id")["mase"]
        per["rel_mase"] = per["mase"] / per["unique_id"].map(base)
    else:
        per["rel_mase"] = np.nan
    overall = []
    for meth, g in per.groupby("method", sort=False):
        rel = g["rel_mase"].replace([np.inf, 0], np.nan).dropna()
        row = {"method": meth, "n_series": len(g), "mase": g["mase"].mean(),
               "smape": g["smape"].mean(), "bias": g["bias"].mean(),
               "bias_pct": 100 * g["sum_fe"].sum() / max(g["abs_y"].sum(), 1e-12),
               "rel_mase": float(np.exp(np.log(rel).mean())) if len(rel) else np.nan}
        rr = r[r["method"] == meth]
        for lv in levels:
            row[f"coverage-{lv}"] = rr[f"coverage-{lv}"].mean()
        overall.append(row)
    per = per.drop(columns=["abs_y", "sum_fe"])
    return {"per_series": per, "overall": pd.DataFrame(overall).sort_values("mase",
                                                                             ignore_index=True)}
