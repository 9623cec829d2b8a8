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
wall seconds, its resident memory after it and the process's peak so far (MiB, from
``/proc/self/status``: ``VmRSS`` and ``VmHWM``), the total and the peak resident memory;
``--prof`` writes a cProfile (CPU clock) of the cells; ``--peak-stacks`` prints, for each cell
whose resident memory rose more than 50 MiB above its start, the call stack at its highest
sample (a thread reads ``VmRSS`` every 20 ms): where the cell's peak is.  No kernel: the rendering of the last expression of a cell is not timed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import sys
import threading
import time
import traceback


def resident_mib() -> tuple[int, int]:
    """The process's resident memory now and its peak so far.

    Returns
    -------
    tuple of int
        ``(VmRSS, VmHWM)`` in MiB (Linux ``/proc/self/status``; ``(0, 0)`` elsewhere).
    """
    try:
        with open("/proc/self/status") as f:
            kib = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return 0, 0
    return int(kib["VmRSS"].split()[0]) // 1024, int(kib["VmHWM"].split()[0]) // 1024


class PeakStacks:
    """A daemon thread sampling the resident memory every ``interval`` seconds and keeping
    the main thread's call stack at the highest sample since :meth:`reset`."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.main = interval, threading.get_ident()
        self.reset()
        threading.Thread(target=self._sample, daemon=True).start()

    def reset(self) -> None:
        """Start a new cell: forget the highest sample (MiB) and its stack."""
        self.high, self.stack = 0, None

    def _sample(self) -> None:
        while True:
            rss = resident_mib()[0]
            if rss > self.high:
                frame = sys._current_frames().get(self.main)
                self.high, self.stack = rss, traceback.format_stack(frame)[-16:] if frame else None
            time.sleep(self.interval)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--prof", help="write a cProfile (CPU clock) of the cells here")
    ap.add_argument("--peak-stacks", action="store_true",
                    help="print the call stack at each cell's memory high (rise > 50 MiB)")
    args = ap.parse_args(argv)
    cells = [c for c in json.load(open(args.notebook))["cells"] if c["cell_type"] == "code"]
    os.chdir(os.path.dirname(os.path.abspath(args.notebook)))
    import matplotlib

    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    given = "\n".join(f"{k} = {v}" for k, v in args.p)
    prof = cProfile.Profile(time.process_time) if args.prof else None
    peaks = PeakStacks() if args.peak_stacks else None
    c0, w0 = time.process_time(), time.perf_counter()
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        if "parameters" in cell["metadata"].get("tags", []):
            src += "\n" + given
        src = src.replace("from IPython.display import Markdown, display",
                          "from IPython.display import Markdown; display = lambda *a, **k: None")
        c, w = time.process_time(), time.perf_counter()
        start = resident_mib()[0]
        if peaks is not None:
            peaks.reset()
        if prof is not None and i > 0:
            prof.enable()
        exec(compile(src, f"cell{i}", "exec"), namespace)
        if prof is not None:
            prof.disable()
        rss, hwm = resident_mib()
        print(f"cell {i}: {time.process_time() - c:.2f} s CPU, {time.perf_counter() - w:.2f} s wall, "
              f"RSS {rss} MiB, peak {hwm} MiB", flush=True)
        if peaks is not None and peaks.high - start > 50 and peaks.stack:
            print(f"  cell {i}'s high {peaks.high} MiB (start {start} MiB) at:\n"
                  + "".join(peaks.stack), flush=True)
    print(f"TOTAL {time.process_time() - c0:.2f} s CPU {time.perf_counter() - w0:.2f} s wall; "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    if prof is not None:
        prof.dump_stats(args.prof)


if __name__ == "__main__":
    main()
