"""Kernels started ahead of their notebook: the runner's kernel start off the critical path.

A notebook's kernel costs a few seconds before its first cell runs: the kernel process
starts (~1 s) and the notebook imports pandas, scikit-learn and the package (~2-4 s).
:class:`KernelPool` starts the kernel of a notebook that will run next while the current
notebooks still run, and imports there what the notebook will import (its import
statements, :func:`warmup_code`), silently: no output, no history, no execution count,
no name left in the notebook's namespace.  The notebook then runs in that kernel as it
would in a new one (same environment, folder and kernel name; imports are cached).

A kernel whose notebook finished successfully is **reused** for a later notebook of the run
(when the pool is made with ``reuse_env``): :func:`reuse_code` makes it as new for that
notebook (:mod:`salesplan.reports.kernel_state`: namespace, execution counts, environment,
folder, warnings, matplotlib/pandas/numpy settings), so the imports are paid once per kernel
and the package's module caches (e.g. the forecast's fitted members, keyed by the history)
serve the later notebooks.  A notebook prefers the kernel that ran its upstream notebooks
(the critical chain 02 -> 04 -> 05 stays in one kernel).  A kernel is never reused after a
failed notebook; a reuse that fails falls back to another kernel.

Only the runner uses this (``salesplan run``); JupyterLab, papermill alone and nbval start
their kernels as usual.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

__all__ = ["KernelPool", "ready_client_class", "release_code", "reuse_code", "snapshot_code",
           "warmup_code"]

#: name of the module :mod:`salesplan.reports.kernel_state` becomes inside a kernel
STATE_MODULE = "_salesplan_kernel_state"

#: seconds a pre-started kernel may take to start and import (else it is dropped)
WARMUP_TIMEOUT = 120.0


def warmup_code(notebook: str | Path) -> str:
    """Code that imports, silently, what the notebook's code cells import at top level.

    Each ``import``/``from ... import`` statement runs in its own ``try`` inside a function
    and a fresh namespace (``exec(stmt, {})``), so nothing is bound in the kernel's user
    namespace and a failing import only fails later, in the notebook, as it would have.
    ``""`` when the notebook imports nothing (or cannot be read).
    """
    stmts: list[str] = []
    for source in _code_cells(notebook):
        try:
            tree = ast.parse(source)
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


def _code_cells(notebook: str | Path) -> list[str]:
    """The sources of the notebook's code cells; ``[]`` when it cannot be read.  A notebook
    in format 4 is read as JSON (``nbformat.read`` validates every cell and output: ~0.1 s
    per notebook in the runner before its kernel starts), older ones through nbformat."""
    import json

    try:
        with open(notebook, encoding="utf-8") as fh:
            nb = json.load(fh)
        if nb.get("nbformat") != 4:
            import nbformat

            return [c.source for c in nbformat.read(str(notebook), as_version=4).cells
                    if c.cell_type == "code"]
        return [cell_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    except (OSError, ValueError, AttributeError):
        return []


def cell_source(cell: dict) -> str:
    """The source text of a cell of a notebook's JSON (format 4 keeps it as one string or
    as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def snapshot_code() -> str:
    """Code that loads :mod:`salesplan.reports.kernel_state` into the kernel (once, as
    :data:`STATE_MODULE`, from its source: the package is not imported) and takes the
    kernel's snapshot; silent, binds no name."""
    source = Path(__file__).with_name("kernel_state.py").read_text("utf-8")
    return ("def __salesplan_snapshot(src):\n"
            "    import sys, types\n"
            f"    mod = sys.modules.get({STATE_MODULE!r})\n"
            "    if mod is None:\n"
            f"        mod = types.ModuleType({STATE_MODULE!r})\n"
            "        exec(compile(src, 'salesplan/reports/kernel_state.py', 'exec'), mod.__dict__)\n"
            f"        sys.modules[{STATE_MODULE!r}] = mod\n"
            "    mod.snapshot()\n"
            f"__salesplan_snapshot({source!r})\n"
            "del __salesplan_snapshot\n")


def release_code(max_peak_mib: float | None = None) -> str:
    """Code emptying a kernel whose notebook finished (:func:`kernel_state.release
    <salesplan.reports.kernel_state.release>`: namespace, history, figures, freed memory);
    fails, changing nothing, when the kernel cannot be made as new, and fails when the
    kernel's resident memory has peaked above ``max_peak_mib`` MiB."""
    return f"__import__('sys').modules[{STATE_MODULE!r}].release({max_peak_mib!r})\n"


def reuse_code(env: Mapping[str, str], cwd: str, notebook: str | Path) -> str:
    """Code making a kernel whose notebook finished as new for ``notebook``: reset (fails,
    changing nothing, when the kernel cannot be made as new or has no snapshot), then the
    notebook's imports (:func:`warmup_code`) and a new snapshot."""
    return (f"__import__('sys').modules[{STATE_MODULE!r}].reset({dict(env)!r}, {str(cwd)!r})\n"
            + warmup_code(notebook) + snapshot_code())


#: seconds without an IOPub message after which a client takes its IOPub as not connected yet
#: (jupyter_client's own figure) and asks again
IOPUB_GAP = 0.2


@functools.cache
def ready_client_class():
    """The asynchronous kernel client of the runner's kernels: ready as soon as its kernel
    answered and its IOPub channel is connected, without jupyter_client's fixed wait.

    ``AsyncKernelClient.wait_for_ready`` (jupyter_client 8) asks for ``kernel_info`` until
    the reply comes and an IOPub message shows that channel connected, then reads IOPub
    until 0.2 s pass without a message: every new client -- papermill's for each notebook,
    and the runner's for a kernel's warm-up, emptying and reuse -- waited those 0.2 s for
    nothing (three to four times on the 02 -> 04 -> 05 chain).  This client asks the same
    way and stops at the ``idle`` status of the ``kernel_info`` request it got the reply of:
    the kernel publishes it right after the reply, after anything it published before, so
    the channel is connected and drained of the request.  A gap of :data:`IOPUB_GAP`
    without it (messages lost while the channel was connecting) asks again, as before; a
    reply to a request of an earlier call (a client used again) does not count.
    Made once per process (jupyter_client imported on first use).
    """
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import KernelManager

    class ReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            if not isinstance(self.parent, KernelManager):  # heartbeats first: jupyter_client's
                return await super().wait_for_ready(timeout=timeout)
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            asked: set[str] = set()  # a reply to an earlier call's request proves nothing now
            while True:
                asked.add(self.kernel_info())
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    reply = None
                if (reply is not None and reply["msg_type"] == "kernel_info_reply"
                        and reply["parent_header"].get("msg_id") in asked
                        and await self._idle_after(reply["parent_header"].get("msg_id"))):
                    self._handle_kernel_info_reply(reply)
                    return None
                if not await self.is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

        async def _idle_after(self, request_id: str | None) -> bool:
            """Read IOPub up to the ``idle`` status of request ``request_id``; ``False``
            after :data:`IOPUB_GAP` seconds without a message."""
            while True:
                try:
                    msg = await self.iopub_channel.get_msg(timeout=IOPUB_GAP)
                except Empty:
                    return False
                if (msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"
                        and msg["parent_header"].get("msg_id") == request_id):
                    return True

    return ReadyClient


async def _run_silently(km, code: str, timeout: float, *, check: bool = False) -> None:
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        reply = await kc.execute(code, silent=True, store_history=False, reply=True, timeout=timeout)
        if check and reply["content"].get("status") != "ok":
            raise RuntimeError(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    finally:
        kc.stop_channels()


async def _start_and_warm(km, cwd: str, code: str, timeout: float):
    """Start ``km``'s kernel in ``cwd`` and run ``code`` silently; return ``km``."""
    await km.start_kernel(cwd=cwd)
    if code:
        await _run_silently(km, code, timeout)
    return km


class KernelPool:
    """Kernels started ahead for named notebooks, and (with ``reuse_env``) kernels kept
    after a successful notebook for the next ones.

    Parameters
    ----------
    make_km : callable
        ``make_km(name) -> AsyncKernelManager`` of that notebook (environment, transport).
    workers : int, default 2
        Kernels starting at the same time; with reuse, also the most kernels alive at once
        (started ahead, running a notebook or kept) beyond which none is started ahead.
    reuse_env : callable, optional
        ``reuse_env(name) -> {variable: value}``: the environment variables notebook
        ``name`` gets in a reused kernel (those ``make_km`` gives its kernel).  ``None``:
        no reuse, every notebook in a kernel of its own (shut down after it).
    max_peak_mib : float, optional
        A kernel whose notebook finished is shut down instead of kept when its resident
        memory has peaked above this (MiB): the heap of a notebook over a large company,
        emptied, would still raise the next notebook's peak.  ``None``: no limit.
    """

    def __init__(self, make_km: Callable[[str], object], workers: int = 2,
                 reuse_env: Callable[[str], Mapping[str, str]] | None = None,
                 max_peak_mib: float | None = None):
        self._make_km = make_km
        self._max_peak_mib = max_peak_mib
        self._workers = max(1, int(workers))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="salesplan-kernel")
        # kernels emptied or shut down after their notebook (not queued behind starts)
        self._after = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="salesplan-kernel-after")
        self._ahead: dict[str, Future] = {}
        self._reuse_env = reuse_env
        # kept kernels, the notebooks they ran, their release (emptied in the background)
        self._idle: list[tuple[object, list[str], Future | None]] = []
        self._out: dict[int, list[str]] = {}  # id(km) handed out -> notebooks run in it
        self._taking = 0  # kernels being made ready for a notebook (counted as alive)
        self._lock = threading.Lock()
        self._closed = False
        self._closing: threading.Thread | None = None
        #: ``(notebook, notebooks run before in its kernel)`` of every kernel handed out
        self.handed: list[tuple[str, tuple[str, ...]]] = []
        #: ``(notebook, notebooks run in the kernel, why)`` of every kernel not reused
        self.refused: list[tuple[str, tuple[str, ...], str]] = []
        self._refused_told = 0  # refusals already returned by new_refusals()

    def __contains__(self, name: str) -> bool:
        return name in self._ahead

    def prestart(self, name: str, notebook: Path) -> None:
        """Start the kernel of ``notebook`` (stem ``name``) in the background, once (with
        reuse: only while fewer than ``workers`` kernels are alive)."""
        from jupyter_client.utils import run_sync

        with self._lock:
            alive = len(self._ahead) + len(self._out) + len(self._idle) + self._taking
            if (self._closed or name in self._ahead
                    or (self._reuse_env is not None and alive >= self._workers)):
                return
            code = warmup_code(notebook) + (snapshot_code() if self._reuse_env is not None else "")

            def job():
                km = self._make_km(name)
                km._salesplan_for = name  # the notebook whose environment it has
                try:
                    return run_sync(_start_and_warm)(km, str(Path(notebook).parent), code, WARMUP_TIMEOUT)
                except BaseException:
                    _shutdown(km)
                    raise

            self._ahead[name] = self._pool.submit(job)

    def take(self, name: str, notebook: Path | None = None, upstream: Collection[str] = ()):
        """A started kernel manager for notebook ``name`` (waits for its start), or ``None``
        (the caller starts one as usual).  With reuse, in this order: a kept kernel that ran
        the most of ``upstream`` (its module caches serve this notebook), the kernel started
        ahead for ``name``, any kept kernel, a kernel started ahead for another notebook;
        a reused kernel is made as new for ``notebook`` first (:func:`reuse_code`)."""
        if self._reuse_env is None or notebook is None:
            with self._lock:
                future = self._ahead.pop(name, None)
            km = _started(future)
            self._hand_out(name, km, [])
            return km
        while True:
            with self._lock:
                km, ran, future, released = self._pick(name, set(upstream))
                if km is None and future is None:
                    return None
                self._taking += 1
            ready = None
            try:
                ready = self._ready(name, notebook, km, ran, future, released)
            finally:
                with self._lock:
                    self._taking -= 1
                    if ready is not None:
                        self._out[id(ready)] = [*ran, name]
                        self.handed.append((name, tuple(ran)))
            if ready is not None:
                return ready

    def _ready(self, name: str, notebook: Path, km, ran: list, future: Future | None,
               released: Future | None = None):
        """The picked kernel made ready for ``notebook``, or ``None`` (it is shut down)."""
        if future is not None:
            km = _started(future)
            if km is None or getattr(km, "_salesplan_for", None) == name:
                return km  # started ahead for this very notebook: as new already
        try:
            if released is not None:
                released.result()  # emptied when its notebook ended (or why it cannot be)
            _run_reuse(km, dict(self._reuse_env(name)), str(Path(notebook).parent), notebook)
        except Exception as exc:  # noqa: BLE001 - a kernel that cannot be made as new is dropped
            with self._lock:
                self.refused.append((name, tuple(ran), str(exc)))
            _shutdown(km)
            return None
        return km

    def _pick(self, name: str, upstream: set):
        """Under the lock: ``(kept km, its notebooks, None, its release)`` or
        ``(None, [], future, None)``."""
        scored = [(len(upstream.intersection(ran)), i) for i, (_, ran, _) in enumerate(self._idle)]
        best = max(scored, default=(0, -1))
        if best[0] > 0:
            km, ran, released = self._idle.pop(best[1])
            return km, ran, None, released
        if name in self._ahead:
            return None, [], self._ahead.pop(name), None
        if self._idle:
            km, ran, released = self._idle.pop(0)
            return km, ran, None, released
        if self._ahead:
            other = next((n for n, f in self._ahead.items() if f.done()), next(iter(self._ahead)))
            return None, [], self._ahead.pop(other), None
        return None, [], None, None

    def _hand_out(self, name: str, km, ran: list) -> None:
        if km is None:
            return
        with self._lock:
            self._out[id(km)] = [*ran, name]
            self.handed.append((name, tuple(ran)))

    def new_refusals(self) -> list[tuple[str, tuple[str, ...], str]]:
        """The entries of :attr:`refused` added since the last call (each returned once,
        whichever thread asks)."""
        with self._lock:
            new = self.refused[self._refused_told:]
            self._refused_told = len(self.refused)
        return new

    def ran_in(self, km) -> list[str]:
        """The notebooks that ran in ``km`` before the one it is handed out to now."""
        with self._lock:
            return list(self._out.get(id(km), [None])[:-1])

    def give_back(self, km, reusable: bool, *, background: bool = False) -> None:
        """The notebook run in ``km`` has ended: keep the kernel for a later notebook when
        it finished successfully (``reusable``) and reuse is on, emptied at once in the
        background (:func:`release_code`: its memory freed while it waits, and the next
        notebook's start spared it); else shut it down (``background``: in the background,
        :meth:`close` waits for it)."""
        with self._lock:
            ran = self._out.pop(id(km), None)
            keep = (reusable and ran is not None and self._reuse_env is not None
                    and not self._closed and km.has_kernel)
            if keep:
                self._idle.append((km, ran, self._after.submit(self._release, km, ran)))
            elif background and not self._closed:
                self._after.submit(_shutdown, km)
                return
        if not keep:
            _shutdown(km)

    def _release(self, km, ran: list) -> None:
        """Empty a kept kernel (:func:`release_code`); one that cannot be made as new or
        whose memory peaked above ``max_peak_mib`` is shut down at once when no notebook
        has taken it yet (else the error goes to the notebook taking it, which drops it)."""
        try:
            _run_release(km, self._max_peak_mib)
        except Exception as exc:
            with self._lock:
                kept = [i for i, entry in enumerate(self._idle) if entry[0] is km]
                if not kept:
                    raise
                del self._idle[kept[0]]
                self.refused.append(("", tuple(ran), str(exc)))
            _shutdown(km)

    def close(self, wait: bool = True) -> None:
        """Shut down every kernel started ahead and not taken (e.g. after a failure) and
        every kernel kept for reuse; ``wait=False``: in the background (a later
        ``close()`` waits for them)."""
        with self._lock:
            self._closed = True
            futures, idle = list(self._ahead.values()), [(km, rel) for km, _, rel in self._idle]
            self._ahead.clear()
            self._idle.clear()
        for future in futures:
            future.cancel()
        if self._closing is None:
            self._closing = threading.Thread(target=self._shut_all, args=(futures, idle),
                                             name="salesplan-kernel-close", daemon=True)
            self._closing.start()
        if wait:
            self._closing.join()

    def _shut_all(self, futures: list, idle: list) -> None:
        for km, released in idle:
            if released is not None:  # a kernel being emptied answers first (else its
                with contextlib.suppress(Exception):  # release would wait for a dead kernel)
                    released.result(timeout=WARMUP_TIMEOUT)
            _shutdown(km)
        for future in futures:
            if not future.cancelled():
                with contextlib.suppress(Exception):
                    _shutdown(future.result(timeout=WARMUP_TIMEOUT))
        self._after.shutdown(wait=True)  # the kernels given back, shut down in the background
        self._pool.shutdown(wait=True)


def _started(future: Future | None):
    """The kernel manager of a start ahead, or ``None`` when it failed or there is none."""
    if future is None:
        return None
    try:
        km = future.result(timeout=WARMUP_TIMEOUT)
    except Exception:  # noqa: BLE001 - a kernel that did not start ahead starts as usual
        return None
    return km if km.has_kernel else None


def _run_release(km, max_peak_mib: float | None = None) -> None:
    from jupyter_client.utils import run_sync

    run_sync(_run_silently)(km, release_code(max_peak_mib), WARMUP_TIMEOUT, check=True)


def _run_reuse(km, env: dict, cwd: str, notebook) -> None:
    from jupyter_client.utils import run_sync

    run_sync(_run_silently)(km, reuse_code(env, cwd, notebook), WARMUP_TIMEOUT, check=True)


def _shutdown(km) -> None:
    from jupyter_client.utils import run_sync

    if km is not None and km.has_kernel:
        with contextlib.suppress(Exception):
            run_sync(km.shutdown_kernel)(now=True)
