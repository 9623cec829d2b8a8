"""Compiled kernels of :func:`salesplan.models.forecast.classic.fit_ets`.

The least-squares fit of ETS(A,N/A/Ad,N) -- the one-step error filter, its sum of
squares and the Nelder-Mead search over the logit-scaled parameters -- is the inner loop
of the default forecast (two fits per series and backtest window).  These functions do
the same arithmetic as the previous numpy/scipy code, in the same order, compiled by
numba when it is installed (plain Python otherwise, same values):

* :func:`ets_errors` = ``scipy.signal.lfilter`` (transposed direct form II) of the
  transfer function of the ETS(A,N/A/Ad,N) one-step errors (see :func:`ets_errors`);
* :func:`nelder_mead` = ``scipy.optimize.minimize(method="Nelder-Mead")`` with its
  defaults (initial simplex ``x0 * 1.05``, or ``0.00025`` for zero coordinates;
  reflection 1, expansion 2, contraction 0.5, shrink 0.5; stops when
  ``max |x_i - x_0| <= xatol`` and ``max |f_i - f_0| <= fatol``, or after ``maxiter``
  iterations).

The one difference from the previous code is ``exp``: the C library's here, numpy's
there (on AVX-512 machines numpy's SIMD loop differs in the last bit for ~2% of
arguments), so a search can end at a point that differs below its tolerance (M3: point
forecasts within 5.4e-9 relative, see ``benchmarks/RESULTS.md``).

Tests: ``tests/test_forecast_kernels.py`` compares them with scipy on random inputs.
"""

from __future__ import annotations

import math

import numpy as np

try:  # optional: numba compiles the kernels (about 50x faster); same values without it
    from numba import njit as _njit

    def njit(fn):
        return _njit(cache=True, nogil=True)(fn)

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    def njit(fn):
        return fn

    HAVE_NUMBA = False


_LOG_MAX = 709.782712893384  # log of the largest float64


@njit
def sigmoid(x):
    """``1 / (1 + exp(-x))`` (0 where ``exp(-x)`` overflows, as in numpy)."""
    if -x > _LOG_MAX:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


@njit
def unpack(p, trend, damped):
    """Logit-scale parameters -> ``(alpha, beta, phi)``.

    ``alpha = 1e-4 + 0.9998 s(p_0)``, ``beta = alpha (1e-4 + 0.9998 s(p_1))`` (0 without
    trend), ``phi = 0.8 + 0.18 s(p_2)`` (1 without damping), ``s`` the logistic function.
    """
    a = 0.0001 + 0.9998 * sigmoid(p[0])
    b = a * (0.0001 + 0.9998 * sigmoid(p[1])) if trend else 0.0
    ph = 0.8 + 0.18 * sigmoid(p[2]) if damped else 1.0
    return a, b, ph


@njit
def ets_errors(y, alpha, beta, phi, l0, b0, trend):
    """One-step errors ``e_t = y_t - (l_{t-1} + phi b_{t-1})`` of ETS(A,N/A/Ad,N) as a
    linear filter of ``y`` (the arithmetic of ``scipy.signal.lfilter``, transposed direct
    form II: ``out = z_0 + b_0 x``, ``z_i = z_{i+1} + b_{i+1} x - a_{i+1} out``).

    With state ``s_t = (l_t, b_t)``, ``s_t = A s_{t-1} + g y_t`` and
    ``e_t = y_t - w s_{t-1}`` where ``A = D - g w``, ``D = [[1, phi], [0, phi]]``,
    ``g = (alpha, beta)``, ``w = (1, phi)``: the transfer function from y to e is
    ``(det(I - A z^-1) - z^-1 w adj(I - A z^-1) g) / det(I - A z^-1)``, and the start-up
    term ``-w A^{t-1} s_0`` follows the same autoregression (Cayley-Hamilton), so it
    enters as the filter's initial condition.  Without trend: ``(1 - z^-1) / (1 -
    (1 - alpha) z^-1)`` with initial condition ``-l0``.
    """
    n = y.shape[0]
    e = np.empty(n)
    if not trend:
        # lfilter([1, -1], [1, -(1 - alpha)], y, zi=[-l0])
        a1 = -(1.0 - alpha)
        z0 = -l0
        for t in range(n):
            x = y[t]
            out = z0 + 1.0 * x
            z0 = x * -1.0 - out * a1
            e[t] = out
        return e
    a11, a12, a21, a22 = 1.0 - alpha, phi - alpha * phi, -beta, phi - beta * phi
    d1, d2 = -(a11 + a22), a11 * a22 - a12 * a21
    c0 = alpha + phi * beta
    c1 = -alpha * a22 + a12 * beta + phi * a21 * alpha - phi * a11 * beta
    r1 = -(l0 + phi * b0)
    r2 = -((a11 * l0 + a12 * b0) + phi * (a21 * l0 + a22 * b0))
    bb1, bb2 = d1 - c0, d2 - c1
    z0, z1 = r1, r2 + d1 * r1
    for t in range(n):
        x = y[t]
        out = z0 + 1.0 * x
        z0 = z1 + x * bb1 - out * d1
        z1 = x * bb2 - out * d2
        e[t] = out
    return e


@njit
def sse(p, y, l0, b0, trend, damped):
    """Sum of squared one-step errors at logit parameters ``p`` (1e300 when not finite)."""
    a, b, ph = unpack(p, trend, damped)
    e = ets_errors(y, a, b, ph, l0, b0, trend)
    s = np.dot(e, e)
    return s if math.isfinite(s) else 1e300


@njit
def _sort_simplex(sim, fsim):
    """Stable insertion sort of the vertices by function value (numpy's order for
    ``argsort`` of a few values; ties keep their order)."""
    k = fsim.shape[0]
    for i in range(1, k):
        fv = fsim[i]
        row = sim[i].copy()
        j = i - 1
        while j >= 0 and fsim[j] > fv:
            fsim[j + 1] = fsim[j]
            sim[j + 1] = sim[j]
            j -= 1
        fsim[j + 1] = fv
        sim[j + 1] = row


@njit
def nelder_mead(x0, y, l0, b0, trend, damped, xatol, fatol, maxiter):
    """Minimise :func:`sse` from ``x0`` exactly as scipy's Nelder-Mead (see module doc);
    returns ``(x, number of function evaluations)``."""
    N = x0.shape[0]
    sim = np.empty((N + 1, N))
    sim[0] = x0
    for k in range(N):
        sim[k + 1] = x0
        sim[k + 1, k] = (1 + 0.05) * x0[k] if x0[k] != 0 else 0.00025
    fsim = np.empty(N + 1)
    for k in range(N + 1):
        fsim[k] = sse(sim[k], y, l0, b0, trend, damped)
    nfev = N + 1
    _sort_simplex(sim, fsim)
    iterations = 1
    while iterations < maxiter:
        dx, df = 0.0, 0.0
        for i in range(1, N + 1):
            df = max(df, abs(fsim[0] - fsim[i]))
            for k in range(N):
                dx = max(dx, abs(sim[i, k] - sim[0, k]))
        if dx <= xatol and df <= fatol:
            break
        xbar = sim[0].copy()
        for i in range(1, N):
            xbar += sim[i]
        xbar = xbar / N
        last = sim[N]
        xr = 2 * xbar - 1 * last
        fxr = sse(xr, y, l0, b0, trend, damped)
        nfev += 1
        if fxr < fsim[0]:
            xe = 3 * xbar - 2 * last
            fxe = sse(xe, y, l0, b0, trend, damped)
            nfev += 1
            if fxe < fxr:
                sim[N] = xe
                fsim[N] = fxe
            else:
                sim[N] = xr
                fsim[N] = fxr
        elif fxr < fsim[N - 1]:
            sim[N] = xr
            fsim[N] = fxr
        else:
            if fxr < fsim[N]:
                xc = 1.5 * xbar - 0.5 * last
                fxc = sse(xc, y, l0, b0, trend, damped)
                nfev += 1
                shrink = not (fxc <= fxr)
                if not shrink:
                    sim[N] = xc
                    fsim[N] = fxc
            else:
                xcc = 0.5 * xbar + 0.5 * last
                fxcc = sse(xcc, y, l0, b0, trend, damped)
                nfev += 1
                shrink = not (fxcc < fsim[N])
                if not shrink:
                    sim[N] = xcc
                    fsim[N] = fxcc
            if shrink:
                for j in range(1, N + 1):
                    sim[j] = sim[0] + 0.5 * (sim[j] - sim[0])
                    fsim[j] = sse(sim[j], y, l0, b0, trend, damped)
                    nfev += 1
        iterations += 1
        _sort_simplex(sim, fsim)
    return sim[0].copy(), nfev


@njit
def ses_start(grid, y, l0):
    """Grid value of ``p_0`` with the least SSE for SES (first of equal minima)."""
    p = np.empty(1)
    best, arg = np.inf, 0
    for i in range(grid.shape[0]):
        p[0] = grid[i]
        v = sse(p, y, l0, 0.0, False, False)
        if v < best:
            best, arg = v, i
    return grid[arg]


@njit
def ets_filter(y, alpha, beta, phi, l0, b0, trend):
    """State recursion of ETS(A,N/A/Ad,N): ``f_t = l_{t-1} + phi b_{t-1}``,
    ``e_t = y_t - f_t``, ``l_t = f_t + alpha e_t``, ``b_t = phi b_{t-1} + beta e_t``
    (no trend: ``f_t = l_{t-1}``); returns ``(errors, final level, final trend)``."""
    n = y.shape[0]
    e = np.empty(n)
    lvl, b = l0, b0
    for t in range(n):
        f = lvl + phi * b if trend else lvl
        e[t] = y[t] - f
        if trend:
            lvl_new = lvl + phi * b + alpha * e[t]
            b = phi * b + beta * e[t]
            lvl = lvl_new
        else:
            lvl = lvl + alpha * e[t]
    return e, lvl, b


def warm_up() -> float:
    """Compile (or load from numba's on-disk cache) every kernel once; returns seconds.

    The first compilation after installation takes a few CPU seconds; later processes
    load the cached machine code (``__pycache__`` next to this module).  ``make install``
    may call this so that the first plan does not pay the compilation.
    """
    import time

    t = time.perf_counter()
    y = np.array([1.0, 2.0, 1.5, 2.5, 3.0, 2.0])
    for trend, damped, p0 in ((False, False, [0.0]), (True, False, [0.0, -2.0]),
                              (True, True, [0.0, -2.0, 1.0])):
        x, _ = nelder_mead(np.array(p0), y, 1.0, 0.1, trend, damped, 1e-3, 1e-6, 10)
        a, b, ph = unpack(x, trend, damped)
        ets_filter(y, a, b, ph, 1.0, 0.1, trend)
    ses_start(np.linspace(-6.0, 6.0, 25), y, 1.0)
    return time.perf_counter() - t
