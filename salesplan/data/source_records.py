"""What is known about a file source as it is now: its fingerprint and the days its data
check passed, recorded by ``salesplan run`` so that a re-run on unchanged data neither
checks it again nor hashes it in every notebook.

A file source (a DuckDB file, a folder of CSV/Parquet files) is identified by
:func:`file_identity`: the path, size, inode, modification and change times (ns) of every
file it reads, how it reads them (stages, read options, CSV settings) and the code that
reads and checks them (the ``salesplan.data`` modules and the versions of pandas, NumPy,
PyArrow and DuckDB).  Any change to a file -- a rewrite, a copy over it even with its old
time kept (the change time moves), a file added to or removed from a folder -- gives
another identity, so nothing recorded for the old one is used.  A file changed in the
last :data:`RECENT_SECONDS` gives no identity (a file system with coarse times could not
tell a second change within the same tick).  Databases have none: they are always read.

The records are a small JSON file (``<reports>/.source_records.json`` for ``salesplan
run``)::

    {"<identity>": {"fingerprint": "<sha256 hex>", "checked": ["2026-12-31", ...],
                    "reports": {"2026-12-31": <the check's findings>, ...}}, ...}

:envvar:`SALESPLAN_SOURCE_RECORDS` names it for the notebooks' kernels; it is written
atomically (a reader sees the old file or the new one) and a lost update only costs a
re-check.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["RECENT_SECONDS", "RECORDS_ENV", "add_record", "code_version", "file_identity", "recorded"]

#: environment variable naming the records file the kernels of a run may read
RECORDS_ENV = "SALESPLAN_SOURCE_RECORDS"
#: a file changed less than this many seconds ago gives no identity
RECENT_SECONDS = 2.0
#: identities kept in a records file (the most recently written)
KEEP = 32
#: check days kept per identity
KEEP_DAYS = 16


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 (hex) of the ``salesplan.data`` modules' text and of the versions of the
    libraries that read and type the data: what the fingerprint and the checks depend on."""
    from importlib import metadata

    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for dist in ("pandas", "numpy", "pyarrow", "duckdb"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=-".encode())
    return h.hexdigest()


def file_identity(files: Iterable[str | os.PathLike], settings: Sequence[object]) -> str | None:
    """The identity (SHA-256 hex) of a source reading ``files`` with ``settings``.

    Parameters
    ----------
    files : iterable of paths
        Every file the source reads (missing ones are skipped: a file that appears later
        changes the identity).
    settings : sequence
        How the files are read (their ``repr`` is hashed): source kind, stages, read
        options, CSV settings.

    Returns
    -------
    str or None
        ``None`` when a file changed less than :data:`RECENT_SECONDS` ago.
    """
    h = hashlib.sha256(code_version().encode())
    h.update(repr(tuple(settings)).encode())
    now = time.time_ns()
    for f in sorted(str(Path(p).resolve()) for p in files):
        try:
            st = os.stat(f)
        except FileNotFoundError:
            continue
        if now - max(st.st_mtime_ns, st.st_ctime_ns) < RECENT_SECONDS * 1e9:
            return None
        h.update(f"{f}\x1f{st.st_size}\x1f{st.st_ino}\x1f{st.st_mtime_ns}\x1f{st.st_ctime_ns}\n".encode())
    return h.hexdigest()


def _read(path: str | os.PathLike) -> dict:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded(path: str | os.PathLike | None, identity: str | None) -> dict:
    """What the records file ``path`` holds for ``identity`` (``{}``: nothing, or no file)."""
    if path is None or identity is None:
        return {}
    entry = _read(path).get(identity)
    return entry if isinstance(entry, dict) else {}


def add_record(path: str | os.PathLike, identity: str, *, fingerprint: str | None = None,
               checked: str | None = None, report: dict | None = None) -> None:
    """Record the ``fingerprint`` of the source of ``identity`` and/or a day ``checked``
    (``YYYY-MM-DD``) its data check passed for, with that check's ``report``
    (:meth:`salesplan.data.validation.ValidationReport.to_record`: its warnings, for the
    data-health notebook), in the records file ``path`` (atomically)."""
    path = Path(path)
    records = _read(path)
    entry = records.pop(identity, None)
    entry = entry if isinstance(entry, dict) else {}
    if fingerprint is not None:
        entry["fingerprint"] = fingerprint
    if checked is not None:
        days = [d for d in entry.get("checked", []) if d != checked]
        entry["checked"] = [*days, checked][-KEEP_DAYS:]
        reports = entry.get("reports") if isinstance(entry.get("reports"), dict) else {}
        if report is not None:
            reports[checked] = report
        entry["reports"] = {d: r for d, r in reports.items() if d in entry["checked"]}
    records[identity] = entry  # the newest last
    keep = dict(list(records.items())[-KEEP:])
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{id(keep)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(keep, indent=1), "utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
