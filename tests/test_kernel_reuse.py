"""Kernels reused from one notebook of a run to the next (issue 19, plan speed): a reused
kernel behaves as a new one, a failed notebook's kernel is never reused."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_runner import make_notebook, needs_kernel  # noqa: E402

from salesplan.reports.runner import run_plan  # noqa: E402

# what a notebook sees of the kernel when it starts, then what it changes there
_LOOK = ("import os, sys, warnings\n"
         "import matplotlib, numpy, pandas\n"
         "print('pid', os.getpid())\n"
         "print('notebook', os.environ['SALESPLAN_NOTEBOOK'])\n"
         "print('leftover', 'left_by_a_notebook' in globals(), os.environ.get('SALESPLAN_TEST_LEFTOVER'))\n"
         "print('cwd', os.getcwd() == os.path.abspath(os.environ['SALESPLAN_TEST_FOLDER']))\n"
         "print('rows', pandas.get_option('display.max_rows'))\n"
         "print('width', matplotlib.rcParams['lines.linewidth'])\n"
         "print('numpy', numpy.geterr()['divide'], numpy.get_printoptions()['precision'])\n"
         "print('filter', any(getattr(f[1], 'pattern', '') == 'salesplan-test' for f in warnings.filters))\n"
         "print('path', 'salesplan-test' in sys.path)\n"
         "print('comm', open('/proc/self/comm').read().strip() if os.path.exists('/proc/self/comm') else '-')\n")
_CHANGE = ("left_by_a_notebook = 1\n"
           "__import__('pandas.io.formats.style')  # pyplot, imported first here as styled tables do\n"
           "os.environ['SALESPLAN_TEST_LEFTOVER'] = 'yes'\n"
           "os.chdir('/')\n"
           "pandas.set_option('display.max_rows', 3)\n"
           "matplotlib.rcParams['lines.linewidth'] = 9.0\n"
           "numpy.seterr(divide='raise')\n"
           "numpy.set_printoptions(precision=2)\n"
           "warnings.filterwarnings('ignore', message='salesplan-test')\n"
           "sys.path.append('salesplan-test')\n")


def _three_notebooks(folder: Path) -> Path:
    folder.mkdir()
    make_notebook(folder / "01_a.ipynb", [_LOOK, _CHANGE], title="A")
    make_notebook(folder / "02_b.ipynb", [_LOOK, _CHANGE], depends_on=["01_a"], title="B")
    make_notebook(folder / "03_c.ipynb", [_LOOK, _CHANGE], depends_on=["02_b"], title="C")
    return folder


def _looks(run_dir: Path, name: str) -> tuple[list, dict]:
    """Execution counts of the code cells and the ``key value`` lines the notebook printed."""
    nb = nbformat.read(str(run_dir / f"{name}.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "".join(o.get("text", "") for c in code for o in c.outputs if o.get("output_type") == "stream")
    return [c.execution_count for c in code], dict(line.split(" ", 1) for line in text.splitlines())


@needs_kernel
def test_a_reused_kernel_is_as_new_for_each_notebook(tmp_path, monkeypatch):
    nbs = _three_notebooks(tmp_path / "nb")
    monkeypatch.setenv("SALESPLAN_TEST_FOLDER", str(nbs))
    runs = {}
    for reuse in (True, False):
        res = run_plan(notebooks=nbs, out_dir=tmp_path / f"out-{reuse}", echo=lambda s: None,
                       timeout=120, jobs=1, reuse_kernels=reuse)
        runs[reuse] = {name: _looks(res.run_dir, name) for name in ("01_a", "02_b", "03_c")}
    pids = {reuse: {look["pid"] for _, look in runs[reuse].values()} for reuse in runs}
    assert len(pids[True]) == 1  # one kernel ran the three notebooks
    assert len(pids[False]) == 3  # one kernel each
    for name in ("01_a", "02_b", "03_c"):
        (counts, look), (fresh_counts, fresh) = runs[True][name], runs[False][name]
        assert counts == list(range(1, len(counts) + 1)) == fresh_counts  # counts restart at 1
        assert look["notebook"] == name  # the environment is the notebook's own
        assert look["leftover"] == "False None"  # nothing of the notebook before
        assert look["cwd"] == "True"
        # every setting the notebook before changed is back to a new kernel's
        assert {k: v for k, v in look.items() if k not in ("pid", "comm")} == \
            {k: v for k, v in fresh.items() if k not in ("pid", "comm")}
        # a reused kernel's process is named after the notebook it runs now (Linux)
        if name != "01_a" and fresh["comm"] != "-":
            assert look["comm"] == name and fresh["comm"] != name


def _pool(tmp_path: Path, max_peak_mib: float | None = None):
    """A reusing kernel pool whose kernels talk over Unix sockets in ``tmp_path / "ipc"``."""
    from salesplan.reports.kernels import KernelPool
    from salesplan.reports.runner import _EnvKernelManager, _pick_kernel

    kernel = _pick_kernel(None)
    ipc = tmp_path / "ipc"
    ipc.mkdir(exist_ok=True)

    def make_km(name):
        return _EnvKernelManager(kernel_name=kernel, transport="ipc", ip=str(ipc / name),
                                 extra_env={"SALESPLAN_NOTEBOOK": name})

    return KernelPool(make_km, workers=1, reuse_env=lambda name: {"SALESPLAN_NOTEBOOK": name},
                      max_peak_mib=max_peak_mib)


def _run(km, code: str) -> str:
    """stdout of ``code`` run in ``km``'s kernel."""
    from jupyter_client.utils import run_sync

    async def go():
        kc = km.client()
        kc.start_channels()
        out = []
        try:
            await kc.wait_for_ready(timeout=60)
            await kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
                m["content"].get("text", "") if m["msg_type"] == "stream" else ""))
        finally:
            kc.stop_channels()
        return "".join(out)

    return run_sync(go)()


@needs_kernel
def test_a_kernel_is_reused_after_a_success_only(tmp_path):
    nbs = tmp_path / "nb"
    nbs.mkdir()
    a, b, c = (make_notebook(nbs / f"{n}.ipynb", ["x = 1"]) for n in ("a", "b", "c"))
    pool = _pool(tmp_path)
    try:
        pool.prestart("a", a)
        km = pool.take("a", a)
        assert km is not None and km.has_kernel
        _run(km, "x = 1")
        pool.give_back(km, reusable=True)  # a succeeded
        assert pool.take("b", b) is km  # b runs in a's kernel ...
        assert _run(km, "import os; print(os.environ['SALESPLAN_NOTEBOOK'], 'x' in globals())") == "b False\n"
        pool.give_back(km, reusable=False)  # ... and fails: its kernel is shut down
        assert not km.has_kernel
        assert pool.take("c", c) is None  # no kernel left to reuse: c starts a new one
        assert pool.handed == [("a", ()), ("b", ("a",))]
    finally:
        pool.close()


@needs_kernel
def test_a_kernel_that_cannot_be_made_as_new_is_not_reused(tmp_path):
    nbs = tmp_path / "nb"
    nbs.mkdir()
    a = make_notebook(nbs / "a.ipynb", ["x = 1"])
    a_nb = nbformat.read(str(a), as_version=4)
    a_nb.cells = [nbformat.v4.new_code_cell("x = 1")]  # imports nothing: no pandas at the snapshot
    nbformat.write(a_nb, str(a))
    b = make_notebook(nbs / "b.ipynb", ["x = 1"])
    pool = _pool(tmp_path)
    try:
        pool.prestart("a", a)
        km = pool.take("a", a)
        assert _run(km, "import sys; print('pandas' in sys.modules)") == "False\n"  # not yet ...
        _run(km, "import pandas; pandas.set_option('display.max_rows', 3)")  # ... now set by a
        pool.give_back(km, reusable=True)
        # pandas' settings before a are unknown: b does not get that kernel
        assert pool.take("b", b) is None
        assert not km.has_kernel
    finally:
        pool.close()


def test_a_notebook_gets_the_kernel_that_ran_its_upstream(tmp_path, monkeypatch):
    from salesplan.reports import kernels

    class FakeKm:
        has_kernel = True

        def __init__(self, name):
            self.name = name

    async def started(km, cwd, code, timeout):
        return km

    made_as_new = []
    monkeypatch.setattr(kernels, "_start_and_warm", started)
    monkeypatch.setattr(kernels, "_run_reuse", lambda km, env, cwd, nb: made_as_new.append(km.name))
    monkeypatch.setattr(kernels, "_run_release", lambda km, limit=None: None)
    monkeypatch.setattr(kernels, "_shutdown", lambda km: None)
    nbs = tmp_path / "nb"
    nb = {n: make_notebook(nbs / f"{n}.ipynb", ["x = 1"]) for n in "abcd"}
    pool = kernels.KernelPool(FakeKm, workers=2, reuse_env=lambda name: {"SALESPLAN_NOTEBOOK": name})
    try:
        pool.prestart("a", nb["a"])
        pool.prestart("b", nb["b"])
        pool.prestart("c", nb["c"])  # two kernels alive already: none more is started
        assert "c" not in pool
        ka, kb = pool.take("a", nb["a"]), pool.take("b", nb["b"])
        assert (ka.name, kb.name) == ("a", "b") and made_as_new == []  # started for them
        pool.give_back(ka, reusable=True)
        pool.give_back(kb, reusable=True)
        assert pool.take("c", nb["c"], upstream={"b"}) is kb  # not the first kept (a's)
        assert pool.take("d", nb["d"], upstream={"x"}) is ka  # none ran x: any kept kernel
        assert made_as_new == ["b", "a"]
        assert pool.handed == [("a", ()), ("b", ()), ("c", ("b",)), ("d", ("a",))]
    finally:
        pool.close()


@needs_kernel
def test_salesplan_run_no_kernel_reuse_starts_a_kernel_per_notebook(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from salesplan.cli import app

    nbs = _three_notebooks(tmp_path / "nb")
    monkeypatch.setenv("SALESPLAN_TEST_FOLDER", str(nbs))
    from salesplan.reports.kernel_state import resident_mib

    peak_known = resident_mib()[1] is not None  # no VmHWM (not Linux): the limit does nothing
    pids, logs = {}, {}
    for flags in (["--kernel-reuse"], ["--no-kernel-reuse"], *([["--reuse-max-peak-mib", "1"]] if peak_known else [])):
        out = tmp_path / f"out{len(pids)}"
        result = CliRunner().invoke(app, ["run", "--notebooks-dir", str(nbs), "--out", str(out),
                                          "--jobs", "1", *flags])
        assert result.exit_code == 0, result.output
        run_dir = (out / "latest").resolve()
        pids[flags[0]] = {_looks(run_dir, name)[1]["pid"] for name in ("01_a", "02_b", "03_c")}
        logs[flags[0]] = (run_dir / "run.log").read_text("utf-8")
    assert len(pids["--kernel-reuse"]) == 1
    assert len(pids["--no-kernel-reuse"]) == 3
    assert "not reused" not in logs["--kernel-reuse"]
    if peak_known:  # every kernel peaks above 1 MiB: none is reused, and run.log says why
        assert len(pids["--reuse-max-peak-mib"]) == 3
        assert re.search(r"kernel of 01_a not reused: MemoryError: peaked at [\d,]+ MiB resident \(more than 1 MiB\)",
                         logs["--reuse-max-peak-mib"])


_PEAK = "print(__import__('sys').modules['_salesplan_kernel_state'].resident_mib()[1])"


@needs_kernel
@pytest.mark.parametrize("used_mib", [0, 300])
def test_a_kernel_whose_memory_peaked_high_is_not_reused(tmp_path, used_mib):
    """A notebook uses ``used_mib`` MiB for a while (bytes made, then dropped): above the
    pool's limit (the kernel's own peak + 150 MiB) the kernel is shut down at once, below
    it the kernel is reused."""
    from salesplan.reports import kernels

    nbs = tmp_path / "nb"
    nbs.mkdir()
    a, b = (make_notebook(nbs / f"{n}.ipynb", ["x = 1"]) for n in ("a", "b"))
    (tmp_path / "probe").mkdir()
    probe = _pool(tmp_path / "probe")  # the kernel's own size on this machine
    try:
        probe.prestart("a", a)
        km = probe.take("a", a)
        own = _run(km, _PEAK).strip()
    finally:
        probe.close()
    if own == "None":
        pytest.skip("the kernel's peak memory cannot be read here (no VmHWM in /proc/self/status)")
    own = float(own)
    assert 20 < own < 2048
    pool = _pool(tmp_path, max_peak_mib=own + 150)
    try:
        pool.prestart("a", a)
        km = pool.take("a", a)
        _run(km, f"data = b'x' * ({used_mib} * 2**20); del data")
        pool.give_back(km, reusable=True)
        taken = pool.take("b", b)
    finally:
        pool.close()  # waits for the kernels being emptied or shut down
        kernels._shutdown(km)  # handed out to b (the pool shuts down only the kernels it keeps)
    if used_mib:
        assert taken is None and not km.has_kernel
        assert len(pool.refused) == 1 and "MemoryError: peaked at" in pool.refused[0][2]
    else:
        assert taken is km and pool.refused == []


@pytest.mark.parametrize("limit", [-1, float("nan")])
def test_a_negative_or_nan_reuse_limit_is_refused_before_running(tmp_path, limit):
    from salesplan.reports.params import ParameterError

    nbs = tmp_path / "nb"
    nbs.mkdir()
    make_notebook(nbs / "01_a.ipynb", ["x = 1"])
    with pytest.raises(ParameterError, match=r"reuse_max_peak_mib=.*expected MiB >= 0"):
        run_plan(notebooks=nbs, out_dir=tmp_path / "out", echo=lambda s: None, reuse_max_peak_mib=limit)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@needs_kernel
def test_an_infinite_reuse_limit_means_no_limit(tmp_path, monkeypatch):
    """``inf`` is no limit: every notebook in the one kernel (``inf`` is no Python name in
    the kernel's code: it would fail every release)."""
    nbs = _three_notebooks(tmp_path / "nb")
    monkeypatch.setenv("SALESPLAN_TEST_FOLDER", str(nbs))
    res = run_plan(notebooks=nbs, out_dir=tmp_path / "out", echo=lambda s: None, timeout=120, jobs=1,
                   reuse_max_peak_mib=float("inf"))
    assert len({_looks(res.run_dir, name)[1]["pid"] for name in ("01_a", "02_b", "03_c")}) == 1
    assert "not reused" not in (res.run_dir / "run.log").read_text("utf-8")


def test_new_refusals_returns_each_refusal_once():
    from salesplan.reports.kernels import KernelPool

    pool = KernelPool(lambda name: None, workers=1, reuse_env=lambda name: {})
    try:
        pool.refused.append(("", ("01_a",), "MemoryError: peaked"))
        assert pool.new_refusals() == [("", ("01_a",), "MemoryError: peaked")]
        assert pool.new_refusals() == []
    finally:
        pool.close()


def test_the_scale_benchmark_tells_a_reused_kernel_by_its_process_name():
    # benchmarks/scale.py splits memory by notebook: a reused kernel is named after the
    # notebook it runs now (its environment still names the notebook it was started for)
    import importlib.util
    import subprocess

    import psutil

    spec = importlib.util.spec_from_file_location(
        "scale_benchmark", Path(__file__).parents[1] / "benchmarks" / "scale.py")
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    code = ("import sys\n"
            "from salesplan.reports.kernel_state import name_process\n"
            "name_process('05_resource_allocation')\n"
            "print('named', flush=True)\n"
            "sys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "named"
        assert scale._notebook_now(psutil.Process(child.pid)) == "05_resource_allocation"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert scale._notebook_now(psutil.Process()) is None  # a process not named after a notebook
