"""Notifiers without a network: signatures, redaction, size limits, configuration, limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
from datetime import UTC, datetime
from urllib.parse import quote_plus, unquote

import pytest

from livekit.config import ConfigError
from livekit.monitor.notify import (
    Backoff,
    ChannelSpec,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    RateLimit,
    SlidingWindowLimiter,
    SmtpTarget,
    WebhookChannel,
    WeComChannel,
    channels_from_env,
    digest_message,
    dingtalk_sign,
    feishu_sign,
    parse_channel_specs,
    redact_text,
    redact_url,
    resolve_channels,
)
from livekit.monitor.notify.channels import ConsoleChannel
from livekit.monitor.notify.outbox import _Entry, _part_of
from livekit.monitor.notify.text import TRUNCATION_NOTE, fit, markdown_to_html, utf8_len
from livekit.monitor.types import Message
from livekit.vocab.errors import LivekitError

NOW = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
FEISHU_TOKEN = "3f1c2a9e-5b7d-4e21-9c0a-6d8e4f2b1a77"
FEISHU_URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
DINGTALK_TOKEN = "a" * 24 + "0123456789abcdef0123456789abcdef0123456789"
DINGTALK_URL = f"https://oapi.dingtalk.com/robot/send?access_token={DINGTALK_TOKEN}"
WECOM_KEY = "693a91f6-7b2c-4bc4-97a0-0ec2a1fa5aaa"
WECOM_URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"


def message(
    i: int = 1, *, text: str = "", markdown: str = "", severity: str = "warning"
) -> Message:
    title = f"直播间「年货节专场」点击支付率下降 #{i}"
    return Message(
        key=f"k{i}",
        kind="firing",
        severity=severity,  # type: ignore[arg-type]
        title=title,
        text=text or f"点击支付率 3.1%，低于同时段历史中位数 5.4%。#{i}",
        markdown=markdown or f"### {title}\n\n- 点击支付率 **3.1%**",
        created_at=NOW,
        alerts=(f"rule-{i}@room=1001",),
    )


# ---- signatures ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ts", "secret"), [(1599360473, "livekit-demo-secret"), (1767000000, "另一把密钥/+=")]
)
def test_feishu_sign_is_hmac_keyed_by_timestamp_and_secret_over_empty_message(
    ts: int, secret: str
) -> None:
    key = (str(ts) + "\n" + secret).encode("utf-8")
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(ts, secret) == expected


def test_feishu_sign_worked_example_computed_with_openssl() -> None:
    # printf '' | openssl dgst -sha256 \
    #     -hmac "$(printf '1599360473\nlivekit-demo-secret')" -binary | base64
    assert feishu_sign(1599360473, "livekit-demo-secret") == (
        "e942xm7we5nsWdc3B1c3WomoQOUUlM4bSfStCwghhZU="
    )


@pytest.mark.parametrize(
    ("ts", "secret"), [(1700000000001, "SEClivekit-demo-secret"), (1767000000123, "SEC密钥")]
)
def test_dingtalk_sign_is_urlencoded_hmac_keyed_by_secret(ts: int, secret: str) -> None:
    digest = hmac.new(
        secret.encode("utf-8"), (str(ts) + "\n" + secret).encode("utf-8"), hashlib.sha256
    ).digest()
    assert dingtalk_sign(ts, secret) == quote_plus(base64.b64encode(digest).decode())


def test_dingtalk_sign_worked_example_computed_with_openssl() -> None:
    # printf '1700000000001\nSEClivekit-demo-secret' \
    #     | openssl dgst -sha256 -hmac 'SEClivekit-demo-secret' -binary | base64
    # → fcd0/C5F2lop1D003Q8y9lfaoivNSAtOwb1H9bN8/+k=   ('/', '+' and '=' must be escaped)
    assert dingtalk_sign(1700000000001, "SEClivekit-demo-secret") == (
        "fcd0%2FC5F2lop1D003Q8y9lfaoivNSAtOwb1H9bN8%2F%2Bk%3D"
    )
    assert unquote(dingtalk_sign(1700000000001, "SEClivekit-demo-secret")) == (
        "fcd0/C5F2lop1D003Q8y9lfaoivNSAtOwb1H9bN8/+k="
    )


def test_the_two_robots_sign_differently() -> None:
    # Pasting one robot's code for the other is the classic 19021 / 310000 mistake.
    assert feishu_sign(1700000000, "s") != unquote(dingtalk_sign(1700000000, "s"))


# ---- redaction -----------------------------------------------------------------------------
def test_redact_url_masks_tokens_keys_and_passwords() -> None:
    assert redact_url(FEISHU_URL) == "https://open.feishu.cn/open-apis/bot/v2/hook/****"
    assert redact_url(DINGTALK_URL) == "https://oapi.dingtalk.com/robot/send?access_token=****"
    assert redact_url(WECOM_URL) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=****"
    assert redact_url("smtps://ops@example.com:pa55w0rd@smtp.example.com:465") == (
        "smtps://ops@example.com:****@smtp.example.com:465"
    )
    assert redact_url("not a url") == "****"
    text = f"POST {FEISHU_URL} failed; retry {DINGTALK_URL}&timestamp=1&sign=abc%2B"
    cleaned = redact_text(text)
    assert FEISHU_TOKEN not in cleaned
    assert DINGTALK_TOKEN not in cleaned
    assert "abc%2B" not in cleaned


def test_channel_reprs_and_descriptions_hide_credentials() -> None:
    channels = [
        FeishuChannel("feishu", FEISHU_URL, "feishu-secret-value"),
        DingTalkChannel("dingtalk", DINGTALK_URL, "SECdingtalk-secret-value"),
        WeComChannel("wecom", WECOM_URL),
        WebhookChannel("webhook", "https://hooks.example.com/in/abcdef0123456789", "hook-secret"),
    ]
    for ch in channels:
        shown = repr(ch) + ch.describe()
        for secret in (FEISHU_TOKEN, DINGTALK_TOKEN, WECOM_KEY, "abcdef0123456789"):
            assert secret not in shown
        assert "secret-value" not in shown
    target = SmtpTarget.parse("smtps://ops%40example.com:p%40ss@smtp.example.com")
    assert "p@ss" not in repr(target) + target.describe()


# ---- size limits ---------------------------------------------------------------------------
def test_fit_cuts_on_a_character_boundary_and_notes_the_cut() -> None:
    text = "直播🎉" * 3000  # 3-byte and 4-byte UTF-8 characters, no line breaks
    out = fit(text, utf8_len, 4096)
    assert out.endswith(TRUNCATION_NOTE)
    assert utf8_len(out) <= 4096
    assert utf8_len(out) > 4096 - 4  # as much as fits: within one character of the limit
    assert text.startswith(out.removesuffix(TRUNCATION_NOTE))
    assert fit("短消息", utf8_len, 4096) == "短消息"


def test_wecom_markdown_content_never_exceeds_4096_bytes() -> None:
    long = "\n".join(f"- 商品 {i}：点击支付率 2.{i % 10}%，低于基准" for i in range(800))
    ch = WeComChannel("wecom", WECOM_URL)
    content = ch.content(message(markdown=long))
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith("…（已截断）")
    assert content.startswith("### 直播间")  # the title heads the markdown
    body = json.loads(ch.body(message(markdown=long)))
    assert body == {"msgtype": "markdown", "markdown": {"content": content}}
    short = ch.content(message(markdown="### 直播间「年货节专场」点击支付率下降 #1\n\n正文"))
    assert short == "### 直播间「年货节专场」点击支付率下降 #1\n\n正文"


@pytest.mark.parametrize("msg_type", ["text", "post"])
def test_feishu_body_fits_20_kb_even_with_json_escapes(msg_type: str) -> None:
    nasty = '引号"和\\反斜杠\n' * 3000  # every character escapes in JSON
    ch = FeishuChannel("feishu", FEISHU_URL, "secret", msg_type=msg_type)  # type: ignore[arg-type]
    raw = ch.body(message(text=nasty))
    assert len(raw) <= 20 * 1024
    body = json.loads(raw)
    assert body["msg_type"] == msg_type
    assert {"timestamp", "sign"} <= body.keys()
    assert "已截断" in raw.decode("utf-8")
    small = json.loads(ch.body(message()))
    assert "已截断" not in json.dumps(small, ensure_ascii=False)


def test_markdown_to_html_escapes_content() -> None:
    html = markdown_to_html("### 标题\n\n- **<script>**商品\n正文 & 更多", title="告警")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<h4>标题</h4>" in html
    assert "<li><b>&lt;script&gt;</b>商品</li>" in html


# ---- configuration -------------------------------------------------------------------------
def env(**values: str) -> dict[str, str]:
    return dict(values)


def test_builtin_channels_read_the_default_variables() -> None:
    environ = env(
        LIVEKIT_FEISHU_WEBHOOK=FEISHU_URL,
        LIVEKIT_FEISHU_SECRET="feishu-secret",
        LIVEKIT_DINGTALK_WEBHOOK=DINGTALK_URL,
        LIVEKIT_WECOM_WEBHOOK=WECOM_URL,
        LIVEKIT_SMTP_URL="smtp://127.0.0.1:2525",
        LIVEKIT_ALERT_EMAIL_TO="ops@example.com, 店长@example.com",
        LIVEKIT_WEBHOOK_URL="http://alerts.internal:9000/in",
    )
    channels = resolve_channels({}, {"feishu", "dingtalk", "wecom", "email", "webhook"}, environ)
    assert set(channels) == {"feishu", "dingtalk", "wecom", "email", "webhook", "console"}
    feishu = channels["feishu"]
    assert isinstance(feishu, FeishuChannel)
    assert feishu.signed
    dingtalk = channels["dingtalk"]
    assert isinstance(dingtalk, DingTalkChannel)
    assert not dingtalk.signed
    assert feishu.limits == (RateLimit(1.0, 5), RateLimit(60.0, 100))
    assert channels["wecom"].limits == (RateLimit(60.0, 20),)
    email = channels["email"]
    assert isinstance(email, EmailChannel)
    assert email.recipients == ("ops@example.com", "店长@example.com")
    assert channels_from_env(None, environ).keys() == channels.keys()
    only_console = channels_from_env(None, {})
    assert list(only_console) == ["console"]
    assert isinstance(only_console["console"], ConsoleChannel)


def test_a_declared_channel_uses_its_own_variables_and_limits() -> None:
    specs = parse_channel_specs(
        {
            "ops_feishu": {
                "type": "feishu",
                "webhook_env": "LIVEKIT_FEISHU_OPS_WEBHOOK",
                "secret_env": "LIVEKIT_FEISHU_OPS_SECRET",
                "per_minute": 30,
                "msg_type": "post",
            }
        }
    )
    environ = env(LIVEKIT_FEISHU_OPS_WEBHOOK=FEISHU_URL, LIVEKIT_FEISHU_OPS_SECRET="ops-secret")
    ch = resolve_channels(specs, {"ops_feishu"}, environ)["ops_feishu"]
    assert isinstance(ch, FeishuChannel)
    assert ch.signed
    assert ch.msg_type == "post"
    assert ch.limits == (RateLimit(1.0, 5), RateLimit(60.0, 30))


def error_of(fn: object, *args: object) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args)  # type: ignore[operator]
    assert isinstance(info.value, LivekitError)
    return str(info.value)


def test_missing_webhook_names_the_channel_and_the_variable() -> None:
    msg = error_of(resolve_channels, {}, {"feishu"}, {})
    assert "feishu" in msg
    assert "LIVEKIT_FEISHU_WEBHOOK" in msg


def test_a_spec_without_its_secret_is_an_error() -> None:
    specs = {
        "ops_feishu": ChannelSpec(
            type="feishu",
            webhook_env="LIVEKIT_FEISHU_OPS_WEBHOOK",
            secret_env="LIVEKIT_FEISHU_OPS_SECRET",
        )
    }
    for secret in ({}, {"LIVEKIT_FEISHU_OPS_SECRET": "  "}):
        environ = {"LIVEKIT_FEISHU_OPS_WEBHOOK": FEISHU_URL, **secret}
        msg = error_of(resolve_channels, specs, {"ops_feishu"}, environ)
        assert "ops_feishu" in msg
        assert "LIVEKIT_FEISHU_OPS_SECRET" in msg
        assert FEISHU_TOKEN not in msg


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIVEKIT_FEISHU_WEBHOOK", FEISHU_TOKEN),  # only the token
        ("LIVEKIT_FEISHU_WEBHOOK", f"http://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}"),
        ("LIVEKIT_FEISHU_WEBHOOK", WECOM_URL),  # another robot's URL
        ("LIVEKIT_DINGTALK_WEBHOOK", DINGTALK_URL + "&timestamp=1&sign=x"),
        ("LIVEKIT_DINGTALK_WEBHOOK", "https://oapi.dingtalk.com/robot/send?token=abc"),
        ("LIVEKIT_WECOM_WEBHOOK", WECOM_KEY),
        ("LIVEKIT_WEBHOOK_URL", "ftp://example.com/x"),
    ],
)
def test_malformed_urls_are_refused_without_echoing_them(variable: str, value: str) -> None:
    name = {
        "LIVEKIT_FEISHU_WEBHOOK": "feishu",
        "LIVEKIT_DINGTALK_WEBHOOK": "dingtalk",
        "LIVEKIT_WECOM_WEBHOOK": "wecom",
        "LIVEKIT_WEBHOOK_URL": "webhook",
    }[variable]
    msg = error_of(resolve_channels, {}, {name}, {variable: value})
    assert variable in msg
    assert value not in msg
    for secret in (FEISHU_TOKEN, DINGTALK_TOKEN, WECOM_KEY):
        assert secret not in msg


def test_email_configuration_errors() -> None:
    msg = error_of(resolve_channels, {}, {"email"}, {"LIVEKIT_SMTP_URL": "smtp://127.0.0.1:25"})
    assert "LIVEKIT_ALERT_EMAIL_TO" in msg
    msg = error_of(
        resolve_channels,
        {},
        {"email"},
        {
            "LIVEKIT_SMTP_URL": "smtp://127.0.0.1:25",
            "LIVEKIT_ALERT_EMAIL_TO": "ops@example.com, 店长",
        },
    )
    assert "店长" in msg
    assert "LIVEKIT_ALERT_EMAIL_TO" in msg
    msg = error_of(
        resolve_channels,
        {},
        {"email"},
        {"LIVEKIT_SMTP_URL": "http://u:hunter2-pw@mail:25", "LIVEKIT_ALERT_EMAIL_TO": "a@b.cn"},
    )
    assert "LIVEKIT_SMTP_URL" in msg
    assert "hunter2-pw" not in msg
    msg = error_of(resolve_channels, {}, {"email"}, {"LIVEKIT_ALERT_EMAIL_TO": "a@b.cn"})
    assert "LIVEKIT_SMTP_URL" in msg


def test_half_a_builtin_configuration_is_an_error() -> None:
    msg = error_of(channels_from_env, None, {"LIVEKIT_FEISHU_SECRET": "s3cret-value"})
    assert "LIVEKIT_FEISHU_WEBHOOK" in msg
    assert "s3cret-value" not in msg
    msg = error_of(channels_from_env, None, {"LIVEKIT_ALERT_EMAIL_TO": "a@b.cn"})
    assert "LIVEKIT_SMTP_URL" in msg


def test_unknown_channel_name() -> None:
    msg = error_of(resolve_channels, {}, {"feishu_ops"}, {})
    assert "feishu_ops" in msg
    assert "feishu" in msg


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "feishu", "webhook_env": FEISHU_URL}, "环境变量名"),
        ({"type": "feishu"}, "webhook_env"),
        ({"type": "wecom", "webhook_env": "W", "secret_env": "S"}, "secret_env"),
        ({"type": "slack", "webhook_env": "W"}, "type"),
        ({"type": "feishu", "webhook_env": "W", "hook": "x"}, "hook"),
        ({"type": "dingtalk", "webhook_env": "W", "per_minute": 0}, "per_minute"),
    ],
)
def test_channel_spec_errors_are_config_errors(raw: dict[str, object], expected: str) -> None:
    msg = error_of(parse_channel_specs, {"ops": raw})
    assert "ops" in msg
    assert expected in msg
    assert FEISHU_TOKEN not in msg


def test_smtp_url_decides_tls() -> None:
    remote = SmtpTarget.parse("smtp://ops%40example.com:p%40ss@smtp.example.com:587")
    assert (remote.host, remote.port, remote.use_tls, remote.start_tls) == (
        "smtp.example.com",
        587,
        False,
        True,  # a password never goes over plain text to a remote server
    )
    assert (remote.username, remote.password, remote.sender) == (
        "ops@example.com",
        "p@ss",
        "ops@example.com",
    )
    local = SmtpTarget.parse("smtp://u:p@127.0.0.1:2525")
    assert local.start_tls is None
    assert local.sender == "livekit@localhost"
    implicit = SmtpTarget.parse("smtps://smtp.example.com")
    assert (implicit.port, implicit.use_tls, implicit.start_tls) == (465, True, False)
    assert SmtpTarget.parse("smtp://relay.internal").port == 25


# ---- rate limits, digests, backoff ---------------------------------------------------------
def test_sliding_windows_per_second_and_per_minute() -> None:
    limits = (RateLimit(1.0, 5), RateLimit(60.0, 100))
    lim = SlidingWindowLimiter()
    t = 1000.0
    for _ in range(5):
        assert lim.available("bot", limits, t) >= 1
        lim.record("bot", t)
    assert lim.available("bot", limits, t) == 0
    assert lim.available("bot", limits, t, min_window=60) == 95
    assert lim.next_free("bot", limits, t) == t + 1.0
    assert lim.available("bot", limits, t + 1.0) == 5
    for i in range(95):
        lim.record("bot", t + 1 + i * 0.5)
    assert lim.available("bot", limits, t + 50, min_window=60) == 0
    assert lim.next_free("bot", limits, t + 50) == t + 60.0  # the first 5 leave the minute
    lim.block("bot", t + 600)
    assert lim.available("bot", limits, t + 300) == 0
    assert lim.next_free("bot", limits, t + 300) == t + 600
    again = SlidingWindowLimiter.from_json(json.loads(json.dumps(lim.to_json())))
    assert again.available("bot", limits, t + 300) == 0
    assert lim.available(None, limits, t) == float("inf")


def test_digest_lists_every_merged_message_once() -> None:
    entries = [
        _Entry("feishu", m, [_part_of(m)])
        for m in (message(1), message(2, severity="critical"), message(3, severity="info"))
    ]
    d = digest_message("feishu", entries, NOW.timestamp())
    assert d.kind == "digest"
    assert d.severity == "critical"
    for i in (1, 2, 3):
        title = message(i).title
        assert d.text.count(title) == 1
        assert d.markdown.count(title) == 1
    assert d.text.index("#2") < d.text.index("#1") < d.text.index("#3")  # most severe first
    assert d.alerts == ("rule-1@room=1001", "rule-2@room=1001", "rule-3@room=1001")
    assert digest_message("feishu", list(reversed(entries)), 0).key == d.key


def test_backoff_grows_and_is_capped() -> None:
    b = Backoff(initial_s=2, max_s=60, jitter_s=1)
    rng = random.Random(7)
    waits = [b.wait(n, rng) for n in range(1, 9)]
    assert 2 <= waits[0] <= 3
    assert 4 <= waits[1] <= 5
    assert waits[-1] == 60
    assert all(a <= b for a, b in itertools.pairwise(waits))
