"""Shared test fixtures and the notebook-check setup.

Notebook checks (docs/ARCHITECTURE.md, "Notebook checks"):

- every test session (each xdist worker) gets a fresh plan store and model cache in a
  temporary folder, passed to the notebooks' kernels by ``SALESPLAN_PLAN_STORE`` /
  ``SALESPLAN_CACHE_DIR``: a ``reports/`` or ``.cache/`` left in the working tree by
  ``make plan`` is never read;
- the five notebooks run on one xdist worker, in file order (01 -> 05), like
  ``salesplan run``: 04 reads what 02 wrote, as in a real plan; the plan-table snapshot
  test (``tests/test_plan_snapshots.py``) runs after them on the same worker;
- nbval compares outputs with ``tests/nbcompare.py`` (last-digit rounding flips of
  numbers printed to 6+ significant digits pass; anything else fails).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from machine import skip_unless_ci
from nbcompare import texts_match

PG_ENV = "SALESPLAN_TEST_PG_URL"
NOTEBOOK_GROUP = "plan-notebooks"
#: test files that read the notebooks' plan store: they run after the notebooks, on their worker
SNAPSHOT_TESTS = ("test_plan_snapshots.py", "test_summary.py")
#: the longest test files, longest first (``--durations`` of a CI run, session 12): handed out
#: right after the notebooks so that the two workers end together (longest first; the other
#: files follow in collection order).  test_minimal_companies.py is last: since session 13 it
#: runs one notebook and reads the orders-only run that test_minimal_companies_run.py makes
#: first (``orders_only_run``), so that run is ready when its worker asks.
LONG_FILES = ("test_distributed.py", "test_minimal_companies_run.py", "test_minimal_companies_plan.py",
              "test_zh_end_to_end.py", "test_review.py", "test_report_layout.py", "test_workbook.py",
              "test_runner.py", "test_credit.py",
              "test_data_check_by_columns.py", "test_weekly_review_notebook.py", "test_kernel_reuse.py",
              "test_targets.py", "test_minimal_companies_review.py", "test_forecast.py",
              "test_minimal_companies.py")
_SESSION_DIR: Path | None = None


class TolerantText(str):
    """A sanitized notebook output whose ``==`` is :func:`nbcompare.texts_match`."""

    def __eq__(self, other):
        return texts_match(str(self), str(other)) if isinstance(other, str) else NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = str.__hash__


def _install_tolerant_nbval() -> None:
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no notebook tests
        return
    if getattr(IPyNbCell.sanitize, "salesplan_tolerant", False):
        return
    original = IPyNbCell.sanitize

    def sanitize(self, s):
        out = original(self, s)
        return TolerantText(out) if isinstance(out, str) else out

    sanitize.salesplan_tolerant = True
    IPyNbCell.sanitize = sanitize


def pytest_configure(config):
    global _SESSION_DIR
    _SESSION_DIR = Path(tempfile.mkdtemp(prefix="salesplan-tests-"))
    os.environ["SALESPLAN_PLAN_STORE"] = f"duckdb:///{_SESSION_DIR / 'plan_store.duckdb'}"
    os.environ["SALESPLAN_CACHE_DIR"] = str(_SESSION_DIR / "cache")
    os.environ.setdefault("MPLBACKEND", "Agg")
    _install_tolerant_nbval()


def pytest_unconfigure(config):
    if _SESSION_DIR is not None:
        shutil.rmtree(_SESSION_DIR, ignore_errors=True)


def _is_notebook_item(item) -> bool:
    return item.path.suffix == ".ipynb"


def pytest_xdist_make_scheduler(config, log):
    """Like ``--dist loadfile`` (a test file runs on one worker), except that the
    notebooks and the tests reading their store (``SNAPSHOT_TESTS``) share one worker, and the
    files are handed out in the order of :func:`pytest_collection_modifyitems` (xdist's own
    order, most tests first, would leave the long files with few tests to the end)."""
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False

    class PlanScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return NOTEBOOK_GROUP if path.endswith(".ipynb") or path.endswith(SNAPSHOT_TESTS) else path

    return PlanScheduling(config, log)


def _file_rank(item) -> int:
    """Position of the item's file in :data:`LONG_FILES` (the other files after them)."""
    name = item.path.name
    return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(session, config, items):
    """Run the notebooks in file order (01 -> 05), then the tests that read their store;
    this group goes first (one of the longest: the other worker takes the other files), then
    :data:`LONG_FILES`, longest first, then the other files in collection order."""
    notebooks = [i for i in items if _is_notebook_item(i)]
    after = [i for i in items if i.path.name in SNAPSHOT_TESTS]
    rest = [i for i in items if not _is_notebook_item(i) and i not in after]
    items[:] = sorted(notebooks, key=lambda i: str(i.path)) + after + sorted(rest, key=_file_rank)
    config.stash[_NOTEBOOKS_COLLECTED] = bool(notebooks)


_NOTEBOOKS_COLLECTED = pytest.StashKey[bool]()


@pytest.fixture
def notebooks_ran(request) -> str:
    """The session's plan store URL after the notebooks ran in this session; skips when
    the notebooks were not collected (e.g. ``pytest tests/test_x.py``)."""
    if not request.config.stash.get(_NOTEBOOKS_COLLECTED, False):
        pytest.skip("the notebooks are not part of this test session (run `pytest` or `make test`)")
    return os.environ["SALESPLAN_PLAN_STORE"]


@pytest.fixture(scope="session")
def orders_only_run(tmp_path_factory):
    """The orders-only company's whole ``salesplan run`` (``tests/test_minimal_companies_run.py``),
    made once per test session and read by every file that checks it (also
    ``tests/test_minimal_companies.py``).

    Under xdist the first worker that asks makes it in the session's shared temporary folder
    (the parent of the workers' own) while holding a file lock; another worker asking meanwhile
    waits for it and reads the same run (saved as ``run.json``).  Never in the working tree.
    """
    from test_minimal_companies_run import Run, demo_company, run_company

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-N/, shared by this session's workers (pytest-N/popen-gwK/ is one's)
    folder, saved = root / "orders_only_run", root / "orders_only_run.json"
    with open(root / "orders_only_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not saved.exists():
            run_company("orders_only", demo_company(), folder).save(saved)
        return Run.load(saved)


@pytest.fixture
def pg_url() -> str:
    """URL of the test PostgreSQL server (password in PGPASSWORD); skip when none is set.

    CI (`.ci/run`) starts a throwaway server and sets it (a missing one fails there); on a
    laptop these tests skip.
    """
    url = os.environ.get(PG_ENV)
    if not url:
        skip_unless_ci(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    return url

