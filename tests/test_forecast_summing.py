"""The summing matrix in factored form (``Summing``): the same matrix, the same sums."""

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast.hierarchy import (
    Summing,
    _aggregate,
    _bottom_rows,
    _window_hierarchy,
    hierarchy_forecast,
    reconcile,
    summing_matrix,
    summing_structure,
)

LEVELS = [(), ("region",), ("region", "rep_id")]


def _nodes(order=None):
    """Total, 3 regions (South has one rep: a row with a single 1 above its rep's row),
    6 reps; ``order`` permutes the node rows."""
    reps = [("East", "e1"), ("East", "e2"), ("West", "w1"), ("West", "w2"), ("West", "w3"),
            ("South", "s1")]
    rows = [dict(unique_id="total", level=0, region=None, rep_id=None)]
    rows += [dict(unique_id=f"region={r}", level=1, region=r, rep_id=None)
             for r in ("East", "West", "South")]
    rows += [dict(unique_id=f"region={r}|rep_id={p}", level=2, region=r, rep_id=p) for r, p in reps]
    nodes = pd.DataFrame(rows)
    if order is not None:
        nodes = nodes.iloc[order].reset_index(drop=True)
    bottom = nodes[nodes["level"] == 2].reset_index(drop=True)
    return nodes, bottom


def _same(a: Summing, b: Summing):
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.agg, b.agg)
    assert np.array_equal(a.S_agg, b.S_agg) and a.S_agg.dtype == b.S_agg.dtype == np.float64


def test_dense_by_hand_and_factored_like_the_dense_matrix():
    nodes, bottom = _nodes()
    sm = summing_structure(nodes, bottom, LEVELS)
    # by hand: total, East (e1, e2), West (w1, w2, w3), South (s1), then one row per rep
    expected = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0],
                         [0, 0, 0, 0, 0, 1], *np.eye(6)])
    assert np.array_equal(sm.dense(), expected)
    assert sm.rows.tolist() == [4, 5, 6, 7, 8, 9] and sm.agg.tolist() == [0, 1, 2, 3]
    assert sm.S_agg.shape == (4, 6)  # the aggregates only, not the 10 x 6 matrix
    _same(sm, Summing.from_dense(summing_matrix(nodes, bottom, LEVELS)))
    assert sm.row_sums().tolist() == [6, 2, 3, 1, 1, 1, 1, 1, 1, 1]
    assert sm.row(3).tolist() == [0, 0, 0, 0, 0, 1] and sm.row(9).tolist() == [0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_nodes_keep_the_last_single_row_as_own(seed):
    # rows in any order: a series' own row is the last row holding only it (as _bottom_rows)
    order = np.random.default_rng(seed).permutation(10)
    nodes, bottom = _nodes(order)
    dense = summing_matrix(nodes, bottom, LEVELS)
    sm = summing_structure(nodes, bottom, LEVELS)
    assert np.array_equal(sm.dense(), dense)
    assert np.array_equal(sm.rows, _bottom_rows(dense))
    _same(sm, Summing.from_dense(dense))


def test_null_keys_fall_back_to_the_dense_matrix():
    nodes = pd.DataFrame({"unique_id": ["total", "a", "none"], "level": [0, 1, 1],
                          "region": [None, "A", None]})
    bottom = nodes[nodes["level"] == 1].reset_index(drop=True)
    sm = summing_structure(nodes, bottom, [(), ("region",)])
    assert sm.dense().tolist() == [[1, 1], [1, 0], [0, 1]]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sub_equals_the_dense_sub_matrix(seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(10)
    nodes, bottom = _nodes(order)
    dense = summing_matrix(nodes, bottom, LEVELS)
    sm = summing_structure(nodes, bottom, LEVELS)
    cols = np.sort(rng.choice(6, size=4, replace=False))
    own = _bottom_rows(dense)
    keep = np.zeros(10, bool)
    keep[own[cols]] = True  # the kept series' own rows, and some aggregates
    keep[np.setdiff1d(np.arange(10), own)] = rng.random(4) < 0.7
    rows = np.flatnonzero(keep)
    _same(sm.sub(rows, cols), Summing.from_dense(dense[np.ix_(rows, cols)]))


def test_aggregate_same_bits_as_the_dense_product():
    # the synthetic scale-100 shape: 1 total + 6 regions over 6,700 reps, 50 paths x 3 months
    rng = np.random.default_rng(5)
    nb = 6700
    region = rng.integers(0, 6, nb)
    dense = np.zeros((7 + nb, nb))
    dense[0] = 1.0
    dense[1 + region, np.arange(nb)] = 1.0
    dense[7 + np.arange(nb), np.arange(nb)] = 1.0
    bottom = rng.gamma(2.0, 5000.0, (nb, 50, 3)) * rng.lognormal(0, 1, (nb, 1, 1))
    old = np.empty((7 + nb, 50, 3))  # the dense matrix's own rows and its aggregate rows
    old[7:] = bottom
    old[:7] = np.tensordot(dense[:7], bottom, axes=(1, 0))
    sm = Summing.from_dense(dense)
    assert sm.S_agg.shape == (7, nb)
    assert np.array_equal(_aggregate(sm, bottom), old)
    base = rng.normal(size=(7 + nb, 3))
    assert np.array_equal(reconcile(base, sm, "bottom_up"), reconcile(base, dense, "bottom_up"))


def test_window_hierarchy_factored():
    nodes, bottom = _nodes()
    sm = summing_structure(nodes, bottom, LEVELS)
    ids, bottom_ids = list(nodes["unique_id"]), list(bottom["unique_id"])
    present = set(ids) - {"region=South", "region=South|rep_id=s1", "region=West|rep_id=w2"}
    w_ids, w_S, w_bottom, w_top, _ = _window_hierarchy(nodes, sm, bottom_ids, ids, 0, present)
    assert w_top == 0 and len(w_ids) == 7 and len(w_bottom) == 4
    # by hand: total (4 reps), East (e1, e2), West (w1, w3), then each rep
    assert w_S.dense().tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], *np.eye(4).tolist()]


def test_hierarchy_forecast_keeps_the_factored_matrix():
    rng = np.random.default_rng(0)
    ds = pd.date_range("2023-01-01", periods=30, freq="MS")
    reps = {"e1": "East", "e2": "East", "w1": "West", "w2": "West", "w3": "West", "s1": "South"}
    orders = pd.DataFrame([(d, r, p, float(rng.gamma(2.0, 100.0))) for d in ds for p, r in reps.items()],
                          columns=["order_date", "region", "rep_id", "amount"])
    hf = hierarchy_forecast(orders, levels=LEVELS, h=3, method="ets", reconcile_method="mint_shrink",
                            n_paths=50, seed=0)
    assert isinstance(hf.summing, Summing) and hf.summing.S_agg.shape == (4, 6)
    S = hf.S  # the dense matrix on demand: every node's paths are the sums of its reps' paths
    bottom = hf.paths[hf.summing.rows]
    assert np.array_equal(hf.paths[hf.summing.agg], np.tensordot(S[hf.summing.agg], bottom, 1))
    assert S.shape == (10, 6) and np.array_equal(S.sum(axis=1), [6, 2, 1, 3, 1, 1, 1, 1, 1, 1])  # East, South, West
