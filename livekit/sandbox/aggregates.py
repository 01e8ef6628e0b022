"""Aggregates the endpoints serve, computed from the simulated visits and orders at a moment.

Every function takes ``now_ts``: nothing that happens after it is visible, so a session on
air has cumulative counters that grow between polls. Money is computed in integer fen and
converted to yuan (2 decimals) at the end, so that sums agree exactly.

Rates are percentages, as the real reports show them; clients should recompute rates from
the counts they are built from.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from livekit.sandbox import catalog
from livekit.sandbox.world import REPURCHASE_WINDOW_S, Order, Session, World, fmt_time

PAID_IDX = catalog.TRAFFIC_SOURCES.index(catalog.PAID_SOURCE)
FAN_IDX = catalog.TRAFFIC_SOURCES.index("homepage_follow")

# Metric fields each endpoint accepts in `fields`.
ROOM_METRICS: tuple[str, ...] = (
    "stat_cost",
    "cpm_platform",
    "click_cnt",
    "ctr",
    "convert_cnt",
    "convert_rate",
    "live_pay_order_gmv_alias",
    "luban_live_pay_order_gmv",
    "live_pay_order_gmv_avg",
    "live_pay_order_gmv_roi",
    "ad_live_prepay_and_pay_order_gmv_roi",
    "live_create_order_count_alias",
    "luban_live_order_count",
    "live_pay_order_count_alias",
    "luban_live_pay_order_count",
    "live_create_order_rate",
    "live_pay_order_rate",
    "total_live_pay_order_gpm",
    "luban_live_pay_order_gpm",
    "total_live_watch_cnt",
    "live_watch_one_minute_count",
    "total_live_follow_cnt",
    "total_live_comment_cnt",
    "total_live_share_cnt",
    "live_click_cart_count_alias",
    "live_click_product_count_alias",
    "live_order_refund_amount_7d",
    "live_order_refund_count_7d",
)
PRODUCT_METRICS: tuple[str, ...] = (
    "live_product_Inventory",
    "live_product_bind_time",
    "live_product_price",
    "live_product_explain_cnt",
    "live_pay_order_gmv_alias",
    "luban_live_pay_order_gmv",
    "live_pay_order_count_alias",
    "luban_live_pay_order_count",
    "product_click_pay_ucnt_ratio",
    "total_live_pay_order_gpm_ecom",
)
ADVERTISER_METRICS: tuple[str, ...] = (
    "stat_cost",
    "show_cnt",
    "click_cnt",
    "ctr",
    "cpm_platform",
    "cpc_platform",
    "convert_cnt",
    "convert_rate",
    "pay_order_count",
    "pay_order_amount",
    "create_order_count",
    "create_order_amount",
    "prepay_and_pay_order_roi",
    "dy_follow",
    "luban_live_enter_cnt",
    "luban_live_click_product_cnt",
    "all_order_pay_count_7days",
    "all_order_pay_gmv_7days",
    "all_order_pay_roi_7days",
    "indirect_order_pay_count_7days",
    "indirect_order_pay_gmv_7days",
    "all_order_refund_count_7d",
    "all_order_refund_amount_7d",
)
ANALYSIS_METRICS: tuple[str, ...] = (
    "all_live_watch_cnt_td",
    "all_live_watch_ucnt_td",
    "all_live_enter_room_rate_td",
    "all_avg_live_pcu_td",
    "all_live_max_1min_pcu_td",
    "all_avg_live_watch_duration_seconds_td",
    "all_fans_live_watch_ucnt_td",
    "all_live_follow_cnt_td",
    "all_live_like_cnt_td",
    "all_live_comment_cnt_td",
    "all_live_comment_ucnt_td",
    "all_live_share_cnt_td",
    "all_live_single_watch_over_1m_cnt_td",
    "all_live_single_watch_over_1m_rate_td",
    "std_ad_cost_amount_td",
    "std_ad_show_cnt_td",
    "std_ad_click_cnt_td",
    "std_live_watch_cnt_td",
    "std_live_watch_ucnt_td",
)


def yuan(fen: int | np.integer[Any]) -> float:
    return round(int(fen) / 100.0, 2)


def pct(num: float, den: float) -> float:
    return round(100.0 * num / den, 4) if den else 0.0


def ratio(num: float, den: float, digits: int = 4) -> float:
    return round(num / den, digits) if den else 0.0


@dataclass(frozen=True)
class Cut:
    """Boolean masks of what of a session is visible at a moment."""

    seconds: float  # seconds into the session that are visible
    entered: np.ndarray
    clicked: np.ndarray
    paid: np.ndarray
    interacted: np.ndarray
    leave_s: np.ndarray  # leave time clipped to the cut


def cut(s: Session, now_ts: float) -> Cut:
    v = s.visits
    sec = float(min(max(now_ts - s.start_ts, -1.0), s.duration_s))
    entered = v.enter_s <= sec
    return Cut(
        seconds=sec,
        entered=entered,
        clicked=v.clicked & (np.nan_to_num(v.click_s, nan=np.inf) <= sec),
        paid=v.paid & (np.nan_to_num(v.pay_s, nan=np.inf) <= sec),
        interacted=entered & (v.interact_s <= sec),
        leave_s=np.minimum(v.leave_s, max(sec, 0.0)),
    )


# ---- per-session memo ----------------------------------------------------------------
# A finished session's visit-based aggregates never change again (``cut`` clips at the end),
# and once every order, refund and repurchase is in the past nothing changes at all; such
# results are computed once and kept on the Session (``Session.memo``).
T = TypeVar("T")


def _once(s: Session, key: Hashable, compute: Callable[[], T]) -> T:
    if key not in s.memo:
        s.memo[key] = compute()
    value: T = s.memo[key]
    return value


def _settled_ts(s: Session) -> int:
    """From this moment on nothing about the session changes (orders, refunds, repurchases)."""
    return _once(
        s,
        "settled_ts",
        lambda: max([s.end_ts, *(max(o.create_ts, o.pay_ts, o.refund_ts) for o in s.orders)]),
    )


def room_metrics(world: World, s: Session, now_ts: float) -> dict[str, Any]:
    """All ROOM_METRICS of one session as seen at ``now_ts``."""
    if now_ts < s.end_ts or now_ts < _settled_ts(s):
        return _room_metrics(s, now_ts)
    return dict(_once(s, "room_metrics", lambda: _room_metrics(s, now_ts)))


def _room_metrics(s: Session, now_ts: float) -> dict[str, Any]:
    if now_ts >= s.end_ts:
        base = _once(s, "room_visit_metrics", lambda: _room_visit_metrics(s, cut(s, now_ts)))
    else:
        base = _room_visit_metrics(s, cut(s, now_ts))
    out = dict(base)
    refunds = [
        o
        for o in s.orders
        if o.kind == "live" and o.pay_ts and 0 < o.refund_ts <= min(now_ts, o.pay_ts + 7 * 86400)
    ]
    out["live_order_refund_amount_7d"] = yuan(sum(o.amount_fen for o in refunds))
    out["live_order_refund_count_7d"] = len(refunds)
    created = [o for o in s.orders if o.kind != "repurchase" and o.create_ts <= now_ts]
    created_ad = [o for o in created if s.visits.source[o.visit] == PAID_IDX]
    out["live_create_order_count_alias"] = len(created)
    out["luban_live_order_count"] = len(created_ad)
    out["live_create_order_rate"] = pct(len(created), out["live_click_product_count_alias"])
    return out


def _room_visit_metrics(s: Session, c: Cut) -> dict[str, Any]:
    v = s.visits
    ad = c.entered & (v.source == PAID_IDX)
    n_ad = int(ad.sum())
    watch = int(c.entered.sum())
    show = round(n_ad / s.ad_ctr)
    spend_fen = n_ad * s.cost_per_ad_visit_fen
    gmv = int(v.amount_fen[c.paid].sum())
    paid_ad = c.paid & ad
    gmv_ad = int(v.amount_fen[paid_ad].sum())
    n_paid = int(c.paid.sum())
    n_paid_ad = int(paid_ad.sum())
    dwell = c.leave_s - v.enter_s
    clicks = int(c.clicked.sum())
    spend = spend_fen / 100.0
    return {
        "_show": show,
        "_spend_fen": spend_fen,
        "_gmv_fen": gmv,
        "_gmv_ad_fen": gmv_ad,
        "stat_cost": yuan(spend_fen),
        "cpm_platform": round(spend / show * 1000, 2) if show else 0.0,
        "click_cnt": n_ad,
        "ctr": pct(n_ad, show),
        "convert_cnt": n_paid_ad,
        "convert_rate": pct(n_paid_ad, n_ad),
        "live_pay_order_gmv_alias": yuan(gmv),
        "luban_live_pay_order_gmv": yuan(gmv_ad),
        "live_pay_order_gmv_avg": round(gmv / 100 / n_paid, 2) if n_paid else 0.0,
        "live_pay_order_gmv_roi": ratio(gmv / 100, spend, 2),
        "ad_live_prepay_and_pay_order_gmv_roi": ratio(gmv_ad / 100, spend, 2),
        "live_pay_order_count_alias": n_paid,
        "luban_live_pay_order_count": n_paid_ad,
        "live_pay_order_rate": pct(n_paid, clicks),
        "total_live_pay_order_gpm": round(1000 * gmv / 100 / watch, 2) if watch else 0.0,
        "luban_live_pay_order_gpm": round(1000 * gmv_ad / 100 / n_ad, 2) if n_ad else 0.0,
        "total_live_watch_cnt": watch,
        "live_watch_one_minute_count": int((c.entered & (dwell >= 60)).sum()),
        "total_live_follow_cnt": int((c.interacted & v.followed).sum()),
        "total_live_comment_cnt": int(v.comments[c.interacted].sum()),
        "total_live_share_cnt": int((c.interacted & v.shared).sum()),
        "live_click_cart_count_alias": int((c.entered & v.exposed).sum()),
        "live_click_product_count_alias": clicks,
    }


def explain_status(s: Session, pos: int, now_ts: float) -> tuple[str, int]:
    """(explain_status, number of explanations started) of a lineup product at a moment."""
    sec = now_ts - s.start_ts
    started = s.segment_start_s <= sec
    count = int((started & (s.segment_product == pos)).sum())
    if now_ts < s.end_ts and started.any():
        current = int(s.segment_product[int(np.flatnonzero(started)[-1])])
        if current == pos:
            return "BEINGEXPLAIN", count
    return ("HASEXPLAIN" if count else "UNEXPLAIN"), count


def product_rows(world: World, s: Session, now_ts: float) -> list[dict[str, Any]]:
    if now_ts < s.end_ts:
        return _product_rows(world, s, now_ts)
    return [dict(r) for r in _once(s, "product_rows", lambda: _product_rows(world, s, now_ts))]


def _product_rows(world: World, s: Session, now_ts: float) -> list[dict[str, Any]]:
    v = s.visits
    c = cut(s, now_ts)
    ad = v.source == PAID_IDX
    rows = []
    watch = int(c.entered.sum())
    bind_ts = s.start_ts - 1800
    for pos, pidx in enumerate(s.lineup.tolist()):
        p = world.products[pidx]
        mine = v.product == pos
        paid = c.paid & mine
        gmv = int(v.amount_fen[paid].sum())
        sold = int(v.item_num[paid].sum())
        click_u = np.unique(v.viewer[c.clicked & mine]).size
        pay_u = np.unique(v.viewer[paid]).size
        status, n_explain = explain_status(s, pos, now_ts)
        rows.append(
            {
                "productId": p.product_id,
                "title": p.title,
                "img_url": p.cover,
                "explain_status": status,
                "live_product_Inventory": max(int(s.inventory0[pos]) - sold, 0),
                "live_product_bind_time": fmt_time(bind_ts),
                "live_product_price": yuan(p.live_price_fen),
                "live_product_explain_cnt": n_explain,
                "live_pay_order_gmv_alias": yuan(gmv),
                "luban_live_pay_order_gmv": yuan(int(v.amount_fen[paid & ad].sum())),
                "live_pay_order_count_alias": int(paid.sum()),
                "luban_live_pay_order_count": int((paid & ad).sum()),
                "product_click_pay_ucnt_ratio": pct(pay_u, click_u),
                "total_live_pay_order_gpm_ecom": round(1000 * gmv / 100 / watch, 2)
                if watch
                else 0.0,
            }
        )
    return rows


def flow_performance(s: Session, now_ts: float) -> dict[str, int]:
    if now_ts < s.end_ts:
        return _flow_performance(s, now_ts)
    return dict(_once(s, "flow", lambda: _flow_performance(s, now_ts)))


def _flow_performance(s: Session, now_ts: float) -> dict[str, int]:
    c = cut(s, now_ts)
    counts = np.bincount(s.visits.source[c.entered], minlength=len(catalog.TRAFFIC_SOURCES))
    out = {name: int(counts[i]) for i, name in enumerate(catalog.TRAFFIC_SOURCES)}
    out.update({name: 0 for name in catalog.ZERO_SOURCES})
    return out


def audience(
    world: World, s: Session, now_ts: float, event: str, dims: Iterable[str]
) -> dict[str, Any]:
    """Unique people who entered (ENTER) or paid (PAY), split by city, gender and age."""
    dims = tuple(dims)
    if now_ts < s.end_ts:
        return _audience(world, s, now_ts, event, dims)
    cached = _once(s, ("audience", event, dims), lambda: _audience(world, s, now_ts, event, dims))
    return {k: [dict(x) for x in items] for k, items in cached.items()}


def _audience(
    world: World, s: Session, now_ts: float, event: str, dims: Iterable[str]
) -> dict[str, Any]:
    c = cut(s, now_ts)
    mask = c.entered if event == "ENTER" else c.paid
    people = np.unique(s.visits.viewer[mask])
    pop = world.population
    out: dict[str, Any] = {}
    for dim in dims:
        if dim == "CITY":
            counts = np.bincount(pop.province[people], minlength=len(catalog.PROVINCES))
            items = [
                {"city_name": world.city_names[i], "value": int(counts[i])}
                for i in np.argsort(-counts, kind="stable")
                if counts[i] > 0
            ]
            out["city"] = items
        elif dim == "GENDER":
            counts = np.bincount(pop.gender[people], minlength=len(catalog.GENDER_TYPES))
            out["gender"] = [
                {"gender_type": g, "value": int(counts[i])}
                for i, g in enumerate(catalog.GENDER_TYPES)
            ]
        elif dim == "AGE":
            counts = np.bincount(pop.age[people], minlength=len(catalog.AGE_TYPES))
            out["age"] = [
                {"age_type": a, "value": int(counts[i])} for i, a in enumerate(catalog.AGE_TYPES)
            ]
    return out


def analysis_row(s: Session) -> dict[str, Any]:
    """T+1 room analysis metrics (only served for finished days)."""
    return dict(_once(s, "analysis_row", lambda: _analysis_row(s)))


def _analysis_row(s: Session) -> dict[str, Any]:
    v = s.visits
    dwell = v.leave_s - v.enter_s
    watch = len(v)
    ucnt = int(np.unique(v.viewer).size)
    minutes = s.duration_s // 60
    # online at each minute mark: entered before it and not yet left
    marks = np.arange(minutes) * 60.0 + 30.0
    online = np.searchsorted(np.sort(v.enter_s), marks, "right") - np.searchsorted(
        np.sort(v.leave_s), marks, "right"
    )
    ad = v.source == PAID_IDX
    n_ad = int(ad.sum())
    show = round(n_ad / s.ad_ctr)
    impressions = round(watch / s.impression_ratio)
    over1m = int((dwell >= 60).sum())
    return {
        "all_live_watch_cnt_td": watch,
        "all_live_watch_ucnt_td": ucnt,
        "all_live_enter_room_rate_td": pct(watch, impressions),
        "all_avg_live_pcu_td": round(float(online.mean()), 2) if minutes else 0.0,
        "all_live_max_1min_pcu_td": int(online.max()) if minutes else 0,
        "all_avg_live_watch_duration_seconds_td": round(float(dwell.sum()) / ucnt, 2)
        if ucnt
        else 0.0,
        "all_fans_live_watch_ucnt_td": int(np.unique(v.viewer[v.source == FAN_IDX]).size),
        "all_live_follow_cnt_td": int(v.followed.sum()),
        "all_live_like_cnt_td": int(v.likes.sum()),
        "all_live_comment_cnt_td": int(v.comments.sum()),
        "all_live_comment_ucnt_td": int(np.unique(v.viewer[v.comments > 0]).size),
        "all_live_share_cnt_td": int(v.shared.sum()),
        "all_live_single_watch_over_1m_cnt_td": over1m,
        "all_live_single_watch_over_1m_rate_td": pct(over1m, watch),
        "std_ad_cost_amount_td": yuan(n_ad * s.cost_per_ad_visit_fen),
        "std_ad_show_cnt_td": show,
        "std_ad_click_cnt_td": n_ad,
        "std_live_watch_cnt_td": n_ad,
        "std_live_watch_ucnt_td": int(np.unique(v.viewer[ad]).size),
    }


@dataclass
class AdBucket:
    """Additive ad facts of a time bucket (a day or an hour), in integers."""

    spend_fen: int = 0
    show: int = 0
    ad_visits: int = 0
    ad_clicks_product: int = 0
    follows: int = 0
    pay_count: int = 0
    pay_fen: int = 0
    create_count: int = 0
    create_fen: int = 0
    gmv7_fen: int = 0
    count7: int = 0
    indirect_fen: int = 0
    indirect_count: int = 0
    refund_fen: int = 0
    refund_count: int = 0

    def add(self, other: AdBucket) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def metrics(self) -> dict[str, float]:
        spend = self.spend_fen / 100.0
        return {
            "stat_cost": yuan(self.spend_fen),
            "show_cnt": float(self.show),
            "click_cnt": float(self.ad_visits),
            "ctr": pct(self.ad_visits, self.show),
            "cpm_platform": round(spend / self.show * 1000, 2) if self.show else 0.0,
            "cpc_platform": round(spend / self.ad_visits, 2) if self.ad_visits else 0.0,
            "convert_cnt": float(self.pay_count),
            "convert_rate": pct(self.pay_count, self.ad_visits),
            "pay_order_count": float(self.pay_count),
            "pay_order_amount": yuan(self.pay_fen),
            "create_order_count": float(self.create_count),
            "create_order_amount": yuan(self.create_fen),
            "prepay_and_pay_order_roi": ratio(self.pay_fen / 100, spend, 2),
            "dy_follow": float(self.follows),
            "luban_live_enter_cnt": float(self.ad_visits),
            "luban_live_click_product_cnt": float(self.ad_clicks_product),
            "all_order_pay_count_7days": float(self.count7),
            "all_order_pay_gmv_7days": yuan(self.gmv7_fen),
            "all_order_pay_roi_7days": ratio(self.gmv7_fen / 100, spend, 2),
            "indirect_order_pay_count_7days": float(self.indirect_count),
            "indirect_order_pay_gmv_7days": yuan(self.indirect_fen),
            "all_order_refund_count_7d": float(self.refund_count),
            "all_order_refund_amount_7d": yuan(self.refund_fen),
        }


def ad_buckets(world: World, s: Session, now_ts: float, hourly: bool) -> dict[int, AdBucket]:
    """Ad facts of one session keyed by the bucket's start (epoch seconds, China time)."""
    if now_ts < _settled_ts(s):
        return _ad_buckets(s, now_ts, hourly)
    cached = _once(s, ("ad_buckets", hourly), lambda: _ad_buckets(s, now_ts, hourly))
    return {b: replace(bk) for b, bk in cached.items()}


def _ad_visit_counts(s: Session, now_ts: float, hourly: bool) -> dict[int, tuple[int, int, int]]:
    """bucket -> (ad visits, ad-visit follows, ad product clicks); fixed once the show is over."""
    if now_ts >= s.end_ts:
        return _once(s, ("ad_visit_counts", hourly), lambda: _ad_visit_counts_at(s, now_ts, hourly))
    return _ad_visit_counts_at(s, now_ts, hourly)


def _ad_visit_counts_at(s: Session, now_ts: float, hourly: bool) -> dict[int, tuple[int, int, int]]:
    v = s.visits
    c = cut(s, now_ts)
    is_ad = v.source == PAID_IDX
    ad = c.entered & is_ad
    size = 3600 if hourly else 86400
    offset = 8 * 3600  # China time buckets

    def counts(ts: np.ndarray) -> dict[int, int]:
        b, n = np.unique(((ts + offset) // size) * size - offset, return_counts=True)
        return dict(zip(b.astype(np.int64).tolist(), n.tolist(), strict=True))

    visits = counts(s.start_ts + v.enter_s[ad])
    follows = counts(s.start_ts + v.interact_s[ad & c.interacted & v.followed])
    clicks = counts(s.start_ts + v.click_s[c.clicked & is_ad])
    # insertion order as before: ad-visit buckets, then any new ones from follows and clicks
    keys = dict.fromkeys([*visits, *follows, *clicks])
    return {b: (visits.get(b, 0), follows.get(b, 0), clicks.get(b, 0)) for b in keys}


def _ad_buckets(s: Session, now_ts: float, hourly: bool) -> dict[int, AdBucket]:
    v = s.visits
    size = 3600 if hourly else 86400
    offset = 8 * 3600  # China time buckets

    def bucket(ts: int) -> int:  # whole seconds: plain int arithmetic
        return ((ts + offset) // size) * size - offset

    out: dict[int, AdBucket] = {}

    def get(b: int) -> AdBucket:
        if b not in out:
            out[b] = AdBucket()
        return out[b]

    for b, (n_ad, follows, clicks) in _ad_visit_counts(s, now_ts, hourly).items():
        bk = get(b)
        bk.ad_visits = n_ad
        bk.spend_fen = n_ad * s.cost_per_ad_visit_fen
        bk.follows = follows
        bk.ad_clicks_product = clicks
        # show count is derived per bucket from ad visits and the session's CTR
        bk.show = round(n_ad / s.ad_ctr)
    buyers: dict[int, list[Order]] = {}
    source = v.source
    for o in s.orders:
        if o.visit < 0 or o.kind == "repurchase" or source[o.visit] != PAID_IDX:
            continue
        if o.create_ts <= now_ts:
            bk = get(bucket(o.create_ts))
            bk.create_count += 1
            bk.create_fen += o.amount_fen
        if o.pay_ts and o.pay_ts <= now_ts:
            bk = get(bucket(o.pay_ts))
            bk.pay_count += 1
            bk.pay_fen += o.amount_fen
            bk.gmv7_fen += o.amount_fen
            bk.count7 += 1
            buyers.setdefault(o.buyer, []).append(o)
            if 0 < o.refund_ts <= min(now_ts, o.pay_ts + REPURCHASE_WINDOW_S):
                bk.refund_fen += o.amount_fen
                bk.refund_count += 1
    for o in s.orders:
        if o.kind != "repurchase" or o.buyer not in buyers or not (0 < o.pay_ts <= now_ts):
            continue
        first = buyers[o.buyer][0]
        if o.pay_ts - first.pay_ts <= REPURCHASE_WINDOW_S:
            bk = get(bucket(first.pay_ts))
            bk.gmv7_fen += o.amount_fen
            bk.count7 += 1
            bk.indirect_fen += o.amount_fen
            bk.indirect_count += 1
    return out


ADDITIVE_ROOM_METRICS = (
    "click_cnt",
    "convert_cnt",
    "live_create_order_count_alias",
    "luban_live_order_count",
    "live_pay_order_count_alias",
    "luban_live_pay_order_count",
    "total_live_watch_cnt",
    "live_watch_one_minute_count",
    "total_live_follow_cnt",
    "total_live_comment_cnt",
    "total_live_share_cnt",
    "live_click_cart_count_alias",
    "live_click_product_count_alias",
    "live_order_refund_count_7d",
    "_show",
    "_spend_fen",
    "_gmv_fen",
    "_gmv_ad_fen",
)


def combine_rooms(rooms: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of several rooms together: counts add up, rates are recomputed from them."""
    t: dict[str, Any] = {k: sum(int(r[k]) for r in rooms) for k in ADDITIVE_ROOM_METRICS}
    refund = sum(round(r["live_order_refund_amount_7d"] * 100) for r in rooms)
    spend = t["_spend_fen"] / 100.0
    gmv, gmv_ad = t["_gmv_fen"], t["_gmv_ad_fen"]
    n_paid, watch, n_ad = t["live_pay_order_count_alias"], t["total_live_watch_cnt"], t["click_cnt"]
    t.update(
        {
            "stat_cost": yuan(t["_spend_fen"]),
            "cpm_platform": round(spend / t["_show"] * 1000, 2) if t["_show"] else 0.0,
            "ctr": pct(n_ad, t["_show"]),
            "convert_rate": pct(t["convert_cnt"], n_ad),
            "live_pay_order_gmv_alias": yuan(gmv),
            "luban_live_pay_order_gmv": yuan(gmv_ad),
            "live_pay_order_gmv_avg": round(gmv / 100 / n_paid, 2) if n_paid else 0.0,
            "live_pay_order_gmv_roi": ratio(gmv / 100, spend, 2),
            "ad_live_prepay_and_pay_order_gmv_roi": ratio(gmv_ad / 100, spend, 2),
            "live_create_order_rate": pct(
                t["live_create_order_count_alias"], t["live_click_product_count_alias"]
            ),
            "live_pay_order_rate": pct(n_paid, t["live_click_product_count_alias"]),
            "total_live_pay_order_gpm": round(1000 * gmv / 100 / watch, 2) if watch else 0.0,
            "luban_live_pay_order_gpm": round(1000 * gmv_ad / 100 / n_ad, 2) if n_ad else 0.0,
            "live_order_refund_amount_7d": yuan(refund),
        }
    )
    return t
