"""The plan store: every plan run, its parameters and output tables, written atomically.

Layout (same in DuckDB, PostgreSQL and SQLite)::

    plan_runs     run_id (key), created_at (UTC), kind, period, parameters (JSON, secrets
                  masked), input_fingerprint, status, salesplan_version, tables (JSON list)
    plan_outputs  run_id, name, part, position, n_rows, manifest (JSON), payload (bytes);
                  in DuckDB each run's rows are in a table of their own, ``plan_outputs_``
                  and 16 hex digits of the SHA-256 of its run id, same columns (see
                  ``_run_outputs_table``: a write then never rewrites earlier runs' outputs)

Plan of record (readable by plain SQL, see :mod:`salesplan.data.plans` for the logic)::

    plan_runs     ... + name (the run's name, ``salesplan run --name``), batch_id (the
                  ``salesplan run`` that wrote it)
    plan_batches  batch_id, name, period, started_at, finished_at, status
                  ('running' | 'complete' | 'failed'), notebooks (JSON list)
    plan_targets  run_id, period, level, entity, region, grain ('quarter' | 'month' |
                  'week'), start_date, target, quota, p_attain_target, p_attain_quota
    plan_approvals approval_id, run_id, period, status ('approved' | 'superseded'),
                  approved_by, approved_at, note, input_fingerprint, superseded_at,
                  superseded_by
    approved_plan_targets (view) the ``plan_targets`` rows of each period's approved run,
                  with approved_by / approved_at
    plan_headcount, plan_budget   an ``allocation`` run's hiring and budget plan per region;
                  views approved_plan_headcount / approved_plan_budget: those of the
                  ``salesplan run`` whose targets run is approved

Each output DataFrame is stored as one Arrow IPC stream (zstd-compressed; split into
parts of at most 8 MiB), which brings back the same dtypes, values, index and column
names; ``manifest`` records the dtypes and anything Arrow cannot keep by itself (non-text
column labels).  :meth:`PlanStore.write_run` writes the run row, with status
``'complete'``, and all its outputs in one transaction: a failure or a ``kill -9``
midway leaves nothing, and earlier runs are never touched.  The parts are made one at a
time while they are written, and joined once when read.

Large outputs are cheapest as compact frames: categoricals (an Arrow dictionary: each
text once, an integer code per row) and narrow integers are kept as they are.  The
forecast's sample paths (``forecast`` runs, output ``paths``;
:meth:`salesplan.planning.targets.QuarterDistribution.to_frame`) are such a frame, one row
per value in cube order::

    level  category  company | region | rep
    node   category  "total", the region, the rep id
    month  category  the month start (datetime), one of the quarter's three
    path   int16     sample path 0 .. n_paths - 1 (int32 beyond 32,767 paths)
    value  float64   revenue of the node in the month on that path (currency)

(1,000 paths x 6,716 nodes x 3 months: 20M rows, ~146 MB stored, ~280 MB in memory).
Paths written before this layout (text ``level`` / ``node``, datetime ``month``, int64
``path``) read back as they were written; :class:`~salesplan.planning.targets.QuarterDistribution`
takes either.  To query them in DuckDB, read the frame and query it by name::

    paths = PlanStore(url).read_run(kind="forecast", period="2027Q1").tables["paths"]
    duckdb.sql("SELECT node, sum(value) / 1000 AS mean_quarter FROM paths "
               "WHERE level = 'region' GROUP BY node ORDER BY node")
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

import pandas as pd

from salesplan.data.secrets import MASK, SECRET_NAME_RE, is_secret_name, scrub
from salesplan.data.sources import (
    SourceError,
    _duckdb_path,
    make_engine,
    redact_url,
    substitute_env,
)

__all__ = ["PlanRun", "PlanStore", "StoreError", "sanitize_parameters", "target_rows",
           "TARGET_COLUMNS", "RUN_ID_ENV", "RUN_NAME_ENV", "PlanError",
           "PlanComparison", "PLAN_TABLES"]

#: Environment variables through which ``salesplan run`` tells the notebooks' kernels its
#: run id and name; :meth:`PlanStore.write_run` records them with every run it writes.
RUN_ID_ENV = "SALESPLAN_RUN_ID"
RUN_NAME_ENV = "SALESPLAN_RUN_NAME"

_PART_BYTES = 8 * 1024 * 1024
_FORMAT = "arrow-ipc-zstd/1"
#: Parameter keys whose values are masked: the package's secret names
#: (:func:`salesplan.data.secrets.is_secret_name`).
SECRET_KEY_RE = SECRET_NAME_RE


class StoreError(SourceError):
    """The plan store cannot be opened, read or written; the message says why."""


class PlanError(StoreError):
    """A plan-of-record request cannot be done (unknown run, failed or partial run, ...);
    the message is one line that says why and what to do."""


#: Tables a ``targets`` run must hold to be a complete plan that can be approved.
PLAN_TABLES = ("company", "regions", "reps", "months", "weeks")


# --------------------------------------------------------------------------- parameters


def sanitize_parameters(parameters: Any) -> Any:
    """Return a JSON-ready copy of ``parameters`` with secrets masked as ``***``.

    Keys that are secret names (:mod:`salesplan.data.secrets`: password/secret/token/
    credential/key -- ``key``, ``api_key``, ``secret_key``; not ``key_account_share``) get
    their value masked; every string that
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
                MASK if is_secret_name(key) and v is not None else (sanitize_parameters(v))
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


def _serialize(name: str, frame: pd.DataFrame) -> tuple[Iterator[bytes], dict]:
    """Arrow IPC bytes (split into parts, made one at a time) and the manifest of one
    output frame."""
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
    del table, work
    return _parts(sink.getvalue()), manifest


def _parts(blob) -> Iterator[bytes]:
    """The parts (of at most :data:`_PART_BYTES`) of an Arrow buffer, each copied out when
    it is written: one part in memory at a time besides the buffer, not the whole blob twice."""
    if not len(blob):
        yield b""
    for i in range(0, len(blob), _PART_BYTES):
        yield blob.slice(i, min(_PART_BYTES, len(blob) - i)).to_pybytes()


def _bad_column(frame: pd.DataFrame) -> int | None:
    import pyarrow as pa

    for i in range(frame.shape[1]):
        try:
            pa.Table.from_pandas(frame.iloc[:, [i]], preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            return i
    return None


def _deserialize(parts: list, manifest: dict) -> pd.DataFrame:
    """The frame of one output from its parts (bytes-like, in order) and manifest."""
    import pyarrow as pa

    if manifest.get("format") != _FORMAT:
        raise StoreError(f"unknown output format {manifest.get('format')!r}; expected {_FORMAT}")
    blob = parts[0] if len(parts) == 1 else b"".join(parts)
    parts.clear()  # the caller's list: the parts are freed as soon as they are joined
    table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
    del blob  # decompressed: the stream is not needed any more
    frame = table.to_pandas(self_destruct=True)  # each Arrow column freed once converted
    del table
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


# --------------------------------------------------------------------------- relational


def _col(frame: pd.DataFrame, name: str, default=float("nan")) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype=object if isinstance(default, str) else float)


def target_rows(run_id: str, period: str, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The targets of a ``targets`` run as plain rows (the ``plan_targets`` table).

    One row per level x entity x grain x start: ``company``
    (entity ``"total"`` as in the months and weeks tables), ``region``, ``rep`` (quota;
    ``target`` when the reps table carries one) and
    ``product_line`` (from a ``product_lines`` table when the run has one) for the
    quarter, and every row of ``months`` (grain ``month``) and ``weeks`` (grain
    ``week``).  Columns are found by name; missing ones are NULL.  Money in the company
    currency; ``p_attain_*`` are probabilities.

    Returns
    -------
    DataFrame
        Columns :data:`TARGET_COLUMNS`.
    """
    try:
        start = pd.Period(str(period), freq="Q").start_time.normalize()
    except (ValueError, TypeError):
        start = pd.NaT
    parts = []

    def add(frame, level, entity, region, grain, when):
        parts.append(pd.DataFrame({
            "level": level, "entity": entity.astype(str), "region": region,
            "grain": grain, "start_date": pd.to_datetime(when),
            "target": pd.to_numeric(_col(frame, "target"), errors="coerce"),
            "quota": pd.to_numeric(_col(frame, "quota"), errors="coerce"),
            "p_attain_target": pd.to_numeric(_col(frame, "p_attain_target"), errors="coerce"),
            "p_attain_quota": pd.to_numeric(_col(frame, "p_attain_quota"), errors="coerce"),
        }))

    c = tables.get("company")
    if isinstance(c, pd.DataFrame) and len(c):
        add(c, "company", pd.Series("total", index=c.index), None, "quarter", start)
    r = tables.get("regions")
    if isinstance(r, pd.DataFrame) and "region" in r.columns:
        add(r, "region", r["region"], r["region"].astype(object), "quarter", start)
    reps = tables.get("reps")
    if isinstance(reps, pd.DataFrame) and "rep_id" in reps.columns:
        add(reps, "rep", reps["rep_id"], _col(reps, "region", "").astype(object), "quarter", start)
    for key in ("product_lines", "products", "product_line_targets"):
        pl = tables.get(key)
        if isinstance(pl, pd.DataFrame) and "product_line" in pl.columns and "target" in pl.columns:
            add(pl, "product_line", pl["product_line"], None, "quarter", start)
            break
    for key, grain, when in (("months", "month", "month"), ("weeks", "week", "week_start")):
        m = tables.get(key)
        if isinstance(m, pd.DataFrame) and {"level", "entity", when} <= set(m.columns):
            add(m, m["level"].astype(str), m["entity"], _col(m, "region", "").astype(object),
                grain, m[when])
    if not parts:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["region"] = out["region"].astype(object).where(out["region"].notna() & (out["region"] != ""), None)
    out["start_date"] = pd.to_datetime(out["start_date"]).dt.date
    out.insert(0, "period", str(period))
    out.insert(0, "run_id", run_id)
    return out[TARGET_COLUMNS]


def resource_rows(run_id: str, period: str, tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The resource plan of an ``allocation`` run as plain rows.

    ``plan_headcount`` (from the ``headcount`` and ``hiring_plan`` tables): per region
    ``headcount_needed, reps_today, gap, hires`` (sum of planned hires) and
    ``first_start`` (first start month of a hire); ``plan_budget`` (from
    ``budget_split``): per region ``monthly_spend`` (currency per month).  Columns are
    found by name; tables that are missing give no rows.
    """
    out = {}
    hc = tables.get("headcount")
    if isinstance(hc, pd.DataFrame) and "region" in hc.columns and len(hc):
        rows = pd.DataFrame({"region": hc["region"].astype(str)})
        for c in ("headcount_needed", "reps_today", "gap"):
            rows[c] = pd.to_numeric(_col(hc, c), errors="coerce").to_numpy()
        hp = tables.get("hiring_plan")
        if isinstance(hp, pd.DataFrame) and {"region", "hires"} <= set(hp.columns):
            g = hp.groupby(hp["region"].astype(str))
            rows["hires"] = rows["region"].map(g["hires"].sum()).fillna(0.0).astype(float)
            first = g["start_month"].min() if "start_month" in hp.columns else pd.Series(dtype="datetime64[ns]")
            rows["first_start"] = [x.date() if pd.notna(x) else None
                                   for x in pd.to_datetime(rows["region"].map(first))]
        else:
            rows["hires"], rows["first_start"] = float("nan"), None
        rows.insert(0, "period", str(period))
        rows.insert(0, "run_id", run_id)
        out["plan_headcount"] = rows[HEADCOUNT_COLUMNS]
    bs = tables.get("budget_split")
    if isinstance(bs, pd.DataFrame) and {"region", "spend"} <= set(bs.columns) and len(bs):
        out["plan_budget"] = pd.DataFrame({"run_id": run_id, "period": str(period),
                                           "region": bs["region"].astype(str),
                                           "monthly_spend": pd.to_numeric(bs["spend"], errors="coerce")})
    return out


# --------------------------------------------------------------------------- backends

#: the columns of ``plan_outputs``, and of a DuckDB run's own outputs table
_OUTPUT_COLUMNS_DDL = ("run_id VARCHAR NOT NULL, name VARCHAR NOT NULL, part INTEGER NOT NULL, "
                       "position INTEGER NOT NULL, n_rows BIGINT NOT NULL, manifest VARCHAR NOT NULL, "
                       "payload BLOB NOT NULL")


_DDL_DUCKDB = [
    """CREATE TABLE IF NOT EXISTS plan_runs (
        run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, kind VARCHAR NOT NULL,
        period VARCHAR NOT NULL, parameters VARCHAR NOT NULL, input_fingerprint VARCHAR,
        status VARCHAR NOT NULL, salesplan_version VARCHAR, tables VARCHAR NOT NULL)""",
    f"CREATE TABLE IF NOT EXISTS plan_outputs ({_OUTPUT_COLUMNS_DDL}, PRIMARY KEY (run_id, name, part))",
    "ALTER TABLE plan_runs ADD COLUMN IF NOT EXISTS name VARCHAR",
    "ALTER TABLE plan_runs ADD COLUMN IF NOT EXISTS batch_id VARCHAR",
    """CREATE TABLE IF NOT EXISTS plan_batches (
        batch_id VARCHAR PRIMARY KEY, name VARCHAR, period VARCHAR, started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP, status VARCHAR NOT NULL, notebooks VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS plan_targets (
        run_id VARCHAR NOT NULL, period VARCHAR NOT NULL, level VARCHAR NOT NULL,
        entity VARCHAR NOT NULL, region VARCHAR, grain VARCHAR NOT NULL, start_date DATE NOT NULL,
        target DOUBLE, quota DOUBLE, p_attain_target DOUBLE, p_attain_quota DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS plan_headcount (
        run_id VARCHAR NOT NULL, period VARCHAR NOT NULL, region VARCHAR NOT NULL,
        headcount_needed DOUBLE, reps_today DOUBLE, gap DOUBLE, hires DOUBLE, first_start DATE)""",
    """CREATE TABLE IF NOT EXISTS plan_budget (
        run_id VARCHAR NOT NULL, period VARCHAR NOT NULL, region VARCHAR NOT NULL,
        monthly_spend DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS plan_approvals (
        approval_id VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
        status VARCHAR NOT NULL, approved_by VARCHAR NOT NULL, approved_at TIMESTAMP NOT NULL,
        note VARCHAR, input_fingerprint VARCHAR, superseded_at TIMESTAMP, superseded_by VARCHAR)""",
]

_VIEW_SQL = """CREATE OR REPLACE VIEW {view} AS
    SELECT t.period, t.level, t.entity, t.region, t.grain, t.start_date, t.target, t.quota,
           t.p_attain_target, t.p_attain_quota, t.run_id, r.name AS run_name,
           a.approval_id, a.approved_by, a.approved_at, a.note
    FROM {targets} t
    JOIN {approvals} a ON a.run_id = t.run_id AND a.period = t.period AND a.status = 'approved'
    LEFT JOIN {runs} r ON r.run_id = t.run_id"""

#: Resource plans of an ``allocation`` run; the approved ones are those of the
#: ``salesplan run`` (batch) whose targets run is approved.
_RESOURCE_VIEW_SQL = """CREATE OR REPLACE VIEW {view} AS
    SELECT x.*, a.approved_by, a.approved_at
    FROM {table} x
    JOIN {runs} r ON r.run_id = x.run_id
    JOIN {runs} t ON t.batch_id = r.batch_id AND t.kind = 'targets' AND t.period = x.period
    JOIN {approvals} a ON a.run_id = t.run_id AND a.status = 'approved'"""
HEADCOUNT_COLUMNS = ["run_id", "period", "region", "headcount_needed", "reps_today", "gap", "hires",
                     "first_start"]
BUDGET_COLUMNS = ["run_id", "period", "region", "monthly_spend"]

#: Columns of ``plan_targets`` (one row per target: level x entity x grain x start).
TARGET_COLUMNS = ["run_id", "period", "level", "entity", "region", "grain", "start_date",
                  "target", "quota", "p_attain_target", "p_attain_quota"]
_BATCH_COLS = ["batch_id", "name", "period", "started_at", "finished_at", "status", "notebooks"]
_APPROVAL_COLS = ["approval_id", "run_id", "period", "status", "approved_by", "approved_at",
                  "note", "input_fingerprint", "superseded_at", "superseded_by"]

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
    "name",
    "batch_id",
]


class _DuckDB:
    #: each run's outputs go to a table of their own (:func:`_run_outputs_table`)
    outputs_per_run = True

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
            con.execute(_VIEW_SQL.format(view="approved_plan_targets", targets="plan_targets",
                                         approvals="plan_approvals", runs="plan_runs"))
            for t in ("plan_headcount", "plan_budget"):
                con.execute(_RESOURCE_VIEW_SQL.format(view=f"approved_{t}", table=t, runs="plan_runs",
                                                      approvals="plan_approvals"))

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

    def rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(_dollar(sql), params or {}).fetchall()


def _dollar(sql: str) -> str:
    return re.sub(r"(?<!:):([A-Za-z_]\w*)", r"$\1", sql)


def _run_outputs_table(run_id: str) -> str:
    """The DuckDB table holding run ``run_id``'s outputs: ``plan_outputs_`` and 16 hex digits
    of the SHA-256 of the run id (the columns of ``plan_outputs``).

    Why not ``plan_outputs``: DuckDB appends a write's rows to the table's last row group
    and rewrites that whole row group at the next checkpoint (each connection's close).  The
    outputs of every run fit in one row group (a few rows each, ~8 MiB per row), so each new
    run rewrote all earlier payloads: at scale 100, +0.9 GB of memory and ~1 s per write with
    one plan in the store, +1.8 GB and 3.6 s with two.  A table of its own is written once.
    """
    return "plan_outputs_" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:16]


class _DuckTx:
    def __init__(self, con):
        self.con = con

    def execute(self, sql: str, params: dict):
        self.con.execute(_dollar(sql), params)

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        return self.con.execute(_dollar(sql), params or {}).df()

    def insert_frame(self, table: str, frame: pd.DataFrame):
        if frame.empty:
            return
        self.con.register("_salesplan_rows", frame)
        try:
            cols = ", ".join(frame.columns)
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _salesplan_rows")
        finally:
            self.con.unregister("_salesplan_rows")


_TABLE_RE = re.compile(r"\b(plan_runs|plan_outputs|plan_batches|plan_targets|plan_approvals|"
                       r"plan_headcount|plan_budget|approved_plan_targets|approved_plan_headcount|"
                       r"approved_plan_budget)\b")


class _SQLAlchemy:
    outputs_per_run = False  # every run's outputs in plan_outputs

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
            sa.Column("name", sa.Text()),
            sa.Column("batch_id", sa.Text()),
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
        self.batches = sa.Table(
            "plan_batches",
            md,
            sa.Column("batch_id", sa.String(200), primary_key=True),
            sa.Column("name", sa.Text()),
            sa.Column("period", sa.Text()),
            sa.Column("started_at", sa.DateTime(), nullable=False),
            sa.Column("finished_at", sa.DateTime()),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("notebooks", sa.Text()),
        )
        self.targets = sa.Table(
            "plan_targets",
            md,
            sa.Column("run_id", sa.String(200), nullable=False, index=True),
            sa.Column("period", sa.Text(), nullable=False),
            sa.Column("level", sa.Text(), nullable=False),
            sa.Column("entity", sa.Text(), nullable=False),
            sa.Column("region", sa.Text()),
            sa.Column("grain", sa.Text(), nullable=False),
            sa.Column("start_date", sa.Date(), nullable=False),
            sa.Column("target", sa.Float(53)),
            sa.Column("quota", sa.Float(53)),
            sa.Column("p_attain_target", sa.Float(53)),
            sa.Column("p_attain_quota", sa.Float(53)),
        )
        self.headcount = sa.Table(
            "plan_headcount",
            md,
            sa.Column("run_id", sa.String(200), nullable=False, index=True),
            sa.Column("period", sa.Text(), nullable=False),
            sa.Column("region", sa.Text(), nullable=False),
            sa.Column("headcount_needed", sa.Float(53)),
            sa.Column("reps_today", sa.Float(53)),
            sa.Column("gap", sa.Float(53)),
            sa.Column("hires", sa.Float(53)),
            sa.Column("first_start", sa.Date()),
        )
        self.budget = sa.Table(
            "plan_budget",
            md,
            sa.Column("run_id", sa.String(200), nullable=False, index=True),
            sa.Column("period", sa.Text(), nullable=False),
            sa.Column("region", sa.Text(), nullable=False),
            sa.Column("monthly_spend", sa.Float(53)),
        )
        self.approvals = sa.Table(
            "plan_approvals",
            md,
            sa.Column("approval_id", sa.String(200), primary_key=True),
            sa.Column("run_id", sa.String(200), nullable=False),
            sa.Column("period", sa.String(100), nullable=False),
            sa.Column("status", sa.String(40), nullable=False),
            sa.Column("approved_by", sa.Text(), nullable=False),
            sa.Column("approved_at", sa.DateTime(), nullable=False),
            sa.Column("note", sa.Text()),
            sa.Column("input_fingerprint", sa.Text()),
            sa.Column("superseded_at", sa.DateTime()),
            sa.Column("superseded_by", sa.Text()),
            # one approved plan per period, enforced by the database where it can
            sa.Index(
                "plan_approvals_one_approved", "period", unique=True,
                postgresql_where=sa.text("status = 'approved'"),
                sqlite_where=sa.text("status = 'approved'"),
            ),
        )
        self.md = md

    def init(self):
        import sqlalchemy as sa

        with self.engine.begin() as con:
            if self.schema and con.dialect.name == "postgresql":
                q = con.dialect.identifier_preparer.quote_schema(self.schema)
                con.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {q}"))
            self.md.create_all(con, checkfirst=True)
            have = {c["name"] for c in sa.inspect(con).get_columns("plan_runs", schema=self.schema)}
            for col in ("name", "batch_id"):  # stores created before the plan of record
                if col not in have:
                    con.execute(sa.text(f"ALTER TABLE {self._name('plan_runs')} ADD COLUMN {col} TEXT"))
            view = self._name("approved_plan_targets")
            if con.dialect.name == "sqlite":
                con.execute(sa.text(f"DROP VIEW IF EXISTS {view}"))
                sql = _VIEW_SQL.replace("CREATE OR REPLACE VIEW", "CREATE VIEW")
            else:
                sql = _VIEW_SQL
            con.execute(sa.text(sql.format(view=view, targets=self._name("plan_targets"),
                                           approvals=self._name("plan_approvals"),
                                           runs=self._name("plan_runs"))))
            for t in ("plan_headcount", "plan_budget"):
                v = self._name(f"approved_{t}")
                rsql = _RESOURCE_VIEW_SQL
                if con.dialect.name == "sqlite":
                    con.execute(sa.text(f"DROP VIEW IF EXISTS {v}"))
                    rsql = rsql.replace("CREATE OR REPLACE VIEW", "CREATE VIEW")
                con.execute(sa.text(rsql.format(view=v, table=self._name(t), runs=self._name("plan_runs"),
                                                approvals=self._name("plan_approvals"))))

    def _qualify(self, sql: str) -> str:
        return _TABLE_RE.sub(lambda m: self._name(m.group(0)), sql)

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
                    con.execute(sa.text(store._qualify(sql)), params)

                def query(self, sql, params=None):
                    return pd.read_sql_query(sa.text(store._qualify(sql)), con,
                                             params=params or {})

                def insert_frame(self, table, frame):
                    if frame.empty:
                        return
                    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
                    cols = list(frame.columns)
                    con.execute(sa.text(
                        f"INSERT INTO {store._name(table)} ({', '.join(cols)}) VALUES ("
                        + ", ".join(":" + c for c in cols) + ")"), rows)

            yield _Tx()

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        import sqlalchemy as sa

        sql = self._qualify(sql)
        with self.engine.connect() as con:
            return pd.read_sql_query(sa.text(sql), con, params=params or {})

    def rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        import sqlalchemy as sa

        with self.engine.connect() as con:
            return [tuple(r) for r in con.execute(sa.text(self._qualify(sql)), params or {})]


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


def _check_batch(batch: dict, for_approval: bool, what: str = "salesplan run") -> None:
    if not for_approval:
        return
    if batch["status"] == "failed":
        raise PlanError(f"{what} {batch['batch_id']}, which failed; a failed run cannot be "
                        "approved (fix it and run again)")
    if batch["status"] != "complete":
        raise PlanError(f"{what} {batch['batch_id']}, which did not finish (status "
                        f"{batch['status']!r}); only a complete run can be approved")


@dataclass
class PlanComparison:
    """Result of :meth:`PlanStore.compare`: the two ``plan_runs`` rows, the parameters
    that differ and every target that differs."""

    a: dict
    b: dict
    parameters: pd.DataFrame
    targets: pd.DataFrame
    n_targets: tuple[int, int]


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
        *,
        name: str | None = None,
        batch_id: str | None = None,
    ) -> str:
        """Store one plan run and all its output tables in a single transaction.

        A ``targets`` run also gets its targets written as plain rows of
        ``plan_targets`` (:func:`target_rows`), in the same transaction.

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
        name, batch_id : str, optional
            The run's name and the ``salesplan run`` it belongs to; default the
            environment variables ``SALESPLAN_RUN_NAME`` / ``SALESPLAN_RUN_ID`` that
            ``salesplan run`` sets for its notebooks (absent: ``None``).

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
        run_name = name
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
            "name": run_name if run_name is not None else (os.environ.get(RUN_NAME_ENV) or None),
            "batch_id": batch_id if batch_id is not None else (os.environ.get(RUN_ID_ENV) or None),
        }
        relational = {"plan_targets": target_rows(run_id, period, tables)} if kind == "targets" else \
            resource_rows(run_id, period, tables) if kind == "allocation" else {}
        with self._guard(f"writing run {run_id}"), self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO plan_runs ("
                + ", ".join(_RUN_COLS)
                + ") VALUES ("
                + ", ".join(":" + c for c in _RUN_COLS)
                + ")",
                row,
            )
            outputs = "plan_outputs"
            if self._db.outputs_per_run:
                outputs = _run_outputs_table(run_id)
                tx.execute(f"CREATE TABLE {outputs} ({_OUTPUT_COLUMNS_DDL})", {})
            for position, (name, frame) in enumerate(tables.items()):
                parts, manifest = _serialize(name, frame)
                manifest_json = json.dumps(manifest, ensure_ascii=False)
                for i, part in enumerate(parts):
                    tx.execute(
                        f"INSERT INTO {outputs} (run_id, name, part, position, n_rows, "
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
            for table, rows in relational.items():
                tx.insert_frame(table, rows)
            if self._before_commit is not None:
                self._before_commit()
        return run_id

    # -- reading ----------------------------------------------------------------
    def list_runs(self, kind: str | None = None, *, include_failed: bool = False) -> pd.DataFrame:
        """All complete runs (optionally of one ``kind``), oldest first.

        Columns: run_id, created_at (UTC), kind, period, status, input_fingerprint,
        salesplan_version, parameters (JSON text), tables (JSON list of output names),
        name, batch_id (the ``salesplan run`` that wrote it; ``None`` outside one).
        ``include_failed`` adds the runs marked ``'failed'`` (outputs of a failed
        ``salesplan run``), for listings; nothing reads their tables.
        """
        statuses = "('complete', 'failed')" if include_failed else "('complete')"
        sql = "SELECT " + ", ".join(_RUN_COLS) + f" FROM plan_runs WHERE status IN {statuses}"
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
                "name",
                "batch_id",
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
            rows = self._db.rows(  # tuples: each payload once in memory (a DataFrame of them costs more)
                f"SELECT name, part, position, manifest, payload FROM {self._outputs_of(meta['run_id'])} "
                "WHERE run_id = :run_id ORDER BY position, part",
                {"run_id": meta["run_id"]},
            )
        tables: dict[str, pd.DataFrame] = {}
        rows.reverse()  # popped from the end, in order: each output's payload freed once decoded
        while rows:
            name, _, position, manifest, payload = rows.pop()
            parts = [payload]
            while rows and rows[-1][2] == position:
                parts.append(rows.pop()[4])
            del payload
            tables[name] = _deserialize(parts, json.loads(manifest))
        missing = [n for n in meta["tables"] if n not in tables]
        if missing:
            raise StoreError(f"plan store {self.url}: run {meta['run_id']} lacks outputs {missing}")
        return PlanRun(meta=meta, tables=tables)

    def _outputs_of(self, run_id: str) -> str:
        """The table holding ``run_id``'s outputs: its own (:func:`_run_outputs_table`; DuckDB)
        or ``plan_outputs`` (other databases, and DuckDB stores' runs written before the
        per-run tables)."""
        if self._db.outputs_per_run:
            table = _run_outputs_table(run_id)
            if self._db.rows("SELECT count(*) FROM duckdb_tables() WHERE table_name = :t",
                             {"t": table})[0][0]:
                return table
        return "plan_outputs"

    # -- plan of record -----------------------------------------------------------
    def begin_batch(self, batch_id: str, *, period: str, name: str | None = None,
                    notebooks: list[str] | tuple[str, ...] = ()) -> None:
        """Record the start of a ``salesplan run`` (status ``'running'``)."""
        row = {"batch_id": batch_id, "name": name, "period": period,
               "started_at": datetime.now(UTC).replace(tzinfo=None), "finished_at": None,
               "status": "running", "notebooks": json.dumps(list(notebooks), ensure_ascii=False)}
        with self._guard(f"recording run {batch_id}"), self._db.transaction() as tx:
            tx.execute("INSERT INTO plan_batches (" + ", ".join(_BATCH_COLS) + ") VALUES ("
                       + ", ".join(":" + c for c in _BATCH_COLS) + ")", row)

    def end_batch(self, batch_id: str, status: str) -> None:
        """Record the end of a ``salesplan run``: ``status`` is ``'complete'`` or ``'failed'``.

        A failed run's outputs (the ``plan_runs`` rows its notebooks wrote, tagged with
        ``batch_id``) are marked ``'failed'`` in the same transaction: the store serves only
        complete runs, so a later run never takes them for good results.
        """
        if status not in ("complete", "failed"):
            raise ValueError(f"end_batch: status={status!r}; expected 'complete' or 'failed'")
        with self._guard(f"recording run {batch_id}"), self._db.transaction() as tx:
            tx.execute("UPDATE plan_batches SET status = :status, finished_at = :at "
                       "WHERE batch_id = :batch_id",
                       {"status": status, "at": datetime.now(UTC).replace(tzinfo=None),
                        "batch_id": batch_id})
            if status == "failed":
                tx.execute("UPDATE plan_runs SET status = 'failed' WHERE batch_id = :batch_id",
                           {"batch_id": batch_id})

    def batches(self) -> pd.DataFrame:
        """Every recorded ``salesplan run``, oldest first (columns of ``plan_batches``)."""
        with self._guard("listing salesplan runs"):
            return self._db.query("SELECT " + ", ".join(_BATCH_COLS)
                                  + " FROM plan_batches ORDER BY started_at, batch_id")

    def _run_row(self, run_id: str) -> dict | None:
        with self._guard("reading runs"):
            found = self._db.query("SELECT " + ", ".join(_RUN_COLS)
                                   + " FROM plan_runs WHERE run_id = :run_id", {"run_id": run_id})
        return None if found.empty else found.iloc[0].to_dict()

    def _batch_row(self, batch_id: str) -> dict | None:
        with self._guard("reading salesplan runs"):
            found = self._db.query("SELECT " + ", ".join(_BATCH_COLS)
                                   + " FROM plan_batches WHERE batch_id = :b", {"b": batch_id})
        return None if found.empty else found.iloc[0].to_dict()

    def resolve_plan(self, ref: str, *, for_approval: bool = True) -> dict:
        """The ``plan_runs`` row of the plan that ``ref`` names.

        ``ref`` is the run id of a ``targets`` run, or the id of a ``salesplan run``
        (the folder name under ``reports/``), which stands for its targets run.

        Raises
        ------
        PlanError
            Unknown id; not a plan; (``for_approval``) a failed, unfinished or partial run.
        """
        ref = str(ref or "").strip()
        if not ref:
            raise PlanError("no run id given; `salesplan plans` lists the runs")
        row = self._run_row(ref)
        batch = None
        if row is None:
            batch = self._batch_row(ref)
            if batch is None:
                raise PlanError(f"unknown run id {ref!r} in the plan store {self.url}; "
                                "`salesplan plans` lists the runs")
            _check_batch(batch, for_approval)
            with self._guard("reading runs"):
                found = self._db.query(
                    "SELECT " + ", ".join(_RUN_COLS) + " FROM plan_runs WHERE batch_id = :b "
                    "AND kind = 'targets' AND status = 'complete' ORDER BY created_at DESC, run_id DESC",
                    {"b": ref})
            if found.empty:
                nbs = ", ".join(json.loads(batch["notebooks"] or "[]")) or "none"
                raise PlanError(f"salesplan run {ref} is partial: it holds no targets run "
                                f"(notebooks run: {nbs}); run the targets notebook to make a plan")
            row = found.iloc[0].to_dict()
        else:
            if row["kind"] != "targets":
                hint = (f"; approve salesplan run {row['batch_id']} or its targets run"
                        if row.get("batch_id") else "; approve a targets run")
                raise PlanError(f"run {ref} is a '{row['kind']}' run, not a plan of targets{hint}")
            if row.get("batch_id"):
                b = self._batch_row(row["batch_id"])
                if b is not None:
                    _check_batch(b, for_approval, what=f"run {ref} belongs to salesplan run")
        if row["status"] != "complete":
            raise PlanError(f"run {row['run_id']} has status {row['status']!r}; only a complete run "
                            "can be approved")
        have = set(json.loads(row["tables"] or "[]"))
        missing = [t for t in PLAN_TABLES if t not in have]
        if missing and for_approval:
            raise PlanError(f"run {row['run_id']} is partial: it lacks the plan table(s) "
                            f"{', '.join(missing)}; re-run the targets notebook")
        return row

    def plan_targets(self, run_id: str) -> pd.DataFrame:
        """The ``plan_targets`` rows of one run (derived from its tables when the run was
        written before the store had that table)."""
        with self._guard("reading plan_targets"):
            rows = self._db.query("SELECT " + ", ".join(TARGET_COLUMNS) + " FROM plan_targets "
                                  "WHERE run_id = :r", {"r": run_id})
        if rows.empty:
            run = self.read_run(run_id)
            rows = target_rows(run_id, run.meta["period"], run.tables)
        rows["start_date"] = pd.to_datetime(rows["start_date"])
        return rows.sort_values(["grain", "level", "entity", "start_date"], ignore_index=True)

    def approve(self, ref: str, *, by: str, note: str | None = None) -> dict:
        """Make the plan ``ref`` names the approved plan (plan of record) of its period.

        The approval records who, when, the note and the run's input fingerprint; an
        earlier approval of the same period becomes ``'superseded'`` (history is kept in
        ``plan_approvals``).  All in one transaction.

        Parameters
        ----------
        ref : str
            A targets run id or a ``salesplan run`` id (see :meth:`resolve_plan`).
        by : str
            Who approves (name), required.
        note : str, optional

        Returns
        -------
        dict
            The new ``plan_approvals`` row plus ``superseded`` (the run id it replaced or None).

        Raises
        ------
        PlanError
            Unknown, failed, partial or non-plan run; no approver; already approved.
        """
        if not isinstance(by, str) or not by.strip():
            raise PlanError("an approval needs the approver's name: --by NAME")
        row = self.resolve_plan(ref, for_approval=True)
        run_id, period = row["run_id"], row["period"]
        with self._guard("reading plan_targets"):
            n = int(self._db.query("SELECT COUNT(*) AS n FROM plan_targets WHERE run_id = :r",
                                   {"r": run_id})["n"].iloc[0])
        backfill = None
        if n == 0:  # a run written before plan_targets existed
            run = self.read_run(run_id)
            backfill = target_rows(run_id, period, run.tables)
        now = datetime.now(UTC).replace(tzinfo=None)
        approval_id = f"approval-{_slug(period)}-{now:%Y%m%dT%H%M%S%fZ}"
        new = {"approval_id": approval_id, "run_id": run_id, "period": period,
               "status": "approved", "approved_by": by.strip(),
               "approved_at": now, "note": note, "input_fingerprint": row["input_fingerprint"],
               "superseded_at": None, "superseded_by": None}
        with self._guard(f"approving {run_id}"), self._db.transaction() as tx:
            cur = tx.query("SELECT approval_id, run_id, approved_by, approved_at FROM plan_approvals "
                           "WHERE period = :p AND status = 'approved'", {"p": period})
            if len(cur) and cur["run_id"].iloc[0] == run_id:
                c = cur.iloc[0]
                raise PlanError(f"run {run_id} is already the approved plan of {period} "
                                f"(approved by {c['approved_by']} on {pd.Timestamp(c['approved_at']):%Y-%m-%d %H:%M} UTC)")
            tx.execute("UPDATE plan_approvals SET status = 'superseded', superseded_at = :at, "
                       "superseded_by = :by WHERE period = :p AND status = 'approved'",
                       {"at": now, "by": approval_id, "p": period})
            tx.execute("INSERT INTO plan_approvals (" + ", ".join(_APPROVAL_COLS) + ") VALUES ("
                       + ", ".join(":" + c for c in _APPROVAL_COLS) + ")", new)
            if backfill is not None:
                tx.insert_frame("plan_targets", backfill)
        new["superseded"] = cur["run_id"].iloc[0] if len(cur) else None
        return new

    def approvals(self, period: str | None = None) -> pd.DataFrame:
        """Approval history (``plan_approvals``), oldest first; optionally of one period."""
        sql = "SELECT " + ", ".join(_APPROVAL_COLS) + " FROM plan_approvals"
        params = {}
        if period is not None:
            sql += " WHERE period = :p"
            params["p"] = str(period)
        with self._guard("reading approvals"):
            return self._db.query(sql + " ORDER BY approved_at, approval_id", params)

    def approved_run(self, period: str) -> PlanRun | None:
        """The approved plan (targets run) of ``period`` with its approval in
        ``meta['approval']``, or ``None`` when no plan of that period is approved."""
        cur = self.approvals(period)
        cur = cur[cur["status"] == "approved"]
        if cur.empty:
            return None
        run = self.read_run(cur["run_id"].iloc[-1])
        run.meta["approval"] = cur.iloc[-1].to_dict()
        return run

    def plans(self, period: str | None = None, *, all_kinds: bool = False) -> pd.DataFrame:
        """The plans in the store with their status, newest first.

        One row per ``targets`` run (``all_kinds``: every run): ``run_id, salesplan_run,
        name, kind, period, created_at, status, approved_by, approved_at, note``.
        ``status``: ``approved`` (the plan of record of its period), ``superseded``
        (approved once, replaced later), ``failed run`` (its ``salesplan run`` failed or
        did not finish), ``draft``; empty for runs of other kinds (``all_kinds``).
        """
        runs = self.list_runs(None if all_kinds else "targets", include_failed=True)
        if period is not None:
            runs = runs[runs["period"] == str(period)]
        appr = self.approvals()
        batches = self.batches()
        bstatus = dict(zip(batches["batch_id"], batches["status"]))
        rows = []
        for _, r in runs.iterrows():
            mine = appr[appr["run_id"] == r["run_id"]]
            cur = mine[mine["status"] == "approved"]
            last = cur.iloc[-1] if len(cur) else (mine.iloc[-1] if len(mine) else None)
            if r["kind"] != "targets":
                status = ""  # only plans (targets runs) are approved
            elif len(cur):
                status = "approved"
            elif len(mine):
                status = "superseded"
            elif r["status"] == "failed" or (r["batch_id"] is not None
                                             and bstatus.get(r["batch_id"]) in ("failed", "running")):
                status = "failed run"
            else:
                status = "draft"
            rows.append({
                "run_id": r["run_id"], "salesplan_run": r["batch_id"], "name": r["name"],
                "kind": r["kind"], "period": r["period"], "created_at": r["created_at"],
                "status": status,
                "approved_by": None if last is None else last["approved_by"],
                "approved_at": None if last is None else last["approved_at"],
                "note": None if last is None else last["note"],
            })
        cols = ["run_id", "salesplan_run", "name", "kind", "period", "created_at", "status",
                "approved_by", "approved_at", "note"]
        out = pd.DataFrame(rows, columns=cols)
        return out.iloc[::-1].reset_index(drop=True)

    def compare(self, ref_a: str, ref_b: str) -> PlanComparison:
        """Differences between two plans: parameters and every target.

        Returns
        -------
        PlanComparison
            ``parameters``: ``parameter, a, b`` for every parameter that differs;
            ``targets``: ``level, entity, region, grain, start_date, target_a, target_b,
            target_change, quota_a, quota_b, quota_change`` for every target that
            differs or exists in one plan only (changes = b - a, company currency).
        """
        a = self.resolve_plan(ref_a, for_approval=False)
        b = self.resolve_plan(ref_b, for_approval=False)
        pa, pb = json.loads(a["parameters"] or "{}"), json.loads(b["parameters"] or "{}")
        prow = [{"parameter": k, "a": pa.get(k), "b": pb.get(k)}
                for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
        params = pd.DataFrame(prow, columns=["parameter", "a", "b"])
        key = ["level", "entity", "grain", "start_date"]
        ta = self.plan_targets(a["run_id"])
        tb = self.plan_targets(b["run_id"])
        m = ta.merge(tb, on=key, how="outer", suffixes=("_a", "_b"))
        m["region"] = m["region_a"].where(m["region_a"].notna(), m["region_b"])
        for c in ("target", "quota"):
            m[f"{c}_change"] = m[f"{c}_b"] - m[f"{c}_a"]
        def same(c):
            x, y = m[f"{c}_a"], m[f"{c}_b"]
            return ((x - y).abs() <= 1e-9 * (x.abs() + y.abs() + 1)) | (x.isna() & y.isna())
        diff = m[~(same("target") & same("quota"))]
        grain_order = {"quarter": 0, "month": 1, "week": 2}
        level_order = {"company": 0, "region": 1, "rep": 2, "product_line": 3}
        diff = diff.assign(_g=diff["grain"].map(grain_order).fillna(9),
                           _l=diff["level"].map(level_order).fillna(9))
        diff = diff.sort_values(["_g", "_l", "entity", "start_date"]).drop(columns=["_g", "_l"])
        cols = ["level", "entity", "region", "grain", "start_date", "target_a", "target_b",
                "target_change", "quota_a", "quota_b", "quota_change"]
        return PlanComparison(a=a, b=b, parameters=params,
                              targets=diff[cols].reset_index(drop=True),
                              n_targets=(len(ta), len(tb)))

    def dispose(self) -> None:
        """Close pooled connections (SQLAlchemy backends)."""
        if isinstance(self._db, _SQLAlchemy):
            self._db.engine.dispose()
