"""The global member's lean training loop gives scikit-learn's MLPRegressor weights exactly."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor

from salesplan.models.forecast import _mlp
from salesplan.models.forecast._mlp import LeanMLPRegressor, r2_uniform
from salesplan.models.forecast.global_model import GlobalMLP


def _series(n_series=30, n=60, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return [100 * (1 + 0.01 * rng.normal()) ** t * (1 + 0.2 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6)))
            * np.exp(0.05 * rng.standard_normal(n)) for _ in range(n_series)]


@pytest.mark.parametrize("seed", [0, 7])
def test_lean_mlp_trains_the_same_weights_as_sklearn(seed):
    if not _mlp._LEAN_RELEASE:
        pytest.skip("this scikit-learn release trains with its own loop (not in TESTED_SKLEARN)")
    X, T = GlobalMLP(12, 12).windows(_series())
    kw = dict(hidden_layer_sizes=(32, 32), alpha=1e-3, learning_rate_init=1e-3, batch_size=200,
              max_iter=300, early_stopping=True, random_state=seed)
    assert LeanMLPRegressor(**kw)._lean(X, None, False)  # the lean loop is the one compared
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MLPRegressor(**kw).fit(X, T)
        lean = LeanMLPRegressor(**kw).fit(X, T)
    assert lean.n_iter_ == ref.n_iter_
    assert lean.validation_scores_ == ref.validation_scores_
    for a, b in zip(ref.coefs_ + ref.intercepts_, lean.coefs_ + lean.intercepts_):
        assert np.array_equal(a, b)
    assert np.array_equal(lean.predict(X[:5]), ref.predict(X[:5]))


def test_lean_mlp_is_used_only_with_a_tested_sklearn_release(monkeypatch):
    X, _ = GlobalMLP(12, 12).windows(_series(n_series=12))
    lean = LeanMLPRegressor(early_stopping=True)
    monkeypatch.setattr(_mlp, "_LEAN_RELEASE", False)
    assert not lean._lean(X, None, False)
    monkeypatch.setattr(_mlp, "_LEAN_RELEASE", True)
    assert lean._lean(X, None, False)
    assert not lean._lean(X, np.ones(len(X)), False)  # sample weights: scikit-learn's loop


def test_lean_mlp_other_settings_use_sklearns_loop():
    X, T = GlobalMLP(12, 12).windows(_series(n_series=12))
    kw = dict(hidden_layer_sizes=(8,), max_iter=20, early_stopping=False, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, lean = MLPRegressor(**kw).fit(X, T), LeanMLPRegressor(**kw).fit(X, T)
    assert np.array_equal(ref.coefs_[0], lean.coefs_[0])


def test_r2_uniform_is_sklearns_r2_score():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    y[:, 2] = 1.0  # constant output, predicted wrongly: scores 0
    y[:, 3], p[:, 3] = 2.0, 2.0  # constant output predicted exactly: scores 1
    assert r2_uniform(y, p) == r2_score(y, p)
    assert r2_uniform(y[:, 0], p[:, 0]) == r2_score(y[:, 0], p[:, 0])
    assert np.isnan(r2_uniform(y[:1], p[:1]))


def test_train_global_trains_once_per_series_and_matches_a_fresh_fit():
    from salesplan.models.forecast.global_model import train_global

    ys = _series(n_series=15, seed=11)
    a = train_global(ys, 12, 12, random_state=3)
    assert train_global([y.copy() for y in ys], 12, 12, random_state=3) is a  # same content: reused
    assert train_global(ys[:-1], 12, 12, random_state=3) is not a
    assert train_global(ys, 12, 12, random_state=4) is not a
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = GlobalMLP(12, 12, random_state=3).fit(ys)
    assert fresh.net_ is not None
    assert np.array_equal(a.forecast(ys[0]), fresh.forecast(ys[0]))


def test_lean_adam_step_is_sklearns_backprop_and_adam_update():
    """A few mini-batches of ``_LeanAdamStep`` give scikit-learn's ``_backprop`` +
    ``AdamOptimizer.update_params`` bit for bit: loss, weights and the optimizer's state."""
    import copy

    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer

    X, T = GlobalMLP(12, 12).windows(_series(n_series=12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = MLPRegressor(hidden_layer_sizes=(32, 32), alpha=1e-3, max_iter=2, random_state=0).fit(X, T)
    ref, lean = copy.deepcopy(net), copy.deepcopy(net)
    ref_opt = AdamOptimizer(ref.coefs_ + ref.intercepts_, 1e-3)
    lean_opt = AdamOptimizer(lean.coefs_ + lean.intercepts_, 1e-3)
    step = _mlp._LeanAdamStep(lean, lean_opt)
    n_layers = len(net.coefs_) + 1
    for a in range(0, 600, 200):
        xb, yb = X[a: a + 200], T[a: a + 200]
        acts = [xb] + [None] * (n_layers - 1)
        deltas = [None] * (n_layers - 1)
        loss, cg, ig = ref._backprop(xb, yb, None, acts, deltas, [None] * (n_layers - 1),
                                     [None] * (n_layers - 1))
        ref_opt.update_params(ref.coefs_ + ref.intercepts_, cg + ig)
        assert step.step(xb, yb) == loss
    for a, b in zip(ref.coefs_ + ref.intercepts_ + ref_opt.ms + ref_opt.vs,
                    lean.coefs_ + lean.intercepts_ + lean_opt.ms + lean_opt.vs):
        assert np.array_equal(a, b)
    assert (lean_opt.t, lean_opt.learning_rate) == (ref_opt.t, ref_opt.learning_rate)
    assert not np.array_equal(lean.coefs_[0], net.coefs_[0])  # the steps did train
