"""The leads-and-pipeline review (notebook 03b) functions, on hand-built tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.planning.pipeline import PipelineParams
from salesplan.planning.pipeline_review import (
    OpenPipelineReview,
    PipelineReview,
    bant_params_from_text,
    pipeline_by_region,
    pipeline_review,
    review_leads,
    review_open_pipeline,
)
from salesplan.reports.reviews import pipeline_headlines


def _orders():
    return pd.DataFrame({"order_id": ["o1", "o2"], "order_date": pd.to_datetime(["2026-11-02", "2026-12-01"]),
                         "customer_id": ["c1", "c2"], "rep_id": ["r1", "r1"], "amount": [100.0, 50.0]})


def test_bant_weights_text_is_read_in_item_order():
    p = bant_params_from_text("2, 1,0.5,3", unknown_credit=0.25, qualify_at=4, conversion_floor=0.4)
    assert dict(p.weights) == {"budget": 2.0, "authority": 1.0, "need": 0.5, "timing": 3.0}
    assert (p.unknown_credit, p.qualify_at, p.conversion_floor) == (0.25, 4, 0.4)
    for bad in ("1,1,1", "1,1,x,1", ""):
        with pytest.raises(ValueError, match=r"bant_weights=.*expected four numbers"):
            bant_params_from_text(bad)


def test_pipeline_by_region_sums_and_quantiles_by_hand():
    scored = pd.DataFrame({
        "opportunity_id": ["a", "b", "c"], "region": ["North", "North", "South"],
        "amount": [100.0, 300.0, 50.0], "p_win": [0.5, 0.2, 0.9], "p_stage": [0.4, 0.4, 0.8],
        "in_horizon": [True, False, True]})
    # paths: 0..10 for North, constant 45 for South
    paths = pd.DataFrame({"North": np.arange(11, dtype=float), "South": np.full(11, 45.0)})
    got = pipeline_by_region(scored, paths).set_index("region")
    assert got.loc["North", "open_deals"] == 2 and got.loc["North", "open_amount"] == 400.0
    # only deal a is in the horizon in North: 100 x 0.5 scored, 100 x 0.4 by stage
    assert got.loc["North", "expected_scored"] == pytest.approx(50.0)
    assert got.loc["North", "expected_stage_average"] == pytest.approx(40.0)
    assert got.loc["South", "expected_scored"] == pytest.approx(45.0)
    assert got.loc["North", ["p10", "p50", "p90"]].tolist() == pytest.approx([1.0, 5.0, 9.0])
    assert got.loc["South", "p90"] == 45.0


def test_sections_switch_off_with_notes_without_leads_or_opportunities():
    past = SalesData(orders=_orders())
    bant = bant_params_from_text("1,1,1,1")
    lead, notes = review_leads(past, bant)
    assert lead is None and notes == ["table 'leads' is absent or has no converted/disqualified lead: "
                                      "the lead section is off"]
    pipe, notes = review_open_pipeline(past, "2026-12-31", "2027-03-31", PipelineParams())
    assert pipe is None and notes == ["table 'opportunities' is absent or empty: the pipeline section is off"]
    review = pipeline_review(past, "2026-12-31", "2027-03-31", bant=bant, params=PipelineParams())
    assert not review.has_leads and not review.has_pipe and review.to_work is None
    assert list(review.tables()) == ["notes"]
    assert review.tables()["notes"]["note"].tolist() == [
        "table 'leads' is absent or has no converted/disqualified lead: the lead section is off",
        "table 'opportunities' is absent or empty: the pipeline section is off"]
    answer, figures = pipeline_headlines(review, 0.3)
    assert answer == "No leads and no open pipeline in these data: both sections are off (see the notes)."
    assert figures == {}


def test_headline_of_the_open_pipeline_reads_the_review():
    scored = pd.DataFrame({"opportunity_id": ["a", "b"], "region": ["N", "S"], "amount": [1_000_000.0, 500_000.0],
                           "p_win": [0.5, 0.2], "p_stage": [0.3, 0.3], "in_horizon": [True, True],
                           "stuck": [True, False]})
    total = pd.Series(np.linspace(0, 1_500_000, 11))
    pipe = OpenPipelineReview(pd.Timestamp("2025-06-30"), pd.DataFrame(), pd.DataFrame(), scored,
                              expected_scored=600_000.0, expected_stage=450_000.0, total=total)
    review = PipelineReview(pd.Timestamp("2026-12-31"), pd.Timestamp("2027-03-31"), None, pipe)
    answer, figures = pipeline_headlines(review, 0.3)
    # 80% range: the 10% and 90% quantiles of 0, 150k, ..., 1.5 M = 150k and 1.35 M
    assert answer == ("The 2 open deals (1.5 M) should bring 600.0 k won by 2027-03-31 (80% range 150.0 k-1.4 M; "
                      "stage averages say 450.0 k); 1 are stuck.")
    assert figures["Open deals"] == "2 (1.5 M)"
    assert list(review.tables()) == ["notes", "scored_pipeline", "pipeline_by_region", "funnel_shape_by_rep",
                                     "stuck_deals"]
