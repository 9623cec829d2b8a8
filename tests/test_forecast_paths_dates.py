"""``SamplePaths.from_forecast`` dates the paths by the forecast frame's ``ds`` per node in
one pass; its result and its errors are those of the per-node rule written out below."""

import numpy as np
import pandas as pd
import pytest

from salesplan.data.paths import SamplePaths


def _per_node(values, series, forecast):
    """The rule node by node: each node's sorted distinct dates, the same for every node."""
    h, dates = values.shape[-1], None
    for u in series:
        ds = pd.DatetimeIndex(sorted(pd.to_datetime(forecast.loc[forecast["unique_id"] == u, "ds"]).unique()))
        if len(ds) != h:
            raise ValueError(f"forecast node {u!r}: {len(ds)} dates but paths of horizon {h}")
        if dates is not None and not ds.equals(dates):
            raise ValueError(f"forecast node {u!r}: its periods differ from the other nodes'")
        dates = ds
    return dates


def _frame(ids, months):
    return pd.DataFrame([(u, m) for u in ids for m in months], columns=["unique_id", "ds"])


MONTHS = ["2027-01-01", "2027-02-01", "2027-03-01"]


def _cases():
    ids = ["total", "region=E", "region=W"]
    ok = _frame(ids, pd.to_datetime(MONTHS))
    yield "ok", ids, ok
    yield "text dates, rows shuffled and repeated", ids, pd.concat(
        [_frame(ids, MONTHS), _frame(ids[:1], MONTHS[:1])]).sample(frac=1.0, random_state=1)
    yield "a node short of a month", ids, ok.drop(index=4)
    yield "first node short of a month", ids, ok.drop(index=0)
    yield "a node absent", ids + ["region=N"], ok
    other = ok.copy()
    other.loc[7, "ds"] = pd.Timestamp("2027-04-01")
    yield "a node on other months", ids, other
    extra = pd.concat([ok, _frame(["region=E"], pd.to_datetime(["2027-04-01"]))])
    yield "a node with an extra month", ids, extra
    two = ok.copy()
    two.loc[2, "ds"] = pd.Timestamp("2027-04-01")
    two.loc[5, "ds"] = pd.Timestamp("2027-04-01")
    yield "two nodes wrong: the first named", ids[::-1], two


@pytest.mark.parametrize("name,ids,frame", list(_cases()), ids=[c[0] for c in _cases()])
def test_from_forecast_as_the_per_node_rule(name, ids, frame):
    values = np.arange(len(ids) * 2 * 3, dtype=float).reshape(len(ids), 2, 3)
    try:
        expected = _per_node(values, ids, frame)
    except ValueError as e:
        with pytest.raises(ValueError) as got:
            SamplePaths.from_forecast(values, ids, frame)
        assert str(got.value) == str(e)
        return
    sp = SamplePaths.from_forecast(values, ids, frame)
    assert sp.dates.equals(expected)
    assert sp.series == tuple(ids)
    np.testing.assert_array_equal(sp.values, values)
