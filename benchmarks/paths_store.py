"""Memory and CPU of saving and reading back the forecast's sample paths (issue #19).

Notebook 02 saves the plan quarter's joint sample paths to the plan store
(``QuarterDistribution.to_frame`` + ``PlanStore.write_run``); notebooks 04-07 read them back
(``read_run(...).tables["paths"]`` + ``QuarterDistribution(frame)``).  This script times
both steps on a scale-100-sized distribution (1,000 paths x 6,716 nodes x 3 months, random
values; or the ``paths`` of a forecast run in a plan store) in fresh processes, one step
per process, so each step's peak RSS is its own::

    python benchmarks/paths_store.py                       # this code, scale-100 size
    python benchmarks/paths_store.py --code /tmp/base      # another checkout (PYTHONPATH)
    python benchmarks/paths_store.py --store duckdb:////path/store.duckdb   # real paths

Columns: CPU seconds (user + system of the step's process, the distribution built before
excluded), wall seconds, peak RSS of the process (MB) and its rise above the RSS before the
step, the stored size (MB), and whether the distribution read back equals the written one
(nodes and cubes, bit for bit).  Medians of ``--repeat`` runs (default 3), the variants
alternated.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_LEVEL_SIZES = {"company": 1, "region": 6, "rep": 6709}  # 6,716 nodes: scale 100


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _distribution(n_paths: int, store: str | None):
    """The scale-100-sized random distribution (seed 0), or the paths of the store's
    latest forecast run (read with this process's code)."""
    import numpy as np
    import pandas as pd

    from salesplan.planning.targets import QuarterDistribution

    d = QuarterDistribution.__new__(QuarterDistribution)
    if store:  # the cubes saved by _save_cubes: no store read in the measured process
        with np.load(store, allow_pickle=False) as z:
            d._start(pd.DatetimeIndex(z["months"]), z["n_paths"].item())
            for lv in z["levels"]:
                d._cubes[str(lv)] = (pd.Index(z[f"{lv}_nodes"].tolist()), z[f"{lv}_cube"])
        d.company_from_regions = False
        return d
    rng = np.random.default_rng(0)
    d._start(pd.date_range("2027-01-01", periods=3, freq="MS"), n_paths)
    for lv, n in _LEVEL_SIZES.items():
        idx = pd.Index(sorted(f"{lv[:3]}{i:05d}" for i in range(n)))
        d._cubes[lv] = (idx, rng.gamma(2.0, 5e3, size=(n_paths, n, 3)))
    d._finish()
    return d


def _save_cubes(url: str, npz: str) -> None:
    """The paths of the store's latest forecast run as cubes in ``npz``."""
    import numpy as np

    from salesplan.data import PlanStore
    from salesplan.planning.targets import QuarterDistribution

    d = QuarterDistribution(PlanStore(url).read_run(kind="forecast").tables["paths"])
    arrays = {f"{lv}_{k}": v for lv in d.levels for k, v in (("nodes", np.array(d.nodes(lv))), ("cube", d.cube(lv)))}
    np.savez(npz, months=d.months.to_numpy(), n_paths=d.n_paths, levels=np.array(d.levels), **arrays)


def _child(args) -> None:
    """One step in this process; prints a JSON line."""
    import duckdb  # noqa: F401 - imported before the step: its time and memory are not the step's
    import numpy as np
    import pyarrow  # noqa: F401

    from salesplan.data import PlanStore
    from salesplan.planning.targets import QuarterDistribution

    dist = _distribution(args.paths, args.store)
    rss0, cpu0, t0 = _rss_mb(), _cpu(), time.perf_counter()
    out: dict = {}
    if args.step == "write":
        Path(args.file).unlink(missing_ok=True)
        store = PlanStore(f"duckdb:///{args.file}")
        store.write_run("forecast", "2027Q1", {}, None, {"paths": dist.to_frame()})
    else:
        store = PlanStore(f"duckdb:///{args.file}")
        back = QuarterDistribution(store.read_run(kind="forecast").tables["paths"])
    cpu, wall = _cpu() - cpu0, time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.step == "read":
        out["equal"] = all(back.nodes(lv) == dist.nodes(lv) and np.array_equal(back.cube(lv), dist.cube(lv))
                           for lv in dist.levels) and back.levels == dist.levels
    out.update(cpu=cpu, wall=wall, peak=peak, rise=peak - rss0, mb=os.path.getsize(args.file) / 2**20)
    print(json.dumps(out))


def _run(code: str, step: str, file: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": code}
    cmd = [sys.executable, __file__, "--child", step, "--file", file, "--paths", str(args.paths)]
    if args.store:
        cmd += ["--store", args.store]
    res = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"{step} with {code} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--code", action="append", default=None,
                   help="a checkout to run (PYTHONPATH); repeat to compare; default this one")
    p.add_argument("--paths", type=int, default=1000)
    p.add_argument("--store", default=None, help="time the paths of this plan store's latest forecast run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", choices=["write", "read"], default=None)
    p.add_argument("--file", default=None)
    args = p.parse_args()
    if args.child:
        args.step = args.child
        _child(args)
        return
    codes = args.code or [str(Path(__file__).resolve().parents[1])]
    rows: dict = {}
    with tempfile.TemporaryDirectory(prefix="paths_store_") as tmp:
        if args.store:
            _save_cubes(args.store, f"{tmp}/cubes.npz")
            args.store = f"{tmp}/cubes.npz"
        for r in range(args.repeat):
            for i, code in enumerate(codes):
                file = f"{tmp}/store{i}.duckdb"
                for step in ("write", "read"):
                    rows.setdefault((code, step), []).append(_run(code, step, file, args))
                    print(f"# run {r + 1} {code} {step}: {rows[(code, step)][-1]}", file=sys.stderr, flush=True)
    print("| code | step | CPU s | wall s | peak RSS MB | rise MB | stored MB | equal |\n|---|---|---|---|---|---|---|---|")
    for (code, step), rs in rows.items():
        med = {k: statistics.median(x[k] for x in rs) for k in ("cpu", "wall", "peak", "rise", "mb")}
        eq = "" if step == "write" else str(all(x["equal"] for x in rs))
        print(f"| {code} | {step} | {med['cpu']:.2f} | {med['wall']:.2f} | {med['peak']:.0f} | {med['rise']:.0f} "
              f"| {med['mb']:.1f} | {eq} |")


if __name__ == "__main__":
    main()
