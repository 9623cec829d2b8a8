"""Sample paths: the one type, with one axis order, for simulated futures.

A set of sample paths is a joint draw of the future of several series (regions, reps,
product lines, the company) over a horizon of periods.  Everywhere in salesplan it is
held as

    values[i, s, t]  =  value of series i on path s in period t      (series x path x time)

with ``series`` naming the rows of axis 0 and ``dates`` the periods of axis 2.  Paths
with the same index ``s`` are one joint draw: summing over series keeps common shocks.
This is the order of :meth:`salesplan.models.forecast.Forecaster.sample_paths` and of
:class:`salesplan.models.forecast.HierarchyForecast` ``.paths``; the demo's
``future_revenue_paths`` and :func:`salesplan.planning.targets.quarter_paths_from_forecast`
take and give this type.  Code that computes better in another order asks for it by
name (``paths.array(("path", "series", "time"))``), so the order is never implied.

The long form (:meth:`SamplePaths.to_frame`) has one row per value: ``unique_id``,
``path``, ``ds``, ``y`` (the forecast's column names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["AXES", "SamplePaths"]

#: The axis order of :attr:`SamplePaths.values`.
AXES: tuple[str, str, str] = ("series", "path", "time")


def _order(axes: Sequence[str]) -> list[int]:
    axes = tuple(axes)
    if sorted(axes) != sorted(AXES):
        raise ValueError(f"axes={axes!r}: expected an order of {AXES}")
    return [axes.index(a) for a in AXES]


@dataclass(frozen=True, eq=False)
class SamplePaths:
    """Joint sample paths of several series over a horizon (module docstring).

    Parameters
    ----------
    values : ndarray (n_series, n_paths, horizon)
        Finite values (units of the series, e.g. currency per month); stored read-only.
    series : sequence of str
        Name of each row of axis 0 (e.g. ``"region=East"``), unique.
    dates : DatetimeIndex, optional
        Start of each period of axis 2 (``None`` when the periods are only counted).
    """

    values: np.ndarray
    series: tuple[str, ...]
    dates: pd.DatetimeIndex | None = None

    def __post_init__(self):
        v = np.array(self.values, dtype=float)
        if v.ndim != 3:
            raise ValueError(f"sample paths: expected a 3-d array {AXES}, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("sample paths: values must be finite (found NaN or inf)")
        series = tuple(str(s) for s in self.series)
        if len(series) != v.shape[0] or len(set(series)) != len(series):
            raise ValueError(f"sample paths: {len(series)} series names for {v.shape[0]} "
                             "series; expected one unique name per row of axis 0")
        dates = self.dates
        if dates is not None:
            dates = pd.DatetimeIndex(dates)
            if len(dates) != v.shape[2]:
                raise ValueError(f"sample paths: {len(dates)} dates for a horizon of {v.shape[2]}")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "series", series)
        object.__setattr__(self, "dates", dates)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_array(cls, values, series, dates=None, axes: Sequence[str] = AXES) -> SamplePaths:
        """Build from an array whose axis order is named by ``axes`` (e.g. path x series x time)."""
        return cls(np.transpose(np.asarray(values, dtype=float), _order(axes)), series, dates)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, series_col: str = "unique_id", path_col: str = "path",
                   date_col: str = "ds", value_col: str = "y") -> SamplePaths:
        """Build from the long form; every series needs every (path, date) pair once."""
        missing = [c for c in (series_col, path_col, date_col, value_col) if c not in frame.columns]
        if missing:
            raise ValueError(f"sample paths frame is missing column(s) {missing}")
        f = frame.assign(**{date_col: pd.to_datetime(frame[date_col])})
        series = list(dict.fromkeys(f[series_col].astype(str)))
        paths = np.sort(f[path_col].unique())
        dates = pd.DatetimeIndex(np.sort(f[date_col].unique()))
        if f.duplicated([series_col, path_col, date_col]).any() or \
                len(f) != len(series) * len(paths) * len(dates):
            raise ValueError("sample paths frame: expected exactly one value per series, path and "
                             f"date ({len(series)} x {len(paths)} x {len(dates)}), got {len(f)} rows")
        f = f.assign(**{series_col: f[series_col].astype(str)})
        cube = (f.set_index([series_col, path_col, date_col])[value_col]
                .reindex(pd.MultiIndex.from_product([series, paths, dates])))
        return cls(cube.to_numpy(float).reshape(len(series), len(paths), len(dates)), series, dates)

    @classmethod
    def from_forecast(cls, values, series, forecast: pd.DataFrame) -> SamplePaths:
        """Paths ``values`` (series x path x time) dated by a forecast frame's ``ds`` per
        ``unique_id``; every series must have the same ``horizon`` periods."""
        v = np.asarray(values, dtype=float)
        h = v.shape[-1]
        series = list(series)
        dates = None
        if series:  # the first series' periods, then every series checked against them at once
            dates = _series_dates(forecast, series[0])
            if len(dates) != h:
                raise ValueError(f"forecast node {series[0]!r}: {len(dates)} dates but paths of "
                                 f"horizon {h}")
            bad = _other_dates(forecast, series, dates)
            if bad is not None:
                u, n = bad
                raise ValueError(f"forecast node {u!r}: {n} dates but paths of horizon {h}"
                                 if n != h else
                                 f"forecast node {u!r}: its periods differ from the other nodes'")
        return cls(v, series, dates)

    # ----------------------------------------------------------------- views
    @property
    def n_series(self) -> int:
        return self.values.shape[0]

    @property
    def n_paths(self) -> int:
        return self.values.shape[1]

    @property
    def horizon(self) -> int:
        return self.values.shape[2]

    def array(self, axes: Sequence[str] = AXES) -> np.ndarray:
        """The values with the axes in the order named (default :data:`AXES`)."""
        _order(axes)  # checks the names
        return np.transpose(self.values, [AXES.index(a) for a in tuple(axes)])

    def select(self, series: Sequence[str]) -> SamplePaths:
        """The paths of the named series, in that order."""
        idx = [self.series.index(str(s)) for s in series]
        return SamplePaths(self.values[idx], [self.series[i] for i in idx], self.dates)

    def totals(self) -> pd.DataFrame:
        """Each series' sum over the horizon: rows = series, columns = paths."""
        return pd.DataFrame(self.values.sum(axis=2), index=pd.Index(self.series, name="unique_id"))

    def to_frame(self) -> pd.DataFrame:
        """Long form: ``unique_id, path, ds, y`` (``ds`` = period number without dates)."""
        n, p, h = self.values.shape
        ds = self.dates if self.dates is not None else pd.RangeIndex(h)
        return pd.DataFrame({
            "unique_id": np.repeat(np.asarray(self.series, dtype=object), p * h),
            "path": np.tile(np.repeat(np.arange(p), h), n),
            "ds": np.tile(np.asarray(ds), n * p),
            "y": self.values.reshape(-1),
        })

    def __repr__(self) -> str:
        return (f"SamplePaths(series={self.n_series}, paths={self.n_paths}, horizon={self.horizon}, "
                f"axes={AXES})")


def _series_dates(forecast: pd.DataFrame, u) -> pd.DatetimeIndex:
    """The sorted distinct ``ds`` of node ``u`` in a forecast frame."""
    return pd.DatetimeIndex(sorted(pd.to_datetime(forecast.loc[forecast["unique_id"] == u, "ds"]).unique()))


def _other_dates(forecast: pd.DataFrame, series: list, dates: pd.DatetimeIndex):
    """The first node of ``series`` (in order) whose distinct ``ds`` are not exactly
    ``dates``, as ``(node, its number of distinct dates)``; None when every node's are.

    One pass over the frame (``pd.to_datetime`` once, not once per node): a node's
    distinct dates equal ``dates`` when it has ``len(dates)`` of them, all in ``dates``.
    """
    names = pd.Index(list(dict.fromkeys(series)))
    pos = names.get_indexer(pd.Index(forecast["unique_id"]))  # node of each row (-1: none)
    keep = pos >= 0
    pairs = pd.DataFrame({"node": pos[keep],
                          "ds": pd.DatetimeIndex(pd.to_datetime(forecast["ds"]))[keep]}).drop_duplicates()
    node = pairs["node"].to_numpy()
    count = np.bincount(node, minlength=len(names))
    wrong = count != len(dates)
    wrong[node[~pairs["ds"].isin(dates).to_numpy()]] = True
    bad = np.flatnonzero(wrong)
    return None if not len(bad) else (names[bad[0]], int(count[bad[0]]))
