"""The planning notebooks' inputs from the plan store: the forecast paths and the targets.

One definition of how the targets notebook (04) gets the forecast of a quarter and how the
resource notebook (05) gets the targets it allocates, both keyed by the parameters that
matter (:func:`salesplan.reports.upstream` with ``match``):

* the **forecast** of a quarter is the forecast notebook's run with the same input data,
  ``seed`` and ``history_end``; when absent (a back-test quarter, or 04 run alone) it is
  computed here with the forecast notebook's defaults (``hierarchy_forecast`` company ->
  region -> rep, the company alone without a ``customers`` table, 1,000 paths) and saved;
* the **targets** are the targets notebook's run with the same input data and
  ``history_end``; when absent 05 stops with one line (no silent defaults);
* the **scored pipeline** of each snapshot date (a win model trained per date, the
  "scored" pipeline weights of 04) is kept in the model cache folder
  (:func:`plan_memo`), so a re-run of 04 on the same data scores nothing again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import MutableMapping
from pathlib import Path

import pandas as pd

from salesplan.data import PlanStore
from salesplan.planning.context import PlanContext
from salesplan.planning.features import PLAN_BASIS_MEMO
from salesplan.planning.targets import QuarterDistribution, quarter_paths_from_forecast
from salesplan.reports.results import upstream

__all__ = ["MissingTargets", "forecast_distribution", "forecast_levels", "plan_memo", "plan_targets",
           "save_forecast_distribution", "FORECAST_LEVELS", "DiskMemo"]

#: hierarchy of the forecast notebook: company, regions, reps
FORECAST_LEVELS = [(), ("region",), ("region", "rep_id")]
#: sample paths of the forecast notebook
N_PATHS = 1000


def forecast_levels(data) -> list[tuple[str, ...]]:
    """The forecast notebook's hierarchy for ``data``: :data:`FORECAST_LEVELS` when the data
    carry the customers' regions (a ``customers`` table), else the company alone (an
    orders-only company: no region, so no rep series under it)."""
    return list(FORECAST_LEVELS) if data.customers is not None else [()]


class MissingTargets(RuntimeError):
    """No targets run in the plan store for this data and quarter."""


def forecast_distribution(ctx: PlanContext, plan_store: str, *, source: str, seed: int,
                          cache_dir: str | None = None, lines=None) -> tuple[QuarterDistribution, str]:
    """The sample paths of ``ctx.quarter``: the stored forecast run, else computed and saved.

    A stored ``forecast`` run qualifies when it has the same input fingerprint, ``seed``
    and ``history_end`` (``YYYY-MM-DD``).  Returns the distribution and the run id.
    ``lines``: the order lines of ``ctx.data`` coded already
    (:func:`salesplan.models.forecast.order_lines`, dated, with the keys of
    :func:`forecast_levels`), which the forecast is then made from (the same numbers; the
    context's own order lines are not read, so they may be gone).
    """
    run = _forecast_run(ctx, plan_store, source=source, seed=seed, cache_dir=cache_dir, lines=lines)
    return QuarterDistribution(run.tables["paths"]), run.run_id


def save_forecast_distribution(ctx: PlanContext, plan_store: str, *, source: str, seed: int,
                               cache_dir: str | None = None, lines=None) -> str:
    """:func:`forecast_distribution` for a later notebook: the run is stored (computed and
    saved when no run qualifies) and its id returned; its paths are not read back.

    The forecast notebook saves the monitoring quarter's forecast this way for the targets
    notebook (at 6,700 reps the paths are 20M rows: reading them back held ~0.6 GB more).
    """
    return _forecast_run(ctx, plan_store, source=source, seed=seed, cache_dir=cache_dir, lines=lines, read=False)


def _forecast_run(ctx: PlanContext, plan_store: str, *, source: str, seed: int, cache_dir, lines,
                  read: bool = True):
    """The ``forecast`` run of ``ctx.quarter`` (:func:`salesplan.reports.results.upstream`)."""
    def compute():
        from salesplan.models.forecast import hierarchy_forecast  # only when absent (scipy.stats)

        # the loaded lines cut at the history's end inside the forecast (``until``): the
        # history's own lines, without the copy of them a back-test quarter's history is
        hf = hierarchy_forecast(ctx.data if lines is None else lines, levels=forecast_levels(ctx.data),
                                h=ctx.horizon_months,
                                n_paths=N_PATHS, seed=seed, cache_dir=cache_dir, until=ctx.history_end)
        dist = quarter_paths_from_forecast(hf, ctx.period)
        del hf  # its paths and fitted series are let go before the long frame is made
        return {"paths": dist.to_frame()}

    return upstream(plan_store, "forecast", ctx.period, input_fingerprint=ctx.input_fingerprint, compute=compute,
                    parameters=dict(period=ctx.period, source=source, method="combo", reconcile_method="auto",
                                    n_paths=N_PATHS, seed=seed, history_end=f"{ctx.history_end:%Y-%m-%d}"),
                    match=("seed", "history_end"), read=read)


def plan_targets(ctx: PlanContext, plan_store: str):
    """The targets notebook's latest run for ``ctx`` and the forecast it was built on.

    Returns
    -------
    (targets run, QuarterDistribution)
        The run (``.tables``, ``.run_id``, ``.meta``) and the forecast paths recorded with it
        (``forecast_run`` parameter).

    Raises
    ------
    MissingTargets
        One line when the store has no targets run for this data, quarter and history:
        run 04_quarterly_targets first.
    """
    try:
        run = upstream(plan_store, "targets", ctx.period, input_fingerprint=ctx.input_fingerprint,
                       parameters={"history_end": f"{ctx.history_end:%Y-%m-%d}"}, match=("history_end",))
    except KeyError:
        raise MissingTargets(
            f"no targets for {ctx.period} on this data in the plan store: run 04_quarterly_targets first "
            f"(salesplan run -n 04 --period {ctx.period})") from None
    forecast_run = run.meta.get("parameters", {}).get("forecast_run")
    if not forecast_run:
        raise MissingTargets(f"the targets run {run.run_id} does not name its forecast: run 04_quarterly_targets "
                             "again first")
    from salesplan.reports import resolve_url

    store = PlanStore(resolve_url(plan_store))
    try:
        paths = store.read_run(forecast_run).tables["paths"]
    finally:
        store.dispose()
    return run, QuarterDistribution(paths)


#: the source files whose code decides a scored pipeline: a change to any of them starts a new cache
_MEMO_CODE = ("planning/pipeline.py", "planning/funnel.py", "planning/targets.py", "data/schema.py")


def _memo_code_fingerprint() -> str:
    """SHA-256 (16 hex digits) of :data:`_MEMO_CODE` and the numpy, pandas and
    scikit-learn versions (scikit-learn's from its package metadata: importing it costs ~1 s
    in a notebook that then only reads the memo)."""
    from importlib.metadata import version

    import numpy

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(f"{numpy.__version__} {pd.__version__} {version('scikit-learn')}".encode())
    for rel in _MEMO_CODE:
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return h.hexdigest()[:16]


class DiskMemo(MutableMapping):
    """A :attr:`PlanContext.memo <salesplan.planning.context.PlanContext.memo>` kept on disk.

    Keys are tuples ``(kind, date, date, ...)`` (e.g. ``("scored_pipeline", at,
    horizon_end)``); each value is one pickle file ``<kind>-<YYYYMMDD>-...pkl`` in
    ``folder`` (created on the first write, written atomically).  Values are read back
    exactly (pickle), so a plan made from the disk memo has the same numbers.  The keys of
    :attr:`IN_PROCESS` (the plan basis :func:`~salesplan.planning.features.quarter_plan`
    leaves for the scenarios: ~0.4 GB at 6,700 reps, of no use to another run) are kept
    in this process only.
    """

    IN_PROCESS = frozenset({PLAN_BASIS_MEMO})

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._mem: dict = {}

    def _path(self, key) -> Path:
        parts = [str(key[0])] + [f"{pd.Timestamp(k):%Y%m%d}" for k in key[1:]]
        return self.folder / ("-".join(parts) + ".pkl")

    def __getitem__(self, key):
        if key not in self._mem:
            if key in self.IN_PROCESS:
                raise KeyError(key)
            path = self._path(key)
            if not path.exists():
                raise KeyError(key)
            with open(path, "rb") as fh:
                self._mem[key] = pickle.load(fh)
        return self._mem[key]

    def __setitem__(self, key, value) -> None:
        self._mem[key] = value
        if key in self.IN_PROCESS:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def __delitem__(self, key) -> None:
        self._mem.pop(key, None)
        if key not in self.IN_PROCESS:
            self._path(key).unlink(missing_ok=True)

    def __contains__(self, key) -> bool:
        return key in self._mem or (key not in self.IN_PROCESS and self._path(key).exists())

    def __iter__(self):
        return iter(list(self._mem))

    def __len__(self) -> int:
        return len(self._mem)


def plan_memo(ctx: PlanContext, cache_dir: str | None) -> PlanContext:
    """``ctx`` with a :class:`DiskMemo` in ``<cache_dir>/plan_memo/<fingerprint>-<code>``.

    The folder is keyed by the input fingerprint and by the code that computes the memo's
    values (:data:`_MEMO_CODE`), so other data or changed code never read it.  Without a
    fingerprint or ``cache_dir`` the context is returned unchanged (in-memory memo).
    """
    from dataclasses import replace

    if not cache_dir or not ctx.input_fingerprint:
        return ctx
    folder = Path(cache_dir) / "plan_memo" / f"{ctx.input_fingerprint[:32]}-{_memo_code_fingerprint()}"
    return replace(ctx, memo=DiskMemo(folder))
