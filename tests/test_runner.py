"""The notebook runner and report machinery (salesplan.reports).

Fast unit tests first (formatting, parameter checks, secrets, ordering), then a few
end-to-end runs of tiny notebooks through papermill (one kernel start each, ~10 s):
a good run, a failing run, and a run whose source URL carries a password.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from machine import skip_unless_ci
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.reports import (
    Param,
    ParameterError,
    SecretParameterError,
    check_no_secrets,
    check_parameters,
    extract_headlines,
    money,
    number,
    pct,
    resolve_url,
    styled_table,
)
from salesplan.reports.render import export_html, prepare_for_report
from salesplan.reports.runner import RunError, discover_notebooks, prepare_source, redact, run_plan

# --------------------------------------------------------------------------- helpers


def _kernel_available() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return bool({"salesplan", "python3"} & set(KernelSpecManager().find_kernel_specs()))


needs_kernel = pytest.mark.skipif(not _kernel_available(), reason="no Jupyter kernel installed")


def make_notebook(path: Path, body: list[str], *, params: str = "", depends_on=(),
                  title: str = "Tiny report") -> Path:
    """A planning-style notebook: title, parameters cell, headline cell, body, methods."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "salesplan", "display_name": "salesplan",
                                 "language": "python"}
    nb.metadata["salesplan"] = {"depends_on": list(depends_on)}
    p = nbformat.v4.new_code_cell(
        'period = "2027Q1"  # str: plan quarter\n'
        'source = "duckdb:///nowhere.duckdb"  # str: data URL\n'
        'plan_store = "duckdb:///store.duckdb"  # str: plan store URL\n' + params
    )
    p.metadata["tags"] = ["parameters"]
    head = nbformat.v4.new_code_cell(
        "from salesplan.reports import publish_headlines, money, pct\n"
        'publish_headlines("Four, as always.", {"Revenue": money(4_000_000), "Share": pct(0.25)})'
    )
    head.metadata["tags"] = ["headlines"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat is two plus two?"),
        p,
        *[nbformat.v4.new_code_cell(src) for src in body],
        head,
        nbformat.v4.new_markdown_cell("## Methods and assumptions\n\nArithmetic."),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


TABLE_CELL = (
    "import pandas as pd\n"
    "from salesplan.reports import styled_table, publish_tables, charts\n"
    'df = pd.DataFrame({"region": ["华东", "North"], "revenue": [1234567.8, 99.0], '
    '"share": [0.9, 0.1]})\n'
    "publish_tables({'by region': df})\n"
    'styled_table(df, money_cols=["revenue"], pct_cols=["share"], caption="Revenue by region")'
)
CHART_CELL = (
    'charts.show(charts.bar_chart(df.set_index("region")["revenue"], title="Revenue by region",'
    ' xlabel="region", ylabel="revenue (company currency)", money=True))'
)


def all_output_text(folder: Path) -> str:
    """Every file under folder as text; xlsx (zip) members included."""
    chunks = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                chunks += [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
        else:
            chunks.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


# --------------------------------------------------------------------------- formatting


def test_money_pct_number_formats():
    assert money(1234567.891) == "1,234,568"
    assert money(1234567.891).raw == pytest.approx(1234567.891)
    assert money(-1500, symbol="$") == "-$1,500"
    assert money(12_345_678, compact=True) == "12.3 M"
    assert money(999, compact=True) == "999"
    assert money(2.5e9, compact=True) == "2.5 bn"
    assert money(-0.2) == "0"  # no "-0"
    assert money(None) == "–" and money(float("nan")) == "–"
    assert pct(0.153) == "15.3%"
    assert pct(0.174, signed=True) == "+17.4%"
    assert pct(-0.05, 0) == "-5%"
    assert pct(-0.0001) == "0.0%"
    assert pct(None) == "–"
    assert number(3000) == "3,000"


def test_styled_table_is_deterministic_and_formatted():
    df = pd.DataFrame({"region": ["华东", "North"], "revenue": [1234567.8, None],
                       "share": [0.9, 0.1], "n": [3, 4]})
    a = styled_table(df, money_cols=["revenue"], pct_cols=["share"], caption="Revenue")
    b = styled_table(df.copy(), money_cols=["revenue"], pct_cols=["share"], caption="Revenue")
    assert a.to_html() == b.to_html()  # fixed uuid: nbval can compare it
    html = a._repr_html_()
    assert "1,234,568" in html and "90.0%" in html and "华东" in html and "–" in html
    assert 'class="sp-table"' in html
    text = repr(a)
    assert "0x" not in text and text.splitlines()[0] == "Revenue"
    assert "1,234,568" in text and "10.0%" in text
    with pytest.raises(KeyError, match="not in the table"):
        styled_table(df, money_cols=["nope"])


def test_styled_table_truncates_long_tables():
    t = styled_table(pd.DataFrame({"x": range(10)}), max_rows=3)
    assert len(t.data) == 10 and "first 3 of 10 rows" in repr(t)


# --------------------------------------------------------------------------- parameters


SPEC = {
    "period": Param(str, pattern=r"^\d{4}Q[1-4]$", help="plan quarter"),
    "deviation": Param(float, min=0, max=1, unit="fraction of plan"),
    "weeks": Param(int, min=1, max=13),
    "as_of": Param(str, optional=True),
}


def test_check_parameters_accepts_good_values():
    check_parameters({"period": "2027Q1", "deviation": 0.15, "weeks": 13, "as_of": None}, SPEC)
    check_parameters({"period": "2027Q1", "deviation": 0, "weeks": 1, "as_of": "2026-12-31"}, SPEC)


def test_check_parameters_lists_every_problem():
    with pytest.raises(ParameterError) as e:
        check_parameters({"period": "2027-Q1", "deviation": 1.5, "weeks": 2.5, "extra": 1}, SPEC)
    msg = str(e.value)
    assert "'period' = '2027-Q1' does not have the expected form" in msg
    assert "'deviation' = 1.5 is too large; expected a number between 0 and 1 (fraction of plan)" in msg
    assert "'weeks' = 2.5 has the wrong type" in msg
    assert "'as_of' is missing" in msg
    assert "unknown parameter(s) ['extra']" in msg
    with pytest.raises(ParameterError, match="wrong type"):
        check_parameters({"period": "2027Q1", "deviation": True, "weeks": 3, "as_of": None}, SPEC)


@pytest.mark.parametrize("name", ["db_password", "PASSWORD", "api_token", "client_secret",
                                  "pwd", "apikey", "crm_api_key"])
def test_secret_names_are_refused(name):
    with pytest.raises(SecretParameterError, match="environment"):
        check_no_secrets({name: "x"})


def test_urls_with_passwords_are_refused_but_env_references_pass():
    with pytest.raises(SecretParameterError, match="holds a URL with a password"):
        check_no_secrets({"store": "postgresql://u:hunter2@db/x"})
    with pytest.raises(SecretParameterError):
        check_no_secrets({"urls": ["duckdb:///a", "mysql://u:pw@h/db"]})
    check_no_secrets({"store": "postgresql://u:${SALESPLAN_DB_PASSWORD}@db/x",
                      "key_account_share": 0.3, "period": "2027Q1"})


def test_prepare_source_moves_a_literal_password_to_the_environment(tmp_path):
    url, env = prepare_source("postgresql+psycopg://planner:p%40ss@db:5432/sales", tmp_path)
    assert url == "postgresql+psycopg://planner:${SALESPLAN_DB_PASSWORD}@db:5432/sales"
    assert env == {"SALESPLAN_DB_PASSWORD": "p@ss"}
    url, env = prepare_source("postgresql://planner:${MY_PW}@db/sales", tmp_path)
    assert url.endswith("${MY_PW}@db/sales") and env == {}
    url, env = prepare_source("postgresql://planner@db/sales", tmp_path)  # PGPASSWORD
    assert url == "postgresql://planner@db/sales" and env == {}
    url, _ = prepare_source("duckdb:///data/x.duckdb", tmp_path)
    assert url == f"duckdb:///{tmp_path.resolve()}/data/x.duckdb"
    assert prepare_source("duckdb:///:memory:", tmp_path)[0] == "duckdb:///:memory:"
    assert prepare_source("exports/2026", tmp_path)[0] == str(tmp_path.resolve() / "exports/2026")
    with pytest.raises(ParameterError, match="query string"):
        prepare_source("postgresql://db/sales?password=x", tmp_path)


def test_weak_environment_password_does_not_blank_the_reports(tmp_path, monkeypatch):
    from salesplan.reports.runner import _scrub_tree

    monkeypatch.setenv("PGPASSWORD", "salesplan")
    (tmp_path / "a.html").write_text("<meta name=generator content=salesplan> pw=urlsecret")
    _scrub_tree(tmp_path, ["urlsecret"], public_text="kernel salesplan")
    assert (tmp_path / "a.html").read_text() == "<meta name=generator content=salesplan> pw=***"
    monkeypatch.setenv("PGPASSWORD", "Rand0m-Secret")
    (tmp_path / "b.json").write_text('{"x": "Rand0m-Secret"}')
    assert _scrub_tree(tmp_path, [], public_text="salesplan") == [tmp_path / "b.json"]
    assert "Rand0m" not in (tmp_path / "b.json").read_text()


def test_redact_masks_urls_and_environment_secrets(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "envsecret")
    assert "envsecret" not in redact("failed with envsecret")
    assert redact("postgresql://u:pw123@h/db") == "postgresql://u:***@h/db"


def test_resolve_url_finds_the_checkout_root(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.duckdb").write_text("")
    (tmp_path / "notebooks").mkdir()
    here = tmp_path / "notebooks"
    assert resolve_url("duckdb:///../data/d.duckdb", start=here) == f"duckdb:///{tmp_path.resolve()}/data/d.duckdb"
    # from the root itself, "../data" does not exist: the checkout root is tried next
    assert resolve_url("duckdb:///../data/d.duckdb", start=tmp_path) == f"duckdb:///{tmp_path.resolve()}/data/d.duckdb"
    assert resolve_url("postgresql://h/db") == "postgresql://h/db"
    assert resolve_url("duckdb:////abs/x.duckdb") == "duckdb:////abs/x.duckdb"


# --------------------------------------------------------------------------- charts / store


def test_charts_warn_about_a_missing_cjk_font_only_when_cjk_text_is_drawn(monkeypatch):
    import warnings

    import matplotlib

    from salesplan.reports import charts

    latin = pd.Series([3.0, 1.5], index=["East", "North"])
    chinese = pd.Series([3.0, 1.5], index=["华东", "东北"])
    with matplotlib.rc_context():
        monkeypatch.setattr(charts, "_configured", False)
        monkeypatch.setattr(charts, "_warned_tofu", False)
        monkeypatch.setattr(charts, "_rebuild_font_cache", lambda: False)
        monkeypatch.setattr(charts, "CJK_FONTS", ("No Such Font 42",))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no CJK text: silent, whatever the machine has
            assert charts.configure_fonts(("No Such Font 42",)) is None
            charts.to_png(charts.bar_chart(latin, title="revenue by region", xlabel="region",
                                           ylabel="revenue (EUR)"))
        fig = charts.bar_chart(chinese, title="revenue by region", xlabel="region",
                               ylabel="revenue (CNY)")
        with pytest.warns(charts.CJKFontWarning, match="empty boxes"):
            charts.to_png(fig)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per process
            charts.to_png(fig)
    assert charts.has_cjk("华东 region") and not charts.has_cjk("East region 42%")


def test_charts_draw_cjk_with_an_installed_font():
    import warnings

    import matplotlib

    from salesplan.reports import charts

    with matplotlib.rc_context():
        charts._configured = False
        font = charts.configure_fonts()
        if font is None:
            charts._configured = False
            skip_unless_ci("no CJK font installed here (CI installs fonts-noto-cjk)")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a missing glyph would be a warning
            fig = charts.bar_chart(pd.Series([3.0, 1.5], index=["华东", "东北"]),
                                   title="收入 by region", xlabel="region", ylabel="revenue (CNY)",
                                   money=True)
            png = charts.to_png(fig)
        assert font in charts.CJK_FONTS
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        charts._configured = False
    with pytest.raises(ValueError, match="axis labels"):
        charts.new_figure("t", "", "y")


def test_upstream_reads_same_input_or_computes(tmp_path):
    from salesplan.reports import upstream

    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    calls = []

    def compute():
        calls.append(1)
        return {"forecast": pd.DataFrame({"q": ["2027Q1"], "revenue": [1.0]})}

    with pytest.raises(KeyError, match="run the 'forecast' notebook first"):
        upstream(url, "forecast", "2027Q1", input_fingerprint="abc")
    a = upstream(url, "forecast", "2027Q1", input_fingerprint="abc", compute=compute)
    b = upstream(url, "forecast", "2027Q1", input_fingerprint="abc", compute=compute)
    assert calls == [1] and a.run_id == b.run_id
    assert b.tables["forecast"]["revenue"].tolist() == [1.0]
    upstream(url, "forecast", "2027Q1", input_fingerprint="other", compute=compute)
    assert calls == [1, 1]  # different input data: not reused
    # read=False: stored (computed when absent) and its id returned, no table read back
    assert upstream(url, "forecast", "2027Q1", input_fingerprint="abc", compute=compute, read=False) == a.run_id
    new_id = upstream(url, "forecast", "2027Q1", input_fingerprint="third", compute=compute, read=False)
    assert calls == [1, 1, 1] and isinstance(new_id, str)
    assert upstream(url, "forecast", "2027Q1", input_fingerprint="third").run_id == new_id


def test_upstream_is_keyed_by_the_parameters_that_matter(tmp_path):
    from salesplan.reports import upstream

    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    calls = []

    def compute():
        calls.append(1)
        return {"paths": pd.DataFrame({"seed": [len(calls)]})}

    kw = dict(input_fingerprint="abc", compute=compute, match=("seed", "n_paths"))
    a = upstream(url, "forecast", "2027Q1", parameters={"seed": 0, "n_paths": 1000, "x": 1}, **kw)
    b = upstream(url, "forecast", "2027Q1", parameters={"seed": 0, "n_paths": 1000.0, "x": 2}, **kw)
    assert calls == [1] and a.run_id == b.run_id  # x does not matter; 1000 == 1000.0
    c = upstream(url, "forecast", "2027Q1", parameters={"seed": 1, "n_paths": 1000}, **kw)
    assert calls == [1, 1] and c.run_id != a.run_id  # another seed: recomputed, not reused
    assert upstream(url, "forecast", "2027Q1", parameters={"seed": 0, "n_paths": 1000},
                    **kw).run_id == a.run_id
    with pytest.raises(KeyError, match="with the same seed"):
        upstream(url, "forecast", "2027Q1", input_fingerprint="abc", match=("seed",),
                 parameters={"seed": 5})


# --------------------------------------------------------------------------- ordering / html


def test_dependency_order_then_file_names(tmp_path):
    make_notebook(tmp_path / "01_a.ipynb", [], depends_on=["03_c"])
    make_notebook(tmp_path / "02_b.ipynb", [])
    make_notebook(tmp_path / "03_c.ipynb", [])
    assert [p.stem for p in discover_notebooks(tmp_path)] == ["03_c", "01_a", "02_b"]
    assert [p.stem for p in discover_notebooks(tmp_path, ["02_b"])] == ["02_b"]
    with pytest.raises(FileNotFoundError, match="have"):
        discover_notebooks(tmp_path, ["09_nope"])
    make_notebook(tmp_path / "03_c.ipynb", [], depends_on=["01_a"])
    with pytest.raises(ValueError, match="cycle"):
        discover_notebooks(tmp_path)


def test_report_puts_headlines_first_and_drops_code(tmp_path):
    nb = nbformat.read(str(make_notebook(tmp_path / "n.ipynb", ["x = 1"])), as_version=4)
    head = next(c for c in nb.cells if "headlines" in c.metadata.get("tags", []))
    head.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/html": '<table class="headlines"></table>', "text/plain": "h"})]
    report = prepare_for_report(nb)
    assert report.cells[0].cell_type == "markdown"
    assert "headlines" in report.cells[1].metadata["tags"]
    assert not any("parameters" in c.metadata.get("tags", []) for c in report.cells)
    out = export_html(nb, tmp_path / "n.html", caption="2027Q1")
    html = out.read_text("utf-8")
    assert html.index('class="headlines"') < html.index("Methods and assumptions")
    assert "publish_headlines" not in html and "x = 1" not in html  # no code
    assert "In&nbsp;[" not in html  # no prompts
    # opens offline: one inline script (table sorting/filtering), nothing fetched
    assert html.count("<script") == 1 and "<script>" in html
    assert "https://" not in html and "http://" not in html


# --------------------------------------------------------------------------- CLI refusals


def test_cli_refuses_secret_parameters(tmp_path):
    res = CliRunner().invoke(app, ["run", "--out", str(tmp_path), "-p", "db_password", "x"])
    assert res.exit_code == 1
    assert "looks like a secret" in res.output and "environment" in res.output
    assert not any(tmp_path.iterdir())  # nothing was started


def test_unknown_parameter_is_refused_before_running(tmp_path):
    make_notebook(tmp_path / "nb" / "01_a.ipynb", [], params="factor = 2  # int\n")
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['factr'\].*factor"):
        run_plan(notebooks=tmp_path / "nb", out_dir=tmp_path / "out", params={"factr": 3})
    with pytest.raises(ParameterError, match="plan quarter"):
        run_plan(period="2027-1", notebooks=tmp_path / "nb", out_dir=tmp_path / "out")


# --------------------------------------------------------------------------- end to end


@needs_kernel
def test_run_then_failing_run_keeps_the_good_report(tmp_path):
    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    make_notebook(nbs / "01_first.ipynb", [TABLE_CELL, CHART_CELL, "print('factor', factor)"],
                  params="factor = 2  # int: a factor\n", title="First step")
    make_notebook(nbs / "02_second.ipynb", ["print('period', period)"], depends_on=["01_first"],
                  title="Second step")
    lines: list[str] = []
    res = run_plan(notebooks=nbs, out_dir=out, params={"factor": 3}, echo=lines.append,
                   timeout=120)

    # layout
    assert res.run_dir == out / res.run_id and res.run_dir.is_dir()
    for name in ["index.html", "01_first.html", "01_first.ipynb", "02_second.html",
                 "02_second.ipynb", "headlines.json", "run.json", "run.log",
                 "salesplan_2027Q1.xlsx"]:
        assert (res.run_dir / name).is_file(), name
    assert (out / "latest.txt").read_text().strip() == res.run_id
    assert (out / "latest").resolve() == res.run_dir.resolve()
    assert not list(out.glob(".tmp-*")) and not list(out.glob("failed-*"))
    # progress per notebook, in order
    assert any("[1/2] 01_first ok" in ln for ln in lines)
    assert any("[2/2] 02_second ok" in ln for ln in lines)
    # parameters go only where they are declared
    p1 = res.notebooks[0].parameters
    assert p1["factor"] == 3 and p1["period"] == "2027Q1"
    assert p1["plan_store"] == f"duckdb:///{(out / 'plan_store.duckdb').resolve()}"
    assert "factor" not in res.notebooks[1].parameters
    executed = nbformat.read(str(res.run_dir / "01_first.ipynb"), as_version=4)
    assert "factor 3" in json.dumps([c.get("outputs") for c in executed.cells])
    # headlines
    assert extract_headlines(executed)["answer"] == "Four, as always."
    heads = json.loads((res.run_dir / "headlines.json").read_text("utf-8"))
    assert heads["01_first"]["figures"][0] == {"label": "Revenue", "display": "4,000,000",
                                                "value": 4_000_000.0}
    index = res.index.read_text("utf-8")
    assert 'href="01_first.html"' in index and 'href="02_second.html"' in index
    assert "4,000,000" in index and "salesplan_2027Q1.xlsx" in index
    # leadership html: answer first, no code
    html = (res.run_dir / "01_first.html").read_text("utf-8")
    assert html.index("First step") < html.index("Four, as always.") < html.index("Revenue by region")
    assert "styled_table(" not in html and re.search(r'<svg [^>]*class="sp-chart"', html)  # the hover chart, inline
    # workbook: headlines, run info, the published table
    sheets = pd.read_excel(res.workbook, sheet_name=None)
    assert list(sheets)[:2] == ["Headlines", "Run"]
    assert sheets["01 by region"]["region"].tolist() == ["华东", "North"]
    assert "Revenue" in sheets["Headlines"]["figure"].tolist()

    # a second run that fails in a cell ------------------------------------------
    good = {p.relative_to(res.run_dir): p.read_bytes() for p in res.run_dir.rglob("*") if p.is_file()}
    make_notebook(nbs / "02_second.ipynb",
                  ["print('about to fail')", "raise ValueError('boom: factor too big\\nsecond line')"],
                  depends_on=["01_first"], title="Second step")
    cli = CliRunner().invoke(app, ["run", "--notebooks-dir", str(nbs), "--out", str(out),
                                   "--timeout", "120"])
    assert cli.exit_code == 1, cli.output
    err_lines = [ln for ln in cli.output.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1
    err = err_lines[0]
    assert "02_second: cell In [4] failed" in err and "ValueError: boom: factor too big" in err
    assert "second line" not in cli.output
    failed = list(out.glob("failed-*"))
    assert len(failed) == 1 and str(failed[0]) in err
    partial = nbformat.read(str(failed[0] / "02_second.ipynb"), as_version=4)
    outputs = json.dumps([c.get("outputs") for c in partial.cells])
    assert "about to fail" in outputs and "boom" in outputs
    assert "boom" in (failed[0] / "error.txt").read_text("utf-8")
    # the report of the notebook that ended is in the partial copy, written before the move
    assert "First step" in (failed[0] / "01_first.html").read_text("utf-8")
    # the previous good run is untouched and still the latest
    assert (out / "latest.txt").read_text().strip() == res.run_id
    assert (out / "latest").resolve() == res.run_dir.resolve()
    now = {p.relative_to(res.run_dir): p.read_bytes() for p in res.run_dir.rglob("*") if p.is_file()}
    assert now == good
    assert not list(out.glob(".tmp-*"))

    # RunError from the Python API carries the same one line
    with pytest.raises(RunError) as e:
        run_plan(notebooks=["02_second"], notebooks_dir=nbs, out_dir=out, echo=lambda s: None,
                 timeout=120)
    assert "\n" not in str(e.value) and e.value.cell == 4 and e.value.notebook == "02_second"
    assert e.value.failed_dir.is_dir()


@needs_kernel
def test_no_password_in_any_output_file(tmp_path, monkeypatch):
    literal = "Lit3ral-Pw-7731"
    env_pw = "Env-Pw-44190"
    monkeypatch.setenv("PGPASSWORD", env_pw)
    monkeypatch.delenv("SALESPLAN_DB_PASSWORD", raising=False)
    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    probe = (
        "import os\n"
        "from salesplan.data import open_source\n"
        "print('kernel got the password:', len(os.environ.get('SALESPLAN_DB_PASSWORD', '')) == 15)\n"
        "try:\n"
        "    open_source(source).load()\n"
        "except Exception as e:\n"
        "    print('expected failure:', type(e).__name__, str(e)[:300])\n"
        "print('source:', source)"
    )
    make_notebook(nbs / "01_probe.ipynb", [probe, TABLE_CELL])
    source = f"postgresql+psycopg://planner:{literal}@127.0.0.1:9/sales?connect_timeout=2"
    lines: list[str] = []
    res = run_plan(source=source, notebooks=nbs, out_dir=out, echo=lines.append, timeout=120,
                   check_data=False)  # the probe notebook expects the unreachable server
    executed = nbformat.read(str(res.notebooks[0].notebook), as_version=4)
    printed = json.dumps([c.get("outputs") for c in executed.cells])
    assert "kernel got the password: True" in printed  # it went through the environment
    assert "${SALESPLAN_DB_PASSWORD}" in json.dumps(executed.metadata["papermill"]["parameters"])
    text = all_output_text(out) + "\n".join(lines)
    assert literal not in text and env_pw not in text
    assert "planner:***@127.0.0.1" in text  # the redacted form is what is shown
    # failing runs are scrubbed too
    # a careless notebook that prints the password and puts it in an error message
    make_notebook(nbs / "01_probe.ipynb", [
        "import os\npw = os.environ['SALESPLAN_DB_PASSWORD']\nprint('leak', pw, os.environ['PGPASSWORD'])",
        "raise RuntimeError('cannot log in with ' + pw)",
    ])
    with pytest.raises(RunError) as e:
        run_plan(source=source, notebooks=nbs, out_dir=out, echo=lines.append, timeout=120,
                 check_data=False)
    assert literal not in str(e.value) and "cannot log in with ***" in str(e.value)
    text = all_output_text(out)
    assert literal not in text and env_pw not in text
    assert os.environ.get("SALESPLAN_DB_PASSWORD") is None  # restored after the run


def test_index_puts_ranked_reports_first_each_with_its_figures(tmp_path):
    from salesplan.reports.render import render_index

    def report(name, rank, answer):
        return {"name": name, "title": name.title(), "html": f"{name}.html",
                "notebook": f"{name}.ipynb", "seconds": 1.0, "rank": rank,
                "headlines": {"answer": answer, "figures": [
                    {"label": f"{name} figure", "display": "1.0 M", "value": 1e6}]}}

    page = render_index(
        tmp_path / "index.html", run_id="r1", period="2027Q1", source="demo",
        reports=[report("data", None, "Data fine."), report("forecast", 3, "Grows."),
                 report("targets", 1, "Commit to 13 M.")],
    ).read_text("utf-8")
    assert page.index("Commit to 13 M.") < page.index("Grows.") < page.index("Data fine.")
    # each card carries its own figures, labelled without the report title
    assert page.count('<table class="headlines">') == 3
    assert "<th scope=\"row\">targets figure</th>" in page


def test_notebooks_run_side_by_side_but_after_their_upstream(tmp_path):
    import threading
    import time as _time

    import nbformat

    from salesplan.reports.runner import _NotebookFailed, _run_in_dependency_order

    def notebook(name, depends_on=()):
        nb = nbformat.v4.new_notebook()
        nb.metadata["salesplan"] = {"depends_on": list(depends_on)}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        return path

    paths = [notebook("a"), notebook("b", ["a"]), notebook("c"), notebook("d", ["b", "c"])]
    events, lock = [], threading.Lock()

    def execute(path):
        with lock:
            events.append(("start", path.stem))
        _time.sleep(0.2)
        with lock:
            events.append(("end", path.stem))
        return path.stem

    done, failure = _run_in_dependency_order(paths, execute, jobs=2)
    assert failure is None and done == {"a": "a", "b": "b", "c": "c", "d": "d"}
    at = {e: i for i, e in enumerate(events)}
    assert at[("end", "a")] < at[("start", "b")]
    assert max(at[("end", "b")], at[("end", "c")]) < at[("start", "d")]
    assert at[("start", "c")] < at[("end", "a")]  # c needs nothing: it ran beside a

    def fail_b(path):
        if path.stem == "b":
            raise _NotebookFailed("b: cell In [1] failed", notebook="b", cell=1, detail="",
                                  notebook_file="b.ipynb")
        return execute(path)

    events.clear()
    done, failure = _run_in_dependency_order(paths, fail_b, jobs=2)
    assert failure is not None and failure.notebook == "b"
    assert ("start", "d") not in events  # nothing downstream starts after a failure


# --------------------------------------------------------------------------- partial runs


def _four_step_plan(nbs: Path) -> None:
    """01 -> 02 -> 03, and 04 beside them (reads 01 only); 02 and 03 declare growth."""
    growth = "growth = 0.1  # float: growth on last year\n"
    make_notebook(nbs / "01_data.ipynb", ["print('data')"], title="Data")
    make_notebook(nbs / "02_forecast.ipynb", ["print('g', growth)"], params=growth,
                  depends_on=["01_data"], title="Forecast")
    make_notebook(nbs / "03_targets.ipynb", ["print('g', growth)"], params=growth,
                  depends_on=["02_forecast"], title="Targets")
    make_notebook(nbs / "04_risk.ipynb", ["print('risk')"], depends_on=["01_data"], title="Risk")


@needs_kernel
def test_partial_rerun_reruns_downstream_and_keeps_a_complete_latest(tmp_path):
    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    _four_step_plan(nbs)
    first = run_plan(notebooks=nbs, out_dir=out, echo=lambda _: None, timeout=120)
    index = (first.run_dir / "index.html").read_text("utf-8")
    assert "Parameters changed from the defaults" not in index

    lines: list[str] = []
    second = run_plan(notebooks=["02"], notebooks_dir=nbs, out_dir=out, params={"growth": 0.2},
                      echo=lines.append, timeout=120)
    assert [r.name for r in second.notebooks if r.carried_from is None] == ["02_forecast", "03_targets"]
    assert {r.name: r.carried_from for r in second.notebooks if r.carried_from} == {
        "01_data": first.run_id, "04_risk": first.run_id}
    assert (out / "latest").resolve() == second.run_dir.resolve()
    for name in ["01_data", "02_forecast", "03_targets", "04_risk"]:
        assert (second.run_dir / f"{name}.html").is_file(), name
    index = (second.run_dir / "index.html").read_text("utf-8")
    assert "<code>growth = 0.2</code>" in index
    assert index.count("carried over unchanged from run " + first.run_id) == 2
    assert "Stale" not in index
    assert any("carried over: 01_data" in ln for ln in lines)

    third = run_plan(notebooks=["02_f"], notebooks_dir=nbs, out_dir=out, params={"growth": 0.3},
                     downstream=False, echo=lambda _: None, timeout=120)
    stale = {r.name for r in third.notebooks if r.stale}
    assert stale == {"03_targets"}  # it reads 02, which was re-run without it
    assert "Stale: not re-run" in (third.run_dir / "index.html").read_text("utf-8")


def test_notebook_names_by_unique_prefix_with_clear_errors(tmp_path):
    nbs = tmp_path / "notebooks"
    _four_step_plan(nbs)
    make_notebook(nbs / "03b_pipeline.ipynb", ["print('pipeline')"], title="Pipeline")
    assert [p.stem for p in discover_notebooks(nbs, ["03"])] == ["03_targets"]
    assert [p.stem for p in discover_notebooks(nbs, ["03b"])] == ["03b_pipeline"]
    with pytest.raises(FileNotFoundError, match=r"ambiguous: \['01_data', '02_forecast'"):
        discover_notebooks(nbs, ["0"])
    with pytest.raises(FileNotFoundError, match="did you mean '03_targets'"):
        discover_notebooks(nbs, ["03_target"[:-1] + "x"])


def test_styled_table_headers_in_words_and_whole_numbers_without_decimals():
    from salesplan.reports.format import column_label

    assert column_label("abc_class") == "ABC class"
    assert column_label("need_fte") == "Need FTE"
    assert column_label("mean_pd") == "Mean PD"
    assert column_label("region") == "Region"
    assert column_label("P(churn)") == "P(churn)" and column_label("revenue 12m") == "revenue 12m"
    df = pd.DataFrame({"abc_class": ["A", "B"], "need_fte": [8.0, 2.0], "mean_pd": [0.0123, 0.5]})
    t = styled_table(df, labels={"mean_pd": "mean probability of default"})
    header = repr(t).splitlines()[0].split()
    assert header == ["ABC", "class", "Need", "FTE", "mean", "probability", "of", "default"]
    assert repr(t).splitlines()[1].split() == ["A", "8", "0.01"]  # 8.00 -> 8; 0.0123 -> 0.01
    assert ">Need FTE</th>" in t.to_html() and ">need_fte<" not in t.to_html()
