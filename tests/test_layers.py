"""The package's layers (docs/ARCHITECTURE.md): nothing lower imports anything higher.

Every ``import`` in every module of ``salesplan`` is read with :mod:`ast` -- including the
lazy ones inside functions, which hide a cycle from Python but not from a reader -- and
checked against the layer of the importing module.  The module graph must also be free
of cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "salesplan"

#: layer of each top-level part of the package (lower number = lower layer)
LAYERS = {
    "data": 0, "execution": 0,
    "models": 1, "demo": 1,
    "planning": 2,
    "reports": 3,
    "cli": 4, "__main__": 4,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> set[str]:
    """Every salesplan module named by an import in ``path`` (absolute or relative)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = (module or _module_name(path)).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("salesplan")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if not base.startswith("salesplan"):
                continue
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def test_every_part_of_the_package_has_a_layer():
    unknown = sorted({m.split(".")[1] for m in MODULES if "." in m and _layer(m) is None})
    assert not unknown, f"give these a layer in tests/test_layers.py: {unknown}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if "." in m))
def test_no_upward_import(module):
    mine = _layer(module)
    upward = sorted(i for i in _imports(MODULES[module]) if i in MODULES or i.rsplit(".", 1)[0] in MODULES
                    if (_layer(i) or 0) > mine)
    assert not upward, f"{module} (layer {mine}) imports higher layers: {upward}"


def test_no_import_cycle():
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle of logic
    for m in graph:
        graph[m] = {i for i in graph[m] if not (i.startswith(m + ".") and MODULES[m].name == "__init__.py")
                    and not (m.startswith(i + ".") and MODULES[i].name == "__init__.py")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The check itself: imports inside a function and relative imports are found."""
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from salesplan.reports import runner\n    from ..reports import publish\n")
    found = _imports(src, "salesplan.planning.mod")
    assert {"salesplan.reports.runner", "salesplan.reports.publish"} <= found
    assert max(_layer(i) for i in found) > _layer("salesplan.planning.mod")
