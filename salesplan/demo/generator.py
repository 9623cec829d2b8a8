"""A demo B2B company with known ground truth.

:func:`generate` builds a believable company -- regions of different maturity, a sales
team with hires, exits and ramp-up, a customer base that buys and silently dies
(Pareto/NBD-like "buy till you die"), seasonality with a Q4 peak, product lines,
returns, invoices with credit risk, a five-level opportunity funnel, rep activities and
marketing spend with a concave response -- and returns the data (a coerced
:class:`~salesplan.data.schema.SalesData`) together with the :class:`GroundTruth` that
generated it, so that models can be checked for recovery of known parameters.

The true processes
------------------
Time is measured in days; a "month" in a rate is ``365.25 / 12`` days.

* **Customers.** Each region ``r`` has an initial book of customers acquired before the
  history starts (large in mature regions) and acquires new customers with an intensity
  proportional to ``exp(k_r * t)`` (``k_r`` per year, negative in mature regions, large in
  emerging ones).  A new customer places a first order on its ``acquired_date``.
* **Repeat purchases** (Pareto/NBD): customer ``i`` buys at rate
  ``lambda_i ~ Gamma(r, alpha)`` orders per month while alive; its lifetime is
  ``Exp(mu_i)`` with ``mu_i ~ Gamma(s, beta)`` per month; after ``dropout_date`` it never
  buys again.  The rate in month ``m`` is
  ``lambda_i * season[m] * productivity(rep of i, m) * marketing(r, m)``.
* **Order value** (gamma-gamma-like): the value of one order (all its lines) is
  ``Gamma(shape=p, scale=v_i(t) / p)`` with ``v_i`` log-normal across customers and
  growing with the region's account growth ``g_r``:
  ``v_i(t) = mean_order_value_i * exp(g_r * (t - as_of) / 365.25)``.
* **Reps.** Each customer belongs to a territory (one rep at a time).  A rep hired at
  ``h`` has productivity ``ramp_floor + (1 - ramp_floor) * min(1, tenure / ramp_months)``
  (evaluated at mid-month); a vacant territory has productivity ``vacancy_factor``.
* **Marketing.** Incremental monthly gross margin of spend ``s`` in region ``r`` is
  ``a_r * (1 - exp(-s / b_r))``; incremental gross revenue is that divided by
  ``gross_margin_rate``.  It is realised by scaling the repeat-purchase rates of the
  region's customers by ``1 + incremental_revenue / baseline_revenue`` where
  ``baseline_revenue`` is the expected repeat-purchase revenue without marketing.
  The curves differ by maturity (``_MARKETING``): in **mature** regions (where most
  A-class customers are) the base spend is near saturation (``base / b_r`` in 2.5-3.5,
  marginal return at base well below 1) and ``a_r`` is 6-9% of the mean monthly baseline
  margin; **developing** regions sit in between (``base / b_r`` 0.8-1.3, ``a_r``
  15-22%); **emerging** regions respond steeply and are far from saturation
  (``base / b_r`` 0.2-0.4, ``a_r`` 50-70%).  So the rule "80% of the budget where the
  A-class customers are" over-feeds saturated regions.
  The spend history contains **planned geo tests**: in each region exactly
  ``round(0.15 * months)`` randomly placed "dark" months (spend ``U(0, 0.1)`` x base),
  as many "cut" months (``U(0.3, 0.6)`` x base) and as many "heavy-up" months
  (``U(2, 3)`` x base); the other months run at base x ``(1 + 0.4 U(-1, 1))``
  (``MARKETING_TEST_SHARE``; ``truth.expected_revenue.spend_test``).
* **Returns.** Each order line is partly or fully returned with probability
  ``return_rate`` a few days later, as a separate line with negative quantity/amount.
* **Credit.** Customer ``i`` has a latent risk ``z_i ~ N(0, 1)``; distress episodes
  arrive as a Poisson process with monthly rate ``h_i`` such that
  ``default_propensity_i = 1 - exp(-12 h_i)`` is the probability of at least one episode
  (every invoice open during it goes 90+ days past due) within 12 months.  Outside
  episodes an invoice is paid late with probability ``logistic(-1.3 + 0.8 z_i)``.
* **Funnel.** Opportunities enter stage E at creation and move E->D->C->B->A->won with
  the true ``stage_conversion``; the time in each stage is gamma distributed with the
  mean ``stage_duration_days`` (also before a loss).

Everything is vectorised with numpy and deterministic for a ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.data.paths import SamplePaths
from salesplan.data.schema import DEFAULT_STAGES, SalesData

__all__ = ["DemoCompany", "GroundTruth", "generate"]

#: Days in an average month; purchase rates are per this many days.
DAYS_PER_MONTH = 365.25 / 12.0
_DAYS_PER_YEAR = 365.25

_STREAMS = (
    "regions",
    "customers",
    "reps",
    "orders",
    "lines",
    "returns",
    "invoices",
    "opportunities",
    "activities",
    "marketing",
    "names",
)

# key, English name, Chinese name, maturity, share of customers, share of the book that
# exists before the history starts, acquisition trend k (1/year), account growth g (1/year),
# median mean-order-value (currency), market penetration (revenue / potential)
_REGIONS = (
    ("east", "East", "华东", "mature", 0.24, 0.62, -0.10, 0.06, 2600.0, 0.55),
    ("south", "South", "华南", "mature", 0.20, 0.58, -0.05, 0.05, 2400.0, 0.50),
    ("north", "North", "华北", "developing", 0.17, 0.38, 0.15, 0.04, 2100.0, 0.30),
    ("central", "Central", "华中", "developing", 0.15, 0.32, 0.20, 0.04, 1900.0, 0.28),
    ("southwest", "Southwest", "西南", "emerging", 0.13, 0.12, 0.40, 0.02, 1700.0, 0.12),
    ("northeast", "Northeast", "东北", "emerging", 0.11, 0.10, 0.35, 0.02, 1600.0, 0.12),
)

_SEASON_BASE = np.array([0.84, 0.80, 0.95, 0.96, 1.00, 0.98, 0.90, 0.88, 1.02, 1.08, 1.22, 1.37])

_PRODUCTS_EN = ("Pumps", "Valves", "Sensors", "Control Systems", "Services")
_PRODUCTS_ZH = ("泵类", "阀门", "传感器", "控制系统", "技术服务")
_PRODUCT_MIX = np.array([0.30, 0.25, 0.20, 0.10, 0.15])
_UNIT_PRICE = np.array([180.0, 65.0, 25.0, 900.0, 120.0])
_LINE_VALUE_WEIGHT = np.array([1.0, 0.6, 0.4, 2.5, 0.8])

_SEGMENTS = ("key_account", "mid_market", "smb")
_SEGMENT_SHARE = (0.05, 0.25)  # key accounts, mid market; the rest is smb
_LEVEL_INDEX = {"junior": 0, "senior": 1, "key_account": 2}
_LEVELS = ("junior", "senior", "key_account")

_STAGE_CONVERSION = (0.50, 0.60, 0.60, 0.70, 0.80)
_STAGE_DURATION = (10.0, 14.0, 21.0, 18.0, 12.0)

# activities per customer-month while alive, by segment (rows) and kind (visit, call, email)
_ACTIVITY_RATES = np.array([[0.50, 1.50, 2.00], [0.15, 0.60, 1.00], [0.03, 0.25, 0.50]])
_PROSPECTING_CALLS = 5.0  # calls per rep-month without a customer

_INDUSTRIES_EN = (
    "Manufacturing",
    "Chemicals",
    "Electronics",
    "Logistics",
    "Food & Beverage",
    "Construction",
    "Automotive",
    "Healthcare",
    "Energy",
    "Retail",
)
_INDUSTRIES_ZH = (
    "制造业",
    "化工",
    "电子",
    "物流",
    "食品饮料",
    "建筑",
    "汽车",
    "医疗",
    "能源",
    "零售",
)

_EN_PREFIX = (
    "Northwind",
    "Bluewater",
    "Summit",
    "Pioneer",
    "Atlas",
    "Granite",
    "Silverline",
    "Redwood",
    "Ironbridge",
    "Harbor",
    "Evergreen",
    "Keystone",
    "Lakeside",
    "Meridian",
    "Oakridge",
    "Pinnacle",
    "Riverside",
    "Sterling",
    "Titan",
    "Vanguard",
    "Westfield",
    "Crescent",
    "Falcon",
    "Horizon",
    "Liberty",
    "Nova",
    "Orion",
    "Prairie",
    "Sequoia",
    "Unity",
)
_EN_CORE = (
    "Industrial",
    "Precision",
    "Process",
    "Fluid",
    "Systems",
    "Technical",
    "Engineering",
    "Supply",
    "Works",
    "Solutions",
    "Components",
    "Dynamics",
    "Automation",
    "Materials",
)
_EN_SUFFIX = ("Inc", "Ltd", "LLC", "Co", "Group", "GmbH", "Corp")
_EN_FIRST = (
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Jessica",
    "Joseph",
    "Sarah",
    "Thomas",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Emily",
    "Steven",
    "Laura",
    "Paul",
    "Anna",
    "Kevin",
    "Maria",
    "Brian",
    "Olivia",
    "George",
    "Emma",
)
_EN_LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
)
_ZH_CITIES = {
    "east": ("上海", "杭州", "南京", "苏州", "宁波", "合肥", "无锡"),
    "south": ("广州", "深圳", "东莞", "佛山", "厦门", "珠海"),
    "north": ("北京", "天津", "石家庄", "太原", "济南", "青岛"),
    "central": ("武汉", "长沙", "郑州", "南昌", "宜昌"),
    "southwest": ("成都", "重庆", "昆明", "贵阳", "绵阳"),
    "northeast": ("沈阳", "大连", "长春", "哈尔滨", "鞍山"),
}
_EN_CITIES = {
    "east": ("Boston", "Hartford", "Providence", "Albany"),
    "south": ("Atlanta", "Miami", "Charlotte", "Tampa"),
    "north": ("Chicago", "Detroit", "Milwaukee", "Cleveland"),
    "central": ("Kansas City", "St. Louis", "Omaha", "Tulsa"),
    "southwest": ("Phoenix", "Tucson", "Albuquerque", "El Paso"),
    "northeast": ("Buffalo", "Syracuse", "Portland", "Burlington"),
}
_ZH_BRAND_CHARS = tuple(
    "恒华鑫永宏中天瑞金博盛嘉海东新联卓正安汇达信源泰图成丰桥远世禾纳方锐创越通德昌隆兴利宝"
)
_ZH_INDUSTRY = (
    "机械",
    "电子",
    "化工",
    "物流",
    "医药",
    "建材",
    "食品",
    "科技",
    "纺织",
    "汽车配件",
    "能源",
    "环保",
)
_ZH_SUFFIX = ("有限公司", "股份有限公司", "实业有限公司", "集团有限公司")
_ZH_SURNAMES = tuple("王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾")
_ZH_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "志强",
    "晓东",
    "海燕",
    "文博",
    "思远",
    "佳怡",
    "子轩",
    "雨桐",
    "浩然",
    "欣怡",
    "俊杰",
    "宇航",
    "梦瑶",
)


# --------------------------------------------------------------------------- truth
@dataclass(frozen=True)
class GroundTruth:
    """The parameters and latent states that generated a :class:`DemoCompany`.

    Attributes
    ----------
    as_of : pandas.Timestamp
        Last day of the history.
    history_start : pandas.Timestamp
        First day of the history (first day of the month ``years`` years before).
    monthly_seasonality : pandas.Series
        Index 1..12 (calendar month), true multiplicative factors on the purchase rate,
        mean exactly 1.
    regions : pandas.DataFrame
        One row per region: ``region``, ``maturity``, ``market_potential`` (currency per
        year), ``annual_growth`` (expected gross revenue of the last 12 months over the 12
        before, minus 1), ``account_growth`` (yearly growth of order values, 1/year),
        ``acquisition_trend`` (k, 1/year), ``acquisition_rate`` (expected new customers per
        month at ``as_of``), ``base_marketing_spend`` (currency per month),
        ``response_a`` (currency of gross margin per month), ``response_b`` (currency of
        spend per month), ``mean_order_value_median`` (currency).
    customers : pandas.DataFrame
        One row per customer: ``customer_id``, ``region``, ``segment``, ``territory``,
        ``acquired_date``, ``purchase_rate`` (repeat orders per month, before season,
        rep and marketing factors), ``dropout_rate`` (per month), ``dropout_date``
        (true; after ``as_of`` for customers still alive, NaT when more than 100 years
        after ``as_of``), ``alive_at_as_of``,
        ``mean_order_value`` (currency per order at ``as_of``), ``default_propensity``
        (probability of a 90+ days-past-due episode within 12 months),
        ``credit_risk_latent`` (z), ``late_probability`` (share of invoices paid after
        the due date outside distress), ``expected_monthly_revenue`` (purchase_rate *
        mean_order_value, currency per month, before season/marketing).
    reps : pandas.DataFrame
        ``rep_id``, ``territory``, ``region``, ``level``, ``hire_date``, ``exit_date``.
    territories : pandas.DataFrame
        ``territory``, ``region``, ``level``, ``created_date`` (NaT for the initial ones).
    stage_conversion : pandas.Series
        Stage -> probability of moving to the next stage (for the last stage: of winning).
    stage_duration_days : pandas.Series
        Stage -> mean days spent in the stage (gamma, shape 2), before a move or a loss.
    ramp_months, ramp_floor, vacancy_factor : float
        New-hire productivity rises linearly from ``ramp_floor`` to 1 over
        ``ramp_months`` months; a territory without a rep sells at ``vacancy_factor``.
    gross_margin_rate : float
        Gross margin / net revenue.
    product_mix : pandas.Series
        Product line -> weight of being chosen (orders pick their lines without
        replacement proportionally to these weights).
    unit_price : pandas.Series
        Product line -> list price per unit (currency).
    lines_per_order_mean : float
        Expected order lines per order.
    return_rate : float
        Probability that an order line gets a (partial) return line.
    return_fraction_mean : float
        Expected returned share of the line's quantity when returned.
    purchase_process : dict
        Pareto/NBD and spend parameters: ``r``, ``alpha`` (rate ~ Gamma(r, scale=1/alpha),
        per month), ``s``, ``beta`` (dropout rate ~ Gamma(s, scale=1/beta), per month),
        ``order_value_shape`` (p), ``order_value_sigma`` (log-sd of mean order values).
    activity_rates : pandas.DataFrame
        Segment x kind: activities per alive customer-month.
    leads : pandas.DataFrame
        One row per lead: ``lead_id``, ``conversion_probability`` (true P(lead ->
        opportunity) from its source and BANT answers).
    lead_intercept : float
        Log-odds of conversion of a ``web`` lead answering "no" to every BANT item.
    bant_log_odds : pandas.DataFrame
        ``item``, ``level`` ("yes", "unknown"), ``log_odds``: the additive effect on the
        conversion log-odds against the answer "no" (the same for every rep and source).
    lead_source_log_odds : pandas.Series
        Source -> additive conversion log-odds against ``web``.
    win_intercept : float
        Log-odds of winning for an opportunity whose lead answered no "yes".
    bant_win_log_odds : pandas.Series
        BANT item -> additive win log-odds of a "yes" on the opportunity's lead.  With
        the stage process unchanged, ``logit P(win | in stage k, lead) = c_k + sum
        gamma_i [yes_i]``: stage and lead answers are the only true predictors of a win.
    opportunity_fate : pandas.DataFrame
        ``opportunity_id``, ``won`` (eventual outcome, also for deals still open at
        ``as_of``), ``close_date`` (eventual close; after ``as_of`` for open deals).
    expected_revenue : pandas.DataFrame
        ``region``, ``month``, ``first_order_revenue``, ``baseline_revenue`` (expected
        repeat-purchase revenue without marketing), ``marketing_revenue`` (incremental
        revenue of the month's spend), ``expected_revenue`` (sum; gross, before returns),
        ``marketing_spend``, ``spend_test`` ("none", "dark" geo hold-out, "cut" or
        "heavy" heavy-up month), and the same in orders (order events, not lines):
        ``first_orders`` (realised count of first orders), ``baseline_orders``,
        ``marketing_orders``.  Expectations are conditional on the latent customer states.
    """

    as_of: pd.Timestamp
    history_start: pd.Timestamp
    monthly_seasonality: pd.Series
    regions: pd.DataFrame
    customers: pd.DataFrame
    reps: pd.DataFrame
    territories: pd.DataFrame
    stage_conversion: pd.Series
    stage_duration_days: pd.Series
    ramp_months: float
    ramp_floor: float
    vacancy_factor: float
    gross_margin_rate: float
    product_mix: pd.Series
    unit_price: pd.Series
    lines_per_order_mean: float
    return_rate: float
    return_fraction_mean: float
    purchase_process: dict
    activity_rates: pd.DataFrame
    expected_revenue: pd.DataFrame
    leads: pd.DataFrame | None = None
    lead_intercept: float = float("nan")
    bant_log_odds: pd.DataFrame | None = None
    lead_source_log_odds: pd.Series | None = None
    win_intercept: float = float("nan")
    bant_win_log_odds: pd.Series | None = None
    opportunity_fate: pd.DataFrame | None = None

    def response(self, region, monthly_spend):
        """True incremental gross margin of marketing spend.

        Parameters
        ----------
        region : str or array-like of str
            Region name(s) as in ``regions.region``.
        monthly_spend : float or array-like
            Spend in currency per month (broadcast against ``region``).

        Returns
        -------
        float or numpy.ndarray
            ``a_r * (1 - exp(-spend / b_r))`` in currency of gross margin per month.
        """
        reg = self.regions.set_index("region")
        r = np.asarray(region, dtype=object)
        try:
            a = reg["response_a"].reindex(r.ravel()).to_numpy().reshape(r.shape)
            b = reg["response_b"].reindex(r.ravel()).to_numpy().reshape(r.shape)
        except Exception as exc:  # pragma: no cover - defensive
            raise ValueError(f"unknown region in {region!r}") from exc
        if np.isnan(a).any():
            bad = sorted(set(r.ravel()) - set(reg.index))
            raise ValueError(f"response: unknown region(s) {bad}; known {list(reg.index)}")
        s = np.asarray(monthly_spend, dtype=float)
        out = a * (1.0 - np.exp(-s / b))
        return float(out) if np.ndim(out) == 0 else out

    def response_revenue(self, region, monthly_spend):
        """Incremental gross revenue of spend (currency/month): ``response / gross_margin_rate``."""
        return np.asarray(self.response(region, monthly_spend)) / self.gross_margin_rate


# --------------------------------------------------------------------------- company
@dataclass(frozen=True)
class DemoCompany:
    """A generated company: its data, the truth behind them and a simulator of the future.

    Attributes
    ----------
    data : SalesData
        All nine tables, coerced to the contract.
    truth : GroundTruth
        The generating parameters and latent states.
    """

    data: SalesData
    truth: GroundTruth
    _state: Any = field(repr=False, compare=False, default=None)

    def simulate_future(
        self, months: int = 3, seed: int = 0, redraw_lifetimes: bool = False,
        with_region: bool = False,
    ) -> pd.DataFrame:
        """Draw order lines for the months after ``as_of`` from the true process.

        Parameters
        ----------
        months : int
            Number of calendar months after the month of ``as_of`` (a partial month after
            ``as_of`` is included as well).
        seed : int
            Seed of this draw; different seeds give independent futures.
        redraw_lifetimes : bool
            If False (default) alive customers drop out at their true ``dropout_date``;
            if True their remaining lifetime is redrawn from ``Exp(dropout_rate)`` (the
            same process in distribution, as it is memoryless).
        with_region : bool
            Add a ``region`` column (after the contract's columns): the customer's region,
            also for customers acquired in the future, who are in no customers table.

        Returns
        -------
        pandas.DataFrame
            Order lines with the columns of ``orders`` (contract dtypes).  Customers
            acquired in the future have ids starting with ``"NEW"``; returns of history
            orders that fall in the window are included.  Marketing runs at the base spend.
        """
        if int(months) < 1:
            raise ValueError(f"simulate_future: months must be >= 1, got {months!r}")
        return _simulate_future(
            self._state, int(months), int(seed), bool(redraw_lifetimes), bool(with_region)
        )


    def quarter_in_progress(self, until, seed: int = 2027) -> pd.DataFrame:
        """Orders of a quarter in progress: one simulated future from the day after
        ``as_of`` to ``until`` (inclusive).

        The demo's weekly review reads them as the actuals to date (``make demo-data``
        writes them next to the demo company as ``salesplan_demo_actuals.duckdb``).

        Parameters
        ----------
        until : date-like
            Last day of the actuals, after ``as_of``.
        seed : int
            Seed of the future drawn.

        Returns
        -------
        pandas.DataFrame
            Order lines (contract ``orders`` columns) dated ``as_of + 1 .. until``.
        """
        until = pd.Timestamp(until).normalize()
        if until <= self.truth.as_of:
            raise ValueError(f"quarter_in_progress: until={until.date()} must be after as_of "
                             f"{self.truth.as_of.date()}")
        months = (until.to_period("M") - self.truth.as_of.to_period("M")).n
        fut = self.simulate_future(months=max(1, months), seed=int(seed))
        return fut[fut["order_date"] <= until].reset_index(drop=True)

    def future_revenue_paths(self, seeds, months: int = 3) -> SamplePaths:
        """Net revenue by region and month of one simulated future per seed.

        Returns :class:`~salesplan.data.paths.SamplePaths` (region x path x month, the
        package's one axis order): ``values[r, s, m]`` is the revenue of region ``r`` in
        month ``m`` of the future drawn with ``seeds[s]`` (customers acquired in the
        future counted in their region); ``series`` = regions, ``dates`` = month starts.
        The first month is the one after ``as_of``; a partial month after ``as_of`` is
        left out.
        """
        regions = list(self.data.regions["region"])
        first = (self.truth.as_of + pd.offsets.MonthBegin(1)).normalize()
        month_starts = pd.date_range(first, periods=int(months), freq="MS")
        paths = []
        for seed in seeds:
            future = self.simulate_future(months=months, seed=int(seed), with_region=True)
            month = future["order_date"].dt.to_period("M").dt.start_time
            table = future.pivot_table(index="region", columns=month, values="amount",
                                       aggfunc="sum", fill_value=0.0)
            paths.append(table.reindex(index=regions, columns=month_starts, fill_value=0.0)
                         .to_numpy(dtype=float))
        return SamplePaths.from_array(np.array(paths), regions, month_starts,
                                      axes=("path", "series", "time"))

# --------------------------------------------------------------------------- helpers
def _rngs(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
    return {name: np.random.default_rng(ss) for name, ss in zip(_STREAMS, children)}


def _day(ts) -> int:
    return int(np.datetime64(pd.Timestamp(ts).normalize().date(), "D").astype(np.int64))


def _to_dt(days) -> np.ndarray:
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[ns]")


def _month_grid(first_month: np.datetime64, n: int):
    months = first_month + np.arange(n)
    starts = months.astype("datetime64[D]").astype(np.int64)
    ends = (months + 1).astype("datetime64[D]").astype(np.int64)  # exclusive
    cal = (months.astype(np.int64) % 12) + 1
    return months, starts, ends, cal


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


# --------------------------------------------------------------------------- latent draws
_FAR_DAYS = 100 * 365  # dropout dates further than this after as_of are reported as NaT
_RETURN_FRACTION_MEAN = 0.6  # U(0.2, 1) of the quantity, at least one unit

_PROCESS = {
    "r": 0.85,  # purchase-rate gamma shape
    "rate_mean": 1.05,  # orders/month
    "s": 2.5,  # dropout-rate gamma shape
    "dropout_mean": 1.0 / 42.0,  # per month
    "order_value_shape": 4.0,
    "order_value_sigma": 0.85,
}


def _draw_latent(rng, n: int, mov_median: np.ndarray):
    """Purchase rate, dropout rate, mean order value and credit latent for ``n`` customers."""
    p = _PROCESS
    lam = rng.gamma(p["r"], p["rate_mean"] / p["r"], n)
    mu = rng.gamma(p["s"], p["dropout_mean"] / p["s"], n)
    mov = mov_median * np.exp(rng.normal(0.0, p["order_value_sigma"], n))
    z = rng.normal(0.0, 1.0, n)
    seg_noise = np.exp(rng.normal(0.0, 0.3, n))
    return lam, mu, mov, z, seg_noise


def _credit_params(z):
    dp = _logistic(-3.1 + 1.0 * z)
    hazard = -np.log1p(-dp) / 12.0  # per month
    late_p = _logistic(-1.3 + 0.8 * z)
    return dp, hazard, late_p


# --------------------------------------------------------------------------- territories
def _occupant(chain_rep, chain_start, chain_end, slot, day):
    """Rep index occupying ``slot`` on ``day`` (-1 when vacant); vectorised."""
    out = np.full(len(slot), -1, dtype=np.int64)
    for j in range(chain_rep.shape[1]):
        r = chain_rep[slot, j]
        ok = (r >= 0) & (chain_start[slot, j] <= day) & (day <= chain_end[slot, j])
        out = np.where(ok, r, out)
    return out


def _productivity(st, month_starts):
    """Territory x month productivity at mid-month (ramp-up, vacancy)."""
    S = st.chain_rep.shape[0]
    mids = month_starts + 14
    slot = np.repeat(np.arange(S), len(mids))
    day = np.tile(mids, S)
    occ = _occupant(st.chain_rep, st.chain_start, st.chain_end, slot, day)
    hire = st.rep_hire[np.maximum(occ, 0)]
    tenure = (day - hire) / DAYS_PER_MONTH
    floor = st.ramp_floor
    prod = floor + (1.0 - floor) * np.clip(tenure / st.ramp_months, 0.0, 1.0)
    prod = np.where(occ >= 0, prod, st.vacancy_factor)
    return prod.reshape(S, len(mids))


def _assign_territory(rng, st, reg, key_account, acq):
    """Territory of each customer: key accounts to key-account/senior territories."""
    n = len(reg)
    out = np.empty(n, dtype=np.int64)
    s_region, s_level, s_created = st.slot_region, st.slot_level, st.slot_created
    u = rng.random(n)
    for r in np.unique(reg):
        for is_ka in (True, False):
            who = np.flatnonzero((reg == r) & (key_account == is_ka))
            if len(who) == 0:
                continue
            lv_ok = (s_level >= 1) if is_ka else (s_level <= 1)
            cand = np.flatnonzero((s_region == r) & lv_ok)
            cand = cand[np.argsort(s_created[cand], kind="stable")]
            k = np.searchsorted(s_created[cand], acq[who], side="right")
            k = np.maximum(k, 1)
            out[who] = cand[np.minimum((u[who] * k).astype(np.int64), k - 1)]
    return out


# --------------------------------------------------------------------------- purchase engine
def _expected(st, cust, starts, ends, cal, win_lo, win_hi):
    """Expected repeat orders and revenue per customer-month without marketing.

    Returns ``(count C x M, orders region x M, revenue region x M)``; counts are
    orders, revenue is currency (gross, before returns).
    """
    lam, drop, acq = cust.lam, cust.drop, cust.acq
    mov, g, reg, slot = cust.mov, cust.g, cust.reg, cust.slot
    lo = np.maximum(np.maximum(starts[None, :], acq[:, None]), win_lo).astype(float)
    hi = np.minimum(np.minimum(ends[None, :], drop[:, None]), win_hi).astype(float)
    expo = np.clip(hi - lo, 0.0, None)  # days
    season = st.season[cal - 1]
    cnt = lam[:, None] * (expo / DAYS_PER_MONTH) * season[None, :]
    cnt *= _productivity(st, starts)[slot]
    mid = 0.5 * (lo + hi)
    rev = cnt * (mov[:, None] * np.exp(g[:, None] * (mid - st.as_of_day) / _DAYS_PER_YEAR))
    baseline = np.zeros((st.n_regions, len(starts)))
    base_orders = np.zeros((st.n_regions, len(starts)))
    for r in range(st.n_regions):
        baseline[r] = rev[reg == r].sum(axis=0)
        base_orders[r] = cnt[reg == r].sum(axis=0)
    return cnt, base_orders, baseline


def _purchases(rng, st, cust, months, starts, ends, cal, win_lo, win_hi, spend):
    """Expected revenue components and realised order events on a month grid.

    ``cust`` holds latent arrays (lam, drop, acq, mov, g, reg, slot); the window is
    [win_lo, win_hi) in days.  ``spend`` is region x month marketing spend.
    Returns (events dict, expected-revenue dict of region x month arrays).
    """
    acq, drop, mov, g, reg = cust.acq, cust.drop, cust.mov, cust.g, cust.reg
    R = st.n_regions
    M = len(starts)
    base_cnt, base_orders, baseline = _expected(st, cust, starts, ends, cal, win_lo, win_hi)
    incr = st.resp_a[:, None] * (1.0 - np.exp(-spend / st.resp_b[:, None]))
    incr_rev = incr / st.gm_rate
    factor = 1.0 + np.divide(incr_rev, baseline, out=np.zeros_like(baseline), where=baseline > 0)
    incr_rev = np.where(baseline > 0, incr_rev, 0.0)
    counts = rng.poisson(base_cnt * factor[reg])
    del base_cnt
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    ev_c, ev_m = np.divmod(flat, M)
    e_lo = np.maximum(np.maximum(starts[ev_m], acq[ev_c]), win_lo).astype(float)
    e_hi = np.minimum(np.minimum(ends[ev_m], drop[ev_c]), win_hi).astype(float)
    day = np.floor(e_lo + rng.random(len(ev_c)) * (e_hi - e_lo)).astype(np.int64)
    day = np.minimum(day, np.ceil(e_hi).astype(np.int64) - 1)
    # first orders of customers acquired inside the window
    first = np.flatnonzero((acq >= win_lo) & (acq < win_hi))
    ev_c = np.concatenate([ev_c, first])
    day = np.concatenate([day, acq[first]])
    first_rev = np.zeros((R, M))
    fm = np.searchsorted(starts, acq[first], side="right") - 1
    fval = mov[first] * np.exp(g[first] * (acq[first] - st.as_of_day) / _DAYS_PER_YEAR)
    np.add.at(first_rev, (reg[first], fm), fval)
    p = _PROCESS["order_value_shape"]
    value = (
        mov[ev_c]
        * np.exp(g[ev_c] * (day - st.as_of_day) / _DAYS_PER_YEAR)
        * rng.gamma(p, 1.0 / p, len(ev_c))
    )
    order = np.lexsort((ev_c, day))
    events = {"cust": ev_c[order], "day": day[order], "value": value[order]}
    expected = {
        "first": first_rev,
        "baseline": baseline,
        "marketing": incr_rev,
        "first_orders": np.bincount(reg[first] * M + fm, minlength=R * M).reshape(R, M),
        "baseline_orders": base_orders,
        "marketing_orders": base_orders * (factor - 1.0),
    }
    return events, expected


def _lines(rng, st, events):
    """Split order events into order lines (one per product line, no repeats)."""
    E = len(events["day"])
    P = len(_PRODUCT_MIX)
    k = 1 + rng.binomial(P - 2, 0.2, E)
    keys = np.log(_PRODUCT_MIX)[None, :] + rng.gumbel(size=(E, P))
    ordp = np.argsort(-keys, axis=1, kind="stable")
    mask = np.arange(P)[None, :] < k[:, None]
    ev, j = np.nonzero(mask)
    prod = ordp[ev, j]
    w = _LINE_VALUE_WEIGHT[prod] * rng.gamma(3.0, 1.0 / 3.0, len(ev))
    share = w / np.bincount(ev, weights=w, minlength=E)[ev]
    amount = np.round(events["value"][ev] * share, 2)
    amount = np.maximum(amount, 0.01)
    price = _UNIT_PRICE[prod] * np.exp(rng.normal(0.0, 0.1, len(ev)))
    qty = np.maximum(1.0, np.round(amount / price))
    return {"event": ev, "line": j + 1, "prod": prod, "amount": amount, "qty": qty}


def _returns(rng, st, cust_idx, day, prod, qty, amount, rep, drop_day):
    """Return lines for a share of the order lines (negative quantity and amount)."""
    hit = np.flatnonzero(rng.random(len(day)) < st.return_rate)
    lag = 3 + rng.poisson(14, len(hit))
    frac = rng.uniform(0.2, 1.0, len(hit))
    rday = np.maximum(np.minimum(day[hit] + lag, drop_day[cust_idx[hit]]), day[hit])
    rqty = -np.maximum(1.0, np.round(frac * qty[hit]))
    rqty = np.maximum(rqty, -qty[hit])
    ramount = np.round(rqty * amount[hit] / qty[hit], 2)
    return {
        "cust": cust_idx[hit],
        "day": rday.astype(np.int64),
        "prod": prod[hit],
        "qty": rqty,
        "amount": ramount,
        "rep": rep[hit],
    }


def _orders_frame(order_ids, cust_ids, days, rep_ids, products, qty, amount) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": order_ids,
            "order_date": _to_dt(days),
            "customer_id": cust_ids,
            "rep_id": rep_ids,
            "product_line": products,
            "quantity": np.asarray(qty, dtype=float),
            "amount": np.asarray(amount, dtype=float),
        }
    )


def _build_orders(rng_lines, rng_ret, st, events, cust, id_prefix, win_hi):
    """Order lines + return lines of ``events``; returns (frame, pending returns frame)."""
    ln = _lines(rng_lines, st, events)
    ev = ln["event"]
    c = events["cust"][ev]
    day = events["day"][ev]
    slot = cust.slot[c]
    rep = _occupant(st.chain_rep, st.chain_start, st.chain_end, slot, day)
    ret = _returns(
        rng_ret, st, c, day, ln["prod"], ln["qty"], ln["amount"], rep, cust.drop_floor
    )
    n_ev = len(events["day"])
    width = max(7, len(str(n_ev)))
    order_no = np.array(
        [f"{id_prefix}{e + 1:0{width}d}-{j}" for e, j in zip(ev.tolist(), ln["line"].tolist())],
        dtype=object,
    )
    products = np.asarray(st.products, dtype=object)
    rep_ids = np.where(rep >= 0, st.rep_ids[np.maximum(rep, 0)], None)
    pos = _orders_frame(
        order_no, cust.ids[c], day, rep_ids, products[ln["prod"]], ln["qty"], ln["amount"]
    )
    ro = np.lexsort((ret["cust"], ret["day"]))
    ret = {k: v[ro] for k, v in ret.items()}
    rid = np.array([f"R{id_prefix}{i:0{width}d}" for i in range(1, len(ro) + 1)], dtype=object)
    r_rep = np.where(ret["rep"] >= 0, st.rep_ids[np.maximum(ret["rep"], 0)], None)
    rets = _orders_frame(
        rid,
        cust.ids[ret["cust"]],
        ret["day"],
        r_rep,
        products[ret["prod"]],
        ret["qty"],
        ret["amount"],
    )
    late = ret["day"] >= win_hi
    frame = pd.concat([pos, rets[~late]], ignore_index=True)
    frame = frame.sort_values(["order_date", "order_id"], kind="mergesort", ignore_index=True)
    meta = {"cust": c, "day": day, "amount": ln["amount"]}
    return frame, rets[late].reset_index(drop=True), meta


# --------------------------------------------------------------------------- generate
# marketing truth by maturity: (f_lo, f_hi) saturation a as a share of the mean monthly
# baseline gross margin; (c_lo, c_hi) base spend / b (how saturated the base spend is);
# (roi_lo, roi_hi) average return a * (1 - exp(-c)) / base spend at the base spend
_MARKETING = {
    "mature": (0.06, 0.09, 2.5, 3.5, 1.4, 1.9),
    "developing": (0.15, 0.22, 0.8, 1.3, 2.0, 2.6),
    "emerging": (0.50, 0.70, 0.2, 0.4, 2.5, 3.2),
}
#: share of region-months in planned spend tests: "dark" (geo hold-out, spend
#: U(0, 0.1) x base), "cut" (U(0.3, 0.6) x base) and "heavy" (heavy-up, U(2, 3) x base);
#: the rest is business as usual at base x (1 + 0.4 U(-1, 1)).
MARKETING_TEST_SHARE = {"dark": 0.15, "cut": 0.15, "heavy": 0.15}


_TEST_KINDS = ("none", "dark", "cut", "heavy")
_TEST_LEVELS = ((0.6, 1.4), (0.0, 0.1), (0.3, 0.6), (2.0, 3.0))  # spend / base spend


def _spend_plan(rng, base_spend, M):
    """Monthly spend per region with randomised geo tests (dark, cut and heavy-up months).

    Each region gets exactly ``round(share * M)`` months of each test kind, placed by an
    independent random permutation (so tests are not confounded with season or with the
    other regions' tests).  Returns ``(spend R x M, test R x M)``, ``test`` indexing
    ``_TEST_KINDS``.
    """
    R = len(base_spend)
    mult = 1 + 0.4 * rng.uniform(-1, 1, (R, M))
    perm = np.argsort(rng.random((R, M)), axis=1)
    test = np.zeros((R, M), dtype=np.int64)
    rows = np.arange(R)[:, None]
    k0 = 0
    for code, kind in enumerate(_TEST_KINDS[1:], start=1):
        n = round(MARKETING_TEST_SHARE[kind] * M)
        test[rows, perm[:, k0 : k0 + n]] = code
        k0 += n
    for code, (lo, hi) in enumerate(_TEST_LEVELS[1:], start=1):
        mult = np.where(test == code, rng.uniform(lo, hi, (R, M)), mult)
    return np.round(base_spend[:, None] * mult, -1), test


def generate(
    seed: int = 7,
    scale: float = 1.0,
    as_of="2026-12-31",
    locale: str = "en",
    years: int = 4,
) -> DemoCompany:
    """Generate the demo company and the truth behind it.

    The company is drawn in typed steps, each from its own random stream: regions ->
    customers (latent purchase, dropout and credit parameters) -> territories and reps ->
    marketing response -> orders -> invoices, opportunities, activities, leads -> tables
    -> ground truth.

    Parameters
    ----------
    seed : int
        Seed of every random step (``numpy.random.SeedSequence(seed)`` with one child
        stream per step).  The same arguments give identical frames.
    scale : float
        Multiplies customers (about ``3000 * scale``), territories/reps (about
        ``60 * scale``) and therefore orders (about ``100_000 * scale`` lines).
    as_of : date-like
        Last day of the history.
    locale : {"en", "zh"}
        Language of region, customer, rep, industry and product-line names.  The numbers
        do not depend on the locale.
    years : int
        Length of the history in years (whole months ending with the month of ``as_of``).

    Returns
    -------
    DemoCompany
        ``.data`` (coerced :class:`SalesData` with all nine tables), ``.truth``
        (:class:`GroundTruth`) and ``.simulate_future``.
    """
    if locale not in ("en", "zh"):
        raise ValueError(f"generate: locale must be 'en' or 'zh', got {locale!r}")
    if not (scale > 0):
        raise ValueError(f"generate: scale must be > 0, got {scale!r}")
    if int(years) < 1:
        raise ValueError(f"generate: years must be >= 1, got {years!r}")
    rng = _rngs(seed)
    zh = locale == "zh"
    cal = _Calendar.build(as_of, int(years))
    regions = _draw_regions(rng["regions"], zh)
    people = _draw_customers(rng["customers"], regions, cal, scale)
    force = _draw_salesforce(rng["reps"], regions, people, cal, scale)
    world = _World.build(int(seed), cal, regions, force, zh)
    book = _Book.build(people, regions, _assign_territory(rng["customers"], world, people.reg,
                                                          people.seg == 0, people.acq))
    market = _calibrate_marketing(rng["marketing"], world, book, cal, regions)
    world.resp_a, world.resp_b = market.resp_a, market.resp_b
    events, expected = _purchases(rng["orders"], world, book, cal.months, cal.starts, cal.ends,
                                  cal.cal, cal.start_day, cal.win_hi, market.spend)
    orders, pending, meta = _build_orders(rng["lines"], rng["returns"], world, events, book, "SO",
                                          cal.win_hi)
    terms = _payment_terms(rng["customers"], people.seg)
    invoices = _invoices(rng["invoices"], world, book, meta, cal.starts, cal.as_of_day, people.z,
                         people.hazard, people.late_p, terms)
    opps, hist, opp_fate = _opportunities(rng["opportunities"], world, book, cal.starts, cal.ends,
                                          cal.win_hi, regions.maturity, force.rep_ids, people.ids)
    activities = _activities(rng["activities"], world, book, people.seg, cal.starts, cal.ends,
                             cal.start_day, cal.win_hi, force.rep_ids, people.ids)
    leads, lead_truth = _leads(seed, opps, opp_fate, cal.start_day, cal.as_of_day)
    customers, reps = _people_tables(rng["names"], people, force, regions, terms, zh)
    growth = _region_growth(expected, regions, people, cal)
    data = SalesData(
        orders=orders, customers=customers, reps=reps,
        regions=pd.DataFrame({"region": regions.name, "maturity": regions.maturity,
                              "market_potential": growth["market_potential"]}),
        invoices=invoices, opportunities=opps, stage_history=hist, activities=activities,
        marketing_spend=pd.DataFrame({"region": np.repeat(regions.name, cal.n_months),
                                      "month": np.tile(_to_dt(cal.starts), regions.n),
                                      "amount": market.spend.ravel()}),
        stages=DEFAULT_STAGES,
        notes=(f"synthetic demo company (seed={seed}, scale={scale}, locale={locale})",),
        leads=leads,
    ).coerced()
    truth = _ground_truth(cal, regions, people, force, world, book, market, expected, growth,
                          reps, lead_truth)
    world.remember(book, people, regions, market, pending)
    return DemoCompany(data=data, truth=truth, _state=world)


@dataclass(frozen=True)
class _Calendar:
    """The history's month grid (days are integer days since 1970-01-01)."""

    as_of_ts: pd.Timestamp
    as_of_day: int
    start_day: int
    win_hi: int  # exclusive end of the history window: the day after as_of
    months: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    cal: np.ndarray  # calendar month 1..12 of each month

    @classmethod
    def build(cls, as_of, years: int) -> _Calendar:
        as_of_ts = pd.Timestamp(as_of).normalize()
        as_of_day = _day(as_of_ts)
        last_month = np.datetime64(as_of_ts.strftime("%Y-%m"), "M")
        months, starts, ends, cal = _month_grid(last_month - (12 * years - 1), 12 * years)
        return cls(as_of_ts, as_of_day, int(starts[0]), as_of_day + 1, months, starts, ends, cal)

    @property
    def n_months(self) -> int:
        return len(self.months)

    @property
    def years(self) -> float:
        """Length of the history window in years."""
        return (self.as_of_day + 1 - self.start_day) / _DAYS_PER_YEAR


@dataclass(frozen=True)
class _Regions:
    """Step 1: the regions and their acquisition, growth and seasonality parameters."""

    key: list
    name: np.ndarray
    maturity: np.ndarray
    share: np.ndarray
    init_share: np.ndarray
    k_acq: np.ndarray  # trend of the acquisition intensity, per year
    g_acc: np.ndarray  # growth of the accounts' order values, per year
    mov_med: np.ndarray  # median mean order value
    penetration: np.ndarray
    season: np.ndarray  # 12 monthly factors, mean 1

    @property
    def n(self) -> int:
        return len(self.name)


def _draw_regions(rr, zh: bool) -> _Regions:
    R = len(_REGIONS)
    k_acq = np.array([x[6] for x in _REGIONS]) + rr.normal(0, 0.02, R)
    g_acc = np.array([x[7] for x in _REGIONS]) + rr.normal(0, 0.005, R)
    mov_med = np.array([x[8] for x in _REGIONS]) * np.exp(rr.normal(0, 0.05, R))
    season = _SEASON_BASE * np.exp(rr.normal(0, 0.02, 12))
    return _Regions(
        key=[x[0] for x in _REGIONS],
        name=np.array([x[2] if zh else x[1] for x in _REGIONS], dtype=object),
        maturity=np.array([x[3] for x in _REGIONS], dtype=object),
        share=np.array([x[4] for x in _REGIONS]),
        init_share=np.array([x[5] for x in _REGIONS]),
        k_acq=k_acq, g_acc=g_acc, mov_med=mov_med,
        penetration=np.array([x[9] for x in _REGIONS]),
        season=season / season.mean(),
    )


@dataclass(frozen=True)
class _Customers:
    """Step 2: every customer's region, acquisition day and latent parameters."""

    n_reg: np.ndarray  # customers per region
    n_new: np.ndarray  # of which acquired during the history
    reg: np.ndarray
    acq: np.ndarray  # acquisition day
    lam: np.ndarray  # purchase rate per month
    mu: np.ndarray  # dropout rate per month
    mov: np.ndarray  # mean order value
    z: np.ndarray  # credit risk latent
    drop: np.ndarray  # dropout day (float)
    seg: np.ndarray  # 0 key account, 1 mid, 2 small
    thr: np.ndarray  # segment thresholds of the value score
    dp: np.ndarray
    hazard: np.ndarray
    late_p: np.ndarray
    ids: np.ndarray


def _draw_customers(rc, regions: _Regions, cal: _Calendar, scale: float) -> _Customers:
    R, start_day = regions.n, cal.start_day
    n_total = max(R * 5, round(3000 * scale))
    n_reg = np.floor(n_total * regions.share).astype(int)
    n_reg[0] += n_total - n_reg.sum()
    n_init = np.round(n_reg * regions.init_share).astype(int)
    n_new = n_reg - n_init
    T = cal.years
    reg_list, acq_list = [], []
    for r in range(R):
        a0 = start_day - np.floor(rc.uniform(1, 8 * _DAYS_PER_YEAR, n_init[r]))
        u = rc.random(n_new[r])
        k = regions.k_acq[r]
        t = np.log1p(u * np.expm1(k * T)) / k if abs(k) > 1e-9 else u * T
        a1 = start_day + np.floor(t * _DAYS_PER_YEAR)
        acq_list += [a0, np.minimum(a1, cal.as_of_day)]
        reg_list += [np.full(n_init[r], r), np.full(n_new[r], r)]
    reg = np.concatenate(reg_list).astype(np.int64)
    acq = np.concatenate(acq_list).astype(np.int64)
    order = np.lexsort((reg, acq))  # customers numbered by acquisition date
    reg, acq = reg[order], acq[order]
    C = len(reg)
    lam, mu, mov, z, seg_noise = _draw_latent(rc, C, regions.mov_med[reg])
    life = rc.exponential(1.0 / mu) * DAYS_PER_MONTH  # days
    # the initial book is alive when the history starts (memoryless residual lifetime)
    drop = np.where(acq < start_day, start_day + life, acq + life)
    score = lam * mov * seg_noise
    thr = np.quantile(score, [1 - _SEGMENT_SHARE[0], 1 - _SEGMENT_SHARE[0] - _SEGMENT_SHARE[1]])
    seg = np.where(score >= thr[0], 0, np.where(score >= thr[1], 1, 2))
    dp, hazard, late_p = _credit_params(z)
    return _Customers(n_reg, n_new, reg, acq, lam, mu, mov, z, drop, seg, thr, dp, hazard, late_p,
                      _ids("C", C, max(6, len(str(C)))))


@dataclass(frozen=True)
class _SalesForce:
    """Step 3: territories (slots) and the chain of reps who held each."""

    slot_region: np.ndarray
    slot_level: np.ndarray
    slot_created: np.ndarray
    chain_rep: np.ndarray  # slots x 2: rep index of the first and second holder (-1 none)
    chain_start: np.ndarray
    chain_end: np.ndarray
    rep_slot: np.ndarray
    rep_hire: np.ndarray
    rep_exit: np.ndarray  # -1 = still employed
    rep_ids: np.ndarray
    terr_ids: np.ndarray


def _territory_slots(rp, regions: _Regions, people: _Customers, cal: _Calendar):
    """Region, level and creation day of every territory (growth regions add territories)."""
    n_slots = np.maximum(3, np.round(people.n_reg / 3000 * 54)).astype(int)
    maturity = regions.maturity
    growth_share = np.where(
        maturity == "emerging", 0.30, np.where(maturity == "developing", 0.12, 0.0)
    )
    slot_region, slot_level, slot_created = [], [], []
    for r in range(regions.n):
        n_s = n_slots[r]
        n_g = int(np.round(n_s * growth_share[r]))
        n_i = max(3, n_s - n_g)
        lv = np.concatenate([[2, 1, 0], rp.choice(3, n_i - 3, p=[0.5, 0.35, 0.15])])
        slot_region += [r] * (n_i + n_g)
        slot_level += list(lv) + [0] * n_g
        cre = np.sort(rp.integers(cal.start_day + 90, max(cal.start_day + 91, cal.as_of_day - 60), n_g))
        slot_created += [np.iinfo(np.int64).min // 4] * n_i + list(cre)
    return (np.array(slot_region, dtype=np.int64), np.array(slot_level, dtype=np.int64),
            np.array(slot_created, dtype=np.int64))


def _draw_salesforce(rp, regions: _Regions, people: _Customers, cal: _Calendar,
                     scale: float) -> _SalesForce:
    slot_region, slot_level, slot_created = _territory_slots(rp, regions, people, cal)
    start_day, as_of_day = cal.start_day, cal.as_of_day
    S = len(slot_region)
    initial = slot_created < start_day
    # chains: initial rep (hired before the history) may exit and be replaced
    BIG = np.iinfo(np.int64).max // 4
    chain_rep = np.full((S, 2), -1, dtype=np.int64)
    chain_start = np.zeros((S, 2), dtype=np.int64)
    chain_end = np.full((S, 2), BIG, dtype=np.int64)
    hire0 = np.where(
        initial, start_day - np.floor(rp.uniform(20, 8 * _DAYS_PER_YEAR, S)), slot_created
    )
    exits = initial & (rp.random(S) < 0.28)
    exit_day = rp.integers(start_day + 60, as_of_day - 150, S)
    gap = 1 + rp.integers(0, 21, S)
    n_vac = min(int(exits.sum()), max(1, round(1.5 * scale)))
    long_gap = np.flatnonzero(exits)
    long_gap = long_gap[rp.permutation(len(long_gap))[:n_vac]]
    gap[long_gap] = rp.integers(45, 100, len(long_gap))
    rep_slot, rep_hire, rep_exit = [], [], []
    for s in range(S):
        chain_rep[s, 0] = len(rep_slot)
        chain_start[s, 0] = hire0[s]
        rep_slot.append(s)
        rep_hire.append(hire0[s])
        rep_exit.append(exit_day[s] if exits[s] else -1)
        if exits[s]:
            chain_end[s, 0] = exit_day[s]
            chain_rep[s, 1] = len(rep_slot)
            chain_start[s, 1] = exit_day[s] + gap[s]
            rep_slot.append(s)
            rep_hire.append(exit_day[s] + gap[s])
            rep_exit.append(-1)
    n_rep = len(rep_slot)
    return _SalesForce(slot_region, slot_level, slot_created, chain_rep, chain_start, chain_end,
                       np.array(rep_slot, dtype=np.int64), np.array(rep_hire, dtype=np.int64),
                       np.array(rep_exit, dtype=np.int64), _ids("R", n_rep, max(4, len(str(n_rep)))),
                       _ids("T", S, max(3, len(str(S)))))


@dataclass
class _Book:
    """The customers' latent arrays the event simulators read (history and future)."""

    ids: np.ndarray
    lam: np.ndarray
    drop: np.ndarray
    acq: np.ndarray
    mov: np.ndarray
    g: np.ndarray
    reg: np.ndarray
    slot: np.ndarray
    drop_floor: np.ndarray | None = None

    def __post_init__(self):
        if self.drop_floor is None:
            self.drop_floor = np.floor(self.drop).astype(np.int64)

    @classmethod
    def build(cls, people: _Customers, regions: _Regions, slot: np.ndarray) -> _Book:
        return cls(people.ids, people.lam, people.drop, people.acq, people.mov,
                   regions.g_acc[people.reg], people.reg, slot)


@dataclass
class _World:
    """What the event simulators and :meth:`DemoCompany.simulate_future` read.

    Built in :func:`generate` from the typed steps; the marketing response (``resp_a``,
    ``resp_b``) is added once calibrated, and :meth:`remember` keeps what the future
    simulation needs.
    """

    seed: int
    n_regions: int
    region_names: np.ndarray
    as_of_day: int
    start_day: int
    season: np.ndarray
    gm_rate: float
    chain_rep: np.ndarray
    chain_start: np.ndarray
    chain_end: np.ndarray
    rep_hire: np.ndarray
    rep_ids: np.ndarray
    slot_region: np.ndarray
    slot_level: np.ndarray
    slot_created: np.ndarray
    products: tuple
    ramp_months: float = 5.0
    ramp_floor: float = 0.35
    vacancy_factor: float = 0.7
    return_rate: float = 0.015
    resp_a: np.ndarray | None = None
    resp_b: np.ndarray | None = None
    # kept for the future simulation (see remember)
    cust: _Book | None = None
    seg_thr: np.ndarray | None = None
    mov_med: np.ndarray | None = None
    g_acc: np.ndarray | None = None
    k_acq: np.ndarray | None = None
    n_new: np.ndarray | None = None
    T: float | None = None
    base_spend: np.ndarray | None = None
    mu: np.ndarray | None = None
    pending: pd.DataFrame | None = None

    @classmethod
    def build(cls, seed, cal: _Calendar, regions: _Regions, force: _SalesForce, zh: bool) -> _World:
        return cls(seed=seed, n_regions=regions.n, region_names=regions.name,
                   as_of_day=cal.as_of_day, start_day=cal.start_day, season=regions.season,
                   gm_rate=0.34, chain_rep=force.chain_rep, chain_start=force.chain_start,
                   chain_end=force.chain_end, rep_hire=force.rep_hire, rep_ids=force.rep_ids,
                   slot_region=force.slot_region, slot_level=force.slot_level,
                   slot_created=force.slot_created,
                   products=_PRODUCTS_ZH if zh else _PRODUCTS_EN)

    def remember(self, book, people, regions, market, pending) -> None:
        """Keep what :func:`_simulate_future` needs to continue the history."""
        self.cust, self.seg_thr, self.mu, self.pending = book, people.thr, people.mu, pending
        self.mov_med, self.g_acc, self.k_acq = regions.mov_med, regions.g_acc, regions.k_acq
        self.n_new, self.base_spend = people.n_new, market.base_spend
        self.T = (self.as_of_day + 1 - self.start_day) / _DAYS_PER_YEAR


@dataclass(frozen=True)
class _Marketing:
    """Step 4: each region's response curve and the spend plan of the history."""

    resp_a: np.ndarray  # incremental margin at saturation, per month
    resp_b: np.ndarray  # spend scale of the saturation
    base_spend: np.ndarray
    spend: np.ndarray  # regions x months
    test: np.ndarray  # kind of planned variation per region-month (index into _TEST_KINDS)


def _calibrate_marketing(rm, world: _World, book: _Book, cal: _Calendar,
                         regions: _Regions) -> _Marketing:
    # baseline (no marketing) expectations, to size the response curves
    base_gm = _expected(world, book, cal.starts, cal.ends, cal.cal, cal.start_day,
                        cal.win_hi)[2] * world.gm_rate
    mk = np.array([_MARKETING[m] for m in regions.maturity])  # R x 6 ranges by maturity
    f = rm.uniform(mk[:, 0], mk[:, 1])
    c_sat = rm.uniform(mk[:, 2], mk[:, 3])
    avg_roi = rm.uniform(mk[:, 4], mk[:, 5])
    resp_a = f * base_gm.mean(axis=1)  # sized on the mean of the history
    base_spend = np.round(resp_a * (1 - np.exp(-c_sat)) / avg_roi, -2)
    spend, test = _spend_plan(rm, base_spend, cal.n_months)
    return _Marketing(resp_a, base_spend / c_sat, base_spend, spend, test)


def _payment_terms(rc, seg: np.ndarray) -> np.ndarray:
    """Payment terms in days (30/45/60), more generous for key accounts."""
    terms_p = np.array([[0.1, 0.4, 0.5], [0.35, 0.45, 0.2], [0.7, 0.25, 0.05]])
    cum = terms_p[seg].cumsum(axis=1)
    return np.array([30, 45, 60])[(rc.random(len(seg))[:, None] > cum).sum(axis=1).clip(0, 2)]


def _people_tables(rn, people: _Customers, force: _SalesForce, regions: _Regions,
                   terms: np.ndarray, zh: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers and reps tables (names drawn from the ``names`` stream)."""
    C = len(people.reg)
    cust_names = _company_names(rn, [regions.key[r] for r in people.reg], zh)
    industries = np.asarray(_INDUSTRIES_ZH if zh else _INDUSTRIES_EN, dtype=object)
    industry = industries[rn.integers(0, len(industries), C)]
    exp_month = people.lam * people.mov
    credit_limit = np.round(
        exp_month * (terms / 30.0 + 1.0) * 1.5
        * (1.0 - 0.5 * _logistic(people.z + rn.normal(0, 0.7, C))),
        -3,
    )
    customers = pd.DataFrame({
        "customer_id": people.ids, "name": cust_names, "region": regions.name[people.reg],
        "industry": industry, "segment": np.asarray(_SEGMENTS, dtype=object)[people.seg],
        "credit_limit": np.maximum(credit_limit, 1000.0),
        "payment_terms_days": terms.astype(np.int64),
    })
    rep_exit = force.rep_exit
    reps = pd.DataFrame({
        "rep_id": force.rep_ids,
        "name": _person_names(rn, len(force.rep_ids), zh),
        "region": regions.name[force.slot_region[force.rep_slot]],
        "level": np.asarray(_LEVELS, dtype=object)[force.slot_level[force.rep_slot]],
        "hire_date": _to_dt(force.rep_hire),
        "exit_date": pd.to_datetime(
            np.where(rep_exit >= 0, _to_dt(np.maximum(rep_exit, 0)), np.datetime64("NaT"))
        ),
    })
    return customers, reps


def _region_growth(expected, regions: _Regions, people: _Customers, cal: _Calendar) -> dict:
    """Expected revenue per region-month, last and previous 12 months, acquisition rate
    per month and the market potential (last 12 months / penetration)."""
    exp_total = expected["first"] + expected["baseline"] + expected["marketing"]
    M, T, k = cal.n_months, cal.years, regions.k_acq
    last12 = exp_total[:, -12:].sum(axis=1)
    prev12 = exp_total[:, -24:-12].sum(axis=1) if M >= 24 else np.full(regions.n, np.nan)
    acq_rate = np.where(
        np.abs(k) > 1e-9, people.n_new * k * np.exp(k * T) / np.expm1(k * T), people.n_new / T,
    ) / 12.0
    return {"exp_total": exp_total, "last12": last12, "prev12": prev12, "acq_rate": acq_rate,
            "market_potential": np.round(last12 / regions.penetration, -3)}


def _truth_tables(cal, regions, people, force, book, market, growth, reps) -> dict:
    """The truth's regions, customers, reps and territories frames."""
    name, far = regions.name, cal.as_of_day + _FAR_DAYS
    truth_regions = pd.DataFrame({
        "region": name, "maturity": regions.maturity,
        "market_potential": growth["market_potential"],
        "annual_growth": growth["last12"] / growth["prev12"] - 1.0,
        "account_growth": regions.g_acc, "acquisition_trend": regions.k_acq,
        "acquisition_rate": growth["acq_rate"], "base_marketing_spend": market.base_spend,
        "response_a": market.resp_a, "response_b": market.resp_b,
        "mean_order_value_median": regions.mov_med, "penetration": regions.penetration,
    })
    truth_customers = pd.DataFrame({
        "customer_id": people.ids, "region": name[people.reg],
        "segment": np.asarray(_SEGMENTS, dtype=object)[people.seg],
        "territory": force.terr_ids[book.slot], "acquired_date": _to_dt(people.acq),
        "purchase_rate": people.lam, "dropout_rate": people.mu,
        "dropout_date": pd.to_datetime(np.where(
            book.drop_floor <= far, _to_dt(np.minimum(book.drop_floor, far)), np.datetime64("NaT"))),
        "alive_at_as_of": book.drop_floor > cal.as_of_day,
        "mean_order_value": people.mov, "default_propensity": people.dp,
        "credit_risk_latent": people.z, "late_probability": people.late_p,
        "expected_monthly_revenue": people.lam * people.mov,
    })
    levels = np.asarray(_LEVELS, dtype=object)
    truth_reps = pd.DataFrame({
        "rep_id": force.rep_ids, "territory": force.terr_ids[force.rep_slot],
        "region": name[force.slot_region[force.rep_slot]],
        "level": levels[force.slot_level[force.rep_slot]],
        "hire_date": _to_dt(force.rep_hire), "exit_date": reps["exit_date"].to_numpy(),
    })
    initial = force.slot_created < cal.start_day
    territories = pd.DataFrame({
        "territory": force.terr_ids, "region": name[force.slot_region],
        "level": levels[force.slot_level],
        "created_date": pd.to_datetime(
            np.where(initial, np.datetime64("NaT"), _to_dt(np.maximum(force.slot_created, 0)))),
    })
    return {"regions": truth_regions, "customers": truth_customers, "reps": truth_reps,
            "territories": territories}


def _ground_truth(cal, regions, people, force, world, book, market, expected, growth, reps,
                  lead_truth) -> GroundTruth:
    """The :class:`GroundTruth` of the generated company."""
    M, R = cal.n_months, regions.n
    expected_revenue = pd.DataFrame({
        "region": np.repeat(regions.name, M),
        "month": np.tile(_to_dt(cal.starts), R),
        "first_order_revenue": expected["first"].ravel(),
        "baseline_revenue": expected["baseline"].ravel(),
        "marketing_revenue": expected["marketing"].ravel(),
        "expected_revenue": growth["exp_total"].ravel(),
        "marketing_spend": market.spend.ravel(),
        "spend_test": np.asarray(_TEST_KINDS, dtype=object)[market.test.ravel()],
        "first_orders": expected["first_orders"].ravel().astype(float),
        "baseline_orders": expected["baseline_orders"].ravel(),
        "marketing_orders": expected["marketing_orders"].ravel(),
    })
    p, products = _PROCESS, world.products
    return GroundTruth(
        as_of=cal.as_of_ts,
        history_start=pd.Timestamp(_to_dt([cal.start_day])[0]),
        monthly_seasonality=pd.Series(
            regions.season, index=pd.RangeIndex(1, 13, name="month"), name="seasonality"),
        **_truth_tables(cal, regions, people, force, book, market, growth, reps),
        stage_conversion=pd.Series(_STAGE_CONVERSION, index=list(DEFAULT_STAGES), name="conversion"),
        stage_duration_days=pd.Series(_STAGE_DURATION, index=list(DEFAULT_STAGES), name="mean_days"),
        ramp_months=world.ramp_months,
        ramp_floor=world.ramp_floor,
        vacancy_factor=world.vacancy_factor,
        gross_margin_rate=world.gm_rate,
        product_mix=pd.Series(_PRODUCT_MIX, index=list(products), name="weight"),
        unit_price=pd.Series(_UNIT_PRICE, index=list(products), name="unit_price"),
        lines_per_order_mean=1.0 + (len(_PRODUCT_MIX) - 2) * 0.2,
        return_rate=world.return_rate,
        return_fraction_mean=_RETURN_FRACTION_MEAN,
        purchase_process={
            "r": p["r"], "alpha": p["r"] / p["rate_mean"], "s": p["s"],
            "beta": p["s"] / p["dropout_mean"], "order_value_shape": p["order_value_shape"],
            "order_value_sigma": p["order_value_sigma"],
        },
        activity_rates=pd.DataFrame(
            _ACTIVITY_RATES, index=list(_SEGMENTS), columns=["visit", "call", "email"]),
        expected_revenue=expected_revenue,
        **lead_truth,
    )


# --------------------------------------------------------------------------- invoices
def _invoices(rng, st, cust, meta, starts, as_of_day, z, hazard, late_p, terms):
    """One invoice per customer-month with orders; payment behaviour from credit risk."""
    M = len(starts)
    C = len(cust.lam)
    c, day, amt = meta["cust"], meta["day"], meta["amount"]
    m = np.searchsorted(starts, day, side="right") - 1
    key = c * M + m
    o = np.lexsort((day, key))
    key_s, day_s = key[o], day[o]
    uniq, first_idx, inv = np.unique(key_s, return_index=True, return_inverse=True)
    amount = np.round(np.bincount(inv, weights=amt[o]), 2)
    last_idx = np.r_[first_idx[1:], len(key_s)] - 1
    issue = day_s[last_idx]
    ic, im = np.divmod(uniq, M)
    due = issue + terms[ic]
    # distress episodes: Poisson process with monthly rate h_i, each lasting 2 + Poisson(2)
    # months and covering the month before its onset (invoices already open)
    acq_m = np.searchsorted(starts, cust.acq, side="right") - 1
    on = (rng.random((C, M)) < -np.expm1(-hazard)[:, None]) & (
        np.arange(M)[None, :] >= acq_m[:, None]
    )
    ec, em = np.nonzero(on)
    dur = 2 + rng.poisson(2.0, len(ec))
    diff = np.zeros((C, M + 1), dtype=np.int64)
    np.add.at(diff, (ec, np.maximum(em - 1, 0)), 1)
    np.add.at(diff, (ec, np.minimum(em + dur, M)), -1)
    distress = (np.cumsum(diff, axis=1)[:, :M] > 0)[ic, im]
    n = len(uniq)
    zi = z[ic]
    late = rng.random(n) < late_p[ic]
    mean_late = 6.0 + 18.0 * _logistic(zi)
    days_late = np.where(
        late, 1 + np.floor(rng.gamma(1.5, mean_late / 1.5)), -rng.integers(0, 10, n)
    )
    never = rng.random(n) < 0.4
    d_days = 91 + np.floor(rng.gamma(2.0, 30.0, n))
    paid = due + np.where(distress, d_days, days_late).astype(np.int64)
    paid = np.maximum(paid, issue)
    is_paid = (paid <= as_of_day) & ~(distress & never)
    partial = rng.random(n) < np.where(distress, 0.5, 0.02)
    frac = rng.uniform(0.4, 0.95, n)
    paid_amount = np.where(partial, np.round(amount * frac, 2), amount)
    order = np.lexsort((ic, issue))
    ids = _ids("INV", n, max(7, len(str(n))))
    return pd.DataFrame(
        {
            "invoice_id": ids,
            "customer_id": cust.ids[ic[order]],
            "issue_date": _to_dt(issue[order]),
            "due_date": _to_dt(due[order]),
            "amount": amount[order],
            "paid_date": pd.to_datetime(
                np.where(is_paid, _to_dt(paid), np.datetime64("NaT"))[order]
            ),
            "paid_amount": np.where(is_paid, paid_amount, np.nan)[order],
        }
    )


# --------------------------------------------------------------------------- funnel
_OPP_RATE = np.array([1.6, 1.3, 0.8])  # new opportunities per rep-month by level
_OPP_MEDIAN = np.array([15000.0, 35000.0, 90000.0])  # deal size by level
_MATURITY_DEAL = {"mature": 1.15, "developing": 1.0, "emerging": 0.85}


def _pick_customer(rng, cust, slot, day, tries=3):
    """A customer of ``slot`` acquired on or before ``day`` and still alive (-1 if none)."""
    cs = cust.slot
    amin = int(cust.acq.min())
    big = 10**7
    keys = cs * big + (cust.acq - amin)
    o = np.argsort(keys, kind="stable")
    keys_s = keys[o]
    seg0 = np.searchsorted(keys_s, slot * big, side="left")
    k = np.searchsorted(keys_s, slot * big + (day - amin), side="right") - seg0
    out = np.full(len(slot), -1, dtype=np.int64)
    todo = np.flatnonzero(k > 0)
    for _ in range(tries):
        pick = o[
            seg0[todo] + np.minimum((rng.random(len(todo)) * k[todo]).astype(np.int64), k[todo] - 1)
        ]
        alive = cust.drop[pick] > day[todo]
        out[todo[alive]] = pick[alive]
        todo = todo[~alive]
        if len(todo) == 0:
            break
    return out


def _opportunities(rng, st, cust, starts, ends, win_hi, maturity, rep_ids, cust_ids):
    """Opportunities moving through the funnel, and their stage history."""
    S = len(st.slot_level)
    M = len(starts)
    as_of_day = st.as_of_day
    rate = _OPP_RATE[st.slot_level]
    cnt = rng.poisson(np.repeat(rate[:, None], M, axis=1))
    s, m = np.divmod(np.repeat(np.arange(S * M), cnt.ravel()), M)
    hi = np.minimum(ends[m], win_hi)
    day = starts[m] + np.floor(rng.random(len(s)) * (hi - starts[m])).astype(np.int64)
    rep = _occupant(st.chain_rep, st.chain_start, st.chain_end, s, day)
    c = _pick_customer(rng, cust, s, day)
    keep = (rep >= 0) & (c >= 0)
    s, day, rep, c = s[keep], day[keep], rep[keep], c[keep]
    o = np.lexsort((c, day))
    s, day, rep, c = s[o], day[o], rep[o], c[o]
    n = len(s)
    mat = np.array([_MATURITY_DEAL[x] for x in maturity])
    amount = np.round(
        _OPP_MEDIAN[st.slot_level[s]]
        * mat[st.slot_region[s]]
        * np.exp(rng.normal(0, 0.6, n)),
        -2,
    )
    amount = np.maximum(amount, 500.0)
    conv = np.array(_STAGE_CONVERSION)
    mean_d = np.array(_STAGE_DURATION)
    adv = rng.random((n, 5)) < conv[None, :]
    dur = np.maximum(1, np.ceil(rng.gamma(2.0, mean_d / 2.0, (n, 5)))).astype(np.int64)
    reached = 1 + np.cumprod(adv[:, :4], axis=1).sum(axis=1)
    won = (reached == 5) & adv[:, 4]
    enter = day[:, None] + np.concatenate(
        [np.zeros((n, 1), dtype=np.int64), np.cumsum(dur[:, :4], axis=1)], axis=1
    )
    ar = np.arange(n)
    close = enter[ar, reached - 1] + dur[ar, reached - 1]
    is_open = close > as_of_day
    entered = (np.arange(5)[None, :] < reached[:, None]) & (enter <= as_of_day)
    cur = entered.sum(axis=1) - 1
    stages = np.asarray(DEFAULT_STAGES, dtype=object)
    outcome = np.where(is_open, "open", np.where(won, "won", "lost")).astype(object)
    opp_ids = _ids("OP", n, max(6, len(str(n))))
    opps = pd.DataFrame(
        {
            "opportunity_id": opp_ids,
            "customer_id": cust_ids[c],
            "rep_id": rep_ids[rep],
            "created_date": _to_dt(day),
            "amount": amount,
            "stage": stages[cur],
            "outcome": outcome,
            "closed_date": pd.to_datetime(
                np.where(is_open, np.datetime64("NaT"), _to_dt(np.minimum(close, as_of_day)))
            ),
        }
    )
    hi_, hj = np.nonzero(entered)
    hist = pd.DataFrame(
        {
            "opportunity_id": opp_ids[hi_],
            "stage": stages[hj],
            "entered_date": _to_dt(enter[hi_, hj]),
        }
    )
    # the eventual outcome, also of the deals still open at as_of (issue 18 truth)
    return opps, hist, {"won": won, "close": close}


# --------------------------------------------------------------------------- leads
# Issue 18.  Leads come from their own random stream ([seed, 18]) so that adding them
# changed no other table.  Every opportunity was a converted lead; the other leads were
# disqualified (or are still open).  Conversion follows a logistic model in the lead's
# source and BANT answers; the opportunity's eventual win follows a second logistic model
# in the "yes" answers (stage process unchanged: outcomes were drawn before, and the lead
# answers are drawn given them, by Bayes' rule on the 4 x 3**4 answer cells).
_LEAD_SOURCES = ("web", "referral", "event", "cold_call")
_LEAD_SOURCE_SHARE = np.array([0.40, 0.15, 0.20, 0.25])
_LEAD_SOURCE_LOG_ODDS = np.array([0.0, 0.9, 0.3, -0.7])
_LEAD_INTERCEPT = -2.6
_BANT_ITEMS = ("budget", "authority", "need", "timing")
# P(yes), P(no), P(unknown) of each item's answer in the lead population
_BANT_LEVEL_P = np.array([[0.35, 0.35, 0.30], [0.30, 0.35, 0.35], [0.45, 0.30, 0.25],
                          [0.30, 0.40, 0.30]])
_BANT_YES_LOG_ODDS = np.array([1.0, 0.7, 1.3, 0.6])  # conversion, yes vs no
_BANT_UNKNOWN_LOG_ODDS = np.array([0.4, 0.3, 0.5, 0.2])  # conversion, unknown vs no
_BANT_WIN_LOG_ODDS = np.array([0.5, 0.6, 0.2, 0.9])  # win, yes vs not yes
_LEAD_MIX_CONCENTRATION = 8.0  # Dirichlet concentration of each rep's source mix


def _lead_cells():
    """Every (source, budget, authority, need, timing) answer cell: codes and log-odds."""
    grid = np.array(np.meshgrid(np.arange(4), *[np.arange(3)] * 4, indexing="ij"))
    cells = grid.reshape(5, -1).T  # source, then level codes (0 yes, 1 no, 2 unknown)
    lv = cells[:, 1:]
    pop_bant = np.prod(_BANT_LEVEL_P[np.arange(4)[None, :], lv], axis=1)
    conv = (_LEAD_INTERCEPT + _LEAD_SOURCE_LOG_ODDS[cells[:, 0]]
            + ((lv == 0) * _BANT_YES_LOG_ODDS + (lv == 2) * _BANT_UNKNOWN_LOG_ODDS).sum(axis=1))
    win = ((lv == 0) * _BANT_WIN_LOG_ODDS).sum(axis=1)
    return cells, pop_bant, _logistic(conv), win


def _leads(seed, opps, fate, start_day, as_of_day):
    """Leads behind every opportunity plus the disqualified and open ones, and their truth."""
    from scipy.optimize import brentq

    rng = np.random.default_rng([int(seed), 18])
    cells, pop_bant, p_conv, win_x = _lead_cells()
    won = np.asarray(fate["won"], dtype=bool)
    # win intercept: the converted leads' mean P(win) equals the realised win share
    f_conv_base = _LEAD_SOURCE_SHARE[cells[:, 0]] * pop_bant * p_conv
    f_conv_base = f_conv_base / f_conv_base.sum()
    share_won = won.mean() if len(won) else 0.1
    share_won = min(max(share_won, 1e-3), 1 - 1e-3)
    a_win = brentq(lambda a: float(f_conv_base @ _logistic(a + win_x)) - share_won, -20, 20)
    p_win = _logistic(a_win + win_x)
    opp_rep = opps["rep_id"].to_numpy(dtype=object)
    opp_day = (pd.to_datetime(opps["created_date"]).to_numpy("datetime64[D]")
               .astype(np.int64))
    parts = []
    for r in pd.unique(opp_rep):
        idx = np.flatnonzero(opp_rep == r)
        mix = rng.dirichlet(_LEAD_MIX_CONCENTRATION * _LEAD_SOURCE_SHARE)
        g = mix[cells[:, 0]] * pop_bant
        f_c = g * p_conv
        pi = f_c.sum()
        f_w, f_l = f_c * p_win, f_c * (1 - p_win)
        cell = np.empty(len(idx), dtype=np.int64)
        w = won[idx]
        cell[w] = rng.choice(len(cells), w.sum(), p=f_w / f_w.sum())
        cell[~w] = rng.choice(len(cells), (~w).sum(), p=f_l / f_l.sum())
        lag = 1 + rng.poisson(12.0, len(idx))
        created = np.maximum(start_day, opp_day[idx] - lag)
        parts.append(pd.DataFrame({"rep": r, "cell": cell, "created": created,
                                   "closed": opp_day[idx], "opp": idx}))
        n0 = int(round(len(idx) * (1 - pi) / pi))
        f_n = g * (1 - p_conv)
        cell0 = rng.choice(len(cells), n0, p=f_n / f_n.sum())
        lo, hi = opp_day[idx].min(), opp_day[idx].max()
        created0 = np.clip(rng.choice(opp_day[idx], n0) + rng.integers(-20, 21, n0), lo, hi)
        created0 = np.clip(created0, start_day, as_of_day)
        closed0 = created0 + 1 + rng.poisson(21.0, n0)
        still_open = closed0 > as_of_day
        # leads still open at as_of are a draw from the population, not the disqualified
        cell0[still_open] = rng.choice(len(cells), still_open.sum(), p=g / g.sum())
        parts.append(pd.DataFrame({"rep": r, "cell": cell0, "created": created0,
                                   "closed": np.where(still_open, -1, closed0), "opp": -1}))
    if not parts:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in (
            "lead_id", "created_date", "source", "rep_id", "customer_id", "prospect_name",
            *_BANT_ITEMS, "status", "closed_date", "converted_opportunity_id",
            "disqualified_reason")})
        lt = pd.DataFrame({"lead_id": pd.Series(dtype=object),
                           "conversion_probability": pd.Series(dtype=float)})
        return empty, _lead_truth(lt, a_win, opps, fate)
    d = pd.concat(parts, ignore_index=True)
    d = d.sort_values(["created", "rep", "opp", "cell"], kind="stable", ignore_index=True)
    n = len(d)
    lead_ids = _ids("L", n, max(6, len(str(n))))
    c = cells[d["cell"].to_numpy()]
    levels = np.array(("yes", "no", "unknown"), dtype=object)
    conv = d["opp"].to_numpy() >= 0
    is_open = d["closed"].to_numpy() < 0
    oi = np.maximum(d["opp"].to_numpy(), 0)
    answers = {item: levels[c[:, 1 + j]] for j, item in enumerate(_BANT_ITEMS)}
    reason = np.full(n, "unresponsive after follow-up", dtype=object)
    for item in ("timing", "authority", "budget", "need"):  # the last one set wins
        reason = np.where(answers[item] == "no", f"no {item}", reason)
    status = np.where(conv, "converted", np.where(is_open, "open", "disqualified")).astype(object)
    leads = pd.DataFrame({
        "lead_id": lead_ids,
        "created_date": _to_dt(d["created"].to_numpy()),
        "source": np.asarray(_LEAD_SOURCES, dtype=object)[c[:, 0]],
        "rep_id": d["rep"].to_numpy(dtype=object),
        "customer_id": np.where(conv, opps["customer_id"].to_numpy(dtype=object)[oi], None),
        "prospect_name": np.where(conv, None, np.char.add("Prospect ", lead_ids.astype(str))),
        **answers,
        "status": status,
        "closed_date": pd.to_datetime(np.where(
            is_open, np.datetime64("NaT"), _to_dt(np.maximum(d["closed"].to_numpy(), 0)))),
        "converted_opportunity_id": np.where(
            conv, opps["opportunity_id"].to_numpy(dtype=object)[oi], None),
        "disqualified_reason": np.where(status == "disqualified", reason, None),
    })
    lt = pd.DataFrame({"lead_id": lead_ids, "conversion_probability": p_conv[d["cell"]]})
    return leads, _lead_truth(lt, a_win, opps, fate)


def _lead_truth(lead_table, a_win, opps, fate) -> dict:
    rows = [(item, lvl, v) for j, item in enumerate(_BANT_ITEMS)
            for lvl, v in (("yes", _BANT_YES_LOG_ODDS[j]), ("unknown", _BANT_UNKNOWN_LOG_ODDS[j]))]
    return {
        "leads": lead_table,
        "lead_intercept": _LEAD_INTERCEPT,
        "bant_log_odds": pd.DataFrame(rows, columns=["item", "level", "log_odds"]),
        "lead_source_log_odds": pd.Series(_LEAD_SOURCE_LOG_ODDS, index=list(_LEAD_SOURCES),
                                          name="log_odds"),
        "win_intercept": float(a_win),
        "bant_win_log_odds": pd.Series(_BANT_WIN_LOG_ODDS, index=list(_BANT_ITEMS),
                                       name="log_odds"),
        "opportunity_fate": pd.DataFrame({
            "opportunity_id": opps["opportunity_id"].to_numpy(dtype=object),
            "won": np.asarray(fate["won"], dtype=bool),
            "close_date": _to_dt(np.asarray(fate["close"], dtype=np.int64)),
        }),
    }


# --------------------------------------------------------------------------- activities
def _activities(rng, st, cust, seg, starts, ends, win_lo, win_hi, rep_ids, cust_ids):
    """Visits, calls and emails on alive customers (by segment) plus prospecting calls."""
    acq, drop, slot = cust.acq, cust.drop, cust.slot
    M = len(starts)
    lo = np.maximum(np.maximum(starts[None, :], acq[:, None]), win_lo).astype(float)
    hi = np.minimum(np.minimum(ends[None, :], drop[:, None]), win_hi).astype(float)
    expo = np.clip(hi - lo, 0.0, None) / DAYS_PER_MONTH
    del lo, hi
    parts_day, parts_rep, parts_kind, parts_cust = [], [], [], []
    for kind in range(3):
        lam = _ACTIVITY_RATES[seg, kind][:, None] * expo
        cnt = rng.poisson(lam)
        c, m = np.divmod(np.repeat(np.arange(cnt.size), cnt.ravel()), M)
        e_lo = np.maximum(np.maximum(starts[m], acq[c]), win_lo).astype(float)
        e_hi = np.minimum(np.minimum(ends[m], drop[c]), win_hi).astype(float)
        day = np.floor(e_lo + rng.random(len(c)) * (e_hi - e_lo)).astype(np.int64)
        rep = _occupant(st.chain_rep, st.chain_start, st.chain_end, slot[c], day)
        ok = rep >= 0
        parts_day.append(day[ok])
        parts_rep.append(rep[ok])
        parts_kind.append(np.full(ok.sum(), kind))
        parts_cust.append(c[ok])
    S = len(st.slot_level)
    cnt = rng.poisson(np.full((S, M), _PROSPECTING_CALLS))
    s, m = np.divmod(np.repeat(np.arange(S * M), cnt.ravel()), M)
    lo_d = np.maximum(starts[m], win_lo)
    hi_d = np.minimum(ends[m], win_hi)
    day = lo_d + np.floor(rng.random(len(s)) * (hi_d - lo_d)).astype(np.int64)
    rep = _occupant(st.chain_rep, st.chain_start, st.chain_end, s, day)
    ok = rep >= 0
    parts_day.append(day[ok])
    parts_rep.append(rep[ok])
    parts_kind.append(np.full(ok.sum(), 1))
    parts_cust.append(np.full(ok.sum(), -1))
    day = np.concatenate(parts_day)
    rep = np.concatenate(parts_rep)
    kind = np.concatenate(parts_kind)
    c = np.concatenate(parts_cust)
    o = np.lexsort((c, kind, rep, day))
    kinds = np.asarray(("visit", "call", "email"), dtype=object)
    c = c[o]
    return pd.DataFrame(
        {
            "date": _to_dt(day[o]),
            "rep_id": rep_ids[rep[o]],
            "customer_id": np.where(c >= 0, cust_ids[np.maximum(c, 0)], None),
            "kind": kinds[kind[o]],
        }
    )


# --------------------------------------------------------------------------- names
def _company_names(rng, region_keys: list[str], zh: bool) -> np.ndarray:
    n = len(region_keys)
    u = rng.random(n)
    if zh:
        b1 = rng.integers(0, len(_ZH_BRAND_CHARS), n)
        b2 = rng.integers(0, len(_ZH_BRAND_CHARS), n)
        ind = rng.integers(0, len(_ZH_INDUSTRY), n)
        suf = rng.integers(0, len(_ZH_SUFFIX), n)
        out = []
        for i, rk in enumerate(region_keys):
            cities = _ZH_CITIES[rk]
            out.append(
                cities[int(u[i] * len(cities))]
                + _ZH_BRAND_CHARS[b1[i]]
                + _ZH_BRAND_CHARS[b2[i]]
                + _ZH_INDUSTRY[ind[i]]
                + _ZH_SUFFIX[suf[i]]
            )
        return np.array(out, dtype=object)
    pre = rng.integers(0, len(_EN_PREFIX) + len(_EN_LAST), n)
    core = rng.integers(0, len(_EN_CORE), n)
    suf = rng.integers(0, len(_EN_SUFFIX), n)
    heads = _EN_PREFIX + _EN_LAST
    out = []
    for i, rk in enumerate(region_keys):
        if u[i] < 0.15:
            cities = _EN_CITIES[rk]
            head = cities[int(u[i] / 0.15 * len(cities))]
        else:
            head = heads[pre[i]]
        out.append(f"{head} {_EN_CORE[core[i]]} {_EN_SUFFIX[suf[i]]}")
    return np.array(out, dtype=object)


def _person_names(rng, n: int, zh: bool) -> np.ndarray:
    if zh:
        a = rng.integers(0, len(_ZH_SURNAMES), n)
        b = rng.integers(0, len(_ZH_GIVEN), n)
        return np.array([_ZH_SURNAMES[i] + _ZH_GIVEN[j] for i, j in zip(a, b)], dtype=object)
    a = rng.integers(0, len(_EN_FIRST), n)
    b = rng.integers(0, len(_EN_LAST), n)
    return np.array([f"{_EN_FIRST[i]} {_EN_LAST[j]}" for i, j in zip(a, b)], dtype=object)


# --------------------------------------------------------------------------- future
def _simulate_future(
    st: _World, months: int, seed: int, redraw: bool, with_region: bool = False
) -> pd.DataFrame:
    from salesplan.data.schema import coerce_table

    children = np.random.SeedSequence([int(seed), st.seed, 20270101]).spawn(len(_STREAMS))
    rng = {name: np.random.default_rng(ss) for name, ss in zip(_STREAMS, children)}
    as_of_day = st.as_of_day
    last_month = _to_dt([as_of_day])[0].astype("datetime64[M]")
    mths, starts, ends, cal = _month_grid(last_month, months + 1)
    win_lo, win_hi = as_of_day + 1, int(ends[-1])
    old = st.cust
    drop = old.drop
    if redraw:
        alive = drop > win_lo
        life = rng["customers"].exponential(1.0 / st.mu) * DAYS_PER_MONTH
        drop = np.where(alive, win_lo + life, drop)
    # new customers: Poisson with the region's acquisition intensity c_r * exp(k_r t)
    rc = rng["customers"]
    R = st.n_regions
    t_lo = (np.maximum(starts, win_lo) - st.start_day) / _DAYS_PER_YEAR
    t_hi = (ends - st.start_day) / _DAYS_PER_YEAR
    regs, days = [], []
    for r in range(R):
        k, n_new, T = st.k_acq[r], st.n_new[r], st.T
        if abs(k) > 1e-9:
            c_r = n_new * k / np.expm1(k * T)
            mass = c_r / k * (np.exp(k * t_hi) - np.exp(k * t_lo))
        else:
            mass = n_new / T * (t_hi - t_lo)
        cnt = rc.poisson(np.clip(mass, 0.0, None))
        mi = np.repeat(np.arange(len(starts)), cnt)
        lo = np.maximum(starts[mi], win_lo)
        days.append(lo + np.floor(rc.random(len(mi)) * (ends[mi] - lo)).astype(np.int64))
        regs.append(np.full(len(mi), r))
    n_reg = np.concatenate(regs).astype(np.int64)
    n_acq = np.concatenate(days).astype(np.int64)
    o = np.lexsort((n_reg, n_acq))
    n_reg, n_acq = n_reg[o], n_acq[o]
    n = len(n_reg)
    lam, mu, mov, _z, seg_noise = _draw_latent(rc, n, st.mov_med[n_reg])
    n_drop = n_acq + rc.exponential(1.0 / mu) * DAYS_PER_MONTH
    score = lam * mov * seg_noise
    n_slot = _assign_territory(rc, st, n_reg, score >= st.seg_thr[0], n_acq)
    cust = _Book(
        ids=np.concatenate([old.ids, _ids("NEW", n, 6)]),
        lam=np.concatenate([old.lam, lam]),
        drop=np.concatenate([drop, n_drop]),
        acq=np.concatenate([old.acq, n_acq]),
        mov=np.concatenate([old.mov, mov]),
        g=np.concatenate([old.g, st.g_acc[n_reg]]),
        reg=np.concatenate([old.reg, n_reg]),
        slot=np.concatenate([old.slot, n_slot]),
    )
    spend = np.repeat(st.base_spend[:, None], len(starts), axis=1)
    events, _ = _purchases(rng["orders"], st, cust, mths, starts, ends, cal, win_lo, win_hi, spend)
    frame, _, _ = _build_orders(rng["lines"], rng["returns"], st, events, cust, "SOF", win_hi)
    pend = st.pending
    pend = pend[pend["order_date"] < _to_dt([win_hi])[0]]
    frame = pd.concat([frame, pend], ignore_index=True)
    frame = frame.sort_values(["order_date", "order_id"], kind="mergesort", ignore_index=True)
    frame = coerce_table("orders", frame)
    if with_region:
        region_of = pd.Series(st.region_names[cust.reg], index=cust.ids)
        frame["region"] = frame["customer_id"].map(region_of).to_numpy()
    return frame


# --------------------------------------------------------------------------- planted causes
#: Causes :func:`plant_rep_causes` can plant, with what is done to the rep's quarter.
PLANTABLE_CAUSES = {
    "activity": "60% of the rep's calls and visits of the quarter removed, and 40% of the rep's orders "
                "(fewer contacts, fewer orders)",
    "deal_size": "every order line of the rep in the quarter at 60% of its amount (discounting, small deals)",
    "pace": "60% of the rep's orders of the quarter's first two months removed (a late start)",
}


def plant_rep_causes(company: DemoCompany, quarter, causes=("activity", "deal_size", "pace"),
                     reps_per_cause: int = 3, seed: int = 0):
    """Make some reps miss ``quarter`` for a known reason (ground truth for the rep review).

    Reps in post for the whole quarter and the four quarters before it are drawn at
    random (``seed``), ``reps_per_cause`` for each cause of :data:`PLANTABLE_CAUSES`, and
    their data of the quarter are changed accordingly; nothing else changes.

    Returns
    -------
    (SalesData, DataFrame)
        The changed data, and the truth: ``rep_id, cause`` (one row per planted rep).
    """
    from dataclasses import replace as _replace

    q = pd.Period(str(quarter), freq="Q")
    qs, qe = q.start_time.normalize(), q.end_time.normalize()
    unknown = sorted(set(causes) - set(PLANTABLE_CAUSES))
    if unknown:
        raise ValueError(f"plant_rep_causes: unknown cause(s) {unknown}; known {sorted(PLANTABLE_CAUSES)}")
    d = company.data
    reps = d.reps
    ok = (reps["hire_date"] < (q - 4).start_time) & (reps["exit_date"].isna() | (reps["exit_date"] > qe))
    pool = np.array(sorted(reps.loc[ok, "rep_id"]), dtype=object)
    need = len(causes) * int(reps_per_cause)
    if len(pool) < need:
        raise ValueError(f"plant_rep_causes: {len(pool)} reps in post, {need} needed")
    rng = np.random.default_rng([int(seed), 15])
    chosen = rng.choice(pool, size=need, replace=False)
    truth = pd.DataFrame({"rep_id": chosen, "cause": np.repeat(list(causes), int(reps_per_cause))})
    orders, acts = d.orders.copy(), d.activities.copy() if d.activities is not None else None
    in_q = (orders["order_date"] >= qs) & (orders["order_date"] <= qe)
    drop_orders: set = set()
    for rep, cause in zip(truth["rep_id"], truth["cause"]):
        mine = in_q & (orders["rep_id"] == rep)
        ids = np.array(sorted(orders.loc[mine, "order_id"].unique()), dtype=object)
        if cause == "activity":
            drop_orders |= set(rng.choice(ids, size=int(round(0.4 * len(ids))), replace=False))
            if acts is not None:
                a = acts.index[(acts["rep_id"] == rep) & (acts["date"] >= qs) & (acts["date"] <= qe)
                               & acts["kind"].isin(["call", "visit"])]
                acts = acts.drop(index=rng.choice(a, size=int(round(0.6 * len(a))), replace=False))
        elif cause == "deal_size":
            orders.loc[mine, "amount"] = (orders.loc[mine, "amount"] * 0.6).round(2)
        elif cause == "pace":
            early = mine & (orders["order_date"] < qs + pd.DateOffset(months=2))
            e_ids = np.array(sorted(orders.loc[early, "order_id"].unique()), dtype=object)
            drop_orders |= set(rng.choice(e_ids, size=int(round(0.6 * len(e_ids))), replace=False))
    orders = orders[~orders["order_id"].isin(drop_orders)].reset_index(drop=True)
    data = _replace(d, orders=orders, activities=None if acts is None else acts.reset_index(drop=True))
    return data, truth
