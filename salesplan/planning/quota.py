"""Rep quotas: the split rule, the fairness band and each rep's outcome paths.

The rule (every weight and bound is a :class:`salesplan.planning.targets.TargetParams` field)
-------------------------------------------------------------------------------------
Within a region, the quota ``Q_r`` is split in proportion to each slot's *expected
productivity* ``e_i`` (currency per quarter), then bounded by the fairness band:

* **Established reps** (employed ``>= min_history_quarters`` full quarters before the plan
  quarter, in post all quarter, with an own forecast ``f_i > 0``)::

      e_i = w_f * f_i + w_h * h_i * B_r + w_c * c_i * B_r

  ``f_i`` = mean of the rep's own forecast paths for the quarter (the revenue of the
  accounts the rep owns, carried on); ``h_i`` = the rep's share of the region's reps'
  revenue over the last ``recent_quarters`` complete quarters (recent attainment);
  ``c_i`` = the slot's capacity share of the region (level weight x ramp x days in
  post, :func:`salesplan.planning.targets.rep_capacity`); ``B_r = sum_i f_i`` (the reps' book in
  the region); ``w_f, w_h, w_c`` = ``weight_own_forecast, weight_recent,
  weight_capacity`` (normalised to sum 1).
* **New hires, ramping or leaving reps, reps without an own forecast, vacancies**:
  ``e_i = c_i * B_r`` (capacity only: level x ramp x presence).

``quota_i = clip(lambda * e_i, lo_i, hi_i)`` with ``lambda`` such that the quotas sum to
``Q_r`` (:func:`band_split`); ``lo_i = band_low * f_i``, ``hi_i = band_high * f_i`` for
established reps (default 0.8-1.5), ``[0, inf)`` for the others.  When the band cannot
hold ``Q_r`` (no unbounded slot and ``Q_r`` outside ``[sum lo, sum hi]``), every bounded
slot gets the same ratio to its bound and the region is flagged.

Outcome paths (the odds)
------------------------
An established rep's quarter outcome on path ``s`` is their own (reconciled) forecast
path, widened around its mean by ``rep_spread``: ``A_is = max(0, f_i + k (F_is - f_i))``,
so a rep's odds follow the quota / own-forecast ratio and stay correlated with the
region (reconciled paths move with it).  Other slots: the region's path x the slot's
share of the region's quota x a log-normal factor ``exp(sigma z - sigma^2 / 2)``
(``sigma = rep_noise_sd``, ``z`` iid N(0, 1), ``seed``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd

__all__ = ["apply_quota_overrides", "band_split", "expected_productivity", "history_quarters", "recent_share",
           "rep_outcome_paths"]


def history_quarters(hire_date: pd.Series, quarter_start: pd.Timestamp) -> pd.Series:
    """Full quarters (3 months) employed before ``quarter_start``: ``floor(months / 3)``.

    ``months = 12 (Y_q - Y_h) + (M_q - M_h) - [day_h > 1]`` (whole months in post before
    the quarter starts; a hire after the 1st loses the hire month), floored at 0.
    """
    h = pd.to_datetime(hire_date)
    q = pd.Timestamp(quarter_start)
    months = 12 * (q.year - h.dt.year) + (q.month - h.dt.month) - (h.dt.day > 1).astype(int)
    return (months.clip(lower=0) // 3).astype(int)


def recent_share(orders: pd.DataFrame, reps: pd.DataFrame, end: pd.Timestamp, quarters: int) -> pd.Series:
    """Each rep's share of their region's reps' revenue over the ``quarters`` x 3 months to ``end``.

    Parameters
    ----------
    orders : DataFrame
        ``order_date, rep_id, amount`` (currency).
    reps : DataFrame
        ``rep_id, region`` of the slots to score.
    end : Timestamp
        Last day counted (inclusive).
    quarters : int
        Window length in quarters.

    Returns
    -------
    Series indexed by rep_id, shares in [0, 1] summing to 1 per region (0 when the
    region's reps sold nothing; negative net revenue counts as 0).
    """
    end = pd.Timestamp(end).normalize()
    start = (end + pd.Timedelta(days=1)) - pd.DateOffset(months=3 * quarters)
    o = orders[(orders["order_date"] >= start) & (orders["order_date"] <= end)]
    rev = o.groupby(o["rep_id"].astype(str))["amount"].sum()
    r = reps[["rep_id", "region"]].astype(str).drop_duplicates("rep_id")
    v = r["rep_id"].map(rev).fillna(0.0).clip(lower=0.0).to_numpy(float)
    tot = pd.Series(v).groupby(r["region"].to_numpy()).transform("sum").to_numpy()
    return pd.Series(np.where(tot > 0, v / np.where(tot > 0, tot, 1), 0.0), index=r["rep_id"].to_numpy())


def expected_productivity(own: np.ndarray, recent: np.ndarray, cap_share: np.ndarray,
                          established: np.ndarray, weights: tuple[float, float, float],
                          own_only: np.ndarray | None = None) -> np.ndarray:
    """``e_i`` of one region's slots (module docstring).

    Parameters
    ----------
    own : array (N,)
        Own forecast ``f_i`` (currency per quarter; 0 where unknown).
    recent : array (N,)
        Recent share ``h_i`` of the region (fraction).
    cap_share : array (N,)
        Capacity share ``c_i`` of the region (fraction, sums to 1).
    established : bool array (N,)
        Whether the blend applies (else capacity only).
    weights : (w_f, w_h, w_c)
        Blend weights, >= 0 with a positive sum.
    own_only : bool array (N,), optional
        Slots that are not people (the accounts without a current rep): ``e_i = f_i``;
        they are left out of the book ``B_r``.

    Returns
    -------
    ndarray (N,), currency per quarter, >= 0.
    """
    own = np.clip(np.asarray(own, float), 0, None)
    fixed = np.zeros(len(own), bool) if own_only is None else np.asarray(own_only, bool)
    wf, wh, wc = (float(w) for w in weights)
    s = wf + wh + wc
    book = own[established & ~fixed].sum()
    if book <= 0:
        book = 1.0 if own[fixed].sum() <= 0 else own[fixed].sum()
    e = np.where(established, (wf * own + wh * np.asarray(recent) * book + wc * np.asarray(cap_share) * book) / s,
                 np.asarray(cap_share) * book)
    return np.clip(np.where(fixed, own, e), 0, None)


def band_split(total: float, weights, lo, hi) -> tuple[np.ndarray, bool]:
    """Split ``total`` in proportion to ``weights`` inside per-child bounds.

    ``x_i = clip(lambda * w_i, lo_i, hi_i)`` with ``lambda >= 0`` found by bisection so
    that ``sum x = total`` (relative precision 1e-12).  A child with weight 0 gets
    ``lo_i``.  When ``total`` lies outside ``[sum lo, sum hi]`` the bounds cannot all
    hold: every child gets ``total * b_i / sum b`` with ``b = hi`` (total too high) or
    ``b = lo`` (too low), and ``feasible`` is False.

    Parameters
    ----------
    total : float
        Amount to split (currency), >= 0.
    weights, lo, hi : array-like (N,)
        Weights >= 0; bounds with ``0 <= lo <= hi`` (``hi`` may be ``inf``).

    Returns
    -------
    (x, feasible) : (ndarray, bool)
    """
    w = np.clip(np.asarray(weights, float), 0, None)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    if len(w) == 0:
        return w, total == 0
    if np.any(lo > hi + 1e-9):
        raise ValueError("band_split: lower bounds above upper bounds")
    if w.sum() <= 0:
        w = np.ones_like(w)
    if total > hi.sum() * (1 + 1e-12):
        return total * hi / hi.sum(), False
    if total < lo.sum() * (1 - 1e-12):
        b = lo if lo.sum() > 0 else w
        return total * b / b.sum(), False

    def f(lam):
        return np.clip(lam * w, lo, hi).sum()

    a, b = 0.0, max(total / w.sum(), 1e-300)
    while f(b) < total and b < 1e300:
        b *= 2.0
    for _ in range(200):
        m = 0.5 * (a + b)
        if f(m) < total:
            a = m
        else:
            b = m
        if b - a <= 1e-13 * b:
            break
    x = np.clip(b * w, lo, hi)
    free = (x > lo) & (x < hi)
    resid = total - x.sum()
    if free.any():  # put the last fraction of a unit on the unbounded children
        x[free] += resid * w[free] / w[free].sum()
    return x, True


def rep_outcome_paths(region_paths: np.ndarray, slot_region: np.ndarray, share: np.ndarray,
                      own_paths: np.ndarray | None, use_own: np.ndarray, *, spread: float,
                      noise_sd: float, seed: int) -> np.ndarray:
    """Simulated monthly outcomes of every slot (module docstring).

    Parameters
    ----------
    region_paths : array (S, R, 3)
        Region paths (currency per month).
    slot_region : int array (N,)
        Region index of each slot.
    share : array (N, 3)
        Slot's share of its region in each month (the regional model).
    own_paths : array (S, N, 3) or None
        Own forecast paths per slot (zeros where absent).
    use_own : bool array (N,)
        Slots judged on their own paths.
    spread : float >= 0
        Widening factor ``k`` of own paths around their mean.
    noise_sd : float >= 0
        ``sigma`` of the regional model's log-normal factor.
    seed : int

    Returns
    -------
    ndarray (S, N, 3), currency per month.
    """
    S = region_paths.shape[0]
    n = len(slot_region)
    rng = np.random.default_rng(seed)
    noise = np.exp(noise_sd * rng.standard_normal((S, n)) - noise_sd * noise_sd / 2)
    out = region_paths[:, slot_region, :] * share[None, :, :] * noise[:, :, None]
    if own_paths is not None and np.any(use_own):
        own = own_paths[:, use_own, :]
        tot = own.sum(axis=2, keepdims=True)
        mean = tot.mean(axis=0, keepdims=True)
        wide = np.clip(mean + spread * (tot - mean), 0, None)
        # keep the month profile of each path; a path with a zero quarter gets the mean profile
        prof = np.where(tot > 0, own / np.where(tot > 0, tot, 1), own.mean(axis=0, keepdims=True)
                        / np.where(mean > 0, mean, 1))
        out[:, use_own, :] = wide * prof
    return out


def apply_quota_overrides(quotas: pd.Series, overrides: Mapping[str, float] | None, *,
                          unit: float | None = None) -> tuple[pd.Series, pd.Series]:
    """Replace proposed rep quotas by the planner's overrides.

    ``quota_i = round(override_i / unit) * unit`` for every rep id in ``overrides`` (the
    nearest multiple of ``unit``, so the month and week splits stay in whole units; no
    rounding when ``unit`` is None), ``quota_i = proposed_i`` for the others.

    Parameters
    ----------
    quotas : Series of float
        Proposed quota per rep (currency per quarter), indexed by unique rep id.
    overrides : mapping rep id -> amount, or None
        The planner's quotas (currency per quarter, finite, >= 0), e.g. the JSON dict
        ``salesplan run --overrides plan.xlsx`` passes to notebook 04 as
        ``quota_overrides``.  None or empty: nothing changes.
    unit : float > 0, optional
        Rounding unit (currency), e.g. ``TargetParams.rounding_unit``.

    Returns
    -------
    (quota, overridden) : (Series of float, Series of bool)
        Both indexed like ``quotas``.

    Raises
    ------
    ValueError
        One line: unknown rep ids (listed, with the expected ids), a value that is not a
        finite number >= 0, a non-unique index or a bad unit.
    """
    if not isinstance(quotas, pd.Series) or not quotas.index.is_unique:
        raise ValueError("apply_quota_overrides: quotas must be a Series indexed by unique rep id")
    if unit is not None and not (isinstance(unit, Real) and math.isfinite(unit) and unit > 0):
        raise ValueError(f"apply_quota_overrides: unit={unit!r}; expected a number > 0 or None")
    out = quotas.astype(float).copy()
    flag = pd.Series(False, index=quotas.index)
    if not overrides:
        return out, flag
    if not isinstance(overrides, Mapping):
        raise ValueError(f"quota_overrides: got {type(overrides).__name__}; expected a mapping rep id -> amount")
    unknown = sorted(str(k) for k in overrides if k not in out.index)
    if unknown:
        known = ", ".join(map(str, list(out.index[:3])))
        raise ValueError(f"quota_overrides: rep id(s) {unknown[:10]} not in the plan's reps "
                         f"({len(unknown)} unknown); expected rep_id values of the plan, e.g. {known}")
    for rep, v in overrides.items():
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"quota_overrides[{rep!r}] = {v!r}; expected a finite amount >= 0 (currency)")
        out[rep] = float(v) if unit is None else float(math.floor(v / unit + 0.5) * unit)
        flag[rep] = True
    return out, flag
