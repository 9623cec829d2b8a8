"""Re-execute the committed notebooks in place so their outputs match the demo data.

``python -m salesplan.reports.refresh_notebooks [NOTEBOOK ...] [--kernel salesplan]``

Run it after changing a notebook or a module whose numbers a notebook shows; commit the
refreshed notebooks.  ``pytest --nbval`` then re-runs them and compares every output
(images excluded) with what is committed.  Notebooks run in their own folder with their
default parameters (the bundled demo company), in dependency order, with nbclient (no
papermill metadata and no per-cell timings, so diffs show only real changes), against a
fresh temporary plan store and model cache, as the tests run them.  When every notebook
is refreshed, the plan tables they wrote become the snapshots of
``tests/snapshots/plan`` (``salesplan.reports.snapshots``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "refresh"]


def _clean(nb) -> None:
    """Drop volatile metadata (timings, papermill records, widget state)."""
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)


def refresh(
    notebooks: Sequence[str | Path] | None = None,
    *,
    folder: str | Path | None = None,
    kernel: str | None = None,
    timeout: int = 600,
    snapshots: str | Path | None = None,
) -> list[Path]:
    """Execute notebooks in place (all of ``folder`` by default); return the paths.

    The kernels get a fresh temporary plan store and cache (``SALESPLAN_PLAN_STORE``,
    ``SALESPLAN_CACHE_DIR``).  With ``snapshots`` (a folder), the tables the notebooks
    wrote are saved there (:func:`salesplan.reports.snapshots.dump_store`).

    Raises the first cell error (``nbclient.exceptions.CellExecutionError``) and leaves
    that notebook unchanged on disk.
    """
    import os
    import tempfile

    from salesplan.reports import CACHE_DIR_ENV, PLAN_STORE_ENV

    with tempfile.TemporaryDirectory(prefix="salesplan-refresh-") as tmp:
        saved = {k: os.environ.get(k) for k in (PLAN_STORE_ENV, CACHE_DIR_ENV)}
        store = f"duckdb:///{Path(tmp) / 'plan_store.duckdb'}"
        os.environ[PLAN_STORE_ENV], os.environ[CACHE_DIR_ENV] = store, str(Path(tmp) / "cache")
        try:
            done = _execute_in_place(notebooks, folder=folder, kernel=kernel, timeout=timeout)
            if snapshots is not None:
                from salesplan.reports.snapshots import dump_store

                written = dump_store(store, snapshots)
                print(f"{len(written)} plan-table snapshots written to {snapshots}", flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return done


def _execute_in_place(notebooks, *, folder, kernel, timeout) -> list[Path]:
    import nbformat
    from nbclient import NotebookClient

    from salesplan.reports.runner import _pick_kernel, discover_notebooks

    paths = discover_notebooks(folder, notebooks)
    kernel_name = _pick_kernel(kernel)
    done = []
    for i, path in enumerate(paths, 1):
        t0 = time.monotonic()
        print(f"[{i}/{len(paths)}] {path.name} ...", flush=True)
        nb = nbformat.read(str(path), as_version=4)
        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout=timeout,
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        _clean(nb)
        # keep the notebook's own kernelspec (the committed name, e.g. "salesplan")
        nbformat.validate(nb)
        path.write_text(nbformat.writes(nb) + "\n" if not nbformat.writes(nb).endswith("\n")
                        else nbformat.writes(nb), encoding="utf-8")
        print(f"[{i}/{len(paths)}] {path.name} refreshed ({time.monotonic() - t0:.1f} s)", flush=True)
        done.append(path)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m salesplan.reports.refresh_notebooks",
        description="Re-execute notebooks in place (outputs for nbval).",
    )
    parser.add_argument("notebooks", nargs="*", help="notebook names or paths (default: all)")
    parser.add_argument("--folder", default=None, help="notebook folder (default ./notebooks)")
    parser.add_argument("--kernel", default=None, help="kernel name (default salesplan)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--snapshots", default=None,
                        help="folder of the plan-table snapshots (default tests/snapshots/plan "
                             "when every notebook is refreshed from the checkout)")
    args = parser.parse_args(argv)
    snapshots = args.snapshots
    if snapshots is None and not args.notebooks and Path("tests").is_dir():
        snapshots = Path("tests") / "snapshots" / "plan"
    try:
        refresh(args.notebooks or None, folder=args.folder, kernel=args.kernel,
                timeout=args.timeout, snapshots=snapshots)
    except Exception as e:  # noqa: BLE001 - one readable line for the developer
        from salesplan.reports.runner import _one_line

        print(f"error: {type(e).__name__}: {_one_line(str(e).split('-' * 10)[-1] or e)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
