"""Plan speed on the demo company (issue 19 item 1): the cold full run and warm re-runs.

    python benchmarks/plan_speed.py                 # 3 cold runs, 3 of each warm re-run
    python benchmarks/plan_speed.py --repeats 5 --json plan_speed.json
    python benchmarks/plan_speed.py --root /path/to/other/checkout   # e.g. the previous code

Method
------
* **Cold full run**: ``salesplan run --period 2027Q1 --source <demo>`` exactly as ``make
  plan`` runs it, in a new folder each time: a fresh plan store (``--out`` folder) and an
  empty model cache (``SALESPLAN_CACHE_DIR`` pointing to a new folder), ``--jobs 2``.
* **Warm re-runs**, after the first cold run, in its folder (the forecast unchanged, the
  model cache filled): ``-n 04 -p growth 0.2 --no-downstream`` (the targets with a new
  goal), the same with its downstream notebooks (05, 06, 07, as ``salesplan run -n 04``
  does by default), ``-n 05 -p max_change 0.4 --no-downstream`` and ``-n 06
  --no-downstream`` (the weekly review, as ``make plan`` re-runs it).
* Each command runs as a child process; **wall** is ``time.perf_counter`` around it and
  **CPU** is ``resource.getrusage(RUSAGE_CHILDREN)`` user + system before and after: the
  command and every kernel it started (they are waited for), i.e. the CPU seconds the
  plan costs on a shared machine.  Per-notebook seconds are the runner's own (``run.json``,
  from the notebook's start to its end, kernel start included); **after last notebook** is
  the runner's finishing (reports, workbook, summary, index): ``done in`` minus the elapsed
  time at the last notebook's ``ok`` line of ``run.log`` (whole seconds).
* Medians of ``--repeats`` runs (>= 3 for RESULTS.md).  The load average before and
  after is printed: on a shared machine, compare CPU seconds, not wall.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = "duckdb:///data/demo/salesplan_demo.duckdb"
PERIOD = "2027Q1"

#: the warm re-runs: label -> extra ``salesplan run`` arguments
WARM = {
    "04 (growth 0.2)": ["-n", "04", "-p", "growth", "0.2", "--no-downstream"],
    "04 + downstream 05-07": ["-n", "04", "-p", "growth", "0.2"],
    "05 (max_change 0.4)": ["-n", "05", "-p", "max_change", "0.4", "--no-downstream"],
    "06 (weekly review)": ["-n", "06", "--no-downstream"],
}


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_once(out: Path, cache: Path, extra: list[str], *, source: str, period: str, jobs: int,
             root: Path = ROOT) -> dict:
    """One ``salesplan run`` of checkout ``root`` in ``out`` with model cache ``cache``: wall,
    CPU, notebooks."""
    exe = root / ".venv" / "bin" / "salesplan"
    cmd = [str(exe), "run", "--period", period, "--source", source, "--out", str(out), "--jobs", str(jobs), *extra]
    env = {**os.environ, "SALESPLAN_CACHE_DIR": str(cache)}
    env.pop("SALESPLAN_PLAN_STORE", None)  # the plan store of --out
    c0, t0 = _cpu_children(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _cpu_children() - c0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    info = json.loads((out / "latest" / "run.json").read_text("utf-8"))
    seconds = {nb["name"]: float(nb["seconds"]) for nb in info.get("notebooks", [])
               if nb.get("carried_from") is None and "seconds" in nb}
    return {"wall": wall, "cpu": cpu, "notebooks": seconds, "finish": _finishing(out / "latest" / "run.log")}


def _finishing(log: Path) -> float:
    """Seconds from the last notebook's end to the run's ``done`` line (NaN without them)."""
    import re

    text = log.read_text("utf-8") if log.exists() else ""
    ends = re.findall(r"\] \S+ ok \([\d.]+ s\); (\d+) s elapsed", text)
    done = re.findall(r"done in ([\d.]+) s", text)
    return float(done[-1]) - float(ends[-1]) if ends and done else float("nan")


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold", type=int, help="cold runs (default --repeats; the warm ones follow the first)")
    ap.add_argument("--source", default=DEMO)
    ap.add_argument("--period", default=PERIOD)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--warm", nargs="*", default=list(WARM), help="warm re-runs to time (labels of WARM)")
    ap.add_argument("--json", help="write the raw records here")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to run (its .venv and notebooks/)")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    labels = []
    for name in args.warm:
        hits = [k for k in WARM if k == name or k.startswith(name)]
        if len(hits) != 1:
            ap.error(f"--warm {name!r}: expected one of {list(WARM)} or a unique prefix")
        labels.append(hits[0])
    cold, warm = [], {k: [] for k in labels}
    with tempfile.TemporaryDirectory(prefix="plan-speed-") as tmp:
        for i in range(args.repeats if args.cold is None else max(1, args.cold)):
            folder = Path(tmp) / f"cold{i}"
            cold.append(run_once(folder / "reports", folder / "cache", [], source=args.source,
                                 period=args.period, jobs=args.jobs, root=args.root))
            print(f"cold run {i + 1}: {cold[-1]['wall']:.1f} s wall, {cold[-1]['cpu']:.1f} s CPU", flush=True)
        first = Path(tmp) / "cold0"
        for _ in range(args.repeats):
            for label in labels:
                warm[label].append(run_once(first / "reports", first / "cache", WARM[label], source=args.source,
                                            period=args.period, jobs=args.jobs, root=args.root))
                print(f"warm {label}: {warm[label][-1]['wall']:.1f} s wall, {warm[label][-1]['cpu']:.1f} s CPU",
                      flush=True)
    load1 = os.getloadavg()
    names = sorted({n for r in cold for n in r["notebooks"]})
    print(f"\nplan speed of {args.root}, {args.source} {args.period}, --jobs {args.jobs}, medians of {len(cold)} cold and {args.repeats} warm runs; "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after; {os.cpu_count()} CPUs\n")
    print("| run | wall s | CPU s (incl. kernels) | after last notebook s | per notebook s |")
    print("| --- | ---: | ---: | ---: | --- |")
    per = ", ".join(f"{n.split('_')[0]} {statistics.median(r['notebooks'].get(n, float('nan')) for r in cold):.1f}"
                    for n in names)
    print(f"| cold full run (fresh plan store, empty model cache) | {_median(cold, 'wall'):.1f} | "
          f"{_median(cold, 'cpu'):.1f} | {_median(cold, 'finish'):.1f} | {per} |")
    for label, rows in warm.items():
        nbs = sorted({n for r in rows for n in r["notebooks"]})
        per = ", ".join(f"{n.split('_')[0]} {statistics.median(r['notebooks'].get(n, float('nan')) for r in rows):.1f}"
                        for n in nbs)
        print(f"| warm re-run {label} | {_median(rows, 'wall'):.1f} | {_median(rows, 'cpu'):.1f} | "
              f"{_median(rows, 'finish'):.1f} | {per} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"cold": cold, "warm": warm, "load": [load0, load1]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
