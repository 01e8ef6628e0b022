"""The on-duty person's terminal view: each room's key figures and the open alerts (rich).

Room titles, 抖音号 names and product titles are upstream text: a plain ``str`` cell of a rich
table is read as console markup (``[link=…]``, ``[bold]``), so every such cell is a ``Text``
(never parsed) holding :func:`livekit.text.plain_text` (no control characters: an escape
sequence in a title must not reach the terminal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from livekit.text import plain_text
from livekit.vocab.labels import SEVERITY_LABELS

if TYPE_CHECKING:
    from rich.console import RenderableType

    from livekit.monitor.live import LiveState

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@dataclass(frozen=True)
class OpenAlert:
    severity: str
    state: str  # pending | firing
    rule: str
    where: str  # room (and product) title
    value_text: str
    since: datetime


@dataclass(frozen=True)
class TickInfo:
    at: datetime
    tick: int
    requests: int
    interval_s: float
    errors: Sequence[str] = ()
    outbox_pending: int = 0
    outbox_failed: int = 0


def _fmt(value: float | None, digits: int = 1, pct: bool = False) -> str:
    if value is None:
        return "—"
    if pct:  # rates are fractions
        return f"{100.0 * value:.1f}%"
    return f"{value:,.{digits}f}"


def render(live: LiveState, alerts: Sequence[OpenAlert], info: TickInfo) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rooms = Table(title="开播中的直播间（近 5 分钟）", expand=True, title_justify="left")
    for name, justify in (
        ("直播间", "left"),
        ("抖音号", "left"),
        ("开播分钟", "right"),
        ("新进观众/分", "right"),
        ("评论/分", "right"),
        ("商品点击/分", "right"),
        ("点击率", "right"),
        ("成交单/分", "right"),
        ("成交额/分（元）", "right"),
        ("点击-成交率", "right"),
        ("距上一单（分）", "right"),
    ):
        rooms.add_column(name, justify=justify)  # type: ignore[arg-type]
    metrics = (
        "new_viewers_per_min",
        "comments_per_min",
        "clicks_per_min",
        "click_rate",
        "orders_per_min",
        "gmv_per_min",
        "conversion_rate",
        "minutes_since_order",
    )
    for key in live.series("room"):
        values = {m: live.value(m, key, 5).value for m in metrics}
        v = values.get
        rooms.add_row(
            Text(plain_text(key.labels.get("room_title", str(key.room_id)), 24)),
            Text(plain_text(key.labels.get("aweme_name", ""), 12)),
            str(live.minute_of_show(key) or 0),
            _fmt(v("new_viewers_per_min")),
            _fmt(v("comments_per_min")),
            _fmt(v("clicks_per_min")),
            _fmt(v("click_rate"), pct=True),
            _fmt(v("orders_per_min"), 2),
            _fmt(v("gmv_per_min"), 0),
            _fmt(v("conversion_rate"), pct=True),
            _fmt(v("minutes_since_order"), 0),
        )
    if not rooms.rows:
        rooms.caption = "当前没有开播的直播间"

    table = Table(title="未恢复的告警", expand=True, title_justify="left")
    for name in ("级别", "状态", "规则", "直播间/商品", "当前值", "开始于"):
        table.add_column(name)
    for a in sorted(alerts, key=lambda a: (a.severity != "critical", a.since)):
        style = SEVERITY_STYLE.get(a.severity, "")
        table.add_row(
            Text(SEVERITY_LABELS.get(a.severity, a.severity), style=style),
            "触发" if a.state == "firing" else "待定",
            Text(plain_text(a.rule)),
            Text(plain_text(a.where, 60)),
            Text(plain_text(a.value_text)),
            a.since.strftime("%H:%M"),
        )
    if not table.rows:
        table.caption = "没有未恢复的告警"

    status = (
        f"第 {info.tick} 次轮询  {info.at:%Y-%m-%d %H:%M:%S}  本次请求 {info.requests} 次"
        f"  间隔 {info.interval_s:g} 秒  待发送通知 {info.outbox_pending}"
    )
    if info.outbox_failed:
        status += f"  [red]发送失败 {info.outbox_failed}[/]"
    parts: list[RenderableType] = [Text.from_markup(status), rooms, table]
    for err in info.errors[:3]:
        parts.append(Text(f"⚠ {plain_text(err, 300)}", style="yellow"))
    return Group(*parts)
