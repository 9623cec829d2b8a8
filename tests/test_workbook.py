"""The plan workbook as a planning model (salesplan.reports.workbook) and --overrides.

- layout, formats, print setup and the override reader, with real openpyxl;
- the formulas evaluated by a real spreadsheet engine: LibreOffice headless recalculates
  the workbook (``soffice --convert-to xlsx`` with a temporary profile that recalculates
  on load) and every total is checked against sums computed here with pandas from the
  plan's tables (``tests/machine.py``: skipped without soffice, failing in CI);
- the round trip: a run writes the workbook, the planner edits an override cell
  (openpyxl), ``run_plan(overrides=...)`` reads it back and the rep, region and company
  quotas change as expected;
- every one of these in English and in Chinese (``report_language = "zh"``: Chinese sheet
  names, headers and labels, regions in the Chinese order, the same formulas), and a
  workbook of one language read back by a run of the other.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from machine import skip_unless_ci
from openpyxl import load_workbook
from openpyxl.formula.translate import Translator
from test_targets import MONTHS, _dist, _toy

from salesplan.planning.targets import QuarterDistribution, TargetParams, propose_targets
from salesplan.reports.i18n import language, translate
from salesplan.reports.workbook import (
    META_SHEET,
    PLAN_COMPANY,
    PLAN_REGIONS,
    PLAN_REPS,
    OverrideError,
    plan_sheet_names,
    read_quota_overrides,
    write_plan_workbook,
)

TESTS = Path(__file__).resolve().parent
FIRST = 5  # first data row of the plan sheets (header on row 4)
# columns of Plan reps / Plan regions (letters as the planner sees them)
REP_COLS = {"rep id": "A", "name": "B", "region": "C", "own forecast": "G", "band low": "H", "band high": "I",
            "proposed quota": "J", "quota override": "K", "quota": "L", "change": "M", "change %": "N",
            "vs own forecast": "O", "overridden": "Q"}


@pytest.fixture(scope="module")
def plan():
    return propose_targets(_toy(), _dist(), TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none"))


ZH_SHEETS = ["公司计划", "大区计划", "销售代表计划"]  # company, regions, reps
ZH_REP_HEADERS = ["代表编号", "姓名", "大区", "层级", "入职日期", "情况", "本人预测", "公平区间下限", "公平区间上限",
                  "建议指标", "指标调整", "指标", "较建议变动", "较建议变动 %", "较本人预测",
                  "指标达成概率（按建议指标）", "已调整"]
ZH_REGION_HEADERS = ["大区", "市场成熟度", "代表人数", "去年同期", "预测", "目标", "建议指标", "指标", "指标较目标",
                     "指标较预测", "目标较去年同期", "已调整指标数", "目标达成概率"]
ZH_REGIONS = {"A": "East", "B": "North"}  # 华东, 华北: alphabetical East, North; the Chinese order 华北, 华东
SHOWN = {"en": {"A": "A", "B": "B"}, "zh": {"A": "华东", "B": "华北"}}  # region names as the plan sheets show them


def _tables(plan, lang: str) -> dict:
    """The plan's tables as a run in ``lang`` writes them (zh: the toy's regions renamed
    East and North, currency CNY, so region names and the unit are Chinese on the sheets)."""
    tables = dict(plan.tables())
    if lang == "zh":
        for key in ("regions", "reps"):
            tables[key] = tables[key].assign(region=tables[key]["region"].map(ZH_REGIONS))
        tables["company"] = tables["company"].assign(currency="CNY")
    return tables


def _write(plan, path: Path, lang: str) -> Path:
    with language(lang):
        return Path(write_plan_workbook(_tables(plan, lang), path))


def _rows(ws, first=FIRST):
    """{rep id or region: row number} of a plan sheet."""
    return {ws[f"A{k}"].value: k for k in range(first, ws.max_row + 1) if ws[f"A{k}"].value is not None}


# --------------------------------------------------------------------------- layout


def test_plan_sheets_first_formatted_with_names_formulas_and_print_setup(plan, tmp_path):
    path = write_plan_workbook(plan.tables(), tmp_path / "plan.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames[:3] == [PLAN_COMPANY, PLAN_REGIONS, PLAN_REPS]
    assert wb.sheetnames[3:7] == ["Company", "Bridge", "Regions", "Reps"]  # raw tables after
    assert wb.sheetnames[-1] == META_SHEET and wb[META_SHEET].sheet_state == "hidden"
    reps = wb[PLAN_REPS]
    assert [c.value for c in reps[4]][:12] == ["rep id", "name", "region", "level", "hire date", "situation",
                                               "own forecast", "band low", "band high", "proposed quota",
                                               "quota override", "quota"]
    rows = _rows(reps)
    assert set(rows) == set(plan.reps["rep_id"])
    k = rows["r1"]
    assert reps[f"B{k}"].value == "Ann" and reps[f"C{k}"].value == "A"  # names beside ids
    assert reps[f"J{k}"].value == plan.reps.set_index("rep_id").loc["r1", "quota"]
    assert reps[f"K{k}"].value is None and reps[f"K{k}"].fill.fgColor.rgb.endswith("FFF2CC")
    assert reps[f"L{k}"].value == f"=IF(ISNUMBER(K{k}),K{k},J{k})"
    assert reps[f"J{k}"].number_format == "#,##0" and reps[f"N{k}"].number_format == "0.0%"
    assert reps[f"E{k}"].number_format == "yyyy-mm-dd"
    regions = wb[PLAN_REGIONS]
    ra = _rows(regions)["A"]
    last = max(rows.values())
    assert regions[f"H{ra}"].value == f"=SUMIF('{PLAN_REPS}'!$C${FIRST}:$C${last},$A{ra},'{PLAN_REPS}'!$L${FIRST}:$L${last})"
    total = _rows(regions)["Total"]
    assert regions[f"H{total}"].value == f"=SUM(H{FIRST}:H{total - 1})"
    company = wb[PLAN_COMPANY]
    labels = {company[f"A{k}"].value: k for k in range(FIRST, company.max_row + 1)}
    assert company[f"B{labels['sum of quotas']}"].value == f"=SUM('{PLAN_REGIONS}'!H{FIRST}:H{total - 1})"
    for ws in (company, regions, reps, wb["Reps"]):
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert reps.print_title_rows == "$4:$4" and wb["Reps"].print_title_rows == "$1:$1"
    rules = {str(r.sqref): [x.formula[0] for x in r.rules] for r in reps.conditional_formatting}
    assert rules[f"L{FIRST}:L{last}"] == [f"AND(ISNUMBER($H{FIRST}),ISNUMBER($I{FIRST}),"  # one unit of slack
                                          f"OR($L{FIRST}<$H{FIRST}-100.0,$L{FIRST}>$I{FIRST}+100.0))"]
    assert rules[f"N{FIRST}:N{last}"] == [f"AND(ISNUMBER($N{FIRST}),ABS($N{FIRST})>0.15)"]
    (dv,) = reps.data_validations.dataValidation  # Excel refuses text or a negative override as it is typed
    assert (str(dv.sqref), dv.type, dv.operator, dv.formula1) == (f"K{FIRST}:K{last}", "decimal",
                                                                   "greaterThanOrEqual", "0")
    reg_rules = {str(r.sqref) for r in regions.conditional_formatting}
    assert reg_rules == {f"I{FIRST}:J{total}"}
    # raw sheets: amounts #,##0, shares 0.0%, ratios 0.00
    raw = wb["Reps"]
    head = {c.value: c.column_letter for c in raw[1]}
    assert raw[f"{head['quota']}2"].number_format == "#,##0"
    assert raw[f"{head['p_attain_quota']}2"].number_format == "0.0%"
    assert raw[f"{head['quota_vs_own_forecast']}2"].number_format == "0.00"


_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_zh_plan_sheets_are_chinese_with_the_same_formulas_and_numbers(plan, tmp_path):
    zh = load_workbook(_write(plan, tmp_path / "zh.xlsx", "zh"))
    en = load_workbook(_write(plan, tmp_path / "en.xlsx", "en"))
    assert zh.sheetnames[:3] == ZH_SHEETS == list(plan_sheet_names("zh"))[::-1]
    assert zh.sheetnames[3:7] == ["公司", "目标桥", "大区", "代表"]  # raw tables after, translated as before
    assert zh[META_SHEET].sheet_state == "hidden"
    company, regions, reps = (zh[n] for n in ZH_SHEETS)
    assert reps["A1"].value == "2027年第1季度销售代表指标（单位：元）"
    assert regions["A1"].value == "2027年第1季度大区目标与指标（单位：元）"
    assert company["A1"].value == "2027年第1季度公司计划（单位：元）"
    assert "「指标调整」" in reps["A2"].value and "15%" in reps["A2"].value
    assert [c.value for c in reps[4]] == ZH_REP_HEADERS
    assert [c.value for c in regions[4]] == ZH_REGION_HEADERS
    assert [c.value for c in company[4]] == ["项目", "数值", "口径说明"]
    # regions in the Chinese order (华北 before 华东), the reps grouped the same way
    assert [regions[f"A{k}"].value for k in (FIRST, FIRST + 1, FIRST + 2)] == ["华北", "华东", "合计"]
    rep_regions = [reps[f"C{k}"].value for k in range(FIRST, reps.max_row + 1)]
    assert rep_regions == ["华北"] * 3 + ["华东"] * 4  # B (North): r4, r5, VACANT:r4; A (East): 4 slots
    # every text a planner reads is Chinese: all but ids, people's names, formulas and the command line
    for ws in (company, regions, reps):
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if not isinstance(v, str) or v.startswith("=") or (ws is reps and c.column in (1, 2) and c.row > 4):
                    continue
                assert _CJK.search(v), f"{ws.title}!{c.coordinate}: {v!r} is not Chinese"
    assert reps[f"B{_rows(reps)['VACANT:r3']}"].value == "空缺（原为 Cy）"
    labels = {company[f"A{k}"].value: k for k in range(FIRST, company.max_row + 1)}
    assert company[f"B{labels['季度']}"].value == "2027年第1季度"
    assert company[f"B{labels['目标设定方法']}"].value == "在去年同季度基础上增长"
    # numbers stay numbers, same formats; formulas are the English ones with the Chinese sheet names
    names = dict(zip(["Plan company", "Plan regions", "Plan reps"], ZH_SHEETS))
    for sheet_en, sheet_zh in names.items():
        e, z = en[sheet_en], zh[sheet_zh]
        rows_e, rows_z = _rows(e), _rows(z)
        for key_en, k_e in rows_e.items():
            key_zh = {"A": "华东", "B": "华北", "Total": "合计"}.get(key_en, key_en)
            if sheet_en == "Plan company":
                key_zh, k_z = None, k_e  # same rows, labels translated
            else:
                k_z = rows_z[key_zh]
            for j in range(2 if sheet_en == "Plan company" else 3, e.max_column + 1):
                ve, vz, ce = e.cell(k_e, j).value, z.cell(k_z, j).value, e.cell(k_e, j)
                if isinstance(ve, str) and ve.startswith("="):
                    expected = ve
                    for a, b in names.items():
                        expected = expected.replace(f"'{a}'", f"'{b}'")
                    expected = Translator(expected, origin=f"A{k_e}").translate_formula(f"A{k_z}")  # row moved
                    assert vz == expected.replace('"yes"', '"是"'), (sheet_zh, k_z, j)
                elif isinstance(ve, (int, float)) and not isinstance(ve, bool):
                    assert vz == ve and isinstance(vz, (int, float)), (sheet_zh, k_z, j)
                    assert z.cell(k_z, j).number_format == ce.number_format
    r5 = _rows(reps)["r5"]
    assert reps[f"J{r5}"].number_format == "#,##0" and reps[f"N{r5}"].number_format == "0.0%"
    assert reps[f"D{r5}"].value == "大客户经理" and reps[f"D{_rows(reps)['r2']}"].value == "初级"
    assert reps[f"F{_rows(reps)['r2']}"].value == "计划入职、爬坡期"
    assert reps.print_title_rows == "$4:$4" and reps.page_setup.orientation == "landscape"
    meta = dict(zh[META_SHEET].iter_rows(min_row=2, max_col=2, values_only=True))
    assert meta["language"] == "zh" and meta["period"] == "2027Q1"


# --------------------------------------------------------------------------- reading overrides


def _edit(path: Path, cells: dict[str, object], sheet: str = PLAN_REPS) -> Path:
    wb = load_workbook(path)
    for ref, v in cells.items():
        wb[sheet][ref] = v
    wb.save(path)
    return path


def test_read_quota_overrides_takes_the_filled_cells(plan, tmp_path):
    path = write_plan_workbook(plan.tables(), tmp_path / "plan.xlsx")
    assert read_quota_overrides(path) == {}
    rows = _rows(load_workbook(path)[PLAN_REPS])
    _edit(path, {f"K{rows['r1']}": 90000, f"K{rows['r5']}": 41234.5, f"K{rows['r2']}": "  "})
    assert read_quota_overrides(path, period="2027Q1") == {"r1": 90000.0, "r5": 41234.5}


@pytest.mark.parametrize(("edit", "message"), ids=["unknown-id", "text", "negative", "formula", "twice", "no-id"],
                         argvalues=[
    ({"A{r1}": "R9999", "K{r1}": 5000},
     r"plan\.xlsx: sheet 'Plan reps', row {r1}, column A \(rep id, overridden in column K\): unknown rep id "
     r"'R9999'; expected one of the plan's 7 rep ids \(e\.g\. r1, r2, r3\)"),
    ({"K{r1}": "lots"}, r"row {r1}, column K \(quota override\): 'lots' is not a number; expected an amount >= 0"),
    ({"K{r1}": -100}, r"row {r1}, column K \(quota override\): -100 for r1; expected a finite amount >= 0"),
    ({"K{r1}": "=J{r1}*1.1"}, r"row {r1}, column K \(quota override\): formula =J{r1}\*1\.1 has no computed value"),
    ({"A{r5}": "r1", "K{r1}": 1, "K{r5}": 2}, r"row {r5}, column K .*'r1' overridden twice"),
    ({"A{r1}": None, "K{r1}": 1}, r"row {r1}, column A \(rep id, overridden in column K\): no rep id; expected"),
])
def test_bad_overrides_name_sheet_row_column_and_expected(plan, tmp_path, edit, message):
    path = write_plan_workbook(plan.tables(), tmp_path / "plan.xlsx")
    rows = _rows(load_workbook(path)[PLAN_REPS])
    at = {"r1": rows["r1"], "r5": rows["r5"]}
    if "A{r5}" in edit:  # r5 sits below r1: the second row is the duplicate
        assert at["r5"] > at["r1"]
    _edit(path, {k.format(**at): (v.format(**at) if isinstance(v, str) else v) for k, v in edit.items()})
    with pytest.raises(OverrideError, match=message.format(**at)) as e:
        read_quota_overrides(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("written", "read"), [("zh", "zh"), ("zh", "en"), ("en", "zh")])
def test_overrides_are_read_from_a_workbook_of_either_language(plan, tmp_path, written, read):
    path = _write(plan, tmp_path / "plan.xlsx", written)
    sheet = "销售代表计划" if written == "zh" else PLAN_REPS
    rows = _rows(load_workbook(path)[sheet])
    _edit(path, {f"K{rows['r1']}": 90000, f"K{rows['VACANT:r4']}": 12345.5}, sheet=sheet)
    with language(read):  # the run reading it may be in the other language
        assert read_quota_overrides(path, period="2027Q1") == {"r1": 90000.0, "VACANT:r4": 12345.5}


@pytest.mark.parametrize(("edit", "message"), ids=["unknown-id", "text", "negative"], argvalues=[
    ({"A{r1}": "R9999", "K{r1}": 5000},
     r"plan\.xlsx: sheet '销售代表计划', row {r1}, column A \(代表编号, overridden in column K\): unknown rep id "
     r"'R9999'; expected one of the plan's 7 rep ids"),
    ({"K{r1}": "很多"}, r"plan\.xlsx: sheet '销售代表计划', row {r1}, column K \(指标调整\): '很多' is not a number; "
                       r"expected an amount >= 0 \(CNY per quarter\) or an empty cell$"),
    ({"K{r1}": -100}, r"row {r1}, column K \(指标调整\): -100 for r1; expected a finite amount >= 0"),
])
def test_bad_overrides_in_a_chinese_workbook_name_its_sheet_and_column(plan, tmp_path, edit, message):
    path = _write(plan, tmp_path / "plan.xlsx", "zh")
    at = {"r1": _rows(load_workbook(path)["销售代表计划"])["r1"]}
    _edit(path, {k.format(**at): v for k, v in edit.items()}, sheet="销售代表计划")
    with pytest.raises(OverrideError, match=message.format(**at)) as e:
        read_quota_overrides(path)
    assert "\n" not in str(e.value)


def test_a_plan_sheet_without_its_override_column_is_refused_in_one_line(plan, tmp_path):
    path = _write(plan, tmp_path / "plan.xlsx", "zh")
    _edit(path, {"K4": "备注"}, sheet="销售代表计划")  # the planner renamed the override column
    with pytest.raises(OverrideError, match=r"^plan\.xlsx: sheet '销售代表计划' has no header row with 'rep id'/'代表编号' "
                                            r"and 'quota override'/'指标调整' in its first 12 rows; expected the sheet "
                                            r"as salesplan wrote it$"):
        read_quota_overrides(path)


def test_workbook_of_another_period_or_without_plan_sheet_is_refused(plan, tmp_path):
    path = write_plan_workbook(plan.tables(), tmp_path / "plan.xlsx")
    with pytest.raises(OverrideError, match=r"period 2027Q1, this run plans 2027Q2; expected the workbook of 2027Q2"):
        read_quota_overrides(path, period="2027Q2")
    other = write_plan_workbook({"company": plan.company}, tmp_path / "company.xlsx")
    with pytest.raises(OverrideError, match=r"company\.xlsx: no sheet 'Plan reps' or '销售代表计划'; expected"):
        read_quota_overrides(other)
    with pytest.raises(OverrideError, match="no such file"):
        read_quota_overrides(tmp_path / "missing.xlsx")


# --------------------------------------------------------------------------- LibreOffice

_RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


def recalculated(paths: list[Path], work: Path, fmt: str = "xlsx") -> list[Path]:
    """Open each workbook in LibreOffice headless, recalculate every formula on load and
    save it as ``fmt`` (xlsx with the computed values, or html with the conditional
    formats applied) under ``work/out``; return the new paths."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        skip_unless_ci("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    profile = work / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_RECALC_ALWAYS, "utf-8")
    out = work / "out"
    proc = subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                           "--convert-to", fmt, "--outdir", str(out), *map(str, paths)],
                          capture_output=True, text=True, timeout=180)
    done = [out / p.with_suffix(f".{fmt}").name for p in paths]
    missing = [p.name for p in done if not p.exists()]
    assert not missing, f"soffice wrote no {missing}: {proc.stdout[-500:]} {proc.stderr[-500:]}"
    return done


def _values(path: Path):
    wb = load_workbook(path, data_only=True)
    for ws in wb.worksheets:  # no formula may end in an error (#NAME?, #REF!, #VALUE!, ...)
        bad = [c.coordinate for row in ws.iter_rows() for c in row if isinstance(c.value, str)
               and c.value.startswith("#") and c.value.endswith(("?", "!", "A"))]
        assert not bad, f"{ws.title}: errors in {bad[:5]}"
    return wb


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_libreoffice_evaluates_the_plan_totals_with_and_without_overrides(plan, tmp_path, lang):
    plain = _write(plan, tmp_path / "plain.xlsx", lang)
    edited = Path(shutil.copy(plain, tmp_path / "edited.xlsx"))
    s_reps, s_regions, s_company = [PLAN_REPS, PLAN_REGIONS, PLAN_COMPANY] if lang == "en" else ZH_SHEETS[::-1]
    shown = SHOWN[lang]  # region name on the sheets
    rows = _rows(load_workbook(plain)[s_reps])
    reps = plan.reps.set_index("rep_id")
    # r5 down by more than 15%, r1 up; r3 by a formula (proposal + 1,000)
    overrides = {"r1": 90000.0, "r5": 20000.0, "r3": reps.loc["r3", "quota"] + 1000}
    _edit(edited, {f"K{rows['r1']}": 90000, f"K{rows['r5']}": 20000, f"K{rows['r3']}": f"=J{rows['r3']}+1000"},
          sheet=s_reps)
    with pytest.raises(OverrideError, match="has no computed value"):  # openpyxl saves no values
        read_quota_overrides(edited)
    out_plain, out_edited = recalculated([Path(plain), edited], tmp_path)
    # saved by LibreOffice, the formula's value is the override
    assert read_quota_overrides(out_edited, period="2027Q1") == overrides
    assert read_quota_overrides(out_plain) == {}

    for out, over in ((out_plain, {}), (out_edited, overrides)):
        wb = _values(out)
        # expected, computed here: effective quota per rep, summed by region and company
        quota = reps["quota"].copy()
        for r, v in over.items():
            quota[r] = v
        by_region = quota.groupby(reps["region"]).sum()
        rep_ws, reg_ws, comp_ws = wb[s_reps], wb[s_regions], wb[s_company]
        for rid, k in _rows(rep_ws).items():
            assert rep_ws[f"L{k}"].value == pytest.approx(quota[rid], abs=1e-6), rid
            assert rep_ws[f"M{k}"].value == pytest.approx(quota[rid] - reps.loc[rid, "quota"], abs=1e-6)
            assert (rep_ws[f"Q{k}"].value == translate("yes", lang)) == (rid in over)
        reg_rows = _rows(reg_ws)
        targets = plan.regions.set_index("region")["target"]
        for region, total in by_region.items():
            k = reg_rows[shown[region]]
            assert reg_ws[f"H{k}"].value == pytest.approx(total, abs=1e-6), region
            assert reg_ws[f"G{k}"].value == pytest.approx(reps.groupby("region")["quota"].sum()[region], abs=1e-6)
            assert reg_ws[f"I{k}"].value == pytest.approx(total / targets[region] - 1, rel=1e-9)
            n_over = sum(reps.loc[r, "region"] == region for r in over)
            assert reg_ws[f"L{k}"].value == n_over
        t = reg_rows[translate("Total", lang)]
        assert reg_ws[f"H{t}"].value == pytest.approx(quota.sum(), abs=1e-6)
        assert reg_ws[f"F{t}"].value == pytest.approx(plan.regions["target"].sum(), abs=1e-6)
        labels = {comp_ws[f"A{k}"].value: k for k in range(FIRST, comp_ws.max_row + 1)}
        value = {lab: comp_ws[f"B{k}"].value for lab, k in labels.items()}
        label = {"en": lambda x: x, "zh": lambda x: {
            "sum of quotas": "指标合计", "proposed sum of quotas": "建议指标合计",
            "sum of the regions' targets": "各大区目标合计", "over-assignment": "超额分配",
            "rep quotas overridden": "已调整的代表指标数"}[x]}[lang]
        target = plan.company.iloc[0]["target"]
        assert value[label("sum of quotas")] == pytest.approx(quota.sum(), abs=1e-6)
        assert value[label("proposed sum of quotas")] == pytest.approx(plan.company.iloc[0]["quota"], abs=1e-6)
        assert value[label("sum of the regions' targets")] == pytest.approx(target, abs=1e-6)
        assert value[label("over-assignment")] == pytest.approx(quota.sum() / target, rel=1e-9)
        assert value[label("rep quotas overridden")] == len(over)
    # without overrides the formulas reproduce the plan's own region and company quotas
    wb = _values(out_plain)
    reg_rows = _rows(wb[s_regions])
    for region, q in plan.regions.set_index("region")["quota"].items():
        assert wb[s_regions][f"H{reg_rows[shown[region]]}"].value == pytest.approx(q, abs=1e-6)


class _Cells(HTMLParser):
    """Rows of the tables of LibreOffice's HTML export: (text, background colour) per cell."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag == "td" and self.tables and self.tables[-1]:
            self._cell = ["", (dict(attrs).get("bgcolor") or "").upper()]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.tables[-1][-1].append((self._cell[0].strip(), self._cell[1]))
            self._cell = None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_libreoffice_shades_a_quota_outside_its_band_and_a_change_beyond_15_percent(tmp_path, lang):
    # own forecasts for r1 and r5: established reps with a fairness band (0.8-1.5 x own forecast)
    rng = np.random.default_rng(3)
    regs = {"A": rng.normal(150_000, 15_000, (2000, 1)) * np.full((1, 3), 1 / 3),
            "B": rng.normal(90_000, 12_000, (2000, 1)) * np.full((1, 3), 1 / 3)}
    dist = QuarterDistribution.from_arrays(MONTHS, regions=regs, reps={"r1": regs["A"] * 0.6, "r5": regs["B"] * 0.5})
    plan = propose_targets(_toy(), dist, TargetParams(quarter="2027Q1", growth=0.05, pipeline_rule="none"))
    reps = plan.reps.set_index("rep_id")
    assert reps.loc[["r1", "r5"], "in_band"].all()
    path = _write(plan, tmp_path / "plan.xlsx", lang)
    sheet = {"en": PLAN_REPS, "zh": "销售代表计划"}[lang]
    rows = _rows(load_workbook(path)[sheet])
    r1_over = float(np.ceil(reps.loc["r1", "band_max"] / 100) * 100 + 500)  # above the band, > 15% up
    r5_over = reps.loc["r5", "quota"] * 1.10  # inside the band, +10%: no shading
    assert r1_over / reps.loc["r1", "quota"] - 1 > 0.15
    assert reps.loc["r5", "band_min"] <= r5_over <= reps.loc["r5", "band_max"]
    _edit(path, {f"K{rows['r1']}": r1_over, f"K{rows['r5']}": r5_over}, sheet=sheet)
    (html,) = recalculated([Path(path)], tmp_path, fmt="html")
    parser = _Cells()
    parser.feed(html.read_text("utf-8", errors="replace"))
    rep_id, quota, change = {"en": ("rep id", "quota", "change vs proposal %"),
                             "zh": ("代表编号", "指标", "较建议变动 %")}[lang]
    table = next(t for t in parser.tables if any(r and r[0][0] == rep_id for r in t))
    head = [text for text, _ in next(r for r in table if r and r[0][0] == rep_id)]
    shade = {r[0][0]: {h: bg for h, (_, bg) in zip(head, r)} for r in table if r and r[0][0] in reps.index}
    orange, red = "#F8CBAD", "#FFC7CE"
    assert shade["r1"][quota] == orange and shade["r1"][change] == red
    assert shade["r5"][quota] not in (orange, red) and shade["r5"][change] not in (orange, red)
    for rid in set(reps.index) - {"r1", "r5"}:  # untouched reps: nothing shaded
        assert shade[rid][quota] != orange and shade[rid][change] != red, rid


# --------------------------------------------------------------------------- round trip


def _targets_notebook(folder: Path) -> Path:
    """A small targets notebook: the real propose_targets on the toy company of
    tests/test_targets.py, with the quota_overrides parameter, publishing what 04 publishes."""
    from test_runner import make_notebook

    body = [
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from test_targets import _dist, _toy\n"
        "from salesplan.reports import publish_tables\n"
        "from salesplan.planning.targets import TargetParams, propose_targets\n"
        "plan = propose_targets(_toy(), _dist(), TargetParams(quarter=period, growth=0.05, pipeline_rule='none'),\n"
        "                       quota_overrides=quota_overrides)\n"
        "publish_tables({'company': plan.company, 'region': plan.regions, 'rep': plan.reps})"
    ]
    return make_notebook(folder / "04_targets.ipynb", body, title="Targets",
                         params="quota_overrides = None  # dict rep id -> float: the planner's quotas\n")


@pytest.mark.parametrize(("first_lang", "second_lang"), [("en", "en"), ("zh", "zh"), ("zh", "en")])
def test_overrides_round_trip_through_the_run(tmp_path, first_lang, second_lang):
    from test_runner import needs_kernel

    from salesplan.reports.runner import run_plan

    if needs_kernel.args[0]:
        pytest.skip("no Jupyter kernel installed")
    nbs, out = tmp_path / "notebooks", tmp_path / "reports"
    _targets_notebook(nbs)
    sheet = {"en": PLAN_REPS, "zh": "销售代表计划"}
    first = run_plan(notebooks=nbs, out_dir=out, echo=lambda _: None, timeout=120,
                     params={"report_language": first_lang})
    base = pd.read_parquet(first.run_dir / "tables" / "04_targets" / "rep.parquet").set_index("rep_id")
    base_reg = pd.read_parquet(first.run_dir / "tables" / "04_targets" / "region.parquet").set_index("region")

    edited = Path(shutil.copy(first.workbook, tmp_path / "plan.xlsx"))
    rows = _rows(load_workbook(edited)[sheet[first_lang]])
    _edit(edited, {f"K{rows['r1']}": 90049}, sheet=sheet[first_lang])  # rounded to the unit of 100 by the plan
    second = run_plan(notebooks=nbs, out_dir=out, echo=lambda _: None, timeout=120, overrides=edited,
                      params={"report_language": second_lang})
    assert second.notebooks[0].parameters["quota_overrides"] == {"r1": 90049.0}
    reps = pd.read_parquet(second.run_dir / "tables" / "04_targets" / "rep.parquet").set_index("rep_id")
    reg = pd.read_parquet(second.run_dir / "tables" / "04_targets" / "region.parquet").set_index("region")
    assert reps.loc["r1", "quota"] == 90000 and reps.loc["r1", "overridden"]
    assert reps.loc["r1", "quota_proposed"] == base.loc["r1", "quota"]
    others = reps.index != "r1"
    assert (reps.loc[others, "quota"] == base.loc[others, "quota"]).all() and not reps.loc[others, "overridden"].any()
    assert reg.loc["A", "quota"] == base_reg.loc["A", "quota"] + 90000 - base.loc["r1", "quota"]
    assert reg.loc["B", "quota"] == base_reg.loc["B", "quota"]
    # the new workbook carries the override forward: proposal beside it, override in its column
    ws = load_workbook(second.workbook)[sheet[second_lang]]
    k = _rows(ws)["r1"]
    assert ws[f"J{k}"].value == base.loc["r1", "quota"] and ws[f"K{k}"].value == 90000
    assert ws[f"Q{k}"].value == f'=IF(ISNUMBER(K{k}),"{translate("yes", second_lang)}","")'  # marked overridden
    assert read_quota_overrides(second.workbook, period="2027Q1") == {"r1": 90000.0}


def test_overrides_need_a_notebook_that_reads_them(plan, tmp_path):
    from test_runner import make_notebook

    from salesplan.reports import ParameterError
    from salesplan.reports.runner import run_plan

    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "05_allocation.ipynb", ["print(1)"])
    path = write_plan_workbook(plan.tables(), tmp_path / "plan.xlsx")
    with pytest.raises(ParameterError, match=r"--overrides .*plan\.xlsx: none of the notebooks run \(05_allocation\) "
                                             r"declares quota_overrides; expected a run that includes the targets"):
        run_plan(notebooks=nbs, out_dir=tmp_path / "r", echo=lambda _: None, overrides=path)


def test_cli_refuses_a_bad_override_before_running(plan, tmp_path):
    from typer.testing import CliRunner

    from salesplan.cli import app

    nbs = tmp_path / "notebooks"
    _targets_notebook(nbs)
    path = write_plan_workbook(plan.tables(), tmp_path / "plan.xlsx")
    k = _rows(load_workbook(path)[PLAN_REPS])["r1"]
    _edit(path, {f"K{k}": "1O000"})
    res = CliRunner().invoke(app, ["run", "--notebooks-dir", str(nbs), "--out", str(tmp_path / "r"),
                                   "--overrides", str(path)])
    assert res.exit_code == 1
    err = res.output.strip().splitlines()[-1]
    assert err == (f"error: --overrides: plan.xlsx: sheet 'Plan reps', row {k}, column K (quota override): "
                   "'1O000' is not a number; expected an amount >= 0 (company currency per quarter) "
                   "or an empty cell")
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("2027Q1-*"))


def _published(folder: Path, tables: dict) -> Path:
    """``tables`` as a notebook publishes them (``<name>.parquet`` and ``tables.json``)."""
    import json

    folder.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet")
    (folder / "tables.json").write_text(json.dumps([{"name": n, "file": f"{n}.parquet"} for n in tables]), "utf-8")
    return folder


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_run_workbook_without_rep_quotas_says_so_on_sheet_run(plan, tmp_path, lang):
    from types import SimpleNamespace

    from salesplan.reports.runner import _write_workbook

    tables = {"company": plan.company, "region": plan.regions, "rep": plan.reps.iloc[0:0]}
    _published(tmp_path / "tables" / "04_targets", tables)
    result = SimpleNamespace(name="04_targets", title="Targets", headlines=None)
    with language(lang):
        _write_workbook(tmp_path / "plan.xlsx", run_info={"run id": "2027Q1-x", "period": "2027Q1",
                                                          "parameter growth": "0.05"},
                        results=[result], tables_dir=tmp_path / "tables")
    wb = load_workbook(tmp_path / "plan.xlsx")
    run = {"en": "Run", "zh": "运行信息"}[lang]
    rows = {r[0]: r[1] for r in wb[run].iter_rows(min_row=2, values_only=True)}
    assert not set(wb.sheetnames) & {PLAN_REPS, "销售代表计划"}
    if lang == "en":
        assert "04 region" in wb.sheetnames
        assert rows == {"run id": "2027Q1-x", "period": "2027Q1", "parameter growth": "0.05",
                        "plan sheets": "not written: the plan has no rep quotas (the data have no reps table); "
                                       "the region targets are on sheet '04 region'"}
    else:
        assert "04 大区" in wb.sheetnames
        assert rows == {"运行编号": "2027Q1-x", "期间": "2027Q1", "参数 growth": "0.05",  # the name as typed
                        "计划工作表": "未生成：计划中没有销售代表指标（数据中没有销售代表表）；大区目标见工作表「04 大区」"}


def _cells(path) -> list:
    """Every sheet of a workbook as (title, state, tab colour, freeze, print titles, widths,
    conditional formats (range, formulas, fill), data validations (range, type, formula),
    [(coordinate, value, number format, bold, fill)]), and the active sheet."""
    wb = load_workbook(path)
    return [(ws.title, ws.sheet_state, ws.sheet_properties.tabColor and ws.sheet_properties.tabColor.rgb,
             ws.freeze_panes, ws.print_title_rows, {k: d.width for k, d in ws.column_dimensions.items()},
             [(str(cf.sqref), [(r.formula, r.dxf.fill.fgColor.rgb if r.dxf and r.dxf.fill else None)
                               for r in cf.rules]) for cf in ws.conditional_formatting],
             [(str(dv.sqref), dv.type, dv.formula1) for dv in ws.data_validations.dataValidation],
             [(c.coordinate, c.value, c.number_format, c.font.b, c.fill.fgColor.rgb)
              for row in ws.iter_rows() for c in row])
            for ws in wb.worksheets] + [wb.active.title]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_run_workbook_built_as_notebooks_end_equals_one_built_in_one_go(plan, tmp_path, lang, monkeypatch):
    """The runner adds a notebook's sheets when it ends (in any order; a carried-over
    notebook's first) and, given the run's id and period, builds the plan sheets when the
    targets notebook is added: the file holds what the workbook built in one go holds."""
    from types import SimpleNamespace

    from salesplan.reports import workbook as wbm
    from salesplan.reports.runner import _published_tables, _write_workbook
    from salesplan.reports.workbook import RunWorkbook

    built, add_plan_sheets = [], wbm.add_plan_sheets  # every time the plan sheets are built
    monkeypatch.setattr(wbm, "add_plan_sheets", lambda *a, **k: (built.append(1), add_plan_sheets(*a, **k))[1])

    _published(tmp_path / "tables" / "01_health", {"coverage": pd.DataFrame({"table": ["orders"], "share": [0.5]}),
                                                   "facts": pd.DataFrame({"fact": ["a", "b"], "value": [1.0, 2.5]})})
    _published(tmp_path / "tables" / "04_targets", {"company": plan.company, "region": plan.regions,
                                                    "rep": plan.reps, "assumptions": plan.assumptions})
    results = [SimpleNamespace(name="01_health", title="Health", headlines=None),
               SimpleNamespace(name="04_targets", title="Targets",
                               headlines={"figures": [{"label": "Target", "display": "1,000", "value": 1000.0}]}),
               SimpleNamespace(name="05_none", title="Nothing published", headlines=None)]
    info = {"run id": "2027Q1-x", "period": "2027Q1", "parameter growth": "0.05"}
    with language(lang):
        _write_workbook(tmp_path / "one-go.xlsx", run_info=info, results=results, tables_dir=tmp_path / "tables")
        ahead = RunWorkbook()
        ahead.add_notebook("04_targets", _published_tables(tmp_path / "tables", "04_targets"), 1)  # ended first
        _write_workbook(tmp_path / "ahead.xlsx", run_info=info, results=results, tables_dir=tmp_path / "tables",
                        built=ahead)  # 01 (and 05: no tables) added at the end
        for n, run_id in enumerate(("2027Q1-x", "2027Q1-other")):  # the plan sheets built when 04 is added
            plan_ahead = RunWorkbook(run_id=run_id, period="2027Q1")  # another run id: built again at the end
            plan_ahead.add_notebook("01_health", _published_tables(tmp_path / "tables", "01_health"), 0)
            built.clear()
            plan_ahead.add_notebook("04_targets", _published_tables(tmp_path / "tables", "04_targets"), 1)
            assert len(built) == 1
            _write_workbook(tmp_path / f"plan-ahead-{n}.xlsx", run_info=info, results=results,
                            tables_dir=tmp_path / "tables", built=plan_ahead)
            assert len(built) == 1 + n  # kept, or built again in one go for the other run id
        misplaced = RunWorkbook()  # added at the wrong place: built in one go instead
        misplaced.add_notebook("01_health", _published_tables(tmp_path / "tables", "01_health"), 2)
        _write_workbook(tmp_path / "misplaced.xlsx", run_info=info, results=results, tables_dir=tmp_path / "tables",
                        built=misplaced)
    one_go = _cells(tmp_path / "one-go.xlsx")
    assert {s[0] for s in one_go[:3]} == set(plan_sheet_names(lang))  # the plan sheets lead
    assert one_go[-2][:2] == (META_SHEET, "hidden")  # the active sheet's title last
    assert _cells(tmp_path / "ahead.xlsx") == one_go
    assert _cells(tmp_path / "misplaced.xlsx") == one_go
    assert _cells(tmp_path / "plan-ahead-0.xlsx") == one_go
    assert _cells(tmp_path / "plan-ahead-1.xlsx") == one_go
    meta = load_workbook(tmp_path / "plan-ahead-0.xlsx")[META_SHEET]
    assert ("run_id", "2027Q1-x") in list(meta.iter_rows(min_row=2, max_row=7, values_only=True))
    assert one_go[2][6] and one_go[2][7]  # the rep sheet's conditional formats and validation compared
    for name in ("ahead", "plan-ahead-0"):  # the members deflated ahead: CRC-32 and sizes right
        with zipfile.ZipFile(tmp_path / f"{name}.xlsx") as z:
            assert z.testzip() is None
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())


def _customers(rows: int) -> pd.DataFrame:
    """A raw table with every kind of column a notebook publishes (``rows`` rows)."""
    rng = np.random.default_rng(3)
    amounts = rng.normal(1e4, 3e3, rows)
    amounts[::5] = np.nan
    amounts[1::9] = np.inf
    amounts[2::9] = -np.inf
    texts = [" lead", "trail ", "   ", "", "a<b & c>d \"q\" 'x'", "line\nbreak\ttab\r", "中文 é", "a = b"]
    return pd.DataFrame({
        "customer_id": pd.Series([f"C{i}" if i % 4 else None for i in range(rows)], dtype="str"),
        "revenue": amounts,
        "orders": rng.integers(0, 50, rows),
        "big_id": rng.integers(0, 2**62, rows, dtype=np.int64),
        "p_churn": rng.random(rows),
        "active": rng.random(rows) > 0.5,
        "last_order": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300, rows), unit="D"),
        "first_seen": pd.Series([pd.NaT if i < 6 else pd.Timestamp("2025-03-04 05:06:07.5", tz="UTC")
                                 for i in range(rows)], dtype="datetime64[ns, UTC]"),  # dates after chunk 1
        "visits": pd.array([None if i % 3 == 0 else i for i in range(rows)], dtype="Int64"),
        "share_x": pd.array([None if i % 4 == 0 else i / 7 for i in range(rows)], dtype="Float64"),
        "segment": pd.Categorical([["A", "B & C", None][i % 3] for i in range(rows)]),
        "region": pd.Series([["East ", "<West>", None][i % 3] for i in range(rows)], dtype="string[pyarrow]"),
        "flag": pd.Series([[True, None, False][i % 3] for i in range(rows)], dtype=object),
        "text": [texts[i % len(texts)] for i in range(rows)],
        "blank": [None] * rows,  # a row of nothing but empty cells in text columns
        "note": [["a", i] if i % 6 == 0 else f"n{i}" for i in range(rows)],
        "plan": pd.Series([1.5e300, 1e-300, 123456789012.25, -0.0] * (rows // 4) + [7.0] * (rows % 4)),
    }, index=pd.Index([f"k{i}" for i in range(rows)], name="key"))


def _odd(rows: int) -> pd.DataFrame:
    """Values openpyxl gives another type or a style of its own: a formula-like text, an
    error code, dates and times in a text column (one in 10 rows: a chunk holding one is
    written by openpyxl's cells, the others as text)."""
    import datetime as dt

    odd = ["=SUM(A1:A2)", "#N/A", dt.date(2026, 5, 1), dt.time(7, 30), dt.datetime(2026, 5, 1, 8)]
    return pd.DataFrame({"item": [odd[(i // 10) % 5] if i % 10 == 0 else f"i{i}" for i in range(rows)],
                         "amount": np.arange(rows) * 1.5,
                         "last_order": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(rows), unit="h")})


@pytest.mark.parametrize(("frame", "chunks"), [
    (_customers(0), (5000,)), (_customers(1), (1, 5000)), (_customers(7), (1, 5, 5000)),
    (_customers(23), (1, 5, 5000)), (_odd(50), (1, 5, 7, 5000)),
    (pd.DataFrame(index=range(4)), (1, 5000)), (pd.DataFrame(), (5000,))])
def test_a_table_sheet_written_as_text_is_the_sheet_openpyxl_writes(frame, chunks):
    """The runner writes a raw table's rows as XML text, a few rows at a time (a
    300,000-row customer table would be ~6 million cell objects): the sheet's XML is byte
    for byte what openpyxl writes for the sheet built whole of cells, and the workbook's
    number formats and cell styles are registered in the same order, for every kind of
    column (numbers with NaN and inf, text with XML characters and edge spaces, dates
    with and without a time zone, booleans, None, categorical and Arrow strings), an
    empty frame and a frame without columns."""
    from openpyxl import Workbook
    from openpyxl.worksheet._writer import WorksheetWriter

    from salesplan.reports.workbook import _write_table_sheet, add_table_sheet

    def sheet_xml(write):
        wb = Workbook()
        wb.create_sheet("first")  # a sheet before it: styles and names are the workbook's
        writer = write(wb)
        xml = Path(writer.out).read_bytes()
        writer.cleanup()
        return xml, list(wb._number_formats), list(wb._cell_styles)

    def whole(wb):  # the reference: openpyxl's cells
        writer = WorksheetWriter(add_table_sheet(wb, "03 customers", frame, tab_color="1F4E79"))
        writer.write()
        return writer

    expected = sheet_xml(whole)
    assert (expected[0].count(b"<row ") == len(frame) + 1) if len(frame.columns) else b"<row r=\"1\">" in expected[0]
    for chunk in chunks:
        got = sheet_xml(lambda wb, chunk=chunk: _write_table_sheet(wb, "03 customers", frame, tab_color="1F4E79",
                                                                    chunk=chunk)[1])
        assert got == expected


def test_a_sheet_deflated_ahead_is_the_member_zipfile_would_write(tmp_path):
    """``_Deflated`` (a sheet's XML deflated when it is written ahead) adds the same member
    ``ZipFile.write`` adds: same bytes read back, same compressed size, CRC checked; and
    through ``ZipFile.open`` when the archive lacks zipfile's internals."""
    from types import SimpleNamespace

    from salesplan.reports.workbook import _Deflated

    xml = ("<row>" + "".join(f'<c r="A{i}"><v>{i * 7919 % 10007}</v></c>' for i in range(60_000)) + "</row>").encode()
    packed = []
    for n in range(2):
        (tmp_path / f"sheet{n}.xml").write_bytes(xml)
        out = str(tmp_path / f"sheet{n}.xml")
        packed.append(_Deflated.of(SimpleNamespace(out=out, _rels="rels", cleanup=lambda out=out: os.remove(out))))
    assert not (tmp_path / "sheet0.xml").exists() and packed[0].rels == "rels"
    (tmp_path / "plain.xml").write_bytes(xml)
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(tmp_path / "plain.xml", "xl/plain.xml")
        packed[0].add_to(z, "xl/ahead.xml")
        packed[1]._inflate_into(z, "xl/again.xml")
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert z.testzip() is None
        assert z.read("xl/ahead.xml") == z.read("xl/again.xml") == z.read("xl/plain.xml") == xml
        info = {i.filename: i for i in z.infolist()}
        assert info["xl/ahead.xml"].compress_size == info["xl/plain.xml"].compress_size < len(xml) // 3
    assert all(os.path.exists(p.path) for p in packed)
    for p in packed:
        p.cleanup()
    assert not any(os.path.exists(p.path) for p in packed)  # the temporary files removed
