"""Validation of a :class:`~salesplan.data.schema.SalesData` bundle against the contract.

Every rule is checked and every failure is reported together, so that a planner fixes
an export once rather than once per error.  Each finding names the table, the column,
the rule, how many rows break it and the first offending ids (or row numbers), in words
a planner understands without a traceback.

Rules checked
-------------
``missing_table``   a required table is absent
``missing_column``  a contract column is absent
``type``            a value cannot be read as the column's kind (date, number, whole number);
                    reported with the raw values ("not a date: '2026-13-01'")
``date_format``     a date column whose text format is ambiguous (every value reads
                    day-first and month-first) or mixed; declare ``date_format``
``date_outlier``    isolated event dates far before (or after) the rest, suspected typos
                    (``first_date`` / ``max_gap_days`` options)
``outlier``         an order amount many MADs from its customer's and the company's
                    median: a warning, an error above ``outlier_error_mads``
``sign``            no positive order amount at all (error); opposite signs (warning)
``not_null``        a required value is empty
``allowed``         an enum value outside its allowed list
``range``           a number below ``min`` or above ``max``
``unique``          duplicate key
``foreign_key``     an id that does not exist in the referenced table
``date_order``      e.g. due_date before issue_date
``after_as_of``     an event dated after the data's ``as_of`` date
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date
from salesplan.data.intake import ParsedColumn, ReadOptions, parse_dates, parse_numbers
from salesplan.data.schema import (
    Column,
    SalesData,
    TableSpec,
    blank_text,
    coerce_table,
    is_arrow_text,
    map_distinct,
)

MAX_IDS_SHOWN = 5


@dataclass(frozen=True)
class Finding:
    """One broken rule: where, what, how often and the first offenders."""

    table: str
    column: str
    rule: str
    message: str
    n_rows: int = 0
    examples: tuple[str, ...] = ()
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"[{self.severity}] {where} ({self.rule}): {self.message}"
        if self.n_rows:
            text += f" - {self.n_rows} row{'s' if self.n_rows != 1 else ''}"
        if self.examples:
            more = ", ..." if self.n_rows > len(self.examples) else ""
            text += f"; first: {', '.join(self.examples)}{more}"
        return text


class DataValidationError(ValueError):
    """Raised by :meth:`ValidationReport.raise_if_errors`; its text lists every error."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.summary())


@dataclass
class ValidationReport:
    """All findings of one validation run."""

    findings: list[Finding] = field(default_factory=list)
    tables_checked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no rule of severity ``error`` is broken."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: severity, table, column, rule, n_rows, examples, message."""
        cols = ["severity", "table", "column", "rule", "n_rows", "examples", "message"]
        return pd.DataFrame(
            [
                {
                    "severity": f.severity,
                    "table": f.table,
                    "column": f.column,
                    "rule": f.rule,
                    "n_rows": f.n_rows,
                    "examples": ", ".join(f.examples),
                    "message": f.message,
                }
                for f in self.findings
            ],
            columns=cols,
        )

    def summary(self) -> str:
        """Readable multi-line text: verdict, then one line per finding, then notes."""
        head = (
            f"data check passed: {len(self.tables_checked)} tables "
            f"({', '.join(self.tables_checked)})"
            if self.ok
            else f"data check FAILED: {len(self.errors)} error(s), {len(self.warnings)} "
            f"warning(s); first: {str(self.errors[0]).removeprefix('[error] ')}"
        )
        lines = [head] + [f"  {f}" for f in self.findings]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def raise_if_errors(self) -> None:
        """Raise :class:`DataValidationError` listing every error, if there is any."""
        if not self.ok:
            raise DataValidationError(self)

    def to_record(self) -> dict:
        """The report as JSON-ready values (:meth:`from_record` gives it back, equal)."""
        return {"findings": [{**asdict(f), "examples": list(f.examples)} for f in self.findings],
                "tables_checked": list(self.tables_checked), "notes": list(self.notes)}

    @classmethod
    def from_record(cls, record: Mapping) -> ValidationReport:
        """The report :meth:`to_record` wrote."""
        return cls([Finding(**{**f, "examples": tuple(f["examples"])}) for f in record["findings"]],
                   tuple(record["tables_checked"]), tuple(record["notes"]))


def validate(data: SalesData, as_of: str | pd.Timestamp | None = None) -> ValidationReport:
    """Check every table of ``data`` against the contract and across tables.

    Parameters
    ----------
    data
        The bundle to check; tables may be raw (strings from a CSV) or coerced.
    as_of
        The date the data describe ("today" of the export).  Event dates after it
        (orders, invoices issued or paid, opportunities created or closed, stage
        entries, activities) are errors.  ``None`` skips that rule.

    Returns
    -------
    ValidationReport
        All findings; ``report.ok`` is False when any error was found.
    """
    return _validate_tables(data.specs(), lambda name: getattr(data, name), as_of,
                            data.options, tuple(data.missing_features()))


def validate_source(source, as_of: str | pd.Timestamp | None = None, *,
                    fingerprint: bool = False) -> tuple[ValidationReport, str | None]:
    """``validate(source.load(coerce=False), as_of)``, read and checked one table at a time.

    Each table is read as ``load(coerce=False)`` reads it, checked, and dropped but for
    the columns the checks across tables read (keys, foreign keys and the ids they
    refer to): the memory held is that of the largest table, not of all of them.

    Parameters
    ----------
    source : salesplan.data.sources.Source
    fingerprint : bool, default False
        Also return the source's input fingerprint (``source.fingerprint()``), hashed
        from each table as it is checked (no second read).

    Returns
    -------
    (ValidationReport, str or None)
        The report :func:`validate` gives for the whole bundle, and the fingerprint.

    Raises
    ------
    SourceError
        As :meth:`~salesplan.data.sources.Source.load`: no ``orders`` table, an
        unreadable file.
    """
    from salesplan.data.fingerprinting import combine, frame_fingerprint

    digests: dict[str, str] = {}

    def checked(name: str, frame: pd.DataFrame) -> None:
        if fingerprint:  # the checked frame is the coerced table (coerce_table)
            digests[name] = frame_fingerprint(frame)

    report, names = _check_source(source, as_of, checked)
    return report, (combine(source.stages, ((n, digests[n]) for n in names))
                    if fingerprint else None)


def load_validated(source, as_of: str | pd.Timestamp | None = None, *,
                   columns: Mapping[str, Sequence[str]] | None = None
                   ) -> tuple[ValidationReport, SalesData]:
    """``report = validate(raw, as_of)`` and ``raw.coerced()`` of ``raw =
    source.load(coerce=False)``, reading and checking one table at a time and keeping the
    table the check coerced: each raw table is dropped once checked, and no table is
    coerced twice.

    Parameters
    ----------
    source : salesplan.data.sources.Source
    as_of : date, optional
        As for :func:`validate`.
    columns : mapping table -> column names, optional
        Keep only these columns of the named tables in the bundle (those the table has, in
        its order); every column is checked all the same.  The tables not named are kept
        whole.  At scale 100 the data-health notebook keeps ~0.5 GB of its ~2 GB tables
        this way.  The source's :meth:`~salesplan.data.sources.Source.fingerprint` of such
        a bundle reads the columns left out again (it is still the whole source's).

    In a kernel of ``salesplan run`` whose data check has just checked the same files for
    the same day, with the same reading settings and code (the run's records file,
    :func:`_checked_report`), that check's report is returned and the tables are only read
    (``source.load(columns=columns)``: the same bundle), not checked a second time: at
    scale 100 the check of 12M order lines costs ~18 s.

    Returns
    -------
    (ValidationReport, SalesData)
        The report :func:`validate` gives for the whole bundle and the coerced bundle of
        every contract table the source holds (the tables ``load(coerce=False).coerced()``
        gives).  Read the report first: with errors, the bundle holds what coercion made
        of the broken values.

    Raises
    ------
    SourceError
        As :meth:`~salesplan.data.sources.Source.load`.
    """
    from salesplan.data.schema import _mark_coerced

    known = _checked_report(source, as_of)
    if known is not None:  # the run's data check checked these very files for this day
        return known, source.load(columns=columns)
    frames: dict[str, pd.DataFrame] = {}

    def checked(name: str, frame: pd.DataFrame) -> None:
        if columns is not None and name in columns:
            keep = set(columns[name])
            frame = frame[[c for c in frame.columns if c in keep]]
        frames[name] = _mark_coerced(frame)  # as SalesData.coerced() leaves it

    report, _ = _check_source(source, as_of, checked)
    return report, SalesData.from_tables(frames, stages=source.stages, options=source.options)


def _checked_report(source, as_of) -> ValidationReport | None:
    """The report of the data check ``salesplan run`` made of ``source`` for day ``as_of``
    before its notebooks ran, from the run's records file (:mod:`salesplan.data.source_records`,
    named by :envvar:`SALESPLAN_SOURCE_RECORDS`): kept only for a file source whose files,
    reading settings and checking code are those checked (the same identity); else ``None``."""
    import os

    from salesplan.data.source_records import RECORDS_ENV, recorded

    records = os.environ.get(RECORDS_ENV)
    identity = source.identity() if records else None
    if identity is None or as_of is None:
        return None
    report = recorded(records, identity).get("reports", {}).get(f"{as_date(as_of):%Y-%m-%d}")
    try:
        return ValidationReport.from_record(report) if report else None
    except (KeyError, TypeError):  # written by another version: checked again
        return None


def _check_source(source, as_of, checked) -> tuple[ValidationReport, list[str]]:
    """The report of ``validate(source.load(coerce=False), as_of)``, one table at a time,
    ``checked(name, coerced frame)`` called on each table; and the contract tables read.

    A table longer than one read batch of a source that reads single columns exactly as
    it reads the whole table (``checks_by_columns``: DuckDB) is read and checked in column
    groups (:func:`_check_table_by_columns`): at scale 100 the raw 12M order lines are
    never held beside their coerced copy."""
    from salesplan.data.schema import TABLE_NAMES

    by_columns = getattr(source, "checks_by_columns", False)
    with source._session():  # the listing, columns and lengths of every table: one connection
        available = set(source.tables())
        names = [n for n in TABLE_NAMES if n in available]
        stored = source._table_columns(names) if by_columns else {}
        groups = {n: source._column_batches(n, stored[n]) for n in stored}
    if "orders" not in names:
        source.load(["orders"], coerce=False)  # raises the source's one-line error
    shape = SalesData.from_tables({n: pd.DataFrame() for n in names}, stages=source.stages,
                                  options=source.options)

    def table(name: str):
        if name not in available:
            return None
        _hand_back_memory(collect=False)  # the pages of the table checked before go back first
        if by_columns and len(set(stored[name])) == len(stored[name]) and len(groups[name]) > 1:
            return _ColumnReader(source, name, stored[name])
        return source._read_table(name)

    report = _validate_tables(shape.specs(), table, as_of, source.options,
                              tuple(shape.missing_features()), checked)
    _hand_back_memory()
    return report, names


def _hand_back_memory(collect: bool = True) -> None:
    """Return the memory the tables just dropped held to the system: Arrow's pool keeps
    freed blocks for reuse and glibc's ``malloc`` keeps freed heap pages, so a process
    that goes on to other work (``salesplan run``: rendering, the PDF) would hold them
    (~120 MiB of ~360 MiB after checking 1.2M order lines).  Best effort: nothing
    happens where these calls do not exist."""
    import gc

    if collect:  # frames are freed by reference counting; a full collection can take ~0.5 s
        gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # pragma: no cover - an old pyarrow
        pass
    try:
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)  # glibc only
    except (OSError, AttributeError):  # pragma: no cover - musl, macOS, Windows
        pass


@functools.lru_cache(maxsize=1)
def _libc():
    """The C library (``find_library`` runs a program to find it: looked up once)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def _validate_tables(specs: dict[str, TableSpec], table, as_of, options: ReadOptions,
                     notes: tuple[str, ...], checked=None) -> ValidationReport:
    """:func:`validate` of the tables ``table(name)`` gives (``None``: absent), asked for
    one at a time in contract order; ``checked(name, coerced frame)`` sees each checked
    table.  Of each table only the columns of the checks across tables are kept."""
    findings: list[Finding] = []
    as_of_ts = as_date(as_of) if as_of is not None else None
    keep = _cross_table_columns(specs)
    coerced: dict[str, pd.DataFrame] = {}
    for name, spec in specs.items():
        raw = table(name)
        if raw is None:
            if spec.required:
                findings.append(
                    Finding(name, "", "missing_table", f"table '{name}' is required but absent")
                )
            continue
        if isinstance(raw, _ColumnReader):
            table_findings, frame = _check_table_by_columns(spec, raw, as_of_ts, options)
            findings += table_findings
        elif not isinstance(raw, pd.DataFrame):
            findings.append(
                Finding(
                    name, "", "type", f"expected a table (DataFrame), got {type(raw).__name__}"
                )
            )
            continue
        else:
            table_findings, frame = _check_table(spec, raw, as_of_ts, options)
            findings += table_findings
        del raw
        if checked is not None:
            checked(name, frame)
        coerced[name] = pd.DataFrame({c: frame[c] for c in frame.columns if c in keep[name]},
                                     index=frame.index, copy=False)
        del frame
    findings += _check_foreign_keys(specs, coerced)
    return ValidationReport(findings=findings, tables_checked=tuple(coerced), notes=notes)


def _cross_table_columns(specs: dict[str, TableSpec]) -> dict[str, set[str]]:
    """Per table the columns :func:`_check_foreign_keys` reads: its key (row labels), its
    foreign keys and the columns other tables' foreign keys refer to."""
    keep = {name: {*spec.key, *(fk.column for fk in spec.foreign_keys)}
            for name, spec in specs.items()}
    for spec in specs.values():
        for fk in spec.foreign_keys:
            keep.setdefault(fk.ref_table, set()).add(fk.ref_column)
    return keep


def _flag(out: list, spec: TableSpec, frame: pd.DataFrame, mask: np.ndarray, column: str,
          check: str, message: str, severity: str = "error") -> None:
    """Append a :class:`Finding` for the rows of ``mask`` (if any) to ``out``."""
    if mask.any():
        n, ex = _row_labels(spec, frame, mask)
        out.append(Finding(spec.name, column, check, message, n, ex, severity=severity))


def _row_labels(spec: TableSpec, frame: pd.DataFrame, mask: np.ndarray) -> tuple[int, tuple]:
    """Count of offending rows and the first few labelled by key (or by row number)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return 0, ()
    first = idx[:MAX_IDS_SHOWN]
    key = [k for k in spec.key if k in frame.columns]
    if key:
        labels = []
        for i in first:
            parts = [f"{k}={frame[k].iloc[i]}" for k in key]
            labels.append(" ".join(parts) + f" (row {i + 1})")
    else:
        labels = [f"row {i + 1}" for i in first]
    return len(idx), tuple(labels)


def _parse_raw(raw: pd.Series, col: Column, options: ReadOptions) -> ParsedColumn | None:
    """The intake reading of a date or number column (``None`` for text kinds)."""
    if col.kind == "date":
        return parse_dates(raw, options)
    if col.kind in ("float", "int"):
        parsed = parse_numbers(raw, options)
        if col.kind == "int":
            v = parsed.values
            frac = (v.notna() & (v != np.round(v))).to_numpy()
            if frac.any():
                parsed.unreadable = parsed.unreadable | frac
                parsed.reason = "not a whole number"
        return parsed
    return None


def _read_findings(
    spec: TableSpec, frame: pd.DataFrame, raw: pd.DataFrame, col: Column, options: ReadOptions
) -> list[Finding]:
    """``type`` (unreadable values, shown raw) and ``date_format`` findings of a column."""
    if col.kind == "date" and pd.api.types.is_datetime64_any_dtype(raw[col.name].dtype):
        return []  # dates already (DuckDB, Parquet, SQL): every value reads, one format
    parsed = _parse_raw(raw[col.name], col, options)
    if parsed is None:
        return []
    out = []
    if parsed.unreadable.any():
        n, ex = _row_labels(spec, frame, parsed.unreadable)
        bad = list(dict.fromkeys(raw[col.name][parsed.unreadable].astype(str)))[:3]
        head, _, hint = parsed.reason.partition(" (")
        text = f"{head}: {', '.join(repr(b) for b in bad)}"
        out.append(Finding(spec.name, col.name, "type", text + (f" ({hint}" if hint else ""), n, ex))
    if parsed.problem:
        n, ex = _row_labels(spec, frame, parsed.problem_rows)
        out.append(Finding(spec.name, col.name, "date_format", parsed.problem, n, ex))
    return out


def _check_table(
    spec: TableSpec,
    raw: pd.DataFrame,
    as_of: pd.Timestamp | None,
    options: ReadOptions | None = None,
) -> tuple[list[Finding], pd.DataFrame]:
    options = options or ReadOptions()
    out = _missing_columns(spec, raw.columns)
    frame = coerce_table(spec.name, raw, spec, options)
    raw = raw.reset_index(drop=True)
    out += _empty_table(spec, len(frame))
    for col in spec.columns:
        if col.name in frame.columns:
            out += _column_findings(spec, col, raw, frame[col.name], frame, as_of, options)
    out += _table_findings(spec, frame, options)
    return out, frame


class _ColumnReader:
    """Table ``name`` of ``source`` read some columns at a time
    (:func:`_check_table_by_columns`); ``columns``: its stored column names, in order."""

    def __init__(self, source, name: str, columns: list[str]):
        self.source, self.name, self.columns = source, name, list(columns)

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns as ``Source._read_table`` reads them."""
        return self.source._read_table(self.name, columns)

    def batches(self, columns: list[str]) -> list[list[str]]:
        """The groups of ``columns`` read together (``Source._column_batches``)."""
        return self.source._column_batches(self.name, columns)

    def session(self):
        """A context in which the reads share one connection (``Source._session``)."""
        return self.source._session()


def _check_table_by_columns(spec: TableSpec, reader: _ColumnReader, as_of: pd.Timestamp | None,
                            options: ReadOptions) -> tuple[list[Finding], pd.DataFrame]:
    """:func:`_check_table` of the table ``reader`` reads, reading it in column groups: each
    raw group is coerced, its columns checked and the raw values dropped, so the raw and
    the coerced table never exist together.  The key columns come first (they label the
    rows of every finding); findings are listed in :func:`_check_table`'s order."""
    out = _missing_columns(spec, reader.columns)
    names = set(spec.column_names)
    contract = [c.name for c in spec.columns if c.name in set(reader.columns)]
    extra = [c for c in reader.columns if c not in names]
    key = [k for k in spec.key if k in contract]
    coerced: dict[str, pd.Series] = {}
    per_column: dict[str, list[Finding]] = {}

    def read(group: list[str]) -> pd.DataFrame:
        raw = reader.read(group).reset_index(drop=True)
        part = coerce_table(spec.name, raw, spec, options)
        coerced.update((c, part[c]) for c in group)
        return raw

    def check(raw: pd.DataFrame, group: list[str], labels: pd.DataFrame) -> None:
        for c in group:
            if c in names:
                per_column[c] = _column_findings(spec, spec.column(c), raw, coerced[c], labels,
                                                 as_of, options)

    with reader.session():
        key_groups = reader.batches(key)
        key_raw = [(read(group), group) for group in key_groups]  # a few id columns
        labels = pd.DataFrame({k: coerced[k] for k in key}, copy=False)
        for raw, group in key_raw:
            check(raw, group, labels)
        del key_raw
        for group in reader.batches([c for c in contract if c not in key] + extra):
            check(read(group), group, labels)
    rows = len(next(iter(coerced.values()))) if coerced else 0
    frame = pd.DataFrame({c: coerced.pop(c) for c in contract}, index=pd.RangeIndex(rows))
    for c in extra:
        frame[c] = coerced.pop(c).to_numpy()
    out += _empty_table(spec, len(frame))
    for name in contract:
        out += per_column[name]
    out += _table_findings(spec, frame, options)
    return out, frame


def _missing_columns(spec: TableSpec, columns) -> list[Finding]:
    """A ``missing_column`` finding per contract column absent from ``columns``."""
    return [
        Finding(spec.name, col, "missing_column",
                f"column '{col}' is missing; the table has {list(map(str, columns))}")
        for col in spec.column_names if col not in columns
    ]


def _empty_table(spec: TableSpec, rows: int) -> list[Finding]:
    if spec.required and rows == 0:
        return [Finding(spec.name, "", "empty", f"table '{spec.name}' has no rows (a header only); "
                        "expected at least one order line")]
    return []


def _column_findings(spec: TableSpec, col: Column, raw: pd.DataFrame, values: pd.Series,
                     frame: pd.DataFrame, as_of: pd.Timestamp | None,
                     options: ReadOptions) -> list[Finding]:
    """The findings of one column: ``raw`` holds its raw values (``raw[col.name]``),
    ``values`` its coerced ones; ``frame`` labels the rows (its key columns)."""
    out: list[Finding] = []
    raw_missing = _is_blank(raw[col.name])
    out += _read_findings(spec, frame, raw, col, options)
    if not col.nullable:
        _flag(out, spec, frame, raw_missing, col.name, "not_null", "value is required but empty")
    present = values.notna().to_numpy()
    if col.allowed is not None:
        bad_mask = present & ~values.isin(col.allowed).to_numpy()
        found = sorted(set(values[bad_mask].astype(str)))[:5]
        _flag(out, spec, frame, bad_mask, col.name, "allowed",
              f"expected one of {list(col.allowed)}, found {found}")
    if col.min is not None or col.max is not None:
        num = values.astype("float64")
        bad_mask = np.zeros(len(values), dtype=bool)
        if col.min is not None:
            bad_mask |= (num < col.min).fillna(False).to_numpy()
        if col.max is not None:
            bad_mask |= (num > col.max).fillna(False).to_numpy()
        _flag(out, spec, frame, bad_mask, col.name, "range",
              f"expected a value in [{_fmt(col.min, '-inf')}, {_fmt(col.max, 'inf')}]")
    if col.kind == "date" and col.not_after_as_of and as_of is not None:
        bad_mask = (values > as_of).fillna(False).to_numpy()
        _flag(out, spec, frame, bad_mask, col.name, "after_as_of",
              f"date after the data's as-of date {as_of.date()}")
    return out


def _table_findings(spec: TableSpec, frame: pd.DataFrame, options: ReadOptions) -> list[Finding]:
    """The findings across the columns of the coerced table ``frame``: key, date order,
    date outliers, amounts and signs of order lines."""
    out: list[Finding] = []
    name = spec.name
    key = list(spec.key)
    if key and all(k in frame.columns for k in key):
        _flag(out, spec, frame, _duplicated_keys(frame, key), "+".join(key), "unique",
              f"key ({', '.join(key)}) must be unique; duplicated")

    for order in spec.date_orders:
        if order.earlier in frame.columns and order.later in frame.columns:
            bad_mask = (frame[order.later] < frame[order.earlier]).fillna(False).to_numpy()
            _flag(out, spec, frame, bad_mask, order.later, "date_order",
                  f"{order.later} must be on or after {order.earlier}")

    out += _date_outliers(spec, frame, options)
    if name == "orders":
        out += _amount_findings(spec, frame, options)
    if name == "orders" and {"quantity", "amount"} <= set(frame.columns):
        q, a = frame["quantity"], frame["amount"]
        bad_mask = (((q > 0) & (a < 0)) | ((q < 0) & (a > 0))).fillna(False).to_numpy()
        _flag(out, spec, frame, bad_mask, "amount", "sign",
              "quantity and amount have opposite signs (a return should have both negative)",
              severity="warning")
    return out


def _duplicated_keys(frame: pd.DataFrame, key: list[str]) -> np.ndarray:
    """Rows whose complete ``key`` (no part missing) occurs more than once (numpy bool).

    A one-column Arrow text key (order, invoice, activity ids: millions of rows) is
    sorted in pyarrow and equal neighbours marked: ~8 bytes per row on top of the column,
    where pandas' hash table takes ~200 bytes per row (2.4 GB for 12M order ids)."""
    if len(key) == 1 and is_arrow_text(frame[key[0]].dtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(frame[key[0]].array)
        order = pc.sort_indices(arr).to_numpy()  # nulls last; a null equals nothing
        ranked = arr.take(order)
        same = pc.equal(ranked[1:], ranked[:-1]).fill_null(False).to_numpy(zero_copy_only=False)
        del ranked
        dup_sorted = np.zeros(len(arr), dtype=bool)
        dup_sorted[1:] |= same
        dup_sorted[:-1] |= same
        out = np.zeros(len(arr), dtype=bool)
        out[order] = dup_sorted
        return out
    return frame.duplicated(key, keep=False).to_numpy() & frame[key].notna().all(axis=1).to_numpy()


def _check_foreign_keys(specs: dict[str, TableSpec], frames: dict[str, pd.DataFrame]) -> list[Finding]:
    out: list[Finding] = []
    for name, frame in frames.items():
        spec = specs[name]
        for fk in spec.foreign_keys:
            ref = frames.get(fk.ref_table)
            if ref is None or fk.column not in frame.columns or fk.ref_column not in ref.columns:
                continue
            values = frame[fk.column]
            bad_mask = values.notna().to_numpy() & ~_isin(values, ref[fk.ref_column])
            if bad_mask.any():
                n, ex = _row_labels(spec, frame, bad_mask)
                unknown = sorted(set(values[bad_mask].astype(str)))[:MAX_IDS_SHOWN]
                out.append(
                    Finding(
                        name,
                        fk.column,
                        "foreign_key",
                        f"{fk.column} not found in {fk.ref_table}.{fk.ref_column}: {unknown}",
                        n,
                        ex,
                    )
                )
    return out


def _isin(values: pd.Series, ref: pd.Series) -> np.ndarray:
    """``values.isin(ref.dropna())`` as numpy bool; Arrow text against Arrow text in C
    (pandas builds one Python scalar per reference value: seconds for 300,000 ids)."""
    if is_arrow_text(values.dtype) and is_arrow_text(ref.dtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(values.array)
        keys = pc.unique(pa.array(ref.array).drop_null()).cast(arr.type)
        hit = pc.is_in(arr, value_set=keys)
        return hit.to_numpy(zero_copy_only=False).astype(bool, copy=False)  # nulls: False
    return values.isin(ref.dropna()).to_numpy()


def _is_blank(s: pd.Series) -> np.ndarray:
    """Missing or whitespace-only values of ``s`` (numpy bool per row).

    Arrow text (what DuckDB and Parquet give) is matched in C against the characters
    Python's ``str.strip`` removes (:func:`~salesplan.data.schema.blank_text`), without one
    Python string per row; ``object`` text calls ``str.strip`` once per distinct value."""
    blank = s.isna().to_numpy()
    if is_arrow_text(s.dtype):
        import pyarrow as pa

        hit = blank_text(pa.array(s.array))
        return blank | hit.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    if s.dtype == object or str(s.dtype) in ("str", "string"):
        blank = blank | map_distinct(s, _is_blank_text).astype(bool)
    return blank


def _is_blank_text(v) -> bool:
    return isinstance(v, str) and not v.strip()


def _kind_words(kind: str) -> str:
    return {
        "date": "a date (YYYY-MM-DD)",
        "float": "a number",
        "int": "a whole number",
        "id": "an id",
        "text": "text",
        "enum": "one of the allowed values",
    }[kind]


def _fmt(v: float | None, unbounded: str) -> str:
    return unbounded if v is None else f"{v:g}"


def _date_outliers(spec: TableSpec, frame: pd.DataFrame, options: ReadOptions) -> list[Finding]:
    """``date_outlier``: event dates before ``first_date``, or isolated far from the rest.

    Without ``first_date``, the sorted distinct dates of a column are cut at every gap
    longer than ``max_gap_days``; the dates on the short side of a gap are suspected
    typos (``1996-03-05`` for ``2026-03-05``) when they hold at most 1% of the rows
    (at least one row).  One typo'd year would otherwise stretch the history by decades.
    """
    out: list[Finding] = []
    for col in spec.columns:
        if col.kind != "date" or not col.not_after_as_of or col.name not in frame.columns:
            continue
        values = frame[col.name]
        present = values.dropna()
        if present.empty:
            continue
        if options.first_date is not None:
            first = pd.Timestamp(options.first_date).normalize()
            bad = (values < first).fillna(False).to_numpy()
            why = f"dates before first_date={first.date()} (suspected typos)"
        else:
            bad, why = _isolated_dates(values, present, options.max_gap_days)
        if bad.any():
            n, ex = _row_labels(spec, frame, bad)
            shown = sorted({f"{d:%Y-%m-%d}" for d in values[bad]})[:3]
            out.append(Finding(spec.name, col.name, "date_outlier",
                               f"{why}: {', '.join(shown)}", n, ex))
    return out


def _isolated_dates(values: pd.Series, present: pd.Series, max_gap_days: int):
    days = np.sort(present.unique())
    counts = present.value_counts().reindex(days).to_numpy()
    gaps = np.flatnonzero(np.diff(days) > np.timedelta64(int(max_gap_days), "D"))
    bad = np.zeros(len(values), dtype=bool)
    if not len(gaps):
        return bad, ""
    limit = max(1, int(0.01 * len(present)))
    before = np.cumsum(counts)
    early = [k for k in gaps if before[k] <= limit]
    late = [k for k in gaps if len(present) - before[k] <= limit]
    lo = days[early[-1] + 1] if early else None
    hi = days[late[0]] if late else None
    v = values.to_numpy()
    if lo is not None:
        bad |= v < lo
    if hi is not None:
        bad |= v > hi
    start = pd.Timestamp(lo if lo is not None else days[0]).date()
    end = pd.Timestamp(hi if hi is not None else days[-1]).date()
    why = (f"isolated dates more than max_gap_days={max_gap_days} days from the rest "
           f"({start} to {end}); suspected typos: fix them, or set first_date= to accept them")
    return bad, why


def _amount_findings(spec: TableSpec, frame: pd.DataFrame, options: ReadOptions) -> list[Finding]:
    """``sign`` (no positive amount) and ``outlier`` findings on ``orders.amount``.

    The norm is robust: the median and the median absolute deviation (MAD) of the
    company's order amounts, and of each customer's (customers with 5+ lines and a
    MAD above zero).  An amount more than ``outlier_mads`` MADs from both norms is a
    warning; more than ``outlier_error_mads`` MADs from the company's norm an error.
    """
    if "amount" not in frame.columns:
        return []
    amount = frame["amount"]
    a = amount.dropna()
    if a.empty:
        return []
    if not (a > 0).any():
        mask = amount.notna().to_numpy()
        n, ex = _row_labels(spec, frame, mask)
        return [Finding(spec.name, "amount", "sign",
                        "no positive amount: every order line is a return or zero; expected "
                        "sales as positive amounts (returns and credit notes negative)", n, ex)]
    med = a.median()
    mad = (a - med).abs().median()
    if not mad > 0:
        return []
    z_company = ((amount - med).abs() / mad).fillna(0).to_numpy()
    z_customer = np.full(len(frame), np.inf)
    if "customer_id" in frame.columns:
        g = amount.groupby(frame["customer_id"])
        c_med = g.transform("median")
        c_mad = (amount - c_med).abs().groupby(frame["customer_id"]).transform("median")
        c_n = g.transform("count")
        ok = (c_n >= 5) & (c_mad > 0)
        z = ((amount - c_med).abs() / c_mad).where(ok, np.inf).fillna(0)
        z_customer = z.to_numpy()
    out = []
    error = z_company > options.outlier_error_mads
    warn = (z_company > options.outlier_mads) & (z_customer > options.outlier_mads) & ~error
    for mask, severity, limit in ((error, "error", "outlier_error_mads"),
                                  (warn, "warning", "outlier_mads")):
        if mask.any():
            n, ex = _row_labels(spec, frame, mask)
            top = amount[mask].abs().max()
            out.append(Finding(
                spec.name, "amount", "outlier",
                f"amount(s) up to {top:,.6g} lie more than {getattr(options, limit):g} MADs "
                f"({limit}) from the company's median {med:,.2f} (MAD {mad:,.2f})"
                + (" and from the customer's own" if severity == "warning" else ""),
                n, ex, severity=severity))
    return out
