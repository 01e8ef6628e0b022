"""The sandbox's products, regions and click surges (issue 12): what it serves and what it plants.

Over real HTTP (the frozen scale-0.3 sandbox of the other protocol tests, its evening show on
air): the viewer export's ``click_time`` (CSV and Parquet), the explanation schedule
(``/sandbox/export/explanations``) against the 巨量千川 product list's explanation status and
the rooms' times, and the published surges against that schedule.

In process, on a full-size shop (scale 1, one seed): the published truths are the model's
expectations, checked the Monte Carlo way: the realized clicks on each product while it is
explained and while it is not, its paying clicks, and the buyers of each province, summed
over a month of shows, land on the expected values within their noise.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from scipy import stats

from livekit.sandbox import catalog, truth_products
from livekit.sandbox import world as w
from livekit.sandbox.server import RunningSandbox
from livekit.sandbox.world import CHINA_TZ, World
from tests.helpers.sandbox import NOW, TODAY
from tests.helpers.shop import Shop

FMT = "%Y-%m-%d %H:%M:%S"
NOW_TEXT = NOW.strftime(FMT)
DAYS = (TODAY - timedelta(days=1), TODAY)


@pytest.fixture(scope="module")
def shop(server: RunningSandbox) -> Iterator[Shop]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield Shop.open(server, http)


def parse(text: str) -> datetime:
    return datetime.strptime(text, FMT).replace(tzinfo=CHINA_TZ)


# ---- the viewer export's click time -------------------------------------------------------------
@pytest.fixture(scope="module")
def export(shop: Shop) -> tuple[pl.DataFrame, list[dict[str, str]]]:
    raw = shop.export_bytes(DAYS[0], DAYS[1], "parquet")
    text = shop.export_bytes(DAYS[0], DAYS[1], "csv").decode()
    return pl.read_parquet(io.BytesIO(raw)), list(csv.DictReader(io.StringIO(text)))


def test_export_has_click_time_after_the_clicked_product(
    export: tuple[pl.DataFrame, list[dict[str, str]]],
) -> None:
    frame, rows = export
    cols = frame.columns
    assert cols[cols.index("clicked_product_id") + 1] == "click_time"
    assert frame.schema["click_time"] == pl.String
    assert list(rows[0])[list(rows[0]).index("clicked_product_id") + 1] == "click_time"
    # the same values in both formats (CSV: empty for none)
    assert [r["click_time"] or None for r in rows] == frame["click_time"].to_list()
    clicked = frame.filter(pl.col("clicked_product_id").is_not_null())
    assert clicked.height > 200


def test_click_time_is_there_exactly_when_a_product_was_clicked_within_the_visit(
    export: tuple[pl.DataFrame, list[dict[str, str]]],
) -> None:
    frame, _ = export
    no_product = frame["clicked_product_id"].is_null()
    assert (frame["click_time"].is_null() == no_product).all()
    assert not frame.filter(pl.col("paid") == 1)["click_time"].is_null().any()
    clicked = frame.filter(pl.col("click_time").is_not_null())
    # fixed-width "YYYY-MM-DD HH:MM:SS": string order is time order
    assert (clicked["enter_time"] <= clicked["click_time"]).all()
    assert (clicked["click_time"] <= clicked["leave_time"]).all()
    assert (clicked["click_time"] <= NOW_TEXT).all()
    # clicks reach the living show up to now
    assert (clicked["click_time"].str.slice(0, 10) == TODAY.isoformat()).sum() > 50


def test_click_times_of_the_living_show_are_cut_at_now(shop: Shop) -> None:
    """Set the clock back ten minutes: clicks after it disappear (with their product)."""
    earlier = (NOW - timedelta(minutes=10)).strftime(FMT)
    try:
        shop.set_clock(earlier)
        frame = pl.read_parquet(io.BytesIO(shop.export_bytes(TODAY, TODAY, "parquet")))
    finally:
        shop.set_clock(NOW_TEXT)
    clicked = frame.filter(pl.col("click_time").is_not_null())
    assert (clicked["click_time"] <= earlier).all()
    assert (frame["click_time"].is_null() == frame["clicked_product_id"].is_null()).all()
    later = pl.read_parquet(io.BytesIO(shop.export_bytes(TODAY, TODAY, "parquet")))
    assert later["click_time"].drop_nulls().len() > clicked.height


# ---- the explanation schedule --------------------------------------------------------------------
def explanations(shop: Shop, start: date, end: date, fmt: str = "csv") -> httpx.Response:
    params = {"start_date": start.isoformat(), "end_date": end.isoformat(), "format": fmt}
    return shop.http.get("/sandbox/export/explanations", params=params)


@pytest.fixture(scope="module")
def schedule(shop: Shop) -> pl.DataFrame:
    r = explanations(shop, DAYS[0], DAYS[1], "parquet")
    assert r.status_code == 200, r.text
    frame = pl.read_parquet(io.BytesIO(r.content))
    assert frame.columns == ["room_id", "aweme_id", "date", "product_id", "start_time", "end_time"]
    text = explanations(shop, DAYS[0], DAYS[1]).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [tuple(r.values()) for r in rows] == [
        tuple(str(x) for x in row) for row in frame.iter_rows()
    ]
    return frame


@pytest.fixture(scope="module")
def served_rooms(shop: Shop) -> dict[int, dict[str, Any]]:
    out = {}
    for aweme in shop.aweme_ids:
        for d in DAYS:
            for r in shop.rooms(aweme, d, ["total_live_watch_cnt"]):
                out[int(r["room_id"])] = {**r, "aweme_id": aweme, "day": d}
    return out


def test_explanation_windows_tile_every_show_from_start_to_end_or_now(
    schedule: pl.DataFrame, served_rooms: dict[int, dict[str, Any]]
) -> None:
    assert set(schedule["room_id"].to_list()) == set(served_rooms)
    for (room_id,), windows in schedule.sort("start_time").group_by(["room_id"]):
        room = served_rooms[int(room_id)]
        assert set(windows["aweme_id"].to_list()) == {room["aweme_id"]}
        assert set(windows["date"].to_list()) == {room["day"].isoformat()}
        starts, ends = windows["start_time"].to_list(), windows["end_time"].to_list()
        assert starts[0] == room["start_time"]
        assert ends[-1] == (room["end_time"] or NOW_TEXT)  # a living show's window ends now
        assert starts[1:] == ends[:-1]  # contiguous, no overlap
        assert all(a < b for a, b in zip(starts, ends, strict=True))
        products = windows["product_id"].to_list()
        assert all(p != q for p, q in itertools.pairwise(products))
        lengths = [
            (parse(b) - parse(a)).total_seconds() / 60 for a, b in zip(starts, ends, strict=True)
        ]
        assert all(6 <= x <= 12 for x in lengths[:-1])  # the schedule's segments


def test_explanation_windows_agree_with_the_product_list(
    shop: Shop, schedule: pl.DataFrame, served_rooms: dict[int, dict[str, Any]]
) -> None:
    """The 巨量千川 product list's explain_status / explain count, polled now, agree."""
    living = [r for r, room in served_rooms.items() if not room["end_time"]]
    assert living, "the frozen clock has a show on air"
    for room_id in [*living, *list(served_rooms)[:2]]:
        data = shop.data(
            "v1.0/qianchuan/today_live/room/product_list/get/",
            room_id=room_id,
            fields=["live_product_explain_cnt"],
            page_size=100,
        )
        mine = schedule.filter(pl.col("room_id") == room_id)
        counts = Counter(mine["product_id"].to_list())
        for p in data["list"]:
            pid = int(p["productId"])
            assert p["live_product_explain_cnt"] == counts.get(pid, 0)
            assert (p["explain_status"] == "UNEXPLAIN") == (pid not in counts)
        being = [int(p["productId"]) for p in data["list"] if p["explain_status"] == "BEINGEXPLAIN"]
        if room_id in living:
            assert being == [mine.sort("start_time")["product_id"][-1]]
        else:
            assert being == []


def test_explanations_match_the_worlds_segments(
    server: RunningSandbox, schedule: pl.DataFrame
) -> None:
    world = server.sandbox.world
    now = NOW.timestamp()
    expected = []
    for s in world.iter_sessions(DAYS[0], DAYS[1]):
        ends = [*s.segment_start_s[1:].tolist(), float(s.duration_s)]
        for pos, a, b in zip(
            s.segment_product.tolist(), s.segment_start_s.tolist(), ends, strict=True
        ):
            if s.start_ts + a < now:
                pid = world.products[int(s.lineup[pos])].product_id
                t0 = datetime.fromtimestamp(s.start_ts + a, CHINA_TZ).strftime(FMT)
                t1 = datetime.fromtimestamp(min(s.start_ts + b, now), CHINA_TZ).strftime(FMT)
                expected.append((s.room_id, pid, t0, t1))
    got = schedule.select("room_id", "product_id", "start_time", "end_time").rows()
    assert sorted(got) == sorted(expected)


def test_explanations_refuse_bad_parameters(shop: Shop) -> None:
    assert explanations(shop, DAYS[0], DAYS[1], "xlsx").status_code == 400
    assert explanations(shop, DAYS[1], DAYS[0]).status_code == 400
    r = shop.http.get("/sandbox/export/explanations", params={"start_date": "2026-13-01"})
    assert r.status_code == 400
    assert "/sandbox/export/explanations" in " ".join(shop.http.get("/").json()["sandbox_paths"])


# ---- the published surges, over HTTP --------------------------------------------------------------
def test_surges_are_published_on_the_planned_evenings_away_from_their_products_windows(
    shop: Shop,
) -> None:
    truth = shop.http.get("/sandbox/truth").json()
    surges = truth["click_surges"]
    offsets = sorted((TODAY - date.fromisoformat(x["day"])).days for x in surges)
    assert offsets == sorted(w.CLICK_SURGE_DAYS)
    main = shop.aweme_ids[0]
    for x in surges:
        day = date.fromisoformat(x["day"])
        rooms = {int(r["room_id"]): r for r in shop.rooms(main, day, ["total_live_watch_cnt"])}
        room = rooms[x["room_id"]]
        assert "19:15:00" <= room["start_time"][11:] <= "19:45:00"  # the evening show
        assert 60 <= x["start_minute"] <= 150
        assert 8 <= x["end_minute"] - x["start_minute"] <= 12
        start = parse(room["start_time"])
        lo = start + timedelta(minutes=x["start_minute"] - w.CLICK_SURGE_MARGIN_MINUTES)
        hi = start + timedelta(minutes=x["end_minute"] + w.CLICK_SURGE_MARGIN_MINUTES)
        body = explanations(shop, day, day).text
        windows = [
            r
            for r in csv.DictReader(io.StringIO(body))
            if int(r["room_id"]) == x["room_id"] and int(r["product_id"]) == x["product_id"]
        ]
        assert windows, "the surging product is in the show's lineup"
        for r in windows:
            assert parse(r["end_time"]) <= lo or parse(r["start_time"]) >= hi, (x, r)
        assert x["expected_extra_clicks_per_minute"] > 0
    # the windowed truths say which window they are for
    for key in ("products", "regions"):
        window = truth[key]["window"]
        assert window["first_day"] == (TODAY - timedelta(days=30)).isoformat()
        assert window["last_day"] == (TODAY - timedelta(days=1)).isoformat()


# ---- the truths, Monte Carlo on a full-size shop ----------------------------------------------------
FIRST, LAST = TODAY - timedelta(days=30), TODAY - timedelta(days=1)


@pytest.fixture(scope="module")
def big() -> World:
    return World(7, TODAY, 40, 1.0)


def chi2_ok(observed: list[float], expected: list[float]) -> tuple[float, float]:
    """Pearson's statistic of counts that are sums of independent Bernoulli draws (variance
    at most the mean) and the 99.9% point of chi-square on as many cells: under the truth
    the statistic stays below it."""
    o, e = np.array(observed), np.array(expected)
    return float((((o - e) ** 2) / e).sum()), float(stats.chi2.ppf(0.999, o.size))


def test_realized_clicks_by_product_land_on_the_expected_values(big: World) -> None:
    truth = truth_products.products(big, FIRST, LAST)
    inside: dict[int, int] = defaultdict(int)
    outside: dict[int, int] = defaultdict(int)
    paid: dict[int, int] = defaultdict(int)
    for s in big.iter_sessions(FIRST, LAST):
        v = s.visits
        listed = set(s.segment_product.tolist())
        c = np.flatnonzero(v.clicked)
        seg = np.searchsorted(s.segment_start_s, v.click_s[c], "right") - 1
        during = v.product[c] == s.segment_product[seg]
        for pos in listed:
            pid = big.products[int(s.lineup[pos])].product_id
            mine = v.product[c] == pos
            inside[pid] += int((mine & during).sum())
            outside[pid] += int((mine & ~during).sum())
            paid[pid] += int((v.paid & (v.product == pos)).sum())
    items = truth["products"]
    assert len(items) >= 30
    for key, realized in (
        ("expected_clicks_explained", inside),
        ("expected_clicks_not_explained", outside),
        ("expected_paid_clicks", paid),
    ):
        stat, bound = chi2_ok([realized[x["product_id"]] for x in items], [x[key] for x in items])
        assert stat < bound, (key, stat, bound)
        total = sum(realized.values())
        expected = sum(x[key] for x in items)
        assert abs(total - expected) < 4 * np.sqrt(expected), (key, total, expected)
    # the published rates are built from those counts
    for x in items:
        clicks = x["expected_clicks_explained"] + x["expected_clicks_not_explained"]
        assert x["click_to_pay"] == pytest.approx(x["expected_paid_clicks"] / clicks, rel=1e-4)
        assert x["click_through"] == pytest.approx(clicks / x["visits"], rel=1e-3)


def test_expected_lift_and_click_to_pay_follow_the_planted_parameters(big: World) -> None:
    items = truth_products.products(big, FIRST, LAST)["products"]
    planted = np.array([x["planted_explanation_lift"] for x in items])
    lift = np.array([x["explanation_lift"] for x in items])
    # the metric's lift is not the planted weight (the traffic and the other products move
    # it) but it follows it closely
    assert np.corrcoef(planted, lift)[0, 1] > 0.9
    flat = planted <= w.EXPLAIN_FLAT_RANGE[1]
    assert flat.sum() >= 3
    assert lift[flat].max() < lift[~flat].mean()
    conv = np.array([x["planted_conversion_factor"] for x in items])
    ctp = np.array([x["click_to_pay"] for x in items])
    assert stats.spearmanr(conv, ctp).statistic > 0.9
    assert ctp.max() / ctp.min() > 1.8  # products clearly differ in click-to-pay


def test_best_product_is_the_highest_click_to_pay_with_enough_sales(big: World) -> None:
    truth = truth_products.products(big, FIRST, LAST)
    items = truth["products"]
    ok = [x for x in items if x["expected_paid_clicks"] >= x["shows"]]
    assert 0 < len(ok) <= len(items)
    best = max(ok, key=lambda x: x["click_to_pay"])
    assert truth["best_by_click_to_pay"] == best["product_id"]


def test_realized_buyers_by_province_land_on_the_expected_values(big: World) -> None:
    truth = truth_products.regions(big, FIRST, LAST)
    viewers: dict[int, set[int]] = defaultdict(set)
    buyers: dict[int, set[int]] = defaultdict(set)
    for s in big.iter_sessions(FIRST, LAST):
        v = s.visits
        prov = big.population.province[v.viewer]
        for p, vid, paid in zip(prov.tolist(), v.viewer.tolist(), v.paid.tolist(), strict=True):
            viewers[p].add(vid)
            if paid:
                buyers[p].add(vid)
    rows = truth["provinces"]
    assert [r["province"] for r in rows] == [p for p, _, _ in catalog.PROVINCES]
    assert [r["viewers"] for r in rows] == [len(viewers[i]) for i in range(len(rows))]
    stat, bound = chi2_ok(
        [len(buyers[i]) for i in range(len(rows))], [r["expected_buyers"] for r in rows]
    )
    assert stat < bound
    n_all, b_all = sum(len(x) for x in viewers.values()), sum(len(x) for x in buyers.values())
    realized = {
        r["province"]: (len(buyers[i]) / len(viewers[i])) / (b_all / n_all)
        for i, r in enumerate(rows)
    }
    index = {r["province"]: r["expected_index"] for r in rows}
    for big_one in ("广东", "上海", "北京", "河南"):
        assert realized[big_one] == pytest.approx(index[big_one], abs=0.12)
    assert index["上海"] > 1.15  # the planted extremes show
    assert index["西藏"] < 0.6
    # the visit-weighted mean of the planted multipliers is 1
    weight = np.diff(big.population.cum_weight, prepend=0.0)
    share = np.bincount(big.population.province, weights=weight) / weight.sum()
    assert float(share @ np.array([r["planted_multiplier"] for r in rows])) == pytest.approx(
        1.0, abs=1e-3
    )


def test_surges_draw_far_more_clicks_than_an_explanation(big: World) -> None:
    surges = big.click_surges()
    assert [(TODAY - x.day).days for x in surges] == sorted(w.CLICK_SURGE_DAYS, reverse=True)
    for x in surges:
        s = big.session_by_room(x.room_id)
        assert s is not None
        assert s.account.index == 0
        assert s.slot == "evening"
        v = s.visits
        pos = s.surge_pos
        assert big.products[int(s.lineup[pos])].product_id == x.product_id
        # not explained from the margin before to the margin after the surge
        ends = np.append(s.segment_start_s[1:], s.duration_s)
        mine = s.segment_product == pos
        lo = (x.start_minute - w.CLICK_SURGE_MARGIN_MINUTES) * 60
        hi = (x.end_minute + w.CLICK_SURGE_MARGIN_MINUTES) * 60
        assert not ((s.segment_start_s[mine] < hi) & (ends[mine] > lo)).any()
        c = np.flatnonzero(v.clicked)
        minute = v.click_s[c] / 60
        in_surge = (v.product[c] == pos) & (minute >= x.start_minute) & (minute < x.end_minute)
        surge_rate = in_surge.sum() / (x.end_minute - x.start_minute)
        seg = np.searchsorted(s.segment_start_s, v.click_s[c], "right") - 1
        explained_rate = (v.product[c] == s.segment_product[seg]).sum() / (s.duration_s / 60)
        assert surge_rate > 2 * explained_rate, (x, surge_rate, explained_rate)
