"""Budget allocation: the optimiser, the 80% rule of thumb and their comparison.

Part 2b of :mod:`salesplan.planning.allocation`: :class:`BudgetConstraints`,
:func:`optimise_budget`, :func:`evaluate_allocation`, :func:`rule_of_thumb_allocation`,
:func:`compare_allocations`, :func:`curve_sensitivity`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date, require_columns
from salesplan.models.segments import ABCParams
from salesplan.models.segments import abc_classes as _segment_abc_classes
from salesplan.planning.allocation._common import _check_number
from salesplan.planning.allocation.response import ResponseCurve, _curves_dict, inverse_marginals


@dataclass(frozen=True)
class BudgetConstraints:
    """Constraints on a budget split (amounts per period, currency).

    Parameters
    ----------
    total : float
        Budget of the period, >= 0.
    minimum, maximum : float or Mapping unit -> float
        Per-unit floor and ceiling (``maximum=None``: no ceiling).
    last_year : Mapping unit -> float, optional
        Spend of the same period last year, required when ``max_change`` is set.
    max_change : float, optional
        Maximum relative change against last year: ``|x_i - ly_i| <= max_change * ly_i``.
    spend_all : bool
        True: spend exactly ``total``.  False: spend at most ``total`` and stop where a
        unit of spend returns less than a unit of margin (objective = margin - spend).
    """

    total: float
    minimum: float | Mapping[str, float] = 0.0
    maximum: float | Mapping[str, float] | None = None
    last_year: Mapping[str, float] | None = None
    max_change: float | None = None
    spend_all: bool = True

    def __post_init__(self):
        _check_number("total", self.total, lo=0)
        for name in ("minimum", "maximum", "last_year"):
            v = getattr(self, name)
            if v is None:
                continue
            items = v.items() if isinstance(v, Mapping) else [("all units", v)]
            for k, val in items:
                _check_number(f"{name}[{k!r}]", val, lo=0)
        _check_number("max_change", self.max_change, lo=0, allow_none=True)
        if self.max_change is not None and self.last_year is None:
            raise ValueError("max_change is set but last_year is missing: pass last year's spend")
        if self.maximum is not None:
            mins = self.minimum if isinstance(self.minimum, Mapping) else None
            maxs = self.maximum if isinstance(self.maximum, Mapping) else None
            keys = set(mins or {}) | set(maxs or {}) or {"all units"}
            for k in keys:
                lo = (mins or {}).get(k, 0.0) if mins is not None else self.minimum
                hi = (maxs or {}).get(k, np.inf) if maxs is not None else self.maximum
                if lo > hi:
                    raise ValueError(f"minimum {lo!r} is above maximum {hi!r} for {k!r}")

    def bounds(self, units) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit ``(lower, upper)`` after combining min/max and max change.

        Raises ``ValueError`` when the box is empty for a unit or when ``total`` cannot
        be met (``sum(lower) > total``, or ``sum(upper) < total`` with ``spend_all``).
        """
        units = list(units)

        def get(v, k, default):
            if v is None:
                return default
            if isinstance(v, Mapping):
                return float(v.get(k, default))
            return float(v)

        lo = np.array([get(self.minimum, u, 0.0) for u in units])
        hi = np.array([get(self.maximum, u, np.inf) for u in units])
        if self.max_change is not None:
            missing = [u for u in units if u not in self.last_year]
            if missing:
                raise ValueError(f"last_year has no spend for unit(s) {missing}")
            ly = np.array([float(self.last_year[u]) for u in units])
            lo = np.maximum(lo, ly * (1 - self.max_change))
            hi = np.minimum(hi, ly * (1 + self.max_change))
        bad = [u for u, l, h in zip(units, lo, hi) if l > h + 1e-9]
        if bad:
            raise ValueError(
                f"no feasible spend for unit(s) {bad}: minimum/last-year floor above the "
                "maximum/last-year ceiling"
            )
        if lo.sum() > self.total * (1 + 1e-12) + 1e-9:
            raise ValueError(
                f"the per-unit minimums add up to {lo.sum():,.2f}, above total={self.total:,.2f}"
            )
        if self.spend_all and hi.sum() < self.total * (1 - 1e-12) - 1e-9:
            raise ValueError(
                f"the per-unit maximums add up to {hi.sum():,.2f}, below total={self.total:,.2f}; "
                "raise the maximums or set spend_all=False"
            )
        return lo, hi


@dataclass(frozen=True)
class BudgetPlan:
    """An optimised split.

    Attributes
    ----------
    table : DataFrame indexed by unit
        ``spend`` (period), ``response`` (incremental margin of the period),
        ``marginal`` (margin per extra unit of spend at the optimum), ``lower``,
        ``upper``, ``binding`` ("min", "max" or "").
    total_response : float
    multiplier : float
        The Lagrange multiplier (common marginal return of unconstrained units).
    method : str
    """

    table: pd.DataFrame
    total_response: float
    multiplier: float
    method: str

    @property
    def spend(self) -> pd.Series:
        return self.table["spend"]


def _period_value(curve: ResponseCurve, X, months: float):
    return months * curve(np.asarray(X, dtype=float) / months)


def evaluate_allocation(curves, allocation, months: float = 1.0) -> pd.DataFrame:
    """Incremental margin and marginal return of a given split under ``curves``.

    ``response_i = months * r_i(X_i / months)``, ``marginal_i = r_i'(X_i / months)``
    (margin per extra unit of spend, the same in monthly and period terms).

    Returns
    -------
    DataFrame indexed by unit: ``spend``, ``response``, ``marginal``.
    """
    curves = _curves_dict(curves)
    alloc = pd.Series(allocation, dtype=float) if isinstance(allocation, Mapping) else allocation
    missing = [u for u in curves if u not in alloc.index]
    if missing:
        raise ValueError(f"allocation has no spend for unit(s) {missing}")
    rows = {}
    for u, c in curves.items():
        X = float(alloc[u])
        rows[u] = {
            "spend": X,
            "response": float(_period_value(c, X, months)),
            "marginal": float(c.marginal(X / months)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("unit")


def _kkt_steps(curves, units, lo, hi, total, spend_all, months):
    """Exact optimum for separable concave curves by bisection on the multiplier.

    ``x_i(lam) = clip(months * g_i(lam), lo_i, hi_i)`` with ``g_i = (r_i')^{-1}``;
    ``sum_i x_i(lam)`` is non-increasing in ``lam``; find ``lam`` with sum = total.
    A generator: it yields ``(curves of the units, lam)`` for each ``lam`` it needs and is
    sent the units' ``g_i(lam)`` (:func:`_run_steps`); it returns ``(x, lam)``.
    """
    lane = [curves[u] for u in units]

    def spend(g):
        return np.array([min(max(months * gi, l), h) for gi, l, h in zip(g, lo, hi)])

    if not spend_all:
        x1 = spend((yield lane, 1.0))
        if x1.sum() <= total:
            return x1, 1.0
    if total <= lo.sum() + 1e-12:
        return lo.copy(), float(max(float(curves[u].marginal(l / months)) for u, l in zip(units, lo)))
    # bracket in log-space
    m_lo = [float(curves[u].marginal(l / months)) for u, l in zip(units, lo)]
    lam_hi = max(v for v in m_lo if np.isfinite(v)) if any(np.isfinite(m_lo)) else 1.0
    lam_hi = max(lam_hi, 1e-300) * 2.0
    while spend((yield lane, lam_hi)).sum() > total:
        lam_hi *= 4.0
    lam_lo = lam_hi / 4.0
    while spend((yield lane, lam_lo)).sum() < total:
        lam_lo /= 4.0
        if lam_lo < 1e-300:
            break
    a, b = math.log(lam_lo), math.log(lam_hi)
    for _ in range(200):
        mid = 0.5 * (a + b)
        if spend((yield lane, math.exp(mid))).sum() > total:
            a = mid
        else:
            b = mid
        if b - a < 1e-15:
            break
    lam = math.exp(0.5 * (a + b))
    x = spend((yield lane, lam))
    # remove the last rounding residual on the interior units (keeps the total exact)
    resid = total - x.sum()
    free = (x > lo + 1e-9) & (x < hi - 1e-9)
    if free.any() and abs(resid) > 0:
        x[free] += resid / free.sum()
        x = np.clip(x, lo, hi)
    return x, lam


def _run_steps(problems) -> list:
    """Run :func:`_optimise_steps` generators in step: at each step the ``g_i(lam)`` of every
    unfinished problem come from one :func:`inverse_marginals` call (the same numbers as one
    problem at a time); returns their results in order."""
    out = [None] * len(problems)
    want = {}
    for k, st in enumerate(problems):
        try:
            want[k] = next(st)
        except StopIteration as done:
            out[k] = done.value
    while want:
        lanes = [(c, lam) for lane, lam in want.values() for c in lane]
        g = inverse_marginals([c for c, _ in lanes], [lam for _, lam in lanes])
        at = 0
        for k, (lane, _) in list(want.items()):
            try:
                want[k] = problems[k].send(g[at:at + len(lane)])
            except StopIteration as done:
                out[k] = done.value
                del want[k]
            at += len(lane)
    return out


def _dp(curves, units, lo, hi, total, spend_all, months, grid):
    """Global optimum on a grid by dynamic programming (any curve shape)."""
    extra = total - lo.sum()
    if extra <= 0:
        return lo.copy()
    h = extra / grid
    n_steps = np.minimum(np.floor((hi - lo) / h + 1e-9), grid).astype(int)
    V = np.zeros(1)  # value after first k units, indexed by steps used
    choices = []
    for u, l, ns in zip(units, lo, n_steps):
        vals = _period_value(curves[u], l + h * np.arange(ns + 1), months)
        if not spend_all:
            vals = vals - h * np.arange(ns + 1)
        size = min(len(V) + ns, grid + 1)
        newV = np.full(size, -np.inf)
        arg = np.zeros(size, dtype=int)
        for j in range(ns + 1):
            cand = V[: size - j] + vals[j] if size - j <= len(V) else None
            if cand is None:
                cand = np.concatenate([V + vals[j], np.full(size - j - len(V), -np.inf)])
            seg = newV[j:]
            better = cand > seg
            seg[better] = cand[better]
            arg[j:][better] = j
        choices.append(arg)
        V = newV
    g = grid if spend_all else int(np.argmax(V))
    if spend_all and not np.isfinite(V[g]):
        g = int(np.argmax(np.where(np.isfinite(V), np.arange(len(V)), -1)))
    steps = np.zeros(len(units), dtype=int)
    for i in range(len(units) - 1, -1, -1):
        steps[i] = choices[i][g]
        g -= steps[i]
    return lo + h * steps


def _polish(curves, units, lo, hi, total, spend_all, months, x0):
    scale = max(total, 1.0)

    def f(z):
        x = z * scale
        v = sum(float(_period_value(curves[u], xi, months)) for u, xi in zip(units, x))
        if not spend_all:
            v -= x.sum()
        return -v / scale

    def grad(z):
        x = z * scale
        g = np.array([float(curves[u].marginal(xi / months)) for u, xi in zip(units, x)])
        g = np.where(np.isfinite(g), g, 1e6)
        if not spend_all:
            g = g - 1.0
        return -g

    cons = (
        [{"type": "eq", "fun": lambda z: z.sum() - total / scale, "jac": lambda z: np.ones_like(z)}]
        if spend_all
        else [{"type": "ineq", "fun": lambda z: total / scale - z.sum(), "jac": lambda z: -np.ones_like(z)}]
    )
    bnds = [(l / scale, (h / scale if np.isfinite(h) else None)) for l, h in zip(lo, hi)]
    from scipy import optimize  # on use: 04 imports this and never optimises
    res = optimize.minimize(
        f, x0 / scale, jac=grad, bounds=bnds, constraints=cons, method="SLSQP",
        options={"maxiter": 500, "ftol": 1e-15},
    )
    x = np.clip(res.x * scale, lo, hi)
    if spend_all:
        free = (x > lo + 1e-9) & (x < hi - 1e-9)
        if free.any():
            x[free] += (total - x.sum()) / free.sum()
    return x if f(x / scale) <= f(x0 / scale) + 1e-15 else x0


def optimise_budget(
    curves,
    constraints: BudgetConstraints,
    months: float = 1.0,
    method: str = "auto",
    grid: int = 2000,
) -> BudgetPlan:
    """Split a budget to maximise expected incremental gross margin.

    Maximise ``sum_i months * r_i(X_i / months)`` subject to ``sum_i X_i = total``
    (``<= total`` with ``spend_all=False``, objective then net of spend) and
    ``lower_i <= X_i <= upper_i`` (:meth:`BudgetConstraints.bounds`).

    Methods
    -------
    ``"kkt"`` (default for concave curves, exact)
        KKT conditions of the separable concave problem: every unit strictly inside its
        bounds has the same marginal return ``lam``; ``X_i = clip(months * g_i(lam),
        lower_i, upper_i)`` with ``g_i`` the inverse marginal; ``lam`` found by
        bisection on ``sum_i X_i(lam) = total``.  For ``r = a (1 - exp(-x/b))``:
        ``g(lam) = b ln(a / (b lam))``.
    ``"dp"`` (default when some curve is S-shaped or a callable)
        Dynamic programming on a grid of ``grid`` steps of the free budget (global
        optimum up to the grid), then polished by SLSQP from the grid solution.
    ``"slsqp"``
        SLSQP from the equal split and from the proportional-to-bounds split; best kept.

    Units with a ``"held"`` curve (not identified, see :func:`fit_response_curves`) are
    kept at ``months * hold`` (their status quo; an error if that is outside their
    bounds), with ``binding="held"`` and an unknown (``NaN``) response; the rest of the
    budget is optimised over the other units.  ``"expmix"`` curves (expected response
    over posterior draws) are concave and use ``"kkt"``.

    Returns
    -------
    BudgetPlan
    """
    return _run_steps([_optimise_steps(curves, constraints, months, method, grid)])[0]


def optimise_budgets(curve_sets, constraints: BudgetConstraints, months: float = 1.0, method: str = "auto",
                     grid: int = 2000) -> list[BudgetPlan]:
    """:func:`optimise_budget` of each mapping of curves in ``curve_sets`` under the same
    constraints, the exact (``"kkt"``) ones solved together: the same plans, faster."""
    return _run_steps([_optimise_steps(c, constraints, months, method, grid) for c in curve_sets])


def _optimise_steps(curves, constraints, months, method, grid):
    """The body of :func:`optimise_budget`, a generator (see :func:`_kkt_steps`)."""
    curves = _curves_dict(curves)
    _check_number("months", months, lo=0, lo_open=True)
    all_units = list(curves)
    lo_all, hi_all = constraints.bounds(all_units)
    held = {u: months * float(c.hold) for u, c in curves.items() if c.kind == "held"}
    for i, u in enumerate(all_units):
        if u in held and not (lo_all[i] - 1e-9 <= held[u] <= hi_all[i] + 1e-9):
            raise ValueError(
                f"unit {u!r} has no identified curve ({curves[u].reason or 'held'}) and is held at "
                f"its status quo {held[u]:,.2f}, outside its bounds [{lo_all[i]:,.2f}, {hi_all[i]:,.2f}]"
            )
    units = [u for u in all_units if u not in held]
    free_idx = [all_units.index(u) for u in units]
    lo, hi = lo_all[free_idx], hi_all[free_idx]
    total = float(constraints.total) - sum(held.values())
    spend_all = constraints.spend_all
    if held and (lo.sum() > total + 1e-9
                 or (spend_all and (hi.sum() < total - 1e-9 or (not units and total > 1e-9)))):
        raise ValueError(
            f"unit(s) {sorted(held)} are held at their status quo (no identified curve), "
            f"{sum(held.values()):,.2f} in all; the other units' bounds cannot take the remaining "
            f"{total:,.2f} of total={constraints.total:,.2f}"
        )
    if not units:
        x_all = np.array([held[u] for u in all_units])
        table = evaluate_allocation(curves, pd.Series(x_all, index=all_units), months)
        table["lower"], table["upper"], table["binding"] = lo_all, hi_all, "held"
        return BudgetPlan(table, float(np.nansum(table["response"])), np.nan, "held")
    curves_free = curves
    curves = {u: curves_free[u] for u in units}
    if method == "auto":
        method = "kkt" if all(c.concave for c in curves.values()) else "dp"
    if method == "kkt":
        if not all(c.concave for c in curves.values()):
            raise ValueError("method='kkt' needs concave curves (exp, or adbudg with c <= 1)")
        x, lam = yield from _kkt_steps(curves, units, lo, hi, total, spend_all, months)
    elif method == "dp":
        _check_number("grid", grid, lo=10)
        x = _dp(curves, units, lo, hi, total, spend_all, months, int(grid))
        x = _polish(curves, units, lo, hi, total, spend_all, months, x)
        lam = np.nan
    elif method == "slsqp":
        starts = []
        hi_f = np.where(np.isfinite(hi), hi, lo + total)
        for w in (np.ones(len(units)), hi_f - lo):
            w = w / w.sum() if w.sum() > 0 else np.ones(len(units)) / len(units)
            starts.append(np.clip(lo + w * (total - lo.sum()), lo, hi))
        best, best_v = None, -np.inf
        for s in starts:
            x = _polish(curves, units, lo, hi, total, spend_all, months, s)
            v = sum(float(_period_value(curves[u], xi, months)) for u, xi in zip(units, x))
            if v > best_v:
                best, best_v = x, v
        x, lam = best, np.nan
    else:
        raise ValueError(f"method must be 'auto', 'kkt', 'dp' or 'slsqp', got {method!r}")
    x_all = np.array([held[u] if u in held else x[units.index(u)] for u in all_units])
    table = evaluate_allocation(curves_free, pd.Series(x_all, index=all_units), months)
    table["lower"] = lo_all
    table["upper"] = hi_all
    tol = 1e-7 * max(float(constraints.total), 1.0)
    table["binding"] = np.where(x_all <= lo_all + tol, "min", np.where(x_all >= hi_all - tol, "max", ""))
    table.loc[list(held), "binding"] = "held"
    if not np.isfinite(lam):
        free = table["binding"] == ""
        lam = float(table.loc[free, "marginal"].median()) if free.any() else np.nan
    return BudgetPlan(table, float(np.nansum(table["response"])), float(lam), method)


# -- ABC classes and the 80% rule ---------------------------------------------------------
def _abc_series(orders: pd.DataFrame, as_of, months: int) -> pd.Series:
    """customer_id -> ABC class from :func:`salesplan.models.segments.abc_classes` (A = first 80%)."""
    abc = _segment_abc_classes(orders, as_of, ABCParams(window_months=int(months)))
    return abc.set_index("customer_id")["abc_class"].astype(str)


def a_class_share_by_region(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    as_of,
    classes: pd.Series | None = None,
    months: int = 12,
) -> pd.DataFrame:
    """Where the A-class customers are: revenue of A and non-A customers by region.

    Returns
    -------
    DataFrame indexed by region: ``a_revenue``, ``other_revenue``, ``a_share`` (region's
    share of all A-class revenue), ``other_share``, ``n_a``, ``n_customers``.
    """
    require_columns(customers, "customers", ("customer_id", "region"))
    as_of = as_date(as_of, "as_of")
    if classes is None:
        classes = _abc_series(orders, as_of, months)
    start = as_of - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    w = orders[(orders["order_date"] >= start) & (orders["order_date"] <= as_of)]
    rev = w.groupby("customer_id")["amount"].sum().clip(lower=0)
    c = customers[["customer_id", "region"]].copy()
    c["revenue"] = c["customer_id"].map(rev).fillna(0.0)
    c["is_a"] = c["customer_id"].map(classes).fillna("C").eq("A")
    g = c.groupby("region")
    out = pd.DataFrame(
        {
            "a_revenue": g.apply(lambda d: d.loc[d["is_a"], "revenue"].sum(), include_groups=False),
            "other_revenue": g.apply(lambda d: d.loc[~d["is_a"], "revenue"].sum(), include_groups=False),
            "n_a": g["is_a"].sum().astype(int),
            "n_customers": g.size(),
        }
    )
    out["a_share"] = out["a_revenue"] / out["a_revenue"].sum() if out["a_revenue"].sum() > 0 else 0.0
    osum = out["other_revenue"].sum()
    out["other_share"] = out["other_revenue"] / osum if osum > 0 else 1.0 / len(out)
    return out


def rule_of_thumb_allocation(shares: pd.DataFrame, total: float, concentration: float = 0.8) -> pd.Series:
    """"Put ~80% of promotional resources where the A-class customers are."

    ``X_i = total * (concentration * a_share_i + (1 - concentration) * other_share_i)``
    with the shares of :func:`a_class_share_by_region`.  Constraints are *not* applied
    (the rule does not know them); :func:`compare_allocations` reports feasibility.
    """
    require_columns(shares, "shares", ("a_share", "other_share"))
    _check_number("total", total, lo=0)
    _check_number("concentration", concentration, lo=0, hi=1)
    x = total * (concentration * shares["a_share"] + (1 - concentration) * shares["other_share"])
    return x.rename("spend")


def compare_allocations(
    curves,
    allocations: Mapping[str, pd.Series],
    months: float = 1.0,
    constraints: BudgetConstraints | None = None,
) -> pd.DataFrame:
    """Expected incremental margin of named allocations under the same curves.

    Returns
    -------
    DataFrame indexed by allocation name: ``spend``, ``response``, ``roi`` (response /
    spend), ``vs_best`` (response / best response - 1), ``feasible`` (bool, when
    ``constraints`` given), and ``unvalued_spend`` when some curves are ``"held"``
    (their response is unknown and left out of ``response``; compare allocations that
    give held units the same spend).
    """
    curves = _curves_dict(curves)
    rows = {}
    lo = hi = None
    if constraints is not None:
        lo, hi = constraints.bounds(list(curves))
    for name, alloc in allocations.items():
        ev = evaluate_allocation(curves, alloc, months)
        row = {"spend": ev["spend"].sum(), "response": ev["response"].sum()}
        if ev["response"].isna().any():  # held units: value unknown, spend reported apart
            row["unvalued_spend"] = float(ev.loc[ev["response"].isna(), "spend"].sum())
        row["roi"] = row["response"] / row["spend"] if row["spend"] > 0 else np.nan
        if constraints is not None:
            x = ev["spend"].to_numpy()
            tol = 1e-6 * max(constraints.total, 1)
            ok = bool((x >= lo - tol).all() and (x <= hi + tol).all())
            ok &= (abs(x.sum() - constraints.total) <= tol) if constraints.spend_all else (x.sum() <= constraints.total + tol)
            row["feasible"] = ok
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out["vs_best"] = out["response"] / out["response"].max() - 1.0
    return out


def curve_sensitivity(
    curves,
    allocation: pd.Series,
    constraints: BudgetConstraints,
    months: float = 1.0,
    error: float = 0.2,
    n_scenarios: int = 50,
    seed: int = 0,
    method: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much is lost if the curves are off by up to +-``error``?

    Scenarios draw, per unit, ``a`` and ``b`` multipliers uniformly in
    ``[1 - error, 1 + error]`` (callable curves: output multiplier only).  In each, the
    chosen ``allocation`` is evaluated and the budget is re-optimised on the perturbed
    curves; ``regret = 1 - chosen / reoptimised`` (share of attainable margin lost by
    planning on the wrong curves).  One-at-a-time rows scale one unit's ``a`` by
    ``1 - error`` and ``1 + error``.

    Returns
    -------
    (scenarios, one_at_a_time)
        ``scenarios``: scenario, chosen, reoptimised, regret.  ``one_at_a_time``: unit,
        factor, chosen, reoptimised, regret, spend_shift (re-optimised minus chosen spend
        of that unit).
    """
    curves = _curves_dict(curves)
    _check_number("error", error, lo=0, hi=0.99)
    rng = np.random.default_rng(seed)
    units = list(curves)

    perts = []
    for _ in range(int(n_scenarios)):
        fa = rng.uniform(1 - error, 1 + error, len(units))
        fb = rng.uniform(1 - error, 1 + error, len(units))
        perts.append({u: curves[u].scaled(fa[i], fb[i]) for i, u in enumerate(units)})
    one = [(u, f) for u in units for f in (1 - error, 1 + error)]
    for u, f in one:
        perts.append({**curves, u: curves[u].scaled(f, 1.0)})
    chosen = [evaluate_allocation(p, allocation, months)["response"].sum() for p in perts]
    plans = optimise_budgets(perts, constraints, months, method)  # every scenario's optimum at once
    regret = [1 - c / p.total_response if p.total_response > 0 else 0.0 for c, p in zip(chosen, plans)]
    n = int(n_scenarios)
    scen = pd.DataFrame([(s, chosen[s], plans[s].total_response, regret[s]) for s in range(n)],
                        columns=["scenario", "chosen", "reoptimised", "regret"])
    oat = pd.DataFrame([(u, f, chosen[n + k], plans[n + k].total_response, regret[n + k],
                         float(plans[n + k].spend[u] - allocation[u])) for k, (u, f) in enumerate(one)],
                       columns=["unit", "factor", "chosen", "reoptimised", "regret", "spend_shift"])
    return scen, oat


