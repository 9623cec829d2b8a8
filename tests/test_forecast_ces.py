"""FastAutoCES: the same fits as statsforecast's AutoCES, bit for bit."""

import numpy as np
import pytest

pytest.importorskip("statsforecast")

from statsforecast.models import AutoCES  # noqa: E402
from statsmodels.tsa.seasonal import seasonal_decompose  # noqa: E402

from salesplan.models.forecast import _ces  # noqa: E402
from salesplan.models.forecast.models import MODELS  # noqa: E402


def _series(n_series=40, seed=3):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_series):
        n = int(rng.integers(24, 130))
        t = np.arange(n)
        y = 100 + 0.4 * t + 25 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 5 + 10 * (i % 4), n)
        if i % 5 == 4:  # sparse, integer-valued, with zeros
            y = np.round(np.abs(y) * (rng.random(n) > 0.3))
        out.append(y)
    return out


@pytest.mark.parametrize("m", [12, 4, 7])
def test_additive_seasonal_equals_statsmodels(m):
    for y in _series():
        expected = seasonal_decompose(y, period=m).seasonal[:m]
        assert np.array_equal(_ces.additive_seasonal(y, m), expected)


def test_additive_seasonal_long_series_uses_statsmodels():
    y = np.random.default_rng(0).normal(100, 10, _ces.MAX_DIRECT + 30)
    assert np.array_equal(_ces.additive_seasonal(y, 12), seasonal_decompose(y, period=12).seasonal[:12])


@pytest.mark.parametrize("m", [12, 4, 1])
def test_fast_autoces_same_fit_as_statsforecast(m):
    for y in _series(24):
        ref = AutoCES(season_length=m).fit(y)
        new = _ces.FastAutoCES(season_length=m).fit(y)
        assert new.model_["seasontype"] == ref.model_["seasontype"]
        assert new.model_["par"] == ref.model_["par"]
        assert np.array_equal(new.predict(18)["mean"], ref.predict(18)["mean"])
        assert np.array_equal(new.predict_in_sample()["fitted"], ref.predict_in_sample()["fitted"],
                              equal_nan=True)


def test_fast_autoces_constant_series_is_naive_as_statsforecast():
    y = np.full(30, 5.0)
    ref, new = AutoCES(season_length=12).fit(y), _ces.FastAutoCES(season_length=12).fit(y)
    assert type(new).__name__ == type(ref).__name__ == "Naive"
    assert np.array_equal(new.predict(3)["mean"], ref.predict(3)["mean"])


def test_ces_member_uses_the_fast_fit():
    y = _series(1)[0]
    member = MODELS["ces"](12).fit(y)
    assert isinstance(member.model_, _ces.FastAutoCES)
    assert np.array_equal(member.predict(6), AutoCES(season_length=12).fit(y).predict(6)["mean"])
