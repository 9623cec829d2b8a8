"""Reconciliation backtest windows: a window is scored on the series with history up to
its cut-off (a rep hired later is left out of that window), and when no window can be
scored the forecast says so (``HierarchyForecast.note``) instead of silently using
bottom-up.  Expected values are worked out by hand below."""

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast import hierarchy_forecast


def _orders(rows):
    return pd.DataFrame(rows, columns=["order_date", "amount", "region", "rep_id"]).assign(
        order_date=lambda d: pd.to_datetime(d["order_date"]))


def _late_rep_orders(noise=0.0):
    """36 months 2024-01..2026-12.  a1 (region A): 100 + 12 * year + month, so every value
    is the same month of last year + 12.  b1 (region B): 200 + 24 * year + 2 * month, and
    + 24 more in 2026-10..12.  a2 (region A) is hired in 2026-11: 30 in Nov and Dec."""
    rows, wiggle = [], np.random.default_rng(3).normal(0.0, noise, size=(36, 2))
    for i, ts in enumerate(pd.date_range("2024-01-01", "2026-12-01", freq="MS")):
        yr, mo = ts.year - 2024, ts.month
        rows.append((ts, 100 + 12 * yr + mo + wiggle[i, 0], "A", "a1"))
        rows.append((ts, 200 + 24 * yr + 2 * mo + (24 if ts >= pd.Timestamp("2026-10-01") else 0)
                     + wiggle[i, 1], "B", "b1"))
    rows += [("2026-11-01", 30.0, "A", "a2"), ("2026-12-01", 30.0, "A", "a2")]
    return _orders(rows)


def test_window_scored_on_the_series_with_history():
    """One window, cut-off 2026-09 (test Oct-Dec 2026); a2 has no history up to it.

    Seasonal naive forecasts are last year's Oct-Dec; bottom-up sums a1 and b1 only.
    In-sample MASE scales (mean |y_t - y_{t-12}| up to the cut-off): a1 12, b1 24,
    region A 12, region B 24, total 36.  Absolute errors over the three test months:
    a1 12, 12, 12 -> MASE 1; b1 48, 48, 48 -> 2; region B 48 each -> 2;
    region A 12 + a2's sales 0, 30, 30 -> 12, 42, 42 -> 32 / 12; total 60, 90, 90 -> 80 / 36.
    Level means: total 20/9, region (8/3 + 2) / 2 = 7/3, rep (1 + 2) / 2 = 3/2.
    """
    hf = hierarchy_forecast(_late_rep_orders(), h=3, method="snaive", reconcile_method="auto",
                            candidates=("bottom_up",), n_windows=1, n_paths=20, random_state=0)
    assert hf.method == "bottom_up"
    assert len(hf.scores) == 1
    row = hf.scores.iloc[0]
    assert row["method"] == "bottom_up" and row["n_windows"] == 1
    assert row["mase_total"] == pytest.approx(20 / 9)
    assert row["mase_region"] == pytest.approx(7 / 3)
    assert row["mase_region/rep_id"] == pytest.approx(1.5)
    assert row["mase"] == pytest.approx((20 / 9 + 7 / 3 + 1.5) / 3)
    assert hf.note == ("Reconciliation backtest on the bottom series with history up to each "
                       "cut-off (2 of 3)")


def test_late_rep_scored_in_the_windows_after_his_start():
    """Two windows (cut-offs 2026-09 and 2026-06); a2 has history up to neither, so both are
    scored on a1 and b1 (the rule per window); all three candidates are scored (noise added
    so that the one-step residuals vary and MinT has a covariance)."""
    hf = hierarchy_forecast(_late_rep_orders(noise=5.0), h=3, method="snaive", reconcile_method="auto",
                            n_windows=2, n_paths=20, random_state=0)
    assert set(hf.scores["method"]) == {"bottom_up", "top_down", "mint_shrink"}
    assert (hf.scores["n_windows"] == 2).all()
    assert hf.method == hf.scores.iloc[0]["method"]
    assert hf.note.endswith("(2 of 3)")


def test_every_series_with_history_no_note():
    """Without a2 every series has history up to the cut-off: the window is scored on all
    of them and the note is empty.  Bottom-up MASE by hand as above without a2's sales:
    region A errors 12 -> 1, total 60 -> 60 / 36; levels 5/3, (1 + 2) / 2, (1 + 2) / 2."""
    orders = _late_rep_orders()
    orders = orders[orders["rep_id"] != "a2"]
    hf = hierarchy_forecast(orders, h=3, method="snaive", reconcile_method="auto",
                            candidates=("bottom_up",), n_windows=1, n_paths=20, random_state=0)
    assert hf.note == ""
    assert hf.scores.iloc[0]["mase"] == pytest.approx((5 / 3 + 1.5 + 1.5) / 3)


def test_no_window_scored_is_said():
    """Three months of history and h = 3: the only cut-off is before every series' first
    month, so no window can be scored; bottom-up is used and the note says why."""
    rows = [(ts, 100.0 + i, r, rep) for i, ts in enumerate(pd.date_range("2026-10-01", periods=3,
                                                                        freq="MS"))
            for r, rep in (("A", "a1"), ("B", "b1"))]
    hf = hierarchy_forecast(_orders(rows), h=3, method="snaive", reconcile_method="auto",
                            n_windows=2, n_paths=20, random_state=0)
    assert hf.method == "bottom_up"
    assert hf.scores.empty
    assert hf.note == ("No reconciliation backtest window fits the history (the latest cut-off "
                       "is 2026-09-01): bottom_up is used")


def test_method_set_by_parameter_has_no_note():
    hf = hierarchy_forecast(_late_rep_orders(), h=3, method="snaive", reconcile_method="bottom_up",
                            n_paths=20, random_state=0)
    assert hf.note == "" and hf.scores.empty
    assert np.isfinite(hf.paths).all()


def test_reconciliation_note_sentences():
    from salesplan.planning.forecast_tables import reconciliation_note

    assert reconciliation_note("mint_shrink", "", scored=True) == ""
    assert reconciliation_note("ols", "", scored=False) == \
        "Reconciliation set by parameter: **ols** (no backtest)."
    note = "No reconciliation backtest window fits the history (the latest cut-off is 2026-09-01): bottom_up is used"
    assert reconciliation_note("bottom_up", note, scored=False) == note + "."


@pytest.mark.parametrize("text,expected", [
    ("No reconciliation backtest window fits the history (the latest cut-off is 2026-09-01): "
     "bottom_up is used.", "没有可用于调和回测的窗口（最晚截止日为 2026年9月1日）：采用自下而上。"),
    ("Reconciliation backtest on the bottom series with history up to each cut-off (6,612 of 6,706).",
     "调和回测只用各截止日前已有历史的底层序列（6,706 个中的 6,612 个）。"),
    ("Reconciliation backtest on the bottom series with history up to each cut-off "
     "(6,590 to 6,612 of 6,706).", "调和回测只用各截止日前已有历史的底层序列（6,706 个中的 6,590 至 6,612 个）。"),
])
def test_notes_in_chinese(text, expected):
    from salesplan.reports.i18n import translate

    assert translate(text, "zh") == expected


def test_window_fits_are_cached(tmp_path):
    """The backtest windows' fits go to the fit cache (one file each, beside the final fit)
    and a second run reads them: the same scores and paths, no new file."""
    kw = dict(h=3, method="snaive", reconcile_method="auto", n_windows=2, n_paths=20,
              random_state=0, cache_dir=tmp_path)
    first = hierarchy_forecast(_late_rep_orders(noise=5.0), **kw)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3  # the final fit and the two windows'
    again = hierarchy_forecast(_late_rep_orders(noise=5.0), **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    pd.testing.assert_frame_equal(first.scores, again.scores)
    np.testing.assert_array_equal(first.paths, again.paths)
