"""The ``salesplan`` command line: ``demo-data``, ``validate``, ``run`` (see reports), and the
plan of record: ``approve``, ``plans``, ``compare``."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="salesplan: sales forecasts, customer risk, quota proposals and resource plans.",
)

DEFAULT_DEMO_DIR = Path("data/demo")
DEMO_FILE = "salesplan_demo.duckdb"
DEMO_SEED = 7
DEMO_AS_OF = "2026-12-31"
DEMO_ACTUALS_FILE = "salesplan_demo_actuals.duckdb"
DEMO_ACTUALS_UNTIL = "2027-02-14"


@app.command("demo-data")
def demo_data(
    out: Path = typer.Option(DEFAULT_DEMO_DIR, help="folder to write the demo company into"),
    seed: int = typer.Option(DEMO_SEED, help="random seed of the generator"),
    scale: float = typer.Option(1.0, help="1 = ~3,000 customers; 10 = ~30,000"),
    as_of: str = typer.Option(DEMO_AS_OF, help="the demo company's 'today' (YYYY-MM-DD)"),
    locale: str = typer.Option("en", help="en or zh (Chinese names)"),
    actuals_until: str = typer.Option(
        DEMO_ACTUALS_UNTIL, help="also write the orders of the quarter in progress up to this day "
        "(YYYY-MM-DD; empty: none) as salesplan_demo_actuals.duckdb, for the weekly review"),
) -> None:
    """Generate the demo company and write it as a DuckDB file in OUT."""
    from salesplan.data import fingerprint, open_source
    from salesplan.demo.generator import generate

    company = generate(seed=seed, scale=scale, as_of=as_of, locale=locale)
    out.mkdir(parents=True, exist_ok=True)
    target = out / DEMO_FILE
    open_source(f"duckdb:///{target}").write(company.data, replace=True)
    typer.echo(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    typer.echo(f"content fingerprint {fingerprint(company.data)}")
    if actuals_until:
        from salesplan.data import SalesData

        actuals = company.quarter_in_progress(actuals_until)
        target = out / DEMO_ACTUALS_FILE
        open_source(f"duckdb:///{target}").write(SalesData(orders=actuals), replace=True)
        typer.echo(f"wrote {target}: {len(actuals):,} order lines of the quarter in progress "
                   f"to {actuals_until}")


def _read_option_flags():
    """The source read options shared by ``validate`` and ``run`` (URL query keys)."""
    return {
        "date_format": typer.Option(None, "--date-format", help="dates as %d/%m/%Y, %m/%d/%Y, ... or 'excel' (serial day numbers)"),
        "decimal": typer.Option(None, "--decimal", help="decimal mark of text numbers: . or ,"),
        "thousands": typer.Option(None, "--thousands", help="thousands separator of text numbers: , . ' or space"),
        "currency": typer.Option(None, "--currency", help="currency symbol written next to amounts, e.g. $ or EUR"),
        "encoding": typer.Option(None, "--encoding", help="CSV text encoding (default utf-8; a BOM is accepted)"),
        "delimiter": typer.Option(None, "--delimiter", help="CSV field separator (default ,): ; | or tab"),
        "first_date": typer.Option(None, "--first-date", help="YYYY-MM-DD: event dates before it are errors"),
        "timeout": typer.Option(None, "--db-timeout", help="seconds a SQL database may take (default 60)"),
    }


_FLAGS = _read_option_flags()


def with_read_options(source: str, **options) -> str:
    """``source`` with the given read options appended to its URL query."""
    from urllib.parse import quote

    pairs = [f"{k}={quote(str(v), safe='')}" for k, v in options.items() if v is not None]
    if not pairs:
        return source
    return source + ("&" if "?" in source else "?") + "&".join(pairs)


def _fail(exc: BaseException, debug: bool = False) -> None:
    """Print ``exc`` as one line (the traceback with --debug) and exit 1."""
    if debug:
        import traceback

        traceback.print_exception(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    known = ("SourceError", "StoreError", "PlanError", "ParameterError", "RunError", "ValueError",
             "FileNotFoundError")
    if type(exc).__name__ not in known:
        text = f"{type(exc).__name__}: {text}"
    hint = "" if debug else " (--debug shows the traceback)"
    typer.echo(f"error: {text}" + (hint if type(exc).__name__ not in known else ""), err=True)
    raise typer.Exit(code=1)


@app.command()
def validate(
    source: str = typer.Argument(..., help="duckdb:///file.duckdb, a CSV/Parquet folder, or a SQLAlchemy URL"),
    as_of: str = typer.Option(None, help="the data's as-of date; later events are errors"),
    summary: bool = typer.Option(True, help="print headline facts when the data pass"),
    date_format: str = _FLAGS["date_format"],
    decimal: str = _FLAGS["decimal"],
    thousands: str = _FLAGS["thousands"],
    currency: str = _FLAGS["currency"],
    encoding: str = _FLAGS["encoding"],
    delimiter: str = _FLAGS["delimiter"],
    first_date: str = _FLAGS["first_date"],
    timeout: float = _FLAGS["timeout"],
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
) -> None:
    """Check SOURCE against the data contract; exit 1 when any rule is broken.

    The raw values are checked (a value that cannot be read is reported as such, with
    its rows), exactly as the first notebook of ``salesplan run`` checks them.
    """
    from salesplan.data import open_source
    from salesplan.data import validate as validate_data
    from salesplan.data.checks import as_date
    from salesplan.data.summary import describe, yearly_revenue

    url = with_read_options(
        source, date_format=date_format, decimal=decimal, thousands=thousands,
        currency=currency, encoding=encoding, delimiter=delimiter, first_date=first_date,
        timeout=timeout,
    )
    try:
        as_of_ts = as_date(as_of, "--as-of") if as_of is not None else None
        src = open_source(url)
        raw = src.load(coerce=False)
        report = validate_data(raw, as_of=as_of_ts)
    except Exception as e:  # noqa: BLE001 - one line per failure, the traceback on --debug
        _fail(e, debug)
    typer.echo(f"source: {src}")
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(code=1)
    if summary:
        data = raw.coerced()
        typer.echo("")
        typer.echo(describe(data).to_string(index=False))
        typer.echo("")
        typer.echo("net revenue by quarter:")
        typer.echo(yearly_revenue(data).round(0).to_string())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _parse_value(text: str):
    """A -p value as YAML scalar/list (0.15 -> float, true -> bool, [a, b] -> list)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _params_from_args(args: list[str]) -> dict:
    """Collect ``-p NAME VALUE`` / ``--param NAME VALUE`` pairs; anything else is an error."""
    params, i = {}, 0
    while i < len(args):
        if args[i] in ("-p", "--param"):
            if len(args) - i < 3:
                raise typer.BadParameter(
                    f"{args[i]} needs a NAME and a VALUE, e.g. -p deviation_threshold 0.15"
                )
            params[args[i + 1]] = _parse_value(args[i + 2])
            i += 3
        else:
            raise typer.BadParameter(f"unexpected argument {args[i]!r}; see salesplan run --help")
    return params


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    period: str = typer.Option(None, help="plan quarter YYYYQn (default: 2027Q1)"),
    source: str = typer.Option(
        None, help="data source URL (default: the notebooks' own, the demo company)"
    ),
    params_file: Path = typer.Option(None, "-f", "--params-file", help="YAML file NAME: VALUE"),
    out: Path = typer.Option(Path("reports"), help="folder for the run folders"),
    notebook: list[str] = typer.Option(
        None, "-n", "--notebook",
        help="run only this notebook and the ones that read it (repeatable); a unique "
             "prefix is enough, e.g. -n 04 re-runs 04_quarterly_targets and 05",
    ),
    downstream: bool = typer.Option(
        True, help="with -n: also re-run the notebooks that read the named ones"),
    notebooks_dir: Path = typer.Option(None, help="notebook folder (default: ./notebooks)"),
    kernel: str = typer.Option(None, help="Jupyter kernel (default: salesplan, else python3)"),
    timeout: int = typer.Option(600, help="seconds one notebook cell may run"),
    run_timeout: int = typer.Option(None, "--run-timeout", help="seconds the whole run may take"),
    jobs: int = typer.Option(2, help="notebooks run side by side once their inputs are ready"),
    check: bool = typer.Option(True, help="validate --source before any notebook runs"),
    kernel_reuse: bool = typer.Option(
        True, help="run a notebook in the kernel of one that finished, made as new (faster); "
                   "--no-kernel-reuse: a new kernel for every notebook"),
    reuse_max_peak_mib: float = typer.Option(
        None, "--reuse-max-peak-mib", help="MiB: a kernel whose memory peaked above this is not reused "
        "(default 2048; 0: never reuse)"),
    date_format: str = _FLAGS["date_format"],
    decimal: str = _FLAGS["decimal"],
    thousands: str = _FLAGS["thousands"],
    currency: str = _FLAGS["currency"],
    encoding: str = _FLAGS["encoding"],
    delimiter: str = _FLAGS["delimiter"],
    first_date: str = _FLAGS["first_date"],
    db_timeout: float = _FLAGS["timeout"],
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
    name: str = typer.Option(None, "--name", help='a name for this run, e.g. "board v2" (shown by salesplan plans)'),
    overrides: Path = typer.Option(None, "--overrides", help="a plan workbook (.xlsx) whose 'quota override' "
                                   "column on sheet 'Plan reps' (zh: '指标调整' on '销售代表计划') replaces those "
                                   "rep quotas (notebook 04)"),
) -> None:
    """Run the planning notebooks and write the reports, the workbook and index.html.

    Notebook parameters: -p NAME VALUE (repeatable; VALUE is read as YAML, so 0.15 is a
    number and true a flag) and/or -f params.yaml.  Passwords never go in -p: put them in the
    environment (PGPASSWORD, or ${SALESPLAN_DB_PASSWORD} inside the --source URL).
    """
    from salesplan.reports.params import ParameterError
    from salesplan.reports.runner import RunError, run_plan

    params = _params_from_args(list(ctx.args))
    read = dict(date_format=date_format, decimal=decimal, thousands=thousands, currency=currency,
                encoding=encoding, delimiter=delimiter, first_date=first_date, timeout=db_timeout)
    if any(v is not None for v in read.values()):
        if source is None:
            raise typer.BadParameter("read options (--date-format, --decimal, ...) need --source")
        source = with_read_options(source, **read)
    try:
        result = run_plan(
            period=period,
            source=source,
            params=params,
            params_file=params_file,
            out_dir=out,
            notebooks=notebook or None,
            notebooks_dir=notebooks_dir,
            kernel=kernel,
            timeout=timeout,
            jobs=jobs,
            **({"name": name} if name else {}),
            downstream=downstream,
            run_timeout=run_timeout,
            check_data=check,
            reuse_kernels=kernel_reuse,
            **({"reuse_max_peak_mib": reuse_max_peak_mib} if reuse_max_peak_mib is not None else {}),
            **({"overrides": overrides} if overrides is not None else {}),
        )
    except (RunError, ParameterError, FileNotFoundError) as e:
        if debug:
            import traceback

            traceback.print_exception(e)
        typer.echo(f"error: {_one_line(e)}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo("")
    typer.echo(f"index:    {result.index}")
    for r in result.notebooks:
        carried = "" if r.carried_from is None else (
            f"  (STALE: carried over from run {r.carried_from}; it reads a re-run report)"
            if r.stale else f"  (not re-run: carried over from run {r.carried_from})")
        typer.echo(f"report:   {r.html}{carried}")
    if result.workbook is not None:
        typer.echo(f"workbook: {result.workbook}")
    typer.echo(f"latest:   {Path(out) / 'latest'}")
    global _run_written
    _run_written = True  # the console entry point may end the process at once (main)


# --------------------------------------------------------------------------- plan of record

STORE_HELP = ("plan store URL (default: $SALESPLAN_PLAN_STORE, else "
              "duckdb:///reports/plan_store.duckdb, where salesplan run writes)")


def _store(url: str | None):
    import os

    from salesplan.data.store import PlanStore

    url = url or os.environ.get("SALESPLAN_PLAN_STORE") or "duckdb:///reports/plan_store.duckdb"
    return PlanStore(url)


@app.command()
def approve(
    run_id: str = typer.Argument(..., help="a salesplan run id (reports/<run id>), a targets "
                                           "run id, or 'latest' (reports/latest.txt)"),
    by: str = typer.Option(..., "--by", help="who approves (name)"),
    note: str = typer.Option(None, "--note", help="a note kept with the approval"),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    out: Path = typer.Option(Path("reports"), help="folder of the run folders (for 'latest')"),
) -> None:
    """Make RUN_ID's plan the approved plan (plan of record) of its period.

    Targets at every level, parameters and the input fingerprint of the run become the
    period's plan of record; an earlier approval of the period is superseded (kept in the
    history).  A failed, unfinished or partial run cannot be approved.
    """
    from salesplan.data.store import StoreError

    if run_id == "latest":
        marker = Path(out) / "latest.txt"
        if not marker.exists():
            _fail(FileNotFoundError(f"no {marker}: run `salesplan run` first"))
        run_id = marker.read_text("utf-8").strip()
    try:
        st = _store(store)
        a = st.approve(run_id, by=by, note=note)
    except (StoreError, ValueError, KeyError) as e:
        _fail(e)
    typer.echo(f"approved: {a['run_id']} is the plan of record of {a['period']} "
               f"(by {a['approved_by']}, {a['approved_at']:%Y-%m-%d %H:%M} UTC, {a['approval_id']})")
    if a["superseded"]:
        typer.echo(f"superseded: {a['superseded']}")


@app.command()
def summary(
    run: str = typer.Argument("latest", help="a run folder, a run id under --out, or 'latest'"),
    out: Path = typer.Option(Path("reports"), help="folder of the run folders"),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="also print summary.pdf (headless Chromium)"),
) -> None:
    """(Re)write the executive summary (summary.html, summary.pdf) of a finished run.

    ``salesplan run`` writes it already; this rebuilds it, e.g. for a run of an older
    version.  Files are replaced atomically.
    """
    from salesplan.reports.summary import write_summary

    folder = Path(run)
    if not folder.is_dir():
        name = (Path(out) / "latest.txt").read_text("utf-8").strip() if run == "latest" and (
            Path(out) / "latest.txt").exists() else run
        folder = Path(out) / name
    if not (folder / "run.json").exists():
        _fail(FileNotFoundError(f"{folder} is not a run folder (no run.json): give a folder under {out}"))
    notes: list[str] = []
    files = write_summary(folder, pdf=pdf, note=notes.append)
    for line in notes:
        typer.echo(line)
    if files is None:
        raise typer.Exit(code=1)
    typer.echo(f"summary: {files.html}" + (f" and {files.pdf}" if files.pdf else ""))


@app.command()
def plans(
    period: str = typer.Option(None, help="only this period, e.g. 2027Q1"),
    all_kinds: bool = typer.Option(False, "--all", help="list runs of every kind, not only plans (targets)"),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """List the plans in the store: run, name, period, status, approver (newest first)."""
    import pandas as pd

    from salesplan.data.store import StoreError

    try:
        table = _store(store).plans(period, all_kinds=all_kinds)
    except (StoreError, ValueError) as e:
        _fail(e)
    if table.empty:
        typer.echo("no plans in the store" + (f" for {period}" if period else "")
                   + "; `salesplan run` makes one")
        return
    show = table.assign(
        created_at=pd.to_datetime(table["created_at"]).dt.strftime("%Y-%m-%d %H:%M"),
        approved_at=pd.to_datetime(table["approved_at"]).dt.strftime("%Y-%m-%d %H:%M"),
    ).fillna("")
    cols = ["run_id", "salesplan_run", "name", "period", "created_at", "status", "approved_by",
            "approved_at", "note"] + (["kind"] if all_kinds else [])
    with pd.option_context("display.width", 250, "display.max_colwidth", 60,
                           "display.max_rows", None):
        typer.echo(show[cols].to_string(index=False))


@app.command()
def compare(
    run_a: str = typer.Argument(..., help="first plan: salesplan run id or targets run id"),
    run_b: str = typer.Argument(..., help="second plan"),
    out: Path = typer.Option(None, "--out", help="also write the differences: .csv (targets) or .xlsx (both)"),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Print the differences between two plans: parameters and every target (B - A)."""
    import pandas as pd

    from salesplan.data.store import StoreError

    try:
        c = _store(store).compare(run_a, run_b)
    except (StoreError, ValueError, KeyError) as e:
        _fail(e)
    typer.echo(f"A: {c.a['run_id']} ({c.a['name'] or 'unnamed'}, {c.a['period']})")
    typer.echo(f"B: {c.b['run_id']} ({c.b['name'] or 'unnamed'}, {c.b['period']})")
    typer.echo("")
    if c.parameters.empty:
        typer.echo("parameters: identical")
    else:
        typer.echo(f"parameters that differ ({len(c.parameters)}):")
        typer.echo(c.parameters.to_string(index=False))
    typer.echo("")
    t = c.targets
    if t.empty:
        typer.echo(f"targets: identical ({c.n_targets[0]} targets)")
    else:
        typer.echo(f"targets that differ: {len(t)} of {max(c.n_targets)} "
                   "(company currency; change = B - A)")
        show = t.assign(start_date=pd.to_datetime(t["start_date"]).dt.strftime("%Y-%m-%d"))
        with pd.option_context("display.width", 250, "display.max_rows", None,
                               "display.float_format", "{:,.0f}".format):
            typer.echo(show.drop(columns=["region"]).fillna("").to_string(index=False))
    if out is not None:
        out = Path(out)
        if out.suffix.lower() == ".xlsx":
            with pd.ExcelWriter(out, engine="openpyxl") as xw:
                c.parameters.to_excel(xw, sheet_name="parameters", index=False)
                c.targets.to_excel(xw, sheet_name="targets", index=False)
        else:
            c.targets.to_csv(out, index=False)
        typer.echo(f"written: {out}")
@app.command()
def params(
    notebook: list[str] = typer.Argument(None, help="notebook names or unique prefixes (default: all)"),
    notebooks_dir: Path = typer.Option(None, help="notebook folder (default: ./notebooks)"),
) -> None:
    """List each notebook's parameters: name, type, default and what it means."""
    import textwrap

    from salesplan.reports.runner import _declared_parameters, discover_notebooks, parameter_docs

    try:
        paths = discover_notebooks(notebooks_dir, notebook or None)
    except FileNotFoundError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=1) from None
    for path in paths:
        typer.echo(f"{path.stem}")
        docs = parameter_docs(path)
        for name, spec in _declared_parameters(path).items():
            typer.echo(f"  {name} = {spec.get('default')}")
            text = docs.get(name) or spec.get("help") or ""
            for line in textwrap.wrap(text, 88):
                typer.echo(f"      {line}")
        typer.echo("")
    if not notebook:  # taken by the runner itself, for every notebook
        typer.echo("every notebook (salesplan run)")
        typer.echo('  report_language = "en"')
        typer.echo("      language of the reports, the executive summary, index.html and the workbook")
        typer.echo("      headers: en or zh (amounts in 万/亿)")


#: ``salesplan run`` has written its run and printed where: :func:`main` then ends the
#: process without the interpreter's teardown (set by :func:`run` only)
_run_written = False


def main() -> None:  # pragma: no cover - console entry point (tests/test_cli_exit.py runs it)
    """The ``salesplan`` command.  After a ``salesplan run`` that wrote its run, the process
    ends without the interpreter's teardown (``os._exit`` after the ``atexit`` functions and
    flushed output): freeing every module of the runner (pandas, Arrow, DuckDB, nbconvert,
    Jupyter) took ~0.4-1.2 s of wall on each run -- a tenth of a one-notebook re-run.  Every
    file of the run is closed by then (the plan store's connections close after each
    transaction); other commands and failed runs end as usual."""
    import atexit
    import os
    import sys

    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if not _run_written or code not in (0, None):
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    atexit._run_exitfuncs()  # logging's flush, temporary folders: what a normal exit runs
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
