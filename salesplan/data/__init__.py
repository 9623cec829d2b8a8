"""Data layer: the table contract, validation, sources and the plan store."""

from salesplan.data.schema import (
    DEFAULT_STAGES,
    SCHEMAS,
    TABLE_NAMES,
    SalesData,
    TableSpec,
    coerce_table,
    table_specs,
)
from salesplan.data.validation import (
    DataValidationError,
    ValidationReport,
    load_validated,
    validate,
    validate_source,
)

__all__ = [
    "DEFAULT_STAGES",
    "SCHEMAS",
    "TABLE_NAMES",
    "DataValidationError",
    "PlanStore",
    "SalesData",
    "TableSpec",
    "ValidationReport",
    "coerce_table",
    "fingerprint",
    "load_for",
    "load_validated",
    "open_source",
    "table_specs",
    "validate",
    "validate_source",
]

_LAZY = {
    "open_source": "salesplan.data.sources",
    "PlanStore": "salesplan.data.store",
    "fingerprint": "salesplan.data.fingerprinting",
    "load_for": "salesplan.data.needs",
}


def __getattr__(name: str):
    # sources and the store pull in SQLAlchemy/DuckDB: import them on first use only
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'salesplan.data' has no attribute {name!r}")
