"""The `salesplan validate` command: a readable report and exit code 1 on errors."""

from __future__ import annotations

from test_validation import tiny_company
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.data import SalesData, open_source

runner = CliRunner()


def _folder(tmp_path, tables):
    folder = tmp_path / "export"
    open_source(str(folder)).write(SalesData.from_tables(tables))
    return folder


def test_validate_good_folder_prints_summary(tmp_path):
    folder = _folder(tmp_path, tiny_company())
    result = runner.invoke(app, ["validate", str(folder), "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    assert "data check passed" in result.output
    assert "order lines" in result.output and "net revenue" in result.output
    # four lines, one a return of -500: 5000 + 800 + 450 - 500
    assert "5,750" in result.output


def test_validate_broken_folder_exits_1_with_every_error(tmp_path):
    tables = tiny_company()
    tables["orders"].loc[1, "order_id"] = "O1"
    tables["invoices"].loc[0, "due_date"] = "2025-01-01"
    folder = _folder(tmp_path, tables)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1
    assert "data check FAILED: 2 error(s)" in result.output
    assert "orders.order_id (unique)" in result.output
    assert "invoices.due_date (date_order)" in result.output
    assert "Traceback" not in result.output


def test_params_lists_each_parameter_with_its_default_and_meaning():
    from pathlib import Path

    nbs = Path(__file__).resolve().parents[1] / "notebooks"
    result = CliRunner().invoke(app, ["params", "04", "--notebooks-dir", str(nbs)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("04_quarterly_targets\n")
    assert "  growth = 0.10\n" in result.output
    assert "top-down goal over the same quarter" in result.output
    bad = CliRunner().invoke(app, ["params", "4x", "--notebooks-dir", str(nbs)])
    assert bad.exit_code == 1 and "not found" in bad.output


def test_a_mistyped_parameter_gets_a_did_you_mean():
    result = CliRunner().invoke(app, ["run", "-p", "grwth", "0.2"])
    assert result.exit_code == 1
    assert "'grwth' -> did you mean 'growth'?" in result.output
