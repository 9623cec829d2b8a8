"""statsforecast ``AutoCES`` with its start-up states computed once per series, in numpy.

``statsforecast.ces.auto_ces(y, m, model="Z")`` fits the four CES types N, S, P, F and
keeps the lowest AICc.  The start-up states of P and F each call statsmodels'
``seasonal_decompose(y, period=m)`` (pandas ``nanmean`` per season position, a scipy
convolution with its method choice): the same decomposition twice per fit, and a quarter
of the CPU time of an AutoCES fit on a monthly sales series.  :func:`auto_ces` here is the
same model search with the seasonal component of that decomposition computed once, by
:func:`additive_seasonal` (the same operations on the same arrays, so the same bits; the
optimiser and the likelihood are statsforecast's own C++ functions).  ``tests/test_forecast_ces.py``
checks the fits against ``statsforecast.models.AutoCES`` bit for bit.
"""

from __future__ import annotations

import numpy as np
from statsforecast import ces as _sfces
from statsforecast.arima import is_constant
from statsforecast.models import AutoCES
from statsforecast.utils import _ensure_float

#: longest series whose centred moving average is computed by ``np.convolve`` directly
#: (scipy's ``convolve`` picks the direct method for these lengths; beyond, statsmodels)
MAX_DIRECT = 1000


def additive_seasonal(y: np.ndarray, m: int) -> np.ndarray:
    """The first ``m`` values of ``seasonal_decompose(y, period=m).seasonal`` (statsmodels,
    additive, centred ``2 x m`` moving average): season position means of ``y - trend``
    (NaN ends skipped), centred on their mean.

    Parameters
    ----------
    y : ndarray (n,)
        Finite values, ``n >= 2 m``.
    m : int
        Season length (periods).
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n > MAX_DIRECT or y.ndim != 1:
        from statsmodels.tsa.seasonal import seasonal_decompose

        return np.asarray(seasonal_decompose(y, period=m).seasonal[:m], dtype=np.float64)
    if m % 2 == 0:
        filt = np.array([0.5] + [1] * (m - 1) + [0.5]) / m
    else:
        filt = np.repeat(1.0 / m, m)
    core = np.convolve(y, filt, mode="valid")
    head = int(np.ceil(len(filt) / 2.0) - 1)
    trend = np.full(n, np.nan)
    trend[head: head + len(core)] = core
    detrended = y - trend
    avg = np.empty(m)
    for i in range(m):
        x = detrended[i::m]
        mask = np.isnan(x)
        if mask.any():  # pandas nanmean: a filled copy summed, divided by the count
            x = x.copy()
            np.putmask(x, mask, 0.0)
        avg[i] = x.sum() / (len(x) - int(mask.sum()))
    avg -= np.mean(avg, axis=0)
    return avg


def _initstate(y, m, seasontype, seasonal):
    """``statsforecast.ces.initstate`` with the seasonal component given."""
    components = 2 + (seasontype == "P") + 2 * (seasontype == "F")
    lags = 1 if seasontype == "N" else m
    states = np.zeros((lags, components), dtype=np.float64)
    if seasontype == "N":
        idx = min(max(10, m), len(y))
        mean_ = np.mean(y[:idx])
        states[0, 0] = mean_
        states[0, 1] = mean_ / 1.1
    elif seasontype == "S":
        states[:lags, 0] = y[:lags]
        states[:lags, 1] = y[:lags] / 1.1
    else:  # P, F
        states[:lags, 0] = np.mean(y[:lags])
        states[:lags, 1] = states[:lags, 0] / 1.1
        states[:lags, 2] = seasonal()
        if seasontype == "F":
            states[:lags, 3] = states[:lags, 2] / 1.1
    return states


def _cesmodel(y, m, seasontype, seasonal, nmse=3):
    """``statsforecast.ces.cesmodel`` (normal errors, every parameter optimised) with the
    start-up states of :func:`_initstate`."""
    if seasontype == "N":
        m = 1
    par = _sfces.initparamces(alpha_0=np.nan, alpha_1=np.nan, beta_1=np.nan, beta_0=np.nan,
                              seasontype=seasontype)
    optimize_params = {key.replace("optimize_", ""): val for key, val in par.items() if "optim" in key}
    par = {key: val for key, val in par.items() if "optim" not in key}
    init_state = _initstate(y, m, seasontype, seasonal)
    n_components = init_state.shape[1]
    fred = _sfces.optimize_ces_target_fn(init_par=par, optimize_params=optimize_params, y=y, m=m,
                                         init_states=init_state, n_components=n_components,
                                         seasontype=seasontype, nmse=nmse)
    if fred is not None:
        j = 0
        for key in ("alpha_0", "alpha_1", "beta_0", "beta_1"):
            if optimize_params[key]:
                par[key] = fred.x[j]
                j += 1
    amse, e, states, lik = _sfces.pegelsresid_ces(y=y, m=m, init_states=init_state,
                                                  n_components=n_components, seasontype=seasontype,
                                                  nmse=nmse, **par)
    ny = len(y)
    np_ = n_components + 1
    aic = lik + 2 * np_
    bic = lik + np.log(ny) * np_
    aicc = aic + 2 * np_ * (np_ + 1) / (ny - np_ - 1) if ny - np_ - 1 != 0.0 else np.inf
    return dict(loglik=-0.5 * lik, aic=aic, bic=bic, aicc=aicc, mse=amse[0], amse=np.mean(amse),
                fit=fred, fitted=y - e, residuals=e, m=m, states=states, par=par, n=len(y),
                seasontype=seasontype, sigma2=np.sum(e ** 2) / (ny - np_ - 1), distribution="normal")


def auto_ces(y, m):
    """``statsforecast.ces.auto_ces(y, m)`` (model ``"Z"``, AICc, normal errors): the same
    fitted model dict, the seasonal decomposition computed once (module docstring)."""
    seasontypes = ["N"] if (m < 1 or len(y) < 2 * m or m == 1) else ["N", "S", "P", "F"]
    if len(y) <= (2 if seasontypes == ["N"] else 4):
        raise NotImplementedError("tiny datasets")
    memo = []

    def seasonal():
        if not memo:
            memo.append(additive_seasonal(y, m))
        return memo[0]

    best_ic, model = np.inf, None
    for stype in seasontypes:
        fit = _cesmodel(y, m, stype, seasonal)
        if not np.isnan(fit["aicc"]) and fit["aicc"] < best_ic:
            model, best_ic = fit, fit["aicc"]
    if np.isinf(best_ic):
        raise Exception("no model able to be fitted")
    return model


class FastAutoCES(AutoCES):
    """``statsforecast.models.AutoCES(season_length=m)`` (model ``"Z"``, normal errors) whose
    fit runs :func:`auto_ces`: the same fitted model, predictions and in-sample values."""

    def fit(self, y, X=None):
        y = _ensure_float(y)
        if (is_constant(y) or self.model != "Z" or self.distribution != "normal"
                or self.prediction_intervals is not None):
            return super().fit(y, X)
        self.model_ = auto_ces(y, m=self.season_length)
        self.model_["actual_residuals"] = y - self.model_["fitted"]
        self._store_cs(y=y, X=X)
        return self
