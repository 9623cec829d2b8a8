"""CPU seconds of one notebook's code cells run in this process, optionally profiled (issue 19).

Usage::

    SALESPLAN_PLAN_STORE=duckdb:////tmp/s.duckdb SALESPLAN_CACHE_DIR=/tmp/c \\
    .venv/bin/python benchmarks/notebook_cells.py notebooks/03_customer_risk.ipynb \\
        -p source '"duckdb:////work/data/s10.duckdb"' [--prof /tmp/p03.prof]
    # the previous code, same data: its checkout's notebook and package first on the path
    PYTHONPATH=OLD OLD/.venv/bin/python benchmarks/notebook_cells.py \\
        OLD/notebooks/03_customer_risk.ipynb -p source '"duckdb:////work/data/s10.duckdb"'

Runs the code cells in order in the notebook's folder (``-p NAME VALUE`` appended to the
parameters cell, VALUE as Python source; ``display`` a no-op; set ``SALESPLAN_PLAN_STORE`` and
``SALESPLAN_CACHE_DIR`` to throw-away places).  Prints each cell's ``time.process_time`` and
wall seconds, the total and the peak resident memory; ``--prof`` writes a cProfile (CPU clock)
of the cells.  No kernel: the rendering of the last expression of a cell is not timed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--prof", help="write a cProfile (CPU clock) of the cells here")
    args = ap.parse_args(argv)
    cells = [c for c in json.load(open(args.notebook))["cells"] if c["cell_type"] == "code"]
    os.chdir(os.path.dirname(os.path.abspath(args.notebook)))
    import matplotlib

    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    given = "\n".join(f"{k} = {v}" for k, v in args.p)
    prof = cProfile.Profile(time.process_time) if args.prof else None
    c0, w0 = time.process_time(), time.perf_counter()
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        if "parameters" in cell["metadata"].get("tags", []):
            src += "\n" + given
        src = src.replace("from IPython.display import Markdown, display",
                          "from IPython.display import Markdown; display = lambda *a, **k: None")
        c, w = time.process_time(), time.perf_counter()
        if prof is not None and i > 0:
            prof.enable()
        exec(compile(src, f"cell{i}", "exec"), namespace)
        if prof is not None:
            prof.disable()
        print(f"cell {i}: {time.process_time() - c:.2f} s CPU, {time.perf_counter() - w:.2f} s wall", flush=True)
    print(f"TOTAL {time.process_time() - c0:.2f} s CPU {time.perf_counter() - w0:.2f} s wall; "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    if prof is not None:
        prof.dump_stats(args.prof)


if __name__ == "__main__":
    main()
