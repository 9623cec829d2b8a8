"""Run the heavy loops of the plan on an existing Dask cluster.

Two workloads grow with the size of the company and split cleanly into independent
pieces, so they can leave the machine:

* **forecasting many series** -- :class:`salesplan.forecast.Forecaster` with
  ``engine="dask"`` sends its per-series backtests and fits to the cluster through
  :func:`run_tasks` (same functions, same inputs, so the same numbers as a local run);
* **customer scoring** -- a model fitted locally (churn classifier, BG/NBD or
  Pareto/NBD, credit scorecard) is broadcast to the workers and applied to partitions of
  the customers (:func:`score_churn`, :func:`score_transaction_model`,
  :func:`score_credit`).  Every per-customer feature depends only on that customer's
  rows, so a partition by ``customer_id`` gives exactly the local result; the one
  population-level step (the BG/NBD feature model of :func:`salesplan.churn.churn_features`)
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
score_churn(classifier, data, as_of, ...)         p_churn (+ top drivers) per customer
score_transaction_model(model, data, as_of, ...)  p_alive, expected purchases per customer
score_credit(scorecard, data, as_of, ...)         PD, points, grade per customer
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date

__all__ = [
    "ENV_SCHEDULER",
    "ENV_TIMEOUT",
    "DaskSchedulerError",
    "churn_features_distributed",
    "connect",
    "customer_partition",
    "map_customer_partitions",
    "map_partitions",
    "partition_data",
    "run_tasks",
    "scheduler_address",
    "score_churn",
    "score_credit",
    "score_transaction_model",
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
        shared = [client.scatter(b, broadcast=True, hash=False) for b in broadcast]
        futures = [client.submit(func, c, *shared, *args, pure=False, **kwargs) for c in chunks]
        try:
            results = client.gather(futures)
        finally:
            client.cancel(futures + shared)
    return _concat(results)


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
        parts = partition_data(data, n)
        shared = [client.scatter(b, broadcast=True, hash=False) for b in broadcast]
        futures = [client.submit(func, p, *shared, *args, pure=False, **kwargs) for p in parts]
        try:
            results = client.gather(futures)
        finally:
            client.cancel(futures + shared)
    out = _concat(results)
    return out.sort_index(kind="stable") if sort_index and len(out) else out


# ----------------------------------------------------------------------- churn scoring
def _bgnbd_feature_model(data, as_of):
    """The population BG/NBD of :func:`salesplan.churn.churn_features`, fitted on everyone.

    Mirrors ``churn_features(bgnbd=True)``: ``BetaGeoModel(n_starts=1)`` on the weekly
    :func:`~salesplan.churn.rfm_summary` at ``as_of``; None when it cannot be fitted
    (the features are then NaN, as locally).
    """
    from salesplan import churn

    try:
        s = churn.rfm_summary(data.orders, as_of, freq="W")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return churn.BetaGeoModel(n_starts=1).fit(s)
    except (ValueError, FloatingPointError):
        return None


def _churn_features_part(part, model, as_of, horizon_days, bgnbd):
    from salesplan import churn

    f = churn.churn_features(part, as_of, bgnbd=False, horizon_days=horizon_days)
    if bgnbd:
        f["bgnbd_p_alive"] = np.nan
        f["bgnbd_expected"] = np.nan
        if model is not None:
            s = churn.rfm_summary(part.orders, as_of, freq="W").reindex(f.index)
            f["bgnbd_p_alive"] = model.conditional_probability_alive(s)
            f["bgnbd_expected"] = model.conditional_expected_purchases(horizon_days / 7.0, s)
    return f.astype(float)


def churn_features_distributed(data, as_of, bgnbd: bool = True, horizon_days: int = 90, *,
                               scheduler=None, npartitions: int | None = None,
                               timeout: float | None = None) -> pd.DataFrame:
    """:func:`salesplan.churn.churn_features` computed over customer partitions on Dask.

    The per-customer features are computed on the workers; the BG/NBD feature model
    is fitted once here on all customers (as ``churn_features`` does) and broadcast.
    Same frame as the local function (column order aside).
    """
    as_of = as_date(as_of)
    model = _bgnbd_feature_model(data, as_of) if bgnbd else None
    return map_customer_partitions(_churn_features_part, data, as_of, int(horizon_days), bgnbd,
                                   broadcast=[model], scheduler=scheduler,
                                   npartitions=npartitions, timeout=timeout)


def _score_churn_part(part, classifier, model, as_of, n_drivers):
    f = _churn_features_part(part, model, as_of, int(classifier.horizon_days),
                             classifier.bgnbd_features)
    f = f.reindex(columns=classifier.feature_names_)
    out = classifier.predict_proba(part, as_of, features=f).to_frame()
    if n_drivers > 0:
        out["top_drivers"] = classifier.top_drivers(f, n_drivers).to_numpy()
    return out


def score_churn(classifier, data, as_of=None, *, n_drivers: int = 3, scheduler=None,
                npartitions: int | None = None, timeout: float | None = None) -> pd.DataFrame:
    """Score a fitted :class:`~salesplan.churn.ChurnClassifier` over customer partitions.

    Equivalent to ``classifier.predict_proba(data, as_of)`` (and
    ``classifier.top_drivers(classifier.features(data, as_of), n_drivers)``), with the
    features, probabilities and drivers computed on the workers.

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``p_churn`` and, when ``n_drivers > 0``,
    ``top_drivers``.
    """
    classifier._check_fitted()
    as_of = as_date(classifier.as_of_ if as_of is None else as_of)
    model = _bgnbd_feature_model(data, as_of) if classifier.bgnbd_features else None
    return map_customer_partitions(_score_churn_part, data, as_of, int(n_drivers),
                                   broadcast=[classifier, model], scheduler=scheduler,
                                   npartitions=npartitions, timeout=timeout)


def _score_tm_part(part, model, as_of, horizon_weeks, freq):
    from salesplan import churn

    s = churn.rfm_summary(part.orders, as_of, freq=freq)
    return pd.DataFrame(
        {"p_alive": model.conditional_probability_alive(s),
         "expected_purchases": model.conditional_expected_purchases(horizon_weeks, s)},
        index=s.index,
    )


def score_transaction_model(model, data, as_of, horizon: float = 365.25 / 4 / 7, *,
                            freq: str = "W", scheduler=None, npartitions: int | None = None,
                            timeout: float | None = None) -> pd.DataFrame:
    """Apply a fitted BG/NBD or Pareto/NBD model to every customer, on Dask.

    The :func:`~salesplan.churn.rfm_summary` (per customer, so exact per partition) is
    built on the workers from the order lines on or before ``as_of``.

    Parameters
    ----------
    model : BetaGeoModel or ParetoNBDModel
        Fitted (locally) on the summary in the same time unit ``freq``.
    horizon : float
        ``t`` of the expected purchases in units of ``freq`` (default a quarter in weeks).

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``p_alive``, ``expected_purchases``.
    """
    model._check_fitted()
    return map_customer_partitions(_score_tm_part, data, as_date(as_of), float(horizon),
                                   freq, broadcast=[model], scheduler=scheduler,
                                   npartitions=npartitions, timeout=timeout)


# ----------------------------------------------------------------------- credit scoring
def _score_credit_frame(X, scorecard):
    return pd.DataFrame(
        {"pd": scorecard.predict_proba(X)[:, 1], "points": scorecard.points(X),
         "grade": scorecard.grade(X).astype(object).to_numpy()},
        index=X.index,
    )


def _score_credit_part(part, scorecard, as_of, params):
    from salesplan import credit

    X = credit.credit_features(part.invoices, part.orders, part.customers, as_of, params)
    return _score_credit_frame(X, scorecard)


def score_credit(scorecard, data=None, as_of=None, *, features: pd.DataFrame | None = None,
                 params=None, scheduler=None, npartitions: int | None = None,
                 timeout: float | None = None) -> pd.DataFrame:
    """Score a fitted :class:`~salesplan.credit.CreditScorecard` over customers on Dask.

    Either ``data`` + ``as_of`` (the :func:`~salesplan.credit.credit_features` are then
    built on the workers per customer partition; the bundle needs ``invoices``) or a
    ready ``features`` frame (scored in row chunks).

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``pd`` (calibrated PD), ``points``, ``grade``
    (text; the categorical order is that of ``scorecard.grades``).
    """
    scorecard._check_fitted()
    if features is not None:
        out = map_partitions(_score_credit_frame, features, broadcast=[scorecard],
                             scheduler=scheduler, npartitions=npartitions, timeout=timeout)
    else:
        from salesplan import credit

        if data is None or as_of is None or getattr(data, "invoices", None) is None:
            raise ValueError("score_credit: pass features=, or data= (with an invoices "
                             "table) and as_of=")
        params = credit.CreditFeatureParams() if params is None else params
        out = map_customer_partitions(_score_credit_part, data, as_date(as_of),
                                      params, broadcast=[scorecard], scheduler=scheduler,
                                      npartitions=npartitions, timeout=timeout)
    out["grade"] = pd.Categorical(out["grade"], categories=list(scorecard.grades), ordered=True)
    return out
