"""Plan speed (issue 19): each snapshot date's scored pipeline is computed once per data set.

The memo of :class:`PlanContext` is shared by the plan, the scenarios and the monitoring
quarter (``with_quarter``); :func:`memo_scorer` calls the real scorer once per
``(date, horizon end)``; :class:`DiskMemo` keeps the values in the model cache, read back
exactly; :func:`plan_memo` keys the folder by the input fingerprint and the code.
"""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.planning import targets as tg
from salesplan.planning.context import PlanContext
from salesplan.reports.inputs import DiskMemo, plan_memo


def _orders(last_day):
    days = pd.date_range("2025-01-01", last_day, freq="D")
    return pd.DataFrame({"order_id": range(len(days)), "order_date": days, "customer_id": "C1",
                         "amount": 1.0})


def _deals(at):
    """A scored-deals frame whose numbers name the date they were made for."""
    return pd.DataFrame({"opportunity_id": ["O1", "O2"], "amount": [100.0, 250.5],
                         "p_win": [0.25, 0.125], "in_horizon": [True, False],
                         "made_for": [pd.Timestamp(at)] * 2})


def test_memo_scorer_scores_each_date_once_and_hands_out_copies(monkeypatch):
    calls = []

    def fake(data, at, horizon_end):
        calls.append((pd.Timestamp(at), pd.Timestamp(horizon_end)))
        return _deals(at)

    monkeypatch.setattr(tg, "_scored_deals", fake)
    memo: dict = {}
    scorer = tg.memo_scorer(memo)
    a = scorer(None, "2026-09-30", "2026-12-31")
    a.loc[0, "amount"] = -1.0  # a caller's change must not reach the memo
    b = tg.memo_scorer(memo)(None, pd.Timestamp("2026-09-30"), pd.Timestamp("2026-12-31"))
    scorer(None, "2026-06-30", "2026-09-30")
    assert calls == [(pd.Timestamp("2026-09-30"), pd.Timestamp("2026-12-31")),
                     (pd.Timestamp("2026-06-30"), pd.Timestamp("2026-09-30"))]
    assert b["amount"].tolist() == [100.0, 250.5]
    assert set(memo) == {("scored_pipeline", pd.Timestamp("2026-09-30"), pd.Timestamp("2026-12-31")),
                         ("scored_pipeline", pd.Timestamp("2026-06-30"), pd.Timestamp("2026-09-30"))}


def test_with_quarter_is_build_on_the_same_data_sharing_the_memo():
    data = SalesData(orders=_orders("2027-02-14"))
    ctx = PlanContext.build(data, "2027Q1", input_fingerprint="abc", fiscal_year_start_month=4)
    ctx.memo["x"] = 1
    m = ctx.with_quarter("2026Q4")
    assert (str(m.quarter), m.history_end, m.input_fingerprint, m.fiscal_year_start_month) == (
        "2026Q4", pd.Timestamp("2026-09-30"), "abc", 4)
    assert m.data is data and m.history.orders["order_date"].max() == pd.Timestamp("2026-09-30")
    assert m.memo is ctx.memo
    assert "memo" not in repr(m)


def test_disk_memo_reads_back_exactly_in_a_new_process_view(tmp_path):
    key = ("scored_pipeline", pd.Timestamp("2026-09-30"), pd.Timestamp("2026-12-31"))
    memo = DiskMemo(tmp_path / "m")
    assert key not in memo
    memo[key] = _deals("2026-09-30")
    assert (tmp_path / "m" / "scored_pipeline-20260930-20261231.pkl").exists()
    again = DiskMemo(tmp_path / "m")  # e.g. the next run's kernel
    assert key in again and len(again) == 0  # nothing read until asked
    pd.testing.assert_frame_equal(again[key], _deals("2026-09-30"), check_exact=True)
    with pytest.raises(KeyError):
        again[("scored_pipeline", pd.Timestamp("2026-06-30"), pd.Timestamp("2026-09-30"))]
    del again[key]
    assert key not in DiskMemo(tmp_path / "m")


def test_plan_memo_keys_the_folder_by_fingerprint(tmp_path):
    data = SalesData(orders=_orders("2027-02-14"))
    ctx = PlanContext.build(data, "2027Q1", input_fingerprint="f" * 64)
    assert plan_memo(ctx, None) is ctx
    assert plan_memo(PlanContext.build(data, "2027Q1"), str(tmp_path)).memo == {}  # no fingerprint: in memory
    a = plan_memo(ctx, str(tmp_path)).memo
    b = plan_memo(PlanContext.build(data, "2027Q1", input_fingerprint="e" * 64), str(tmp_path)).memo
    assert isinstance(a, DiskMemo)
    assert a.folder.parent == tmp_path / "plan_memo"
    assert a.folder.name.startswith("f" * 32 + "-") and b.folder.name.startswith("e" * 32 + "-")
    assert a.folder.name.split("-")[1] == b.folder.name.split("-")[1]  # same code
