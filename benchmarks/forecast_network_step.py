"""CPU seconds of one global-member training: the lean Adam step vs scikit-learn's
``_backprop`` + ``AdamOptimizer.update_params`` (same weights), alternated in one process.

Usage: ``.venv/bin/python benchmarks/forecast_network_step.py [--series 200] [--repeat 3]``.
Synthetic monthly series (``tests/test_forecast_global.py``'s generator), the network of
``GlobalMLP`` (32 x 32, Adam, early stopping).  Prints each run, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def _series(n_series, n=72, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return [100 * (1 + 0.01 * rng.normal()) ** t * (1 + 0.2 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6)))
            * np.exp(0.05 * rng.standard_normal(n)) for _ in range(n_series)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from salesplan.models.forecast import _mlp
    from salesplan.models.forecast.global_model import GlobalMLP

    X, T = GlobalMLP(12, 12).windows(_series(a.series))
    kw = dict(hidden_layer_sizes=(32, 32), alpha=1e-3, learning_rate_init=1e-3, batch_size=200,
              max_iter=300, early_stopping=True, random_state=0)
    lean_step = _mlp._LeanAdamStep
    runs: dict[str, list[float]] = {"sklearn step": [], "lean step": []}
    weights = {}
    try:
        for _ in range(a.repeat):
            for name in runs:
                _mlp._LeanAdamStep = lean_step if name == "lean step" else (lambda net, opt: None)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.process_time()
                    net = _mlp.LeanMLPRegressor(**kw).fit(X, T)
                    runs[name].append(time.process_time() - t0)
                weights[name] = net.coefs_
                print(f"{name}: {runs[name][-1]:.3f} s CPU ({net.n_iter_} epochs)")
    finally:
        _mlp._LeanAdamStep = lean_step
    same = all(np.array_equal(p, q) for p, q in zip(*weights.values()))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"{X.shape[0]} windows; medians: " + ", ".join(f"{k} {v:.3f} s" for k, v in med.items())
          + f"; lean / sklearn = {med['lean step'] / med['sklearn step']:.2f}; same weights: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
