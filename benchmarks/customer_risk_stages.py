"""Per-stage wall and CPU seconds of notebook 03's ``assess_customers`` (issue 19).

Usage::

    .venv/bin/python benchmarks/customer_risk_stages.py --source duckdb:///data/demo/salesplan_demo.duckdb --repeat 3
    # the code of another commit, same data: git archive COMMIT salesplan | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/customer_risk_stages.py --source ... --repeat 3

Loads the source once, then times each stage ``--repeat`` times (``time.perf_counter`` and
``time.process_time``) and prints the medians as a Markdown table: segments, the churn
classifier fit, the churn risk list (features, P(churn), drivers, Pareto/NBD, CLV) and
credit (scorecard, back-test, early warning, collection); ``--all`` adds
``assess_customers`` as a whole.  ``optbinning`` is imported before the clock starts.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import pandas as pd


def _clock(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - t, time.process_time() - c)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="duckdb:///data/demo/salesplan_demo.duckdb")
    ap.add_argument("--as-of", default="2026-12-31")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="also time assess_customers as a whole")
    args = ap.parse_args(argv)

    import optbinning  # noqa: F401  (its import is the same before and after; not timed)

    import salesplan
    from salesplan.data import open_source
    from salesplan.models.churn import ChurnClassifier, churn_risk_list
    from salesplan.planning import customer_risk as cr

    data, (wall, cpu) = _clock(lambda: open_source(args.source).load())
    print(f"package {salesplan.__file__}; load {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    as_of, p = pd.Timestamp(args.as_of), cr.CustomerRiskParams()
    rows: dict[str, list] = {}
    for rep in range(args.repeat):
        orders = data.orders[data.orders["order_date"] <= as_of]
        _, w = _clock(lambda orders=orders: cr._segments(data, orders, as_of, p))
        rows.setdefault("segments", []).append(w)
        clf, w = _clock(lambda: ChurnClassifier(horizon_days=p.churn_horizon_days, n_snapshots=p.churn_snapshots,
                                                random_state=p.seed).fit(data, as_of))
        rows.setdefault("churn classifier fit", []).append(w)
        risk, w = _clock(lambda clf=clf: churn_risk_list(data, as_of, classifier=clf, random_state=p.seed))
        rows.setdefault("churn risk list", []).append(w)
        _, w = _clock(lambda risk=risk: cr._credit(data, as_of, risk, p))
        rows.setdefault("credit", []).append(w)
        if args.all:
            _, w = _clock(lambda: cr.assess_customers(data, as_of, p))
            rows.setdefault("assess_customers", []).append(w)
        print(rep, {k: [round(x, 2) for x in v[-1]] for k, v in rows.items()}, flush=True)
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    print("| stage | wall (s) | CPU (s) |\n|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {statistics.median(x[0] for x in v):.2f} | {statistics.median(x[1] for x in v):.2f} |")


if __name__ == "__main__":
    main()
