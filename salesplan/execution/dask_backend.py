"""Run the heavy loops of the plan on an existing Dask cluster.

Two workloads grow with the size of the company and split cleanly into independent
pieces, so they can leave the machine:

* **forecasting many series** -- :class:`salesplan.models.forecast.Forecaster` with
  ``engine="dask"`` sends its per-series backtests and fits to the cluster through
  :func:`run_tasks` (same functions, same inputs, so the same numbers as a local run);
* **customer scoring** -- a model fitted locally (churn classifier, BG/NBD or
  Pareto/NBD, credit scorecard) is broadcast to the workers and applied to partitions of
  the customers (:func:`map_customer_partitions`, called by
  :func:`salesplan.models.churn.score_churn`, :func:`salesplan.models.credit.score_credit`
  and friends through :class:`salesplan.execution.DaskBackend`).  Every per-customer feature depends only on that customer's
  rows, so a partition by ``customer_id`` gives exactly the local result; the one
  population-level step (the BG/NBD feature model of :func:`salesplan.models.churn.churn_features`)
  is fitted locally on all customers and applied on the workers.

The scheduler address is an argument or the environment variable
``SALESPLAN_DASK_SCHEDULER`` (e.g. ``tcp://10.0.0.5:8786``).  Workers must have the
same ``salesplan`` (and library) versions installed as the client.  Nothing here
starts a cluster: that is the job of the cluster's operator (``dask scheduler`` /
``dask worker``, dask-kubernetes, ...), or of ``distributed.LocalCluster`` in tests.

Public API
----------
scheduler_address(scheduler)                     address from the argument or the env var
connect(scheduler, timeout)                       context manager yielding a Client
run_tasks(tasks, fn, scheduler, desc)             ``[fn(*t) for t in tasks]`` on the cluster
partition_data(data, npartitions)                 SalesData bundles split by customer
map_partitions(func, frame, ...)                  func over row chunks of a DataFrame
map_customer_partitions(func, data, ...)          func over customer partitions of SalesData
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pandas as pd

__all__ = [
    "ENV_SCHEDULER",
    "ENV_TIMEOUT",
    "DaskSchedulerError",
    "connect",
    "customer_partition",
    "map_customer_partitions",
    "map_partitions",
    "partition_data",
    "run_tasks",
    "scheduler_address",
]

#: Environment variable holding the scheduler address when none is passed.
ENV_SCHEDULER = "SALESPLAN_DASK_SCHEDULER"

#: Environment variable with the connect timeout in seconds (default 10).
ENV_TIMEOUT = "SALESPLAN_DASK_TIMEOUT"

#: Tables of the contract that carry a ``customer_id`` and are split by it.
_CUSTOMER_TABLES = ("orders", "customers", "invoices", "activities")


class DaskSchedulerError(ConnectionError):
    """The Dask scheduler is not configured or cannot be reached (message names it)."""


# ----------------------------------------------------------------------- connection
def scheduler_address(scheduler=None) -> str:
    """The scheduler address to use: ``scheduler`` if given, else ``$SALESPLAN_DASK_SCHEDULER``.

    Parameters
    ----------
    scheduler : str, optional
        ``"tcp://host:8786"``, ``"host:8786"`` or any address ``distributed.Client``
        accepts.

    Raises
    ------
    DaskSchedulerError
        When neither is set.
    """
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler={scheduler!r}: expected an address string or a "
                        "distributed.Client")
    addr = scheduler or os.environ.get(ENV_SCHEDULER, "").strip()
    if not addr:
        raise DaskSchedulerError(
            f"engine='dask' needs a Dask scheduler address: pass scheduler='tcp://host:8786' "
            f"or set the environment variable {ENV_SCHEDULER}"
        )
    return addr


def _is_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency of this module
        return False
    return isinstance(obj, Client)


@contextmanager
def connect(scheduler=None, timeout: float | None = None) -> Iterator:
    """Connect to the Dask scheduler; yields a ``distributed.Client``, closed on exit.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        Address (see :func:`scheduler_address`) or an already connected client, which is
        yielded as is and left open.
    timeout : float, optional
        Seconds to wait for the scheduler before giving up (default
        ``$SALESPLAN_DASK_TIMEOUT`` or 10).

    Raises
    ------
    DaskSchedulerError
        No address configured, or the scheduler did not answer within ``timeout``
        seconds; the message names the address and where it came from.
    """
    if _is_client(scheduler):
        yield scheduler
        return
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover
        raise ImportError("engine='dask' needs the 'distributed' package "
                          "(pip install 'dask[distributed]')") from e
    addr = scheduler_address(scheduler)
    if timeout is None:
        timeout = float(os.environ.get(ENV_TIMEOUT, "") or 10.0)
    origin = "the scheduler argument" if scheduler else f"${ENV_SCHEDULER}"
    try:
        client = Client(addr, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise DaskSchedulerError(
            f"cannot reach the Dask scheduler at {addr!r} (from {origin}) within "
            f"{timeout:g} s: {type(e).__name__}: {e}. Check that the scheduler is running "
            f"and reachable from this machine, or use engine='local'"
        ) from None
    try:
        yield client
    finally:
        client.close()


def _n_threads(client) -> int:
    return max(1, int(sum(client.nthreads().values())))


def _chunk(fn, tasks):
    return [fn(*t) for t in tasks]


def run_tasks(tasks: Sequence[tuple], fn: Callable, scheduler=None, *, progress: bool = False,
              desc: str = "", chunks_per_thread: int = 4, timeout: float | None = None) -> list:
    """``[fn(*t) for t in tasks]`` computed on the Dask cluster, in task order.

    Tasks are dealt round-robin into ``chunks_per_thread * (worker threads)`` chunks (one
    Dask task each, so scheduling overhead stays small for thousands of series) and the
    results are put back in the order of ``tasks``.  ``fn`` and the task arguments must
    be picklable (module-level functions, numpy arrays, ...).  The first exception of a
    task is re-raised here.

    Parameters
    ----------
    tasks : sequence of tuples
        Positional arguments of each call.
    fn : callable
    scheduler : str or distributed.Client, optional
        See :func:`connect`.
    progress : bool
        Show a tqdm bar of finished chunks.
    desc : str
        Label of the progress bar.
    """
    tasks = list(tasks)
    if not tasks:
        return []
    from tqdm import tqdm  # tqdm.auto warns in Jupyter without ipywidgets

    with connect(scheduler, timeout=timeout) as client:
        n_chunks = min(len(tasks), _n_threads(client) * int(chunks_per_thread))
        chunks = [tasks[i::n_chunks] for i in range(n_chunks)]
        futures = client.map(_chunk, [fn] * n_chunks, chunks, pure=False)
        try:
            if progress:
                results = [f.result() for f in tqdm(futures, desc=desc)]
            else:
                results = client.gather(futures)
        finally:
            client.cancel(futures)
    out: list = [None] * len(tasks)
    for ci, r in enumerate(results):
        for k, v in enumerate(r):
            out[ci + k * n_chunks] = v
    return out


# ----------------------------------------------------------------------- partitions
def customer_partition(customer_id: pd.Series | np.ndarray, npartitions: int) -> np.ndarray:
    """Partition number in ``[0, npartitions)`` of every ``customer_id``.

    A fixed hash of the id text (:func:`pandas.util.hash_array`, the same in every
    process and run), so a customer's rows in every table land in the same partition.
    Null ids get partition 0.
    """
    ids = pd.Series(np.asarray(customer_id, dtype=object))
    ids = ids.where(ids.notna(), "").astype(str).to_numpy(dtype=object)
    h = pd.util.hash_array(ids, categorize=True)
    return (h % np.uint64(max(1, int(npartitions)))).astype(np.int64)


def partition_data(data, npartitions: int) -> list:
    """Split a :class:`~salesplan.data.SalesData` bundle into ``npartitions`` bundles.

    ``orders``, ``customers``, ``invoices`` and ``activities`` are split by
    :func:`customer_partition` of ``customer_id``; the other tables (reps, regions,
    opportunities, ...) are shared unchanged.  Rows without a customer go to partition
    0.  Partitions with no rows at all (fewer customers than partitions) are dropped.
    """
    n = max(1, int(npartitions))
    split: dict[str, list] = {}
    for name in _CUSTOMER_TABLES:
        frame = getattr(data, name, None)
        if frame is None or "customer_id" not in frame.columns:
            continue
        part = customer_partition(frame["customer_id"], n)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(n + 1))
        split[name] = [frame.iloc[order[bounds[k]:bounds[k + 1]]] for k in range(n)]
    out = []
    for k in range(n):
        pieces = {name: parts[k] for name, parts in split.items()}
        if all(len(p) == 0 for p in pieces.values()):
            continue
        out.append(replace(data, **pieces))
    return out


def _default_partitions(client, n_rows: int, min_rows: int) -> int:
    return int(max(1, min(_n_threads(client) * 2, n_rows // max(min_rows, 1))))


def _concat(results):
    results = [r for r in results if r is not None]
    if not results:
        return pd.DataFrame()
    return pd.concat(results)


def map_partitions(func: Callable, frame: pd.DataFrame, *args, scheduler=None,
                   npartitions: int | None = None, broadcast: Sequence = (),
                   timeout: float | None = None, **kwargs):
    """``pd.concat([func(chunk, *broadcast, *args, **kwargs) for chunk in row chunks])`` on Dask.

    ``frame`` is cut into ``npartitions`` contiguous row chunks (default two per worker
    thread, at least 1,000 rows each); each chunk goes to a worker, the objects in
    ``broadcast`` (e.g. a fitted model) are sent to every worker once.  Results are
    concatenated in chunk order, i.e. in the order of ``frame``.
    """
    with connect(scheduler, timeout=timeout) as client:
        n = npartitions or _default_partitions(client, len(frame), 1000)
        bounds = np.linspace(0, len(frame), n + 1).astype(int)
        chunks = [frame.iloc[bounds[k]:bounds[k + 1]] for k in range(n) if bounds[k + 1] > bounds[k]]
        results = _submit_all(client, func, chunks, broadcast, args, kwargs)
    return _concat(results)


def _submit_all(client, func: Callable, pieces, broadcast: Sequence, args, kwargs) -> list:
    """``func(piece, *broadcast, *args, **kwargs)`` per piece on ``client``, in order; the
    ``broadcast`` objects go to every worker once; futures are cancelled on any error."""
    shared = [client.scatter(b, broadcast=True, hash=False) for b in broadcast]
    futures = [client.submit(func, p, *shared, *args, pure=False, **kwargs) for p in pieces]
    try:
        return client.gather(futures)
    finally:
        client.cancel(futures + shared)


def map_customer_partitions(func: Callable, data, *args, scheduler=None,
                            npartitions: int | None = None, broadcast: Sequence = (),
                            timeout: float | None = None, sort_index: bool = True, **kwargs):
    """``func(part, *broadcast, *args, **kwargs)`` for customer partitions of ``data``, on Dask.

    ``data`` is split with :func:`partition_data` (default two partitions per worker
    thread, at least ~300 customers each) and each partition bundle is computed on a
    worker.  The results (frames indexed by ``customer_id``) are concatenated and, with
    ``sort_index``, sorted by index like the local functions return them.
    """
    with connect(scheduler, timeout=timeout) as client:
        n_cust = (data.customers["customer_id"].nunique() if getattr(data, "customers", None)
                  is not None else data.orders["customer_id"].nunique())
        n = npartitions or _default_partitions(client, n_cust, 300)
        results = _submit_all(client, func, partition_data(data, n), broadcast, args, kwargs)
    out = _concat(results)
    return out.sort_index(kind="stable") if sort_index and len(out) else out
