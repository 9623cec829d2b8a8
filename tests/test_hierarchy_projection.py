"""MinT / OLS in projection form equal the textbook GLS form; reconciled paths add up."""

from types import SimpleNamespace

import numpy as np

from salesplan.models.forecast.hierarchy import (
    _matched_correlation,
    _mint_projection,
    _Projection,
    _reconciler,
    _residual_cov,
    reconcile,
    reconciliation_matrix,
)


def _shuffled_hierarchy():
    # total, regions {0,1,2} and {3,4}, a sub-region {3} of its own, five reps; rows shuffled
    # so that the bottom series' own rows are not the last ones
    S = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 0]]
                 + np.eye(5).tolist(), float)
    order = np.random.default_rng(0).permutation(len(S))
    return S[order]


def _random_spd(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) * rng.uniform(0.5, 20.0, size=n)  # uneven scales
    return A @ A.T + 0.1 * np.eye(n)


def _textbook(S, W):
    """``(S' W^-1 S)^-1 S' W^-1`` with explicit inverses (numpy only)."""
    Wi = np.linalg.inv(W)
    return np.linalg.inv(S.T @ Wi @ S) @ S.T @ Wi


def test_projection_equals_the_textbook_gls_on_a_random_spd_w():
    S = _shuffled_hierarchy()
    n = len(S)
    W = _random_spd(n, seed=1)
    Wr = W + 1e-9 * np.trace(W) / n * np.eye(n)  # the documented ridge
    expected = _textbook(S, Wr)
    G = reconciliation_matrix(S, "mint_shrink", W=W)
    assert np.allclose(G, expected, rtol=0, atol=1e-10)
    # the factored form applied to means gives G @ base
    base = np.random.default_rng(3).normal(10.0, 5.0, size=(n, 4))
    proj = _reconciler(S, "mint_shrink", W=W)
    assert isinstance(proj, _Projection)
    assert np.allclose(proj.apply(base), expected @ base, rtol=0, atol=1e-10)
    assert np.allclose(reconcile(base, S, "mint_shrink", W=W), S @ expected @ base, rtol=0,
                       atol=1e-10)


def test_ols_equals_the_textbook_form():
    S = _shuffled_hierarchy()
    expected = np.linalg.inv(S.T @ S) @ S.T
    assert np.allclose(reconciliation_matrix(S, "ols"), expected, rtol=0, atol=1e-10)


def test_mint_from_the_residual_correlation_equals_the_dense_w():
    """``W C'`` from ``D R D`` without ``W`` == MinT on the n x n ``W = D R D``."""
    S = _shuffled_hierarchy()
    ids = [f"n{i}" for i in range(len(S))]
    rng = np.random.default_rng(5)
    R = np.corrcoef(rng.normal(size=(40, len(S))), rowvar=False)
    scales = rng.uniform(1, 50, len(S))
    fc = SimpleNamespace(series_={u: SimpleNamespace(scale=float(s)) for u, s in zip(ids, scales)},
                         residual_correlation=lambda ids: R.copy())
    W = R * np.outer(scales, scales)
    n = len(S)
    expected = _textbook(S, W + 1e-9 * np.trace(W) / n * np.eye(n))
    assert np.allclose(_mint_projection(S, fc, ids, R).matrix(), expected, rtol=0, atol=1e-10)
    assert np.allclose(_mint_projection(S, fc, ids).matrix(), expected, rtol=0, atol=1e-10)
    assert np.allclose(_residual_cov(fc, ids, R.copy()), W)


def test_reconciled_paths_are_coherent():
    S = _shuffled_hierarchy()
    n = len(S)
    W = _random_spd(n, seed=7)
    paths = np.random.default_rng(8).normal(100.0, 30.0, size=(n, 200, 3))
    for method in ("ols", "mint_shrink"):
        rec = reconcile(paths, S, method, W=W)
        assert rec.shape == paths.shape
        # every node equals the sum of its bottom series, path by path
        bottom = rec[_own_rows(S)]
        assert np.allclose(rec, np.tensordot(S, bottom, axes=(1, 0)), rtol=1e-12, atol=1e-9)
        # and the projection's constraints hold: C y = 0
        assert np.allclose(_reconciler(S, method, W=W).constraint(rec), 0.0, atol=1e-9)


def _own_rows(S):
    single = S.sum(axis=1) == 1
    return np.array([int(np.flatnonzero(single & (S[:, j] == 1))[-1]) for j in range(S.shape[1])])


def test_matched_weights_from_the_factors_equal_the_full_product():
    S = _shuffled_hierarchy()
    n = len(S)
    W = _random_spd(n, seed=9)
    proj = _reconciler(S, "mint_shrink", W=W)
    top = int(np.flatnonzero(np.all(S == 1, axis=1))[0])
    G = proj.matrix()
    assert np.allclose(proj.weights(S[top]), (S @ G)[top], rtol=0, atol=1e-12)
    ids = [str(i) for i in range(n)]
    d = np.sqrt(np.diag(W))
    fc = SimpleNamespace(series_={u: SimpleNamespace(scale=float(s)) for u, s in zip(ids, d)})
    R = W / np.outer(d, d)
    assert np.allclose(_matched_correlation(fc, ids, proj, S, top, R.copy()),
                       _matched_correlation(fc, ids, G, S, top, R.copy()), rtol=0, atol=1e-12)


def test_a_w_not_positive_definite_still_reconciles_coherently():
    S = _shuffled_hierarchy()
    n = len(S)
    v = np.random.default_rng(11).normal(size=n)
    W = -np.outer(v, v)  # negative semi-definite: C W C' has no Cholesky factor
    base = np.random.default_rng(12).normal(50.0, 10.0, size=(n, 2))
    rec = reconcile(base, S, "mint_shrink", W=W)
    assert np.all(np.isfinite(rec))
    rows = _own_rows(S)
    assert np.allclose(rec, S @ rec[rows])


def _orders():
    import pandas as pd

    rng = np.random.default_rng(1)
    rows = []
    reps = {"East": ["e1", "e2", "e3"], "West": ["w1", "w2"]}
    for m, d in enumerate(pd.date_range("2021-01-01", periods=36, freq="MS")):
        common = rng.normal(0, 0.15)
        for region, rs in reps.items():
            for r in rs:
                amt = 100 * (1 + 0.3 * np.sin(m / 2)) * (1 + common + rng.normal(0, 0.08))
                rows.append((d + pd.Timedelta(days=int(rng.integers(0, 27))), region, r, amt))
    return pd.DataFrame(rows, columns=["order_date", "region", "rep_id", "amount"])


def test_hierarchy_forecast_mint_means_are_the_textbook_gls_and_paths_add_up():
    from salesplan.models.forecast import hierarchy_forecast
    from salesplan.models.forecast.engine import _positions

    hf = hierarchy_forecast(_orders(), levels=[(), ("region",), ("region", "rep_id")], h=3,
                            method="theta", reconcile_method="mint_shrink", n_paths=300, seed=2,
                            nonnegative=False)
    S, ids, fc = hf.S, hf.ids, hf.base
    base = fc._means(3)[_positions(fc.ids_, ids)]
    d = np.array([max(fc.series_[u].scale, 1e-9) for u in ids])
    W = fc.residual_correlation(ids) * np.outer(d, d)
    n = len(S)
    G = _textbook(S, W + 1e-9 * np.trace(W) / n * np.eye(n))
    mean = hf.forecast["mean"].to_numpy().reshape(n, 3)
    assert np.allclose(mean, S @ G @ base, rtol=1e-10, atol=1e-8)
    rows = _own_rows(S)
    assert np.allclose(hf.paths, np.tensordot(S, hf.paths[rows], axes=(1, 0)), rtol=1e-12)


def test_top_down_paths_are_the_mint_paths_recentred():
    from salesplan.models.forecast import hierarchy_forecast

    kw = dict(levels=[(), ("region",), ("region", "rep_id")], h=3, method="theta", n_paths=300,
              seed=4, nonnegative=False)
    td = hierarchy_forecast(_orders(), reconcile_method="top_down", **kw)
    mint = hierarchy_forecast(_orders(), reconcile_method="mint_shrink", **kw)
    n = len(td.S)
    td_mean = td.forecast["mean"].to_numpy().reshape(n, 1, 3)
    mint_mean = mint.forecast["mean"].to_numpy().reshape(n, 1, 3)
    assert not np.allclose(td_mean, mint_mean)  # different means ...
    # ... the same spread: the top-down paths are the MinT paths shifted to the top-down means
    assert np.allclose(td.paths - td_mean, mint.paths - mint_mean, rtol=0, atol=1e-8)
    rows = _own_rows(td.S)
    assert np.allclose(td.paths, np.tensordot(td.S, td.paths[rows], axes=(1, 0)), rtol=1e-12)
