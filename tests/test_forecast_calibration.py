"""Attainment odds from the real pipeline are calibrated across demo-company histories.

``hierarchy_forecast`` (total -> region) -> ``quarter_paths_from_forecast`` ->
``propose_targets`` / ``attainment_odds`` on one history per seed, judged on ONE future
of the true process with the same seed (``benchmarks/forecast_calibration.py`` runs the
same with 40 seeds; figures in ``benchmarks/RESULTS.md``).  Seeds 100+ are not those of
the benchmark.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

N_SEEDS = 10
SEEDS = range(100, 100 + N_SEEDS)


def _bench():
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "forecast_calibration.py"
    spec = importlib.util.spec_from_file_location("forecast_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def records():
    pytest.importorskip("statsforecast")
    return _bench().run(SEEDS, scale=0.3, n_paths=1000, n_jobs=1, ps=(0.6,))


def test_p60_targets_met_in_about_60_percent_of_true_quarters(records):
    """Hit rate of targets set at P = 0.6, pooled over the company and its 6 regions.

    7 nodes x 10 seeds = 70 outcomes; regions are independent given the truth but the
    company is their sum, so count ~6 independent outcomes per seed: binomial
    s.e. sqrt(.6 * .4 / 60) = .063; tolerance 3 s.e. = .19 (before the fix the region
    80% intervals covered 57% and a P = .8 target was met 70% of the time).
    """
    q = records[(records["how"] == "quantile") & (records["p"] == 0.6)]
    assert len(q) == 7 * N_SEEDS
    rate = q["hit"].mean()
    assert abs(rate - 0.6) <= 0.19, rate
    # the odds the pipeline reports for these targets are the P they were set at
    assert np.allclose(q["p_reported"], 0.6, atol=0.01)
    # propose_targets' company target (bottom-up, no pipeline) is the same quantile
    c = records[(records["level"] == "company") & (records["p"] == 0.6)]
    t = c.pivot(index="seed", columns="how", values="target")
    assert np.allclose(t["propose_targets"], t["quantile"], rtol=0.01)


def test_80_percent_intervals_of_quarter_totals_cover_about_80_percent(records):
    """10-90% path quantiles of the quarter total hold the actual: s.e. sqrt(.16/60) = .052,
    tolerance 3 s.e. = .155."""
    iv = records[records["how"] == "interval"]
    cov = iv["hit"].mean()
    assert abs(cov - 0.8) <= 0.155, cov
