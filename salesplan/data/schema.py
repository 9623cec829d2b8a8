"""The data contract: which tables salesplan reads, their columns, keys and rules.

Every model and planning step reads a :class:`SalesData` bundle.  Only ``orders`` is
required; the other tables are optional and the features that need them switch off
with a note (see :meth:`SalesData.missing_features`).

Column kinds
------------
``id``      any Unicode text, never null unless declared nullable (:data:`TEXT_DTYPE`)
``text``    free Unicode text (:data:`TEXT_DTYPE`)
``date``    calendar date, stored as ``datetime64[ns]`` at midnight
``float``   real number (``float64``), currency amounts are in the company currency
``int``     whole number (``int64``; ``Int64`` when nullable)
``enum``    text restricted to ``allowed`` values
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date
from salesplan.data.intake import ReadOptions, parse_dates, parse_numbers

#: The five-level funnel of domain.md section 3: E potential -> D contacted ->
#: C acknowledged -> B intent -> A ready to buy.
DEFAULT_STAGES: tuple[str, ...] = ("E", "D", "C", "B", "A")
STAGE_LABELS: dict[str, str] = {
    "E": "potential",
    "D": "contacted",
    "C": "acknowledged",
    "B": "intent",
    "A": "ready to buy",
}
REP_LEVELS: tuple[str, ...] = ("junior", "senior", "key_account")
REGION_MATURITIES: tuple[str, ...] = ("mature", "developing", "emerging")
OUTCOMES: tuple[str, ...] = ("open", "won", "lost")
ACTIVITY_KINDS: tuple[str, ...] = ("visit", "call", "email")
#: BANT screening answers of a lead (Budget, Authority, Need, Timing), domain.md section 8.
BANT_ITEMS: tuple[str, ...] = ("budget", "authority", "need", "timing")
BANT_LEVELS: tuple[str, ...] = ("yes", "no", "unknown")
LEAD_STATUSES: tuple[str, ...] = ("open", "converted", "disqualified")


@dataclass(frozen=True)
class Column:
    """One column of a table: its name, kind and the rules it obeys."""

    name: str
    kind: str  # id | text | date | float | int | enum
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    description: str = ""
    #: the date records an event that cannot lie after the data's ``as_of`` date
    #: (due dates, planned exits and planned hires may)
    not_after_as_of: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of this table must appear in ``ref_table.ref_column`` (nulls pass)."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class DateOrder:
    """``later`` must be on or after ``earlier`` in every row where both are set."""

    earlier: str
    later: str


@dataclass(frozen=True)
class TableSpec:
    """The contract of one table."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    date_orders: tuple[DateOrder, ...] = ()
    required: bool = False
    feature: str = ""  # what switches off when the table is absent

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _customer_tables() -> list[TableSpec]:
    """Orders, customers, reps, regions and invoices: who buys what, from whom, and pays."""
    return [
        TableSpec(
            "orders",
            (
                Column("order_id", "id", description="order line id"),
                Column("order_date", "date", not_after_as_of=True),
                Column("customer_id", "id"),
                Column("rep_id", "id", nullable=True, description="null = house account"),
                Column("product_line", "text"),
                Column("quantity", "float", description="units; negative on returns"),
                Column(
                    "amount",
                    "float",
                    description="net revenue in company currency; negative = return/credit note",
                ),
            ),
            key=("order_id",),
            foreign_keys=(
                ForeignKey("customer_id", "customers", "customer_id"),
                ForeignKey("rep_id", "reps", "rep_id"),
            ),
            required=True,
        ),
        TableSpec(
            "customers",
            (
                Column("customer_id", "id"),
                Column("name", "text"),
                Column("region", "text"),
                Column("industry", "text", nullable=True),
                Column("segment", "text", nullable=True),
                Column("credit_limit", "float", nullable=True, min=0),
                Column("payment_terms_days", "int", nullable=True, min=0, max=365),
            ),
            key=("customer_id",),
            foreign_keys=(ForeignKey("region", "regions", "region"),),
            feature="customer names, regions, credit limits (ABC by region, credit policy)",
        ),
        TableSpec(
            "reps",
            (
                Column("rep_id", "id"),
                Column("name", "text"),
                Column("region", "text"),
                Column("level", "enum", allowed=REP_LEVELS),
                Column("hire_date", "date"),
                Column("exit_date", "date", nullable=True),
            ),
            key=("rep_id",),
            foreign_keys=(ForeignKey("region", "regions", "region"),),
            date_orders=(DateOrder("hire_date", "exit_date"),),
            feature="rep quotas, ramp-up, headcount and coverage plans",
        ),
        TableSpec(
            "regions",
            (
                Column("region", "id"),
                Column("maturity", "enum", allowed=REGION_MATURITIES),
                Column("market_potential", "float", min=0),
            ),
            key=("region",),
            feature="region split by market potential and maturity",
        ),
        TableSpec(
            "invoices",
            (
                Column("invoice_id", "id"),
                Column("customer_id", "id"),
                Column("issue_date", "date", not_after_as_of=True),
                Column("due_date", "date"),
                Column("amount", "float", min=0),
                Column("paid_date", "date", nullable=True, not_after_as_of=True),
                Column("paid_amount", "float", nullable=True, min=0),
            ),
            key=("invoice_id",),
            foreign_keys=(ForeignKey("customer_id", "customers", "customer_id"),),
            date_orders=(DateOrder("issue_date", "due_date"), DateOrder("issue_date", "paid_date")),
            feature="credit scoring, overdue early warning, collection rate",
        ),
    ]


def _funnel_tables(stages: tuple[str, ...]) -> list[TableSpec]:
    """Opportunities and their stage history (the funnel's ``stages``, top first)."""
    return [
        TableSpec(
            "opportunities",
            (
                Column("opportunity_id", "id"),
                Column("customer_id", "id"),
                Column("rep_id", "id", nullable=True),
                Column("created_date", "date", not_after_as_of=True),
                Column("amount", "float", min=0),
                Column("stage", "enum", allowed=stages),
                Column("outcome", "enum", allowed=OUTCOMES),
                Column("closed_date", "date", nullable=True, not_after_as_of=True),
            ),
            key=("opportunity_id",),
            foreign_keys=(
                ForeignKey("customer_id", "customers", "customer_id"),
                ForeignKey("rep_id", "reps", "rep_id"),
            ),
            date_orders=(DateOrder("created_date", "closed_date"),),
            feature="weighted pipeline, funnel back-calculation",
        ),
        TableSpec(
            "stage_history",
            (
                Column("opportunity_id", "id"),
                Column("stage", "enum", allowed=stages),
                Column("entered_date", "date", not_after_as_of=True),
            ),
            key=("opportunity_id", "stage"),
            foreign_keys=(ForeignKey("opportunity_id", "opportunities", "opportunity_id"),),
            feature="observed stage conversion rates and durations",
        ),
    ]


def _effort_tables() -> list[TableSpec]:
    """Sales activities and marketing spend: the effort put in."""
    return [
        TableSpec(
            "activities",
            (
                Column("date", "date", not_after_as_of=True),
                Column("rep_id", "id"),
                Column("customer_id", "id", nullable=True),
                Column("kind", "enum", allowed=ACTIVITY_KINDS),
            ),
            foreign_keys=(
                ForeignKey("rep_id", "reps", "rep_id"),
                ForeignKey("customer_id", "customers", "customer_id"),
            ),
            feature="visit/call KPIs and account coverage",
        ),
        TableSpec(
            "marketing_spend",
            (
                Column("region", "text"),
                Column("month", "date", description="first day of the month"),
                Column("amount", "float", min=0),
            ),
            key=("region", "month"),
            foreign_keys=(ForeignKey("region", "regions", "region"),),
            feature="response curves fitted from spend history (budget allocation)",
        ),
    ]


def _lead_tables() -> list[TableSpec]:
    """Leads with their BANT screening."""
    return [
        TableSpec(
            "leads",
            (
                Column("lead_id", "id"),
                Column("created_date", "date", not_after_as_of=True),
                Column("source", "text", description="e.g. web, referral, event, cold_call"),
                Column("rep_id", "id", nullable=True, description="null = not yet assigned"),
                Column("customer_id", "id", nullable=True, description="null = a prospect"),
                Column("prospect_name", "text", nullable=True),
                *(Column(item, "enum", allowed=BANT_LEVELS, description=f"BANT: {item} confirmed?")
                  for item in BANT_ITEMS),
                Column("status", "enum", allowed=LEAD_STATUSES),
                Column("closed_date", "date", nullable=True, not_after_as_of=True,
                       description="date converted or disqualified; null while open"),
                Column("converted_opportunity_id", "id", nullable=True),
                Column("disqualified_reason", "text", nullable=True),
            ),
            key=("lead_id",),
            foreign_keys=(
                ForeignKey("rep_id", "reps", "rep_id"),
                ForeignKey("customer_id", "customers", "customer_id"),
                ForeignKey("converted_opportunity_id", "opportunities", "opportunity_id"),
            ),
            date_orders=(DateOrder("created_date", "closed_date"),),
            feature="BANT lead screening, lead->opportunity rates, leads to work first",
        ),
    ]


def _table_specs(stages: tuple[str, ...]) -> dict[str, TableSpec]:
    specs = [*_customer_tables(), *_funnel_tables(stages), *_effort_tables(), *_lead_tables()]
    return {s.name: s for s in specs}


def table_specs(stages: tuple[str, ...] = DEFAULT_STAGES) -> dict[str, TableSpec]:
    """The contract of every table, with the funnel ``stages`` (top first) allowed."""
    if len(stages) < 2 or len(set(stages)) != len(stages):
        raise ValueError(f"stages must be at least two distinct names, got {stages!r}")
    return _table_specs(tuple(stages))


SCHEMAS: dict[str, TableSpec] = table_specs()
TABLE_NAMES: tuple[str, ...] = tuple(SCHEMAS)

#: Text columns (ids, names, enums) after coercion: pandas' Arrow-backed string dtype with
#: NaN as its missing value (``str`` in pandas 3).  The characters live in one Arrow buffer
#: (~1 byte per ASCII character + 4 bytes offset per value) instead of one Python object
#: per value (~50-60 bytes for a short id): 12M order lines' ids take ~0.2 GB instead of
#: ~2 GB per column.  Comparisons give numpy ``bool`` and missing values are ``NaN`` as
#: with ``object`` columns, so ``s == "x"``, ``isna``, group-bys and merges behave alike.
TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def coerce_table(
    name: str,
    frame: pd.DataFrame,
    spec: TableSpec | None = None,
    options: ReadOptions | None = None,
) -> pd.DataFrame:
    """Return ``frame`` with the contract's columns, in contract order and dtypes.

    Dates and numbers are read by :mod:`salesplan.data.intake` with ``options``
    (declared date format, separators): the text format of a date column is detected
    from all of its values, never guessed value by value.  Values that cannot be read,
    and every value of a column with ambiguous or mixed date formats, are left as
    missing and reported by :func:`salesplan.data.validate`, which reads the raw frame
    the same way; this function never raises on bad values, only on a non-DataFrame.
    Extra columns are kept after the contract's columns.
    """
    spec = spec or SCHEMAS[name]
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table {name!r}: expected a pandas DataFrame, got {type(frame).__name__}")
    out = {}
    for col in spec.columns:
        if col.name not in frame.columns:
            continue
        out[col.name] = _coerce_series(frame[col.name], col, options)
    extra = [c for c in frame.columns if c not in out]
    result = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    for c in extra:
        result[c] = frame[c].to_numpy()
    return result


def _coerce_series(s: pd.Series, col: Column, options: ReadOptions | None = None) -> pd.Series:
    s = s.reset_index(drop=True)
    if col.kind in ("id", "text", "enum"):
        return text_series(s)
    if col.kind == "date":
        return parse_dates(s, options).values
    if col.kind == "float":
        return parse_numbers(s, options).values
    if col.kind == "int":
        num = parse_numbers(s, options).values
        if num.isna().any() or col.nullable:
            whole = num.where(num.isna() | (num == np.round(num)))
            return whole.astype("Int64")
        return num.astype("int64")
    raise ValueError(f"unknown column kind {col.kind!r}")


def map_distinct(s: pd.Series, func) -> np.ndarray:
    """``s.map(func)`` as an object array, calling ``func`` once per distinct value.

    Ids, names and categories repeat over millions of order lines, so when every non-null
    value is text (the case for data read from DuckDB, CSV, Parquet or SQL), the column is
    factorised in C and ``func`` applied to the distinct texts only; nulls get
    ``func(None)``.  Any other mix of types (where ``1`` and ``1.0`` or ``True`` would hash
    alike) falls back to one call per value, so the result is always that of ``s.map``.
    """
    arr = s.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(arr, skipna=True) not in ("string", "empty"):
        return np.array([func(v) for v in arr], dtype=object)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [func(v) for v in uniques]
    mapped[-1] = func(None)  # code -1: null
    return mapped[codes]


def text_series(s: pd.Series) -> pd.Series:
    """``s`` as a :data:`TEXT_DTYPE` series: blanks and nulls missing, ``1.0`` -> ``"1"``.

    Text (``object`` of ``str``, Arrow strings read from DuckDB or Parquet) is factorised
    and each distinct value converted once (:func:`_to_text`), then the Arrow column is
    built by ``take`` on the distinct values, without one Python object per row; any
    other mix of values is converted value by value (:func:`map_distinct`).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    s = s.reset_index(drop=True)
    if is_arrow_text(s.dtype):
        # already Arrow text (DuckDB, Parquet): only blank values change, found in C
        arr = pa.array(s.array)
        blank = blank_text(arr)
        if pc.any(blank).as_py():
            arr = pc.if_else(blank, pa.scalar(None, pa.string()), arr)
        elif s.dtype == TEXT_DTYPE:
            return s
        return pd.Series(TEXT_DTYPE.__from_arrow__(arr), name=s.name)
    if isinstance(s.dtype, (pd.StringDtype, pd.ArrowDtype)) or pd.api.types.infer_dtype(
        s, skipna=True
    ) in ("string", "empty"):
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        mapped = [_to_text(v) for v in np.asarray(uniques, dtype=object)] + [None]
        codes = np.where(codes < 0, len(uniques), codes)  # null: the trailing None
        arr = pa.array(mapped, type=pa.string()).take(pa.array(codes, type=pa.int64()))
    else:
        arr = pa.array(map_distinct(s.astype(object).where(s.notna(), None), _to_text).tolist(),
                       type=pa.string())
    return pd.Series(TEXT_DTYPE.__from_arrow__(arr), name=s.name)


#: a value Python's ``str.strip()`` empties: only the characters ``str.isspace()`` calls
#: whitespace (ASCII controls 9-13 and 28-31, U+0085, the Unicode separators Z*); what
#: :func:`blank_text` finds, as a regular expression
BLANK_RE = r"^[\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}]*$"


def blank_text(arr):
    """Per value of the Arrow text array ``arr``: is it empty or whitespace only (what
    Python's ``str.strip()`` empties, :data:`BLANK_RE`); null stays null.

    Arrow's ``utf8_is_space`` (every character whitespace, the string not empty) calls
    exactly Python's ``str.isspace()`` characters whitespace (checked for every code point
    in the tests) and is ~5x faster than matching :data:`BLANK_RE` (~13 vs ~77 ms CPU for
    1.2M ids).
    """
    import pyarrow.compute as pc

    return pc.or_(pc.utf8_is_space(arr), pc.equal(pc.binary_length(arr), 0))


def is_arrow_text(dtype) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage in ("pyarrow", "pyarrow_numpy")
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        return pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(
            dtype.pyarrow_dtype
        )
    return False


def _to_text(v):
    if v is None or (isinstance(v, str) and not v.strip()):
        return None  # blank cells of a CSV export are missing values
    if isinstance(v, float) and v.is_integer():
        # ids read back from CSV as floats (1.0) become "1"
        return str(int(v))
    return str(v)


#: id(frame) -> (weak reference, signature) of the tables :meth:`SalesData.coerced` made
_COERCED: dict[int, tuple[weakref.ref, tuple]] = {}


def _signature(frame: pd.DataFrame) -> tuple:
    return (len(frame), tuple(frame.columns), tuple(map(str, frame.dtypes)),
            isinstance(frame.index, pd.RangeIndex))


def _mark_coerced(frame: pd.DataFrame) -> pd.DataFrame:
    """Remember ``frame`` as in contract dtypes (entry dropped when the frame is freed)."""
    key = id(frame)
    _COERCED[key] = (weakref.ref(frame, lambda _r, k=key: _COERCED.pop(k, None)),
                     _signature(frame))
    return frame


def _is_coerced(frame: pd.DataFrame) -> bool:
    """``frame`` is a table :func:`_mark_coerced` saw, with unchanged columns, dtypes, length."""
    hit = _COERCED.get(id(frame))
    return hit is not None and hit[0]() is frame and hit[1] == _signature(frame)


@dataclass(frozen=True)
class SalesData:
    """A company's sales data: one DataFrame per table of the contract.

    Only ``orders`` is required.  Use :func:`salesplan.data.validate` to check a
    bundle and :meth:`coerced` to bring every table to the contract's dtypes.
    """

    orders: pd.DataFrame
    customers: pd.DataFrame | None = None
    reps: pd.DataFrame | None = None
    regions: pd.DataFrame | None = None
    invoices: pd.DataFrame | None = None
    opportunities: pd.DataFrame | None = None
    stage_history: pd.DataFrame | None = None
    activities: pd.DataFrame | None = None
    marketing_spend: pd.DataFrame | None = None
    stages: tuple[str, ...] = DEFAULT_STAGES
    notes: tuple[str, ...] = field(default=())
    leads: pd.DataFrame | None = None
    #: how raw text values are read (declared date format, separators) and the
    #: plausibility limits of :func:`salesplan.data.validate`
    options: ReadOptions = field(default_factory=ReadOptions)
    #: tables the source holds that were not read (``Source.load(tables=...)``): ``None``
    #: here, but not absent from the company's data (no "switched off" note for them)
    unread: tuple[str, ...] = field(default=())

    def tables(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """Yield ``(name, frame)`` for each table that is present, in contract order."""
        for name in TABLE_NAMES:
            frame = getattr(self, name)
            if frame is not None:
                yield name, frame

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return dict(self.tables())

    def has(self, *names: str) -> bool:
        """True when every named table is present."""
        return all(getattr(self, n) is not None for n in names)

    def specs(self) -> dict[str, TableSpec]:
        return table_specs(self.stages)

    def coerced(self) -> SalesData:
        """Every present table in contract column order and dtypes.

        A table this method (or :meth:`until`) produced and nobody re-typed since (same
        columns, dtypes and length: :func:`_is_coerced`) is kept as it is, not coerced
        again: :func:`coerce_table` is idempotent, so the result is the same, without
        re-reading every id column on each cut (``data.until(t)`` for many dates ``t``).
        A table whose coercion changes nothing (``DataFrame.equals``: values, dtypes,
        labels) is returned as it is and remembered the same way.
        """
        specs = self.specs()
        out = {}
        for name, frame in self.tables():
            if not _is_coerced(frame):
                done = coerce_table(name, frame, specs[name], self.options)
                # already in contract form (e.g. read by a Source): keep it, remembered
                frame = frame if done.equals(frame) else done
                _mark_coerced(frame)
            out[name] = frame
        return replace(self, **out)

    def without_tables(self, *names: str) -> SalesData:
        """This data without the tables ``names``, to let their memory go: ``orders`` becomes
        an empty table of the same columns and dtypes, the others None.

        The empty orders share no memory with the loaded ones (a zero-row slice of a loaded
        text column would keep its first Arrow array, up to ~64 MB, alive).
        """
        unknown = sorted(set(names) - set(TABLE_NAMES))
        if unknown:
            raise ValueError(f"SalesData.without_tables: unknown table(s) {unknown}; "
                             f"expected names of {list(TABLE_NAMES)}")
        out: dict[str, pd.DataFrame | None] = dict.fromkeys(names)
        if "orders" in out:
            o = self.orders
            out["orders"] = pd.DataFrame({c: pd.Series([], dtype=o[c].dtype) for c in o.columns})
        return replace(self, **out)

    def until(self, as_of) -> SalesData:
        """The data as they were known at the end of ``as_of`` (no look-ahead).

        Event rows dated after ``as_of`` are dropped (orders, invoices issued, opportunities
        created, stage entries, activities, marketing months, leads created); a lead
        converted or disqualified later is open again.  Facts learnt later are
        undone: an invoice paid after ``as_of`` is unpaid again, an opportunity closed
        after ``as_of`` is open again at the last stage it had entered by then.
        Customers, reps and regions are kept whole (planned hires and exits stay).
        Used to plan a past quarter with the data of its start (monitoring, backtests).
        """
        cut = as_date(as_of)
        data = self.coerced()
        changes: dict[str, pd.DataFrame | None] = {
            "orders": data.orders[data.orders["order_date"] <= cut].reset_index(drop=True)
        }
        if data.invoices is not None:
            inv = data.invoices[data.invoices["issue_date"] <= cut].copy()
            later = inv["paid_date"] > cut
            inv.loc[later, "paid_date"] = pd.NaT
            inv.loc[later, "paid_amount"] = np.nan
            changes["invoices"] = inv.reset_index(drop=True)
        if data.stage_history is not None:
            changes["stage_history"] = data.stage_history[
                data.stage_history["entered_date"] <= cut
            ].reset_index(drop=True)
        if data.opportunities is not None:
            opp = data.opportunities[data.opportunities["created_date"] <= cut].copy()
            reopened = opp["closed_date"] > cut
            # whole-column where (not .loc setitem: an Arrow text setitem converts value by value)
            opp["outcome"] = opp["outcome"].where(~reopened, "open")
            opp["closed_date"] = opp["closed_date"].where(~reopened)
            history = changes.get("stage_history")
            if history is not None and reopened.any():
                rank = {stage: i for i, stage in enumerate(self.stages)}
                last = (
                    history.assign(_rank=history["stage"].map(rank))
                    .sort_values(["opportunity_id", "_rank"], kind="stable")
                    .groupby("opportunity_id")["stage"]
                    .last()
                )
                stage_then = opp.loc[reopened, "opportunity_id"].map(last)
                opp.loc[reopened, "stage"] = stage_then.fillna(opp.loc[reopened, "stage"])
            changes["opportunities"] = opp.reset_index(drop=True)
        if data.activities is not None:
            changes["activities"] = data.activities[data.activities["date"] <= cut].reset_index(
                drop=True
            )
        if data.marketing_spend is not None:
            changes["marketing_spend"] = data.marketing_spend[
                data.marketing_spend["month"] <= cut
            ].reset_index(drop=True)
        if data.leads is not None:
            leads = data.leads[data.leads["created_date"] <= cut].copy()
            later = leads["closed_date"] > cut  # converted/disqualified later: open then
            leads["status"] = leads["status"].where(~later, "open")
            for col in ("closed_date", "converted_opportunity_id", "disqualified_reason"):
                if col in leads:  # a bundle read with some columns only (needs.load_for)
                    leads[col] = leads[col].where(~later)
            changes["leads"] = leads.reset_index(drop=True)
        # row cuts of coerced tables keep the contract dtypes: no re-coercion on the next cut
        for name, frame in changes.items():
            if _signature(frame)[1:] == _signature(getattr(data, name))[1:]:
                _mark_coerced(frame)
        return replace(data, **changes)

    def missing_features(self) -> list[str]:
        """One plain-language note per absent optional table: what switches off."""
        notes = []
        for name, spec in self.specs().items():
            if getattr(self, name) is None and not spec.required and name not in self.unread:
                notes.append(f"table '{name}' is absent: {spec.feature} switched off")
        return notes

    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, pd.DataFrame],
        stages: tuple[str, ...] = DEFAULT_STAGES,
        options: ReadOptions | None = None,
    ) -> SalesData:
        unknown = sorted(set(tables) - set(TABLE_NAMES))
        if unknown:
            raise ValueError(
                f"unknown table(s) {unknown}; the contract knows {list(TABLE_NAMES)}"
            )
        if "orders" not in tables:
            raise ValueError("table 'orders' is required but was not given")
        return cls(**dict(tables), stages=tuple(stages), options=options or ReadOptions())

