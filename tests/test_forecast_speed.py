"""The forecast's repeated work is done once: fitted members reused, order lines keyed once.

Expected values are computed here by hand or by a fresh fit, never read off the cache.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast import build_hierarchy, models
from salesplan.models.forecast.engine import _period_index


def _series(n=48, seed=3):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100 + 2 * t + 15 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, n)


def test_fit_member_reuses_the_fit_of_the_same_history(monkeypatch):
    monkeypatch.setattr(models, "_FIT_CACHE", type(models._FIT_CACHE)())
    y = _series()
    fresh = models.ClassicDamped(12).fit(y.copy()).predict(6)  # fitted without the cache
    calls = []
    orig = models.ClassicDamped.fit
    monkeypatch.setattr(models.ClassicDamped, "fit", lambda self, yy: calls.append(1) or orig(self, yy))
    a = models.fit_member("cdamped", 12, y)
    b = models.fit_member("cdamped", 12, list(y))  # same values, another container
    assert a is b and calls == [1]
    np.testing.assert_array_equal(a.predict(6), fresh)
    y[0] += 1.0  # the cache kept its own copy: the caller's array may change
    np.testing.assert_array_equal(b.predict(6), fresh)
    c = models.fit_member("cdamped", 12, y)  # another history: fitted again
    assert c is not a and calls == [1, 1]
    assert models.fit_member("cdamped", 4, y[:20]) is not c  # another season length


def test_fit_member_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(models, "_FIT_CACHE", type(models._FIT_CACHE)())
    monkeypatch.setattr(models, "FIT_CACHE_SIZE", 3)
    ys = [np.arange(10.0) + k for k in range(5)]
    first = models.fit_member("naive", 1, ys[0])
    for y in ys[1:]:
        models.fit_member("naive", 1, y)
    assert len(models._FIT_CACHE) == 3
    assert models.fit_member("naive", 1, ys[0]) is not first  # the oldest was dropped
    assert models.fit_member("naive", 1, ys[0]).predict(2).tolist() == [9.0, 9.0]


def test_build_hierarchy_levels_sum_the_order_lines():
    from salesplan.data import SalesData

    orders = pd.DataFrame({
        "order_date": pd.to_datetime(["2026-01-05", "2026-01-20", "2026-02-03", "2026-03-31",
                                      "2026-03-01"]),
        "customer_id": ["C1", "C2", "C1", "C3", "C2"],
        "rep_id": ["R1", "R2", "R1", None, "R2"],
        "amount": [10.0, 5.0, 7.0, 1.5, 2.0]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "region": ["East", "West", "East"]})
    data = SalesData(orders=orders, customers=customers)
    long, nodes, S, bottom = build_hierarchy(data, [(), ("region",), ("region", "rep_id")])
    y = long.set_index(["unique_id", "ds"])["y"]
    jan, feb, mar = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01"), pd.Timestamp("2026-03-01")
    # by hand: Jan 10 + 5, Feb 7, Mar 1.5 + 2
    assert [y["total", d] for d in (jan, feb, mar)] == [15.0, 7.0, 3.5]
    assert [y["region=East", d] for d in (jan, feb, mar)] == [10.0, 7.0, 1.5]
    assert [y["region=West", d] for d in (jan, feb, mar)] == [5.0, 0.0, 2.0]
    assert [y["region=East|rep_id=R1", d] for d in (jan, feb)] == [10.0, 7.0]
    assert y["region=East|rep_id=(none)", mar] == 1.5  # a line without a rep: its own series
    assert bottom == ["region=East|rep_id=(none)", "region=East|rep_id=R1", "region=West|rep_id=R2"]
    assert S.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_period_index_counts_calendar_months_and_quarters():
    ds = pd.Series(pd.to_datetime(["1899-12-01", "1970-01-01", "2026-09-30 13:00"], format="ISO8601"))
    # year * 12 + month - 1 and year * 4 + quarter - 1, by hand
    assert _period_index(ds, "MS").tolist() == [1899 * 12 + 11, 1970 * 12, 2026 * 12 + 8]
    assert _period_index(pd.DatetimeIndex(ds), "QS").tolist() == [1899 * 4 + 3, 1970 * 4, 2026 * 4 + 2]


def test_validate_long_names_the_series_with_gaps():
    import pytest

    from salesplan.models.forecast import ForecastInputError, validate_long

    ms = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"])
    df = pd.concat([pd.DataFrame({"unique_id": u, "ds": ms[list(ix)], "y": 1.0}) for u, ix in
                    [("a", (0, 1, 2)), ("b", (0, 2)), ("c", (1, 2, 3)), ("d", (0, 1, 3))]])
    with pytest.raises(ForecastInputError, match=r"gaps between periods\) in series \['b', 'd'\]"):
        validate_long(df, freq="MS")
    ok = validate_long(df[df["unique_id"].isin(["a", "c"])], freq="MS")
    assert ok["unique_id"].tolist() == ["a"] * 3 + ["c"] * 3


def test_to_long_key_text_of_numbers_and_nulls():
    from salesplan.models.forecast import to_long

    orders = pd.DataFrame({"order_date": pd.to_datetime(["2026-01-02", "2026-01-03", "2026-01-04"]),
                           "amount": [1.0, 2.0, 4.0], "k": [3.0, None, 3.0]})
    out = to_long(orders, keys=("k",))
    # str(3.0) = "3.0"; a null key is "(none)"
    assert out[["unique_id", "y"]].values.tolist() == [["k=(none)", 2.0], ["k=3.0", 5.0]]
    assert out["k"].tolist() == ["(none)", "3.0"]


def test_local_fit_reused_for_the_same_history(monkeypatch):
    from salesplan.models.forecast import engine as eng
    from salesplan.models.forecast.global_model import GlobalMLP, WithGlobal

    monkeypatch.setattr(eng, "_LOCAL_FITS", type(eng._LOCAL_FITS)())
    y = _series()
    made = []
    orig = eng._make_model
    monkeypatch.setattr(eng, "_make_model", lambda *a, **k: made.append(1) or orig(*a, **k))
    # seasonal_test="model": the local model is the method itself (no engine adjustment)
    m1, s1, r1 = eng._fit_model("combo_local", y, 12, "model")
    m2, s2, r2 = eng._fit_model("combo_local", list(y), 12, "model")  # same values: not made again
    assert made == [1] and m2 is m1 and s2 == s1
    # the scale by its definition: robust RMSE of the local members' one-step fitted values
    fitted = models.make_method("combo_local", 12).fit(y).fitted()
    assert s1 == eng._rmse(y, fitted)
    np.testing.assert_array_equal(r1[2:], (y - fitted)[2:])
    r1[5] = 1e9  # each caller gets its own residuals
    assert eng._fit_model("combo_local", y, 12, "model")[2][5] != 1e9
    # with a global member: the local part reused, the member's forecast attached
    gm = GlobalMLP(12, 12).fit([_series(48, s) for s in range(12)])
    wg, sg, _ = eng._fit_model("combo", y, 12, "model", gmodel=gm)
    ref = WithGlobal(models.make_method("combo_local", 12), 3, gm).fit(y)
    assert isinstance(wg, WithGlobal) and sg == s1 and made == [1, 1]
    np.testing.assert_array_equal(wg.predict(6), ref.predict(6))
    eng._fit_model("combo_local", y[:-1], 12, "model")  # another history: made again
    assert made == [1, 1, 1]


def test_residual_correlation_over_the_common_periods():
    from sklearn.covariance import ledoit_wolf

    from salesplan.models.forecast import Forecaster

    rng = np.random.default_rng(0)
    frames = []
    for k, (start, n) in enumerate([("2019-01-01", 60), ("2020-04-01", 45), ("2021-01-01", 36),
                                    ("2019-06-01", 50)]):
        ds = pd.date_range(start, periods=n, freq="MS")
        frames.append(pd.DataFrame({"unique_id": f"s{k}", "ds": ds,
                                    "y": 100 + 10 * k + rng.normal(0, 5, n).cumsum()}))
    fc = Forecaster(method="damped", calibrate=False).fit(pd.concat(frames))
    ids = ["s2", "s0", "s3", "s1"]
    # by hand: residuals dated from each series' start, the dates every series has, the last 36
    cols = {u: pd.Series(fc.series_[u].resid, index=pd.date_range(fc.first_ds_[u], periods=len(
        fc.series_[u].resid), freq="MS")) for u in ids}
    R = pd.DataFrame(cols).dropna().iloc[-36:]
    Z = (R - R.mean()) / R.std(ddof=0)
    cov, _ = ledoit_wolf(Z.to_numpy(), assume_centered=True)
    expect = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    got = fc.residual_correlation(ids)
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)


def test_validate_long_period_starts():
    from salesplan.models.forecast import validate_long
    from salesplan.models.forecast.data import ForecastInputError

    ds = pd.date_range("2019-01-01", periods=8, freq="QS")
    df = pd.DataFrame({"unique_id": "a", "ds": ds.astype("datetime64[s]"), "y": 1.0})
    out = validate_long(df, freq="QS")  # other datetime units are fine
    assert out["ds"].dtype == "datetime64[ns]" and list(out["ds"]) == list(ds)
    bad = df.assign(ds=pd.date_range("2019-02-01", periods=8, freq="QS-FEB"))  # month starts
    with pytest.raises(ForecastInputError, match=re.escape("irregular dates ['2019-02-01'")):
        validate_long(bad, freq="QS")  # months that start no quarter
    noon = pd.DataFrame({"unique_id": "a", "ds": [pd.Timestamp("2019-01-01 12:00")], "y": 1.0})
    with pytest.raises(ForecastInputError, match="irregular dates"):
        validate_long(noon, freq="MS")  # a date at noon is no month start


def test_history_key_is_equal_exactly_for_equal_histories():
    y = _series()
    assert models.history_key(y) == models.history_key(list(y)) == models.history_key(y.copy())
    assert len(models.history_key(y)) == 16
    z = y.copy()
    z[-1] = np.nextafter(z[-1], np.inf)  # one ulp apart: another history
    assert models.history_key(z) != models.history_key(y)
    assert models.history_key(y[:-1]) != models.history_key(y)


def test_a_cached_ces_member_forecasts_as_statsforecast_without_its_residuals():
    from statsforecast.models import AutoCES

    y = _series(60, seed=11)
    member = models.CES(12).fit(y)
    ref = AutoCES(season_length=12).fit(y)
    np.testing.assert_array_equal(member.predict(9), ref.predict(9)["mean"])
    np.testing.assert_array_equal(member.fitted(), ref.predict_in_sample()["fitted"])
    assert not {"residuals", "actual_residuals", "fit"} & set(member.model_.model_)
