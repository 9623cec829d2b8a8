"""The bundled demo company in data/demo: valid, and a rebuild gives identical content."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from salesplan.cli import DEMO_AS_OF, DEMO_FILE, DEMO_SEED
from salesplan.data import fingerprint, open_source, validate
from salesplan.demo.generator import generate

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / DEMO_FILE


def test_bundled_demo_is_small_and_valid():
    assert DEMO.stat().st_size < 20e6
    data = open_source(f"duckdb:///{DEMO}").load()
    report = validate(data, as_of=DEMO_AS_OF)
    assert report.ok, report.summary()
    assert {name for name, _ in data.tables()} == {
        "orders", "customers", "reps", "regions", "invoices", "opportunities",
        "stage_history", "activities", "marketing_spend", "leads",
    }


def test_rebuild_gives_identical_content():
    bundled = open_source(f"duckdb:///{DEMO}").load()
    rebuilt = generate(seed=DEMO_SEED, as_of=DEMO_AS_OF).data
    for name, frame in rebuilt.coerced().tables():
        pd.testing.assert_frame_equal(getattr(bundled, name), frame, obj=f"table {name}")
    assert fingerprint(bundled) == fingerprint(rebuilt)


def test_fingerprint_of_a_loaded_bundle_needs_no_second_coercion(tmp_path):
    """The notebooks' `fingerprint(data, coerce=False)` after `load()` is the full fingerprint,
    from DuckDB and from a CSV folder (whose raw text differs before coercion)."""
    bundled = open_source(f"duckdb:///{DEMO}").load()
    full = fingerprint(bundled)
    assert fingerprint(bundled, coerce=False) == full
    folder = tmp_path / "csv"
    folder.mkdir()
    small = bundled.until("2024-12-31")
    open_source(str(folder)).write(small, replace=True)
    loaded = open_source(str(folder)).load()
    assert fingerprint(loaded, coerce=False) == fingerprint(loaded) == fingerprint(small)
    assert fingerprint(open_source(str(folder)).load(coerce=False)) == fingerprint(small)


def test_bundled_quarter_in_progress_is_the_generators_future():
    """data/demo/salesplan_demo_actuals.duckdb (the weekly review's actuals to date) is the
    generator's quarter in progress: orders after the demo's as_of up to DEMO_ACTUALS_UNTIL."""
    from salesplan.cli import DEMO_ACTUALS_FILE, DEMO_ACTUALS_UNTIL

    bundled = open_source(f"duckdb:///{DEMO.parent / DEMO_ACTUALS_FILE}").load().orders
    rebuilt = generate(seed=DEMO_SEED, as_of=DEMO_AS_OF).quarter_in_progress(DEMO_ACTUALS_UNTIL)
    pd.testing.assert_frame_equal(bundled, rebuilt, check_dtype=False)
    assert bundled["order_date"].min() > pd.Timestamp(DEMO_AS_OF)
    assert bundled["order_date"].max() == pd.Timestamp(DEMO_ACTUALS_UNTIL)
