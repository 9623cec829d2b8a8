"""The ``salesplan`` console command ends at once after a written run, with everything it
wrote complete (issue 19: a one-notebook re-run paid ~0.4-1.2 s of interpreter teardown)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_runner import TABLE_CELL, make_notebook, needs_kernel  # noqa: E402

SALESPLAN = Path(sys.executable).with_name("salesplan")
needs_command = pytest.mark.skipif(not SALESPLAN.exists(), reason="the console script is not installed")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SALESPLAN), *args], capture_output=True, text=True, timeout=600)


@needs_kernel
@needs_command
def test_a_written_run_ends_with_its_output_printed_and_its_store_complete(tmp_path):
    from salesplan.data.store import PlanStore

    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    make_notebook(nbs / "01_first.ipynb", [TABLE_CELL], title="First step")
    done = _run("run", "--notebooks-dir", str(nbs), "--out", str(out), "--timeout", "120")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("latest:")  # the last line printed reached the pipe
    run_dir = (out / "latest").resolve()
    assert (run_dir / "01_first.html").is_file() and (run_dir / "salesplan_2027Q1.xlsx").is_file()
    # the plan store: nothing left in a write-ahead log, the run recorded as complete
    assert not list(out.glob("*.wal"))
    batches = PlanStore(f"duckdb:///{out / 'plan_store.duckdb'}").batches()
    assert batches.set_index("batch_id").loc[run_dir.name, "status"] == "complete"


@needs_kernel
@needs_command
def test_a_failed_run_and_other_commands_keep_their_exit_codes(tmp_path):
    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    make_notebook(nbs / "01_first.ipynb", ["raise ValueError('boom')"], title="First step")
    failed = _run("run", "--notebooks-dir", str(nbs), "--out", str(out), "--timeout", "120")
    assert failed.returncode == 1 and "error: 01_first" in failed.stderr
    assert _run("--help").returncode == 0
    assert _run("run", "--period", "2027Q9", "--out", str(out)).returncode != 0
