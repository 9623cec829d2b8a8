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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
