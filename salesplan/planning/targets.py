"""Quarterly target proposals: company target, split by region, product line, rep, month and week.

Main entry point::

    dist = QuarterDistribution(paths_frame)            # or quarter_paths_from_forecast(...)
    plan = propose_targets(data, dist, TargetParams(quarter="2027Q1"))
    plan.company, plan.regions, plan.reps, plan.months, plan.weeks, plan.smart
    salesplan.reports.workbook.write_plan_workbook(plan.tables(), "plan_2027Q1.xlsx")
    compare_scenarios(data, dist, default_scenarios(TargetParams(quarter="2027Q1")))

Inputs are plain: a :class:`SalesData` bundle and a :class:`QuarterDistribution` --
sample paths of monthly revenue of the plan quarter per node (company, region and
optionally rep).  Any forecaster can feed it; :func:`quarter_paths_from_forecast` adapts
the output of :mod:`salesplan.models.forecast`.

The method (every number is a parameter of :class:`TargetParams`)
------------------------------------------------------------------
**Company target** (:func:`company_target`).  ``board_target`` when given; else
``LY * (1 + growth)`` (``LY`` = revenue of the same quarter last year) when given; else
(default) the ``1 - target_probability`` quantile of the bottom-up distribution
``F_s + pipeline_increment`` (``F_s`` = company quarter total on path s), so that
``P(actual >= target) = target_probability``, raised to the median of ``F`` when below
(``floor_at_p50``).  A board or growth target below the median is kept and the gap
``below_p50`` reported.  The bridge (:func:`target_bridge`): LY -> P50 -> pipeline ->
stretch -> target -> over-assignment -> sum of quotas.

*No double counting of the pipeline* (``pipeline_rule``):

* ``"backtest"`` (default): the company's own history says how much of the open pipeline
  the forecast misses.  For each of the last ``pipeline_backtest_quarters`` complete
  quarters q and region r: a back-test forecast ``Fhat_rq`` made before q from the
  quarters before it (seasonal naive x the trailing year's growth, :func:`_drift_forecast`),
  the revenue ``Rev_rq`` and ``W_rq`` = weighted pipeline open the day before q that is
  expected to close within q (``amount * P(win)``, :func:`salesplan.planning.funnel.weighted_pipeline`).
  The miss ``Rev - Fhat`` is regressed on ``W`` within each region (region fixed
  effects, so a region's usual pipeline counts as already in the forecast), the
  coefficient shrunk towards 0 by its own noise and kept in [0, 1]
  (:func:`pipeline_effect`: ``beta``, posterior sd ``sd``); ``rho_r = sum_q W_rq / sum_q
  Fhat_rq`` is the region's usual pipeline per forecast unit.  Then
  ``increment_r = beta * (W_r(as_of) - rho_r * F_r)`` -- negative when the pipeline is
  thinner than usual -- and on path s the increment is ``(beta + sd * u_s) * (W_r - rho_r
  F_r)`` (``u_s`` iid N(0, 1)), so the odds carry the coefficient's uncertainty.  When the
  pipeline adds nothing beyond the revenue history (as in the generator, whose won deals
  bring no orders beyond its order process) ``beta`` is 0 in most histories and the odds
  are the forecast's; when revenue moves with the pipeline, ``beta`` -> 1.  Too little
  history (fewer than 3 quarters or ``R + 3`` region-quarters): increment 0, with a note.
* ``"excess"`` (the rule before 2026-12): the forecast implies the *usual* amount of open
  pipeline; with ``rho = sum_q W(start_q) / sum_q Rev_q`` over the last
  ``pipeline_history_quarters`` quarters, ``increment_r = max(0, W_r(as_of) - rho * F_r)``.
  It assumes that every currency unit of pipeline above the usual is revenue the forecast
  misses, and the clip at 0 keeps only upward deviations: on 20 generated histories the
  plan's company target, reported at ~57%, was met in 25% (stage weights) / 15% (scored).
* ``"new_customers"``: only weighted pipeline of customers without any order before
  ``as_of`` (the forecast of existing revenue cannot contain it).
* ``"none"``: no pipeline increment.

*Which win probability weighs a deal* (``pipeline_weights``), the same for ``W(as_of)``
and for every ``W(start_q)`` of ``rho``:

* ``"scored"`` (default): ``amount * p_win * 1[in horizon]`` with ``p_win`` the deal's own
  win probability (:func:`salesplan.planning.pipeline.scored_pipeline`).  Each snapshot date ``d``
  is scored by a :class:`~salesplan.planning.pipeline.WinModel` trained only on the data known at
  ``d`` (``data.until(d)``, deals closed by ``d``), so ``rho`` measures the ratio as the
  scored pipeline would have shown it then (no look-ahead).  The timing filter
  ``in horizon`` is that of :func:`salesplan.planning.funnel.weighted_pipeline`.  When a model
  cannot be trained at one of the dates (too few closed deals), every date falls back to
  ``"stage"`` with a note, so that ``W`` and ``rho`` never mix the two weights.
* ``"stage"``: ``amount * P(win | stage)`` (stage averages of
  :func:`salesplan.planning.funnel.estimate_rates`).

Why ``"scored"`` is the default (2026-12-01): on 20 generated histories x 4 quarters
(``benchmarks/pipeline_scoring.py``) the scored pipeline's error on what the open deals won
inside the quarter was MAE 128.8 k vs 140.3 k with stage averages (RMSE 167.8 k vs
177.6 k), and with the ``backtest`` rule the targets' calibration benchmark
(``benchmarks/targets_calibration.py``, 20 histories) gives the same hit rates with both
weights (company 50.0% at P = 0.6, regions 59.2% / 60.0%, reps 61.5%; RESULTS, "Pipeline
increment: cause and the back-test rule").  Its cost: a win model per back-test quarter
(``propose_targets`` on the bundled demo ~50 s instead of ~2 s on a loaded machine).

**Over-assignment** (:func:`choose_over_assignment`).  ``company quota = target *
over_assignment``, split over regions in proportion to the region targets; rep quotas sum
to their region quota.  ``over_assignment=None`` (default): the factor on 1.00 ..
``max_over_assignment`` whose expected share of reps at quota is nearest the middle of
``healthy_share``.

**Regions.**  ``base_r = F_r (mean) + increment_r``; the uplift ``U = target - sum base``
is split by ``u_r ∝ w_forecast * e(maturity_r) * F_r/sum F  +  w_potential *
n(maturity_r) * P_r/sum P`` (``P`` = market potential; ``e``/``n`` = the weight of growth
from existing / new accounts by maturity: mature regions deepen existing accounts,
emerging regions open new ones).  The two terms are reported as ``uplift_existing`` and
``uplift_new``.  A negative uplift is taken in proportion to ``base_r``.  Growth caps:
``target_r / ref_r - 1`` in ``[min_growth, max_growth]`` with ``ref_r`` = last year's
quarter (the base forecast when last year is 0); capped regions are fixed at the cap and
the rest re-split (water-filling); infeasible caps raise ``ValueError``.

**Reps** (:func:`build_slots`, :func:`rep_basis`, :func:`split_rep_quotas`; the rule and
the band are in :mod:`salesplan.planning.quota`).  Established reps (4+ quarters in post)
by a blend of their own forecast, recent share of the region's sales and capacity, inside
``[band_low, band_high] x own forecast``; new hires, leavers and vacancies by capacity;
accounts without a current rep (``HOUSE:<region>``) by their own forecast, held by the
region's manager.  Capacity of rep ``i`` in month ``m``:
``cap_im = level_weight[level_i] * ramp(t_im) * presence_im`` with ``t_im`` = month
number of tenure (hire month = 1), ``ramp(t) = min(1, (t - 0.5) / ramp_months)`` (linear
at mid-month tenure, full productivity from month ``ramp_months + 1``; or
``ramp_curve[t-1]``; :func:`salesplan.planning.allocation.ramp_factor`), ``presence_im`` = share
of the month's days on which the rep is employed (``hire_date <= day < exit_date``).
*Vacancies* (flagged, held by the region's manager, capacity
``vacancy_capacity * level_weight``): the days after a rep's exit in the quarter (unless
a hire in the same region starts on/after the exit within the quarter), territories
given in ``vacancies=`` (or detected: a rep who left within ``vacancy_lookback_days``
before the quarter, no same-region hire since, and whose customers' orders since the
exit carry no active rep), and a region without any rep.  A rep's months split their
quota by ``cap_im * s_rm`` where ``s_rm`` is the region's seasonal month share.

**Product lines** (:func:`product_split`): each region's target by its product mix of the
last ``product_quarters`` complete quarters.

**Fiscal calendar and currency.**  ``quarter`` is a fiscal quarter of a year starting in
``fiscal_year_start_month`` (:mod:`salesplan.planning.fiscal_calendar`); every amount table has a
``currency`` column.

**Time.**  Month shares ``s_rm`` = forecast mean of month m / forecast mean of the
quarter (the forecast's seasonal profile).  Weeks (Monday start) get each month's
amount in proportion to ``weekday_weights`` of their days in that month.

**Rounding rule.**  Company target and quota are rounded to the nearest
``rounding_unit`` (default 100).  Every split of a rounded parent into children is done
by the *largest-remainder method* in whole units (:func:`largest_remainder`): children
get ``floor(exact / unit)`` units and the remaining units go to the largest fractional
parts (ties: first in order).  Region targets split the company target; region quotas
split the company quota; rep quotas split the region quota; rep months split the rep
quota; region target months split the region target; rep/region-target weeks split the
rep quota / region target.  Upper levels of months and weeks are sums of the level below.
Hence exactly: company = sum regions = sum reps (quota), quarter = sum months = sum weeks.

**Attainment odds** (:func:`attainment`).  ``P(actual >= target)`` = share of sample
paths at or above the target.  Company and regions: forecast paths + pipeline increment.
Established reps and house accounts: their own reconciled forecast paths, widened around
their mean by ``rep_spread`` (they move with their region); other slots: the region's
path x the slot's share x ``exp(sigma z - sigma^2/2)`` (``sigma = rep_noise_sd``, ``z``
iid N(0, 1), ``seed``).  The share of reps at quota is computed per path and compared
with the healthy band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from salesplan.data.paths import SamplePaths
from salesplan.data.schema import REGION_MATURITIES, REP_LEVELS, SalesData
from salesplan.planning import funnel as _funnel
from salesplan.planning import quota as _q
from salesplan.planning.allocation.headcount import ramp_factor
from salesplan.planning.context import covers_quarter
from salesplan.planning.fiscal_calendar import (
    currency_label,
    fiscal_freq,
    fiscal_label,
    fiscal_quarter,
    quarter_months,
)

__all__ = [
    "QuarterDistribution",
    "TargetParams",
    "TargetPlan",
    "attainment_odds",
    "compare_scenarios",
    "default_scenarios",
    "largest_remainder",
    "memo_scorer",
    "parse_quarter",
    "pipeline_backtest_fit",
    "pipeline_dates",
    "pipeline_effect",
    "pipeline_increment",
    "pipeline_rho",
    "plan_funnel",
    "propose_targets",
    "propose_targets_and_basis",
    "quarter_paths_from_forecast",
    "rep_capacity",
    "smart_check",
]

LEVELS = ("company", "region", "rep")
PIPELINE_WEIGHTS = ("scored", "stage")
PIPELINE_RULES = ("backtest", "excess", "new_customers", "none")
COMPANY = "total"


# --------------------------------------------------------------------------- helpers

def parse_quarter(quarter) -> pd.Period:
    """``"2027Q1"``, ``"2027-Q1"``, ``"2027q1"`` or a ``pandas.Period`` -> quarterly Period."""
    if isinstance(quarter, pd.Period):
        if quarter.freqstr[0] != "Q":
            raise ValueError(f"quarter={quarter!r}: expected a quarterly period")
        return pd.Period(quarter.start_time, freq="Q")
    if not isinstance(quarter, str):
        raise ValueError(f"quarter={quarter!r}: expected text like '2027Q1'")
    s = quarter.strip().upper().replace("-", "").replace(" ", "")
    if len(s) != 6 or s[4] != "Q" or not s[:4].isdigit() or s[5] not in "1234":
        raise ValueError(f"quarter={quarter!r}: expected text like '2027Q1'")
    return pd.Period(s, freq="Q")


def _quarter_months(q: pd.Period) -> pd.DatetimeIndex:
    return quarter_months(q)


def largest_remainder(total: float, weights, unit: float = 100.0) -> np.ndarray:
    """Split ``total`` into multiples of ``unit`` in proportion to ``weights``, summing exactly.

    Parameters
    ----------
    total : float
        A non-negative multiple of ``unit`` (currency).
    weights : array-like of float >= 0
        Relative shares; all zero -> equal shares.
    unit : float
        Rounding unit (currency), e.g. 100.

    Returns
    -------
    ndarray
        ``x_i = unit * (floor(n * w_i / sum w) + b_i)`` with ``n = total / unit`` and
        ``b_i = 1`` for the ``n - sum floor(...)`` largest fractional parts (ties: lowest
        index first), so ``sum x = total`` exactly.
    """
    w = np.asarray(weights, dtype=float).ravel()
    if len(w) == 0:
        if abs(total) > 0:
            raise ValueError(f"cannot split {total} over no children")
        return w
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and >= 0, got {w.tolist()[:10]}")
    n = total / unit
    if not math.isfinite(n):
        raise ValueError(f"total={total} is not a non-negative multiple of unit={unit}")
    n_int = round(n)
    if abs(n - n_int) > 1e-6 or n_int < 0:
        raise ValueError(f"total={total} is not a non-negative multiple of unit={unit}")
    if w.sum() <= 0:
        w = np.ones_like(w)
    exact = n_int * w / w.sum()
    fl = np.floor(exact + 1e-9)
    fl = np.minimum(fl, np.ceil(exact))
    k = n_int - int(fl.sum())
    if k > 0:
        order = np.argsort(-(exact - fl), kind="stable")
        fl[order[:k]] += 1
    elif k < 0:  # pragma: no cover - numerical safety
        order = np.argsort(exact - fl, kind="stable")
        fl[order[: -k]] -= 1
    return fl * unit


def largest_remainder_rows(totals, weights, unit: float = 100.0) -> np.ndarray:
    """:func:`largest_remainder` of each row: ``out[i] = largest_remainder(totals[i], weights[i], unit)``.

    The same arithmetic on whole arrays (row sums over the last axis add the row's
    elements in the order of a one-row sum; the fractional parts ranked by a stable sort
    per row), so every row is bit-identical to the one-row call; a row the one-row call
    would refuse (negative or non-finite weights, a total not a multiple of ``unit``) or
    would fix after rounding (``k < 0``) goes through :func:`largest_remainder` itself.

    Parameters
    ----------
    totals : array-like of float, shape (n,)
        Non-negative multiples of ``unit`` (currency).
    weights : array-like of float >= 0, shape (n, m)
        Relative shares of each row; a row of zeros -> equal shares.
    unit : float
        Rounding unit (currency).

    Returns
    -------
    ndarray, shape (n, m)
        Each row in multiples of ``unit``, summing exactly to its total (currency).
    """
    t = np.asarray(totals, dtype=float).ravel()
    if len(t) == 0:
        return np.array([])  # as ``np.array`` of no rows
    w0 = np.ascontiguousarray(np.asarray(weights, dtype=float).reshape(len(t), -1))  # rows contiguous: 1-D sums
    if w0.shape[1] == 0:
        return np.array([largest_remainder(t[i], w0[i], unit) for i in range(len(t))])
    w = w0
    n = t / unit
    n_int = np.round(n)
    bad = ((~np.isfinite(w) | (w < 0)).any(axis=1) | ~np.isfinite(n) | (np.abs(n - n_int) > 1e-6)
           | (n_int < 0))
    w = np.where((w.sum(axis=1) <= 0)[:, None], 1.0, w)
    exact = n_int[:, None] * w / w.sum(axis=1, keepdims=True)
    fl = np.minimum(np.floor(exact + 1e-9), np.ceil(exact))
    k = n_int - fl.sum(axis=1)
    order = np.argsort(-(exact - fl), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(w.shape[1])[None, :].repeat(len(t), 0), axis=1)
    out = (fl + (rank < k[:, None])) * unit
    for i in np.where(bad | (k < 0))[0]:  # refused, or the rare downward fix: the one-row call
        out[i] = largest_remainder(t[i], w0[i], unit)
    return out


def _round_unit(x: float, unit: float) -> float:
    return float(math.floor(x / unit + 0.5) * unit)


def _frozen_mapping(name, value, allowed, lo=0.0, lo_open=False):
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}={value!r}: expected a mapping")
    out = {}
    for k, v in value.items():
        if allowed is not None and k not in allowed:
            raise ValueError(f"{name}: unknown key {k!r}; expected keys from {list(allowed)}")
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{k!r}]={v!r}: expected a number") from None
        if not np.isfinite(fv) or (fv <= lo if lo_open else fv < lo):
            raise ValueError(f"{name}[{k!r}]={v!r}: expected a number {'>' if lo_open else '>='} {lo}")
        out[k] = fv
    return MappingProxyType(out)


# --------------------------------------------------------------------------- distribution

class QuarterDistribution:
    """Sample paths of the plan quarter's monthly revenue per node.

    Parameters
    ----------
    frame : DataFrame
        Long format, one row per sample value: ``level`` (``"company"``, ``"region"`` or
        ``"rep"``), ``node`` (region name, rep id; ``"total"`` for the company), ``month``
        (first day of the month), ``path`` (int sample index) and ``value`` (revenue of
        the node in the month on that path, currency).  Paths with the same index are
        one joint draw (coherent across nodes), so common shocks are kept.  Every node
        needs every month of one calendar quarter and the same set of paths.  Without a
        company level, the company path is the sum of the region paths.  Text and date
        columns may be plain or categorical (:meth:`to_frame`'s compact frame: its
        codes are used as they are); rows in any order, those in :meth:`to_frame`'s
        order are reshaped into the cubes without an index per row.

    Attributes
    ----------
    months : DatetimeIndex
        The quarter's three month starts.
    quarter : pandas.Period
    n_paths : int
    """

    def __init__(self, frame: pd.DataFrame):
        need = ["level", "node", "month", "path", "value"]
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"quarter paths: expected a DataFrame, got {type(frame).__name__}")
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ValueError(f"quarter paths: missing column(s) {missing}; expected {need}")
        lv_code, lv_names = _text_codes(frame["level"])
        runs = _runs(lv_code)  # one block of rows per level (to_frame's layout): a slice per level
        lv_order = list(dict.fromkeys(k for k, _, _ in runs)) if runs is not None else list(pd.unique(lv_code))
        bad_lv = sorted(set(lv_names[lv_order]) - set(LEVELS))
        if bad_lv:
            raise ValueError(f"quarter paths: unknown level(s) {bad_lv}; expected {list(LEVELS)}")
        vals = frame["value"]
        if not pd.api.types.is_float_dtype(vals) or isinstance(vals.dtype, pd.api.extensions.ExtensionDtype):
            vals = pd.to_numeric(vals, errors="coerce")
        values = vals.to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(values).all():
            raise ValueError("quarter paths: column 'value' has missing or non-finite values")
        months, mi_all = _month_codes(frame["month"])
        path_all = frame["path"].to_numpy()
        paths = _distinct(path_all)
        # path p is row p of the cube: no index array when the paths are 0 .. S-1 already
        pi_all = path_all if _is_range(paths) else np.searchsorted(paths, path_all)
        node_code, node_names = _text_codes(frame["node"])
        self._start(months, len(paths))
        contiguous = runs is not None and len(runs) == len(lv_order)
        for k in lv_order:  # levels in order of appearance
            lv = lv_names[k]
            if contiguous:  # the level's rows are a slice: no copy
                _, a, b = next(r for r in runs if r[0] == k)
                rows = slice(a, b)
                seen = np.zeros(len(node_names), dtype=bool)
                seen[node_code[rows]] = True
                present = np.flatnonzero(seen)
            else:
                rows = np.flatnonzero(lv_code == k)
                present = np.unique(node_code[rows])
            nodes = pd.Index(sorted(set(node_names[present])))
            lut = _small_int(nodes.get_indexer(node_names))
            self._cubes[lv] = (nodes, self._level_cube(lv, nodes, lut[node_code[rows]], pi_all[rows],
                                                       mi_all[rows], values[rows], path_all, rows, months))
        self._finish()

    def _level_cube(self, lv, nodes, ni, pi, mi, vals, path_all, rows, months) -> np.ndarray:
        """The cube ``(paths, nodes, 3)`` of one level's rows: path ``pi``, node ``ni`` and
        month ``mi`` of each value ``vals``; a one-line error on a duplicate or missing value.
        Rows already in cube order (path, node, month: the layout of :meth:`to_frame`) are
        reshaped, others scattered: the same cube either way."""
        S, N = self.n_paths, len(nodes)
        if len(vals) == S * N * 3 and _in_cube_order(pi, ni, mi, S, N):
            return vals.reshape(S, N, 3).copy()
        flat = (pi.astype(np.int64) * N + ni) * 3 + mi
        if np.bincount(flat, minlength=S * N * 3).max() > 1:
            g = pd.DataFrame({"node": nodes[ni], "month": months[mi], "path": path_all[rows]})
            r = g[g.duplicated(["node", "month", "path"])].iloc[0]
            raise ValueError(
                f"quarter paths: duplicate row level={lv!r} node={r['node']!r} month={r['month'].date()} path={r['path']}"
            )
        counts = np.bincount(ni, minlength=N)
        short = nodes[counts != S * 3]
        if len(short):
            raise ValueError(
                f"quarter paths: level {lv!r} node(s) {list(short[:5])} lack some"
                f" month x path values (need {S} paths x 3 months)"
            )
        arr = np.zeros((S, N, 3))
        arr[pi, ni, mi] = vals
        return arr

    def _start(self, months: pd.DatetimeIndex, n_paths: int) -> None:
        """Set the quarter's months (three consecutive month starts, checked by the caller),
        the quarter and the number of paths; no cubes yet."""
        self.months = months
        # the quarter in a fiscal frequency whose quarters start in months[0]'s month
        self.quarter = pd.Period(months[0], freq=fiscal_freq((months[0].month - 1) % 3 + 1))
        self.n_paths = n_paths
        if self.n_paths < 2:
            raise ValueError("quarter paths: need at least 2 sample paths")
        self._cubes: dict[str, tuple[pd.Index, np.ndarray]] = {}

    def _finish(self) -> None:
        """The company cube from the regions' when the paths have no company level."""
        self.company_from_regions = "company" not in self._cubes
        if self.company_from_regions:
            if "region" not in self._cubes:
                raise ValueError("quarter paths: need level 'company' or 'region'")
            arr = self._cubes["region"][1].sum(axis=1, keepdims=True)
            self._cubes["company"] = (pd.Index([COMPANY]), arr)

    @classmethod
    def _from_series(cls, values: np.ndarray, levels: Sequence[str], nodes: Sequence[str],
                     months: pd.DatetimeIndex, month_pos: np.ndarray) -> QuarterDistribution:
        """Build from per-series paths without a long frame.

        ``values`` (series, paths, periods) in currency; series ``i`` adds to the node
        ``(levels[i], nodes[i])`` (level ``"other"``: dropped) and period ``t`` to the month
        ``months[month_pos[t]]`` (``-1``: outside the quarter).  Several series or periods
        of one node and month are summed in series-then-period order with compensated
        (Kahan) summation -- the sums of ``pandas`` group-by, so the cubes equal those of
        the long frame's constructor bit for bit.
        """
        if len(months) != 3 or list(months) != list(_quarter_months(months[0].to_period("M"))):
            raise ValueError(
                "quarter paths: 'month' must cover exactly three consecutive months (one calendar"
                f" or fiscal quarter), got {[str(m.date()) for m in months]}"
            )
        self = cls.__new__(cls)
        self._start(months, values.shape[1])
        for lv in LEVELS:
            rows = [i for i, x in enumerate(levels) if x == lv]
            if not rows:
                continue
            idx = pd.Index(sorted({str(nodes[i]) for i in rows}))
            total = np.zeros((self.n_paths, len(idx), 3))
            comp = np.zeros_like(total)
            for i, ni in zip(rows, idx.get_indexer([str(nodes[i]) for i in rows])):
                for t in np.flatnonzero(month_pos >= 0):
                    _kahan_add(total[:, ni, month_pos[t]], comp[:, ni, month_pos[t]], values[i, :, t])
            if not np.isfinite(total).all():
                raise ValueError("quarter paths: column 'value' has missing or non-finite values")
            self._cubes[lv] = (idx, total)
        self._finish()
        return self

    @classmethod
    def from_arrays(cls, months, *, company=None, regions=None, reps=None) -> QuarterDistribution:
        """Build from arrays ``(paths, months)`` per node.

        Parameters
        ----------
        months : sequence of date-like
            The quarter's three month starts.
        company : array (S, 3), optional
        regions, reps : mapping node -> array (S, 3), optional
        """
        months = pd.DatetimeIndex(pd.to_datetime(list(months)))
        parts = []

        def add(level, node, arr):
            a = np.asarray(arr, dtype=float)
            if a.ndim != 2 or a.shape[1] != len(months):
                raise ValueError(f"{level} {node!r}: expected an array (paths, {len(months)}), got {a.shape}")
            S = a.shape[0]
            parts.append(pd.DataFrame({
                "level": level, "node": str(node),
                "month": np.tile(months.to_numpy(), S),
                "path": np.repeat(np.arange(S), len(months)),
                "value": a.ravel(),
            }))

        if company is not None:
            add("company", COMPANY, company)
        for lv, d in (("region", regions), ("rep", reps)):
            for node, arr in (d or {}).items():
                add(lv, node, arr)
        if not parts:
            raise ValueError("from_arrays: give company, regions or reps")
        return cls(pd.concat(parts, ignore_index=True))

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(lv for lv in LEVELS if lv in self._cubes)

    def without_reps(self, stand_in_region: str | None = None) -> QuarterDistribution:
        """The same joint paths without the rep level.

        Equal to ``QuarterDistribution(self.to_frame().query("level != 'rep'"))`` (nodes as
        text, sorted; the company cube kept as it is) without the long frame of every rep's
        values (20M rows at scale 100).  ``stand_in_region``: when there is no region level,
        the company paths also stand for one region of that name (a company-only forecast
        planned as one region).
        """
        out = QuarterDistribution.__new__(QuarterDistribution)
        out._start(self.months, self.n_paths)
        for lv in self.levels:
            if lv == "rep":
                continue
            idx, arr = self._cubes[lv]
            names = np.array([str(n) for n in idx], dtype=object)
            order = np.argsort(names, kind="stable")
            out._cubes[lv] = (pd.Index(names[order]), arr[:, order, :].copy())
        if stand_in_region is not None and "region" not in out._cubes:
            out._cubes["region"] = (pd.Index([str(stand_in_region)]), out._cubes["company"][1].copy())
        out._finish()
        return out

    def nodes(self, level: str) -> list[str]:
        return list(self._cube(level)[0])

    def _cube(self, level):
        if level not in self._cubes:
            raise ValueError(f"quarter paths have no level {level!r}; levels: {list(self.levels)}")
        return self._cubes[level]

    def cube(self, level: str, nodes: Sequence[str] | None = None) -> np.ndarray:
        """Array ``(paths, nodes, 3)`` of monthly values (nodes absent -> zeros)."""
        idx, arr = self._cube(level)
        if nodes is None:
            return arr
        pos = idx.get_indexer([str(n) for n in nodes])
        out = np.zeros((arr.shape[0], len(pos), arr.shape[2]))
        ok = pos >= 0
        out[:, ok, :] = arr[:, pos[ok], :]
        return out

    def totals(self, level: str) -> pd.DataFrame:
        """Quarter totals: DataFrame ``paths x nodes`` (currency)."""
        idx, arr = self._cube(level)
        return pd.DataFrame(arr.sum(axis=2), columns=idx)

    def monthly_means(self, level: str) -> pd.DataFrame:
        """Mean over paths: DataFrame ``nodes x months`` (currency)."""
        idx, arr = self._cube(level)
        return pd.DataFrame(arr.mean(axis=0), index=idx, columns=self.months)

    def to_frame(self) -> pd.DataFrame:
        """The long form ``level, node, month, path, value``, compact.

        One row per value, in cube order: level (company, region, rep), then path, node
        and month, so :class:`QuarterDistribution` of the frame reshapes instead of
        scattering.  ``level``, ``node`` and ``month`` are categoricals (text, text and
        month starts; categories sorted: sorting the frame sorts as the plain values
        would), ``path`` is ``int16`` (``int32`` beyond 32,767 paths) and ``value`` float
        (currency).  At 1,000 paths x 6,716 nodes x 3 months: 20M rows in ~280 MB
        (object text columns took ~1.6 GB).  The plan store keeps the dtypes (an Arrow
        dictionary per categorical); :class:`QuarterDistribution` reads frames with plain
        text and date columns too (paths stored by earlier versions).
        """
        levels = self.levels
        cubes = [self._cubes[lv] for lv in levels]
        names = pd.Index(sorted({str(n) for idx, _ in cubes for n in idx}))
        sizes = [arr.size for _, arr in cubes]
        S = self.n_paths
        node = np.empty(sum(sizes), dtype=_small_int(np.array([len(names)])).dtype)
        at = 0
        for (idx, arr), size in zip(cubes, sizes):
            codes = np.repeat(names.get_indexer([str(n) for n in idx]).astype(node.dtype), arr.shape[2])
            node[at:at + size].reshape(S, -1)[:] = codes
            at += size
        path = np.concatenate([np.repeat(np.arange(S, dtype=np.int16 if S <= 32767 else np.int32),
                                         size // S) for size in sizes])
        return pd.DataFrame({
            "level": pd.Categorical.from_codes(np.repeat(np.arange(len(levels), dtype=np.int8), sizes),
                                               categories=list(levels)),
            "node": pd.Categorical.from_codes(node, categories=names),
            "month": pd.Categorical.from_codes(np.tile(np.arange(3, dtype=np.int8), sum(sizes) // 3),
                                               categories=self.months),
            "path": path,
            "value": np.concatenate([arr.ravel() for _, arr in cubes]),
        }, copy=False)

    def __repr__(self) -> str:
        lv = {k: len(v[0]) for k, v in self._cubes.items()}
        return f"QuarterDistribution({self.quarter}, paths={self.n_paths}, nodes={lv})"


def _text_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, names)``: each value of ``col`` as text (``str(value)``), coded:
    ``names[codes]`` is the text of every row.  Each distinct value is converted once; a
    categorical column's codes are used as they are (no per-row work)."""
    if isinstance(col, pd.Series) and isinstance(col.dtype, pd.CategoricalDtype):
        code, uniq = col.cat.codes.to_numpy(), list(col.cat.categories)
        if (code < 0).any():  # missing values: one more name, as factorize would give
            code = np.where(code < 0, len(uniq), code)
            uniq.append(np.nan)
    else:
        values = col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col)
        if values.dtype == object and len(values) > 1:  # runs of one value (the paths' layout): code the run heads
            head = np.empty(len(values), dtype=bool)
            head[0] = True
            np.not_equal(values[1:], values[:-1], out=head[1:])
            run_code, uniq = pd.factorize(values[head], use_na_sentinel=False)
            code = run_code[np.cumsum(head) - 1]
        else:
            code, uniq = pd.factorize(col, use_na_sentinel=False)
    text = np.array([str(v) for v in uniq], dtype=object)
    merged, names = pd.factorize(text)  # distinct values with the same text are one name
    if len(names) < len(text):
        code = _small_int(merged)[code]
    return _small_int(code), np.asarray(names, dtype=object)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct ``values``; integers in a narrow range without hashing."""
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * len(values):
            seen = np.zeros(hi - lo + 1, dtype=bool)
            seen[np.subtract(values, lo, dtype=np.int64) if lo else values] = True
            return (np.flatnonzero(seen) + lo).astype(values.dtype)
    return np.sort(pd.unique(values))


def _small_int(a: np.ndarray) -> np.ndarray:
    """``a`` (integers) in the smallest of int8/16/32/64 that holds its values."""
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return a.astype(t, copy=False)
    return a.astype(np.int64, copy=False)


def _is_range(paths: np.ndarray) -> bool:
    """Whether the sorted distinct ``paths`` are exactly 0, 1, ..., S - 1."""
    return (paths.dtype.kind in "iu" and len(paths) > 0 and int(paths[0]) == 0
            and int(paths[-1]) == len(paths) - 1)


def _runs(codes: np.ndarray, most: int = 64) -> list[tuple[int, int, int]] | None:
    """``(code, start, stop)`` of each run of equal values of ``codes``; None when there are
    more than ``most`` runs (rows not in blocks)."""
    if not len(codes):
        return []
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if len(starts) >= most:
        return None
    starts = np.concatenate([[0], starts])
    stops = np.append(starts[1:], len(codes))
    return [(codes[a], int(a), int(b)) for a, b in zip(starts, stops)]


def _month_codes(col: pd.Series) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The quarter's three month starts and each row's month (0, 1, 2; ``int8``).

    Each distinct value is converted once (a categorical column: its categories);
    a one-line error unless the months are exactly three consecutive ones."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        m_code, m_uniq = col.cat.codes.to_numpy(), np.asarray(col.cat.categories)
        if (m_code < 0).any():
            raise ValueError("quarter paths: column 'month' has missing values")
    else:
        m_code, m_uniq = pd.factorize(col, use_na_sentinel=False)  # each date converted once
    m_start = pd.Series(pd.to_datetime(pd.Series(m_uniq))).dt.to_period("M").dt.start_time
    used = m_start
    if isinstance(col.dtype, pd.CategoricalDtype):  # categories no row has are not months of the paths
        seen = np.zeros(len(m_uniq), dtype=bool)
        seen[m_code] = True
        used = m_start[seen]
    months = pd.DatetimeIndex(sorted(used.unique()))
    if len(months) != 3 or list(months) != list(_quarter_months(months[0].to_period("M"))):
        raise ValueError(
            "quarter paths: 'month' must cover exactly three consecutive months (one calendar"
            f" or fiscal quarter), got {[str(m.date()) for m in months]}"
        )
    lut = _small_int(months.get_indexer(m_start))
    if len(lut) == 3 and (lut == np.arange(3)).all():  # codes already 0, 1, 2 in month order
        return months, _small_int(m_code)
    return months, lut[m_code]


def _in_cube_order(pi: np.ndarray, ni: np.ndarray, mi: np.ndarray, S: int, N: int) -> bool:
    """Whether rows with path ``pi``, node ``ni`` and month ``mi`` (``S * N * 3`` of them)
    are in cube order: path, then node, then month (compared per block of paths)."""
    step = max(1, (1 << 20) // max(1, N * 3))
    node, month = np.arange(N)[:, None], np.arange(3)
    for a in range(0, S, step):
        b = min(S, a + step)
        sl = slice(a * N * 3, b * N * 3)
        if not ((pi[sl].reshape(b - a, N * 3) == np.arange(a, b)[:, None]).all()
                and (ni[sl].reshape(b - a, N, 3) == node).all()
                and (mi[sl].reshape(b - a, N, 3) == month).all()):
            return False
    return True


def _kahan_add(total: np.ndarray, comp: np.ndarray, val: np.ndarray) -> None:
    """Add ``val`` to the running sums ``total`` (in place) with the compensation ``comp``
    (in place), as ``pandas``' group-by sum does: missing values are skipped, and a
    compensation that turns NaN (infinite values) is reset to 0."""
    ok = ~np.isnan(val)
    y = val - comp
    t = total + y
    c = t - total - y
    c[np.isnan(c)] = 0.0
    np.copyto(comp, c, where=ok)
    np.copyto(total, t, where=ok)


def quarter_paths_from_forecast(paths: pd.DataFrame, quarter=None, *, region_key: str = "region",
                                rep_key: str = "rep_id") -> QuarterDistribution:
    """Adapter: long sample paths of :mod:`salesplan.models.forecast` -> :class:`QuarterDistribution`.

    Parameters
    ----------
    paths : SamplePaths, DataFrame or HierarchyForecast
        :class:`salesplan.data.paths.SamplePaths` (series x path x month), a
        :class:`salesplan.models.forecast.HierarchyForecast` (its coherent ``paths`` of every
        node), ``Forecaster.sample_paths(h, as_frame=True)``, or any monthly sample paths with ``unique_id`` (``"total"``, ``"region=East"``,
        ``"region=East|rep_id=R07"``, as built by :func:`salesplan.models.forecast.data.series_id`),
        ``ds`` (month start), a path column (``path``, ``sample`` or ``draw``) and a value
        column (``y``, ``value`` or ``y_hat``).  Wide paths (one column per sample) are
        accepted as well: every column not in ``unique_id, ds`` and numeric is a path.
    quarter : str or Period, optional
        Keep only this quarter's months (default: the first full quarter in ``paths``).
    region_key, rep_key : str
        Key names used in ``unique_id``.

    Returns
    -------
    QuarterDistribution
    """
    if not isinstance(paths, (SamplePaths, pd.DataFrame)) and all(
            hasattr(paths, a) for a in ("nodes", "paths", "forecast")):
        paths = SamplePaths.from_forecast(paths.paths, list(paths.nodes["unique_id"]), paths.forecast)
    if isinstance(paths, SamplePaths) and paths.dates is not None:
        return _series_distribution(paths, quarter, region_key, rep_key)
    if isinstance(paths, SamplePaths):
        paths = paths.to_frame()
    if not isinstance(paths, pd.DataFrame) or not {"unique_id", "ds"} <= set(paths.columns):
        raise ValueError("forecast paths: expected a DataFrame with 'unique_id' and 'ds' or a HierarchyForecast")
    p = paths.copy()
    pcol = next((c for c in ("path", "sample", "draw", "sample_id") if c in p.columns), None)
    vcol = next((c for c in ("y", "value", "y_hat", "yhat") if c in p.columns), None)
    if pcol is None or vcol is None:
        extra = [c for c in p.columns if c not in ("unique_id", "ds") and pd.api.types.is_numeric_dtype(p[c])]
        if not extra:
            raise ValueError("forecast paths: need a path and a value column, or one column per path")
        p = p.melt(id_vars=["unique_id", "ds"], value_vars=extra, var_name="path", value_name="value")
        p["path"] = p["path"].astype("category").cat.codes
        pcol, vcol = "path", "value"
    p["month"] = pd.to_datetime(p["ds"]).dt.to_period("M").dt.start_time
    q = _paths_quarter(quarter, pd.DatetimeIndex(p["month"]))
    p = p[p["month"].isin(_quarter_months(q))]
    if p.empty:
        raise ValueError(f"forecast paths: no months of quarter {q}")
    codes, uids = pd.factorize(p["unique_id"].astype(str))  # each id parsed once
    level, node = zip(*(_uid_node(u, region_key, rep_key) for u in uids))
    p["level"], p["node"] = np.asarray(level, dtype=object)[codes], np.asarray(node, dtype=object)[codes]
    p = p[p["level"] != "other"]
    out = p.rename(columns={pcol: "path", vcol: "value"})[["level", "node", "month", "path", "value"]]
    out = out.groupby(["level", "node", "month", "path"], as_index=False)["value"].sum()
    return QuarterDistribution(out)


def _uid_node(uid: str, region_key: str, rep_key: str) -> tuple[str, str]:
    """``(level, node)`` of a forecast series id: ``"total"`` -> the company,
    ``"region=East"`` -> region East, ``"region=East|rep_id=R07"`` -> rep R07; a part
    without ``=`` is a region; ids without either key are level ``"other"``."""
    if uid in ("total", "company", "__total__"):
        return "company", COMPANY
    kv = dict(part.split("=", 1) if "=" in part else (region_key, part) for part in uid.split("|"))
    if rep_key in kv:
        return "rep", kv[rep_key]
    if region_key in kv:
        return "region", kv[region_key]
    return "other", uid


def _paths_quarter(quarter, months: pd.DatetimeIndex) -> pd.Period:
    """The quarter asked for, else the first quarter of which ``months`` hold all three."""
    if isinstance(quarter, pd.Period):
        return quarter
    if quarter is not None:
        return parse_quarter(quarter)
    full = pd.Series(months).groupby(months.to_period("Q")).nunique()
    full = full[full == 3]
    if full.empty:
        raise ValueError("forecast paths: no full quarter of months")
    return full.index.min()


def _series_distribution(sp: SamplePaths, quarter, region_key: str, rep_key: str) -> QuarterDistribution:
    """:func:`quarter_paths_from_forecast` of dated :class:`SamplePaths`, straight from the
    arrays (no long frame): the same distribution as the long frame gives."""
    month = pd.DatetimeIndex(pd.to_datetime(sp.dates)).to_period("M").start_time
    q = _paths_quarter(quarter, month)
    in_q = month.isin(_quarter_months(q))
    if not in_q.any():
        raise ValueError(f"forecast paths: no months of quarter {q}")
    months = pd.DatetimeIndex(sorted(set(month[in_q])))
    pos = np.where(in_q, months.get_indexer(month), -1)
    level, node = zip(*(_uid_node(str(u), region_key, rep_key) for u in sp.series))
    return QuarterDistribution._from_series(np.asarray(sp.values, dtype=float), level, node, months, pos)


# --------------------------------------------------------------------------- parameters

_DEF_LEVEL_W = MappingProxyType({"junior": 0.7, "senior": 1.0, "key_account": 1.4})
_DEF_EXISTING = MappingProxyType({"mature": 1.0, "developing": 0.7, "emerging": 0.4})
_DEF_NEW = MappingProxyType({"mature": 0.3, "developing": 0.7, "emerging": 1.0})


@dataclass(frozen=True)
class TargetParams:
    """Parameters of a target proposal (validated on creation).

    Parameters
    ----------
    quarter : str or Period
        Plan quarter in the fiscal calendar: ``"2027Q1"`` (calendar years) or ``"FY27Q4"``
        (:func:`salesplan.planning.fiscal_calendar.fiscal_quarter`).
    board_target : float or None
        The board's company target for the quarter (currency).  Wins when given.
    growth : float or None
        Company target = same quarter last year x (1 + growth) (0.10 = +10 %; > -1).
        Used when ``board_target`` is None.  Both None (default): the probability rule.
    target_probability : float in (0, 1)
        Probability rule (default): the company target is the ``1 - p`` quantile of the
        bottom-up distribution (forecast paths + pipeline increment), so that
        ``P(actual >= target) = p`` (default 0.6).
    floor_at_p50 : bool
        Probability rule only: never below the median (P50) of the carry-on forecast
        (default True).  A board or growth target is never changed: the plan reports how
        far it lies below the P50.
    pipeline_rule : {"backtest", "excess", "new_customers", "none"}
        How much weighted pipeline is added to the forecast (module docstring; default
        ``"backtest"``: only the part the company's own back-test shows the forecast misses).
    pipeline_history_quarters : int
        Quarters used for the pipeline/revenue ratio ``rho`` of the ``excess`` rule.
    pipeline_backtest_quarters : int >= 3
        Back-test quarters of the ``backtest`` rule (default 8; each needs the four
        quarters before it in the history).
    pipeline_weights : {"scored", "stage"}
        Win probability that weighs each open deal, now and on every back-test date: the
        win model's own score per deal, each past snapshot scored by a model trained only
        on the data before it (``"scored"``, default: lower quarter error in
        ``benchmarks/pipeline_scoring.py``, odds as well calibrated as with stage weights),
        or the stage average (``"stage"``, faster).  Module docstring.
    over_assignment : float >= 1 or None
        Sum of quotas / company target.  None (default): chosen on the grid 1.00, 1.01,
        ..., ``max_over_assignment`` so that the expected share of reps at quota is
        nearest the middle of ``healthy_share`` (ties: the smaller factor).
    max_over_assignment : float >= 1
        Upper end of that grid (default 1.30).
    weight_forecast, weight_potential : float >= 0
        Blend of the region uplift split (forecast share vs market-potential share); sum > 0.
    maturity_existing, maturity_new : mapping maturity -> float >= 0
        Weight of growth from existing / new accounts by region maturity.
    min_growth, max_growth : float
        Region growth caps over last year's quarter (min > -1, min < max).
    region_caps : mapping region -> (min, max), optional
        Per-region caps overriding the two above.
    regions : sequence of str, optional
        Plan only these regions (others must be absent from the distribution or are dropped).
    weight_own_forecast, weight_recent, weight_capacity : float >= 0
        Rep split blend (:mod:`salesplan.planning.quota`): own forecast, recent share of the
        region's sales, capacity share (defaults 0.6 / 0.2 / 0.2; sum > 0).
    band_low, band_high : float
        Fairness band of quota / own forecast for established reps (0.8 / 1.5).
    min_history_quarters : int >= 0
        Full quarters in post before the plan quarter for a rep to be split by the blend
        and held to the band (default 4); others are split by capacity (ramp).
    recent_quarters : int >= 1
        Window of the recent share, in complete quarters before the plan (default 2).
    level_weights : mapping level -> float > 0
        Capacity of a fully ramped rep by level (junior 0.7, senior 1, key_account 1.4).
    ramp_months : int >= 0
        Linear ramp: productivity ``min(1, (t - 0.5) / ramp_months)`` in tenure month t (hire
        month = 1; mid-month tenure, :func:`salesplan.planning.allocation.ramp_factor`).
    ramp_curve : sequence of float in [0, 1], optional
        Explicit productivity of tenure months 1, 2, ...; 1 afterwards (overrides linear).
    vacancy_capacity : float >= 0
        Capacity of a vacant territory held by the manager, as a share of a full rep of the
        same level (default 0.7).
    vacancy_lookback_days : int
        Reps who left within this many days before the quarter are checked for vacancies.
    rounding_unit : float > 0
        Currency unit of all targets (default 100).
    odds_low, odds_high : float
        Flag targets with ``P(actual >= target)`` below / above these (0.30 / 0.90).
    healthy_share : (float, float)
        Healthy band of the share of reps expected at quota (0.55, 0.70).
    rep_spread : float >= 0
        Widening of a rep's own forecast paths around their mean (1 = as forecast).
    rep_noise_sd : float >= 0
        ``sigma`` of the log-normal factor of slots without own paths (default 0.25).
    product_quarters : int >= 1
        Complete quarters whose product mix splits each region's target (default 4).
    weekday_weights : 7 floats >= 0
        Selling weight of Monday..Sunday when months are split into weeks.
    fiscal_year_start_month : int 1..12
        First month of the fiscal year (1 = calendar year; 4 = April: FY27Q1 = Apr-Jun 2026).
    currency : str
        Code or symbol of the company currency, shown with every amount ("" = "company
        currency").
    seed : int
        Seed of the rep-outcome simulation.
    """

    quarter: str
    board_target: float | None = None
    growth: float | None = None
    target_probability: float = 0.6
    floor_at_p50: bool = True
    pipeline_rule: str = "backtest"
    pipeline_history_quarters: int = 4
    pipeline_backtest_quarters: int = 8
    pipeline_weights: str = "scored"
    over_assignment: float | None = None
    max_over_assignment: float = 1.30
    weight_forecast: float = 0.6
    weight_potential: float = 0.4
    maturity_existing: Mapping[str, float] = field(default_factory=lambda: dict(_DEF_EXISTING))
    maturity_new: Mapping[str, float] = field(default_factory=lambda: dict(_DEF_NEW))
    min_growth: float = -0.20
    max_growth: float = 0.60
    region_caps: Mapping[str, tuple[float, float]] | None = None
    regions: tuple[str, ...] | None = None
    weight_own_forecast: float = 0.6
    weight_recent: float = 0.2
    weight_capacity: float = 0.2
    band_low: float = 0.8
    band_high: float = 1.5
    min_history_quarters: int = 4
    recent_quarters: int = 2
    level_weights: Mapping[str, float] = field(default_factory=lambda: dict(_DEF_LEVEL_W))
    ramp_months: int = 5
    ramp_curve: tuple[float, ...] | None = None
    vacancy_capacity: float = 0.7
    vacancy_lookback_days: int = 180
    rounding_unit: float = 100.0
    odds_low: float = 0.30
    odds_high: float = 0.90
    healthy_share: tuple[float, float] = (0.55, 0.70)
    rep_spread: float = 1.0
    rep_noise_sd: float = 0.25
    product_quarters: int = 4
    weekday_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
    fiscal_year_start_month: int = 1
    currency: str = ""
    seed: int = 0

    def __post_init__(self):
        def set_(k, v):  # fields normalised in a frozen dataclass
            object.__setattr__(self, k, v)

        fy = self.fiscal_year_start_month
        if isinstance(fy, bool) or not isinstance(fy, (int, np.integer)) or not 1 <= fy <= 12:
            raise ValueError(f"fiscal_year_start_month={fy!r}: expected an integer month 1..12 (1 = January)")
        set_("fiscal_year_start_month", int(fy))
        set_("quarter", fiscal_label(fiscal_quarter(self.quarter, int(fy)), int(fy)))
        if not isinstance(self.currency, str):
            raise ValueError(f"currency={self.currency!r}: expected a code or symbol such as 'CNY' or '¥'")

        def num(name, lo=None, hi=None, lo_open=False, hi_open=False, none_ok=False, what=""):
            v = getattr(self, name)
            if v is None and none_ok:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise ValueError(f"{name}={v!r}: expected a finite number{what}")
            bad = (lo is not None and (v <= lo if lo_open else v < lo)) or (
                hi is not None and (v >= hi if hi_open else v > hi))
            if bad:
                lb = "(" if lo_open else "["
                rb = ")" if hi_open else "]"
                raise ValueError(
                    f"{name}={v!r}: expected a value in {lb}{'-inf' if lo is None else lo}, "
                    f"{'inf' if hi is None else hi}{rb}{what}"
                )

        def integer(name, lo, what=""):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name}={v!r}: expected an integer >= {lo}{what}")

        num("board_target", lo=0, lo_open=True, none_ok=True, what=" (the board's company target, currency)")
        num("growth", lo=-1, lo_open=True, none_ok=True,
            what=" (growth over last year as a fraction: 0.10 = +10%; -1 = -100% is the floor)")
        num("target_probability", 0, 1, True, True, what=" (probability that the company meets its target)")
        if not isinstance(self.floor_at_p50, (bool, np.bool_)):
            raise ValueError(f"floor_at_p50={self.floor_at_p50!r}: expected True or False")
        if self.pipeline_rule not in PIPELINE_RULES:
            raise ValueError(
                f"pipeline_rule={self.pipeline_rule!r}: expected 'backtest', 'excess', 'new_customers' or 'none'")
        integer("pipeline_history_quarters", 1)
        integer("pipeline_backtest_quarters", 3, " (back-test quarters of the 'backtest' pipeline rule)")
        if self.pipeline_weights not in PIPELINE_WEIGHTS:
            raise ValueError(
                f"pipeline_weights={self.pipeline_weights!r}: expected 'scored' (win model per deal) "
                "or 'stage' (stage averages)")
        num("over_assignment", lo=1, none_ok=True,
            what=" (sum of quotas / company target; 1.10 = 10% over-assignment; None = chosen)")
        num("max_over_assignment", lo=1, hi=3, what=" (upper end of the over-assignment grid)")
        num("weight_forecast", lo=0)
        num("weight_potential", lo=0)
        if self.weight_forecast + self.weight_potential <= 0:
            raise ValueError("weight_forecast + weight_potential must be > 0")
        for n_ in ("weight_own_forecast", "weight_recent", "weight_capacity"):
            num(n_, lo=0, what=" (weight of the rep split blend)")
        if self.weight_own_forecast + self.weight_recent + self.weight_capacity <= 0:
            raise ValueError("weight_own_forecast + weight_recent + weight_capacity must be > 0")
        num("band_low", lo=0, what=" (lowest quota / own forecast of an established rep)")
        num("band_high", lo=0, lo_open=True, what=" (highest quota / own forecast of an established rep)")
        if not self.band_low <= 1 <= self.band_high:
            raise ValueError(f"band_low={self.band_low!r}, band_high={self.band_high!r}: expected "
                             "band_low <= 1 <= band_high (quota / own forecast)")
        integer("min_history_quarters", 0, " (quarters)")
        integer("recent_quarters", 1, " (quarters)")
        integer("product_quarters", 1, " (quarters)")
        set_("maturity_existing", _frozen_mapping("maturity_existing", self.maturity_existing, REGION_MATURITIES))
        set_("maturity_new", _frozen_mapping("maturity_new", self.maturity_new, REGION_MATURITIES))
        num("min_growth", lo=-1, lo_open=True)
        num("max_growth", lo=-1, lo_open=True)
        if not self.min_growth < self.max_growth:
            raise ValueError(f"min_growth={self.min_growth!r} must be below max_growth={self.max_growth!r}")
        if self.region_caps is not None:
            if not isinstance(self.region_caps, Mapping):
                raise ValueError(f"region_caps={self.region_caps!r}: expected a mapping region -> (min, max)")
            caps = {}
            for r, c in self.region_caps.items():
                try:
                    lo, hi = (float(c[0]), float(c[1]))
                except (TypeError, ValueError, IndexError, KeyError):
                    raise ValueError(f"region_caps[{r!r}]={c!r}: expected (min_growth, max_growth)") from None
                if not (-1 < lo < hi):
                    raise ValueError(f"region_caps[{r!r}]={c!r}: expected -1 < min < max")
                caps[str(r)] = (lo, hi)
            set_("region_caps", MappingProxyType(caps))
        if self.regions is not None:
            if isinstance(self.regions, str) or len(self.regions) == 0:
                raise ValueError(f"regions={self.regions!r}: expected a non-empty sequence of region names")
            set_("regions", tuple(str(r) for r in self.regions))
        lw = _frozen_mapping("level_weights", self.level_weights, REP_LEVELS, lo=0, lo_open=True)
        missing = [lv for lv in REP_LEVELS if lv not in lw]
        if missing:
            raise ValueError(f"level_weights: missing level(s) {missing}")
        set_("level_weights", lw)
        integer("ramp_months", 0, " (months)")
        if self.ramp_curve is not None:
            rc = tuple(float(x) for x in self.ramp_curve)
            if not rc or any(not (0 <= x <= 1) for x in rc):
                raise ValueError(f"ramp_curve={self.ramp_curve!r}: expected productivities in [0, 1]")
            set_("ramp_curve", rc)
        num("vacancy_capacity", lo=0)
        integer("vacancy_lookback_days", 0, " (days)")
        num("rounding_unit", lo=0, lo_open=True, what=" (currency)")
        num("odds_low", 0, 1)
        num("odds_high", 0, 1)
        if not self.odds_low < self.odds_high:
            raise ValueError(f"odds_low={self.odds_low!r} must be below odds_high={self.odds_high!r}")
        hs = tuple(float(x) for x in self.healthy_share)
        if len(hs) != 2 or not (0 <= hs[0] < hs[1] <= 1):
            raise ValueError(f"healthy_share={self.healthy_share!r}: expected (low, high) with 0 <= low < high <= 1")
        set_("healthy_share", hs)
        num("rep_spread", lo=0, what=" (widening of the reps' own forecast paths)")
        num("rep_noise_sd", lo=0)
        ww = tuple(float(x) for x in self.weekday_weights)
        if len(ww) != 7 or any(x < 0 for x in ww) or sum(ww) <= 0:
            raise ValueError(f"weekday_weights={self.weekday_weights!r}: expected 7 weights >= 0 (Mon..Sun), sum > 0")
        set_("weekday_weights", ww)

    @property
    def period(self) -> pd.Period:
        """The plan quarter as a Period of the fiscal frequency."""
        return fiscal_quarter(self.quarter, self.fiscal_year_start_month)

    @property
    def currency_label(self) -> str:
        """``currency``, or ``"company currency"`` when not set."""
        return currency_label(self.currency)

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: ``parameter, value`` (mappings as text)."""
        rows = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Mapping):
                v = ", ".join(f"{k}={x}" for k, x in v.items())
            rows.append({"parameter": f.name, "value": str(v)})
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------- capacity

def _month_ramp(tenure_month, params: TargetParams) -> np.ndarray:
    """Productivity in tenure month ``k`` (hire month = 1; ``k <= 0`` -> 0): the package's
    :func:`~salesplan.planning.allocation.ramp_factor` at mid-month tenure ``k - 0.5``."""
    return ramp_factor(np.asarray(tenure_month, dtype=float) - 0.5, params.ramp_months,
                       params.ramp_curve)


def _normalise_roster(roster: pd.DataFrame) -> pd.DataFrame:
    need = ["rep_id", "region", "level", "hire_date"]
    if roster is None or not isinstance(roster, pd.DataFrame):
        raise ValueError("empty roster: table 'reps' is absent; rep quotas need a roster")
    missing = [c for c in need if c not in roster.columns]
    if missing:
        raise ValueError(f"table 'reps': missing column(s) {missing}")
    r = roster.copy()
    if "exit_date" not in r.columns:
        r["exit_date"] = pd.NaT
    if "name" not in r.columns:
        r["name"] = r["rep_id"]
    r["rep_id"] = r["rep_id"].astype(str)
    r["region"] = r["region"].astype(str)
    r["level"] = r["level"].astype(str)
    r["hire_date"] = pd.to_datetime(r["hire_date"])
    r["exit_date"] = pd.to_datetime(r["exit_date"])
    bad = r.loc[~r["level"].isin(REP_LEVELS), "rep_id"].tolist()
    if bad:
        raise ValueError(f"table 'reps', column 'level': unknown level for rep(s) {bad[:5]}; expected {list(REP_LEVELS)}")
    if r["hire_date"].isna().any():
        raise ValueError(f"table 'reps', column 'hire_date': missing for rep(s) {r.loc[r['hire_date'].isna(), 'rep_id'].tolist()[:5]}")
    return r.reset_index(drop=True)


def rep_capacity(roster: pd.DataFrame, quarter, params: TargetParams) -> pd.DataFrame:
    """Monthly capacity of each rep in the quarter (before vacancies).

    ``capacity = level_weight * ramp(t) * presence`` with ``t`` = tenure month number of
    the month (hire month = 1) and ``presence`` = employed days / days of the month
    (employed: ``hire_date <= day < exit_date``).

    Returns
    -------
    DataFrame
        ``rep_id, region, level, month, tenure_month, ramp, presence, capacity`` for the
        reps employed on at least one day of the quarter.
    """
    r = _normalise_roster(roster)
    q = quarter if isinstance(quarter, pd.Period) else parse_quarter(quarter)
    months = _quarter_months(q)
    rows = []
    for m in months:
        mend = m + pd.offsets.MonthEnd(0)
        ndays = mend.day
        start = r["hire_date"].where(r["hire_date"] > m, m)
        stop = r["exit_date"].fillna(mend + pd.Timedelta(days=1))
        stop = stop.where(stop < mend + pd.Timedelta(days=1), mend + pd.Timedelta(days=1))
        days = ((stop - start).dt.days).clip(lower=0)
        tenure = (m.year - r["hire_date"].dt.year) * 12 + (m.month - r["hire_date"].dt.month) + 1
        ramp = _month_ramp(tenure.to_numpy(), params)
        lw = r["level"].map(params.level_weights).to_numpy(float)
        pres = days.to_numpy(float) / ndays
        rows.append(pd.DataFrame({
            "rep_id": r["rep_id"], "region": r["region"], "level": r["level"], "month": m,
            "tenure_month": tenure.to_numpy(), "ramp": ramp, "presence": pres,
            "capacity": lw * ramp * pres,
        }))
    out = pd.concat(rows, ignore_index=True)
    active = out.groupby("rep_id")["presence"].transform("sum") > 0
    return out[active].reset_index(drop=True)


# --------------------------------------------------------------------------- plan

@dataclass(frozen=True)
class TargetPlan:
    """A target proposal: one DataFrame per level, ready for the plan store and Excel.

    Attributes
    ----------
    company : DataFrame (1 row)
        ``quarter, currency, method, last_year, board_target, growth_goal,
        target_probability, forecast_mean/p50/p10/p90, pipeline_increment, bottom_up
        (P50 + pipeline), stretch, target, below_p50, growth_vs_ly, over_assignment, quota,
        p_attain_target, p_attain_quota, rep_share_at_quota (mean, p10, p90),
        share_band_ok, odds_flag``.
    regions : DataFrame
        One row per region (targets, quotas, uplift split, caps, odds, flags).
    reps : DataFrame
        One row per rep or vacancy (``holder``, ``vacant``, capacity, own forecast,
        history, split inputs, band, quota, quota / own forecast, odds, flags).
    months : DataFrame
        ``level, entity, region, month, target, quota, p_attain_target, p_attain_quota``.
    weeks : DataFrame
        ``level, entity, region, week_start, target, quota``.
    smart : DataFrame
        SMART check per quarterly target (:func:`smart_check`).
    assumptions : DataFrame
        ``item, value, note``: every parameter and derived assumption.
    rep_share_paths : ndarray
        Share of reps at quota on each sample path.
    notes : tuple of str
    funnel : FunnelPlan or None
        Set by :func:`plan_funnel`.
    products : DataFrame
        Region x product-line targets (:func:`product_split`).
    bridge : DataFrame
        Last year -> forecast -> pipeline -> stretch -> target -> quotas (:func:`target_bridge`).
    over_assignment_grid : DataFrame
        Expected share of reps at quota per over-assignment factor tried.
    pipeline_paths : ndarray (S, R) or None
        Pipeline increment per path and region (currency): the regions' ``pipeline_increment``
        plus, with the ``backtest`` rule, its uncertainty; the odds use forecast + these.
    """

    params: TargetParams
    company: pd.DataFrame
    regions: pd.DataFrame
    reps: pd.DataFrame
    months: pd.DataFrame
    weeks: pd.DataFrame
    smart: pd.DataFrame
    assumptions: pd.DataFrame
    rep_share_paths: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()
    funnel: object = None
    products: pd.DataFrame | None = None
    bridge: pd.DataFrame | None = None
    over_assignment_grid: pd.DataFrame | None = None
    pipeline_paths: np.ndarray | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """All output tables by name (company, regions, reps, products, bridge, months,
        weeks, smart, over_assignment, assumptions, and the funnel tables when planned)."""
        out = {"company": self.company, "regions": self.regions, "reps": self.reps,
               "months": self.months, "weeks": self.weeks, "smart": self.smart,
               "assumptions": self.assumptions}
        for k, v in (("products", self.products), ("bridge", self.bridge),
                     ("over_assignment", self.over_assignment_grid)):
            if v is not None:
                out[k] = v
        if self.funnel is not None:
            out.update(self.funnel.tables())
        return out


def _orders_with_region(data: SalesData) -> pd.DataFrame:
    """The order lines with the ``region`` of their customer, else of their rep, else
    ``"(none)"`` (text, ``object`` column): :func:`_region_lines` without the codes."""
    return _region_lines(data)[0]


def _region_lines(data: SalesData) -> tuple[pd.DataFrame, pd.Categorical]:
    """``(lines, regions)``: the order lines (``order_date, customer_id, rep_id,
    product_line, amount``) with the ``region`` of their customer, else of their rep, else
    ``"(none)"`` (text, ``object`` column), and the same regions as integer codes
    (``regions.codes[i]`` the region of line ``i``, into ``regions.categories``) for
    group-bys without hashing text.  Each distinct customer and rep is looked up once."""
    o = data.orders[["order_date", "customer_id", "rep_id", "product_line", "amount"]].copy()
    if o["order_date"].dtype != "datetime64[ns]":  # the contract's dtype is kept as it is
        o["order_date"] = pd.to_datetime(o["order_date"])
    names: dict[str, int] = {}
    code = np.full(len(o), -1, dtype=np.int64)
    if data.customers is not None:
        code = _lookup(o["customer_id"], data.customers.set_index("customer_id")["region"], names)
    if data.reps is not None:
        missing = code < 0
        if missing.any():
            code[missing] = _lookup(o["rep_id"][missing], data.reps.set_index("rep_id")["region"], names)
    if (code < 0).any():
        code[code < 0] = names.setdefault("(none)", len(names))
    texts = np.array(list(names), dtype=object)
    o["region"] = texts[code]
    return o, pd.Categorical.from_codes(code, categories=pd.Index(texts, dtype=object))


def _lookup(keys: pd.Series, table: pd.Series, names: dict) -> np.ndarray:
    """``keys.map(table)`` as codes into ``names`` (text of a value -> code; new texts are
    added in the order they first occur), -1 where missing; one look-up per distinct key
    and one text conversion per distinct value."""
    code, uniq = pd.factorize(keys)
    vals = table.reindex(uniq).to_numpy(dtype=object) if len(uniq) else np.array([], dtype=object)
    vcode, distinct = pd.factorize(vals)  # missing values: -1
    text_code = np.array([names.setdefault(str(v), len(names)) for v in distinct] + [-1], dtype=np.int64)
    key_code = np.append(text_code[vcode], -1)  # per distinct key; a missing key (-1): the last, -1
    return key_code[code]


def _quarter_revenue(o: pd.DataFrame, q: pd.Period) -> pd.Series:
    m = (o["order_date"] >= q.start_time) & (o["order_date"] <= q.end_time)
    return o[m].groupby("region")["amount"].sum()


def _quarter_revenues(o: pd.DataFrame, order_regions: pd.Categorical, quarters: pd.PeriodIndex,
                      regions) -> dict:
    """``{quarter: revenue per region (array in the order of regions, currency)}`` for
    consecutive ``quarters``: :func:`_quarter_revenue` of each, from one pass over the
    orders ``o`` (each order's quarter found by a binary search) grouped on one integer key
    of quarter and region code (``order_regions``, :func:`_region_lines`): the same rows
    summed in the same order, so the same sums."""
    if len(quarters) == 0:
        return {}
    bounds = np.append(quarters.start_time.to_numpy("datetime64[ns]"),
                       np.datetime64((quarters[-1] + 1).start_time.to_datetime64(), "ns"))
    k = np.searchsorted(bounds, o["order_date"].to_numpy("datetime64[ns]"), side="right") - 1
    inside = (k >= 0) & (k < len(quarters))
    N = len(order_regions.categories) + 1  # and a last code without lines, for other regions
    key = k[inside] * N + order_regions.codes[inside].astype(np.int64)
    sums = o.loc[inside, "amount"].groupby(key).sum()
    grid = np.zeros(len(quarters) * N)
    grid[sums.index.to_numpy()] = sums.to_numpy(float)
    at = order_regions.categories.get_indexer(pd.Index(list(regions), dtype=object))  # -1: the last code
    by_q = grid.reshape(len(quarters), N)[:, at]
    return {q: by_q[i] for i, q in enumerate(quarters)}


def _line_regions(sc: PlanScope) -> pd.Categorical:
    """The region of each line of ``sc.orders`` as codes (:attr:`PlanScope.order_regions`,
    else coded from the ``region`` text)."""
    return sc.order_regions if sc.order_regions is not None else pd.Categorical(sc.orders["region"])


def _known_regions(data: SalesData, dist: QuarterDistribution) -> list[str]:
    if data.regions is not None:
        return [str(r) for r in data.regions["region"]]
    known = set()
    if data.customers is not None:
        known |= set(data.customers["region"].astype(str))
    if data.reps is not None:
        known |= set(data.reps["region"].astype(str))
    if "region" in dist.levels:
        known |= set(dist.nodes("region"))
    return sorted(known)


def _detect_vacancies(data, roster, q, params, as_of) -> pd.DataFrame:
    """Territories without a rep for the whole quarter (see module docstring)."""
    qs, qe = q.start_time.normalize(), q.end_time.normalize()
    lo = qs - pd.Timedelta(days=params.vacancy_lookback_days)
    left = roster[roster["exit_date"].notna() & (roster["exit_date"] <= qs) & (roster["exit_date"] > lo)]
    if left.empty:
        return pd.DataFrame(columns=["region", "level", "former_rep"])
    active = roster[(roster["hire_date"] <= qe) & (roster["exit_date"].isna() | (roster["exit_date"] > qs))]
    o = data.orders
    rows = []
    for _, r in left.iterrows():
        hired = roster[(roster["region"] == r["region"]) & (roster["hire_date"] >= r["exit_date"])
                       & (roster["hire_date"] <= qe)]
        if len(hired):
            continue
        pre = o[(o["rep_id"] == r["rep_id"]) & (o["order_date"] < r["exit_date"])
                & (o["order_date"] >= r["exit_date"] - pd.Timedelta(days=365))]
        custs = set(pre["customer_id"])
        if not custs:
            continue
        post = o[o["customer_id"].isin(custs) & (o["order_date"] >= r["exit_date"]) & (o["order_date"] <= as_of)]
        covered = post["rep_id"].isin(active["rep_id"]).mean() if len(post) else 0.0
        if covered < 0.5:
            rows.append({"region": r["region"], "level": r["level"], "former_rep": r["rep_id"]})
    return pd.DataFrame(rows, columns=["region", "level", "former_rep"])


def _water_fill(total, raw, weights, lo, hi, names):
    """Clamp ``raw`` into ``[lo, hi]`` keeping ``sum = total`` (iterative re-split).

    One region takes ``total`` whole, whatever its caps: the caps bound how a company target
    is split between regions, and a company of one region has nothing to split.
    """
    if len(raw) == 1:
        return np.array([float(total)]), np.zeros(1, bool)
    if lo.sum() > total + 1e-6 or hi.sum() < total - 1e-6:
        raise ValueError(
            f"region growth caps are infeasible: the company target {total:,.0f} lies outside "
            f"[{lo.sum():,.0f}, {hi.sum():,.0f}] (sum of the regions' min/max); widen min_growth/"
            "max_growth or region_caps, or change the company target"
        )
    x = raw.astype(float).copy()
    fixed = np.zeros(len(x), bool)
    for _ in range(len(x) + 2):
        below, above = (x < lo - 1e-9) & ~fixed, (x > hi + 1e-9) & ~fixed
        if not (below.any() or above.any()):
            break
        x[below], x[above] = lo[below], hi[above]
        fixed |= below | above
        free = ~fixed
        resid = total - x.sum()
        if not free.any():
            break
        w = weights[free] if resid > 0 else x[free]
        w = np.clip(w, 0, None)
        if w.sum() <= 0:
            w = np.ones(free.sum())
        x[free] += resid * w / w.sum()
    capped = fixed
    return x, capped


def _season_shares(means: np.ndarray) -> np.ndarray:
    """Rows = nodes, cols = months -> shares summing to 1 per row (equal if zero)."""
    m = np.clip(means, 0, None)
    s = m.sum(axis=1, keepdims=True)
    return np.where(s > 0, m / np.where(s > 0, s, 1), 1.0 / m.shape[1])


def _day_weights(months: pd.DatetimeIndex, ww) -> pd.DataFrame:
    days = pd.date_range(months[0], months[-1] + pd.offsets.MonthEnd(0), freq="D")
    d = pd.DataFrame({"day": days})
    d["month"] = d["day"].dt.to_period("M").dt.start_time
    d["week_start"] = d["day"] - pd.to_timedelta(d["day"].dt.weekday, unit="D")
    d["w"] = np.asarray(ww)[d["day"].dt.weekday.to_numpy()]
    tot = d.groupby("month")["w"].transform("sum")
    d["w"] = np.where(tot > 0, d["w"] / tot.where(tot > 0, 1), 1.0 / d.groupby("month")["w"].transform("size"))
    return d


def _week_split(amount_by_month: np.ndarray, months, dayw: pd.DataFrame) -> pd.Series:
    """Exact (unrounded) weekly amounts from monthly amounts."""
    mm = dict(zip(months, amount_by_month))
    v = dayw["w"].to_numpy() * dayw["month"].map(mm).to_numpy(float)
    return pd.Series(v, index=dayw.index).groupby(dayw["week_start"]).sum()


def _week_splits(amounts_by_month: np.ndarray, months, dayw: pd.DataFrame) -> np.ndarray:
    """:func:`_week_split` of each row of ``amounts_by_month`` (n, 3) at once: ``(n, weeks)``.

    One group-by over a (days, n) frame: pandas sums each column as it sums the one
    Series of :func:`_week_split` (same values, same order), so the rows are equal to it.
    """
    a = np.asarray(amounts_by_month, dtype=float).reshape(-1, len(months))
    pos = dayw["month"].map({m: i for i, m in enumerate(months)}).to_numpy(int)
    v = dayw["w"].to_numpy()[:, None] * a[:, pos].T
    return pd.DataFrame(v, index=dayw.index).groupby(dayw["week_start"]).sum().to_numpy().T


def _odds(paths: np.ndarray, target) -> np.ndarray:
    """P(actual >= target): share of paths (axis 0) at or above the target."""
    return (paths >= np.asarray(target)[None, ...] - 1e-9).mean(axis=0)


def attainment_odds(paths, targets) -> np.ndarray:
    """``P(actual >= target)`` estimated as the share of sample paths at or above target.

    Parameters
    ----------
    paths : array (S, ...)
        Sample paths (currency), first axis = paths.
    targets : array broadcastable to ``paths.shape[1:]``

    Returns
    -------
    ndarray of probabilities (Monte-Carlo s.e. ``sqrt(p(1-p)/S)``).
    """
    return _odds(np.asarray(paths, dtype=float), targets)


def _flag(p, lo, hi):
    return np.where(p < lo, "stretch", np.where(p > hi, "sandbag", ""))


@dataclass
class PlanScope:
    """Stage 1 output: what the plan covers (regions, roster, paths, last year).

    Attributes are plain arrays in region order ``regions``: ``reg_paths`` (S, R, 3) and
    ``comp_paths`` (S, 3) in currency per month, ``last_year`` (R,) the same quarter last
    year, ``maturity`` and ``potential`` from table ``regions``; ``pipeline_dev`` (S, R)
    the pipeline increment's deviation from its mean on each path and ``pipeline_fit`` the
    back-test fit (:func:`pipeline_effect`), both set by the ``backtest`` rule;
    ``order_regions`` the region of each line of ``orders`` as integer codes
    (:func:`_region_lines`; None: coded from the text when needed).
    """

    q: pd.Period
    months: pd.DatetimeIndex
    as_of: pd.Timestamp
    first: pd.Timestamp
    orders: pd.DataFrame
    known: list
    regions: list
    roster: pd.DataFrame
    reg_paths: np.ndarray
    comp_paths: np.ndarray
    maturity: np.ndarray
    potential: np.ndarray
    last_year: np.ndarray
    ly_q: pd.Period
    notes: list
    pipeline_dev: np.ndarray | None = None
    pipeline_fit: dict | None = None
    order_regions: pd.Categorical | None = None


def plan_scope(data: SalesData, dist: QuarterDistribution, params: TargetParams, *,
               roster: pd.DataFrame | None = None, as_of=None) -> PlanScope:
    """Stage 1: check the inputs and fix the regions, roster and paths of the plan.

    Raises ``ValueError`` for a quarter outside the data or the paths, unknown regions,
    an empty roster.
    """
    q = params.period
    notes: list[str] = []
    o, order_regions = _region_lines(data)
    if o.empty:
        raise ValueError("table 'orders' is empty: targets need order history")
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else o["order_date"].max().normalize()
    first = o["order_date"].min()
    if q.start_time <= first:
        raise ValueError(
            f"quarter={params.quarter!r} is outside the data: it starts on or before the first order "
            f"({first.date()}); plan a quarter after the history")
    if dist.months[0] != q.start_time.normalize():
        raise ValueError(
            f"quarter={params.quarter!r} is outside the forecast: the sample paths cover "
            f"{dist.months[0]:%Y-%m} to {dist.months[-1]:%Y-%m}")
    if q.end_time <= as_of:
        notes.append(f"quarter {params.quarter} ends before as_of {as_of.date()}: a back-test, not a plan")
    known = _known_regions(data, dist)
    path_regions = dist.nodes("region") if "region" in dist.levels else []
    unknown = sorted(set(path_regions) - set(known))
    if unknown:
        raise ValueError(f"unknown region(s) {unknown} in the quarter paths; known regions: {known}")
    for name, vals in (("regions", params.regions or ()), ("region_caps", tuple(params.region_caps or ()))):
        bad = sorted(set(vals) - set(known))
        if bad:
            raise ValueError(f"TargetParams.{name}: unknown region(s) {bad}; known regions: {known}")
    roster_df = roster if roster is not None else data.reps
    if roster_df is None or len(roster_df) == 0:
        raise ValueError("empty roster: no reps given (table 'reps' absent or empty); rep quotas need a roster")
    ros = _normalise_roster(roster_df)
    bad = sorted(set(ros["region"]) - set(known))
    if bad:
        raise ValueError(f"table 'reps', column 'region': unknown region(s) {bad}; known regions: {known}")
    if params.regions is not None:
        regions = list(params.regions)
    else:
        regions = sorted(set(path_regions) | set(ros["region"]))
        if not path_regions:
            raise ValueError("quarter paths have no region level; give region paths to split the target")
    no_paths = [r for r in regions if r not in path_regions]
    if no_paths:
        notes.append(f"region(s) {no_paths} have no forecast paths: forecast taken as 0")
    ros = ros[ros["region"].isin(regions)].reset_index(drop=True)
    if ros.empty:
        raise ValueError(f"empty roster: no rep in region(s) {regions}")
    reg_paths = dist.cube("region", regions)
    comp_paths = dist.cube("company")[:, 0, :]
    if params.regions is not None and set(regions) != set(path_regions):
        comp_paths = reg_paths.sum(axis=1)
        notes.append("company paths = sum of the selected regions' paths")
    R = len(regions)
    if data.regions is not None:
        rt = data.regions.assign(region=data.regions["region"].astype(str)).set_index("region")
        maturity = rt["maturity"].reindex(regions).fillna("developing").astype(str).to_numpy()
        potential = rt["market_potential"].reindex(regions).fillna(0.0).to_numpy(float)
    else:
        maturity, potential = np.array(["developing"] * R), np.zeros(R)
        notes.append("table 'regions' absent: maturity = developing, no market-potential share")
    ly_q = q - 4
    ly = _quarter_revenues(o, order_regions, pd.PeriodIndex([ly_q]), regions)[ly_q]
    if not covers_quarter(first, ly_q):  # a part of last year's quarter is not its revenue
        ly = np.zeros(R)
        notes.append(f"the history starts {first.date()}, inside or after {ly_q}: no same quarter last year")
    return PlanScope(q, dist.months, as_of, first, o, known, regions, ros, reg_paths, comp_paths,
                     maturity, potential, ly, ly_q, notes, order_regions=order_regions)


def _scored_deals(data: SalesData, at: pd.Timestamp, horizon_end: pd.Timestamp) -> pd.DataFrame:
    """Default scorer of :func:`pipeline_increment`: the pipeline open at ``at``, scored by a
    win model trained only on the data known at ``at`` (:func:`salesplan.planning.pipeline.scored_pipeline`)."""
    from salesplan.planning.pipeline import scored_pipeline  # lazy: scikit-learn only when scoring

    return scored_pipeline(data, at, horizon_end=horizon_end)


def scored_pipeline_key(at, horizon_end) -> tuple:
    """The memo key of the open pipeline scored at ``at`` for ``horizon_end``
    (:func:`memo_scorer`): ``("scored_pipeline", Timestamp, Timestamp)``."""
    return ("scored_pipeline", pd.Timestamp(at), pd.Timestamp(horizon_end))


def memo_scorer(memo: dict | None = None):
    """A scorer for :func:`pipeline_increment` that scores each ``(date, horizon end)`` once.

    ``scorer(data, at, horizon_end)`` returns a copy of the first result of
    :func:`_scored_deals` for that key, kept in ``memo`` (a new dict when ``None``) under
    ``("scored_pipeline", at, horizon_end)``.  Sound only for calls on one data set whose
    cut ``data.until(at)`` is the same for every caller: e.g. the histories of
    :class:`~salesplan.planning.context.PlanContext` objects made from the same data
    (``at`` never after their history's end), whose ``memo`` this is meant to be.  The
    win model of each date is trained once instead of once per plan, scenario and
    monitoring quarter (same numbers: same data, same ``random_state``).
    """
    memo = {} if memo is None else memo

    def scorer(data, at, horizon_end):
        key = scored_pipeline_key(at, horizon_end)
        if key not in memo:
            memo[key] = _scored_deals(data, at, horizon_end)
        return memo[key].copy()

    return scorer


def _weighted_deals(data, at, horizon_end, params: TargetParams, rates, scorer, ros) -> pd.DataFrame:
    """Open deals at ``at`` with ``w`` = expected won value by ``horizon_end`` (currency)."""
    if params.pipeline_weights == "scored":
        d = scorer(data, at, horizon_end)
        if len(d):
            d = d.assign(w=d["amount"].to_numpy(float) * d["p_win"].to_numpy(float)
                         * d["in_horizon"].to_numpy(bool))
    else:
        d = _funnel.open_pipeline(data, at)
        if len(d):
            d["w"] = _funnel.weighted_pipeline(d, rates, at, horizon_end).to_numpy()
    if len(d) == 0:
        return pd.DataFrame({"region": pd.Series(dtype=object), "customer_id": pd.Series(dtype=object),
                             "w": pd.Series(dtype=float)})
    d = d.reset_index(drop=True)
    d["region"] = d["region"].astype(object).where(
        d["region"].notna(), d["rep_id"].map(ros.set_index("rep_id")["region"]))
    return d


def pipeline_increment(data: SalesData, sc: PlanScope, params: TargetParams, rates=None, scorer=None):
    """Stage 2a: weighted open pipeline not yet in the forecast, per region (module docstring).

    ``W(d) = sum_i amount_i * p_i * 1[deal i expected to close by the quarter's end]`` with
    ``p_i`` the deal's scored win probability (``pipeline_weights="scored"``) or its stage
    average (``"stage"``).  Rule ``backtest``: ``increment_r = beta * (W_r(as_of) - z_bar *
    F_r)`` with ``beta``, ``z_bar`` from :func:`pipeline_effect` on the back-test quarters
    (the path deviations of its uncertainty go to ``sc.pipeline_dev``, the fit to
    ``sc.pipeline_fit``); rule ``excess``: ``increment_r = max(0, W_r(as_of) - rho * F_r)``,
    ``rho = sum_q W(start_q) / sum_q Rev_q`` with the same weights.

    Parameters
    ----------
    scorer : callable, optional
        ``scorer(data, at, horizon_end) -> DataFrame`` of the deals open at ``at`` with
        ``opportunity_id, customer_id, rep_id, region, amount, p_win, in_horizon``; called
        once for ``as_of`` and once for the day before each history quarter.  Default:
        :func:`salesplan.planning.pipeline.scored_pipeline` (a model trained on ``data.until(at)``).
        It raises ``ValueError`` when no model can be trained: then every date falls back
        to stage averages, with a note.

    Returns
    -------
    tuple
        ``(increment (R,), pipeline_now (R,), rho, rates, weights_used)``: currency per
        region, the usual pipeline ratio (``rho``; ``z_bar`` for ``backtest``), the stage
        rates, and ``"scored"`` or ``"stage"``.
    """
    R, q, as_of, o, ros = len(sc.regions), sc.q, sc.as_of, sc.orders, sc.roster
    incr, w_now, rho = np.zeros(R), np.zeros(R), np.nan
    used, rule = params.pipeline_weights, params.pipeline_rule
    if rule == "none":
        return incr, w_now, rho, rates, used
    if data.opportunities is None or len(data.opportunities) == 0:
        sc.notes.append(f"pipeline_rule={rule!r} needs opportunities: none given, increment 0")
        return incr, w_now, rho, rates, used
    if rates is None:
        rates = _funnel.estimate_rates(data, as_of)
    bt = _backtest_quarters(data, sc, params) if rule == "backtest" else []
    # (date, horizon end) of the pipeline now and of each history quarter's opening pipeline
    dates = pipeline_dates(data, q, as_of, sc.first, params)
    hist_q = [pd.Period(h, freq=q.freq) for _, h in dates[1:]]
    scorer = scorer if scorer is not None else _scored_deals

    def weigh(p_):
        return [_weighted_deals(data, d, h, p_, rates, scorer, ros) for d, h in dates]

    try:
        deals = weigh(params)
    except ValueError as e:
        if used != "scored":
            raise
        used = "stage"
        sc.notes.append(f"pipeline_weights='scored': no win model at every date ({e}); "
                        "stage averages used for the pipeline and for rho")
        deals = weigh(replace(params, pipeline_weights="stage"))
    pipe = deals[0]
    if len(pipe):
        if rule == "new_customers":
            old = set(o.loc[o["order_date"] <= as_of, "customer_id"])
            pipe = pipe[~pipe["customer_id"].isin(old)]
        w_now = pipe.groupby(pipe["region"].astype(str))["w"].sum().reindex(sc.regions, fill_value=0.0).to_numpy()
    if rule == "new_customers":
        return w_now, w_now, rho, rates, used
    if rule == "backtest":
        incr, sc.pipeline_dev, sc.pipeline_fit = _backtest_increment(sc, params, bt, deals[1:], w_now)
        return incr, w_now, sc.pipeline_fit["z_bar"], rates, used
    num_ = sum(float(hp["w"].sum()) for hp in deals[1:])
    den_ = sum(float(_quarter_revenue(o, hq).sum()) for hq in hist_q)
    if den_ > 0 and num_ > 0:
        rho = num_ / den_
        incr = np.clip(w_now - rho * sc.reg_paths.sum(axis=2).mean(axis=0), 0, None)
    else:
        sc.notes.append("no pipeline history to measure what the forecast already holds: increment 0")
    return incr, w_now, rho, rates, used


def pipeline_rho(data: SalesData, as_of, params: TargetParams, *, rates=None, scorer=None) -> tuple[float, str]:
    """``rho = sum_q W(start_q) / sum_q Rev_q`` of the ``excess`` rule, on the history before ``as_of``.

    The same quarters, dates and weights as :func:`pipeline_increment`: the last
    ``params.pipeline_history_quarters`` quarters of ``params.period``'s frequency that end
    on or before ``as_of`` (the current one included when ``as_of`` is its last day) and
    start after the first order; ``W(start_q)`` = weighted pipeline open the day before
    ``q`` starts that is expected to close by ``q``'s end, weighted by
    ``params.pipeline_weights`` (scored: a model trained only on the data before each date).
    Used by the weekly review to take the usual pipeline out of its landing forecast.

    Returns
    -------
    tuple
        ``(rho, weights_used)``; ``rho`` is NaN without opportunities or history.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if data.opportunities is None or len(data.opportunities) == 0:
        return np.nan, params.pipeline_weights
    o = _orders_with_region(data)
    first = o["order_date"].min()
    cur = pd.Period(as_of, freq=params.period.freq)
    k0 = 0 if pd.Timestamp(cur.end_time).normalize() == as_of else 1
    hist_q = [hq for hq in [cur - k for k in range(k0, k0 + params.pipeline_history_quarters)]
              if hq.start_time > first]
    if not hist_q:
        return np.nan, params.pipeline_weights
    if rates is None and params.pipeline_weights == "stage":
        rates = _funnel.estimate_rates(data, as_of)
    ros = data.reps[["rep_id", "region"]] if data.reps is not None else pd.DataFrame(
        {"rep_id": pd.Series(dtype=object), "region": pd.Series(dtype=object)})
    dates = [(hq.start_time.normalize() - pd.Timedelta(days=1), hq.end_time.normalize()) for hq in hist_q]
    scorer = scorer if scorer is not None else _scored_deals
    used = params.pipeline_weights
    try:
        num_ = sum(float(_weighted_deals(data, d, h, params, rates, scorer, ros)["w"].sum()) for d, h in dates)
    except ValueError:
        if used != "scored":
            raise
        used = "stage"
        rates = rates if rates is not None else _funnel.estimate_rates(data, as_of)
        num_ = sum(float(_weighted_deals(data, d, h, replace(params, pipeline_weights="stage"), rates,
                                         scorer, ros)["w"].sum()) for d, h in dates)
    den_ = sum(float(_quarter_revenue(o, hq).sum()) for hq in hist_q)
    return (num_ / den_ if den_ > 0 and num_ > 0 else np.nan), used


# --------------------------------------------------------------------------- pipeline back-test rule

def pipeline_effect(err, fhat, w_open, quarter, region, min_obs: int = 6, min_quarters: int = 3) -> dict:
    """How much of the weighted opening pipeline the forecast misses: back-test regression.

    One observation ``i`` per (region r, back-test quarter q): ``err_i = Rev_i - Fhat_i``
    (what the back-test forecast missed, currency), ``Fhat_i`` the back-test forecast made
    before the quarter, ``W_i`` the weighted pipeline open the day before it.  Each region
    is put on one scale ``D_r`` = its mean ``Fhat`` (a constant: dividing by ``Fhat_i``
    itself would correlate ``err / Fhat`` with ``W / Fhat`` whenever ``Fhat`` is too low),
    ``y_i = err_i / D_r``, ``z_i = W_i / D_r``; both are centred within the region
    (``~``: region fixed effects, so a region's usual pipeline and the back-test
    forecast's bias in it do not count), weights ``v_i = D_r / mean(D)``::

        b_hat = sum v z~ y~ / S_zz,   S_zz = sum v z~^2,   e = y~ - b_hat z~
        se = max(se_ols, se_cluster),  se_ols^2 = sum v e^2 / (n - R - 1) / S_zz,
        se_cluster^2 = G / (G - 1) * sum_g (sum_{i in g} v_i z~_i e_i)^2 / S_zz^2
                       (G back-test quarters = the clusters)

    Shrinkage (empirical Bayes, normal prior ``N(0, tau^2)``, ``tau^2 = max(0, b_hat^2 -
    se^2)``): ``f = max(0, 1 - se^2 / b_hat^2)``, ``beta = clip(f * b_hat, 0, 1)``, posterior
    sd ``sd = sqrt(f) * se`` (0 when ``beta = 0``: no effect, no spread).  A pipeline the
    forecast already expects gives ``b_hat ~ 0``, ``beta = 0``; revenue moving one for one
    with the pipeline beyond the usual, ``beta ~ 1``.
    The usual pipeline per forecast unit: ``rho_r = sum_q W_rq / sum_q Fhat_rq`` per region,
    ``z_bar = sum W / sum Fhat`` overall.

    Parameters
    ----------
    err, fhat, w_open : array-like (n,)
        Forecast error, back-test forecast and weighted opening pipeline (currency).
    quarter, region : array-like (n,)
        Back-test quarter (the clusters) and region (the fixed effects) of each observation.
    min_obs, min_quarters : int
        Fewer valid observations or quarters: no estimate (``beta = 0``, ``reason`` says why).

    Returns
    -------
    dict
        ``beta, sd, b_hat, se, shrink (f), z_bar, rho (dict region -> rho_r), n, n_quarters,
        reason`` (``reason`` is "" when estimated).
    """
    err, fhat, w = (np.asarray(x, float) for x in (err, fhat, w_open))
    qs, rg = np.asarray(quarter, dtype=object), np.asarray(region, dtype=object)
    ok = np.isfinite(err) & np.isfinite(w) & np.isfinite(fhat) & (fhat > 0)
    err, fhat, w, qs, rg = err[ok], fhat[ok], w[ok], qs[ok], rg[ok]
    n, G = len(err), len(set(qs.tolist()))
    by = pd.DataFrame({"r": rg, "w": w, "f": fhat}).groupby("r")
    rho = (by["w"].sum() / by["f"].sum()).to_dict() if n else {}
    out = {"beta": 0.0, "sd": 0.0, "b_hat": np.nan, "se": np.nan, "shrink": 0.0,
           "z_bar": float(w.sum() / fhat.sum()) if n else np.nan, "rho": rho, "n": n, "n_quarters": G,
           "reason": ""}
    R = len(rho)
    if n < max(min_obs, R + 3) or G < min_quarters:
        out["reason"] = f"{n} region-quarters in {G} quarters (need {max(min_obs, R + 3)} in {min_quarters})"
        return out
    D = by["f"].transform("mean").to_numpy()
    y, z, v = err / D, w / D, D / D.mean()
    yt = y - pd.Series(y).groupby(rg).transform("mean").to_numpy()
    zt = z - pd.Series(z).groupby(rg).transform("mean").to_numpy()
    szz = float(np.sum(v * zt * zt))
    if szz <= 1e-12 * float(np.sum(v * z * z)) or szz == 0:
        out["reason"] = "the opening pipeline did not vary within a region"
        return out
    b = float(np.sum(v * zt * yt) / szz)
    e = yt - b * zt
    se_ols = math.sqrt(float(np.sum(v * e * e)) / (n - R - 1) / szz)
    score = pd.Series(v * zt * e).groupby(qs).sum().to_numpy()
    se_cl = math.sqrt(G / (G - 1) * float(np.sum(score ** 2))) / szz
    se = max(se_ols, se_cl)
    f = (1.0 if b != 0 else 0.0) if se == 0 else max(0.0, 1.0 - se * se / (b * b)) if b != 0 else 0.0
    beta = min(max(f * b, 0.0), 1.0) + 0.0
    out.update(beta=beta, sd=float(math.sqrt(f) * se) if beta > 0 else 0.0, b_hat=b, se=float(se),
               shrink=float(f))
    return out


def _drift_forecast(rev: dict, q: pd.Period) -> np.ndarray | None:
    """Back-test forecast of quarter ``q`` from the quarters before it (currency per region).

    Seasonal naive with the trailing year's growth:
    ``Fhat_q = Rev_{q-4} * sum_{k=1..4} Rev_{q-k} / sum_{k=5..8} Rev_{q-k}`` (per region; the
    growth factor is 1 when the quarters ``q-8 .. q-5`` are not all in the history or sum
    to 0).  ``rev`` maps complete quarters to revenue arrays; None when ``q-4 .. q-1`` are
    not all complete.
    """
    if any(q - k not in rev for k in range(1, 5)):
        return None
    last = sum(rev[q - k] for k in range(1, 5))
    g = np.ones_like(last)
    if all(q - k in rev for k in range(5, 9)):
        prev = sum(rev[q - k] for k in range(5, 9))
        g = np.where(prev > 0, last / np.where(prev > 0, prev, 1.0), 1.0)
    return rev[q - 4] * g


def _backtest_quarters(data, sc: PlanScope, params: TargetParams) -> list:
    """Back-test quarters of the ``backtest`` rule: ``[(quarter, Rev (R,), Fhat (R,)), ...]``.

    The last ``pipeline_backtest_quarters`` complete quarters on or before ``as_of`` (the
    current one when ``as_of`` is its last day) whose back-test forecast exists
    (:func:`_drift_forecast`: the four quarters before are complete) and that start after
    the first opportunity was created (the opening pipeline is then observed).
    """
    periods = _backtest_periods(data, sc.q.freq, sc.as_of, sc.first, params)
    if not periods:
        return []
    cur, first_q = _complete_quarters(sc.q.freq, sc.as_of, sc.first)
    rev = _quarter_revenues(sc.orders, _line_regions(sc), pd.period_range(first_q, cur, freq=sc.q.freq), sc.regions)
    return [(hq, rev[hq], _drift_forecast(rev, hq)) for hq in periods]


def _complete_quarters(freq, as_of: pd.Timestamp, first: pd.Timestamp) -> tuple[pd.Period, pd.Period]:
    """``(last, first)``: the last quarter that ends on or before ``as_of`` and the first
    one that starts on or after the first order ``first`` (the complete quarters between)."""
    cur = pd.Period(as_of, freq=freq)
    k0 = 0 if pd.Timestamp(cur.end_time).normalize() == as_of else 1
    first_q = pd.Period(first, freq=freq)
    return cur - k0, (first_q if first_q.start_time >= first else first_q + 1)


def _backtest_periods(data: SalesData, freq, as_of: pd.Timestamp, first: pd.Timestamp,
                      params: TargetParams) -> list[pd.Period]:
    """The quarters of :func:`_backtest_quarters`, newest first: the last
    ``pipeline_backtest_quarters`` complete quarters whose four quarters before are
    complete too (their :func:`_drift_forecast` exists) and that start after the first
    opportunity was created."""
    last, first_q = _complete_quarters(freq, as_of, first)
    if last < first_q:
        return []
    created = data.opportunities["created_date"]
    opp0 = (created if created.dtype == "datetime64[ns]" else pd.to_datetime(created)).min()
    return [hq for hq in [last - k for k in range(params.pipeline_backtest_quarters)]
            if hq - 4 >= first_q and hq.start_time > opp0]


def pipeline_dates(data: SalesData, quarter: pd.Period, as_of, first, params: TargetParams) -> list[tuple]:
    """The ``(date, horizon end)`` pairs at which :func:`pipeline_increment` weighs the open
    pipeline: ``as_of`` with the plan quarter's end, then the day before each history
    quarter (back-test quarters of rule ``backtest``, the last ``pipeline_history_quarters``
    of rule ``excess``) with that quarter's end.

    Parameters
    ----------
    data : SalesData
        The history (needs ``opportunities`` for rule ``backtest``).
    quarter : pandas.Period
        The plan quarter.
    as_of : date-like
        The day the plan is made (the history's last day).
    first : date-like
        The first order's date.
    params : TargetParams
        ``pipeline_rule``, ``pipeline_backtest_quarters``, ``pipeline_history_quarters``.

    Returns
    -------
    list of (pandas.Timestamp, pandas.Timestamp)
        Empty for rule ``none``; only ``as_of``'s pair for rule ``new_customers``.
    """
    rule, as_of, first = params.pipeline_rule, pd.Timestamp(as_of).normalize(), pd.Timestamp(first)
    if rule == "none":
        return []
    hist_q = []
    if rule == "backtest":
        hist_q = _backtest_periods(data, quarter.freq, as_of, first, params)
    elif rule == "excess":
        last = _complete_quarters(quarter.freq, as_of, first)[0]
        hist_q = [hq for hq in [last - k for k in range(params.pipeline_history_quarters)]
                  if hq.start_time > first]
    return [(as_of, quarter.end_time.normalize())] + [
        (hq.start_time.normalize() - pd.Timedelta(days=1), hq.end_time.normalize()) for hq in hist_q]


def _fit_backtest(regions: list, bt: list, hist_deals: list) -> dict:
    """:func:`pipeline_effect` on the back-test quarters ``bt`` and the weighted deals open
    the day before each (``hist_deals``, same order)."""
    R, rows = len(regions), []
    for (hq, rev, fh), d in zip(bt, hist_deals):
        w = (d.groupby(d["region"].astype(str))["w"].sum().reindex(regions, fill_value=0.0).to_numpy()
             if len(d) else np.zeros(R))
        rows += [(str(hq), regions[j], rev[j] - fh[j], fh[j], w[j]) for j in range(R)]
    qs, rg, err, fhat, w = (list(x) for x in zip(*rows)) if rows else ([], [], [], [], [])
    return pipeline_effect(err, fhat, w, qs, rg)


def pipeline_backtest_fit(data: SalesData, as_of, params: TargetParams, *, rates=None, scorer=None) -> dict:
    """The ``backtest`` rule's fit (:func:`pipeline_effect`) on the history before ``as_of``.

    The same back-test quarters, dates and weights as :func:`pipeline_increment` with
    ``pipeline_rule="backtest"`` (``params.period``'s frequency, the last
    ``params.pipeline_backtest_quarters`` complete quarters on or before ``as_of``), for
    the weekly review's landing forecast (:func:`salesplan.planning.review.landing_forecast`,
    ``pipeline_beta``): only ``beta * (W - rho * R)`` of the open pipeline counts there.

    Returns
    -------
    dict
        The fit (``beta, sd, b_hat, se, z_bar, rho`` per region, ...) plus ``weights_used``;
        without opportunities ``beta = 0`` and ``reason`` says so.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if data.opportunities is None or len(data.opportunities) == 0:
        return {**pipeline_effect([], [], [], [], []), "reason": "no opportunities",
                "weights_used": params.pipeline_weights}
    o, order_regions = _region_lines(data)
    regions = ([str(r) for r in data.regions["region"]] if data.regions is not None
               else sorted(set(o["region"])))
    sc = PlanScope(params.period, pd.DatetimeIndex([]), as_of, o["order_date"].min(), o, regions, regions,
                   pd.DataFrame(), np.zeros((1, len(regions), 3)), np.zeros((1, 3)), np.array([]), np.array([]),
                   np.zeros(len(regions)), params.period - 4, [], order_regions=order_regions)
    bt = _backtest_quarters(data, sc, params)
    dates = [(hq.start_time.normalize() - pd.Timedelta(days=1), hq.end_time.normalize()) for hq, _, _ in bt]
    if rates is None:
        rates = _funnel.estimate_rates(data, as_of)
    ros = data.reps[["rep_id", "region"]] if data.reps is not None else pd.DataFrame(
        {"rep_id": pd.Series(dtype=object), "region": pd.Series(dtype=object)})
    scorer = scorer if scorer is not None else _scored_deals
    used = params.pipeline_weights
    try:
        deals = [_weighted_deals(data, d, h, params, rates, scorer, ros) for d, h in dates]
    except ValueError:
        if used != "scored":
            raise
        used = "stage"
        deals = [_weighted_deals(data, d, h, replace(params, pipeline_weights="stage"), rates, scorer, ros)
                 for d, h in dates]
    return {**_fit_backtest(regions, bt, deals), "weights_used": used}


def _backtest_increment(sc: PlanScope, params: TargetParams, bt: list, hist_deals: list, w_now):
    """Increment of the ``backtest`` rule per region and its path deviations (S, R).

    ``increment_r = beta * (W_r(as_of) - rho_r * F_r)`` (``F_r`` = forecast mean of region
    r, ``rho_r`` its usual pipeline per forecast unit, ``z_bar`` for a region without
    back-test rows; clipped at ``-F_r``).  On path s the coefficient is ``beta + sd * u_s``
    (``u_s`` iid N(0, 1), one draw per path shared by the regions, seed ``[params.seed,
    14]``): deviation ``sd * u_s * (W_r - rho_r * F_r)``.  Figures of :func:`pipeline_effect`.
    """
    fit = _fit_backtest(sc.regions, bt, hist_deals)
    F = sc.reg_paths.sum(axis=2).mean(axis=0)
    zb = fit["z_bar"] if np.isfinite(fit["z_bar"]) else 0.0
    rho = np.array([fit["rho"].get(r, zb) for r in sc.regions], float)
    x = w_now - rho * F
    incr = np.maximum(fit["beta"] * x, -F)
    u = np.random.default_rng([int(params.seed), 14]).standard_normal(sc.reg_paths.shape[0])
    dev = fit["sd"] * u[:, None] * x[None, :]
    if fit["reason"]:
        sc.notes.append(f"pipeline_rule='backtest': too little history to measure what the forecast "
                        f"misses of the pipeline ({fit['reason']}): increment 0")
    return incr, dev, fit


def company_target(comp_total_paths, increment: float, last_year: float, params: TargetParams,
                   increment_dev=None) -> dict:
    """Stage 2b: the company target and the figures of its bridge.

    Bottom-up distribution ``B_s = F_s + increment + dev_s`` (``F_s`` = company quarter
    total on path s; ``dev_s`` = ``increment_dev``, the increment's deviation from its mean
    on path s, 0 when None).  Target (before rounding to ``rounding_unit``):

    * ``board_target`` when given (method ``"board"``);
    * else ``last_year * (1 + growth)`` when ``growth`` is given (``"growth"``);
    * else the ``1 - target_probability`` quantile of ``B`` (``"probability"``), raised to
      the median of ``F`` when ``floor_at_p50`` and it lies below (``"probability, floored
      at P50"``).

    Returns
    -------
    dict
        ``method, last_year, forecast_mean, forecast_p50, forecast_p10, forecast_p90,
        pipeline_increment, bottom_up (= P50 + increment), target_exact, target,
        below_p50 (P50 - target when positive, else 0), stretch (target - bottom_up),
        p_attain_target (share of B_s >= target)``.
    """
    F = np.asarray(comp_total_paths, float)
    B = F + increment + (0.0 if increment_dev is None else np.asarray(increment_dev, float))
    p50 = float(np.median(F))
    if params.board_target is not None:
        method, exact = "board", float(params.board_target)
    elif params.growth is not None:
        if last_year <= 0:
            raise ValueError(
                f"growth={params.growth!r}: no revenue in the same quarter last year inside the data; "
                "give board_target or leave growth=None (probability rule)")
        method, exact = "growth", last_year * (1 + params.growth)
    else:
        method, exact = "probability", float(np.quantile(B, 1 - params.target_probability))
        if params.floor_at_p50 and exact < p50:
            method, exact = "probability, floored at P50", p50
    T = _round_unit(exact, params.rounding_unit)
    if method.endswith("P50"):  # the floor rounds up, so that the target is never below the P50
        T = float(math.ceil(exact / params.rounding_unit - 1e-9) * params.rounding_unit)
    return {"method": method, "last_year": float(last_year), "forecast_mean": float(F.mean()),
            "forecast_p50": p50, "forecast_p10": float(np.quantile(F, 0.1)),
            "forecast_p90": float(np.quantile(F, 0.9)), "pipeline_increment": float(increment),
            "bottom_up": p50 + float(increment), "target_exact": exact, "target": T,
            "below_p50": max(0.0, p50 - T), "stretch": T - p50 - float(increment),
            "p_attain_target": float(_odds(B, T))}


def target_bridge(company: pd.DataFrame, quarter_label: str, ly_label: str) -> pd.DataFrame:
    """The bridge from last year's quarter to the sum of quotas (waterfall rows).

    Rows: last year (total) -> carry-on forecast P50 (step) -> pipeline not in the forecast
    (step) -> stretch (step: target - P50 - pipeline, negative when the target is below) ->
    target (total) -> over-assignment (step) -> sum of quotas (total).
    Columns ``step, kind ("total" / "change"), amount, cumulative`` (currency).
    """
    c = company.iloc[0]
    rows = [(f"{ly_label} actual", "total", c["last_year"]),
            ("carry-on forecast (P50)", "change", c["forecast_p50"] - c["last_year"]),
            ("pipeline not in the forecast", "change", c["pipeline_increment"]),
            ("stretch", "change", c["target"] - c["forecast_p50"] - c["pipeline_increment"]),
            (f"target {quarter_label}", "total", c["target"]),
            ("over-assignment", "change", c["quota"] - c["target"]),
            ("sum of quotas", "total", c["quota"])]
    df = pd.DataFrame(rows, columns=["step", "kind", "amount"])
    cum, out = 0.0, []
    for r in df.itertuples(index=False):
        cum = r.amount if r.kind == "total" else cum + r.amount
        out.append(cum)
    df["cumulative"] = out
    return df


def split_regions(T: float, sc: PlanScope, increment: np.ndarray, params: TargetParams) -> dict:
    """Stage 3: region targets summing exactly to ``T`` (module docstring, *Regions*).

    Returns a dict of arrays in region order: ``forecast_mean, base, uplift_existing,
    uplift_new, target_uncapped, cap_min, cap_max, capped, target``.
    """
    R = len(sc.regions)
    F = sc.reg_paths.sum(axis=2).mean(axis=0)
    wf, wp = params.weight_forecast, params.weight_potential
    if sc.potential.sum() <= 0:
        wf, wp = 1.0, 0.0
    base = F + increment
    U = T - base.sum()
    e = np.array([params.maturity_existing.get(m, 0.7) for m in sc.maturity])
    n_ = np.array([params.maturity_new.get(m, 0.7) for m in sc.maturity])
    fs = F / F.sum() if F.sum() > 0 else np.full(R, 1 / R)
    ps = sc.potential / sc.potential.sum() if sc.potential.sum() > 0 else np.zeros(R)
    ex_term, new_term = wf * e * fs, wp * n_ * ps
    norm = (ex_term + new_term).sum()
    if norm <= 0:
        ex_term, norm = fs.copy(), 1.0
    u = (ex_term + new_term) / norm
    if U >= 0:
        up_ex, up_new = U * ex_term / norm, U * new_term / norm
    else:
        bw = base / base.sum() if base.sum() > 0 else np.full(R, 1 / R)
        up_ex, up_new = U * bw, np.zeros(R)
    raw = base + up_ex + up_new
    ly = sc.last_year
    ref = np.where(ly > 0, ly, base)
    lo_g, hi_g = np.full(R, params.min_growth), np.full(R, params.max_growth)
    for i, r in enumerate(sc.regions):
        if params.region_caps and r in params.region_caps:
            lo_g[i], hi_g[i] = params.region_caps[r]
    lo = np.where(ref > 0, ref * (1 + lo_g), 0.0)
    hi = np.where(ref > 0, ref * (1 + hi_g), np.inf)
    x, capped = _water_fill(T, raw, np.where(u > 0, u, 0.0), lo, hi, sc.regions)
    return {"forecast_mean": F, "base": base, "uplift_existing": up_ex, "uplift_new": up_new,
            "target_uncapped": raw, "cap_min": lo, "cap_max": hi, "capped": capped,
            "target": largest_remainder(T, x, params.rounding_unit)}


def build_slots(data: SalesData, sc: PlanScope, params: TargetParams, vacancies=None,
                house: bool = False) -> list[dict]:
    """Stage 4a: one slot per rep employed in the quarter, vacancy or region without a rep.

    With ``house=True`` (rep-level paths given) each region also gets a ``HOUSE:<region>``
    slot held by the region's manager: the accounts without a current rep (house
    accounts, books of reps who left), judged on the region's paths minus its reps' paths.

    Each slot: ``rep_id, name, region, level, hire_date, exit_date, holder, vacant, kind,
    cap (3 monthly capacities), ramp_avg, presence`` (module docstring, *Reps*).
    """
    q, regions, ros, qe = sc.q, sc.regions, sc.roster, sc.q.end_time.normalize()
    cap = rep_capacity(ros, q, params)
    if cap.empty:
        raise ValueError(f"empty roster: no rep employed during {params.quarter} in region(s) {regions}")

    def wide(col):
        return cap.pivot_table(index="rep_id", columns="month", values=col, aggfunc="sum").reindex(
            columns=sc.months, fill_value=0.0)

    cap_w, pres_w, ramp_w = wide("capacity"), wide("presence"), wide("ramp")
    # per rep: row reductions once (not three label look-ups per rep)
    cap_a, ramp_min = cap_w.to_numpy(float), ramp_w.min(axis=1).to_numpy()
    ramp_mean, pres_mean = ramp_w.mean(axis=1).to_numpy(), pres_w.mean(axis=1).to_numpy()
    reps = ros.set_index("rep_id").loc[cap_w.index]
    pos = {c: i + 1 for i, c in enumerate(reps.columns)}
    slots = []
    at = cap_w.index.get_indexer(reps.index)  # each roster row's position in the pivots
    for i, tup in zip(at, reps.itertuples(index=True, name=None)):
        rid = tup[0]
        row = {c: tup[pos[c]] for c in ("name", "region", "level", "hire_date", "exit_date")}
        kind = [k for k, on in (("planned_hire", row["hire_date"] > sc.as_of), ("ramping", ramp_min[i] < 1),
                                ("exiting", pd.notna(row["exit_date"]) and row["exit_date"] <= qe)) if on]
        slots.append(dict(rep_id=rid, name=row["name"], region=row["region"], level=row["level"],
                          hire_date=row["hire_date"], exit_date=row["exit_date"], holder=rid, vacant=False,
                          kind=",".join(kind), cap=cap_a[i].copy(),
                          ramp_avg=float(ramp_mean[i]), presence=float(pres_mean[i])))
        if "exiting" in kind:
            repl = ros[(ros["region"] == row["region"]) & (ros["hire_date"] >= row["exit_date"]) & (ros["hire_date"] <= qe)]
            if len(repl):
                sc.notes.append(f"rep {rid} exits {row['exit_date'].date()}; {repl['rep_id'].iloc[0]} hired after: no vacancy")
                continue
            vac = params.level_weights[row["level"]] * params.vacancy_capacity * (1 - pres_w.loc[rid].to_numpy(float))
            slots.append(dict(rep_id=f"VACANT:{rid}", name=f"vacant (was {row['name']})", region=row["region"],
                              level=row["level"], hire_date=pd.NaT, exit_date=pd.NaT,
                              holder=f"manager:{row['region']}", vacant=True, kind="vacancy_after_exit",
                              cap=vac, ramp_avg=1.0, presence=float((1 - pres_w.loc[rid]).mean())))
    vac_df = vacancies if vacancies is not None else _detect_vacancies(data, ros, q, params, sc.as_of)
    if vacancies is not None:
        if not {"region", "level"} <= set(vac_df.columns):
            raise ValueError("vacancies: expected columns 'region' and 'level'")
        badr = sorted(set(vac_df["region"].astype(str)) - set(sc.known))
        if badr:
            raise ValueError(f"vacancies: unknown region(s) {badr}; known regions: {sc.known}")
    for i, v in enumerate(vac_df.itertuples(index=False)):
        if str(v.region) not in regions:
            continue
        lv = str(v.level) if str(v.level) in REP_LEVELS else "senior"
        former = getattr(v, "former_rep", None)
        rid = f"VACANT:{former}" if former is not None and pd.notna(former) else f"VACANT:{v.region}:{i + 1}"
        slots.append(dict(rep_id=rid, name="vacant territory", region=str(v.region), level=lv,
                          hire_date=pd.NaT, exit_date=pd.NaT, holder=f"manager:{v.region}", vacant=True,
                          kind="vacancy", cap=np.full(3, params.level_weights[lv] * params.vacancy_capacity),
                          ramp_avg=1.0, presence=1.0))
    for r in regions:
        if not any(s_["region"] == r and s_["cap"].sum() > 0 for s_ in slots):
            slots.append(dict(rep_id=f"VACANT:{r}", name="region without rep", region=r, level="senior",
                              hire_date=pd.NaT, exit_date=pd.NaT, holder=f"manager:{r}", vacant=True,
                              kind="region_without_rep", cap=np.ones(3), ramp_avg=1.0, presence=1.0))
            sc.notes.append(f"region {r} has no rep in {params.quarter}: its quota is held by the region's manager")
    if house:
        for r in regions:
            slots.append(dict(rep_id=f"HOUSE:{r}", name="accounts without a current rep", region=r,
                              level="senior", hire_date=pd.NaT, exit_date=pd.NaT, holder=f"manager:{r}",
                              vacant=True, kind="house_accounts", cap=np.zeros(3), ramp_avg=1.0, presence=1.0))
    slots.sort(key=lambda s_: (regions.index(s_["region"]), s_["vacant"], s_["rep_id"]))
    return slots


@dataclass
class RepBasis:
    """Stage 4b output: what the rep split and the rep odds use, one entry per slot.

    ``own`` own forecast (currency per quarter, NaN without own paths), ``history_q`` full
    quarters in post, ``recent`` share of the region's recent sales, ``cap_share``
    capacity share of the region, ``established`` (blend + band apply), ``e`` expected
    productivity, ``lo``/``hi`` quota bounds (currency), ``share_m`` (N, 3) monthly share
    of the region for the regional outcome model, ``own_paths`` (S, N, 3) or None.
    """

    slot_reg: np.ndarray
    capm: np.ndarray
    own: np.ndarray
    history_q: np.ndarray
    recent: np.ndarray
    cap_share: np.ndarray
    established: np.ndarray
    e: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    share_m: np.ndarray
    own_paths: np.ndarray | None


def rep_basis(slots: list[dict], sc: PlanScope, dist: QuarterDistribution, params: TargetParams) -> RepBasis:
    """Stage 4b: own forecast, history, recent share, capacity share, the blend ``e_i`` and
    the band of every slot (:mod:`salesplan.planning.quota`)."""
    R, n = len(sc.regions), len(slots)
    slot_reg = np.array([sc.regions.index(s_["region"]) for s_ in slots])
    capm = np.array([s_["cap"] for s_ in slots], dtype=float).reshape(n, 3)
    ids = [s_["rep_id"] for s_ in slots]
    real = np.array([not s_["vacant"] for s_ in slots])
    own_paths = None
    own = np.full(n, np.nan)
    house = np.array([s_["kind"] == "house_accounts" for s_ in slots])
    if "rep" in dist.levels:
        have = set(dist.nodes("rep"))
        has = np.array([real[j] and ids[j] in have for j in range(n)])
        if has.any() or house.any():
            own_paths = dist.cube("rep", ids) * has[None, :, None]
            for j in np.where(house)[0]:  # region paths minus the paths of its reps
                g = slot_reg[j]
                own_paths[:, j, :] = sc.reg_paths[:, g, :] - own_paths[:, slot_reg == g, :].sum(axis=1)
            own = np.where(has | house, own_paths.sum(axis=2).mean(axis=0), np.nan)
    hire = pd.Series([s_["hire_date"] for s_ in slots], dtype="datetime64[ns]")
    hq = np.where(real, _q.history_quarters(hire.fillna(sc.q.start_time), sc.q.start_time).to_numpy(), 0)
    recent = _q.recent_share(sc.orders, pd.DataFrame({"rep_id": ids, "region": [s_["region"] for s_ in slots]}),
                             sc.as_of, params.recent_quarters).to_numpy()
    cap_tot = np.array([capm[slot_reg == g].sum() for g in range(R)])
    cap_share = np.where(cap_tot[slot_reg] > 0, capm.sum(axis=1) / np.where(cap_tot[slot_reg] > 0, cap_tot[slot_reg], 1), 0.0)
    established = house | (real & (hq >= params.min_history_quarters)
                           & np.array([s_["kind"] == "" and s_["presence"] >= 1 for s_ in slots]))
    if "rep" not in dist.levels:  # no own forecasts known: every slot by capacity
        established = np.zeros(n, bool)
    own = np.where(established, np.nan_to_num(own), own)  # an established rep without own paths has a book of 0
    w = (params.weight_own_forecast, params.weight_recent, params.weight_capacity)
    e = np.zeros(n)
    for g in range(R):
        idx = np.where(slot_reg == g)[0]
        e[idx] = _q.expected_productivity(np.nan_to_num(own[idx]), recent[idx], cap_share[idx], established[idx], w,
                                          own_only=house[idx])
    banded = established & (np.nan_to_num(own) > 0)
    lo = np.where(banded, params.band_low * np.nan_to_num(own), 0.0)
    hi = np.where(banded, params.band_high * np.nan_to_num(own), np.inf)
    # monthly share of the region for the regional outcome model: e_i x monthly capacity profile
    prof = np.where(capm.sum(axis=1, keepdims=True) > 0, capm / np.clip(capm.sum(axis=1, keepdims=True), 1e-12, None), 1 / 3)
    em = e[:, None] * prof
    tot_m = np.array([em[slot_reg == g].sum(axis=0) for g in range(R)])[slot_reg]
    share_m = np.where(tot_m > 0, em / np.where(tot_m > 0, tot_m, 1), 0.0)
    return RepBasis(slot_reg, capm, own, hq, recent, cap_share, established, e, lo, hi, share_m, own_paths)


def split_rep_quotas(reg_quota: np.ndarray, rb: RepBasis, params: TargetParams) -> tuple[np.ndarray, np.ndarray]:
    """Stage 4c: each region's quota over its slots by the blend, inside the band, in whole
    ``rounding_unit`` (largest remainder).  Returns ``(quota (N,), band_feasible (R,))``."""
    quota = np.zeros(len(rb.e))
    feasible = np.ones(len(reg_quota), bool)
    for g, Qr in enumerate(reg_quota):
        idx = np.where(rb.slot_reg == g)[0]
        if len(idx) == 0:
            continue
        x, feasible[g] = _q.band_split(float(Qr), rb.e[idx], rb.lo[idx], rb.hi[idx])
        quota[idx] = largest_remainder(float(Qr), x, params.rounding_unit)
    return quota, feasible


def split_time(reg_target, rep_quota, rb: RepBasis, sc: PlanScope, params: TargetParams) -> dict:
    """Stage 5: months by the forecast's seasonal profile, weeks by working days.

    Returns ``season (R, 3), rep_month (N, 3), reg_quota_m, reg_target_m (R, 3), weeks``
    (DataFrame ``level, entity, region, week_start, target, quota``).
    """
    unit, R = params.rounding_unit, len(sc.regions)
    reg_mean_m = sc.reg_paths.mean(axis=0)
    season = _season_shares(reg_mean_m)
    comp_season = _season_shares(sc.comp_paths.mean(axis=0)[None, :])[0]
    season = np.where(reg_mean_m.sum(axis=1, keepdims=True) > 0, season, comp_season[None, :])
    rep_month = largest_remainder_rows(rep_quota, rb.capm * season[rb.slot_reg], unit).reshape(len(rep_quota), 3)
    reg_quota_m = np.array([rep_month[rb.slot_reg == g].sum(axis=0) for g in range(R)])
    reg_target_m = np.array([largest_remainder(reg_target[g], season[g], unit) for g in range(R)])
    dayw = _day_weights(sc.months, params.weekday_weights)
    rep_split = _week_splits(rep_month, sc.months, dayw)  # every rep's weeks in one group-by
    rep_w = largest_remainder_rows(rep_quota, rep_split, unit)
    wk_index = _week_split(reg_target_m[0], sc.months, dayw).index
    reg_split = _week_splits(reg_target_m, sc.months, dayw)
    reg_tw = np.array([largest_remainder(reg_target[g], reg_split[g], unit) for g in range(R)])
    reg_qw = np.array([rep_w[rb.slot_reg == g].sum(axis=0) for g in range(R)])
    return {"season": season, "rep_month": rep_month, "reg_quota_m": reg_quota_m, "reg_target_m": reg_target_m,
            "rep_w": rep_w, "reg_tw": reg_tw, "reg_qw": reg_qw, "wk_index": wk_index}


def choose_over_assignment(T: float, reg_target, rb: RepBasis, rep_paths_tot: np.ndarray, real: np.ndarray,
                           params: TargetParams) -> tuple[float, pd.DataFrame]:
    """Stage 6a: the over-assignment factor and the expected share of reps at quota.

    For each factor ``a`` on the grid (``params.over_assignment`` alone when fixed, else
    1.00, 1.01, ..., ``max_over_assignment``): company quota ``round(a T)``, region and rep
    splits as in the plan, expected share of real reps at quota = mean over paths of the
    share with ``A_is >= quota_i``.  Chosen: the factor whose share is nearest the middle
    of ``healthy_share`` (ties: the smaller).  Returns ``(factor, grid table)``.
    """
    unit = params.rounding_unit
    if params.over_assignment is not None:
        grid = np.array([float(params.over_assignment)])
    else:
        grid = np.round(np.arange(1.0, params.max_over_assignment + 1e-9, 0.01), 2)
    rows = []
    for a in grid:
        Qc = _round_unit(T * a, unit)
        rq, _ = split_rep_quotas(largest_remainder(Qc, reg_target, unit), rb, params)
        sh = (rep_paths_tot[:, real] >= rq[real][None, :] - 1e-9).mean(axis=1) if real.any() else np.zeros(1)
        rows.append({"over_assignment": float(a), "quota": Qc, "rep_share_at_quota": float(sh.mean())})
    tab = pd.DataFrame(rows)
    mid = 0.5 * sum(params.healthy_share)
    best = int(np.argmin(np.abs(tab["rep_share_at_quota"].to_numpy() - mid) + 1e-12 * np.arange(len(tab))))
    return float(tab["over_assignment"].iloc[best]), tab


def product_split(reg_target, sc: PlanScope, params: TargetParams) -> pd.DataFrame:
    """Stage 5b: region x product-line targets by each region's product mix over the last
    ``product_quarters`` complete quarters (net revenue; negative lines count, a product
    with a negative total gets 0); largest remainder, so products sum to the region.

    Returns ``region, product_line, mix_revenue, share, target`` (currency).
    """
    end = sc.as_of
    start = (end + pd.Timedelta(days=1)) - pd.DateOffset(months=3 * params.product_quarters)
    inside = ((sc.orders["order_date"] >= start) & (sc.orders["order_date"] <= end)).to_numpy()
    o = sc.orders.loc[inside, ["product_line", "amount"]]
    lines = _line_regions(sc)  # grouped on the region codes: the same groups, rows and sums
    mix = o["amount"].groupby([lines.codes[inside], o["product_line"]]).sum().clip(lower=0)
    comp_mix = o.groupby("product_line")["amount"].sum().clip(lower=0)
    have = set(mix.index.get_level_values(0))
    rows = []
    for g, r in enumerate(sc.regions):
        c = lines.categories.get_indexer([r])[0]
        m = mix.loc[c] if c in have else pd.Series(dtype=float)
        if m.sum() <= 0:
            m = comp_mix
        if m.sum() <= 0 or len(m) == 0:
            continue
        t = largest_remainder(float(reg_target[g]), m.to_numpy(float), params.rounding_unit)
        for pl, mv, tv in zip(m.index, m.to_numpy(float), t):
            rows.append({"region": r, "product_line": str(pl), "mix_revenue": mv, "share": mv / m.sum(), "target": tv})
    return pd.DataFrame(rows, columns=["region", "product_line", "mix_revenue", "share", "target"])


def propose_targets(
    data: SalesData,
    dist: QuarterDistribution,
    params: TargetParams,
    *,
    roster: pd.DataFrame | None = None,
    vacancies: pd.DataFrame | None = None,
    as_of=None,
    funnel_rates: _funnel.FunnelRates | None = None,
    quota_overrides: Mapping[str, float] | None = None,
    pipeline_scorer=None,
) -> TargetPlan:
    """Propose the quarter's company, region, rep, product, month and week targets with their odds.

    Stages: :func:`plan_scope` -> :func:`pipeline_increment` -> :func:`company_target` ->
    :func:`split_regions` -> :func:`build_slots` / :func:`rep_basis` ->
    :func:`choose_over_assignment` / :func:`split_rep_quotas` -> :func:`split_time` /
    :func:`product_split` -> odds -> tables.

    Parameters
    ----------
    data : SalesData
        History: ``orders`` (required), ``customers`` (regions of orders), ``regions``
        (maturity, market potential), ``reps`` (roster), ``opportunities`` +
        ``stage_history`` (pipeline increment).
    dist : QuarterDistribution
        Sample paths of the plan quarter (company and region; rep paths give the reps'
        own forecasts and odds).
    params : TargetParams
    roster : DataFrame, optional
        Rep roster overriding ``data.reps``; planned hires and exits are rows with future dates.
    vacancies : DataFrame, optional
        Territories without a rep for the quarter: ``region, level`` (optional
        ``former_rep``).  Default: detected from the roster and orders.
    as_of : date-like, optional
        Last day of history (default: the last order date).
    funnel_rates : FunnelRates, optional
        Stage win probabilities/durations for the pipeline increment.
    quota_overrides : mapping rep id -> amount, optional
        The planner's rep quotas (currency per quarter; ``salesplan run --overrides
        plan.xlsx``), applied after the split (:func:`override_rep_quotas`): a region's
        quota and the company's sum of quotas move by the overrides of their reps, and
        the months, weeks, odds, band checks and SMART check use the overridden quotas.
        ``reps.quota_proposed`` keeps the proposal, ``reps.overridden`` marks the rows.
    pipeline_scorer : callable, optional
        Scorer of the open deals for ``pipeline_weights="scored"`` (:func:`pipeline_increment`;
        default :func:`salesplan.planning.pipeline.scored_pipeline`).

    Returns
    -------
    TargetPlan
        ``params`` carries the over-assignment used (chosen when it was None).
    """
    return propose_targets_and_basis(data, dist, params, roster=roster, vacancies=vacancies, as_of=as_of,
                                     funnel_rates=funnel_rates, quota_overrides=quota_overrides,
                                     pipeline_scorer=pipeline_scorer)[0]


def propose_targets_and_basis(data: SalesData, dist: QuarterDistribution, params: TargetParams, *,
                              roster=None, vacancies=None, as_of=None, funnel_rates=None, quota_overrides=None,
                              pipeline_scorer=None) -> tuple[TargetPlan, PlanBasis]:
    """:func:`propose_targets` (same arguments) and the :class:`PlanBasis` the plan was
    proposed on, which :func:`compare_scenarios` can take (``bases``) for scenarios of the
    same :func:`basis_key` instead of computing it again."""
    if not isinstance(params, TargetParams):
        raise ValueError(f"params: expected TargetParams, got {type(params).__name__}")
    basis = plan_basis(data, dist, params, roster=roster, vacancies=vacancies, as_of=as_of,
                       funnel_rates=funnel_rates, pipeline_scorer=pipeline_scorer)
    return _propose_on(basis, params, quota_overrides), basis


@dataclass(frozen=True)
class PlanBasis:
    """What :func:`propose_targets` computes before the company target, the same for
    every target rule and over-assignment (:func:`plan_basis`).

    ``scope`` the plan's scope after the pipeline increment (``scope.notes`` its notes so
    far), ``pipeline`` the tuple of :func:`pipeline_increment`, ``slots`` / ``rep_basis``
    the slots and their basis (:func:`build_slots`, :func:`rep_basis`), ``slot_notes`` the
    notes :func:`build_slots` added (they follow the company target's note), ``rep_paths_m``
    the reps' outcome paths (S, N, 3), ``key`` the parameters it was made with (those of
    :func:`basis_key`).
    """

    scope: PlanScope
    pipeline: tuple
    slots: list
    rep_basis: RepBasis
    slot_notes: tuple
    rep_paths_m: np.ndarray
    key: TargetParams


def basis_key(params: TargetParams) -> TargetParams:
    """``params`` without what only the company target and the over-assignment use
    (``board_target``, ``growth``, ``target_probability``, ``floor_at_p50``,
    ``over_assignment``): two parameter sets with the same key share a :class:`PlanBasis`."""
    return replace(params, board_target=None, growth=None, target_probability=0.5, floor_at_p50=True,
                   over_assignment=None)


def plan_basis(data: SalesData, dist: QuarterDistribution, params: TargetParams, *, roster=None, vacancies=None,
               as_of=None, funnel_rates=None, pipeline_scorer=None) -> PlanBasis:
    """Stages 1, 2a and 4a-4b of :func:`propose_targets` (same arguments): the scope, the
    pipeline increment, the slots, their basis and the reps' outcome paths."""
    sc = plan_scope(data, dist, params, roster=roster, as_of=as_of)
    pipe = pipeline_increment(data, sc, params, funnel_rates, pipeline_scorer)
    n_notes = len(sc.notes)
    slots = build_slots(data, sc, params, vacancies, house="rep" in dist.levels)
    rb = rep_basis(slots, sc, dist, params)
    empty_house = [j for j, s_ in enumerate(slots) if s_["kind"] == "house_accounts" and not rb.own[j] > 0]
    if empty_house:  # every account of the region has a current rep
        slots = [s_ for j, s_ in enumerate(slots) if j not in empty_house]
        rb = rep_basis(slots, sc, dist, params)
    rep_paths_m = _q.rep_outcome_paths(sc.reg_paths, rb.slot_reg, rb.share_m, rb.own_paths,
                                       rb.established, spread=params.rep_spread,
                                       noise_sd=params.rep_noise_sd, seed=params.seed)
    slot_notes = tuple(sc.notes[n_notes:])
    del sc.notes[n_notes:]
    return PlanBasis(sc, pipe, slots, rb, slot_notes, rep_paths_m, basis_key(params))


def _propose_on(basis: PlanBasis, params: TargetParams, quota_overrides) -> TargetPlan:
    """Stages 2b-7 of :func:`propose_targets` on a :class:`PlanBasis` made with parameters
    of the same :func:`basis_key` (its scope is copied: the basis can serve again)."""
    if basis_key(params) != basis.key:
        raise ValueError("plan basis: made with other parameters than these (see basis_key)")
    sc = replace(basis.scope, notes=list(basis.scope.notes))
    incr, w_now, rho, rates, weights_used = basis.pipeline
    slots, rb, rep_paths_m = basis.slots, basis.rep_basis, basis.rep_paths_m
    comp_tot = sc.comp_paths.sum(axis=1)
    dev = sc.pipeline_dev.sum(axis=1) if sc.pipeline_dev is not None else None
    ct = company_target(comp_tot, float(incr.sum()), float(sc.last_year.sum()), params, increment_dev=dev)
    T = ct["target"]
    if ct["below_p50"] > 0:
        sc.notes.append(f"the {ct['method']} target {T:,.0f} is {ct['below_p50']:,.0f} below the P50 forecast "
                        f"{ct['forecast_p50']:,.0f} ({ct['below_p50'] / ct['forecast_p50']:.1%})")
    rg = split_regions(T, sc, incr, params)
    sc.notes.extend(basis.slot_notes)
    real = np.array([not s_["vacant"] for s_ in slots])
    rep_tot = rep_paths_m.sum(axis=2)
    oa, oa_grid = choose_over_assignment(T, rg["target"], rb, rep_tot, real, params)
    params = replace(params, over_assignment=oa)
    Qc = _round_unit(T * oa, params.rounding_unit)
    reg_quota = largest_remainder(Qc, rg["target"], params.rounding_unit)
    rep_quota, band_ok_r = split_rep_quotas(reg_quota, rb, params)
    for g in np.where(~band_ok_r)[0]:
        sc.notes.append(f"region {sc.regions[g]}: its quota cannot respect the band "
                        f"{params.band_low:g}-{params.band_high:g} x own forecast; all its reps share one ratio")
    proposed = rep_quota
    rep_quota, reg_quota, overridden = override_rep_quotas(rep_quota, reg_quota, slots, rb, quota_overrides,
                                                           params, sc.notes)
    Qc = float(reg_quota.sum()) if overridden.any() else Qc
    tm = split_time(rg["target"], rep_quota, rb, sc, params)
    products = product_split(rg["target"], sc, params)
    odds = attainment(sc, ct, incr, rg["target"], reg_quota, rep_paths_m, rep_quota, tm, real, params)
    plan = _plan_tables(params, sc, ct, rg, incr, w_now, rho, rates, slots, rb, rep_quota, reg_quota, Qc,
                        band_ok_r, tm, odds, products, oa_grid, weights_used)
    plan.reps["quota_proposed"] = proposed
    plan.reps["overridden"] = overridden
    if overridden.any() and T > 0:  # the planner's quotas: sum of quotas / target as it now stands
        plan.company["over_assignment"] = Qc / T
    return plan


def override_rep_quotas(rep_quota: np.ndarray, reg_quota: np.ndarray, slots: list[dict], rb: RepBasis,
                        overrides: Mapping[str, float] | None, params: TargetParams,
                        notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage 4d: the planner's quota overrides (:func:`salesplan.planning.quota.apply_quota_overrides`).

    Each region's quota moves by the sum of its reps' changes,
    ``Q_r' = Q_r + sum_{i in r} (quota_i' - quota_i)``, so a region stays the sum of its
    reps and the company the sum of its regions.  Overrides are rounded to
    ``rounding_unit``; a note lists them.  Returns ``(rep quota, region quota, overridden)``.
    """
    ids = [s_["rep_id"] for s_ in slots]
    new, flag = _q.apply_quota_overrides(pd.Series(rep_quota, index=ids), overrides, unit=params.rounding_unit)
    new, flag = new.to_numpy(), flag.to_numpy()
    if not flag.any():
        return rep_quota, reg_quota, flag
    delta = np.bincount(rb.slot_reg, weights=new - rep_quota, minlength=len(reg_quota))
    changes = ", ".join(f"{ids[j]} {rep_quota[j]:,.0f} -> {new[j]:,.0f}" for j in np.where(flag)[0][:12])
    notes.append(f"{int(flag.sum())} rep quota(s) overridden by the planner ({changes}"
                 f"{', ...' if flag.sum() > 12 else ''}); sum of quotas {rep_quota.sum():,.0f} -> {new.sum():,.0f}")
    return new, reg_quota + delta, flag


def attainment(sc: PlanScope, ct: dict, incr, reg_target, reg_quota, rep_paths_m, rep_quota, tm: dict,
               real: np.ndarray, params: TargetParams) -> dict:
    """Stage 6b: ``P(actual >= target)`` at every level and month, and the share of reps at quota.

    Company and regions: bottom-up paths (forecast + pipeline increment, spread over the
    months by the path's profile); reps: their outcome paths
    (:func:`salesplan.planning.quota.rep_outcome_paths`).
    """
    pipe = incr[None, :] + (sc.pipeline_dev if sc.pipeline_dev is not None else 0.0)  # (S, R)
    comp = sc.comp_paths.sum(axis=1) + pipe.sum(axis=1)
    reg = sc.reg_paths.sum(axis=2) + pipe
    Qc = float(reg_quota.sum())
    rep_tot = rep_paths_m.sum(axis=2)
    at_quota = ((rep_tot[:, real] >= rep_quota[real][None, :] - 1e-9).mean(axis=1) if real.any()
                else np.zeros(rep_tot.shape[0]))
    m_frac = sc.reg_paths / np.clip(sc.reg_paths.sum(axis=2, keepdims=True), 1e-12, None)
    reg_m = sc.reg_paths + pipe[:, :, None] * np.where(sc.reg_paths.sum(axis=2, keepdims=True) > 0, m_frac, 1 / 3)
    comp_m = sc.comp_paths + pipe.sum(axis=1)[:, None] * sc.comp_paths / np.clip(
        sc.comp_paths.sum(axis=1, keepdims=True), 1e-12, None)
    return {"p_comp_t": float(_odds(comp, ct["target"])), "p_comp_q": float(_odds(comp, Qc)),
            "p_reg_t": _odds(reg, reg_target), "p_reg_q": _odds(reg, reg_quota),
            "p_rep": _odds(rep_tot, rep_quota), "p_rep_m": _odds(rep_paths_m, tm["rep_month"]),
            "rep_p50": np.median(rep_tot, axis=0),
            "pc_t": _odds(comp_m, tm["reg_target_m"].sum(axis=0)), "pc_q": _odds(comp_m, tm["reg_quota_m"].sum(axis=0)),
            "pr_t": _odds(reg_m, tm["reg_target_m"]), "pr_q": _odds(reg_m, tm["reg_quota_m"]),
            "at_quota": at_quota}


def _plan_tables(params, sc, ct, rg, incr, w_now, rho, rates, slots, rb, rep_quota, reg_quota, Qc, band_ok_r,
                 tm, odds, products, oa_grid, weights_used="stage") -> TargetPlan:
    """Stage 7: the plan's tables (see :class:`TargetPlan`)."""
    lo_f, hi_f, hs = params.odds_low, params.odds_high, params.healthy_share
    T, regions, real = ct["target"], sc.regions, np.array([not s_["vacant"] for s_ in slots])
    at_quota = odds["at_quota"]
    share_mean = float(at_quota.mean())
    band_ok = bool(hs[0] <= share_mean <= hs[1])
    if not band_ok:
        sc.notes.append(
            f"expected share of reps at quota {share_mean:.0%} is outside the healthy band {hs[0]:.0%}-{hs[1]:.0%} "
            f"at over-assignment {params.over_assignment:.2f}: "
            f"{'the targets are high for this team' if share_mean < hs[0] else 'quotas may be too soft'}")
    cur = params.currency_label
    ly_total = ct["last_year"]
    company = pd.DataFrame([{
        "quarter": params.quarter, "currency": cur, "method": ct["method"], "last_year": ly_total,
        "board_target": params.board_target if params.board_target is not None else np.nan,
        "growth_goal": params.growth if params.growth is not None else np.nan,
        "target_probability": params.target_probability,
        "forecast_mean": ct["forecast_mean"], "forecast_p50": ct["forecast_p50"],
        "forecast_p10": ct["forecast_p10"], "forecast_p90": ct["forecast_p90"],
        "pipeline_increment": ct["pipeline_increment"], "bottom_up": ct["bottom_up"],
        "stretch": ct["stretch"], "target": T, "below_p50": ct["below_p50"],
        "growth_vs_ly": (T / ly_total - 1) if ly_total > 0 else np.nan,
        "over_assignment": params.over_assignment, "quota": Qc,
        "p_attain_target": odds["p_comp_t"], "p_attain_quota": odds["p_comp_q"],
        "odds_flag": str(_flag(np.array(odds["p_comp_t"]), lo_f, hi_f)),
        "rep_share_at_quota": share_mean,
        "rep_share_p10": float(np.quantile(at_quota, 0.1)), "rep_share_p90": float(np.quantile(at_quota, 0.9)),
        "share_band_ok": band_ok, "n_reps": int(real.sum()),
        "n_vacancies": int(sum(s_["vacant"] and s_["kind"] != "house_accounts" for s_ in slots)),
    }])
    n_real = np.array([sum(1 for s_ in slots if s_["region"] == r and not s_["vacant"]) for r in regions])
    ly = sc.last_year
    regions_df = pd.DataFrame({
        "region": regions, "currency": cur, "maturity": sc.maturity, "market_potential": sc.potential,
        "last_year": ly, "forecast_mean": rg["forecast_mean"], "pipeline_now": w_now, "pipeline_increment": incr,
        "base": rg["base"], "uplift_existing": rg["uplift_existing"], "uplift_new": rg["uplift_new"],
        "target_uncapped": rg["target_uncapped"], "cap_min": rg["cap_min"], "cap_max": rg["cap_max"],
        "capped": rg["capped"], "target": rg["target"],
        "growth_vs_ly": np.where(ly > 0, rg["target"] / np.where(ly > 0, ly, 1) - 1, np.nan),
        "quota": reg_quota, "p_attain_target": odds["p_reg_t"], "p_attain_quota": odds["p_reg_q"],
        "odds_flag": _flag(odds["p_reg_t"], lo_f, hi_f), "n_reps": n_real,
        "n_vacancies": np.array([sum(1 for s_ in slots if s_["region"] == r and s_["vacant"]
                                     and s_["kind"] != "house_accounts") for r in regions]),
        "band_feasible": band_ok_r,
    })
    ratio = np.where(np.nan_to_num(rb.own) > 0, rep_quota / np.where(np.nan_to_num(rb.own) > 0, rb.own, 1), np.nan)
    reps_df = pd.DataFrame({
        "rep_id": [s_["rep_id"] for s_ in slots], "name": [s_["name"] for s_ in slots],
        "region": [s_["region"] for s_ in slots], "level": [s_["level"] for s_ in slots],
        "hire_date": pd.to_datetime([s_["hire_date"] for s_ in slots]),
        "exit_date": pd.to_datetime([s_["exit_date"] for s_ in slots]),
        "holder": [s_["holder"] for s_ in slots], "vacant": ~real,
        "status": [s_["kind"] or ("no_book" if rb.established[j] and not np.nan_to_num(rb.own[j]) > 0 else "")
                   for j, s_ in enumerate(slots)], "ramp_avg": [s_["ramp_avg"] for s_ in slots],
        "presence": [s_["presence"] for s_ in slots], "capacity": rb.capm.sum(axis=1),
        "history_quarters": rb.history_q, "established": rb.established, "currency": cur,
        "own_forecast": rb.own, "recent_share": rb.recent, "capacity_share": rb.cap_share,
        "expected_productivity": rb.e, "band_min": np.where(rb.established, rb.lo, np.nan),
        "band_max": np.where(rb.established, rb.hi, np.nan),
        "quota": rep_quota, "quota_vs_own_forecast": ratio,
        "in_band": np.where(rb.established, (rep_quota >= rb.lo - params.rounding_unit) & (rep_quota <= rb.hi + params.rounding_unit), False),
        "outcome_p50": odds["rep_p50"], "p_attain_quota": odds["p_rep"], "odds_flag": _flag(odds["p_rep"], lo_f, hi_f),
    })
    months_df, weeks_df = _time_tables(sc, slots, tm, odds)
    smart = smart_check(company, regions_df, reps_df, params, target_exact=ct["target_exact"])
    bridge = target_bridge(company, params.quarter, fiscal_label(sc.ly_q, params.fiscal_year_start_month))
    assumptions = _assumptions(params, dict(
        as_of=sc.as_of.date(), last_year_quarter=fiscal_label(sc.ly_q, params.fiscal_year_start_month),
        quarter_months=fiscal_label(sc.q, params.fiscal_year_start_month, months=True),
        last_year_revenue=ly_total, target_method=ct["method"], forecast_p50=ct["forecast_p50"],
        pipeline_weights_used=("none" if params.pipeline_rule == "none" else weights_used),
        pipeline_rho=rho, pipeline_increment=float(incr.sum()), bottom_up=ct["bottom_up"],
        **_fit_items(sc.pipeline_fit),
        target_exact=ct["target_exact"], n_paths=sc.reg_paths.shape[0],
        win_probability=(", ".join(f"{k}={v:.2f}" for k, v in rates.win_probability.items()) if rates is not None else ""),
    ), sc.notes)
    return TargetPlan(params, company, regions_df, reps_df, months_df, weeks_df, smart, assumptions,
                      at_quota, tuple(sc.notes), products=products.assign(currency=cur), bridge=bridge.assign(currency=cur),
                      over_assignment_grid=oa_grid,
                      pipeline_paths=incr[None, :] + (sc.pipeline_dev if sc.pipeline_dev is not None else 0.0))


def _fit_items(fit: dict | None) -> dict:
    """Assumption rows of the ``backtest`` rule's fit (:func:`pipeline_effect`); {} without it."""
    if fit is None:
        return {}
    return {"pipeline_beta": float(fit["beta"]), "pipeline_beta_sd": float(fit["sd"]),
            "pipeline_b_hat": float(fit["b_hat"]), "pipeline_b_se": float(fit["se"]),
            "pipeline_backtest_obs": f"{fit['n']} region-quarters in {fit['n_quarters']} quarters"}


def _time_tables(sc: PlanScope, slots, tm: dict, odds: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage 7b: the months table (targets, quotas, odds) and the weeks table."""
    months, regions = sc.months, sc.regions
    mrows = []
    comp_t_m, comp_q_m = tm["reg_target_m"].sum(axis=0), tm["reg_quota_m"].sum(axis=0)
    for k, m in enumerate(months):
        mrows.append(("company", COMPANY, "", m, comp_t_m[k], comp_q_m[k], odds["pc_t"][k], odds["pc_q"][k]))
    for g, r in enumerate(regions):
        for k, m in enumerate(months):
            mrows.append(("region", r, r, m, tm["reg_target_m"][g, k], tm["reg_quota_m"][g, k],
                          odds["pr_t"][g, k], odds["pr_q"][g, k]))
    for j, s_ in enumerate(slots):
        for k, m in enumerate(months):
            mrows.append(("rep", s_["rep_id"], s_["region"], m, np.nan, tm["rep_month"][j, k], np.nan, odds["p_rep_m"][j, k]))
    months_df = pd.DataFrame(mrows, columns=["level", "entity", "region", "month", "target", "quota",
                                             "p_attain_target", "p_attain_quota"])
    wrows = []
    for k, w in enumerate(tm["wk_index"]):
        wrows.append(("company", COMPANY, "", w, tm["reg_tw"][:, k].sum(), tm["reg_qw"][:, k].sum()))
        for g, r in enumerate(regions):
            wrows.append(("region", r, r, w, tm["reg_tw"][g, k], tm["reg_qw"][g, k]))
        for j, s_ in enumerate(slots):
            wrows.append(("rep", s_["rep_id"], s_["region"], w, np.nan, tm["rep_w"][j, k]))
    weeks_df = pd.DataFrame(wrows, columns=["level", "entity", "region", "week_start", "target", "quota"])
    weeks_df = weeks_df.sort_values(["level", "entity", "week_start"], key=lambda c: c.map(
        {"company": 0, "region": 1, "rep": 2}) if c.name == "level" else c, kind="stable").reset_index(drop=True)
    return months_df, weeks_df


_PARAM_NOTES = {
    "board_target": "the board's company target (wins when given)",
    "growth": "company target = same quarter last year x (1 + growth), when no board target",
    "target_probability": "probability rule: the company meets its target with this probability",
    "floor_at_p50": "probability rule never below the P50 carry-on forecast",
    "over_assignment": "sum of quotas / company target (chosen for the healthy band when empty)",
    "band_low": "lowest quota / own forecast of an established rep",
    "band_high": "highest quota / own forecast of an established rep",
    "weight_own_forecast": "rep split: weight of the rep's own forecast",
    "weight_recent": "rep split: weight of the rep's recent share of the region's sales",
    "weight_capacity": "rep split: weight of capacity (level x ramp x days in post)",
    "fiscal_year_start_month": "first month of the fiscal year",
    "currency": "currency of every amount",
    "pipeline_rule": "pipeline counted on top of the forecast (no double counting)",
    "pipeline_backtest_quarters": "back-test quarters measuring how much of the pipeline the forecast misses",
    "pipeline_weights": "win probability per open deal: scored (win model) or stage averages",
    "ramp_months": "linear ramp to full productivity (months)",
    "rounding_unit": "targets are multiples of this; largest-remainder splits reconcile exactly",
    "healthy_share": "healthy band of the share of reps at quota",
    "rep_noise_sd": "log-sd of a rep's outcome around its capacity share of the region",
}


def _assumptions(params: TargetParams, derived: dict, notes) -> pd.DataFrame:
    rows = [{"item": r["parameter"], "value": r["value"], "note": _PARAM_NOTES.get(r["parameter"], "parameter")}
            for r in params.to_frame().to_dict("records")]
    for k, v in derived.items():
        rows.append({"item": k, "value": "" if v is None else (f"{v:,.2f}" if isinstance(v, float) else str(v)),
                     "note": "derived"})
    for n in notes:
        rows.append({"item": "note", "value": n, "note": "note"})
    rows.append({"item": "rounding_rule", "value": f"unit {params.rounding_unit:g}, largest remainder",
                 "note": "company rounded to the unit; each split gives floor units plus one unit to the largest remainders"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- SMART

def smart_check(company: pd.DataFrame, regions: pd.DataFrame, reps: pd.DataFrame,
                params: TargetParams, target_exact: float | None = None) -> pd.DataFrame:
    """SMART check of every quarterly target.

    * **specific**: names an entity (company / region / rep id) and the metric (revenue);
    * **measurable**: a finite number > 0 and a multiple of ``rounding_unit``;
    * **achievable**: ``odds_low <= P(actual >= target) <= odds_high``;
    * **relevant**: tied to the company goal -- the company target is the blended goal
      (within one unit), the regions sum to the company target, each region's rep quotas
      sum to its quota;
    * **time_bound**: has a period (the quarter).

    Returns
    -------
    DataFrame
        ``level, entity, metric, period, target, p_attain, specific, measurable,
        achievable, relevant, time_bound, smart, issues``.
    """
    unit = params.rounding_unit
    rows = []

    def add(level, entity, target, p, relevant, why_rel):
        specific = bool(str(entity).strip())
        measurable = bool(np.isfinite(target) and target > 0 and abs(target / unit - round(target / unit)) < 1e-6)
        achievable = bool(np.isfinite(p) and params.odds_low <= p <= params.odds_high)
        issues = []
        if not specific:
            issues.append("no entity")
        if not measurable:
            issues.append("not a positive rounded number")
        if not achievable:
            issues.append(f"odds {p:.0%} outside {params.odds_low:.0%}-{params.odds_high:.0%}")
        if not relevant:
            issues.append(why_rel)
        rows.append(dict(level=level, entity=entity, metric="revenue", period=params.quarter,
                         target=target, p_attain=p, specific=specific, measurable=measurable,
                         achievable=achievable, relevant=bool(relevant), time_bound=bool(params.quarter),
                         smart=specific and measurable and achievable and bool(relevant),
                         issues="; ".join(issues)))

    c = company.iloc[0]
    rel_c = target_exact is None or abs(c["target"] - target_exact) <= unit / 2 + 1e-6
    add("company", COMPANY, float(c["target"]), float(c["p_attain_target"]), rel_c, "differs from the company goal")
    rel_r = abs(regions["target"].sum() - c["target"]) < 1e-6
    for r in regions.itertuples(index=False):
        add("region", r.region, float(r.target), float(r.p_attain_target), rel_r, "regions do not sum to the company target")
    qsum = reps.groupby("region")["quota"].sum()
    rq = regions.set_index("region")["quota"]
    for r in reps.itertuples(index=False):
        ok = abs(qsum[r.region] - rq[r.region]) < 1e-6
        add("rep", r.rep_id, float(r.quota), float(r.p_attain_quota), ok, "rep quotas do not sum to the region quota")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- scenarios

def default_scenarios(base: TargetParams) -> dict[str, TargetParams]:
    """``conservative`` / ``base`` / ``stretch`` variants of ``base``.

    conservative: target probability ``max(p, 0.7)``, growth 5 points lower (if set),
    over-assignment ``min(base, 1.05)`` (1.00 when chosen automatically); stretch: target
    probability ``min(p, 0.45)``, growth 5 points higher (if set), over-assignment
    ``max(base, 1.15)`` (1.15 when chosen automatically).  A board target is the same in all three.  Hence the conservative
    company target and quota are never above the base ones, the stretch ones never below.
    """
    def shift(g, d):
        return None if g is None else max(g + d, -0.99)

    oa = base.over_assignment
    cons = replace(base, growth=shift(base.growth, -0.05), target_probability=max(base.target_probability, 0.7),
                   over_assignment=1.0 if oa is None else min(oa, 1.05))
    stre = replace(base, growth=shift(base.growth, 0.05), target_probability=min(base.target_probability, 0.45),
                   over_assignment=1.15 if oa is None else max(oa, 1.15))
    return {"conservative": cons, "base": base, "stretch": stre}


def compare_scenarios(data: SalesData, dist: QuarterDistribution, scenarios: Mapping[str, TargetParams],
                      *, plans: Mapping[str, TargetPlan] | None = None, bases: Sequence[PlanBasis] = (),
                      **kwargs) -> pd.DataFrame:
    """Run :func:`propose_targets` under each named parameter set, side by side.

    ``plans``: plans already proposed for some of the scenarios with the same data,
    distribution and keywords (e.g. the notebook's plan for ``"base"``); they are used as
    they are instead of being proposed again (same function, same inputs: same plan).
    Scenarios whose parameters differ only in the company target and the over-assignment
    (same :func:`basis_key`) share one :func:`plan_basis`; ``bases``: plan bases already
    made with the same data, distribution and keywords (e.g. the notebook plan's own,
    :func:`propose_targets_and_basis`), used for the scenarios of their key.

    Returns
    -------
    DataFrame
        Rows = metrics (company target, quota, odds, share of reps at quota, flags, and
        each region's target), columns = scenario names.
    """
    if not scenarios:
        raise ValueError("scenarios: give at least one named TargetParams")
    if kwargs.get("pipeline_scorer") is None:  # same data and dates: score each snapshot once
        kwargs = {**kwargs, "pipeline_scorer": memo_scorer()}
    cols, bases = {}, list(bases)  # one plan basis per basis_key: the scenarios differ in the target and over-assignment
    for name, prm in scenarios.items():
        plan = (plans or {}).get(name)
        if plan is None:
            if not isinstance(prm, TargetParams):
                raise ValueError(f"params: expected TargetParams, got {type(prm).__name__}")
            basis = next((b for b in bases if b.key == basis_key(prm)), None)
            if basis is None:
                basis = plan_basis(data, dist, prm, **{k: v for k, v in kwargs.items() if k != "quota_overrides"})
                bases.append(basis)
            plan = _propose_on(basis, prm, kwargs.get("quota_overrides"))
        c = plan.company.iloc[0]
        d = {
            "growth": prm.growth, "over_assignment": c["over_assignment"],
            "target_probability": prm.target_probability, "method": c["method"],
            "forecast_p50": c["forecast_p50"], "bottom_up": c["bottom_up"], "company_target": c["target"], "growth_vs_ly": c["growth_vs_ly"], "company_quota": c["quota"],
            "p_attain_target": c["p_attain_target"], "p_attain_quota": c["p_attain_quota"],
            "rep_share_at_quota": c["rep_share_at_quota"], "share_band_ok": c["share_band_ok"],
            "regions_flagged": int((plan.regions["odds_flag"] != "").sum()),
            "reps_flagged": int((plan.reps["odds_flag"] != "").sum()),
            "smart_fail": int((~plan.smart["smart"]).sum()),
        }
        for r in plan.regions.itertuples(index=False):
            d[f"target[{r.region}]"] = r.target
        cols[name] = d
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- funnel

def plan_funnel(plan: TargetPlan, data: SalesData, *, level: str = "rep",
                rates: _funnel.FunnelRates | None = None, as_of=None,
                params: _funnel.FunnelParams | None = None,
                funnel_share: float | None = None) -> TargetPlan:
    """Attach the funnel back-calculation of the plan's weekly quotas (reps) or targets (regions).

    ``funnel_share`` (share of revenue that must come through won opportunities) defaults
    to :func:`salesplan.planning.funnel.observed_funnel_share` of the last 365 days.  Returns a copy
    of ``plan`` with ``funnel`` set (see :func:`salesplan.planning.funnel.back_calculate`).
    """
    if level not in ("rep", "region"):
        raise ValueError(f"level={level!r}: expected 'rep' or 'region'")
    w = plan.weeks[plan.weeks["level"] == level]
    col = "quota" if level == "rep" else "target"
    wt = pd.DataFrame({"entity": w["entity"].to_numpy(), "week_start": w["week_start"].to_numpy(),
                       "target": w[col].to_numpy(float)})
    q = plan.params.period
    if rates is None:
        rates = _funnel.estimate_rates(data, as_of, params or _funnel.FunnelParams())
    pipe = _funnel.open_pipeline(data, as_of) if data.opportunities is not None else None
    if funnel_share is None:
        funnel_share = _funnel.observed_funnel_share(data, as_of)
    fp = _funnel.back_calculate(wt, rates, pipe, start=q.start_time.normalize(), end=q.end_time.normalize(),
                                entity_col="rep_id" if level == "rep" else "region", funnel_share=funnel_share)
    return replace(plan, funnel=fp)
