"""Every table the notebooks wrote to this session's plan store equals its committed
snapshot within a relative 1e-6 (runs after the notebooks; see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from salesplan.reports.snapshots import compare_tables, load_snapshots, store_tables

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "plan"


def test_plan_tables_written_by_the_notebooks_equal_the_snapshots(notebooks_ran):
    actual = store_tables(notebooks_ran)
    expected = load_snapshots(SNAPSHOTS)
    assert expected, f"no snapshots in {SNAPSHOTS}: run python -m salesplan.reports.refresh_notebooks"
    assert sorted(actual) == sorted(expected), "the notebooks wrote other tables than the snapshots hold"
    problems = [f"{key}: {p}" for key in sorted(expected)
                for p in compare_tables(actual[key], expected[key])]
    assert not problems, "\n".join(problems)
