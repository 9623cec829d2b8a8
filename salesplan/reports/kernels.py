"""Kernels started ahead of their notebook: the runner's kernel start off the critical path.

A notebook's kernel costs a few seconds before its first cell runs: the kernel process
starts (~1 s) and the notebook imports pandas, scikit-learn and the package (~2-4 s).
:class:`KernelPool` starts the kernel of a notebook that will run next while the current
notebooks still run, and imports there what the notebook will import (its import
statements, :func:`warmup_code`), silently: no output, no history, no execution count,
no name left in the notebook's namespace.  The notebook then runs in that kernel as it
would in a new one (same environment, folder and kernel name; imports are cached).

Only the runner uses this (``salesplan run``); JupyterLab, papermill alone and nbval start
their kernels as usual.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

__all__ = ["KernelPool", "warmup_code"]

#: seconds a pre-started kernel may take to start and import (else it is dropped)
WARMUP_TIMEOUT = 120.0


def warmup_code(notebook: str | Path) -> str:
    """Code that imports, silently, what the notebook's code cells import at top level.

    Each ``import``/``from ... import`` statement runs in its own ``try`` inside a function
    and a fresh namespace (``exec(stmt, {})``), so nothing is bound in the kernel's user
    namespace and a failing import only fails later, in the notebook, as it would have.
    ``""`` when the notebook imports nothing (or cannot be read).
    """
    import nbformat

    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except (OSError, ValueError):
        return ""
    stmts: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: no warm-up for that cell
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                text = ast.unparse(node)
                if text not in stmts:
                    stmts.append(text)
    if not stmts:
        return ""
    return ("def __salesplan_warmup(stmts):\n"
            "    for s in stmts:\n"
            "        try:\n"
            "            exec(s, {})\n"
            "        except Exception:\n"
            "            pass\n"
            f"__salesplan_warmup({stmts!r})\n"
            "del __salesplan_warmup\n")


async def _start_and_warm(km, cwd: str, code: str, timeout: float):
    """Start ``km``'s kernel in ``cwd`` and run ``code`` silently; return ``km``."""
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        if code:
            await kc.execute(code, silent=True, store_history=False, reply=True, timeout=timeout)
    finally:
        kc.stop_channels()
    return km


class KernelPool:
    """Kernels started ahead for named notebooks, handed out once each.

    Parameters
    ----------
    make_km : callable
        ``make_km(name) -> AsyncKernelManager`` of that notebook (environment, transport).
    workers : int, default 2
        Kernels starting at the same time.
    """

    def __init__(self, make_km: Callable[[str], object], workers: int = 2):
        self._make_km = make_km
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="salesplan-kernel")
        self._ahead: dict[str, Future] = {}
        self._closed = False

    def __contains__(self, name: str) -> bool:
        return name in self._ahead

    def prestart(self, name: str, notebook: Path) -> None:
        """Start the kernel of ``notebook`` (stem ``name``) in the background, once."""
        if self._closed or name in self._ahead:
            return
        from jupyter_client.utils import run_sync

        def job():
            km = self._make_km(name)
            try:
                return run_sync(_start_and_warm)(km, str(Path(notebook).parent), warmup_code(notebook),
                                                 WARMUP_TIMEOUT)
            except BaseException:
                _shutdown(km)
                raise

        self._ahead[name] = self._pool.submit(job)

    def take(self, name: str):
        """The started kernel manager of ``name`` (waits for its start), or ``None`` when
        none was started or it failed to start (the caller starts one as usual)."""
        future = self._ahead.pop(name, None)
        if future is None:
            return None
        try:
            km = future.result(timeout=WARMUP_TIMEOUT)
        except Exception:  # noqa: BLE001 - a kernel that did not start ahead starts as usual
            return None
        return km if km.has_kernel else None

    def close(self) -> None:
        """Shut down every kernel started ahead and not taken (e.g. after a failure)."""
        self._closed = True
        for future in self._ahead.values():
            future.cancel()
        for future in list(self._ahead.values()):
            if not future.cancelled():
                with contextlib.suppress(Exception):
                    _shutdown(future.result(timeout=WARMUP_TIMEOUT))
        self._ahead.clear()
        self._pool.shutdown(wait=True)


def _shutdown(km) -> None:
    from jupyter_client.utils import run_sync

    if km is not None and km.has_kernel:
        with contextlib.suppress(Exception):
            run_sync(km.shutdown_kernel)(now=True)
