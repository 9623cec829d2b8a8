"""Validation of a :class:`~salesplan.data.schema.SalesData` bundle against the contract.

Every rule is checked and every failure is reported together, so that a planner fixes
an export once rather than once per error.  Each finding names the table, the column,
the rule, how many rows break it and the first offending ids (or row numbers), in words
a planner understands without a traceback.

Rules checked
-------------
``missing_table``   a required table is absent
``missing_column``  a contract column is absent
``type``            a value cannot be read as the column's kind (date, number, whole number)
``not_null``        a required value is empty
``allowed``         an enum value outside its allowed list
``range``           a number below ``min`` or above ``max``
``unique``          duplicate key
``foreign_key``     an id that does not exist in the referenced table
``date_order``      e.g. due_date before issue_date
``after_as_of``     an event dated after the data's ``as_of`` date
``sign`` (warning)  an order line whose quantity and amount have opposite signs
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.data.schema import SalesData, TableSpec, coerce_table, map_distinct

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
            else f"data check FAILED: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )
        lines = [head] + [f"  {f}" for f in self.findings]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def raise_if_errors(self) -> None:
        """Raise :class:`DataValidationError` listing every error, if there is any."""
        if not self.ok:
            raise DataValidationError(self)


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
    findings: list[Finding] = []
    specs = data.specs()
    as_of_ts = pd.Timestamp(as_of).normalize() if as_of is not None else None
    coerced: dict[str, pd.DataFrame] = {}
    for name, spec in specs.items():
        raw = getattr(data, name)
        if raw is None:
            if spec.required:
                findings.append(
                    Finding(name, "", "missing_table", f"table '{name}' is required but absent")
                )
            continue
        if not isinstance(raw, pd.DataFrame):
            findings.append(
                Finding(
                    name, "", "type", f"expected a table (DataFrame), got {type(raw).__name__}"
                )
            )
            continue
        table_findings, frame = _check_table(spec, raw, as_of_ts)
        findings += table_findings
        coerced[name] = frame
    findings += _check_foreign_keys(specs, coerced)
    return ValidationReport(
        findings=findings,
        tables_checked=tuple(coerced),
        notes=tuple(data.missing_features()),
    )


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


def _check_table(
    spec: TableSpec, raw: pd.DataFrame, as_of: pd.Timestamp | None
) -> tuple[list[Finding], pd.DataFrame]:
    out: list[Finding] = []
    name = spec.name
    missing = [c for c in spec.column_names if c not in raw.columns]
    for col in missing:
        out.append(
            Finding(
                name,
                col,
                "missing_column",
                f"column '{col}' is missing; the table has {list(map(str, raw.columns))}",
            )
        )
    frame = coerce_table(name, raw, spec)
    raw = raw.reset_index(drop=True)

    for col in spec.columns:
        if col.name not in frame.columns:
            continue
        values = frame[col.name]
        raw_missing = _is_blank(raw[col.name])
        unreadable = values.isna().to_numpy() & ~raw_missing
        if unreadable.any():
            n, ex = _row_labels(spec, frame, unreadable)
            bad = raw[col.name][unreadable].astype(str).head(3).tolist()
            out.append(
                Finding(
                    name,
                    col.name,
                    "type",
                    f"expected {_kind_words(col.kind)}, found values like {bad}",
                    n,
                    ex,
                )
            )
        if not col.nullable and raw_missing.any():
            n, ex = _row_labels(spec, frame, raw_missing)
            out.append(Finding(name, col.name, "not_null", "value is required but empty", n, ex))
        present = values.notna().to_numpy()
        if col.allowed is not None:
            bad_mask = present & ~values.isin(col.allowed).to_numpy()
            if bad_mask.any():
                n, ex = _row_labels(spec, frame, bad_mask)
                found = sorted(set(values[bad_mask].astype(str)))[:5]
                out.append(
                    Finding(
                        name,
                        col.name,
                        "allowed",
                        f"expected one of {list(col.allowed)}, found {found}",
                        n,
                        ex,
                    )
                )
        if col.min is not None or col.max is not None:
            num = values.astype("float64")
            bad_mask = np.zeros(len(frame), dtype=bool)
            if col.min is not None:
                bad_mask |= (num < col.min).fillna(False).to_numpy()
            if col.max is not None:
                bad_mask |= (num > col.max).fillna(False).to_numpy()
            if bad_mask.any():
                n, ex = _row_labels(spec, frame, bad_mask)
                out.append(
                    Finding(
                        name,
                        col.name,
                        "range",
                        f"expected a value in [{_fmt(col.min, '-inf')}, {_fmt(col.max, 'inf')}]",
                        n,
                        ex,
                    )
                )
        if col.kind == "date" and col.not_after_as_of and as_of is not None:
            bad_mask = (values > as_of).fillna(False).to_numpy()
            if bad_mask.any():
                n, ex = _row_labels(spec, frame, bad_mask)
                out.append(
                    Finding(
                        name,
                        col.name,
                        "after_as_of",
                        f"date after the data's as-of date {as_of.date()}",
                        n,
                        ex,
                    )
                )

    key = list(spec.key)
    if key and all(k in frame.columns for k in key):
        dup = frame.duplicated(key, keep=False).to_numpy() & frame[key].notna().all(axis=1).to_numpy()
        if dup.any():
            n, ex = _row_labels(spec, frame, dup)
            out.append(
                Finding(
                    name,
                    "+".join(key),
                    "unique",
                    f"key ({', '.join(key)}) must be unique; duplicated",
                    n,
                    ex,
                )
            )

    for order in spec.date_orders:
        if order.earlier in frame.columns and order.later in frame.columns:
            bad_mask = (frame[order.later] < frame[order.earlier]).fillna(False).to_numpy()
            if bad_mask.any():
                n, ex = _row_labels(spec, frame, bad_mask)
                out.append(
                    Finding(
                        name,
                        order.later,
                        "date_order",
                        f"{order.later} must be on or after {order.earlier}",
                        n,
                        ex,
                    )
                )

    if name == "orders" and {"quantity", "amount"} <= set(frame.columns):
        q, a = frame["quantity"], frame["amount"]
        bad_mask = (((q > 0) & (a < 0)) | ((q < 0) & (a > 0))).fillna(False).to_numpy()
        if bad_mask.any():
            n, ex = _row_labels(spec, frame, bad_mask)
            out.append(
                Finding(
                    name,
                    "amount",
                    "sign",
                    "quantity and amount have opposite signs (a return should have both negative)",
                    n,
                    ex,
                    severity="warning",
                )
            )
    return out, frame


def _check_foreign_keys(specs: dict[str, TableSpec], frames: dict[str, pd.DataFrame]) -> list[Finding]:
    out: list[Finding] = []
    for name, frame in frames.items():
        spec = specs[name]
        for fk in spec.foreign_keys:
            ref = frames.get(fk.ref_table)
            if ref is None or fk.column not in frame.columns or fk.ref_column not in ref.columns:
                continue
            values = frame[fk.column]
            bad_mask = (values.notna() & ~values.isin(ref[fk.ref_column].dropna())).to_numpy()
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


def _is_blank(s: pd.Series) -> np.ndarray:
    blank = s.isna().to_numpy()
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
