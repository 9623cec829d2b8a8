"""The executive summary of a plan run: one page a sales VP signs off.

``salesplan run`` writes ``summary.html`` and ``summary.pdf`` (A4, printed by headless
Chromium) into the run folder, and ``index.html`` opens with a link to them.  The
summary reads only what the run's notebooks published (``tables/<notebook>/*.parquet``
via :func:`salesplan.reports.publish_tables`, and ``headlines.json``), so it shows the
same numbers as the reports and the workbook:

* **the number to commit**: the company target of the plan quarter, with its currency,
  how it was set and its chance;
* **the bridge** from the same quarter last year -> carry-on forecast (P50) -> pipeline
  -> stretch -> target -> over-assignment -> sum of rep quotas (04's ``bridge`` table);
* **the decisions** (4-6) with their revenue effect: quotas, hiring, accounts to call,
  credit cuts, marketing budget shift;
* **contradictions between reports reconciled in words** (reps "idle" while the plan
  hires, revenue at risk over 12 months against a quarter's target, ...).

Every figure says its period and unit.  A run without the targets tables (a partial run
of other notebooks with nothing to carry over) gets no summary and a note saying why; a
run without the resource plan (05) or the customer-risk tables (03) gets a summary
without the decisions that need them, and a note.

From Python::

    from salesplan.reports.summary import write_summary
    write_summary("reports/latest")           # summary.html (+ summary.pdf with Chromium)
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.reports.format import MISSING

__all__ = [
    "CHROMIUM",
    "Decision",
    "ExecutiveSummary",
    "DevtoolsPipe",
    "PdfPrinter",
    "Reconciliation",
    "RunTables",
    "SummaryFiles",
    "SummaryParams",
    "accounts_decision",
    "bridge_rows",
    "budget_decision",
    "build_summary",
    "commitment",
    "credit_decision",
    "hiring_decision",
    "load_run_tables",
    "may_summarize",
    "print_pdf",
    "quota_decision",
    "reconciliations",
    "render_summary_html",
    "write_atomic",
    "write_summary",
]

SUMMARY_HTML = "summary.html"
SUMMARY_PDF = "summary.pdf"
#: Chromium used to print the PDF (Debian's package; nothing downloads one).
CHROMIUM = os.environ.get("SALESPLAN_CHROMIUM", "/usr/bin/chromium")
#: ``--single-process`` (browser, renderer, GPU, network, storage and print compositor in
#: one process; ``--no-zygote`` with it): printing a scale-10 summary, Chromium's RSS sum
#: ~0.4 GB instead of ~1.1 GB over 10 processes and ~100 MiB less proportional set size,
#: the same PDF text at the same positions, pages and page size.  In that mode closing a
#: browser context ends the browser: :class:`PdfPrinter` keeps one page for all its prints.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--single-process", "--no-zygote"]

#: (notebook prefix, table) pairs the summary reads; notebooks are found by prefix
#: (``04`` -> ``04_quarterly_targets``) so a renamed notebook still serves.
NEEDED = (
    ("04", "company"), ("04", "bridge"), ("04", "rep"), ("04", "region"),
    ("05", "headcount"), ("05", "hiring_plan"), ("05", "coverage_load"), ("05", "capacity_by_month"),
    ("05", "budget_split"), ("05", "budget_comparison"), ("05", "budget_sensitivity"),
    ("03", "credit_grades"), ("03", "customers"), ("03", "supply_hold"),
    ("02", "accuracy"),
)


@dataclass(frozen=True)
class SummaryParams:
    """Choices of the executive summary.

    Parameters
    ----------
    churn_threshold : float, default 0.5
        An account is "at risk" when its P(churn) is at or above this (the customer-risk
        notebook's default).
    call_class : str, default "A"
        ABC class of the accounts to call.
    accounts_listed : int, default 5
        Accounts to call named in the summary (the rest are counted).
    coverage_warn : float, default 0.7
        A company-level 80% forecast range that held fewer backtest months than this is
        reconciled against the pooled figure of the forecast report.
    """

    churn_threshold: float = 0.5
    call_class: str = "A"
    accounts_listed: int = 5
    coverage_warn: float = 0.7

    def __post_init__(self):
        if not 0 < float(self.churn_threshold) < 1:
            raise ValueError(f"churn_threshold={self.churn_threshold!r}: expected a probability in (0, 1)")
        if not isinstance(self.call_class, str) or not self.call_class:
            raise ValueError(f"call_class={self.call_class!r}: expected a class name such as 'A'")
        if int(self.accounts_listed) != self.accounts_listed or self.accounts_listed < 1:
            raise ValueError(f"accounts_listed={self.accounts_listed!r}: expected a whole number >= 1")
        if not 0 < float(self.coverage_warn) <= 1:
            raise ValueError(f"coverage_warn={self.coverage_warn!r}: expected a fraction in (0, 1]")


@dataclass(frozen=True)
class RunTables:
    """What a run published: tables keyed ``"<prefix>/<name>"`` (``"04/company"``),
    headline records and carry-over status keyed by notebook prefix."""

    period: str
    run_id: str
    tables: Mapping[str, pd.DataFrame]
    headlines: Mapping[str, dict | None] = field(default_factory=dict)
    status: Mapping[str, dict] = field(default_factory=dict)

    def get(self, key: str) -> pd.DataFrame | None:
        return self.tables.get(key)

    def has(self, *keys: str) -> bool:
        return all(self.tables.get(k) is not None for k in keys)

    def figure(self, prefix: str, label_start: str):
        """Raw value of the first headline figure of notebook ``prefix`` whose label
        starts with ``label_start`` (``None`` when absent)."""
        for f in (self.headlines.get(prefix) or {}).get("figures", []):
            if str(f.get("label", "")).startswith(label_start):
                return f.get("value")
        return None


@dataclass(frozen=True)
class Decision:
    """One decision for the VP: what to do and what it is worth (``value`` in ``unit``)."""

    key: str
    action: str
    effect: str
    value: float | None
    unit: str


@dataclass(frozen=True)
class Reconciliation:
    """Two report statements that seem to contradict each other, and why both hold."""

    key: str
    seems: str
    because: str


@dataclass(frozen=True)
class ExecutiveSummary:
    period: str
    run_id: str
    currency: str
    commit: dict
    bridge: pd.DataFrame
    decisions: list[Decision]
    reconciliations: list[Reconciliation]
    notes: list[str]
    changed_parameters: Mapping[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)  # read before signing: stale inputs
    rep_quotas: bool = True  # False: the plan has no rep rows (no reps table), the regions hold the targets


@dataclass(frozen=True)
class SummaryFiles:
    html: Path
    pdf: Path | None
    notes: list[str]
    summary: ExecutiveSummary | None = None

    def index_entry(self) -> dict:
        """What ``index.html`` shows about the summary, at its top."""
        s = self.summary
        text = ""
        if s is not None:
            text = (f"Commit {amount(s.commit['target'], s.currency)}: company sales target for {s.period} "
                    f"(one quarter). Bridge from last year to the quotas, {len(s.decisions)} decisions with "
                    f"their revenue effect, {len(s.reconciliations)} apparent contradictions reconciled.")
        from salesplan.reports.i18n import translate

        return {"html": self.html.name, "pdf": self.pdf.name if self.pdf else None, "text": translate(text),
                "alerts": list(s.alerts) if s is not None else []}


# --------------------------------------------------------------------------- reading


def _prefix(stem: str) -> str:
    return stem.split("_", 1)[0]


#: the notebook whose tables the summary is built from (its targets): prefix of its name
SUMMARY_NOTEBOOK = "04"


def may_summarize(stems: Sequence[str]) -> bool:
    """Whether a run of the notebooks ``stems`` (run or carried over) can have a summary:
    one of them is the targets notebook (:data:`SUMMARY_NOTEBOOK`)."""
    return any(_prefix(s) == SUMMARY_NOTEBOOK for s in stems)


def load_run_tables(run_dir: str | Path, reports: Sequence[Mapping] | None = None,
                    needed: Sequence[tuple[str, str]] = NEEDED) -> RunTables:
    """Read the tables the summary needs from a run folder.

    Parameters
    ----------
    run_dir : path
        A run folder (``reports/<run id>``, or the runner's ``.tmp-<run id>``) holding
        ``tables/<notebook>/tables.json`` manifests and their Parquet files.
    reports : sequence of mappings, optional
        The runner's report records (``name``, ``headlines``, ``carried_from``,
        ``stale``); default: read ``run.json`` and ``headlines.json`` of the folder.
    needed : sequence of (prefix, table)
        Which tables to read.

    Returns
    -------
    RunTables
        Tables present in the folder; missing ones are simply absent.
    """
    folder = Path(run_dir)
    info = {}
    if (folder / "run.json").exists():
        info = json.loads((folder / "run.json").read_text("utf-8"))
    if reports is None:
        heads = {}
        if (folder / "headlines.json").exists():
            heads = json.loads((folder / "headlines.json").read_text("utf-8"))
        reports = [{**nb, "headlines": heads.get(nb["name"])} for nb in info.get("notebooks", [])]
    headlines = {_prefix(r["name"]): r.get("headlines") for r in reports}
    status = {_prefix(r["name"]): {"name": r["name"], "carried_from": r.get("carried_from"),
                                   "stale": bool(r.get("stale"))} for r in reports}
    tables: dict[str, pd.DataFrame] = {}
    for nb_dir in sorted((folder / "tables").glob("*")) if (folder / "tables").is_dir() else []:
        manifest = nb_dir / "tables.json"
        if not manifest.exists():
            continue
        files = {e["name"]: e["file"] for e in json.loads(manifest.read_text("utf-8"))}
        pre = _prefix(nb_dir.name)
        for p, name in needed:
            if p == pre and name in files and f"{p}/{name}" not in tables:
                tables[f"{p}/{name}"] = pd.read_parquet(nb_dir / files[name])
    company = tables.get("04/company")
    period = str(info.get("period") or (company["quarter"].iloc[0] if company is not None else ""))
    run_id = str(info.get("run_id") or folder.name.removeprefix(".tmp-"))
    return RunTables(period=period, run_id=run_id, tables=tables, headlines=headlines, status=status)


# --------------------------------------------------------------------------- formatting


def amount(x, currency: str = "", *, compact: bool = False) -> str:
    """An amount with its currency and thousands separators, never in scientific
    notation: ``amount(15429200, "USD") == "USD 15,429,200"``; compact:
    ``"USD 15.43 M"`` (two decimals, so small changes stay visible)."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or pd.isna(x):
        return MISSING
    v = float(x)
    if _zh():  # 万/亿 with the currency (salesplan.reports.i18n)
        from salesplan.reports.i18n import zh_amount

        return zh_amount(v, currency=currency)
    sign, a = ("-" if v < 0 and round(abs(v)) > 0 else ""), abs(v)
    cur = f"{currency} " if currency else ""
    if compact:
        for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
            if a >= scale:
                return f"{sign}{cur}{a / scale:,.2f} {suffix}"
    return f"{sign}{cur}{a:,.0f}"


def share(x, decimals: int = 0, *, signed: bool = False) -> str:
    """A fraction as a percentage, ``share(0.518) == "52%"``."""
    if x is None or pd.isna(x):
        return MISSING
    return f"{float(x) * 100:{'+' if signed else ''}.{decimals}f}%"


def _listing(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _zh() -> bool:
    from salesplan.reports.i18n import get_language

    return get_language() == "zh"


def _month(ts) -> str:
    if _zh() and pd.notna(ts):
        from salesplan.reports.i18n import zh_month

        return zh_month(ts)
    return pd.Timestamp(ts).strftime("%b %Y") if pd.notna(ts) else MISSING


# --------------------------------------------------------------------------- content


def commitment(company: pd.DataFrame) -> dict:
    """The number to commit, from the targets notebook's ``company`` table (one row).

    Returns a dict: ``target`` (company sales target of the quarter, currency),
    ``currency``, ``quarter``, ``method``, ``p_attain_target``, ``growth_vs_ly``,
    ``last_year``, ``forecast_p10/p50/p90``, ``quota`` (sum of rep quotas),
    ``over_assignment``, ``rep_share_at_quota``, ``share_band_ok``.
    """
    if company is None or len(company) != 1:
        n = 0 if company is None else len(company)
        raise ValueError(f"table 04/company: expected 1 row, got {n}")
    c = company.iloc[0]
    keys = ("target", "quarter", "method", "p_attain_target", "growth_vs_ly", "last_year",
            "forecast_p10", "forecast_p50", "forecast_p90", "quota", "over_assignment",
            "rep_share_at_quota", "share_band_ok", "n_reps", "n_vacancies", "below_p50")
    out = {k: (c[k].item() if hasattr(c[k], "item") else c[k]) for k in keys if k in c.index}
    out["currency"] = str(c.get("currency", "") or "")
    return out


#: What each bridge step means, by the start of its name in 04's ``bridge`` table.
BRIDGE_WORDS = (
    ("carry-on forecast", "growth to the median (P50) forecast if we carry on as we are"),
    ("pipeline", "open deals expected to close that the forecast does not hold"),
    ("stretch", "set on top of (or taken off) forecast + pipeline by the target rule"),
    ("target", "the company target: the number to commit"),
    ("over-assignment", "quotas above the target, so the target holds when some reps miss"),
    ("sum of quotas", "what the reps' quotas add up to"),
)


def bridge_rows(bridge: pd.DataFrame, period: str) -> pd.DataFrame:
    """The bridge last year -> forecast -> pipeline -> stretch -> target -> quotas.

    Returns one row per step of 04's ``bridge`` table with ``step``, ``meaning``,
    ``change`` (currency, ``NaN`` on totals), ``total`` (running total, currency) and
    ``is_total``.  The first total is the same quarter of the previous year.

    Raises
    ------
    ValueError
        The table lacks ``step``, ``kind``, ``amount`` or ``cumulative``.
    """
    missing = [c for c in ("step", "kind", "amount", "cumulative") if c not in bridge.columns]
    if missing:
        raise ValueError(f"table 04/bridge: missing column(s) {missing}; expected step, kind, amount, cumulative")
    rows = []
    for i, r in enumerate(bridge.itertuples(index=False)):
        step = str(r.step)
        meaning = next((w for s, w in BRIDGE_WORDS if step.lower().startswith(s)), "")
        if i == 0:
            meaning = "actual sales of the same quarter last year"
        total = r.kind == "total"
        rows.append({"step": step, "meaning": meaning, "change": np.nan if total else float(r.amount),
                     "total": float(r.cumulative), "is_total": bool(total)})
    return pd.DataFrame(rows, columns=["step", "meaning", "change", "total", "is_total"])


def quota_decision(company: pd.DataFrame, reps: pd.DataFrame | None,
                   regions: pd.DataFrame | None = None) -> Decision:
    """Approve the rep quotas: their sum, over-assignment and the reps expected at quota.

    A plan without rep rows (``reps`` empty: the data have no reps table) asks to approve
    the region targets instead (``regions``: 04's region table, for their count).
    """
    c = commitment(company)
    cur, q = c["currency"], c["quarter"]
    if reps is not None and len(reps) == 0:
        n = len(regions) if regions is not None else 0
        action = (f"Approve the region targets: {n} region(s) adding up to {amount(c['quota'], cur, compact=True)} "
                  "(no rep quotas: the data have no reps table, so each region holds its target).")
        effect = f"Region targets {amount(c['quota'], cur)} for {q}; no rep's odds of quota without a reps table."
        return Decision("quotas", action, effect, float(c["quota"]), f"{q} sales, {cur}")
    flagged = 0
    n_reps = int(c.get("n_reps", 0))
    if reps is not None and "odds_flag" in reps.columns:
        active = reps[~reps["vacant"].astype(bool)] if "vacant" in reps.columns else reps
        flagged = int((active["odds_flag"].fillna("") != "").sum())
        n_reps = len(active)
    band = "inside" if bool(c.get("share_band_ok", True)) else "outside"
    action = (f"Approve rep quotas for {n_reps} reps adding up to {amount(c['quota'], cur, compact=True)} "
              f"(x{c['over_assignment']:.2f} the target)"
              + (f"; review the {flagged} quotas flagged for very low or very high odds." if flagged else "."))
    effect = (f"Sum of quotas {amount(c['quota'], cur)} for {q}; {share(c['rep_share_at_quota'])} of reps "
              f"expected at quota ({band} the healthy band).")
    return Decision("quotas", action, effect, float(c["quota"]), f"{q} sales, {cur}")


def hiring_decision(headcount: pd.DataFrame, hiring_plan: pd.DataFrame, period: str,
                    currency: str) -> Decision:
    """Hire N reps: positions by region and the part of the target today's reps do not carry.

    ``beyond`` = sum over regions of ``target * (1 - min(1, effective_fte_today /
    fte_needed))``: the sales of the quarter that need more capacity than today's roster
    at its past productivity (05's ``headcount`` table).
    """
    hc = headcount
    ratio = (hc["effective_fte_today"] / hc["fte_needed"]).clip(upper=1.0).fillna(1.0)
    beyond = float((hc["target"] * (1.0 - ratio)).sum())
    covered = float(hc["target"].sum()) - beyond
    hires = int(hiring_plan["hires"].sum()) if len(hiring_plan) else 0
    by_region = (hiring_plan.groupby("region")["hires"].sum().sort_values(ascending=False, kind="stable")
                 if len(hiring_plan) else pd.Series(dtype=float))
    where = _listing([f"{r} +{int(n)}" for r, n in by_region.items() if n > 0])
    start = _month(hiring_plan["start_month"].min()) if len(hiring_plan) else MISSING
    action = (f"Open {hires} sales positions now ({where}); first day {start}."
              if hires else "No hiring: today's reps carry the target at their past productivity.")
    effect = (f"{amount(beyond, currency, compact=True)} of the {period} target lies beyond what today's "
              f"{int(hc['reps_today'].sum())} reps sell at their past pace "
              f"(they carry {amount(covered, currency, compact=True)}).")
    return Decision("hiring", action, effect, beyond, f"{period} sales, {currency}")


def accounts_decision(customers: pd.DataFrame, reps: pd.DataFrame | None, params: SummaryParams,
                      currency: str) -> Decision:
    """Accounts to call: class ``call_class`` accounts with P(churn) >= threshold.

    Effect: their revenue at risk = sum of P(churn) x last-12-months revenue (the
    customer-risk notebook's ``revenue_at_risk``), a 12-month amount.
    """
    c = customers
    risky = c[(c["abc_class"].astype(str) == params.call_class)
              & (pd.to_numeric(c["p_churn"], errors="coerce") >= params.churn_threshold)]
    risky = risky.sort_values(["revenue_at_risk", "customer_id"], ascending=[False, True], kind="stable")
    names = {}
    if reps is not None and {"rep_id", "name"} <= set(reps.columns):
        names = dict(zip(reps["rep_id"].astype(str), reps["name"].astype(str)))
    def where(r) -> str:  # region and rep when the data have them (an orders-only company has neither)
        parts = [str(getattr(r, "region", "") or ""), str(names.get(str(getattr(r, "rep_id", "")),
                                                           getattr(r, "rep_id", "") or ""))]
        parts = [x for x in parts if x and x not in ("nan", "None")]
        if parts and _zh():  # the region in Chinese, Chinese brackets (the sentence is translated whole)
            from salesplan.reports.i18n import translate

            return f"（{'，'.join([translate(parts[0])] + parts[1:])}）"
        return f" ({', '.join(parts)})" if parts else ""

    top = [f"{r.customer_id}{where(r)}" for r in risky.head(params.accounts_listed).itertuples()]
    at_risk, revenue = float(risky["revenue_at_risk"].sum()), float(risky["revenue"].sum())
    action = (f"Call the {len(risky)} {params.call_class}-class accounts likely to stop buying "
              f"(P(churn) ≥ {share(params.churn_threshold)}) this month, largest first: {('、' if _zh() else ', ').join(top)}"
              + (f" and {len(risky) - len(top)} more (list in the customer-risk report)"
                 if len(risky) > len(top) else "") + ".")
    effect = (f"They bought {amount(revenue, currency, compact=True)} in the last 12 months; "
              f"{amount(at_risk, currency, compact=True)} of it is expected to be lost over 12 months "
              "if nobody acts (P(churn) × 12-month revenue).")
    return Decision("accounts", action, effect, at_risk, f"revenue over 12 months, {currency}")


def credit_decision(grades: pd.DataFrame, hold: pd.DataFrame | None, currency: str) -> Decision:
    """Credit cuts: grades without open credit, and the revenue those customers bring.

    ``share`` = last-12-months revenue of the grades whose ``condition`` is not
    ``open account`` / the revenue of all graded customers.
    """
    tight = grades[grades["condition"].astype(str) != "open account"]
    rev, total = float(tight["revenue_12m"].sum()), float(grades["revenue_12m"].sum())
    terms = _listing([f"{g}: {cond}" for g, cond in zip(tight["grade"].astype(str), tight["condition"])])
    action = (f"End open credit for the {int(tight['customers'].sum())} customers in grade(s) "
              f"{_listing(list(tight['grade'].astype(str)))} ({terms})")
    if hold is not None and len(hold):
        action += (f"; hold supplies to {len(hold)} customers with overdue invoices "
                   f"({amount(hold['amount_overdue'].sum(), currency, compact=True)} overdue)")
    effect = (f"These customers bought {amount(rev, currency, compact=True)} in the last 12 months, "
              f"{share(rev / total if total else np.nan)} of revenue: their orders now need a deposit or cash.")
    return Decision("credit", action + ".", effect, rev, f"revenue, last 12 months, {currency}")


def _status_quo(split: pd.DataFrame) -> pd.Series:
    """Each region's status-quo spend: the middle of its ``lower``..``upper`` box (the
    optimiser's bounds are status quo x (1 -+ max_change))."""
    return (split["lower"] + split["upper"]) / 2.0


def budget_decision(split: pd.DataFrame, comparison: pd.DataFrame, period: str,
                    currency: str) -> Decision:
    """Shift marketing budget between regions, worth the optimised split's extra
    incremental gross margin over the status quo (05's ``budget_comparison``)."""
    comp = comparison.set_index("allocation")
    resp = comp["response"]
    gain = float(resp["optimised"] - resp["status quo"])
    sq = _status_quo(split.set_index("region"))
    delta = split.set_index("region")["spend"] - sq
    if "spend" in comp.columns and abs(float(sq.sum()) - float(comp.loc["status quo", "spend"])) > 0.01 * float(sq.sum()):
        delta = delta * np.nan  # bounds are not the status quo +- max_change: shifts unknown
    moved = float(delta[delta > 0].sum())
    up = _listing([f"{r} +{amount(d, '', compact=True)}" for r, d in delta[delta > 0.5].items()])
    down = _listing([f"{r} {amount(d, '', compact=True)}" for r, d in delta[delta < -0.5].items()])
    total = float(split["spend"].sum())
    action = (f"Move {amount(moved, currency, compact=True)} of the {amount(total, currency, compact=True)} "
              f"{period} marketing budget: {up}; {down}." if moved > 0.5 else
              f"Split the {amount(total, currency, compact=True)} {period} marketing budget by the response "
              "curves (05's budget section)." if delta.isna().all() else
              "Keep the marketing budget split as it is.")
    effect = (f"{amount(gain, currency, compact=True)} more incremental gross margin in {period} than today's split "
              f"({share(gain / resp['status quo'] if resp['status quo'] else np.nan, 1, signed=True)}).")
    return Decision("budget", action, effect, gain, f"{period} gross margin, {currency}")


def decisions(t: RunTables, params: SummaryParams) -> tuple[list[Decision], list[str]]:
    """The decisions the run supports, and a note for each one it cannot (missing tables)."""
    c = commitment(t.get("04/company"))
    cur, period = c["currency"], c["quarter"]
    out, notes = [quota_decision(t.get("04/company"), t.get("04/rep"), t.get("04/region"))], []
    if t.has("05/headcount", "05/hiring_plan"):
        out.append(hiring_decision(t.get("05/headcount"), t.get("05/hiring_plan"), period, cur))
    else:
        notes.append("Hiring: the resource-allocation report (05) is not part of this run.")
    if t.has("03/customers"):
        out.append(accounts_decision(t.get("03/customers"), t.get("04/rep"), params, cur))
    if t.has("03/credit_grades"):
        out.append(credit_decision(t.get("03/credit_grades"), t.get("03/supply_hold"), cur))
    if not t.has("03/customers", "03/credit_grades"):
        notes.append("Accounts to call and credit: the customer-risk report (03) is not part of this run.")
    if t.has("05/budget_split", "05/budget_comparison"):
        out.append(budget_decision(t.get("05/budget_split"), t.get("05/budget_comparison"), period, cur))
    elif t.has("05/headcount"):
        notes.append("Marketing budget: 05 could not optimise the split from this history.")
    return out, notes


# --------------------------------------------------------------------------- contradictions


def _idle_vs_hire(t: RunTables, c: dict) -> Reconciliation | None:
    load, hc, hp = t.get("05/coverage_load"), t.get("05/headcount"), t.get("05/hiring_plan")
    if load is None or hc is None or hp is None:
        return None
    idle = load[load["status"].astype(str) == "idle"]
    hires = int(hp["hires"].sum()) if len(hp) else 0
    if not len(idle) or not hires:
        return None
    reps = t.get("04/rep")
    kam = 0
    if reps is not None and "level" in reps.columns:
        level = dict(zip(reps["rep_id"].astype(str), reps["level"].astype(str)))
        kam = int(sum(level.get(str(r), "") == "key_account" for r in idle["rep_id"]))
    d = hiring_decision(hc, hp, c["quarter"], c["currency"])
    cur = c["currency"]
    covered = float(hc["target"].sum()) - d.value
    seems = (f"The resource report counts {len(idle)} of {len(load)} reps as idle, yet the plan hires {hires}.")
    used = pd.to_numeric(idle["utilisation"], errors="coerce").median() if "utilisation" in idle else np.nan
    because = ("'Idle' measures hours: the visits and calls their current accounts need, at the norm observed "
               "for reps of the same role in the company's activity log, fill less of their selling time than "
               "that of a typical colleague in the same role"
               + (f" (the median idle rep's accounts need {share(used)} of it)" if pd.notna(used) else "")
               + (f"; {kam} of them are key-account managers, judged by their own role's norm" if kam else "")
               + f". Hiring is sized on sales: at their past sales per rep, today's reps carry "
               f"{amount(covered, cur, compact=True)} of the {amount(c['target'], cur, compact=True)} target. "
               "The spare hours close that gap only if they go to new customers and the accounts to call; "
               "use them that way until the new reps are up to speed.")
    return Reconciliation("idle_vs_hire", seems, because)


def _gap_vs_hires(t: RunTables, c: dict) -> Reconciliation | None:
    hc, hp = t.get("05/headcount"), t.get("05/hiring_plan")
    if hc is None or hp is None or not len(hp):
        return None
    gap, hires = int(hc["gap"].clip(lower=0).sum()), int(hp["hires"].sum())
    if gap == hires:
        return None
    start = _month(hp["start_month"].min())
    peak = ""
    cap = t.get("05/capacity_by_month")
    if cap is not None and {"month", "need_fte"} <= set(cap.columns) and len(cap):
        need = cap.groupby("month")["need_fte"].sum()
        peak = f"the need peaks in {_month(need.idxmax())} ({need.max():,.0f} FTE against {need.mean():,.0f} on average), "
    seems = (f"The regions need {int(hc['headcount_needed'].sum())} reps against {int(hc['reps_today'].sum())} "
             f"today (a gap of {gap}), but the hiring plan opens {hires} positions.")
    because = (f"The hiring plan closes each month's gap, not the quarter's average: {peak}new reps start in "
               f"{start} and sell below full pace while they ramp up, and some reps leave during the year, so {abs(hires - gap)} position(s) "
               f"{'more' if hires > gap else 'fewer'} than the average gap keep capacity at the monthly need.")
    return Reconciliation("gap_vs_hires", seems, because)


def _risk_vs_target(t: RunTables, c: dict) -> Reconciliation | None:
    cust = t.get("03/customers")
    if cust is None or "revenue_at_risk" not in cust.columns:
        return None
    risk = float(cust["revenue_at_risk"].sum())
    cur = c["currency"]
    label = next((f["label"] for f in (t.headlines.get("03") or {}).get("figures", [])
                  if str(f.get("label", "")).lower().startswith("revenue at risk")), None)
    seems = (f"The customer-risk report puts {amount(risk, cur, compact=True)} of revenue at risk"
             + (f" ('{label}')" if label else "")
             + f" while the {c['quarter']} target is {amount(c['target'], cur, compact=True)}.")
    because = ("That figure is 12-month revenue: each customer's last 12 months of sales times their chance "
               "of placing no order in the churn horizon (90 days unless changed). It is not a loss against this quarter's target: the "
               "carry-on forecast already holds the usual share of customers who stop buying. The accounts "
               "to call are the part the sales force can still win back.")
    return Reconciliation("risk_vs_target", seems, because)


def _odds_vs_reps(t: RunTables, c: dict) -> Reconciliation | None:
    if bool(c.get("share_band_ok", True)) or pd.isna(c.get("rep_share_at_quota")):
        return None
    reps = t.get("04/rep")
    median = np.nan
    if reps is not None and "p_attain_quota" in reps.columns:
        active = reps[~reps["vacant"].astype(bool)] if "vacant" in reps.columns else reps
        median = pd.to_numeric(active["p_attain_quota"], errors="coerce").median()
    seems = (f"The company target has a {share(c['p_attain_target'])} chance, but only "
             f"{share(c['rep_share_at_quota'])} of reps are expected to reach their quota.")
    because = (f"Quotas add up to the target x{c['over_assignment']:.2f}"
               + (f" and the median rep's chance of making quota is {share(median)}" if pd.notna(median) else "")
               + ". Single reps' results scatter more than the company total, so fewer reps land above "
               "quota than the company's chance suggests; a shortfall of some reps is offset by others in "
               "the total. More reps at quota needs a lower target, not other quotas.")
    return Reconciliation("odds_vs_reps", seems, because)


def _budget_limits(t: RunTables, c: dict) -> Reconciliation | None:
    split, sens = t.get("05/budget_split"), t.get("05/budget_sensitivity")
    if split is None or "binding" not in split.columns:
        return None
    bound = split[split["binding"].astype(str).isin(["min", "max"])]
    if not len(bound):
        return None
    sq = _status_quo(split)
    limit = float(((split["upper"] - sq) / sq).median())
    regret = float(sens["regret"].median()) if sens is not None and "regret" in sens.columns else np.nan
    seems = (f"The budget split sits at its ±{share(limit)} limit in {len(bound)} of {len(split)} regions, "
             f"while 'margin lost if the curves are off' reads {share(regret, 2)}.")
    because = ("The response curves would move more money than the limit allows: the gain shown is what the "
               "limit permits, not the curves' full answer. The 'margin lost' check re-optimises under the "
               "same limits with curves changed by their error band; it says the split is robust, not that "
               "its gain is certain.")
    return Reconciliation("budget_limits", seems, because)


def _forecast_range(t: RunTables, c: dict, params: SummaryParams) -> Reconciliation | None:
    acc = t.get("02/accuracy")
    if acc is None or "coverage-80" not in acc.columns:
        return None
    rows = acc[(acc["level"].astype(str) == "company") & (acc["method"].astype(str) != "seasonal naive")]
    if not len(rows) or float(rows["coverage-80"].iloc[0]) >= params.coverage_warn:
        return None
    company_cov = float(rows["coverage-80"].iloc[0])
    pooled = t.figure("02", "Actual months inside the 80% range")  # a pooled headline (older runs)
    seems = ("The forecast report says "
             + (f"{share(pooled, 1)} of actual months fell inside the 80% range, but at company level "
                f"the range held {share(company_cov)} of backtest months." if pooled is not None
                else f"the company's 80% range held only {share(company_cov)} of its backtest months, "
                     "though an 80% range should hold about 80% of them."))
    because = ("The pooled figure is mostly rep and region series; the company range, which sets the target's "
               f"chance, is too narrow. Read the {share(c['p_attain_target'])} chance of the target as optimistic.")
    return Reconciliation("forecast_range", seems, because)


def reconciliations(t: RunTables, params: SummaryParams = SummaryParams()) -> list[Reconciliation]:
    """Every contradiction between the run's reports that applies, reconciled in words."""
    c = commitment(t.get("04/company"))
    found = [_idle_vs_hire(t, c), _gap_vs_hires(t, c), _risk_vs_target(t, c), _odds_vs_reps(t, c),
             _budget_limits(t, c), _forecast_range(t, c, params)]
    return [r for r in found if r is not None]


def consistency_notes(t: RunTables, c: dict) -> list[str]:
    """Warnings the VP must see first: stale reports, a resource plan for another target."""
    notes = []
    for pre in ("04", "05", "03"):
        s = t.status.get(pre) or {}
        if s.get("stale"):
            notes.append(f"{s['name']} was carried over from run {s.get('carried_from')} although a report it "
                         "reads was re-run: re-run it before signing.")
    hc = t.get("05/headcount")
    if hc is not None and "target" in hc.columns:
        planned = float(hc["target"].sum())
        if abs(planned - float(c["target"])) > max(1.0, 1e-6 * abs(float(c["target"]))):
            notes.append(f"The resource plan (05) was built for a target of {amount(planned, c['currency'])}, "
                         f"not {amount(c['target'], c['currency'])}: re-run 05 before signing.")
    return notes


def build_summary(t: RunTables, params: SummaryParams = SummaryParams(),
                  changed_parameters: Mapping[str, str] | None = None) -> ExecutiveSummary:
    """The executive summary of a run's tables (``changed_parameters``: name -> shown
    value of the run's parameters that differ from the defaults, listed on the page).

    Raises
    ------
    ValueError
        The run holds no targets tables (``04/company`` and ``04/bridge``).
    """
    if not t.has("04/company", "04/bridge"):
        raise ValueError(f"run {t.run_id}: no targets tables (04_quarterly_targets company and bridge); "
                         "expected a run of the targets notebook or one that carries it over")
    c = commitment(t.get("04/company"))
    period = c["quarter"] or t.period
    found, notes = decisions(t, params)
    return ExecutiveSummary(period=period, run_id=t.run_id, currency=c["currency"], commit=c,
                            bridge=bridge_rows(t.get("04/bridge"), period), decisions=found,
                            reconciliations=reconciliations(t, params),
                            notes=notes, alerts=consistency_notes(t, c),
                            changed_parameters=dict(changed_parameters or {}),
                            rep_quotas=not (t.has("04/rep") and len(t.get("04/rep")) == 0))


# --------------------------------------------------------------------------- HTML


SUMMARY_CSS = """
:root { --ink:#1f2933; --muted:#52606d; --line:#d9e2ec; --accent:#0072b2; --soft:#f5f7fa; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; font-size: 14px; }
body { margin: 0; color: var(--ink); background: #fff; font-size: 1rem; line-height: 1.45;
  font-family: "Noto Sans", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
    "Microsoft YaHei", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
.top { display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; justify-content: space-between;
  padding: 0.5rem 1.2rem; border-bottom: 1px solid var(--line); font-size: 0.8rem; color: var(--muted); }
.top a { color: var(--accent); text-decoration: none; }
main { max-width: 58rem; margin: 0 auto; padding: 0.8rem 1.2rem 2rem; }
h1 { font-size: 1.45rem; margin: 0.2rem 0 0.5rem; line-height: 1.2; }
h2 { font-size: 1.05rem; margin: 1.1rem 0 0.4rem; padding-top: 0.4rem; border-top: 1px solid var(--line); }
.commit { background: var(--soft); border-left: 4px solid var(--accent); padding: 0.6rem 1rem;
  border-radius: 4px; }
.commit .number { font-size: 1.9rem; font-weight: 700; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere; }
.commit p { margin: 0.2rem 0; }
.muted { color: var(--muted); font-size: 0.85rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 0.88rem; }
th, td { text-align: left; vertical-align: top; padding: 0.22rem 0.45rem; border-bottom: 1px solid var(--line);
  overflow-wrap: anywhere; }
thead th { border-bottom: 2px solid var(--ink); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: 700; }
ol.decisions { padding-left: 1.3rem; margin: 0.3rem 0; }
ol.decisions li { margin: 0 0 0.45rem; }
.effect { display: block; color: var(--muted); }
.effect b { color: var(--ink); }
dl.rec { margin: 0.3rem 0; }
dl.rec dt { font-weight: 600; margin-top: 0.4rem; }
dl.rec dd { margin: 0.1rem 0 0 1rem; }
.alert { background: #fdecea; border-left: 4px solid #D55E00; color: #8a1f00; padding: 0.4rem 0.7rem;
  font-weight: 600; margin: 0.4rem 0; }
.note { background: #fff8e1; border-left: 4px solid #E69F00; padding: 0.3rem 0.7rem; margin: 0.3rem 0;
  font-size: 0.85rem; }
@media (max-width: 600px) {  /* a phone: each bridge row on two lines, no column dropped */
  table.bridge tr { display: grid; grid-template-columns: 1fr auto auto; column-gap: 0.6rem;
    border-bottom: 1px solid var(--line); }
  table.bridge th, table.bridge td { border-bottom: none; padding: 0.15rem 0.3rem; }
  table.bridge .meaning { grid-column: 1 / -1; grid-row: 2; color: var(--muted); font-size: 0.8rem;
    padding-top: 0; }
  .commit .number { font-size: 1.5rem; }
}
@page { size: A4; margin: 12mm 13mm; }
@media print {
  html { font-size: 11px; }
  .top a.nav { display: none; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; margin-top: 0.7rem; }
  tr, li, dd { break-inside: avoid; }
}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num_cell(value, text: str, key: str) -> str:
    raw = "" if value is None or pd.isna(value) else f"{float(value):.6f}"
    return f'<td class="num" data-key="{_e(key)}" data-value="{raw}">{_e(text)}</td>'


def _bridge_html(s: ExecutiveSummary) -> str:
    cur = s.currency
    rows = []
    for i, r in enumerate(s.bridge.itertuples(index=False)):
        change = MISSING if r.is_total else (("+" if r.change > 0 else "") + amount(r.change))
        rows.append(f'<tr class="{"total" if r.is_total else "step"}"><td>{_e(r.step)}</td>'
                    f'<td class="meaning">{_e(r.meaning)}</td>'
                    + _num_cell(None if r.is_total else r.change, change, f"bridge_change_{i}")
                    + _num_cell(r.total, amount(r.total), f"bridge_total_{i}") + "</tr>")
    return (f'<table class="bridge"><thead><tr><th>Step ({_e(s.period)})</th><th class="meaning">What it is</th>'
            f'<th class="num">Change ({_e(cur)})</th><th class="num">Running total ({_e(cur)})</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _commit_html(s: ExecutiveSummary) -> str:
    c, cur = s.commit, s.currency
    how = {"board": "the board's number", "growth": "growth on the same quarter last year",
           "probability": "the figure the company meets with the chosen probability",
           "probability, floored at P50": "the median (P50) forecast: the chosen-probability figure lies below it",
           }.get(str(c.get("method")), str(c.get("method")))
    below = (f" It is {amount(c['below_p50'], cur, compact=True)} below the median forecast."
             if c.get("below_p50", 0) and c["below_p50"] > 0 else "")
    return (
        '<section class="commit" aria-label="The number to commit">'
        f'<p class="muted">The number to commit: company sales target, {_e(s.period)} (one quarter, '
        f'whole company, {_e(cur)})</p>'
        f'<p class="number" data-key="target" data-value="{float(c["target"]):.6f}">{_e(amount(c["target"], cur))}</p>'
        f'<p>Set as {_e(how)}; {_e(share(c.get("growth_vs_ly"), 1, signed=True))} on the same quarter last year '
        f'({_e(amount(c.get("last_year"), cur, compact=True))}); chance of meeting it '
        f'<b data-key="p_attain_target" data-value="{float(c.get("p_attain_target", np.nan)):.6f}">'
        f'{_e(share(c.get("p_attain_target")))}</b>; 80% forecast range '
        f'{_e(amount(c.get("forecast_p10"), cur, compact=True))} – {_e(amount(c.get("forecast_p90"), cur, compact=True))}.'
        f'{_e(below)} {_e(QUOTAS_ADD_UP if s.rep_quotas else NO_REP_QUOTAS)} '
        f'<b data-key="quota" data-value="{float(c["quota"]):.6f}">{_e(amount(c["quota"], cur))}</b>.</p></section>')


#: the commitment's last sentence, with and without rep quotas (no reps table)
QUOTAS_ADD_UP = "Rep quotas add up to"
NO_REP_QUOTAS = "No rep quotas (the data have no reps table): the region targets add up to"


def render_summary_html(s: ExecutiveSummary, *, index_href: str | None = "index.html",
                        pdf_href: str | None = SUMMARY_PDF) -> str:
    """The summary as one self-contained HTML page (no script, nothing fetched), in the
    report language (:func:`salesplan.reports.i18n.translate_html`)."""
    from salesplan.reports.i18n import translate_html

    return translate_html(_summary_page(s, index_href=index_href, pdf_href=pdf_href))


def _summary_page(s: ExecutiveSummary, *, index_href: str | None, pdf_href: str | None) -> str:
    decisions_html = "".join(
        f'<li data-decision="{_e(d.key)}">{_e(d.action)}<span class="effect"><b>Effect ({_e(d.unit)}):</b> '
        f'<span data-key="effect_{_e(d.key)}" data-value="{"" if d.value is None else f"{d.value:.6f}"}">'
        f'{_e(d.effect)}</span></span></li>' for d in s.decisions)
    rec_html = "".join(f'<dt data-reconciled="{_e(r.key)}">{_e(r.seems)}</dt><dd>{_e(r.because)}</dd>'
                       for r in s.reconciliations)
    alerts = "".join(f'<p class="alert" role="alert">{_e(n)}</p>' for n in s.alerts)
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in s.notes)
    changed = ('<p class="note">Parameters changed from the defaults: '
               + ", ".join(f"<code>{_e(k)} = {_e(v)}</code>" for k, v in s.changed_parameters.items())
               + "</p>") if s.changed_parameters else ""
    nav = "".join(f'<a class="nav" href="{_e(h)}">{_e(t)}</a> ' for h, t in
                  ((index_href, "all reports"), (pdf_href, "PDF")) if h)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">'
        f'<meta name="generator" content="salesplan"><title>Executive summary {_e(s.period)}</title>'
        f'<link rel="icon" href="data:,"><style>{SUMMARY_CSS}</style></head>'
        f'<body class="sp-summary"><header class="top"><span>salesplan · run {_e(s.run_id)}</span>'
        f'<span>{nav}</span></header><main>'
        f'<h1>Sales plan {_e(s.period)}: executive summary</h1>{alerts}{changed}{_commit_html(s)}'
        f'<h2>From last year to the target and the quotas ({_e(s.period)}, {_e(s.currency)})</h2>{_bridge_html(s)}'
        f'<h2>Decisions to sign</h2><ol class="decisions">{decisions_html}</ol>{notes}'
        + (f'<h2>Where the reports seem to disagree</h2><dl class="rec">{rec_html}</dl>' if rec_html else "")
        + '<p class="muted">Amounts in the company currency; "12 months" = the 12 months before the plan '
          'quarter. Details, methods and full lists: the reports and the workbook of this run.</p>'
        '</main></body></html>\n')


# --------------------------------------------------------------------------- files


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an
    ``os.replace``: readers see the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def chromium_missing(chromium: str = CHROMIUM, *, playwright: bool = True) -> str | None:
    """Why a PDF cannot be printed here (``None`` when it can).  The printer needs the
    browser's file only; ``playwright=True`` (the browser tests) also asks for the
    Playwright package."""
    if not (Path(chromium).exists() or shutil.which(chromium)):
        return f"Chromium not found at {chromium}"
    if not playwright:
        return None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    return None


#: Switches Playwright gave the printer's Chromium before (the same PDF, bit for bit but its
#: dates): no background work, throttling, extensions or prompts, sRGB colours, no scrollbars.
PRINTER_SWITCHES = [
    "--disable-field-trial-config", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows", "--disable-back-forward-cache", "--disable-breakpad",
    "--disable-component-extensions-with-background-pages", "--no-default-browser-check",
    "--disable-default-apps", "--disable-dev-shm-usage", "--disable-extensions",
    "--disable-features=DestroyProfileOnBrowserClose,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,"
    "LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,OptimizationHints,"
    "NetworkTimeServiceQuerying,PreconnectToSearch",
    "--disable-hang-monitor", "--disable-ipc-flooding-protection", "--disable-popup-blocking",
    "--disable-prompt-on-repost", "--disable-renderer-backgrounding", "--force-color-profile=srgb",
    "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain", "--no-service-autorun",
    "--disable-search-engine-choice-screen", "--hide-scrollbars", "--mute-audio",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
]
#: A4 in inches (Chromium's paper size unit)
A4_INCHES = (8.27, 11.7)
#: Seconds Chromium has to answer one command (or send an awaited event, e.g. a page's
#: ``load``) before it is killed and the print fails; Playwright's launch and page loads
#: had 30 s, a scale-100 summary prints in ~2 s
ANSWER_TIMEOUT = 120.0


class DevtoolsPipe:
    """Chromium driven over its DevTools protocol on ``--remote-debugging-pipe``.

    Chromium reads commands on its file descriptor 3 and writes replies and events on 4,
    each a JSON text ended by a NUL byte.  Without Playwright's driver (a Node.js process of
    ~120 MiB proportional set size) beside the browser.  Chromium's output is discarded.

    Parameters
    ----------
    chromium : str
        The browser's executable.
    args : list of str
        Its switches (besides the pipe, a throw-away profile and no startup window).
    timeout : float
        Seconds the browser has to answer each command or send an awaited event; past
        it the browser is killed and ``RuntimeError`` raised (a stopped or hung browser
        never blocks the caller for longer).
    """

    def __init__(self, chromium: str, args: Sequence[str], *, timeout: float = ANSWER_TIMEOUT):
        import fcntl
        import tempfile

        self.chromium, self.timeout = chromium, timeout
        self.profile = tempfile.mkdtemp(prefix="salesplan-chromium-")
        ends = []
        for end in (*os.pipe(), *os.pipe()):  # above 4, so that placing them on 3 and 4 clobbers none
            ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10))
            os.close(end)
        to_browser, commands, replies, from_browser = ends
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        try:  # posix_spawn, not fork: the caller runs threads; the child keeps none of its files
            self.pid = os.posix_spawnp(
                chromium, [chromium, *args, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                           "--no-startup-window"], os.environ,
                file_actions=[*quiet, (os.POSIX_SPAWN_DUP2, to_browser, 3), (os.POSIX_SPAWN_DUP2, from_browser, 4)])
        except BaseException:
            os.close(commands)
            os.close(replies)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        finally:
            os.close(to_browser)
            os.close(from_browser)
        self._out, self._in = os.fdopen(commands, "wb", buffering=0), os.fdopen(replies, "rb", buffering=0)
        self._pending, self._scanned, self._last_id, self._events = bytearray(), 0, 0, []
        self.exit_code: int | None = None

    def _deadline(self, timeout: float | None) -> tuple[float, float]:
        """``(deadline, seconds)``: ``time.monotonic()`` plus ``timeout`` (default :attr:`timeout`)."""
        import time

        seconds = self.timeout if timeout is None else timeout
        return time.monotonic() + seconds, seconds

    def _message(self, deadline: tuple[float, float], waiting_for: str) -> dict:
        """The next message, read before ``deadline`` (:meth:`_deadline`); else the browser
        is killed and ``RuntimeError`` raised."""
        import select
        import time

        while (end := self._pending.find(b"\0", self._scanned)) < 0:
            self._scanned = len(self._pending)  # a long reply (the PDF) is searched once
            left = deadline[0] - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                self.kill()
                raise RuntimeError(f"{Path(self.chromium).name} did not answer {waiting_for} within "
                                   f"{deadline[1]:g} s (stopped)")
            chunk = self._in.read(1 << 16)
            if not chunk:
                raise RuntimeError(f"{self.chromium} ended without answering (is it Chromium?)")
            self._pending += chunk
        message = bytes(self._pending[:end])
        del self._pending[:end + 1]
        self._scanned = 0
        return json.loads(message)

    def kill(self) -> None:
        """Kill the browser at once (:meth:`close` still reaps it and removes its profile)."""
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def send(self, method: str, params: Mapping | None = None, *, session: str | None = None,
             timeout: float | None = None) -> dict:
        """The result of command ``method`` (for the page of ``session``, optional);
        ``RuntimeError`` with the browser's error, or when it does not answer within
        ``timeout`` s (default :attr:`timeout`).  Events meanwhile are kept (:meth:`wait_for`)."""
        self._last_id += 1
        command = {"id": self._last_id, "method": method, "params": dict(params or {})}
        if session is not None:
            command["sessionId"] = session
        deadline = self._deadline(timeout)
        try:
            self._out.write(json.dumps(command).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"{self.chromium} ended without answering (is it Chromium?)") from None
        while True:
            message = self._message(deadline, method)
            if message.get("id") == self._last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error'].get('message', message['error'])}")
                return message["result"]
            if "method" in message:
                self._events.append(message)

    def wait_for(self, is_it: Callable[[dict], bool], what: str = "the awaited event",
                 timeout: float | None = None) -> dict:
        """The first event (kept or next) for which ``is_it(event)`` is true; the kept
        events before it are dropped.  ``RuntimeError`` (the browser killed) when none
        comes within ``timeout`` s (default :attr:`timeout`)."""
        deadline = self._deadline(timeout)
        while True:
            event = self._events.pop(0) if self._events else self._message(deadline, what)
            if "method" in event and is_it(event):
                return event

    def close(self, timeout: float = 30) -> None:
        """Close the browser (killed after ``timeout`` s) and remove its profile."""
        import signal
        import time

        try:
            with contextlib.suppress(Exception):
                self.send("Browser.close", timeout=timeout)
            deadline = time.monotonic() + timeout
            while self.exit_code is None:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.exit_code = os.waitstatus_to_exitcode(status)
                elif time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    deadline = float("inf")
                else:
                    time.sleep(0.05)
        finally:
            for f in (self._out, self._in):
                with contextlib.suppress(OSError):
                    f.close()
            shutil.rmtree(self.profile, ignore_errors=True)


def _open_page(browser: DevtoolsPipe) -> str:
    """A blank page in a new browser context, set as Playwright set its pages (a 1280 x 720
    CSS px viewport, its default fonts for Linux); its session id."""
    context = browser.send("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
    target = browser.send("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.send("Page.enable", session=session)
    browser.send("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {
        "mobile": False, "width": 1280, "height": 720, "screenWidth": 1280, "screenHeight": 720,
        "deviceScaleFactor": 1, "screenOrientation": {"angle": 0, "type": "landscapePrimary"}}, session=session)
    browser.send("Emulation.setFocusEmulationEnabled", {"enabled": True}, session=session)
    browser.send("Page.setFontFamilies", {"fontFamilies": {
        "standard": "Times New Roman", "fixed": "Monospace", "serif": "Times New Roman", "sansSerif": "Arial",
        "cursive": "Comic Sans MS", "fantasy": "Impact"}}, session=session)
    return session


def _print_page(browser: DevtoolsPipe, session: str, html_path: str | Path) -> bytes:
    """Load ``html_path`` into the page of ``session`` and print it: A4, backgrounds, the
    page's own CSS page size first, no margins, headers or footers (PDF bytes)."""
    loading = browser.send("Page.navigate", {"url": Path(html_path).resolve().as_uri()}, session=session)
    if loading.get("errorText"):
        raise RuntimeError(f"cannot open {Path(html_path).name}: {loading['errorText']}")
    browser.wait_for(lambda e: e.get("sessionId") == session and e["method"] == "Page.lifecycleEvent"
                     and e["params"].get("name") == "load" and e["params"].get("loaderId") == loading.get("loaderId"),
                     f"the load of {Path(html_path).name}")
    printed = browser.send("Page.printToPDF", {
        "landscape": False, "displayHeaderFooter": False, "printBackground": True, "scale": 1,
        "paperWidth": A4_INCHES[0], "paperHeight": A4_INCHES[1], "marginTop": 0, "marginBottom": 0,
        "marginLeft": 0, "marginRight": 0, "pageRanges": "", "preferCSSPageSize": True,
        "generateTaggedPDF": False, "generateDocumentOutline": False}, session=session)
    import base64

    return base64.b64decode(printed["data"])


class PdfPrinter:
    """One headless Chromium that prints HTML files to A4 PDFs.

    The browser is launched in the background as soon as the printer is made, so a run
    can make it before its last notebook ends and print the summary without waiting for
    a launch; :meth:`close` (or ``with``) shuts it down.  The browser is driven from the
    printer's own thread over its DevTools pipe (:class:`DevtoolsPipe`).  A launch that
    fails is raised by :meth:`print`.  ``after`` (a ``threading.Event``, optional) delays
    the launch until it is set (at most ``wait_at_most`` seconds, default 120; ``None``: no
    limit, the caller sets it); ``initializer`` (optional) runs first in the printer's
    thread (e.g. to lower its priority, which the browser inherits).  Chromium runs as one
    process (:data:`CHROMIUM_ARGS`) and every print loads its file into the same page,
    opened at the launch.  A browser that does not answer a command or load a page within
    ``answer_timeout`` seconds (default :data:`ANSWER_TIMEOUT`) is killed: the print fails
    with ``RuntimeError`` and :meth:`close` returns.
    """

    def __init__(self, chromium: str = CHROMIUM, *, after=None, wait_at_most: float | None = 120,
                 initializer=None, answer_timeout: float = ANSWER_TIMEOUT):
        from concurrent.futures import ThreadPoolExecutor

        self._why = chromium_missing(chromium, playwright=False)
        self._answer_timeout = answer_timeout
        self._browser: DevtoolsPipe | None = None
        self._page: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesplan-chromium",
                                        initializer=initializer)
        self._launched = None if self._why else self._pool.submit(self._launch, chromium, after, wait_at_most)

    def _launch(self, chromium: str, after=None, wait_at_most: float | None = 120) -> None:
        if after is not None:  # e.g. the runner's last notebook started: the launch not beside the others
            after.wait(timeout=wait_at_most)
        self._browser = DevtoolsPipe(chromium, [*PRINTER_SWITCHES, *CHROMIUM_ARGS], timeout=self._answer_timeout)
        # the page every print loads its file into, opened while waiting; never closed
        # before the browser (single process: a closed context takes the browser with it)
        self._page = _open_page(self._browser)

    def print(self, html_path: str | Path, pdf_path: str | Path, *, timeout: float = 180) -> Path:
        """Print ``html_path`` to ``pdf_path`` (atomically); ``RuntimeError`` naming what is
        missing when Chromium is absent."""
        if self._launched is not None:
            self._launched.result(timeout=timeout)
        if self._why:
            raise RuntimeError(f"cannot print {Path(pdf_path).name}: {self._why}")
        data = self._pool.submit(_print_page, self._browser, self._page, html_path).result(timeout=timeout)
        return write_atomic(pdf_path, data)

    def _shut(self) -> None:
        if self._browser is not None:
            self._browser.close()
        self._browser = self._page = None

    def close(self, timeout: float = 180) -> None:
        """Shut the browser down (after a launch in progress, waiting ``timeout`` s at most)."""
        if self._launched is not None:
            with contextlib.suppress(Exception):  # a failed launch has nothing to close
                self._launched.result(timeout=timeout)
            if self._launched.done():
                with contextlib.suppress(Exception):
                    self._pool.submit(self._shut).result(timeout=timeout)
        self._pool.shutdown(wait=self._launched is None or self._launched.done())

    def __enter__(self) -> PdfPrinter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def print_pdf(html_path: str | Path, pdf_path: str | Path, *, chromium: str = CHROMIUM) -> Path:
    """Print an HTML file to an A4 PDF with headless Chromium (``Page.printToPDF``), atomically.

    Uses the installed Chromium (no browser download).  Raises ``RuntimeError`` naming
    what is missing when Chromium is absent.  To print several files, or to launch the
    browser ahead of time, use :class:`PdfPrinter`.
    """
    with PdfPrinter(chromium) as printer:
        return printer.print(html_path, pdf_path)


def write_summary(run_dir: str | Path, *, reports: Sequence[Mapping] | None = None, pdf: bool = True,
                  params: SummaryParams = SummaryParams(), chromium: str = CHROMIUM,
                  note: Callable[[str], None] | None = None,
                  changed_parameters: Mapping[str, str] | None = None,
                  printer: PdfPrinter | None = None) -> SummaryFiles | None:
    """Write ``summary.html`` (and ``summary.pdf``) into a run folder.

    Parameters
    ----------
    run_dir : path
        The run folder (see :func:`load_run_tables`).
    reports : sequence of mappings, optional
        The runner's report records (default: the folder's ``run.json``).
    pdf : bool, default True
        Also print ``summary.pdf`` (A4) with headless Chromium; without Chromium the PDF
        is skipped with a note.
    note : callable, optional
        Receives one line per skip or problem (the runner's log).
    changed_parameters : mapping, optional
        Parameters of the run that differ from the defaults (name -> shown value).
    printer : PdfPrinter, optional
        The browser that prints the PDF (e.g. launched while the run's notebooks ran);
        default: one launched for it (``chromium``).

    Returns
    -------
    SummaryFiles or None
        ``None`` (and a note) when the run holds no targets tables: nothing is written.
    """
    say = note or (lambda line: None)
    folder = Path(run_dir)
    tables = load_run_tables(folder, reports)
    try:
        summary = build_summary(tables, params, changed_parameters)
    except ValueError as exc:
        say(f"summary: skipped: {exc}")
        return None
    html_path = write_atomic(folder / SUMMARY_HTML, render_summary_html(summary, pdf_href=SUMMARY_PDF if pdf else None))
    notes = list(summary.alerts) + list(summary.notes)
    pdf_path = None
    if pdf:
        try:
            pdf_path = (printer.print(html_path, folder / SUMMARY_PDF) if printer is not None
                        else print_pdf(html_path, folder / SUMMARY_PDF, chromium=chromium))
        except Exception as exc:  # noqa: BLE001 - the HTML summary stands without its PDF
            say(f"summary: {SUMMARY_PDF} not written: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            html_path = write_atomic(folder / SUMMARY_HTML, render_summary_html(summary, pdf_href=None))
    return SummaryFiles(html=html_path, pdf=pdf_path, notes=notes, summary=summary)
