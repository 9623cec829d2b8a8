"""Tests of salesplan.models.forecast. Expected values come from the generating parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast import (
    Forecaster,
    ForecastInputError,
    accuracy_report,
    build_hierarchy,
    cross_validation,
    hierarchy_forecast,
    reconcile,
    to_long,
    validate_long,
)

DS = pd.date_range("2019-01-01", periods=60, freq="MS")
SEASON = np.array([0.8, 0.85, 1.0, 1.05, 1.1, 1.0, 0.9, 0.9, 1.0, 1.1, 1.2, 1.1])
SEASON = SEASON / SEASON.mean()


def _series(level=1000.0, slope=10.0, noise=0.02, n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (level + slope * t) * SEASON[t % 12] * (1 + noise * rng.standard_normal(n))


def _frame(d):
    return pd.concat([pd.DataFrame({"unique_id": k, "ds": DS[-len(v):], "y": v})
                      for k, v in d.items()], ignore_index=True)


# ----------------------------------------------------------------------------- input
def test_to_long_fills_missing_periods_and_names_ids():
    orders = pd.DataFrame({
        "order_date": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-03-05", "2024-02-10"]),
        "region": ["East", "East", "East", "West"],
        "amount": [100.0, 50.0, 70.0, 30.0],
    })
    long = to_long(orders, keys=("region",))
    east = long[long["unique_id"] == "region=East"]
    assert list(east["ds"]) == list(pd.date_range("2024-01-01", periods=3, freq="MS"))
    assert list(east["y"]) == [150.0, 0.0, 70.0]  # February filled with an explicit 0
    west = long[long["unique_id"] == "region=West"]
    assert list(west["y"]) == [30.0, 0.0]  # from its own first period to the common end
    total = to_long(orders, keys=(), start="2023-12-01")
    assert list(total["unique_id"].unique()) == ["total"]
    assert list(total["y"]) == [0.0, 150.0, 30.0, 70.0]
    q = to_long(orders, keys=(), freq="Q")
    assert list(q["y"]) == [250.0]


@pytest.mark.parametrize(
    "bad, match",
    [
        (pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-01-01"], "y": [1, 2]}),
         "duplicate"),
        (pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-02-01"],
                       "y": ["1", "x"]}), "not numeric"),
        (pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-02-15"], "y": [1, 2]}),
         "irregular dates"),
        (pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-03-01"], "y": [1, 2]}),
         "gaps"),
        (pd.DataFrame({"unique_id": [], "ds": [], "y": []}), "empty"),
        (pd.DataFrame({"unique_id": ["a"], "y": [1.0]}), "missing column"),
    ],
)
def test_bad_input_clear_errors(bad, match):
    with pytest.raises(ForecastInputError, match=match):
        validate_long(bad)
    with pytest.raises(ValueError, match=match):  # the Forecaster says the same
        Forecaster(method="snaive", calibrate=False).fit(bad)


def test_negative_values_rejected_only_when_not_allowed():
    df = pd.DataFrame({"unique_id": "a", "ds": DS[:3], "y": [1.0, -2.0, 3.0]})
    validate_long(df)  # allowed by default (credit notes)
    with pytest.raises(ForecastInputError, match=r"negative value.*\['a'\]"):
        validate_long(df, allow_negative=False)
    with pytest.raises(ForecastInputError, match="negative"):
        Forecaster(method="snaive", allow_negative=False).fit(df)


def test_missing_orders_column_named():
    with pytest.raises(ForecastInputError, match=r"missing column.*'region'"):
        to_long(pd.DataFrame({"order_date": DS[:2], "amount": [1.0, 2.0]}), keys=("region",))


# ----------------------------------------------------------------------------- accuracy
def test_recovers_known_trend_and_seasonality():
    """Truth: (1000 + 10 t) * season_{t mod 12}; forecasts within 3% of the noiseless truth."""
    df = _frame({"a": _series(seed=1), "b": _series(level=500, slope=5, seed=2)})
    fc = Forecaster(method="ets", n_windows=1).fit(df)
    p = fc.predict(12)
    t = np.arange(60, 72)
    for uid, lvl, sl in [("a", 1000, 10), ("b", 500, 5)]:
        truth = (lvl + sl * t) * SEASON[t % 12]
        got = p.loc[p["unique_id"] == uid, "mean"].to_numpy()
        assert np.max(np.abs(got / truth - 1)) < 0.03
        # seasonal shape: the forecast's peak month is the true peak (November)
        assert pd.Timestamp(p.loc[p["unique_id"] == uid, "ds"].iloc[np.argmax(got / (lvl + sl * t))
                                                                  ]).month == 11


def test_short_new_zero_and_intermittent_get_forecast_and_reason():
    rng = np.random.default_rng(3)
    inter = np.where(rng.random(60) < 0.3, rng.gamma(2.0, 50.0, 60), 0.0)
    df = _frame({"long1": _series(seed=4), "long2": _series(level=300, seed=5),
                 "short": _series(seed=6)[-7:], "zero": np.zeros(60), "inter": inter})
    fc = Forecaster(method="theta", n_windows=1).fit(df, new_ids=["new_rep"])
    p = fc.predict(3)
    assert set(p["unique_id"]) == {"long1", "long2", "short", "zero", "inter", "new_rep"}
    assert p["mean"].notna().all() and (p["reason"].str.len() > 0).all()
    r = p.groupby("unique_id").first()
    assert "all-zero" in r.loc["zero", "reason"] and (p.loc[p.unique_id == "zero", "mean"] == 0).all()
    assert "short history" in r.loc["short", "reason"] and "pooled" in r.loc["short", "reason"]
    assert "intermittent" in r.loc["inter", "reason"] and r.loc["inter", "model"] == "sba"
    assert "new series" in r.loc["new_rep", "reason"]
    # intermittent mean ~ demand rate: P(y>0) * E[size] = 0.3 * 100 = 30 (wide tolerance)
    assert 10 < r.loc["inter", "mean"] < 60
    # short series: level x pooled profile; truth of the last 7 months is ~ (1000+10t)*season
    t = np.arange(60, 63)
    truth = (1000 + 10 * t) * SEASON[t % 12]
    assert np.allclose(p.loc[p.unique_id == "short", "mean"], truth, rtol=0.15)


def test_interval_coverage_near_nominal_on_simulated_data():
    """Random walks + noise: the 80% interval should cover ~80% of held-out values."""
    rng = np.random.default_rng(11)
    n_series, n, h = 60, 40, 3
    series = {}
    for i in range(n_series):
        y = 500 + np.cumsum(rng.normal(0, 10, n + h))
        series[f"s{i}"] = y
    full = pd.concat([pd.DataFrame({"unique_id": k, "ds": pd.date_range("2020-01-01",
                      periods=n + h, freq="QS"), "y": v}) for k, v in series.items()])
    train = full.groupby("unique_id").head(n)
    test = full.groupby("unique_id").tail(h)
    fc = Forecaster(method="theta", freq="QS", n_windows=3, cv_h=h).fit(train)
    p = fc.predict(h).merge(test, on=["unique_id", "ds"])
    cov80 = ((p["y"] >= p["lo-80"]) & (p["y"] <= p["hi-80"])).mean()
    cov95 = ((p["y"] >= p["lo-95"]) & (p["y"] <= p["hi-95"])).mean()
    assert 0.68 <= cov80 <= 0.92
    assert 0.87 <= cov95 <= 1.0
    paths = fc.sample_paths(h, n_paths=2000, seed=1)
    lo, hi = np.quantile(paths, [0.1, 0.9], axis=1)
    pr = fc.predict(h)
    assert np.allclose(lo.ravel(), pr["lo-80"], rtol=0.03, atol=2)
    assert np.allclose(hi.ravel(), pr["hi-80"], rtol=0.03, atol=2)


def test_cross_validation_and_accuracy_report():
    df = _frame({"a": _series(seed=7), "b": _series(level=200, slope=1, seed=8)})
    cv = cross_validation(df, h=3, n_windows=2, methods=("ets",))
    assert set(cv["method"]) == {"ets", "snaive"}
    assert cv["cutoff"].nunique() == 2 and len(cv) == 2 * 2 * 2 * 3
    rep = accuracy_report(cv)
    ov = rep["overall"].set_index("method")
    assert ov.loc["snaive", "rel_mase"] == pytest.approx(1.0)
    # trend + seasonality: ETS beats seasonal naive, which misses a year of trend growth
    assert ov.loc["ets", "mase"] < ov.loc["snaive", "mase"]
    assert {"smape", "bias", "coverage-80", "coverage-95"} <= set(ov.columns)
    # hand check of one MASE: mean |y - f| / mean |y_t - y_{t-12}| on the training part
    one = cv[(cv.method == "snaive") & (cv.unique_id == "a")]
    cut = one["cutoff"].iloc[0]
    ytr = df[(df.unique_id == "a") & (df.ds <= cut)]["y"].to_numpy()
    sc = np.mean(np.abs(ytr[12:] - ytr[:-12]))
    part = one[one.cutoff == cut]
    assert np.allclose(part["abs_scaled_error"], np.abs(part["y"] - part["mean"]) / sc)


def test_auto_selects_per_series_with_reason():
    df = _frame({"a": _series(seed=9), "b": _series(level=400, seed=10)})
    fc = Forecaster(method="auto", candidates=("snaive", "ets"), n_windows=2).fit(df)
    r = fc.reasons_.set_index("unique_id")
    assert r["model"].isin(["snaive", "ets"]).all()
    assert r["reason"].str.startswith("auto").all()


# ----------------------------------------------------------------------------- hierarchy
def _orders(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    reps = {"East": ["e1", "e2", "e3"], "West": ["w1", "w2"]}
    for m, d in enumerate(pd.date_range("2021-01-01", periods=36, freq="MS")):
        common = rng.normal(0, 0.15)  # shock shared by the reps of a region-month
        for region, rs in reps.items():
            for r in rs:
                amt = 100 * SEASON[m % 12] * (1 + 0.01 * m) * (1 + common + rng.normal(0, 0.05))
                rows.append((d + pd.Timedelta(days=int(rng.integers(0, 27))), region, r, amt))
    return pd.DataFrame(rows, columns=["order_date", "region", "rep_id", "amount"])


@pytest.fixture(scope="module")
def hier():
    return hierarchy_forecast(_orders(), levels=[(), ("region",), ("region", "rep_id")], h=3,
                              method="theta", reconcile_method="auto", n_windows=1,
                              n_paths=400, seed=3, calibrate=True)


def test_reconciled_children_sum_to_parents(hier):
    ids = hier.ids
    S = hier.S
    bottom = [i for i in range(len(ids)) if S[i].sum() == 1]
    m = hier.forecast.pivot(index="unique_id", columns="ds", values="mean").loc[ids].to_numpy()
    assert np.allclose(S @ m[bottom], m)
    for i in range(len(ids)):  # every path, every node
        assert np.allclose(hier.paths[i], np.tensordot(S[i], hier.paths[bottom], 1))
    assert hier.method in ("bottom_up", "top_down", "mint_shrink")
    assert set(hier.scores["method"]) == {"bottom_up", "top_down", "mint_shrink"}
    assert "region=East" in ids and "region=East|rep_id=e1" in ids and ids[0] == "total"


def test_hierarchy_forecast_keeps_the_series_of_build_hierarchy(hier):
    long, nodes, S, _ = build_hierarchy(_orders(), [(), ("region",), ("region", "rep_id")])
    pd.testing.assert_frame_equal(hier.long, long)
    pd.testing.assert_frame_equal(hier.nodes, nodes)
    assert np.array_equal(hier.S, S)


def test_rep_correlation_preserved_and_probabilities(hier):
    ids = hier.ids
    tot = hier.paths.sum(axis=2)
    e1, e2 = ids.index("region=East|rep_id=e1"), ids.index("region=East|rep_id=e2")
    # reps of a region share a monthly shock (sd 0.15 vs own 0.05): strongly correlated
    assert np.corrcoef(tot[e1], tot[e2])[0, 1] > 0.3
    tq = hier.total_quantiles()
    med = tq.set_index("unique_id").loc["total", "q0.5"]
    p = hier.prob_at_least({"total": med, "region=East": 0.0})
    assert p["total"] == pytest.approx(0.5, abs=0.05) and p["region=East"] == 1.0


def test_reconcile_methods_on_hand_example():
    # total = A + B; base forecasts incoherent: total 10, A 4, B 5
    S = np.array([[1, 1], [1, 0], [0, 1]], float)
    base = np.array([[10.0], [4.0], [5.0]])
    assert np.allclose(reconcile(base, S, "bottom_up").ravel(), [9, 4, 5])
    assert np.allclose(reconcile(base, S, "top_down", proportions=[0.25, 0.75]).ravel(),
                       [10, 2.5, 7.5])
    # OLS: residual 1 spread equally over the 3 nodes (1/3 each) -> A 4.333, B 5.333
    assert np.allclose(reconcile(base, S, "ols").ravel(), [29 / 3, 13 / 3, 16 / 3])
    W = np.diag([1.0, 1e-8, 1e-8])  # trust the bottom completely -> bottom up
    assert np.allclose(reconcile(base, S, "mint_shrink", W=W).ravel(), [9, 4, 5], atol=1e-4)


# ----------------------------------------------------------------------------- engineering
def test_cache_hit_avoids_refit(tmp_path, monkeypatch):
    df = _frame({"a": _series(seed=12)})
    f1 = Forecaster(method="theta", n_windows=1, cache_dir=tmp_path).fit(df)
    assert f1.cache_hit_ is False
    import salesplan.models.forecast.engine as eng

    def boom(*a, **k):
        raise AssertionError("refit on a cache hit")

    monkeypatch.setattr(eng, "_fit_model", boom)
    f2 = Forecaster(method="theta", n_windows=1, cache_dir=tmp_path, n_jobs=2).fit(df)
    assert f2.cache_hit_ is True
    pd.testing.assert_frame_equal(f1.predict(3), f2.predict(3))
    with pytest.raises(AssertionError, match="refit"):  # other settings -> a real fit
        Forecaster(method="snaive", n_windows=1, cache_dir=tmp_path).fit(df)


def test_determinism_and_n_jobs():
    df = _frame({k: _series(level=100 * (i + 1), seed=20 + i) for i, k in enumerate("abc")})
    f1 = Forecaster(method="theta", n_windows=1).fit(df)
    f2 = Forecaster(method="theta", n_windows=1, n_jobs=2).fit(df)
    pd.testing.assert_frame_equal(f1.predict(4), f2.predict(4))
    p1, p2 = f1.sample_paths(4, 200, seed=5), f2.sample_paths(4, 200, seed=5)
    assert np.array_equal(p1, p2)
    assert not np.array_equal(p1, f1.sample_paths(4, 200, seed=6))
    fr = f1.sample_paths(2, 3, seed=0, as_frame=True)
    assert list(fr.columns) == ["unique_id", "path", "ds", "y"] and len(fr) == 3 * 3 * 2


def test_ets_family_recovers_trend_and_seasonality():
    """AICc-weighted ETS family: a multiplicative-season linear-trend series is continued
    (truth: (level + slope t) * season, 2% noise) within 5% over two seasons."""
    from salesplan.models.forecast.ets_family import ETSFamily

    y = _series(noise=0.02, n=48)
    t = np.arange(48, 60)
    truth = (1000.0 + 10.0 * t) * SEASON[t % 12]
    f = ETSFamily(12).fit(y).predict(12)
    assert np.all(np.abs(f / truth - 1) < 0.05)


def test_default_combo_recovers_quarterly_trend_and_seasonality():
    """The default method on quarterly data: within 6% of the generating trend x season."""
    season = np.array([0.9, 1.1, 0.95, 1.05])
    rng = np.random.default_rng(3)
    n = 40
    t = np.arange(n + 8)
    truth = (500.0 + 5.0 * t) * season[t % 4]
    y = truth[:n] * (1 + 0.02 * rng.standard_normal(n))
    ds = pd.date_range("2010-01-01", periods=n, freq="QS")
    fc = Forecaster(freq="QS", n_windows=1).fit(pd.DataFrame({"unique_id": "a", "ds": ds, "y": y}))
    out = fc.predict(8)
    assert np.all(np.abs(out["mean"].to_numpy() / truth[n:] - 1) < 0.06)
    assert (out["lo-80"] <= out["mean"]).all() and (out["mean"] <= out["hi-80"]).all()


# ----------------------------------------------------------------------------- global member
def _quarterly_panel(n_series=60, n=40, extra=0, seed=0):
    """Multiplicative trend x season panel; returns (frame of the first n, truth (k, n+extra))."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + extra)
    season = np.array([0.85, 1.1, 0.95, 1.1])
    truth = np.array([rng.uniform(50, 5000) * (1 + rng.uniform(-0.01, 0.03)) ** t
                      * season[(t + rng.integers(4)) % 4] for _ in range(n_series)])
    y = truth[:, :n] * (1 + 0.01 * rng.standard_normal((n_series, n)))
    ds = pd.date_range("2010-01-01", periods=n, freq="QS")
    df = pd.concat([pd.DataFrame({"unique_id": f"q{i:03d}", "ds": ds, "y": y[i]})
                    for i in range(n_series)], ignore_index=True)
    return df, y, truth


def test_global_member_recovers_known_signal():
    """Trained on 60 series of (level x growth^t x season), the global network alone forecasts
    the next 8 quarters within 2% of the generating truth (median), 5% for 95% of the
    values and 10% for all (growth compounds over 8 quarters)."""
    from salesplan.models.forecast.global_model import GlobalMLP

    _, y, truth = _quarterly_panel(extra=8)
    g = GlobalMLP(4, 8, random_state=0).fit(list(y))
    assert g.net_ is not None and g.n_windows_ == 60 * (40 - 8 - 8 + 1)
    f = np.array([g.forecast(row) for row in y])
    err = np.abs(f / truth[:, 40:] - 1)
    assert np.median(err) < 0.02 and np.quantile(err, 0.95) < 0.05 and err.max() < 0.10


def test_global_member_is_deterministic_and_has_no_look_ahead():
    """Same data -> identical forecasts; changing every value after the backtest cut
    changes neither the backtest forecasts nor the global model of that window."""
    df, _, _ = _quarterly_panel(n=32)
    kw = {"method": "combo", "freq": "QS", "n_windows": 2, "cv_h": 4}
    f1 = Forecaster(**kw).fit(df)
    f2 = Forecaster(**kw).fit(df)
    pd.testing.assert_frame_equal(f1.predict(8), f2.predict(8))
    assert f1.global_["final"].net_ is not None and f1.global_["backtest-0"].net_ is not None
    assert "global member trained on" in f1.reasons_["reason"].iloc[0]
    # the global member covers two seasons (8 quarters) even with a 4-quarter backtest
    # horizon, so all 8 quarters of the forecast are the mean of the four members
    assert f1.global_["final"].h == 8 and f1.global_["backtest-0"].h == 8
    # the last window's cut is 32 - 4 = 28: perturb quarters 29..32 of every series
    late = df["ds"] >= pd.Timestamp("2010-01-01") + pd.DateOffset(months=3 * 28)
    df2 = df.copy()
    df2.loc[late, "y"] = df2.loc[late, "y"] * 1.7
    g1 = Forecaster(**kw).fit(df2)
    bt0 = f1.backtest_[f1.backtest_["cutoff"] == 28]
    bt1 = g1.backtest_[g1.backtest_["cutoff"] == 28]
    assert len(bt0) == 60 * 4
    np.testing.assert_allclose(bt0["mean"].to_numpy(), bt1["mean"].to_numpy(), rtol=1e-12)
    # while the final forecasts do see the new values
    assert not np.allclose(f1.predict(4)["mean"], g1.predict(4)["mean"])


def test_global_member_absent_with_few_series():
    """Three series are fewer than the global model needs: the default combo is then
    exactly the mean of its local members (combo_local), and the reason says so."""
    df = _frame({k: _series(level=100 * (i + 1), seed=30 + i) for i, k in enumerate("abc")})
    a = Forecaster(method="combo", n_windows=1).fit(df)
    b = Forecaster(method="combo_local", n_windows=1).fit(df)
    assert a.global_["final"].net_ is None
    np.testing.assert_allclose(a.predict(6)["mean"], b.predict(6)["mean"], rtol=1e-12)
    assert a.reasons_["reason"].str.contains("without the global member").all()


def test_global_member_survives_the_cache(tmp_path):
    """A cache hit restores the global members: same forecasts, no refit."""
    df, _, _ = _quarterly_panel(n_series=12, n=32)
    kw = {"freq": "QS", "n_windows": 1, "cv_h": 4, "cache_dir": tmp_path}
    f1 = Forecaster(**kw).fit(df)
    f2 = Forecaster(**kw).fit(df)
    assert f1.cache_hit_ is False and f2.cache_hit_ is True
    assert f2.global_["final"].net_ is not None
    pd.testing.assert_frame_equal(f1.predict(6), f2.predict(6))
    f3 = Forecaster(**kw, random_state=1).fit(df)  # the seed is part of the cache key
    assert f3.cache_hit_ is False


def test_global_member_backtest_truncates_every_series(monkeypatch):
    """Backtest window k trains the global model on each regular series cut at
    n_i - cv_h - step*k (empty when that is <= 0), the final fit on the full series."""
    df, _, _ = _quarterly_panel(n_series=12, n=32)
    short = df[df["unique_id"] == "q000"].tail(10).assign(unique_id="short")  # 10 quarters
    df = pd.concat([df, short], ignore_index=True)
    seen = []
    orig = Forecaster._train_global

    def spy(self, ys, m, hg):
        seen.append(sorted(len(y) for y in ys))
        return orig(self, ys, m, hg)

    monkeypatch.setattr(Forecaster, "_train_global", spy)
    Forecaster(freq="QS", n_windows=3, cv_h=4).fit(df)
    assert seen[:3] == [sorted([32 - 4 - 4 * k] * 12 + [max(10 - 4 - 4 * k, 0)])
                        for k in range(3)]
    assert seen[3:] == [sorted([32] * 12 + [10])]


# ------------------------------------------------- issue 14: company forecast with rep level
def test_dormant_series_forecast_zero_but_a_regular_pause_does_not():
    # a rep who sold every month for 3 years and left 14 months ago (SBA would keep
    # forecasting ~ his old monthly average); a seasonal account that pauses 13 months
    # every time (its last pause, 13 months, is no longer than the earlier ones)
    left = np.r_[np.full(46, 100.0), np.zeros(14)]
    paused = np.zeros(60)
    paused[[0, 14, 28, 42, 46]] = 500.0  # gaps of 13, 13, 13, 3 months, then 13 at the end
    df = _frame({"left": left, "paused": paused, "long": _series(seed=4)})
    fc = Forecaster(method="theta", n_windows=1).fit(df)
    p = fc.predict(3).groupby("unique_id")
    assert (p.get_group("left")["mean"] == 0).all()
    assert (p.get_group("left")[["lo-80", "hi-95"]].to_numpy() == 0).all()
    assert "dormant: no sales in the last 14 periods" in p.get_group("left")["reason"].iloc[0]
    assert "intermittent" in p.get_group("paused")["reason"].iloc[0]
    assert (p.get_group("paused")["mean"] > 0).all()
    # a trailing run shorter than a season is not dormant either
    from salesplan.models.forecast.engine import _dormant_run

    assert _dormant_run(np.r_[np.ones(30), np.zeros(11)], 12) == 0
    assert _dormant_run(np.r_[np.ones(30), np.zeros(12)], 12) == 12


def test_clipped_paths_keep_the_reconciled_mean_on_hand_example():
    from salesplan.models.forecast.hierarchy import _clip_keep_mean

    # one rep, one period, 4 paths around a mean of 10: clipping alone gives
    # (0 + 0 + 10 + 40) / 4 = 12.5; rescaled by 10 / 12.5 = 0.8 -> 0, 0, 8, 32 (mean 10)
    b = np.array([[[-10.0], [0.0], [10.0], [40.0]]])
    out = _clip_keep_mean(b, np.array([[10.0]]))
    assert np.allclose(out.ravel(), [0, 0, 8, 32])
    # a negative reconciled mean: every path 0
    assert np.allclose(_clip_keep_mean(b, np.array([[-5.0]])), 0.0)


def test_rep_level_does_not_move_company_forecast_on_generated_company():
    """Generator truth (seed 0, scale 0.3): reps R0008, R0010, R0017, R0022 left the
    company 14-36 months before as_of, so they sell nothing in 2027Q1; adding the rep
    level must not raise the company and region forecasts (issue 14: it added +14%)."""
    from salesplan.demo.generator import generate

    company = generate(seed=0, scale=0.3, as_of="2026-12-31")
    reps = company.data.reps
    gone = reps.loc[reps["exit_date"] < pd.Timestamp("2025-12-01"), "rep_id"].tolist()
    assert set(gone) >= {"R0010", "R0017", "R0022"}
    kw = dict(h=3, n_paths=400, seed=0, n_windows=2)
    with_reps = hierarchy_forecast(company.data, **kw)
    regions = hierarchy_forecast(company.data, levels=((), ("region",)), **kw)
    tq = with_reps.total_quantiles().set_index("unique_id")
    tr = regions.total_quantiles().set_index("unique_id")
    for rid in gone:
        node = [u for u in tq.index if u.endswith(f"rep_id={rid}")]
        assert node and tq.loc[node[0], "mean"] == 0.0 and tq.loc[node[0], "q0.95"] == 0.0
    # same base forecast of the company (no rep-trained global member) and a path mean
    # equal to the reconciled mean (no clipping bias): within 3% of the regions-only one
    base = [hf.base._means(3)[hf.base.ids_.index("total")].sum() for hf in (with_reps, regions)]
    assert base[0] == pytest.approx(base[1], rel=1e-9)
    m = with_reps.forecast.groupby("unique_id")["mean"].sum()
    assert np.allclose(tq["mean"], m.reindex(tq.index), rtol=1e-9)
    assert tq.loc["total", "mean"] == pytest.approx(tr.loc["total", "mean"], rel=0.03)
    assert set(with_reps.scores.columns) >= {"mase_total", "mase_region", "mase_region/rep_id"}


def test_paths_are_sample_paths_in_the_one_axis_order():
    from salesplan.data.paths import AXES, SamplePaths

    df = _frame({k: _series(level=100 * (i + 1), seed=30 + i) for i, k in enumerate("ab")})
    fc = Forecaster(method="theta", n_windows=1).fit(df)
    sp = fc.paths(3, 50, random_state=4)
    assert isinstance(sp, SamplePaths) and AXES == ("series", "path", "time")
    assert sp.values.shape == (len(fc.ids_), 50, 3) and list(sp.series) == list(fc.ids_)
    np.testing.assert_array_equal(sp.values, fc.sample_paths(3, 50, random_state=4))
    np.testing.assert_array_equal(sp.values, fc.sample_paths(3, 50, seed=4))  # older name
    assert list(sp.dates) == list(fc.future_dates("a", 3))
