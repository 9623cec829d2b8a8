"""Run the planning notebooks with papermill and build the leadership reports.

``run_plan()`` (and ``salesplan run``) executes the notebooks of ``notebooks/`` in
dependency order, each with an explicit kernel and a per-cell timeout, and builds::

    reports/<run_id>/
        index.html                 headline figures of every notebook + links
        summary.html, summary.pdf  executive summary (salesplan.reports.summary), first on index
        01_data_health.html        leadership report (no code), one per notebook
        01_data_health.ipynb       executed notebook (for analysts)
        salesplan_<period>.xlsx    workbook: headlines, run info, published tables
        headlines.json, run.json, run.log
    reports/latest -> <run_id>     (and reports/latest.txt) the last good run

Everything is built in ``reports/.tmp-<run_id>/`` and renamed when complete, so a
failure never touches a previous good report; a failed run is kept as
``reports/failed-<run_id>/`` with the partly executed notebook, and :class:`RunError`
carries the failing cell's error in one line.

Secrets: parameters named like passwords/tokens are refused; a password written in the
source URL is moved into the kernel's environment (``SALESPLAN_DB_PASSWORD``) and the
notebooks receive ``...:${SALESPLAN_DB_PASSWORD}@...`` instead, so neither the
injected-parameters cell nor papermill's metadata holds it; a last pass masks any
secret value found in the written text files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from salesplan.data.secrets import SECRET_ENV_VARS as _SECRET_ENV_VARS
from salesplan.data.secrets import env_secret_values, query_has_secret, scrub
from salesplan.reports.params import (
    ENV_HINT,
    PERIOD_PATTERN,
    ParameterError,
    check_no_secrets,
)

# publish and workbook import pandas: imported where used (after the first kernels start);
# the runner's words NO_PLAN_SHEETS and PLAN_TABLES (salesplan.reports.workbook) on first use
_LAZY = {"NO_PLAN_SHEETS": "salesplan.reports.workbook", "PLAN_TABLES": "salesplan.reports.workbook"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'salesplan.reports.runner' has no attribute {name!r}")


RUN_ID_ENV = "SALESPLAN_RUN_ID"  # = salesplan.data.store.RUN_ID_ENV (no data import here)
RUN_NAME_ENV = "SALESPLAN_RUN_NAME"

#: How each notebook's kernel allocates memory, unless this process's environment says
#: otherwise (issue 19): Arrow's buffers (the text columns of the tables read) come from
#: the system allocator instead of mimalloc, which keeps freed pages for its own reuse, so
#: the kernel's other allocations can use them and ``malloc_trim`` can give them back.
#: Measured (``benchmarks/notebook_cells.py``): notebook 05 at scale 100 holds 2.76 GB
#: instead of 3.40 GB after loading its tables, with the same CPU time (58.7 vs 60.7 s).
#: Fixing glibc's ``MALLOC_MMAP_THRESHOLD_`` (each block of 64-256 KiB or more mapped on
#: its own and unmapped when freed) would keep still less, but costs CPU: notebook 03
#: took 15% longer at scale 100 (158 vs 137 s) and 27% at scale 10 with 64 KiB: its
#: per-customer arrays are mapped and zeroed anew each time.  Not set.
KERNEL_ALLOCATOR_ENV: dict[str, str] = {"ARROW_DEFAULT_MEMORY_POOL": "system"}
#: The BLAS libraries' thread-count variables: each kernel of a run gets
#: :func:`kernel_blas_threads` threads, unless this process's environment sets the variable.
#: OpenBLAS (numpy's and scipy's) otherwise starts one thread per core in every kernel, and
#: with ``jobs`` kernels on as many cores its threads wait for each other by spinning while
#: the other kernel holds the core: at scale 100 on 2 cores, one thread per kernel took the
#: plan from 317 to 305 s and 581 to 549 s of CPU (02 200 instead of 213 s, 03b 90 instead
#: of 110 s; benchmarks/RESULTS.md, session 24).  The figures move in their last digits
#: (a sum of products split between threads is added in another order; at the demo the
#: budget split's response curves by ~1e-6), as they already did between machines of
#: different core counts.
BLAS_THREADS_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
SOURCE_RECORDS = ".source_records.json"  # in the output folder (salesplan.data.source_records)

__all__ = [
    "DEFAULT_KERNEL",
    "DEFAULT_PERIOD",
    "NotebookResult",
    "RunError",
    "RunResult",
    "default_notebooks_dir",
    "discover_notebooks",
    "downstream_of",
    "parameter_docs",
    "prepare_source",
    "redact",
    "run_plan",
]

DEFAULT_PERIOD = "2027Q1"
DEFAULT_KERNEL = "salesplan"
FALLBACK_KERNEL = "python3"
#: MiB: a kernel whose resident memory peaked above this is not reused after its notebook
#: (``run_plan(reuse_max_peak_mib=...)``).  Kernels peak at 0.3-1.2 GiB at the demo and at
#: scale 10, 2-5.5 GiB at scale 100, where a reused kernel ran the next notebook ~1.3 GiB
#: higher than a new one (benchmarks/RESULTS.md, "kernel reuse")
REUSE_MAX_PEAK_MIB = 2048.0
PASSWORD_ENV = "SALESPLAN_DB_PASSWORD"
SECRET_ENV_VARS = _SECRET_ENV_VARS  # PGPASSWORD, SALESPLAN_DB_PASSWORD (salesplan.data.secrets)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class NotebookResult:
    """One executed notebook of a run."""

    name: str
    title: str
    notebook: Path
    html: Path
    seconds: float
    parameters: dict
    headlines: dict | None
    carried_from: str | None = None  # run id when not re-run: the report comes from there
    stale: bool = False  # carried over although a notebook it depends on was re-run


@dataclass(frozen=True)
class RunResult:
    """Where a successful run put its outputs."""

    run_id: str
    period: str
    source: str | None  # redacted
    run_dir: Path
    index: Path
    workbook: Path | None
    notebooks: list[NotebookResult] = field(default_factory=list)

    @property
    def headlines(self) -> dict[str, dict | None]:
        return {r.name: r.headlines for r in self.notebooks}


class RunError(RuntimeError):
    """A notebook failed.  ``str(err)`` is one line: notebook, cell, error type and message.

    Attributes
    ----------
    notebook : str
        Name of the failing notebook.
    cell : int or None
        Execution count of the failing cell (``In [n]``).
    failed_dir : Path or None
        Folder holding the partly executed copy.
    """

    def __init__(self, message: str, *, notebook: str = "", cell: int | None = None,
                 failed_dir: Path | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.failed_dir = failed_dir


# --------------------------------------------------------------------------- secrets


_secret_values = env_secret_values


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Mask URL passwords and known secret values (env passwords, ``secrets``) in text
    (:func:`salesplan.data.secrets.scrub`, not cut)."""
    return scrub(text, secrets, max_len=None)


def prepare_source(url: str | None, base: Path | None = None) -> tuple[str | None, dict[str, str]]:
    """Make a source URL safe and usable from the notebooks' folder.

    Returns ``(url_for_notebooks, environment)``:

    * relative DuckDB/SQLite file paths and plain folder paths become absolute (against
      ``base``, default the current directory), since notebooks run in their own folder;
    * a literal password in the URL is replaced by ``${SALESPLAN_DB_PASSWORD}`` and
      returned in ``environment`` for the kernel, so it is never written to a notebook;
    * ``${NAME}`` references and passwords from ``PGPASSWORD`` pass unchanged.
    """
    if url is None:
        return None, {}
    url = str(url)
    base = Path(base or Path.cwd())
    m = re.match(r"^(duckdb|sqlite)(\+\w+)?:///(.*)$", url)
    if m:
        path = m.group(3)
        rest = ""
        if "?" in path:
            path, rest = path.split("?", 1)
            rest = "?" + rest
        if path and path != ":memory:" and not path.startswith("/"):
            path = str((base / path).resolve())
            url = f"{m.group(1)}{m.group(2) or ''}:///{path}{rest}"
        return url, {}
    if "://" not in url:
        path, sep, query = url.partition("?")  # read options: folder?date_format=...
        full = str((base / path).resolve()) if not Path(path).is_absolute() else path
        return full + sep + query, {}
    parts = urlsplit(url)
    if query_has_secret(url):
        raise ParameterError(
            f"the source URL {redact(url)} carries a secret in its query string; {ENV_HINT}"
        )
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user, password = userinfo.split(":", 1)
            if not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", password):
                safe = url.replace(f"{netloc}", f"{user}:${{{PASSWORD_ENV}}}@{host}", 1)
                return safe, {PASSWORD_ENV: unquote(password)}
    return url, {}



# --------------------------------------------------------------------------- notebooks


def default_notebooks_dir() -> Path:
    """``./notebooks`` when it exists, else the ``notebooks/`` folder of the checkout."""
    here = Path.cwd() / "notebooks"
    if here.is_dir():
        return here
    import salesplan

    return Path(salesplan.__file__).resolve().parents[1] / "notebooks"


def _depends(path: Path) -> list[str]:
    """Stems of the notebooks ``path`` lists in its metadata ``salesplan.depends_on``."""
    path = Path(path)
    return list(_depends_cached(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _depends_cached(path: str, mtime_ns: int) -> tuple[str, ...]:
    # the notebook's JSON metadata only: nbformat.read validates every cell and output
    # (3.4 s for the demo's eight notebooks, on the critical path of every run)
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    deps = nb.get("metadata", {}).get("salesplan", {}).get("depends_on", [])
    return tuple(Path(d).stem for d in deps)


def _all_notebooks(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist")
    paths = sorted(p.resolve() for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not paths:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {folder}")
    return paths


def _find_notebook(folder: Path, name: str | Path) -> Path:
    """A notebook by path, file name, stem or unique stem prefix; a clear error otherwise."""
    import difflib

    p = Path(name)
    for candidate in (p if p.suffix == ".ipynb" else p.with_suffix(".ipynb"),
                      folder / (p.stem + ".ipynb")):
        if candidate.exists():
            return candidate.resolve()
    stems = sorted(q.stem for q in folder.glob("*.ipynb") if not q.name.startswith("."))
    matches = [s for s in stems if s.startswith(str(name))]
    whole = [s for s in matches if s.startswith(f"{name}_")]  # "03" -> 03_x, not 03b_y
    if len(whole) == 1:
        matches = whole
    if len(matches) == 1:
        return (folder / f"{matches[0]}.ipynb").resolve()
    if matches:
        raise FileNotFoundError(f"notebook {str(name)!r} is ambiguous: {matches} all start "
                                "with it; give more of the name")
    close = difflib.get_close_matches(str(name), stems, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise FileNotFoundError(f"notebook {str(name)!r} not found in {folder}; {hint}have {stems}")


def downstream_of(paths: Sequence[Path], folder: str | Path | None = None) -> list[Path]:
    """``paths`` plus every notebook of ``folder`` that depends on them, directly or
    through others (metadata ``salesplan.depends_on``), in dependency order.

    Re-running the targets notebook (04) thus re-runs resource allocation (05), which
    reads the targets: a partial run never leaves a later report on old inputs.
    """
    folder = Path(folder) if folder is not None else Path(paths[0]).parent
    every = {p.stem: p for p in _all_notebooks(folder)}
    chosen = {Path(p).stem for p in paths}
    grew = True
    while grew:
        more = {s for s, p in every.items() if s not in chosen and chosen & set(_depends(p))}
        grew = bool(more)
        chosen |= more
    extra = [every[s] for s in sorted(chosen) if s in every]
    return discover_notebooks(folder, [*paths, *[p for p in extra if p not in paths]])


def discover_notebooks(
    folder: str | Path | None = None, names: Sequence[str | Path] | None = None
) -> list[Path]:
    """The notebooks to run, in dependency order.

    Parameters
    ----------
    folder : path, optional
        Where the notebooks live (default :func:`default_notebooks_dir`).  Every
        ``*.ipynb`` directly inside is a planning step (checkpoints excluded).
    names : sequence, optional
        Only these: stems (``"04_quarterly_targets"``), unique prefixes of a stem
        (``"04"``), file names or paths.  Upstream steps are not added (their results
        are read from the plan store); see :func:`downstream_of` for the steps after them.

    Order: a notebook may list upstream notebooks in its metadata
    ``{"salesplan": {"depends_on": ["01_data_health"]}}``; otherwise, and between
    independent notebooks, file-name order (``01_...``, ``02_...``) decides.
    """
    folder = Path(folder) if folder is not None else default_notebooks_dir()
    if names:
        paths = [_find_notebook(folder, n) for n in names]
    else:
        paths = _all_notebooks(folder)
    by_stem = {p.stem: p for p in sorted(paths, key=lambda p: p.name)}
    deps = {s: [d for d in _depends(p) if d in by_stem] for s, p in by_stem.items()}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(s: str, chain: tuple[str, ...]) -> None:
        if state.get(s) == 2:
            return
        if state.get(s) == 1:
            raise ValueError(f"notebook dependencies form a cycle: {' -> '.join(chain + (s,))}")
        state[s] = 1
        for d in sorted(deps[s]):
            visit(d, chain + (s,))
        state[s] = 2
        order.append(s)

    for s in by_stem:
        visit(s, ())
    return [by_stem[s] for s in order]


def _declared_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares, as ``papermill.inspect_notebook`` gives them
    (name -> ``{name, inferred_type_name, default, help}``), read once per version of the
    file: a run asks for every notebook's up to three times (names, currency, fiscal start)
    before its first kernel starts."""
    path = Path(path)
    stat = path.stat()
    return {k: dict(v) for k, v in _declared_cached(str(path), stat.st_mtime_ns, stat.st_size).items()}


@functools.lru_cache(maxsize=64)
def _declared_cached(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    # the notebook's JSON and papermill's own parse of the parameters cell: inspect_notebook
    # imports papermill (~0.3 s CPU) and reads the notebook with nbformat, which validates
    # every cell and output (~0.3 s more for the demo's eight), before the first kernel starts
    found = _python_parameters_cell(path)
    if found is None:  # another language or notebook format: papermill's own reading
        import papermill

        return dict(papermill.inspect_notebook(path))
    return {p["name"]: p for p in inspect_python_parameters(found)}


def _python_parameters_cell(path: str | Path) -> str | None:
    """The source of the first cell tagged ``parameters`` of a Python notebook in format 4
    (``""`` when it has none), read from its JSON without validating it; ``None`` for a
    notebook papermill must read itself (another language or format)."""
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    meta = nb.get("metadata", {})
    language = (meta.get("language_info", {}).get("name")
                or meta.get("kernelspec", {}).get("language"))  # papermill's nb_language
    if nb.get("nbformat") != 4 or language != "python" or not meta.get("kernelspec", {}).get("name"):
        return None
    from salesplan.reports.kernels import cell_source

    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell_source(cell)
    return ""


#: papermill's ``PythonTranslator.PARAMETER_PATTERN`` (papermill 2.x): one parameter definition
_PARAMETER_PATTERN = re.compile(
    r"^(?P<target>\w[\w_]*)\s*(:\s*[\"']?(?P<annotation>\w[\w_\[\],\s]*)[\"']?\s*)?=\s*(?P<value>.*?)"
    r"(\s*#\s*(type:\s*(?P<type_comment>[^\s]*)\s*)?(?P<help>.*))?$"
)


def inspect_python_parameters(source: str) -> list[dict[str, str]]:
    """The parameters of a Python ``parameters`` cell, parsed as papermill's
    ``PythonTranslator.inspect`` parses it: lines grouped per assignment (a value may span
    lines; comments inside it dropped, the last line's comment is the help), a line with
    two ``=`` skipped.  Each as ``{name, inferred_type_name, default, help}`` (text; the
    type ``"None"`` when not annotated)."""
    def flatten(lines: list[str]) -> str:
        flat = "".join(ln[:ln.index("#")].strip() if "#" in ln else ln.strip() for ln in lines[:-1])
        return flat + (lines[-1].strip() if lines else "")

    groups, lines = [], []
    for line in source.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        equals = line.count("=")
        if equals > 0:
            groups.append(flatten(lines))
            lines = []
            if equals > 1:
                continue  # papermill: "Unable to parse line"
        lines.append(line)
    groups.append(flatten(lines))
    params = []
    for definition in filter(None, groups):
        m = _PARAMETER_PATTERN.match(definition)
        if m is None:
            continue
        type_name = str(m["annotation"] or m["type_comment"] or None)
        params.append({"name": m["target"].strip(), "inferred_type_name": type_name.strip(),
                       "default": str(m["value"]).strip(), "help": str(m["help"] or "").strip()})
    return params


def parameter_docs(path: Path) -> dict[str, str]:
    """The comment block above each assignment of a notebook's ``parameters`` cell, keyed
    by parameter name (``# growth (float, ...): top-down goal ...`` -> its text)."""
    source = _python_parameters_cell(path)
    if source is None:
        import nbformat

        nb = nbformat.read(str(path), as_version=4)
        cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
        source = cell.source if cell is not None else ""
    docs: dict[str, str] = {}
    block: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        m = re.match(r"^([A-Za-z_]\w*)\s*=", stripped)
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
        elif m:
            docs[m.group(1)] = " ".join(block)
            if not (block and re.match(r"^\w+(, \w+)+ \(", block[0])):
                block = []  # a block naming several parameters serves them all
        else:
            block = []
    return docs


def _pick_kernel(kernel: str | None) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if kernel:
        if kernel not in specs:
            raise ParameterError(
                f"kernel {kernel!r} is not installed (have {sorted(specs)}); install it with "
                f"`python -m ipykernel install --sys-prefix --name {kernel}`"
            )
        return kernel
    return DEFAULT_KERNEL if DEFAULT_KERNEL in specs else FALLBACK_KERNEL


def _one_line(text: str, limit: int = 300) -> str:
    text = _ANSI.sub("", str(text))
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _new_run_id(out: Path, period: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{period}-{stamp}"
    run_id, k = base, 1
    while any((out / f"{p}{run_id}").exists() for p in ("", ".tmp-", "failed-")):
        k += 1
        run_id = f"{base}-{k}"
    return run_id


def _load_params_file(path: str | Path | None) -> dict:
    if path is None:
        return {}
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text("utf-8")) or {}
    except FileNotFoundError:
        raise ParameterError(f"parameters file {str(p)!r} does not exist") from None
    except yaml.YAMLError as e:
        raise ParameterError(f"parameters file {str(p)!r} is not valid YAML: {_one_line(e)}") from None
    if not isinstance(data, dict):
        raise ParameterError(
            f"parameters file {str(p)!r} must hold a mapping NAME: VALUE, got {type(data).__name__}"
        )
    return {str(k): v for k, v in data.items()}


# --------------------------------------------------------------------------- checks


def json_safe(value):
    """``value`` with dates/times turned into ISO text, recursively.

    YAML reads ``2026-12-31`` as a date, which papermill cannot write into a notebook
    ("date is not JSON serializable"); notebooks take dates as ``YYYY-MM-DD`` text.
    """
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time(0) else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def check_source_data(url: str, period: str, as_of: str | None = None, *,
                      records: str | Path | None = None) -> bool:
    """Read and validate the source before any notebook runs (``salesplan validate``);
    ``True`` when its tables were read, ``False`` when a records file spared it.

    Parameters
    ----------
    records : path, optional
        A records file (:mod:`salesplan.data.source_records`).  A file source whose files
        are unchanged since its check passed for the same day (and code) is not read
        again; a check that passes records that day and the source's fingerprint, which
        the notebooks' ``Source.fingerprint`` then reuse.  Databases are always checked.

    Raises
    ------
    RunError
        One line: the source failure, or the first broken rule (table.column, rule,
        rows) and how many more; ``salesplan validate`` lists them all.
    """
    import pandas as pd

    from salesplan.data import open_source, validate_source
    from salesplan.data.source_records import recorded

    try:
        day = pd.Timestamp(as_of) if as_of else pd.Period(period, freq="Q").start_time - pd.Timedelta(days=1)
        source = open_source(url)
        identity = source.identity() if records is not None else None  # before reading: a change re-checks
        known = recorded(records, identity)
        if f"{day:%Y-%m-%d}" in known.get("checked", []):
            return False  # checked for this day, files and code unchanged since
        want_fp = identity is not None and not known.get("fingerprint")
        beside = _fingerprint_beside(url, source) if want_fp else None
        try:  # one table at a time; the fingerprint from the checked tables or beside them
            report, fp = validate_source(source, as_of=day, fingerprint=want_fp and beside is None)
            if beside is not None and report.ok:
                fp = beside.result()
        finally:
            if beside is not None:
                beside.stop()
    except Exception as e:  # noqa: BLE001 - a source that cannot be read fails the run
        raise RunError(f"data check failed before any notebook ran: {_one_line(e)}") from None
    if report.ok:
        if identity is not None:
            _record_check(records, identity, fp, f"{day:%Y-%m-%d}", report)
        return True
    first, more = report.errors[0], len(report.errors) - 1
    raise RunError(
        f"data check failed before any notebook ran: "
        f"{_one_line(str(first).removeprefix('[error] '), 600)}"
        + (f"; and {more} more error(s)" if more else "")
        + " (salesplan validate SOURCE lists them)"
    )


#: a file source larger than this (bytes; ~2.5M order lines in DuckDB) is hashed for its
#: fingerprint in a second process while it is checked: at scale 100 (354 MB) the hashing
#: takes ~9 s of the check's ~28 s on the core the check leaves idle; below, the ~1.5 s a
#: process takes to start is not won back
FINGERPRINT_BESIDE_BYTES = 64 * 2**20


def _fingerprint_beside(url: str, source) -> _Beside | None:
    """``open_source(url).fingerprint()`` (the same number as the check's,
    :meth:`salesplan.data.sources.Source.fingerprint`) being computed in a new process, or
    ``None`` when the source's files are too small for that to pay
    (:data:`FINGERPRINT_BESIDE_BYTES`)."""
    if source.file_bytes() <= FINGERPRINT_BESIDE_BYTES:
        return None
    return _Beside(url)


class _Beside:
    """A source's fingerprint computed in a new Python process (not a fork: the kernels'
    threads are running; not multiprocessing's spawn, which imports the caller's main
    script again).  The URL is passed on its standard input, not its command line."""

    def __init__(self, url: str):
        import subprocess

        self._proc = subprocess.Popen(
            [sys.executable, "-c", _FINGERPRINT_CODE], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._proc.stdin.write(url + "\n")
        self._proc.stdin.close()

    def result(self) -> str | None:
        """The fingerprint; ``None`` when it failed (the notebooks then hash the source
        themselves, as without a records file)."""
        out = self._proc.stdout.read().strip()
        return out if self._proc.wait() == 0 and re.fullmatch(r"[0-9a-f]{64}", out) else None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._proc.stdout.close()


_FINGERPRINT_CODE = ("import sys; from salesplan.data import open_source; "
                     "print(open_source(sys.stdin.readline().rstrip('\\n')).fingerprint())")


def _record_check(records, identity: str, fingerprint: str | None, day: str, report) -> None:
    """Record a passed check, its report (its warnings; the data-health notebook shows them
    instead of checking again, :func:`salesplan.data.load_validated`) and the source's
    fingerprint (from the tables just checked; ``None``: already recorded); a records file
    that cannot be written only costs a check next time."""
    from salesplan.data.source_records import add_record

    try:
        add_record(records, identity, checked=day, fingerprint=fingerprint, report=report.to_record())
    except OSError:
        pass


def _quiet_timeout_log() -> None:
    """nbclient logs "Timeout waiting for execute reply" through papermill's logger before
    raising; the run's own one-line error says it, so the log line is dropped."""
    import logging

    log = logging.getLogger("papermill")
    if not any(getattr(f, "_salesplan", False) for f in log.filters):
        def drop(record: logging.LogRecord) -> bool:
            return "Timeout waiting for execute reply" not in record.getMessage()

        drop._salesplan = True  # type: ignore[attr-defined]
        log.addFilter(drop)


def _cell_limit(timeout: float | None, run_timeout: float | None, started: float):
    """Seconds the next cell may take and which option sets it."""
    if run_timeout is None:
        return timeout, "--timeout"
    left = run_timeout - (time.monotonic() - started)
    if timeout is None or left < timeout:
        return (int(math.ceil(left)) if left > 0 else 0), "--run-timeout"
    return timeout, "--timeout"


def _failure_text(exc: BaseException, limit: float | None, limit_name: str):
    """(cell, one-line text, detail) of a notebook failure."""
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        what = f"{exc.ename}: {_one_line(exc.evalue)}" if exc.evalue else exc.ename
        return exc.exec_count, what, "\n".join(exc.traceback or [])
    import traceback as _tb

    detail = "".join(_tb.format_exception(exc))
    if isinstance(exc, CellTimeoutError) or isinstance(exc, TimeoutError):
        return None, f"timed out: a cell ran longer than {limit:g} s ({limit_name})", detail
    return None, f"{type(exc).__name__}: {_one_line(exc)}", detail


# --------------------------------------------------------------------------- outputs


OVERRIDES_PARAM = "quota_overrides"  # the parameter of notebook 04 that --overrides fills


def _read_overrides(path: str | Path, period: str) -> dict[str, float]:
    """The quota overrides of a planner's workbook, or a one-line ParameterError."""
    from salesplan.reports.workbook import OverrideError, read_quota_overrides

    try:
        return read_quota_overrides(path, period=period)
    except OverrideError as e:
        raise ParameterError(f"--overrides: {e}") from None


def _published_tables(tables_dir: Path, name: str):
    """(name, frame) of every table notebook ``name`` published, in its order (time zones dropped)."""
    import pandas as pd

    folder = tables_dir / name
    manifest = folder / "tables.json"
    if not manifest.exists():
        return
    for entry in json.loads(manifest.read_text("utf-8")):
        frame = pd.read_parquet(folder / entry["file"])
        for c in frame.columns:  # Excel has no time zones
            if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
                frame[c] = frame[c].dt.tz_localize(None)
        yield entry["name"], frame


def _write_workbook(path: Path, *, run_info: dict, results: list[NotebookResult], tables_dir: Path,
                    built=None) -> Path:
    """The run's workbook (:class:`salesplan.reports.workbook.RunWorkbook`: plan sheets,
    headlines, the run's parameters, every published table grouped by notebook), from the
    sheets ``built`` ahead (a ``RunWorkbook`` the notebooks were added to as they ended)
    and the tables in ``tables_dir`` of the others.  In the report language."""
    from salesplan.reports.workbook import RunWorkbook

    book = built if built is not None else RunWorkbook()
    return book.save(path, run_info=run_info, results=results,
                     tables=lambda name: _published_tables(tables_dir, name))


_TEXT_SUFFIXES = {".ipynb", ".html", ".json", ".log", ".txt", ".csv", ".md"}


def _scrub_tree(folder: Path, secrets: Sequence[str], public_text: str = "") -> list[Path]:
    """Replace any secret value in the text files of ``folder`` by ``***``.

    ``secrets`` (passwords taken from the source URL) are always masked; passwords from
    the environment are masked unless they occur in ``public_text`` (the notebooks and
    templates): a weak password such as ``salesplan`` must not blank out the reports.
    """
    explicit = {v for s in secrets if s for v in (s, quote(s, safe=""))}
    values = [v for v in _secret_values(secrets) if v in explicit or v not in public_text]
    if not values:
        return []
    variants = set()
    for v in values:
        variants |= {v, json.dumps(v)[1:-1]}
    changed = []
    for p in folder.rglob("*"):
        if p.is_file() and p.suffix in _TEXT_SUFFIXES:
            text = p.read_text("utf-8", errors="surrogateescape")
            new = text
            for v in sorted(variants, key=len, reverse=True):
                new = new.replace(v, "***")
            if new != text:
                p.write_text(new, "utf-8", errors="surrogateescape")
                changed.append(p)
    return changed


def _point_latest(out: Path, run_id: str) -> None:
    (out / "latest.txt").write_text(run_id + "\n", "utf-8")
    link = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_id, tmp, target_is_directory=True)
        if link.exists() and not link.is_symlink():
            tmp.unlink()  # a real folder named latest: leave it, latest.txt still points
            return
        os.replace(tmp, link)
    except OSError:  # no symlinks on this file system: latest.txt is enough
        with contextlib.suppress(OSError):
            tmp.unlink()


# --------------------------------------------------------------------------- partial runs


def _latest_run_dir(out: Path) -> Path | None:
    marker = out / "latest.txt"
    if not marker.exists():
        return None
    folder = out / marker.read_text("utf-8").strip()
    return folder if (folder / "run.json").exists() else None


def _carry_plan(prev: Path | None, ran_names: Collection[str], *, period: str,
                source: str) -> tuple[dict, list[dict]]:
    """``(run.json of prev, its notebook records to carry over)``: the notebooks of run
    ``prev`` (the latest) not re-run whose report exists, when ``prev`` is of the same period
    and source; else ``({}, [])``."""
    if prev is None:
        return {}, []
    info = json.loads((prev / "run.json").read_text("utf-8"))
    if info.get("period") != period or info.get("source") != source:
        return {}, []  # another plan: nothing to carry (the caller says so)
    return info, [nb for nb in info.get("notebooks", [])
                  if nb["name"] not in ran_names and (prev / nb["html"]).exists()]


def _carry_over(out: Path, tmp: Path, ran: Sequence[NotebookResult], *, period: str,
                source: str, folder: Path, prev: Path | None = None) -> list[NotebookResult]:
    """Copy the reports of the notebooks not re-run from the latest run (``prev``, default
    the one ``latest`` names now) of the same period and source into ``tmp``; return them as
    results marked ``carried_from``."""
    import shutil

    prev = prev if prev is not None else _latest_run_dir(out)
    ran_names = {r.name for r in ran}
    info, plan = _carry_plan(prev, ran_names, period=period, source=source)
    if not plan:
        return []
    headlines = json.loads((prev / "headlines.json").read_text("utf-8"))
    every = {p.stem: p for p in discover_notebooks(folder)}
    carried = []
    for nb in plan:
        name = nb["name"]
        for f in (nb["html"], nb["notebook"]):
            shutil.copy2(prev / f, tmp / f)
        if (prev / "tables" / name).is_dir():
            shutil.copytree(prev / "tables" / name, tmp / "tables" / name)
        upstream = _upstream_closure(name, every)
        carried.append(NotebookResult(
            name=name, title=nb.get("title", name), notebook=tmp / nb["notebook"],
            html=tmp / nb["html"], seconds=float(nb.get("seconds", 0.0)),
            parameters=nb.get("parameters", {}), headlines=headlines.get(name),
            carried_from=info.get("run_id"), stale=bool(upstream & ran_names)))
    return carried


def _upstream_closure(name: str, every: Mapping[str, Path]) -> set[str]:
    """Every notebook that ``name`` reads from, directly or through others."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        for d in (_depends(every[current]) if current in every else []):
            if d not in seen:
                seen.add(d)
                stack.append(d)
    return seen


def _default_source(declared: Mapping[str, Mapping], folder: Path, secrets) -> str | None:
    """The ``source`` default of the notebooks, resolved from their folder (redacted)."""
    import ast

    from salesplan.reports import resolve_url

    for params in declared.values():
        text = params.get("source", {}).get("default")
        if text:
            try:
                return redact(resolve_url(str(ast.literal_eval(text)), start=folder), secrets)
            except (ValueError, SyntaxError):
                return None
    return None


def _last_durations(out: Path, names: Sequence[str]) -> dict[str, float]:
    """Seconds each notebook took in the latest run (for the progress ETA)."""
    prev = _latest_run_dir(out)
    if prev is None:
        return {}
    try:
        info = json.loads((prev / "run.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {nb["name"]: float(nb["seconds"]) for nb in info.get("notebooks", [])
            if nb.get("name") in names and nb.get("carried_from") is None and "seconds" in nb}


def _eta(started: float, finished: set[str], last: Mapping[str, float], jobs: int) -> str:
    """'; 12 s elapsed, about 20 s to go' from the last run's durations ('' without)."""
    elapsed = time.monotonic() - started
    left = [sec for name, sec in last.items() if name not in finished]
    if not last or not left:
        return f"; {elapsed:.0f} s elapsed"
    return f"; {elapsed:.0f} s elapsed, about {sum(left) / min(jobs, len(left)):.0f} s to go"


def _write_summary(tmp: Path, reports: Sequence[Mapping], note: Callable[[str], None],
                   changed: Mapping[str, str], printer=None) -> dict:
    """Write the executive summary (``summary.html`` / ``.pdf``, printed by ``printer`` when
    given) into the run folder being built; return what ``index.html`` shows about it (a
    skip note when there is none).  A summary that fails is a note, never a failed run:
    the reports stand without it."""
    from salesplan.reports.summary import write_summary

    try:
        files = write_summary(tmp, reports=reports, note=note, changed_parameters=changed, printer=printer)
    except Exception as exc:  # noqa: BLE001 - the run's reports must not depend on it
        note(f"summary: not written: {type(exc).__name__}: {_one_line(exc)}")
        return {"skipped": f"the executive summary could not be built ({type(exc).__name__})"}
    if files is None:
        return {"skipped": "no executive summary: this run holds no targets tables "
                           "(04_quarterly_targets); run it to get one"}
    note(f"summary: {files.html.name}" + (f", {files.pdf.name}" if files.pdf else " (no PDF)"))
    return files.index_entry()


def _run_setting(name: str, merged: Mapping[str, Any], declared: Mapping[str, Mapping],
                 folder: Path | None) -> Any:
    """A run-wide setting: the parameter ``name`` of this run, else the default of a notebook
    of the run or of its folder that declares it (a Python literal); ``None`` when none does."""
    import ast

    if merged.get(name) is not None and merged.get(name) != "":
        return merged[name]
    others = [_declared_parameters(q) for q in sorted(folder.glob("*.ipynb"))
              if q.stem not in declared] if folder is not None else []
    for params in [*declared.values(), *others]:
        spec = params.get(name)
        if isinstance(spec, Mapping) and spec.get("default"):
            with contextlib.suppress(ValueError, SyntaxError):
                return ast.literal_eval(spec["default"])
    return None


def _run_currency(merged: Mapping[str, Any], declared: Mapping[str, Mapping],
                  folder: Path | None = None) -> str:
    """The company currency of a run (``currency`` parameter, else the default of a
    notebook of the run or of its folder; ``""`` when none declares one), for amounts in
    the report language."""
    return str(_run_setting("currency", merged, declared, folder) or "")


def _run_fiscal_start(merged: Mapping[str, Any], declared: Mapping[str, Mapping],
                      folder: Path | None) -> int:
    """First month of the fiscal year of a run (``fiscal_year_start_month`` parameter, else
    the default of a notebook that declares it, else 1)."""
    month = _run_setting("fiscal_year_start_month", merged, declared, folder)
    return 1 if month is None else int(month)


def _index_rank(notebook: Path) -> int | None:
    # the notebook's JSON metadata only (nbformat.read validates every cell and output)
    with open(notebook, encoding="utf-8") as fh:
        return json.load(fh).get("metadata", {}).get("salesplan", {}).get("index_rank")


def _changed_parameters(merged: Mapping[str, Any], declared: Mapping[str, Mapping]) -> dict:
    """Parameters of this run whose value differs from the notebooks' defaults
    (``source``/``plan_store`` excluded: they are shown elsewhere)."""
    import ast

    defaults: dict[str, Any] = {}
    for params in declared.values():
        for name, spec in params.items():
            text = spec.get("default") if isinstance(spec, Mapping) else None
            try:
                defaults.setdefault(name, ast.literal_eval(text) if text is not None else None)
            except (ValueError, SyntaxError):
                defaults.setdefault(name, text)
    skip = {"source", "plan_store"}
    return {k: v for k, v in sorted(merged.items())
            if k not in skip and k in defaults and defaults[k] != v}


# --------------------------------------------------------------------------- run


def _record_batch_start(store_url: str, run_id: str, period: str, name: str | None,
                        notebooks: list[str], note: Callable[[str], None]):
    """Record the run in the plan store (``plan_batches``) so that ``salesplan approve``
    knows whether it completed; a store that cannot be written only costs a warning."""
    try:
        from salesplan.data.store import PlanStore, StoreError
        from salesplan.reports import resolve_url

        store = PlanStore(resolve_url(store_url, start=Path.cwd()))
        store.begin_batch(run_id, period=period, name=name, notebooks=notebooks)
        return store
    except (StoreError, OSError) as exc:
        note(f"warning: the run is not recorded in the plan store: {_one_line(exc)}")
        return None


def _record_batch_end(store, run_id: str, status: str, note: Callable[[str], None]) -> None:
    if store is None:
        return
    try:
        store.end_batch(run_id, status)
    except Exception as exc:  # noqa: BLE001 - the run's outcome must not depend on it
        note(f"warning: could not record the end of the run in the plan store: {_one_line(exc)}")
    finally:
        store.dispose()


class _NotebookFailed(Exception):
    def __init__(self, message: str, *, notebook: str, cell: int | None, detail: str,
                 notebook_file: str):
        super().__init__(message)
        self.message, self.notebook, self.cell = message, notebook, cell
        self.detail, self.notebook_file = detail, notebook_file


@functools.cache
def _env_kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    from salesplan.reports.kernels import ready_client_class

    class EnvKernelManager(AsyncKernelManager):
        """A kernel manager that starts its kernel with extra environment variables.

        Lets notebooks run side by side in threads, each with its own run folder and
        secrets, without touching this process's ``os.environ``.  Asynchronous: with a
        blocking manager (and so a blocking kernel client) nbclient never enforces the
        per-cell ``timeout`` -- a cell sleeping 8 s completed under a 2 s limit.
        """

        def __init__(self, *args, extra_env: Mapping[str, str] | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self._extra_env = dict(extra_env or {})
            # papermill's client and the runner's: ready without jupyter_client's fixed 0.2 s
            self.client_factory = ready_client_class()

        async def _async_pre_start_kernel(self, **kw):
            kw["env"] = {**kw.get("env", os.environ), **self._extra_env}
            return await super()._async_pre_start_kernel(**kw)

    return EnvKernelManager


def _EnvKernelManager(**kwargs):  # noqa: N802 - a class made once, on first use (jupyter import)
    return _env_kernel_manager_class()(**kwargs)


#: papermill engine of the runner (:func:`_papermill_engine`)
PAPERMILL_ENGINE = "salesplan"


@functools.cache
def _papermill_engine() -> str:
    """The name of papermill's notebook engine (nbclient) registered with the saves the runner
    needs: papermill's own writes the whole executed notebook when each cell starts and
    when it ends (and every 30 s of a long cell's output) -- ~2-6 s CPU of the runner's
    per demo plan, beside the kernels -- while the runner reads the notebook only once it
    ended.  This engine writes it only when its execution is cut short (a cell's time
    limit, a dead kernel, an interrupt: the partial copy of a failed run); papermill
    itself writes it after a cell error (before raising) and at the end.  Defined and
    registered once per process."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class FinalSaveManager(NotebookExecutionManager):
        """Saves only when :attr:`save_now` is set (execution cut short)."""

        save_now = False

        def save(self, **kwargs):
            if kwargs.get("nb") is not None:  # as papermill's (catch_nb_assignment)
                self.nb = kwargs["nb"]
            if self.save_now:
                super().save()
            else:
                self.last_save_time = self.now()

    class FinalSaveEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                             log_output=False, autosave_cell_every=30, **kwargs):
            nb_man = FinalSaveManager(nb, output_path=output_path, progress_bar=progress_bar,
                                      log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            except BaseException:
                nb_man.save_now = True  # the partial copy
                raise
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(PAPERMILL_ENGINE, FinalSaveEngine)
    return PAPERMILL_ENGINE


def _critical_path(paths: Sequence[Path], seconds: Mapping[str, float]) -> dict[str, float]:
    """Seconds from a notebook's start to the end of the longest chain of notebooks that
    wait for it: ``rank(n) = t(n) + max(rank(d) for d depending on n)``, ``t`` the last
    run's seconds (1 when unknown: then chains are counted in notebooks)."""
    stems = [p.stem for p in paths]
    upstream = {p.stem: [d for d in _depends(p) if d in stems] for p in paths}
    rank: dict[str, float] = {}
    for stem in reversed(stems):  # paths are in dependency order: dependents come later
        after = [rank[d] for d in stems if stem in upstream[d]]
        rank[stem] = float(seconds.get(stem, 1.0)) + max(after, default=0.0)
    return rank


def _run_in_dependency_order(paths: Sequence[Path], execute, jobs: int, *,
                             seconds: Mapping[str, float] | None = None,
                             ahead: Callable[[list[Path]], None] | None = None):
    """Run ``execute(path)`` for every notebook, at most ``jobs`` at a time, each after
    its upstream notebooks; among the notebooks ready to start, the one heading the longest
    chain first (:func:`_critical_path` with ``seconds``), ties in dependency order.
    ``ahead(next)``, when given, is told the next ``jobs`` notebooks to start (to prepare
    their kernels).  Returns ``(results by stem, first failure or None)``."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    stems = {p.stem for p in paths}
    upstream = {p.stem: [d for d in _depends(p) if d in stems] for p in paths}
    rank = _critical_path(paths, seconds or {})
    done: dict[str, NotebookResult] = {}
    failure: _NotebookFailed | None = None
    # already in dependency order; sorted() is stable, so ties keep it
    pending = sorted(paths, key=lambda p: -rank[p.stem])
    with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
        running: dict = {}
        while pending or running:
            for path in list(pending):
                if failure is not None or len(running) >= int(jobs):
                    break
                if all(d in done for d in upstream[path.stem]):
                    pending.remove(path)
                    running[pool.submit(execute, path)] = path
            if ahead is not None and failure is None and pending:
                ahead(pending[: int(jobs)])
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                path = running.pop(future)
                try:
                    done[path.stem] = future.result()
                except _NotebookFailed as exc:
                    failure = failure or exc
            if failure is not None:
                pending.clear()
    return done, failure


def run_plan(
    period: str | None = None,
    source: str | None = None,
    params: Mapping[str, Any] | None = None,
    params_file: str | Path | None = None,
    out_dir: str | Path = "reports",
    notebooks: Sequence[str | Path] | str | Path | None = None,
    kernel: str | None = None,
    timeout: int | None = 600,
    *,
    notebooks_dir: str | Path | None = None,
    plan_store: str | None = None,
    echo: Callable[[str], None] | None = None,
    jobs: int = 2,
    downstream: bool = True,
    run_timeout: float | None = None,
    check_data: bool = True,
    name: str | None = None,
    overrides: str | Path | None = None,
    reuse_kernels: bool = True,
    reuse_max_peak_mib: float | None = REUSE_MAX_PEAK_MIB,
) -> RunResult:
    """Execute the planning notebooks and build the reports of one run.

    Parameters
    ----------
    period : str, optional
        Plan quarter, ``YYYYQn`` (default: ``period`` of the parameters file, else 2027Q1).
    source : str, optional
        Data source URL (see :func:`salesplan.data.open_source`); default: each
        notebook's own default (the bundled demo company).  Relative paths are taken
        from the current directory.  A password in it goes to the kernel's environment.
    params : mapping, optional
        Notebook parameters NAME -> value; each goes to the notebooks that declare it
        (an undeclared name is an error).  Names like ``*password*``/``*token*`` are
        refused: secrets go through the environment.
    params_file : path, optional
        YAML mapping of parameters; ``params`` override it.
    out_dir : path, default "reports"
        Parent folder of the run folders and of the default plan store.
    notebooks : folder, or sequence of notebook names/paths, optional
        A folder runs every notebook in it; names select notebooks of ``notebooks_dir``.
    kernel : str, optional
        Jupyter kernel name (default ``salesplan``, else ``python3``).
    timeout : int or None, default 600
        Seconds one cell may run before the run fails (``None``: no limit).
    notebooks_dir : path, optional
        Folder of the notebooks (default ``./notebooks`` or the checkout's).
    plan_store : str, optional
        Plan store URL passed as ``plan_store`` (default ``<out_dir>/plan_store.duckdb``).
    echo : callable, optional
        Receives each progress line (default: print to stdout).
    jobs : int, default 2
        Notebooks run side by side, each in its own kernel, once the notebooks they
        depend on (metadata ``salesplan.depends_on``) have finished; 1 runs them one by
        one.  On a failure no further notebook starts and the run stops when the
        running ones have finished.
    downstream : bool, default True
        When ``notebooks`` names some notebooks, also run every notebook that depends on
        them (:func:`downstream_of`).  The reports of the notebooks not run are carried
        over from the latest run of the same period and source, so ``latest`` always
        shows a complete plan; carried reports older than a re-run input are marked
        stale on ``index.html``.
    name : str, optional
        A name for the run (``salesplan run --name "board v2"``), recorded in the plan
        store with the run and every plan it writes (``salesplan plans`` shows it).
    overrides : path, optional
        A plan workbook edited by the planner (``salesplan run --overrides plan.xlsx``):
        its quota overrides (:func:`salesplan.reports.workbook.read_quota_overrides`,
        validated before any notebook runs) go to the notebooks that declare
        ``quota_overrides`` (04) as a dict rep id -> amount.
    reuse_kernels : bool, default True
        Run a notebook in the kernel of a notebook that finished successfully, made as new
        (empty namespace, execution counts from 1, its environment and settings; see
        :mod:`salesplan.reports.kernels`): imports paid once per kernel, the package's
        caches shared.  False: every notebook in a new kernel of its own.
    reuse_max_peak_mib : float or None, default :data:`REUSE_MAX_PEAK_MIB`
        A finished notebook's kernel whose resident memory peaked above this (MiB) is shut
        down instead of reused (``run.log`` says so): at a large company the heap of a
        notebook, emptied, still raises the next one's peak.  ``None``: no limit.

    Returns
    -------
    RunResult

    Raises
    ------
    ParameterError
        Bad or secret parameters, unknown kernel, an unusable overrides workbook (one
        line: file, sheet, row, column, expected) or overrides without a notebook that
        reads them; nothing is run.
    RunError
        A notebook failed; one-line message, partial copy in ``failed_dir``.
    """
    call = dict(locals())  # run_plan is called again below inside the report language
    import importlib.util

    from salesplan.reports.deferred_imports import defer_iri_grammar

    defer_iri_grammar()  # before papermill/nbformat: ~1.6 s CPU of an unused IRI grammar

    if importlib.util.find_spec("papermill") is None:  # fail early (imported where it runs: ~1 s)
        raise ModuleNotFoundError("No module named 'papermill': the runner needs it (pip install papermill)")

    from salesplan.reports.i18n import get_language, language

    wanted = dict(params or {}).get("report_language",
                                    _load_params_file(params_file).get("report_language"))
    if wanted is not None:  # report_language: the runner's own parameter, never a notebook's
        try:
            with language(str(wanted)):
                return run_plan(**{**call, "params": {k: v for k, v in dict(params or {}).items()
                                                      if k != "report_language"}})
        except ValueError as exc:
            if "report_language" in str(exc) and not isinstance(exc, ParameterError):
                raise ParameterError(str(exc)) from None
            raise
    run_language = get_language()
    if int(jobs) < 1:
        raise ParameterError(f"jobs={jobs!r}: expected a whole number >= 1")
    if reuse_max_peak_mib is not None and not float(reuse_max_peak_mib) >= 0:
        raise ParameterError(f"reuse_max_peak_mib={reuse_max_peak_mib!r}: expected MiB >= 0 (or None: no limit)")
    if reuse_max_peak_mib is not None and math.isinf(float(reuse_max_peak_mib)):
        reuse_max_peak_mib = None  # no limit
    _quiet_timeout_log()
    say = echo or (lambda line: print(line, flush=True))
    out = Path(out_dir).resolve()
    cfg = _prepare_parameters(period, source, params, params_file, overrides, plan_store, out)
    paths, partial, declared = _select_notebooks(notebooks, notebooks_dir, downstream,
                                                 cfg.merged, overrides)
    if cfg.safe_source is None:  # show (and match runs by) the notebooks' own default source
        cfg.shown_source = (_default_source(declared, paths[0].parent, cfg.secrets)
                            or cfg.shown_source)
    kernel_name = _pick_kernel(kernel)
    out.mkdir(parents=True, exist_ok=True)
    run_id = _new_run_id(out, cfg.run_period)
    batch = _Batch(cfg=cfg, run_id=run_id, tmp=out / f".tmp-{run_id}", paths=paths,
                   declared=declared, kernel_name=kernel_name, timeout=timeout,
                   run_timeout=run_timeout, jobs=int(jobs), say=say, reuse_kernels=bool(reuse_kernels),
                   reuse_max_peak_mib=None if reuse_max_peak_mib is None else float(reuse_max_peak_mib),
                   last_seconds=_last_durations(out, [p.stem for p in paths]),
                   prev=_latest_run_dir(out) if partial else None)
    batch.tmp.mkdir()
    records = out / SOURCE_RECORDS  # the source's check and fingerprint, kept for re-runs
    batch.env = _kernel_env(cfg, run_id, name, run_language, declared, paths[0].parent, records, jobs=int(jobs))
    batch.start_kernels()  # the first notebooks' kernels start while the data are checked
    if check_data and cfg.raw_source is not None:
        say(f"checking the data of {cfg.shown_source} ...")
        try:
            if check_source_data(str(cfg.raw_source), cfg.run_period, cfg.merged.get("as_of"),
                                 records=records):
                from salesplan.reports.kernel_state import return_freed_memory

                return_freed_memory()  # the checked tables are gone: hand their pages back
        except BaseException:
            batch.stop_kernels()
            shutil.rmtree(batch.tmp, ignore_errors=True)
            raise
    batch.note(f"salesplan run {run_id}: period {cfg.run_period}, source {cfg.shown_source}, "
               f"kernel {kernel_name}, {len(paths)} notebook(s)" + (f", name {name!r}" if name else ""))
    batch_store = _record_batch_start(cfg.store_url, run_id, cfg.run_period, name,
                                      [p.stem for p in paths], batch.note)
    # Chromium starts while the last notebook runs, once its kernel is up (not beside the
    # first notebooks: its ~0.4 GB would add to their kernels' peak)
    printer = _summary_printer(paths, partial, after=batch.browser_due)
    try:
        done, failure = batch.run_all()
        _record_batch_end(batch_store, run_id, "failed" if failure is not None else "complete", batch.note)
        public_text = _public_text(paths)
        if failure is not None:
            _fail_run(out, batch, failure, public_text)
        results = [done[p.stem] for p in paths]
        if partial:
            results = _with_carried_over(out, batch, results)
        return _finish_run(out, batch, results, public_text, printer=printer)
    finally:
        batch.browser_due.set()  # a launch still waiting (the run ended early) goes ahead and is closed
        if printer is not None:
            printer.close()
        batch.stop_kernels()  # shut down in the background since the last notebook ended


def _background_priority(step: int = 10) -> None:
    """Lower the calling thread's CPU priority by ``step`` (``nice``; on Linux a thread's
    own): the runner's work beside the notebooks (reports, workbook sheets, the summary's
    browser and the processes it starts) then takes a core only when the kernels leave
    one, instead of slowing the notebook on the critical path.  No-op where unsupported."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (AttributeError, OSError):
        pass


def _summary_printer(paths: Sequence[Path], partial: bool, after=None):
    """The browser that will print the summary PDF, launching now
    (:class:`~salesplan.reports.summary.PdfPrinter`), when the run can have a summary (its
    notebooks, or for a partial run those of their folder, include the targets); else
    ``None`` (a summary then gets a browser of its own)."""
    from salesplan.reports.summary import PdfPrinter, chromium_missing, may_summarize

    stems = [p.stem for p in paths] + ([q.stem for q in paths[0].parent.glob("*.ipynb")] if partial else [])
    if not may_summarize(stems) or chromium_missing(playwright=False) is not None:  # the printer needs no Playwright
        return None
    return PdfPrinter(after=after, wait_at_most=None, initializer=_background_priority)


def kernel_blas_threads(jobs: int, cpus: int | None = None) -> int:
    """BLAS threads of each of ``jobs`` kernels running side by side: ``max(1, cpus // jobs)``,
    ``cpus`` the cores this process may run on (its CPU affinity), so the kernels' threads
    do not outnumber the cores (:data:`BLAS_THREADS_ENV`)."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(cpus) // max(1, int(jobs)))


def _kernel_env(cfg, run_id: str, name, run_language: str, declared, folder: Path,
                records: Path | None = None, jobs: int = 1) -> dict:
    """The environment every kernel of the run gets: how it allocates memory
    (:data:`KERNEL_ALLOCATOR_ENV`) and how many BLAS threads it starts (``jobs`` kernels side
    by side: :func:`kernel_blas_threads`), where this process's environment does not say; the
    source's secrets, the run id and name, the report language, the run's currency and
    fiscal start month (so every notebook shows amounts in the currency and quarters in
    the fiscal calendar), and the source records file (``Source.fingerprint`` reuses the
    fingerprint the data check recorded for unchanged files:
    :mod:`salesplan.data.source_records`)."""
    from salesplan.data.source_records import RECORDS_ENV
    from salesplan.reports.i18n import CURRENCY_ENV, FISCAL_START_ENV, LANG_ENV

    threads = str(kernel_blas_threads(jobs))
    allocator = {k: v for k, v in {**KERNEL_ALLOCATOR_ENV, **dict.fromkeys(BLAS_THREADS_ENV, threads)}.items()
                 if k not in os.environ}
    return {**allocator, **cfg.source_env, RUN_ID_ENV: run_id, **({RUN_NAME_ENV: str(name)} if name else {}),
            LANG_ENV: run_language,
            CURRENCY_ENV: _run_currency(cfg.merged, declared, folder),
            FISCAL_START_ENV: str(_run_fiscal_start(cfg.merged, declared, folder)),
            **({RECORDS_ENV: str(records)} if records is not None else {})}


@dataclass
class _RunConfig:
    """The parameters of one run, checked, with the secrets moved to the environment."""

    merged: dict
    run_period: str
    raw_source: Any
    safe_source: str | None
    source_env: dict
    store_url: str
    secrets: list
    shown_source: str


def _prepare_parameters(period, source, params, params_file, overrides, plan_store, out) -> _RunConfig:
    """Merge the parameters file, ``params``, period and source; refuse secrets; read the
    overrides workbook; move passwords of the source and the plan store to the environment."""
    merged: dict[str, Any] = _load_params_file(params_file)
    merged.update(dict(params or {}))
    if period is not None:
        merged["period"] = period
    if source is not None:
        merged["source"] = source
    merged.setdefault("period", DEFAULT_PERIOD)
    merged = json_safe(merged)
    merged.pop("report_language", None)  # run_plan's own (the language of the process)
    run_period = str(merged["period"])
    if not re.match(PERIOD_PATTERN, run_period):
        raise ParameterError(
            f"period {run_period!r} is not a plan quarter; expected YYYYQn such as 2027Q1"
        )
    raw_source = merged.pop("source", None)
    if overrides is not None:
        merged[OVERRIDES_PARAM] = _read_overrides(overrides, run_period)
    check_no_secrets(merged)
    safe_source, source_env = prepare_source(raw_source)
    if safe_source is not None:
        merged["source"] = safe_source
    store_url = plan_store or merged.get("plan_store") or f"duckdb:///{out / 'plan_store.duckdb'}"
    merged["plan_store"], store_env = prepare_source(store_url)
    if store_env:
        source_env = {**store_env, **source_env}
    secrets = list(source_env.values())
    shown_source = redact(safe_source, secrets) if safe_source else "(notebook defaults)"
    return _RunConfig(merged, run_period, raw_source, safe_source, source_env, store_url,
                      secrets, shown_source)


def _select_notebooks(notebooks, notebooks_dir, downstream, merged, overrides):
    """The notebooks to run (with their downstream ones), whether the run is partial, and
    each notebook's declared parameters; unknown parameter names are refused here."""
    partial = False
    if isinstance(notebooks, (str, Path)) and Path(notebooks).is_dir():
        paths = discover_notebooks(notebooks)
    elif isinstance(notebooks, (str, Path)):
        paths, partial = discover_notebooks(notebooks_dir, [notebooks]), True
    else:
        paths, partial = discover_notebooks(notebooks_dir, notebooks), bool(notebooks)
    if partial and downstream:
        paths = downstream_of(paths)
    declared = {p.stem: _declared_parameters(p) for p in paths}
    if overrides is not None and not any(OVERRIDES_PARAM in d for d in declared.values()):
        raise ParameterError(f"--overrides {overrides}: none of the notebooks run ({', '.join(declared)}) "
                             f"declares {OVERRIDES_PARAM}; expected a run that includes the targets notebook (-n 04)")
    _check_parameter_names(merged, paths, declared)
    return paths, partial, declared


def _check_parameter_names(merged, paths, declared) -> None:
    """Refuse a parameter no notebook declares, with a "did you mean" hint.

    A parameters file may serve every notebook even when only some run: names are judged
    against all notebooks of the folder(s) involved."""
    siblings = {q for p in paths for q in p.parent.glob("*.ipynb") if q.stem not in declared}
    all_declared = set().union(*[set(d) for d in declared.values()], *[
        set(_declared_parameters(q)) for q in sorted(siblings)])
    common = {"period", "source", "plan_store"}
    unknown = sorted(set(merged) - all_declared - common)
    if unknown:
        import difflib

        hints = [f"{u!r} -> did you mean {close[0]!r}?" for u in unknown
                 if (close := difflib.get_close_matches(u, sorted(all_declared | {"report_language"}),
                                                              n=1, cutoff=0.6))]
        raise ParameterError(
            f"unknown parameter(s) {unknown}: no notebook declares them; "
            + (" ".join(hints) + " " if hints else "")
            + "`salesplan params` lists them all"
        )


def _public_text(paths) -> str:
    """Text that may appear in outputs (notebooks, templates): never masked as a secret."""
    from salesplan.reports.render import TEMPLATE_DIR

    return "\n".join(
        [p.read_text("utf-8", errors="replace") for p in paths]
        + [t.read_text("utf-8", errors="replace") for t in sorted(TEMPLATE_DIR.iterdir()) if t.is_file()]
        + ["salesplan python3 papermill nbformat ipykernel"]
    )


@dataclass
class _Batch:
    """One ``salesplan run`` in progress: its temporary folder, log and notebook runner."""

    cfg: _RunConfig
    run_id: str
    tmp: Path
    paths: list
    declared: dict
    kernel_name: str
    timeout: int | None
    run_timeout: float | None
    jobs: int
    say: Callable[[str], None]
    last_seconds: dict
    env: dict = field(default_factory=dict)
    ipc_dir: str = ""
    reuse_kernels: bool = True  # a kernel whose notebook finished runs a later notebook
    reuse_max_peak_mib: float | None = None  # ... unless its memory peaked above this (MiB)
    kernels: Any = None  # salesplan.reports.kernels.KernelPool while run_all runs
    render_pool: Any = None  # the thread rendering the reports while run_all runs
    renders: list = field(default_factory=list)  # each report's HTML and workbook sheets being made
    log: list = field(default_factory=list)
    index_rank: dict = field(default_factory=dict)  # a notebook's place on index.html
    finished_names: set = field(default_factory=set)
    started_names: set = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    prev: Path | None = None  # the run whose reports a partial run carries over
    workbook: Any = None  # salesplan.reports.workbook.RunWorkbook: sheets added as notebooks end
    # set when the first notebook has its kernel: background work waits for it, not to
    # slow down the start of a kernel (its imports) on the critical path
    kernel_up: threading.Event = field(default_factory=threading.Event)
    # the last notebook's kernel is up and no other notebook runs (_browser_when_alone)
    browser_due: threading.Event = field(default_factory=threading.Event)

    def _browser_when_alone(self) -> None:
        """Let the summary's browser launch (:attr:`browser_due`) once every notebook has
        started and at most one still runs: Chromium (~0.6-1.2 GB resident while printing)
        then never sits beside two kernels at their peaks (the whole scale-10 run's peak was
        two kernels plus the browser, ~540 MiB above the run without it)."""
        if len(self.started_names) == len(self.paths) and \
                len(self.started_names - self.finished_names) <= 1:
            self.browser_due.set()

    def note(self, line: str) -> None:
        line = redact(line, self.cfg.secrets)
        self.log.append(line)
        self.say(line)

    def run_all(self):
        """Every notebook in dependency order, ``jobs`` side by side (the kernels talk over
        Unix sockets in a temporary folder, removed afterwards); ``(done, failure)``."""
        from concurrent.futures import ThreadPoolExecutor

        if self.kernels is None:
            self.start_kernels()
        self.render_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesplan-render",
                                              initializer=_background_priority)
        try:
            # while the first notebooks run: the exporter made, the carried sheets built
            self.render_pool.submit(self._prepare_reports)
            try:
                done, failure = _run_in_dependency_order(self.paths, self.execute, self.jobs,
                                                         seconds=self.last_seconds, ahead=self._ahead)
            finally:
                self.kernel_up.set()  # also when no notebook got a kernel: nothing waits for it
                self.browser_due.set()
            # each report's title and headlines: the summary starts on them while the last
            # report's HTML and sheets are still made (wait_for_reports)
            return {name: future.result() for name, future in done.items()}, failure
        finally:
            self.render_pool.shutdown(wait=False)  # the reports queued are still made
            self.kernel_up.set()
            self.browser_due.set()
            if self.kernels is not None:
                self.kernels.close(wait=False)  # the run's end waits for it (stop_kernels)

    def wait_for_reports(self, *, errors: bool = True) -> None:
        """Wait until every report's HTML and workbook sheets are written (:meth:`_render`);
        a report that failed raises (``errors=False``: ignored, e.g. beside a failed notebook)."""
        for future in list(self.renders):
            try:
                future.result()
            except Exception:
                if errors:
                    raise

    def _prepare_reports(self) -> None:
        """In the render thread before the first report: the HTML exporter made (its
        libraries imported, template compiled) and, for a partial run, the workbook sheets of
        the notebooks carried over built from their tables (the same files the carry-over
        copies).  Anything failing here is done again, as before, when needed."""
        from salesplan.reports.render import warm_up
        from salesplan.reports.workbook import RunWorkbook

        self.kernel_up.wait(timeout=120)
        with contextlib.suppress(Exception):
            warm_up()
        try:
            self.workbook = RunWorkbook(run_id=self.run_id, period=self.cfg.run_period)  # plan sheets ahead
            plan, present = self._present
            for nb in plan:
                self.workbook.add_notebook(nb["name"], _published_tables(self.prev / "tables", nb["name"]),
                                           present.index(nb["name"]))
        except Exception:  # noqa: BLE001 - the workbook is then built in one go at the end
            self.workbook = None

    @functools.cached_property
    def _present(self) -> tuple[list[dict], list[str]]:
        """(the notebook records carried over from ``prev``, the names of every notebook the
        run's deliverables show -- run and carried -- in the folder's order); read once."""
        ran = {p.stem for p in self.paths}
        if self.prev is None:
            return [], [p.stem for p in self.paths]
        _, plan = _carry_plan(self.prev, ran, period=self.cfg.run_period, source=self.cfg.shown_source)
        every = [p.stem for p in discover_notebooks(self.paths[0].parent)]
        present = sorted(ran | {nb["name"] for nb in plan},
                         key=lambda n: every.index(n) if n in every else len(every))
        return plan, present

    def _tab_index(self, name: str) -> int:
        """A re-run notebook's place among the run's notebooks (carried ones included)."""
        return self._present[1].index(name)

    def start_kernels(self) -> None:
        """The kernel pool (:class:`~salesplan.reports.kernels.KernelPool`; kernels reused
        when ``reuse_kernels``), with the kernels of the first ``jobs`` notebooks to run
        (ready ones heading the longest chains) already starting."""
        from salesplan.reports.kernels import KernelPool

        self.ipc_dir = tempfile.mkdtemp(prefix="salesplan-ipc-")
        self.kernels = KernelPool(self._make_km, workers=self.jobs,
                                  reuse_env=self._notebook_env if self.reuse_kernels else None,
                                  max_peak_mib=self.reuse_max_peak_mib)
        rank = _critical_path(self.paths, self.last_seconds)
        stems = {p.stem for p in self.paths}
        ready = [p for p in self.paths if not any(d in stems for d in _depends(p))]
        self._ahead(sorted(ready, key=lambda p: -rank[p.stem])[: self.jobs])

    def _ahead(self, next_paths) -> None:
        """Start the kernels of ``next_paths`` while the current notebooks run."""
        for p in next_paths:
            self.kernels.prestart(p.stem, p)

    def stop_kernels(self) -> None:
        """Shut down the kernels started ahead and not used, and those kept or being shut
        down (waits for them); remove the socket folder."""
        if self.kernels is not None:
            self.kernels.close()
        if self.ipc_dir:
            shutil.rmtree(self.ipc_dir, ignore_errors=True)
            self.ipc_dir = ""

    def _notebook_env(self, name: str) -> dict:
        """The environment variables the kernel of notebook ``name`` gets."""
        from salesplan.reports.publish import ENV_NOTEBOOK, ENV_RUN_DIR

        return {**self.env, ENV_RUN_DIR: str(self.tmp), ENV_NOTEBOOK: name}

    def _make_km(self, name: str):
        """The kernel manager of notebook ``name``: its environment, Unix sockets."""
        return _EnvKernelManager(
            kernel_name=self.kernel_name,
            transport="ipc",  # local kernels talk over Unix sockets: no unencrypted TCP
            ip=os.path.join(self.ipc_dir, name),  # socket paths must stay under ~100 bytes
            extra_env=self._notebook_env(name),
        )

    def execute(self, path: Path):
        """Run one notebook in its own kernel; raise _NotebookFailed on any error.  Returns
        the future :class:`NotebookResult`, set once its title and headlines are read (its
        report is rendered in ``render_pool``, tracked in :attr:`renders`)."""
        name = path.stem
        self.started_names.add(name)
        step = f"[{[p.stem for p in self.paths].index(name) + 1}/{len(self.paths)}] {name}"
        nb_params = {k: v for k, v in self.cfg.merged.items() if k in self.declared[name]}
        out_nb = self.tmp / f"{name}.ipynb"
        self.note(f"{step} ..." + (f" (took {self.last_seconds[name]:.0f} s last time)"
                                   if name in self.last_seconds else ""))
        t0 = time.monotonic()
        limit, limit_name = _cell_limit(self.timeout, self.run_timeout, self.started)
        if limit is not None and limit <= 0:
            raise _NotebookFailed(f"{name}: not started: the run took longer than "
                                  f"--run-timeout {self.run_timeout:g} s", notebook=name, cell=None,
                                  detail="", notebook_file=out_nb.name)
        try:
            self._papermill(path, out_nb, nb_params, limit)
        except Exception as exc:  # noqa: BLE001 - every failure ends the run the same way
            seconds = time.monotonic() - t0
            cell, what, detail = _failure_text(exc, limit, limit_name)
            where = f"cell In [{cell}]" if cell is not None else "execution"
            self.note(f"{step} FAILED ({seconds:.1f} s)")
            raise _NotebookFailed(
                redact(f"{name}: {where} failed after {seconds:.1f} s: {what}", self.cfg.secrets),
                notebook=name, cell=cell, detail=detail, notebook_file=out_nb.name,
            ) from None
        seconds = time.monotonic() - t0
        self.finished_names.add(name)
        self._browser_when_alone()
        self.note(f"{step} ok ({seconds:.1f} s)"
                  + _eta(self.started, self.finished_names, self.last_seconds, self.jobs))
        # the report is rendered beside the next notebooks: they wait for the executed
        # notebook (its plan store runs), not for its HTML
        from concurrent.futures import Future

        result: Future = Future()
        self.renders.append(self.render_pool.submit(self._render, path, out_nb, seconds, nb_params, result))
        return result

    def _render(self, path: Path, out_nb: Path, seconds: float, nb_params: dict, result) -> None:
        """The report of an executed notebook: title and headlines (set on the future
        ``result`` first: the run's summary needs no more), then its HTML and workbook sheets."""
        import nbformat

        from salesplan.reports.publish import extract_headlines
        from salesplan.reports.render import export_html, localize_notebook, notebook_title

        name = path.stem
        try:
            executed = nbformat.read(str(out_nb), as_version=4)
            executed = localize_notebook(executed, path.parent, name)  # English: unchanged
            self.index_rank[name] = executed.metadata.get("salesplan", {}).get("index_rank")
            done = NotebookResult(
                name=name, title=notebook_title(executed, name), notebook=out_nb,
                html=self.tmp / f"{name}.html", seconds=round(seconds, 1), parameters=nb_params,
                headlines=extract_headlines(executed),
            )
        except BaseException as exc:
            result.set_exception(exc)
            raise
        result.set_result(done)
        export_html(executed, done.html, index_href="index.html",  # a copy of executed is arranged
                    caption=f"Sales plan {self.cfg.run_period} · run {self.run_id}")
        if self.workbook is not None:  # its sheets, while the next notebooks run
            try:
                self.workbook.add_notebook(name, _published_tables(self.tmp / "tables", name), self._tab_index(name))
            except Exception:  # noqa: BLE001 - then the workbook is built in one go at the end
                self.workbook = None
        del executed
        from salesplan.reports.kernel_state import return_freed_memory

        return_freed_memory()  # the report's pages back: this process runs beside two kernels

    def log_refusals(self) -> None:
        """run.log: the kernels not reused since the last call, and why."""
        for _, ran, why in (self.kernels.new_refusals() if self.kernels is not None else []):
            self.log.append(f"kernel of {', '.join(ran)} not reused: {_one_line(why)}")

    def _papermill(self, path: Path, out_nb: Path, nb_params: dict, limit) -> None:
        """papermill in a kernel of its own environment (notebooks may run side by side):
        one started ahead or reused from a finished notebook (its upstream's first), else
        a new one; kept for reuse after a success, else shut down."""
        import papermill

        name = path.stem
        t0 = time.monotonic()
        try:
            km = (self.kernels.take(name, path, upstream=_upstream_closure(name, {p.stem: p for p in self.paths}))
                  if self.kernels is not None else None) or self._make_km(name)
        finally:
            self.kernel_up.set()
            self._browser_when_alone()
        ran = self.kernels.ran_in(km) if self.kernels is not None else []
        self.log_refusals()
        if ran:  # run.log only: which kernel a notebook reused
            self.log.append(f"{name}: in the kernel of {', '.join(ran)} "
                            f"(made as new in {time.monotonic() - t0:.1f} s)")
        ok = False
        try:
            if not km.has_kernel:
                # started here in the notebook's folder: papermill's cwd= would chdir this
                # process, from threads running side by side (the last one out restores
                # another's folder)
                from jupyter_client.utils import run_sync

                run_sync(km.start_kernel)(cwd=str(path.parent))
            papermill.execute_notebook(
                str(path), str(out_nb), parameters=nb_params, kernel_name=self.kernel_name,
                km=km, execution_timeout=limit, start_timeout=120, engine_name=_papermill_engine(),
                progress_bar=False, log_output=False, request_save_on_cell_execute=True,
            )
            ok = True
        finally:
            if self.kernels is not None:  # kept only for a notebook still to start
                later = any(p.stem not in self.started_names for p in self.paths)
                self.kernels.give_back(km, reusable=ok and later, background=True)
            elif km.has_kernel:
                from jupyter_client.utils import run_sync

                with contextlib.suppress(Exception):
                    run_sync(km.shutdown_kernel)(now=True)


def _fail_run(out: Path, batch: _Batch, failure, public_text: str):
    """Keep the partial run as ``failed-<run id>`` (error.txt, run.log) and raise RunError."""
    tmp, secrets = batch.tmp, batch.cfg.secrets
    batch.wait_for_reports(errors=False)  # the reports of the notebooks that ended, as they are
    batch.log_refusals()
    failed = out / f"failed-{batch.run_id}"
    (tmp / "error.txt").write_text(
        redact(_ANSI.sub("", f"{failure.message}\n\n{failure.detail}"), secrets) + "\n", "utf-8")
    (tmp / "run.log").write_text("\n".join(batch.log) + "\n", "utf-8")
    _scrub_tree(tmp, secrets, public_text)
    os.replace(tmp, failed)
    raise RunError(
        f"{failure.message} (partial copy: {failed / failure.notebook_file})",
        notebook=failure.notebook, cell=failure.cell, failed_dir=failed,
    )


def _with_carried_over(out: Path, batch: _Batch, results: list) -> list:
    """This partial run's results plus the latest reports of the notebooks not run."""
    paths = batch.paths
    carried = _carry_over(out, batch.tmp, results, period=batch.cfg.run_period,
                          source=batch.cfg.shown_source, folder=paths[0].parent, prev=batch.prev)
    if not carried:
        batch.note("nothing carried over: the latest run is of another period or source "
                   "(or there is none); latest shows only this run's reports")
    for c in carried:
        batch.note(f"carried over: {c.name} from run {c.carried_from}"
                   + (" (STALE: a notebook it reads was re-run)" if c.stale else ""))
    order = {p.stem: i for i, p in enumerate(discover_notebooks(paths[0].parent))}
    return sorted(results + carried, key=lambda r: order.get(r.name, len(order)))


def _summary_part(batch: _Batch, results: list, changed_params: Mapping[str, Any], printer=None):
    """The index entries of the reports and the executive summary: ``(reports, summary,
    shown parameter changes)``."""
    reports = [
        {"name": r.name, "title": r.title, "html": r.html.name, "notebook": r.notebook.name,
         "seconds": r.seconds, "headlines": r.headlines,
         "rank": batch.index_rank[r.name] if r.name in batch.index_rank else _index_rank(r.notebook),
         "carried_from": r.carried_from, "stale": r.stale}
        for r in results
    ]
    shown_changes = {k: json.dumps(v, ensure_ascii=False, default=str) for k, v in changed_params.items()}
    return reports, _write_summary(batch.tmp, reports, batch.note, shown_changes, printer), shown_changes


def _finish_run(out: Path, batch: _Batch, results: list, public_text: str, *, printer=None) -> RunResult:
    """Write the workbook, summary (its PDF printed by ``printer`` when given), index and
    manifest; move the run into place atomically."""
    from salesplan.reports.render import render_index

    cfg, tmp, run_id = batch.cfg, batch.tmp, batch.run_id
    changed_params = _changed_parameters(cfg.merged, batch.declared)
    from salesplan.reports.i18n import get_language

    if get_language() != "en":
        changed_params["report_language"] = get_language()
    finished = time.strftime("%Y-%m-%d %H:%M:%S")
    workbook_name = f"salesplan_{cfg.run_period}.xlsx"
    run_info = {
        "run id": run_id, "period": cfg.run_period, "source": cfg.shown_source,
        "kernel": batch.kernel_name, "finished": finished,
        "notebooks": ", ".join(r.name for r in results),
        **{f"parameter {k}": json.dumps(v, ensure_ascii=False, default=str)
           for k, v in sorted(cfg.merged.items())},
        **({"parameter report_language": json.dumps(get_language())} if get_language() != "en" else {}),
    }
    from concurrent.futures import ThreadPoolExecutor

    def reports_and_workbook() -> None:
        batch.wait_for_reports()  # the last reports' HTML and their sheets added
        _write_workbook(tmp / workbook_name, run_info=run_info, results=results,
                        tables_dir=tmp / "tables", built=batch.workbook)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesplan-workbook") as pool:
        # the last reports and the workbook are written while the summary is built and
        # Chromium prints it (all read tmp/tables; the summary needs the headlines only)
        workbook = pool.submit(reports_and_workbook)
        reports, summary, shown_changes = _summary_part(batch, results, changed_params, printer)
        workbook.result()
    render_index(tmp / "index.html", run_id=run_id, period=cfg.run_period, source=cfg.shown_source,
                 reports=reports, workbook=workbook_name, finished=finished, summary=summary,
                 changed_parameters=shown_changes)
    _write_manifest(batch, reports, results, finished)
    final = out / run_id
    batch.log_refusals()  # kernels dropped after the last notebook started
    batch.note(f"reports: {final / 'index.html'}")
    (tmp / "run.log").write_text("\n".join(batch.log) + "\n", "utf-8")
    changed = _scrub_tree(tmp, cfg.secrets, public_text)
    if changed:
        batch.say(f"warning: masked a secret in {len(changed)} output file(s): "
                  + ", ".join(p.name for p in changed))
    os.replace(tmp, final)
    _point_latest(out, run_id)
    return RunResult(
        run_id=run_id, period=cfg.run_period, source=cfg.shown_source, run_dir=final,
        index=final / "index.html", workbook=final / workbook_name,
        notebooks=[replace(r, notebook=final / r.notebook.name, html=final / r.html.name)
                   for r in results],
    )


def _write_manifest(batch: _Batch, reports: list, results: list, finished: str) -> None:
    """headlines.json and run.json of the run folder."""
    tmp, cfg = batch.tmp, batch.cfg
    (tmp / "headlines.json").write_text(
        json.dumps({r["name"]: r["headlines"] for r in reports}, ensure_ascii=False, indent=1),
        "utf-8")
    (tmp / "run.json").write_text(json.dumps({
        "run_id": batch.run_id, "period": cfg.run_period, "source": cfg.shown_source,
        "kernel": batch.kernel_name, "timeout": batch.timeout, "finished": finished,
        "seconds": round(time.monotonic() - batch.started, 1),
        "notebooks": [{**{k: v for k, v in r.items() if k not in ("headlines", "rank")},
                       "parameters": res.parameters} for r, res in zip(reports, results)],
    }, ensure_ascii=False, indent=1, default=str), "utf-8")
    batch.note(f"done in {time.monotonic() - batch.started:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    """``python -m salesplan.reports.runner`` == ``salesplan run`` with defaults."""
    try:
        res = run_plan()
    except (RunError, ParameterError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(res.index)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
