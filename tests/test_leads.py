"""Leads: the contract table, the generator's BANT effect, the BANT rule and the learned
conversion model.  Expected values come from hand examples or ``company.truth``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.data import validate
from salesplan.data.schema import SalesData
from salesplan.demo.generator import generate
from salesplan.models.leads import (
    BANTParams,
    LeadConversionModel,
    bant_score,
    conversion_rates,
    leads_to_work_first,
)


@pytest.fixture(scope="module")
def company():
    return generate(seed=7)


def _lead(i, source="web", b="no", a="no", n="no", t="no", status="disqualified", rep="R1"):
    return {"lead_id": f"L{i}", "created_date": pd.Timestamp("2026-01-01"), "source": source,
            "rep_id": rep, "customer_id": None, "prospect_name": f"P{i}", "budget": b,
            "authority": a, "need": n, "timing": t, "status": status,
            "closed_date": pd.NaT if status == "open" else pd.Timestamp("2026-01-10"),
            "converted_opportunity_id": None, "disqualified_reason": None}


# --------------------------------------------------------------------------- contract + generator
def test_generated_leads_are_valid_and_back_every_opportunity(company):
    data = company.data
    assert validate(data, as_of="2026-12-31").ok
    leads = data.leads
    conv = leads[leads["status"] == "converted"]
    # every opportunity comes from exactly one converted lead, same rep and customer
    assert sorted(conv["converted_opportunity_id"]) == sorted(data.opportunities["opportunity_id"])
    opp = data.opportunities.set_index("opportunity_id").loc[conv["converted_opportunity_id"]]
    assert (conv["rep_id"].to_numpy() == opp["rep_id"].to_numpy()).all()
    assert (conv["customer_id"].to_numpy() == opp["customer_id"].to_numpy()).all()
    assert (conv["closed_date"].to_numpy() == opp["created_date"].to_numpy()).all()
    assert (conv["created_date"] <= conv["closed_date"]).all()
    assert leads.loc[leads["status"] == "open", "closed_date"].isna().all()
    assert leads.loc[leads["status"] == "disqualified", "disqualified_reason"].notna().all()


def test_bad_bant_answer_is_reported_by_validation(company):
    data = company.data.until("2023-06-30")
    bad = data.leads.copy()
    bad.loc[0, "budget"] = "maybe"
    from dataclasses import replace
    report = validate(replace(data, leads=bad), as_of="2023-06-30")
    hits = [f for f in report.errors if f.table == "leads" and f.column == "budget"]
    assert hits and hits[0].rule == "allowed"


def test_until_reopens_leads_closed_later(company):
    cut = pd.Timestamp("2025-06-30")
    past = company.data.until(cut)
    assert (past.leads["created_date"] <= cut).all()
    later = company.data.leads[(company.data.leads["created_date"] <= cut)
                               & (company.data.leads["closed_date"] > cut)]
    assert len(later) > 0
    got = past.leads.set_index("lead_id").loc[later["lead_id"]]
    assert (got["status"] == "open").all()
    assert got["converted_opportunity_id"].isna().all() and got["closed_date"].isna().all()


def test_salesdata_without_leads_reports_the_feature_off(company):
    from dataclasses import replace
    data = replace(company.data, leads=None)
    assert any("leads" in n for n in data.missing_features())
    assert isinstance(data, SalesData) and validate(data, as_of="2026-12-31").ok


# --------------------------------------------------------------------------- BANT rule
def test_bant_score_hand_example():
    leads = pd.DataFrame([_lead(1, b="yes", a="yes", n="yes", t="no"),
                          _lead(2, b="yes", a="unknown", n="unknown", t="unknown"),
                          _lead(3)])
    s = bant_score(leads, BANTParams(weights={"budget": 2, "authority": 1, "need": 1, "timing": 1},
                                     unknown_credit=0.5, qualify_at=3))
    # 2 + 1 + 1 = 4; 2 + 0.5 * (1 + 1 + 1) = 3.5; 0
    assert s["bant_score"].tolist() == [4.0, 3.5, 0.0]
    assert s["qualified"].tolist() == [True, True, False]
    assert s["n_yes"].tolist() == [3, 1, 0] and s["n_unknown"].tolist() == [0, 3, 0]


@pytest.mark.parametrize("kwargs, word", [
    ({"weights": {"budget": 1}}, "weights"),
    ({"weights": {"budget": -1, "authority": 1, "need": 1, "timing": 1}}, "weights['budget']"),
    ({"unknown_credit": 1.5}, "unknown_credit"),
    ({"conversion_floor": 0.0}, "conversion_floor"),
    ({"min_leads": 0}, "min_leads"),
])
def test_bant_params_validate(kwargs, word):
    with pytest.raises(ValueError, match=word.replace("[", r"\[").replace("]", r"\]")):
        BANTParams(**kwargs)


def test_conversion_rates_hand_example():
    rows = ([_lead(i, status="converted") for i in range(3)]
            + [_lead(10 + i) for i in range(7)]
            + [_lead(20, status="open")]
            + [_lead(30 + i, source="referral", status="converted") for i in range(6)]
            + [_lead(40 + i, source="referral") for i in range(4)])
    r = conversion_rates(pd.DataFrame(rows), "source", BANTParams(min_leads=5)).set_index("source")
    assert r.loc["web", "leads"] == 11 and r.loc["web", "resolved"] == 10
    assert r.loc["web", "rate"] == pytest.approx(0.3)
    assert r.loc["referral", "rate"] == pytest.approx(0.6)
    # 3/10 = 30% is not under the 30% floor; Wilson interval of 3/10 (hand: 0.1078, 0.6032)
    assert not r.loc["web", "below_floor"]
    assert r.loc["web", "rate_lo"] == pytest.approx(0.1078, abs=1e-4)
    assert r.loc["web", "rate_hi"] == pytest.approx(0.6032, abs=1e-4)


def test_conversion_rates_qualified_share_by_rep_hand_example():
    # R1: 4 resolved, of which 2 pass BANT (3 yes = 3 points >= 3) -> 0.5; its open qualified
    # lead does not count.  R2: 2 resolved, 1 passes (2 yes + 2 unknown = 3 points) -> 0.5.
    # A lead without a rep is its own group "(unassigned)": 1 resolved, 0 pass -> 0.
    rows = [_lead(1, b="yes", a="yes", n="yes", status="converted"), _lead(2, b="yes", a="yes", n="yes"),
            _lead(3), _lead(4, b="yes", status="converted"), _lead(5, b="yes", a="yes", n="yes", status="open"),
            _lead(6, rep="R2", b="yes", a="yes", n="unknown", t="unknown", status="converted"),
            _lead(7, rep="R2", b="yes", a="yes"), _lead(8, rep=None)]
    r = conversion_rates(pd.DataFrame(rows), "rep_id", BANTParams(min_leads=1)).set_index("rep_id")
    assert r.loc["R1", ["leads", "resolved", "converted"]].tolist() == [5, 4, 2]
    assert r.loc["R1", "qualified_share"] == 0.5 and r.loc["R2", "qualified_share"] == 0.5
    assert r.loc["(unassigned)", "qualified_share"] == 0.0 and r.loc["(unassigned)", "resolved"] == 1


# --------------------------------------------------------------------------- learned model
def test_bant_effects_recovered_within_their_standard_errors(company):
    model = LeadConversionModel().fit(company.data.leads)
    truth = company.truth.bant_log_odds.assign(term=lambda d: d["item"] + "=" + d["level"])
    est = model.effects_.set_index("term")
    z = np.abs([(est.loc[t, "log_odds"] - v) / est.loc[t, "se"]
                for t, v in zip(truth["term"], truth["log_odds"])])
    assert len(z) == 8
    assert (z <= 2.0).all(), z            # every BANT effect within 2 s.e. of the generator's
    assert (z <= 1.0).sum() >= 4, z       # and most within 1 s.e. (68% expected)
    src = company.truth.lead_source_log_odds
    ref = model.sources_[0]
    zs = np.abs([(est.loc[f"source={s}", "log_odds"] - (src[s] - src[ref])) / est.loc[f"source={s}", "se"]
                 for s in model.sources_[1:]])
    assert (zs <= 3.0).all(), zs          # source effects (nuisance terms): within 3 s.e.
    # standard errors of the right size: binomial information of ~9,300 leads
    assert (est["se"] > 0.03).all() and (est["se"] < 0.12).all()


def test_conversion_model_is_calibrated_on_the_truth(company):
    model = LeadConversionModel().fit(company.data.leads)
    p = model.predict_proba(company.data.leads)[:, 1]
    true_p = company.truth.leads.set_index("lead_id").loc[company.data.leads["lead_id"],
                                                          "conversion_probability"].to_numpy()
    # the learned probability tracks the true one (same ranking, small error)
    assert np.corrcoef(p, true_p)[0, 1] > 0.98
    assert np.abs(p - true_p).mean() < 0.03


def test_conversion_model_errors_name_the_table():
    leads = pd.DataFrame([_lead(1), _lead(2)])
    with pytest.raises(ValueError, match="table 'leads'"):
        LeadConversionModel().fit(leads)
    bad = leads.drop(columns="need")
    with pytest.raises(ValueError, match="lacks column"):
        LeadConversionModel().fit(bad)


def test_leads_to_work_first_ranks_open_leads_by_expected_value(company):
    model = LeadConversionModel().fit(company.data.leads)
    top = leads_to_work_first(company.data.leads, model, 1000.0, top=None)
    assert len(top) == (company.data.leads["status"] == "open").sum()
    assert top["expected_value"].is_monotonic_decreasing
    np.testing.assert_allclose(top["expected_value"], top["p_convert"] * 1000.0)
