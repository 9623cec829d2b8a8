"""Reports: the notebook runner, leadership HTML, and helpers used inside notebooks.

In a notebook::

    from salesplan.reports import Param, check_parameters, publish_headlines, publish_tables
    from salesplan.reports import money, pct, number, decimal, styled_table, with_names
    from salesplan.reports import charts, upstream   # upstream: results of earlier notebooks

From Python / the CLI (``salesplan run``)::

    from salesplan.reports import run_plan
    result = run_plan(period="2027Q1", source="duckdb:///data/demo/salesplan_demo.duckdb")
    result.index   # reports/<run_id>/index.html
"""

__all__ = [
    "PERIOD_PATTERN",
    "Formatted",
    "Param",
    "ParameterError",
    "RunError",
    "RunResult",
    "SecretParameterError",
    "Table",
    "check_no_secrets",
    "cache_folder",
    "check_parameters",
    "decimal",
    "export_html",
    "extract_headlines",
    "money",
    "number",
    "pct",
    "plan_store_url",
    "publish_headlines",
    "publish_tables",
    "resolve_url",
    "run_plan",
    "styled_table",
    "upstream",
    "with_names",
]

# PEP 562: each name is imported from its module on first use, so that importing a part of
# the package (the runner, before it starts the first kernel) does not import pandas
_LAZY = {
    **dict.fromkeys(["Formatted", "Table", "decimal", "money", "number", "pct", "styled_table",
                     "with_names"], "salesplan.reports.format"),
    **dict.fromkeys(["PERIOD_PATTERN", "Param", "ParameterError", "SecretParameterError",
                     "check_no_secrets", "check_parameters"], "salesplan.reports.params"),
    **dict.fromkeys(["extract_headlines", "publish_headlines", "publish_tables"],
                    "salesplan.reports.publish"),
    "upstream": "salesplan.reports.results",
    "run_plan": "salesplan.reports.runner",
    "RunResult": "salesplan.reports.runner",
    "RunError": "salesplan.reports.runner",
    "export_html": "salesplan.reports.render",
}


def resolve_url(url: str, *, start=None) -> str:
    """Make a relative ``duckdb:///`` (or plain path) URL absolute, robustly.

    Tried in order: relative to ``start`` (default: the current directory, which is the
    notebooks folder under JupyterLab, papermill and nbval), then relative to the
    checkout's root (the folder holding ``pyproject.toml`` above ``start``).  URLs of
    other kinds and absolute paths are returned unchanged; when no candidate exists the
    first one is returned (the error then names it).
    """
    import re
    from pathlib import Path

    m = re.match(r"^(duckdb|sqlite)(\+\w+)?:///(?!/)(.+)$", url)
    if m:
        rel, prefix = m.group(3), f"{m.group(1)}{m.group(2) or ''}:///"
    elif "://" not in url and not Path(url).is_absolute():
        rel, prefix = url, ""
    else:
        return url
    if rel.startswith(":memory:"):
        return url
    here = Path(start or Path.cwd()).resolve()
    candidates = [here / rel]
    for parent in [here, *here.parents]:
        if (parent / "pyproject.toml").exists():
            stripped = re.sub(r"^(\.\./)+", "", rel)
            candidates.append(parent / stripped)
            break
    chosen = next((c for c in candidates if c.exists()), candidates[0])
    return prefix + str(chosen.resolve())


#: Environment variables that move the notebooks' default plan store and model cache
#: (the tests point them at a fresh temporary folder; ``salesplan run`` passes its own).
PLAN_STORE_ENV = "SALESPLAN_PLAN_STORE"
CACHE_DIR_ENV = "SALESPLAN_CACHE_DIR"
DEFAULT_PLAN_STORE = "duckdb:///../reports/plan_store.duckdb"
DEFAULT_CACHE_DIR = "../.cache/forecast"


def plan_store_url(plan_store: str | None = None, *, start=None) -> str:
    """The plan store a notebook reads and writes, as an absolute URL.

    ``plan_store`` when given; else ``$SALESPLAN_PLAN_STORE``; else
    ``reports/plan_store.duckdb`` of the checkout.  Relative paths are resolved by
    :func:`resolve_url` (relative to the notebooks folder, then the checkout).
    """
    import os

    return resolve_url(plan_store or os.environ.get(PLAN_STORE_ENV) or DEFAULT_PLAN_STORE,
                       start=start)


def cache_folder(cache_dir: str | None = None, *, start=None) -> str:
    """The forecast model cache folder: ``cache_dir``, else ``$SALESPLAN_CACHE_DIR``, else
    ``.cache/forecast`` of the checkout (resolved like :func:`plan_store_url`)."""
    import os

    return resolve_url(cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR, start=start)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'salesplan.reports' has no attribute {name!r}")
