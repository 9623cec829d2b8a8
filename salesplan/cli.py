"""The ``salesplan`` command line: ``demo-data``, ``validate`` (and ``run``, see reports)."""

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


@app.command("demo-data")
def demo_data(
    out: Path = typer.Option(DEFAULT_DEMO_DIR, help="folder to write the demo company into"),
    seed: int = typer.Option(DEMO_SEED, help="random seed of the generator"),
    scale: float = typer.Option(1.0, help="1 = ~3,000 customers; 10 = ~30,000"),
    as_of: str = typer.Option(DEMO_AS_OF, help="the demo company's 'today' (YYYY-MM-DD)"),
    locale: str = typer.Option("en", help="en or zh (Chinese names)"),
) -> None:
    """Generate the demo company and write it as a DuckDB file in OUT."""
    from salesplan.data import fingerprint, open_source
    from salesplan.synthetic import generate

    company = generate(seed=seed, scale=scale, as_of=as_of, locale=locale)
    out.mkdir(parents=True, exist_ok=True)
    target = out / DEMO_FILE
    open_source(f"duckdb:///{target}").write(company.data, replace=True)
    typer.echo(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    typer.echo(f"content fingerprint {fingerprint(company.data)}")


@app.command()
def validate(
    source: str = typer.Argument(..., help="duckdb:///file.duckdb, a CSV/Parquet folder, or a SQLAlchemy URL"),
    as_of: str = typer.Option(None, help="the data's as-of date; later events are errors"),
    summary: bool = typer.Option(True, help="print headline facts when the data pass"),
) -> None:
    """Check SOURCE against the data contract; exit 1 when any rule is broken."""
    from salesplan.data import open_source
    from salesplan.data import validate as validate_data
    from salesplan.data.summary import describe, yearly_revenue

    src = open_source(source)
    data = src.load()
    report = validate_data(data, as_of=as_of)
    typer.echo(f"source: {src}")
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(code=1)
    if summary:
        typer.echo("")
        typer.echo(describe(data.coerced()).to_string(index=False))
        typer.echo("")
        typer.echo("net revenue by quarter:")
        typer.echo(yearly_revenue(data.coerced()).round(0).to_string())


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
    jobs: int = typer.Option(2, help="notebooks run side by side once their inputs are ready"),
) -> None:
    """Run the planning notebooks and write the reports, the workbook and index.html.

    Notebook parameters: -p NAME VALUE (repeatable; VALUE is read as YAML, so 0.15 is a
    number and true a flag) and/or -f params.yaml.  Passwords never go in -p: put them in the
    environment (PGPASSWORD, or ${SALESPLAN_DB_PASSWORD} inside the --source URL).
    """
    from salesplan.reports.params import ParameterError
    from salesplan.reports.runner import RunError, run_plan

    params = _params_from_args(list(ctx.args))
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
            downstream=downstream,
        )
    except (RunError, ParameterError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
