"""Coherent forecasts across levels: total -> region -> rep, total -> product line.

A hierarchy is described by its *summing matrix* ``S`` (n_nodes x n_bottom): row ``i``
has a 1 for every bottom series that adds up to node ``i``.  Every linear
reconciliation is ``y_tilde = S G y_hat`` for a ``G`` (n_bottom x n_nodes)
(Hyndman et al. 2011; Wickramasuriya, Athanasopoulos & Hyndman 2019):

* ``bottom_up``: ``G = [0 | I]`` (bottom rows of the base forecasts);
* ``top_down``: ``G = p e_top'`` with ``p_j = sum_t y_{j,t} / sum_t y_{top,t}`` over the
  last ``td_window`` periods (proportions of historical averages, Gross & Sohl 1990);
* ``ols``: ``G = (S'S)^{-1} S'``;
* ``mint_shrink``: ``G = (S' W^{-1} S)^{-1} S' W^{-1}`` with ``W = D C D``, ``D`` the
  one-step residual scales and ``C`` the Ledoit-Wolf shrunk residual correlation.

MinT and OLS are computed in their projection form, ``y - W A' (A W A')^{-1} A y`` with
``A = [I | -S_agg]`` the aggregation constraints (one row per aggregate node), which needs
``W A'`` (n x n_agg) and an n_agg x n_agg solve instead of factorising the n x n ``W``;
the reconciliations are applied to the means and the sample paths in factored form
(:func:`_reconciler`), never as an n_bottom x n_nodes matrix.  ``S`` itself is kept
factored too (:class:`Summing`): each bottom series' own row (an identity block) and the
dense 0/1 rows of the aggregates only, not the n_nodes x n_bottom matrix (344 MiB at
6,700 reps).

Quantiles are made coherent by reconciling *sample paths*: base paths are drawn for
every node with innovations correlated across nodes (residual correlation), and the
same ``S G`` is applied to each path (Panagiotelis et al. 2023), so every path adds up
and the correlation between reps of a region is carried into the region's spread.
Top-down is a point-forecast method only: splitting each total path by fixed shares
would give every child the total's relative spread (far too narrow for a region), so
when it is chosen the paths are the MinT-reconciled paths shifted to the top-down means.
Interval widths are calibrated per hierarchy level (``Forecaster.fit(groups=...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from salesplan.data.paths import SamplePaths
from salesplan.models.forecast.data import (
    ForecastInputError,
    OrderLines,
    _aggregate_long,
    _order_periods,
    canonical_freq,
)
from salesplan.models.forecast.engine import Forecaster, _cholesky_in_place, _mase_scale, _positions

RECONCILE_METHODS = ("bottom_up", "top_down", "ols", "mint_shrink")


def summing_matrix(nodes: pd.DataFrame, bottom: pd.DataFrame, keys_of_level) -> np.ndarray:
    """``S[i, j] = 1`` when bottom series ``j`` belongs to node ``i``.

    Parameters
    ----------
    nodes : DataFrame
        One row per node with ``level`` (index into ``keys_of_level``) and the key columns.
    bottom : DataFrame
        One row per bottom series with every bottom key column.
    keys_of_level : list of tuple of str
    """
    S = np.zeros((len(nodes), len(bottom)))
    level = nodes["level"].to_numpy()
    for li in dict.fromkeys(level.tolist()):  # one pass per level, not one per node
        keys = list(keys_of_level[int(li)])
        rows = np.flatnonzero(level == li)
        if not keys:
            S[rows, :] = 1.0
            continue
        # node and bottom key tuples coded together: a node row gets a 1 in the columns of
        # the bottom series whose keys equal its own (as ``==`` on the values)
        both = pd.concat([nodes[keys].iloc[rows], bottom[keys]], ignore_index=True)
        if both.isna().to_numpy().any():  # nulls: compare values one node at a time
            for r in rows:
                mask = np.ones(len(bottom), bool)
                for k in keys:
                    mask &= bottom[k].to_numpy() == nodes[k].iloc[r]
                S[r, mask] = 1.0
            continue
        code = both.groupby(keys, sort=False).ngroup().to_numpy()
        node_code, bottom_code = code[: len(rows)], code[len(rows):]
        for r, c in zip(rows, node_code):
            S[r, bottom_code == c] = 1.0
    return S


_NO_OWN_ROW = "reconcile: bottom series {} has no row of S of its own"


@dataclass(frozen=True)
class Summing:
    """A summing matrix ``S`` (n_nodes x n_bottom) in factored form.

    Each bottom series ``j`` has its own row ``rows[j]`` (the last row of ``S`` holding
    only that series, :func:`_bottom_rows`: a row of the identity block); the other rows,
    ``agg`` (ascending), are the aggregates, kept dense as ``S_agg = S[agg]`` (0/1,
    n_agg x n_bottom: 7 x 6,709 for a company of 6 regions and 6,709 reps, against the
    6,716 x 6,709 float64 ``S``, 344 MiB).  Every product with ``S`` is made with ``S_agg`` (the
    same array as ``S[agg]``, so the same sums in the same order as the dense ``S``).

    Attributes
    ----------
    rows : ndarray of int (n_bottom,)
    agg : ndarray of int (n_agg,)
    S_agg : ndarray of float (n_agg, n_bottom)
    """

    rows: np.ndarray
    agg: np.ndarray
    S_agg: np.ndarray

    @classmethod
    def from_dense(cls, S) -> Summing:
        """The factored form of a dense ``S`` (a ``Summing`` is returned as it is)."""
        if isinstance(S, Summing):
            return S
        S = np.asarray(S, float)
        rows = _bottom_rows(S)
        own = np.zeros(S.shape[0], bool)
        own[rows] = True
        agg = np.flatnonzero(~own)
        return cls(rows=rows, agg=agg, S_agg=S[agg])

    @classmethod
    def from_rows(cls, n, n_bottom, unit_pos, unit_col, dense_pos, dense) -> Summing:
        """From the rows of a 0/1 ``S``: unit rows (a 1 at ``unit_col`` in row ``unit_pos``)
        and dense rows ``dense`` (rows ``dense_pos``); every other row is 0.  The own row of
        a series is the last row holding only that series, as :func:`_bottom_rows` finds it
        in the dense ``S``."""
        unit_pos, unit_col = np.asarray(unit_pos, np.intp), np.asarray(unit_col, np.intp)
        dense_pos, dense = np.asarray(dense_pos, np.intp), np.asarray(dense, float)
        single = dense.sum(axis=1) == 1
        own = np.full(n_bottom, -1, np.intp)
        np.maximum.at(own, np.concatenate([unit_col, np.argmax(dense[single], axis=1)]),
                      np.concatenate([unit_pos, dense_pos[single]]))
        if (own < 0).any():
            raise ValueError(_NO_OWN_ROW.format(int(np.flatnonzero(own < 0)[0])))
        is_own = np.zeros(n, bool)
        is_own[own] = True
        agg = np.flatnonzero(~is_own)
        where = np.full(n, -1, np.intp)
        where[agg] = np.arange(len(agg))
        S_agg = np.zeros((len(agg), n_bottom))
        k = where[dense_pos]
        S_agg[k[k >= 0]] = dense[k >= 0]
        k = where[unit_pos]
        S_agg[k[k >= 0], unit_col[k >= 0]] = 1.0
        return cls(rows=own, agg=agg, S_agg=S_agg)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_nodes, n_bottom)``."""
        return len(self.rows) + len(self.agg), len(self.rows)

    def dense(self) -> np.ndarray:
        """The dense ``S`` (n_nodes x n_bottom float64, 0/1)."""
        S = np.zeros(self.shape)
        S[self.agg] = self.S_agg
        S[self.rows, np.arange(len(self.rows))] = 1.0
        return S

    def row(self, i) -> np.ndarray:
        """Row ``i`` of ``S`` (n_bottom,)."""
        hit = np.flatnonzero(self.agg == i)
        if len(hit):
            return self.S_agg[hit[0]].copy()
        out = np.zeros(self.shape[1])
        out[self.rows == i] = 1.0
        return out

    def row_sums(self) -> np.ndarray:
        """``S.sum(axis=1)``: bottom series per node (whole numbers, exact)."""
        out = np.zeros(self.shape[0])
        out[self.rows] += 1.0
        out[self.agg] += self.S_agg.sum(axis=1)
        return out

    def sub(self, keep_rows, keep_cols) -> Summing:
        """``S[np.ix_(keep_rows, keep_cols)]`` in factored form (ascending positions)."""
        keep_rows, keep_cols = np.asarray(keep_rows, np.intp), np.asarray(keep_cols, np.intp)
        n_bottom = len(keep_cols)
        new_row = np.full(self.shape[0], -1, np.intp)
        new_row[keep_rows] = np.arange(len(keep_rows))
        new_col = np.full(self.shape[1], -1, np.intp)
        new_col[keep_cols] = np.arange(n_bottom)
        unit = (new_row[self.rows] >= 0) & (new_col >= 0)  # kept own rows of kept series
        a = new_row[self.agg] >= 0
        return Summing.from_rows(len(keep_rows), n_bottom, new_row[self.rows][unit], new_col[unit],
                                 new_row[self.agg][a], self.S_agg[np.ix_(np.flatnonzero(a), keep_cols)])


def summing_structure(nodes: pd.DataFrame, bottom: pd.DataFrame, keys_of_level) -> Summing:
    """:func:`summing_matrix` in factored form (:class:`Summing`), without the dense ``S``.

    A level whose nodes each match at most one bottom series (the bottom level) gives
    unit rows; the other levels (total, regions) dense rows.  With null keys the dense
    ``S`` is built and factored (the nulls compare as values, one node at a time).
    """
    level = nodes["level"].to_numpy()
    unit_pos, unit_col, dense_pos, dense = [], [], [], []
    for li in dict.fromkeys(level.tolist()):
        keys = list(keys_of_level[int(li)])
        rows = np.flatnonzero(level == li)
        if not keys:
            dense_pos.append(rows)
            dense.append(np.ones((len(rows), len(bottom))))
            continue
        both = pd.concat([nodes[keys].iloc[rows], bottom[keys]], ignore_index=True)
        if both.isna().to_numpy().any():
            return Summing.from_dense(summing_matrix(nodes, bottom, keys_of_level))
        code = both.groupby(keys, sort=False).ngroup().to_numpy()
        node_code, bottom_code = code[: len(rows)], code[len(rows):]
        if len(np.unique(bottom_code)) == len(bottom_code):  # one bottom series per node at most
            col = np.full(code.max() + 1, -1, np.intp)
            col[bottom_code] = np.arange(len(bottom_code))
            hit = col[node_code] >= 0
            unit_pos.append(rows[hit])
            unit_col.append(col[node_code][hit])
            continue
        block = np.zeros((len(rows), len(bottom)))
        for r, c in enumerate(node_code):
            block[r, bottom_code == c] = 1.0
        dense_pos.append(rows)
        dense.append(block)
    return Summing.from_rows(len(nodes), len(bottom), _joined(unit_pos, (0,)), _joined(unit_col, (0,)),
                             _joined(dense_pos, (0,)), _joined(dense, (0, len(bottom))))


def _joined(parts, empty_shape):
    """``np.concatenate(parts)``, or an empty array of ``empty_shape`` without parts."""
    return np.concatenate(parts) if parts else np.zeros(empty_shape)


def reconciliation_matrix(S, method, W=None, proportions=None, top=0):
    """The ``G`` matrix (n_bottom x n_nodes) of a reconciliation ``method``.

    The dense matrix, for callers that need it; the forecast itself applies the
    reconciliation in its factored form (:func:`_reconciler`) and never forms ``G``.
    MinT and OLS are computed in projection form (:func:`_gls_projection`): a solve of
    the n_aggregate x n_aggregate system, not of the n x n ``W``.
    """
    S = Summing.from_dense(S)
    n, nb = S.shape
    if method in ("bottom_up", "top_down"):
        return _reconciler(S, method, proportions=proportions, top=top).matrix()
    if method == "ols":
        W = np.eye(n)
    elif method == "mint_shrink":
        if W is None:
            raise ValueError("reconcile: method='mint_shrink' needs W, the residual covariance")
        W = np.asarray(W, float)
    else:
        raise ValueError(f"reconcile: method={method!r}; expected one of {RECONCILE_METHODS}")
    Wr = np.array(W, dtype=float)  # W + 1e-9 tr(W) / n I: the ridge added to the diagonal only
    Wr.flat[:: n + 1] += 1e-9 * np.trace(W) / n
    return _gls_projection(S, Wr)


def _gls_projection(S, W):
    """``G = (S' W^-1 S)^-1 S' W^-1`` (Wickramasuriya, Athanasopoulos & Hyndman 2019),
    computed in projection form (:class:`_Projection`): only ``W C'`` is used."""
    S = Summing.from_dense(S)
    W = np.asarray(W, float)
    Ct = _constraint_t(S.S_agg, S.rows, S.agg)
    return _Projection.from_wct(S, W @ Ct).matrix()


def _split_rows(S):
    """``(rows, agg)``: each bottom series' own row (:func:`_bottom_rows`) and the other
    rows (the aggregates, in the order of ``S``); ``S`` dense or :class:`Summing`."""
    S = Summing.from_dense(S)
    return S.rows, S.agg


def _constraint_t(S_agg, rows, agg):
    """``C'`` (n x n_agg) of the constraints ``C y = y_agg - S_agg y_bottom = 0``
    (``S_agg = S[agg]``; ``rows``, ``agg``: :func:`_split_rows`)."""
    Ct = np.zeros((len(rows) + len(agg), len(agg)))
    Ct[agg, np.arange(len(agg))] = 1.0
    Ct[rows] = -S_agg.T
    return Ct


@dataclass(frozen=True)
class _BottomUp:
    """``G = [0 | I]``: each bottom series' own row (a take, no matrix)."""

    rows: np.ndarray
    n: int

    def apply(self, base):
        """``G base`` along the first axis."""
        return np.asarray(base, float)[self.rows]

    def matrix(self):
        """The dense ``G`` (n_bottom x n)."""
        G = np.zeros((len(self.rows), self.n))
        G[np.arange(len(self.rows)), self.rows] = 1.0
        return G


@dataclass(frozen=True)
class _TopDown:
    """``G = p e_top'``: the grand total split by the proportions ``p``."""

    p: np.ndarray
    top: int
    n: int

    def apply(self, base):
        """``G base`` along the first axis: ``p_j * base[top]``."""
        base = np.asarray(base, float)
        return self.p.reshape((-1,) + (1,) * (base.ndim - 1)) * base[self.top][None]

    def matrix(self):
        """The dense ``G`` (n_bottom x n)."""
        G = np.zeros((len(self.p), self.n))
        G[:, self.top] = self.p
        return G


@dataclass(frozen=True)
class _Projection:
    """MinT / OLS in projection form: ``G = E_b - K C`` (never formed when applied).

    With the constraints ``C = [I | -S_agg]`` (``C y = 0`` iff ``y`` is coherent; one row
    per aggregate node) the GLS reconciliation of ``y`` is
    ``y - W C' (C W C')^-1 C y`` (Wickramasuriya et al. 2019, eq. 9; Hyndman &
    Athanasopoulos, FPP3 11.4), and its bottom rows are ``G y``: ``E_b`` takes the bottom
    series' own rows and ``K = (W C')_b (C W C')^-1`` is n_bottom x n_agg.  Only ``W C'``
    (n x n_agg) and an n_agg x n_agg solve are needed, not a factorisation of the
    n x n ``W``.  Equal to ``(S' W^-1 S)^-1 S' W^-1`` for a positive definite ``W`` up
    to rounding.  ``C W C'`` is solved by its Cholesky factor; when it is not positive
    definite (``W`` not positive definite in the aggregates' directions) its
    pseudo-inverse is used (n_agg x n_agg: cheap); the result stays coherent, as every
    node is re-aggregated from the reconciled bottom series.
    """

    rows: np.ndarray  # (n_bottom,) each bottom series' own row
    agg: np.ndarray  # (n_agg,) the other rows
    S_agg: np.ndarray  # (n_agg, n_bottom) S[agg]
    K: np.ndarray  # (n_bottom, n_agg)

    @classmethod
    def from_wct(cls, S: Summing, WCt):
        """From ``W C'`` (n x n_agg; ``W`` with its ridge) and the factored ``S``."""
        from scipy.linalg import LinAlgError, cho_factor, cho_solve

        rows, agg, S_agg = S.rows, S.agg, S.S_agg
        M = WCt[agg] - S_agg @ WCt[rows]  # C W C' (n_agg x n_agg)
        M = (M + M.T) / 2
        B = WCt[rows].T  # (n_agg, n_bottom)
        try:
            X = cho_solve(cho_factor(M, lower=True, check_finite=False), B, check_finite=False)
        except LinAlgError:
            X = np.linalg.pinv(M) @ B
        return cls(rows=rows, agg=agg, S_agg=S_agg, K=np.ascontiguousarray(X.T))

    @property
    def n(self):
        return len(self.rows) + len(self.agg)

    def constraint(self, base):
        """``C base`` (n_agg, ...): how far each aggregate is from the sum of its bottoms."""
        base = np.asarray(base, float)
        return base[self.agg] - np.tensordot(self.S_agg, base[self.rows], axes=(1, 0))

    def apply(self, base):
        """``G base`` along the first axis (means ``(n, h)`` or paths ``(n, p, h)``)."""
        base = np.asarray(base, float)
        out = base[self.rows]
        out -= np.tensordot(self.K, self.constraint(base), axes=(1, 0))
        return out

    def weights(self, s):
        """``s' G`` (n,) for a weight vector ``s`` over the bottom series (a row of ``S``)."""
        v = np.asarray(s, float) @ self.K  # (n_agg,)
        out = np.zeros(self.n)
        out[self.rows] = s
        out[self.agg] -= v
        out[self.rows] += v @ self.S_agg
        return out

    def matrix(self):
        """The dense ``G`` (n_bottom x n)."""
        G = -self.K @ _constraint_t(self.S_agg, self.rows, self.agg).T
        G[np.arange(len(self.rows)), self.rows] += 1.0
        return G


def _reconciler(S, method, W=None, proportions=None, top=0, R=None, fc=None, ids=None):
    """The reconciliation ``G`` of ``method`` in factored form (``.apply(base)`` = ``G base``,
    ``.matrix()`` = the dense ``G``).

    ``mint_shrink`` takes ``W`` (n x n), or ``fc`` and ``ids`` (and optionally ``R``, their
    residual correlation): ``W C' = D R D C'`` is then computed without forming ``W``
    (:func:`_mint_projection`).  Ridge: ``W + 1e-9 tr(W) / n I`` (MinT and OLS).
    """
    S = Summing.from_dense(S)
    n, nb = S.shape
    if method == "bottom_up":
        return _BottomUp(rows=S.rows, n=n)
    if method == "top_down":
        if proportions is None:
            raise ValueError("reconcile: method='top_down' needs proportions (one per bottom series)")
        p = np.asarray(proportions, float)
        if p.shape != (nb,) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"reconcile: top_down proportions must be {nb} shares summing to 1")
        if not np.all(S.row(top) == 1):
            raise ValueError("reconcile: top_down needs the grand total as node `top` (a row of S "
                             "of all ones)")
        return _TopDown(p=p, top=int(top), n=n)
    if method == "mint_shrink" and W is None and fc is not None:
        return _mint_projection(S, fc, ids, R)
    if method not in ("ols", "mint_shrink"):
        raise ValueError(f"reconcile: method={method!r}; expected one of {RECONCILE_METHODS}")
    if method == "mint_shrink" and W is None:
        raise ValueError("reconcile: method='mint_shrink' needs W, the residual covariance")
    Ct = _constraint_t(S.S_agg, S.rows, S.agg)
    if method == "ols":  # W = I (1 + 1e-9): the same ridge
        return _Projection.from_wct(S, Ct * (1.0 + 1e-9))
    W = np.asarray(W, float)
    WCt = W @ Ct
    WCt += (1e-9 * np.trace(W) / n) * Ct
    return _Projection.from_wct(S, WCt)


def _mint_projection(S, fc: Forecaster, ids, R=None):
    """MinT (:class:`_Projection`) of ``W = D R D`` (:func:`_residual_cov`) with its ridge,
    without the n x n ``W``: ``W C' = D (R (D C'))`` is n x n_agg, one product with ``R``
    (the residual correlation, computed when not given; not changed)."""
    S = Summing.from_dense(S)
    R = fc.residual_correlation(ids) if R is None else R
    d = np.array([max(fc.series_[u].scale, 1e-9) for u in ids])
    Ct = _constraint_t(S.S_agg, S.rows, S.agg)
    WCt = R @ (d[:, None] * Ct)
    WCt *= d[:, None]
    ridge = 1e-9 * float(np.sum(d * d * np.diagonal(R))) / len(d)  # tr(W) = sum d_i^2 R_ii
    WCt += ridge * Ct
    return _Projection.from_wct(S, WCt)


def _aggregate(S, bottom):
    """``S bottom`` along the first axis: the bottom rows are ``bottom`` itself and only the
    aggregate rows are summed (``S_agg``, n_agg x n_bottom, not the n x n_bottom product).
    ``S`` dense or :class:`Summing`."""
    S = Summing.from_dense(S)
    out = np.empty((S.shape[0],) + bottom.shape[1:])
    out[S.rows] = bottom
    out[S.agg] = np.tensordot(S.S_agg, bottom, axes=(1, 0))
    return out


def _bottom_rows(S):
    """Row of ``S`` of each bottom series: the last row holding only that series (one 1).

    One pass over ``S`` (the row sums once, not once per bottom series: at 7,000 nodes x
    6,700 reps the per-column loop re-summed the whole matrix 6,700 times).
    """
    own = (S == 1) & (S.sum(axis=1) == 1)[:, None]
    found = own.any(axis=0)
    if not found.all():
        j = int(np.flatnonzero(~found)[0])
        raise ValueError(_NO_OWN_ROW.format(j))
    return S.shape[0] - 1 - np.argmax(own[::-1], axis=0)


def reconcile(base, S, method="bottom_up", W=None, proportions=None, top=0, nonnegative=False,
              G=None):
    """Make forecasts coherent: ``S G base`` along the first axis.

    Parameters
    ----------
    base : ndarray (n_nodes, ...)
        Base forecasts of every node (means ``(n, h)`` or paths ``(n, n_paths, h)``), rows in
        the order of ``S``.
    S : ndarray (n_nodes, n_bottom) or Summing
        Summing matrix.
    method : {"bottom_up", "top_down", "ols", "mint_shrink"}
    W : ndarray (n_nodes, n_nodes), optional
        Base error covariance for ``mint_shrink``.
    proportions : ndarray (n_bottom,), optional
        Bottom shares of the total for ``top_down``.
    top : int
        Row of the grand total (``top_down``).
    nonnegative : bool
        Clip reconciled bottom values at 0 before aggregating (stays coherent).
    G : ndarray (n_bottom, n_nodes) or reconciler, optional
        The :func:`reconciliation_matrix` of ``method`` (or its factored form,
        :func:`_reconciler`), when already computed (it is then not computed again; ``W``
        and ``proportions`` are not used).

    Returns
    -------
    ndarray like ``base``; every node equals the sum of its bottom series.
    """
    base = np.asarray(base, float)
    S = Summing.from_dense(S)
    if base.shape[0] != S.shape[0]:
        raise ValueError(f"reconcile: base has {base.shape[0]} rows but S has {S.shape[0]} nodes")
    if G is None:
        G = _reconciler(S, method, W=W, proportions=proportions, top=top)
    bottom = G.apply(base) if hasattr(G, "apply") else np.tensordot(G, base, axes=(1, 0))
    if nonnegative:
        bottom = np.maximum(bottom, 0.0)
    return _aggregate(S, bottom)


@dataclass
class HierarchyForecast:
    """Coherent forecasts of every node of a hierarchy.

    Attributes
    ----------
    nodes : DataFrame
        ``unique_id, level, level_name`` and the key columns, in the row order of ``S``.
    summing : Summing
        The summing matrix in factored form; ``S`` (property) is the dense matrix, made
        on each call (n_nodes x n_bottom float64: 344 MiB at 6,700 reps).
    forecast : DataFrame
        ``unique_id, level_name, ds, mean, lo-L, hi-L`` (bounds = path quantiles).
    paths : ndarray (n_nodes, n_paths, h)
        Coherent sample paths (``paths[i] == S[i] @ paths[bottom]`` for every path).
    method : str
        Reconciliation used.
    scores : DataFrame
        Backtest MASE per reconciliation method (empty when not chosen by backtest).
    base : Forecaster
        The fitted base forecaster (its ``reasons_`` say what was done per node).
    long : DataFrame or None
        The nodes' monthly history (``unique_id, ds, y``) the forecast was fitted on, as
        :func:`build_hierarchy` returns it (so a caller need not aggregate the order lines
        again).
    note : str
        How ``reconcile_method="auto"`` went when not plainly: ``""`` when every backtest
        window was scored on every series (or the method was set by parameter); else on how
        many bottom series the windows were scored (those with history up to each cut-off),
        or why no window could be scored and bottom-up was used (a sentence a report can
        show).
    """

    nodes: pd.DataFrame
    summing: Summing
    forecast: pd.DataFrame
    paths: np.ndarray
    method: str
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    base: Forecaster | None = None
    long: pd.DataFrame | None = None
    note: str = ""

    @property
    def ids(self) -> list[str]:
        return list(self.nodes["unique_id"])

    @property
    def S(self) -> np.ndarray:
        """The dense summing matrix (n_nodes x n_bottom, 0/1), made from :attr:`summing`."""
        return self.summing.dense()

    def sample_paths(self) -> SamplePaths:
        """The coherent paths as :class:`~salesplan.data.paths.SamplePaths` (node x path x
        period), dated by the forecast's periods."""
        return SamplePaths.from_forecast(self.paths, self.ids, self.forecast)

    def totals(self) -> pd.DataFrame:
        """Sample of each node's total over the horizon (e.g. the quarter): rows = nodes.

        Returns a frame indexed by ``unique_id`` with one column per path; units of ``y``.
        """
        return pd.DataFrame(self.paths.sum(axis=2), index=pd.Index(self.ids, name="unique_id"))

    def total_quantiles(self, q=(0.05, 0.1, 0.5, 0.9, 0.95)) -> pd.DataFrame:
        """Quantiles and mean of each node's horizon total (sum over the h periods)."""
        t = self.paths.sum(axis=2)
        out = pd.DataFrame({"unique_id": self.ids, "mean": t.mean(axis=1)})
        for p in q:
            out[f"q{p:g}"] = np.quantile(t, p, axis=1)
        return out

    def prob_at_least(self, targets) -> pd.Series:
        """``P(sum over the horizon >= target)`` per node, from the coherent paths.

        Parameters
        ----------
        targets : Mapping[str, float] or Series
            Target of the horizon total per ``unique_id`` (nodes without a target are
            skipped).
        """
        targets = pd.Series(targets, dtype=float)
        t = self.totals()
        common = [u for u in targets.index if u in t.index]
        missing = [u for u in targets.index if u not in t.index]
        if missing:
            raise KeyError(f"prob_at_least: unknown node ids {missing[:5]}; known e.g. "
                           f"{self.ids[:5]}")
        vals = (t.loc[common].to_numpy() >= targets.loc[common].to_numpy()[:, None]).mean(axis=1)
        return pd.Series(vals, index=pd.Index(common, name="unique_id"), name="p_at_least")


def build_hierarchy(orders, levels, freq="MS", value="amount", start=None, end=None,
                    id_style="key=value"):
    """Long-format series of every node plus the node table and the summing matrix.

    ``levels`` lists key tuples from the top, e.g. ``[(), ("region",),
    ("region", "rep_id")]``; the last (most detailed) level is the bottom and must
    contain the keys of every other level.

    Returns
    -------
    (long, nodes, S, bottom_ids)
        ``S`` dense (:func:`summing_matrix`).
    """
    long, nodes, bottom, levels = _hierarchy_nodes(orders, levels, freq, value, start, end, id_style)
    return long, nodes, summing_matrix(nodes, bottom, levels), list(bottom["unique_id"])


def _hierarchy_nodes(orders, levels, freq, value, start, end, id_style="key=value", until=None):
    """:func:`build_hierarchy` without the summing matrix: ``(long, nodes, bottom, levels)``
    (``bottom`` the bottom level's nodes, ``levels`` with the bottom level last); ``until``:
    :func:`_lines_until`."""
    levels = [tuple(lv) for lv in levels]
    if not levels:
        raise ForecastInputError("hierarchy: levels is empty; expected e.g. [(), ('region',)]")
    bottom_keys = max(levels, key=len)
    for lv in levels:
        if not set(lv) <= set(bottom_keys):
            raise ForecastInputError(
                f"hierarchy: level {lv} is not nested in the bottom level {bottom_keys}; "
                "build total -> product line as its own hierarchy")
    if levels[-1] != bottom_keys:
        levels = [lv for lv in levels if lv != bottom_keys] + [bottom_keys]
    longs, node_rows = [], []
    # the order lines are checked, dated and keyed once; each level aggregates those rows
    work = _lines_until(_order_periods(orders, bottom_keys, freq, value), orders, until,
                        lambda cut: _order_periods(cut, bottom_keys, freq, value))
    bottom_long = _aggregate_long(work, bottom_keys, freq, start, end, id_style)
    end = end if end is not None else bottom_long["ds"].max()
    for li, lv in enumerate(levels):
        lg = bottom_long if lv == bottom_keys else _aggregate_long(
            work, lv, freq, start, end, id_style)
        name = "/".join(lv) if lv else "total"
        first = lg.groupby("unique_id", sort=True).first().reset_index()
        cols = {c: first[c].tolist() for c in ("unique_id", *lv)}  # columns, not iterrows
        for i, uid in enumerate(cols["unique_id"]):
            row = {"unique_id": uid, "level": li, "level_name": name}
            for k in bottom_keys:
                row[k] = cols[k][i] if k in lv else None
            node_rows.append(row)
        longs.append(lg[["unique_id", "ds", "y"]])
    nodes = pd.DataFrame(node_rows)
    if nodes["unique_id"].duplicated().any():
        dup = list(nodes.loc[nodes["unique_id"].duplicated(), "unique_id"][:3])
        raise ForecastInputError(f"hierarchy: node ids {dup} repeat across levels; use "
                                 "id_style='key=value'")
    bottom = nodes[nodes["level"] == len(levels) - 1].reset_index(drop=True)
    return pd.concat(longs, ignore_index=True), nodes, bottom, levels


def _lines_until(work, orders, until, periods_of):
    """The order lines of ``work`` (:func:`_order_periods` of ``orders``) dated on or before
    ``until`` (all of them when ``until`` is None).

    The same lines in the same order as :func:`_order_periods` of the orders cut at
    ``until`` (so every period's sum is the same to the last bit), without a copy of the
    order lines' frame: only the lines' period, value and key codes are taken.  When
    ``work`` does not hold one row per order line (customers' ids that repeat: the lines
    were merged with the customers), the orders are cut and ``periods_of(cut)`` made.
    Lines coded already (:class:`~salesplan.models.forecast.data.OrderLines`) are cut by
    their own dates.
    """
    if until is None:
        return work
    if isinstance(orders, OrderLines):
        return work.until(until, dated=False)  # the bottom keys' codes only (_order_periods)
    frame = orders if isinstance(orders, pd.DataFrame) else orders.orders
    keep = (pd.to_datetime(frame["order_date"]) <= pd.Timestamp(until)).to_numpy()
    if keep.all():
        return work
    if not keep.any():
        raise ForecastInputError(f"table 'orders': no order line on or before {until}")
    if len(keep) != len(work.y):
        return periods_of(frame[keep] if frame is orders else replace(orders, orders=frame[keep]))
    return work.take(keep)


def _proportions(long, nodes, bottom_ids, window):
    wide = long.pivot(index="ds", columns="unique_id", values="y").fillna(0.0).iloc[-window:]
    b = wide.reindex(columns=bottom_ids, fill_value=0.0).sum(axis=0).to_numpy()
    tot = b.sum()
    return b / tot if tot > 0 else np.full(len(bottom_ids), 1.0 / len(bottom_ids))


def _residual_cov(fc: Forecaster, ids, R=None):
    """``D R D``: the residual correlation ``R`` (computed when not given) scaled by the
    series' one-step scales ``D = diag(s_i)``."""
    C = fc.residual_correlation(ids) if R is None else R
    d = np.array([max(fc.series_[u].scale, 1e-9) for u in ids])
    out = np.outer(d, d)
    out *= C  # C * outer(d, d), one n x n array
    return out


def _level_pools(kw):
    """Forecaster keywords with the global member trained per hierarchy level (unless the
    caller chose otherwise)."""
    kw = dict(kw)
    kw.setdefault("global_pool", "group")
    return kw


def hierarchy_forecast(
    orders,
    levels: Sequence[Sequence[str]] = ((), ("region",), ("region", "rep_id")),
    h: int = 3,
    freq: str = "MS",
    value: str = "amount",
    method: str = "combo",
    reconcile_method: str = "auto",
    candidates=("bottom_up", "top_down", "mint_shrink"),
    n_windows: int = 2,
    n_paths: int = 1000,
    random_state=0,
    td_window: int = 12,
    start=None,
    end=None,
    level=(80, 95),
    nonnegative: bool = True,
    seed=None,
    until=None,
    **forecaster_kwargs,
) -> HierarchyForecast:
    """Coherent mean, intervals and sample paths for every node of a sales hierarchy.

    Parameters
    ----------
    orders : DataFrame, SalesData or OrderLines
        Order lines (``order_date``, ``amount`` and the key columns); a ``SalesData``
        bundle is joined to ``customers`` for customer keys such as ``region``; or the
        lines coded once (:func:`~salesplan.models.forecast.data.order_lines`, with every
        key of ``levels``; ``dated`` for ``until``): the same forecast.
    levels : sequence of key tuples
        Top to bottom, e.g. ``[(), ("region",), ("region", "rep_id")]`` or
        ``[(), ("product_line",)]``.
    h : int
        Horizon in periods (3 months = the plan quarter).
    freq, value, start, end
        See :func:`salesplan.models.forecast.to_long`.
    until : date-like, optional
        Forecast from the order lines dated on or before ``until`` only: the same forecast
        as of the orders cut at ``until`` (the lines are cut after they are reduced to
        periods, values and key codes: no copy of the order lines' frame).
    method : str
        Base forecasting method of :class:`Forecaster` for every node.
    reconcile_method : {"auto", "bottom_up", "top_down", "ols", "mint_shrink"}
        ``"auto"`` picks, among ``candidates``, the one with the lowest backtest MASE in a
        rolling-origin backtest of ``n_windows`` origins ``h`` apart, each level weighing
        the same (mean over levels of the level's mean MASE over its nodes).
    n_paths, random_state
        Sample paths (node x path x period, :class:`~salesplan.data.paths.SamplePaths`)
        and their random state (int or numpy Generator).  ``seed=`` is an older name of
        ``random_state``, still accepted.
    td_window : int
        Periods used for the top-down proportions.
    nonnegative : bool
        Clip reconciled bottom paths at 0, rescaled so that each keeps its reconciled mean
        (:func:`_clip_keep_mean`), then re-aggregate (still coherent).
    **forecaster_kwargs
        Passed to :class:`Forecaster` (``n_jobs``, ``cache_dir``, ``progress`` ...).
        ``global_pool`` defaults to ``"group"``: the global member of ``combo`` is trained
        per level, so the company and region forecasts do not change when a rep level is
        added (with fewer than 10 series a level has no global member).

    Returns
    -------
    HierarchyForecast
    """
    freq = canonical_freq(freq)
    long, nodes, bottom_nodes, levels = _hierarchy_nodes(orders, levels, freq, value, start, end,
                                                         until=until)
    S = summing_structure(nodes, bottom_nodes, levels)  # factored: no n_nodes x n_bottom matrix
    bottom_ids, ids = list(bottom_nodes["unique_id"]), list(nodes["unique_id"])
    del bottom_nodes
    sums = S.row_sums()  # 0/1 sums: whole numbers; a row of all ones sums to n_bottom
    top = int(np.argmax(sums)) if np.any(sums == S.shape[1]) else None
    cands = [c for c in candidates if not (c == "top_down" and top is None)]
    scores = pd.DataFrame()
    forecaster_kwargs = _level_pools(forecaster_kwargs)
    if reconcile_method == "auto":
        scores, note = _backtest_reconciliation(long, nodes, S, bottom_ids, ids, h, freq, method,
                                                cands, n_windows, td_window, top, nonnegative,
                                                forecaster_kwargs)
        chosen = scores.iloc[0]["method"] if len(scores) else "bottom_up"
    else:
        if reconcile_method not in RECONCILE_METHODS:
            raise ValueError(f"hierarchy_forecast: reconcile_method={reconcile_method!r}; "
                             f"expected 'auto' or one of {RECONCILE_METHODS}")
        chosen, note = reconcile_method, ""
    groups = dict(zip(nodes["unique_id"], nodes["level_name"]))
    fc = Forecaster(method=method, freq=freq, level=level, **forecaster_kwargs).fit(
        long, groups=groups)
    base_mean = fc._means(h)[_positions(fc.ids_, ids)]
    paths, G, Gpath = _coherent_draws(fc, ids, S, top, chosen, base_mean, long, nodes,
                                      bottom_ids, td_window, h, n_paths,
                                      random_state if seed is None else seed)
    # G and Gpath in factored form (a take, the shares of the total, or the MinT projection):
    # applied to the means and to the paths, never an n_bottom x n_nodes matrix
    bottom_mean = G.apply(base_mean)
    rec_mean = _aggregate(S, np.maximum(bottom_mean, 0.0) if nonnegative else bottom_mean)
    if chosen == "top_down":
        # top-down paths would split every total path by fixed shares: children perfectly
        # correlated, each with the total's relative spread.  The spread comes from the
        # MinT-reconciled paths instead, re-centred on the top-down means (a coherent shift).
        shift = bottom_mean - Gpath.apply(base_mean)  # (n_bottom, h)
        bottom = Gpath.apply(paths)
        bottom += shift[:, None, :]
    else:
        bottom = G.apply(paths)
    del paths, G, Gpath
    if nonnegative:
        bottom = _clip_keep_mean(bottom, bottom_mean)
    rec_paths = _aggregate(S, bottom)
    out = _forecast_frame(fc, nodes, ids, h, rec_mean, rec_paths, level)
    return HierarchyForecast(nodes=nodes, summing=S, forecast=out, paths=rec_paths, method=chosen,
                             scores=scores, base=fc, long=long, note=note)


def _coherent_draws(fc, ids, S, top, chosen, base_mean, long, nodes, bottom_ids, td_window, h,
                    n_paths, random_state):
    """Base sample paths of every node with the matched residual correlation, and the
    reconciliation of ``chosen``: ``(paths, G, Gpath)``.

    ``G`` reconciles the means, ``Gpath`` the paths (MinT for top-down, see
    :func:`hierarchy_forecast`), both in factored form (:func:`_reconciler`: bottom-up is
    a take of the bottom series' own rows, MinT / OLS the projection; no n_bottom x n_nodes
    matrix).  The n x n arrays (correlation, its Cholesky factor) are dropped as soon as
    they are used (thousands of reps: ~0.4 GB each); the factor is written into the
    correlation's own memory (:func:`~salesplan.models.forecast.engine._cholesky_in_place`).
    """
    R = fc.residual_correlation(ids)
    p = _proportions(long, nodes, bottom_ids, td_window) if chosen == "top_down" else None
    Gpath = _reconciler(S, "mint_shrink" if chosen == "top_down" else chosen, R=R, fc=fc,
                        ids=ids)
    G = (_reconciler(S, "top_down", proportions=p, top=top or 0) if chosen == "top_down"
         else Gpath)
    rows = Gpath.rows if chosen == "bottom_up" else None
    corr = _matched_correlation(fc, ids, Gpath, S, top, R, bottom_rows=rows, overwrite=True)
    del R
    chol = _cholesky_in_place(corr)  # in corr's own memory: one n x n array, not three
    del corr
    paths = fc.sample_paths(h, n_paths=n_paths, random_state=random_state, ids=ids, chol=chol)
    return paths, G, Gpath


def _forecast_frame(fc: Forecaster, nodes, ids, h, rec_mean, rec_paths, level):
    """``unique_id, level_name, ds, mean, lo-L, hi-L``: ``h`` rows per node in the order
    of ``ids``; the bounds are the ``(100 - L) / 200`` and ``1 - (100 - L) / 200``
    quantiles of the node's reconciled paths per period (one vectorised pass)."""
    out = {"unique_id": np.repeat(np.asarray(ids, dtype=object), h),
           "level_name": np.repeat(nodes["level_name"].to_numpy(dtype=object), h),
           "ds": fc.future_dates_of(ids, h), "mean": np.asarray(rec_mean, float).reshape(-1)}
    for lv in level:
        a = (100 - lv) / 200
        out[f"lo-{lv}"] = np.quantile(rec_paths, a, axis=1).reshape(-1)
        out[f"hi-{lv}"] = np.quantile(rec_paths, 1 - a, axis=1).reshape(-1)
    return pd.DataFrame(out)


def _clip_keep_mean(bottom, mean):
    """Bottom paths clipped at 0 and rescaled to keep the reconciled means.

    Clipping a path distribution at 0 raises its mean by ``E[max(-X, 0)]``: for a rep whose
    spread is wide against its mean (a small, volatile or fading rep) the paths' mean ends
    far above the rep's forecast, and summed over many reps the company's paths far above
    the company forecast.  Per bottom series ``j`` and period ``t`` the clipped paths are
    multiplied by ``max(mu_jt, 0) / mean_p(max(x_jpt, 0))`` (``mu`` = reconciled mean), so
    the paths stay non-negative and coherent and their mean is the reconciled mean.

    Parameters
    ----------
    bottom : ndarray (n_bottom, n_paths, h)
    mean : ndarray (n_bottom, h)
    """
    clipped = np.maximum(bottom, 0.0)
    m = clipped.mean(axis=1)
    target = np.maximum(mean, 0.0)
    f = np.divide(target, m, out=np.ones_like(m), where=m > 0)
    clipped *= f[:, None, :]
    return clipped


def _matched_correlation(fc: Forecaster, ids, G, S, top, R, bottom_rows=None, overwrite=False):
    """Residual correlation of the base paths, blended toward a common factor so that the
    reconciled grand total has the spread of its own calibrated base forecast.

    One-step in-sample residuals understate how much the multi-step errors of the
    children move together (a shared model error -- trend, season -- is not in them), so
    the reconciled total comes out narrower than the total's own calibrated interval.
    With ``w = (S G)[top]`` the reconciliation weights of the total, ``D = diag(s_i)`` and
    ``R_lambda = (1 - lambda) R + lambda 11'``, ``lambda`` in [0, 1] solves
    ``w' D R_lambda D w = s_top^2`` (the horizon structure is common to all series, so the
    variances of the horizon sums match too).  ``R`` unchanged without a grand total.

    ``G`` is a matrix or a :class:`_Projection` (MinT, OLS).  ``bottom_rows`` (instead
    of ``G``, which is then not used): bottom-up, given by each
    bottom series' own row, so ``(S G)[top]`` is ``S[top]`` put at those rows (0/1 sums,
    exact).  ``overwrite``: ``R_lambda`` is computed in ``R``'s own memory (no second
    n x n array; ``R`` is then changed).
    """
    if top is None or len(ids) < 2:
        return R
    d = np.array([fc.series_[u].scale for u in ids])
    s_top = S.row(top) if isinstance(S, Summing) else np.asarray(S, float)[top]
    if bottom_rows is not None:
        sg = np.zeros(len(ids))
        sg[bottom_rows] = s_top
        w = sg * d
    elif isinstance(G, _Projection):  # s_top' G from the factors: no n x n product
        w = G.weights(s_top) * d
    elif np.all((G == 0) | (G == 1)):  # bottom-up: 0/1 weights, so the row's sums are exact in
        w = (s_top @ G) * d  # any order: row `top` alone, not the n x n product S G
    else:
        S = S.dense() if isinstance(S, Summing) else np.asarray(S, float)
        w = (S @ G)[top] * d
    A = float(w @ R @ w)
    B = float(w.sum() ** 2)
    target = float(d[top] ** 2)
    if not (B > A and target > A):
        return R
    lam = min(1.0, (target - A) / (B - A))
    if overwrite:
        out = R
        out *= 1 - lam
    else:
        out = (1 - lam) * R
    out += lam  # (1 - lam) R + lam 11'
    return out


def _backtest_reconciliation(long, nodes, S, bottom_ids, ids, h, freq, method, cands,
                             n_windows, td_window, top, nonnegative, kw):
    """Backtest MASE of each reconciliation method, every level weighing the same.

    ``mase`` = mean over the levels of the level's mean MASE (over its nodes and the
    windows); ``mase_<level>`` the per-level figures.  A plain mean over nodes would let
    the most numerous level decide (some 50 reps against one company and six regions):
    bottom-up wins there whenever the reps' own forecasts are a little better for the
    reps, even when their sum is far off for the company and the regions.

    A window (cut-off ``c``, the ``h`` periods after it as test) is scored on the series
    with history up to ``c``: the bottom series with at least one period ``<= c`` and the
    nodes above them, each reconciled as the sum of those bottom series (the columns of
    ``S`` of the series with history; a rep hired after ``c`` is not in that window, as he
    would not be in a forecast made at ``c``, while his region's actuals still hold his
    sales).  A window is skipped only when no series has history up to ``c`` or fewer
    than ``h`` periods follow ``c``.

    Returns
    -------
    (scores, note)
        ``scores`` (empty when no window could be scored: bottom-up is then used) and a
        sentence: ``""`` when every window was scored on every series, else how many
        bottom series the windows were scored on, or why none could be scored.
    """
    lv = nodes["level"].to_numpy()
    levels = sorted(set(lv.tolist()))
    names = dict(zip(nodes["level"], nodes["level_name"]))
    kw = dict(kw)  # cache_dir kept: a window fit is reused by a forecast whose window has the
    kw["calibrate"] = False  # same data (04's monitoring quarter); only the means are scored
    end = long["ds"].max()
    grid = pd.date_range(end=end, periods=h * n_windows + 1, freq=freq)
    res = {c: [] for c in cands}
    skipped, partial = [], []
    for k in range(n_windows):
        cutoff = grid[-(h * (k + 1)) - 1]
        train = long[long["ds"] <= cutoff]
        test = long[(long["ds"] > cutoff)].pivot(index="unique_id", columns="ds", values="y")
        test = test.iloc[:, :h]
        win = _window_hierarchy(nodes, S, bottom_ids, ids, top, set(train["unique_id"]))
        if win is None or test.shape[1] < h:
            skipped.append(f"{cutoff:%Y-%m-%d}")
            continue
        w_ids, w_S, w_bottom, w_top, w_lv = win
        if len(w_bottom) < len(bottom_ids):
            partial.append(len(w_bottom))
        for c, errs in _score_window(train, test, nodes, w_ids, w_S, w_bottom, w_top, h, freq,
                                     method, cands, td_window, nonnegative, kw).items():
            res[c].append([float(np.mean(errs[w_lv == li])) for li in levels])
    rows = []
    for c, v in res.items():
        if not v:
            continue
        per_level = np.mean(np.asarray(v), axis=0)  # (n_levels,) mean over windows
        row = {"method": c, "mase": float(per_level.mean()), "n_windows": len(v)}
        row.update({f"mase_{names[k]}": float(e) for k, e in zip(levels, per_level)})
        rows.append(row)
    if not rows:
        return pd.DataFrame(), ("No reconciliation backtest window fits the history (the latest "
                                f"cut-off is {skipped[0]}): bottom_up is used")
    note = ""
    if partial:
        lo, hi = min(partial), max(partial)
        note = ("Reconciliation backtest on the bottom series with history up to each cut-off ("
                + (f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}") + f" of {len(bottom_ids):,})")
    return pd.DataFrame(rows).sort_values("mase", ignore_index=True), note


def _window_hierarchy(nodes, S, bottom_ids, ids, top, present):
    """The hierarchy of a backtest window: the nodes and bottom series in ``present``.

    Returns ``(ids, S, bottom_ids, top, level)`` of the nodes with history (``S`` itself
    when every node has history), or None when no bottom series has history or a node
    with history sums no bottom series with history.
    """
    if all(u in present for u in ids):
        return ids, S, bottom_ids, top, nodes["level"].to_numpy()
    rows = np.flatnonzero([u in present for u in ids])
    cols = np.flatnonzero([u in present for u in bottom_ids])
    if not len(cols):
        return None
    sub = Summing.from_dense(S).sub(rows, cols)  # every kept series keeps its own row
    if not np.all(sub.row_sums() > 0):
        return None
    w_top = None if top is None or top not in rows else int(np.flatnonzero(rows == top)[0])
    return ([ids[i] for i in rows], sub, [bottom_ids[j] for j in cols], w_top,
            nodes["level"].to_numpy()[rows])


def _score_window(train, test, nodes, ids, S, bottom_ids, top, h, freq, method, cands,
                  td_window, nonnegative, kw):
    """MASE per node (in the order of ``ids``) of each reconciliation in ``cands`` over one
    backtest window: base forecasts fitted on ``train``, scored on ``test`` (``unique_id``
    x the ``h`` test periods; a node without a test value sold 0)."""
    fitted = set(ids)  # the groups of the series fitted (the same fit; the fit cache's key)
    fc = Forecaster(method=method, freq=freq, **kw).fit(
        train, groups={u: g for u, g in zip(nodes["unique_id"], nodes["level_name"]) if u in fitted})
    base = fc._means(h)[_positions(fc.ids_, ids)]
    y = test.reindex(ids).fillna(0.0).to_numpy()
    scale = np.array([_mase_scale(g["y"].to_numpy(), fc.m_) for _, g in
                      train.groupby("unique_id", sort=False)])
    scale_map = dict(zip(train.groupby("unique_id", sort=False).groups.keys(), scale))
    sc = np.array([scale_map[u] for u in ids])
    out = {}
    for c in cands:
        if c == "top_down" and top is None:
            continue
        p = _proportions(train, nodes, bottom_ids, td_window) if c == "top_down" else None
        G = _reconciler(S, c, proportions=p, top=top or 0, fc=fc, ids=ids)
        r = reconcile(base, S, c, nonnegative=nonnegative, G=G)
        del G
        out[c] = np.mean(np.abs(y - r) / sc[:, None], axis=1)
    return out
