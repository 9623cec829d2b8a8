"""CPU seconds of notebook 02 (the forecast), cell by cell, in one process.

Runs the code cells of ``notebooks/02_forecast.ipynb`` in this process (no kernel, no
papermill; charts are built but not shown) with ``source``, a fresh ``cache_dir`` and a
fresh ``plan_store`` in a temporary folder, and prints the CPU seconds
(``time.process_time``) of every code cell and of the whole; ``--profile F`` also writes
a cProfile of the whole run to ``F``; ``--digest`` prints SHA-256 digests of what the
notebook computes (the cross-validation, the hierarchy's forecast frame, scores and paths,
the stored runs), to compare two versions of the code.

Usage (old code vs new code, alternated, the same data)::

    cd /work/ref && .venv/bin/python /work/wt-h02/benchmarks/bench_h02_notebook.py \
        --notebook notebooks/02_forecast.ipynb --source duckdb:////work/data/s10.duckdb
    cd /work/wt-h02 && .venv/bin/python benchmarks/bench_h02_notebook.py \
        --notebook notebooks/02_forecast.ipynb --source duckdb:////work/data/s10.duckdb

Run from the checkout whose code is measured (its ``salesplan`` is imported: the current
directory comes first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _cells(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _digest(frame) -> str:
    import pandas as pd

    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes())
    h.update(",".join(map(str, frame.columns)).encode())
    return h.hexdigest()[:16]


def _digests(ns: dict) -> dict[str, str]:
    """Digests of the notebook's results (namespace ``ns`` after the last cell)."""
    import numpy as np

    from salesplan.data import PlanStore
    from salesplan.reports import resolve_url

    hf = ns["hf"]
    out = {"cv": _digest(ns["cv"]), "forecast": _digest(hf.forecast), "scores": _digest(hf.scores),
           "paths": hashlib.sha256(np.ascontiguousarray(hf.paths).tobytes()).hexdigest()[:16],
           "pl_paths": hashlib.sha256(np.ascontiguousarray(ns["pl_paths"]).tobytes()).hexdigest()[:16]}
    store = PlanStore(resolve_url(ns["plan_store"]))
    try:
        for run in store.list_runs().itertuples():
            r = store.read_run(run.run_id)
            for name, t in sorted(r.tables.items()):
                out[f"store:{run.period}:{name}"] = _digest(t)
    finally:
        store.dispose()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook", default="notebooks/02_forecast.ipynb")
    ap.add_argument("--source", default="duckdb:///data/demo/salesplan_demo.duckdb")
    ap.add_argument("--profile", help="write a cProfile of the whole run here")
    ap.add_argument("--digest", action="store_true", help="print digests of the results")
    ap.add_argument("--json", help="append the figures as one JSON line to this file")
    a = ap.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("MPLBACKEND", "Agg")
    src = a.source
    if src.startswith("duckdb:///") and not src.startswith("duckdb:////"):
        src = "duckdb:///" + str(Path(src[len("duckdb:///"):]).resolve())
    work = Path(tempfile.mkdtemp(prefix="bench_h02_"))
    cells = _cells(Path(a.notebook))
    ns: dict = {}
    exec(cells[0], ns)  # the parameters cell, then the run's own values
    ns.update(source=src, cache_dir=str(work / "cache"),
              plan_store=f"duckdb:///{work / 'plan_store.duckdb'}")
    import IPython.display

    IPython.display.display = lambda *args, **kw: None  # tables are styled, not shown
    prof = None
    if a.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU, not wall (shared machine)
    times = []
    t_all = time.process_time()
    for i, code in enumerate(cells[1:], start=1):
        t0 = time.process_time()
        if prof is not None:
            prof.enable()
        exec(compile(code, f"<cell {i}>", "exec"), ns)
        if prof is not None:
            prof.disable()
        times.append(round(time.process_time() - t0, 3))
        print(f"cell {i:2d}: {times[-1]:7.2f} s CPU  {code.splitlines()[0][:70]}", flush=True)
    total = round(time.process_time() - t_all, 3)
    print(f"whole:   {total:7.2f} s CPU")
    if prof is not None:
        prof.dump_stats(a.profile)
    rec = {"source": a.source, "cwd": os.getcwd(), "cells": times, "total": total}
    if a.digest:
        rec["digest"] = _digests(ns)
        for k, v in rec["digest"].items():
            print(f"{k}: {v}")
    if a.json:
        with open(a.json, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
