"""The synthetic shop: accounts, live sessions, simulated viewers and orders.

Everything is deterministic from ``(seed, today)``. A session's random stream is keyed by
``(seed, account, calendar day, slot)``, so a day looks the same whichever day is asked for
first, and sessions are simulated lazily and cached: those of the recent detail window
(``DETAIL_DAYS``, what the truths cover) for good, older ones (``HISTORY_DAYS`` are served) in
a bounded LRU, regenerated identically when asked again.

Every number any endpoint serves is an aggregate of the per-visit arrays simulated here
(one row per viewer visit), so room totals, product totals, traffic sources, audience
splits, orders and the viewer export agree with each other exactly, the way real ones do.

The causal model (what the published truths refer to):

* arrivals per minute ~ Poisson(base x time-of-day x weekday x season x in-show shape x noise)
* dwell ~ mixture of three log-normals (swipers, browsers, stayers) by traffic source
* P(pay) = pi_session x RR^[dwell > 180 s] x (viewer-experiment lift if in arm B) x festival
  x the province's conversion multiplier (the null experiment's arms change nothing); a
  payer always clicked; a non-payer clicks with a "browse" probability kappa (x the
  switchback lift in arm B); a clicker always saw a product, others see one with a
  probability that grows with dwell.
* the clicked product: at click time t, a payer picks lineup product j with probability
  proportional to a_j x L_j^[j explained at t] x c_j x S_j(t), a browsing clicker without
  the c_j (attractiveness a_j, explanation lift L_j, conversion factor c_j, surge factor
  S_j); on a few planted evenings one product not being explained surges: visits online
  that did not click get an extra (browse) click on it (``World.click_surges``).
* the day's arrival level also carries the planted forecast structure: a trend, the weekday,
  the festival calendar (``calendar.py``: presale ramps, peaks, after-effects on the analysis's
  windows) and the planned ad budget's multiplier m_d ** SPEND_ELASTICITY; on shop-wide rest
  days nobody goes live.
* ad spend is planned: the day's budget (exogenous: it never looks at realized GMV) is shared
  by the day's shows in proportion to their expected size and charged per ad-sourced visit;
  refunds, abandoned (never paid) orders and 7-day repurchases follow.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from threading import RLock
from typing import Any

import numpy as np

from livekit.sandbox import calendar as festival_calendar
from livekit.sandbox import catalog, delivery
from livekit.sandbox.hostile import LONG, hostile

CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")

# ---- planted parameters (published through truth.py) ------------------------------------
DWELL_THRESHOLD_S = 180.0
DWELL_RISK_RATIO = 1.25
VIEWER_EXPERIMENT_LIFT = 0.15  # relative lift of P(pay) in arm B
SWITCHBACK_CLICK_MULTIPLIER = 1.35  # multiplies the browse-click probability in arm B
TARGET_ROAS = 2.6
REPURCHASE_PROB = 0.16
REFUND_PROB = 0.07
REFUND_PROB_FESTIVAL = 0.12
ABANDON_PROB = 0.22  # clicked, created an order, never paid
LIVE_DISCOUNT = 0.85
REPURCHASE_WINDOW_S = 7 * 86400

# Relative positions (days before today) of the planted events.
VIEWER_EXPERIMENT_DAYS = (40, 27)  # inclusive range: today-40 .. today-27
# A viewer-randomized experiment with no effect at all (false-positive checks): the main
# account's viewers get arms from a hash of their own (independent of the planted experiment's)
# and nothing else changes. It shares its dates with the switchback, whose session-level click
# effect is the same in both of its arms.
NULL_EXPERIMENT_DAYS = (24, 11)
SWITCHBACK_DAYS = (24, 11)
VIEWER_DROP_DAY = 2
STOCKOUT_DAY = 6
QUIET_DAY = 4

# Products (published through truth_products.py): the explanation lift L_j of the click weight
# while j is explained, lognormal around EXPLAIN_LIFT_MEDIAN, with EXPLAIN_FLAT_PRODUCTS of them
# near 1 ("explaining it does not help"), and the conversion factor c_j of a paying click.
EXPLAIN_LIFT_MEDIAN = 2.5
EXPLAIN_LIFT_SIGMA = 0.35
EXPLAIN_LIFT_RANGE = (1.1, 6.0)
EXPLAIN_FLAT_PRODUCTS = 4
EXPLAIN_FLAT_RANGE = (1.1, 1.3)
CONVERSION_FACTOR_SIGMA = 0.35
CONVERSION_FACTOR_RANGE = (0.4, 2.5)

# Planted click surges that no explanation drives: one on the main account's evening show on
# each of these days before today (never the drop, quiet or stock-out day, nor an experiment).
CLICK_SURGE_DAYS = (1, 3, 5, 7, 8, 9)
CLICK_SURGE_START_MINUTES = (60, 150)  # inclusive range of the start minute
CLICK_SURGE_LENGTH_MINUTES = (8, 12)  # inclusive range of the length
CLICK_SURGE_MARGIN_MINUTES = 5  # the product is not explained this close before or after
CLICK_SURGE_CHOICE_FACTOR = 3.0  # S_j: the surging product's click weight during the surge
# Extra clicks per minute on the surging product, as a multiple of the clicks per minute the
# explained product draws in the same show (over the whole show). That product draws about
# 0.5 clicks a minute on an evening show, and a product not being explained up to 7 in a
# minute on a busy one, so a few times 0.5 is lost in the noise of one-minute polls; at 50x a
# surge brings 12-25 clicks a minute, which the monitor's 商品点击激增 rule (params/alerts.yaml)
# must report within two polls.
CLICK_SURGE_MULTIPLE = 50.0

# Conversion multiplier by the viewer's province (planted region truth), before normalising:
# the World scales them so that the visit-weighted mean is 1 (P(pay) overall is unchanged).
PROVINCE_CONVERSION: dict[str, float] = {
    "上海": 1.35,
    "北京": 1.3,
    "浙江": 1.2,
    "广东": 1.15,
    "江苏": 1.1,
    "河南": 0.85,
    "黑龙江": 0.8,
    "甘肃": 0.7,
    "青海": 0.6,
    "新疆": 0.6,
    "西藏": 0.5,
}

# The world's version: bump it whenever a change here changes data the sandbox has already
# served (planted effects, random streams, history). A sandbox store synced from another
# version is cleared before the next sandbox sync (livekit.jobs.clear_stale_sandbox): the
# store's days are final and would otherwise never be fetched again. 2: the forecast's two
# years (issue 14).
WORLD_VERSION = 2

# ---- planted forecast structure (published through truth_forecast.py) ------------------
# History served by every endpoint, and the recent window the other truths cover (sessions
# of older days are kept in a bounded LRU and regenerated on demand: same streams, same data).
HISTORY_DAYS = 800
DETAIL_DAYS = 90
OLD_DAY_CACHE = 48  # (account, day) entries of days before the detail window kept in memory
TREND_LOG_PER_YEAR = math.log(1.3)
FESTIVAL_TRAFFIC_SHARE = 0.6  # share of a festival's log lift on arrivals (the rest on P(pay))
REST_DAY_PROB = 0.04  # shop-wide no-show days (never in the last REST_FREE_DAYS nor a window)
REST_FREE_DAYS = 45
# The planned daily budget: BASE x scale x (order value / ORDER_VALUE_REFERENCE_FEN) x trend x
# m_d, m_d = exp(N(0, SIGMA_LOG_BUDGET)) from its own stream (a plan, independent of everything
# else); every session's arrivals x m_d ** SPEND_ELASTICITY. The order value is the shop's
# typical paid amount (World.order_value_fen, from its static catalogue: a merchant budgets by
# it), so that shops of different seeds keep the same ROAS. BASE was calibrated so that GMV /
# spend centres on TARGET_ROAS on days outside every festival window: 800 days of seeds 1, 2, 3
# and 7 gave 1.75 (1.71-1.80) yuan of GMV per planned yuan at a base of 10 000 yuan.
SPEND_ELASTICITY = 0.3
SIGMA_LOG_BUDGET = 0.35
BASE_DAILY_BUDGET_FEN = 671_000
ORDER_VALUE_REFERENCE_FEN = 6700

SLOT_TIMES = {  # slot -> (start hh:mm, duration range in minutes)
    "morning": (time(9, 30), (120, 170)),
    "afternoon": (time(14, 0), (150, 190)),
    "evening": (time(19, 30), (200, 250)),
    "late": (time(20, 30), (110, 150)),
}
SLOT_FACTOR = {"morning": 0.65, "afternoon": 0.8, "evening": 1.55, "late": 1.3}


def stable_hash(*parts: object, length: int = 16) -> str:
    h = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16)
    return h.hexdigest()[:length]


def _stable_int(*parts: object) -> int:
    return int.from_bytes(
        hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big"
    )


def season_factor(d: date) -> tuple[float, float]:
    """(traffic factor, conversion factor) of the festival calendar on day ``d``: the planted
    log lift L (``calendar.log_lift``) split as exp(0.6 L) on arrivals and exp(0.4 L) on P(pay),
    so that expected GMV moves by exp(L)."""
    lift = festival_calendar.log_lift(d)
    return math.exp(FESTIVAL_TRAFFIC_SHARE * lift), math.exp((1 - FESTIVAL_TRAFFIC_SHARE) * lift)


def is_festival(d: date) -> bool:
    """A festival day: its log lift reaches ln 1.5 (more ad traffic, more refunds)."""
    return festival_calendar.log_lift(d) >= festival_calendar.FESTIVAL_DAY_LOG_LIFT - 1e-12


def trend_factor(d: date, today: date) -> float:
    """The planted trend: exp(TREND_LOG_PER_YEAR x years from today); 1 today."""
    return math.exp(TREND_LOG_PER_YEAR * (d - today).days / 365.25)


def weekday_factor(d: date) -> float:
    return (0.92, 0.95, 0.97, 1.0, 1.1, 1.18, 1.12)[d.weekday()]


def to_epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def from_epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, CHINA_TZ)


def fmt_time(ts: float) -> str:
    return from_epoch(ts).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Product:
    index: int
    product_id: int
    title: str
    price_fen: int
    live_price_fen: int
    attractiveness: float
    gross_margin: float
    cover: str


@dataclass(frozen=True)
class Account:
    index: int
    aweme_id: int
    aweme_name: str
    avatar: tuple[str, ...]
    base_rate: float  # arrivals per minute at factor 1
    catalog: tuple[int, ...]  # product indices this account sells


@dataclass(frozen=True)
class ClickSurge:
    """A planted click surge on a product that is not being explained (minutes of the show,
    end exclusive)."""

    day: date
    room_id: int
    product_id: int
    start_minute: int
    end_minute: int


@dataclass
class SkuLine:
    sku_order_id: str
    product_index: int
    item_num: int
    pay_amount_fen: int


@dataclass
class Order:
    order_id: str
    buyer: int  # population index
    create_ts: int
    pay_ts: int  # 0 when never paid
    amount_fen: int
    room_id: int  # 0 when not ordered in a live room
    author_id: int
    lines: list[SkuLine]
    refund_ts: int = 0  # 0 when not refunded
    cancel_ts: int = 0  # unpaid orders close after 30 minutes
    kind: str = "live"  # live | repurchase | abandoned
    visit: int = -1  # row in the session's visit arrays, for live orders
    # delivery (livekit.sandbox.delivery; 0 = never, e.g. unpaid or refunded before shipping)
    exp_ship_ts: int = 0  # latest promised ship time
    ship_ts: int = 0
    receipt_ts: int = 0  # the carrier delivered the parcel
    confirm_ts: int = 0  # the buyer confirmed receipt; the order finished
    carrier: int = -1  # index into delivery.CARRIERS
    tracking_no: str = ""


@dataclass
class Incident:
    kind: str  # viewer_drop | stockout
    day: date
    room_id: int
    start_minute: int
    end_minute: int | None
    product_id: int | None = None


@dataclass
class Visits:
    """Per-visit arrays of one session (one row per viewer visit)."""

    enter_s: np.ndarray  # seconds from session start
    leave_s: np.ndarray
    source: np.ndarray  # index into catalog.TRAFFIC_SOURCES
    viewer: np.ndarray  # population index
    exposed: np.ndarray
    clicked: np.ndarray
    click_s: np.ndarray
    product: np.ndarray  # lineup position of the clicked product, -1 when none
    paid: np.ndarray
    pay_s: np.ndarray
    item_num: np.ndarray
    amount_fen: np.ndarray
    likes: np.ndarray
    comments: np.ndarray
    shared: np.ndarray
    followed: np.ndarray
    interact_s: np.ndarray
    variant: np.ndarray  # -1 none, 0 A, 1 B (viewer experiment, or the null experiment)
    p_pay: np.ndarray  # the model's probabilities, for truths
    p_click: np.ndarray

    def __len__(self) -> int:
        return int(self.enter_s.shape[0])


@dataclass
class Session:
    room_id: int
    account: Account
    day: date
    slot: str
    start_ts: int
    end_ts: int
    title: str
    cover: tuple[str, ...]
    lineup: np.ndarray  # product indices
    segment_start_s: np.ndarray  # explanation segments
    segment_product: np.ndarray  # lineup positions
    inventory0: np.ndarray  # per lineup position
    stockout_pos: int  # lineup position out of stock from stockout_s on, or -1
    stockout_s: float
    impression_ratio: float  # entered / room impressions
    ad_ctr: float
    cost_per_ad_visit_fen: int
    switchback: int  # -1 none, 0 A, 1 B
    kappa: float  # browse-click probability before the switchback multiplier
    visits: Visits
    orders: list[Order] = field(default_factory=list)
    # Aggregates that can no longer change (see aggregates.py), computed once per session.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    # The planted click surge of this show, if any: lineup position, seconds [start, end) of
    # the show, and the hazard (per minute online) of an extra click for a visit that did not
    # click otherwise.
    surge_pos: int = -1
    surge_start_s: float = 0.0
    surge_end_s: float = 0.0
    surge_hazard: float = 0.0

    @property
    def duration_s(self) -> int:
        return self.end_ts - self.start_ts

    def status(self, now_ts: float) -> str:
        return "LIVING" if now_ts < self.end_ts else "FINISH"


@dataclass
class Population:
    province: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    cum_weight: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n) * self.cum_weight[-1]
        out: np.ndarray = np.searchsorted(self.cum_weight, u, side="right").astype(np.int64)
        return out


def _draw_ids(root: np.random.Generator) -> tuple[int, int]:
    """(advertiser_id, 抖店 shop_id): the first draws of a world's root stream."""
    advertiser_id = 1_700_000_000_000_000 + int(root.integers(10**14, 9 * 10**14))
    return advertiser_id, int(root.integers(10**7, 9 * 10**7))


def world_ids(seed: int) -> tuple[int, int]:
    """(advertiser_id, 抖店 shop_id) of the world of ``seed``, without building it."""
    return _draw_ids(np.random.default_rng([seed, 1]))


def shop_names(shop_number: int = 1, hostile_text: bool = False) -> tuple[str, str]:
    """(shop name, advertiser name) of the ``shop_number``-th shop of a sandbox (1-based).

    The first shop keeps the catalogue's names; the others are marked with their number
    (``悦好生活官方旗舰店·2号店``), so that a report or a shops file tells them apart at a glance.
    With ``hostile_text`` each is followed by its payload, as every other served text.
    """
    mark = "" if shop_number == 1 else f"·{shop_number}号店"
    shop, advertiser = catalog.SHOP_NAME + mark, catalog.ADVERTISER_NAME + mark
    if hostile_text:
        return hostile(shop, 5), hostile(advertiser, 4)
    return shop, advertiser


class World:
    """The whole shop. Thread-safe lazy simulation with a cache per (account, day)."""

    def __init__(
        self,
        seed: int,
        today: date,
        history_days: int = HISTORY_DAYS,
        scale: float = 1.0,
        extra_accounts: int = 0,
        hostile_text: bool = False,
        shop_number: int = 1,
    ) -> None:
        self.seed = seed
        self.today = today
        self.hostile_text = hostile_text
        self.shop_number = shop_number  # 1-based place in a sandbox of several shops (names)
        self._texts()
        self.history_days = history_days
        self.scale = scale
        self.first_day = today - timedelta(days=history_days)
        # The recent window the truths cover (all of a short history); older days are served
        # too, from a bounded cache.
        self.detail_first_day = today - timedelta(days=min(DETAIL_DAYS, history_days))
        self._lock = RLock()
        self._sessions: dict[tuple[int, date], list[Session]] = {}
        self._orders_by_day: dict[date, tuple[list[Order], list[int]]] = {}
        self._old_sessions: OrderedDict[tuple[int, date], list[Session]] = OrderedDict()
        self._old_orders: OrderedDict[date, tuple[list[Order], list[int]]] = OrderedDict()
        root = np.random.default_rng([seed, 1])
        self.advertiser_id, self.shop_id = _draw_ids(root)
        self.products = self._make_products(root)
        self.accounts = self._make_accounts(root)
        self.population = self._make_population(root)
        self.explain_lift, self.conversion_factor = self._make_product_model()
        self.province_conversion = self._province_conversion()
        self.order_value_fen = self._order_value_fen()
        if extra_accounts:
            self.accounts += self._make_extra_accounts(extra_accounts)

    # ---- text -----------------------------------------------------------------------
    def _text(self, base: str, index: int) -> str:
        """``base`` as served: with payload ``index`` appended when ``hostile_text`` is on."""
        return hostile(base, index) if self.hostile_text else base

    def _texts(self) -> None:
        """Every free text the world serves (``SandboxConfig.hostile_text``: each followed by
        a payload, cycling through them so that every payload reaches some field a report
        shows; the last product's title carries the 10 kB one). Only names change: no random
        stream is drawn here, so every number is the same either way."""
        t = self._text
        self.shop_name, self.advertiser_name = shop_names(self.shop_number, self.hostile_text)
        self.room_titles = tuple(t(x, k) for k, x in enumerate(catalog.ROOM_TITLES))
        self.province_names = tuple(t(p, i) for i, (p, _, _) in enumerate(catalog.PROVINCES))
        self.city_names = tuple(t(c, i + 7) for i, (_, c, _) in enumerate(catalog.PROVINCES))
        # The viewer export's traffic_source column is free text (the API's keys are not).
        self.export_sources = tuple(t(x, i + 14) for i, x in enumerate(catalog.TRAFFIC_SOURCES))
        last = len(catalog.PRODUCTS) - 1
        self.product_titles = tuple(
            (title + LONG if self.hostile_text and i == last else t(title, i))
            for i, (title, _, _) in enumerate(catalog.PRODUCTS)
        )

    # ---- static entities -------------------------------------------------------------
    def _make_products(self, rng: np.random.Generator) -> tuple[Product, ...]:
        out = []
        for i, (title, price, attr) in enumerate(catalog.PRODUCTS):
            pid = 3_500_000_000_000_000_000 + int(rng.integers(10**17, 9 * 10**17))
            price_fen = round(price * 100)
            live_fen = round(price_fen * LIVE_DISCOUNT / 10) * 10
            margin = float(np.clip(rng.normal(0.45, 0.1), 0.2, 0.7))
            cover = f"https://p3-sandbox.douyinpic.com/product/{pid}.jpeg"
            title = self.product_titles[i]
            out.append(Product(i, pid, title, price_fen, live_fen, attr, round(margin, 3), cover))
        return tuple(out)

    def _make_accounts(self, rng: np.random.Generator) -> tuple[Account, ...]:
        n = len(self.products)
        perm = rng.permutation(n)
        cats = (tuple(sorted(perm[:28].tolist())), tuple(sorted(perm[18:].tolist())))
        rates = (34.0 * self.scale, 11.0 * self.scale)
        out = []
        for i, name in enumerate(catalog.ACCOUNT_NAMES):
            aweme_id = 1_000_000_000_000_000 + int(rng.integers(10**14, 9 * 10**14))
            avatar = (f"https://p11-sandbox.douyinpic.com/aweme/100x100/{aweme_id}.jpeg",)
            name = self._text(name, (0, 11)[i])  # the script block where every report shows it
            out.append(Account(i, aweme_id, name, avatar, rates[i], cats[i]))
        return tuple(out)

    def _make_extra_accounts(self, n: int) -> tuple[Account, ...]:
        """Load-test accounts (``SandboxConfig.extra_accounts``): small rooms that go live every
        evening at the same time, so that many rooms are on air at once. They draw from their
        own random stream: the shop's two real accounts stay exactly as without them."""
        rng = np.random.default_rng([self.seed, 11])
        base = len(catalog.ACCOUNT_NAMES)
        out = []
        for j in range(n):
            aweme_id = 1_000_000_000_000_000 + int(rng.integers(10**14, 9 * 10**14))
            avatar = (f"https://p11-sandbox.douyinpic.com/aweme/100x100/{aweme_id}.jpeg",)
            name = self._text(f"悦好生活·分号{j + 1:02d}", 13 + j)
            out.append(
                Account(
                    base + j, aweme_id, name, avatar, 4.0 * self.scale, self.accounts[1].catalog
                )
            )
        return tuple(out)

    def _make_product_model(self) -> tuple[np.ndarray, np.ndarray]:
        """(L_j, c_j) by catalog index: explanation lift and conversion factor (own stream)."""
        rng = np.random.default_rng([self.seed, 20])
        n = len(catalog.PRODUCTS)
        lift = np.clip(
            EXPLAIN_LIFT_MEDIAN * np.exp(EXPLAIN_LIFT_SIGMA * rng.standard_normal(n)),
            *EXPLAIN_LIFT_RANGE,
        )
        flat = rng.choice(n, EXPLAIN_FLAT_PRODUCTS, replace=False)
        lift[flat] = rng.uniform(*EXPLAIN_FLAT_RANGE, EXPLAIN_FLAT_PRODUCTS)
        conv = np.clip(
            np.exp(CONVERSION_FACTOR_SIGMA * rng.standard_normal(n)), *CONVERSION_FACTOR_RANGE
        )
        return lift, conv

    def _order_value_fen(self) -> float:
        """The shop's typical paid live price: per account, the catalogue's live prices weighted
        by a_j^2 x c_j (a product enters a lineup about in proportion to a_j and a paying click
        picks it in proportion to a_j x c_j), averaged with the accounts' arrival rates. Only
        the two real accounts count (load-test accounts leave the shop's budget alone)."""
        total = weight = 0.0
        for acc in self.accounts[: len(catalog.ACCOUNT_NAMES)]:
            cat = np.array(acc.catalog)
            attr = np.array([self.products[i].attractiveness for i in cat])
            price = np.array([self.products[i].live_price_fen for i in cat], dtype=float)
            w = attr**2 * self.conversion_factor[cat]
            total += acc.base_rate * float((w * price).sum() / w.sum())
            weight += acc.base_rate
        return total / weight

    def _province_conversion(self) -> np.ndarray:
        """m_p by province index, normalised so that sum_p pi_p m_p = 1, where pi_p is the
        expected share of visits from province p (the population's activity weights)."""
        raw = np.array([PROVINCE_CONVERSION.get(p, 1.0) for p, _, _ in catalog.PROVINCES])
        weight = np.diff(self.population.cum_weight, prepend=0.0)
        share = np.bincount(self.population.province, weights=weight, minlength=raw.size)
        out: np.ndarray = raw / float((share / share.sum()) @ raw)
        return out

    def _make_population(self, rng: np.random.Generator) -> Population:
        n = max(5000, int(260_000 * self.scale))
        pw = np.array([w for _, _, w in catalog.PROVINCES])
        gw = np.array([w for _, w in catalog.GENDERS])
        aw = np.array([w for _, w in catalog.AGES])
        province = rng.choice(len(pw), n, p=pw / pw.sum()).astype(np.int16)
        gender = rng.choice(len(gw), n, p=gw / gw.sum()).astype(np.int8)
        age = rng.choice(len(aw), n, p=aw / aw.sum()).astype(np.int8)
        weight = rng.lognormal(0.0, 1.1, n)
        return Population(province, gender, age, np.cumsum(weight))

    # ---- identities ------------------------------------------------------------------
    def viewer_hash(self, idx: int) -> str:
        return stable_hash("viewer", self.seed, idx)

    def open_id(self, idx: int) -> str:
        digest = hashlib.blake2b(f"open|{self.seed}|{idx}".encode(), digest_size=18).digest()
        return "1@#" + base64.b64encode(digest).decode()

    def variant_of(self, viewer: np.ndarray) -> np.ndarray:
        """Arm of the viewer-randomized experiment: a stable hash of the viewer id."""
        mixed = (viewer.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(self.seed)
        return ((mixed >> np.uint64(29)) & np.uint64(1)).astype(np.int8)

    def null_variant_of(self, viewer: np.ndarray) -> np.ndarray:
        """Arm of the null experiment: another stable hash of the viewer id, salted apart from
        :meth:`variant_of` so that the two experiments' arms are independent.

        SplitMix64's finalizer (Steele, Lea and Flood 2014), written out because it is three
        vectorised lines; its top bit is the arm. No random stream is drawn."""
        salt = np.uint64(_stable_int("null-experiment", self.seed))
        with np.errstate(over="ignore"):
            z = viewer.astype(np.uint64) + salt
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return (z >> np.uint64(63)).astype(np.int8)

    # ---- calendar --------------------------------------------------------------------
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.history_days + 1)]

    def in_range(self, d: date) -> bool:
        return self.first_day <= d <= self.today

    def day_offset(self, d: date) -> int:
        return (self.today - d).days

    def in_viewer_experiment(self, d: date) -> bool:
        hi, lo = VIEWER_EXPERIMENT_DAYS
        return lo <= self.day_offset(d) <= hi

    def in_null_experiment(self, d: date) -> bool:
        hi, lo = NULL_EXPERIMENT_DAYS
        return lo <= self.day_offset(d) <= hi

    def in_switchback(self, d: date) -> bool:
        hi, lo = SWITCHBACK_DAYS
        return lo <= self.day_offset(d) <= hi

    def is_rest_day(self, d: date) -> bool:
        """A shop-wide no-show day: a hash of (seed, day) below REST_DAY_PROB, never in the last
        REST_FREE_DAYS days (where the planted incidents and experiments are) nor in any
        festival window. Future days can be rest days (the plan knows them)."""
        if 0 <= self.day_offset(d) < REST_FREE_DAYS or festival_calendar.in_window(d):
            return False
        return _stable_int("rest", self.seed, d.toordinal()) < REST_DAY_PROB * 2**64

    def budget_multiplier(self, d: date) -> float:
        """m_d = exp(N(0, SIGMA_LOG_BUDGET)) of the day's planned budget (its own stream)."""
        rng = np.random.default_rng([self.seed, 30, d.toordinal()])
        return math.exp(SIGMA_LOG_BUDGET * float(rng.standard_normal()))

    def planned_budget_fen(self, d: date) -> float:
        """The shop's planned ad budget of day ``d`` in fen (before rounding; 0 without shows)."""
        if not self.planned_shows(d):
            return 0.0
        return self.base_budget_fen * trend_factor(d, self.today) * self.budget_multiplier(d)

    @property
    def base_budget_fen(self) -> float:
        """The planned budget of a day with trend 1 and m_d = 1."""
        return BASE_DAILY_BUDGET_FEN * self.scale * self.order_value_fen / ORDER_VALUE_REFERENCE_FEN

    def planned_shows(self, d: date) -> list[tuple[Account, str]]:
        """(account, slot) of every show planned on day ``d`` (past, today or future)."""
        return [(acc, slot) for acc in self.accounts for slot in self.slots(acc, d)]

    def show_size(self, account: Account, d: date, slot: str) -> float:
        """A show's expected size, the key that shares the day's budget: arrivals per minute
        at factor 1 x the slot's factor x the planned duration."""
        return account.base_rate * SLOT_FACTOR[slot] * _duration_min(self, account, d, slot)

    def cost_per_ad_visit_fen(self, account: Account, d: date, slot: str, n_ad: int) -> int:
        """The per-visit price that charges this show its share of the day's budget (rounded to
        a whole fen per ad visit, so the room's spend is its share within n_ad / 2 fen)."""
        sizes = {(a.index, sl): self.show_size(a, d, sl) for a, sl in self.planned_shows(d)}
        share = self.planned_budget_fen(d) * sizes[(account.index, slot)] / sum(sizes.values())
        return max(0, round(share / n_ad)) if n_ad else 0

    def slots(self, account: Account, d: date) -> list[str]:
        if self.is_rest_day(d):
            return []
        rng = np.random.default_rng([self.seed, 2, account.index, d.toordinal()])
        festival = festival_calendar.is_show_peak(d)
        if account.index == 0:
            if festival:
                return ["morning", "afternoon", "evening"]
            n = int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25]))
            return (["evening"], ["afternoon", "evening"], ["morning", "afternoon", "evening"])[
                n - 1
            ]
        if account.index >= len(catalog.ACCOUNT_NAMES):
            return ["late"]  # load-test accounts: on air every evening
        return ["late"] if (festival or rng.random() < 0.7) else []

    # ---- sessions --------------------------------------------------------------------
    def sessions_on(self, d: date) -> list[Session]:
        out: list[Session] = []
        for acc in self.accounts:
            out.extend(self.account_sessions(acc, d))
        return sorted(out, key=lambda s: (s.start_ts, s.room_id))

    def account_sessions(self, account: Account, d: date) -> list[Session]:
        if not self.in_range(d):
            return []
        key = (account.index, d)
        with self._lock:
            if d >= self.detail_first_day:
                cached = self._sessions.get(key)
                if cached is None:
                    cached = [self._simulate(account, d, slot) for slot in self.slots(account, d)]
                    self._sessions[key] = cached
                return cached
            # Older days: a bounded LRU. Regenerating a day gives the same sessions (same
            # streams), so endpoints stay consistent whichever copy they read.
            cached = self._old_sessions.get(key)
            if cached is None:
                cached = [self._simulate(account, d, slot) for slot in self.slots(account, d)]
                self._old_sessions[key] = cached
                while len(self._old_sessions) > OLD_DAY_CACHE:
                    self._old_sessions.popitem(last=False)
            else:
                self._old_sessions.move_to_end(key)
            return cached

    def iter_sessions(self, start: date, end: date) -> Iterator[Session]:
        d = max(start, self.first_day)
        while d <= min(end, self.today):
            yield from self.sessions_on(d)
            d += timedelta(days=1)

    def all_sessions(self) -> list[Session]:
        """Every session of the detail window (``detail_first_day`` .. today): what the truths
        cover. Older days are served by the endpoints but never all held at once."""
        return list(self.iter_sessions(self.detail_first_day, self.today))

    def session_by_room(self, room_id: int) -> Session | None:
        # A room id carries its start second in the high bits, and every show starts on the
        # China-time day it belongs to: only that day's plan is looked at.
        start_ts = room_id >> 32
        lo = to_epoch(datetime.combine(self.first_day, time(0), CHINA_TZ))
        hi = to_epoch(datetime.combine(self.today + timedelta(days=1), time(0), CHINA_TZ))
        if not lo <= start_ts < hi:
            return None
        d = from_epoch(start_ts).date()
        for acc in self.accounts:
            if any(self._room_id(acc, d, slot) == room_id for slot in self.slots(acc, d)):
                for s in self.account_sessions(acc, d):
                    if s.room_id == room_id:
                        return s
        return None

    def _start_ts(self, account: Account, d: date, slot: str) -> int:
        start_t, _ = SLOT_TIMES[slot]
        rng = np.random.default_rng([self.seed, 3, account.index, d.toordinal(), len(slot)])
        jitter = int(rng.integers(-15, 16)) * 60
        return to_epoch(datetime.combine(d, start_t, CHINA_TZ)) + jitter

    def _room_id(self, account: Account, d: date, slot: str) -> int:
        # Like real Douyin ids: creation second in the high bits, entropy below; 19 digits,
        # far beyond 2**53, so a float parser corrupts them.
        ts = self._start_ts(account, d, slot)
        low = _stable_int("room", self.seed, account.index, d.toordinal(), slot) & 0xFFFFFFFF
        return (ts << 32) | low

    def _simulate(self, account: Account, d: date, slot: str) -> Session:
        return _simulate_session(self, account, d, slot)

    # ---- orders ----------------------------------------------------------------------
    def orders_between(self, start_ts: int, end_ts: int) -> list[Order]:
        """All orders created in [start_ts, end_ts], any kind, sorted by (create time, id)."""
        d0, d1 = from_epoch(start_ts).date(), from_epoch(end_ts).date()
        out: list[Order] = []
        d = d0
        while d <= d1:
            orders, times = self._orders_created_on(d)
            lo = bisect.bisect_left(times, start_ts) if d == d0 else 0
            hi = bisect.bisect_right(times, end_ts) if d == d1 else len(orders)
            out.extend(orders[lo:hi])
            d += timedelta(days=1)
        return out

    def _orders_created_on(self, d: date) -> tuple[list[Order], list[int]]:
        """Orders created on day ``d`` (China time), sorted, with their create times (cached:
        the simulation decides every order up front; ``now`` only filters what is visible)."""
        old = d < self.detail_first_day + timedelta(days=8)
        with self._lock:
            cached = self._old_orders.get(d) if old else self._orders_by_day.get(d)
        if cached is None:
            t0 = to_epoch(datetime.combine(d, datetime.min.time(), CHINA_TZ))
            t1 = t0 + 86400
            orders = [
                o
                for s in self.iter_sessions(d - timedelta(days=8), d)
                for o in s.orders
                if t0 <= o.create_ts < t1
            ]
            orders.sort(key=lambda o: (o.create_ts, o.order_id))
            cached = (orders, [o.create_ts for o in orders])
            with self._lock:
                if old:  # a bounded LRU, like the sessions of old days
                    self._old_orders[d] = cached
                    while len(self._old_orders) > OLD_DAY_CACHE:
                        self._old_orders.popitem(last=False)
                else:
                    self._orders_by_day[d] = cached
        return cached

    # ---- planted incidents -----------------------------------------------------------
    def incidents(self) -> list[Incident]:
        out = []
        for offset in (VIEWER_DROP_DAY, STOCKOUT_DAY):
            d = self.today - timedelta(days=offset)
            for s in self.account_sessions(self.accounts[0], d):
                if s.slot != "evening":
                    continue
                if offset == VIEWER_DROP_DAY:
                    m = _drop_minute(self, s.room_id)
                    out.append(Incident("viewer_drop", d, s.room_id, m, m + DROP_MINUTES))
                else:
                    pid = self.products[int(s.lineup[s.stockout_pos])].product_id
                    out.append(
                        Incident("stockout", d, s.room_id, math.ceil(s.stockout_s / 60), None, pid)
                    )
        return out

    def click_surges(self) -> list[ClickSurge]:
        """The planted click surges (not explanation-driven), oldest first."""
        out = []
        for offset in sorted(CLICK_SURGE_DAYS, reverse=True):
            d = self.today - timedelta(days=offset)
            for s in self.account_sessions(self.accounts[0], d):
                if s.surge_pos < 0:
                    continue
                pid = self.products[int(s.lineup[s.surge_pos])].product_id
                start, end = round(s.surge_start_s / 60), round(s.surge_end_s / 60)
                out.append(ClickSurge(d, s.room_id, pid, start, end))
        return out


DROP_MINUTES = 20
DROP_ARRIVAL_FACTOR = 0.2
DROP_LEAVE_SHARE = 0.5


def _drop_minute(world: World, room_id: int) -> int:
    return 55 + _stable_int("drop", world.seed, room_id) % 30


def _in_show_shape(minutes: np.ndarray, duration_min: float) -> np.ndarray:
    """Start push spike, warm-up, and the tail when the host says goodbye."""
    push = 1.0 + 1.2 * np.exp(-minutes / 6.0)
    warm = 0.75 + 0.25 * (1 - np.exp(-minutes / 20.0))
    tail = np.where(minutes > duration_min - 15, 0.75, 1.0)
    return push * warm * tail


def _plan_surge(
    world: World,
    account: Account,
    d: date,
    slot: str,
    duration_min: int,
    n_lineup: int,
    segment_start_s: np.ndarray,
    segment_product: np.ndarray,
) -> tuple[int, float, float]:
    """(lineup position, start s, end s) of the show's planted click surge, or (-1, 0, 0).

    On its own random stream: a start minute and a length, and a lineup product that is not
    explained from CLICK_SURGE_MARGIN_MINUTES before the surge to as long after it."""
    if not (account.index == 0 and slot == "evening" and world.day_offset(d) in CLICK_SURGE_DAYS):
        return -1, 0.0, 0.0
    rng = np.random.default_rng([world.seed, 22, account.index, d.toordinal(), len(slot)])
    length = int(rng.integers(CLICK_SURGE_LENGTH_MINUTES[0], CLICK_SURGE_LENGTH_MINUTES[1] + 1))
    lo, hi = CLICK_SURGE_START_MINUTES
    hi = min(hi, duration_min - length - CLICK_SURGE_MARGIN_MINUTES)
    seg_end = np.append(segment_start_s[1:], duration_min * 60.0)
    margin = CLICK_SURGE_MARGIN_MINUTES * 60.0
    for start in (lo + rng.permutation(max(hi - lo + 1, 0))).tolist():
        a, b = start * 60.0 - margin, (start + length) * 60.0 + margin
        busy = set(segment_product[(segment_start_s < b) & (seg_end > a)].tolist())
        free = [p for p in range(n_lineup) if p not in busy]
        if free:
            pos = int(free[int(rng.integers(len(free)))])
            return pos, start * 60.0, (start + length) * 60.0
    return -1, 0.0, 0.0


def choice_pieces(
    world: World,
    lineup: np.ndarray,
    segment_start_s: np.ndarray,
    segment_product: np.ndarray,
    duration_s: float,
    surge: tuple[int, float, float] = (-1, 0.0, 0.0),
    cuts: tuple[float, ...] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pieces of a show on which the clicked product's probabilities are constant.

    Returns (piece start seconds (K,), explained lineup position per piece (K,), browse
    weights (K, n_lineup), paying weights (K, n_lineup)): a browsing click at a time in piece
    k goes to position j with probability ``browse[k, j] / browse[k].sum()``, a paying one
    with ``pay[k, j] / pay[k].sum()``. ``surge`` is (position, start s, end s); ``cuts`` are
    further boundaries a caller wants (they do not change the weights)."""
    pos, s0, s1 = surge
    bounds = [*segment_start_s.tolist(), *cuts, *((s0, s1) if pos >= 0 else ())]
    starts = np.unique(np.array([b for b in bounds if 0.0 <= b < duration_s] + [0.0]))
    seg = np.clip(np.searchsorted(segment_start_s, starts, "right") - 1, 0, None)
    explained = segment_product[seg]
    attr = np.array([world.products[int(i)].attractiveness for i in lineup])
    browse = np.tile(attr, (starts.size, 1))
    rows = np.arange(starts.size)
    browse[rows, explained] *= world.explain_lift[lineup[explained]]
    if pos >= 0:
        browse[(starts >= s0) & (starts < s1), pos] *= CLICK_SURGE_CHOICE_FACTOR
    pay = browse * world.conversion_factor[lineup][None, :]
    return starts, explained, browse, pay


def _session_rng(world: World, account: Account, d: date, slot: str) -> np.random.Generator:
    return np.random.default_rng(
        [world.seed, 4, account.index, d.toordinal(), len(slot), ord(slot[0])]
    )


def _draw_duration(rng: np.random.Generator, slot: str) -> int:
    _, (dmin, dmax) = SLOT_TIMES[slot]
    return int(rng.integers(dmin, dmax + 1))


def _duration_min(world: World, account: Account, d: date, slot: str) -> int:
    """The show's planned duration: the first draw of its session stream (so the plan knows
    it without simulating the show)."""
    return _draw_duration(_session_rng(world, account, d, slot), slot)


def _simulate_session(world: World, account: Account, d: date, slot: str) -> Session:
    seed = world.seed
    rng = _session_rng(world, account, d, slot)
    start_ts = world._start_ts(account, d, slot)
    duration_min = _draw_duration(rng, slot)
    end_ts = start_ts + duration_min * 60
    room_id = world._room_id(account, d, slot)
    traffic_season, conv_season = season_factor(d)
    festival = is_festival(d)

    # product lineup and explanation schedule
    cat = np.array(account.catalog)
    n_lineup = int(rng.integers(10, 17))
    attr_all = np.array([world.products[i].attractiveness for i in cat])
    lineup = rng.choice(cat, n_lineup, replace=False, p=attr_all / attr_all.sum())
    attr = np.array([world.products[i].attractiveness for i in lineup])
    seg_starts, seg_products = [], []
    t = 0.0
    order = rng.permutation(n_lineup)
    k = 0
    while t < duration_min * 60:
        seg_starts.append(t)
        seg_products.append(int(order[k % n_lineup]))
        k += 1
        t += float(rng.integers(6, 13)) * 60
    segment_start_s = np.array(seg_starts)
    segment_product = np.array(seg_products, dtype=np.int64)
    surge = _plan_surge(
        world, account, d, slot, duration_min, n_lineup, segment_start_s, segment_product
    )

    # arrivals
    minutes = np.arange(duration_min, dtype=float)
    session_noise = float(rng.lognormal(0.0, 0.15))
    level = (
        account.base_rate
        * SLOT_FACTOR[slot]
        * weekday_factor(d)
        * traffic_season
        * trend_factor(d, world.today)
        * world.budget_multiplier(d) ** SPEND_ELASTICITY
        * session_noise
    )
    ar = np.empty(duration_min)
    e = 0.0
    eps = rng.normal(0.0, 0.08, duration_min)
    for i in range(duration_min):
        e = 0.7 * e + eps[i]
        ar[i] = e
    lam = level * _in_show_shape(minutes, duration_min) * np.exp(ar)
    is_drop = slot == "evening" and account.index == 0 and world.day_offset(d) == VIEWER_DROP_DAY
    drop_m = _drop_minute(world, room_id) if is_drop else -1
    if is_drop:
        lam[drop_m : drop_m + DROP_MINUTES] *= DROP_ARRIVAL_FACTOR
    counts = rng.poisson(lam)
    n = int(counts.sum())
    enter_s = np.repeat(minutes * 60.0, counts) + rng.random(n) * 60.0

    # traffic source
    ad_share = float(np.clip(rng.normal(0.3 if festival else 0.22, 0.05), 0.05, 0.6))
    org_names = [s for s, _ in catalog.ORGANIC_SOURCES]
    org_w = np.array([w for _, w in catalog.ORGANIC_SOURCES])
    probs = np.append(org_w / org_w.sum() * (1 - ad_share), ad_share)
    source = rng.choice(len(probs), n, p=probs).astype(np.int8)
    names = [*org_names, catalog.PAID_SOURCE]

    # dwell: three log-normal components, mixed by source
    mix = np.array([catalog.DWELL_MIX[s] for s in names])[source]
    comp = (rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)
    medians = np.array([8.0, 70.0, 600.0])[comp]
    sigmas = np.array([0.9, 0.8, 0.9])[comp]
    dwell = medians * np.exp(sigmas * rng.standard_normal(n))
    dwell = np.maximum(dwell, 1.0)
    leave_s = np.minimum(enter_s + dwell, duration_min * 60.0)
    if is_drop:  # half of those online at the drop minute leave within two minutes
        t0 = drop_m * 60.0
        online = (enter_s < t0) & (leave_s > t0 + 120)
        kicked = online & (rng.random(n) < DROP_LEAVE_SHARE)
        leave_s = np.where(kicked, t0 + rng.random(n) * 120.0, leave_s)
    observed = leave_s - enter_s

    viewer = world.population.sample(rng, n)
    in_vx = account.index == 0 and world.in_viewer_experiment(d)
    in_null = account.index == 0 and world.in_null_experiment(d)
    if in_vx:
        variant = world.variant_of(viewer)
    elif in_null:  # arms only: nothing below depends on them
        variant = world.null_variant_of(viewer)
    else:
        variant = np.full(n, -1, dtype=np.int8)
    switchback = int(rng.random() < 0.5) if (account.index == 0 and world.in_switchback(d)) else -1

    # conversion model
    pi = 0.0105 * conv_season * float(rng.lognormal(0.0, 0.12))
    kappa = 0.055 * float(rng.lognormal(0.0, 0.1))
    p_pay = pi * np.where(observed > DWELL_THRESHOLD_S, DWELL_RISK_RATIO, 1.0)
    if in_vx:  # the planted lift; the null experiment's arm B has none
        p_pay = p_pay * np.where(variant == 1, 1.0 + VIEWER_EXPERIMENT_LIFT, 1.0)
    p_pay = p_pay * world.province_conversion[world.population.province[viewer]]
    p_pay = np.minimum(p_pay, 0.95)
    k_eff = kappa * (SWITCHBACK_CLICK_MULTIPLIER if switchback == 1 else 1.0)
    p_click = p_pay + (1 - p_pay) * k_eff
    paid = rng.random(n) < p_pay
    clicked = paid | (rng.random(n) < k_eff)
    exposed = clicked | (rng.random(n) < 0.55 * (1 - np.exp(-observed / 25.0)))

    # which product, when
    click_s = np.where(clicked, enter_s + rng.random(n) * observed * 0.9, np.nan)
    # Inverse CDF over the lineup with the weights of the click's piece of the show. The two
    # draws of n uniforms are the ones the earlier model made here (the second one is unused
    # now), so every later draw of the session's stream is as it was.
    u_choice = rng.random(n)
    rng.random(n)
    starts, explained_at, w_browse, w_pay = choice_pieces(
        world, lineup, segment_start_s, segment_product, duration_min * 60.0, surge
    )
    product = np.full(n, -1, dtype=np.int64)
    ci = np.flatnonzero(clicked)
    piece = np.clip(np.searchsorted(starts, click_s[ci], "right") - 1, 0, None)
    cum = np.where(
        paid[ci, None], np.cumsum(w_pay, axis=1)[piece], np.cumsum(w_browse, axis=1)[piece]
    )
    target = u_choice[ci] * cum[:, -1]
    product[ci] = np.minimum((cum <= target[:, None]).sum(axis=1), n_lineup - 1)

    # the planted click surge: extra browse clicks on a product nobody is explaining
    surge_pos, surge_s0, surge_s1 = surge
    surge_hazard = 0.0
    if surge_pos >= 0:
        in_expl = product[ci] == explained_at[piece]
        explained_per_min = float(in_expl.sum()) / duration_min
        overlap = np.clip(np.minimum(leave_s, surge_s1) - np.maximum(enter_s, surge_s0), 0, None)
        eligible = ~clicked & (overlap > 0)
        online_min = float(overlap[eligible].sum()) / 60.0
        surge_min = (surge_s1 - surge_s0) / 60.0
        surge_hazard = CLICK_SURGE_MULTIPLE * explained_per_min * surge_min / max(online_min, 1.0)
        srng = np.random.default_rng([seed, 23, account.index, d.toordinal(), len(slot)])
        u_click, u_time = srng.random(n), srng.random(n)
        extra = eligible & (u_click < -np.expm1(-surge_hazard * overlap / 60.0))
        click_s = np.where(extra, np.maximum(enter_s, surge_s0) + u_time * overlap, click_s)
        clicked = clicked | extra
        exposed = exposed | extra
        product[extra] = surge_pos
    # Payments happen on whole seconds: 抖店 pay_time is Unix seconds, and the room counters
    # (pay_s <= seconds visible) must agree with the orders (pay_time <= now) at any moment.
    # Rounding up keeps the payment after the click and within the show.
    pay_s = np.where(paid, np.ceil(np.minimum(click_s + 10 + rng.random(n) * 80, leave_s)), np.nan)

    # planted stock-out: one hero product sells out and stays out for the rest of the show.
    # It sells out with its last unit: the last sale before a planned minute (40-60), or the
    # first one after it when none came before, so the incident starts exactly when the stock
    # shown by product_list reaches 0.
    stockout_pos, stockout_s = -1, math.inf
    if slot == "evening" and account.index == 0 and world.day_offset(d) == STOCKOUT_DAY:
        stockout_pos = int(np.argmax(attr))
        planned = float(rng.integers(40, 61)) * 60.0
        hero = paid & (product == stockout_pos)
        before, after = pay_s[hero & (pay_s < planned)], pay_s[hero & (pay_s >= planned)]
        if before.size:
            stockout_s = float(before.max()) + 1.0
        elif after.size:
            stockout_s = float(after.min()) + 1.0
        else:
            stockout_s = planned
        blocked = paid & (product == stockout_pos) & (pay_s >= stockout_s)
        paid = paid & ~blocked
        pay_s = np.where(paid, pay_s, np.nan)

    item_num = np.where(paid, 1 + rng.binomial(2, 0.15, n), 0).astype(np.int64)
    live_price = np.array([world.products[int(p)].live_price_fen for p in lineup], dtype=np.int64)
    amount_fen = np.where(paid, live_price[np.maximum(product, 0)] * item_num, 0).astype(np.int64)

    # interactions (aggregate-only)
    likes = np.where(
        rng.random(n) < 0.28 * (1 - np.exp(-observed / 120)), 1 + rng.poisson(observed / 25), 0
    )
    comments = np.where(
        rng.random(n) < 0.07 * (1 - np.exp(-observed / 150)), 1 + rng.poisson(observed / 600), 0
    )
    shared = rng.random(n) < 0.012 * (1 - np.exp(-observed / 300))
    fan_source = names.index("homepage_follow")
    followed = (source != fan_source) & (rng.random(n) < 0.035 * (1 - np.exp(-observed / 240)))
    interact_s = enter_s + rng.random(n) * observed

    visits = Visits(
        enter_s=enter_s,
        leave_s=leave_s,
        source=source,
        viewer=viewer,
        exposed=exposed,
        clicked=clicked,
        click_s=click_s,
        product=product,
        paid=paid,
        pay_s=pay_s,
        item_num=item_num,
        amount_fen=amount_fen,
        likes=likes.astype(np.int64),
        comments=comments.astype(np.int64),
        shared=shared,
        followed=followed,
        interact_s=interact_s,
        variant=variant,
        p_pay=p_pay,
        p_click=p_click,
    )

    # inventory: the stock-out product has exactly what sold before the stock-out minute
    inventory0 = np.zeros(n_lineup, dtype=np.int64)
    for pos in range(n_lineup):
        sold = int(item_num[paid & (product == pos)].sum())
        inventory0[pos] = sold + int(rng.integers(150, 1500))
    if stockout_pos >= 0:
        sold_before = paid & (product == stockout_pos) & (pay_s < stockout_s)
        inventory0[stockout_pos] = int(item_num[sold_before].sum())

    # the show's share of the day's planned budget, charged per ad visit (spend never looks
    # at GMV: it is exogenous)
    n_ad = int((source == len(names) - 1).sum())
    cost_per_ad_visit = world.cost_per_ad_visit_fen(account, d, slot, n_ad)

    title = world.room_titles[int(rng.integers(len(catalog.ROOM_TITLES)))]
    cover = (
        f"https://p3-sandbox.douyinpic.com/room/{room_id}/cover_720.jpeg",
        f"https://p9-sandbox.douyinpic.com/room/{room_id}/cover_360.jpeg",
    )
    session = Session(
        room_id=room_id,
        account=account,
        day=d,
        slot=slot,
        start_ts=start_ts,
        end_ts=end_ts,
        title=title,
        cover=cover,
        lineup=lineup,
        segment_start_s=segment_start_s,
        segment_product=segment_product,
        inventory0=inventory0,
        stockout_pos=stockout_pos,
        stockout_s=stockout_s,
        impression_ratio=float(np.clip(rng.normal(0.24, 0.04), 0.1, 0.5)),
        ad_ctr=float(np.clip(rng.normal(0.022, 0.004), 0.008, 0.05)),
        cost_per_ad_visit_fen=int(cost_per_ad_visit),
        switchback=switchback,
        kappa=kappa,
        visits=visits,
        surge_pos=surge_pos,
        surge_start_s=surge_s0,
        surge_end_s=surge_s1,
        surge_hazard=surge_hazard,
    )
    session.orders = _make_orders(world, session, rng, festival)
    return session


def _order_id(world: World, *parts: object) -> str:
    # 抖店 order ids are 19-digit strings starting with 6 or 5.
    return str(6_900_000_000_000_000_000 + _stable_int("order", world.seed, *parts) % 10**17)


def _make_orders(world: World, s: Session, rng: np.random.Generator, festival: bool) -> list[Order]:
    v = s.visits
    orders: list[Order] = []
    refund_p = REFUND_PROB_FESTIVAL if festival else REFUND_PROB
    catalog_idx = np.array(s.account.catalog)
    cat_attr = np.array([world.products[i].attractiveness for i in catalog_idx])
    cat_p = cat_attr / cat_attr.sum()
    for i in map(int, np.flatnonzero(v.paid)):
        pidx = int(s.lineup[v.product[i]])
        pay_ts = s.start_ts + int(v.pay_s[i])
        oid = _order_id(world, s.room_id, i)
        amount = int(v.amount_fen[i])
        # the order is placed a few seconds before paying, but never before the click
        clicked_ts = s.start_ts + math.ceil(float(v.click_s[i]))
        o = Order(
            order_id=oid,
            buyer=int(v.viewer[i]),
            create_ts=max(pay_ts - int(rng.integers(5, 40)), clicked_ts),
            pay_ts=pay_ts,
            amount_fen=amount,
            room_id=s.room_id,
            author_id=s.account.aweme_id,
            lines=[SkuLine(oid[:-1] + "1", pidx, int(v.item_num[i]), amount)],
            visit=i,
        )
        if rng.random() < refund_p:
            o.refund_ts = pay_ts + int(rng.integers(43200, 6 * 86400))
        orders.append(o)
        if rng.random() < REPURCHASE_PROB:
            delay = int(rng.integers(2 * 3600, REPURCHASE_WINDOW_S - 3600))
            n_lines = 1 + int(rng.random() < 0.3)
            picks = rng.choice(catalog_idx, n_lines, replace=False, p=cat_p)
            rid = _order_id(world, s.room_id, i, "re")
            lines = []
            for j, p in enumerate(picks):
                prod = world.products[int(p)]
                num = 1 + int(rng.random() < 0.2)
                lines.append(SkuLine(f"{rid[:-1]}{j + 2}", int(p), num, prod.price_fen * num))
            r = Order(
                order_id=rid,
                buyer=o.buyer,
                create_ts=pay_ts + delay - int(rng.integers(5, 60)),
                pay_ts=pay_ts + delay,
                amount_fen=sum(ln.pay_amount_fen for ln in lines),
                room_id=0,
                author_id=0,
                lines=lines,
                kind="repurchase",
            )
            if rng.random() < refund_p:
                r.refund_ts = r.pay_ts + int(rng.integers(43200, 6 * 86400))
            orders.append(r)
    live_price = [world.products[int(p)].live_price_fen for p in s.lineup]
    for i in map(int, np.flatnonzero(v.clicked & ~v.paid)):
        if rng.random() >= ABANDON_PROB:
            continue
        pos = int(v.product[i])
        create_ts = s.start_ts + int(v.click_s[i]) + int(rng.integers(5, 30))
        oid = _order_id(world, s.room_id, i, "ab")
        amount = live_price[pos]
        orders.append(
            Order(
                order_id=oid,
                buyer=int(v.viewer[i]),
                create_ts=create_ts,
                pay_ts=0,
                amount_fen=amount,
                room_id=s.room_id,
                author_id=s.account.aweme_id,
                lines=[SkuLine(oid[:-1] + "1", int(s.lineup[pos]), 1, amount)],
                cancel_ts=create_ts + 1800,
                kind="abandoned",
                visit=i,
            )
        )
    delivery.plan_orders(world, orders)  # its own random streams, keyed by order
    return orders
