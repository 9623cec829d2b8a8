

def test_allocation_tables_leave_out_the_roster_parts_that_are_off():
    from salesplan.planning.allocation.quarter import allocation_tables

    mk = SimpleNamespace(tables=lambda: {"budget_split": pd.DataFrame({"region": ["A"], "spend": [1.0]})})
    out = allocation_tables(marketing=mk)
    assert list(out) == ["budget_split"]
    load = pd.DataFrame({"status": ["ok"]}, index=pd.Index(["R1"], name="rep_id"))
    out = allocation_tables(load=load, moves=pd.DataFrame({"customer_id": []}), marketing=mk)
    assert list(out) == ["coverage_load", "account_moves", "budget_split"]
    assert out["coverage_load"]["rep_id"].tolist() == ["R1"]
