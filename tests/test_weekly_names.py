"""Names beside ids in the weekly review (issue 17, item 2): root causes and the week's actions."""

from __future__ import annotations

import pandas as pd

from salesplan.planning.review import action_list
from salesplan.planning.weekly import named_deals
from salesplan.reports.reviews import root_cause_view


def test_root_causes_name_the_reps():
    rc = pd.DataFrame({"dimension": ["region", "rep", "rep"], "entity": ["North", "R1", "R9"],
                       "expected": 1.0, "actual": 0.5, "contribution": -0.5, "share_of_gap": 0.25,
                       "flag": "", "rank": [1, 1, 2]})
    got = root_cause_view(rc, names=pd.Series({"R1": "Ann Lee", "North": "not a rep"}))
    # the region keeps its label; R9 has no name and stays an id
    assert got["where"].tolist() == ["North", "R1 Ann Lee", "R9"]


def test_the_deals_to_push_name_the_rep_and_the_customer():
    late = pd.DataFrame({"opportunity_id": ["OP1", "OP2"], "rep_id": ["R1", "R2"], "customer_id": ["C1", "C2"],
                         "stage": ["A", "B"], "amount": [44_500.0, 30_000.0]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Acme Ltd", None]})
    named = named_deals(late, pd.Series({"R1": "Ann Lee"}), customers)
    assert named["rep_id"].tolist() == ["R1 Ann Lee", "R2"]
    assert named["customer_id"].tolist() == ["C1 Acme Ltd", "C2"]
    assert late["rep_id"].tolist() == ["R1", "R2"]  # the input is not modified
    summary = pd.DataFrame({"level": ["company"], "entity": ["total"], "region": [""], "expected_to_date": [1.0],
                            "actual_to_date": [1.0], "gap": [0.0], "deviation": [0.0], "flag": [""]})
    acts = action_list(summary, late_deals=named)
    assert acts.loc[0, "who"] == "rep R1 Ann Lee"
    assert acts.loc[0, "what"] == "push deal OP1 (C1 Acme Ltd) to close"
    assert acts.loc[0, "why"] == "open at stage A, 44,500"
    assert named_deals(None, None, None) is None
    assert named_deals(late, None, None)["rep_id"].tolist() == ["R1", "R2"]
