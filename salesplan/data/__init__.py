"""Data layer: the table contract, validation, sources and the plan store."""

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
    **dict.fromkeys(["DEFAULT_STAGES", "SCHEMAS", "TABLE_NAMES", "SalesData", "TableSpec",
                     "coerce_table", "table_specs"], "salesplan.data.schema"),
    **dict.fromkeys(["DataValidationError", "ValidationReport", "load_validated", "validate",
                     "validate_source"], "salesplan.data.validation"),
    "open_source": "salesplan.data.sources",
    "PlanStore": "salesplan.data.store",
    "fingerprint": "salesplan.data.fingerprinting",
    "load_for": "salesplan.data.needs",
}


def __getattr__(name: str):
    # PEP 562: the schema and checks pull in pandas, sources and the store SQLAlchemy/DuckDB:
    # each name is imported on first use only (salesplan.data.secrets does not need them)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'salesplan.data' has no attribute {name!r}")
