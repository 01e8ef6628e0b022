"""Notifiers against real receivers on loopback: shapes, signatures, limits, digests, restarts.

The HTTP receivers (tests/notify_receivers.py) verify signatures the way the IMs do and answer
with the IMs' own success, error and rate-limit bodies; e-mail goes to a real aiosmtpd server.
Time for the outbox is virtual (``now`` is passed to ``pump``), so backoffs cost nothing.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from livekit.monitor.notify import (
    Backoff,
    Channel,
    ChannelSpec,
    ConsoleChannel,
    DeliveryError,
    FeishuChannel,
    Outbox,
    PumpResult,
    Throttled,
    resolve_channels,
    test_channels,
)
from livekit.monitor.types import Message
from tests.helpers.notify_receivers import Receivers, running_receivers, running_smtp

T = TypeVar("T")
SSL = ssl.create_default_context()  # one for all clients: building it costs ~80 ms

T0 = datetime.now(UTC).replace(microsecond=0)
FEISHU_TOKEN = "7c5a4a4b-a83b-4f0e-9d6e-1b2c3d4e5f60"
FEISHU_SECRET = "feishu-signing-secret-AbC123"
DINGTALK_TOKEN = "0f9e8d7c6b5a49382716a5b4c3d2e1f00f9e8d7c6b5a49382716a5b4c3d2e1f0"
DINGTALK_SECRET = "SECdingtalk-signing-secret-XyZ789"
WECOM_KEY = "693a91f6-7b2c-4bc4-97a0-0ec2a1fa5aaa"
HOOK_TOKEN = "generic-hook-token-5566778899"
HOOK_SECRET = "generic-hook-secret-QwE"
SMTP_PASSWORD = "smtp-P@ss word!42"
ALL_SECRETS = (
    FEISHU_TOKEN,
    FEISHU_SECRET,
    DINGTALK_TOKEN,
    DINGTALK_SECRET,
    WECOM_KEY,
    HOOK_TOKEN,
    HOOK_SECRET,
    SMTP_PASSWORD,
)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def message(i: int, *, severity: str = "warning", text: str = "", markdown: str = "") -> Message:
    title = f"直播间 1001「年货节专场」点击支付率下降 #{i:02d}"
    return Message(
        key=f"alert-{i:02d}",
        kind="firing",
        severity=severity,  # type: ignore[arg-type]
        title=title,
        text=text or f"点击支付率 3.1%，低于同时段历史中位数 5.4%（规则 #{i:02d}）",
        markdown=markdown or f"### {title}\n\n- 点击支付率 **3.1%**\n- 历史中位数 5.4%",
        created_at=T0 + timedelta(seconds=i),
        alerts=(f"ctr_drop@room=1001#{i}",),
    )


@pytest.fixture(scope="module")
def rx() -> Iterator[Receivers]:
    with running_receivers() as receivers:
        yield receivers


@pytest.fixture(autouse=True)
def _clean(rx: Receivers) -> None:
    rx.reset()


def environ(rx: Receivers, **extra: str) -> dict[str, str]:
    return {
        "LIVEKIT_FEISHU_WEBHOOK": rx.url_for("feishu", FEISHU_TOKEN, secret=FEISHU_SECRET),
        "LIVEKIT_FEISHU_SECRET": FEISHU_SECRET,
        "LIVEKIT_DINGTALK_WEBHOOK": rx.url_for("dingtalk", DINGTALK_TOKEN, secret=DINGTALK_SECRET),
        "LIVEKIT_DINGTALK_SECRET": DINGTALK_SECRET,
        "LIVEKIT_WECOM_WEBHOOK": rx.url_for("wecom", WECOM_KEY),
        "LIVEKIT_WEBHOOK_URL": rx.url_for("webhook", HOOK_TOKEN, secret=HOOK_SECRET),
        "LIVEKIT_WEBHOOK_SECRET": HOOK_SECRET,
        **extra,
    }


def channels(rx: Receivers, *names: str, **extra: str) -> dict[str, Channel]:
    return resolve_channels({}, set(names), environ(rx, **extra))


def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.json", backoff=Backoff(initial_s=1, max_s=60, jitter_s=0))


def pump(box: Outbox, chans: dict[str, Channel], at: datetime) -> PumpResult:
    async def go() -> PumpResult:
        async with httpx.AsyncClient(verify=SSL) as client:
            return await box.pump(chans, client, now=at)

    return run(go())


def titles_seen(texts: list[str], count: int) -> dict[str, int]:
    """How many times each of the first ``count`` message titles appears in ``texts``."""
    return {message(i).title: sum(t.count(message(i).title) for t in texts) for i in range(count)}


# ---- each channel: shape and signature -----------------------------------------------------
def test_feishu_delivers_signed_text(rx: Receivers, tmp_path: Path) -> None:
    box = outbox(tmp_path)
    assert box.enqueue([message(1)], ["feishu"], now=T0) == 1
    result = pump(box, channels(rx, "feishu"), T0)
    assert [d.key for d in result.delivered] == ["alert-01"]
    assert not result.failed
    [req] = rx.received["feishu"]
    assert req.body["msg_type"] == "text"
    assert {"timestamp", "sign"} <= req.body.keys()  # the receiver verified them
    assert req.text.startswith(message(1).title)
    assert message(1).text in req.text
    assert result.pending == 0
    assert result.next_due is None


def test_feishu_post_message(rx: Receivers, tmp_path: Path) -> None:
    specs = {
        "ops": ChannelSpec(
            type="feishu", webhook_env="OPS_HOOK", secret_env="OPS_SECRET", msg_type="post"
        )
    }
    env = {"OPS_HOOK": rx.url_for("feishu", "ops-" + FEISHU_TOKEN, secret="ops-secret-1")}
    env["OPS_SECRET"] = "ops-secret-1"
    box = outbox(tmp_path)
    box.enqueue([message(1)], ["ops"], now=T0)
    result = pump(box, resolve_channels(specs, {"ops"}, env), T0)
    assert len(result.delivered) == 1
    [req] = rx.received["feishu"]
    post = req.body["content"]["post"]["zh_cn"]
    assert post["title"] == message(1).title
    assert message(1).text in req.text


def test_dingtalk_delivers_signed_markdown(rx: Receivers, tmp_path: Path) -> None:
    box = outbox(tmp_path)
    box.enqueue([message(1)], ["dingtalk"], now=T0)
    result = pump(box, channels(rx, "dingtalk"), T0)
    assert len(result.delivered) == 1
    [req] = rx.received["dingtalk"]
    assert {"access_token", "timestamp", "sign"} <= req.query.keys()
    assert len(req.query["timestamp"]) == 13  # milliseconds
    assert req.body["msgtype"] == "markdown"
    assert req.body["markdown"]["title"] == message(1).title
    assert "**3.1%**" in req.text


def test_wecom_delivers_markdown_within_4096_bytes(rx: Receivers, tmp_path: Path) -> None:
    long = "\n".join(f"- 商品 {i}「爆款🔥」点击支付率 2.{i % 10}%" for i in range(600))
    box = outbox(tmp_path)
    box.enqueue([message(1), message(2, markdown=long)], ["wecom"], now=T0)
    result = pump(box, channels(rx, "wecom"), T0)
    assert len(result.delivered) == 2
    assert not result.failed
    short, truncated = (r.body["markdown"]["content"] for r in rx.received["wecom"])
    assert "### " + message(1).title in short
    assert len(truncated.encode("utf-8")) <= 4096
    assert truncated.endswith("…（已截断）")


def test_feishu_body_truncated_under_20_kb(rx: Receivers, tmp_path: Path) -> None:
    huge = "\n".join(f'商品 {i}：点击 1200，支付 31，"点击支付率" 2.6%' for i in range(2000))
    box = outbox(tmp_path)
    box.enqueue([message(1, text=huge)], ["feishu"], now=T0)
    result = pump(box, channels(rx, "feishu"), T0)
    assert len(result.delivered) == 1
    [req] = rx.received["feishu"]
    assert len(req.raw) <= 20 * 1024
    assert req.text.endswith("…（已截断）")


def test_generic_webhook_posts_message_fields_signed(rx: Receivers, tmp_path: Path) -> None:
    box = outbox(tmp_path)
    box.enqueue([message(1, severity="critical")], ["webhook"], now=T0)
    result = pump(box, channels(rx, "webhook"), T0)
    assert len(result.delivered) == 1
    [req] = rx.received["webhook"]
    assert req.body["key"] == "alert-01"
    assert req.body["severity"] == "critical"
    assert req.body["alerts"] == ["ctr_drop@room=1001#1"]
    assert req.headers["x-livekit-signature"].startswith("sha256=")


def test_console_prints_the_message() -> None:
    stream = io.StringIO()

    async def go() -> None:
        async with httpx.AsyncClient(verify=SSL) as client:
            await ConsoleChannel("console", stream).send(message(1, severity="critical"), client)

    run(go())
    out = stream.getvalue()
    assert "[严重] " + message(1).title in out
    assert message(1).text in out


def test_receivers_really_check(rx: Receivers) -> None:
    """The stand-ins reject what the IMs reject, so the tests above can fail."""
    url = rx.url_for("feishu", FEISHU_TOKEN, secret=FEISHU_SECRET)
    unsigned = httpx.post(url, json={"msg_type": "text", "content": {"text": "x"}})
    assert unsigned.json()["code"] == 19021
    rx.url_for("feishu", "open-" + FEISHU_TOKEN)
    bad_shape = httpx.post(
        rx.url_for("feishu", "open-" + FEISHU_TOKEN), json={"msg_type": "markdown"}
    )
    assert bad_shape.json()["code"] == 19001
    ding = rx.url_for("dingtalk", DINGTALK_TOKEN, secret=DINGTALK_SECRET)
    forged = httpx.post(ding + "&timestamp=1700000000000&sign=abc", json={"msgtype": "text"})
    assert forged.json()["errcode"] == 310000
    assert rx.received["feishu"] == []
    assert rx.received["dingtalk"] == []


# ---- failures are clear, final and surfaced ------------------------------------------------
def test_wrong_secret_is_a_clear_failed_delivery(
    rx: Receivers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = environ(
        rx, LIVEKIT_FEISHU_SECRET="not-the-secret-1", LIVEKIT_DINGTALK_SECRET="SECnot-the-secret"
    )
    chans = resolve_channels({}, {"feishu", "dingtalk"}, env)
    box = outbox(tmp_path)
    box.enqueue([message(1)], ["feishu", "dingtalk"], now=T0)
    result = pump(box, chans, T0)
    assert not result.delivered
    assert not result.retrying
    by_channel = {f.channel: f for f in result.failed}
    assert "19021" in by_channel["feishu"].reason
    assert "LIVEKIT_FEISHU_SECRET" in by_channel["feishu"].reason
    assert "310000" in by_channel["dingtalk"].reason
    assert "LIVEKIT_DINGTALK_SECRET" in by_channel["dingtalk"].reason
    assert result.pending == 0
    # Surfaced: logged at ERROR and kept in the outbox file, not silently dropped.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert all("已放弃" in r.getMessage() for r in errors)
    assert {f.channel for f in Outbox(tmp_path / "outbox.json").failures()} == {
        "feishu",
        "dingtalk",
    }
    # Not re-queued by the engine enqueueing the same message again; re-sent on request.
    assert box.enqueue([message(1)], ["feishu"], now=T0) == 0
    assert box.retry_failed(now=T0) == 2
    assert len(box.pending()) == 2
    assert_no_secrets(caplog.text + "".join(f.reason for f in result.failed))


def test_feishu_rejects_a_stale_timestamp(rx: Receivers) -> None:
    url = rx.url_for("feishu", FEISHU_TOKEN, secret=FEISHU_SECRET)
    two_hours_ago = datetime.now(UTC).timestamp() - 7200
    late = FeishuChannel("feishu", url, FEISHU_SECRET, clock=lambda: two_hours_ago)

    async def go() -> None:
        async with httpx.AsyncClient(verify=SSL) as client:
            await late.send(message(1), client)

    with pytest.raises(DeliveryError) as info:
        run(go())
    assert not info.value.retryable
    assert info.value.code == 19021
    assert_no_secrets(str(info.value) + repr(info.value))


def test_generic_webhook_statuses(rx: Receivers, tmp_path: Path) -> None:
    box = outbox(tmp_path)
    chans = channels(rx, "webhook")
    box.enqueue([message(1)], ["webhook"], now=T0)
    rx.set_rate_limited("webhook", 1)  # 429 + Retry-After: 7
    first = pump(box, chans, T0)
    [retry] = first.retrying
    assert retry.throttled
    assert retry.next_try_at == T0 + timedelta(seconds=7)
    assert pump(box, chans, T0 + timedelta(seconds=6)).delivered == []  # not due yet
    rx.set_failing("webhook", 503, 1)
    second = pump(box, chans, T0 + timedelta(seconds=7))
    assert [r.throttled for r in second.retrying] == [False]
    third = pump(box, chans, T0 + timedelta(minutes=5))
    assert [d.key for d in third.delivered] == ["alert-01"]
    box.enqueue([message(2)], ["webhook"], now=T0)
    rx.set_failing("webhook", 400, 1)
    fourth = pump(box, chans, T0 + timedelta(minutes=6))
    assert [f.key for f in fourth.failed] == ["alert-02"]
    assert "HTTP 400" in fourth.failed[0].reason


def test_throttled_and_delivery_errors_carry_no_secrets(rx: Receivers) -> None:
    chans = channels(rx, "feishu", "dingtalk", "wecom")
    rx.set_rate_limited("feishu", 1, variant="9499")
    rx.set_rate_limited("dingtalk", 1)
    rx.set_rate_limited("wecom", 1)

    async def go() -> list[BaseException]:
        errors: list[BaseException] = []
        async with httpx.AsyncClient(verify=SSL) as client:
            for name in ("feishu", "dingtalk", "wecom"):
                try:
                    await chans[name].send(message(1), client)
                except Throttled as exc:
                    errors.append(exc)
        return errors

    errors = run(go())
    assert [getattr(e, "code", None) for e in errors] == [9499, 130101, 45009]
    assert [getattr(e, "retry_after_s", None) for e in errors] == [None, 600.0, 60.0]
    assert_no_secrets("".join(str(e) + repr(e) for e in errors))


# ---- rate limits: later, digested, none lost -----------------------------------------------
def test_rate_limited_robot_gets_one_digest_and_nothing_is_lost(
    rx: Receivers, tmp_path: Path
) -> None:
    box = outbox(tmp_path)
    chans = channels(rx, "dingtalk")
    box.enqueue([message(i) for i in range(5)], ["dingtalk"], now=T0)
    rx.set_rate_limited("dingtalk", 2)  # 130101 for the next two requests

    first = pump(box, chans, T0)
    assert not first.delivered
    assert [r.throttled for r in first.retrying] == [True]
    assert first.next_due is not None
    assert first.next_due >= T0 + timedelta(minutes=10)
    assert len(rx.requests["dingtalk"]) == 1  # the robot is blocked: no hammering

    assert pump(box, chans, T0 + timedelta(minutes=5)).delivered == []
    assert len(rx.requests["dingtalk"]) == 1

    second = pump(box, chans, first.next_due)  # one digest of all five, throttled again
    assert not second.delivered
    assert len(second.retrying) == 1
    [pending] = box.pending()
    assert pending[1].kind == "digest"

    third = pump(box, chans, first.next_due + timedelta(minutes=11))
    [delivered] = third.delivered
    assert delivered.digest
    assert len(delivered.keys) == 5
    assert third.pending == 0
    texts = rx.texts("dingtalk")
    assert len(texts) == 1
    assert titles_seen(texts, 5) == {message(i).title: 1 for i in range(5)}
    assert set(box.delivered("dingtalk")) >= {message(i).key for i in range(5)}


@pytest.mark.parametrize("variant", ["", "9499"])
def test_feishu_rate_limit_answers_delay_and_digest(
    rx: Receivers, tmp_path: Path, variant: str
) -> None:
    box = outbox(tmp_path)
    chans = channels(rx, "feishu")
    box.enqueue([message(i) for i in range(3)], ["feishu"], now=T0)
    rx.set_rate_limited("feishu", 1, variant=variant)
    now = T0
    for _ in range(10):
        result = pump(box, chans, now)
        if result.pending == 0:
            break
        assert result.next_due is not None
        now = result.next_due
    assert result.pending == 0
    assert titles_seen(rx.texts("feishu"), 3) == {message(i).title: 1 for i in range(3)}
    assert len(rx.received["feishu"]) == 1  # the three arrived later, as one digest


def test_burst_over_the_minute_limit_is_digested_client_side(rx: Receivers, tmp_path: Path) -> None:
    box = outbox(tmp_path)
    box.enqueue([message(i) for i in range(30)], ["wecom"], now=T0)
    result = pump(box, channels(rx, "wecom"), T0)
    assert len(rx.requests["wecom"]) == 20  # 20/min per robot, never exceeded
    assert len(result.delivered) == 20
    assert sum(d.digest for d in result.delivered) == 1
    assert titles_seen(rx.texts("wecom"), 30) == {message(i).title: 1 for i in range(30)}
    assert result.pending == 0


def test_per_second_limit_spaces_sends_without_digesting(rx: Receivers, tmp_path: Path) -> None:
    box = outbox(tmp_path)
    chans = channels(rx, "feishu")
    box.enqueue([message(i) for i in range(8)], ["feishu"], now=T0)
    first = pump(box, chans, T0)
    assert len(first.delivered) == 5
    assert first.pending == 3
    assert first.next_due == T0 + timedelta(seconds=1)
    second = pump(box, chans, T0 + timedelta(seconds=1))
    assert len(second.delivered) == 3
    assert not any(d.digest for d in second.delivered)
    assert titles_seen(rx.texts("feishu"), 8) == {message(i).title: 1 for i in range(8)}


def test_two_channels_on_one_robot_share_its_limit(rx: Receivers, tmp_path: Path) -> None:
    specs = {"ops_dd": ChannelSpec(type="dingtalk", webhook_env="LIVEKIT_DINGTALK_WEBHOOK")}
    env = environ(rx)
    env.pop("LIVEKIT_DINGTALK_SECRET")
    rx.url_for("dingtalk", DINGTALK_TOKEN)  # this robot does not sign
    chans = resolve_channels(specs, {"dingtalk", "ops_dd"}, env)
    box = outbox(tmp_path)
    box.enqueue([message(i) for i in range(15)], ["dingtalk", "ops_dd"], now=T0)
    result = pump(box, chans, T0)
    assert len(rx.requests["dingtalk"]) == 20  # 15 + 5 (4 single + 1 digest of 11)
    assert result.pending == 0
    assert titles_seen(rx.texts("dingtalk"), 15) == {message(i).title: 2 for i in range(15)}


# ---- restarts ------------------------------------------------------------------------------
def test_outbox_reloaded_after_a_crash(rx: Receivers, tmp_path: Path) -> None:
    chans = channels(rx, "wecom", "feishu")
    first = outbox(tmp_path)
    first.enqueue([message(1)], ["wecom", "feishu"], now=T0)
    assert len(pump(first, chans, T0).delivered) == 2
    first.enqueue([message(2)], ["wecom"], now=T0)
    rx.set_rate_limited("wecom", None)  # rate limited until cleared
    assert pump(first, chans, T0 + timedelta(seconds=1)).retrying
    del first  # "crash": nothing is kept in memory

    again = outbox(tmp_path)
    assert again.enqueue([message(1), message(2)], ["wecom", "feishu"], now=T0) == 1
    assert sorted((c, m.key) for c, m, _, _ in again.pending()) == [
        ("feishu", "alert-02"),
        ("wecom", "alert-02"),
    ]
    rx.clear_rate_limit("wecom")
    result = pump(again, chans, T0 + timedelta(hours=1))
    assert sorted((d.channel, d.key) for d in result.delivered) == [
        ("feishu", "alert-02"),
        ("wecom", "alert-02"),
    ]
    wecom_texts = rx.texts("wecom")
    assert sum(message(1).title in t for t in wecom_texts) == 1  # not re-sent
    assert sum(message(2).title in t for t in wecom_texts) == 1
    stored = (tmp_path / "outbox.json").read_text("utf-8")
    assert json.loads(stored)["version"] == 1
    assert_no_secrets(stored)


def test_one_pump_at_a_time(rx: Receivers, tmp_path: Path) -> None:
    import filelock

    box = outbox(tmp_path)
    box.enqueue([message(1)], ["wecom"], now=T0)
    with filelock.FileLock(tmp_path / "outbox.json.pump.lock"):
        assert pump(box, channels(rx, "wecom"), T0).busy
    assert len(pump(box, channels(rx, "wecom"), T0).delivered) == 1


# ---- e-mail --------------------------------------------------------------------------------
def test_email_to_a_real_smtp_server(tmp_path: Path) -> None:
    with running_smtp() as smtp:
        env = {
            "LIVEKIT_SMTP_URL": smtp.url,
            "LIVEKIT_ALERT_EMAIL_TO": "ops@example.com, boss@example.com",
        }
        box = outbox(tmp_path)
        box.enqueue([message(1, severity="critical")], ["email"], now=T0)
        result = pump(box, resolve_channels({}, {"email"}, env), T0)
        assert len(result.delivered) == 1
        [mail] = smtp.messages
    assert mail.rcpt_tos == ["ops@example.com", "boss@example.com"]
    assert mail.mail_from == "livekit@localhost"
    assert mail.message["Subject"] == message(1).title
    assert message(1).text in mail.part("plain")
    html = mail.part("html")
    assert "<b>3.1%</b>" in html
    assert "年货节专场" in html


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_login_and_a_wrong_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_smtp(user="alerts@example.com", password=SMTP_PASSWORD) as smtp:
        good = {"LIVEKIT_SMTP_URL": smtp.url, "LIVEKIT_ALERT_EMAIL_TO": "ops@example.com"}
        box = outbox(tmp_path)
        box.enqueue([message(1)], ["email"], now=T0)
        assert len(pump(box, resolve_channels({}, {"email"}, good), T0).delivered) == 1
        assert smtp.messages[0].mail_from == "alerts@example.com"

        bad_url = smtp.url.replace("smtp-P", "wrong-P")
        bad = {"LIVEKIT_SMTP_URL": bad_url, "LIVEKIT_ALERT_EMAIL_TO": "ops@example.com"}
        box.enqueue([message(2)], ["email"], now=T0)
        result = pump(box, resolve_channels({}, {"email"}, bad), T0)
        [failed] = result.failed
        assert "LIVEKIT_SMTP_URL" in failed.reason
        assert "535" in failed.reason

        smtp.fail_next.append("451 4.7.1 Try again later")
        box.enqueue([message(3)], ["email"], now=T0)
        retried = pump(box, resolve_channels({}, {"email"}, good), T0)
        assert len(retried.retrying) == 1
        assert "451" in retried.retrying[0].reason
        later = pump(box, resolve_channels({}, {"email"}, good), T0 + timedelta(minutes=1))
        assert [d.key for d in later.delivered] == ["alert-03"]
    assert_no_secrets(caplog.text + failed.reason, extra=("wrong-P@ss word!42",))


# ---- `livekit alerts test` and the secrets scan --------------------------------------------
def test_test_channels_reports_each_channel(rx: Receivers) -> None:
    env = environ(rx, LIVEKIT_DINGTALK_SECRET="SECwrong-secret-value")
    env["LIVEKIT_WECOM_WEBHOOK"] = env["LIVEKIT_WECOM_WEBHOOK"].replace(WECOM_KEY, "0" * 36)
    stream = io.StringIO()
    chans = resolve_channels({}, {"feishu", "dingtalk", "wecom"}, env, console_stream=stream)

    async def go() -> list[tuple[str, bool, str]]:
        async with httpx.AsyncClient(verify=SSL) as client:
            return await test_channels(chans, client)

    report = {name: (ok, detail) for name, ok, detail in run(go())}
    assert report["feishu"][0]
    assert "已送达" in report["feishu"][1]
    assert report["console"][0]
    assert "livekit 测试消息" in stream.getvalue()
    assert not report["dingtalk"][0]
    assert "310000" in report["dingtalk"][1]
    assert not report["wecom"][0]
    assert "93000" in report["wecom"][1]
    assert "livekit 测试消息" in rx.texts("feishu")[0]
    assert_no_secrets("".join(d for _, d in report.values()), extra=("SECwrong-secret-value",))


def test_no_secret_reaches_the_logs(
    rx: Receivers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    chans = channels(rx, "feishu", "dingtalk", "wecom", "webhook")
    box = outbox(tmp_path)
    box.enqueue([message(1), message(2)], ["feishu", "dingtalk", "wecom", "webhook"], now=T0)
    rx.set_rate_limited("wecom", 1)
    pump(box, chans, T0)
    pump(box, chans, T0 + timedelta(hours=1))
    assert len(rx.received["feishu"]) == 2
    assert len(rx.received["wecom"]) == 1
    assert "HTTP Request: POST" in caplog.text  # httpx did log the requests…
    assert "/hook/***" in caplog.text  # …with the token masked
    assert_no_secrets(caplog.text + "".join(repr(c) for c in chans.values()))


def assert_no_secrets(text: str, extra: tuple[str, ...] = ()) -> None:
    for secret in (*ALL_SECRETS, *extra):
        assert secret not in text, f"a secret leaked: {secret[:4]}…"
    # DingTalk signatures in URLs are masked too
    # masked by this filter (****) or by the API client's own httpx filter (***), never shown
    assert not re.search(r"sign=(?!\*{3})", text), text
