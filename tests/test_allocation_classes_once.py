"""The resource plan's ABC classes computed once (``classes=``) give the results of each
function computing its own, and a frame made for another day or thresholds is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.demo.generator import generate
from salesplan.models import segments
from salesplan.planning.allocation import CoverageParams
from salesplan.planning.allocation.quarter import coverage_plan, marketing_plan
from salesplan.planning.context import PlanContext


@pytest.fixture(scope="module")
def plan():
    data = generate(seed=7).data
    ctx = PlanContext.build(data, "2027Q1")
    abc = segments.abc_classes(ctx.history.orders, ctx.history_end, customers=ctx.history.customers)
    return data, ctx, abc


def _marketing(data, ctx, **kw):
    return marketing_plan(data, ctx.history_end, ctx.regions, gross_margin_rate=0.35, max_change=0.5,
                          n_scenarios=5, **kw)


def test_marketing_plan_with_the_classes_given_is_the_plan_without(plan):
    data, ctx, abc = plan
    own, given = _marketing(data, ctx), _marketing(data, ctx, classes=abc)
    assert own.error is None and given.error is None  # the 80% rule, which reads the classes, was made
    assert given.budget == own.budget
    pd.testing.assert_series_equal(given.status_quo, own.status_quo, check_exact=True)
    for name in ("fit", "comparison", "split", "scenarios", "one_at_a_time"):
        pd.testing.assert_frame_equal(getattr(given, name), getattr(own, name), check_exact=True)
    assert given.allocations.keys() == own.allocations.keys()
    for k in own.allocations:
        pd.testing.assert_series_equal(given.allocations[k], own.allocations[k], check_exact=True)
    for k, t in own.tables().items():
        pd.testing.assert_frame_equal(given.tables()[k], t, check_exact=True)


def test_coverage_plan_with_the_classes_given_is_the_plan_without(plan):
    data, ctx, abc = plan
    own = coverage_plan(ctx.history, ctx.history_end, CoverageParams())
    given = coverage_plan(ctx.history, ctx.history_end, CoverageParams(), classes=abc)
    for a, b in zip(given[:3], own[:3]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert given[3] == own[3]  # the calibrated norms


def _one_line_error(fn, match):
    with pytest.raises(ValueError, match=match) as err:
        fn()
    assert "\n" not in str(err.value)


def test_classes_of_another_day_or_window_are_refused_in_one_line(plan):
    data, ctx, _ = plan
    day_before = ctx.history_end - pd.Timedelta(days=1)
    other_day = segments.abc_classes(ctx.history.orders, day_before)
    other_window = segments.abc_classes(ctx.history.orders, ctx.history_end, segments.ABCParams(window_months=6))
    want = ctx.history_end.date().isoformat()
    for bad, what in ((other_day, f"as_of='{day_before.date().isoformat()}' \\(expected '{want}'\\)"),
                      (other_window, r"window_months=6 \(expected 12\)")):
        _one_line_error(lambda b=bad: _marketing(data, ctx, classes=b), "^classes were made with " + what)
        _one_line_error(lambda b=bad: coverage_plan(ctx.history, ctx.history_end, CoverageParams(), classes=b),
                        "^classes were made with " + what)


def test_a_frame_that_is_not_abc_classes_is_refused_in_one_line(plan):
    data, ctx, abc = plan
    plain = pd.DataFrame({"customer_id": abc["customer_id"], "abc_class": abc["abc_class"]})  # no record of its day
    _one_line_error(lambda: _marketing(data, ctx, classes=plain), r"^classes were made with as_of=None")
    _one_line_error(lambda: _marketing(data, ctx, classes=abc["abc_class"]),
                    r"^classes must be the frame of segments.abc_classes .* got Series$")
