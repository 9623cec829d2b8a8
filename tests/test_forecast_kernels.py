"""The compiled ETS kernels against scipy's Nelder-Mead and lfilter (independent code).

The reference objective is written here from the model definition with
``scipy.signal.lfilter`` and ``math.exp``; the reference optimiser is
``scipy.optimize.minimize(method="Nelder-Mead")``.  The kernels must reproduce the
reference's parameters (same arithmetic, same order of operations).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.signal import lfilter

from salesplan.models.forecast import _ets_kernels as K
from salesplan.models.forecast import classic


def _ref_errors(y, alpha, beta, phi, l0, b0):
    """One-step errors of ETS(A,Ad,N) by the state recursion (plain Python)."""
    e, lvl, b = [], l0, b0
    for v in y:
        err = v - (lvl + phi * b)
        lvl, b = lvl + phi * b + alpha * err, phi * b + beta * err
        e.append(err)
    return np.array(e)


def _ref_sse(p, y, l0, b0, trend, damped):
    """Objective of fit_ets with scipy's public lfilter (same transfer function)."""
    s = [0.0 if -v > 709.782712893384 else 1.0 / (1.0 + math.exp(-v)) for v in p]
    a = 0.0001 + 0.9998 * s[0]
    b = a * (0.0001 + 0.9998 * s[1]) if trend else 0.0
    ph = 0.8 + 0.18 * s[2] if damped else 1.0
    if not trend:
        e = lfilter([1.0, -1.0], [1.0, -(1.0 - a)], y, zi=np.array([-l0]))[0]
    else:
        a11, a12, a21, a22 = 1.0 - a, ph - a * ph, -b, ph - b * ph
        d1, d2 = -(a11 + a22), a11 * a22 - a12 * a21
        c0 = a + ph * b
        c1 = -a * a22 + a12 * b + ph * a21 * a - ph * a11 * b
        r1 = -(l0 + ph * b0)
        r2 = -((a11 * l0 + a12 * b0) + ph * (a21 * l0 + a22 * b0))
        e = lfilter([1.0, d1 - c0, d2 - c1], [1.0, d1, d2], y,
                    zi=np.array([r1, r2 + d1 * r1]))[0]
    v = float(np.dot(e, e))
    return v if np.isfinite(v) else 1e300


def _series(seed, n):
    rng = np.random.default_rng(seed)
    return 100.0 + np.cumsum(rng.normal(0.5, 2.0, n)) + rng.normal(0, 1.0, n)


def test_error_filter_equals_the_state_recursion():
    y = _series(1, 40)
    for alpha, beta, phi in [(0.3, 0.05, 0.9), (0.9, 0.5, 0.98), (0.01, 0.001, 0.8)]:
        got = K.ets_errors(y, alpha, beta, phi, 100.0, 0.4, True)
        np.testing.assert_allclose(got, _ref_errors(y, alpha, beta, phi, 100.0, 0.4),
                                   rtol=0, atol=1e-9)
    got = K.ets_errors(y, 0.4, 0.0, 1.0, 100.0, 0.0, False)
    np.testing.assert_allclose(got, _ref_errors(y, 0.4, 0.0, 1.0, 100.0, 0.0), atol=1e-9)


@pytest.mark.parametrize("trend,damped,p0", [(False, False, [0.5]), (True, False, [0.0, -2.0]),
                                             (True, True, [0.0, -2.0, 1.0])])
@pytest.mark.parametrize("seed,n", [(0, 12), (1, 30), (2, 64)])
def test_nelder_mead_reproduces_scipy(trend, damped, p0, seed, n):
    y = _series(seed, n)
    l0, b0 = float(y[0]), 0.5 if trend else 0.0
    fatol = 1e-6 * float(np.dot(y, y))
    args = (y, l0, b0, trend, damped)
    ref = minimize(_ref_sse, np.array(p0), args=args, method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": fatol, "maxiter": 200 * len(p0)})
    x, nfev = K.nelder_mead(np.array(p0), y, l0, b0, trend, damped, 1e-3, fatol, 200 * len(p0))
    np.testing.assert_array_equal(x, ref.x)
    assert nfev == ref.nfev
    assert K.sse(x, *args) == _ref_sse(ref.x, *args)


def test_python_fallback_gives_the_same_values():
    """Without numba the same functions run as Python (``py_func``): equal values."""
    if not K.HAVE_NUMBA:
        pytest.skip("numba absent: the kernels are the Python functions already")
    y = _series(3, 24)
    args = (np.array([0.0, -2.0, 1.0]), y, float(y[0]), 0.3, True, True, 1e-3, 1e-2, 600)
    x1, n1 = K.nelder_mead(*args)
    x2, n2 = K.nelder_mead.py_func(*args)
    np.testing.assert_array_equal(x1, x2)
    assert n1 == n2


def test_fit_ets_continues_a_line_and_a_constant():
    """Holt on y_t = 100 + 2 t continues the line; SES on a constant returns it."""
    t = np.arange(30.0)
    fit = classic.fit_ets(100.0 + 2.0 * t, 4, "A")
    np.testing.assert_allclose(fit.mean, 100.0 + 2.0 * np.arange(30, 34), atol=0.05)
    fit = classic.fit_ets(np.full(20, 7.5), 3, "N")
    np.testing.assert_allclose(fit.mean, [7.5, 7.5, 7.5], atol=1e-9)


def test_anova_pvalue_equals_scipy_f_oneway():
    from scipy.stats import f_oneway

    from salesplan.models.forecast.engine import _anova_pvalue

    rng = np.random.default_rng(5)
    for k, n in [(4, 3), (12, 4), (4, 10), (2, 2)]:
        groups = [rng.normal(1.0 + 0.05 * i, 0.1, n) for i in range(k)]
        assert _anova_pvalue(groups) == pytest.approx(f_oneway(*groups).pvalue, rel=1e-9, abs=1e-15)
    assert _anova_pvalue([np.array([1.0, 1.0]), np.array([2.0, 2.0])]) == 0.0
    assert np.isnan(_anova_pvalue([np.array([1.0, 1.0]), np.array([1.0, 1.0])]))
