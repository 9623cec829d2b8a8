"""The plan's region paths without the reps, at scale-100 size (issue 19).

    python benchmarks/region_paths.py [--repeat 3] [--reps 6709] [--paths 1000]

A plan without a reps table sets region targets only and drops the rep level of the
forecast's joint paths.  ``frame``: the long frame without its rep rows, read back
(``QuarterDistribution(dist.to_frame().query("level != 'rep'"))``, what the plan did before);
``cubes``: :meth:`QuarterDistribution.without_reps`.  Each run is a fresh process (random
gamma values, seed 0, 6 regions); the two are alternated; the table gives the median CPU
seconds and the median rise of the process's peak resident memory during the step (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _child(way: str, reps: int, paths: int) -> dict:
    import numpy as np
    import pandas as pd

    from salesplan.planning.targets import QuarterDistribution

    rng = np.random.default_rng(0)
    d = QuarterDistribution.from_arrays(pd.date_range("2027-01-01", periods=3, freq="MS"),
                                        regions={f"Region{i}": rng.gamma(2.0, 1.0, (paths, 3)) for i in range(6)})
    d._cubes["rep"] = (pd.Index(sorted(f"R{i:05d}" for i in range(reps))), rng.gamma(2.0, 1.0, (paths, reps, 3)))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.process_time()
    out = (QuarterDistribution(d.to_frame().query("level != 'rep'")) if way == "frame" else d.without_reps())
    cpu = time.process_time() - t
    rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {"way": way, "cpu_s": cpu, "rise_mib": rise, "levels": list(out.levels)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reps", type=int, default=6709)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--child", default=None)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(_child(a.child, a.reps, a.paths)))
        return
    runs: dict[str, list[dict]] = {"frame": [], "cubes": []}
    for i in range(a.repeat):
        for way in (("frame", "cubes") if i % 2 == 0 else ("cubes", "frame")):
            out = subprocess.run([sys.executable, __file__, "--child", way, "--reps", str(a.reps),
                                  "--paths", str(a.paths)], capture_output=True, text=True, check=True)
            runs[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{a.paths} paths x 6 regions + {a.reps} reps x 3 months; medians of {a.repeat} runs")
    print("| way | CPU s (runs) | median CPU s | median peak rise MiB |")
    print("|---|---|---:|---:|")
    for way, rs in runs.items():
        cpus = [r["cpu_s"] for r in rs]
        print(f"| {way} | {', '.join(f'{c:.3f}' for c in cpus)} | {statistics.median(cpus):.3f} | "
              f"{statistics.median(r['rise_mib'] for r in rs):.0f} |")


if __name__ == "__main__":
    main()
