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
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            sample_idx = shuffle(sample_idx, random_state=self._random_state)
            accumulated_loss = 0.0
            for batch_slice in batches:
                batch_idx = sample_idx[batch_slice]
                X_batch = X_train[batch_idx]
                activations[0] = X_batch
                batch_loss, coef_grads, intercept_grads = self._backprop(
                    X_batch, y_train[batch_idx], None, activations, deltas, coef_grads,
                    intercept_grads)
                accumulated_loss += batch_loss * (batch_slice.stop - batch_slice.start)
                self._optimizer.update_params(params, coef_grads + intercept_grads)
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
