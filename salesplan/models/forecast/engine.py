"""The :class:`Forecaster`: per-series models, fallbacks, calibrated intervals, paths.

Uncertainty model
-----------------
For series ``i`` with one-step in-sample RMSE ``s_i`` (the *scale*), the h-step error
``e_{i,T+j}`` is modelled as ``s_i * sum_{l<=j} T_{jl} eps_{i,l}`` with standard
normal innovations ``eps`` (correlated across series, independent over time) and ``T``
the Cholesky factor of ``Sigma_{jl} = g_j g_l C_{jl}`` (below).  The widths are not
taken from any model: they are calibrated by split conformal
prediction on rolling-origin backtests, pooled over series.  For a nominal level
``L`` (e.g. 80) and horizon ``j``::

    q_{L,j} = quantile_{L/100}( |y_{T+j} - f_{T+j}| / s_i )   over series and windows

and the interval is ``f_{T+j} -/+ q_{L,j} s_i``.  The sample paths use
``g_j = q_{80,j} / z_{0.9}`` as the h-step standard deviation multiplier and the
cross-horizon correlation ``C_{jl} = rho_{|j-l|}`` estimated from the same backtest
(lag correlations of the standardised errors of one window, pooled; a level error shared
by the months of a window is what widens the sum of the months), so path quantiles
reproduce the 80% interval of every month *and* the sum of the h months (e.g. the
quarter) has the spread of the backtest sums.  ``fit(groups=...)`` rescales each group's
(e.g. hierarchy level's) scales so its own backtest errors are covered.  Without a
backtest (``calibrate=False`` or no series long enough) ``q_{L,j} = z_L * sqrt(j)`` and
``C_{jl} = g_min / g_max`` (a local-level error process: errors accumulate).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import warnings
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator

from salesplan.data.fingerprinting import frame_fingerprint
from salesplan.data.paths import SamplePaths
from salesplan.execution import backend_for
from salesplan.models.forecast import models as M
from salesplan.models.forecast.data import canonical_freq, season_length_of, validate_long

CACHE_VERSION = "forecast-2"


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """SHA-256 of the forecast package's source: a changed model never reads a stale cache."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class SeriesState:
    """Everything learned for one series."""

    uid: str
    kind: str  # model | zero (all-zero or dormant) | short | new
    method: str
    reason: str
    scale: float
    model: object = None
    level: float = 0.0  # short/new fallbacks
    profile: np.ndarray | None = None
    mean_override: np.ndarray | None = None
    nonneg: bool = True
    n: int = 0
    resid: np.ndarray | None = field(default=None, repr=False)


def _split_series(clean: pd.DataFrame) -> tuple[dict, dict]:
    """Dates (``datetime64[ns]``) and values (float) of every series of a long frame
    validated by :func:`~salesplan.models.forecast.data.validate_long` (so sorted by
    ``unique_id, ds``), by id in that order: slices of the columns, not one sub-frame per
    series."""
    uid = clean["unique_id"].to_numpy()
    ds = clean["ds"].to_numpy().astype("datetime64[ns]")
    y = clean["y"].to_numpy(dtype=float)
    if len(uid) == 0:
        return {}, {}
    cut = np.flatnonzero(uid[1:] != uid[:-1]) + 1
    starts, ends = np.r_[0, cut], np.r_[cut, len(uid)]
    ids = [str(uid[a]) for a in starts]
    dates = {u: ds[a:b] for u, a, b in zip(ids, starts, ends)}
    return dates, {u: y[a:b] for u, a, b in zip(ids, starts, ends)}


def _rmse(y, fitted):
    """Robust one-step RMSE: the first 2 residuals (start-up) are dropped and residuals
    are winsorised at 5 robust standard deviations (1.4826 * MAD) before ``sqrt(mean r^2)``."""
    r = np.asarray(y, float) - np.asarray(fitted, float)
    r = r[2:] if len(r) > 6 else r
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return np.nan
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    if mad > 0:
        r = np.clip(r, -5 * mad, 5 * mad)
    return float(np.sqrt(np.mean(r**2)))


def _dormant_run(y, m):
    """Length of the trailing run of zeros of ``y`` when the series is *dormant*, else 0.

    Dormant: the run is at least ``max(m, 3)`` periods (a full season) and longer than every
    earlier gap between two non-zero periods.  A rep who left, a closed account: the
    intermittent-demand methods (SBA, Croston) would keep forecasting the average demand of
    the active years, because they update only when demand occurs.
    """
    nz = np.flatnonzero(np.asarray(y, float) != 0)
    if len(nz) == 0:
        return 0
    tail = len(y) - 1 - int(nz[-1])
    longest = int(np.max(np.diff(nz) - 1)) if len(nz) > 1 else 0
    return tail if tail >= max(int(m), 3) and tail > longest else 0


def _fallback_scale(y):
    y = np.asarray(y, float)
    if len(y) >= 2:
        s = float(np.mean(np.abs(np.diff(y))))
        if s > 0:
            return s
    return float(max(np.mean(np.abs(y)) * 0.25, 1e-9))


def _period_index(ds: pd.Series | pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Integer period number (months, quarters or weeks since 1970) of each date."""
    if freq in ("MS", "QS"):
        arr = np.asarray(ds)
        if arr.dtype.kind == "M":  # naive datetimes: calendar months without pandas fields
            months = arr.astype("datetime64[M]").astype(np.int64) + 1970 * 12  # year*12 + month-1
            return months if freq == "MS" else months // 3
    ds = pd.DatetimeIndex(ds)
    if freq == "MS":
        return (ds.year * 12 + ds.month - 1).to_numpy()
    if freq == "QS":
        return (ds.year * 4 + (ds.month - 1) // 3).to_numpy()
    return ((ds - pd.Timestamp("1970-01-05")).days // 7).to_numpy()


#: methods that may be fitted on an engine-adjusted series (not the seasonal naive family,
#: whose point is to repeat the raw season, nor the intermittent-demand methods)
_NOT_ADJUSTABLE = {"snaive", "naive", "mean", "sba", "croston", "tsb"}


def _stable_seasonality(y, m, alpha=0.01):
    """F-test for stable seasonality on the detrended series (X-11, Lothian & Morry 1978).

    ``ratio_t = y_t / CMA_t`` (centred 2 x m moving average, so a trend does not mask the
    season); one-way ANOVA of the ratios by season position; seasonal when the p-value
    is below ``alpha``.  Needs ``y > 0`` and at least 2 ratios per position.
    """
    y = np.asarray(y, float)
    n = len(y)
    if m <= 1 or n < 2 * m + 1 or np.any(y <= 0):
        return False
    w = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    cma = np.convolve(y, w, mode="valid")
    off = (len(w) - 1) // 2
    pos = np.arange(off, off + len(cma)) % m
    ratio = y[off: off + len(cma)] / cma
    groups = [ratio[pos == k] for k in range(m)]
    if min(len(g) for g in groups) < 2:
        return False
    p = _anova_pvalue(groups)
    return bool(np.isfinite(p) and p < alpha)


def _anova_pvalue(groups) -> float:
    """p-value of the one-way ANOVA F-test (``scipy.stats.f_oneway``'s formulas without
    its argument handling, which costs more than the test on a few dozen values).

    ``F = (SS_between / (k - 1)) / (SS_within / (N - k))`` on data centred at the grand
    mean; ``p = P(F_{k-1, N-k} > F)``.  Every group constant: ``p = 0`` when the groups
    differ, NaN when all values are equal (as scipy).
    """
    from scipy.special import fdtrc

    k = len(groups)
    alldata = np.concatenate(groups)
    bign = len(alldata)
    if all(np.all(np.diff(g) == 0) for g in groups):
        return float("nan") if np.all(np.diff(alldata) == 0) else 0.0
    offset = np.mean(alldata)
    c = alldata - offset
    normalized_ss = np.sum(c) ** 2.0 / bign
    sstot = np.dot(c, c) - normalized_ss
    ssbn = sum(np.sum(g - offset) ** 2.0 / len(g) for g in groups) - normalized_ss
    sswn = sstot - ssbn
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (ssbn / (k - 1)) / (sswn / (bign - k))
    return float(fdtrc(k - 1, bign - k, f))


class _EngineAdjusted:
    """A method fitted on the classically (multiplicatively) seasonally adjusted series.

    Used when the methods' own seasonality test (the lag-m autocorrelation of the raw
    series, R ``thetaf`` rule) misses a season that the detrended F-test finds -- the
    usual case for a growing monthly sales series with a few years of history, where the
    trend dominates the autocorrelations and the Q4 peak would otherwise be extrapolated
    into Q1.  ``f_{T+j} = inner_{T+j} * idx[(n + j - 1) mod m]``.
    """

    def __init__(self, method, m):
        self.method, self.m = method, m

    def fit(self, y):
        from salesplan.models.forecast import classic

        y = np.asarray(y, float)
        self.n_ = len(y)
        self.idx_ = classic.multiplicative_indices(y, self.m)
        ins = self.idx_[np.arange(self.n_) % self.m]
        self.inner_ = M.make_method(self.method, 1).fit(y / ins)
        self.ins_ = ins
        return self

    def predict(self, h):
        fut = self.idx_[np.arange(self.n_, self.n_ + h) % self.m]
        return np.asarray(self.inner_.predict(h), float) * fut

    def fitted(self):
        return np.asarray(self.inner_.fitted(), float) * self.ins_


def _make_model(method, y, m, seasonal_test="detrended", gmodel=None):
    """The model object for ``method`` on ``y``: engine-adjusted (:class:`_EngineAdjusted`)
    when ``seasonal_test="detrended"``, the method can be adjusted, the raw-series test of
    :func:`salesplan.models.forecast.classic.seasonal_test` says non-seasonal and
    :func:`_stable_seasonality` says seasonal; otherwise the method as is.  When the
    method has a global member and ``gmodel`` (a trained
    :class:`~salesplan.models.forecast.global_model.GlobalMLP`) is given, the local model is
    wrapped in :class:`~salesplan.models.forecast.global_model.WithGlobal` (the global member
    always sees the raw series)."""
    local = None
    if seasonal_test == "detrended" and m > 1 and method not in _NOT_ADJUSTABLE:
        from salesplan.models.forecast import classic

        y = np.asarray(y, float)
        if np.all(y > 0) and not classic.seasonal_test(y, m) and _stable_seasonality(y, m):
            local = _EngineAdjusted(method, m)
    if local is None:
        local = M.make_method(method, m)
    if gmodel is not None and M.uses_global(method):
        from salesplan.models.forecast.global_model import WithGlobal

        k = sum(1 for n in M.METHODS[method] if n not in M.GLOBAL)
        return WithGlobal(local, k, gmodel)
    return local


#: fitted local models with their scale and residuals by ``(method, m, seasonal_test,
#: history_key(history))``, least recently used dropped beyond :data:`LOCAL_FIT_CACHE_SIZE`
#: (see :func:`_fit_model`)
_LOCAL_FITS: OrderedDict = OrderedDict()
#: most local fits kept: ~13 KiB each for ``combo`` (its three fitted members, the
#: residuals, the key).  Notebook 02 fits each series at up to ~17 distinct cut-offs (the
#: forecast, its reconciliation and calibration windows, the backtest's and the
#: monitoring quarter's): 38,256 distinct ``combo`` fits at scale 100 (6,714 series), all
#: kept, so none is fitted twice (with 20,000 kept, 59,469 fits were made: 02 took 304
#: instead of 227 s of CPU; benchmarks/RESULTS.md, session 18).  Full, it holds ~1.3 GB
#: (a company ~2.5 times scale 100); beyond, the least recently used fits are dropped.
LOCAL_FIT_CACHE_SIZE = 100_000


def _fit_model(method, y, m, seasonal_test="detrended", gmodel=None):
    """Fit one method on one series; returns (model, scale, resid).

    The local part -- the model object of :func:`_make_model` (its seasonality tests), its
    fitted values, the scale and the residuals -- is a deterministic function of
    ``(method, m, seasonal_test, y)`` and is computed once per process for the same
    history (the same series cut at the same period is fitted by the backtest windows of
    several forecasters, the reconciliation backtest, ``cross_validation`` and the
    monitoring quarter's forecast).  A global member is attached to it per call (its
    forecast of ``y``: :meth:`~salesplan.models.forecast.global_model.WithGlobal.attach`);
    the global member has no fitted values, so the scale and residuals are those of the
    local part either way.  ``resid`` is the caller's own copy.
    """
    y = np.asarray(y, float)
    key = (method, int(m), seasonal_test, M.history_key(y))
    hit = _LOCAL_FITS.get(key)
    if hit is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = _make_model(method, y, m, seasonal_test).fit(y)
            fitted = local.fitted()
        resid = y - fitted
        s = _rmse(y, fitted)
        if len(resid) > 6:
            resid[:2] = np.nan  # start-up values of the filters
        if not np.isfinite(s) or s <= 0:
            s = _fallback_scale(y)
        hit = _LOCAL_FITS[key] = (local, s, resid)
        if len(_LOCAL_FITS) > LOCAL_FIT_CACHE_SIZE:
            _LOCAL_FITS.popitem(last=False)
    else:
        _LOCAL_FITS.move_to_end(key)
    local, s, resid = hit
    model = local
    if gmodel is not None and M.uses_global(method):
        from salesplan.models.forecast.global_model import WithGlobal

        k = sum(1 for n in M.METHODS[method] if n not in M.GLOBAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = WithGlobal(local, k, gmodel).attach(y)
    return model, s, resid.copy()


def _backtest_one(uid, y, m, methods, cuts, h, seasonal_test="detrended", gmodels=None):
    """Rolling-origin errors of ``methods`` on one series: list of dicts.  ``gmodels``
    maps a cut to the global model trained on every series truncated at its cut of the
    same window (no look-ahead)."""
    out = []
    gmodels = gmodels or {}
    for cut in cuts:
        train, test = y[:cut], y[cut: cut + h]
        for meth in methods:
            try:
                model, s, _ = _fit_model(meth, train, m, seasonal_test, gmodels.get(cut))
                f = model.predict(h)
            except Exception:  # a model that cannot fit this window is scored as missing
                continue
            for j in range(len(test)):
                out.append((uid, cut, j + 1, meth, float(test[j]), float(f[j]), s))
    return out


def _fit_one(uid, y, m, method, seasonal_test="detrended", gmodel=None):
    model, s, resid = _fit_model(method, y, m, seasonal_test, gmodel)
    return uid, model, s, resid


def _run(tasks, fn, n_jobs, progress, desc, engine="local", scheduler=None):
    """Apply ``fn(*task)`` to every task, in processes when ``n_jobs != 1``, or on the
    Dask cluster at ``scheduler`` when ``engine="dask"`` (:class:`salesplan.execution.DaskBackend`)."""
    from tqdm import tqdm  # tqdm.auto warns in Jupyter without ipywidgets

    if engine != "local":
        return backend_for(engine, scheduler).run_tasks(tasks, fn, progress=progress, desc=desc)

    if n_jobs == 1 or len(tasks) <= 1:
        return [fn(*t) for t in tqdm(tasks, desc=desc, disable=not progress)]
    from joblib import Parallel, delayed

    n_workers = os.cpu_count() if n_jobs in (-1, None) else n_jobs
    n_chunks = min(len(tasks), max(1, n_workers) * 4)
    chunks = [tasks[i::n_chunks] for i in range(n_chunks)]
    res = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_chunk)(fn, c) for c in chunks
    )
    out_chunks = list(tqdm(res, total=len(chunks), desc=desc, disable=not progress))
    # restore task order
    out = [None] * len(tasks)
    for ci, r in enumerate(out_chunks):
        for k, v in enumerate(r):
            out[ci + k * n_chunks] = v
    return out


def _chunk(fn, tasks):
    return [fn(*t) for t in tasks]


class Forecaster(BaseEstimator):
    """Forecast many sales series with calibrated intervals and sample paths.

    Parameters
    ----------
    method : str
        ``"combo"`` (default): the equal-weight mean of four members,
        ``f_{T+j} = (f^CES + f^damped + f^Theta + f^global) / 4`` for ``j <= H`` and
        the mean of the three local members beyond, ``H = max(cv_h, min(2 m, 12))`` (two
        seasons, at most 12 periods: 8 quarters, 12 months): statsforecast AutoCES, damped-trend
        ETS and classical Theta (the last two on the classically seasonally adjusted
        series), fitted per series, and a global network trained across all regular
        series (:mod:`salesplan.models.forecast.global_model`; absent with fewer than 10 series
        or 100 windows, or for a series with non-positive values in its last
        ``max(m, 8)`` periods); chosen by the in-sample backtest of M3 quarterly, see
        ``benchmarks/RESULTS.md``.  ``"combo_local"`` is the same without the global
        member (the default until 2026-12).  Any single method of
        :data:`salesplan.models.forecast.models.METHODS` (``"snaive"``, ``"ets"``,
        ``"ets_sm"`` (statsmodels), ``"theta"``, ``"dotm"``, ``"arima"``, ``"damped"``,
        ``"sba"``, ...), or ``"auto"``: per-series (``selection="per_series"``) or
        global (``"global"``) choice among ``candidates`` by backtest MASE.
    freq : str
        ``"MS"`` monthly, ``"QS"`` quarterly, ``"W"`` weekly.
    season_length : int, optional
        Periods per season; default 12 / 4 / 52 from ``freq``.
    level : tuple of int
        Interval levels in percent returned by :meth:`predict`.
    candidates : tuple of str
        Methods compared when ``method="auto"``.
    selection : {"per_series", "global"}
        How ``method="auto"`` chooses.
    n_windows, cv_h, step : int
        Rolling-origin backtest used for calibration and ``"auto"``: ``n_windows``
        origins, horizon ``cv_h`` (default one season, at most 12), origins ``step``
        periods apart (default ``cv_h``).
    calibrate : bool
        Calibrate interval widths by the backtest (conformal); otherwise Gaussian
        ``z * s * sqrt(j)``.
    intermittent : str
        Method for intermittent series (``"sba"``, ``"croston"``, ``"tsb"``).  A *dormant*
        series -- no sales for at least a season and longer than any earlier gap (a rep
        who left) -- is forecast 0 instead (:func:`_dormant_run`).
    adi_threshold : float
        A series is intermittent when its average inter-demand interval
        ``ADI = n / #(y != 0)`` exceeds this (1.32, Syntetos & Boylan 2005).
    min_seasons : float
        Series with fewer than ``min_seasons * season_length`` periods are *short* and get
        the fallback ``level * pooled seasonal profile`` (profile from peers with enough
        history; a plain mean when there are none).
    allow_negative : bool
        Accept negative ``y`` (months where credit notes exceed sales).
    nonnegative : {"auto", True, False}
        Clip means, bounds and paths at 0; ``"auto"`` = for series with no negative
        history.
    correlation : {"residual", "independent"}
        Cross-series correlation of the path innovations: Ledoit-Wolf shrunk correlation
        of the one-step in-sample residuals over common dates, or none.
    seasonal_test : {"detrended", "model"}
        ``"detrended"`` (default): a positive series whose raw lag-m autocorrelation test
        finds no season but whose detrended ratios pass the X-11 F-test for stable
        seasonality (:func:`_stable_seasonality`, 1%) is seasonally adjusted by the engine
        (classical multiplicative indices) and the method is fitted on the adjusted series
        (the trend of a growing series otherwise hides the season from the methods' own
        test); ``"model"``: leave seasonality to each method.
    n_jobs : int
        Processes used over series (joblib); 1 = in process.
    progress : bool
        Show a tqdm progress bar.
    cache_dir : str or path, optional
        Directory of the fit cache, keyed by the data fingerprint and these settings
        (``n_jobs``, ``progress``, ``cache_dir``, ``engine`` and ``scheduler`` excluded).
    engine : {"local", "dask"}
        ``"dask"`` runs the per-series backtests and fits on a Dask cluster (same
        results as local; ``n_jobs`` is then ignored), see :mod:`salesplan.execution.dask_backend`.
    scheduler : str or distributed.Client, optional
        Dask scheduler address for ``engine="dask"``; default the environment variable
        ``SALESPLAN_DASK_SCHEDULER``.
    random_state : int
        Seed of the global member's network (weights, mini-batches, early-stopping split).
    global_pool : {"all", "group"}
        Series the global member of ``combo`` learns from: all regular series (default),
        or, with ``"group"``, one network per group of ``fit(groups=...)`` trained on that
        group's series only (a group with too few series has no global member).  The
        hierarchy uses ``"group"``: a network trained on ~50 rep series (ramp-ups of new
        hires) would otherwise forecast the company and the regions as if they were reps.

    Attributes
    ----------
    series_ : dict[str, SeriesState]
    ids_ : list[str]
    last_ds_ : dict[str, Timestamp]
    calibration_ : dict
        ``{"q": {level: ndarray(cv_h)}, "n": errors per horizon, "method": ...}``.
    backtest_ : DataFrame
        Backtest errors used for calibration / selection.
    global_ : dict[str, GlobalMLP]
        Global members trained in the last fit: ``"backtest-<k>"`` per window and
        ``"final"`` (empty when the method has none).
    cache_hit_ : bool

    Notes
    -----
    A method with a global member (``combo``) needs all regular series at fit time: for
    backtest window ``k`` the global model is trained on every regular series truncated
    at its cut ``n_i - cv_h - step * k`` (the same cut as its local members, so no value
    after the cut is seen), and the final one on the full histories; both are trained in
    this process and passed to the per-series tasks (also with ``n_jobs > 1`` or
    ``engine="dask"``).  The global member has no in-sample fitted values: the one-step
    RMSE scale ``s_i`` of the intervals is that of the local members' mean, and the
    calibration backtest (which includes the global member) sets the widths.
    """

    def __init__(
        self,
        method="combo",
        freq="MS",
        season_length=None,
        level=(80, 95),
        candidates=("snaive", "ets", "theta", "damped", "arima", "combo"),
        selection="per_series",
        n_windows=3,
        cv_h=None,
        step=None,
        calibrate=True,
        intermittent="sba",
        adi_threshold=1.32,
        min_seasons=2,
        allow_negative=True,
        nonnegative="auto",
        correlation="residual",
        seasonal_test="detrended",
        n_jobs=1,
        progress=False,
        cache_dir=None,
        engine="local",
        scheduler=None,
        random_state=0,
        global_pool="all",
    ):
        self.method = method
        self.freq = freq
        self.season_length = season_length
        self.level = level
        self.candidates = candidates
        self.selection = selection
        self.n_windows = n_windows
        self.cv_h = cv_h
        self.step = step
        self.calibrate = calibrate
        self.intermittent = intermittent
        self.adi_threshold = adi_threshold
        self.min_seasons = min_seasons
        self.allow_negative = allow_negative
        self.nonnegative = nonnegative
        self.correlation = correlation
        self.seasonal_test = seasonal_test
        self.n_jobs = n_jobs
        self.progress = progress
        self.cache_dir = cache_dir
        self.engine = engine
        self.scheduler = scheduler
        self.random_state = random_state
        self.global_pool = global_pool

    # ------------------------------------------------------------------ settings
    def _check_params(self):
        if self.method != "auto" and self.method not in M.METHODS:
            raise ValueError(
                f"Forecaster: method={self.method!r}; expected 'auto' or one of {sorted(M.METHODS)}"
            )
        for c in self.candidates:
            if c not in M.METHODS:
                raise ValueError(f"Forecaster: candidates contains {c!r}; expected names of "
                                 f"{sorted(M.METHODS)}")
        if self.selection not in ("per_series", "global"):
            raise ValueError(f"Forecaster: selection={self.selection!r}; expected 'per_series' "
                             "or 'global'")
        if self.intermittent not in M.INTERMITTENT:
            raise ValueError(f"Forecaster: intermittent={self.intermittent!r}; expected one of "
                             f"{M.INTERMITTENT}")
        if int(self.n_windows) < 1:
            raise ValueError(f"Forecaster: n_windows={self.n_windows!r}; expected >= 1")
        for lv in self.level:
            if not 0 < lv < 100:
                raise ValueError(f"Forecaster: level={self.level!r}; expected values in (0, 100)")
        if self.engine not in ("local", "dask"):
            raise ValueError(f"Forecaster: engine={self.engine!r}; expected 'local' or 'dask'")
        if self.correlation not in ("residual", "independent"):
            raise ValueError(f"Forecaster: correlation={self.correlation!r}; expected "
                             "'residual' or 'independent'")
        if self.global_pool not in ("all", "group"):
            raise ValueError(f"Forecaster: global_pool={self.global_pool!r}; expected 'all' "
                             "or 'group'")
        if self.seasonal_test not in ("detrended", "model"):
            raise ValueError(f"Forecaster: seasonal_test={self.seasonal_test!r}; expected "
                             "'detrended' or 'model'")

    def _settings_key(self):
        p = self.get_params()
        for k in ("n_jobs", "progress", "cache_dir", "engine", "scheduler"):
            p.pop(k, None)
        return json.dumps(p, sort_keys=True, default=str)

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, new_ids=(), groups=None):
        """Fit every series of ``df`` (long format ``unique_id, ds, y``).

        Parameters
        ----------
        df : DataFrame
            Long-format history, see :func:`salesplan.models.forecast.validate_long`.
        new_ids : iterable of str
            Entities with no history at all (e.g. a rep hired this month); they get the
            median forecast of the other series and a reason saying so.
        groups : Mapping[str, str], optional
            Calibration group of each series (e.g. its hierarchy level: the company total
            is smoother than a region, and its out-of-sample error is a different multiple
            of its in-sample RMSE).  The interval widths are calibrated on all series
            together, then the scale ``s_i`` of every series of group ``g`` with at least
            ``min_group_errors`` backtest errors is multiplied by
            ``kappa_g = Q80(|z| / sqrt(j) | g) / Q80(|z| / sqrt(j) | all)`` (``z`` the
            standardised backtest errors), so each group's 80% intervals cover 80% of its
            own backtest errors.  Default: one group.

        Returns
        -------
        self
        """
        self._check_params()
        self._groups = {str(k): str(v) for k, v in (groups or {}).items()}
        freq = canonical_freq(self.freq)
        clean = validate_long(df, freq=freq, allow_negative=self.allow_negative)
        clean = clean[["unique_id", "ds", "y"]]
        new_ids = [str(u) for u in new_ids if str(u) not in set(clean["unique_id"])]
        key = None
        if self.cache_dir is not None:
            key = self._cache_key(clean, new_ids)
            path = os.path.join(os.fspath(self.cache_dir), f"forecaster-{key}.pkl")
            if os.path.exists(path):
                with open(path, "rb") as fh:
                    state = pickle.load(fh)
                self.__dict__.update(state)
                self.cache_hit_ = True
                return self
        self._fit(clean, freq, new_ids)
        self.cache_hit_ = False
        if key is not None:
            os.makedirs(os.fspath(self.cache_dir), exist_ok=True)
            state = {k: v for k, v in self.__dict__.items() if k.endswith("_")
                     and not k.startswith("__")}
            state.pop("cache_hit_", None)
            tmp = path + f".{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(state, fh)
            os.replace(tmp, path)
        return self

    @property
    def groups_(self) -> dict[str, str]:
        """The group of each series given to the last :meth:`fit` (``{}``: one group)."""
        self._check_fitted()
        return dict(self._groups)

    def _cache_key(self, clean, new_ids):
        h = hashlib.sha256()
        h.update(CACHE_VERSION.encode())
        h.update(_code_fingerprint().encode())
        h.update(frame_fingerprint(clean.reset_index(drop=True)).encode())
        h.update(self._settings_key().encode())
        h.update("\x1f".join(new_ids).encode())
        h.update(json.dumps(sorted(self._groups.items())).encode())
        return h.hexdigest()[:32]

    def _fit(self, clean, freq, new_ids):
        m = int(self.season_length or season_length_of(freq))
        self.m_ = m
        self.freq_ = freq
        cv_h = int(self.cv_h or min(max(m, 1), 12))
        self.cv_h_ = cv_h
        step = int(self.step or cv_h)
        dates, ys = _split_series(clean)
        self.ids_ = list(ys) + list(new_ids)
        self.last_ds_ = {u: pd.Timestamp(d[-1]) for u, d in dates.items()}
        self.first_ds_ = {u: pd.Timestamp(d[0]) for u, d in dates.items()}
        min_n = int(np.ceil(self.min_seasons * m))
        states, regular = self._classify_series(ys, m, min_n)

        # ---- backtest (calibration and/or auto selection)
        do_bt = self.calibrate or self.method == "auto"
        bt_methods = list(dict.fromkeys(self.candidates)) if self.method == "auto" else None
        tasks = []
        want_global = any(M.uses_global(st.method) for u, st in states.items() if u in regular)
        want_global = want_global or bool(bt_methods and any(M.uses_global(c) for c in bt_methods))
        hg = max(cv_h, min(2 * m, 12))  # horizons of the global member (two seasons, at most 12)
        self.global_ = {}
        pool = self._pool_of
        pools = sorted({pool(u) for u in regular})
        if do_bt:
            gm_win = {}
            if want_global:  # one global model per window (and pool), series cut at its cut
                for k in range(int(self.n_windows)):
                    gm_win[k] = {}
                    for g in pools:
                        gm_win[k][g] = self._train_global(
                            [y[: max(len(y) - cv_h - step * k, 0)] for u, y in regular.items()
                             if pool(u) == g], m, hg)
                        self.global_[f"backtest-{k}" + (f":{g}" if g else "")] = gm_win[k][g]
            for u, st in states.items():
                if st.kind != "model":
                    continue
                y = ys[u]
                ks = [k for k in range(int(self.n_windows))
                      if len(y) - cv_h - step * k >= max(min_n, 3)]
                cuts = sorted(len(y) - cv_h - step * k for k in ks)
                if not cuts:
                    continue
                meths = bt_methods if (bt_methods and u in regular) else [st.method]
                gms = ({len(y) - cv_h - step * k: gm_win[k][pool(u)] for k in ks}
                       if gm_win and u in regular else None)
                tasks.append((u, y, m, meths, cuts, cv_h, self.seasonal_test, gms))
        rows = []
        for r in _run(tasks, _backtest_one, self.n_jobs, self.progress, "backtest",
                      self.engine, self.scheduler):
            rows.extend(r)
        bt = pd.DataFrame(rows, columns=["unique_id", "cutoff", "h", "method", "y", "mean",
                                         "scale"])
        if self.method == "auto":
            self._select(bt, states, ys, m)
        # keep only the chosen method's errors for calibration
        if len(bt):
            chosen = pd.Series({u: st.method for u, st in states.items()})
            bt = bt[bt["method"].to_numpy() == chosen.reindex(bt["unique_id"]).to_numpy()]
        self.backtest_ = bt.reset_index(drop=True)
        self.calibration_ = self._calibrate(bt, cv_h)

        # ---- final fits
        gfinal = {}
        if any(M.uses_global(st.method) for u, st in states.items() if u in regular):
            for g in pools:
                gfinal[g] = self._train_global([y for u, y in regular.items() if pool(u) == g],
                                               m, hg)
                self.global_["final" + (f":{g}" if g else "")] = gfinal[g]
        pool_sizes = Counter(pool(v) for v in regular)  # regular series per global pool
        tasks = [(u, ys[u], m, st.method, self.seasonal_test,
                  gfinal.get(pool(u)) if u in regular else None)
                 for u, st in states.items() if st.kind == "model"]
        for u, model, s, resid in _run(tasks, _fit_one, self.n_jobs, self.progress, "fit",
                                   self.engine, self.scheduler):
            st = states[u]
            st.model, st.scale, st.resid = model, s, resid
            if not st.reason:
                members = M.METHODS[st.method]
                st.reason = (f"{st.method}: mean of {', '.join(members)}" if len(members) > 1
                             else f"{st.method}") + " (method set by the caller)"
            if M.uses_global(st.method):
                from salesplan.models.forecast.global_model import WithGlobal

                gm = gfinal.get(pool(u)) if u in regular else None
                if isinstance(model, WithGlobal) and model.has_global:
                    st.reason += (f"; global member trained on "
                                  f"{model.gmodel.n_windows_} windows of "
                                  f"{pool_sizes[pool(u)]} series"
                                  + (f" of group {pool(u)!r}" if pool(u) else ""))
                else:
                    st.reason += "; without the global member (" + (
                        "non-positive values in the last periods" if gm is not None
                        and gm.net_ is not None else "too few series/windows to train it"
                        + (f" in group {pool(u)!r}" if pool(u) else "")
                    ) + "): mean of the local members"
                model_inner = model.local if isinstance(model, WithGlobal) else model
            else:
                model_inner = model
            if isinstance(model_inner, _EngineAdjusted):
                st.reason += ("; fitted on the seasonally adjusted series (season found by "
                              "the detrended F-test, missed by the raw autocorrelation test)")
        self._fit_fallbacks(states, ys, dates, m, freq, new_ids)
        self.calibration_["group_factor"] = self._group_factors(bt, states)
        self.series_ = states

    def _classify_series(self, ys: dict, m: int, min_n: int):
        """Each series' kind (zero, dormant, short, intermittent, regular) and its state.

        Returns ``(states, regular)``: a :class:`SeriesState` per series and the histories
        of the regular ones (those fitted with ``method``).
        """
        states: dict[str, SeriesState] = {}
        regular = {}
        for u, y in ys.items():
            n = len(y)
            nonneg = bool(np.all(y >= 0)) if self.nonnegative == "auto" else bool(self.nonnegative)
            nz = int(np.count_nonzero(y))
            dormant = _dormant_run(y, m)
            if nz == 0:
                states[u] = SeriesState(u, "zero", "zero", "all-zero history: forecast 0",
                                        0.0, n=n, nonneg=nonneg)
            elif dormant:
                states[u] = SeriesState(
                    u, "zero", "dormant",
                    f"dormant: no sales in the last {dormant} periods (longer than one season "
                    "and than any earlier gap; e.g. a rep who left): forecast 0",
                    0.0, n=n, nonneg=nonneg)
            elif n < min_n:
                states[u] = SeriesState(u, "short", "short", "", 0.0, n=n, nonneg=nonneg)
            elif n / nz > self.adi_threshold:
                states[u] = SeriesState(
                    u, "model", self.intermittent,
                    f"intermittent (ADI={n / nz:.2f} > {self.adi_threshold}): {self.intermittent}",
                    0.0, n=n, nonneg=nonneg)
            else:
                regular[u] = y
                states[u] = SeriesState(u, "model", self.method, "", 0.0, n=n, nonneg=nonneg)
        return states, regular

    def _pool_of(self, u):
        """Training pool of the global member for series ``u``: "" (all series) or, with
        ``global_pool="group"``, its group of ``fit(groups=...)``."""
        return self._groups.get(u, "") if self.global_pool == "group" else ""

    def _train_global(self, ys, m, hg):
        """The global member (:class:`~salesplan.models.forecast.global_model.GlobalMLP`) trained
        in this process on the regular series ``ys`` (once per process for the same series:
        :func:`~salesplan.models.forecast.global_model.train_global`)."""
        from salesplan.models.forecast.global_model import train_global

        return train_global(ys, m, hg, random_state=self.random_state)

    #: fewest backtest errors for a group of its own (``fit(groups=...)``)
    min_group_errors = 24

    def _group_factors(self, bt, states):
        """Per-group scale factors ``kappa_g`` (see :meth:`fit`), applied to ``scale``."""
        out = {}
        if not self._groups or len(bt) == 0 or not self.calibration_.get("calibrated"):
            return out
        z = (np.abs(bt["y"].to_numpy(float) - bt["mean"].to_numpy(float))
             / bt["scale"].to_numpy(float) / np.sqrt(bt["h"].to_numpy(float)))
        g = bt["unique_id"].map(self._groups).to_numpy()
        ok = np.isfinite(z)
        ref = np.quantile(z[ok], 0.8)
        if not ref > 0:
            return out
        for lab in sorted({v for v in self._groups.values()}):
            sel = ok & (g == lab)
            if sel.sum() < self.min_group_errors:
                continue
            k = float(np.quantile(z[sel], 0.8) / ref)
            out[lab] = k
            for u, st in states.items():
                if self._groups.get(u) == lab and st.kind == "model":
                    st.scale *= k
        return out

    def _select(self, bt, states, ys, m):
        """Choose the method per series (or globally) by backtest MASE."""
        if len(bt) == 0:
            for st in states.values():
                if st.kind == "model" and st.method == "auto":
                    st.method = "combo"
                    st.reason = "auto: no backtest window fits the history; default combo"
            return
        scale = {u: _mase_scale(y, m) for u, y in ys.items()}
        bt = bt.assign(ae=np.abs(bt["y"] - bt["mean"]) / bt["unique_id"].map(scale))
        per = bt.groupby(["unique_id", "method"])["ae"].mean().unstack()
        glob = per.mean().sort_values()
        for u, st in states.items():
            if st.kind != "model" or st.method != "auto":
                continue
            if self.selection == "global" or u not in per.index:
                best = glob.index[0]
                st.method = best
                st.reason = (f"auto (global): {best} has the lowest mean backtest MASE "
                             f"{glob.iloc[0]:.3f} over {len(per)} series")
            else:
                row = per.loc[u].dropna()
                best = row.idxmin()
                st.method = best
                st.reason = (f"auto: {best} has the lowest backtest MASE {row.min():.3f} "
                             f"(next {row.drop(best).min():.3f})" if len(row) > 1 else
                             f"auto: {best} (only method that fitted)")

    def _calibrate(self, bt, cv_h):
        levels = sorted(set(self.level) | {80})
        out = {"q": {}, "n": 0, "calibrated": False}
        if not self.calibrate or len(bt) == 0:
            j = np.arange(1, cv_h + 1)
            for lv in levels:
                out["q"][lv] = norm.ppf(0.5 + lv / 200) * np.sqrt(j)
            return out
        z = np.abs(bt["y"].to_numpy() - bt["mean"].to_numpy()) / bt["scale"].to_numpy()
        hh = bt["h"].to_numpy()
        ok = np.isfinite(z)
        z, hh = z[ok], hh[ok]
        counts = np.bincount(hh, minlength=cv_h + 1)[1:]
        out["n"] = int(len(z))
        out["calibrated"] = True
        for lv in levels:
            p = lv / 100
            if counts.min() >= 40:
                q = np.array([np.quantile(z[hh == j], p) for j in range(1, cv_h + 1)])
            else:  # few errors: pool horizons after scaling by sqrt(j)
                q = np.quantile(z / np.sqrt(hh), p) * np.sqrt(np.arange(1, cv_h + 1))
            out["q"][lv] = np.maximum.accumulate(q)
        out["rho"] = _horizon_correlation(bt, cv_h)
        return out

    def _fit_fallbacks(self, states, ys, dates, m, freq, new_ids):
        # pooled seasonal profile from series with >= 2 full seasons and positive mean
        profiles = []
        for u, y in ys.items():
            if len(y) >= 2 * m and m > 1 and np.mean(y[-2 * m:]) > 0 and np.all(y[-2 * m:] >= 0):
                pos = _period_index(dates[u][-2 * m:], freq) % m
                prof = np.zeros(m)
                np.add.at(prof, pos, y[-2 * m:])
                profiles.append(prof / prof.mean())
        pooled = np.median(profiles, axis=0) if profiles else np.ones(max(m, 1))
        pooled = pooled / pooled.mean() if pooled.mean() > 0 else np.ones(max(m, 1))
        for u, st in states.items():
            if st.kind != "short":
                continue
            y = ys[u]
            pos = _period_index(dates[u], freq) % max(m, 1)
            if profiles and m > 1:
                adj = y / np.where(pooled[pos] > 0, pooled[pos], 1.0)
                st.level = float(np.mean(adj))
                st.profile = pooled
                st.reason = (f"short history ({len(y)} < {int(np.ceil(self.min_seasons * m))} "
                             f"periods): mean seasonally adjusted level x seasonal profile "
                             f"pooled from {len(profiles)} peer series")
            else:
                adj = y
                st.level = float(np.mean(y))
                st.profile = None
                st.reason = (f"short history ({len(y)} periods) and no peer with 2 seasons: "
                             "mean of the history")
            st.scale = float(np.std(adj, ddof=1)) if len(y) >= 3 else _fallback_scale(y)
            if not np.isfinite(st.scale) or st.scale <= 0:
                st.scale = _fallback_scale(y)
        for u in new_ids:
            states[u] = SeriesState(u, "new", "new", "", 0.0, n=0, nonneg=True)
        self.series_ = states
        if new_ids:
            peers = [u for u, st in states.items() if st.kind in ("model", "short")]
            if not peers:
                for u in new_ids:
                    s = states[u]
                    s.kind, s.method = "zero", "new"
                    s.reason = "new series with no history and no peers: forecast 0"
                return
            self._peers_ = peers
            for u in new_ids:
                s = states[u]
                s.scale = float(np.median([states[p].scale for p in peers]))
                s.reason = (f"new series with no history: median of the forecasts of "
                            f"{len(peers)} peer series")

    # ------------------------------------------------------------------ predict
    def _check_fitted(self):
        if not hasattr(self, "series_"):
            raise RuntimeError("Forecaster is not fitted: call fit(df) first")

    def future_dates(self, uid, h):
        """The ``h`` period starts after the last observation of ``uid`` (a series without
        history: after the latest last observation of all)."""
        last = self.last_ds_.get(uid)
        if last is None and self.last_ds_:
            last = max(self.last_ds_.values())
        return pd.date_range(last, periods=h + 1, freq=self.freq_)[1:]

    def _means(self, h):
        """Point forecasts (n_series, h) in the order of ``ids_`` (a copy of each fit's
        forecasts, computed once per ``h``: thousands of series take seconds)."""
        memo = self.__dict__.get("_means_memo")
        if memo is None or memo[0] is not self.series_:  # a new fit: new series states
            memo = self._means_memo = (self.series_, {})
        if h not in memo[1]:
            memo[1][h] = self._compute_means(h)
        return memo[1][h].copy()

    def _compute_means(self, h):
        out = np.zeros((len(self.ids_), h))
        new = []
        season_pos = {}  # the future periods' positions in the season, by last observation
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, u in enumerate(self.ids_):
                st = self.series_[u]
                if st.kind == "model":
                    f = np.asarray(st.model.predict(h), float)
                    if not np.all(np.isfinite(f)):
                        f = np.where(np.isfinite(f), f, np.nanmean(f) if np.isfinite(f).any() else 0)
                    out[i] = f
                elif st.kind == "short":
                    if st.profile is not None:
                        last = self.last_ds_.get(u)
                        if last not in season_pos:
                            season_pos[last] = _period_index(self.future_dates(u, h), self.freq_) % self.m_
                        out[i] = st.level * st.profile[season_pos[last]]
                    else:
                        out[i] = st.level
                elif st.kind == "new":
                    new.append(i)
        if new:
            peer_idx = [self.ids_.index(p) for p in self._peers_]
            out[new] = np.median(out[peer_idx], axis=0)
        for i, u in enumerate(self.ids_):
            if self.series_[u].nonneg:
                out[i] = np.maximum(out[i], 0.0)
        return out

    def _qfactor(self, level, h):
        """Interval half-width multipliers ``q_{L,j}`` for j = 1..h (extrapolated by sqrt)."""
        q = self.calibration_["q"]
        levels = sorted(q)
        if level in q:
            base = q[level]
        else:  # interpolate k = q / z between calibrated levels
            z = norm.ppf(0.5 + level / 200)
            ks = np.array([q[lv] / norm.ppf(0.5 + lv / 200) for lv in levels])
            w = np.interp(level, levels, np.arange(len(levels)))
            lo, hi = int(np.floor(w)), int(np.ceil(w))
            base = z * (ks[lo] + (w - lo) * (ks[hi] - ks[lo]))
        H = len(base)
        j = np.arange(1, h + 1)
        ext = base[-1] * np.sqrt(j / H)
        return np.where(j <= H, base[np.minimum(j, H) - 1], ext)

    def future_dates_of(self, ids, h) -> np.ndarray:
        """:meth:`future_dates` of every series of ``ids`` one after the other
        (``len(ids) * h`` dates, ``datetime64[ns]``); built once per distinct last date."""
        by_last, out = {}, []
        for u in ids:
            last = self.last_ds_.get(u)
            if last not in by_last:
                by_last[last] = self.future_dates(u, h).to_numpy().astype("datetime64[ns]")
            out.append(by_last[last])
        return np.concatenate(out) if out else np.array([], "datetime64[ns]")

    def predict(self, h: int, level=None) -> pd.DataFrame:
        """Point forecasts and calibrated intervals for the next ``h`` periods.

        Parameters
        ----------
        h : int
            Number of periods after each series' last observation.
        level : tuple of int, optional
            Interval levels in percent (default ``self.level``).

        Returns
        -------
        DataFrame
            ``unique_id, ds, mean, lo-<L>, hi-<L> (each level), model, reason``; the
            bounds are ``mean -/+ q_{L,j} * scale`` (module docstring), clipped at 0 for
            non-negative series. Units are those of ``y``.
        """
        self._check_fitted()
        h = _check_h(h)
        level = tuple(self.level if level is None else level)
        means = self._means(h)
        scales = np.array([self.series_[u].scale for u in self.ids_])
        frames = []
        cols = {}
        for lv in level:
            qf = self._qfactor(lv, h)
            cols[lv] = (means - scales[:, None] * qf, means + scales[:, None] * qf)
        if not self.ids_:
            return pd.concat(frames, ignore_index=True)  # no series: pandas' own error
        states = [self.series_[u] for u in self.ids_]
        nonneg = np.array([st.nonneg for st in states], bool)[:, None]
        d = {"unique_id": np.repeat(np.asarray(self.ids_, dtype=object), h),
             "ds": self.future_dates_of(self.ids_, h), "mean": means.reshape(-1)}
        for lv in level:
            lo, hi = cols[lv]
            d[f"lo-{lv}"] = np.where(nonneg, np.maximum(lo, 0.0), lo).reshape(-1)
            d[f"hi-{lv}"] = hi.reshape(-1)
        d["model"] = np.repeat(np.array([st.method for st in states], dtype=object), h)
        d["reason"] = np.repeat(np.array([st.reason for st in states], dtype=object), h)
        return pd.DataFrame(d)

    # ------------------------------------------------------------------ paths
    def psi_(self, h):
        """Innovation weights (h,) of the calibrated error process (module docstring)."""
        g = self._qfactor(80, h) / norm.ppf(0.9)
        inc = np.diff(np.r_[0.0, g**2])
        return np.sqrt(np.maximum(inc, 0.0))

    def horizon_covariance_(self, h):
        """Covariance (h x h) of the standardised h-step errors ``e_{T+j} / s_i``.

        ``Sigma_{jl} = g_j g_l C_{jl}`` with ``g_j = q_{80,j} / z_{0.9}`` (the calibrated
        marginal widths) and ``C`` the cross-horizon error correlation: the Toeplitz matrix
        of the backtest lag correlations ``rho_k`` (``calibration_["rho"]``, see
        :func:`_horizon_correlation`), so that the sum of a path over the horizon has the
        spread of the backtest sums, not only each month; without a backtest estimate, the
        local-level structure ``C_{jl} = g_min(j,l) / g_max(j,l)`` (errors accumulate).
        """
        g = self._qfactor(80, h) / norm.ppf(0.9)
        rho = self.calibration_.get("rho") if hasattr(self, "calibration_") else None
        if rho is None or not np.all(np.isfinite(rho)):
            C = np.minimum.outer(g, g) / np.maximum(np.maximum.outer(g, g), 1e-300)
        else:
            C = _toeplitz_corr(np.asarray(rho, float), h)
        return C * np.outer(g, g)

    def residual_correlation(self, ids=None, window=36):
        """Ledoit-Wolf shrunk correlation of one-step in-sample residuals over common dates.

        Uses the last ``window`` periods in which every series of ``ids`` has a residual;
        returns the identity when fewer than 6 such periods exist. Residuals are those
        of each series' fitted model (fallbacks: deviations from their mean).
        """
        from sklearn.covariance import ledoit_wolf

        self._check_fitted()
        ids = list(self.ids_ if ids is None else ids)
        k = len(ids)
        if k <= 1 or self.correlation == "independent":
            return np.eye(k)
        cols = [u for u in dict.fromkeys(ids) if self.series_[u].kind == "model"
                and self.series_[u].resid is not None]
        if len(cols) < 2:
            return np.eye(k)
        R = self._common_residuals(cols, window)
        if len(R) < 6:
            return np.eye(k)
        sd = R.std(ddof=0).to_numpy()
        okc = sd > 0
        Z = (R.loc[:, okc] - R.loc[:, okc].mean()) / sd[okc]
        cov, _ = ledoit_wolf(Z.to_numpy(), assume_centered=True)
        d = np.sqrt(np.diag(cov))
        for i in range(0, len(d), 1024):  # cov / (d_i d_j) in place, 1,024 rows of d_i d_j at a time
            np.divide(cov[i:i + 1024], np.outer(d[i:i + 1024], d), out=cov[i:i + 1024])
        corr = cov
        pos = {u: i for i, u in enumerate(ids)}
        idx = [pos[u] for u in np.array(cols)[okc]]
        if idx == list(range(k)):  # every series has residuals: no identity rows to add
            return corr
        full = np.eye(k)
        full[np.ix_(idx, idx)] = corr
        return full

    def _common_residuals(self, cols, window):
        """The last ``window`` periods in which every series of ``cols`` has a residual:
        a frame (periods x ``cols``), as ``pd.DataFrame({u: resid_u by date}).dropna()
        .iloc[-window:]`` (the same values, in the same (series, period) block layout)
        without a dated Series per series: each series' residuals are consecutive periods
        from its first date, put on one integer period grid."""
        first = np.array([self.first_ds_[u] for u in cols], dtype="datetime64[ns]")
        start = _period_index(first, self.freq_)
        lens = np.array([len(self.series_[u].resid) for u in cols])
        lo = int(start.min())
        n = int((start + lens).max()) - lo
        M = np.full((len(cols), n), np.nan)  # series x period, C order (pandas' block layout)
        for i, u in enumerate(cols):
            a = int(start[i]) - lo
            M[i, a: a + lens[i]] = self.series_[u].resid
        keep = np.flatnonzero(~np.isnan(M).any(axis=0))[-window:]
        return pd.DataFrame(np.ascontiguousarray(M[:, keep]).T, columns=cols)

    def sample_paths(self, h: int, n_paths: int = 1000, random_state=0, as_frame=False, ids=None,
                     corr=None, *, seed=None, chol=None):
        """Joint sample paths of the next ``h`` periods for every series.

        ``path_{i,p,j} = mean_{i,j} + s_i * sum_{l<=j} T_{jl} eps_{i,p,l}`` with
        ``eps_{.,p,t} ~ N(0, R)`` (R: :meth:`residual_correlation`) and ``T`` the Cholesky
        factor of :meth:`horizon_covariance_` (calibrated widths and cross-horizon
        correlation), clipped at 0 for non-negative series.  The sum of a path over the horizon is a draw of the period
        total (e.g. the quarter), so ``P(total >= target) = mean(paths.sum(-1) >= target)``.

        Parameters
        ----------
        h, n_paths : int
        random_state : int or numpy Generator
            The draws' random state (``seed=`` is an older name, still accepted).
        as_frame : bool
            Return a long frame ``unique_id, path, ds, y`` instead of an array.
        ids : list of str, optional
            Order/subset of series (default ``ids_``).
        corr : ndarray, optional
            Correlation matrix to use instead of :meth:`residual_correlation`.
        chol : ndarray, optional
            Its Cholesky factor (lower triangular), when already computed (``corr`` is then
            not used): a caller can drop the correlation before the draws.

        Returns
        -------
        ndarray (n_series, n_paths, h) or DataFrame
            The axis order of :class:`salesplan.data.paths.SamplePaths` (series x path x
            period); :meth:`paths` wraps it with the series ids and dates.
        """
        self._check_fitted()
        h = _check_h(h)
        ids = list(self.ids_ if ids is None else ids)
        pos = _positions(self.ids_, ids)
        means = self._means(h)[pos]
        scales = np.array([self.series_[u].scale for u in ids])
        if chol is None:  # the correlation computed here is factored in its own memory
            L = (_cholesky_in_place(self.residual_correlation(ids)) if corr is None
                 else _safe_cholesky(np.asarray(corr)))
        else:
            L = np.asarray(chol)
        rng = np.random.default_rng(random_state if seed is None else seed)
        z = rng.standard_normal((n_paths, h, len(ids)))
        # one (p*h, k) x (k, k) product, not p*h-row stacks of small ones: ~10x faster at
        # hundreds of series (the same draws; BLAS may round the last bit differently)
        eps = (z.reshape(-1, len(ids)) @ L.T).reshape(z.shape)  # (p, h, k)
        del z, L
        T = _safe_cholesky(self.horizon_covariance_(h))  # lower triangular (h, h)
        paths = np.einsum("jl,plk->kpj", T, eps)  # (k, p, h): the errors, then the paths
        del eps
        paths *= scales[:, None, None]  # in place: means + scales * err, one (k, p, h) array
        paths += means[:, None, :]
        nonneg = np.array([self.series_[u].nonneg for u in ids])
        np.maximum(paths, 0.0, out=paths, where=nonneg[:, None, None])
        if not as_frame:
            return paths
        rows = []
        for i, u in enumerate(ids):
            ds = self.future_dates(u, h)
            rows.append(pd.DataFrame({
                "unique_id": u, "path": np.repeat(np.arange(n_paths), h),
                "ds": np.tile(ds.to_numpy(), n_paths), "y": paths[i].ravel()}))
        return pd.concat(rows, ignore_index=True)

    def paths(self, h: int, n_paths: int = 1000, random_state=0, ids=None, corr=None) -> SamplePaths:
        """:meth:`sample_paths` as :class:`~salesplan.data.paths.SamplePaths` (series x path x
        period), dated when every series shares its future periods."""
        ids = list(self.ids_ if ids is None else ids)
        values = self.sample_paths(h, n_paths, random_state, ids=ids, corr=corr)
        by_last = {}  # the future periods of each distinct last observation
        for u in ids:
            last = self.last_ds_.get(u)
            if last not in by_last:
                by_last[last] = pd.DatetimeIndex(self.future_dates(u, h))
        dates = list(by_last.values())
        same = all(d.equals(dates[0]) for d in dates)
        return SamplePaths(values, ids, dates[0] if same and dates else None)

    def quantiles(self, h: int, q=(0.05, 0.1, 0.5, 0.9, 0.95)) -> pd.DataFrame:
        """Calibrated quantiles per series and period: ``mean + sign * q_{L,j} * scale``.

        For probability ``q`` the level is ``L = |2q - 1| * 100`` and the multiplier is
        interpolated between calibrated levels, so ``q=0.1``/``0.9`` equal the 80%
        bounds of :meth:`predict`. Returns ``unique_id, ds, q<q>`` columns.
        """
        self._check_fitted()
        h = _check_h(h)
        means = self._means(h)
        scales = np.array([self.series_[u].scale for u in self.ids_])
        out = self.predict(h, level=())[["unique_id", "ds"]].copy()
        for p in q:
            if not 0 < p < 1:
                raise ValueError(f"quantiles: q={p!r}; expected probabilities in (0, 1)")
            lv = abs(2 * p - 1) * 100
            val = means.copy() if lv == 0 else means + np.sign(p - 0.5) * scales[:, None] * \
                self._qfactor(lv, h)
            for i, u in enumerate(self.ids_):
                if self.series_[u].nonneg:
                    val[i] = np.maximum(val[i], 0)
            out[f"q{p:g}"] = val.ravel()
        return out

    @property
    def reasons_(self) -> pd.DataFrame:
        """One row per series: ``unique_id, model, reason, n_obs, scale``."""
        self._check_fitted()
        return pd.DataFrame([{"unique_id": u, "model": s.method, "reason": s.reason,
                              "n_obs": s.n, "scale": s.scale}
                             for u, s in self.series_.items()])


def _horizon_correlation(bt, cv_h, min_pairs=30, clip=6.0):
    """Lag correlations ``rho_k`` (k = 0..cv_h-1) of the standardised backtest errors.

    ``z_{w,j} = (y - f) / s_i`` for window ``w`` (one series, one origin) and horizon
    ``j``; ``rho_k = sum z_{w,j} z_{w,j+k} / sqrt(sum z_{w,j}^2 sum z_{w,j+k}^2)`` pooled over
    windows and ``j`` (uncentred, so a level error shared by the months of one window counts
    as correlation -- it is what widens the sum of the months).  ``z`` is clipped at
    ``+-clip``.  Lags with fewer than ``min_pairs`` pairs take the previous lag's value.
    Returns None when no lag can be estimated.
    """
    if len(bt) == 0 or cv_h < 2:
        return None
    z = (bt["y"].to_numpy(float) - bt["mean"].to_numpy(float)) / bt["scale"].to_numpy(float)
    z = np.clip(np.where(np.isfinite(z), z, np.nan), -clip, clip)
    win = pd.MultiIndex.from_arrays([bt["unique_id"].to_numpy(), bt["cutoff"].to_numpy()])
    codes, _ = pd.factorize(win)
    Z = np.full((codes.max() + 1, cv_h), np.nan)
    Z[codes, bt["h"].to_numpy() - 1] = z
    rho = np.ones(cv_h)
    ok_any = False
    for k in range(1, cv_h):
        a, b = Z[:, :-k], Z[:, k:]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < min_pairs:
            rho[k] = rho[k - 1] if k > 1 else np.nan
            continue
        den = np.sqrt(np.sum(a[ok] ** 2) * np.sum(b[ok] ** 2))
        rho[k] = np.sum(a[ok] * b[ok]) / den if den > 0 else 0.0
        ok_any = True
    if not ok_any:
        return None
    rho[1:] = np.clip(rho[1:], -0.5, 0.99)
    return rho


def _toeplitz_corr(rho, h):
    """Positive semi-definite correlation matrix ``C_{jl} = rho_{|j-l|}`` (h x h)."""
    r = np.r_[rho, np.full(max(0, h - len(rho)), rho[-1])][:h]
    C = r[np.abs(np.subtract.outer(np.arange(h), np.arange(h)))]
    w, V = np.linalg.eigh(C)
    if w.min() < 1e-6:  # nearest PSD: clip eigenvalues, restore the unit diagonal
        C = (V * np.maximum(w, 1e-6)) @ V.T
        d = np.sqrt(np.diag(C))
        C = C / np.outer(d, d)
    return C


def _safe_cholesky(R):
    R = np.asarray(R, float)
    for jitter in (0, 1e-10, 1e-8, 1e-6, 1e-4):
        try:
            if jitter == 0:
                return np.linalg.cholesky(R)
            Rj = R.copy()  # R + jitter I: the jitter added to the diagonal, no n x n identity
            Rj.flat[:: len(R) + 1] += jitter
            return np.linalg.cholesky(Rj)
        except np.linalg.LinAlgError:
            continue
    w, V = np.linalg.eigh(R)
    return V * np.sqrt(np.maximum(w, 0))


#: rows of an n x n matrix compared or rewritten at a time (no n x n temporary)
_ROW_BLOCK = 1024


def _symmetric(R: np.ndarray) -> bool:
    """``np.array_equal(R, R.T)``, compared :data:`_ROW_BLOCK` rows at a time."""
    return all(np.array_equal(R[i:i + _ROW_BLOCK], R[:, i:i + _ROW_BLOCK].T)
               for i in range(0, len(R), _ROW_BLOCK))


def _cholesky_in_place(R: np.ndarray) -> np.ndarray:
    """:func:`_safe_cholesky` of ``R`` (a correlation matrix its caller no longer needs),
    written into ``R``'s own memory when ``R`` is positive definite.

    ``np.linalg.cholesky`` copies its input into a Fortran-ordered work matrix, factors it
    (LAPACK ``dpotrf``, lower) and writes the factor to a third n x n array: with the input
    kept by the caller, three n x n arrays at once (~1.1 GB at 6,700 reps).  A symmetric,
    C-ordered float64 ``R`` is, read in Fortran order (``R.T``), the same matrix, so the
    same ``dpotrf`` (scipy's LAPACK, the same OpenBLAS routine: the same bits where numpy's
    and scipy's OpenBLAS builds agree, as with the project's lock on x86-64; to rounding
    anywhere, ``tests/test_forecast_memory.py``) factors it in place; the strict upper triangle is
    then zeroed as numpy does.  The factor is returned as a Fortran-ordered view of ``R``'s
    memory (``R`` is overwritten).  When ``R`` is not a symmetric C-ordered float64 matrix,
    or not positive definite (``dpotrf`` wrote only one triangle and the diagonal, so ``R``
    is restored from the other one and its saved diagonal), :func:`_safe_cholesky` of
    ``R`` as before.

    Parameters
    ----------
    R : ndarray (n, n)
        Correlation matrix (unitless); overwritten when the factor is computed in place.

    Returns
    -------
    ndarray (n, n)
        Lower-triangular ``L`` with ``L L' = R`` (as :func:`_safe_cholesky`).
    """
    if not (isinstance(R, np.ndarray) and R.ndim == 2 and R.dtype == np.float64
            and R.flags.c_contiguous and R.flags.writeable and len(R) > 1 and _symmetric(R)):
        return _safe_cholesky(R)
    from scipy.linalg.lapack import dpotrf

    diag = R.diagonal().copy()
    L, info = dpotrf(R.T, lower=1, clean=0, overwrite_a=1)
    if info == 0 and np.shares_memory(L, R):
        for j in range(1, len(R)):  # L[i, j] = 0 for j > i: R[j, :j] in R's C order
            R[j, :j] = 0.0
        return L
    if np.shares_memory(L, R):  # not positive definite: R's upper triangle (and diagonal) was
        for i in range(len(R) - 1):  # written; its strict lower one holds the input
            R[i, i + 1:] = R[i + 1:, i]
        R.flat[:: len(R) + 1] = diag
    return _safe_cholesky(R)


def _positions(seq, items) -> list[int]:
    """``[seq.index(u) for u in items]`` (first position; ``ValueError`` for an item not in
    ``seq``) by one dictionary, not one scan of ``seq`` per item (thousands of series)."""
    first: dict = {}
    for i, u in enumerate(seq):
        first.setdefault(u, i)
    try:
        return [first[u] for u in items]
    except (KeyError, TypeError):  # the message of list.index
        return [seq.index(u) for u in items]


def _check_h(h):
    if not isinstance(h, (int, np.integer)) or h < 1:
        raise ValueError(f"h={h!r}; expected a positive whole number of periods")
    return int(h)


def _mase_scale(y, m):
    """In-sample MASE denominator: mean |y_t - y_{t-m}| (m=1 when the series is short)."""
    y = np.asarray(y, float)
    mm = m if len(y) > m else 1
    d = np.abs(y[mm:] - y[:-mm]) if len(y) > mm else np.abs(y)
    s = float(np.mean(d)) if len(d) else 0.0
    if s <= 0:
        s = float(np.mean(np.abs(y))) or 1.0
    return s
