"""The runner's kernels started ahead and its critical-path order (issue 19, plan speed)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
from test_runner import make_notebook, needs_kernel  # noqa: E402

from salesplan.reports.kernels import warmup_code  # noqa: E402
from salesplan.reports.runner import _critical_path, _run_in_dependency_order, run_plan  # noqa: E402


def _nb(folder: Path, name: str, depends_on=(), cells=()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["salesplan"] = {"depends_on": list(depends_on)}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_critical_path_sums_the_longest_chain_below_each_notebook(tmp_path):
    # a -> b -> d, a -> c -> d, a -> e
    paths = [_nb(tmp_path, "a"), _nb(tmp_path, "b", ["a"]), _nb(tmp_path, "c", ["a"]),
             _nb(tmp_path, "d", ["b", "c"]), _nb(tmp_path, "e", ["a"])]
    secs = {"a": 2.0, "b": 10.0, "c": 1.0, "d": 5.0, "e": 3.0}
    # d 5; b 10+5; c 1+5; e 3; a 2+max(15, 6, 3)
    assert _critical_path(paths, secs) == {"a": 17.0, "b": 15.0, "c": 6.0, "d": 5.0, "e": 3.0}
    # without durations: chains counted in notebooks
    assert _critical_path(paths, {}) == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0, "e": 1.0}


def test_the_ready_notebook_heading_the_longest_chain_starts_first(tmp_path):
    # x (short, listed first) and y -> z are ready together; one at a time: y must go first
    paths = [_nb(tmp_path, "x"), _nb(tmp_path, "y"), _nb(tmp_path, "z", ["y"])]
    started, told, lock = [], [], threading.Lock()

    def execute(path):
        with lock:
            started.append(path.stem)
        time.sleep(0.05)
        return path.stem

    done, failure = _run_in_dependency_order(paths, execute, jobs=1, seconds={"x": 1, "y": 1, "z": 5},
                                             ahead=lambda nxt: told.append([p.stem for p in nxt]))
    assert failure is None and set(done) == {"x", "y", "z"}
    assert started == ["y", "z", "x"]  # y heads y -> z (6 s), x is 1 s
    assert told[0] == ["z"]  # after y started, z is the next to prepare


def test_warmup_code_imports_the_notebooks_modules_and_binds_no_name(tmp_path):
    path = _nb(tmp_path, "n", cells=[
        "import json\nfrom collections import OrderedDict as OD\nx = 1",
        "%matplotlib inline\nimport this_cell_is_ipython_only",  # not Python: skipped
        "def f():\n    import zlib\n    return zlib\nimport no_such_module_xyz",
        "import json",  # once
    ])
    code = warmup_code(path)
    assert "'import json'" in code and "'from collections import OrderedDict as OD'" in code
    assert "'import no_such_module_xyz'" in code
    assert code.count("import json") == 1
    assert "zlib" not in code and "this_cell_is_ipython_only" not in code
    ns: dict = {}
    sys.modules.pop("json", None)
    exec(code, ns)  # the missing module fails silently; it fails later, in the notebook
    assert "json" in sys.modules
    assert set(ns) == {"__builtins__"}
    assert warmup_code(_nb(tmp_path, "empty", cells=["x = 1"])) == ""
    assert warmup_code(tmp_path / "absent.ipynb") == ""


@needs_kernel
def test_a_notebook_in_a_kernel_started_ahead_runs_as_in_a_new_one(tmp_path, monkeypatch):
    from salesplan.reports import kernels

    taken, take = [], kernels.KernelPool.take

    def spy(self, name, *args, **kwargs):
        km = take(self, name, *args, **kwargs)
        taken.append((name, km is not None))
        return km

    monkeypatch.setattr(kernels.KernelPool, "take", spy)
    nbs = tmp_path / "nb"
    nbs.mkdir()
    body = ["import json\nimport os\nprint(json.dumps(os.environ['SALESPLAN_NOTEBOOK']))",
            "print(sorted(k for k in globals() if not k.startswith('_') and k not in "
            "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open')))",
            "print(os.getcwd() == os.path.abspath(''))"]
    make_notebook(nbs / "01_a.ipynb", body, title="A")
    make_notebook(nbs / "02_b.ipynb", body, depends_on=["01_a"], title="B")
    make_notebook(nbs / "03_c.ipynb", body, depends_on=["01_a"], title="C")
    cwd = Path.cwd()
    res = run_plan(notebooks=nbs, out_dir=tmp_path / "out", echo=lambda s: None, timeout=120,
                   reuse_kernels=False)  # reused kernels: tests/test_kernel_reuse.py
    assert Path.cwd() == cwd  # the notebooks ran in their folder; this process did not move
    for name in ("01_a", "02_b", "03_c"):
        nb = nbformat.read(str(res.run_dir / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        # papermill's injected parameters cell first: counts start at 1, no warm-up cell counted
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
        texts = ["".join(o.get("text", "") for o in c.outputs) for c in code]
        assert f'"{name}"\n' in texts
        names = next(t for t in texts if t.startswith("["))
        assert "json" in names and "__salesplan_warmup" not in names
        assert "True\n" in texts
    assert sorted(taken) == [("01_a", True), ("02_b", True), ("03_c", True)]  # all three started ahead


def test_kernel_pool_shuts_down_kernels_never_taken(tmp_path):
    from salesplan.reports.kernels import KernelPool

    class FakeKm:
        has_kernel = False
        started = []

        def __init__(self, name):
            self.name = name

        async def start_kernel(self, **kw):
            FakeKm.started.append(self.name)
            raise RuntimeError("no kernel here")

    pool = KernelPool(FakeKm, workers=1)
    pool.prestart("a", _nb(tmp_path, "a"))
    pool.prestart("a", _nb(tmp_path, "a"))  # once per notebook
    assert "a" in pool
    assert pool.take("a") is None  # failed to start: the runner starts one as usual
    assert FakeKm.started == ["a"]
    pool.close()
    pool.prestart("b", _nb(tmp_path, "b"))  # closed: nothing starts
    assert "b" not in pool


def test_upstream_closure_follows_the_chain(tmp_path):
    from salesplan.reports.runner import _upstream_closure

    # a -> b -> d, c -> d, e alone
    paths = [_nb(tmp_path, "a"), _nb(tmp_path, "b", ["a"]), _nb(tmp_path, "c"),
             _nb(tmp_path, "d", ["b", "c"]), _nb(tmp_path, "e")]
    every = {p.stem: p for p in paths}
    assert _upstream_closure("d", every) == {"a", "b", "c"}
    assert _upstream_closure("b", every) == {"a"}
    assert _upstream_closure("e", every) == set()
