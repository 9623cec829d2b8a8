"""Cross-learning (global) member of the forecast combinations.

One small neural network is trained on windows taken from *all* regular series at once
(Montero-Manso & Hyndman 2021, "Principles and algorithms for forecasting groups of time
series: locality and globality"; the windowed, level-normalised direct multi-output
set-up of N-BEATS, Oreshkin et al. 2020, in a much smaller form).  It is combined with
the per-series (local) members of ``combo``: the local models extrapolate each series'
own level, trend and season, the global model brings what is typical of series that
looked like this one.

Windows and normalisation
-------------------------
For a series ``y`` (strictly positive over the window) and a cut ``c``
(``L <= c <= n - H``), the input is the last ``L = max(m, 8)`` values before the cut and the
target the next ``H`` values, both divided by the level ``l_c = mean(y_{c-m}..y_{c-1})``
(one full season, so the level carries no seasonal phase) and log-transformed::

    x = log(y_{c-L..c-1} / l_c),      t = log(y_{c..c+H-1} / l_c)

The network (``MLPRegressor``, trained by the same loop without its per-batch checks:
:class:`salesplan.models.forecast._mlp.LeanMLPRegressor`; two hidden layers of 32 ReLU
units, Adam, L2 1e-3,
early stopping on a seeded 10% validation split) maps ``x`` to ``t`` for all horizons at
once.  The forecast of series ``i`` is ``f_{T+j} = l_T exp(t_hat_j)`` (the median of the
log-scale prediction), ``j = 1..H``; beyond ``H`` the member has no forecast.  Inputs are
clipped to the range seen in training and predictions to the training targets' range.

Series with a non-positive value in their last ``L`` periods (and windows containing
one) are left out: the global member is then absent for that series and the combination
is the mean of its local members.  Training uses one thread and a fixed seed, so the
result does not depend on the machine's thread count or on ``n_jobs`` / Dask.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict

import numpy as np

#: fewest training windows and fewest series contributing windows for which a global
#: model is trained (else: the local members only)
MIN_WINDOWS = 100
MIN_SERIES = 10


def _pad(y, L, m):
    """Last ``L`` values of ``y``; when ``len(y) < L`` the missing start repeats the first
    season in phase (``y_{-k} = y_{(-k) mod m}``)."""
    n = len(y)
    if n >= L:
        return y[-L:]
    i = np.arange(n - L, n)
    first = y[np.mod(i, min(m, n))] if n >= 1 else np.zeros(L)
    return np.where(i < 0, first, y[np.clip(i, 0, None)])


class GlobalMLP:
    """Global direct multi-output network over many series (module docstring).

    Parameters
    ----------
    m : int
        Season length; input length ``L = max(m, 8)`` (8 quarters, 12 months), level
        over the last ``max(m, 1)`` inputs.
    h : int
        Horizons predicted at once (``H``).
    hidden : tuple of int
        Hidden layer sizes.
    random_state : int
        ``random_state`` of the network (weights, batches, validation split).
    """

    def __init__(self, m: int, h: int, hidden=(32, 32), random_state: int = 0):
        self.m = m
        self.h = h
        self.hidden = hidden
        self.random_state = random_state

    @property
    def L(self) -> int:
        return max(self.m, 8)

    def _level(self, w):
        return float(np.mean(w[-max(self.m, 1):]))

    def windows(self, ys):
        """Training pairs ``(X, T)`` of every series in ``ys`` (module docstring)."""
        from numpy.lib.stride_tricks import sliding_window_view

        L, H = self.L, self.h
        X, T = [], []
        for y in ys:
            y = np.asarray(y, float)
            if len(y) < L + H:
                continue
            W = sliding_window_view(y, L + H)  # row r: y[r : r + L + H], cut c = r + L
            W = W[np.all(W > 0, axis=1) & np.all(np.isfinite(W), axis=1)]
            if len(W):
                lv = W[:, L - max(self.m, 1): L].mean(axis=1, keepdims=True)
                Z = np.log(W / lv)
                X.append(Z[:, :L])
                T.append(Z[:, L:])
        self.n_series_ = len(X)
        if not X:
            return np.empty((0, L)), np.empty((0, H))
        return np.concatenate(X), np.concatenate(T)

    def fit(self, ys):
        """Train on the windows of the series ``ys`` (iterable of 1-D arrays).

        Sets ``n_windows_`` and ``n_series_``; ``net_`` is None when there are fewer than
        :data:`MIN_WINDOWS` windows or fewer than :data:`MIN_SERIES` series with a window
        (the member is then absent everywhere).
        """
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

        from salesplan.models.forecast._mlp import LeanMLPRegressor  # MLPRegressor, same weights

        X, T = self.windows(ys)
        self.n_windows_ = len(X)
        self.net_ = None
        if len(X) < MIN_WINDOWS or self.n_series_ < MIN_SERIES:
            return self
        self.xlim_ = (X.min(axis=0), X.max(axis=0))
        self.tlim_ = (T.min(axis=0), T.max(axis=0))
        net = LeanMLPRegressor(hidden_layer_sizes=tuple(self.hidden), alpha=1e-3,
                           learning_rate_init=1e-3, batch_size=200, max_iter=300,
                           early_stopping=True, random_state=self.random_state)
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(X, T)
        self.net_ = net
        return self

    def forecast(self, y):
        """``(H,)`` forecast of the series ``y`` after its last value, or None when the
        model was not trained or the last ``L`` values are not all positive."""
        if getattr(self, "net_", None) is None:
            return None
        y = np.asarray(y, float)
        w = _pad(y, self.L, max(self.m, 1))
        if len(y) == 0 or np.any(w <= 0) or not np.all(np.isfinite(w)):
            return None
        lv = self._level(w)
        a = np.clip(np.log(w / lv), *self.xlim_)
        # the network's forward pass (ReLU hidden layers, identity output), as predict()
        for k, (W, b) in enumerate(zip(self.net_.coefs_, self.net_.intercepts_)):
            a = a @ W + b
            if k < len(self.net_.coefs_) - 1:
                a = np.maximum(a, 0.0)
        return lv * np.exp(np.clip(a, *self.tlim_))


#: trained networks by ``(m, h, random_state, hidden, SHA-256 of the series)``, least
#: recently used dropped beyond :data:`TRAINED_CACHE_SIZE` (see :func:`train_global`)
_TRAINED: OrderedDict = OrderedDict()
#: most trained networks kept (one holds a few kB)
TRAINED_CACHE_SIZE = 256


def train_global(ys, m: int, h: int, random_state: int = 0, hidden=(32, 32)) -> GlobalMLP:
    """``GlobalMLP(m, h, hidden, random_state).fit(ys)``, trained once per process for the
    same series.

    The same series cut at the same period train the same network again and again: the
    monitoring quarter's hierarchy forecast (a quarter earlier) trains the networks of the
    plan quarter's reconciliation backtest windows.  Training is a deterministic function
    of the series (in order), ``m``, ``h``, ``hidden`` and an integer ``random_state``, so
    the trained model is reused: same numbers, trained once.  Trained models are only read
    afterwards (:meth:`GlobalMLP.forecast`).  A ``random_state`` that is not an integer
    (a Generator) is not cached.
    """
    ys = [np.array(y, dtype=float) for y in ys]
    if not isinstance(random_state, (int, np.integer)):
        return GlobalMLP(m, h, hidden, random_state).fit(ys)
    digest = hashlib.sha256()
    for y in ys:
        digest.update(len(y).to_bytes(8, "little"))
        digest.update(y.tobytes())
    key = (int(m), int(h), int(random_state), tuple(hidden), digest.hexdigest())
    model = _TRAINED.get(key)
    if model is not None:
        _TRAINED.move_to_end(key)
        return model
    model = GlobalMLP(m, h, hidden, int(random_state)).fit(ys)
    _TRAINED[key] = model
    if len(_TRAINED) > TRAINED_CACHE_SIZE:
        _TRAINED.popitem(last=False)
    return model


class WithGlobal:
    """A local model combined with the global member: per-series protocol.

    With ``K`` local members (``local`` is their mean) and the global forecast ``g``
    (:meth:`GlobalMLP.forecast`), ``f_{T+j} = (K local_{T+j} + g_j) / (K + 1)`` for
    ``j <= H`` and ``local_{T+j}`` beyond (or when ``g`` is None).  ``fitted()`` are the
    local members' one-step fitted values (the global member has none): the interval
    scale is that of the local members, and the calibration backtest, which includes the
    global member, sets the widths.
    """

    def __init__(self, local, k: int, gmodel: GlobalMLP):
        self.local, self.k, self.gmodel = local, k, gmodel

    def fit(self, y):
        self.local.fit(y)
        return self.attach(y)

    def attach(self, y):
        """The global member's forecast of ``y`` added to ``local`` already fitted on ``y``
        (what :meth:`fit` does after fitting ``local``)."""
        self.g_ = self.gmodel.forecast(y)
        return self

    @property
    def has_global(self) -> bool:
        return self.g_ is not None

    def predict(self, h):
        f = np.asarray(self.local.predict(h), float).copy()
        if self.g_ is not None:
            j = min(h, len(self.g_))
            f[:j] = (self.k * f[:j] + self.g_[:j]) / (self.k + 1)
        return f

    def fitted(self):
        return self.local.fitted()
