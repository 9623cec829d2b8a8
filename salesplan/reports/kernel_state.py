"""The state of a kernel the runner reuses: taken before a notebook, restored after it.

This module runs **inside the kernels** of ``salesplan run``: :mod:`salesplan.reports.kernels`
sends its source to a kernel (as the module ``_salesplan_kernel_state``, without importing
the package), calls :func:`snapshot` once the notebook's imports are done, :func:`release`
as soon as the notebook has finished successfully (the namespace emptied and its memory
freed while the kernel waits), and :func:`reset` when the kernel is reused for the next one.  :func:`reset` gives the next notebook what a new kernel would give it:

- an empty user namespace, the history and execution counts starting again at 1
  (IPython's ``reset(new_session=True)``), matplotlib figures closed;
- ``os.environ`` as at the snapshot with the next notebook's variables, the working folder,
  ``sys.path`` and the warnings filters (and the "warned once" registries) as at the snapshot;
- matplotlib's ``rcParams``, pandas' options and numpy's error handling and print options as
  at the snapshot, and the package's run-time globals (chart fonts, report language
  override) as after their import.

Modules and their caches stay loaded: that is the point (imports paid once per kernel, the
forecast's fitted members reused).  A kernel where a notebook imported one of
:data:`TRACKED` for the first time is not reused (:func:`reset` raises before changing
anything): the settings that import made cannot be told from the notebook's own.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import warnings

#: modules whose settings :func:`reset` restores, and matplotlib's inline backend: loaded
#: (by a pyplot figure) it changes rcParams, IPython's hooks and formatters.  Importing
#: ``matplotlib.pyplot`` alone (pandas' Styler does) changes none of them.
TRACKED = ("matplotlib", "matplotlib_inline.backend_inline", "pandas", "numpy")
#: globals the package sets while a notebook runs, with their values after import
PACKAGE_GLOBALS = {
    "salesplan.reports.charts": {"_configured": False, "_warned_tofu": False},
    "salesplan.reports.i18n": {"_override": None},
}

_state: dict = {}


def snapshot() -> None:
    """Remember the kernel's settings as they are before a notebook's first cell."""
    mpl, pd, np = (sys.modules.get(m) for m in ("matplotlib", "pandas", "numpy"))
    _state.clear()
    _state.update(
        modules={m for m in TRACKED if m in sys.modules},
        environ=dict(os.environ),
        cwd=os.getcwd(),
        path=list(sys.path),
        filters=list(warnings.filters),
        rc=_rc_params(mpl) if mpl is not None else None,
        pandas=_pandas_options(pd) if pd is not None else None,
        numpy=(np.geterr(), np.get_printoptions()) if np is not None else None,
    )


def _check_reusable() -> None:
    if not _state:
        raise RuntimeError("no snapshot of this kernel")
    new = sorted(m for m in TRACKED if m in sys.modules and m not in _state["modules"])
    if new:
        raise RuntimeError(f"not reusable: the notebook imported {', '.join(new)} first")


def _clear_namespace() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=True)


def release(max_peak_mib: float | None = None) -> None:
    """The first half of :func:`reset`, run as soon as the kernel's notebook has ended
    (in the background, before a next notebook is known): the figures closed, the user
    namespace and history emptied (execution counts from 1) and the freed memory handed
    back to the system, so a kept kernel holds no notebook's tables while it waits.
    Raises ``RuntimeError``, having changed nothing, when the kernel cannot be made as
    new; :func:`reset` then does only the rest.

    ``max_peak_mib``: raises ``MemoryError`` first (nothing emptied: the kernel is shut
    down) when the kernel's resident memory has peaked above that (MiB;
    :func:`resident_mib`): the heap of a notebook that large, emptied, still raises the
    next notebook's peak (by ~1.3 GiB at scale 100, 50-150 MiB at scale 10), where a new
    kernel costs only its imports."""
    now, peak = resident_mib()
    if max_peak_mib is not None and peak is not None and peak > max_peak_mib:
        raise MemoryError(f"peaked at {peak:,.0f} MiB resident (more than {max_peak_mib:,.0f} MiB), "
                          f"{now:,.0f} MiB when its notebook ended: a new kernel is started instead")
    _check_reusable()
    _clear_namespace()
    return_freed_memory()
    _state["released"] = True


def resident_mib() -> tuple[float | None, float | None]:
    """This process's resident memory now and its peak so far, MiB (``VmRSS`` and
    ``VmHWM`` of ``/proc/self/status``); ``(None, None)`` where they cannot be read."""
    found = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return found.get("VmRSS"), found.get("VmHWM")


def reset(env: dict, cwd: str | None = None) -> None:
    """Make the kernel as new for the next notebook (see the module); ``env`` holds that
    notebook's environment variables, ``cwd`` its folder.  Raises ``RuntimeError``, having
    changed nothing, when the kernel cannot be made as new.  After :func:`release` (nothing
    ran since) the namespace is not emptied again."""
    _check_reusable()
    released = _state.pop("released", False)
    if not released:
        _clear_namespace()
    _restore_environ({**_state["environ"], **{str(k): str(v) for k, v in env.items()}})
    name_process(os.environ.get("SALESPLAN_NOTEBOOK"))
    os.chdir(cwd or _state["cwd"])
    sys.path[:] = _state["path"]
    warnings.filters[:] = _state["filters"]
    warnings._filters_mutated()  # the "warned once" registries start again
    _restore_libraries()
    for module, values in PACKAGE_GLOBALS.items():
        if module in sys.modules:
            for name, value in values.items():
                setattr(sys.modules[module], name, value)
    if not released:
        return_freed_memory()  # the last notebook's objects (and their open files) go now


def name_process(notebook: str | None) -> None:
    """Name the kernel's process after the notebook it now runs (Linux: ``/proc/PID/comm``,
    its first 15 bytes; what ``top`` shows): a reused kernel's environment, read from outside
    (``/proc/PID/environ``), still names the notebook it was started for.  Nothing happens
    elsewhere or without a name."""
    if not notebook or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, notebook.encode("utf-8")[:15])  # 15: PR_SET_NAME
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        pass


def _restore_environ(target: dict) -> None:
    for key in [k for k in os.environ if k not in target]:
        del os.environ[key]
    for key, value in target.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _restore_libraries() -> None:
    mpl, pd, np = (sys.modules.get(m) for m in ("matplotlib", "pandas", "numpy"))
    if mpl is not None and _state["rc"] is not None:
        update = getattr(mpl.rcParams, "_update_raw", None)  # as matplotlib.rc_context
        (update or (lambda rc: dict.update(mpl.rcParams, rc)))(_state["rc"])
    if pd is not None and _state["pandas"] is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for key, value in _state["pandas"].items():
                if pd.get_option(key) != value:
                    pd.set_option(key, value)
    if np is not None and _state["numpy"] is not None:
        err, printing = _state["numpy"]
        np.seterr(**err)
        try:
            np.set_printoptions(**printing)
        except (TypeError, ValueError):  # an option of another numpy version
            np.set_printoptions(**{k: v for k, v in printing.items() if k != "override_repr"})


def _rc_params(mpl) -> dict:
    rc = dict(mpl.rcParams.copy())  # as matplotlib.rc_context: the backend stays as it is
    rc.pop("backend", None)
    return rc


def _pandas_options(pd) -> dict:
    from pandas._config import config

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated options
        for key in config._registered_options:
            try:
                out[key] = pd.get_option(key)
            except Exception:  # noqa: BLE001 - an option that cannot be read is not restored
                continue
    return out


def return_freed_memory() -> None:
    """Give the memory of freed tables back to the operating system.

    Freed tables leave their pages with Arrow's allocator and glibc's ``malloc``: after
    the source check the runner stayed at 416 MiB at scale 10 (184 MiB after this:
    ``gc.collect``, Arrow's ``release_unused``, glibc's ``malloc_trim``), ~1.8 GB at scale
    100, for the whole run; a reused kernel kept its last notebook's.  Used by the runner
    after the check and by :func:`reset`.  Each step is skipped where it does not exist
    (Arrow not imported, another C library).
    """
    import ctypes

    gc.collect()
    with contextlib.suppress(Exception):
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
