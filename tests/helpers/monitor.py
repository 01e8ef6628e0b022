"""A metric source the alert-engine tests drive by hand, and rule texts."""

from __future__ import annotations

import textwrap
from collections import Counter
from datetime import datetime, timedelta

from livekit.monitor.rules import RuleSet, parse_rules
from livekit.monitor.types import MetricValue, Scope, SeriesKey
from livekit.vocab.tz import CHINA_TZ

T0 = datetime(2026, 11, 26, 19, 30, tzinfo=CHINA_TZ)
ROOM = 7712444602198282552
ROOM2 = 7712454136862806925
PRODUCT = 3971491932911412113


class FakeSource:
    """Rooms and products on air, values set by the test, a clock it moves."""

    def __init__(self) -> None:
        self.t = T0
        self.rooms: dict[int, dict[str, str]] = {}
        self.products: dict[tuple[int, int], str] = {}
        self.started: dict[int, datetime] = {}
        self.values: dict[tuple[str, str], MetricValue] = {}
        self.history: dict[tuple[str, str], float] = {}
        self.calls: Counter[tuple[str, str]] = Counter()

    def add_room(self, room_id: int = ROOM, title: str = "今晚上新", aweme: str = "主号") -> None:
        self.rooms[room_id] = {"room_title": title, "aweme_name": aweme}
        self.started[room_id] = self.t

    def add_product(self, room_id: int = ROOM, product_id: int = PRODUCT) -> None:
        self.products[(room_id, product_id)] = "爆款面膜"

    def set(
        self,
        metric: str,
        value: float | None,
        ident: str = f"room={ROOM}",
        den: float | None = None,
        explained: bool | None = None,
    ) -> None:
        self.values[(metric, ident)] = MetricValue(value, den, explained)

    def advance(self, minutes: float) -> None:
        self.t += timedelta(minutes=minutes)

    # ---- MetricSource ----
    def now(self) -> datetime:
        return self.t

    def series(self, scope: Scope) -> list[SeriesKey]:
        out = []
        for room_id, labels in self.rooms.items():
            base = {"room_id": str(room_id), **labels}
            if scope == "room":
                out.append(SeriesKey("room", room_id, None, base))
            else:
                for (r, pid), title in self.products.items():
                    if r == room_id:
                        out.append(
                            SeriesKey(
                                "product",
                                room_id,
                                pid,
                                {**base, "product_id": str(pid), "product_title": title},
                            )
                        )
        return out

    def value(self, metric: str, key: SeriesKey, window_min: float) -> MetricValue:
        self.calls[(metric, key.ident)] += 1
        return self.values.get((metric, key.ident), MetricValue(None))

    def minute_of_show(self, key: SeriesKey) -> int | None:
        return int((self.t - self.started[key.room_id]).total_seconds() // 60)

    def history_median(
        self, metric: str, key: SeriesKey, minute: int, window_min: float
    ) -> float | None:
        return self.history.get((metric, key.ident))


def rules(body: str, head: str = "") -> RuleSet:
    text = (
        "version: 1\n"
        + textwrap.dedent(head)
        + "rules:\n"
        + textwrap.indent(textwrap.dedent(body), "  ")
    )
    return parse_rules(text, source="test.yaml")


LOW_VIEWERS = """
- name: 新进观众过少
  metric: new_viewers_per_min
  scope: room
  condition: {type: threshold, op: below, value: 10}
  for: 3
  repeat: 30
  message: "{{ room_title }} 新进观众 {{ value_text }}（第 {{ minute }} 分钟）"
"""
