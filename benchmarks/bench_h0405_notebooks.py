"""CPU seconds of notebooks 04 and 05, cell by cell, in one process (no kernel, no papermill).

The code cells run in order in one namespace, with the parameters cell's values and
``source`` / ``plan_store`` / ``cache_dir`` replaced.  The plan store and cache must already
hold the forecast (02) and the scored pipeline (03b), e.g. from one ``salesplan run``.

    python benchmarks/bench_h0405_notebooks.py --source duckdb:////work/data/s10.duckdb \
        --plan-store duckdb:////tmp/store.duckdb --cache-dir /tmp/cache --notebook 04 --notebook 05

Prints per cell the CPU seconds (``time.process_time``), and with ``--profile F`` writes a
cProfile of the whole run to F (one file per notebook: F.04, F.05).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import time
from pathlib import Path

NOTEBOOKS = {"04": "04_quarterly_targets.ipynb", "05": "05_resource_allocation.ipynb"}


def cells(path: Path) -> list[str]:
    """The code cells' sources of a notebook, in order."""
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def run_notebook(path: Path, overrides: dict, profile: str | None = None) -> list[float]:
    """Run the notebook's code cells in one namespace; CPU seconds per cell."""
    ns: dict = {"__name__": "__main__"}
    times = []
    prof = cProfile.Profile() if profile else None
    for i, src in enumerate(cells(path)):
        t0 = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            if prof is not None and i > 0:
                prof.enable()
            exec(compile(src, f"{path.name}:cell{i}", "exec"), ns)
            if prof is not None:
                prof.disable()
        if i == 0:
            ns.update(overrides)
        times.append(time.process_time() - t0)
    if prof is not None:
        prof.dump_stats(profile)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--plan-store", required=True)
    ap.add_argument("--cache-dir", required=True)
    ap.add_argument("--notebook", action="append", default=None, choices=sorted(NOTEBOOKS))
    ap.add_argument("--notebooks-dir", default=str(Path(__file__).resolve().parents[1] / "notebooks"))
    ap.add_argument("--profile", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    os.chdir(a.notebooks_dir)
    overrides = {"source": a.source, "plan_store": a.plan_store, "cache_dir": a.cache_dir}
    out = {}
    for nb in a.notebook or sorted(NOTEBOOKS):
        prof = f"{a.profile}.{nb}" if a.profile else None
        t = run_notebook(Path(a.notebooks_dir) / NOTEBOOKS[nb], overrides, prof)
        out[nb] = t
        print(f"{nb}: total {sum(t):.2f} s CPU; cells " + " ".join(f"{x:.2f}" for x in t), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
