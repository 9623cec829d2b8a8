"""Open sales data by URL: DuckDB files, folders of CSV/Parquet files, SQL databases.

One call opens a source; ``load()`` returns a :class:`~salesplan.data.schema.SalesData`
coerced to the table contract::

    from salesplan.data import open_source
    data = open_source("duckdb:///data/demo.duckdb").load()
    data = open_source("exports/2026-12")  # folder with orders.csv, customers.csv, ...
    data = open_source("postgresql+psycopg://planner@db:5432/erp").load()

URLs
----
``duckdb:///relative/file.duckdb``, ``duckdb:////absolute/file.duckdb``, ``duckdb:///:memory:``
    Embedded DuckDB (SQLAlchemy's convention: three slashes then the path).  A plain
    path to an existing ``*.duckdb`` file works too.
``path/to/folder`` or ``file:///absolute/folder``
    One file per table, ``orders.csv`` or ``orders.parquet`` (auto-detected).  CSV files
    are UTF-8 (a byte-order mark is accepted) with a header row; only empty fields are
    missing values, so a name such as ``"NA"`` stays text.
any other SQLAlchemy URL
    ``postgresql+psycopg://user@host:5432/db``, ``sqlite:///file.sqlite``, ...

Read options go in the URL query (or the ``salesplan validate``/``run`` options of the
same names): ``exports/2026-12?date_format=%d/%m/%Y&decimal=,&thousands=.``,
``...?encoding=gb18030&delimiter=;``, ``postgresql+psycopg://...?timeout=30``.  They are
:class:`~salesplan.data.intake.ReadOptions` fields plus ``encoding``, ``delimiter``
(CSV folders), ``format`` (folders) and ``timeout`` (seconds, default 60: connect and
statement timeout of SQL databases, and the longest wait for any answer).  Other
query parameters of a SQLAlchemy URL go to its driver unchanged.

Passwords never have to appear in a URL: write ``${SALESPLAN_DB_PASSWORD}`` (any
environment variable, ``${NAME}`` form) where the password goes, or leave it out and set
``PGPASSWORD`` (read by libpq/psycopg).  ``repr``/``str`` of a source and every error
message raised here show the password as ``***`` (see :func:`redact_url`).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace as _replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd

from salesplan.data.intake import ReadOptions
from salesplan.data.schema import (
    DEFAULT_STAGES,
    TABLE_NAMES,
    TEXT_DTYPE,
    SalesData,
    TableSpec,
    coerce_table,
    table_specs,
)
from salesplan.data.secrets import SECRET_ENV_VARS, redact_url, scrub  # noqa: F401 (re-exported)

__all__ = [
    "DuckDBSource",
    "FolderSource",
    "SQLSource",
    "Source",
    "SourceError",
    "open_source",
    "redact_url",
    "split_read_options",
]

#: seconds a SQL database may take to connect, to run one statement, to answer at all
DEFAULT_TIMEOUT = 60.0
#: URL query keys read by salesplan (the rest of a SQLAlchemy URL's query goes to the driver)
SOURCE_KEYS = ("encoding", "delimiter", "format", "timeout")

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


class SourceError(ValueError):
    """A source cannot be opened, read or written; the message names source and cause."""


# --------------------------------------------------------------------------- secrets
# redact_url and scrub are the package's secret rules (salesplan.data.secrets), re-exported


def substitute_env(url: str) -> tuple[str, list[str]]:
    """Replace each ``${NAME}`` in ``url`` by the environment variable ``NAME``.

    Returns the resolved URL and the substituted values (treated as secrets and scrubbed
    from messages).  A missing variable raises :class:`SourceError` naming it.
    Substituted values are URL-quoted so any character may appear in a password.
    """
    from urllib.parse import quote

    values: list[str] = []

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise SourceError(
                f"{redact_url(url)}: environment variable {name!r} is not set; "
                f"expected it to hold the value written as ${{{name}}} in the URL"
            )
        values.append(os.environ[name])
        return quote(os.environ[name], safe="")

    resolved = _ENV_RE.sub(repl, url)
    return resolved, values


# --------------------------------------------------------------------------- helpers


_KIND_SQL = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "date": "DATE",
    "float": "DOUBLE",
    "int": "BIGINT",
}


def _table_order(names) -> list[str]:
    """Contract tables first (contract order), then any others sorted."""
    names = set(names)
    return [n for n in TABLE_NAMES if n in names] + sorted(names - set(TABLE_NAMES))


def _prepare_frames(data: SalesData) -> dict[str, pd.DataFrame]:
    if not isinstance(data, SalesData):
        raise TypeError(f"write() expects a SalesData bundle, got {type(data).__name__}")
    return data.coerced().as_dict()


class Source:
    """A place that holds sales tables; create one with :func:`open_source`.

    Subclasses implement listing, reading and atomic writing of tables.
    """

    kind = "source"

    def __init__(
        self, url: str, *, stages: Sequence[str] = DEFAULT_STAGES, options: ReadOptions | None = None
    ):
        self._url = str(url)
        self.stages = tuple(stages)
        self.options = options or ReadOptions()
        self._specs: dict[str, TableSpec] = table_specs(self.stages)
        self._secrets: list[str] = []
        #: table -> weak reference to the coerced frame :meth:`load` returned last
        self._loaded: dict[str, weakref.ref] = {}
        #: the files' identity before the last load() read them (with a records file only)
        self._load_identity: str | None = None

    @contextmanager
    def _session(self):
        """Reads inside share one connection where opening one costs (DuckDB); a no-op here."""
        yield

    # -- display ---------------------------------------------------------------
    @property
    def url(self) -> str:
        """The source URL with any password masked (safe to print or log)."""
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __str__(self) -> str:
        return self.url

    def _error(self, message: str) -> SourceError:
        one_line = " ".join(str(message).split())  # a driver's multi-line text on one line
        one_line = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", one_line)
        return SourceError(scrub(f"source {self.url}: {one_line}", self._secrets))

    # -- public API ------------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of the tables in the source: contract tables first, then any others."""
        return _table_order(self._list_tables())

    def load(
        self,
        tables: Sequence[str] | None = None,
        *,
        coerce: bool = True,
        columns: Mapping[str, Sequence[str]] | None = None,
        skip_absent: bool = False,
    ) -> SalesData:
        """Read the tables into a :class:`SalesData` bundle.

        Parameters
        ----------
        tables : sequence of str, optional
            Contract tables to read (``orders`` is always read).  Default: every contract
            table present in the source; absent optional tables are ``None``.
            Tables the source holds but that were not asked for are ``None`` and named in
            the bundle's ``unread`` (so :meth:`SalesData.missing_features` does not call
            them absent).
        columns : mapping of table name to column names, optional
            Read only these columns of these tables (the rest of a table's columns are
            not read at all; names the table does not have are ignored).  Tables not
            named are read whole.
        skip_absent : bool, default False
            A requested optional table that the source does not hold is ``None`` (as
            with the default ``tables``) instead of an error: a notebook's needs
            (:func:`salesplan.data.needs.load_for`).
        coerce : bool, default True
            Coerce each table to the contract (column order and dtypes) with
            :func:`~salesplan.data.schema.coerce_table`.  ``False`` returns the frames
            as read, e.g. for :func:`salesplan.data.validate` to report bad values.

        Raises
        ------
        SourceError
            When ``orders`` is missing, a requested table is absent or a file is
            unreadable; the message names the source and what was expected.
        """
        with self._session():  # the listing and the column names: one connection
            available = set(self._list_tables())
            stored = self._table_columns([n for n in TABLE_NAMES if n in (columns or {})
                                          and n in available])
        if tables is None:
            wanted = [n for n in TABLE_NAMES if n in available]
        else:
            if isinstance(tables, str):
                tables = [tables]
            unknown = sorted(set(tables) - set(TABLE_NAMES))
            if unknown:
                raise self._error(
                    f"unknown table(s) {unknown}; expected names from {list(TABLE_NAMES)}"
                )
            absent = [n for n in tables if n not in available and n != "orders"]
            if absent and not skip_absent:
                raise self._error(
                    f"requested table(s) {absent} not found; it holds {self.tables()}"
                )
            wanted = [n for n in TABLE_NAMES if n in set(tables) | {"orders"}
                      and (n in available or n == "orders")]
        if "orders" not in available:
            raise self._error(
                f"required table 'orders' not found ({self._expected('orders')}); "
                f"found tables {self.tables()}"
            )
        # the files' identity before they are read: fingerprint() records its result for it
        # only while they stay unchanged (a run's records file, SALESPLAN_SOURCE_RECORDS)
        self._load_identity = self.identity() if os.environ.get(_records_env()) else None
        with self._session():  # one connection for every table read (DuckDB: ~60 ms CPU each)
            frames = self._read_tables(wanted, dict(columns or {}), coerce, stored)
        data = SalesData.from_tables(frames, stages=self.stages, options=self.options)
        unread = tuple(n for n in TABLE_NAMES if n in available and n not in frames)
        return _replace(data, unread=unread) if unread else data

    def _read_tables(self, wanted: list[str], columns: dict, coerce: bool,
                     stored: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
        """The tables ``wanted`` (``columns``: some columns only, of the stored columns
        ``stored``), each coerced if asked."""
        frames = {}
        for name in wanted:
            if name in columns:
                have = stored[name]
                keep = [c for c in columns[name] if c in set(have)]
                frames[name] = self._read_table(name, keep if keep != have else None)
            else:
                frames[name] = self._read_table(name)
            if coerce:  # one table at a time: the raw frame is dropped before the next read
                frames[name] = coerce_table(
                    name, frames[name], self._specs.get(name), self.options
                )
                # remembered (weakly) so that fingerprint() hashes its columns as they are
                self._loaded[name] = weakref.ref(frames[name])
        return frames

    def fingerprint(self, data: SalesData | None = None, *, raw: SalesData | None = None) -> str:
        """:func:`~salesplan.data.fingerprinting.fingerprint` of every contract table the
        source holds, hashed one table -- and, where the source can read single columns,
        one column -- at a time.

        Equal to ``fingerprint(self.load())`` (so equal for a DuckDB file and a CSV folder
        of the same data), but never holds more than one table (DuckDB, Parquet: one
        column) it read for this: the tables of ``data`` that hold every stored column
        are hashed as they are (a table changed by the caller, e.g. cut at a date, is
        hashed as changed), the tables of ``raw`` (what ``load(coerce=False)`` returned)
        read whole are coerced, hashed and dropped; of a table this source's :meth:`load`
        returned with some columns only (:func:`salesplan.data.needs.load_for`) those
        columns are hashed as they are and the others read, coerced, hashed and dropped
        (:meth:`_column_batches`); the other tables are read the same way.

        When the environment variable ``SALESPLAN_SOURCE_RECORDS`` names a records file
        holding the fingerprint of this source's files as they are now (written by
        ``salesplan run`` after its data check, or by the first notebook of the run that
        computed it: :mod:`salesplan.data.source_records`), that fingerprint is returned
        without reading anything.  Without one, the fingerprint computed is recorded there
        when it is the source's own -- ``data`` is ``None`` or holds only frames as this
        source's :meth:`load` returned them, no ``raw`` -- and the files are unchanged since
        they were read (the same identity before the load and after the hashing); so the
        other notebooks of a run without a data check (``--no-check``) reuse it.
        """
        from salesplan.data.source_records import recorded

        records = os.environ.get(_records_env())
        identity = self.identity() if records else None
        known = recorded(records, identity).get("fingerprint")
        if isinstance(known, str) and known:
            return known
        with self._session():
            available = set(self._list_tables())
            if "orders" not in available:
                raise self._error(
                    f"required table 'orders' not found ({self._expected('orders')}); "
                    f"found tables {self.tables()}"
                )
            names = [n for n in TABLE_NAMES if n in available]
            stored = self._table_columns(names)
        fp = self._fingerprint(names, data, raw, stored)
        if identity is not None and raw is None and self._as_loaded(data, identity):
            _record_fingerprint(records, self.identity(), identity, fp)
        return fp

    def _as_loaded(self, data: SalesData | None, identity: str) -> bool:
        """``data`` is ``None``, or every table of it is the very frame this source's last
        :meth:`load` returned (coerced) while its files had ``identity``."""
        if data is None:
            return True
        if self._load_identity != identity:
            return False
        return all(self._part(data, name) is not None for name, _ in data.tables())

    def _fingerprint(self, names: list[str], data: SalesData | None, raw: SalesData | None,
                     stored: dict[str, list[str]]) -> str:
        """:meth:`fingerprint` of the tables ``names`` (stored columns ``stored``), after its
        records look-up."""
        from salesplan.data.fingerprinting import combine, frame_fingerprint

        def whole(bundle, name):  # the table of ``bundle`` when it was read whole
            frame = getattr(bundle, name, None) if bundle is not None else None
            return frame if frame is not None and set(map(str, frame.columns)) == set(stored[name]) else None

        def digests():
            for name in names:
                frame = whole(data, name)
                if frame is None and whole(raw, name) is not None:
                    frame = coerce_table(name, whole(raw, name), self._specs.get(name), self.options)
                if frame is not None:
                    yield name, frame_fingerprint(frame)
                else:
                    yield name, self._table_digest(name, stored[name], self._part(data, name))

        return combine(self.stages, digests())

    def _part(self, data: SalesData | None, name: str) -> pd.DataFrame | None:
        """Table ``name`` of ``data`` when it is the very frame :meth:`load` returned."""
        frame = getattr(data, name, None) if data is not None else None
        ref = self._loaded.get(name)
        return frame if frame is not None and ref is not None and ref() is frame else None

    def _table_digest(self, name: str, stored: list[str], part: pd.DataFrame | None) -> str:
        """:func:`~salesplan.data.fingerprinting.frame_fingerprint` of the coerced table
        ``name`` (stored columns ``stored``), built column by column: the columns of
        ``part`` (the same table as loaded, some columns only) as they are, the others
        read in :meth:`_column_batches`, coerced and dropped once hashed."""
        from salesplan.data.fingerprinting import columns_fingerprint

        spec = self._specs.get(name)
        contract = spec.column_names if spec is not None else []
        # the column order of coerce_table: contract columns first, then the others as stored
        order = [c for c in contract if c in stored] + [c for c in stored if c not in contract]
        have = set(map(str, part.columns)) if part is not None else set()

        def columns():
            pending: dict[str, pd.Series] = {}
            for c in order:
                if c in have:
                    yield c, part[c]
                    continue
                if c not in pending:
                    batch = next(batches)
                    frame = coerce_table(name, self._read_table(name, batch), spec, self.options)
                    pending = {b: frame[b] for b in batch}
                    del frame
                yield c, pending.pop(c)

        with self._session():  # the table's reads share one connection
            batches = iter(self._column_batches(name, [c for c in order if c not in have]))
            return columns_fingerprint(columns(), len(order))

    def _column_batches(self, name: str, columns: list[str]) -> list[list[str]]:
        """The groups of ``columns`` of table ``name`` read together to hash them, in
        order: one read of them all by default (a CSV file or a database query costs a
        pass over the whole table however few columns it returns); sources that read
        some columns cheaply (DuckDB, Parquet) read at most :data:`BATCH_VALUES` values
        at a time (:func:`_batches`: one column of a table longer than that)."""
        return [columns] if columns else []

    def identity(self) -> str | None:
        """A text that changes whenever what :meth:`load` reads may have changed: the files
        read with their sizes and times, how they are read, the reading code
        (:func:`salesplan.data.source_records.file_identity`).  ``None`` for a source
        that cannot be told unchanged without reading it (a database, ``:memory:``) or a
        file changed in the last seconds."""
        from salesplan.data.source_records import file_identity

        files = self._identity_files()
        if files is None:
            return None
        settings = (type(self).__name__, self.stages, repr(self.options), *self._read_settings())
        return file_identity(files, settings)

    def file_bytes(self) -> int:
        """The size of the files this source reads (bytes; 0 for a database)."""
        return sum(f.stat().st_size for f in self._identity_files() or [] if f.is_file())

    def _identity_files(self) -> list[Path] | None:
        """The files this source reads (``None``: not a file source)."""
        return None

    def _read_settings(self) -> tuple:
        """How the files are read, beyond stages and read options."""
        return ()

    def write(self, data: SalesData, *, replace: bool = False) -> None:
        """Write every present table of ``data`` (coerced to the contract) atomically.

        Parameters
        ----------
        data : SalesData
        replace : bool, default False
            ``False``: refuse (SourceError) when any table to be written already exists.
            ``True``: afterwards the source holds exactly ``data``'s contract tables:
            existing contract tables absent from ``data`` are dropped too.  Tables
            outside the contract are never touched.

        Either every table is written or none is (one transaction for databases; a temp
        folder renamed into place for CSV/Parquet folders).
        """
        frames = _prepare_frames(data)
        self._write_tables(frames, replace=replace)

    def sql(self, query: str) -> pd.DataFrame:
        """Run a SQL query against the source and return the result as a DataFrame."""
        raise self._error("SQL queries are not supported by this source")

    # -- to implement ----------------------------------------------------------
    def _list_tables(self) -> list[str]:
        raise NotImplementedError

    def _read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The table as stored (``columns``: only these, in this order; None: all)."""
        raise NotImplementedError

    def _columns(self, name: str) -> list[str]:
        """The column names of a stored table (default: read it; sources override)."""
        return [str(c) for c in self._read_table(name).columns]

    def _table_columns(self, names: Sequence[str]) -> dict[str, list[str]]:
        """``{table: column names}`` of stored tables (DuckDB: one query for all)."""
        return {name: self._columns(name) for name in names}

    def _write_tables(self, frames: dict[str, pd.DataFrame], *, replace: bool) -> None:
        raise NotImplementedError

    def _expected(self, name: str) -> str:
        return f"expected a table named {name!r}"

    def _conflicts(self, frames, existing, replace) -> None:
        if not replace:
            clash = [n for n in frames if n in set(existing)]
            if clash:
                raise self._error(f"table(s) {clash} already exist; pass replace=True to overwrite")


def _records_env() -> str:
    from salesplan.data.source_records import RECORDS_ENV

    return RECORDS_ENV


def _record_fingerprint(records: str, now: str | None, before: str, fingerprint: str) -> None:
    """Record ``fingerprint`` for the files' identity ``before`` when they still have it
    (``now``); a records file that cannot be written only costs a fingerprint later."""
    from salesplan.data.source_records import add_record

    if now is None or now != before:
        return
    try:
        add_record(records, before, fingerprint=fingerprint)
    except OSError:
        pass


#: values (rows x columns) the fingerprint reads of a table at a time from a columnar source
BATCH_VALUES = 1_000_000


def _batches(columns: list[str], rows: int) -> list[list[str]]:
    """``columns`` in consecutive groups of at most :data:`BATCH_VALUES` values (at least
    one column a group) for a table of ``rows`` rows."""
    step = max(1, BATCH_VALUES // max(int(rows), 1))
    return [columns[i : i + step] for i in range(0, len(columns), step)]


# --------------------------------------------------------------------------- DuckDB


def _duckdb_create_select(name: str, frame: pd.DataFrame, spec: TableSpec | None) -> str:
    parts = []
    for col in frame.columns:
        q = _qi(col)
        if spec is not None and col in spec.column_names:
            parts.append(f"CAST({q} AS {_KIND_SQL[spec.column(col).kind]}) AS {q}")
        else:
            parts.append(q)
    return ", ".join(parts) if parts else "*"


def _qi(name) -> str:
    """Quote an identifier for DuckDB/PostgreSQL/SQLite."""
    return '"' + str(name).replace('"', '""') + '"'


def _arrow_to_pandas(table) -> pd.DataFrame:
    """An Arrow table as pandas without a Python object per text value: text columns
    become :data:`~salesplan.data.schema.TEXT_DTYPE`, dates ``datetime64`` (the
    contract's coercion makes them ``datetime64[ns]``), whole numbers with nulls
    ``Int64`` (as DuckDB's own ``.df()`` gives them)."""
    import pyarrow as pa

    def mapper(t):
        if _is_text(t):
            return TEXT_DTYPE
        if pa.types.is_integer(t):
            return pd.Int64Dtype()
        return None

    table = _compact_text(table)
    whole = [pa.types.is_integer(f.type) for f in table.schema]
    # self_destruct: each Arrow column is freed once converted (``table`` is unusable after)
    frame = table.to_pandas(types_mapper=mapper, date_as_object=False, self_destruct=True)
    for c, is_int in zip(frame.columns, whole):
        # whole-number columns without nulls stay numpy int64, as DuckDB's .df() gives them
        if is_int and not frame[c].isna().any():
            frame[c] = frame[c].to_numpy(dtype="int64")
    return frame


def _is_text(arrow_type) -> bool:
    """Whether an Arrow type is text (``string`` or ``large_string``)."""
    import pyarrow as pa

    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


#: Least size of each text array :func:`_compact_text` makes, in bytes: above glibc's
#: largest ``mmap`` threshold (32 MiB), so that each is mapped on its own and its freeing
#: leaves ``malloc``'s thresholds as they were.  Arrays of the 1.7 MB of DuckDB's record
#: batches raised them: blocks of up to 1.7 MB then came from the heap, whose freed holes
#: stay resident, and the forecast notebook's last cell peaked 0.16 GB higher at scale 100.
TEXT_ARRAY_BYTES = 64 * 2**20


def _compact_text(table):
    """``table`` with each text column copied out of DuckDB's record batches.

    A column that DuckDB exports to Arrow holds the memory of its whole record batch: the
    text columns, which pandas keeps as they are, kept the batch's dates and amounts alive
    after pandas had copied those out.  At scale 100 the customer-risk notebook's tables
    held 1.61 GB for 1.08 GB of columns, and 1.08 GB after this copy (+0.3 s CPU; issue
    19).  Consecutive batches are joined into arrays of :data:`TEXT_ARRAY_BYTES` or more
    (the last may be smaller).  While one table is read its text exists twice (the order
    lines' ids: ~0.3 GB).
    """
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if _is_text(field.type):
            groups, group, size = [], [], 0
            for chunk in table.column(i).chunks:
                group.append(chunk)
                size += chunk.nbytes
                if size >= TEXT_ARRAY_BYTES:
                    groups.append(group)
                    group, size = [], 0
            chunks = [pa.concat_arrays(g) for g in (*groups, group) if g]  # new, exact-size buffers
            table = table.set_column(i, field, pa.chunked_array(chunks, type=field.type))
    return table


def _to_arrow(frame: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


class DuckDBSource(Source):
    """Tables in an embedded DuckDB database file (or ``:memory:``)."""

    kind = "duckdb"
    #: a read of some columns gives them exactly as the read of the whole table does (the
    #: data check reads a long table in column groups: ``validation._check_source``)
    checks_by_columns = True

    def __init__(self, url: str, path: str, *, stages=DEFAULT_STAGES, schema: str | None = None,
                 options: ReadOptions | None = None):
        super().__init__(url, stages=stages, options=options)
        self.path = path
        self.schema = schema or "main"
        self._memory_con = None
        #: (thread id, connection) that the reads of the running :meth:`_session` share
        self._held = None
        if path == ":memory:":
            import duckdb

            self._memory_con = duckdb.connect(":memory:")

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator:
        import duckdb

        if self._memory_con is not None:
            yield self._memory_con
            return
        held = self._held
        if not write and held is not None and held[0] == threading.get_ident():
            yield held[1]
            return
        p = Path(self.path)
        if not write and not p.exists():
            raise self._error(f"DuckDB file {str(p)!r} does not exist")
        if write:
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(p), read_only=not write)
        except duckdb.Error as e:
            raise self._error(f"cannot open DuckDB file {str(p)!r}: {e}") from None
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _session(self):
        """One read-only connection for the reads inside (this thread's): opening a DuckDB
        file and its first query cost ~60 ms CPU, paid per connection otherwise.  Closed
        at the end, and with it the buffer pool of what was read: a session spans one
        :meth:`load` (the pool then holds at most the compressed blocks of the tables it
        read, ~28 MiB at scale 10, until they are all read) or one table's check."""
        if self._memory_con is not None or self._held is not None:
            yield
            return
        with self._connect() as con:
            self._held = (threading.get_ident(), con)
            try:
                yield
            finally:
                self._held = None

    def _identity_files(self) -> list[Path] | None:
        if self._memory_con is not None or not Path(self.path).is_file():
            return None
        return [Path(self.path), Path(f"{self.path}.wal")]  # the write-ahead log, when there is one

    def _read_settings(self) -> tuple:
        return (self.schema,)

    def _list_tables(self) -> list[str]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [self.schema],
            ).fetchall()
        return [r[0] for r in rows]

    def _expected(self, name: str) -> str:
        return f"expected a table {self.schema}.{name} in DuckDB file {self.path!r}"

    def _read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        import duckdb

        select = ", ".join(map(_qi, columns)) if columns is not None else "*"
        with self._connect() as con:
            try:
                table = con.sql(
                    f"SELECT {select} FROM {_qi(self.schema)}.{_qi(name)}"
                ).to_arrow_table()
            except duckdb.Error as e:  # e.g. a column gone since it was listed: one line
                raise self._error(f"reading table {name!r} failed: {e}") from None
        return _arrow_to_pandas(table)

    def _columns(self, name: str) -> list[str]:
        return self._table_columns([name])[name]

    def _column_batches(self, name: str, columns: list[str]) -> list[list[str]]:
        # a columnar file: a read of some columns costs those columns only
        with self._connect() as con:
            rows = con.execute(f"SELECT count(*) FROM {_qi(self.schema)}.{_qi(name)}").fetchall()[0][0]
        return _batches(columns, rows)

    def _table_columns(self, names: Sequence[str]) -> dict[str, list[str]]:
        if not names:
            return {}
        with self._connect() as con:
            rows = con.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = ? ORDER BY table_name, ordinal_position",
                [self.schema],
            ).fetchall()
        out: dict[str, list[str]] = {name: [] for name in names}
        for table, column in rows:
            if table in out:
                out[table].append(column)
        return out

    def _write_tables(self, frames, *, replace):
        import duckdb

        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_qi(self.schema)}")
                existing = [
                    r[0]
                    for r in con.execute(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                        [self.schema],
                    ).fetchall()
                ]
                self._conflicts(frames, existing, replace)
                if replace:
                    for n in existing:
                        if n in TABLE_NAMES:
                            con.execute(f"DROP TABLE {_qi(self.schema)}.{_qi(n)}")
                for name, frame in frames.items():
                    view = f"__salesplan_{name}_{uuid.uuid4().hex[:8]}"
                    con.register(view, _to_arrow(frame))
                    try:
                        select = _duckdb_create_select(name, frame, self._specs.get(name))
                        con.execute(
                            f"CREATE TABLE {_qi(self.schema)}.{_qi(name)} AS "
                            f"SELECT {select} FROM {_qi(view)}"
                        )
                    finally:
                        con.unregister(view)
                con.execute("COMMIT")
            except BaseException as e:
                con.execute("ROLLBACK")
                if isinstance(e, duckdb.Error):
                    raise self._error(f"write failed, nothing was written: {e}") from None
                raise

    def sql(self, query: str) -> pd.DataFrame:
        """Run ``query`` in DuckDB (tables of the source are visible by name)."""
        import duckdb

        with self._connect() as con:
            try:
                return con.execute(query).df()
            except duckdb.Error as e:
                raise self._error(f"query failed: {e}") from None


# --------------------------------------------------------------------------- folders

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class FolderSource(Source):
    """A folder with one CSV or Parquet file per table (``orders.csv``/``orders.parquet``)."""

    kind = "folder"

    def __init__(
        self,
        url: str,
        path: str | os.PathLike,
        *,
        stages=DEFAULT_STAGES,
        format: str | None = None,
        encoding: str = "utf-8",
        delimiter: str = ",",
        options: ReadOptions | None = None,
    ):
        super().__init__(url, stages=stages, options=options)
        if format not in (None, "csv", "parquet"):
            raise SourceError(f"format must be None, 'csv' or 'parquet', got {format!r}")
        self.path = Path(path)
        self.format = format
        self.encoding = encoding
        self.delimiter = delimiter

    def _files(self) -> dict[str, list[Path]]:
        if not self.path.exists():
            raise self._error(f"folder {str(self.path)!r} does not exist")
        if not self.path.is_dir():
            raise self._error(f"{str(self.path)!r} is not a folder")
        found: dict[str, list[Path]] = {}
        for f in sorted(self.path.iterdir()):
            fmt = _FORMATS.get(f.suffix.lower())
            wanted = fmt is not None and (self.format is None or fmt == self.format)
            if wanted and f.is_file() and not f.name.startswith("."):
                found.setdefault(f.stem, []).append(f)
        return found

    def _list_tables(self) -> list[str]:
        return list(self._files())

    def _identity_files(self) -> list[Path] | None:
        try:
            return [f for files in self._files().values() for f in files]
        except SourceError:  # no such folder: loading says so
            return None

    def _read_settings(self) -> tuple:
        return (str(self.path.resolve()), self.format, self.encoding, self.delimiter)

    def _expected(self, name: str) -> str:
        fmts = [self.format] if self.format else ["csv", "parquet"]
        names = " or ".join(f"{name}.{f}" for f in fmts)
        return f"expected a file {names} in folder {str(self.path)!r}"

    def _file(self, name: str) -> Path:
        files = self._files().get(name)
        if not files:
            raise self._error(self._expected(name))
        if len(files) > 1:
            raise self._error(
                f"table {name!r} has several files {[f.name for f in files]}; expected one "
                "(choose one: ?format=csv or ?format=parquet in the source URL)"
            )
        return files[0]

    def _columns(self, name: str) -> list[str]:
        f = self._file(name)
        if _FORMATS[f.suffix.lower()] == "parquet":
            import pyarrow.parquet as pq

            try:
                return list(pq.read_schema(f).names)
            except Exception:  # noqa: BLE001 - unreadable: the read reports it
                return super()._columns(name)
        try:
            return [str(c) for c in self._read_csv(name, f, nrows=0).columns]
        except SourceError:
            return super()._columns(name)

    def _column_batches(self, name: str, columns: list[str]) -> list[list[str]]:
        f = self._file(name)
        if _FORMATS[f.suffix.lower()] == "parquet":  # columnar: a read costs its columns only
            import pyarrow.parquet as pq

            try:
                rows = pq.ParquetFile(f).metadata.num_rows
            except Exception:  # noqa: BLE001 - unreadable: the read reports it
                rows = 0
            return _batches(columns, rows)
        return super()._column_batches(name, columns)

    def _read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        f = self._file(name)
        if _FORMATS[f.suffix.lower()] == "parquet":
            import pyarrow as pa

            try:
                return pd.read_parquet(f, columns=None if columns is None else list(columns))
            except (OSError, ValueError, TypeError, pa.ArrowException) as e:
                raise self._error(
                    f"cannot read Parquet file {str(f)!r}: {type(e).__name__}: {e}"
                ) from None
        return self._read_csv(name, f, usecols=columns)

    def _read_csv(self, name: str, f: Path, usecols=None, nrows=None) -> pd.DataFrame:
        spec = self._specs.get(name)
        dtype = {}
        if spec is not None:
            dtype = {c.name: str for c in spec.columns if c.kind in ("id", "text", "enum", "date")}
        encoding = (
            "utf-8-sig"  # a byte-order mark (Excel's "CSV UTF-8") is dropped
            if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            else self.encoding
        )
        try:
            frame = pd.read_csv(
                f,
                dtype=dtype,
                encoding=encoding,
                sep=self.delimiter,
                keep_default_na=False,
                na_values=[""],
                float_precision="round_trip",
                usecols=None if usecols is None else list(usecols),
                nrows=nrows,
            )
        except UnicodeDecodeError as e:
            raise self._error(
                f"cannot read CSV file {str(f)!r}: not valid {self.encoding} text ({e.reason} "
                f"at byte {e.start}); expected UTF-8 (re-save it as UTF-8, or declare the "
                "encoding: --encoding gb18030, or ?encoding=gb18030 in the source URL)"
            ) from None
        except LookupError:
            raise self._error(
                f"unknown encoding {self.encoding!r}; expected a Python codec name such as "
                "utf-8, gb18030, cp1252, latin-1"
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as e:
            raise self._error(
                f"cannot read CSV file {str(f)!r}: {type(e).__name__}: {e}; expected "
                f"{_delimiter_words(self.delimiter)}-separated text with a header row"
            ) from None
        self._check_header(f, frame, spec)
        return frame

    def _check_header(self, f: Path, frame: pd.DataFrame, spec: TableSpec | None) -> None:
        """A one-column header holding ``;`` or a tab: a file with another delimiter."""
        if spec is None or len(frame.columns) != 1:
            return
        header = str(frame.columns[0])
        for sep in (";", "\t", "|", ","):
            if sep != self.delimiter and header.count(sep) >= 1:
                raise self._error(
                    f"CSV file {str(f)!r} has one column {header[:60]!r}: its fields are "
                    f"separated by {_delimiter_words(sep)}, not {_delimiter_words(self.delimiter)}; "
                    f"declare the delimiter: --delimiter '{sep}' or ?delimiter={sep} in the URL"
                )

    def _write_tables(self, frames, *, replace):
        target = self.path
        existing_files = self._files() if target.exists() else {}
        self._conflicts(frames, existing_files, replace)
        fmt = self.format
        if fmt is None:
            fmts = {_FORMATS[f.suffix.lower()] for fs in existing_files.values() for f in fs}
            fmt = fmts.pop() if len(fmts) == 1 else "parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            # keep every file we do not rewrite (other tables, READMEs, ...)
            if target.exists():
                drop = set(frames) | (set(TABLE_NAMES) if replace else set())
                for f in target.iterdir():
                    is_table = _FORMATS.get(f.suffix.lower()) and f.stem in drop
                    if is_table:
                        continue
                    if f.is_dir():
                        shutil.copytree(f, tmp / f.name)
                    else:
                        shutil.copy2(f, tmp / f.name)
            for name, frame in frames.items():
                out = tmp / f"{name}.{fmt}"
                if fmt == "parquet":
                    frame.to_parquet(out, index=False)
                else:
                    self._write_csv(name, frame, out)
            # swap into place: the folder is always either the old or the new content
            if target.exists():
                old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write_csv(self, name: str, frame: pd.DataFrame, out: Path) -> None:
        spec = self._specs.get(name)
        frame = frame.copy()
        if spec is not None:
            for col in spec.columns:
                if col.kind == "date" and col.name in frame.columns:
                    frame[col.name] = frame[col.name].dt.strftime("%Y-%m-%d")
        frame.to_csv(out, index=False, encoding=self.encoding)

    def sql(self, query: str) -> pd.DataFrame:
        """Run ``query`` in an in-memory DuckDB where each file is a view named by table."""
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            for name, files in self._files().items():
                f = files[0]
                lit = "'" + str(f).replace("'", "''") + "'"
                reader = (
                    f"read_parquet({lit})"
                    if _FORMATS[f.suffix.lower()] == "parquet"
                    else f"read_csv({lit}, header=true)"
                )
                con.execute(f"CREATE VIEW {_qi(name)} AS SELECT * FROM {reader}")
            return con.execute(query).df()
        except duckdb.Error as e:
            raise self._error(f"query failed: {e}") from None
        finally:
            con.close()


def _delimiter_words(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(sep, repr(sep))


# --------------------------------------------------------------------------- SQLAlchemy


def _timeout_args(dialect: str, url, timeout: float | None) -> dict:
    """Driver arguments for a connect timeout and a statement timeout of ``timeout`` s.

    Values given in the URL's own query (``connect_timeout=``) win.
    """
    if timeout is None:
        return {}
    query = dict(url.query)
    seconds = max(1, int(math.ceil(timeout)))
    if dialect == "postgresql":
        args = {"connect_timeout": seconds}
        if "options" not in query:
            args["options"] = f"-c statement_timeout={seconds * 1000}"
    elif dialect in ("mysql", "mariadb"):
        args = {"connect_timeout": seconds, "read_timeout": seconds}
    elif dialect == "sqlite":
        args = {"timeout": float(timeout)}
    else:
        args = {}
    return {k: v for k, v in args.items() if k not in query}


def make_engine(
    url: str,
    *,
    display: str | None = None,
    secrets: Sequence[str] = (),
    timeout: float | None = None,
):
    """Create a SQLAlchemy engine for ``url`` (already env-substituted).

    ``postgresql://``/``postgres://`` use psycopg 3 when psycopg2 is not installed, and
    SQLite gets real transactions (DDL included) so that writes are atomic.  ``timeout``
    (seconds) sets the driver's connect and statement timeouts where it has them
    (PostgreSQL ``connect_timeout`` and ``statement_timeout``; MySQL; SQLite's lock wait).
    """
    import sqlalchemy as sa
    from sqlalchemy import event

    display = display or redact_url(url)
    m = _SCHEME_RE.match(url)
    scheme = m.group(1).lower() if m else ""
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            url = "postgresql+psycopg" + url[len(scheme) :]
    try:
        parsed = sa.engine.make_url(url)
        connect_args = _timeout_args(parsed.get_backend_name(), parsed, timeout)
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as e:
        raise SourceError(
            scrub(
                f"source {display}: cannot open URL scheme {scheme!r} ({type(e).__name__}: {e}); "
                "expected duckdb:///file.duckdb, a folder path or file:///folder, or a "
                "SQLAlchemy URL such as postgresql+psycopg://user@host:5432/db or "
                "sqlite:///file.sqlite",
                secrets,
            )
        ) from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_con, _record):  # pragma: no cover - trivial
            dbapi_con.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN")

    return engine


def _sa_type(kind: str | None, series: pd.Series | None = None):
    import sqlalchemy as sa

    if kind in ("id", "text", "enum"):
        return sa.Text()
    if kind == "date":
        return sa.Date()
    if kind == "float":
        return sa.Double()
    if kind == "int":
        return sa.BigInteger()
    dt = series.dtype
    if pd.api.types.is_bool_dtype(dt):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(dt):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(dt):
        return sa.Double()
    if pd.api.types.is_datetime64_any_dtype(dt):
        return sa.DateTime()
    return sa.Text()


def _records(frame: pd.DataFrame, kinds: dict) -> Iterator[list[dict]]:
    cols = {}
    for c in frame.columns:
        s = frame[c]
        kind = kinds.get(c)
        if kind == "date":
            vals = [None if pd.isna(v) else v.date() for v in s]
        elif kind in ("id", "text", "enum") or (
            kind is None
            and not (
                pd.api.types.is_numeric_dtype(s.dtype)
                or pd.api.types.is_datetime64_any_dtype(s.dtype)
                or pd.api.types.is_bool_dtype(s.dtype)
            )
        ):
            vals = [None if _isna(v) else str(v) for v in s]
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            vals = [None if pd.isna(v) else v.to_pydatetime() for v in s]
        else:
            vals = [
                None if _isna(v) else v.item() if hasattr(v, "item") else v
                for v in s.astype(object)
            ]
        cols[str(c)] = vals
    names = list(cols)
    n = len(frame)
    step = 20_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield [{k: cols[k][i] for k in names} for i in range(start, stop)]


def _sort_by_key(frame: pd.DataFrame, spec: TableSpec | None) -> pd.DataFrame:
    """Rows in a database table have no order: sort by the contract key (or by all
    contract columns for tables without one), in Python's order, so reads are stable."""
    if spec is None:
        return frame
    cols = [c for c in (spec.key or tuple(spec.column_names)) if c in frame.columns]
    if not cols:
        return frame
    try:
        return frame.sort_values(cols, kind="stable", na_position="last").reset_index(drop=True)
    except TypeError:  # mixed types in a raw column: leave the order as read
        return frame


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


class SQLSource(Source):
    """Tables in a database reached through a SQLAlchemy URL (PostgreSQL, SQLite, ...).

    A database keeps no row order, so :meth:`load` returns each table sorted by its
    contract key (all contract columns for ``activities``).
    """

    kind = "sqlalchemy"

    def __init__(self, url: str, *, stages=DEFAULT_STAGES, schema: str | None = None,
                 options: ReadOptions | None = None, timeout: float | None = DEFAULT_TIMEOUT):
        super().__init__(url, stages=stages, options=options)
        resolved, self._secrets = substitute_env(self._url)
        self.schema = schema
        self.timeout = timeout
        self._engine = make_engine(resolved, display=self.url, secrets=self._secrets,
                                   timeout=timeout)

    @property
    def engine(self):
        """The SQLAlchemy engine (its repr masks the password)."""
        return self._engine

    def _answer(self, what: str, fn):
        """``fn()`` in a helper thread; a database that does not answer within the
        timeout (plus 5 s for the driver's own timeouts to fire first) is an error."""
        if self.timeout is None:
            return fn()
        box: dict = {}

        def work():
            try:
                box["value"] = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller
                box["error"] = e

        t = threading.Thread(target=work, name=f"salesplan-sql-{what}", daemon=True)
        t.start()
        t.join(self.timeout + 5)
        if t.is_alive():
            raise self._error(
                f"{what}: no answer within {self.timeout:g} s (timeout={self.timeout:g}); "
                "expected a database that answers: check host, port, network, locks"
            )
        if "error" in box:
            raise box["error"]
        return box["value"]

    @contextmanager
    def _guard(self, what: str):
        import sqlalchemy as sa

        try:
            yield
        except sa.exc.SQLAlchemyError as e:
            raise self._error(f"{what} failed: {type(e).__name__}: {e}") from None
        except Exception as e:
            if type(e).__module__.startswith("psycopg"):
                raise self._error(f"{what} failed: {type(e).__name__}: {e}") from None
            raise

    def _qualified(self, name: str) -> str:
        prep = self._engine.dialect.identifier_preparer
        q = prep.quote(name)
        return f"{prep.quote_schema(self.schema)}.{q}" if self.schema else q

    def _list_tables(self) -> list[str]:
        import sqlalchemy as sa

        with self._guard("listing tables"):
            return self._answer(
                "listing tables",
                lambda: sa.inspect(self._engine).get_table_names(schema=self.schema),
            )

    def _expected(self, name: str) -> str:
        where = f"schema {self.schema!r}" if self.schema else "the default schema"
        return f"expected a table {name!r} in {where}"

    def _read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The table sorted by its contract key; ``columns``: only these are returned, and
        only they and the key's columns (that order the rows) are fetched."""
        import sqlalchemy as sa

        spec = self._specs.get(name)
        select = "*"
        if columns is not None:
            stored = self._columns(name)
            order = [c for c in (spec.key or tuple(spec.column_names)) if c in stored] if spec else []
            quote = self._engine.dialect.identifier_preparer.quote
            select = ", ".join(quote(c) for c in dict.fromkeys([*columns, *order]))

        def read():
            with self._engine.connect() as con:
                return pd.read_sql_query(sa.text(f"SELECT {select} FROM {self._qualified(name)}"), con)

        with self._guard(f"reading table {name!r}"):
            frame = self._answer(f"reading table {name!r}", read)
        frame = _sort_by_key(frame, spec)  # the key orders rows: sort first
        return frame if columns is None else frame[list(columns)]

    def _columns(self, name: str) -> list[str]:
        import sqlalchemy as sa

        with self._guard(f"listing the columns of table {name!r}"):
            cols = self._answer(
                f"listing the columns of table {name!r}",
                lambda: sa.inspect(self._engine).get_columns(name, schema=self.schema),
            )
        return [str(c["name"]) for c in cols]

    def _write_tables(self, frames, *, replace):
        import sqlalchemy as sa

        with self._guard("write (nothing was written)"), self._engine.begin() as con:
            if self.schema and con.dialect.name == "postgresql":
                con.execute(
                    sa.text(
                        f"CREATE SCHEMA IF NOT EXISTS "
                        f"{con.dialect.identifier_preparer.quote_schema(self.schema)}"
                    )
                )
            existing = sa.inspect(con).get_table_names(schema=self.schema)
            self._conflicts(frames, existing, replace)
            md = sa.MetaData(schema=self.schema)
            if replace:
                for n in existing:
                    if n in TABLE_NAMES:
                        sa.Table(n, md).drop(con)
                md = sa.MetaData(schema=self.schema)
            for name, frame in frames.items():
                spec = self._specs.get(name)
                kinds = {c.name: c.kind for c in spec.columns} if spec else {}
                table = sa.Table(
                    name,
                    md,
                    *[sa.Column(str(c), _sa_type(kinds.get(c), frame[c])) for c in frame.columns],
                )
                table.create(con)
                for chunk in _records(frame, kinds):
                    con.execute(table.insert(), chunk)

    def sql(self, query: str) -> pd.DataFrame:
        """Run ``query`` on the database and return the result as a DataFrame."""
        import sqlalchemy as sa

        with self._guard("query"), self._engine.connect() as con:
            return pd.read_sql_query(sa.text(query), con)

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()


# --------------------------------------------------------------------------- entry point


def _path_from_file_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(f"source {redact_url(url)}: file URLs must be local (file:///path)")
    return unquote(parts.path)


def _duckdb_path(url: str) -> str:
    rest = url.split(":", 1)[1]
    if rest.startswith("///"):
        path = rest[3:]
    elif rest.startswith("//"):
        path = rest[2:]
    else:
        path = rest
    path = unquote(path.split("?", 1)[0])
    return path or ":memory:"


def split_read_options(url: str) -> tuple[str, dict[str, str]]:
    """Split salesplan's own query parameters off a source URL.

    Returns the URL without them and ``{key: value}``.  Keys are the
    :class:`~salesplan.data.intake.ReadOptions` fields and :data:`SOURCE_KEYS`;
    any other query parameter stays in the URL (driver options of a SQLAlchemy URL).
    Values are taken literally apart from ``%XX`` escapes (``%d/%m/%Y`` stays).
    """
    text = str(url)
    if "?" not in text:
        return text, {}
    base, query = text.split("?", 1)
    ours = set(ReadOptions.names()) | set(SOURCE_KEYS)
    keep, found = [], {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key in ours:
            found[key] = unquote(value)
        else:
            keep.append(part)
    return base + ("?" + "&".join(keep) if keep else ""), found


def open_source(
    url: str | os.PathLike,
    *,
    stages: Sequence[str] = DEFAULT_STAGES,
    schema: str | None = None,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    timeout: float | None = None,
    options: ReadOptions | None = None,
) -> Source:
    """Open the sales data source at ``url``.

    Parameters
    ----------
    url : str or path-like
        ``duckdb:///file.duckdb`` (relative; ``duckdb:////abs/file.duckdb`` absolute),
        ``duckdb:///:memory:``, a folder path or ``file:///folder`` of CSV/Parquet
        files, a path to a ``.duckdb`` file, or any SQLAlchemy URL.  ``${NAME}`` is
        replaced by the environment variable ``NAME`` (use it for passwords).  Read
        options may follow in the query: ``?date_format=%d/%m/%Y&decimal=,`` (see
        :func:`split_read_options`); keyword arguments override them.
    stages : sequence of str
        Funnel stages, top first, used when coercing ``opportunities``/``stage_history``.
    schema : str, optional
        Database schema (PostgreSQL, DuckDB) holding the tables.
    format : {'csv', 'parquet'}, optional
        Folder sources only: read/write only this format.  Default: auto-detect when
        reading; when writing, the folder's existing format, else Parquet.
    encoding : str, default 'utf-8'
        Folder sources only: text encoding of CSV files (a UTF-8 byte-order mark is
        always accepted).
    delimiter : str, default ','
        Folder sources only: CSV field separator (``;``, ``\\t``, ``|``).
    timeout : float, default 60
        SQL databases: seconds to connect, per statement, and for any answer.
    options : ReadOptions, optional
        How dates and numbers are read, plausibility limits; default from the URL query.

    Returns
    -------
    Source
        Nothing is read until :meth:`Source.load`, :meth:`Source.tables` or
        :meth:`Source.sql` is called.

    Raises
    ------
    SourceError
        Unknown URL scheme, an unset ``${NAME}`` variable, or a bad read option.
    """
    text = os.fspath(url) if isinstance(url, os.PathLike) else str(url)
    text, query = split_read_options(text)
    try:
        read = {k: v for k, v in query.items() if k in ReadOptions.names()}
        opts = options or ReadOptions.from_mapping(read)
        timeout = float(query["timeout"]) if timeout is None and "timeout" in query else timeout
    except ValueError as e:
        raise SourceError(f"source {redact_url(text)}: {e}") from None
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    format = format or query.get("format")
    encoding = encoding or query.get("encoding") or "utf-8"
    delimiter = delimiter or query.get("delimiter") or ","
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if format is not None and format not in ("csv", "parquet"):
        raise SourceError(f"format must be None, 'csv' or 'parquet', got {format!r}")
    m = _SCHEME_RE.match(text)
    is_windows_drive = bool(re.match(r"^[A-Za-z]:[\\/]", text))
    scheme = m.group(1).lower() if m and not is_windows_drive else ""
    folder_kw = dict(format=format, encoding=encoding, delimiter=delimiter, options=opts)
    if scheme == "duckdb":
        resolved, _ = substitute_env(text)
        return DuckDBSource(text, _duckdb_path(resolved), stages=stages, schema=schema,
                            options=opts)
    if scheme == "file":
        path = _path_from_file_url(substitute_env(text)[0])
        return _open_path(text, path, stages, schema, folder_kw)
    if scheme and "://" in text:
        return SQLSource(text, stages=stages, schema=schema, options=opts, timeout=timeout)
    if scheme and not is_windows_drive:
        raise SourceError(
            f"source {redact_url(text)}: unknown URL scheme {scheme!r}; expected "
            "duckdb:///file.duckdb, a folder path or file:///folder, or a SQLAlchemy URL"
        )
    return _open_path(text, text, stages, schema, folder_kw)


def _open_path(url, path, stages, schema, folder_kw) -> Source:
    p = Path(path).expanduser()
    if p.is_file() and p.suffix.lower() in (".duckdb", ".ddb"):
        return DuckDBSource(url, str(p), stages=stages, schema=schema, options=folder_kw["options"])
    if p.is_file():
        raise SourceError(
            f"source {redact_url(url)}: {str(p)!r} is a file; expected a folder with one "
            "CSV/Parquet file per table, or a .duckdb file"
        )
    return FolderSource(url, p, stages=stages, **folder_kw)
