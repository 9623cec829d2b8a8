"""Reconciled paths built with fewer n x n arrays: the same numbers as the textbook formulas."""

from types import SimpleNamespace

import numpy as np
import pytest

from salesplan.models.forecast.engine import _safe_cholesky
from salesplan.models.forecast.hierarchy import _matched_correlation, reconciliation_matrix


def _hierarchy():
    # total, two regions, five reps (3 + 2)
    S = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1]] + np.eye(5).tolist(), float)
    rng = np.random.default_rng(2)
    A = rng.normal(size=(len(S), 40))
    C = np.corrcoef(A)
    scales = np.array([9.0, 6.5, 5.0, 2.0, 2.5, 3.0, 2.2, 2.9])
    fc = SimpleNamespace(series_={str(i): SimpleNamespace(scale=s) for i, s in enumerate(scales)})
    return S, C, scales, fc, [str(i) for i in range(len(S))]


def _reference_matched(S, G, C, d, top):
    w = (S @ G)[top] * d  # the full product's row, as the formula reads
    A, B, target = float(w @ C @ w), float(w.sum() ** 2), float(d[top] ** 2)
    lam = min(1.0, (target - A) / (B - A))
    return (1 - lam) * C + lam * np.ones_like(C)


def test_matched_correlation_bottom_up_equals_the_full_product():
    S, C, d, fc, ids = _hierarchy()
    G = reconciliation_matrix(S, "bottom_up")
    got = _matched_correlation(fc, ids, G, S, 0, C)
    assert np.array_equal(got, _reference_matched(S, G, C, d, 0))


def test_matched_correlation_mint_equals_the_full_product():
    S, C, d, fc, ids = _hierarchy()
    G = reconciliation_matrix(S, "mint_shrink", W=C * np.outer(d, d))
    got = _matched_correlation(fc, ids, G, S, 0, C)
    assert np.array_equal(got, _reference_matched(S, G, C, d, 0))


def test_mint_ridge_on_the_diagonal_equals_adding_an_identity():
    S, C, d, _, _ = _hierarchy()
    W = C * np.outer(d, d)
    n = len(W)
    from salesplan.models.forecast.hierarchy import _gls_projection

    expected = _gls_projection(S, W + 1e-9 * np.trace(W) / n * np.eye(n))
    assert np.array_equal(reconciliation_matrix(S, "mint_shrink", W=W), expected)


def test_cholesky_jitter_equals_adding_an_identity():
    v = np.array([1.0, 1.0, 1.0])
    R = np.outer(v, v)  # rank 1: not positive definite, needs a jitter
    L = _safe_cholesky(R)
    for jitter in (1e-10, 1e-8, 1e-6, 1e-4):
        try:
            expected = np.linalg.cholesky(R + jitter * np.eye(3))
            break
        except np.linalg.LinAlgError:
            continue
    assert np.array_equal(L, expected)
    assert np.allclose(L @ L.T, R, atol=1e-4)


def test_bottom_up_paths_are_the_bottom_rows():
    from salesplan.models.forecast.hierarchy import _bottom_rows

    S = _hierarchy()[0]
    rng = np.random.default_rng(4)
    paths = rng.normal(size=(len(S), 50, 3))
    paths[rng.random(paths.shape) < 0.2] = 0.0
    G = reconciliation_matrix(S, "bottom_up")
    assert np.array_equal(paths[_bottom_rows(S)], np.tensordot(G, paths, axes=(1, 0)))


def test_mint_projection_equals_reconciliation_matrix_of_the_residual_cov():
    """``_mint_projection`` (``W C'`` from ``D R D``, no n x n ``W``) == ``reconciliation_matrix``
    on the textbook ``W = D R D`` (up to rounding), with and without a given correlation."""
    from types import SimpleNamespace

    from salesplan.models.forecast.hierarchy import _mint_projection, _residual_cov

    rng = np.random.default_rng(5)
    S = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 0],
                  [0, 0, 1, 0], [0, 0, 0, 1]], float)
    ids = [f"n{i}" for i in range(len(S))]
    X = rng.normal(size=(40, len(S)))
    C = np.corrcoef(X, rowvar=False)
    fc = SimpleNamespace(series_={u: SimpleNamespace(scale=float(s)) for u, s in
                                  zip(ids, rng.uniform(1, 5, len(S)))},
                         residual_correlation=lambda ids: C.copy())
    expected = reconciliation_matrix(S, "mint_shrink", W=_residual_cov(fc, ids, C.copy()))
    assert np.allclose(_mint_projection(S, fc, ids, C.copy()).matrix(), expected, rtol=0,
                       atol=1e-12)
    assert np.allclose(_mint_projection(S, fc, ids).matrix(), expected, rtol=0, atol=1e-12)


def test_positions_as_list_index():
    from salesplan.models.forecast.engine import _positions

    seq = ["a", "b", "c", "b", "d"]
    items = ["d", "b", "a", "c", "b"]
    assert _positions(seq, items) == [seq.index(u) for u in items] == [4, 1, 0, 2, 1]
    with pytest.raises(ValueError, match="'z' is not in list"):
        _positions(seq, ["a", "z"])


def test_means_computed_once_per_fit_and_horizon():
    """``_means`` equals a fresh computation, returns a copy, and follows a refit."""
    import pandas as pd

    from salesplan.models.forecast import Forecaster

    rng = np.random.default_rng(2)
    ds = pd.date_range("2022-01-01", periods=36, freq="MS")
    df = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 36), "ds": np.tile(ds, 2),
                       "y": rng.uniform(50, 150, 72)})
    fc = Forecaster(method="ets").fit(df)
    first = fc._means(3)
    first[:] = -1.0  # a caller changing its copy does not change the next answer
    assert np.array_equal(fc._means(3), fc._compute_means(3))
    assert np.array_equal(fc._means(5)[:, :3], fc._compute_means(3))
    fc.fit(df.assign(y=df["y"] * 2))
    assert np.array_equal(fc._means(3), fc._compute_means(3))
