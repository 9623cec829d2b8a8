"""The plan store: every plan run, its parameters and output tables, written atomically.

Layout (same in DuckDB, PostgreSQL and SQLite)::

    plan_runs     run_id (key), created_at (UTC), kind, period, parameters (JSON, secrets
                  masked), input_fingerprint, status, salesplan_version, tables (JSON list)
    plan_outputs  run_id, name, part, position, n_rows, manifest (JSON), payload (bytes)

Each output DataFrame is stored as one Arrow IPC stream (zstd-compressed; split into
parts of at most 8 MiB), which brings back the same dtypes, values, index and column
names; ``manifest`` records the dtypes and anything Arrow cannot keep by itself (non-text
column labels).  :meth:`PlanStore.write_run` writes the run row, with status
``'complete'``, and all its outputs in one transaction: a failure or a ``kill -9``
midway leaves nothing, and earlier runs are never touched.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

import pandas as pd

from salesplan.data.sources import (
    SourceError,
    _duckdb_path,
    make_engine,
    redact_url,
    scrub,
    substitute_env,
)

__all__ = ["PlanRun", "PlanStore", "StoreError", "sanitize_parameters"]

_MASK = "***"
_PART_BYTES = 8 * 1024 * 1024
_FORMAT = "arrow-ipc-zstd/1"
#: Parameter keys whose values are masked (case-insensitive).
SECRET_KEY_RE = re.compile(
    r"(?i)(pass(word|wd)?|pwd|secret|token|credential|(^|[_\-.])key$|apikey|[a-z0-9]Key$)"
)


class StoreError(SourceError):
    """The plan store cannot be opened, read or written; the message says why."""


# --------------------------------------------------------------------------- parameters


def sanitize_parameters(parameters: Any) -> Any:
    """Return a JSON-ready copy of ``parameters`` with secrets masked as ``***``.

    Keys matching password/secret/token/credential/key (``key``, ``api_key``,
    ``secret_key``; not ``key_account_share``) get their value masked; every string that
    is a URL loses its password (:func:`~salesplan.data.sources.redact_url`) and the
    values of ``PGPASSWORD``/``SALESPLAN_DB_PASSWORD`` are scrubbed from all strings.
    Dataclasses become dicts; dates become ISO strings; numpy scalars become Python
    numbers; tuples and sets become lists.
    """
    if is_dataclass(parameters) and not isinstance(parameters, type):
        parameters = asdict(parameters)
    if isinstance(parameters, Mapping):
        out = {}
        for k, v in parameters.items():
            key = str(k)
            out[key] = (
                _MASK if SECRET_KEY_RE.search(key) and v is not None else (sanitize_parameters(v))
            )
        return out
    if isinstance(parameters, (list, tuple)):
        return [sanitize_parameters(v) for v in parameters]
    if isinstance(parameters, (set, frozenset)):
        return sorted((sanitize_parameters(v) for v in parameters), key=repr)
    if isinstance(parameters, str):
        return scrub(parameters, max_len=None)
    if isinstance(parameters, PurePath):
        return str(parameters)
    if isinstance(parameters, (pd.Timestamp, datetime, date)):
        return parameters.isoformat()
    if hasattr(parameters, "item") and not isinstance(parameters, (pd.Series, pd.DataFrame)):
        try:
            parameters = parameters.item()  # numpy scalar
        except (TypeError, ValueError):
            return str(parameters)
    if isinstance(parameters, float) and not math.isfinite(parameters):
        return str(parameters)
    if parameters is None or isinstance(parameters, (bool, int, float)):
        return parameters
    return scrub(str(parameters), max_len=None)


# --------------------------------------------------------------------------- frames


def _encode_label(v):
    if isinstance(v, tuple):
        return {"t": [_encode_label(x) for x in v]}
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"column label {v!r} of type {type(v).__name__} cannot be stored")


def _decode_label(v):
    if isinstance(v, dict):
        return tuple(_decode_label(x) for x in v["t"])
    return v


def _serialize(name: str, frame: pd.DataFrame) -> tuple[list[bytes], dict]:
    """Arrow IPC bytes (split into parts) and the manifest of one output frame."""
    import pyarrow as pa

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"output table {name!r}: expected a pandas DataFrame, got {type(frame).__name__}"
        )
    manifest: dict[str, Any] = {
        "format": _FORMAT,
        "n_rows": len(frame),
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
    }
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise TypeError(f"output table {name!r}: duplicate column names {dup}; expected unique")
    work = frame
    if not all(isinstance(c, str) for c in frame.columns) or isinstance(
        frame.columns, pd.MultiIndex
    ):
        manifest["labels"] = [_encode_label(c) for c in frame.columns]
        manifest["label_names"] = [_encode_label(n) for n in frame.columns.names]
        work = frame.set_axis([f"__c{i}" for i in range(frame.shape[1])], axis=1)
    try:
        table = pa.Table.from_pandas(work, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as e:
        bad = _bad_column(work)
        where = (
            f", column {frame.columns[bad]!r} (dtype {frame.dtypes.iloc[bad]})"
            if (bad is not None)
            else ""
        )
        raise TypeError(
            f"output table {name!r}{where} cannot be stored: {type(e).__name__}: {e}; "
            "expected columns of one type each (numbers, text, dates, booleans, categories)"
        ) from None
    sink = pa.BufferOutputStream()
    opts = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=opts) as writer:
        writer.write_table(table)
    blob = sink.getvalue().to_pybytes()
    parts = [blob[i : i + _PART_BYTES] for i in range(0, len(blob), _PART_BYTES)] or [b""]
    return parts, manifest


def _bad_column(frame: pd.DataFrame) -> int | None:
    import pyarrow as pa

    for i in range(frame.shape[1]):
        try:
            pa.Table.from_pandas(frame.iloc[:, [i]], preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            return i
    return None


def _deserialize(parts: list[bytes], manifest: dict) -> pd.DataFrame:
    import pyarrow as pa

    if manifest.get("format") != _FORMAT:
        raise StoreError(f"unknown output format {manifest.get('format')!r}; expected {_FORMAT}")
    reader = pa.ipc.open_stream(pa.py_buffer(b"".join(parts)))
    frame = reader.read_all().to_pandas()
    if "labels" in manifest:
        labels = [_decode_label(v) for v in manifest["labels"]]
        names = [_decode_label(v) for v in manifest["label_names"]]
        if labels and all(isinstance(v, tuple) for v in labels) and len(names) > 1:
            cols = pd.MultiIndex.from_tuples(labels, names=names)
        else:
            cols = pd.Index(labels, name=names[0] if names else None, dtype=object)
            if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
                cols = pd.Index(labels, name=cols.name, dtype="int64")
        frame.columns = cols
    return frame


# --------------------------------------------------------------------------- backends

_DDL_DUCKDB = [
    """CREATE TABLE IF NOT EXISTS plan_runs (
        run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, kind VARCHAR NOT NULL,
        period VARCHAR NOT NULL, parameters VARCHAR NOT NULL, input_fingerprint VARCHAR,
        status VARCHAR NOT NULL, salesplan_version VARCHAR, tables VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS plan_outputs (
        run_id VARCHAR NOT NULL, name VARCHAR NOT NULL, part INTEGER NOT NULL,
        position INTEGER NOT NULL, n_rows BIGINT NOT NULL, manifest VARCHAR NOT NULL,
        payload BLOB NOT NULL, PRIMARY KEY (run_id, name, part))""",
]

_RUN_COLS = [
    "run_id",
    "created_at",
    "kind",
    "period",
    "parameters",
    "input_fingerprint",
    "status",
    "salesplan_version",
    "tables",
]


class _DuckDB:
    def __init__(self, path: str, display: str, lock_timeout: float):
        import duckdb

        self.path, self.display, self.lock_timeout = path, display, lock_timeout
        self._mem = duckdb.connect(":memory:") if path == ":memory:" else None

    @contextmanager
    def connect(self) -> Iterator:
        import duckdb

        if self._mem is not None:
            yield self._mem
            return
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                con = duckdb.connect(self.path)
                break
            except duckdb.IOException as e:  # another process holds the write lock
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise StoreError(f"plan store {self.display}: cannot open: {e}") from None
                time.sleep(0.1)
        try:
            yield con
        finally:
            con.close()

    def init(self):
        with self.connect() as con:
            for ddl in _DDL_DUCKDB:
                con.execute(ddl)

    @contextmanager
    def transaction(self):
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield _DuckTx(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(_dollar(sql), params or {}).df()


def _dollar(sql: str) -> str:
    return re.sub(r"(?<!:):([A-Za-z_]\w*)", r"$\1", sql)


class _DuckTx:
    def __init__(self, con):
        self.con = con

    def execute(self, sql: str, params: dict):
        self.con.execute(_dollar(sql), params)


class _SQLAlchemy:
    def __init__(self, url: str, display: str, secrets, schema: str | None):
        import sqlalchemy as sa

        self.display = display
        self.engine = make_engine(url, display=display, secrets=secrets)
        self.schema = schema
        md = sa.MetaData(schema=schema)
        self.runs = sa.Table(
            "plan_runs",
            md,
            sa.Column("run_id", sa.String(200), primary_key=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("period", sa.Text(), nullable=False),
            sa.Column("parameters", sa.Text(), nullable=False),
            sa.Column("input_fingerprint", sa.Text()),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("salesplan_version", sa.Text()),
            sa.Column("tables", sa.Text(), nullable=False),
        )
        self.outputs = sa.Table(
            "plan_outputs",
            md,
            sa.Column("run_id", sa.String(200), primary_key=True),
            sa.Column("name", sa.String(400), primary_key=True),
            sa.Column("part", sa.Integer(), primary_key=True),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("n_rows", sa.BigInteger(), nullable=False),
            sa.Column("manifest", sa.Text(), nullable=False),
            sa.Column("payload", sa.LargeBinary(), nullable=False),
        )
        self.md = md

    def init(self):
        import sqlalchemy as sa

        with self.engine.begin() as con:
            if self.schema and con.dialect.name == "postgresql":
                q = con.dialect.identifier_preparer.quote_schema(self.schema)
                con.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {q}"))
            self.md.create_all(con, checkfirst=True)

    def _name(self, table: str) -> str:
        prep = self.engine.dialect.identifier_preparer
        q = prep.quote(table)
        return f"{prep.quote_schema(self.schema)}.{q}" if self.schema else q

    @contextmanager
    def transaction(self):
        import sqlalchemy as sa

        with self.engine.begin() as con:
            store = self

            class _Tx:
                def execute(self, sql, params):
                    sql = sql.replace("plan_runs", store._name("plan_runs")).replace(
                        "plan_outputs", store._name("plan_outputs")
                    )
                    con.execute(sa.text(sql), params)

            yield _Tx()

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        import sqlalchemy as sa

        sql = sql.replace("plan_runs", self._name("plan_runs")).replace(
            "plan_outputs", self._name("plan_outputs")
        )
        with self.engine.connect() as con:
            return pd.read_sql_query(sa.text(sql), con, params=params or {})


# --------------------------------------------------------------------------- store


@dataclass
class PlanRun:
    """One stored plan run: ``meta`` (the ``plan_runs`` row, parameters decoded) and
    ``tables`` (output name -> DataFrame, in the order they were written)."""

    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _slug(text: str) -> str:
    s = re.sub(r"[^\w.]+", "_", str(text), flags=re.UNICODE).strip("_")
    return s or "x"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("salesplan")
    except Exception:  # noqa: BLE001 - not installed: fall back to the module constant
        import salesplan

        return getattr(salesplan, "__version__", "unknown")


class PlanStore:
    """Stores plan runs (parameters, input fingerprint, output tables) in a database.

    Parameters
    ----------
    url : str, default ``"duckdb:///plan_store.duckdb"``
        ``duckdb:///file.duckdb`` (relative; four slashes for absolute),
        ``duckdb:///:memory:``, or a SQLAlchemy URL such as
        ``postgresql+psycopg://planner@db:5432/plans`` (password from ``PGPASSWORD`` or
        ``${NAME}`` environment substitution; never shown in repr or messages).
    schema : str, optional
        PostgreSQL schema for the two tables (created if missing).
    lock_timeout : float, default 30
        DuckDB only: seconds to wait while another process holds the file's write lock.
    """

    def __init__(
        self,
        url: str = "duckdb:///plan_store.duckdb",
        *,
        schema: str | None = None,
        lock_timeout: float = 30.0,
    ):
        self._url = str(url)
        self.schema = schema
        resolved, self._secrets = substitute_env(self._url)
        # test hook: called inside the write transaction right before COMMIT
        self._before_commit = None
        if resolved.lower().startswith("duckdb:"):
            path = _duckdb_path(resolved)
            if path != ":memory:":
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = _DuckDB(path, self.url, lock_timeout)
        elif "://" in resolved:
            self._db = _SQLAlchemy(resolved, self.url, self._secrets, schema)
        else:
            raise StoreError(
                f"plan store {self.url}: expected duckdb:///file.duckdb or a SQLAlchemy URL "
                "such as postgresql+psycopg://user@host:5432/db"
            )
        with self._guard("creating the store tables"):
            self._db.init()

    @property
    def url(self) -> str:
        """The store URL with any password masked."""
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"PlanStore({self.url!r})"

    __str__ = __repr__

    @contextmanager
    def _guard(self, what: str):
        try:
            yield
        except (StoreError, TypeError, KeyError, LookupError):
            raise
        except Exception as e:
            mod = type(e).__module__
            if mod.startswith(("sqlalchemy", "psycopg", "duckdb", "_duckdb", "sqlite3")):
                raise StoreError(
                    scrub(
                        f"plan store {self.url}: {what} failed: {type(e).__name__}: {e}",
                        self._secrets,
                    )
                ) from None
            raise

    # -- writing ----------------------------------------------------------------
    def write_run(
        self,
        kind: str,
        period: str,
        parameters: Mapping[str, Any] | Any,
        input_fingerprint: str | None,
        tables: Mapping[str, pd.DataFrame],
    ) -> str:
        """Store one plan run and all its output tables in a single transaction.

        Parameters
        ----------
        kind : str
            What was planned, e.g. ``"targets"``, ``"funnel"``, ``"allocation"``.
        period : str
            The plan period, e.g. ``"2027Q1"``.
        parameters : mapping or dataclass
            Parameters of the run; stored as JSON with secrets masked
            (:func:`sanitize_parameters`).
        input_fingerprint : str or None
            :func:`salesplan.data.fingerprint` of the input data.
        tables : mapping of str to DataFrame
            Output tables; read back by :meth:`read_run` with identical dtypes/values.

        Returns
        -------
        str
            ``run_id``: ``<kind>-<period>-<UTC yyyymmddThhmmssffffffZ>-<8 hex>``; the hash
            covers kind, period, parameters, fingerprint and output names.

        Raises
        ------
        TypeError
            An output cannot be stored (names the table and column); nothing is written.
        """
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError(f"write_run: kind must be a non-empty string, got {kind!r}")
        if not isinstance(period, str) or not period.strip():
            raise ValueError(f"write_run: period must be a non-empty string, got {period!r}")
        if not isinstance(tables, Mapping):
            raise TypeError(
                f"write_run: tables must be a dict of DataFrames, got {type(tables).__name__}"
            )
        for name, frame in tables.items():
            if not isinstance(name, str) or not isinstance(frame, pd.DataFrame):
                raise TypeError(
                    f"write_run: tables[{name!r}] must be a DataFrame keyed by a string, got "
                    f"{type(frame).__name__}"
                )
        params_json = json.dumps(
            sanitize_parameters(
                dict(parameters)
                if isinstance(parameters, Mapping)
                else parameters
                if parameters is not None
                else {}
            ),
            sort_keys=True,
            ensure_ascii=False,
        )
        created = datetime.now(UTC).replace(tzinfo=None)
        digest = hashlib.sha256(
            "\x1f".join([kind, period, params_json, str(input_fingerprint), *tables]).encode()
        ).hexdigest()[:8]
        run_id = f"{_slug(kind)}-{_slug(period)}-{created:%Y%m%dT%H%M%S%fZ}-{digest}"
        row = {
            "run_id": run_id,
            "created_at": created,
            "kind": kind,
            "period": period,
            "parameters": params_json,
            "input_fingerprint": input_fingerprint,
            "status": "complete",
            "salesplan_version": _version(),
            "tables": json.dumps(list(tables), ensure_ascii=False),
        }
        with self._guard(f"writing run {run_id}"), self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO plan_runs ("
                + ", ".join(_RUN_COLS)
                + ") VALUES ("
                + ", ".join(":" + c for c in _RUN_COLS)
                + ")",
                row,
            )
            for position, (name, frame) in enumerate(tables.items()):
                parts, manifest = _serialize(name, frame)
                manifest_json = json.dumps(manifest, ensure_ascii=False)
                for i, part in enumerate(parts):
                    tx.execute(
                        "INSERT INTO plan_outputs (run_id, name, part, position, n_rows, "
                        "manifest, payload) VALUES (:run_id, :name, :part, :position, "
                        ":n_rows, :manifest, :payload)",
                        {
                            "run_id": run_id,
                            "name": name,
                            "part": i,
                            "position": position,
                            "n_rows": len(frame),
                            "manifest": manifest_json,
                            "payload": part,
                        },
                    )
                del parts
            if self._before_commit is not None:
                self._before_commit()
        return run_id

    # -- reading ----------------------------------------------------------------
    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        """All complete runs (optionally of one ``kind``), oldest first.

        Columns: run_id, created_at (UTC), kind, period, status, input_fingerprint,
        salesplan_version, parameters (JSON text), tables (JSON list of output names).
        """
        sql = "SELECT " + ", ".join(_RUN_COLS) + " FROM plan_runs WHERE status = 'complete'"
        params = {}
        if kind is not None:
            sql += " AND kind = :kind"
            params["kind"] = kind
        sql += " ORDER BY created_at, run_id"
        with self._guard("listing runs"):
            runs = self._db.query(sql, params)
        runs = runs[
            [
                "run_id",
                "created_at",
                "kind",
                "period",
                "status",
                "input_fingerprint",
                "salesplan_version",
                "parameters",
                "tables",
            ]
        ].reset_index(drop=True)
        runs["created_at"] = pd.to_datetime(runs["created_at"]).dt.tz_localize("UTC")
        return runs

    def read_run(
        self, run_id: str | None = None, *, kind: str | None = None, period: str | None = None
    ) -> PlanRun:
        """Read one run back; with no ``run_id`` the latest complete run matching.

        Raises
        ------
        KeyError
            No complete run matches; the message names the filters.
        """
        sql = "SELECT " + ", ".join(_RUN_COLS) + " FROM plan_runs WHERE status = 'complete'"
        params: dict[str, Any] = {}
        for col, val in (("run_id", run_id), ("kind", kind), ("period", period)):
            if val is not None:
                sql += f" AND {col} = :{col}"
                params[col] = val
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT 1"
        with self._guard("reading runs"):
            found = self._db.query(sql, params)
        if found.empty:
            what = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "any"
            raise KeyError(f"plan store {self.url}: no complete run with {what}")
        meta = found.iloc[0].to_dict()
        meta["created_at"] = pd.Timestamp(meta["created_at"]).tz_localize("UTC")
        meta["parameters"] = json.loads(meta["parameters"])
        meta["tables"] = json.loads(meta["tables"])
        with self._guard(f"reading outputs of {meta['run_id']}"):
            out = self._db.query(
                "SELECT name, part, position, manifest, payload FROM plan_outputs "
                "WHERE run_id = :run_id ORDER BY position, part",
                {"run_id": meta["run_id"]},
            )
        tables: dict[str, pd.DataFrame] = {}
        for _, group in out.groupby("position", sort=True):
            first = group.iloc[0]
            parts = [bytes(p) for p in group.sort_values("part")["payload"]]
            tables[first["name"]] = _deserialize(parts, json.loads(first["manifest"]))
        missing = [n for n in meta["tables"] if n not in tables]
        if missing:
            raise StoreError(f"plan store {self.url}: run {meta['run_id']} lacks outputs {missing}")
        return PlanRun(meta=meta, tables=tables)

    def dispose(self) -> None:
        """Close pooled connections (SQLAlchemy backends)."""
        if isinstance(self._db, _SQLAlchemy):
            self._db.engine.dispose()
