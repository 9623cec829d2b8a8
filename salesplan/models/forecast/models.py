"""Per-series models behind :class:`salesplan.models.forecast.Forecaster`.

Each model follows a tiny protocol: ``fit(y) -> self``, ``predict(h) -> mean (h,)``
and ``fitted() -> in-sample one-step fitted values (n,)`` (NaN where undefined).
The ``global`` member of ``combo`` is trained across series by the engine
(:mod:`salesplan.models.forecast.global_model`); :func:`make_method` builds the local members
only.  Uncertainty is not taken from the models: the :class:`~salesplan.models.forecast.Forecaster`
calibrates interval widths from rolling-origin backtest errors scaled by each series'
in-sample one-step RMSE (see ``engine.py``), which works the same for single models,
combinations and fallbacks.

Engines
-------
The statistical models are the ``statsforecast`` implementations (C++ core) of
AutoETS, Theta, optimised/dynamic Theta, AutoARIMA, AutoCES, Croston-SBA and TSB; on the
M3 benchmark they are 5-30x faster than the statsmodels implementations with equal
accuracy (see ``benchmarks/RESULTS.md``).  ``ets_sm`` is the statsmodels ETS
(``ETSModel``, AICc over the additive/multiplicative family) for users who want the
statsmodels engine.  Seasonal adjustment for the ``a*`` models is the classical
multiplicative decomposition of :mod:`salesplan.models.forecast.classic`.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict

import numpy as np

from salesplan.models.forecast import classic
from salesplan.models.forecast.ets_family import ETSFamily

#: the components of every named method (a combination is the mean of its members)
METHODS: dict[str, tuple[str, ...]] = {
    "snaive": ("snaive",),
    "naive": ("naive",),
    "mean": ("mean",),
    "ets": ("ets",),
    "ets_sm": ("ets_sm",),
    "damped": ("damped",),
    "theta": ("theta",),
    "otm": ("otm",),
    "dotm": ("dotm",),
    "autotheta": ("autotheta",),
    "arima": ("arima",),
    "ces": ("ces",),
    "sba": ("sba",),
    "croston": ("croston",),
    "tsb": ("tsb",),
    # combinations (equal-weight mean of the members' point forecasts)
    "ets_theta_arima": ("ets", "theta", "arima"),
    "ets_theta": ("ets", "theta"),
    "cdamped": ("cdamped",),
    "ctheta": ("ctheta",),
    "ets_autotheta_damped_theta": ("ets", "autotheta", "damped", "theta"),
    "etsw": ("etsw",),
    "ces_damped_theta": ("ces", "cdamped", "ctheta"),
    "autotheta_damped_theta": ("autotheta", "cdamped", "ctheta"),
    # the previous default (until 2026-12): local members only
    "combo_local": ("ces", "cdamped", "ctheta"),
    # default: chosen on the in-sample backtest of M3 quarterly (last 8 training
    # quarters), see benchmarks/RESULTS.md: the equal-weight mean of complex exponential
    # smoothing (Svetunkov; one of the SCUM members), damped trend, Theta and the global
    # (cross-learning) network of salesplan.models.forecast.global_model
    "combo": ("ces", "cdamped", "ctheta", "global"),
}
INTERMITTENT = ("sba", "croston", "tsb")
#: members trained across all series (by the engine), not per series
GLOBAL = ("global",)


def uses_global(method: str) -> bool:
    """Whether ``method`` has a global (cross-learning) member."""
    return any(n in GLOBAL for n in METHODS.get(method, ()))


class _Base:
    name = "base"

    def __init__(self, m: int = 1):
        self.m = m

    def fitted(self) -> np.ndarray:
        return self.fitted_


class SeasonalNaive(_Base):
    """``f_{T+j} = y_{T+j-m*ceil(j/m)}`` (last value of the same season)."""

    name = "snaive"

    def fit(self, y):
        y = np.asarray(y, float)
        m = self.m if len(y) >= self.m else 1
        self.last_ = y[-m:].copy()
        f = np.full(len(y), np.nan)
        f[m:] = y[:-m]
        self.fitted_ = f
        return self

    def predict(self, h):
        return np.resize(self.last_, h).astype(float)


class Naive(SeasonalNaive):
    """``f_{T+j} = y_T``."""

    name = "naive"

    def __init__(self, m: int = 1):
        super().__init__(1)


class Mean(_Base):
    """``f_{T+j} = mean(y)``."""

    name = "mean"

    def fit(self, y):
        y = np.asarray(y, float)
        self.mu_ = float(y.mean())
        f = np.full(len(y), np.nan)
        if len(y) > 1:
            f[1:] = np.cumsum(y)[:-1] / np.arange(1, len(y))
        self.fitted_ = f
        return self

    def predict(self, h):
        return np.full(h, self.mu_)


class _SF(_Base):
    """Wrapper of a statsforecast model; ``adjust`` = fit on the seasonally adjusted series.

    ``unused_state`` names entries of the fitted model's ``model_`` dict that ``predict(h)``
    does not read (residuals, optimiser results); they are dropped after the fit, so a
    fit held by the fit caches is smaller.
    """

    adjust = False
    unused_state: tuple[str, ...] = ()

    def _make(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, y):
        y = np.asarray(y, float)
        self.n_ = len(y)
        if self.adjust:
            ya, ins, _ = classic.deseasonalize(y, self.m, 0)
            self.idx_ = classic.multiplicative_indices(y, self.m) if not np.all(ins == 1) else None
        else:
            ya, ins = y, np.ones(len(y))
            self.idx_ = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_ = self._make().fit(ya)
            try:
                f = np.asarray(self.model_.predict_in_sample()["fitted"], float)
            except Exception:  # some models keep no fitted values
                f = np.full(len(y), np.nan)
        self.fitted_ = f * ins
        state = getattr(self.model_, "model_", None)
        if isinstance(state, dict):
            for k in self.unused_state:
                state.pop(k, None)
        return self

    def _future_index(self, h):
        if self.idx_ is None:
            return np.ones(h)
        return self.idx_[np.arange(self.n_, self.n_ + h) % self.m]

    def predict(self, h):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = np.asarray(self.model_.predict(h)["mean"], float)
        return mean * self._future_index(h)


def _sf_class(cls_name, name, factory, adjust=False, doc="", unused_state=()):
    cls = type(cls_name, (_SF,), {"name": name, "adjust": adjust, "__doc__": doc,
                                  "_make": lambda self: factory(self.m),
                                  "unused_state": tuple(unused_state),
                                  "__module__": __name__})
    return cls


def _sf():
    import statsforecast.models as sfm

    return sfm


ETS = _sf_class("ETS", "ets", lambda m: _sf().AutoETS(season_length=m),
                doc="statsforecast AutoETS: AICc over ETS(E,T,S) incl. damped trend.")
Theta = _sf_class("Theta", "theta", lambda m: _sf().Theta(season_length=m),
                  doc="Standard Theta (theta=2) with classical multiplicative decomposition.")
OTM = _sf_class("OTM", "otm", lambda m: _sf().OptimizedTheta(season_length=m),
                doc="Optimised Theta (Fiorucci et al. 2016).")
DOTM = _sf_class("DOTM", "dotm", lambda m: _sf().DynamicOptimizedTheta(season_length=m),
                 doc="Dynamic optimised Theta (Fiorucci et al. 2016).")
AutoTheta = _sf_class("AutoTheta", "autotheta", lambda m: _sf().AutoTheta(season_length=m),
                      doc="Best of STM/OTM/DSTM/DOTM by in-sample MSE.")
ARIMA = _sf_class("ARIMA", "arima", lambda m: _sf().AutoARIMA(season_length=m),
                  doc="AutoARIMA (Hyndman-Khandakar stepwise search).")
def _autoces(m):
    from salesplan.models.forecast._ces import FastAutoCES  # AutoCES, decomposition once

    return FastAutoCES(season_length=m)


CES = _sf_class("CES", "ces", _autoces,
                doc="Complex exponential smoothing (Svetunkov): statsforecast AutoCES "
                    "(:class:`~salesplan.models.forecast._ces.FastAutoCES`, the same fits).",
                # the point forecast (statsforecast's forecast_ces) reads the states, the
                # parameters, n, m, the season type and the fitted values only
                unused_state=("residuals", "actual_residuals", "fit"))
Damped = _sf_class("Damped", "damped", lambda m: _sf().AutoETS(season_length=1, model="AAN", damped=True),
                   adjust=True,
                   doc="ETS(A,Ad,N) on the classically seasonally adjusted series.")
SBA = _sf_class("SBA", "sba", lambda m: _sf().CrostonSBA(),
                doc="Croston with the Syntetos-Boylan bias correction (intermittent demand).")
Croston = _sf_class("Croston", "croston", lambda m: _sf().CrostonOptimized(),
                    doc="Croston with optimised smoothing (intermittent demand).")
TSB = _sf_class("TSB", "tsb", lambda m: _sf().TSB(alpha_d=0.1, alpha_p=0.1),
                doc="Teunter-Syntetos-Babai (probability and size smoothed, alpha 0.1).")


class _Classic(_Base):
    """numpy classics of :mod:`salesplan.models.forecast.classic` on the seasonally adjusted series."""

    kind = "Ad"

    def fit(self, y):
        y = np.asarray(y, float)
        self.y_ = y
        self.cache_ = {}
        f = self._fit(max(2 * self.m, 24))
        self.fitted_ = y - f.resid
        return self

    def _fit(self, h):
        if h not in self.cache_:
            ya, ins, fut = classic.deseasonalize(self.y_, self.m, h)
            fit = classic.fit_theta(ya, h) if self.kind == "theta" else classic.fit_ets(
                ya, h, self.kind)
            self.cache_ = {h: classic.with_seasonality(fit, ins, fut, self.y_)}
        return self.cache_[h]

    def predict(self, h):
        H = max(h, 2 * self.m, 24)
        return self._fit(H).mean[:h].copy()


class ClassicDamped(_Classic):
    """ETS(A,Ad,N) on the classically adjusted series (numpy, least squares)."""

    name = "cdamped"
    kind = "Ad"


class ClassicTheta(_Classic):
    """Classical Theta (SES + half OLS drift) on the classically adjusted series (numpy)."""

    name = "ctheta"
    kind = "theta"


class ETSStatsmodels(_Base):
    """statsmodels ``ETSModel``: AICc choice over error/trend(damped)/season combinations."""

    name = "ets_sm"

    def fit(self, y):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        y = np.asarray(y, float)
        best = None
        positive = bool(np.all(y > 0))
        seasonal = [None] + (["add", "mul"] if self.m > 1 and len(y) >= 2 * self.m + 2 else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for err in ["add", "mul"] if positive else ["add"]:
                for tr, damped in [(None, False), ("add", False), ("add", True)]:
                    for se in seasonal:
                        if se == "mul" and not positive:
                            continue
                        try:
                            res = ETSModel(y, error=err, trend=tr, damped_trend=damped,
                                           seasonal=se, seasonal_periods=self.m if se else None
                                           ).fit(disp=False)
                        except Exception:
                            continue
                        if np.isfinite(res.aicc) and (best is None or res.aicc < best.aicc):
                            best = res
        if best is None:
            self.res_, self.mu_ = None, float(y[-1])
            self.fitted_ = np.full(len(y), np.nan)
        else:
            self.res_ = best
            self.fitted_ = np.asarray(best.fittedvalues, float)
        return self

    def predict(self, h):
        if self.res_ is None:
            return np.full(h, self.mu_)
        return np.asarray(self.res_.forecast(h), float)


MODELS = {c.name: c for c in (SeasonalNaive, Naive, Mean, ETS, Theta, OTM, DOTM, AutoTheta,
                              ARIMA, CES, Damped, SBA, Croston, TSB, ETSStatsmodels,
                              ClassicDamped, ClassicTheta, ETSFamily)}


#: fitted members by ``(name, m, history_key(history))``, least recently used dropped
#: beyond :data:`FIT_CACHE_SIZE` (see :func:`fit_member`)
_FIT_CACHE: OrderedDict = OrderedDict()
#: most fitted members kept (a fitted member holds 2-4 KiB; in the forecaster's default
#: path each is also held by a local fit of :mod:`~salesplan.models.forecast.engine`'s
#: cache, three members per fit, so this bound follows that cache's)
FIT_CACHE_SIZE = 300_000


def history_key(y) -> bytes:
    """The fit caches' key of a history: a 16-byte BLAKE2b digest of its float64 bytes.

    Equal histories (the same values in the same order) have the same key; two of the
    ~10^5 histories of a plan at scale 100 share one by chance with probability ~10^-29.
    Holding 16 bytes instead of the history's own bytes (8 per month) keeps the caches
    small.
    """
    return hashlib.blake2b(np.ascontiguousarray(y, dtype=float).tobytes(), digest_size=16).digest()


def fit_member(name: str, m: int, y) -> _Base:
    """``MODELS[name](m).fit(y)``, fitted once per process for the same history.

    The same series cut at the same period is fitted again and again: by the backtest
    windows of a :class:`~salesplan.models.forecast.Forecaster`, by the reconciliation
    backtest of a hierarchy, by ``cross_validation`` and by the monitoring quarter's
    forecast (a plan quarter earlier).  The local members are deterministic functions of
    ``(name, m, y)`` (the global member is not one of them), so the fitted object is
    reused: same numbers, fitted once.  Fitted members are only read afterwards
    (``predict``, ``fitted``), never refitted in place.
    """
    y = np.array(y, dtype=float)  # a private copy: the cached model may keep it
    key = (name, int(m), history_key(y))
    model = _FIT_CACHE.get(key)
    if model is not None:
        _FIT_CACHE.move_to_end(key)
        return model
    model = MODELS[name](m).fit(y)
    _FIT_CACHE[key] = model
    if len(_FIT_CACHE) > FIT_CACHE_SIZE:
        _FIT_CACHE.popitem(last=False)
    return model


class Combination:
    """Equal-weight mean of member models: ``f = (1/K) sum_k f_k``."""

    def __init__(self, names, m):
        self.names = tuple(names)
        self.m = m

    def fit(self, y):
        self.members_ = [fit_member(n, self.m, y) for n in self.names]
        return self

    def predict(self, h):
        return np.mean([mm.predict(h) for mm in self.members_], axis=0)

    def fitted(self):
        f = np.array([mm.fitted() for mm in self.members_])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.nanmean(f, axis=0) if f.size else f


def make_method(method: str, m: int) -> Combination:
    """Model object of the *local* members of a method name of :data:`METHODS`
    (global members are added by the engine, which trains them across series)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; expected one of {sorted(METHODS)} or 'auto'")
    return Combination([n for n in METHODS[method] if n not in GLOBAL], m)
