"""When the summary's browser may launch: every notebook started and at most one running
(the browser then never sits beside two kernels at their peaks; session 13, helper hmem's
measurement of the scale-10 run's peak)."""

import threading
from pathlib import Path
from types import SimpleNamespace

from salesplan.reports.runner import _Batch


def _batch(names, started, finished):
    return SimpleNamespace(paths=[Path(f"{n}.ipynb") for n in names], started_names=set(started),
                           finished_names=set(finished), browser_due=threading.Event())


def _due(names, started, finished) -> bool:
    b = _batch(names, started, finished)
    _Batch._browser_when_alone(b)
    return b.browser_due.is_set()


def test_not_before_the_last_notebook_starts():
    assert not _due(["01", "02", "03"], started=["01", "02"], finished=["01"])


def test_not_while_two_notebooks_run():
    assert not _due(["01", "02", "03"], started=["01", "02", "03"], finished=["01"])


def test_when_the_last_notebook_runs_alone():
    assert _due(["01", "02", "03"], started=["01", "02", "03"], finished=["01", "02"])


def test_a_one_notebook_run_launches_at_once():
    assert _due(["04"], started=["04"], finished=[])


def test_after_every_notebook_ended():
    assert _due(["01", "02"], started=["01", "02"], finished=["01", "02"])
