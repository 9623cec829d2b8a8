"""The pipeline notebook reduces the data for the scoring once (``scoring=``) for the plan's
dates and its review: the cut of that reduction is the reduction of the cut, and the review
made with it is the review made without it."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.demo.generator import generate
from salesplan.models.leads import BANTParams
from salesplan.planning.pipeline import PipelineParams, known_at, scoring_data
from salesplan.planning.pipeline_review import pipeline_review


@pytest.fixture(scope="module")
def company():
    return generate(seed=7).data


@pytest.mark.parametrize("at", ["2025-03-31", "2026-06-30", "2026-12-31"])
def test_the_cut_of_the_reduced_data_is_the_reduction_of_the_cut(company, at):
    # what the review's scoring reads: the reduction of its cut (before), the cut of the reduction (now),
    # both as the scoring functions take them (known_at: in contract column order and dtypes)
    cut_first = known_at(scoring_data(company.until(at)), at)
    reduced_first = known_at(scoring_data(company), at)
    for name in ("orders", "activities", "opportunities", "stage_history", "leads"):
        pd.testing.assert_frame_equal(getattr(reduced_first, name), getattr(cut_first, name), check_exact=True)


def test_the_review_with_the_reduction_given_is_the_review_without(company):
    at, horizon = pd.Timestamp("2026-12-31"), pd.Timestamp("2027-03-31")
    kw = dict(bant=BANTParams(), params=PipelineParams(), n_paths=200)
    own = pipeline_review(company.until(at), at, horizon, **kw)
    given = pipeline_review(company.until(at), at, horizon, scoring=scoring_data(company), **kw)
    assert own.has_pipe and given.notes == own.notes
    assert given.tables().keys() == own.tables().keys()
    for name, table in own.tables().items():
        pd.testing.assert_frame_equal(given.tables()[name], table, check_exact=True)
