"""Hostile upstream text in alert messages: no live link, mention or markup on any channel.

Every payload of :data:`livekit.sandbox.hostile.PAYLOADS` and the 10 kB :data:`LONG` goes in as
room title, product title and 抖音号 name at once. The message is built by the real engine from a
rules file (one product rule with the default template, one room rule whose template uses
Markdown of its own), sent by the real channel code to the loopback receivers and a real aiosmtpd
server, and the checks read what the receiver got.

"No live link" per format:

- plain text (飞书 text/post, e-mail text part, console, webhook ``text``): no ``://``, no
  ``www.``, no ``outside.invalid`` host name (so neither the message syntax nor a client's link
  detector finds an address), no ``<`` before a letter, ``@`` or ``/`` (飞书 reads ``<at>``,
  ``<b>`` tags) and no ``](`` (飞书 text reads ``[text](url)`` links);
- Markdown (钉钉, 企业微信, webhook ``markdown``): the same, and two real renderers
  (markdown-it-py with HTML on, mistune with its bare-URL plugin) find no link, image or HTML in
  it, and find the very same structure (token types) as for a message with harmless titles —
  the values add no markup of their own;
- e-mail HTML part: only the tags we write, no attribute but ``lang`` and ``charset``, and the
  plain-text checks on its text;
- e-mail headers: exactly the headers of a harmless message, subject on one line.

"Readable": the base text (直播间甲, 商品乙, 主播丙) and every character of the value as
:func:`livekit.text.plain_text` shows it are still there, up to NFKC (which folds the full-width
look-alikes the values use for markup characters back to ASCII).
"""

from __future__ import annotations

import asyncio
import io
import re
import textwrap
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, cast

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livekit.monitor.engine import Engine
from livekit.monitor.notify import (
    ConsoleChannel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SmtpTarget,
    WebhookChannel,
    WeComChannel,
)
from livekit.monitor.notify.channels import Channel
from livekit.monitor.rules import parse_rules
from livekit.monitor.types import Message, MetricValue, Scope, SeriesKey
from livekit.sandbox.hostile import LONG, OUTSIDE_HOST, PAYLOADS
from livekit.text import plain_text
from tests.helpers.markup import parse_html
from tests.helpers.notify_receivers import Receivers, running_receivers, running_smtp

CN = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 27, 20, 0, tzinfo=CN)
ROOM, PRODUCT = 7712444602198282552, 3971491932911412113
BASES = {"room_title": "直播间甲", "product_title": "商品乙", "aweme_name": "主播丙"}
CASES = (*PAYLOADS, LONG)
CASE_IDS = [f"p{i:02d}" for i in range(len(PAYLOADS))] + ["long"]
CASE_PARAMS = list(zip(CASE_IDS, CASES, strict=True))
ALL_CHANNELS = "[console, feishu, dingtalk, wecom, email, webhook]"
RULES = textwrap.dedent(
    f"""\
    version: 1
    rules:
      - name: 库存告急
        metric: inventory
        scope: product
        condition: {{type: threshold, op: below, value: 10}}
        channels: {ALL_CHANNELS}
      - name: 新进观众过少
        metric: new_viewers_per_min
        scope: room
        condition: {{type: threshold, op: below, value: 10}}
        channels: {ALL_CHANNELS}
        message: "**{{{{ aweme_name }}}}** 的 {{{{ room_title }}}}：{{{{ metric_label }}}} {{{{ value_text }}}}"
    """
)


class Source:
    """One room with one product on air, both below their rule's line, labels as given."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels

    def now(self) -> datetime:
        return T0

    def series(self, scope: Scope) -> list[SeriesKey]:
        room = {"room_id": str(ROOM), "room_title": self.labels["room_title"]}
        room["aweme_name"] = self.labels["aweme_name"]
        if scope == "room":
            return [SeriesKey("room", ROOM, None, room)]
        product = {**room, "product_id": str(PRODUCT)}
        product["product_title"] = self.labels["product_title"]
        return [SeriesKey("product", ROOM, PRODUCT, product)]

    def value(self, metric: str, key: SeriesKey, window_min: float) -> MetricValue:
        return MetricValue(3.0)

    def minute_of_show(self, key: SeriesKey) -> int | None:
        return 42

    def history_median(
        self, metric: str, key: SeriesKey, minute: int, window_min: float
    ) -> float | None:
        return None


def labels_for(payload: str) -> dict[str, str]:
    return {field: base + payload for field, base in BASES.items()}


def build(labels: dict[str, str], state: Path) -> Message:
    """The one message the real engine sends when both rules fire."""
    engine = Engine(parse_rules(RULES, source="alerts.yaml"), state)
    [outgoing] = engine.evaluate(Source(labels)).outgoing
    return outgoing.message


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Message]:
    folder = tmp_path_factory.mktemp("engine")
    built = {"benign": build(dict(BASES), folder / "benign.json")}
    for case_id, payload in zip(CASE_IDS, CASES, strict=True):
        built[case_id] = build(labels_for(payload), folder / f"{case_id}.json")
    return built


@pytest.fixture(scope="module")
def rx() -> Iterator[Receivers]:
    with running_receivers() as receivers:
        yield receivers


def send(channel: Channel, message: Message) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            await channel.send(message, client)

    asyncio.run(go())


# ---- what the checks look for -------------------------------------------------------------
def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


LIVE_IN_TEXT = {
    "a URL scheme": re.compile(r"://"),
    "a www. address": re.compile(r"(?i)www\."),
    "the outside host name": re.compile(re.escape(OUTSIDE_HOST), re.IGNORECASE),
    "a tag (<at>, <b>, <a>, <@all>)": re.compile(r"<\s*[A-Za-z@/!]"),
    "a [text](url) link": re.compile(r"\]\s*\("),
    "an e-mail address": re.compile(r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.[A-Za-z]"),
}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def assert_inert_text(received: str, payload: str) -> None:
    """No live link, tag or mention in plain text; the values still readable."""
    for what, pattern in LIVE_IN_TEXT.items():
        found = pattern.search(received)
        assert found is None, (
            f"{what} in {received[max(0, found.start() - 40) : found.end() + 40]!r}"
        )
    assert not CONTROL.search(received), "an invisible or control character got through"
    assert_readable(received, payload)


def assert_readable(received: str, payload: str, fields: tuple[str, ...] = tuple(BASES)) -> None:
    folded = nfkc(received)
    for field in fields:
        assert BASES[field] in received
        shown = nfkc(plain_text(BASES[field] + payload))
        assert shown in folded, f"{field} not readable: {shown[:80]!r} missing"


def markdown_it_tokens(markdown: str) -> list[Any]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    flat: list[Any] = []
    for token in md.parse(markdown):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def mistune_nodes(markdown: str) -> list[dict[str, Any]]:
    import mistune

    parse = mistune.create_markdown(renderer="ast", plugins=["url", "strikethrough", "table"])
    out: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            out.append(node)
            walk(node.get("children") or [])

    walk(cast(list[dict[str, Any]], parse(markdown)))
    return out


def structure(markdown: str) -> list[str]:
    """The token types a renderer sees, text runs left out."""
    return [t.type for t in markdown_it_tokens(markdown) if t.type not in ("text", "text_special")]


def assert_inert_markdown(received: str, benign: str, payload: str) -> None:
    """Rendered by two real Markdown parsers: nothing but our own markup."""
    assert_inert_text(received, payload)
    tokens = markdown_it_tokens(received)
    live = [t.type for t in tokens if t.type in ("link_open", "image", "html_inline", "html_block")]
    assert not live, f"markdown-it found {live}"
    nodes = mistune_nodes(received)
    live = [n["type"] for n in nodes if n["type"] in ("link", "image", "inline_html", "block_html")]
    assert not live, f"mistune found {live}"
    assert structure(received) == structure(benign)
    # what a reader sees once rendered: the text runs, entities decoded
    shown = "".join(t.content for t in tokens if t.type in ("text", "text_special"))
    assert_readable(shown, payload)


# ---- the renderers do find markup (so the checks above can fail) ---------------------------
def test_the_checks_catch_raw_payloads() -> None:
    raw = f"- **x** [点此领券](http://{OUTSIDE_HOST}/a) <b>b</b> http://{OUTSIDE_HOST}/c"
    assert {"link_open", "html_inline"} <= {t.type for t in markdown_it_tokens(raw)}
    assert "link" in {n["type"] for n in mistune_nodes(f"see http://{OUTSIDE_HOST}/c")}
    with pytest.raises(AssertionError):
        assert_inert_text('主播丙<at user_id="all">所有人</at>', '<at user_id="all">所有人</at>')


def test_trusted_template_markup_survives(messages: dict[str, Message]) -> None:
    """Only values are made inert: the template's own ``**`` and ours still render as bold."""
    for case in ("benign", "p11", "p17"):
        tokens = markdown_it_tokens(messages[case].markdown)
        strong = [t for t in tokens if t.type == "strong_open"]
        assert len(strong) == 3  # two notice tags + the rule's **{{ aweme_name }}**


def test_ordinary_titles_are_unchanged() -> None:
    """Real titles keep their look: Chinese punctuation, decimals, percentages, spaces."""
    from livekit.monitor.markup import message_markdown, message_text

    for title in (
        "【爆款】加厚羽绒服 3.5折 限时秒杀",
        "悦好生活官方旗舰店",
        "点击率 12.5%",
        "第 42 分钟",
    ):
        assert message_text(title) == title
        assert message_markdown(title) == title
    assert message_text(None) == ""
    assert message_markdown("- 清仓") == "－ 清仓"  # would start a list at a line start
    assert message_markdown("1. 首发") == "1． 首发"
    assert message_markdown("=== 清仓") == "＝＝＝ 清仓"
    assert message_markdown("3.5折 -50%") == "3.5折 -50%"


def test_values_only_not_the_template_are_made_inert() -> None:
    """The same template, rendered for both formats: the user's own Markdown and mention are
    kept as written, the value's are not; a None value renders as nothing."""
    from livekit.monitor.rules import compile_template

    source = '**注意** <at user_id="all">所有人</at> {{ t }} {{ n }}'
    t = "[券](http://x.invalid) **粗**"
    text = compile_template(source, "text").render(t=t, n=None)
    markdown = compile_template(source, "markdown").render(t=t, n=None)
    assert text.startswith('**注意** <at user_id="all">所有人</at> ')
    assert markdown.startswith('**注意** <at user_id="all">所有人</at> ')
    assert text.endswith("［券］(http：//x．invalid) **粗** ")
    assert markdown.endswith("［券］（http：//x．invalid） ＊＊粗＊＊ ")


MARKUP_HEAVY = st.text(
    st.sampled_from(list("<>[]()*_`~#|!&\\$^@:/.-+=1aZw 中\u200b\u202e\n\t\x1b")) | st.characters(),
    max_size=60,
)


@settings(max_examples=300)
@given(MARKUP_HEAVY)
def test_any_value_is_inert_and_complete(value: str) -> None:
    """Whatever the value: rendered as robot Markdown after our own text it is one run of text
    (markdown-it and mistune agree), plain text has no tag, link or address syntax, and NFKC
    gives back exactly what plain_text shows (nothing dropped)."""
    from livekit.monitor.markup import message_markdown, message_text

    md, text = message_markdown(value), message_text(value)
    kinds = {t.type for t in markdown_it_tokens("直播间：" + md)}
    assert kinds <= {"paragraph_open", "inline", "text", "paragraph_close"}, md
    assert {n["type"] for n in mistune_nodes("直播间：" + md)} <= {"paragraph", "text"}, md
    for what, pattern in LIVE_IN_TEXT.items():
        if what != "the outside host name":
            assert not pattern.search(text), (what, text)
    assert not CONTROL.search(text + md)
    assert nfkc(md) == nfkc(plain_text(value)) == nfkc(text)


# ---- one test per channel -------------------------------------------------------------------
@pytest.mark.parametrize(("case", "payload"), CASE_PARAMS, ids=CASE_IDS)
@pytest.mark.parametrize("msg_type", ["text", "post"])
def test_feishu(
    rx: Receivers,
    messages: dict[str, Message],
    case: str,
    payload: str,
    msg_type: Literal["text", "post"],
) -> None:
    """飞书 text messages read ``<at user_id="all">``, ``<b>`` and ``[text](url)``; post text
    elements are literal, but the client still links anything that looks like an address."""
    rx.reset()
    url = rx.url_for("feishu", "hostile-feishu-token-0001", secret="hostile-feishu-secret")
    channel = FeishuChannel(
        "feishu",
        url,
        "hostile-feishu-secret",
        msg_type=msg_type,
        limits=(),
    )
    send(channel, messages[case])
    [request] = rx.received["feishu"]
    assert request.body["msg_type"] == msg_type
    assert_inert_text(request.text, payload)


@pytest.mark.parametrize(("case", "payload"), CASE_PARAMS, ids=CASE_IDS)
def test_dingtalk(rx: Receivers, messages: dict[str, Message], case: str, payload: str) -> None:
    """钉钉 Markdown: no link, image or HTML when rendered; no @everyone (``isAtAll``)."""
    rx.reset()
    url = rx.url_for("dingtalk", "hostile-dingtalk-token-0002", secret="SEChostile-dingtalk")
    send(DingTalkChannel("dingtalk", url, "SEChostile-dingtalk", limits=()), messages[case])
    [request] = rx.received["dingtalk"]
    assert "at" not in request.body
    assert request.body["markdown"]["title"] == messages[case].title
    assert_inert_markdown(request.text, messages["benign"].markdown, payload)


@pytest.mark.parametrize(("case", "payload"), CASE_PARAMS, ids=CASE_IDS)
def test_wecom(rx: Receivers, messages: dict[str, Message], case: str, payload: str) -> None:
    """企业微信 Markdown: no link, ``<font>`` or ``<@userid>`` mention; within 4096 bytes."""
    rx.reset()
    url = rx.url_for("wecom", "hostile-wecom-key-0003")
    send(WeComChannel("wecom", url, limits=()), messages[case])
    [request] = rx.received["wecom"]
    content = request.body["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert "<font" not in content
    assert "<@" not in content
    assert_inert_markdown(content, messages["benign"].markdown, payload)


@pytest.mark.parametrize(("case", "payload"), CASE_PARAMS, ids=CASE_IDS)
def test_webhook(rx: Receivers, messages: dict[str, Message], case: str, payload: str) -> None:
    """The generic webhook is data, but its ``text`` and ``markdown`` fields get shown: both
    inert, in their format."""
    rx.reset()
    url = rx.url_for("webhook", "hostile-hook-token-0004", secret="hostile-hook-secret")
    send(WebhookChannel("webhook", url, "hostile-hook-secret"), messages[case])
    [request] = rx.received["webhook"]
    assert_inert_text(request.body["text"], payload)
    assert request.body["title"] == messages[case].title == messages["benign"].title
    assert_inert_markdown(request.body["markdown"], messages["benign"].markdown, payload)


@pytest.mark.parametrize(("case", "payload"), CASE_PARAMS, ids=CASE_IDS)
def test_console(messages: dict[str, Message], case: str, payload: str) -> None:
    """The console prints text literally (no rich markup, no emoji codes, no terminal escape)."""
    stream = io.StringIO()
    send(ConsoleChannel("console", stream), messages[case])
    out = stream.getvalue()
    assert "\x1b" not in out
    assert_inert_text(out, payload)


OUR_TAGS = {"html", "head", "meta", "title", "body", "h1", "h2", "h3", "h4", "p", "ul", "li", "b"}


@pytest.fixture(scope="module")
def smtp_mails(messages: dict[str, Message]) -> dict[str, Any]:
    """Every case sent once through a real SMTP server."""
    got: dict[str, Any] = {}
    with running_smtp() as smtp:
        channel = EmailChannel("email", SmtpTarget.parse(smtp.url), ["ops@example.com"])
        for case in ["benign", *CASE_IDS]:
            send(channel, messages[case])
            got[case] = smtp.messages[-1]
    return got


@pytest.mark.parametrize(("case", "payload"), CASE_PARAMS, ids=CASE_IDS)
def test_email(smtp_mails: dict[str, Any], case: str, payload: str) -> None:
    """E-mail: the same headers as a harmless message; the text part inert as plain text; the
    HTML part holds only our tags (no ``<a>``, ``<img>``, ``<script>``, no URL attribute)."""
    mail, benign = smtp_mails[case], smtp_mails["benign"]
    assert mail.rcpt_tos == ["ops@example.com"]
    assert sorted(mail.message.keys()) == sorted(benign.message.keys())
    assert mail.message["Subject"] == benign.message["Subject"]
    assert_inert_text(mail.part("plain"), payload)
    parser = parse_html(mail.part("html"))
    for tag, attrs in parser.tags:
        assert tag in OUR_TAGS, f"<{tag}> in the HTML part"
        assert {name for name, _ in attrs} <= {"lang", "charset"}, f"<{tag} {attrs}>"
    assert_inert_text("".join(parser.text), payload)


def test_email_subject_cannot_add_headers(tmp_path: Path) -> None:
    """A line break in a title (rule names are free text) never starts a header of its own."""
    with running_smtp() as smtp:
        channel = EmailChannel("email", SmtpTarget.parse(smtp.url), ["ops@example.com"])
        evil = Message(
            key="k1\r\nX-Injected: 1",
            kind="firing",
            severity="warning",
            title=f"告警\r\nBcc: victim@{OUTSIDE_HOST}\nX-Injected: yes",
            text="正文",
            markdown="正文",
            created_at=T0,
        )
        send(channel, evil)
        [mail] = smtp.messages
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.message["Bcc"] is None
    assert mail.message["X-Injected"] is None
    assert "\n" not in str(mail.message["Subject"])
    assert str(mail.message["Subject"]).startswith("告警 Bcc:")


def test_digest_of_hostile_messages_stays_inert(
    rx: Receivers, messages: dict[str, Message], tmp_path: Path
) -> None:
    """A rate-limited robot gets one digest of several hostile messages: still inert."""
    from livekit.monitor.notify import Backoff, Outbox

    rx.reset()
    url = rx.url_for("wecom", "hostile-wecom-key-0005")
    box = Outbox(tmp_path / "outbox.json", backoff=Backoff(initial_s=1, max_s=60, jitter_s=0))
    now = datetime.now(CN)
    picked = [messages[c] for c in ("p04", "p11", "p16")]
    distinct = [
        Message(f"{m.key}-{i}", m.kind, m.severity, m.title, m.text, m.markdown, m.created_at)
        for i, m in enumerate(picked)
    ]
    box.enqueue(distinct, ["wecom"], now=now)
    chans: dict[str, Channel] = {"wecom": WeComChannel("wecom", url)}
    rx.set_rate_limited("wecom", 1)

    async def pump(at: datetime) -> Any:
        async with httpx.AsyncClient() as client:
            return await box.pump(chans, client, now=at)

    at = now
    for _ in range(6):  # virtual time: the robot's block and the minute window pass
        if asyncio.run(pump(at)).pending == 0:
            break
        at += timedelta(minutes=11)
    assert len(rx.requests["wecom"]) >= 2  # throttled once, then delivered
    assert not box.pending()
    contents = [r.body["markdown"]["content"] for r in rx.received["wecom"]]
    assert contents
    for content in contents:
        for pattern in LIVE_IN_TEXT.values():
            assert not pattern.search(content)
        kinds = {t.type for t in markdown_it_tokens(content)}
        assert not kinds & {"link_open", "image", "html_inline", "html_block"}


def test_view_shows_titles_literally() -> None:
    """The terminal view: a ``[link=…]`` or escape sequence in a title is shown, not obeyed."""
    from rich.console import Console

    from livekit.monitor.view import OpenAlert, TickInfo, render

    title = f"直播间甲[link=http://{OUTSIDE_HOST}/x]点我[/link][bold]粗[/bold]\x1b]8;;http://{OUTSIDE_HOST}\x1b\\"
    labels = {"room_id": str(ROOM), "room_title": title, "aweme_name": "主播丙[red]x[/red]"}

    class Live:
        def series(self, scope: Scope) -> list[SeriesKey]:
            return [SeriesKey("room", ROOM, None, labels)]

        def value(self, metric: str, key: SeriesKey, window_min: float) -> MetricValue:
            return MetricValue(1.0)

        def minute_of_show(self, key: SeriesKey) -> int:
            return 3

    alert = OpenAlert("warning", "firing", "规则[bold]", title, "3.0", T0)
    info = TickInfo(T0, 1, 2, 10.0, (f"错误[link=http://{OUTSIDE_HOST}]x[/link]",))
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, color_system="truecolor", width=400)
    console.print(render(cast(Any, Live()), [alert], info))
    out = stream.getvalue()
    assert "\x1b]8;" not in out  # no terminal hyperlink (OSC 8), from markup or from the title
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "[link=" in plain
    assert "[bold]" in plain
    assert "直播间甲" in plain


# ---- end to end: the sandbox serves hostile titles, the real monitor sends them --------------
def test_monitor_against_hostile_sandbox_sends_inert_messages(
    rx: Receivers, tmp_path: Path
) -> None:
    """The sandbox's ``hostile_text`` world (a payload in every title and name), replayed
    through the real poller, live state, engine and outbox with the shipped rules routed to
    every robot: each robot gets the stock-out alert, readable and inert."""
    from livekit.jobs import replay_sandbox
    from livekit.monitor.notify import parse_channel_specs, resolve_channels
    from livekit.sandbox.config import SandboxConfig
    from livekit.sandbox.world import CHINA_TZ, World
    from tests.helpers.sandbox import TODAY
    from tests.helpers.sync import make_settings

    rx.reset()
    rules_path = Path(__file__).resolve().parents[1] / "params" / "alerts.yaml"
    text = rules_path.read_text(encoding="utf-8")
    text = text.replace(
        "channels: [console]", "channels: [console, feishu, dingtalk, wecom, webhook]", 1
    )
    # and two rules that fire at once for every room and product on air: every title is sent
    text += textwrap.indent(
        textwrap.dedent(
            """
            - name: 每个直播间
              metric: new_viewers_per_min
              scope: room
              condition: {type: threshold, op: above, value: -1}
              message: "{{ aweme_name }} / {{ room_title }}：{{ value_text }}"
            - name: 每个商品
              metric: inventory
              scope: product
              condition: {type: threshold, op: above, value: -1}
            """
        ),
        "  ",
    )
    ruleset = parse_rules(text, str(rules_path))
    env = {
        "LIVEKIT_FEISHU_WEBHOOK": rx.url_for("feishu", "e2e-feishu-token-000006"),
        "LIVEKIT_DINGTALK_WEBHOOK": rx.url_for("dingtalk", "e2e-dingtalk-token-00007"),
        "LIVEKIT_WECOM_WEBHOOK": rx.url_for("wecom", "e2e-wecom-key-000008"),
        "LIVEKIT_WEBHOOK_URL": rx.url_for("webhook", "e2e-hook-token-000009"),
    }
    console = io.StringIO()
    channels = resolve_channels(
        parse_channel_specs(ruleset.channels),
        set(ruleset.channel_names()),
        env,
        console_stream=console,
    )
    world = World(7, TODAY, 90, 1.0, hostile_text=True)
    [incident] = [i for i in world.incidents() if i.kind == "stockout"]
    session = world.session_by_room(incident.room_id)
    assert session is not None
    [product] = [p for p in world.products if p.product_id == incident.product_id]
    start = datetime.fromtimestamp(session.start_ts, CHINA_TZ) + timedelta(seconds=30)
    end = start + timedelta(minutes=incident.start_minute + 10)
    replay_sandbox(
        [(start, end)],
        ruleset=ruleset,
        channels=channels,
        settings=make_settings(tmp_path),
        config=SandboxConfig(seed=7, today=TODAY, scale=1.0, hostile_text=True),
    )
    shown = nfkc(plain_text(product.title))
    assert any(product.title.endswith(p) for p in CASES)  # the world really is hostile
    received = {
        "feishu": rx.texts("feishu"),
        "dingtalk": rx.texts("dingtalk"),
        "wecom": rx.texts("wecom"),
        "webhook": [r.body["markdown"] for r in rx.received["webhook"]],
        "console": [console.getvalue()],
    }
    room = nfkc(plain_text(session.title))
    assert any(session.title.endswith(p) for p in CASES)
    for kind, texts in received.items():
        assert any(shown in nfkc(t) for t in texts), f"{kind}: the sold-out product is missing"
        assert any(room in nfkc(t) for t in texts), f"{kind}: the room title is missing"
        for t in texts:
            for what, pattern in LIVE_IN_TEXT.items():
                assert not pattern.search(t), f"{kind}: {what}"
            assert not CONTROL.search(t), kind
            if kind in ("dingtalk", "wecom", "webhook"):
                live = {"link_open", "image", "html_inline", "html_block"}
                assert not live & {tok.type for tok in markdown_it_tokens(t)}, kind
