"""The forecast notebook's tables: quarter and month summaries, accuracy by level, reasons.

The forecast models (:mod:`salesplan.models.forecast`) return sample paths, backtest
errors and per-series reasons; this module turns them into the tables the forecast
notebook (02) shows and saves to the plan store (kind ``forecast``):

- :func:`quarter_summary`: per series, the plan quarter's mean and 80% / 95% ranges with
  the same quarter last year, the quarter before and the growth on last year;
- :func:`monthly_table`: per series and month of the horizon, the mean and ranges;
- :func:`accuracy_by_level` / :func:`accuracy_per_series` / :func:`interval_coverage`:
  the rolling-origin backtest summarised per level (company, region, rep, product line);
- :func:`series_reasons` / :func:`add_roster_notes` / :func:`treatment_summary`: what was
  done for each series (standard model or a stated fallback), with the roster's reps
  who have no history (:func:`reps_with_sales`) or who have left.

Every function is pure (DataFrames and arrays in, DataFrames out).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ForecastTables",
    "LEVEL_ORDER",
    "QUANTILES",
    "accuracy_by_level",
    "accuracy_per_series",
    "accuracy_series_table",
    "actual_in",
    "add_roster_notes",
    "build_forecast_tables",
    "history_wide",
    "interval_coverage",
    "monthly_table",
    "quarter_summary",
    "reconciliation_note",
    "reconciliation_table",
    "rep_table",
    "reps_with_sales",
    "sort_reasons",
    "series_reasons",
    "treatment_summary",
    "treatment_words",
]

#: the levels of the forecast, in the order the tables show them
LEVEL_ORDER: dict[str, int] = {"company": 0, "region": 1, "rep": 2, "product line": 3}

#: range column -> quantile of the simulated values (80% range: 10%-90%; 95%: 2.5%-97.5%)
QUANTILES: dict[str, float] = {"lo-80": 0.10, "hi-80": 0.90, "lo-95": 0.025, "hi-95": 0.975}


def _ranges(values: np.ndarray, axis: int) -> dict[str, np.ndarray]:
    """Mean and the four range quantiles of ``values`` along ``axis``."""
    out = {"mean": values.mean(axis=axis)}
    out.update({k: np.quantile(values, q, axis=axis) for k, q in QUANTILES.items()})
    return out


def actual_in(long: pd.DataFrame, months: Sequence[pd.Period]) -> pd.Series:
    """Actual sales of each series summed over ``months``, when all of them are in the history.

    Parameters
    ----------
    long : DataFrame
        Monthly history in long form: ``unique_id, ds`` (first day of the month), ``y``
        (net revenue of the month, company currency).
    months : sequence of pandas.Period
        The months to add up (e.g. the same quarter last year).

    Returns
    -------
    Series
        Index ``unique_id``; the sum of ``y`` over ``months``, NaN for a series that lacks
        one of them (a quarter partly before its first month is not a comparable actual).
    """
    ds = [m.start_time for m in months]
    got = long[long["ds"].isin(ds)].groupby("unique_id")["y"]
    return got.sum().where(got.count() == len(ds))


def quarter_summary(ids: Sequence[str], quarter_totals: np.ndarray, long: pd.DataFrame,
                    info: pd.DataFrame, last_year_months: Sequence[pd.Period],
                    previous_months: Sequence[pd.Period]) -> pd.DataFrame:
    """The plan quarter per series: mean, 80% and 95% ranges, last year's actual, growth.

    Parameters
    ----------
    ids : sequence of str
        Series ids, in the row order of ``quarter_totals``.
    quarter_totals : ndarray, shape (n_series, n_paths)
        Each series' simulated quarter totals (sum of the quarter's months on each path).
    long : DataFrame
        The series' monthly history (``unique_id, ds, y``).
    info : DataFrame
        One row per series with ``unique_id`` and the descriptive columns to keep in front
        (level, region, rep_id, label, ...).
    last_year_months, previous_months : sequence of pandas.Period
        The same quarter a year earlier and the quarter before the plan quarter.

    Returns
    -------
    DataFrame
        ``info``'s columns, then ``unique_id``-matched ``mean, lo-80, hi-80, lo-95, hi-95``
        (quantiles 10/90 and 2.5/97.5% of the paths), ``last_year``, ``last_quarter`` and
        ``growth_vs_ly = mean / last_year - 1`` (NaN when last year's actual is not
        positive).
    """
    q = np.asarray(quarter_totals, dtype=float)
    if q.ndim != 2 or q.shape[0] != len(ids):
        raise ValueError(f"quarter_totals: shape {q.shape}; expected ({len(ids)}, n_paths), one row per id")
    r = _ranges(q, axis=1)
    out = pd.DataFrame({"unique_id": list(ids), "mean": r["mean"], "lo-80": r["lo-80"], "hi-80": r["hi-80"],
                        "lo-95": r["lo-95"], "hi-95": r["hi-95"]})
    out["last_year"] = out["unique_id"].map(actual_in(long, last_year_months))
    out["last_quarter"] = out["unique_id"].map(actual_in(long, previous_months))
    out["growth_vs_ly"] = out["mean"] / out["last_year"].where(out["last_year"] > 0) - 1
    return info.merge(out, on="unique_id")


def monthly_table(ids: Sequence[str], paths: np.ndarray, info: pd.DataFrame,
                  first_month: pd.Period) -> pd.DataFrame:
    """Per series and month of the horizon: mean and 80% / 95% ranges.

    Parameters
    ----------
    ids : sequence of str
        Series ids, in the row order of ``paths``.
    paths : ndarray, shape (n_series, n_paths, h)
        Simulated monthly sales (company currency) of the ``h`` months after the history.
    info : DataFrame
        One row per series with ``unique_id`` and descriptive columns (kept in front).
    first_month : pandas.Period
        The first forecast month (the month after the history).

    Returns
    -------
    DataFrame
        ``info``'s columns, ``ds`` (first day of the month), ``mean, lo-80, hi-80, lo-95,
        hi-95``; one row per series and month.
    """
    p = np.asarray(paths, dtype=float)
    if p.ndim != 3 or p.shape[0] != len(ids):
        raise ValueError(f"paths: shape {p.shape}; expected ({len(ids)}, n_paths, h), one row per id")
    months = pd.period_range(first_month, periods=p.shape[2], freq="M").start_time
    r = _ranges(p, axis=1)  # (n_series, h) each: all series in one pass
    h = p.shape[2]
    rows = pd.DataFrame({"unique_id": np.repeat(np.asarray(list(ids), dtype=object), h),
                         "ds": np.tile(months.to_numpy(), len(ids)),
                         **{k: r[k].reshape(-1) for k in ("mean", "lo-80", "hi-80", "lo-95", "hi-95")}})
    return info.merge(rows, on="unique_id")


def accuracy_by_level(cv: pd.DataFrame, level_of: Mapping[str, str],
                      levels: Sequence[str] = tuple(LEVEL_ORDER)) -> pd.DataFrame:
    """Backtest accuracy of every method, level by level.

    Parameters
    ----------
    cv : DataFrame
        Output of :func:`salesplan.models.forecast.cross_validation` for all the series.
    level_of : mapping
        ``unique_id -> level`` (``"company"``, ``"region"``, ``"rep"``, ``"product line"``).
    levels : sequence of str
        Levels to report, in this order; a level without series is left out.

    Returns
    -------
    DataFrame
        ``level, method`` (``"snaive"`` named ``"seasonal naive"``), ``n_series, mase,
        smape, bias_pct, rel_mase, coverage-80, coverage-95``, where ``smape`` and
        ``bias_pct`` are fractions (the report's percent / 100): sMAPE the mean monthly
        ``200|y-f|/(|y|+|f|)``, bias ``sum(f - y) / sum|y|``.
    """
    from salesplan.models.forecast import accuracy_report

    lv = cv["unique_id"].map(level_of)
    rows = []
    for level in levels:
        sub = cv[lv == level]
        if sub.empty:
            continue
        for r in accuracy_report(sub)["overall"].to_dict("records"):
            rows.append({"level": level, "method": "seasonal naive" if r["method"] == "snaive" else r["method"],
                         **{k: r[k] for k in ("n_series", "mase", "smape", "bias_pct", "rel_mase",
                                              "coverage-80", "coverage-95")}})
    out = pd.DataFrame(rows, columns=["level", "method", "n_series", "mase", "smape", "bias_pct",
                                      "rel_mase", "coverage-80", "coverage-95"])
    out["bias_pct"] = out["bias_pct"] / 100
    out["smape"] = out["smape"] / 100
    return out


def accuracy_per_series(cv: pd.DataFrame, level_of: Mapping[str, str],
                        label_of: Mapping[str, str]) -> pd.DataFrame:
    """Backtest accuracy per series and method, with the series' level and label.

    Returns
    -------
    DataFrame
        The ``per_series`` table of :func:`salesplan.models.forecast.accuracy_report`
        (``unique_id, method, mase, smape`` in percent, ``bias`` in currency per month,
        ``rel_mase, coverage-L``) plus ``level`` and ``label``.
    """
    from salesplan.models.forecast import accuracy_report

    per = accuracy_report(cv)["per_series"]
    return per.assign(level=per["unique_id"].map(level_of), label=per["unique_id"].map(label_of))


def interval_coverage(cv: pd.DataFrame, method: str, level: int = 80) -> float:
    """Share of backtest months whose actual fell inside the ``level``% range of ``method``.

    ``mean(lo <= y <= hi)`` over every series and month of ``method``'s rows (NaN when
    there are none).
    """
    d = cv.loc[cv["method"] == method]
    if d.empty:
        return float("nan")
    return float(((d["y"] >= d[f"lo-{level}"]) & (d["y"] <= d[f"hi-{level}"])).mean())


def treatment_words(method: str) -> dict[str, str]:
    """Plain words for the model a series got (``method`` is the standard one)."""
    return {method: "standard model", "sba": "intermittent sales (Croston/SBA)",
            "croston": "intermittent sales (Croston)", "tsb": "intermittent sales (TSB)",
            "short": "short history: scaled peer profile", "zero": "no sales: forecast 0"}


def series_reasons(parts: Sequence[pd.DataFrame], level_of: Mapping[str, str],
                   label_of: Mapping[str, str], method: str) -> pd.DataFrame:
    """What was done for each series: the standard model or a stated fallback.

    Parameters
    ----------
    parts : sequence of DataFrame
        ``reasons_`` tables of the fitted forecasters (``unique_id, model, n_obs, reason``),
        concatenated in this order.
    level_of, label_of : mapping
        ``unique_id -> level`` and ``unique_id -> label``.
    method : str
        The standard method (shown as "standard model").

    Returns
    -------
    DataFrame
        The reasons with ``level``, ``treatment`` (plain words; an unknown model keeps its
        name) and ``label``, in the order of the parts (sort with :func:`sort_reasons`).
    """
    reasons = pd.concat(list(parts), ignore_index=True)
    reasons["level"] = reasons["unique_id"].map(level_of)
    reasons["treatment"] = reasons["model"].map(treatment_words(method)).fillna(reasons["model"])
    reasons["label"] = reasons["unique_id"].map(label_of)
    return reasons


def reps_with_sales(history_orders: pd.DataFrame) -> frozenset:
    """The reps who sold in the history: the distinct non-null ``rep_id`` of its order lines.

    Taken once by the forecast notebook, which then lets the order lines go
    (:meth:`salesplan.planning.context.PlanContext.without_order_lines`)."""
    return frozenset(history_orders["rep_id"].dropna().unique())  # distinct ids, not one per line


def add_roster_notes(reasons: pd.DataFrame, reps: pd.DataFrame | None, sold_reps: Collection,
                     quarter_start: pd.Timestamp, quarter_mean: Mapping[str, float],
                     money: Callable[[float], str]) -> pd.DataFrame:
    """Add the roster's view: reps without sales history, and reps who have left.

    A rep of the ``reps`` table who sold nothing in the history and is still employed at
    the quarter's start gets a row "rep without sales history" (no forecast of their own;
    the region covers the territory).  A rep who left before the quarter starts but sold
    in the history keeps their row, with the treatment "rep has left" and the amount still
    forecast on their name (their reconciled share) when it is not 0.

    Parameters
    ----------
    reasons : DataFrame
        Output of :func:`series_reasons`.
    reps : DataFrame or None
        The ``reps`` table (``rep_id, name, region, hire_date, exit_date``); None = no notes.
    sold_reps : collection of str
        The reps who sold in the history (:func:`reps_with_sales`).
    quarter_start : pandas.Timestamp
        First day of the plan quarter.
    quarter_mean : mapping
        ``unique_id -> forecast mean of the quarter`` (company currency).
    money : callable
        Formats an amount for the reason text (e.g. :func:`salesplan.reports.money`).

    Returns
    -------
    DataFrame
        ``reasons`` with the notes, sorted by :func:`sort_reasons`.
    """
    reasons = reasons.copy()
    if reps is None:
        return sort_reasons(reasons)
    sold = frozenset(sold_reps)
    extra = []
    for rid, r in reps.sort_values("rep_id").set_index("rep_id").iterrows():
        gone = pd.notna(r["exit_date"]) and r["exit_date"] < quarter_start
        uid = f"region={r['region']}|rep_id={rid}"
        if rid not in sold and not gone:
            extra.append({"unique_id": uid, "level": "rep", "n_obs": 0,
                          "label": f"{rid} {r['name']}", "treatment": "rep without sales history",
                          "reason": f"no sales in the history (hired {r['hire_date']:%Y-%m-%d}): no forecast of "
                                    "their own; the region's forecast covers the territory"})
        elif gone and rid in sold:
            left_fc = float(quarter_mean.get(uid, 0.0))
            mine = reasons["unique_id"] == uid
            reasons.loc[mine, "treatment"] = "rep has left"
            reasons.loc[mine, "reason"] = (
                f"left on {r['exit_date']:%Y-%m-%d}; their accounts moved to other reps"
                + ("" if left_fc == 0 else f"; {money(left_fc)} still forecast on their name (reconciled share)"))
    if extra:
        reasons = pd.concat([reasons, pd.DataFrame(extra)], ignore_index=True)
    return sort_reasons(reasons)


def sort_reasons(reasons: pd.DataFrame) -> pd.DataFrame:
    """Reasons sorted by level (company, region, rep, product line), label and id."""
    o = reasons["level"].map(LEVEL_ORDER)
    return (reasons.assign(_o=o).sort_values(["_o", "label", "unique_id"], ignore_index=True)
            .drop(columns="_o"))


def treatment_summary(reasons: pd.DataFrame) -> pd.DataFrame:
    """Number of series per level and treatment (``level, treatment, series``), by level."""
    return (reasons.groupby(["level", "treatment"]).size().rename("series").reset_index()
            .assign(_o=lambda d: d["level"].map(LEVEL_ORDER)).sort_values(["_o", "treatment"], ignore_index=True)
            .drop(columns="_o"))


def rep_table(reps_quarter: pd.DataFrame, reasons: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The reps' quarter forecasts with how each was made, without departed reps forecast 0.

    Parameters
    ----------
    reps_quarter : DataFrame
        The rep rows of :func:`quarter_summary`.
    reasons : DataFrame
        Output of :func:`add_roster_notes` (``unique_id, treatment``).

    Returns
    -------
    (DataFrame, int)
        ``region, label, last_year, mean, lo-80, hi-80, growth_vs_ly, treatment`` of every
        rep except those who have left and are forecast exactly 0, and how many those are.
    """
    tab = reps_quarter.merge(reasons[["unique_id", "treatment"]], on="unique_id", how="left")
    hidden = tab["treatment"].eq("rep has left") & tab["mean"].eq(0)
    cols = ["region", "label", "last_year", "mean", "lo-80", "hi-80", "growth_vs_ly", "treatment"]
    return tab.loc[~hidden, cols], int(hidden.sum())


def accuracy_series_table(per_series: pd.DataFrame, method: str,
                          levels: Sequence[str] = ("company", "region", "product line")) -> pd.DataFrame:
    """Backtest accuracy of ``method`` for the series of ``levels``, sMAPE as a fraction.

    Rows sorted by level (:data:`LEVEL_ORDER`) and label; columns ``level, label, mase,
    rel_mase, smape, bias, coverage-80, coverage-95``.
    """
    ps = per_series[(per_series["method"] == method) & per_series["level"].isin(list(levels))]
    ps = ps.assign(_o=ps["level"].map(LEVEL_ORDER), smape=ps["smape"] / 100).sort_values(["_o", "label"],
                                                                                        ignore_index=True)
    return ps[["level", "label", "mase", "rel_mase", "smape", "bias", "coverage-80", "coverage-95"]]


def history_wide(long: pd.DataFrame, ids: Sequence[str], names: Sequence[str], start) -> pd.DataFrame:
    """Monthly history of ``ids`` from ``start`` on, one column per series named ``names``.

    Returns
    -------
    DataFrame
        Index ``ds`` (first day of the month), columns ``names`` (in the order of ``ids``),
        values ``y`` (company currency per month).
    """
    w = long[long["unique_id"].isin(list(ids)) & (long["ds"] >= pd.Timestamp(start))]
    return w.pivot(index="ds", columns="unique_id", values="y")[list(ids)].rename(columns=dict(zip(ids, names)))


@dataclass(frozen=True)
class ForecastTables:
    """The forecast notebook's tables (see :func:`build_forecast_tables`).

    Attributes
    ----------
    quarter : DataFrame
        :func:`quarter_summary` of every node of the hierarchy (company, regions, reps).
    product_lines : DataFrame
        :func:`quarter_summary` of the product lines.
    months : DataFrame
        :func:`monthly_table` of every node.
    accuracy, accuracy_by_series : DataFrame
        :func:`accuracy_by_level` and :func:`accuracy_per_series`.
    reasons : DataFrame
        :func:`series_reasons` with :func:`add_roster_notes`.
    coverage_80 : float
        :func:`interval_coverage` of the method (all series, 80% range).
    """

    quarter: pd.DataFrame
    product_lines: pd.DataFrame
    months: pd.DataFrame
    accuracy: pd.DataFrame
    accuracy_by_series: pd.DataFrame
    reasons: pd.DataFrame
    coverage_80: float

    def level(self, name: str) -> pd.DataFrame:
        """The quarter rows of one level, sorted by region and rep."""
        keys = {"company": [], "region": ["region"], "rep": ["region", "rep_id"]}[name]
        rows = self.quarter[self.quarter["level"] == name]
        return rows.sort_values(keys, ignore_index=True) if keys else rows.reset_index(drop=True)

    @property
    def company(self) -> pd.Series:
        """The company's quarter row."""
        return self.level("company").iloc[0]

    @property
    def fallbacks(self) -> pd.DataFrame:
        """The series not on the standard model, with the reason."""
        return self.reasons[self.reasons["treatment"] != "standard model"]

    def company_accuracy(self, method: str) -> tuple[pd.Series, pd.Series]:
        """The company's accuracy rows of ``method`` and of seasonal naive."""
        acc = self.accuracy[self.accuracy["level"] == "company"].set_index("method")
        return acc.loc[method], acc.loc["seasonal naive"]

    def outputs(self, paths: pd.DataFrame, reconciliation: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The tables saved to the plan store (kind ``forecast``), months as ``YYYY-MM`` text."""
        return {"quarter": self.quarter, "months": self.months.assign(ds=lambda d: d["ds"].dt.strftime("%Y-%m")),
                "paths": paths, "product_lines": self.product_lines, "accuracy": self.accuracy,
                "accuracy_by_series": self.accuracy_by_series, "reasons": self.reasons,
                "reconciliation": reconciliation}


def build_forecast_tables(ctx, hf, node_info: pd.DataFrame, long: pd.DataFrame, pl_fc, pl_long: pd.DataFrame,
                          pl_paths: np.ndarray, cv: pd.DataFrame, method: str, *, sold_reps: Collection,
                          reps: pd.DataFrame | None = None, money: Callable[[float], str] = "{:,.0f}".format
                          ) -> ForecastTables:
    """Every table of the forecast notebook from the fitted forecasts and the backtest.

    Parameters
    ----------
    ctx : salesplan.planning.context.PlanContext
        The plan quarter (its dates only: the context may hold no order lines).
    hf : salesplan.models.forecast.HierarchyForecast
        The reconciled forecast of the hierarchy (company, regions, reps); its paths cover
        the ``ctx.horizon_months`` months after the history, the last 3 being the quarter.
    node_info : DataFrame
        ``unique_id, level, region, rep_id, label`` of the nodes (e.g.
        :func:`salesplan.reports.narrative.forecast_node_info`).
    long : DataFrame
        The hierarchy's monthly history (``unique_id, ds, y``).
    pl_fc, pl_long, pl_paths
        The product lines' fitted Forecaster, monthly history and sample paths
        (n_lines, n_paths, h).
    cv : DataFrame
        :func:`salesplan.models.forecast.cross_validation` of the nodes and product lines.
    method : str
        The forecasting method (the "standard model").
    sold_reps : collection of str
        The reps who sold in the history (:func:`reps_with_sales` of its order lines).
    reps : DataFrame, optional
        The ``reps`` table for the roster notes (None: no notes).
    money : callable
        Formats amounts inside the reasons' text.
    """
    compare = (ctx.last_year_months, ctx.previous_quarter_months)
    ids, pl_ids = list(hf.nodes["unique_id"]), list(pl_fc.ids_)
    pl_info = pl_long.groupby("unique_id", sort=True)["product_line"].first().rename("label").reset_index()
    quarter = quarter_summary(ids, hf.paths[:, :, -3:].sum(axis=2), long, node_info, *compare)
    pl_quarter = quarter_summary(pl_ids, np.asarray(pl_paths)[:, :, -3:].sum(axis=2), pl_long,
                                 pl_info.assign(level="product line"), *compare)
    level_of = {**dict(zip(node_info["unique_id"], node_info["level"])), **{u: "product line" for u in pl_ids}}
    label_of = {**dict(zip(node_info["unique_id"], node_info["label"])),
                **dict(zip(pl_info["unique_id"], pl_info["label"]))}
    reasons = series_reasons([hf.base.reasons_, pl_fc.reasons_], level_of, label_of, method)
    reasons = add_roster_notes(reasons, reps, sold_reps, ctx.quarter.start_time,
                               dict(zip(quarter["unique_id"], quarter["mean"])), money)
    return ForecastTables(quarter=quarter, product_lines=pl_quarter,
                          months=monthly_table(ids, hf.paths, node_info, ctx.last_month + 1),
                          accuracy=accuracy_by_level(cv, level_of),
                          accuracy_by_series=accuracy_per_series(cv, level_of, label_of),
                          reasons=reasons, coverage_80=interval_coverage(cv, method, 80))


def reconciliation_table(scores: pd.DataFrame, chosen: str) -> pd.DataFrame:
    """The reconciliation backtest with a ``chosen`` column (empty when set by parameter)."""
    if scores.empty:
        return scores
    return scores.assign(chosen=scores["method"] == chosen)


def reconciliation_note(chosen: str, note: str, scored: bool) -> str:
    """The sentence shown with the reconciliation backtest (Markdown; ``""``: none).

    Parameters
    ----------
    chosen : str
        The reconciliation used (``HierarchyForecast.method``).
    note : str
        ``HierarchyForecast.note``: how the backtest went when not plainly.
    scored : bool
        Whether the backtest scored any method (its table is shown).
    """
    if note:
        return note + "."
    return "" if scored else f"Reconciliation set by parameter: **{chosen}** (no backtest)."
