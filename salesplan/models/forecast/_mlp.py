"""The global member's network: scikit-learn's ``MLPRegressor`` with a leaner training loop.

:class:`LeanMLPRegressor` trains exactly as ``MLPRegressor(solver="adam",
early_stopping=True)`` of scikit-learn 1.9 on dense float arrays without sample weights --
the same shuffles, mini-batches, Adam steps and early-stopping scores, so the same
weights bit for bit (``tests/test_forecast_global.py`` compares them) -- without the
per-batch and per-epoch input checks that cost more than the arithmetic on networks this
small (a few thousand windows, 32 x 32 units): a mini-batch is taken by plain indexing
and the validation R^2 of every epoch is computed directly (the formula of
``sklearn.metrics.r2_score``: ``mean_k(1 - SS_res,k / SS_tot,k)``, an output with
``SS_tot = 0`` scoring 1 when it is predicted exactly and 0 otherwise).  Any other
setting, and any scikit-learn release other than those in :data:`TESTED_SKLEARN` (the
loop copies private methods of ``BaseMultilayerPerceptron``), falls back to
scikit-learn's own loop.
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer
from sklearn.utils import gen_batches, shuffle

#: scikit-learn releases (major.minor) whose ``MLPRegressor._fit_stochastic`` the lean loop
#: reproduces (the pinned one, ``requirements.lock``); others train with scikit-learn's loop
TESTED_SKLEARN = ("1.9",)
_LEAN_RELEASE = ".".join(sklearn.__version__.split(".")[:2]) in TESTED_SKLEARN


def r2_uniform(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``sklearn.metrics.r2_score(y_true, y_pred)`` (uniform average over the outputs) for
    float arrays of 2 or more rows, without its input checks; NaN with fewer than 2 rows."""
    if y_pred.ndim == 1:
        y_pred = y_pred.reshape(-1, 1)
    if y_true.ndim == 1:
        y_true = y_true.reshape(-1, 1)
    if len(y_pred) < 2:
        return float("nan")
    numerator = np.sum(1.0 * (y_true - y_pred) ** 2, axis=0)
    denominator = np.sum(1.0 * (y_true - np.average(y_true, axis=0)) ** 2, axis=0)
    nonzero_den, nonzero_num = denominator != 0, numerator != 0
    scores = np.ones(y_true.shape[1], dtype=numerator.dtype)
    valid = nonzero_den & nonzero_num
    scores[valid] = 1 - (numerator[valid] / denominator[valid])
    scores[nonzero_num & ~nonzero_den] = 0.0
    return float(np.average(scores))


class LeanMLPRegressor(MLPRegressor):
    """``MLPRegressor`` whose Adam + early-stopping training skips per-batch input checks
    (module docstring); same parameters, same results."""

    def _lean(self, X, sample_weight, incremental) -> bool:
        return (_LEAN_RELEASE and self.solver == "adam" and self.early_stopping and self.shuffle and not incremental
                and sample_weight is None and not self.verbose and isinstance(X, np.ndarray))

    def _score(self, X, y, sample_weight=None):
        if sample_weight is not None or not isinstance(X, np.ndarray):
            return super()._score(X, y, sample_weight=sample_weight)
        y_pred = self._predict(X, check_input=False)
        if not np.isfinite(y_pred).all():
            return np.nan
        return r2_uniform(np.asarray(y, dtype=float), y_pred)

    def _fit_stochastic(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                        layer_units, incremental):
        if not self._lean(X, sample_weight, incremental):
            return super()._fit_stochastic(X, y, sample_weight, activations, deltas, coef_grads,
                                           intercept_grads, layer_units, incremental)
        params = self.coefs_ + self.intercepts_
        self._optimizer = AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2,
                                        self.epsilon)
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, random_state=self._random_state, test_size=self.validation_fraction)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        batch_size = np.clip(self.batch_size, 1, n_samples) if self.batch_size != "auto" \
            else min(200, n_samples)
        batches = list(gen_batches(n_samples, batch_size))
        adam = (_LeanAdamStep(self, self._optimizer) if self.activation == "relu"
                and self.out_activation_ == "identity" and self.loss == "squared_error" else None)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            sample_idx = shuffle(sample_idx, random_state=self._random_state)
            accumulated_loss = 0.0
            for batch_slice in batches:
                batch_idx = sample_idx[batch_slice]
                X_batch = X_train[batch_idx]
                if adam is not None:  # the same arithmetic without the per-call dispatch
                    batch_loss = adam.step(X_batch, y_train[batch_idx])
                else:
                    activations[0] = X_batch
                    batch_loss, coef_grads, intercept_grads = self._backprop(
                        X_batch, y_train[batch_idx], None, activations, deltas, coef_grads,
                        intercept_grads)
                    self._optimizer.update_params(params, coef_grads + intercept_grads)
                accumulated_loss += batch_loss * (batch_slice.stop - batch_slice.start)
            self.n_iter_ += 1
            self.loss_ = accumulated_loss / X_train.shape[0]
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            self._update_no_improvement_count(True, X_val, y_val, None)
            self._optimizer.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                if self._optimizer.trigger_stopping("", False):
                    break
                self._no_improvement_count = 0
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                              "and the optimization hasn't converged yet.", ConvergenceWarning, stacklevel=2)
        self.coefs_ = self._best_coefs
        self.intercepts_ = self._best_intercepts


class _LeanAdamStep:
    """One mini-batch of :class:`LeanMLPRegressor` (ReLU hidden layers, identity output,
    squared error, no sample weights): ``MLPRegressor._backprop`` followed by
    ``AdamOptimizer.update_params`` of scikit-learn 1.9, written out.

    The same numpy operations on the same arrays in the same order (forward pass, loss with
    its L2 term, output delta, the gradients of every layer from the last to the first, then
    Adam's moments, learning rate and in-place parameter updates), so the same bits; what
    is left out is the dispatch around them (``safe_sparse_dot``'s sparse checks, the
    activation, derivative and loss look-ups, ``np.average``'s argument handling), which on
    a 32 x 32 network costs as much as the arithmetic.  The optimizer's state (``t``,
    ``ms``, ``vs``, ``learning_rate``) and the network's ``coefs_`` / ``intercepts_`` are
    updated in place, as scikit-learn's loop does.
    """

    def __init__(self, net, optimizer):
        self.net, self.opt = net, optimizer
        self.coefs, self.intercepts = net.coefs_, net.intercepts_
        self.alpha = net.alpha

    def step(self, X, y) -> float:
        """Train on one mini-batch ``(X, y)``; returns its loss (``_backprop``'s)."""
        coefs, intercepts, alpha = self.coefs, self.intercepts, self.alpha
        n_samples = X.shape[0]
        last = len(coefs) - 1
        acts = [X]
        for i in range(last + 1):  # forward pass
            a = acts[i] @ coefs[i]
            a += intercepts[i]
            if i != last:
                np.maximum(a, 0, out=a)  # inplace_relu
            acts.append(a)
        loss = 0.5 * np.mean((y - acts[-1]) ** 2, axis=0).mean()  # squared_loss (np.average)
        values = 0
        for s in coefs:
            s = s.ravel()
            values += np.dot(s, s)
        loss += (0.5 * alpha) * values / n_samples
        coef_grads, intercept_grads = [None] * (last + 1), [None] * (last + 1)
        delta = acts[-1] - y
        for i in range(last, -1, -1):  # _compute_loss_grad of layer i, then the delta below it
            g = acts[i].T @ delta
            g += alpha * coefs[i]
            g /= n_samples
            coef_grads[i] = g
            intercept_grads[i] = np.sum(delta, axis=0) / n_samples
            if i > 0:
                delta = delta @ coefs[i].T
                delta[acts[i] == 0] = 0  # inplace_relu_derivative
        self._adam(coefs + intercepts, coef_grads + intercept_grads)
        return loss

    def _adam(self, params, grads):
        """``AdamOptimizer.update_params(params, grads)`` (scikit-learn 1.9)."""
        opt = self.opt
        b1, b2 = opt.beta_1, opt.beta_2
        opt.t += 1
        opt.ms = [b1 * m + (1 - b1) * grad for m, grad in zip(opt.ms, grads)]
        opt.vs = [b2 * v + (1 - b2) * (grad**2) for v, grad in zip(opt.vs, grads)]
        opt.learning_rate = opt.learning_rate_init * np.sqrt(1 - b2**opt.t) / (1 - b1**opt.t)
        lr, eps = opt.learning_rate, opt.epsilon
        for param, m, v in zip(params, opt.ms, opt.vs):
            param += -lr * m / (np.sqrt(v) + eps)
