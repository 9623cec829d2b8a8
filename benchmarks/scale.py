"""Time and peak memory of every plan stage at growing company size (issue 8).

    python benchmarks/scale.py --scales 1 10            # all stages, local
    python benchmarks/scale.py --scales 1 10 --dask     # + forecast/scoring on a LocalCluster
    python benchmarks/scale.py --scales 1 --stages to_long_pandas to_long_duckdb
    python benchmarks/scale.py --scales 1 10 --repeat 3 --stages load_duckdb load_fingerprint \
        load_nb01 load_nb02 load_nb03 load_nb03b load_nb04 load_nb05 load_nb06 load_nb07
    python benchmarks/scale.py --scales 100 --stages plan --work W  # W/s100.duckdb from
                                          # `salesplan demo-data --scale 100` (generated if absent)
    python benchmarks/scale.py --scales 1 10 100 --stages plan --work W  # + per notebook

Method
------
* The demo company is generated once per scale (``salesplan.demo.generator.generate(seed=7,
  scale=s)``, stage ``generate``) and pickled to a work folder; the DuckDB file written
  by stage ``write_duckdb`` is the input of the other stages.
* **Every stage runs in its own fresh child process** (``python scale.py --child``), which
  loads its inputs (not timed), then times the stage with ``time.perf_counter``.
  Peak memory is the child's ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (high-water
  mark of the resident set, KiB on Linux) read after the stage: it includes the
  interpreter, imports and the stage's inputs, i.e. what a machine must hold to run the
  stage.  ``base`` is the same high-water mark just before the timed part, so
  ``peak - base`` is a lower bound of what the stage itself adds.  Dask workers are
  separate processes: their memory is reported by the scheduler (``worker_peak``:
  the largest worker's ``memory`` metric at the end of the stage), not in ``peak``.
* Stages ``load_nbXX``: what notebook XX's first cell does with the source (the tables
  of :data:`salesplan.data.needs.NOTEBOOK_TABLES`, coerced, and the input fingerprint of the
  whole source, one table at a time); ``load_fingerprint``: every table and the
  fingerprint of the bundle (what every notebook did before).  ``cpu_s`` is the child's
  CPU time of the stage (``time.process_time``), less sensitive to other jobs than wall time.
* Stage ``plan`` is the product end to end: ``salesplan run`` (the eight notebooks, two
  side by side, ``--plan-jobs``) on the scale's DuckDB file, cold (an empty forecast
  cache, a new plan store); its peak is the largest sampled sum of the resident memory of
  the command and its kernels (:func:`plan_stage`).  With it a second table gives, per
  notebook, its seconds (``run.json``) and the peak of its kernel (the kernel and its
  children, told apart by the ``SALESPLAN_NOTEBOOK`` variable the runner gives each
  kernel, or by the process name a reused kernel takes), the runner's own peak (report rendering, Chromium for the PDF), and their
  growth between consecutive scales.  For scale 100 put (or link) the file of
  ``salesplan demo-data --scale 100`` at ``W/s100.duckdb``.
* The Dask stages (``--dask``: ``forecast_dask``, ``churn_score_dask``, ``credit_score_dask``)
  also check the product's promise of the same numbers on either engine, untimed:
  ``same_as_local`` compares the Dask result with the local engine's (``forecast_local``'s
  saved predictions at that scale -- run it first --; the same scoring call on the child's
  own process for churn and credit): same rows and text, numbers within 1e-9 relative;
  ``max_rel_diff`` is the largest relative difference found.
* Stages that need a forecast distribution (targets) build it untimed in the child.
* ``--repeat n`` repeats each child n times and reports the median time and max peak.

Output: one table per run plus, for two or more scales, the ratio of time and peak
memory between consecutive scales next to the ratio of order lines (linear growth =
the same ratio).  ``--json`` writes the raw records.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

AS_OF = "2026-12-31"
CREDIT_AS_OF = "2025-12-31"
QUARTER = "2027Q1"

#: one loading stage per notebook: what its first cell reads (salesplan.data.needs) and
#: its input fingerprint of the whole source, as the notebook computes them
NOTEBOOKS = ["01_data_health", "02_forecast", "03_customer_risk", "03b_pipeline",
             "04_quarterly_targets", "05_resource_allocation", "06_weekly_review",
             "07_quarter_review"]
LOAD_STAGES = [f"load_nb{nb.split('_')[0]}" for nb in NOTEBOOKS]

STAGES = [
    "generate", "write_duckdb", "load_duckdb", "load_fingerprint", *LOAD_STAGES, "validate",
    "to_long_pandas", "to_long_duckdb",
    "forecast_local", "forecast_dask",
    "churn_features", "churn_fit", "churn_score", "churn_score_dask",
    "credit_features", "credit_fit", "credit_score", "credit_score_dask",
    "segments", "targets", "plan",
]
DASK_STAGES = {"forecast_dask", "churn_score_dask", "credit_score_dask"}


# ============================================================================ helpers
def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _paths(work: Path, scale: float):
    tag = f"s{scale:g}"
    return work / f"{tag}.pkl", work / f"{tag}.duckdb"


def _load(work, scale):
    from salesplan.data import open_source

    _, db = _paths(work, scale)
    return open_source(f"duckdb:///{db}").load()


def _long_duckdb(db: Path, keys=("region", "rep_id")):
    """Monthly long series of the order lines aggregated in DuckDB (same frame as to_long).

    One SQL statement: sum by keys and month, a grid of months per series from its
    first month to the last month of the data (``generate_series``), left join, 0 fill.
    """
    from salesplan.data import open_source

    src = open_source(f"duckdb:///{db}")
    sel = ", ".join(f"coalesce(CAST({k} AS VARCHAR), '(none)') AS {k}" for k in keys)
    kcols = ", ".join(keys)
    uid = " || '|' || ".join(f"'{k}=' || {k}" for k in keys)
    join = ("JOIN customers c USING (customer_id)" if "region" in keys else "")
    q = f"""
    WITH agg AS (
        SELECT {sel}, CAST(date_trunc('month', o.order_date) AS TIMESTAMP) AS ds,
               sum(o.amount) AS y
        FROM orders o {join}
        GROUP BY ALL
    ), bounds AS (
        SELECT {kcols}, min(ds) AS first_ds FROM agg GROUP BY ALL
    ), last AS (SELECT max(ds) AS last_ds FROM agg),
    grid AS (
        SELECT {kcols}, unnest(generate_series(first_ds, last_ds, INTERVAL 1 MONTH)) AS ds
        FROM bounds, last
    )
    SELECT {uid} AS unique_id, g.ds, coalesce(a.y, 0.0) AS y, {", ".join(f"g.{k}" for k in keys)}
    FROM grid g LEFT JOIN agg a USING ({kcols}, ds)
    ORDER BY unique_id, g.ds
    """
    out = src.sql(q)
    out["ds"] = out["ds"].astype("datetime64[ns]")
    return out


def _long_for_forecast(data):
    from salesplan.models.forecast import to_long

    return to_long(data, keys=("region", "rep_id"), end=f"{AS_OF[:7]}-01")


def _notebook_load(notebook: str, db: Path) -> dict:
    """What ``notebook``'s first cell does with the source: read its tables (01: raw, then
    coerced after validation), then the input fingerprint of the whole source."""
    from salesplan.data.needs import load_for

    t0 = time.perf_counter()
    if notebook == "01_data_health":
        raw, src = load_for(notebook, f"duckdb:///{db}", coerce=False)
        data = raw.coerced()
        del raw
    else:
        data, src = load_for(notebook, f"duckdb:///{db}")
    t1 = time.perf_counter()
    src.fingerprint(data)
    return {"rows": len(data.orders), "tables": sum(1 for _ in data.tables()),
            "load_s": round(t1 - t0, 3), "fingerprint_s": round(time.perf_counter() - t1, 3)}


# ============================================================================ stages
def run_stage(stage: str, scale: float, work: Path, opts: dict) -> dict:
    """Run one stage in this process; returns its record (time, peak, extras)."""
    warnings.simplefilter("ignore")
    rec: dict = {"stage": stage, "scale": scale}
    pkl, db = _paths(work, scale)
    timed = None  # callable doing the measured work, returns extras dict
    reference = None  # Dask scoring stages: the local result to compare with
    cluster = client = None

    if stage == "generate":
        from salesplan.demo.generator import generate

        def timed():
            company = generate(seed=7, scale=scale, as_of=AS_OF)
            with open(pkl, "wb") as fh:  # written inside the stage: part of its cost
                pickle.dump(company.data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            return {"rows": len(company.data.orders)}
    elif stage == "write_duckdb":
        from salesplan.data import open_source

        with open(pkl, "rb") as fh:
            data = pickle.load(fh)
        if db.exists():
            db.unlink()

        def timed():
            open_source(f"duckdb:///{db}").write(data, replace=True)
            return {"rows": len(data.orders)}
    elif stage == "load_duckdb":
        def timed():
            return {"rows": len(_load(work, scale).orders)}
    elif stage == "load_fingerprint":  # every table read, then the bundle's fingerprint
        from salesplan.data import fingerprint

        def timed():
            t0 = time.perf_counter()
            data = _load(work, scale)
            t1 = time.perf_counter()
            fingerprint(data, coerce=False)
            return {"rows": len(data.orders), "load_s": round(t1 - t0, 3),
                    "fingerprint_s": round(time.perf_counter() - t1, 3)}
    elif stage in LOAD_STAGES:
        notebook = NOTEBOOKS[LOAD_STAGES.index(stage)]

        def timed():
            return _notebook_load(notebook, db)
    else:
        data = _load(work, scale)
        rec["rows"] = len(data.orders)
        if stage == "validate":
            from salesplan.data import validate

            def timed():
                rep = validate(data, as_of=AS_OF)
                return {"ok": bool(rep.ok)}
        elif stage == "to_long_pandas":
            from salesplan.models.forecast import to_long

            def timed():
                t0 = time.perf_counter()
                a = to_long(data, keys=("region", "rep_id"))
                t1 = time.perf_counter()
                b = to_long(data, keys=("customer_id",))
                t2 = time.perf_counter()
                return {"series": a["unique_id"].nunique() + b["unique_id"].nunique(),
                        "region_rep_s": round(t1 - t0, 3), "customer_s": round(t2 - t1, 3)}
        elif stage == "to_long_duckdb":
            from salesplan.models.forecast import to_long

            ref = to_long(data, keys=("region", "rep_id"))
            del data

            def timed():
                t0 = time.perf_counter()
                a = _long_duckdb(db, ("region", "rep_id"))
                t1 = time.perf_counter()
                b = _long_duckdb(db, ("customer_id",))
                t2 = time.perf_counter()
                same = (len(a) == len(ref) and (a["unique_id"].to_numpy() == ref["unique_id"].to_numpy()).all()
                        and abs(a["y"].to_numpy() - ref["y"].to_numpy()).max() < 1e-6)
                return {"series": a["unique_id"].nunique() + b["unique_id"].nunique(),
                        "region_rep_s": round(t1 - t0, 3), "customer_s": round(t2 - t1, 3),
                        "equals_pandas": bool(same)}
        elif stage in ("forecast_local", "forecast_dask"):
            from salesplan.models.forecast import Forecaster

            long = _long_for_forecast(data)
            del data
            kw = {"method": opts.get("method", "combo"), "n_windows": 3}
            if stage == "forecast_dask":
                cluster, client = _start_cluster()
                kw.update(engine="dask", scheduler=cluster.scheduler_address)
            else:
                kw.update(n_jobs=opts.get("n_jobs", 1))

            def timed():
                f = Forecaster(**kw).fit(long)
                pred = f.predict(3)
                n = long["unique_id"].nunique()
                if stage == "forecast_local":  # the reference the Dask stage is compared with
                    pred.to_pickle(work / f"s{scale:g}.forecast_local.pkl")
                return {"series": n, "_out": pred}
        elif stage == "churn_features":
            from salesplan.models.churn import churn_features

            def timed():
                return {"customers": len(churn_features(data, AS_OF))}
        elif stage in ("churn_fit", "churn_score", "churn_score_dask"):
            from salesplan.models.churn import ChurnClassifier, churn_risk_list

            if stage == "churn_fit":
                def timed():
                    clf = ChurnClassifier().fit(data, AS_OF)
                    with open(work / f"s{scale:g}.churn.pkl", "wb") as fh:
                        pickle.dump(clf, fh)
                    return {"train_rows": int(clf.training_summary_["customers"].sum())}
            else:
                with open(work / f"s{scale:g}.churn.pkl", "rb") as fh:
                    clf = pickle.load(fh)
                if stage == "churn_score":
                    def timed():
                        risk = churn_risk_list(data, AS_OF, classifier=clf)
                        return {"customers": len(risk)}
                else:
                    from salesplan.execution import DaskBackend
                    from salesplan.models.churn import score_churn

                    cluster, client = _start_cluster()

                    def timed():
                        out = score_churn(clf, data, AS_OF, backend=DaskBackend(client))
                        return {"customers": len(out), "_out": out}

                    def reference():  # the same scoring on this process (engine "local")
                        return score_churn(clf, data, AS_OF)
        elif stage in ("credit_features", "credit_fit", "credit_score", "credit_score_dask"):
            from salesplan.models import credit

            if stage == "credit_features":
                def timed():
                    X = credit.credit_features(data.invoices, data.orders, data.customers, CREDIT_AS_OF)
                    y = credit.credit_target(data.invoices, CREDIT_AS_OF)
                    return {"customers": len(X), "labelled": len(y)}
            elif stage == "credit_fit":
                X = credit.credit_features(data.invoices, data.orders, data.customers, CREDIT_AS_OF)
                y = credit.credit_target(data.invoices, CREDIT_AS_OF)
                X = X.loc[X.index.intersection(y.index)]
                y = y.reindex(X.index)

                def timed():
                    card = credit.CreditScorecard().fit(X, y)
                    with open(work / f"s{scale:g}.credit.pkl", "wb") as fh:
                        pickle.dump(card, fh)
                    return {"train_rows": len(X)}
            else:
                with open(work / f"s{scale:g}.credit.pkl", "rb") as fh:
                    card = pickle.load(fh)
                if stage == "credit_score":
                    def timed():
                        X = credit.credit_features(data.invoices, data.orders, data.customers, AS_OF)
                        card.predict_proba(X)
                        g = card.grade(X)
                        return {"customers": len(g)}
                else:
                    from salesplan.execution import DaskBackend
                    from salesplan.models.credit import score_credit

                    cluster, client = _start_cluster()

                    def timed():
                        out = score_credit(card, data, AS_OF, backend=DaskBackend(client))
                        return {"customers": len(out), "_out": out}

                    def reference():  # the same scoring on this process (engine "local")
                        return score_credit(card, data, AS_OF)
        elif stage == "segments":
            from salesplan.models import segments

            def timed():
                a = segments.abc_classes(data.orders, AS_OF, customers=data.customers)
                r = segments.rfm_scores(data.orders, AS_OF)
                life = segments.lifecycle_stages(data.orders, AS_OF)
                return {"customers": max(len(a), len(r), len(life))}
        elif stage == "targets":
            from salesplan.models.forecast import hierarchy_forecast
            from salesplan.planning.targets import (
                TargetParams,
                propose_targets,
                quarter_paths_from_forecast,
            )

            hf = hierarchy_forecast(data, levels=((), ("region",)), h=3, n_paths=1000, seed=0,
                                    method="theta", reconcile_method="bottom_up")
            dist = quarter_paths_from_forecast(hf)

            def timed():
                plan = propose_targets(data, dist, TargetParams(quarter=QUARTER), as_of=AS_OF)
                return {"reps": len(plan.tables().get("reps", []))}
        else:
            raise SystemExit(f"unknown stage {stage!r}; expected one of {STAGES}")

    base = _peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    extra = timed() or {}
    rec["seconds"] = time.perf_counter() - t0
    rec["cpu_s"] = time.process_time() - c0
    rec["peak_mib"] = _peak_mib()
    rec["base_mib"] = base
    out = extra.pop("_out", None)
    rec.update(extra)
    if stage in DASK_STAGES:  # "same numbers": the Dask result against the local one (untimed)
        rec.update(_dask_parity(out, reference() if reference else _local_forecast(work, scale)))
    if "series" in extra and stage.startswith("forecast"):
        rec["series_per_s"] = extra["series"] / rec["seconds"]
    if client is not None:
        mem = [w.get("metrics", {}).get("memory", 0)
               for w in client.scheduler_info().get("workers", {}).values()]
        rec["worker_peak_mib"] = max(mem) / 2**20 if mem else None
        client.close()
        cluster.close()
    return rec


def _local_forecast(work: Path, scale: float):
    """forecast_local's predictions at ``scale`` (None when that stage has not run)."""
    import pandas as pd

    f = work / f"s{scale:g}.forecast_local.pkl"
    return pd.read_pickle(f) if f.exists() else None


def _dask_parity(dask_out, local_out) -> dict:
    """``same_as_local``: the Dask stage's frame equals the local engine's (same rows, same
    text, numbers to 1e-9 relative), and the largest relative difference of its numbers."""
    import numpy as np
    import pandas as pd

    if local_out is None:
        return {"same_as_local": None}
    def rows(df):  # an index of ids becomes a column; the rows in the order of the first two columns
        df = df.reset_index(drop=isinstance(df.index, pd.RangeIndex))
        return df.sort_values(list(df.columns[:2]), kind="stable", ignore_index=True)

    a, b = rows(dask_out), rows(local_out)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return {"same_as_local": False, "max_rel_diff": None}
    worst, same = 0.0, True
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if pd.api.types.is_numeric_dtype(a[c]) and pd.api.types.is_numeric_dtype(b[c]):
            x, y = x.astype(float), y.astype(float)
            both_nan = np.isnan(x) & np.isnan(y)
            rel = np.abs(x - y) / np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)
            rel[both_nan] = 0.0
            worst = max(worst, float(np.nanmax(rel, initial=0.0)))
            same &= bool(np.all(both_nan | (rel <= 1e-9)))
        else:
            same &= bool((pd.Series(x).astype(str).to_numpy() == pd.Series(y).astype(str).to_numpy()).all())
    return {"same_as_local": same, "max_rel_diff": worst}


def _start_cluster():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    # warm the workers: import salesplan and the libraries once (not part of the stage)
    client.run(lambda: __import__("salesplan.models.forecast") and __import__("salesplan.models.churn")
               and __import__("salesplan.models.credit") and None)
    return cluster, client


def _pss_bytes(pid: int) -> int:
    """Proportional set size of process ``pid`` (bytes; ``/proc/PID/smaps_rollup``): its
    private pages plus, for each page shared with other processes (libraries mapped by
    every kernel, Chromium's processes), its share -- summed over processes this counts
    every page once.  0 where the kernel does not provide the file."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_rss_mib(proc, names: dict | None = None, peaks: dict | None = None,
                  pss: list | None = None, at_peak: dict | None = None) -> float:
    """Resident memory of ``proc`` and all its descendants (MiB; shared pages counted in
    every process, so an upper bound of what the machine must hold).

    With ``names`` (pid -> owner cache) and ``peaks`` (owner -> MiB, updated in place), the
    sample is also split by owner: a kernel and its children by the notebook it runs (the
    runner gives each kernel ``SALESPLAN_NOTEBOOK`` in its environment, inherited by the
    kernel's own children; a kernel reused for another notebook takes that notebook's name
    as its process name, :func:`_notebook_now`), everything else (the command, Chromium) as
    ``"runner"``.
    With ``pss`` (a list ``[MiB, time]``, updated in place) the largest sum of the processes'
    proportional set sizes (:func:`_pss_bytes`, MiB) is kept too: the same processes with
    each shared page counted once; and, when the list has a second item, the wall-clock time
    (``time.time()``) of that sample.  The runner's part is also split in ``peaks`` into
    ``"runner: command"`` (the command's own process and children other than the browser,
    e.g. the data check's) and ``"runner: browser"`` (Playwright's driver and Chromium's
    processes, :func:`_is_browser`).  With ``at_peak`` (a dict, replaced in place) the split
    of the sample with the largest total so far is kept (MiB by owner, ``"total"``):
    which processes are high at the instant of the whole run's peak."""
    import psutil

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total, split, pss_total, alive = 0, {}, 0, []
    for p in procs:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        alive.append(p.pid)
        if names is not None:
            owner = names.get(p.pid)
            if owner is None:  # read until found: a child forked by the runner has the
                try:           # runner's environment until it execs the kernel
                    owner = p.environ().get("SALESPLAN_NOTEBOOK")
                except psutil.Error:
                    owner = None
                if owner:
                    names[p.pid] = owner
                elif p.pid != proc.pid and _is_browser(p):
                    owner = names[p.pid] = "runner: browser"
            if owner and owner != "runner: browser":  # a reused kernel: the notebook it runs now
                owner = _notebook_now(p) or owner
            owner = owner or "runner: command"
            split[owner] = split.get(owner, 0) + rss
    split = {k: v / 2**20 for k, v in split.items()}
    if any(k.startswith("runner: ") for k in split):
        split["runner"] = sum(v for k, v in split.items() if k.startswith("runner: "))
    if peaks is not None:
        for owner, mib in split.items():
            peaks[owner] = max(peaks.get(owner, 0.0), mib)
    # a process's PSS is at most its RSS: a sample whose RSS sum is not above the largest PSS
    # sum so far cannot be a new PSS peak, and its PSS is not read (smaps_rollup walks every
    # page of a process: read for ~10 processes of up to 4 GB every 0.2 s, it took ~0.1 of
    # the machine's 2 cores at scale 100, taken from the run it measures)
    if pss is not None and total / 2**20 > pss[0]:
        pss_total = sum(_pss_bytes(pid) for pid in alive)
    if pss is not None and pss_total / 2**20 > pss[0]:
        pss[0] = pss_total / 2**20
        if len(pss) > 1:
            pss[1] = time.time()
    if at_peak is not None and total / 2**20 > at_peak.get("total", 0.0):
        at_peak.clear()
        at_peak.update({k: round(v) for k, v in split.items()}, total=round(total / 2**20))
    return total / 2**20


def _notebook_now(p) -> str | None:
    """The notebook a kernel runs now, by the process name a reused kernel takes
    (:func:`salesplan.reports.kernel_state.name_process`: the notebook's first 15 bytes);
    ``None`` for a kernel still named as started (its ``SALESPLAN_NOTEBOOK`` holds)."""
    import psutil

    try:
        name = p.name()
    except psutil.Error:
        return None
    return next((n for n in NOTEBOOKS if n.encode()[:15].decode(errors="ignore") == name), None)


def _is_browser(p) -> bool:
    """Whether process ``p`` is Playwright's driver (node) or one of Chromium's processes."""
    import psutil

    try:
        line = " ".join(p.cmdline()[:2]).lower()
    except psutil.Error:
        return False
    return any(w in line for w in ("chrom", "playwright", "node"))


def plan_stage(scale: float, work: Path, timeout: float, jobs: int = 2, run_args=()) -> dict:
    """The whole plan as a planner runs it: ``salesplan run`` (the 8 notebooks, ``jobs`` side by
    side) on the scale's DuckDB file, cold (no forecast cache, a new plan store, the data
    checked: no records file of a previous run);
    ``run_args``: more options of ``salesplan run`` (``--plan-run-arg``; none: the defaults).

    ``seconds`` is the wall time of the command; ``peak_mib`` the largest sum, sampled every
    0.2 s, of the resident memory of the command and all its children (the kernels);
    ``pss_peak_mib`` the largest sum of their proportional set sizes in the same samples
    (each page shared between processes counted once, :func:`_pss_bytes`).
    ``notebooks`` maps each notebook to its ``seconds`` (papermill's, from the run's
    ``run.json``, else the run log) and ``peak_mib`` (the largest sampled resident memory of
    its kernel and the kernel's children); ``runner_peak_mib`` is that of the command
    itself and its other children (report rendering, Chromium for the PDF), split into
    ``runner_command_peak_mib`` (the command's process, the data check's child) and
    ``runner_browser_peak_mib`` (Playwright and Chromium: several processes sharing pages,
    their RSS sum well above their PSS); ``at_peak_mib`` splits the sample of
    ``peak_mib`` by owner (each a peak of its own need not coincide with the others);
    ``cells_at_pss_peak`` names the cell each notebook was running at the sample of
    ``pss_peak_mib`` (:func:`_cells_running`): which steps side by side make the peak."""
    import psutil

    _, db = _paths(work, scale)
    out = work / f"reports-s{scale:g}"
    store = work / f"store-s{scale:g}.duckdb"
    if store.exists():
        store.unlink()
    # the data are checked as in a first run (the records file of a previous run would spare it)
    (out / ".source_records.json").unlink(missing_ok=True)
    cache = work / f"cache-s{scale:g}"  # a new, empty forecast cache: the run is cold
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    exe = Path(sys.executable).with_name("salesplan")
    cmd = [str(exe), "run", "--source", f"duckdb:///{db}", "--out", str(out), "--jobs", str(jobs),
           "--timeout", str(int(timeout)),
           "-p", "plan_store", f"duckdb:///{store}", "-p", "cache_dir", str(cache), *run_args]
    rec: dict = {"stage": "plan", "scale": scale, "run_args": list(run_args)}
    names: dict = {}
    peaks: dict = {}
    at_peak: dict = {}
    pss = [0.0, None]
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(work / f"plan-s{scale:g}.log", "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                             cwd=Path(__file__).resolve().parents[1])
        watched, peak = psutil.Process(p.pid), 0.0
        while p.poll() is None:
            peak = max(peak, _tree_rss_mib(watched, names, peaks, pss, at_peak))
            if time.perf_counter() - t0 > timeout:  # the command and its kernels, then what ran
                for child in [*watched.children(recursive=True), watched]:
                    try:
                        child.kill()
                    except psutil.Error:
                        pass
                p.wait()
                text = (work / f"plan-s{scale:g}.log").read_text()
                return {**rec, "error": f"timeout after {timeout} s", "peak_mib": peak,
                        "pss_peak_mib": pss[0] or None, "notebooks": _plan_notebooks(out, text, peaks)}
            time.sleep(0.2)
    rec["seconds"] = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its reaped kernels
    rec["cpu_s"] = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    rec["peak_mib"] = peak
    rec["pss_peak_mib"] = pss[0] or None
    rec["runner_peak_mib"] = peaks.pop("runner", None)
    rec["runner_command_peak_mib"] = peaks.pop("runner: command", None)
    rec["runner_browser_peak_mib"] = peaks.pop("runner: browser", None)
    rec["at_peak_mib"] = at_peak
    text = (work / f"plan-s{scale:g}.log").read_text()
    if p.returncode != 0:  # the time and peak so far and the notebooks that ran are kept
        rec["error"] = f"exit {p.returncode}: {text.strip().splitlines()[-1:]}"
    rec["notebooks"] = _plan_notebooks(out, text, peaks)
    run_dir = _run_dir(out, text)
    if run_dir is not None and pss[1] is not None:
        rec["cells_at_pss_peak"] = _cells_running(run_dir, pss[1])
    for name, nb in rec["notebooks"].items():  # flat copies: the extras line of the report
        if nb.get("seconds") is not None:
            rec[name.split("_")[0] + "_s"] = nb["seconds"]
    return rec


def _run_dir(out: Path, log_text: str) -> Path | None:
    """The run folder the plan log names (``salesplan run <run id>: ...``), else None."""
    import re

    run_id = re.findall(r"salesplan run (\S+):", log_text)
    return out / run_id[-1] if run_id else None


def _cells_running(run_dir: Path, when: float) -> dict[str, str]:
    """The code cell each executed notebook of ``run_dir`` was running at ``when`` (epoch
    seconds), from the start and end times papermill records in each cell's metadata:
    ``{notebook: "cell <index>: <its first line>"}``; a notebook not running a cell then
    (not started, finished, or between cells) is left out."""
    from datetime import datetime

    def epoch(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    running = {}
    for path in sorted(run_dir.glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text("utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for i, cell in enumerate(cells):
            meta = cell.get("metadata", {}).get("papermill", {})
            if cell.get("cell_type") != "code" or not meta.get("start_time") or not meta.get("end_time"):
                continue
            if epoch(meta["start_time"]) <= when <= epoch(meta["end_time"]):
                source = "".join(cell.get("source", []))
                running[path.stem] = f"cell {i}: {source.strip().splitlines()[0][:70] if source.strip() else ''}"
                break
    return running


def _plan_notebooks(out: Path, log_text: str, peaks: dict) -> dict:
    """Per notebook of a plan run: ``seconds`` and ``peak_mib`` (see :func:`plan_stage`).

    Seconds come from the ``run.json`` of the run folder (the run id is in the log) when
    the run finished, else (a failed run) from its ``[i/n] name ok (x s)`` log lines."""
    import re

    secs: dict = {}
    for name, s in re.findall(r"\] (\d\d\w?_\w+) ok \(([\d.]+) s\)", log_text):
        secs[name] = float(s)
    run_dir = _run_dir(out, log_text)
    manifest = run_dir / "run.json" if run_dir is not None else None
    if manifest is not None and manifest.exists():
        for nb in json.loads(manifest.read_text("utf-8")).get("notebooks", []):
            if nb.get("seconds") is not None and not nb.get("carried_from"):
                secs[nb["name"]] = float(nb["seconds"])
    names = [n for n in NOTEBOOKS if n in secs or n in peaks]
    return {n: {"seconds": secs.get(n), "peak_mib": peaks.get(n)} for n in names}


# ============================================================================ driver
def _child(stage, scale, work, opts, timeout) -> dict:
    if stage == "plan":
        return plan_stage(scale, work, timeout, jobs=opts.get("plan_jobs", 2), run_args=opts.get("run_args", ()))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", stage, "--scales", str(scale),
           "--work", str(work), "--opts", json.dumps(opts)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"stage": stage, "scale": scale, "error": f"timeout after {timeout} s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"stage": stage, "scale": scale, "error": f"exit {p.returncode}: {' | '.join(tail)}"}
    rec = json.loads(lines[-1])
    rec["child_wall_s"] = wall
    return rec


def _fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def print_table(records, scales):
    print("\n| stage | " + " | ".join(f"s={s:g} time (s) | s={s:g} peak MiB" for s in scales)
          + (" | time ratio | peak ratio |" if len(scales) >= 2 else " |"))
    print("|---" * (1 + 2 * len(scales) + (2 if len(scales) >= 2 else 0)) + "|")
    by = {(r["stage"], r["scale"]): r for r in records}
    for st in dict.fromkeys(r["stage"] for r in records):
        cells = []
        for s in scales:
            r = by.get((st, s), {})
            cells += [_fmt(r.get("seconds")) if "error" not in r else "FAIL", _fmt(r.get("peak_mib"), 0)]
        line = f"| {st} | " + " | ".join(cells)
        if len(scales) >= 2:
            a, b = by.get((st, scales[-2]), {}), by.get((st, scales[-1]), {})
            tr = b["seconds"] / a["seconds"] if a.get("seconds") and b.get("seconds") else None
            pr = b["peak_mib"] / a["peak_mib"] if a.get("peak_mib") and b.get("peak_mib") else None
            line += f" | {_fmt(tr, 1)} | {_fmt(pr, 1)}"
        print(line + " |")
    print_plan_table(records, scales)
    rows = {s: by.get(("load_duckdb", s), {}).get("rows") for s in scales}
    print("\norder lines per scale: " + ", ".join(f"s={s:g}: {rows[s]}" for s in scales))
    for r in records:
        extra = {k: v for k, v in r.items() if k not in ("stage", "scale", "seconds", "peak_mib",
                                                         "base_mib", "child_wall_s", "notebooks")}
        print(f"  s={r['scale']:g} {r['stage']}: base {_fmt(r.get('base_mib'), 0)} MiB "
              + " ".join(f"{k}={_fmt(v)}" for k, v in extra.items()))


def print_plan_table(records, scales):
    """Per notebook of the ``plan`` stage: seconds and kernel peak per scale, and their growth
    between consecutive scales (``x``: the later scale's figure over the earlier one's)."""
    plans = {r["scale"]: r for r in records if r["stage"] == "plan" and r.get("notebooks") is not None}
    if not plans:
        return
    done = [s for s in scales if s in plans]
    pairs = list(zip(done, done[1:]))
    print("\nplan per notebook (seconds: papermill; peak: the kernel and its children)")
    print("| notebook | " + " | ".join(f"s={s:g} s | s={s:g} peak MiB" for s in done)
          + "".join(f" | time x {b:g}/{a:g} | peak x {b:g}/{a:g}" for a, b in pairs) + " |")
    print("|---" * (1 + 2 * len(done) + 2 * len(pairs)) + "|")
    names = [n for n in NOTEBOOKS if any(n in plans[s]["notebooks"] for s in done)]
    rows = [(n, {s: plans[s]["notebooks"].get(n, {}) for s in done}) for n in names]
    rows.append(("runner (command, rendering, PDF)",
                 {s: {"peak_mib": plans[s].get("runner_peak_mib")} for s in done}))
    rows.append(("  runner: the command's process (+ data check child)",
                 {s: {"peak_mib": plans[s].get("runner_command_peak_mib")} for s in done}))
    rows.append(("  runner: Playwright + Chromium",
                 {s: {"peak_mib": plans[s].get("runner_browser_peak_mib")} for s in done}))
    rows.append(("whole run (all processes)",
                 {s: {"seconds": plans[s].get("seconds"), "peak_mib": plans[s].get("peak_mib")}
                  for s in done}))
    rows.append(("whole run, shared pages once (PSS)",
                 {s: {"peak_mib": plans[s].get("pss_peak_mib")} for s in done}))
    for name, per in rows:
        cells = []
        for s in done:
            cells += [_fmt(per[s].get("seconds"), 1), _fmt(per[s].get("peak_mib"), 0)]
        for a, b in pairs:
            for k in ("seconds", "peak_mib"):
                va, vb = per[a].get(k), per[b].get(k)
                cells.append(_fmt(vb / va, 1) if va and vb else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", nargs="+", type=float, default=[1.0, 10.0])
    ap.add_argument("--stages", nargs="+", default=None)
    ap.add_argument("--dask", action="store_true", help="include the *_dask stages")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--work", default=None, help="work folder (default: a temp folder)")
    ap.add_argument("--method", default="combo", help="Forecaster method")
    ap.add_argument("--n-jobs", type=int, default=1, help="Forecaster n_jobs of forecast_local")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per stage")
    ap.add_argument("--plan-jobs", type=int, default=2,
                    help="stage plan: notebooks run side by side (salesplan run --jobs)")
    ap.add_argument("--plan-run-arg", action="append", default=[], metavar="ARG",
                    help="stage plan: one more option of salesplan run, e.g. --plan-run-arg=--no-kernel-reuse "
                         "(repeatable; the default runs measure the defaults)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--opts", default="{}", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        rec = run_stage(a.child, a.scales[0], Path(a.work), json.loads(a.opts))
        print(json.dumps(rec, default=float))
        return
    work = Path(a.work or tempfile.mkdtemp(prefix="salesplan-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    stages = a.stages or [s for s in STAGES if a.dask or s not in DASK_STAGES]
    opts = {"method": a.method, "n_jobs": a.n_jobs, "plan_jobs": a.plan_jobs, "run_args": a.plan_run_arg}
    print(f"work folder {work}; cpu count {os.cpu_count()}; python {sys.version.split()[0]}")
    records = []
    for s in a.scales:
        pkl, db = _paths(work, s)
        todo = list(stages)
        # inputs of later stages
        if not pkl.exists() and "generate" not in todo and (
                not db.exists() or "write_duckdb" in todo):
            todo.insert(0, "generate")
        if not db.exists() and "write_duckdb" not in todo:
            todo.insert(todo.index("generate") + 1 if "generate" in todo else 0, "write_duckdb")
        if any(t.startswith("churn_score") for t in todo) and "churn_fit" not in todo \
                and not (work / f"s{s:g}.churn.pkl").exists():
            todo.insert(todo.index(next(t for t in todo if t.startswith("churn_score"))), "churn_fit")
        if any(t.startswith("credit_score") for t in todo) and "credit_fit" not in todo \
                and not (work / f"s{s:g}.credit.pkl").exists():
            todo.insert(todo.index(next(t for t in todo if t.startswith("credit_score"))), "credit_fit")
        for st in todo:
            runs = [_child(st, s, work, opts, a.timeout) for _ in range(a.repeat if st not in (
                "generate", "write_duckdb") else 1)]
            ok = [r for r in runs if "error" not in r]
            rec = dict(ok[0] if ok else runs[0])
            if ok:
                rec["seconds"] = statistics.median(r["seconds"] for r in ok)
                rec["runs_s"] = [round(r["seconds"], 2) for r in ok]
                rec["peak_mib"] = max(r["peak_mib"] for r in ok)
                for k in ("cpu_s", "load_s", "fingerprint_s"):  # medians too
                    if all(k in r for r in ok):
                        rec[k] = statistics.median(r[k] for r in ok)
            records.append(rec)
            msg = rec.get("error") or (f"{rec['seconds']:8.2f} s  peak {rec['peak_mib']:7.0f} MiB")
            print(f"s={s:<5g} {st:18s} {msg}", flush=True)
    print_table(records, a.scales)
    if a.json:
        Path(a.json).write_text(json.dumps(records, indent=1, default=float))


if __name__ == "__main__":
    main()
