"""The monitoring quarter's forecast without a copy of the order lines (issue 19): the
back-test context's history is made on first use, and the forecast cuts the loaded lines
itself (``hierarchy_forecast(until=)``), to the same numbers."""

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.models.forecast import ForecastInputError, hierarchy_forecast, order_lines, to_long
from salesplan.planning.context import PlanContext
from salesplan.planning.features import monitor_context, monitor_history_ok

LEVELS = [(), ("region",), ("region", "rep_id")]


def _data():
    """30 months of lines (2024-07 .. 2026-12-31) for 5 reps in 2 regions; rep w3 starts
    selling in 2026-11 (after the back-test quarter's history), a line without a rep in East."""
    rng = np.random.default_rng(1)
    reps = {"e1": "C1", "e2": "C2", "w1": "C3", "w2": "C4", "w3": "C5"}
    rows = []
    for d in pd.date_range("2024-07-01", "2026-12-31", freq="6D"):
        for rep, cust in reps.items():
            if rep == "w3" and d < pd.Timestamp("2026-11-01"):
                continue
            rows.append((d, cust, rep, float(rng.gamma(2.0, 50.0))))
    rows.append((pd.Timestamp("2026-03-03"), "C1", None, 7.5))
    rows.append((pd.Timestamp("2026-12-31"), "C3", "w1", 12.0))  # December complete
    orders = pd.DataFrame(rows, columns=["order_date", "customer_id", "rep_id", "amount"])
    orders = orders.sample(frac=1.0, random_state=0).reset_index(drop=True)  # lines in no date order
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4", "C5"],
                              "region": ["East", "East", "West", "West", "West"]})
    return SalesData(orders=orders, customers=customers)


def test_back_test_history_is_made_on_first_use_only():
    ctx = PlanContext.build(_data(), "2027Q1")
    mctx = monitor_context(ctx, min_months=12)
    assert mctx.period == "2026Q4" and mctx.history_end == pd.Timestamp("2026-09-30")
    assert "history" not in vars(mctx)  # monitor_context and its check made no copy
    assert monitor_history_ok(mctx, 27) and not monitor_history_ok(mctx, 28)  # 2024-07 .. 2026-09
    assert "history" not in vars(mctx)
    o = ctx.data.orders
    pd.testing.assert_frame_equal(mctx.history.orders, o[o["order_date"] <= "2026-09-30"])
    assert mctx.history is mctx.history  # made once


def test_forecast_until_equals_the_forecast_of_the_cut_lines():
    data = _data()
    end = pd.Timestamp("2026-09-30")
    o = data.orders
    cut = SalesData(orders=o[o["order_date"] <= end], customers=data.customers)
    kw = dict(levels=LEVELS, h=3, method="ets", reconcile_method="auto", n_windows=1, n_paths=60, seed=4)
    old = hierarchy_forecast(cut, **kw)
    new = hierarchy_forecast(data, until=end, **kw)
    assert "region=West|rep_id=w3" not in new.ids  # no line up to the cut: no series
    assert new.ids == old.ids and new.method == old.method
    pd.testing.assert_frame_equal(new.long, old.long, check_exact=True)
    pd.testing.assert_frame_equal(new.forecast, old.forecast, check_exact=True)
    pd.testing.assert_frame_equal(new.scores, old.scores, check_exact=True)
    assert np.array_equal(new.paths, old.paths)
    # the lines after the cut are in the data: without `until` the forecast is another one
    assert "region=West|rep_id=w3" in hierarchy_forecast(data, **kw).ids


def test_forecast_until_with_customer_ids_that_repeat_equals_the_forecast_of_the_cut_lines():
    data = _data()  # C1 listed twice: the lines are merged with the customers (one row per match)
    customers = pd.concat([data.customers, data.customers.iloc[[0]]], ignore_index=True)
    data = SalesData(orders=data.orders, customers=customers)
    end = pd.Timestamp("2026-09-30")
    o = data.orders
    cut = SalesData(orders=o[o["order_date"] <= end], customers=customers)
    kw = dict(levels=LEVELS, h=3, method="naive", reconcile_method="bottom_up", n_windows=1, n_paths=20, seed=4)
    old = hierarchy_forecast(cut, **kw)
    new = hierarchy_forecast(data, until=end, **kw)
    assert new.ids == old.ids
    pd.testing.assert_frame_equal(new.long, old.long, check_exact=True)
    pd.testing.assert_frame_equal(new.forecast, old.forecast, check_exact=True)


def test_forecast_from_lines_coded_once_equals_the_forecast_of_the_orders():
    """The forecast notebook codes its lines once (with the product line and dates) and lets
    the lines' frame go: the hierarchy, its `until` cut and the product lines' series are the
    same numbers as from the orders."""
    data = _data()
    data = SalesData(orders=data.orders.assign(product_line=np.where(np.arange(len(data.orders)) % 3, "A", "B")),
                     customers=data.customers)
    lines = order_lines(data, keys=("region", "rep_id", "product_line"), dated=True)
    assert len(lines) == len(data.orders) and lines.dates.dtype == np.int32  # midnight dates: day numbers
    kw = dict(levels=LEVELS, h=3, method="ets", reconcile_method="auto", n_windows=1, n_paths=60, seed=4)
    for until in (None, pd.Timestamp("2026-09-30")):
        old, new = hierarchy_forecast(data, until=until, **kw), hierarchy_forecast(lines, until=until, **kw)
        assert new.ids == old.ids and new.method == old.method
        pd.testing.assert_frame_equal(new.long, old.long, check_exact=True)
        pd.testing.assert_frame_equal(new.forecast, old.forecast, check_exact=True)
        pd.testing.assert_frame_equal(new.scores, old.scores, check_exact=True)
        assert np.array_equal(new.paths, old.paths)
    pd.testing.assert_frame_equal(to_long(lines, keys=("product_line",)), to_long(data, keys=("product_line",)),
                                  check_exact=True)
    cut = lines.until("2026-09-30")
    assert len(cut) == int((data.orders["order_date"] <= "2026-09-30").sum())
    assert lines.until("2030-01-01") is lines  # every line: no copy
    bare = lines.select(("region",)).until("2026-09-30", dated=False)
    assert list(bare.codes) == ["region"] and bare.dates is None and np.array_equal(bare.y, cut.y)
    assert lines.select(("region",)).y is lines.y  # shared, not copied


def test_coded_lines_name_what_they_lack():
    data = _data()
    lines = order_lines(data, keys=("region", "rep_id"))
    with pytest.raises(ForecastInputError, match=r"coded without key\(s\) \['product_line'\]"):
        to_long(lines, keys=("product_line",))
    with pytest.raises(ForecastInputError, match="coded at frequency 'MS', asked for 'QS'"):
        to_long(lines, keys=("region",), freq="QS")
    with pytest.raises(ForecastInputError, match=r"without their dates .* dated=True"):
        hierarchy_forecast(lines, levels=LEVELS, until="2026-09-30", method="naive", n_paths=10)
    dated = order_lines(data, keys=("region", "rep_id"), dated=True)
    with pytest.raises(ForecastInputError, match="no order line on or before 2020-01-01"):
        dated.until("2020-01-01")


def test_lines_dated_with_a_time_of_day_are_cut_as_the_orders():
    """Dates with a time of day are kept to the nanosecond: a line at 10:00 on the cut's day
    is after a midnight cut, as `order_date <= until` says."""
    data = _data()
    o = data.orders.assign(order_date=data.orders["order_date"] + pd.to_timedelta(np.arange(len(data.orders)) % 3,
                                                                                    unit="h"))
    lines = order_lines(SalesData(orders=o, customers=data.customers), keys=("region",), dated=True)
    assert lines.dates.dtype == np.dtype("datetime64[ns]")
    for until in ("2026-09-30", "2026-09-30 01:30", pd.Timestamp("2026-12-31 23:00")):
        assert len(lines.until(until)) == int((o["order_date"] <= pd.Timestamp(until)).sum())
    midnight = order_lines(data, keys=("region",), dated=True)
    for until in ("2026-09-30", "2026-09-30 01:30", "2026-09-29 23:59"):
        assert len(midnight.until(until)) == int((data.orders["order_date"] <= pd.Timestamp(until)).sum())
