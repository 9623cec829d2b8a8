"""Execution backends: where the heavy per-series and per-customer loops run.

The bottom layer beside :mod:`salesplan.data`: it knows nothing of models or planning.
A model takes a backend object (or ``engine="local" | "dask"`` plus a ``scheduler``,
turned into one by :func:`backend_for`) and hands it module-level functions to run:

* ``backend.run_tasks(tasks, fn)``: ``[fn(*t) for t in tasks]``, in task order;
* ``backend.map_partitions(func, frame, *args, broadcast=())``: ``func`` over row chunks;
* ``backend.map_customer_partitions(func, data, *args, broadcast=())``: ``func`` over
  customer partitions of a :class:`~salesplan.data.SalesData` bundle.

:class:`LocalBackend` runs everything in this process (one partition, so the result is
the plain function's); :class:`DaskBackend` sends the work to an existing Dask cluster
(:mod:`salesplan.execution.dask_backend`, imported only when used, so ``dask`` is an
optional dependency).  Both give the same numbers to float tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = ["Backend", "DaskBackend", "LocalBackend", "backend_for"]


class Backend:
    """Interface of an execution backend (see the module docstring)."""

    name = "backend"

    def run_tasks(self, tasks: Sequence[tuple], fn: Callable, *, progress: bool = False,
                  desc: str = "") -> list:
        raise NotImplementedError

    def map_partitions(self, func: Callable, frame: pd.DataFrame, *args,
                       broadcast: Sequence = (), npartitions: int | None = None, **kwargs):
        raise NotImplementedError

    def map_customer_partitions(self, func: Callable, data, *args, broadcast: Sequence = (),
                                npartitions: int | None = None, sort_index: bool = True,
                                **kwargs):
        raise NotImplementedError


@dataclass(frozen=True)
class LocalBackend(Backend):
    """Run in this process: one partition holding everything.

    ``run_tasks`` is a plain loop (the forecaster's own ``n_jobs`` pool, when it has one,
    is used before a backend is asked).
    """

    name = "local"

    def run_tasks(self, tasks, fn, *, progress=False, desc=""):
        if progress:
            from tqdm import tqdm

            tasks = tqdm(list(tasks), desc=desc)
        return [fn(*t) for t in tasks]

    def map_partitions(self, func, frame, *args, broadcast=(), npartitions=None, **kwargs):
        return func(frame, *broadcast, *args, **kwargs)

    def map_customer_partitions(self, func, data, *args, broadcast=(), npartitions=None,
                                sort_index=True, **kwargs):
        out = func(data, *broadcast, *args, **kwargs)
        return out.sort_index(kind="stable") if sort_index and len(out) else out


@dataclass(frozen=True)
class DaskBackend(Backend):
    """Run on an existing Dask cluster.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        Scheduler address or a connected client; default ``$SALESPLAN_DASK_SCHEDULER``.
    timeout : float, optional
        Connect timeout in seconds; default ``$SALESPLAN_DASK_TIMEOUT`` or 10.
    """

    scheduler: object = None
    timeout: float | None = None
    name = "dask"

    def run_tasks(self, tasks, fn, *, progress=False, desc=""):
        from salesplan.execution import dask_backend

        return dask_backend.run_tasks(tasks, fn, self.scheduler, progress=progress, desc=desc,
                                      timeout=self.timeout)

    def map_partitions(self, func, frame, *args, broadcast=(), npartitions=None, **kwargs):
        from salesplan.execution import dask_backend

        return dask_backend.map_partitions(func, frame, *args, scheduler=self.scheduler,
                                           npartitions=npartitions, broadcast=broadcast,
                                           timeout=self.timeout, **kwargs)

    def map_customer_partitions(self, func, data, *args, broadcast=(), npartitions=None,
                                sort_index=True, **kwargs):
        from salesplan.execution import dask_backend

        return dask_backend.map_customer_partitions(
            func, data, *args, scheduler=self.scheduler, npartitions=npartitions,
            broadcast=broadcast, timeout=self.timeout, sort_index=sort_index, **kwargs)


def backend_for(engine: str | Backend | None = "local", scheduler=None) -> Backend:
    """The backend object for ``engine`` ("local" or "dask"; a Backend passes through;
    None, the ``backend=None`` default of the scoring functions, is "local").

    Raises
    ------
    ValueError
        For any other ``engine``.
    """
    if isinstance(engine, Backend):
        return engine
    if engine is None or engine == "local":
        return LocalBackend()
    if engine == "dask":
        return DaskBackend(scheduler)
    raise ValueError(f"engine={engine!r}: expected 'local', 'dask' or a salesplan.execution.Backend")
