"""CPU seconds of the resource notebook's (05) and the quarter review's (07) stages (issue 19).

    python benchmarks/resource_plan_stages.py --plan-store duckdb:////tmp/run/plan_store.duckdb
    python benchmarks/resource_plan_stages.py --source duckdb:////data/s10/salesplan_demo.duckdb \\
        --plan-store duckdb:////tmp/s10/plan_store.duckdb --root /tmp/old-code --root . --repeats 3

Method
------
* The plan store must hold a ``salesplan run`` of the same source and quarter (05 reads the
  targets and the forecast paths of 04 and 02, 07 the quotas); nothing is written to it.
* Each run is a child process that imports the package from ``--root`` (``PYTHONPATH``;
  default this checkout) and makes the notebooks' calls with their default parameters:
  ``load_for``, the plan context, the targets, :func:`headcount_plan`,
  :func:`marketing_plan`, :func:`coverage_plan`, :func:`plan_commission_cost`, the report
  views (tables rendered to HTML, charts to their notebook output), then 07's
  :func:`quarter_review` and its views.  **CPU** is ``resource.getrusage(RUSAGE_SELF)``
  user + system around each stage (every thread of the process, BLAS included).
* The roots are run alternately, ``--repeats`` times each; medians are printed.  On a
  shared machine compare CPU seconds, not wall.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = "duckdb:///" + str(ROOT / "data" / "demo" / "salesplan_demo.duckdb")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _render(items) -> None:
    from matplotlib.figure import Figure

    from salesplan.reports import charts

    for it in items or ():
        if isinstance(it, Figure):
            charts.chart_output(it)
        elif hasattr(it, "_repr_html_"):
            it._repr_html_()


def _child(source: str, store: str, period: str) -> None:  # noqa: PLR0915 - one stage per line
    import warnings

    rows = []

    def stage(name, fn):
        c0 = _cpu()
        out = fn()
        rows.append((name, _cpu() - c0))
        return out

    c_all = _cpu()
    mods = stage("imports", lambda: __import__("salesplan.reports.allocation_view"))
    del mods
    import matplotlib

    matplotlib.use("agg")
    from salesplan.data import PlanStore, load_for
    from salesplan.planning import allocation as al
    from salesplan.planning import commission as cm
    from salesplan.planning.allocation.quarter import coverage_plan, headcount_plan, marketing_plan
    from salesplan.planning.context import PlanContext
    from salesplan.planning.features import plan_features
    from salesplan.planning.performance import DiagnosisParams
    from salesplan.planning.quarter_review import quarter_quotas, quarter_review, review_quarter
    from salesplan.reports import allocation_view as av
    from salesplan.reports import resolve_url
    from salesplan.reports import reviews as rv
    from salesplan.reports.inputs import plan_targets

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    data, ds = stage("05 load_for", lambda: load_for("05_resource_allocation", resolve_url(source)))
    ctx = stage("05 context", lambda: PlanContext.build(data, period, input_fingerprint=ds.fingerprint(data)))
    features = plan_features(ctx)
    run, dist = stage("05 targets", lambda: plan_targets(ctx, store))
    T = run.tables
    reg = T["regions"][["region", "target", "quota"]].sort_values("region", ignore_index=True)
    hc, need, hires = stage("05 headcount_plan", lambda: headcount_plan(reg, T["months"], ctx.history, ctx.history_end,
                                                                        al.CapacityParams()))
    mk = stage("05 marketing_plan", lambda: marketing_plan(
        data, ctx.history_end, ctx.regions, gross_margin_rate=0.35, max_change=0.5, split_regions=features.region_split))
    load, moves, after, cov = stage("05 coverage_plan", lambda: coverage_plan(ctx.history, ctx.history_end,
                                                                               al.CoverageParams()))
    plan_c = cm.CommissionPlan(tiers=((0.0, 0.05), (500000.0, 0.07)), base_per_period=12000.0)
    cost, per_rep, ote = stage("05 commission", lambda: cm.plan_commission_cost(dist, T["reps"], T["months"], plan_c,
                                                                                 noise_sd=0.25, seed=0))
    stage("05 views", lambda: [_render(x) for x in (
        av.headcount_tables(hc), av.hiring_tables(hires, need), av.budget_tables(mk, ctx.regions, curve_error=0.2,
                                                                                 n_scenarios=30),
        av.sensitivity_tables(mk, curve_error=0.2, n_scenarios=30), av.commission_tables(plan_c, cost),
        av.ote_table(ote, per_rep, ote_low=4.0, ote_high=6.0, reps=data.reps))])
    stage("05 coverage view", lambda: _render(av.coverage_tables(load, moves, after, reps=data.reps,
                                                                 customers=data.customers, params=cov)))
    d7, ds7 = stage("07 load_for", lambda: load_for("07_quarter_review", resolve_url(source)))
    q = review_quarter(d7.orders, period, None)
    quotas, _ = quarter_quotas(PlanStore(resolve_url(store)), q, period)
    review = stage("07 quarter_review", lambda: quarter_review(d7, q, quotas=quotas, commission=plan_c,
                                                               diagnosis=DiagnosisParams()))
    stage("07 views", lambda: (rv.ranking_view(review.ranked, q), rv.diagnosis_view(review.diagnosis),
                               rv.kpi_board_view(review.board),
                               _render([rv.region_revenue_chart(review.board, q)] if review.has_regions else [])))
    rows.append(("total", _cpu() - c_all))
    print(json.dumps(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=DEMO)
    ap.add_argument("--plan-store", required=True, help="plan store URL of a salesplan run of --source")
    ap.add_argument("--period", default="2027Q1")
    ap.add_argument("--root", type=Path, action="append", help="checkout whose salesplan/ to import (repeatable)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.source, args.plan_store, args.period)
        return
    roots = args.root or [ROOT]
    runs: dict = {str(r): [] for r in roots}
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    for _ in range(args.repeats):
        for r in roots:
            env = {**os.environ, "PYTHONPATH": str(Path(r).resolve())}
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--child", "--source", args.source, "--plan-store",
                                  args.plan_store, "--period", args.period], env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{r}: {out.stderr.strip().splitlines()[-1]}")
            runs[str(r)].append(dict(json.loads(out.stdout.strip().splitlines()[-1])))
            print(f"  {r}: {runs[str(r)][-1]['total']:.2f} s CPU ({time.perf_counter() - t0:.1f} s wall)", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    stages = list(runs[str(roots[0])][0])
    print(f"\nCPU seconds per stage, medians of {args.repeats} ({args.source})")
    print(f"| stage | {' | '.join(str(r) for r in roots)} |")
    print("|---|" + "---:|" * len(roots))
    for s in stages:
        print(f"| {s} | " + " | ".join(f"{statistics.median(x[s] for x in runs[str(r)]):.2f}" for r in roots) + " |")


if __name__ == "__main__":
    main()
