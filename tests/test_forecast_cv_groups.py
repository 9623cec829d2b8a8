"""The accuracy cross-validation scores the plan's own model (issue 19, session 12).

The plan's hierarchy forecaster trains one global network per level (``global_pool="group"``)
and calibrates its intervals per level; ``cross_validation(..., model=hf.base)`` refits that
configuration at every cut.  Small real data: a company, 2 regions and 12 reps (a network
needs 10 series of a level), 48 months.
"""

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast import Forecaster, cross_validation, hierarchy_forecast

SEASON = np.array([0.8, 0.85, 1.0, 1.05, 1.1, 1.0, 0.9, 0.85, 1.0, 1.1, 1.2, 1.35])
LEVELS = [(), ("region",), ("region", "rep_id")]
BOUNDS = ["mean", "lo-80", "hi-80", "lo-95", "hi-95"]


def _orders(seed=3, months=48):
    """Monthly orders of 12 reps (6 per region), each with its own level and growth."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(12):
        region, rep = ("East", "West")[i % 2], f"r{i:02d}"
        level, growth = 80 + 15 * i, 0.002 * (i - 5)
        for t, d in enumerate(pd.date_range("2022-01-01", periods=months, freq="MS")):
            amt = level * SEASON[t % 12] * (1 + growth) ** t * (1 + rng.normal(0, 0.08))
            rows.append((d + pd.Timedelta(days=int(rng.integers(0, 27))), region, rep, amt))
    return pd.DataFrame(rows, columns=["order_date", "region", "rep_id", "amount"])


@pytest.fixture(scope="module")
def plan():
    """The plan's hierarchy forecast (bottom-up: no reconciliation backtest needed here)."""
    return hierarchy_forecast(_orders(), levels=LEVELS, h=3, reconcile_method="bottom_up",
                              n_paths=50)


@pytest.fixture(scope="module")
def cv(plan):
    return cross_validation(plan.long, h=3, n_windows=1, model=plan.base)


def _window(cv, method="combo"):
    w = cv[cv["method"] == method]
    return w, w["cutoff"].iloc[0]


def test_cv_fits_the_plan_configuration(plan, cv):
    assert plan.base.global_pool == "group"
    assert set(plan.base.groups_.values()) == {"total", "region", "region/rep_id"}
    assert set(cv["method"]) == {"combo", "snaive"}  # the model's method and the baseline
    assert cv["cutoff"].nunique() == 1 and len(cv) == 2 * 15 * 3


def test_rep_network_is_trained_on_the_reps_only(plan, cv):
    """The reps' CV forecasts are those of a forecaster that saw the reps alone: their
    network learnt nothing from the company and the regions."""
    w, cut = _window(cv)
    reps = [u for u, g in plan.base.groups_.items() if g == "region/rep_id"]
    train = plan.long[(plan.long["ds"] <= cut) & plan.long["unique_id"].isin(reps)]
    alone = Forecaster(**plan.base.get_params()).fit(train, groups={u: "rep" for u in reps})
    assert any("global member trained on" in r for r in alone.reasons_["reason"])
    got = w[w["unique_id"].isin(reps)].set_index(["unique_id", "ds"])["mean"]
    want = alone.predict(3).set_index(["unique_id", "ds"])["mean"].reindex(got.index)
    assert np.array_equal(got.to_numpy(), want.to_numpy())
    # the previous cross-validation (one network over all 15 nodes) forecast the reps otherwise
    old = cross_validation(plan.long, h=3, n_windows=1, methods=("combo",))
    old = old[old["method"] == "combo"].set_index(["unique_id", "ds"])["mean"].reindex(got.index)
    assert not np.allclose(old.to_numpy(), got.to_numpy(), rtol=1e-6)


def test_cv_window_equals_the_plan_forecast_of_the_truncated_history(plan, cv):
    """At the cut point the CV's forecasts (means and intervals of every node) are the base
    forecasts of the plan's hierarchy forecast made from the history up to the cut."""
    w, cut = _window(cv)
    orders = _orders()
    past = hierarchy_forecast(orders[orders["order_date"] < cut + pd.offsets.MonthBegin(1)],
                              levels=LEVELS, h=3, reconcile_method="bottom_up", n_paths=50)
    assert past.long["ds"].max() == cut
    want = past.base.predict(3).set_index(["unique_id", "ds"])
    got = w.set_index(["unique_id", "ds"])
    assert len(got) == len(want) == 15 * 3
    want = want.reindex(got.index)
    for col in BOUNDS:
        assert np.array_equal(got[col].to_numpy(), want[col].to_numpy()), col
    # the company and the regions have no network of their own (fewer than 10 series)
    reasons = past.base.reasons_.set_index("unique_id")["reason"]
    top = [u for u, g in plan.base.groups_.items() if g != "region/rep_id"]
    assert reasons[top].str.contains("without the global member").all()


def test_cv_model_and_keywords_are_exclusive(plan):
    with pytest.raises(ValueError, match="either model="):
        cross_validation(plan.long, h=3, n_windows=1, model=plan.base, cache_dir="/tmp/x")
