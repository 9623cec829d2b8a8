"""Imports that the report tools pull in without needing them, deferred to first use.

``nbformat`` (read by the runner, papermill and nbconvert) imports ``jsonschema``, whose
format checkers import ``rfc3987_syntax`` when it is installed (it comes with
``jupyter-events``).  That package compiles an Earley grammar of IRIs when imported:
~1.6 s CPU in every ``salesplan run`` before the first kernel starts, for a format
(``iri``) that no notebook schema uses.  :func:`defer_iri_grammar` puts a stand-in
module in its place whose functions import the real one on their first call, so the
check still works, at its cost, the first time a schema asks for it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

__all__ = ["defer_iri_grammar"]

_IRI_MODULE = "rfc3987_syntax"


class _DeferredModule(types.ModuleType):
    """A stand-in for a module: any attribute (beyond those set here) loads the real one."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):  # the import system asks for __path__ & co: not a use
            raise AttributeError(attr)
        return getattr(_load_real(self.__name__), attr)


def _load_real(name: str) -> types.ModuleType:
    """Import the real module ``name`` in place of its stand-in and return it."""
    current = sys.modules.get(name)
    if current is not None and not isinstance(current, _DeferredModule):
        return current
    spec = importlib.machinery.PathFinder.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"No module named {name!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def defer_iri_grammar() -> bool:
    """Defer the import of ``rfc3987_syntax`` (see the module text) until it is used.

    Does nothing when it is already imported, is not installed, or ``jsonschema``'s format
    checkers are already loaded (they hold the real module).  Returns whether the stand-in
    was installed.
    """
    if _IRI_MODULE in sys.modules or "jsonschema._format" in sys.modules:
        return False
    if importlib.machinery.PathFinder.find_spec(_IRI_MODULE) is None:
        return False
    stand_in = _DeferredModule(_IRI_MODULE, "deferred: the real module loads on first use")

    def is_valid_syntax(term: str, value: str) -> bool:
        return _load_real(_IRI_MODULE).is_valid_syntax(term, value)

    def parse(term: str, value: str):
        return _load_real(_IRI_MODULE).parse(term, value)

    stand_in.is_valid_syntax = is_valid_syntax  # what jsonschema imports
    stand_in.parse = parse
    sys.modules[_IRI_MODULE] = stand_in
    return True
