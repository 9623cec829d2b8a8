"""The sample paths' Cholesky factor written into the correlation's own memory (issue 19).

``_cholesky_in_place`` must give the factor of ``np.linalg.cholesky`` (the old code; its very
bits where numpy's and scipy's OpenBLAS builds agree, as on the project's x86-64 lock), keep the
old fallbacks for matrices that are not positive definite, and leave the caller's
matrices alone where it may not overwrite them.
"""

import numpy as np
import pytest

from salesplan.models.forecast.engine import _cholesky_in_place, _safe_cholesky, _symmetric


def _correlation(n, rank, seed=0):
    """A symmetric correlation matrix (n x n) from ``rank`` random rows, shrunk to the identity
    by half: positive definite, exactly symmetric (``X' X`` of numpy is)."""
    x = np.random.default_rng(seed).standard_normal((rank, n))
    c = x.T @ x / rank
    d = np.sqrt(np.diag(c))
    c /= np.outer(d, d)
    c *= 0.5
    c.flat[:: n + 1] += 0.5
    return c


@pytest.mark.parametrize("n", [2, 7, 300, 1500])  # 1500: more than one block of 1,024 rows
def test_in_place_factor_has_numpys_bits_and_uses_the_input_memory(n):
    R = _correlation(n, rank=40, seed=n)
    expected = np.linalg.cholesky(R)  # the old code's factor
    L = _cholesky_in_place(R)
    # the same LAPACK routine: the same bits where numpy's and scipy's OpenBLAS builds agree
    # (this project's lock on x86-64: equal, session 14); any machine: to rounding
    np.testing.assert_allclose(L, expected, rtol=0, atol=1e-12)
    assert np.shares_memory(L, R)
    assert np.all(np.triu(L, 1) == 0.0)


def test_draws_with_the_in_place_factor_are_the_old_draws():
    """``z @ L.T`` with the Fortran-ordered factor: the same bits as with numpy's C-ordered one."""
    R = _correlation(500, rank=30, seed=3)
    old = np.linalg.cholesky(R)
    new = _cholesky_in_place(R.copy())
    z = np.random.default_rng(0).standard_normal((3000, 500))
    np.testing.assert_allclose(z @ new.T, z @ old.T, rtol=0, atol=1e-10)


def test_not_positive_definite_falls_back_to_the_jittered_factor_of_the_input():
    # rank 1 (all ones) off the diagonal 1: semi-definite, dpotrf fails; the old code adds jitter
    n = 50
    R = np.full((n, n), 1.0)
    R[0, 1] = R[1, 0] = 0.999999
    kept = R.copy()
    with pytest.raises(np.linalg.LinAlgError):  # so the fallback is what is tested
        np.linalg.cholesky(kept)
    expected = _safe_cholesky(kept.copy())
    L = _cholesky_in_place(R)
    assert np.array_equal(L, expected)
    assert np.array_equal(R, kept)  # restored from its untouched triangle and diagonal


def test_matrices_it_may_not_overwrite_take_the_old_path():
    R = _correlation(40, rank=10, seed=1)
    R[3, 5] += 1e-12  # not exactly symmetric: numpy reads the lower triangle only
    kept = R.copy()
    assert not _symmetric(R)
    assert np.array_equal(_cholesky_in_place(R), np.linalg.cholesky(kept))
    assert np.array_equal(R, kept)
    F = np.asfortranarray(_correlation(40, rank=10, seed=2))  # not C-ordered
    kept = F.copy()
    assert np.array_equal(_cholesky_in_place(F), np.linalg.cholesky(kept))
    assert np.array_equal(F, kept)


def test_symmetric_compares_every_block():
    R = _correlation(2100, rank=5, seed=4)
    assert _symmetric(R)
    R[2099, 1030] += 1.0  # in the third block of rows, against the second block's columns
    assert not _symmetric(R)
