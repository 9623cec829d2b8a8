"""Cost of sales: tiered commission plans, their cost under uncertainty, quota-to-OTE.

Pay = base + commission (domain.md section 4).  Commission is tiered on the sales of a
period (a month by default): e.g. 5% on monthly sales up to 500k and 7% on the part
above.  Optional accelerators multiply the rate on the part of sales above a share of
quota, and a cap limits the commission of one period.

The plan cost is projected by simulation: pass an array of simulated sales per rep and
month (from any forecast's sample paths; this module does not import the forecast
package) and get the plan cost at P10 / P50 / P90, the cost-of-sales ratio and the
quota-to-OTE check (flag outside 4-6x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data.checks import check_number
from salesplan.planning.quota import rep_outcome_paths

__all__ = [
    "CommissionPlan",
    "plan_commission_cost",
    "rep_sales_paths",
    "commission",
    "pay",
    "on_target_earnings",
    "simulate_plan_cost",
    "quota_to_ote",
]


#: the package's one parameter validator (:func:`salesplan.data.checks.check_number`)
_num = check_number


@dataclass(frozen=True)
class CommissionPlan:
    """A tiered commission plan.

    Parameters
    ----------
    tiers : tuple of (threshold, rate)
        Rate table on the sales of one period.  ``threshold`` is where the tier starts
        (currency, the first must be 0, strictly ascending); ``rate`` applies to the part
        of sales within the tier (marginal, like income tax).  Example:
        ``((0, 0.05), (500_000, 0.07))`` = 5% up to 500k and 7% on the part above.
    progressive : bool
        Declares the plan progressive: rates must not decrease from one tier to the next.
    retroactive : bool
        True: the rate of the highest tier reached applies to *all* sales of the period
        (a "retro" plan) instead of only to the part within each tier.
    accelerators : tuple of (attainment, multiplier)
        On the part of sales above ``attainment * quota`` the tier rate is multiplied
        by ``multiplier`` (the highest accelerator reached applies to each slice).
        Attainments ascending, multipliers >= 0 (> 1 accelerates, < 1 decelerates).
        Needs a quota.
    cap : float, optional
        Maximum commission per period and rep (currency).
    base_per_period : float
        Fixed pay per period and rep (currency).
    period : str
        ``"month"`` (default) or ``"quarter"``: the period the tiers, cap and base refer
        to; simulated sales are given per month and summed per quarter when needed.
    """

    tiers: tuple = ((0.0, 0.05), (500_000.0, 0.07))
    progressive: bool = True
    retroactive: bool = False
    accelerators: tuple = ()
    cap: float | None = None
    base_per_period: float = 0.0
    period: str = "month"

    def __post_init__(self):
        if not self.tiers:
            raise ValueError("tiers must hold at least one (threshold, rate) pair")
        try:
            tiers = tuple((float(t), float(r)) for t, r in self.tiers)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"tiers must be (threshold, rate) pairs, got {self.tiers!r}") from exc
        object.__setattr__(self, "tiers", tiers)
        if tiers[0][0] != 0:
            raise ValueError(f"tiers: the first threshold must be 0, got {tiers[0][0]!r}")
        for i, (t, r) in enumerate(tiers):
            _num(f"tiers[{i}].threshold", t, lo=0)
            _num(f"tiers[{i}].rate", r, lo=0)
            if r > 1:
                raise ValueError(f"tiers[{i}].rate={r!r} is above 1 (rates are fractions: 0.05 = 5%)")
            if i and t <= tiers[i - 1][0]:
                raise ValueError(
                    f"tiers must be in ascending threshold order: tiers[{i}] threshold {t!r} "
                    f"is not above {tiers[i - 1][0]!r}"
                )
            if i and self.progressive and r < tiers[i - 1][1]:
                raise ValueError(
                    f"plan declared progressive but tiers[{i}].rate={r!r} is below the previous "
                    f"rate {tiers[i - 1][1]!r}; rates must not decrease (or set progressive=False)"
                )
        acc = tuple((float(a), float(m)) for a, m in self.accelerators)
        object.__setattr__(self, "accelerators", acc)
        for i, (a, m) in enumerate(acc):
            _num(f"accelerators[{i}].attainment", a, lo=0)
            _num(f"accelerators[{i}].multiplier", m, lo=0)
            if i and a <= acc[i - 1][0]:
                raise ValueError(f"accelerators must be in ascending attainment order, got {acc!r}")
        _num("cap", self.cap, lo=0, allow_none=True)
        _num("base_per_period", self.base_per_period, lo=0)
        if self.period not in ("month", "quarter"):
            raise ValueError(f"period must be 'month' or 'quarter', got {self.period!r}")

    @property
    def months_per_period(self) -> int:
        return 1 if self.period == "month" else 3


def _overlap(s, lo, hi):
    """Length of [lo, hi) inside [0, s): ``clip(min(s, hi) - lo, 0)``."""
    return np.clip(np.minimum(s, hi) - lo, 0.0, None)


def commission(sales, plan: CommissionPlan, quota=None) -> np.ndarray:
    """Commission of each period's sales under ``plan``.

    Marginal (default) plan::

        commission(s) = sum_k rate_k * m_j * |[t_k, t_{k+1}) ∩ [q A_j, q A_{j+1}) ∩ [0, s)|

    summed over tiers ``k`` and accelerator bands ``j`` (band 0 = below the first
    accelerator, multiplier 1; ``q`` = quota), then ``min(., cap)``.  Retroactive plan:
    ``rate of the tier containing s * s`` (accelerators then apply as above on the part
    above ``q A_j``, with that single rate).  Negative sales (net returns) earn 0.

    Parameters
    ----------
    sales : array-like
        Sales per period (currency), any shape.
    quota : array-like, optional
        Quota per period, broadcast against ``sales``; required with accelerators.

    Returns
    -------
    numpy.ndarray of commission (currency), the shape of ``sales``.
    """
    s = np.clip(np.asarray(sales, dtype=float), 0.0, None)
    th = np.array([t for t, _ in plan.tiers] + [np.inf])
    rates = np.array([r for _, r in plan.tiers])
    if plan.accelerators:
        if quota is None:
            raise ValueError("this plan has accelerators: pass the quota of each period")
        q = np.broadcast_to(np.asarray(quota, dtype=float), s.shape)
        if (q < 0).any():
            raise ValueError("quota must be >= 0")
        bands = [(np.zeros_like(s), 1.0)] + [(a * q, m) for a, m in plan.accelerators]
    else:
        bands = [(np.zeros_like(s), 1.0)]
    band_lo = [b for b, _ in bands]
    band_hi = band_lo[1:] + [np.full_like(s, np.inf)]
    mults = [m for _, m in bands]
    out = np.zeros_like(s)
    if plan.retroactive:
        k = np.searchsorted(th[:-1], s, side="right") - 1
        rate = rates[np.clip(k, 0, len(rates) - 1)]
        for lo, hi, m in zip(band_lo, band_hi, mults):
            out += rate * m * _overlap(s, lo, np.maximum(hi, lo))
    else:
        for k in range(len(rates)):
            for lo, hi, m in zip(band_lo, band_hi, mults):
                seg_lo = np.maximum(th[k], lo)
                seg_hi = np.minimum(th[k + 1], hi)
                out += rates[k] * m * _overlap(s, seg_lo, np.maximum(seg_hi, seg_lo))
    if plan.cap is not None:
        out = np.minimum(out, plan.cap)
    return out


def _to_periods(monthly: np.ndarray, plan: CommissionPlan) -> np.ndarray:
    k = plan.months_per_period
    if k == 1:
        return monthly
    n = monthly.shape[-1]
    if n % k:
        raise ValueError(f"quarterly plan needs a multiple of 3 months, got {n}")
    return monthly.reshape(*monthly.shape[:-1], n // k, k).sum(axis=-1)


def pay(sales_monthly, plan: CommissionPlan, quota_monthly=None) -> np.ndarray:
    """Total pay (base + commission) per period; last axis = months."""
    s = _to_periods(np.asarray(sales_monthly, dtype=float), plan)
    q = None if quota_monthly is None else _to_periods(
        np.broadcast_to(np.asarray(quota_monthly, dtype=float), np.shape(sales_monthly)), plan)
    return plan.base_per_period + commission(s, plan, q)


def on_target_earnings(quota_monthly, plan: CommissionPlan) -> np.ndarray:
    """OTE per rep over the months given: pay when sales equal quota every month.

    ``quota_monthly``: array (reps, months) or (months,).  Returns the sum over months.
    """
    q = np.asarray(quota_monthly, dtype=float)
    return pay(q, plan, q).sum(axis=-1)


def simulate_plan_cost(
    sales_sims,
    plan: CommissionPlan,
    quota=None,
    rep_ids=None,
    quantiles=(0.1, 0.5, 0.9),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan cost at P10 / P50 / P90 of sales, by simulation.

    Parameters
    ----------
    sales_sims : array (n_sims, n_reps, n_months)
        Simulated monthly sales per rep (e.g. forecast sample paths split by rep).
    quota : array (n_reps, n_months), optional
        Monthly quotas (needed for accelerators and attainment).
    rep_ids : sequence, optional
        Names of the reps (default ``0..n_reps-1``).

    Returns
    -------
    (summary, per_rep)
        ``summary`` indexed by ``P10``/``P50``/``P90`` (the quantiles asked) and
        ``mean``: ``sales``, ``commission``, ``pay`` (base + commission),
        ``cost_of_sales`` (pay / sales) -- each column is the quantile of its own
        distribution across simulations (the P90 cost is not necessarily the cost in the
        P90-sales scenario; ``commission_at_sales_q`` gives the commission of the
        simulations at each sales quantile, interpolated between the two simulations
        around it as the quantile itself is: ``(1 - w) c[(j)] + w c[(j+1)]`` with
        ``j + w = q (n - 1)`` over the simulations sorted by total sales.  The simulation
        *nearest* the quantile was used before: at the P50 of an even number of
        simulations two are equally near, and the last bit of their totals chose one).
        ``per_rep`` indexed by rep: ``sales_p50``, ``commission_p10``/``p50``/``p90``,
        ``attainment_p50`` (when quota given), ``ote``.
    """
    S = np.asarray(sales_sims, dtype=float)
    if S.ndim != 3:
        raise ValueError(f"sales_sims must be (n_sims, n_reps, n_months), got shape {S.shape}")
    n_sims, n_reps, n_months = S.shape
    if n_sims < 2:
        raise ValueError("sales_sims needs at least 2 simulations for quantiles")
    qm = None
    if quota is not None:
        qm = np.asarray(quota, dtype=float)
        if qm.shape not in ((n_reps, n_months), (n_reps, 1), (n_months,), ()):
            raise ValueError(f"quota must be (n_reps, n_months) = {(n_reps, n_months)}, got {qm.shape}")
        qm = np.broadcast_to(qm, (n_reps, n_months))
    ps = _to_periods(S, plan)
    pq = None if qm is None else np.broadcast_to(_to_periods(qm, plan), ps.shape)
    tot_com, rep_com = _commission_sums(ps, plan, pq)
    base = plan.base_per_period * ps.shape[-1] * n_reps
    tot_sales = S.sum(axis=(1, 2))
    tot_pay = tot_com + base
    cos = np.divide(tot_pay, tot_sales, out=np.full_like(tot_pay, np.nan), where=tot_sales > 0)
    labels = [f"P{int(round(100 * q))}" for q in quantiles]
    rows = {}
    order = np.argsort(tot_sales)
    for lab, q in zip(labels, quantiles):
        target = np.quantile(tot_sales, q)
        j, w = divmod(q * (n_sims - 1), 1.0)
        below, above = order[int(j)], order[min(int(j) + 1, n_sims - 1)]
        rows[lab] = {
            "sales": target,
            "commission": np.quantile(tot_com, q),
            "pay": np.quantile(tot_pay, q),
            "cost_of_sales": np.nanquantile(cos, q),
            "commission_at_sales_q": (1.0 - w) * tot_com[below] + w * tot_com[above],
        }
    rows["mean"] = {"sales": tot_sales.mean(), "commission": tot_com.mean(), "pay": tot_pay.mean(),
                    "cost_of_sales": tot_pay.mean() / tot_sales.mean() if tot_sales.mean() > 0 else np.nan,
                    "commission_at_sales_q": np.nan}
    summary = pd.DataFrame.from_dict(rows, orient="index")
    idx = list(rep_ids) if rep_ids is not None else list(range(n_reps))
    if len(idx) != n_reps:
        raise ValueError(f"rep_ids has {len(idx)} names for {n_reps} reps")
    per = pd.DataFrame(
        {
            "sales_p50": np.median(S.sum(axis=2), axis=0),
            "commission_p10": np.quantile(rep_com, 0.1, axis=0),
            "commission_p50": np.quantile(rep_com, 0.5, axis=0),
            "commission_p90": np.quantile(rep_com, 0.9, axis=0),
        },
        index=pd.Index(idx, name="rep_id"),
    )
    if qm is not None:
        per["attainment_p50"] = np.median(S.sum(axis=2) / qm.sum(axis=1), axis=0)
        per["ote"] = on_target_earnings(qm, plan)
    return summary, per


#: commission values computed at a time by :func:`_commission_sums` (~16 MB of float64)
_COMMISSION_BLOCK = 2_000_000


def _commission_sums(ps: np.ndarray, plan: CommissionPlan, pq: np.ndarray | None):
    """Commission per simulation (summed over reps and periods) and per simulation and rep
    (summed over periods) of the period sales ``ps`` (sims, reps, periods), computed a
    block of simulations at a time: :func:`commission` is value by value and each sum
    reads one simulation, so the sums are those of the whole array, without its ~9
    temporary arrays of the whole size at once (1.4 GB for 1,000 simulations of 6,709
    reps' months)."""
    n_sims = ps.shape[0]
    step = max(1, _COMMISSION_BLOCK // max(1, ps[0].size))
    tot_com = np.empty(n_sims)
    rep_com = np.empty(ps.shape[:2])
    for i in range(0, n_sims, step):
        com = commission(ps[i:i + step], plan, None if pq is None else pq[i:i + step])
        tot_com[i:i + step] = com.sum(axis=(1, 2))
        rep_com[i:i + step] = com.sum(axis=2)
    return tot_com, rep_com


def quota_to_ote(quota, ote, low: float = 4.0, high: float = 6.0, rep_ids=None) -> pd.DataFrame:
    """Quota-to-OTE ratio per rep, flagged outside ``[low, high]``.

    ``ratio = quota / OTE`` over the same period (rule of thumb: a rep should carry 4-6x
    her on-target earnings).  ``flag`` = "low" (the plan pays too much for the quota),
    "high" (the quota is heavy for the pay) or "".
    """
    _num("low", low, lo=0, lo_open=True)
    _num("high", high, lo=0)
    if low >= high:
        raise ValueError(f"low={low!r} must be below high={high!r}")
    q = np.atleast_1d(np.asarray(quota, dtype=float))
    o = np.broadcast_to(np.atleast_1d(np.asarray(ote, dtype=float)), q.shape)
    if (o <= 0).any():
        raise ValueError("ote must be > 0 for every rep")
    ratio = q / o
    flag = np.where(ratio < low, "low", np.where(ratio > high, "high", ""))
    idx = list(rep_ids) if rep_ids is not None else list(range(len(q)))
    return pd.DataFrame({"quota": q, "ote": o, "ratio": ratio, "flag": flag},
                        index=pd.Index(idx, name="rep_id"))


def rep_sales_paths(region_paths, rep_region, quota_monthly, *, noise_sd: float, seed: int) -> np.ndarray:
    """Simulated monthly sales of each rep: their share of the region's simulated sales.

    ``sales_{s,i,m} = R_{s,g(i),m} x q_{i,m} / sum_{j in g(i)} q_{j,m} x exp(sigma z_{s,i} -
    sigma^2 / 2)``: the region's path, the rep's share of the region's monthly quota and a
    log-normal factor with mean 1 (``sigma = noise_sd``, ``z`` iid N(0, 1) from ``seed``) --
    the regional outcome model of :func:`salesplan.planning.quota.rep_outcome_paths`, the
    one the targets use for reps without their own forecast.

    Parameters
    ----------
    region_paths : array (S, G, M)
        Region sales per path and month (currency), regions in sorted order of ``rep_region``.
    rep_region : sequence of str (N,)
        Each rep's region.
    quota_monthly : array (N, M)
        Monthly quotas (currency).

    Returns
    -------
    ndarray (S, N, M), currency per month.
    """
    regions = sorted(set(map(str, rep_region)))
    reg = np.asarray([str(r) for r in rep_region])
    q = np.asarray(quota_monthly, dtype=float)
    idx = np.array([regions.index(r) for r in reg], dtype=int)
    share = q / np.array([q[reg == r].sum(axis=0) for r in reg]).clip(min=1e-9)
    return rep_outcome_paths(np.asarray(region_paths, dtype=float), idx, share, None, np.zeros(len(reg), bool),
                             spread=1.0, noise_sd=noise_sd, seed=seed)


def plan_commission_cost(dist, rep_quotas: pd.DataFrame, month_targets: pd.DataFrame, plan: CommissionPlan, *,
                         noise_sd: float = 0.25, seed: int = 0, ote_low: float = 4.0, ote_high: float = 6.0):
    """Cost of the commission plan over the forecast's paths, and the quota-to-OTE check.

    Only reps with a quota are paid commission (vacancies and accounts without a rep are
    held by the region's manager).  Rep sales: :func:`rep_sales_paths` on the region paths
    of ``dist`` (``dist.cube("region", regions)``, array (S, G, 3)).

    Parameters
    ----------
    dist : QuarterDistribution
        The forecast's sample paths of the quarter.
    rep_quotas : DataFrame
        The targets plan's ``reps`` table (``rep_id, region, quota, vacant``).
    month_targets : DataFrame
        The targets plan's ``months`` table (rows ``level == "rep"``: ``entity, month, quota``).

    Returns
    -------
    (cost_summary, cost_per_rep, ote_check)
        As :func:`simulate_plan_cost` and :func:`quota_to_ote` (with the rep's ``region``).
    """
    reps = rep_quotas[(rep_quotas["quota"] > 0) & ~rep_quotas["vacant"].astype(bool)]
    reps = reps.sort_values(["region", "rep_id"], ignore_index=True)
    rep_ids = reps["rep_id"].astype(str).tolist()
    rm = month_targets[month_targets["level"] == "rep"]
    months = sorted(rm["month"].unique())
    quota_m = (rm.pivot_table(index="entity", columns="month", values="quota", aggfunc="sum")
               .reindex(index=rep_ids, columns=months).fillna(0.0).to_numpy())
    region_paths = dist.cube("region", sorted(reps["region"].unique()))
    sims = rep_sales_paths(region_paths, reps["region"].tolist(), quota_m, noise_sd=noise_sd, seed=seed)
    summary, per_rep = simulate_plan_cost(sims, plan, quota=quota_m, rep_ids=rep_ids)
    ote = quota_to_ote(quota_m.sum(axis=1), per_rep["ote"].to_numpy(), low=ote_low, high=ote_high,
                       rep_ids=rep_ids).join(reps.set_index("rep_id")[["region"]])
    return summary, per_rep, ote
