"""Response curves: incremental margin per month of spend, fitted or judged.

Part 2a of :mod:`salesplan.planning.allocation`: :class:`ResponseCurve`, the monthly
sales and spend data, :func:`fit_response_curves` (region and customer-panel fits),
:func:`curves_from_fit` and :func:`calibrate_from_judgments` (Little's four points).

Estimators of :func:`fit_response_curves`
-----------------------------------------
Two estimators (``method``; ``"auto"``: ``"joint"`` for ``kind="exp"`` without
``attributed``, else ``"separate"``).

``"joint"`` -- all regions in one nonlinear least-squares fit, region ``r``, month
``t``, calendar month ``m(t)``::

    y_rt = L_r * exp(trend_r(t)) * S_m(t) + A_r * (1 - exp(-x_rt / b_r)) * k_rt

``y`` is the monthly order count (``measure="orders"``, the default when ``sales``
has ``orders`` and ``gross_sales`` columns as from :func:`monthly_region_sales`) or
net sales (``"sales"``).  The baseline is multiplicative: a region level ``L_r``, a
polynomial trend in time (``trend``: ``"auto"`` = quadratic from 36 months, linear
from 24; or an int degree) and monthly seasonal factors ``S_m`` *shared by all
regions* (``seasonal``; ``"auto"``: from 36 months; geometric mean 1).  The
response is additive and in currency: ``A_r`` = incremental revenue at saturation;
for counts ``k_rt = 1 / v_rt`` converts it with the region's mean order value
``v_rt`` (a log-linear trend fitted to ``gross_sales / orders``), else ``k = 1``.
``b_r / mean spend`` is shared by the regions of a group when ``groups`` maps
region -> group (e.g. ``regions.maturity``): partial pooling of the curve *shape*
while each region keeps its own level ``A_r``.  Residuals are weighted by
``1 / sqrt(mean count)`` (Poisson) or ``1 / mean sales``; standard errors of
``log A`` and ``log b`` (= relative SEs) from the Gauss-Newton Jacobian scaled by
each region's residual variance (``dispersion``: ~1 for Poisson counts).
``a = gross_margin_rate * A``.  Spend is identified by planned variation: geo
hold-outs, cuts and heavy-ups; the ``+-`` noise of business-as-usual spend alone
rarely identifies ``b``.

``level="customer"`` (joint method only; needs ``orders`` and ``customers``) fits
the same curve from a **customer-level panel** instead of regional totals: each
customer's monthly repeat orders between its first and last order (the orders in
between are i.i.d. with density proportional to the purchase intensity, whatever the
acquisition and dropout -- no at-risk guess), with a customer fixed effect
conditioned out (given a customer's total, months are multinomial), so customer
heterogeneity and the changing alive base leave the noise.  Month effects::

    eta_rm = S_m + trend_r(t) + log(1 + A_r (1 - exp(-x_rm / b_r)) / B_rm)

(the generator's mechanism: spend scales the region's purchase rates by 1 +
incremental revenue / baseline revenue), ``B_rm`` the region's repeat revenue without
marketing, smoothed (log-polynomial trend + season, the fitted multiplier removed,
re-estimated twice).  Fitted in two stages -- free month effects per region by
conditional Poisson ML, then the structural model by minimum distance weighted with
their information -- asymptotically the conditional MLE.  ``a = gross_margin_rate *
A_r``; standard errors scaled by the month-effect dispersion when above 1;
``panel_events`` = interior orders used.  On the demo data it is *not* more precise
than the regional fit: with a common multiplier per region-month the regional order
count is (nearly) sufficient, the regional fit's dispersion is already ~1-1.4, and the
panel drops each customer's first and last order (benchmarks/RESULTS.md).

``"separate"`` -- one fit per region (the original estimator). Model, per region,
month ``t``::

    gross_margin_rate * sales_t = base_t + a * shape(spend_t; b[, c]) + e_t

``base_t`` = intercept (+ linear trend when ``trend``; + month-of-year dummies when
``seasonal``; ``"auto"``: trend from 24 months, season from 36).  With
``attributed=True`` the ``sales`` are sales *attributed to the spend* (campaign
tracking, promo codes) and ``base_t = 0``: the curve goes through the origin.  Fitted by least
squares with variable projection: for given ``b`` (and ``c``) the model is linear,
so the residual sum of squares is profiled over ``log b`` in
``[b_range[0], b_range[1]] * mean spend`` (grid, then bounded Brent); ADBUDG also
tries ``c`` in {0.5, 0.75, 1, 1.5, 2, 3}.

A fit is *accepted* when: at least ``min_months`` months; the spend varies
(coefficient of variation >= ``min_spend_cv``); ``a > 0``; ``b`` is not at a bound
(otherwise saturation is not identified from the range of spend seen); relative
standard errors of ``a`` and ``b`` <= ``max_rel_se``.  Otherwise the region falls
back, with the reason recorded, to (1) the planner's ``judgments`` for it
(:func:`calibrate_from_judgments`) when given, else (2) a *pooled* curve borrowed
**only from accepted regions of the same group** (``groups``, e.g.
``regions.maturity``): their median ``b / mean spend`` and median response-to-margin
share ``a / mean margin`` scaled to the region, with the donors' largest relative
SEs; else (3) ``kind="held"``: no curve -- the optimiser keeps the region at its
status-quo spend (mean monthly spend of the last ``status_quo_months`` months,
``status_quo_spend``) and ``reason`` says why.  Without ``groups`` nothing is
borrowed.  A mature (saturated) region is never given an emerging region's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from salesplan.data.checks import as_date, require_columns
from salesplan.data.orders import count_orders, lines_until
from salesplan.planning.allocation._common import _check_number

# ======================================================================================
# 2. Budget allocation
# ======================================================================================
_KINDS = ("exp", "adbudg", "callable", "expmix", "held")


@dataclass(frozen=True)
class ResponseCurve:
    """Incremental gross margin of one month as a function of that month's spend.

    Kinds
    -----
    ``"exp"`` (concave, saturating)
        ``r(x) = a * (1 - exp(-x / b))``; ``a`` = margin at saturation, ``b`` = spend
        scale (``r(b) = 0.63 a``).  ``r'(x) = (a / b) exp(-x / b)``.
    ``"adbudg"`` (Little's ADBUDG / Hill curve; S-shaped when ``c > 1``)
        ``r(x) = a * x**c / (b**c + x**c)``; ``b`` = half-saturation spend, ``c`` =
        shape.  Little's full form adds the response at zero spend, kept in ``floor``
        (reported, irrelevant to the optimum).
    ``"expmix"`` (expected exponential curve under parameter uncertainty)
        ``r(x) = mean_d a_d * (1 - exp(-x / b_d))`` over posterior draws ``(a_d, b_d)``
        (``draws``, a tuple of (a, b) pairs; see :func:`fit_response_curves`).  A mean of
        concave curves, so concave; optimising it maximises the *expected* margin
        rather than the margin at the point estimate.  ``a``, ``b`` hold the point
        estimate (display only).
    ``"held"`` (no usable curve)
        The data do not identify the curve and no comparable region lends one: the
        optimiser keeps the unit at ``hold`` (monthly spend, the status quo) and the
        curve's value is unknown (``NaN``); ``reason`` says why.
    ``"callable"``
        ``r(x) = fn(x)`` (e.g. a generator's true curve).  Marginals by central
        differences.

    ``a``, ``b`` > 0; ``c`` > 0.
    """

    kind: str = "exp"
    a: float = 1.0
    b: float = 1.0
    c: float = 1.0
    floor: float = 0.0
    fn: Callable[[float], float] | None = field(default=None, compare=False, repr=False)
    draws: tuple | None = field(default=None, compare=False, repr=False)
    hold: float | None = None
    reason: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"ResponseCurve.kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "callable":
            if not callable(self.fn):
                raise ValueError("ResponseCurve(kind='callable') needs a callable fn")
            return
        if self.kind == "held":
            _check_number("ResponseCurve.hold", self.hold, lo=0)
            return
        if self.kind == "expmix":
            d = np.asarray(self.draws, dtype=float) if self.draws is not None else np.zeros((0, 2))
            if d.ndim != 2 or d.shape[1] != 2 or len(d) == 0:
                raise ValueError("ResponseCurve(kind='expmix') needs draws: a sequence of (a, b) pairs")
            if not (np.isfinite(d).all() and (d[:, 0] >= 0).all() and (d[:, 1] > 0).all()):
                raise ValueError("ResponseCurve(kind='expmix'): draws need a >= 0 and b > 0, finite")
            object.__setattr__(self, "_a", d[:, 0].copy())
            object.__setattr__(self, "_b", d[:, 1].copy())
            object.__setattr__(self, "_ab", self._a / self._b)  # a_d / b_d of the marginal, computed once
        _check_number("ResponseCurve.a", self.a, lo=0)
        _check_number("ResponseCurve.b", self.b, lo=0, lo_open=True)
        _check_number("ResponseCurve.c", self.c, lo=0, lo_open=True)

    # -- evaluation ---------------------------------------------------------------
    def __call__(self, x):
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        if self.kind == "exp":
            return self.a * -np.expm1(-x / self.b)
        if self.kind == "expmix":
            return (self._a * -np.expm1(-x[..., None] / self._b)).mean(axis=-1)
        if self.kind == "held":
            return np.full(x.shape, np.nan) if x.ndim else np.float64(np.nan)
        if self.kind == "adbudg":
            z = (x / self.b) ** self.c
            return self.a * z / (1.0 + z)
        f = np.vectorize(lambda v: float(self.fn(float(v))), otypes=[float])
        return f(x)

    def marginal(self, x):
        """``r'(x)``: incremental margin of the next unit of monthly spend."""
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        if self.kind == "exp":
            return self.a / self.b * np.exp(-x / self.b)
        if self.kind == "expmix":
            return (self._ab * np.exp(-x[..., None] / self._b)).mean(axis=-1)
        if self.kind == "held":
            return np.full(x.shape, np.nan) if x.ndim else np.float64(np.nan)
        if self.kind == "adbudg":
            with np.errstate(divide="ignore", invalid="ignore"):
                u = x / self.b
                z = u**self.c
                d = self.a * self.c * u ** (self.c - 1.0) / self.b / (1.0 + z) ** 2
            if self.c < 1:
                d = np.where(x == 0, np.inf, d)
            return d
        h = np.maximum(1e-6 * np.maximum(x, 1.0), 1e-6)
        lo = np.maximum(x - h, 0.0)
        return (self(x + h) - self(lo)) / (x + h - lo)

    @property
    def concave(self) -> bool:
        """True when ``r`` is concave on ``x >= 0`` (exact KKT applies)."""
        return self.kind in ("exp", "expmix", "held") or (self.kind == "adbudg" and self.c <= 1.0)

    def inverse_marginal(self, lam: float) -> float:
        """Spend ``x >= 0`` with ``r'(x) = lam`` (0 if ``r'(0) <= lam``); concave only."""
        if self.kind == "exp":
            top = self.a / self.b
            return 0.0 if lam >= top or self.a == 0 else float(self.b * math.log(top / lam))
        if not self.concave:
            raise ValueError("inverse_marginal needs a concave curve")
        if self.kind == "held":
            return float(self.hold)
        marginal = self._mix_marginal if self.kind == "expmix" else (lambda v: float(self.marginal(v)))
        if marginal(0.0) <= lam:
            return 0.0
        hi = self.b
        while marginal(hi) > lam:
            hi *= 2.0
            if hi > 1e300:
                return hi
        from scipy import optimize  # on use: 04 imports this and never optimises
        return float(optimize.brentq(lambda v: marginal(v) - lam, 0.0, hi, xtol=1e-12 * hi))

    def _mix_marginal(self, v: float) -> float:
        """:meth:`marginal` of an ``"expmix"`` curve at one spend ``v >= 0`` (a float), the
        same operations without the array handling: the optimiser calls it ~10^5 times."""
        return float(np.add.reduce(self._ab * np.exp(-v / self._b))) / len(self._b)

    def scaled(self, a_factor: float = 1.0, b_factor: float = 1.0) -> ResponseCurve:
        """The curve with ``a`` and ``b`` multiplied (callable: output times a_factor)."""
        if self.kind == "callable":
            fn = self.fn
            return ResponseCurve("callable", fn=lambda v: a_factor * fn(v))
        if self.kind == "held":
            return self
        draws = None
        if self.kind == "expmix":
            draws = tuple(zip(self._a * a_factor, self._b * b_factor))
        return ResponseCurve(self.kind, self.a * a_factor, self.b * b_factor, self.c, self.floor,
                             draws=draws)


_RTOL = 4 * np.finfo(float).eps  # scipy.optimize.brentq's default rtol


def inverse_marginals(curves, lams) -> list[float]:
    """``[c.inverse_marginal(lam) for c, lam in zip(curves, lams)]``, the ``"expmix"``
    curves solved together (numbers identical to one at a time).

    Their root finding is scipy's ``brentq`` (the same steps, in array form, one lane per
    curve), so one array operation serves every curve at each step: the budget
    sensitivity check re-optimises dozens of budgets at once this way.
    """
    out = [None] * len(curves)
    mix = [i for i, c in enumerate(curves) if c.kind == "expmix"]
    if len({len(curves[i]._b) for i in mix}) > 1:
        mix = []
    if mix:
        ab = np.stack([curves[i]._ab for i in mix])
        b = np.stack([curves[i]._b for i in mix])
        lam = np.array([float(lams[i]) for i in mix])
        x, ok = _mix_inverse(ab, b, np.array([curves[i].b for i in mix], dtype=float), lam)
        for j, i in enumerate(mix):
            if ok[j]:
                out[i] = float(x[j])
    return [curves[i].inverse_marginal(lams[i]) if v is None else v for i, v in enumerate(out)]


def _mix_marginals(ab, b, x, idx):
    """The marginals of the curves ``idx`` at spends ``x`` (as :meth:`ResponseCurve._mix_marginal`)."""
    return np.add.reduce(ab[idx] * np.exp(-x[:, None] / b[idx]), axis=1) / b.shape[1]


def _mix_inverse(ab, b, b_point, lam):
    """:meth:`ResponseCurve.inverse_marginal` of ``"expmix"`` curves, one lane each.

    Returns ``(x, ok)``; ``ok`` false where a lane needs the one-curve path (a NaN, or no
    convergence: it raises there as before)."""
    n = len(lam)
    x = np.zeros(n)
    ok = np.ones(n, dtype=bool)
    live = np.flatnonzero(_mix_marginals(ab, b, np.zeros(n), np.arange(n)) > lam)  # else 0.0
    hi = b_point.copy()
    grow = live
    while len(grow):  # double hi until r'(hi) <= lam
        m = _mix_marginals(ab, b, hi[grow], grow)
        grow = grow[m > lam[grow]]
        hi[grow] *= 2.0
        big = hi[grow] > 1e300
        x[grow[big]], ok[grow[big]] = hi[grow[big]], True
        live = np.setdiff1d(live, grow[big]) if big.any() else live
        grow = grow[~big]
    if len(live):
        x[live], ok[live] = _brentq_lanes(ab, b, lam, hi, live)
    return x, ok


def _brentq_lanes(ab, b, lam, hi, lanes):
    """scipy's ``brentq`` (Zeros/brentq.c) on ``f(v) = r'(v) - lam`` over ``[0, hi]``,
    ``xtol = 1e-12 hi``, per lane; returns ``(root, ok)`` for ``lanes``."""
    with np.errstate(all="ignore"):
        lam, xtol = lam[lanes], 1e-12 * hi[lanes]
        xpre, xcur = np.zeros(len(lanes)), hi[lanes].copy()
        fpre = _mix_marginals(ab, b, xpre, lanes) - lam
        fcur = _mix_marginals(ab, b, xcur, lanes) - lam
        root, ok = np.zeros(len(lanes)), np.isfinite(fpre) & np.isfinite(fcur)
        act = ok & (fcur != 0) & (np.signbit(fpre) != np.signbit(fcur))
        root[fcur == 0] = xcur[fcur == 0]
        ok &= (fcur == 0) | act
        xblk, fblk, spre, scur = (np.zeros(len(lanes)) for _ in range(4))
        for _ in range(100):
            i = np.flatnonzero(act)
            if not len(i):
                break
            flip = (fpre[i] != 0) & (fcur[i] != 0) & (np.signbit(fpre[i]) != np.signbit(fcur[i]))
            f = i[flip]
            xblk[f], fblk[f] = xpre[f], fpre[f]
            spre[f] = scur[f] = xcur[f] - xpre[f]
            s = i[np.abs(fblk[i]) < np.abs(fcur[i])]
            xpre[s], xcur[s], xblk[s] = xcur[s], xblk[s], xcur[s]
            fpre[s], fcur[s], fblk[s] = fcur[s], fblk[s], fcur[s]
            delta = (xtol[i] + _RTOL * np.abs(xcur[i])) / 2
            sbis = (xblk[i] - xcur[i]) / 2
            done = (fcur[i] == 0) | (np.abs(sbis) < delta)
            root[i[done]] = xcur[i[done]]
            act[i[done]] = False
            i, delta, sbis = i[~done], delta[~done], sbis[~done]
            xp, xc, xb, fp, fc, fb = xpre[i], xcur[i], xblk[i], fpre[i], fcur[i], fblk[i]
            dpre = (fp - fc) / (xp - xc)
            dblk = (fb - fc) / (xb - xc)
            stry = np.where(xp == xb, -fc * (xc - xp) / (fc - fp),
                            -fc * (fb * dblk - fp * dpre) / (dblk * dpre * (fb - fp)))
            interp = (np.abs(spre[i]) > delta) & (np.abs(fc) < np.abs(fp))
            good = interp & (2 * np.abs(stry) < np.minimum(np.abs(spre[i]), 3 * np.abs(sbis) - delta))
            spre[i] = np.where(good, scur[i], sbis)
            scur[i] = np.where(good, stry, sbis)
            xpre[i], fpre[i] = xc, fc
            xcur[i] = np.where(np.abs(scur[i]) > delta, xc + scur[i], xc + np.where(sbis > 0, delta, -delta))
            fcur[i] = _mix_marginals(ab, b, xcur[i], lanes[i]) - lam[i]
            bad = ~np.isfinite(fcur[i])
            ok[i[bad]], act[i[bad]] = False, False
        ok &= ~act  # not converged in 100 steps: the one-curve path raises
    return root, ok


def _curves_dict(curves) -> dict[str, ResponseCurve]:
    if isinstance(curves, pd.DataFrame):
        return curves_from_fit(curves)
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping unit -> ResponseCurve (or a fit table)")
    for k, v in curves.items():
        if not isinstance(v, ResponseCurve):
            raise ValueError(f"curves[{k!r}] must be a ResponseCurve, got {type(v).__name__}")
    return dict(curves)


# -- data: monthly sales and spend by region ------------------------------------------
def monthly_region_sales(orders: pd.DataFrame, customers: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Monthly net sales and order counts by region (orders joined to ``customers.region``).

    Returns
    -------
    DataFrame ``region``, ``month`` (first day), ``sales`` (net, currency), ``orders``
    (number of orders, :mod:`salesplan.data.orders`: distinct customer x order date with
    a non-negative line -- the contract's ``order_id`` is a line id), ``gross_sales`` (positive lines, currency).
    Order counts are much less noisy than currency (no order-value noise), which is
    what :func:`fit_response_curves` uses by default.
    """
    require_columns(orders, "orders", ("order_date", "customer_id", "amount"))
    require_columns(customers, "customers", ("customer_id", "region"))
    o = orders if as_of is None else lines_until(orders, as_date(as_of, "as_of"))
    ids = customers["customer_id"]
    if ids.is_unique and not ids.isna().any():
        return _coded_region_sales(o, customers)  # reads the three columns: no copy of them
    o = o[["order_date", "customer_id", "amount"]]
    o = o.merge(customers[["customer_id", "region"]], on="customer_id", how="inner")
    o["month"] = o["order_date"].dt.to_period("M").dt.to_timestamp()
    out = o.groupby(["region", "month"])["amount"].sum().rename("sales")
    pos = o[o["amount"] > 0]
    n = count_orders(o, ["region", "month"])
    gross = pos.groupby(["region", "month"])["amount"].sum()
    out = pd.concat([out, n.rename("orders"), gross.rename("gross_sales")], axis=1)
    out = out.fillna({"orders": 0, "gross_sales": 0.0}).reset_index()
    out["orders"] = out["orders"].astype("int64")
    return out


def _coded_region_sales(o: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """:func:`monthly_region_sales` of the lines ``o`` when each customer has one row:
    the same sums over the same rows in the same order, grouped by integer codes.

    The region is looked up once per distinct customer; regions are coded in sorted
    order and months by their index from the first month, so that the group ``region x
    n_months + month`` sorts as ``(region, month)``; a line whose customer is unknown
    or has no region is left out (as the inner join and the group-by did).
    """
    cust_code, cust = pd.factorize(o["customer_id"])
    region = customers.set_index("customer_id")["region"].reindex(cust)
    reg_code, names = pd.factorize(region, sort=True)
    r = np.append(reg_code, -1)[cust_code]  # each line's region; -1: unknown customer (code -1)
    keep = r >= 0
    every = bool(keep.all())

    def kept(a: np.ndarray) -> np.ndarray:  # the kept lines' values (no copy when all are)
        return a if every else a[keep]

    day = kept(o["order_date"].to_numpy("datetime64[ns]"))
    g = day.astype("datetime64[M]").view(np.int64)  # the month index, then the group
    m0 = int(g.min()) if len(g) else 0
    n_m = int(g.max()) - m0 + 1 if len(g) else 1
    r = kept(r)
    np.multiply(r, n_m, out=r)
    g -= m0
    g += r
    del r
    amount = kept(o["amount"].to_numpy())
    sales = pd.Series(amount, name="amount").groupby(g).sum().rename("sales")
    n = _coded_order_counts(kept(cust_code), day, amount, g)
    pos = amount > 0
    gross = pd.Series(amount[pos]).groupby(g[pos]).sum()
    out = pd.concat([sales, n.rename("orders"), gross.rename("gross_sales")], axis=1)
    out = out.fillna({"orders": 0, "gross_sales": 0.0})
    key = out.index.to_numpy()
    reg_names = pd.Series(np.asarray(names, dtype=object)[key // n_m], dtype=customers["region"].dtype)
    month = pd.Series(((key % n_m) + m0).astype("datetime64[M]").astype("datetime64[ns]"))
    res = pd.DataFrame({"region": reg_names, "month": month, "sales": out["sales"].to_numpy(),
                        "orders": out["orders"].to_numpy().astype("int64"),
                        "gross_sales": out["gross_sales"].to_numpy()})
    return res


def _coded_order_counts(customer: np.ndarray, day: np.ndarray, amount: np.ndarray,
                        group: np.ndarray) -> pd.Series:
    """Orders per group, as :func:`~salesplan.data.orders.count_orders` counts them
    (distinct customer x order date among the lines with ``amount >= 0``), for lines given
    as integer customer codes, dates, amounts and integer groups (each order in one group:
    the group follows from the customer and the month).

    Each order is one integer (customer code x number of distinct dates + date code) and
    is counted once, at its first line: ~4 integer arrays of the lines at a time, where
    the data frame of the same lines, its duplicate check and group-by held ~2 GB more
    at scale 100 (12.2M lines).  Returns int64 counts indexed by the groups that have
    orders, ascending.
    """
    buy = amount >= 0
    every = bool(buy.all())
    day_code, days = pd.factorize(day if every else day[buy])
    order = (customer if every else customer[buy]).astype(np.int64)  # a copy, changed in place
    order *= max(len(days), 1)
    order += day_code
    del day_code
    first = np.unique(order, return_index=True)[1]
    del order
    counts = pd.Series((group if every else group[buy])[first]).value_counts(sort=False).sort_index()
    return counts.astype("int64")


def _design(months: pd.Series, trend: bool, seasonal: bool) -> np.ndarray:
    cols = [np.ones(len(months))]
    t = (months.dt.year - months.dt.year.min()) * 12 + months.dt.month
    t = (t - t.mean()).to_numpy(dtype=float)
    if trend:
        cols.append(t / max(np.abs(t).max(), 1.0))
    if seasonal:
        for mo in range(2, 13):
            cols.append((months.dt.month == mo).to_numpy(dtype=float))
    return np.column_stack(cols)


def _shape(kind, x, b, c):
    if kind == "exp":
        return -np.expm1(-x / b)
    z = (x / b) ** c
    return z / (1.0 + z)


def _profile_sse(y, Z, x, kind, b, c):
    """SSE of the best linear fit given the curve's nonlinear parameters."""
    f = _shape(kind, x, b, c)
    A = np.column_stack([Z, f])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    r = y - A @ coef
    return float(r @ r), coef


def _fit_one(y, Z, x, kind, b_bounds, c_grid):
    """Variable projection: profile the SSE over b (and c), linear in the rest."""
    lb, ub = np.log(b_bounds[0]), np.log(b_bounds[1])
    best = (np.inf, None, None, None)
    for c in c_grid:
        grid = np.linspace(lb, ub, 41)
        sse = [(_profile_sse(y, Z, x, kind, math.exp(g), c)[0], g) for g in grid]
        _, g0 = min(sse)
        lo_g, hi_g = max(lb, g0 - (ub - lb) / 40), min(ub, g0 + (ub - lb) / 40)
        from scipy import optimize  # on use: 04 imports this and never optimises
        res = optimize.minimize_scalar(
            lambda g, c=c: _profile_sse(y, Z, x, kind, math.exp(g), c)[0],
            bounds=(lo_g, hi_g), method="bounded", options={"xatol": 1e-6},
        )
        s, coef = _profile_sse(y, Z, x, kind, math.exp(res.x), c)
        if s < best[0]:
            best = (s, math.exp(res.x), c, coef)
    return best


def _rel_se(y, Z, x, kind, b, c, coef):
    """Relative standard errors of (a, b) from the Gauss-Newton Jacobian."""
    a = coef[-1]
    f = _shape(kind, x, b, c)
    if kind == "exp":
        dfdb = -a * (x / b**2) * np.exp(-x / b)
    else:
        z = (x / b) ** c
        dfdb = -a * c * z / b / (1.0 + z) ** 2
    J = np.column_stack([Z, f, dfdb])
    r = y - np.column_stack([Z, f]) @ coef
    dof = max(len(y) - J.shape[1], 1)
    s2 = float(r @ r) / dof
    try:
        cov = s2 * np.linalg.inv(J.T @ J)
        se_a, se_b = math.sqrt(max(cov[-2, -2], 0)), math.sqrt(max(cov[-1, -1], 0))
    except np.linalg.LinAlgError:
        return np.inf, np.inf
    return (se_a / abs(a) if a != 0 else np.inf), se_b / b


def _smooth_order_value(t, value, ri, R):
    """Per-region log-linear trend of the monthly mean order value (currency/order)."""
    out = np.empty_like(value)
    for r in range(R):
        m = (ri == r) & np.isfinite(value) & (value > 0)
        sel = ri == r
        if m.sum() >= 2:
            A = np.column_stack([np.ones(m.sum()), t[m]])
            coef, *_ = np.linalg.lstsq(A, np.log(value[m]), rcond=None)
            out[sel] = np.exp(coef[0] + coef[1] * t[sel])
        else:
            out[sel] = np.nanmean(value[m]) if m.any() else np.nan
    return out


def _fit_joint(df, regions, measure, groups, trend_deg, seasonal, b_range):
    """Joint nonlinear least squares over all regions (see :func:`fit_response_curves`).

    ``df`` has region, month, amount, sales (and orders, gross_sales for
    ``measure="orders"``).  Returns ``{region: dict(A, b, rel_se_a, rel_se_b, r2, rmse,
    dispersion, b_at_bound, corr_ab)}`` with ``A`` incremental *revenue* at saturation;
    ``rel_se_*`` are the standard errors of ``log A`` and ``log b`` and ``corr_ab`` their
    correlation (Laplace approximation of the posterior under a flat prior).
    """
    df = df[df["region"].isin(regions)].reset_index(drop=True)
    R = len(regions)
    ri = df["region"].map({r: i for i, r in enumerate(regions)}).to_numpy()
    months = df["month"]
    mo = months.dt.month.to_numpy() - 1
    tt = ((months.dt.year - months.dt.year.min()) * 12 + months.dt.month).to_numpy(float)
    span = max(tt.max() - tt.min(), 1.0)
    t = 2.0 * (tt - tt.mean()) / span
    x = df["amount"].to_numpy(float)
    mean_x = np.array([x[ri == i].mean() for i in range(R)])
    xs = x / mean_x[ri]
    revm = np.array([df["sales"].to_numpy(float)[ri == i].mean() for i in range(R)])
    if measure == "orders":
        y = df["orders"].to_numpy(float)
        value = df["gross_sales"].to_numpy(float) / np.maximum(y, 1.0)
        conv = 1.0 / _smooth_order_value(t, value, ri, R)
    else:
        y = df["sales"].to_numpy(float)
        conv = np.ones_like(y)
    ym = np.array([y[ri == i].mean() for i in range(R)])
    # Poisson-like weights for counts; relative errors for currency
    wsd = np.sqrt(ym) if measure == "orders" else ym * 0.05
    gkeys = sorted({groups.get(r, r) for r in regions}, key=str) if groups else list(regions)
    gi = np.array([gkeys.index(groups.get(r, r) if groups else r) for r in regions])
    G = len(gkeys)
    S = 11 if seasonal else 0
    nb = 1 + trend_deg  # level + trend terms
    n_reg = R * (nb + 1)  # + log A
    P = S + n_reg + G

    def unpack(p):
        s = np.r_[0.0, p[:S]] if seasonal else np.zeros(1)
        s = s - s.mean()
        q = p[S : S + n_reg].reshape(R, nb + 1)
        return s, q, p[S + n_reg :]

    def model(p):
        s, q, lc = unpack(p)
        lb = q[ri, 0].copy()
        for k in range(1, nb):
            lb += q[ri, k] * t**k
        if seasonal:
            lb += s[mo]
        A = np.exp(q[ri, nb]) * revm[ri]
        b = np.exp(lc[gi[ri]])
        return ym[ri] * np.exp(lb) + A * -np.expm1(-xs / b) * conv

    def resid(p):
        return (y - model(p)) / wsd[ri]

    lo = np.full(P, -np.inf)
    hi = np.full(P, np.inf)
    la = S + np.arange(R) * (nb + 1) + nb
    lo[la], hi[la] = math.log(1e-5), math.log(10.0)
    lo[S + n_reg :], hi[S + n_reg :] = math.log(b_range[0]), math.log(b_range[1])
    best = None
    for b0 in (0.3, 1.0, 3.0):
        p0 = np.zeros(P)
        p0[la] = math.log(0.05)
        p0[S + n_reg :] = math.log(b0)
        p0 = np.clip(p0, lo + 1e-9, hi - 1e-9)
        from scipy import optimize  # on use: 04 imports this and never optimises
        res = optimize.least_squares(resid, p0, bounds=(lo, hi), method="trf")
        if best is None or res.cost < best.cost:
            best = res
    s, q, lc = unpack(best.x)
    r = best.fun
    J = best.jac
    cov = np.linalg.pinv(J.T @ J)
    out = {}
    fitted = model(best.x)
    disp = np.empty(R)
    for i in range(R):
        m = ri == i
        dof = max(m.sum() - (nb + 1) - (S + G) / R, 1.0)
        disp[i] = float((r[m] ** 2).sum() / dof)
    for i, reg in enumerate(regions):
        m = ri == i
        dof = max(m.sum() - (nb + 1) - (S + G) / R, 1.0)
        s2 = float((r[m] ** 2).sum() / dof)
        ia, ib = la[i], S + n_reg + gi[i]
        # cov is in units of the whitened residuals; scale by the region's dispersion
        se_a = math.sqrt(max(cov[ia, ia], 0.0) * s2)
        se_b = math.sqrt(max(cov[ib, ib], 0.0) * s2)
        sse = float(((y[m] - fitted[m]) ** 2).sum())
        sst = float(((y[m] - y[m].mean()) ** 2).sum())
        out[reg] = {
            "A": float(math.exp(q[i, nb]) * revm[i]),
            "b": float(math.exp(lc[gi[i]]) * mean_x[i]),
            "rel_se_a": se_a,
            "rel_se_b": se_b,
            "r2": 1 - sse / sst if sst > 0 else np.nan,
            "rmse": math.sqrt(sse / m.sum()),
            "dispersion": s2,
            "a_at_bound": q[i, nb] <= lo[ia] + 1e-3,
            "b_at_bound": not (lo[ib] + 0.02 < lc[gi[i]] < hi[ib] - 0.02),
            "group": gkeys[gi[i]],
            "corr_ab": float(cov[ia, ib] / math.sqrt(cov[ia, ia] * cov[ib, ib]))
            if cov[ia, ia] > 0 and cov[ib, ib] > 0 else 0.0,
        }
    return out, np.exp(s) if seasonal else None


# -- customer-level panel (conditional Poisson with customer fixed effects) -------------
def _customer_panel(orders, customers, regions, months, spend_x):
    """Interior repeat orders of each customer on the month grid, and their exposure.

    Events are distinct (customer, order date) with a positive line.  For each customer
    the window is the open interval between its first and last event in the grid: given
    those two times, the events in between are i.i.d. with density proportional to the
    purchase intensity on the window, whatever the customer's acquisition and dropout
    (Poisson-process property; dropout independent of the purchases), so the window needs
    no at-risk guess.  Returns a dict of arrays (Y, E: customers x months; creg; and the
    event arrays used for repeat revenue).
    """
    M = len(months)
    day0 = months[0]
    amount, n_days, region = _customer_day_sales(orders, customers, regions, months)
    ev = _panel_events(amount.index.to_numpy(), n_days, region, day0, M)
    Y, fd, ld, creg = ev["Y"], ev["first_day"], ev["last_day"], ev["creg"]
    edges = np.array([(x - day0).days for x in months] + [((months[-1] + pd.offsets.MonthBegin(1)) - day0).days])
    # exposure in days: day k covers [k, k + 1); interior events fall on days fd+1 .. ld-1.
    # Built in place (whole days, exact in float): two customers x months arrays at a time,
    # not four (at 300k customers each is ~0.1 GB)
    E = np.minimum(edges[None, 1:], ld[:, None]).astype(float)
    E -= np.maximum(edges[None, :-1], fd[:, None] + 1)
    np.maximum(E, 0.0, out=E)
    E[~np.isfinite(spend_x[creg])] = 0.0  # months without spend data for the region
    Y[E <= 0] = 0.0
    return {"Y": Y, "E": E, "creg": creg, "r_ev": ev["r_ev"], "m_ev": ev["m_ev"], "rank": ev["rank"],
            "amount": amount.to_numpy(float)}


def _customer_day_sales(orders, customers, regions, months):
    """Stage 1 of :func:`_customer_panel`: the positive lines inside the month grid of the
    customers of a known region, summed per (customer, day): a Series keyed ``customer code
    * n_days + day`` (sorted: by customer, then date), ``n_days`` and the region code of each
    customer code.  Its row masks, codes and days (12M-row arrays at scale 100) are let go
    on return, before the customers x months arrays are built."""
    od, amt = orders["order_date"], orders["amount"]
    lines = ((amt > 0) & (od >= months[0]) & (od < months[-1] + pd.offsets.MonthBegin(1))).to_numpy()
    # customers coded in id order (sorted): a customer without a line in the grid has a code
    # and no line, so the codes of those with lines keep their order
    code, cust = pd.factorize(orders["customer_id"], sort=True)
    code = code[lines]
    region = customers.set_index("customer_id")["region"].reindex(cust).map({r: i for i, r in enumerate(regions)})
    has = code >= 0
    has[has] = region.notna().to_numpy()[code[has]]
    lines[lines] = has  # the lines kept, in their order
    code = code[has].astype(np.int64)
    del has
    day0 = months[0]
    days = (od.to_numpy("datetime64[ns]")[lines].astype("datetime64[D]")
            - np.datetime64(day0.date(), "D")).astype(np.int64)  # midnight dates: whole days
    n_days = int(days.max()) + 1 if len(days) else 1
    # one (customer, day) key sorts as (customer, date): the same groups, sums and order
    code *= n_days
    code += days
    del days
    values = amt.to_numpy()[lines]
    del lines
    return pd.Series(values).groupby(code, sort=True).sum(), n_days, region.to_numpy()


def _panel_events(key: np.ndarray, n_days: int, region: np.ndarray, day0, M: int) -> dict:
    """Stage 2 of :func:`_customer_panel`: per event (customer-day, sorted by customer and
    day) its customer's rank, region and month; per customer with an event its first and
    last day, region, and its interior events per month ``Y`` (customers x months)."""
    c, d = key // n_days, key % n_days
    dates = np.datetime64(day0.date(), "D") + d
    m = (dates.astype("datetime64[M]").astype(np.int64) - ((day0.year - 1970) * 12 + day0.month - 1)).astype(np.int32)
    del dates
    _, ci = np.unique(c, return_inverse=True)
    r_ev = region[c].astype(int)
    del c
    C = int(ci.max()) + 1 if len(ci) else 0
    start = np.searchsorted(ci, np.arange(C))
    rank = np.arange(len(ci)) - start[ci]
    cnt = np.bincount(ci, minlength=C)
    last = rank == cnt[ci] - 1
    fd = np.zeros(C, dtype=np.int64)
    ld = np.zeros(C, dtype=np.int64)
    fd[ci[rank == 0]] = d[rank == 0]
    ld[ci[last]] = d[last]
    creg = np.zeros(C, dtype=np.int64)
    creg[ci] = r_ev
    inter = (rank > 0) & ~last
    Y = np.zeros((C, M))
    np.add.at(Y, (ci[inter], m[inter]), 1.0)
    return {"Y": Y, "first_day": fd, "last_day": ld, "creg": creg, "r_ev": r_ev, "m_ev": m, "rank": rank}


def _panel_month_effects(panel, R, M, ridge=1e-3):
    """Stage 1: per region, the conditional-Poisson MLE of free month effects ``eta_rm``.

    Given a customer's total ``n_i``, its months are multinomial with probabilities
    ``E_im exp(eta_rm) / sum_m' E_im' exp(eta_rm')`` (customer fixed effect conditioned
    out).  Newton steps; score ``sum_i (y_im - n_i pi_im)``, information ``sum_i n_i
    (diag pi_i - pi_i pi_i')`` (singular along the region's level; a tiny ridge fixes
    it).  Returns ``(eta R x M, info R x M x M, interior events per region)``.
    """
    eta_all = np.zeros((R, M))
    info = np.zeros((R, M, M))
    events = np.zeros(R)
    for r in range(R):
        rows = panel["creg"] == r
        Yr, Er = panel["Y"][rows], panel["E"][rows]
        nr = Yr.sum(axis=1)
        k = nr > 0
        Yr, Er, nr = Yr[k], Er[k], nr[k]
        events[r] = nr.sum()
        if events[r] == 0:
            continue
        ys = Yr.sum(axis=0)
        eta = np.zeros(M)
        for _ in range(60):
            lam = Er * np.exp(eta - eta.max())
            pi = lam / lam.sum(axis=1, keepdims=True)
            expected = nr @ pi  # expected events per month (one product for the information and the score)
            I = np.diag(expected) - (pi * nr[:, None]).T @ pi
            step = np.linalg.solve(I + ridge * np.eye(M), ys - expected - ridge * eta)
            eta += np.clip(step, -2.0, 2.0)
            if np.abs(step).max() < 1e-9:
                break
        lam = Er * np.exp(eta - eta.max())
        pi = lam / lam.sum(axis=1, keepdims=True)
        eta_all[r] = eta
        info[r] = np.diag(nr @ pi) - (pi * nr[:, None]).T @ pi
    return eta_all, info, events


def _panel_baseline(panel, factor, R, M, cal, t, deg, seasonal, acq_months=3):
    """Smoothed repeat-purchase revenue without marketing, ``B_rm`` (currency/month).

    Repeat revenue = revenue of all events except a customer's first one when that falls
    after the first ``acq_months`` months of the grid (earlier first events are taken as
    repeat orders of customers acquired before the history).  ``log(revenue / factor)``
    (the current marketing multiplier removed) is fitted by least squares on a region
    level + region polynomial trend of degree ``deg`` + shared calendar months.
    """
    acq = (panel["rank"] == 0) & (panel["m_ev"] >= acq_months)
    rev = np.zeros((R, M))
    np.add.at(rev, (panel["r_ev"][~acq], panel["m_ev"][~acq]), panel["amount"][~acq])
    cols = [np.kron(np.eye(R), np.vander(t, deg + 1))]
    if seasonal:
        cols.append(np.tile(np.stack([(cal == k).astype(float) for k in range(1, 12)], 1), (R, 1)))
    Z = np.hstack(cols)
    ok = (rev > 0).ravel()
    y = np.log(np.where(rev > 0, rev / factor, 1.0)).ravel()
    coef, *_ = np.linalg.lstsq(Z[ok], y[ok], rcond=None)
    return np.exp(Z @ coef).reshape(R, M)


def _fit_customer(df, orders, customers, regions, groups, trend_deg, seasonal, b_range, outer=2):
    """Customer-level fit (see :func:`fit_response_curves`, ``level="customer"``).

    Stage 1 (:func:`_panel_month_effects`) estimates free month effects per region from
    the customer panel; stage 2 fits the structural model to them by minimum distance
    with the stage-1 information as weight (asymptotically the conditional MLE)::

        eta_rm = S_m + trend_r(t) + log(1 + A_r (1 - exp(-x_rm / b_r)) / B_rm)

    ``B_rm`` the smoothed repeat revenue without marketing (:func:`_panel_baseline`,
    re-estimated ``outer`` times with the fitted multiplier removed).  The level of each
    region is conditioned out with the customers.  Returns the same dict as
    :func:`_fit_joint`.
    """
    df = df[df["region"].isin(regions)]
    months = pd.date_range(df["month"].min(), df["month"].max(), freq="MS")
    R, M = len(regions), len(months)
    X = (df.pivot_table(index="region", columns="month", values="amount", aggfunc="sum")
         .reindex(index=regions, columns=months).to_numpy(float))
    panel = _customer_panel(orders, customers, regions, months, X)
    eta_hat, info, events = _panel_month_effects(panel, R, M)
    have = np.isfinite(X)
    mean_x = np.array([X[i, have[i]].mean() for i in range(R)])
    Xs = np.where(have, X, 0.0) / mean_x[:, None]
    cal = months.month.to_numpy() - 1
    t = np.linspace(-1.0, 1.0, M) if M > 1 else np.zeros(M)
    gkeys = sorted({groups.get(r, r) for r in regions}, key=str) if groups else list(regions)
    gi = np.array([gkeys.index(groups.get(r, r) if groups else r) for r in regions])
    G = len(gkeys)
    S = 11 if seasonal else 0
    nt = trend_deg
    P = S + R * nt + R + G
    ik = S + R * nt + np.arange(R)
    ib = S + R * nt + R + gi
    L = []  # whitening: L' L = info (its null direction, the region level, dropped)
    for r in range(R):
        w, V = np.linalg.eigh(info[r])
        keep = w > 1e-8 * max(w.max(), 1e-300)
        L.append(np.sqrt(w[keep])[:, None] * V[:, keep].T)
    off = np.cumsum([0] + [len(l) for l in L])
    tp = np.stack([t ** (j + 1) for j in range(nt)]) if nt else np.zeros((0, M))

    def eta_model(p, W):
        s = np.r_[0.0, p[:S]] if seasonal else np.zeros(1)
        lin = (s[cal] if seasonal else np.zeros(M))[None, :] + p[S:S + R * nt].reshape(R, nt) @ tp
        k = np.exp(p[ik])[:, None]
        b = np.exp(p[ib])[:, None]
        return lin + np.log1p(k * W * -np.expm1(-Xs / b))

    lo = np.full(P, -np.inf)
    hi = np.full(P, np.inf)
    lo[ik], hi[ik] = math.log(1e-5), math.log(10.0)
    lo[S + R * nt + R:], hi[S + R * nt + R:] = math.log(b_range[0]), math.log(b_range[1])
    factor = np.ones((R, M))
    starts = [None]
    for it in range(outer):
        B = _panel_baseline(panel, factor, R, M, cal, t, nt + 1, seasonal)
        Bref = B.mean(axis=1)
        W = Bref[:, None] / B

        def resid(p, W=W):
            e = eta_hat - eta_model(p, W)
            return np.concatenate([L[r] @ e[r] for r in range(R)])

        best = None
        if it == 0:
            starts = []
            for b0 in (0.3, 1.0, 3.0):
                p0 = np.zeros(P)
                p0[ik] = math.log(0.05)
                p0[S + R * nt + R:] = math.log(b0)
                starts.append(np.clip(p0, lo + 1e-9, hi - 1e-9))
        for p0 in starts:
            with threadpool_limits(1, user_api="blas"):
                from scipy import optimize  # on use: 04 imports this and never optimises
                res = optimize.least_squares(resid, p0, bounds=(lo, hi), method="trf")
            if best is None or res.cost < best.cost:
                best = res
        starts = [np.clip(best.x, lo + 1e-9, hi - 1e-9)]
        k = np.exp(best.x[ik])
        bs = np.exp(best.x[ib])
        factor = 1.0 + k[:, None] * W * -np.expm1(-Xs / bs[:, None])
    cov = np.linalg.pinv(best.jac.T @ best.jac)
    r_all = best.fun
    out = {}
    for i, reg in enumerate(regions):
        seg = r_all[off[i]:off[i + 1]]
        dof = max(len(seg) - nt - 1 - (S + G) / R, 1.0)
        s2 = float(seg @ seg / dof)  # ~1 when the month effects are as precise as Poisson
        ia, ibb = ik[i], ib[i]
        out[reg] = {
            "A": float(k[i] * Bref[i]),
            "b": float(bs[i] * mean_x[i]),
            "rel_se_a": math.sqrt(max(cov[ia, ia], 0.0) * max(s2, 1.0)),
            "rel_se_b": math.sqrt(max(cov[ibb, ibb], 0.0) * max(s2, 1.0)),
            "r2": np.nan,
            "rmse": np.nan,
            "dispersion": s2,
            "a_at_bound": best.x[ia] <= lo[ia] + 1e-3,
            "b_at_bound": not (lo[ibb] + 0.02 < best.x[ibb] < hi[ibb] - 0.02),
            "group": gkeys[gi[i]],
            "corr_ab": float(cov[ia, ibb] / math.sqrt(cov[ia, ia] * cov[ibb, ibb]))
            if cov[ia, ia] > 0 and cov[ibb, ibb] > 0 else 0.0,
            "panel_events": float(events[i]),
        }
    return out


@dataclass(frozen=True)
class ResponseFitParams:
    """Settings of :func:`fit_response_curves` (see it for their meaning); validates itself.

    ``method="auto"`` is ``"joint"`` for ``kind="exp"`` without ``attributed``, else
    ``"separate"``; ``measure="auto"`` is ``"orders"`` when the sales have order counts.
    """

    kind: str = "exp"
    trend: bool | str | int = "auto"
    seasonal: bool | str = "auto"
    min_months: int = 18
    min_spend_cv: float = 0.05
    max_rel_se: float = 2.0
    b_range: tuple[float, float] = (0.05, 20.0)
    attributed: bool = False
    method: str = "auto"
    measure: str = "auto"
    status_quo_months: int = 12
    level: str = "region"

    def __post_init__(self):
        for name, value, allowed in (("kind", self.kind, ("exp", "adbudg")),
                                     ("method", self.method, ("auto", "joint", "separate")),
                                     ("measure", self.measure, ("auto", "orders", "sales")),
                                     ("level", self.level, ("region", "customer"))):
            if value not in allowed:
                raise ValueError(f"{name} must be {', '.join(map(repr, allowed))}; got {value!r}")
        if self.method == "joint" and (self.kind != "exp" or self.attributed):
            raise ValueError("method='joint' needs kind='exp' and attributed=False")
        if self.level == "customer" and self.resolved_method() != "joint":
            raise ValueError("level='customer' needs method='joint' (kind='exp', attributed=False)")
        if not (0 < self.b_range[0] < self.b_range[1]):
            raise ValueError(f"b_range must be (low, high) with 0 < low < high, got {self.b_range!r}")
        _check_number("status_quo_months", self.status_quo_months, lo=1)

    def resolved_method(self) -> str:
        """``"joint"`` or ``"separate"`` (``"auto"`` resolved)."""
        if self.method != "auto":
            return self.method
        return "joint" if (self.kind == "exp" and not self.attributed) else "separate"

    def resolved_measure(self, sales: pd.DataFrame) -> str:
        """``"orders"`` or ``"sales"`` for these ``sales`` columns (``"auto"`` resolved)."""
        has_counts = {"orders", "gross_sales"} <= set(sales.columns)
        measure = self.measure if self.measure != "auto" else ("orders" if has_counts else "sales")
        if measure == "orders" and not has_counts:
            raise ValueError("measure='orders' needs sales columns 'orders' and 'gross_sales' "
                             "(see monthly_region_sales)")
        return measure


def fit_response_curves(
    spend: pd.DataFrame,
    sales: pd.DataFrame,
    gross_margin_rate: float,
    params: ResponseFitParams | None = None,
    *,
    judgments: pd.DataFrame | None = None,
    groups: Mapping[str, str] | pd.Series | None = None,
    orders: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    **settings,
) -> pd.DataFrame:
    """Fit one response curve per region from spend and sales history.

    The estimators (``"joint"`` regional or customer-panel fit, ``"separate"`` per-region
    fit), the acceptance rules and the fallbacks (judgments, same-group pooling, held at
    the status quo) are described in the module docstring.

    Parameters
    ----------
    params : ResponseFitParams, optional
        The estimator's settings (``kind``, ``trend``, ``seasonal``, ``min_months``,
        ``min_spend_cv``, ``max_rel_se``, ``b_range``, ``attributed``, ``method``,
        ``measure``, ``status_quo_months``, ``level``); or give them as keywords
        (``fit_response_curves(spend, sales, 0.35, level="customer")``).
    judgments : DataFrame, optional
        The planner's four-point judgments per region (fallback 1).
    groups : mapping or Series region -> group, optional
        E.g. ``regions.maturity``: shape pooling and the donors of fallback 2.
    spend : DataFrame
        ``region``, ``month``, ``amount`` (monthly marketing spend, the
        ``marketing_spend`` table).
    sales : DataFrame
        ``region``, ``month``, ``sales`` (see :func:`monthly_region_sales`).
    gross_margin_rate : float
        Margin per unit of sales.
    level : {"region", "customer"}
        Fit the joint model to regional monthly totals (default) or to the customer
        panel built from ``orders`` (``customer_id``, ``order_date``, ``amount``) and
        ``customers`` (``customer_id``, ``region``).

    Returns
    -------
    DataFrame indexed by region: ``kind``, ``a``, ``b``, ``c``, ``source`` ("fit",
    "judgment", "pooled", "held"), ``n_months``, ``mean_spend``, ``spend_cv``, ``r2``,
    ``rmse``, ``rel_se_a``, ``rel_se_b`` (standard errors of ``log a``, ``log b``),
    ``corr_ab`` (their correlation; 0 for the separate fit), ``accepted`` (bool),
    ``reason``, ``group``, ``status_quo_spend`` (monthly), and for the joint fit
    ``measure``, ``dispersion``.  Turn it into curves with :func:`curves_from_fit`
    (by default the *expected* curve over the fit's parameter uncertainty).
    """
    if params is None:
        params = ResponseFitParams(**settings)
    elif settings:
        raise TypeError(f"fit_response_curves: give params= or the settings {sorted(settings)}, not both")
    method, measure = params.resolved_method(), params.resolved_measure(sales)
    if groups is not None:
        groups = dict(groups.items()) if isinstance(groups, (Mapping, pd.Series)) else None
    if params.level == "customer":
        if orders is None or customers is None:
            raise ValueError("level='customer' needs orders= and customers= (the customer panel)")
        require_columns(orders, "orders", ("customer_id", "order_date", "amount"))
        require_columns(customers, "customers", ("customer_id", "region"))
    _check_number("gross_margin_rate", gross_margin_rate, lo=0, lo_open=True, hi=1)
    require_columns(spend, "marketing_spend", ("region", "month", "amount"))
    require_columns(sales, "sales", ("region", "month", "sales"))
    df, sq_spend = _spend_and_sales(spend, sales, params.status_quo_months)
    rows, eligible = {}, []
    for region, g in df.groupby("region", sort=True):
        rows[region] = _region_row(region, g, gross_margin_rate, params, method, groups,
                                   float(sq_spend.get(region, np.nan)))
        if rows[region].pop("_eligible"):
            eligible.append(region)
    if not rows:
        raise ValueError("marketing_spend and sales share no (region, month): nothing to fit")
    if eligible:
        _joint_rows(rows, eligible, df, gross_margin_rate, params, measure, groups, orders, customers)
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("region")
    return _fallbacks(out, judgments, groups, params.status_quo_months)


def _spend_and_sales(spend, sales, status_quo_months):
    """Spend joined to sales by (region, month start), and the status-quo monthly spend."""
    sp = spend.copy()
    sp["month"] = pd.to_datetime(sp["month"]).dt.to_period("M").dt.to_timestamp()
    sa = sales.copy()
    sa["month"] = pd.to_datetime(sa["month"]).dt.to_period("M").dt.to_timestamp()
    df = sp.merge(sa, on=["region", "month"], how="inner").sort_values(["region", "month"])
    last_sp = sp["month"].max()
    recent = sp[sp["month"] > last_sp - pd.DateOffset(months=int(status_quo_months))]
    return df, recent.groupby("region")["amount"].mean()


def _region_row(region, g, gross_margin_rate, params, method, groups, sq_spend) -> dict:
    """The fit-table row of one region: screened, and fitted alone for ``"separate"``.

    ``_eligible`` (popped by the caller) marks a region that goes into the joint fit.
    """
    kind = params.kind
    x = g["amount"].to_numpy(float)
    y = gross_margin_rate * g["sales"].to_numpy(float)
    n = len(g)
    tr = (n >= 24) if params.trend == "auto" else bool(params.trend)
    se = (n >= 36) if params.seasonal == "auto" else bool(params.seasonal)
    Z = (np.zeros((n, 0)) if params.attributed
         else _design(g["month"].reset_index(drop=True), tr, se))
    mean_x = float(x.mean()) if n else 0.0
    cv = float(x.std() / mean_x) if mean_x > 0 else 0.0
    row = {"kind": kind, "a": np.nan, "b": np.nan, "c": 1.0, "source": "fit",
           "n_months": n, "mean_spend": mean_x, "mean_margin": float(y.mean()) if n else np.nan,
           "spend_cv": cv, "r2": np.nan, "rmse": np.nan, "rel_se_a": np.nan,
           "rel_se_b": np.nan, "corr_ab": 0.0, "accepted": False, "reason": "",
           "method": method, "group": (groups or {}).get(region, region),
           "status_quo_spend": sq_spend, "_eligible": False}
    if n < params.min_months:
        row["reason"] = f"only {n} months of spend and sales (< min_months={params.min_months})"
    elif mean_x <= 0 or cv < params.min_spend_cv:
        row["reason"] = (f"spend barely varies (CV {cv:.3f} < {params.min_spend_cv}); "
                         "slope not identified")
    elif n <= Z.shape[1] + 4:
        row["reason"] = f"{n} months is too few for {Z.shape[1] + 2} parameters"
    elif method == "joint":
        row["method"] = "joint"
        row["_eligible"] = True
    else:
        _fit_separately(row, y, Z, x, params, mean_x)
    return row


def _fit_separately(row, y, Z, x, params, mean_x) -> None:
    """The ``"separate"`` estimator on one region; fills ``row`` in place."""
    kind, n = params.kind, len(y)
    c_grid = (1.0,) if kind == "exp" else (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    bb = (params.b_range[0] * mean_x, params.b_range[1] * mean_x)
    sse, b, c, coef = _fit_one(y, Z, x, kind, bb, c_grid)
    a = float(coef[-1])
    sst = float(((y - y.mean()) ** 2).sum())
    rse_a, rse_b = _rel_se(y, Z, x, kind, b, c, coef) if a > 0 else (np.inf, np.inf)
    row.update(a=a, b=b, c=c, r2=1 - sse / sst if sst > 0 else np.nan,
               rmse=math.sqrt(sse / n), rel_se_a=rse_a, rel_se_b=rse_b)
    at_bound = b <= bb[0] * 1.01 or b >= bb[1] * 0.99
    if a <= 0:
        row["reason"] = f"fitted saturation a={a:,.0f} <= 0: no positive response found"
    elif at_bound:
        row["reason"] = (f"b={b:,.0f} at its bound {bb[0]:,.0f}..{bb[1]:,.0f}: "
                         "saturation not identified by the spend range seen")
    elif not (rse_a <= params.max_rel_se and rse_b <= params.max_rel_se):
        row["reason"] = (f"imprecise fit: relative SE a={rse_a:.2f}, b={rse_b:.2f} "
                         f"(> max_rel_se={params.max_rel_se})")
    else:
        row["accepted"] = True


def _joint_rows(rows, eligible, df, gross_margin_rate, params, measure, groups, orders,
                customers) -> None:
    """The joint (regional or customer-panel) fit of the eligible regions; fills ``rows``."""
    n_max = max(rows[r]["n_months"] for r in eligible)
    deg = ((2 if n_max >= 36 else 1 if n_max >= 24 else 0) if params.trend == "auto"
           else int(params.trend))
    seas = (n_max >= 36) if params.seasonal == "auto" else bool(params.seasonal)
    if params.level == "customer":
        jf = _fit_customer(df, orders, customers, eligible, groups, deg, seas, params.b_range)
    else:
        jf, _ = _fit_joint(df, eligible, measure, groups, deg, seas, params.b_range)
    max_rel_se = params.max_rel_se
    for region in eligible:
        f = jf[region]
        row = rows[region]
        row.update(a=gross_margin_rate * f["A"], b=f["b"], r2=f["r2"], rmse=f["rmse"],
                   rel_se_a=f["rel_se_a"], rel_se_b=f["rel_se_b"], corr_ab=f["corr_ab"],
                   dispersion=f["dispersion"], group=f["group"], measure=measure,
                   level=params.level)
        if params.level == "customer":
            row["panel_events"] = f["panel_events"]
        if f["a_at_bound"]:
            row["reason"] = "fitted saturation a at its lower bound: no positive response found"
        elif f["b_at_bound"]:
            row["reason"] = (f"b={f['b']:,.0f} at its bound {params.b_range} x mean spend: "
                             "saturation not identified by the spend range seen")
        elif not (f["rel_se_a"] <= max_rel_se and f["rel_se_b"] <= max_rel_se):
            row["reason"] = (f"imprecise fit: relative SE a={f['rel_se_a']:.2f}, "
                             f"b={f['rel_se_b']:.2f} (> max_rel_se={max_rel_se})")
        else:
            row["accepted"] = True


def _fallbacks(out, judgments, groups, status_quo_months) -> pd.DataFrame:
    """Curves for the regions whose own fit was not accepted.

    (1) the planner's judgments; (2) the accepted regions of the SAME group (maturity):
    their median shape b / mean spend and response share a / mean margin; (3) nothing
    comparable: the region is held at its status-quo spend, with the reason.  Never
    borrow across groups: a mature region is not an emerging one.
    """
    judged = calibrate_from_judgments(judgments) if judgments is not None else None
    accepted = out[out["accepted"]]
    rejected = list(out.index[~out["accepted"]])
    out.loc[rejected, ["a", "b"]] = np.nan
    for region in rejected:
        why = out.loc[region, "reason"]
        if judged is not None and region in judged:
            cv = judged[region]
            out.loc[region, ["kind", "a", "b", "c", "source"]] = [cv.kind, cv.a, cv.b, cv.c, "judgment"]
            out.loc[region, ["rel_se_a", "rel_se_b", "corr_ab"]] = [np.nan, np.nan, 0.0]
            out.loc[region, "reason"] = why + "; using the planner's judgments"
            continue
        grp = out.loc[region, "group"]
        donors = accepted[(accepted["group"] == grp) & (accepted.index != region)]
        if groups and len(donors) and out.loc[region, "mean_spend"] > 0:
            _borrow_from_group(out, region, donors, grp, why)
            continue
        sq = out.loc[region, "status_quo_spend"]
        out.loc[region, ["kind", "source", "rel_se_a", "rel_se_b", "corr_ab"]] = [
            "held", "held", np.nan, np.nan, 0.0]
        where = f"of group {grp!r}" if groups else "(no groups given to borrow within)"
        out.loc[region, "reason"] = why + (
            f"; no accepted region {where}: kept at its status-quo spend "
            f"{sq:,.0f}/month (mean of the last {int(status_quo_months)} months)")
    return out


def _borrow_from_group(out, region, donors, grp, why) -> None:
    """Fallback (2): the donors' median shape and response share, scaled to ``region``."""
    ratio = float((donors["b"] / donors["mean_spend"]).median())
    share = float((donors["a"] / donors["mean_margin"]).median())
    out.loc[region, ["a", "b", "c", "source"]] = [
        share * out.loc[region, "mean_margin"], ratio * out.loc[region, "mean_spend"], 1.0, "pooled"]
    out.loc[region, "kind"] = "exp"
    # the borrowed curve is as uncertain as the donors' (at least)
    out.loc[region, ["rel_se_a", "rel_se_b", "corr_ab"]] = [
        float(donors["rel_se_a"].max()), float(donors["rel_se_b"].max()),
        float(donors["corr_ab"].median())]
    out.loc[region, "reason"] = why + (
        f"; using the accepted {grp!r} regions' ({', '.join(map(str, donors.index))}) "
        f"median b/mean spend={ratio:.2f} and a/mean margin={share:.3f}")


def curves_from_fit(
    fit: pd.DataFrame,
    uncertainty: str = "expected",
    n_draws: int = 200,
    seed: int = 0,
) -> dict[str, ResponseCurve]:
    """``{region: ResponseCurve}`` from :func:`fit_response_curves`' table.

    ``uncertainty="expected"`` (default): for exponential fits with standard errors, the
    curve is the *expected* response over ``n_draws`` draws of the Laplace posterior
    ``(log a, log b) ~ N((log a_hat, log b_hat), [[se_a^2, rho se_a se_b], [rho se_a se_b,
    se_b^2]])`` (``rel_se_a``, ``rel_se_b``, ``corr_ab``; standard normals truncated at
    +-3; ``seed`` makes it deterministic, and the same draws are used for every region):
    ``kind="expmix"``.  Since the budget objective is a sum over regions, its expectation
    needs only each region's own marginal posterior.  ``"plugin"``: the point estimate.
    Regions without a curve (``source == "held"``) become ``kind="held"`` curves that the
    optimiser keeps at ``status_quo_spend``.
    """
    require_columns(fit, "fit", ("kind", "a", "b", "c"))
    if uncertainty not in ("expected", "plugin"):
        raise ValueError(f"uncertainty must be 'expected' or 'plugin', got {uncertainty!r}")
    _check_number("n_draws", n_draws, lo=1)
    z = np.clip(np.random.default_rng(seed).standard_normal((int(n_draws), 2)), -3.0, 3.0)
    out = {}
    for region, row in fit.iterrows():
        if row["kind"] == "held":
            out[region] = ResponseCurve("held", hold=float(row["status_quo_spend"]),
                                        reason=str(row.get("reason", "")))
            continue
        if not np.isfinite(row["a"]) or not np.isfinite(row["b"]):
            raise ValueError(f"fit row {region!r} has no curve: {row.get('reason', '')}")
        a, b = float(max(row["a"], 0.0)), float(row["b"])
        sa, sb = float(row.get("rel_se_a", np.nan)), float(row.get("rel_se_b", np.nan))
        if (uncertainty == "expected" and row["kind"] == "exp" and a > 0
                and np.isfinite(sa) and np.isfinite(sb)):
            rho = float(np.clip(row.get("corr_ab", 0.0) if pd.notna(row.get("corr_ab", 0.0)) else 0.0,
                                -0.999, 0.999))
            la = math.log(a) + sa * z[:, 0]
            lb = math.log(b) + sb * (rho * z[:, 0] + math.sqrt(1 - rho**2) * z[:, 1])
            out[region] = ResponseCurve("expmix", a, b, draws=np.column_stack([np.exp(la), np.exp(lb)]))
        else:
            out[region] = ResponseCurve(str(row["kind"]), a, b, float(row["c"]))
    return out


def calibrate_from_judgments(judgments: pd.DataFrame) -> dict[str, ResponseCurve]:
    """ADBUDG curves from a planner's four judgments per unit (Little 1970).

    ``judgments`` has ``region`` (or ``unit``), ``current_spend`` (monthly) and the
    expected monthly gross margin ``at_zero`` (no spend), ``at_saturation`` (unlimited
    spend), ``at_current`` and ``at_plus50`` (spend +50%).  With
    ``a = at_saturation - at_zero`` and ``y = (r - at_zero) / a``, the curve
    ``y = x**c / (b**c + x**c)`` gives ``y / (1 - y) = (x / b)**c``, hence::

        c = ln(odds(y_plus50) / odds(y_current)) / ln(1.5)
        b = current_spend / odds(y_current) ** (1 / c)

    Requires ``at_zero < at_current < at_plus50 < at_saturation``.  ``floor`` keeps
    ``at_zero``.
    """
    key = "region" if "region" in judgments.columns else "unit"
    cols = (key, "current_spend", "at_zero", "at_saturation", "at_current", "at_plus50")
    require_columns(judgments, "judgments", cols)
    out = {}
    for row in judgments.itertuples(index=False):
        u = getattr(row, key)
        x0, r0, rs, rc, r5 = (float(getattr(row, c)) for c in cols[1:])
        if not x0 > 0:
            raise ValueError(f"judgments[{u!r}]: current_spend must be > 0, got {x0!r}")
        if not (r0 < rc < r5 < rs):
            raise ValueError(
                f"judgments[{u!r}]: expected at_zero < at_current < at_plus50 < at_saturation, "
                f"got {r0!r}, {rc!r}, {r5!r}, {rs!r}"
            )
        a = rs - r0
        yc, y5 = (rc - r0) / a, (r5 - r0) / a
        oc, o5 = yc / (1 - yc), y5 / (1 - y5)
        c = math.log(o5 / oc) / math.log(1.5)
        b = x0 / oc ** (1.0 / c)
        out[u] = ResponseCurve("adbudg", a, b, c, floor=r0)
    return out


