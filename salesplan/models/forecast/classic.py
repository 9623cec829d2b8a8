"""Fast classical methods in numpy: decomposition, SES, Holt, damped trend, Theta.

These are the M3-era workhorses, implemented directly so that hundreds of series fit
in seconds on one core:

* classical multiplicative decomposition with the 90% autocorrelation seasonality test
  of Assimakopoulos & Nikolopoulos (2000) / R ``forecast::thetaf``;
* additive-error exponential smoothing on the seasonally adjusted series
  (ETS(A,N,N), ETS(A,A,N), ETS(A,Ad,N), Hyndman et al. 2008), parameters by least
  squares of the one-step errors (Nelder-Mead on a logit scale, compiled in
  :mod:`salesplan.models.forecast._ets_kernels`);
* the Theta method (SES plus half the linear-regression drift, Hyndman & Billah 2003).

Every fit returns a :class:`Fit` with the point forecast, the innovation standard
deviation ``sigma`` and the psi weights of the innovations representation, so that the
h-step error is ``e_{T+j} = sum_{i<j} psi_i * eps_{T+j-i}`` with ``psi_0 = 1`` and
``Var(e_{T+j}) = sigma^2 * sum_{i<j} psi_i^2``.  Sample paths use exactly this form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_Z90 = 1.6448536269514722  # N(0,1) 95% quantile (one-sided 90% test of R thetaf)


@dataclass
class Fit:
    """Result of one model on one series (all arrays are on the original scale).

    Attributes
    ----------
    mean : ndarray (h,)
        Point forecast for periods T+1..T+h.
    sigma : float
        Standard deviation of the one-step innovations (seasonally adjusted scale).
    psi : ndarray (h,)
        Innovation weights; ``psi[0] = 1``.
    scale : ndarray (h,)
        Multiplicative seasonal index applied to period T+j (1 when non-seasonal);
        the error of period T+j is ``scale[j] * sum_i psi_i eps_{T+j-i}``.
    resid : ndarray (n,)
        In-sample one-step residuals on the original scale (NaN where undefined).
    """

    mean: np.ndarray
    sigma: float
    psi: np.ndarray
    scale: np.ndarray
    resid: np.ndarray

    def sd(self) -> np.ndarray:
        """h-step forecast standard deviation ``scale_j * sigma * sqrt(sum_{i<j} psi_i^2)``."""
        return self.scale * self.sigma * np.sqrt(np.cumsum(self.psi**2))


# --------------------------------------------------------------------------- seasonality
def seasonal_test(y: np.ndarray, m: int) -> bool:
    """90% test for seasonality by the lag-m autocorrelation (R ``thetaf`` rule).

    Seasonal when ``|r_m| / sqrt((1 + 2 sum_{k<m} r_k^2) / n) > 1.645``; requires
    ``n >= 3m`` (shorter series are treated as non-seasonal by the caller unless it
    pools a profile).
    """
    n = len(y)
    if m <= 1 or n < 3 * m:
        return False
    x = y - y.mean()
    denom = float(np.dot(x, x))
    if denom <= 0:
        return False
    r = np.array([np.dot(x[: n - k], x[k:]) / denom for k in range(1, m + 1)])
    stat = np.sqrt((1.0 + 2.0 * np.sum(r[: m - 1] ** 2)) / n)
    return bool(abs(r[m - 1]) / stat > _Z90)


def multiplicative_indices(y: np.ndarray, m: int) -> np.ndarray:
    """Classical multiplicative seasonal indices (length m, mean 1), position 0 = y[0].

    ratio_t = y_t / CMA_t (centred 2 x m moving average); index_k = mean of the ratios
    at season position k, normalised to average 1.
    """
    n = len(y)
    if m % 2 == 0:
        w = np.r_[0.5, np.ones(m - 1), 0.5] / m
    else:
        w = np.ones(m) / m
    cma = np.convolve(y, w, mode="valid")
    off = (len(w) - 1) // 2
    ratio = np.full(n, np.nan)
    ratio[off: off + len(cma)] = y[off: off + len(cma)] / cma
    idx = np.array([np.nanmean(ratio[k::m]) if np.isfinite(ratio[k::m]).any() else 1.0
                    for k in range(m)])
    idx = np.where(np.isfinite(idx) & (idx > 0), idx, 1.0)
    return idx / idx.mean()


def deseasonalize(y: np.ndarray, m: int, h: int, force: bool | None = None):
    """Seasonally adjust ``y`` when seasonal; returns (adjusted y, in-sample idx, future idx).

    Multiplicative indices are used only for strictly positive series; ``force`` skips
    the test (True = always adjust, False = never).
    """
    n = len(y)
    ones = (np.ones(n), np.ones(h))
    if m <= 1 or n < 2 * m or np.any(y <= 0):
        return y, *ones
    seasonal = seasonal_test(y, m) if force is None else force
    if not seasonal:
        return y, *ones
    idx = multiplicative_indices(y, m)
    ins = idx[np.arange(n) % m]
    fut = idx[np.arange(n, n + h) % m]
    return y / ins, ins, fut


# --------------------------------------------------------------------------- smoothing
_SES_GRID = np.linspace(-6, 6, 25)  # start values of SES's logit(alpha) searched first


def fit_ets(y: np.ndarray, h: int, trend: str = "N") -> Fit:
    """Additive-error exponential smoothing, non-seasonal, on an (adjusted) series.

    Parameters
    ----------
    y : ndarray
        Series (already seasonally adjusted when needed), length n >= 2.
    h : int
        Horizon.
    trend : {"N", "A", "Ad"}
        None (SES), additive (Holt) or damped additive (Gardner & McKenzie).

    Notes
    -----
    Level/trend recursions ``l_t = l_{t-1} + phi b_{t-1} + alpha e_t``,
    ``b_t = phi b_{t-1} + beta e_t``; forecast ``l_T + (phi + ... + phi^j) b_T``;
    parameters minimise the sum of squared one-step errors with ``0 < alpha < 1``,
    ``0 < beta < alpha``, ``0.8 <= phi <= 0.98``; initial states from the first values.
    Psi weights ``psi_j = alpha + beta (phi + ... + phi^j)``.
    """
    # the kernels import numba (~0.3 s): only when a model is fitted, not at package import
    from salesplan.models.forecast import _ets_kernels as _K

    y = np.ascontiguousarray(y, dtype=float)
    n = len(y)
    trend_on = trend in ("A", "Ad")
    if n < 2:
        mean = np.full(h, y[-1] if n else 0.0)
        return Fit(mean, 0.0, np.ones(h), np.ones(h), np.full(n, np.nan))
    l0 = y[0]
    b0 = (np.mean(y[1: min(n, 5)]) - y[0]) / max(1, min(n, 5) - 1) / 1.0 if trend_on else 0.0
    if trend_on and n >= 4:
        k = min(n, 8)
        b0 = np.polyfit(np.arange(k), y[:k], 1)[0]
        l0 = y[0]

    damped = trend == "Ad"
    p0 = np.array({"N": [0.0], "A": [0.0, -2.0], "Ad": [0.0, -2.0, 1.0]}[trend])
    if trend == "N":
        p0[0] = _K.ses_start(_SES_GRID, y, float(l0))
    # Nelder-Mead on the logit scale (scipy's algorithm and defaults, compiled)
    x, _ = _K.nelder_mead(p0, y, float(l0), float(b0), trend_on, damped, 1e-3,
                          1e-6 * max(1.0, float(np.dot(y, y))), 200 * len(p0))
    a, b, ph = _K.unpack(x, trend_on, damped)
    e, lvl, bT = _K.ets_filter(y, a, b, ph, float(l0), float(b0), trend_on)
    j = np.arange(1, h + 1)
    if trend_on:
        cum = np.cumsum(ph ** j)
        mean = lvl + cum * bT
    else:
        cum = np.zeros(h)
        mean = np.full(h, lvl)
    k = 2 if trend_on else 1
    sigma = float(np.sqrt(np.dot(e, e) / max(1, n - k)))
    psi = np.ones(h)
    if h > 1:
        cum_prev = np.cumsum(ph ** np.arange(1, h)) if trend_on else np.zeros(h - 1)
        psi[1:] = a + b * cum_prev
    return Fit(mean, sigma, psi, np.ones(h), e)


def fit_theta(y: np.ndarray, h: int) -> Fit:
    """Classical Theta method on an (adjusted) series: SES plus half the OLS drift.

    ``f_{T+j} = SES_T + (b/2) * ((j - 1) + (1 - (1-alpha)^n) / alpha)`` where ``b`` is
    the slope of the least-squares line through ``y`` (Hyndman & Billah 2003,
    R ``forecast::thetaf``). Uncertainty is that of the SES model.
    """
    y = np.asarray(y, float)
    n = len(y)
    f = fit_ets(y, h, "N")
    if n < 3:
        return f
    slope = np.polyfit(np.arange(n), y, 1)[0]
    # recover alpha from the psi weights (psi_1 = alpha) or refit-free guess
    alpha = f.psi[1] if h > 1 else _ses_alpha(y)
    alpha = max(alpha, 1e-4)
    drift = slope / 2.0 * (np.arange(h) + (1 - (1 - alpha) ** n) / alpha)
    return Fit(f.mean + drift, f.sigma, f.psi, f.scale, f.resid)


def _ses_alpha(y):
    from salesplan.models.forecast import _ets_kernels as _K

    g = np.linspace(0.01, 0.99, 99)
    best, ba = np.inf, 0.5
    for a in g:
        e, _, _ = _K.ets_filter(y, float(a), 0.0, 1.0, float(y[0]), 0.0, False)
        s = np.dot(e, e)
        if s < best:
            best, ba = s, a
    return ba


def with_seasonality(fit: Fit, ins: np.ndarray, fut: np.ndarray, y: np.ndarray) -> Fit:
    """Re-seasonalise a fit made on ``y / ins``: mean and error scale times the index."""
    resid = fit.resid * ins
    return Fit(fit.mean * fut, fit.sigma, fit.psi, fit.scale * fut, resid)
