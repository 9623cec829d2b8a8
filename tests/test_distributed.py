"""Tests of salesplan.execution.dask_backend against a real Dask LocalCluster (2 worker processes).

The expected results are the local computations (same functions in this process): the
Dask path must reproduce them to float tolerance.
"""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from salesplan.demo.generator import generate  # noqa: E402 - after the importorskip
from salesplan.execution import DaskBackend, LocalBackend  # noqa: E402 - after the importorskip
from salesplan.execution import dask_backend as sd  # noqa: E402 - after the importorskip
from salesplan.models import churn, credit  # noqa: E402 - after the importorskip
from salesplan.models.forecast import Forecaster  # noqa: E402 - after the importorskip

AS_OF = pd.Timestamp("2026-12-31")
CREDIT_AS_OF = pd.Timestamp("2025-12-31")


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lc = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                      dashboard_address=None, silence_logs=40)
    try:
        yield lc
    finally:
        lc.close()


@pytest.fixture(scope="module")
def address(cluster):
    return cluster.scheduler_address


@pytest.fixture(scope="module")
def company():
    return generate(seed=11, scale=0.25, as_of=str(AS_OF.date()))


def _series_frame(n_series=40, n=48, seed=3):
    """Seasonal series with trend and noise; a few short / intermittent ones."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=n, freq="MS")
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(n) / 12)
    frames = []
    for i in range(n_series):
        y = (500 + 20 * i + rng.normal(3, 2) * np.arange(n)) * season
        y = y * (1 + 0.08 * rng.standard_normal(n))
        k = n
        if i % 13 == 5:  # short history -> fallback
            k = 14
        if i % 11 == 7:  # intermittent
            y = np.where(rng.random(n) < 0.6, 0.0, y)
        frames.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds[-k:], "y": y[-k:]}))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ forecasting
def test_forecaster_dask_equals_local(address):
    df = _series_frame(n=40)
    kw = {"method": "combo", "n_windows": 1, "level": (80, 95)}
    local = Forecaster(**kw).fit(df)
    remote = Forecaster(**kw, engine="dask", scheduler=address).fit(df)
    assert remote.engine == "dask" and remote.scheduler == address  # stored untouched
    a, b = local.predict(6), remote.predict(6)
    assert len(a) == 40 * 6
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(local.backtest_, remote.backtest_, rtol=1e-9, atol=1e-9)
    for lv, q in local.calibration_["q"].items():
        np.testing.assert_allclose(q, remote.calibration_["q"][lv], rtol=1e-9)
    np.testing.assert_allclose(local.sample_paths(3, 200, seed=1),
                               remote.sample_paths(3, 200, seed=1), rtol=1e-9, atol=1e-9)


def test_forecaster_scheduler_from_environment(address, monkeypatch):
    df = _series_frame(n_series=6, n=36)
    monkeypatch.setenv(sd.ENV_SCHEDULER, address)
    f = Forecaster(method="theta", n_windows=1, engine="dask").fit(df)
    g = Forecaster(method="theta", n_windows=1).fit(df)
    pd.testing.assert_frame_equal(f.predict(3), g.predict(3), rtol=1e-9, atol=1e-9)


def test_forecaster_engine_param_checked():
    with pytest.raises(ValueError, match="engine='spark'"):
        Forecaster(engine="spark").fit(_series_frame(n_series=2))


def test_run_tasks_keeps_order(address):
    tasks = [(i, i + 1) for i in range(37)]
    assert sd.run_tasks(tasks, pow, address) == [pow(*t) for t in tasks]
    assert sd.run_tasks([], pow, address) == []


# ------------------------------------------------------------------ scheduler errors
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_names_the_address(monkeypatch):
    addr = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(sd.DaskSchedulerError, match=addr.replace(".", r"\.")), \
            sd.connect(addr, timeout=1):
        pass
    monkeypatch.setenv(sd.ENV_TIMEOUT, "1")
    monkeypatch.setenv(sd.ENV_SCHEDULER, addr)
    with pytest.raises(sd.DaskSchedulerError, match="SALESPLAN_DASK_SCHEDULER") as e:
        Forecaster(method="theta", engine="dask").fit(_series_frame(n_series=3, n=36))
    assert addr in str(e.value)


def test_missing_address_is_explained(monkeypatch):
    monkeypatch.delenv(sd.ENV_SCHEDULER, raising=False)
    with pytest.raises(sd.DaskSchedulerError, match="SALESPLAN_DASK_SCHEDULER"):
        sd.scheduler_address(None)
    assert sd.scheduler_address("tcp://h:1") == "tcp://h:1"


# ------------------------------------------------------------------ partitions
def test_partition_data_is_a_disjoint_cover(company):
    data = company.data
    parts = sd.partition_data(data, 5)
    assert 1 < len(parts) <= 5
    for name in ("orders", "invoices", "activities", "customers"):
        total = sum(len(getattr(p, name)) for p in parts)
        assert total == len(getattr(data, name)), name
    seen = [set(p.orders["customer_id"]) for p in parts]
    assert sum(len(s) for s in seen) == len(set().union(*seen))  # each customer once
    for p in parts:  # a customer's invoices travel with its orders
        assert set(p.invoices["customer_id"]) <= set(p.customers["customer_id"])
    again = sd.customer_partition(data.orders["customer_id"], 5)
    np.testing.assert_array_equal(again, sd.customer_partition(data.orders["customer_id"], 5))


# ------------------------------------------------------------------ customer scoring
@pytest.fixture(scope="module")
def classifier(company):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return churn.ChurnClassifier(n_snapshots=3, max_iter=60).fit(company.data, as_of=AS_OF)


def test_churn_features_distributed_equal_local(company, address):
    local = churn.churn_features(company.data, AS_OF)
    remote = churn.churn_features_partitioned(company.data, AS_OF, backend=DaskBackend(address),
                                          npartitions=4)
    pd.testing.assert_frame_equal(local, remote[local.columns], rtol=1e-9, atol=1e-12)


def test_score_churn_equal_local(company, classifier, address):
    data = company.data
    feats = classifier.features(data, AS_OF)
    p = classifier.churn_probability(data, AS_OF, features=feats)
    drivers = classifier.top_drivers(feats, 3)
    out = churn.score_churn(classifier, data, AS_OF, backend=DaskBackend(address), npartitions=4)
    assert list(out.index) == list(p.index)
    np.testing.assert_allclose(out["p_churn"].to_numpy(), p.to_numpy(), rtol=1e-9, atol=1e-12)
    assert (out["top_drivers"] == drivers).all()


def test_scoring_default_backend_is_local(company, classifier):
    """``backend=None`` (the documented default, "local") scores on this process: the same
    frame as ``backend="local"`` and as the classifier itself (it raised before)."""
    data = company.data
    default = churn.score_churn(classifier, data, AS_OF)
    pd.testing.assert_frame_equal(default, churn.score_churn(classifier, data, AS_OF, backend="local"))
    p = classifier.churn_probability(data, AS_OF)
    np.testing.assert_allclose(default["p_churn"].to_numpy(), p.reindex(default.index).to_numpy(),
                               rtol=1e-9, atol=1e-12)


def test_score_transaction_model_equal_local(company, address):
    s = churn.rfm_summary(company.data.orders, AS_OF, freq="W")
    for cls in (churn.BetaGeoModel, churn.ParetoNBDModel):
        m = cls(n_starts=1).fit(s)
        out = churn.score_transaction_model(m, company.data, AS_OF, horizon=13.0,
                                            backend=DaskBackend(address), npartitions=3)
        assert list(out.index) == list(s.index)
        np.testing.assert_allclose(out["p_alive"], m.conditional_probability_alive(s),
                                   rtol=1e-9)
        np.testing.assert_allclose(out["expected_purchases"],
                                   m.conditional_expected_purchases(13.0, s), rtol=1e-9)


def test_score_credit_equal_local(company, address):
    data = company.data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = credit.credit_features(data.invoices, data.orders, data.customers, CREDIT_AS_OF)
        y = credit.credit_target(data.invoices, CREDIT_AS_OF).reindex(X.index)
        keep = y.notna()
        card = credit.CreditScorecard(monotonic_trend=None, max_n_prebins=8).fit(X[keep], y[keep].astype(int))
        X_now = credit.credit_features(data.invoices, data.orders, data.customers, AS_OF)
        pd_local = card.predict_proba(X_now)[:, 1]
        pts_local = card.points(X_now)
        grade_local = card.grade(X_now)
        out = credit.score_credit(card, data, AS_OF, backend=DaskBackend(address), npartitions=4)
        by_frame = credit.score_credit(card, features=X_now, backend=DaskBackend(address),
                                       npartitions=3)
    assert list(out.index) == list(X_now.index)
    np.testing.assert_allclose(out["pd"], pd_local, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["points"], pts_local, rtol=1e-9)
    assert (out["grade"] == grade_local).all()
    np.testing.assert_allclose(by_frame["pd"], pd_local, rtol=1e-9, atol=1e-12)
    assert list(by_frame.index) == list(X_now.index)
    local = credit.score_credit(card, data, AS_OF, backend=LocalBackend())
    np.testing.assert_allclose(local["pd"], pd_local, rtol=1e-12, atol=1e-15)


def test_churn_risk_list_on_dask_equals_local(company, classifier, address, monkeypatch):
    """The notebooks' `engine="dask"`: the whole risk list, scheduler from the environment."""
    monkeypatch.setenv(sd.ENV_SCHEDULER, address)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = churn.churn_risk_list(company.data, AS_OF, classifier=classifier)
        remote = churn.churn_risk_list(company.data, AS_OF, classifier=classifier, engine="dask")
    assert list(remote.columns) == list(local.columns)
    assert list(remote["customer_id"]) == list(local["customer_id"])
    pd.testing.assert_frame_equal(remote, local, rtol=1e-9, atol=1e-9)


def test_churn_risk_list_engine_checked(company, classifier):
    with pytest.raises(ValueError, match="engine='spark'"):
        churn.churn_risk_list(company.data, AS_OF, classifier=classifier, engine="spark")


# ------------------------------------------------------------------ the notebooks on Dask
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("notebook, kind", [("02_forecast", "forecast"),
                                            ("03_customer_risk", "customer_risk")])
def test_notebook_with_engine_dask_publishes_the_local_tables(notebook, kind, company, cluster,
                                                              address, tmp_path):
    """A planner's `-p engine dask`: the same notebook, the same plan tables as on this machine."""
    papermill = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager

    from salesplan.data import PlanStore, open_source

    kernels = set(KernelSpecManager().find_kernel_specs())
    if not {"salesplan", "python3"} & kernels:
        pytest.skip("no Jupyter kernel installed")
    db = tmp_path / "company.duckdb"
    open_source(f"duckdb:///{db}").write(company.data, replace=True)
    tables, transitions = {}, {}
    for engine in ("local", "dask"):
        before = cluster.scheduler.transition_counter
        store = tmp_path / f"store-{engine}.duckdb"
        params = {"source": f"duckdb:///{db}", "plan_store": f"duckdb:///{store}",
                  "engine": engine, "dask_scheduler": address if engine == "dask" else None}
        if notebook == "02_forecast":
            # a fit cache per engine: the dask run must fit (the back-test windows' fits are
            # cached too), not read the local run's fits
            params.update(cache_dir=str(tmp_path / f"cache-{engine}"), n_paths=200, backtest_windows=1,
                          reconcile_windows=1)
        papermill.execute_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"),
                                   str(tmp_path / f"{notebook}-{engine}.ipynb"),
                                   parameters=params, cwd=str(NOTEBOOKS), progress_bar=False,
                                   kernel_name="salesplan" if "salesplan" in kernels else "python3")
        tables[engine] = PlanStore(f"duckdb:///{store}").read_run(kind=kind).tables
        transitions[engine] = cluster.scheduler.transition_counter - before
    # the local run leaves the cluster alone, the dask run computes on it
    assert transitions["local"] == 0 and transitions["dask"] > 0
    assert set(tables["dask"]) == set(tables["local"]) and tables["local"]
    for name, local in tables["local"].items():
        pd.testing.assert_frame_equal(tables["dask"][name], local, rtol=1e-9, atol=1e-9,
                                      obj=f"{notebook} table {name!r}")
