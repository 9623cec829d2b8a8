"""ETS over a wide model family, selected or weighted by AICc (Hyndman et al. 2008).

Each member model is fitted by maximum likelihood with the C++ state-space core of
``statsforecast`` (``statsforecast.ets.ets_f``, a port of R ``forecast::ets``); what
differs from ``statsforecast.models.AutoETS`` is the family and the choice:

* the family includes the additive-error / multiplicative-season models (A,*,M) that
  R's ``restrict=TRUE`` excludes (statsmodels ``ETSModel`` allows them as well), and the
  seasonal models are tried only when the 90% autocorrelation test of
  :func:`salesplan.models.forecast.classic.seasonal_test` says the series is seasonal (the
  M3 Theta recipe); non-seasonal series get the non-seasonal models only;
* the forecast is the Akaike-weight combination ``f = sum_k w_k f_k`` with
  ``w_k = exp(-AICc_k / 2) / sum_l exp(-AICc_l / 2)`` (Burnham & Anderson 2002;
  Kolassa 2011, "Combining exponential smoothing forecasts using Akaike weights")
  or, with ``weights=False``, the forecast of the AICc-best model.
"""

from __future__ import annotations

import warnings

import numpy as np

from salesplan.models.forecast import classic

#: (error, trend, season, damped) of every candidate; trend "A"+damped = Ad
FAMILY = tuple((e, t, s, d) for e in "AM" for t in "NA" for s in "NAM"
               for d in ((False, True) if t == "A" else (False,)))


class ETSFamily:
    """AICc-weighted (or AICc-best) ETS over :data:`FAMILY`; see the module docstring.

    Parameters
    ----------
    m : int
        Season length.
    weights : bool
        Akaike-weight combination (True) or the single AICc-best model (False).
    family : tuple of (error, trend, season, damped)
        Candidate models; multiplicative error/season are used only for positive series.
    seasonal_test : bool
        Fit the seasonal candidates only for series that pass the 90% seasonality test.
    """

    name = "etsw"

    def __init__(self, m: int = 1, weights: bool = True, family=FAMILY, seasonal_test=True):
        self.m = m
        self.weights = weights
        self.family = family
        self.seasonal_test = seasonal_test

    def _candidates(self, y):
        positive = bool(np.all(y > 0))
        seasonal = self.m > 1 and len(y) >= 2 * self.m + 2
        if seasonal and self.seasonal_test:
            seasonal = classic.seasonal_test(y, self.m)
        out = []
        for e, t, s, d in self.family:
            if (e == "M" or s == "M") and not positive:
                continue
            if s != "N" and not seasonal:
                continue
            out.append((e, t, s, d))
        return out

    def fit(self, y):
        from statsforecast.ets import ets_f

        y = np.asarray(y, float)
        self.n_ = len(y)
        fits, ics = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e, t, s, d in self._candidates(y):
                try:
                    fit = ets_f(y, self.m if s != "N" else 1, model=e + t + s, damped=d,
                                restrict=False)
                except Exception:  # noqa: BLE001, S112 - too short for this model, or failed fit
                    continue
                if fit["components"] != f"{e}{t}{s}{'D' if d else 'N'}":
                    continue  # constant series: ets_f returned its fallback model
                ic = float(fit["aicc"])
                if np.isfinite(ic) and np.all(np.isfinite(fit["fitted"])):
                    fits.append(fit)
                    ics.append(ic)
        if not fits:  # shorter than every candidate needs: simple exponential smoothing
            f = classic.fit_ets(y, 1, "N")
            self.fits_, self.w_ = [], np.array([])
            self.ses_ = f
            self.fitted_ = y - f.resid
            return self
        ics = np.array(ics)
        if self.weights:
            w = np.exp(-0.5 * (ics - ics.min()))
        else:
            w = (np.arange(len(ics)) == np.argmin(ics)).astype(float)
        keep = w > 1e-6
        self.fits_ = [f for f, k in zip(fits, keep) if k]
        self.w_ = w[keep] / w[keep].sum()
        self.fitted_ = np.sum([wk * np.asarray(f["fitted"], float)
                               for wk, f in zip(self.w_, self.fits_)], axis=0)
        return self

    def fitted(self) -> np.ndarray:
        return self.fitted_

    def predict(self, h):
        from statsforecast.ets import forecast_ets

        if not self.fits_:
            return np.full(h, float(self.ses_.mean[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = [np.asarray(forecast_ets(f, h)["mean"], float) for f in self.fits_]
        return np.sum([wk * f for wk, f in zip(self.w_, fc)], axis=0)
