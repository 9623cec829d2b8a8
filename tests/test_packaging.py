"""pyproject.toml and environment.yml list the same packages with the same lower bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}
# PyPI requirements whose extras conda splits into several packages
PYPI_EXTRAS_TO_CONDA = {"dask[distributed]": ["dask", "distributed"]}


def _split(req: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", req)
    assert match, req
    return match.group(1).lower(), match.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    out: dict[str, str] = {}
    for req in reqs:
        name, bound = _split(req)
        for conda_name in PYPI_EXTRAS_TO_CONDA.get(name, [re.sub(r"\[.*\]", "", name)]):
            out[conda_name] = bound
    return out


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            name, bound = _split(item)
            if name in ("python", "pip"):
                continue
            out[CONDA_TO_PYPI.get(name, name)] = bound
    return out


def test_environment_yml_matches_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_environment_pins_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert env["name"] == "salesplan"


def test_lock_file_pins_every_direct_dependency():
    lock = {
        _split(line)[0]: line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    lock_names = {re.sub(r"[-_.]+", "-", n) for n in lock}
    for name in pyproject_requirements():
        assert re.sub(r"[-_.]+", "-", name) in lock_names, f"{name} is not pinned in requirements.lock"
