"""Chinese of the sentences the code writes (issue 17): reasons, drivers, bins, actions, notes.

The planning and model modules write their explanations in English; the zh mode translates
them in the translation layer (salesplan/reports/translations/zh.yaml, exact phrases and
templates with slots).  Each case here feeds the text the real code writes (the module
constant or the function's output) and compares with the Chinese written by hand; the
cases that the demo does not reach (a company without opportunities, marketing spend or
reps) are covered here, the demo's own pages by tests/test_zh_end_to_end.py.
"""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.reports.i18n import translate, translate_html
from salesplan.reports.language_audit import english_prose, english_texts


def zh(text: str) -> str:
    return translate(text, "zh")


def test_notes_of_switched_off_sections():
    from salesplan.planning.allocation.quarter import NO_SPEND_NOTE, all_held_note
    from salesplan.planning.features import FUNNEL_OFF_NOTE
    from salesplan.reports.runner import NO_PLAN_SHEETS
    from salesplan.reports.summary import NO_REP_QUOTAS

    assert zh(FUNNEL_OFF_NOTE) == ("数据中没有 opportunities（商机）表：漏斗倒推（阶段转化率、所需商机数、"
                                   "漏斗缺口与形态）已关闭；添加该表即可启用。")
    assert zh(NO_SPEND_NOTE) == ("已关闭：数据中没有 marketing_spend（市场投入）表（按大区的月度投入）；"
                                 "添加该表即可启用预算分配")
    node = f"; 80% forecast range 1,200.0万 – 1,500.0万. {NO_REP_QUOTAS}"  # one text node of the summary
    assert zh(node) == "；80% 预测区间 1,200.0万 – 1,500.0万。没有代表指标（数据中没有 reps 表）：各大区目标合计为"
    assert zh(NO_PLAN_SHEETS).format(sheet="04 大区") == ("未生成：计划中没有销售代表指标（数据中没有销售代表表）；"
                                                         "大区目标见工作表「04 大区」")
    fit = pd.DataFrame({"n_months": [12, 14], "reason": ["flat spend; no variation", "x"]},
                       index=["East", "South"])
    note = all_held_note(fit)
    assert zh(note).startswith("仅凭 12 个月的投入与销售数据，无法识别任何大区的响应曲线（华东：")
    assert zh(note).endswith("因此各大区维持现有投入；要做分配，需要至少 18 个月内有计划地调整投入（测试、削减、加码）")


def test_forecast_fallback_reasons():
    assert zh("short history (16 < 24 periods): mean seasonally adjusted level x seasonal profile "
              "pooled from 58 peer series") == ("历史较短（16 期，不足 24 期）：用经季节调整的平均水平 × "
                                                "由 58 个同类序列汇总的季节曲线")
    assert zh("dormant: no sales in the last 27 periods (longer than one season and than any earlier gap; "
              "e.g. a rep who left): forecast 0") == ("休眠：最近 27 期没有销售（长于一个季节周期，也长于以往"
                                                      "任何空档，如代表已离职）：预测为 0")
    # a roster note written piece by piece: each clause by its own entry, joined by "；"
    assert zh("left on 2023-12-09; their accounts moved to other reps; 1,200 still forecast on their "
              "name (reconciled share)") == "已于 2023年12月9日 离职；其客户已转给其他代表；其名下仍有 1,200 的预测（调和后的份额）"
    assert zh("ETS (method set by the caller); fitted on the seasonally adjusted series (season found by "
              "the detrended F-test, missed by the raw autocorrelation test)") == (
        "ETS（方法由调用方指定）；在季节调整后的序列上拟合（去趋势 F 检验发现了季节性，原始自相关检验未发现）")


def test_churn_drivers_and_scorecard_bins():
    from salesplan.models.churn import driver_reasons
    from salesplan.reports.narrative import plain_bin

    text = driver_reasons(pd.Series(["days_since_activity=99 (+0.3) bgnbd_p_alive=0.004 (+0.2)"])).iloc[0]
    assert text == "days since last contact: 99; P(still a customer), BG/NBD: < 0.01"
    assert zh(text) == "距上次联系天数：99；P(仍是客户)，BG/NBD：< 0.01"
    assert [zh(plain_bin(b)) for b in ("[-inf, 3.50)", "[3.50, 7.00)", "[7.00, inf)", "Missing")] == [
        "低于 3.50", "3.50 至不足 7.00", "7.00 及以上", "无数据（最近 12 个月没有发票）"]


def test_weekly_actions_and_quarter_diagnoses():
    from salesplan.planning.performance import DRIVERS, IMPROVE
    from salesplan.planning.review import action_list

    summary = pd.DataFrame({"level": ["rep", "region"], "entity": ["R0001", "North"], "region": ["North"] * 2,
                            "expected_to_date": [100.0, 200.0], "actual_to_date": [52.0, 150.0],
                            "gap": [-48_000.0, -50_000.0], "deviation": [-0.48, -0.25],
                            "flag": ["behind", "behind"]})
    deals = pd.DataFrame({"opportunity_id": ["OP1"], "rep_id": ["R0001"], "customer_id": ["C9"],
                          "stage": ["B"], "amount": [44_500.0]})
    shape = pd.DataFrame({"entity": ["South"], "shape": ["piled_up"],
                          "advice": ["many at C: convert them now and refill the top"]})
    acts = action_list(summary, late_deals=deals, shape=shape)
    got = [[zh(v) for v in row] for row in acts[["who", "what", "why"]].itertuples(index=False)]
    assert got == [
        ["大区 华北", "与大区经理一起复盘该大区的商机", "较截至当前计划 -25%（落后 -5.0万）"],
        ["销售代表 R0001", "本周一对一面谈：制定每日拜访计划，使用目标跟踪表", "较截至当前计划 -48%（落后 -4.8万）"],
        ["销售代表 R0001", "推动商机 OP1（C9）成交", "B 阶段在途，4.5万"],
        ["大区 华南", "C 阶段积压：立即推动转化，并补充前端商机", "漏斗形态：积压"]]
    for text in [*DRIVERS.values(), *IMPROVE.values()]:
        assert not english_prose(zh(text)), (text, zh(text))


@pytest.mark.parametrize("english, chinese", [
    ("low odds (<30%)", "把握低（<30%）"),
    ("new hire ramping (40% productive)", "新人爬坡中（产能 40%）"),
    ("accounts without a current rep (held by the manager)", "暂无代表的客户（由经理代管）"),
    ("odds 100% outside 30%-90%", "完成概率 100%，不在 30%–90% 之内"),
    ("decile 3: predicted 20.5%, observed 18.0%", "第 3 个十分位：预测 20.5%，实际 18.0%"),
    ("East — stage averages: 17.0万美元", "华东 — 按阶段平均：17.0万美元"),
    ("Approve the region targets: 6 region(s) adding up to 1,436.6万美元 (no rep quotas: the data have no "
     "reps table, so each region holds its target).",
     "批准大区目标：6 个大区，合计 1,436.6万美元（没有代表指标：数据中没有 reps 表，由各大区承担各自的目标）。"),
    ("Region targets 1,436.6万美元 for 2027Q1; no rep's odds of quota without a reps table.",
     "2027年第1季度大区目标 1,436.6万美元；没有 reps 表，无法给出代表的指标完成概率。"),
    ("No rep quotas: the data have no reps table; region targets add up to the company target.",
     "没有代表指标：数据中没有 reps 表；各大区目标之和等于公司目标。"),
    ("Commission 2026Q4: 5% from 0美元, 7% from 50.0万美元 a month, base 6,000 a month (company currency)",
     "2026年第4季度提成方案：超过 0美元 的部分 5%、每月超过 50.0万美元 的部分 7%；底薪每月 6,000（公司币种）"),
])
def test_situations_flags_and_tooltips(english, chinese):
    assert zh(english) == chinese


def test_translate_html_translates_what_a_reader_sees_in_attributes():
    page = ('<html lang="en"><body><th title="sort by this column">region</th>'
            '<section aria-label="The number to commit"></section><code title="x">all</code></body></html>')
    out = translate_html(page, "zh")
    assert 'title="点击按此列排序"' in out and 'aria-label="承诺数字"' in out
    assert "<code title=\"x\">all</code>" in out  # code stays as it is
    assert english_texts(out) == []


def test_every_template_is_reachable():
    """Each template, its slots filled with a number, gives its own translation: no earlier
    rule (an exact piece, a sentence or list split, a shorter template) takes the text first."""
    import re

    import yaml

    from salesplan.reports import i18n

    path = i18n._resources.files("salesplan.reports") / "translations" / "zh.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    wrong = []
    for key, value in data["templates"].items():
        text = re.sub(r"\{\d+#?\}", "7", key)
        if i18n._NUMERIC.match(text):
            continue
        expected = re.sub(r"\{\d+\}", "7", value)
        if zh(text) != expected:
            wrong.append((key, zh(text), expected))
    assert wrong == []
