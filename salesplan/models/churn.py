"""Churn risk and customer lifetime value.

Two complementary views of "is this customer slipping away?" (domain.md section 2):

1. **Probability models for repeat buying without contracts** ("buy till you die"),
   fitted by maximum likelihood on the calibration summary of :func:`rfm_summary`:

   * :class:`BetaGeoModel` -- BG/NBD (Fader, Hardie & Lee 2005a),
   * :class:`ParetoNBDModel` -- Pareto/NBD (Schmittlein, Morrison & Colombo 1987, in the
     form of Fader & Hardie 2005 "A note on deriving the Pareto/NBD model"),
   * :class:`GammaGammaModel` -- spend per transaction (Fader, Hardie & Lee 2005b) and
     :meth:`GammaGammaModel.customer_lifetime_value` (discounted CLV).

   They give the probability a customer is still "alive", the expected number of
   purchases in the next ``t`` periods and, with Gamma-Gamma, the expected value.

2. **A supervised churn classifier** (:class:`ChurnClassifier`): churn = no order in the
   next ``horizon_days`` days.  Gradient boosting on RFM, trend, credit (invoices) and
   activity features, trained on past snapshots labelled by what happened next (a
   time-based split, never a random one), with probabilities calibrated on later
   snapshots than those the trees were fitted on, and per-customer top drivers.

:func:`churn_risk_list` combines both into one row per customer (``p_churn``,
``p_alive``, expected purchases next quarter, CLV, revenue at risk, drivers) and
:func:`churn_risk_by` aggregates it by region or rep.

The likelihoods are written directly on scipy (``gammaln``, ``betaln``, ``hyp2f1``); the
archived ``lifetimes`` package does not run on pandas 3.  They reproduce the published
CDNOW estimates (see ``tests/test_churn.py`` and ``benchmarks/churn_cdnow.py``).

References
----------
.. [FHL05a] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your
   customers" the easy way: an alternative to the Pareto/NBD model. *Marketing Science*
   24(2), 275-284.
.. [FH05] Fader, P. S. and Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD
   model and related expressions. http://brucehardie.com/notes/009/
.. [FHL05b] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using
   iso-value curves for customer base analysis. *Journal of Marketing Research* 42(4),
   415-430.  (Gamma-Gamma spend model, technical note http://brucehardie.com/notes/025/)
.. [SMC87] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your
   customers: who are they and what will they do next? *Management Science* 33(1), 1-24.
"""

from __future__ import annotations

import datetime
import functools
import re
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator, ClassifierMixin

from salesplan.data import SalesData
from salesplan.data.checks import as_date, check_as_of, check_numeric_input, require_columns
from salesplan.data.invoices import days_past_due, settled_by
from salesplan.data.orders import lines_until, order_values, purchase_lines
from salesplan.execution import backend_for
from salesplan.models._text import str_codes, str_values
from salesplan.models.segments import _named

__all__ = [
    "PERIOD_DAYS",
    "rfm_summary",
    "BetaGeoModel",
    "ParetoNBDModel",
    "GammaGammaModel",
    "ChurnClassifier",
    "churn_features",
    "churn_labels",
    "churn_risk_list",
    "churn_risk_by",
    "driver_reasons",
    "churn_features_partitioned",
    "score_churn",
    "score_transaction_model",
]

#: Length of one time unit in days, for the ``freq`` arguments.
PERIOD_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0, "Q": 365.25 / 4.0}

_ORDER_COLUMNS = ("order_date", "customer_id", "amount")
_SUMMARY_COLUMNS = ("frequency", "recency", "T")


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _period_days(freq: str, name: str = "freq") -> float:
    if freq not in PERIOD_DAYS:
        raise ValueError(f"{name}={freq!r}: expected one of {sorted(PERIOD_DAYS)}")
    return PERIOD_DAYS[freq]




def _datetimes(s: pd.Series) -> pd.Series:
    """``pd.to_datetime(s)``, without a pass over a column that is already ``datetime64[ns]``.

    ``pd.to_datetime`` of such a column returns equal values but first samples it through
    Python ``Timestamp`` objects and maps it through a cache of its distinct dates.
    """
    if isinstance(s, pd.Series) and s.dtype == "datetime64[ns]":
        return s
    return pd.to_datetime(s)


def _clean_orders(orders: pd.DataFrame, customer_id=None) -> pd.DataFrame:
    """``order_date`` (midnight), ``customer_id`` (text, or the given values: codes) and ``amount``."""
    require_columns(orders, "orders", _ORDER_COLUMNS)
    out = pd.DataFrame(
        {
            "order_date": _datetimes(orders["order_date"]).dt.normalize(),
            "customer_id": str_values(orders["customer_id"]) if customer_id is None else customer_id,
            "amount": pd.to_numeric(orders["amount"], errors="coerce").to_numpy(dtype=float),
        }
    )
    bad = out["order_date"].isna() | out["amount"].isna()
    if bad.any():
        rows = list(np.flatnonzero(bad.to_numpy())[:5])
        raise ValueError(
            f"table 'orders': {int(bad.sum())} row(s) without a readable order_date or amount "
            f"(first rows {rows}); expected dates and numbers"
        )
    return out


def _check_as_of(dates: pd.Series, as_of: pd.Timestamp) -> None:
    """The package's ``as_of`` rule (:func:`salesplan.data.checks.check_as_of`) on orders."""
    check_as_of(as_of, dates, "orders", "order")


# --------------------------------------------------------------------------------------
# RFM calibration summary
# --------------------------------------------------------------------------------------
def rfm_summary(
    orders: pd.DataFrame,
    as_of,
    freq: str = "W",
    occasion: str = "D",
    customer_ids=None,
) -> pd.DataFrame:
    r"""Calibration-period summary per customer: frequency, recency, T, monetary value.

    Order lines dated on or before ``as_of`` (never later: no look-ahead) are grouped
    into *purchase occasions*: all lines of one customer with a non-negative amount in
    the same ``occasion`` bucket (zero-value lines, e.g. free goods, are orders too, as in
    the CDNOW data) (``"D"`` = same calendar day, ``"W"`` = same ISO week, ...)
    count as one purchase.  Lines with a negative amount (returns / credit notes) never
    create a purchase; they are kept apart in ``returns_amount``.

    For customer :math:`i` with occasions at times :math:`t_0 < t_1 < \dots < t_x`:

    * ``frequency`` :math:`x` = number of *repeat* occasions (occasions - 1),
    * ``recency``   :math:`t_x = (t_{last} - t_0)/u` (0 when :math:`x=0`),
    * ``T``         :math:`T = (\text{as\_of} - t_0)/u`,
    * ``monetary_value`` :math:`\bar z` = mean value of the *repeat* occasions (0 when
      :math:`x=0`), as the Gamma-Gamma model expects ([FHL05b]_),

    where :math:`u` is the length of one ``freq`` period in days (:data:`PERIOD_DAYS`:
    D=1, W=7, M=30.44, Q=91.31) and an occasion's time is the date of its first line.
    With ``occasion="D"`` and ``freq="W"`` this is exactly the CDNOW summary of
    [FHL05a]_ (weeks = days / 7).

    Parameters
    ----------
    orders : DataFrame
        Order lines with at least ``order_date``, ``customer_id``, ``amount``.
    as_of : date-like
        End of the calibration period (inclusive).  Must lie between the first order and
        one year after the last one.
    freq : {"D", "W", "M", "Q"}
        Time unit of ``recency`` and ``T`` (and so of every model prediction horizon).
    occasion : {"D", "W", "M", "Q"}
        Bucket in which several order lines make one purchase occasion.
    customer_ids : sequence of str, optional
        Customers to return, in this order.  Every one must have a purchase on or
        before ``as_of``; otherwise a ``ValueError`` names them.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` with ``frequency`` (int), ``recency``, ``T``,
        ``monetary_value``, ``first_purchase``, ``last_purchase``, ``n_occasions``,
        ``revenue`` (sum of non-negative lines) and ``returns_amount`` (sum of negative
        lines, <= 0).  Customers whose only lines are returns are left out.
    """
    unit = _period_days(freq)
    _period_days(occasion, "occasion")
    return _rfm_summary_of(_clean_orders(orders), as_date(as_of), unit, occasion, customer_ids)


def _rfm_summary_of(lines: pd.DataFrame, as_of: pd.Timestamp, unit: float, occasion: str,
                    customer_ids=None) -> pd.DataFrame:
    """:func:`rfm_summary` of order lines already cleaned (``_clean_orders``); ``unit`` in days."""
    if lines.empty:
        raise ValueError("table 'orders' is empty; expected at least one order line")
    _check_as_of(lines["order_date"], as_of)
    lines = lines_until(lines, as_of)
    buys = purchase_lines(lines)[["customer_id", "order_date", "amount"]]
    if occasion == "D":
        bucket = buys["order_date"]
    else:
        bucket = buys["order_date"].dt.to_period(occasion).dt.start_time
    occ = (
        buys.assign(bucket=bucket.to_numpy())
        .groupby(["customer_id", "bucket"], sort=True)
        .agg(date=("order_date", "min"), value=("amount", "sum"))
        .reset_index()
    )
    return _summary_of_occasions(occ, lines.loc[lines["amount"] < 0], as_of, unit, customer_ids)


def _summary_of_occasions(occ: pd.DataFrame, return_lines: pd.DataFrame, as_of: pd.Timestamp, unit: float,
                          customer_ids=None) -> pd.DataFrame:
    """:func:`rfm_summary` of the purchase occasions ``occ`` (``customer_id, date, value``,
    sorted by customer and date) and the return lines (``customer_id, amount``), both
    known at ``as_of``."""
    returns = return_lines.groupby("customer_id")["amount"].sum()
    g = occ.groupby("customer_id", sort=True)
    first = g["date"].min()
    last = g["date"].max()
    n = g.size()
    total = g["value"].sum()
    first_value = g["value"].first()  # occasions are sorted by bucket within customer
    freq_x = (n - 1).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(freq_x > 0, (total - first_value) / freq_x.where(freq_x > 0, 1), 0.0)
    out = pd.DataFrame(
        {
            "frequency": freq_x,
            "recency": (last - first).dt.days / unit,
            "T": (as_of - first).dt.days / unit,
            "monetary_value": monetary,
            "first_purchase": first,
            "last_purchase": last,
            "n_occasions": n.astype("int64"),
            "revenue": total,
            "returns_amount": returns.reindex(first.index).fillna(0.0),
        }
    )
    out.index.name = "customer_id"
    if customer_ids is not None:
        wanted = pd.Index([str(c) for c in customer_ids])
        missing = wanted.difference(out.index)
        if len(missing):
            raise ValueError(
                f"{len(missing)} customer(s) have no purchase on or before "
                f"{as_of.date()}: {list(missing[:5])}; they cannot enter an RFM summary "
                "(drop them or choose a later as_of)"
            )
        out = out.loc[wanted]
    return out


# --------------------------------------------------------------------------------------
# Shared machinery of the probability models
# --------------------------------------------------------------------------------------
#: fewer customers than this cannot identify a purchase/dropout model
MIN_FIT_CUSTOMERS = 10


def _summary_arrays(X, recency=None, T=None, columns=_SUMMARY_COLUMNS, table="summary"):
    """Return float arrays (frequency, recency, T) from a frame or three arrays."""
    if recency is None and T is None:
        if isinstance(X, pd.DataFrame):
            require_columns(X, table, columns)
            for c in columns:
                check_numeric_input(X[c], f"{table}.{c}")
            arrays = [X[c].to_numpy(dtype=float) for c in columns]
        else:
            raise TypeError(
                f"expected a DataFrame with columns {list(columns)} or three arrays "
                f"(frequency, recency, T), got {type(X).__name__}"
            )
    else:
        for a, c in zip((X, recency, T), columns):
            check_numeric_input(a, c)
        arrays = [np.asarray(a, dtype=float).ravel() for a in (X, recency, T)]
    x, tx, T_ = np.broadcast_arrays(*arrays)
    return x.astype(float), tx.astype(float), T_.astype(float)


def _check_summary(x, tx, T_) -> None:
    if x.size == 0:
        raise ValueError("the summary has no customers; expected at least one row")
    bad = ~(np.isfinite(x) & np.isfinite(tx) & np.isfinite(T_))
    if bad.any():
        raise ValueError(
            f"summary: {int(bad.sum())} row(s) with missing frequency/recency/T "
            f"(first rows {list(np.flatnonzero(bad)[:5])}); customers with no orders "
            "cannot be fitted, drop them"
        )
    checks = [
        (x < 0, "frequency < 0"),
        (x != np.round(x), "frequency not a whole number"),
        (tx < 0, "recency < 0"),
        (tx > T_ + 1e-9, "recency > T"),
        ((x == 0) & (tx != 0), "recency != 0 although frequency == 0"),
    ]
    for mask, what in checks:
        if mask.any():
            raise ValueError(
                f"summary: {int(mask.sum())} row(s) with {what} "
                f"(first rows {list(np.flatnonzero(mask)[:5])}); expected "
                "0 <= frequency (integer), 0 <= recency <= T"
            )


def _compress(*arrays):
    """Unique rows and their counts: the likelihood only depends on (x, t_x, T)."""
    stacked = np.column_stack(arrays)
    uniq, _, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return [uniq[:, j] for j in range(uniq.shape[1])], counts.astype(float)


def _maximise(negll, names, x0s, random_state, n_starts, bounds_log=(-12.0, 12.0),
              method="nelder-mead", jac=None):
    """Minimise ``negll(log_params)`` from several starts.

    ``method="nelder-mead"`` (Gamma-Gamma): per start Nelder-Mead (up to 3,000
    evaluations) then an L-BFGS-B polish with finite-difference gradients.

    ``method="lbfgsb"`` (the count models): per start L-BFGS-B -- with the analytic
    gradient ``jac(theta)`` when given, else finite differences -- then the *same*
    L-BFGS-B polish as above.  Both paths end in that polish, so they converge to the
    same optimum (to its tolerance, checked in ``tests/test_churn.py`` against the
    Nelder-Mead path on CDNOW and the demo company) with ~5-20x fewer likelihood
    evaluations.  A start whose first stage ends within 1e-4 (log-parameters) of an
    earlier start's reuses that start's polish.  If the first stage fails
    (non-finite value), Nelder-Mead is used for that start as before.

    The likelihood sums (``np.dot`` over the distinct customers) run on one BLAS thread:
    OpenBLAS splits a dot product of more than 10,000 terms over its threads, which
    rounds the sum by the machine's thread count (fitted parameters then differed by up
    to ~1e-6 between machines) and, on a busy machine, burnt 2-10x the CPU time of the fit
    in waiting threads.  Below 10,000 distinct rows it was one thread already.

    The likelihood is evaluated once per distinct point: the optimisers come back to points
    they have evaluated (a polish starts where its first stage ended, finite differences
    revisit the centre; ~8% of the Pareto/NBD evaluations), and get the remembered value.

    Returns (best log-parameters, best negative log-likelihood, details list).
    """
    with _single_thread(1):
        return _maximise_starts(_remembered(negll), names, x0s, random_state, n_starts, bounds_log,
                                method, jac)


def _remembered(negll):
    """``negll`` evaluated once per distinct point (the same function: a deterministic value)."""
    values = {}

    def once(theta):
        key = np.asarray(theta, dtype=float).tobytes()
        if key not in values:
            values[key] = negll(theta)
        return values[key]

    return once


def _maximise_starts(negll, names, x0s, random_state, n_starts, bounds_log, method, jac):
    """:func:`_maximise` itself (its BLAS thread limit set by the caller)."""
    rng = np.random.default_rng(random_state)
    starts = [np.asarray(s, dtype=float) for s in x0s]
    while len(starts) < n_starts:
        starts.append(rng.normal(0.0, 1.0, size=len(names)))
    bounds = [bounds_log] * len(names)

    def safe(theta):
        if np.any(np.abs(theta) > bounds_log[1] + 1):
            return 1e300
        v = negll(theta)
        return v if np.isfinite(v) else 1e300

    def nelder_mead(s):
        return optimize.minimize(
            safe, s, method="Nelder-Mead",
            options={"maxiter": 3000, "maxfev": 3000, "xatol": 1e-7, "fatol": 1e-9,
                     "adaptive": True},
        )

    def polish(x):
        return optimize.minimize(
            safe, x, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9},
        )

    def first_stage(s):
        if jac is None:
            # central differences: accurate enough to follow the long flat ridges of the
            # Pareto/NBD likelihood (s, beta) that forward differences stall on
            return optimize.minimize(
                safe, s, jac="3-point", method="L-BFGS-B", bounds=bounds,
                options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
            )

        def fun_grad(theta):
            v = safe(theta)
            if v >= 1e300:
                return v, np.zeros_like(theta)
            g = jac(theta)
            return v, (g if np.all(np.isfinite(g)) else np.zeros_like(theta))

        return optimize.minimize(
            fun_grad, s, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
        )

    best = None
    details = []
    seen = []  # (first-stage end point, polished result)
    for s in starts[:max(n_starts, 1)]:
        if method == "lbfgsb":
            first = first_stage(s)
            if not np.isfinite(first.fun) or first.fun >= 1e300:
                first = nelder_mead(s)
        else:
            first = nelder_mead(s)
        res = None
        if method == "lbfgsb":
            for x_end, done in seen:
                if np.max(np.abs(first.x - x_end)) < 1e-4:
                    res = done
                    break
        if res is None:
            lb = polish(first.x)
            res = lb if lb.fun <= first.fun else first
            seen.append((first.x, res))
        details.append((res.fun, res.x))
        if best is None or res.fun < best[1]:
            best = (res.x, res.fun)
    return best[0], best[1], details


class _BaseModel:
    """Common fit plumbing for the count models (stores args only in ``__init__``)."""

    _param_names: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0, n_starts: int = 3, random_state=0,
                 optimizer: str = "lbfgsb"):
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.random_state = random_state
        self.optimizer = optimizer

    # subclasses implement _loglik_terms(params, x, tx, T) -> per-row log-likelihood
    def _shared_terms(self, x, tx, T_) -> dict:
        """Keyword arguments of ``_loglik_terms`` computed once per fit (none here)."""
        return {}

    def _negll_factory(self, x, tx, T_, w):
        n = w.sum()
        pen = float(self.penalizer)
        shared = self._shared_terms(x, tx, T_)

        def negll(theta):
            params = np.exp(theta)
            with np.errstate(all="ignore"):
                ll = self._loglik_terms(params, x, tx, T_, **shared)
            return -(np.dot(w, ll)) / n + pen * np.sum(params**2)

        return negll

    def _jac_factory(self, x, tx, T_, w):
        """Gradient of ``negll`` in the log-parameters, or None (finite differences)."""
        if not hasattr(self, "_loglik_grad"):
            return None
        n = w.sum()
        pen = float(self.penalizer)
        shared = self._shared_terms(x, tx, T_)

        def jac(theta):
            params = np.exp(theta)
            with np.errstate(all="ignore"):
                g = self._loglik_grad(params, x, tx, T_, **shared)  # (k, rows) d ll / d param
            return -(g @ w) / n * params + 2.0 * pen * params**2

        return jac

    def fit(self, X, recency=None, T=None):
        """Fit by maximum likelihood.

        Parameters
        ----------
        X : DataFrame or array
            The :func:`rfm_summary` frame (columns ``frequency``, ``recency``, ``T``) or
            the ``frequency`` array when ``recency`` and ``T`` are given.

        Returns
        -------
        self
        """
        if self.penalizer < 0:
            raise ValueError(f"penalizer={self.penalizer!r}: expected >= 0")
        if int(self.n_starts) < 1:
            raise ValueError(f"n_starts={self.n_starts!r}: expected >= 1")
        optimizer = getattr(self, "optimizer", "lbfgsb")
        if optimizer not in ("lbfgsb", "nelder-mead"):
            raise ValueError(f"optimizer={optimizer!r}: expected 'lbfgsb' or 'nelder-mead'")
        x, tx, T_ = _summary_arrays(X, recency, T)
        _check_summary(x, tx, T_)
        if not np.any(x > 0):
            raise ValueError(
                "summary: no customer has a repeat purchase (all frequency == 0); the "
                "purchase rate cannot be estimated"
            )
        if x.size < MIN_FIT_CUSTOMERS:
            raise ValueError(
                f"summary has {x.size} customer(s); fitting {len(self._param_names)} "
                f"parameters needs at least {MIN_FIT_CUSTOMERS} (a degenerate fit is refused)"
            )
        (xu, txu, Tu), w = _compress(x, tx, T_)
        negll = self._negll_factory(xu, txu, Tu, w)
        jac = self._jac_factory(xu, txu, Tu, w) if optimizer == "lbfgsb" else None
        theta, fun, details = _maximise(
            negll, self._param_names, self._starts(), self.random_state, int(self.n_starts),
            method=optimizer, jac=jac,
        )
        params = np.exp(theta)
        self.params_ = dict(zip(self._param_names, params.tolist()))
        for k, v in self.params_.items():
            setattr(self, f"{k}_", v)
        with np.errstate(all="ignore"):
            self.log_likelihood_ = float(np.dot(w, self._loglik_terms(params, xu, txu, Tu)))
        self.n_customers_ = int(w.sum())
        self.n_starts_converged_ = int(sum(abs(d[0] - fun) < 1e-6 for d in details))
        return self

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def _p(self):
        self._check_fitted()
        return [self.params_[k] for k in self._param_names]

    def __repr__(self):
        if hasattr(self, "params_"):
            inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}({inner}, log_likelihood={self.log_likelihood_:.2f})"
        return f"{type(self).__name__}(penalizer={self.penalizer}, n_starts={self.n_starts})"

    def expected_cumulative_repeats(self, t) -> np.ndarray:
        """Expected repeat purchases by time ``t`` since the first purchase, :math:`E[X(t)]`.

        Vectorised over ``t``; see the subclass formula.
        """
        return self.expected_purchases(t)


# --------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------
class BetaGeoModel(_BaseModel):
    r"""BG/NBD model of repeat buying (Fader, Hardie & Lee 2005a).

    While alive a customer buys as a Poisson process with rate
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; after every purchase she drops out
    with probability :math:`p \sim \mathrm{Beta}(a, b)`.  The likelihood of a customer
    with :math:`x` repeat purchases, recency :math:`t_x` and age :math:`T` is ([FHL05a]_
    eq. 6)

    .. math::

        L = \frac{B(a, b+x)}{B(a,b)} \frac{\Gamma(r+x)\,\alpha^r}{\Gamma(r)(\alpha+T)^{r+x}}
          + \delta_{x>0} \frac{B(a+1, b+x-1)}{B(a,b)}
            \frac{\Gamma(r+x)\,\alpha^r}{\Gamma(r)(\alpha+t_x)^{r+x}},

    evaluated in logs with ``logaddexp``.  Parameters are estimated on
    :math:`\log(r, \alpha, a, b)` (Nelder-Mead then L-BFGS-B, ``n_starts`` starts).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters added to the mean negative log-likelihood (0 = pure
        maximum likelihood, as in the paper).
    n_starts : int
        Number of optimiser starts (the first is a fixed sensible start, the rest random).
    random_state : int or None
        Seed of the random starts.

    Attributes
    ----------
    params_ : dict
        ``{"r", "alpha", "a", "b"}``; also as ``r_``, ``alpha_``, ``a_``, ``b_``.
    log_likelihood_ : float
        Maximised total log-likelihood (CDNOW: -9582.4 in [FHL05a]_).
    """

    _param_names = ("r", "alpha", "a", "b")

    def _starts(self):
        return [np.log([0.5, 5.0, 1.0, 2.0]), np.zeros(4)]

    def _shared_terms(self, x, tx, T_) -> dict:
        return {"shared": self._distinct(x)}

    @staticmethod
    def _distinct(x) -> tuple:
        r"""The distinct frequencies ``xs`` and where each row's sits among them.

        The special functions of the likelihood and its gradient (``\log\Gamma``, ``\log B``,
        ``\psi``) read the parameters and ``x`` only: they are evaluated once per distinct
        ``x`` and gathered back, the same numbers element by element.
        """
        xs, at = np.unique(x, return_inverse=True)
        return xs, np.asarray(at).ravel()

    @staticmethod
    def _per_row(f, xs, at, *args, where=None):
        """``f(*args)`` of the distinct ``xs`` gathered to the rows (``where``: the distinct
        values ``f`` is evaluated for, NaN for the others)."""
        if where is None:
            return f(*args)[at]
        out = np.full(len(xs), np.nan)
        out[where] = f(*(v[where] if np.ndim(v) else v for v in args))
        return out[at]

    @classmethod
    def _loglik_terms(cls, params, x, tx, T_, shared=None):
        r, alpha, a, b = params
        xs, at = cls._distinct(x) if shared is None else shared
        common = cls._per_row(special.gammaln, xs, at, r + xs) - special.gammaln(r) + r * np.log(alpha)
        a2 = (cls._per_row(special.betaln, xs, at, a, b + xs) - special.betaln(a, b)
              - (r + x) * np.log(alpha + T_))
        pos = x > 0
        a3 = np.full_like(x, -np.inf)
        xp = x[pos]
        a3[pos] = (
            cls._per_row(special.betaln, xs, at, a + 1, b + xs - 1, where=xs > 0)[pos]
            - special.betaln(a, b)
            - (r + xp) * np.log(alpha + tx[pos])
        )
        return common + np.logaddexp(a2, a3)

    @classmethod
    def _loglik_grad(cls, params, x, tx, T_, shared=None):
        """d ll / d (r, alpha, a, b) per row (digamma derivatives of the terms above)."""
        r, alpha, a, b = params
        psi = special.digamma
        xs, at = cls._distinct(x) if shared is None else shared
        lat, ltx = np.log(alpha + T_), np.log(alpha + tx)
        a2 = cls._per_row(special.betaln, xs, at, a, b + xs) - (r + x) * lat
        pos = x > 0
        a3 = np.full_like(x, -np.inf)
        a3[pos] = (cls._per_row(special.betaln, xs, at, a + 1, b + xs - 1, where=xs > 0)[pos]
                   - (r + x[pos]) * ltx[pos])
        lse = np.logaddexp(a2, a3)
        w2, w3 = np.exp(a2 - lse), np.exp(a3 - lse)
        psi_abx = cls._per_row(psi, xs, at, a + b + xs)
        psi_bx1 = np.where(pos, cls._per_row(psi, xs, at, np.where(xs > 0, b + xs - 1, 1.0)), 0.0)
        ltx_ = np.where(pos, ltx, 0.0)
        d_r = cls._per_row(psi, xs, at, r + xs) - psi(r) + np.log(alpha) - w2 * lat - w3 * ltx_
        d_alpha = r / alpha - w2 * (r + x) / (alpha + T_) - w3 * np.where(pos, (r + x) / (alpha + tx), 0.0)
        d_a = w2 * (psi(a) - psi_abx) + w3 * (psi(a + 1) - psi_abx) - (psi(a) - psi(a + b))
        d_b = w2 * (cls._per_row(psi, xs, at, b + xs) - psi_abx) + w3 * (psi_bx1 - psi_abx) - (psi(b) - psi(a + b))
        return np.vstack([d_r, d_alpha, d_a, d_b])

    def conditional_probability_alive(self, X, recency=None, T=None) -> np.ndarray:
        r"""P(alive at T | x, t_x, T) ([FHL05a]_ eq. 11; also in FH note 2008).

        .. math::
            P = \left[1 + \delta_{x>0}\frac{a}{b+x-1}
                \left(\frac{\alpha+T}{\alpha+t_x}\right)^{r+x}\right]^{-1}
        """
        r, alpha, a, b = self._p()
        x, tx, T_ = _summary_arrays(X, recency, T)
        with np.errstate(all="ignore"):
            log_odds = (
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T_) - np.log(alpha + tx))
            )
        return np.where(x > 0, special.expit(-log_odds), 1.0)

    def conditional_expected_purchases(self, t, X, recency=None, T=None, p_alive=None) -> np.ndarray:
        r"""Expected purchases in :math:`(T, T+t]` given the history ([FHL05a]_ eq. 10).

        .. math::
            E[Y(t)\mid x,t_x,T] = \frac{\frac{a+b+x-1}{a-1}\left[1-\left(\frac{\alpha+T}
            {\alpha+T+t}\right)^{r+x} {}_2F_1\!\left(r+x, b+x; a+b+x-1;
            \frac{t}{\alpha+T+t}\right)\right]}{1+\delta_{x>0}\frac{a}{b+x-1}
            \left(\frac{\alpha+T}{\alpha+t_x}\right)^{r+x}}

        ``t`` is in the summary's time unit (13 weeks = a quarter when ``freq="W"``);
        ``p_alive``: :meth:`conditional_probability_alive` of the same rows, when known.
        """
        r, alpha, a, b = self._p()
        x, tx, T_ = _summary_arrays(X, recency, T)
        t = np.asarray(t, dtype=float)
        with np.errstate(all="ignore"):
            z = t / (alpha + T_ + t)
            hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
            bracket = 1 - np.exp((r + x) * np.log((alpha + T_) / (alpha + T_ + t))) * hyp
            num = (a + b + x - 1) / (a - 1) * bracket
        return num * (self.conditional_probability_alive(x, tx, T_) if p_alive is None else p_alive)

    def expected_purchases(self, t) -> np.ndarray:
        r"""Unconditional :math:`E[X(t)]` for a new customer ([FHL05a]_ eq. 9).

        .. math::
            E[X(t)] = \frac{a+b-1}{a-1}\left[1-\left(\frac{\alpha}{\alpha+t}\right)^r
            {}_2F_1\!\left(r, b; a+b-1; \frac{t}{\alpha+t}\right)\right]
        """
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        with np.errstate(all="ignore"):
            hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
            return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


# --------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------
class ParetoNBDModel(_BaseModel):
    r"""Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Purchases while alive: Poisson with :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`;
    lifetime exponential with :math:`\mu \sim \mathrm{Gamma}(s, \beta)`.  Likelihood
    ([FH05]_ eq. 22)

    .. math::

        L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}\left[
            \frac{1}{(\alpha+T)^{r+x}(\beta+T)^s} + \frac{s}{r+s+x} A_0\right],

    with, for :math:`\alpha \ge \beta`,

    .. math::

        A_0 = \frac{{}_2F_1(r+s+x, s+1; r+s+x+1; \frac{\alpha-\beta}{\alpha+t_x})}
                   {(\alpha+t_x)^{r+s+x}}
            - \frac{{}_2F_1(r+s+x, s+1; r+s+x+1; \frac{\alpha-\beta}{\alpha+T})}
                   {(\alpha+T)^{r+s+x}}

    and, for :math:`\alpha < \beta`, the same with :math:`\alpha \leftrightarrow \beta`
    and second argument :math:`r+x`.  Numerics: every term is kept in logs;
    :math:`A_0 = F(t_x)(1 - e^{\log F(T) - \log F(t_x)})` with ``expm1`` (it is 0 when
    :math:`t_x = T`), and the two bracket terms are added with ``logaddexp``.  All
    arguments of :math:`{}_2F_1` are positive and :math:`0 \le z < 1`, so the series
    terms are positive and ``scipy.special.hyp2f1`` is accurate.  ``A_0`` equals
    :math:`(r+s+x)\int_{t_x}^{T}(\alpha+\tau)^{-(r+x)}(\beta+\tau)^{-(s+1)}d\tau`, which
    the tests use as an independent check.

    Parameters and attributes as :class:`BetaGeoModel`, with ``params_`` =
    ``{"r", "alpha", "s", "beta"}``.
    """

    _param_names = ("r", "alpha", "s", "beta")

    def _starts(self):
        return [np.log([0.5, 10.0, 0.5, 10.0]), np.zeros(4)]

    @staticmethod
    def _distinct(x, tx, T_) -> dict:
        r"""Where each row's ``x``, ``(x, t_x)`` and ``(x, T)`` sit among the distinct ones.

        ``{}_2F_1`` (most of the likelihood's time) and ``\log\Gamma(r+x)`` depend on
        ``(x, t)`` and ``x`` only; customers share these far more often than the whole
        ``(x, t_x, T)``, so :meth:`_log_terms` evaluates them once per distinct value and
        gathers them back: the same numbers, element by element.
        """
        n = len(x)
        pairs, at = np.unique(np.column_stack([np.r_[x, x], np.r_[tx, T_]]), axis=0, return_inverse=True)
        xs, at_x = np.unique(x, return_inverse=True)
        at = np.asarray(at).ravel()
        return {"shared": (pairs[:, 0], pairs[:, 1], at[:n], at[n:], xs, np.asarray(at_x).ravel())}

    def _shared_terms(self, x, tx, T_) -> dict:
        return self._distinct(x, tx, T_)

    @staticmethod
    def _log_terms(params, x, tx, T_, shared=None):
        """(log of the common factor, log first bracket term, log second bracket term).

        ``shared``: :meth:`_distinct` of the same rows (computed here when None).
        """
        r, alpha, s, beta = params
        if shared is None:
            shared = ParetoNBDModel._distinct(x, tx, T_)["shared"]
        xp, tp, at_tx, at_T, xs, at_x = shared
        common = (
            special.gammaln(r + xs) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        )[at_x]
        first = -(r + x) * np.log(alpha + T_) - s * np.log(beta + T_)
        rsx = r + s + x
        rsx_p = r + s + xp
        if alpha >= beta:
            m, b2, d = alpha, s + 1.0, alpha - beta
        else:
            m, b2, d = beta, r + xp, beta - alpha
        lf = np.log(special.hyp2f1(rsx_p, b2, rsx_p + 1, d / (m + tp))) - rsx_p * np.log(m + tp)
        lf_tx, lf_T = lf[at_tx], lf[at_T]
        diff = lf_T - lf_tx  # <= 0
        with np.errstate(divide="ignore"):
            log_a0 = lf_tx + np.log(-np.expm1(np.minimum(diff, 0.0)))
        second = np.log(s) - np.log(rsx) + log_a0
        return common, first, second

    @classmethod
    def _loglik_terms(cls, params, x, tx, T_, shared=None):
        common, first, second = cls._log_terms(params, x, tx, T_, shared)
        return common + np.logaddexp(first, second)

    def conditional_probability_alive(self, X, recency=None, T=None) -> np.ndarray:
        r"""P(alive at T | x, t_x, T) ([FH05]_ eq. 18).

        .. math::
            P = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)(\alpha+T)^{r+x}(\beta+T)^s}
                \Big/ L(r,\alpha,s,\beta \mid x, t_x, T)
        """
        params = np.asarray(self._p())
        x, tx, T_ = _summary_arrays(X, recency, T)
        with np.errstate(all="ignore"):
            _, first, second = self._log_terms(params, x, tx, T_)
            return np.exp(first - np.logaddexp(first, second))

    def conditional_expected_purchases(self, t, X, recency=None, T=None, p_alive=None) -> np.ndarray:
        r"""Expected purchases in :math:`(T, T+t]` given the history ([FH05]_ eq. 25).

        .. math::
            E[Y(t)\mid\cdot] = P(\text{alive}) \frac{(r+x)(\beta+T)}{(\alpha+T)(s-1)}
            \left[1-\left(\frac{\beta+T}{\beta+T+t}\right)^{s-1}\right]

        (the limit :math:`s \to 1` is handled with ``expm1``); ``p_alive``:
        :meth:`conditional_probability_alive` of the same rows, when known (the
        likelihood's hypergeometric terms are then not evaluated again).
        """
        r, alpha, s, beta = self._p()
        x, tx, T_ = _summary_arrays(X, recency, T)
        t = np.asarray(t, dtype=float)
        if p_alive is None:
            p_alive = self.conditional_probability_alive(x, tx, T_)
        growth = _one_minus_ratio_pow(s - 1.0, np.log1p(t / (beta + T_)))
        return p_alive * (r + x) * (beta + T_) / (alpha + T_) * growth

    def expected_purchases(self, t) -> np.ndarray:
        r"""Unconditional :math:`E[X(t)] = \frac{r\beta}{\alpha(s-1)}
        [1 - (\frac{\beta}{\beta+t})^{s-1}]` ([SMC87]_, [FH05]_ eq. 17)."""
        r, alpha, s, beta = self._p()
        t = np.asarray(t, dtype=float)
        return r * beta / alpha * _one_minus_ratio_pow(s - 1.0, np.log1p(t / beta))


def _one_minus_ratio_pow(k: float, log_growth):
    """``(1 - exp(-k * L)) / k`` computed stably, equal to ``L`` at ``k = 0``."""
    log_growth = np.asarray(log_growth, dtype=float)
    if abs(k) < 1e-12:
        return log_growth
    return -np.expm1(-k * log_growth) / k


# --------------------------------------------------------------------------------------
# Gamma-Gamma spend model
# --------------------------------------------------------------------------------------
class GammaGammaModel:
    r"""Gamma-Gamma model of the average value per transaction ([FHL05b]_).

    Each transaction value :math:`z \sim \mathrm{Gamma}(p, \nu)`, with
    :math:`\nu \sim \mathrm{Gamma}(q, \gamma)` across customers.  For a customer with
    :math:`x \ge 1` repeat transactions of mean :math:`\bar z` the likelihood is

    .. math::
        f(\bar z \mid x) = \frac{\Gamma(px+q)}{\Gamma(px)\Gamma(q)}
            \frac{\gamma^q\, \bar z^{\,px-1}\, x^{px}}{(\gamma + x\bar z)^{px+q}}

    and the conditional expected spend per transaction is

    .. math::
        E[Z \mid \bar z, x] = \frac{p(\gamma + x\bar z)}{px + q - 1}.

    The model assumes spend is independent of the purchase process; check the
    correlation between ``frequency`` and ``monetary_value`` (``freq_value_corr_``).
    Only customers with ``frequency > 0`` and ``monetary_value > 0`` enter the fit.

    Parameters
    ----------
    penalizer, n_starts, random_state
        As in :class:`BetaGeoModel`.

    Attributes
    ----------
    params_ : dict ``{"p", "q", "gamma"}`` (also ``p_``, ``q_``, ``gamma_``)
    log_likelihood_ : float
    """

    _param_names = ("p", "q", "gamma")

    def __init__(self, penalizer: float = 0.0, n_starts: int = 3, random_state=0):
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.random_state = random_state

    @staticmethod
    def _shared_terms(x, m) -> tuple:
        """The distinct ``x`` with each row's position, ``log m`` and ``log x`` (fixed in a fit)."""
        xs, at = np.unique(x, return_inverse=True)
        return xs, np.asarray(at).ravel(), np.log(m), np.log(x)

    @staticmethod
    def _loglik_terms(params, x, m, shared=None):
        """Per-row log-likelihood; ``shared`` = :meth:`_shared_terms` of the same rows.

        The two ``log Gamma`` terms of ``p x`` are evaluated once per distinct frequency
        and gathered back (the same numbers, element by element).
        """
        p, q, g = params
        xs, at, log_m, log_x = GammaGammaModel._shared_terms(x, m) if shared is None else shared
        pxs = p * xs
        px = p * x
        return (
            special.gammaln(pxs + q)[at] - special.gammaln(pxs)[at] - special.gammaln(q)
            + q * np.log(g) + (px - 1) * log_m + px * log_x
            - (px + q) * np.log(g + x * m)
        )

    def fit(self, X, monetary_value=None):
        """Fit on the summary (``frequency``, ``monetary_value``) by maximum likelihood.

        Returns
        -------
        self
        """
        if monetary_value is None:
            if not isinstance(X, pd.DataFrame):
                raise TypeError("expected a DataFrame with frequency and monetary_value")
            require_columns(X, "summary", ("frequency", "monetary_value"))
            x = X["frequency"].to_numpy(dtype=float)
            m = X["monetary_value"].to_numpy(dtype=float)
        else:
            x = np.asarray(X, dtype=float).ravel()
            m = np.asarray(monetary_value, dtype=float).ravel()
        keep = (x > 0) & (m > 0) & np.isfinite(m)
        if keep.sum() < 3:
            raise ValueError(
                f"Gamma-Gamma needs customers with repeat purchases and positive value; "
                f"only {int(keep.sum())} found (expected at least 3)"
            )
        x, m = x[keep], m[keep]
        (xu, mu), w = _compress(x, m)
        n = w.sum()
        pen = float(self.penalizer)

        shared = self._shared_terms(xu, mu)

        def negll(theta):
            with np.errstate(all="ignore"):
                ll = self._loglik_terms(np.exp(theta), xu, mu, shared)
            return -np.dot(w, ll) / n + pen * np.sum(np.exp(theta) ** 2)

        start = [np.log([1.0, 1.0, max(float(np.mean(m)), 1e-6)]), np.log([5.0, 4.0, 15.0])]
        theta, _, _ = _maximise(
            negll, self._param_names, start, self.random_state, int(self.n_starts),
            bounds_log=(-15.0, 25.0),
        )
        params = np.exp(theta)
        self.params_ = dict(zip(self._param_names, params.tolist()))
        self.p_, self.q_, self.gamma_ = params.tolist()
        self.log_likelihood_ = float(np.dot(w, self._loglik_terms(params, xu, mu)))
        self.n_customers_ = int(n)
        self.freq_value_corr_ = float(np.corrcoef(x, m)[0, 1]) if n > 2 else float("nan")
        return self

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise RuntimeError("GammaGammaModel is not fitted; call fit() first")

    def population_mean_value(self) -> float:
        r""":math:`E[Z] = p\gamma/(q-1)` (infinite when :math:`q \le 1`)."""
        self._check_fitted()
        return self.p_ * self.gamma_ / (self.q_ - 1) if self.q_ > 1 else float("inf")

    def conditional_expected_average_value(self, frequency, monetary_value) -> np.ndarray:
        r""":math:`E[Z\mid\bar z,x] = p(\gamma + x\bar z)/(px+q-1)`; for :math:`x = 0` this
        is the population mean :math:`p\gamma/(q-1)`."""
        self._check_fitted()
        x = np.asarray(frequency, dtype=float)
        m = np.where(x > 0, np.asarray(monetary_value, dtype=float), 0.0)
        return self.p_ * (self.gamma_ + x * m) / (self.p_ * x + self.q_ - 1)

    def customer_lifetime_value(
        self,
        transaction_model,
        summary: pd.DataFrame,
        months: int = 12,
        discount_rate: float = 0.01,
        freq: str = "W",
    ) -> np.ndarray:
        r"""Discounted expected value of each customer's purchases in the next ``months``.

        .. math::
            \mathrm{CLV}_i = \sum_{m=1}^{M} \frac{E[Z_i]\,\big(E[Y_i(m\,u)] -
            E[Y_i((m-1)\,u)]\big)}{(1+d)^m}

        with :math:`E[Y_i(t)]` the transaction model's conditional expected purchases,
        :math:`u` one month in the summary's time unit (30.44 days / ``freq``), :math:`d`
        the *monthly* discount rate and :math:`E[Z_i]` from
        :meth:`conditional_expected_average_value` -- the discrete-time version of the
        DERT of [FHL05b]_ (as in lifetimes' ``customer_lifetime_value``).

        Parameters
        ----------
        transaction_model : BetaGeoModel or ParetoNBDModel, fitted
        summary : DataFrame
            :func:`rfm_summary` frame (``frequency``, ``recency``, ``T``, ``monetary_value``).
        months : int
            Horizon in months.
        discount_rate : float
            Monthly discount rate (e.g. 0.01 ~ 12.7 % a year).
        freq : str
            Time unit of the summary.

        Returns
        -------
        ndarray of CLV in the currency of ``monetary_value``.
        """
        if months < 1:
            raise ValueError(f"months={months!r}: expected >= 1")
        if not (discount_rate > -1):
            raise ValueError(f"discount_rate={discount_rate!r}: expected > -1 (monthly)")
        require_columns(summary, "summary", (*_SUMMARY_COLUMNS, "monetary_value"))
        unit = PERIOD_DAYS["M"] / _period_days(freq)
        value = self.conditional_expected_average_value(
            summary["frequency"].to_numpy(float), summary["monetary_value"].to_numpy(float)
        )
        x, tx, T_ = _summary_arrays(summary)
        alive = transaction_model.conditional_probability_alive(x, tx, T_)  # once, not per month
        prev = np.zeros(len(summary))
        clv = np.zeros(len(summary))
        for m in range(1, months + 1):
            cum = transaction_model.conditional_expected_purchases(m * unit, x, tx, T_, p_alive=alive)
            clv += value * (cum - prev) / (1 + discount_rate) ** m
            prev = cum
        return clv


# --------------------------------------------------------------------------------------
# Supervised churn classifier
# --------------------------------------------------------------------------------------
def _occasions(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order (:mod:`salesplan.data.orders`) with its value in ``amount``."""
    return order_values(lines)[["customer_id", "order_date", "value"]].rename(
        columns={"value": "amount"})


class _OrderHistory:
    """Cleaned order lines (:func:`_clean_orders`) with their orders built once for every date.

    ``orders``: :func:`_occasions` of all the lines (one row per customer-day, sorted by
    customer and date); ``returns``: the lines with a negative amount.  In both,
    ``customer_id`` is an integer code (:func:`~salesplan.models._text.str_codes`; code
    order = id order, ``names[code]`` = the id): the group-bys over them hash integers, not
    strings.  The orders known at a date are the rows up to it: an order's lines share its
    date, so filtering the orders gives the rows (and sums, added in the same order) that
    building them from the filtered lines gives -- the snapshots of the classifier and the
    risk list read one group-by of the lines instead of one (or two) each.
    """

    def __init__(self, orders: pd.DataFrame):
        require_columns(orders, "orders", _ORDER_COLUMNS)
        codes, self.names = str_codes(orders["customer_id"])
        self.lines = _clean_orders(orders, customer_id=codes)  # customer_id: the codes
        self._summaries: dict = {}
        self._tables: dict = {}

    def prepared(self, table: pd.DataFrame, build):
        """``build(table)`` once per table for this history: the invoices and activities read
        by every snapshot's features (:func:`_payment_table`, :func:`_activity_table`)."""
        key = (build, id(table))
        hit = self._tables.get(key)
        if hit is None or hit[0] is not table:
            hit = self._tables[key] = (table, build(table))  # the table kept: its id stays its own
        return hit[1]

    def release_tables(self) -> None:
        """Forget the :meth:`prepared` tables (the last snapshot's features are built)."""
        self._tables.clear()

    @functools.cached_property
    def orders(self) -> pd.DataFrame:
        return _occasions(self.lines)

    @functools.cached_property
    def returns(self) -> pd.DataFrame:
        return self.lines.loc[self.lines["amount"] < 0]

    def named(self, index: pd.Index) -> pd.Index:
        """Customer codes as ``customer_id`` (text)."""
        return pd.Index(self.names[index.to_numpy()], dtype=object, name="customer_id")

    def orders_by(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The orders dated on or before ``as_of``."""
        return self.orders[self.orders["order_date"] <= as_of]

    def returns_by(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The return lines dated on or before ``as_of``."""
        return self.returns[self.returns["order_date"] <= as_of]

    def summary(self, as_of: pd.Timestamp, unit: float) -> pd.DataFrame:
        """``_rfm_summary_of(lines, as_of, unit, "D")``, built once per ``(as_of, unit)``."""
        key = (as_of, unit)
        if key not in self._summaries:
            _check_as_of(self.lines["order_date"], as_of)
            occ = self.orders_by(as_of).rename(columns={"order_date": "date", "amount": "value"})
            out = _summary_of_occasions(occ, self.returns_by(as_of), as_of, unit)
            self._summaries[key] = out.set_axis(self.named(out.index))
        return self._summaries[key]

    def labels(self, cutoff: pd.Timestamp, horizon_days: int, customer_ids) -> pd.Series:
        """``_churn_labels_of(lines, cutoff, horizon_days, customer_ids)``."""
        o = self.orders
        window = o[(o["order_date"] > cutoff) & (o["order_date"] <= cutoff + pd.Timedelta(days=int(horizon_days)))]
        return _labels(customer_ids, self.names[pd.unique(window["customer_id"].to_numpy())])


def _bgnbd_features(f: pd.DataFrame, history: _OrderHistory, as_of, horizon_days: int) -> None:
    """``bgnbd_p_alive``, ``bgnbd_expected`` of :func:`churn_features` (NaN on too little data)."""
    idx = f.index
    f["bgnbd_p_alive"] = np.nan
    f["bgnbd_expected"] = np.nan
    try:
        s = history.summary(as_of, PERIOD_DAYS["W"]).reindex(idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = BetaGeoModel(n_starts=1).fit(s)
        f["bgnbd_p_alive"] = m.conditional_probability_alive(s)
        f["bgnbd_expected"] = m.conditional_expected_purchases(horizon_days / 7.0, s)
    except (ValueError, FloatingPointError):  # too little data: leave NaN
        pass


def _payment_table(inv: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The invoices of :func:`_payment_features` typed once for every snapshot: ``customer_id``
    as integer codes (:func:`~salesplan.models._text.str_codes`: the group-bys hash integers,
    not strings), dates ``issue, due, paid``, ``amount``; and the ids of the codes."""
    require_columns(inv, "invoices", ("customer_id", "issue_date", "due_date", "amount", "paid_date"))
    table = pd.DataFrame(
        {
            "issue": _datetimes(inv["issue_date"]).to_numpy(),
            "due": _datetimes(inv["due_date"]).to_numpy(),
            "paid": _datetimes(inv["paid_date"]).to_numpy(),
            "amount": pd.to_numeric(inv["amount"], errors="coerce").to_numpy(float),
        }
    )
    codes, names = str_codes(inv["customer_id"])
    return table.assign(customer_id=codes), names


def _payment_features(f: pd.DataFrame, invoices: tuple[pd.DataFrame, np.ndarray], as_of) -> None:
    """``share_late``, ``mean_dpd``, ``max_dpd``, ``overdue_amount`` of :func:`churn_features`
    (``invoices``: :func:`_payment_table`)."""
    idx = f.index
    inv, names = invoices
    inv = inv[inv["issue"] <= as_of]
    paid = inv["paid"].where(settled_by(inv["paid"], as_of))  # paid later = unpaid now
    dpd = days_past_due(inv["due"], inv["paid"], as_of).astype(float)
    due_window = (inv["due"] <= as_of) & ((as_of - inv["due"]).dt.days < 365)
    late = (dpd > 0).astype(float)
    gi = pd.DataFrame({"c": inv["customer_id"], "late": late, "dpd": dpd})[due_window].groupby("c")
    f["share_late"] = _named(gi["late"].mean(), names).reindex(idx)
    f["mean_dpd"] = _named(gi["dpd"].mean(), names).reindex(idx)
    f["max_dpd"] = _named(gi["dpd"].max(), names).reindex(idx)
    open_overdue = paid.isna() & (inv["due"] < as_of)
    f["overdue_amount"] = (
        _named(inv.loc[open_overdue].groupby("customer_id")["amount"].sum(), names).reindex(idx).fillna(0.0)
    )


def _activity_table(act: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The activities of :func:`_activity_features` with a customer, typed once for every
    snapshot: ``date``, ``customer_id`` and ``kind`` as integer codes
    (:func:`~salesplan.models._text.str_codes`); the ids of the customer codes and the kinds
    of the kind codes.  No Python string per row: at scale 100 (8.9M
    activities) the table is 0.14 GB instead of 0.2 GB plus a 71 MB array of kinds kept
    for the notebook's life.
    """
    require_columns(act, "activities", ("date", "customer_id", "kind"))
    known = act["customer_id"].notna().to_numpy()
    kind_codes, kinds = str_codes(act["kind"])
    customers = act["customer_id"] if known.all() else act["customer_id"][known]
    codes, names = str_codes(customers)
    table = pd.DataFrame(
        {
            "date": _datetimes(act["date"]).to_numpy()[known],
            "customer_id": codes,
            "kind": kind_codes[known],
        }
    )
    return table, names, kinds


def _activity_features(f: pd.DataFrame, activities: tuple[pd.DataFrame, np.ndarray, np.ndarray], as_of) -> None:
    """``visits_90d``, ``calls_90d``, ``emails_90d``, ``days_since_activity`` of
    :func:`churn_features` (``activities``: :func:`_activity_table`)."""
    idx = f.index
    act, names, kinds = activities
    kinds = list(kinds)
    act = act[act["date"] <= as_of]
    # (as_of - date).dt.days < 90, without a day count per activity (8.9M at scale 100): whole
    # days floored, fewer than 90 exactly when the time between is under 90 days
    recent = act[act["date"] > as_of - pd.Timedelta(days=90)]
    for kind, col in (("visit", "visits_90d"), ("call", "calls_90d"), ("email", "emails_90d")):
        code = kinds.index(kind) if kind in kinds else -1  # -1: no code (no such activity)
        f[col] = _named(recent[recent["kind"] == code].groupby("customer_id").size(), names).reindex(idx).fillna(0.0)
    f["days_since_activity"] = (
        (as_of - _named(act.groupby("customer_id")["date"].max(), names)).dt.days.reindex(idx).astype(float)
    )


def churn_features(
    data: SalesData | pd.DataFrame,
    as_of,
    bgnbd: bool = True,
    horizon_days: int = 90,
) -> pd.DataFrame:
    r"""Features per customer at ``as_of`` from data dated on or before ``as_of`` only.

    Every customer with at least one purchase (order line with amount >= 0) on or
    before ``as_of`` gets a row.  Rows dated after ``as_of`` are ignored; invoices paid
    after ``as_of`` count as unpaid at ``as_of`` (no look-ahead).

    Features (days are calendar days before ``as_of``):

    * RFM: ``recency_days``, ``tenure_days``, ``n_purchases`` (purchase days),
      ``purchases_90d``, ``purchases_365d``, ``revenue_365d``, ``avg_order_value``.
    * Trend: ``revenue_trend`` = :math:`\log(1+R_{0-365}) - \log(1+R_{365-730})`,
      ``purchase_trend`` = purchases in the last 180 days minus the 180 before,
      ``mean_gap_days`` = tenure / (n_purchases - 1), ``overdue_ratio`` =
      recency_days / mean_gap_days (how late the next purchase is against habit),
      ``returns_share_365d`` = returned / bought value in the last year.
    * BG/NBD (``bgnbd=True``, fitted on the same history, weeks): ``bgnbd_p_alive``,
      ``bgnbd_expected`` purchases in the next ``horizon_days``.
    * Credit (when ``invoices`` is present): ``share_late`` (share of invoices due in the
      last 365 days that were paid after the due date or are still unpaid),
      ``mean_dpd`` / ``max_dpd`` (days past due of those invoices; unpaid ones counted
      to ``as_of``), ``overdue_amount`` (open amount past due at ``as_of``).
    * Activities (when ``activities`` is present): ``visits_90d``, ``calls_90d``,
      ``emails_90d``, ``days_since_activity``.

    Parameters
    ----------
    data : SalesData or DataFrame
        The bundle, or just the ``orders`` table.
    as_of : date-like
    bgnbd : bool
        Add the BG/NBD features.
    horizon_days : int
        Horizon of ``bgnbd_expected``.

    Returns
    -------
    DataFrame indexed by ``customer_id`` (float columns; NaN where undefined).
    """
    data = data if isinstance(data, SalesData) else SalesData(orders=data)
    return _churn_features_of(data, _OrderHistory(data.orders), as_date(as_of), bgnbd,
                              horizon_days)


def _churn_features_of(data: SalesData, history: _OrderHistory, as_of: pd.Timestamp, bgnbd: bool,
                       horizon_days: int) -> pd.DataFrame:
    """:func:`churn_features` with the order lines of ``data`` already cleaned and grouped.

    The order features are built first (:func:`_order_features`), so that the orders known
    at ``as_of`` and their windows are let go before the payment and activity features are
    built beside them (at scale 100 ~0.4 GB of ~8M orders' copies, ages and masks)."""
    f = _order_features(history, as_of)
    if bgnbd:
        _bgnbd_features(f, history, as_of, horizon_days)
    if data.invoices is not None:
        _payment_features(f, history.prepared(data.invoices, _payment_table), as_of)
    if data.activities is not None:
        _activity_features(f, history.prepared(data.activities, _activity_table), as_of)
    return f.astype(float)


def _order_features(history: _OrderHistory, as_of: pd.Timestamp) -> pd.DataFrame:
    """The order features of :func:`churn_features` (recency to returns share), one row per
    customer with an order on or before ``as_of``, indexed by ``customer_id``."""
    if history.lines.empty:
        raise ValueError("table 'orders' is empty; expected at least one order line")
    _check_as_of(history.lines["order_date"], as_of)
    occ = history.orders_by(as_of)
    if occ.empty:
        raise ValueError(f"no purchase on or before as_of={as_of.date()}")
    age = (as_of - occ["order_date"]).dt.days.to_numpy()
    g = occ.groupby("customer_id", sort=True)
    idx = g.size().index
    f = pd.DataFrame(index=idx)
    f.index.name = "customer_id"
    f["recency_days"] = (as_of - g["order_date"].max()).dt.days.astype(float)
    f["tenure_days"] = (as_of - g["order_date"].min()).dt.days.astype(float)
    f["n_purchases"] = g.size().astype(float)

    def window_sum(values, lo, hi):
        mask = (age >= lo) & (age < hi)
        return (
            pd.Series(np.asarray(values, dtype=float)[mask], index=occ["customer_id"][mask])
            .groupby(level=0).sum().reindex(idx).fillna(0.0)
        )

    ones = np.ones(len(occ))
    f["purchases_90d"] = window_sum(ones, 0, 90)
    f["purchases_365d"] = window_sum(ones, 0, 365)
    f["revenue_365d"] = window_sum(occ["amount"], 0, 365)
    rev_prev = window_sum(occ["amount"], 365, 730)
    f["avg_order_value"] = g["amount"].mean()
    f["revenue_trend"] = np.log1p(f["revenue_365d"].clip(lower=0)) - np.log1p(rev_prev.clip(lower=0))
    f["purchase_trend"] = window_sum(ones, 0, 180) - window_sum(ones, 180, 360)
    gaps = f["tenure_days"] / (f["n_purchases"] - 1).where(f["n_purchases"] > 1)
    f["mean_gap_days"] = gaps
    f["overdue_ratio"] = f["recency_days"] / gaps.where(gaps > 0)
    ret = history.returns_by(as_of)
    ret = ret[(as_of - ret["order_date"]).dt.days < 365]
    returned = -ret.groupby("customer_id")["amount"].sum().reindex(idx).fillna(0.0)
    f["returns_share_365d"] = returned / f["revenue_365d"].where(f["revenue_365d"] > 0)
    f.index = history.named(f.index)  # the codes as customer ids from here on
    return f


def churn_labels(orders: pd.DataFrame, cutoff, horizon_days: int = 90, customer_ids=None) -> pd.Series:
    """1 = churned: no purchase (order line with amount >= 0) in ``(cutoff, cutoff + N]``.

    Parameters
    ----------
    orders : DataFrame
    cutoff : date-like
        The snapshot date; the label window starts the day after.
    horizon_days : int
        N, the length of the window in days.
    customer_ids : sequence, optional
        Customers to label (default: those with a purchase on or before ``cutoff``).

    Returns
    -------
    Series of int (0/1) indexed by ``customer_id``.
    """
    return _churn_labels_of(_clean_orders(orders), as_date(cutoff, "cutoff"), horizon_days, customer_ids)


def _churn_labels_of(lines: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, customer_ids=None) -> pd.Series:
    """:func:`churn_labels` of order lines already cleaned (``_clean_orders``)."""
    if customer_ids is None:
        customer_ids = np.sort(pd.unique(  # np.unique of text sorts every row: slower
            purchase_lines(lines.loc[lines["order_date"] <= cutoff])["customer_id"].to_numpy()
        ))
    window = purchase_lines(lines[
        (lines["order_date"] > cutoff)
        & (lines["order_date"] <= cutoff + pd.Timedelta(days=int(horizon_days)))
    ])
    return _labels(customer_ids, pd.unique(window["customer_id"].to_numpy()))


def _labels(customer_ids, bought) -> pd.Series:
    """1 for the customers not among the ids ``bought``, else 0."""
    ids = pd.Index([str(c) for c in customer_ids], name="customer_id")
    return pd.Series((~ids.isin(pd.Index(bought))).astype("int64"), index=ids, name="churn")


#: Customers scored at a time by :meth:`ChurnClassifier.driver_contributions`.
_DRIVER_BLOCK = 16384


def _occlude(X: np.ndarray, j: int, rows: np.ndarray, value: float) -> np.ndarray:
    """The rows ``rows`` of ``X`` with column ``j`` set to ``value`` (a copy)."""
    block = X[rows]
    block[:, j] = value
    return block


def _single_thread(n_threads):
    """Context limiting OpenMP/BLAS threads (no-op when ``n_threads`` is None)."""
    import contextlib

    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n_threads))


class ChurnClassifier(BaseEstimator, ClassifierMixin):
    r"""Gradient-boosting churn classifier with time-based calibration and drivers.

    A scikit-learn estimator (``get_params``/``set_params``/``clone``; ``__init__`` only
    stores its settings; learned attributes end in ``_``) whose input ``X`` is a sales data
    bundle, not a feature matrix: :meth:`fit` builds its own labelled snapshots, so
    ``fit(X, y=None, as_of=...)`` takes no ``y``.  ``predict_proba(X)`` returns the
    scikit-learn ``(n_customers, 2)`` array (columns :attr:`classes_` = ``[0, 1]``, 1 =
    churn); :meth:`churn_probability` gives the same P(churn) as a Series by customer;
    ``score(X, y)`` is scikit-learn's accuracy of :meth:`predict` against churn labels.

    Churn = no purchase in the ``horizon_days`` after a date.  Training rows come from
    ``n_snapshots`` past snapshots :math:`c_k = \text{as\_of} - kN` (:math:`k = 1..K`,
    :math:`N` = ``horizon_days``): features at :math:`c_k` (:func:`churn_features`, no
    look-ahead), label from :math:`(c_k, c_k+N]`, which ends on or before ``as_of``.

    Calibration is *time-based*: ``CalibratedClassifierCV`` gets the folds "fit the
    trees on snapshots :math:`c_K..c_{k+1}`, fit the calibrator on the later snapshot
    :math:`c_k`" for :math:`k = K-1..1`; the :math:`K-1` calibrated models are averaged
    (``ensemble=True``).  So probabilities are calibrated on data later than the trees
    saw, as they will be used.  ``calibration="auto"`` uses isotonic regression when every
    calibration snapshot has at least 1,000 customers, else Platt (sigmoid) scaling.

    Drivers (:meth:`driver_contributions`): for customer :math:`i` and feature :math:`j`,
    :math:`\Delta_{ij} = f(x_i) - f(x_i \text{ with } x_{ij} := m_j)` where :math:`f` is
    the mean raw log-odds of the fold models and :math:`m_j` the training median (a
    one-feature-at-a-time occlusion).  Positive = the feature's value pushes this
    customer toward churn compared with a typical customer.  Deltas do not add up to
    the total (interactions are not split) -- they rank reasons, they are not a
    decomposition.

    Parameters
    ----------
    horizon_days : int
        N, the churn window (default 90).
    n_snapshots : int
        K >= 2 training snapshots.
    calibration : {"auto", "isotonic", "sigmoid"}
    bgnbd_features : bool
        Add BG/NBD p_alive / expected purchases as features.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf : gradient boosting
        Passed to ``HistGradientBoostingClassifier``.
    random_state : int
    n_threads : int or None
        OpenMP threads for the trees (default 1: the data are small and threads only
        contend on a shared machine; None = library default).
    """

    def __init__(
        self,
        horizon_days: int = 90,
        n_snapshots: int = 4,
        calibration: str = "auto",
        bgnbd_features: bool = True,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.horizon_days = horizon_days
        self.n_snapshots = n_snapshots
        self.calibration = calibration
        self.bgnbd_features = bgnbd_features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self):
        if not (isinstance(self.horizon_days, (int, np.integer)) and self.horizon_days >= 1):
            raise ValueError(f"horizon_days={self.horizon_days!r}: expected an integer >= 1")
        if not (isinstance(self.n_snapshots, (int, np.integer)) and self.n_snapshots >= 2):
            raise ValueError(f"n_snapshots={self.n_snapshots!r}: expected an integer >= 2")
        if self.calibration not in ("auto", "isotonic", "sigmoid"):
            raise ValueError(
                f"calibration={self.calibration!r}: expected 'auto', 'isotonic' or 'sigmoid'"
            )

    def training_frame(self, data: SalesData, as_of) -> pd.DataFrame:
        """Stacked snapshots: features, ``churn`` label, ``snapshot`` (0 = oldest)."""
        data = data if isinstance(data, SalesData) else SalesData(orders=data)
        return self._training_frame(data, _OrderHistory(data.orders), as_of)  # once for every snapshot

    def _training_frame(self, data: SalesData, history: _OrderHistory, as_of) -> pd.DataFrame:
        """:meth:`training_frame` with the order history of ``data`` already built."""
        self._check_params()
        as_of = as_date(as_of)
        dates = history.lines["order_date"]
        _check_as_of(dates, as_of)
        frames = []
        for k in range(int(self.n_snapshots), 0, -1):
            cutoff = as_of - pd.Timedelta(days=k * int(self.horizon_days))
            if cutoff < dates.min():
                continue
            feats = _churn_features_of(data, history, cutoff, self.bgnbd_features, int(self.horizon_days))
            y = history.labels(cutoff, int(self.horizon_days), feats.index)
            frames.append(feats.assign(churn=y.to_numpy(), cutoff=cutoff))
        if len(frames) < 2:
            raise ValueError(
                f"only {len(frames)} snapshot(s) of {self.n_snapshots} fit between the first "
                f"order ({dates.min().date()}) and as_of={as_of.date()} with "
                f"horizon_days={self.horizon_days}; expected at least 2 (use a later as_of, "
                "a shorter horizon or more history)"
            )
        out = pd.concat(frames)
        out["snapshot"] = pd.factorize(out["cutoff"], sort=True)[0]
        return out

    def fit(self, X: SalesData, y=None, as_of=None):
        """Build the snapshots before ``as_of`` from ``X``, fit and calibrate.  Returns self.

        ``y`` must be None: the labels come from the orders after each snapshot.  The older
        positional call ``fit(X, as_of)`` (a date in place of ``y``) is still accepted.
        """
        if as_of is None and isinstance(y, (str, pd.Timestamp, np.datetime64, datetime.date)):
            as_of, y = y, None
        if as_of is None:
            raise ValueError("ChurnClassifier.fit: as_of is required (the last observed day)")
        if y is not None:
            raise ValueError("ChurnClassifier.fit: y must be None; the churn labels come from "
                             "the orders after each snapshot (pass as_of=...)")
        data = X if isinstance(X, SalesData) else SalesData(orders=X)
        return self._fit(data, _OrderHistory(data.orders), as_of)

    def _fit(self, data: SalesData, history: _OrderHistory, as_of):
        """:meth:`fit` with the order history of ``data`` already built (:func:`churn_risk_list`
        shares it with the scoring)."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier

        train = self._training_frame(data, history, as_of)
        y = train["churn"].to_numpy()
        if np.unique(y).size < 2:
            raise ValueError(
                f"one-class target: all {len(y)} snapshot rows are "
                f"{'churned' if y[0] else 'not churned'} (no purchase / a purchase in the "
                f"{self.horizon_days} days after every snapshot); the classifier needs both"
            )
        feature_names = [c for c in train.columns if c not in ("churn", "cutoff", "snapshot")]
        X = train[feature_names].to_numpy(float)
        snap = train["snapshot"].to_numpy()
        folds = []
        for k in range(1, snap.max() + 1):
            tr, ca = np.flatnonzero(snap < k), np.flatnonzero(snap == k)
            if np.unique(y[tr]).size == 2 and np.unique(y[ca]).size == 2:
                folds.append((tr, ca))
        if not folds:
            raise ValueError(
                "one-class target in every time split: each training or calibration "
                "snapshot has only churned or only retained customers"
            )
        method = self.calibration
        if method == "auto":
            method = "isotonic" if min(len(c) for _, c in folds) >= 1000 else "sigmoid"
        base = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=1.0,
            random_state=self.random_state,
        )
        self.classes_ = np.array([0, 1])
        self.model_ = CalibratedClassifierCV(base, method=method, cv=folds, ensemble=True)
        with _single_thread(self.n_threads):
            self.model_.fit(X, y)
        self.feature_names_ = feature_names
        self.calibration_method_ = method
        self.reference_ = np.nanmedian(X, axis=0)
        self.as_of_ = as_date(as_of)
        self.training_summary_ = (
            train.groupby("cutoff")["churn"].agg(customers="size", churn_rate="mean").reset_index()
        )
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("ChurnClassifier is not fitted; call fit() first")

    def features(self, data: SalesData, as_of=None) -> pd.DataFrame:
        """Features at ``as_of`` (default: the fit's ``as_of``) in training column order."""
        self._check_fitted()
        as_of = self.as_of_ if as_of is None else as_of
        f = churn_features(data, as_of, self.bgnbd_features, int(self.horizon_days))
        return f.reindex(columns=self.feature_names_)

    def churn_probability(self, X: SalesData, as_of=None, features=None) -> pd.Series:
        """Calibrated P(no purchase in the next ``horizon_days``) per customer (``p_churn``).

        ``as_of`` defaults to the fit's; ``features`` (from :meth:`features`) skips
        recomputing them.
        """
        f = self.features(X, as_of) if features is None else features
        self._check_fitted()
        f = f.reindex(columns=self.feature_names_)
        with _single_thread(self.n_threads):
            p = self.model_.predict_proba(f.to_numpy(float))[:, 1]
        return pd.Series(p, index=f.index, name="p_churn")

    def predict_proba(self, X: SalesData, as_of=None, features=None) -> np.ndarray:
        """``(n_customers, 2)``: P(retained), P(churn), customers as in :meth:`features`."""
        p = self.churn_probability(X, as_of, features).to_numpy(float)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: SalesData, as_of=None, features=None) -> np.ndarray:
        """1 (churn) where P(churn) >= 0.5, else 0."""
        return (self.predict_proba(X, as_of, features)[:, 1] >= 0.5).astype("int64")

    def _raw(self, X):
        return np.mean(
            [c.estimator.decision_function(X) for c in self.model_.calibrated_classifiers_],
            axis=0,
        )

    def driver_contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Occlusion deltas of the raw log-odds per customer and feature (see class doc).

        Only the rows whose value differs from the reference are occluded (the trees score
        each row on its own, so an unchanged row's delta is exactly 0), and the customers
        are scored ``_DRIVER_BLOCK`` at a time (:meth:`_raw_occluded`): the same numbers as
        scoring every occluded row with ``decision_function``, with one block of occluded
        rows in memory instead of customers x features of them.
        """
        self._check_fitted()
        X = features.reindex(columns=self.feature_names_).to_numpy(float)
        n, k = X.shape
        out = np.zeros((n, k))
        with _single_thread(self.n_threads):
            for start in range(0, n, _DRIVER_BLOCK):
                part = X[start:start + _DRIVER_BLOCK]
                changed = [np.flatnonzero(~(part[:, j] == self.reference_[j])) for j in range(k)]
                base, occluded = self._raw_occluded(part, changed)
                for j, rows in enumerate(changed):
                    out[start + rows, j] = base[rows] - occluded[j]
        return pd.DataFrame(out, index=features.index, columns=self.feature_names_)

    def _raw_occluded(self, X: np.ndarray, changed: list) -> tuple[np.ndarray, list]:
        """``_raw(X)`` and, per feature j, ``_raw`` of the rows ``changed[j]`` of ``X`` with
        feature j set to its reference -- the same numbers, tree by tree.

        A tree that does not split on feature j gives an occluded row the leaf of the row as
        it is: only the trees that split on j walk the occluded rows, the others' values are
        taken from the rows as they are; the values are added in ``decision_function``'s
        order (baseline, then tree after tree), so each sum is the one it computes.  Falls
        back to scoring every occluded row when the model is not a one-output
        ``HistGradientBoostingClassifier`` of the internals this relies on.
        """
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        try:
            fits = [c.estimator for c in self.model_.calibrated_classifiers_]
            predictors = [[p for (p,) in est._predictors] for est in fits]
        except (AttributeError, TypeError, ValueError):  # not the model this was written for
            fits = None
        if fits is None or any(est.n_trees_per_iteration_ != 1 for est in fits):
            raw = self._raw(np.concatenate([X] + [_occlude(X, j, rows, self.reference_[j])
                                                  for j, rows in enumerate(changed)]))
            ends = len(X) + np.cumsum([len(rows) for rows in changed])
            return raw[:len(X)], [raw[e - len(rows):e] for e, rows in zip(ends, changed)]
        threads = _openmp_effective_n_threads()
        bases, blocks = [], []
        for est, trees in zip(fits, predictors):
            Xp = est._preprocess_X(X, reset=False)
            bitsets, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
            occluded = [_occlude(Xp, j, rows, self.reference_[j]) for j, rows in enumerate(changed)]
            acc = [np.zeros((len(a), 1), dtype=est._baseline_prediction.dtype, order="F") for a in [Xp, *occluded]]
            for a in acc:
                a += est._baseline_prediction
            for tree in trees:
                nodes = tree.nodes
                splits_on = set(nodes["feature_idx"][nodes["is_leaf"] == 0].tolist())
                v = tree.predict(Xp, bitsets, f_idx_map, threads)
                acc[0][:, 0] += v
                for j, rows in enumerate(changed):
                    if len(rows):
                        acc[j + 1][:, 0] += (tree.predict(occluded[j], bitsets, f_idx_map, threads)
                                             if j in splits_on else v[rows])
            bases.append(acc[0].ravel())
            blocks.append([a.ravel() for a in acc[1:]])
        return (np.mean(bases, axis=0),
                [np.mean([b[j] for b in blocks], axis=0) for j in range(len(changed))])

    def top_drivers(self, features: pd.DataFrame, n: int = 3) -> pd.Series:
        """The ``n`` features pushing each customer most toward churn, as text.

        Format: ``"recency_days=412 (+1.31); share_late=0.5 (+0.40)"``: value at as_of
        and its log-odds delta against the training median; features with a delta
        <= 0.01 are left out.
        """
        deltas = self.driver_contributions(features)
        vals = features.reindex(columns=self.feature_names_).to_numpy(float)
        names = np.asarray(self.feature_names_)
        delta = deltas.to_numpy()
        order = np.argsort(-delta, axis=1)[:, :n]
        top = np.take_along_axis(delta, order, axis=1)  # the n largest deltas per customer
        top_vals = np.take_along_axis(vals, order, axis=1)
        names = names.tolist()
        texts = [  # Python numbers: formatting NumPy scalars one by one is several times slower
            "; ".join(f"{names[j]}={v:.4g} (+{d:.2f})" for j, v, d in zip(js, vs, ds) if d > 0.01)
            for js, vs, ds in zip(order.tolist(), top_vals.tolist(), top.tolist())
        ]
        return pd.Series(texts, index=features.index, name="top_drivers")


# --------------------------------------------------------------------------------------
# Churn-risk list
# --------------------------------------------------------------------------------------
def churn_risk_list(
    data: SalesData,
    as_of,
    horizon_days: int = 90,
    transaction_model: str = "pareto",
    clv_months: int = 12,
    discount_rate: float = 0.01,
    value: str = "revenue_12m",
    n_drivers: int = 3,
    classifier: ChurnClassifier | None = None,
    random_state: int = 0,
    engine: str = "local",
    scheduler=None,
) -> pd.DataFrame:
    r"""One row per customer with churn probability, lifetime value and revenue at risk.

    * ``p_churn``: calibrated :class:`ChurnClassifier` P(no purchase in the next
      ``horizon_days``) (``classifier``: fitted, or fitted here -- the one given with its
      settings, else the default one -- on the order history the scoring reads too).
    * ``p_alive``, ``expected_purchases_next_quarter`` (91.3 days):
      Pareto/NBD (``transaction_model="pareto"``, default) or BG/NBD (``"bgnbd"``) on
      :func:`rfm_summary` at ``as_of`` in weeks.  Pareto/NBD is the default because
      BG/NBD sets P(alive) = 1 for every customer without a repeat purchase, however
      long ago the first one was; on the demo company (exponential lifetimes) Pareto/NBD
      ranks true dropouts far better (AUC 0.97 vs 0.84, benchmarks/RESULTS.md).
    * ``clv``: :meth:`GammaGammaModel.customer_lifetime_value` over ``clv_months`` with the
      monthly ``discount_rate`` (Gamma-Gamma on repeat buyers' mean value; if it cannot be
      fitted, the customer's own mean occasion value is used instead).
    * ``revenue_at_risk`` = ``p_churn`` x value, where value is ``value``:
      ``"revenue_12m"`` (default; net revenue of the trailing 12 months incl. returns -- what
      the plan loses if the customer stops buying) or ``"clv"`` (expected discounted value
      of the next ``clv_months``).
    * ``region`` (customers table) and ``rep_id`` (rep of the customer's latest order line
      with a rep); ``top_drivers`` from :meth:`ChurnClassifier.top_drivers`.

    Parameters
    ----------
    engine : {"local", "dask"}
        ``"dask"`` scores the customers (features, ``p_churn``, drivers, ``p_alive`` and
        expected purchases) on a Dask cluster over customer partitions
        (:func:`score_churn`,
        :func:`score_transaction_model`); the population models
        (classifier, transaction model, Gamma-Gamma) are still fitted here.  Same numbers
        as ``"local"`` to float tolerance.
    scheduler : str or distributed.Client, optional
        Scheduler of ``engine="dask"``; default ``$SALESPLAN_DASK_SCHEDULER``.

    Returns
    -------
    DataFrame sorted by ``revenue_at_risk`` (largest first), columns ``customer_id,
    region, rep_id, p_churn, p_alive, expected_purchases_next_quarter, clv, revenue_12m,
    revenue_at_risk, top_drivers``; ``attrs["notes"]`` lists switched-off features.
    """
    if value not in ("revenue_12m", "clv"):
        raise ValueError(f"value={value!r}: expected 'revenue_12m' or 'clv'")
    if transaction_model not in ("bgnbd", "pareto"):
        raise ValueError(f"transaction_model={transaction_model!r}: expected 'bgnbd' or 'pareto'")
    if engine not in ("local", "dask"):
        raise ValueError(f"engine={engine!r}: expected 'local' or 'dask'")
    data = data if isinstance(data, SalesData) else SalesData(orders=data)
    as_of = as_date(as_of)
    history = _OrderHistory(data.orders)  # once: the classifier's fit, features, summary, context
    if classifier is None:
        classifier = ChurnClassifier(horizon_days=horizon_days, random_state=random_state)
    if not hasattr(classifier, "model_"):  # not fitted: fitted here, on the same history
        classifier._fit(data, history, as_of)
    model_cls = BetaGeoModel if transaction_model == "bgnbd" else ParetoNBDModel
    quarter = PERIOD_DAYS["Q"] / 7.0
    if engine == "dask":
        backend = backend_for(engine, scheduler)
        scored = score_churn(classifier, data, as_of, n_drivers=n_drivers, backend=backend)
        customers = scored.index
        p_churn = scored["p_churn"]
        drivers = scored["top_drivers"] if n_drivers > 0 else pd.Series("", index=customers)
        summary = rfm_summary(data.orders, as_of, freq="W").reindex(customers)
        tm = model_cls(random_state=random_state).fit(summary)
        alive = score_transaction_model(tm, data, as_of, quarter,
                                        backend=backend).reindex(customers)
        p_alive = alive["p_alive"].to_numpy(float)
        exp_q = alive["expected_purchases"].to_numpy(float)
    else:
        classifier._check_fitted()
        feats = _churn_features_of(data, history, as_of, classifier.bgnbd_features,
                                   int(classifier.horizon_days)).reindex(columns=classifier.feature_names_)
        history.release_tables()  # no more features: their invoices and activities not kept to the end
        customers = feats.index
        p_churn = classifier.churn_probability(data, as_of, features=feats)
        drivers = (classifier.top_drivers(feats, n_drivers) if n_drivers > 0
                   else pd.Series("", index=customers))
        summary = history.summary(as_of, PERIOD_DAYS["W"]).reindex(customers)
        tm = model_cls(random_state=random_state).fit(summary)
        p_alive = tm.conditional_probability_alive(summary)
        exp_q = tm.conditional_expected_purchases(quarter, summary, p_alive=p_alive)
    clv = _clv(tm, summary, clv_months, discount_rate, random_state)
    rev12, rep, region = _customer_context(data, history, as_of, customers)
    notes = list(data.missing_features()) if hasattr(data, "missing_features") else []
    base_value = rev12.clip(lower=0).to_numpy() if value == "revenue_12m" else np.asarray(clv)
    out = pd.DataFrame(
        {
            "customer_id": customers.astype(str),
            "region": region.to_numpy(),
            "rep_id": rep.to_numpy(),
            "p_churn": p_churn.to_numpy(),
            "p_alive": p_alive,
            "expected_purchases_next_quarter": exp_q,
            "clv": np.asarray(clv, dtype=float),
            "revenue_12m": rev12.to_numpy(),
            "revenue_at_risk": p_churn.to_numpy() * base_value,
            "top_drivers": drivers.to_numpy(),
        }
    )
    out = out.sort_values(["revenue_at_risk", "p_churn"], ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["notes"] = notes
    out.attrs["value_basis"] = value
    out.attrs["transaction_model"] = repr(tm)
    return out


def _clv(tm, summary: pd.DataFrame, clv_months: int, discount_rate: float, random_state) -> np.ndarray:
    """Gamma-Gamma CLV of :func:`churn_risk_list`; with too little data to fit it, each
    customer's own mean order value times the transaction model's expected purchases."""
    try:
        gg = GammaGammaModel(random_state=random_state).fit(summary)
        return gg.customer_lifetime_value(tm, summary, clv_months, discount_rate, "W")
    except ValueError:
        own = (summary["revenue"] / summary["n_occasions"]).to_numpy(float)
        unit = PERIOD_DAYS["M"] / 7.0
        cum = [tm.conditional_expected_purchases(m * unit, summary) for m in range(clv_months + 1)]
        return sum(own * (cum[m] - cum[m - 1]) / (1 + discount_rate) ** m for m in range(1, clv_months + 1))


def _customer_context(data: SalesData, history: _OrderHistory, as_of, customers: pd.Index):
    """``(revenue_12m, last rep, region)`` per customer of :func:`churn_risk_list`."""
    lines = history.lines
    age = (as_of - lines["order_date"]).dt.days.to_numpy()
    known = age >= 0  # order_date <= as_of
    last12 = lines[known & (age < 365)]  # the lines of the last 12 months, in their order
    rev12 = last12.groupby("customer_id")["amount"].sum()
    rev12 = rev12.set_axis(history.named(rev12.index)).reindex(customers).fillna(0.0)
    rep = pd.Series(np.nan, index=customers, dtype=object)
    if "rep_id" in data.orders.columns:
        rep = _last_reps(data.orders["rep_id"], lines["customer_id"].to_numpy(), age, known,
                         history).reindex(customers)
    region = pd.Series(np.nan, index=customers, dtype=object)
    if data.customers is not None:
        require_columns(data.customers, "customers", ("customer_id", "region"))
        reg = data.customers.assign(customer_id=data.customers["customer_id"].astype(str))
        region = reg.drop_duplicates("customer_id").set_index("customer_id")["region"].reindex(customers)
    return rev12, rep, region


def _last_reps(reps: pd.Series, customer: np.ndarray, age: np.ndarray, known: np.ndarray,
               history: _OrderHistory) -> pd.Series:
    """Each customer's rep on his latest line with one (``rep_id`` of the order lines
    ``reps``, customer codes ``customer``, ``age`` in days at as_of, ``known``: dated by
    then): of his latest day with a rep, the last line in the lines' order (what a stable
    sort by date and the group's last row give).  Indexed by ``customer_id``, sorted.

    Reps and customers as integer codes, found from the lines' positions: at scale 100 no
    12M-row frame or object array of rep ids (~0.45 GB) is made."""
    rep_code, rep_names = pd.factorize(reps)  # missing: -1
    rep_names = np.asarray(rep_names, dtype=object)
    at = np.flatnonzero(known & (rep_code >= 0))
    cust, days = customer[at], np.asarray(age[at], dtype=float)
    n = int(cust.max()) + 1 if len(cust) else 0
    newest = np.full(n, np.inf)
    np.minimum.at(newest, cust, days)  # each customer's latest day with a rep (fewest days ago)
    on_it = days == newest[cust]
    last_at = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_at, cust[on_it], at[on_it])  # the last of that day's lines
    present = np.flatnonzero(last_at >= 0)
    return pd.Series(rep_names[rep_code[last_at[present]]], index=history.named(pd.Index(present)))


def churn_risk_by(risk: pd.DataFrame, by: str = "region", threshold: float = 0.5) -> pd.DataFrame:
    """Aggregate a :func:`churn_risk_list` by ``region`` or ``rep_id``.

    Returns per group: ``customers``, ``at_risk`` (customers with p_churn >= threshold),
    ``mean_p_churn``, ``revenue_12m``, ``revenue_at_risk``, ``clv``, ``expected_purchases_
    next_quarter`` and ``share_at_risk`` = revenue_at_risk / revenue_12m; sorted by
    revenue at risk.  Missing groups (no region / house accounts) appear as "(none)".
    """
    if by not in ("region", "rep_id"):
        raise ValueError(f"by={by!r}: expected 'region' or 'rep_id'")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold={threshold!r}: expected a probability in [0, 1]")
    require_columns(risk, "risk list", (by, "p_churn", "revenue_12m", "revenue_at_risk", "clv"))
    key = risk[by].astype(object).where(risk[by].notna(), "(none)").astype(str)
    g = risk.assign(_key=key.to_numpy(), _risk=(risk["p_churn"] >= threshold)).groupby("_key")
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "at_risk": g["_risk"].sum().astype("int64"),
            "mean_p_churn": g["p_churn"].mean(),
            "revenue_12m": g["revenue_12m"].sum(),
            "revenue_at_risk": g["revenue_at_risk"].sum(),
            "clv": g["clv"].sum(),
            "expected_purchases_next_quarter": g["expected_purchases_next_quarter"].sum()
            if "expected_purchases_next_quarter" in risk.columns else np.nan,
        }
    )
    out["share_at_risk"] = out["revenue_at_risk"] / out["revenue_12m"].where(out["revenue_12m"] > 0)
    out.index.name = by
    return out.sort_values("revenue_at_risk", ascending=False).reset_index()


# --------------------------------------------------------------------------------------
# Plain-language reasons
# --------------------------------------------------------------------------------------

#: Words a sales manager reads for the classifier's feature names.
DRIVER_WORDS: dict[str, str] = {
    "recency_days": "days since last order", "tenure_days": "days as a customer",
    "n_purchases": "purchase days in total", "purchases_90d": "purchase days, last 90 days",
    "purchases_365d": "purchase days, last year", "revenue_365d": "revenue, last year",
    "avg_order_value": "average order value", "revenue_trend": "revenue trend (log, year on year)",
    "purchase_trend": "change in purchase days (last 180 vs previous 180)",
    "mean_gap_days": "usual days between orders",
    "overdue_ratio": "next order late vs usual rhythm (x)",
    "returns_share_365d": "returns share, last year", "bgnbd_p_alive": "P(still a customer), BG/NBD",
    "bgnbd_expected": "expected orders next period", "share_late": "share of invoices paid late",
    "mean_dpd": "mean days past due", "max_dpd": "worst days past due",
    "overdue_amount": "amount overdue", "visits_90d": "visits, last 90 days",
    "calls_90d": "calls, last 90 days", "emails_90d": "emails, last 90 days",
    "days_since_activity": "days since last contact",
}


def _plain_value(v: float) -> str:
    """A driver value for people: 1,234 / 17 / 0.34 / < 0.01, never scientific notation."""
    a = abs(v)
    if not np.isfinite(v):
        return "–"
    if a >= 100:
        return f"{v:,.0f}"
    if a == 0:
        return "0"
    if a < 0.01:
        return "< 0.01" if v > 0 else "> -0.01"
    decimals = max(0, 1 - int(np.floor(np.log10(a))))  # two significant digits
    return f"{v:.{decimals}f}"


def driver_reasons(top_drivers: pd.Series) -> pd.Series:
    """:meth:`ChurnClassifier.top_drivers` texts (``name=value (+push)``) in plain words:
    ``"days since last contact: 264; expected orders next period: < 0.01"``."""
    pattern = re.compile(r"(\w+)=(\S+) \(\+[\d.]+\)")
    said: dict[tuple[str, str], str] = {}  # one reason per distinct (feature, value text)

    def reason(name: str, value: str) -> str:
        key = (name, value)
        if key not in said:
            said[key] = f"{DRIVER_WORDS.get(name, name.replace('_', ' '))}: {_plain_value(float(value))}"
        return said[key]

    def words(text) -> str:
        return "; ".join(reason(name, value) for name, value in pattern.findall(str(text)))

    return top_drivers.map(words)


# ----------------------------------------------------- scoring over customer partitions
def _bgnbd_feature_model(data, as_of):
    """The population BG/NBD of :func:`churn_features`, fitted on everyone.

    Mirrors ``churn_features(bgnbd=True)``: ``BetaGeoModel(n_starts=1)`` on the weekly
    :func:`rfm_summary` at ``as_of``; None when it cannot be fitted
    (the features are then NaN, as locally).
    """
    try:
        s = rfm_summary(data.orders, as_of, freq="W")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BetaGeoModel(n_starts=1).fit(s)
    except (ValueError, FloatingPointError):
        return None


def _churn_features_part(part, model, as_of, horizon_days, bgnbd):
    f = churn_features(part, as_of, bgnbd=False, horizon_days=horizon_days)
    if bgnbd:
        f["bgnbd_p_alive"] = np.nan
        f["bgnbd_expected"] = np.nan
        if model is not None:
            s = rfm_summary(part.orders, as_of, freq="W").reindex(f.index)
            f["bgnbd_p_alive"] = model.conditional_probability_alive(s)
            f["bgnbd_expected"] = model.conditional_expected_purchases(horizon_days / 7.0, s)
    return f.astype(float)


def churn_features_partitioned(data, as_of, bgnbd: bool = True, horizon_days: int = 90, *,
                               backend=None, npartitions: int | None = None) -> pd.DataFrame:
    """:func:`churn_features` computed over customer partitions on an execution backend.

    ``backend``: a :class:`salesplan.execution.Backend` (default local).  The per-customer
    features are computed per partition (on the workers with a Dask backend); the BG/NBD feature model
    is fitted once here on all customers (as ``churn_features`` does) and broadcast.
    Same frame as the local function (column order aside).
    """
    as_of = as_date(as_of)
    model = _bgnbd_feature_model(data, as_of) if bgnbd else None
    return backend_for(backend).map_customer_partitions(
        _churn_features_part, data, as_of, int(horizon_days), bgnbd, broadcast=[model],
        npartitions=npartitions)


def _score_churn_part(part, classifier, model, as_of, n_drivers):
    f = _churn_features_part(part, model, as_of, int(classifier.horizon_days),
                             classifier.bgnbd_features)
    f = f.reindex(columns=classifier.feature_names_)
    out = classifier.churn_probability(part, as_of, features=f).to_frame()
    if n_drivers > 0:
        out["top_drivers"] = classifier.top_drivers(f, n_drivers).to_numpy()
    return out


def score_churn(classifier, data, as_of=None, *, n_drivers: int = 3, backend=None,
                npartitions: int | None = None) -> pd.DataFrame:
    """Score a fitted :class:`ChurnClassifier` over customer partitions of ``backend``.

    Equivalent to ``classifier.churn_probability(data, as_of)`` (and
    ``classifier.top_drivers(classifier.features(data, as_of), n_drivers)``), with the
    features, probabilities and drivers computed per partition.

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``p_churn`` and, when ``n_drivers > 0``,
    ``top_drivers``.
    """
    classifier._check_fitted()
    as_of = as_date(classifier.as_of_ if as_of is None else as_of)
    model = _bgnbd_feature_model(data, as_of) if classifier.bgnbd_features else None
    return backend_for(backend).map_customer_partitions(
        _score_churn_part, data, as_of, int(n_drivers), broadcast=[classifier, model],
        npartitions=npartitions)


def _score_tm_part(part, model, as_of, horizon_weeks, freq):
    s = rfm_summary(part.orders, as_of, freq=freq)
    return pd.DataFrame(
        {"p_alive": model.conditional_probability_alive(s),
         "expected_purchases": model.conditional_expected_purchases(horizon_weeks, s)},
        index=s.index,
    )


def score_transaction_model(model, data, as_of, horizon: float = 365.25 / 4 / 7, *,
                            freq: str = "W", backend=None,
                            npartitions: int | None = None) -> pd.DataFrame:
    """Apply a fitted BG/NBD or Pareto/NBD model to every customer, over partitions of ``backend``.

    The :func:`rfm_summary` (per customer, so exact per partition) is
    built per partition from the order lines on or before ``as_of``.

    Parameters
    ----------
    model : BetaGeoModel or ParetoNBDModel
        Fitted (locally) on the summary in the same time unit ``freq``.
    horizon : float
        ``t`` of the expected purchases in units of ``freq`` (default a quarter in weeks).

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``p_alive``, ``expected_purchases``.
    """
    model._check_fitted()
    return backend_for(backend).map_customer_partitions(
        _score_tm_part, data, as_date(as_of), float(horizon), freq, broadcast=[model],
        npartitions=npartitions)
