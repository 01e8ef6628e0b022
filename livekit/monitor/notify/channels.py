"""Notification channels: console, 飞书, 钉钉, 企业微信, generic JSON webhook (e-mail: .smtp).

Every channel has a ``name`` (its key in the rules file), a ``kind``, the rate limits of its
robot (``limit_key`` + ``limits``), ``describe()`` (a redacted target for humans) and
``async send(message, client)``, which returns when the receiver accepted the message and
otherwise raises :class:`~.errors.Throttled` or :class:`~.errors.DeliveryError`.

How the IM answers are read (facts and where they come from)
------------------------------------------------------------
The robots answer HTTP 200 with an error code in the body for most failures, so the body is
always parsed; HTTP 429 is "throttled" and 5xx or an unreadable body "retry later" everywhere.

飞书 custom bot (success ``{"code":0,"msg":"success",...}``; older deployments answer
``{"StatusCode":0,"StatusMessage":"success"}``, and today's answer carries both):

- 11232 "frequency limited" → throttled. Source: 飞书开放平台《自定义机器人使用指南》
  (open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN): 100/min and 5/s per bot; 11232 at
  busy times; body ≤ 20 KB.
- 9499 → throttled when its msg says "too many request" (seen with HTTP 400, and treated as
  "exceeds the limit, retry" by kubesphere/notification-manager pkg/notify/notifier/feishu);
  otherwise 9499 is a plain "Bad Request" (fatal). 99991400 (OpenAPI "request trigger
  frequency limit", 飞书《频控策略》) → throttled.
- 19021 "sign match fail or timestamp is not within one hour from current time" → fatal
  (wrong secret, or a clock more than an hour off). 19022 IP not allowed, 19024 keyword not
  found, 19001 param invalid (bad token), 19007 bot not enabled → fatal.

钉钉 custom robot (success ``{"errcode":0,"errmsg":"ok"}``):

- 130101 "send too fast, exceed 20 times per minute" → throttled; DingTalk's robot guide says a
  robot over 20/min is limited for 10 minutes, so the hint is 600 s. 660026 "sending too many
  messages per minute" → throttled (observed answer, not in DingTalk's list).
- 310000 "sign not match" / "invalid timestamp" / keywords / IP → fatal. 300001, 300005
  ("token is not exist"), 400101 → fatal (bad access_token).

企业微信 群机器人 (success ``{"errcode":0,"errmsg":"ok"}``):

- 45009 "api freq out of limit" → throttled (20/min per robot; hint 60 s).
- 93000 "invalid webhook url" (bad key), 40058 (markdown.content exceeds 4096 bytes) → fatal.
- -1 "system busy" → retry later.

Generic webhook: any 2xx is delivered; 429 → throttled honouring ``Retry-After``; 408, 425
and 5xx → retry later; any other status → fatal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import sys
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, NoReturn, Protocol, TextIO, runtime_checkable

import httpx

from livekit.monitor.notify.errors import DeliveryError, Throttled
from livekit.monitor.notify.ratelimit import (
    DINGTALK_LIMITS,
    FEISHU_LIMITS,
    WECOM_LIMITS,
    RateLimit,
)
from livekit.monitor.notify.redact import redact_text, redact_url, register_secret
from livekit.monitor.notify.sign import dingtalk_sign, feishu_sign
from livekit.monitor.notify.text import fit, utf8_len, with_title
from livekit.monitor.types import Message
from livekit.vocab.labels import SEVERITY_LABELS

ChannelKind = Literal["console", "feishu", "dingtalk", "wecom", "email", "webhook"]

FEISHU_BODY_LIMIT = 20 * 1024  # bytes of the whole JSON body (飞书 guide: "不能超过 20 KB")
WECOM_MARKDOWN_LIMIT = 4096  # bytes of markdown.content, UTF-8 (企业微信: 40058 above it)
# 钉钉 documents no size for markdown.text; this cap keeps one alert digest well inside what
# robots accept in practice and guards against a runaway body.
DINGTALK_BODY_LIMIT = 20 * 1024

HTTP_TIMEOUT = httpx.Timeout(15.0, connect=10.0)
_SECRET_PARAMS = frozenset({"access_token", "key", "token", "secret", "sign"})

FEISHU_THROTTLED = frozenset({11232, 99991400})
FEISHU_ADVICE = {
    19021: "签名校验失败或时间戳与飞书相差超过 1 小时：请检查 {secret} 是否为该机器人的签名密钥，并校准服务器时间",
    19022: "请求来源 IP 不在机器人的 IP 白名单中：请在机器人安全设置中调整",
    19024: "消息不含机器人设置的自定义关键词：请在机器人安全设置中调整关键词",
    19001: "webhook 地址无效：请检查 {url}",
    19007: "机器人已被停用：请在群设置中启用该机器人",
}
DINGTALK_THROTTLED = {130101: 600.0, 660026: 60.0}
DINGTALK_ADVICE = {
    310000: "安全设置校验失败（签名、时间戳、关键词或 IP）：请检查 {secret} 是否为该机器人的加签密钥、服务器时间，以及机器人的关键词和 IP 设置",
    300001: "access_token 无效：请检查 {url}",
    300005: "access_token 不存在：请检查 {url}",
    400101: "access_token 不存在：请检查 {url}",
}
WECOM_THROTTLED = {45009: 60.0}
WECOM_RETRYABLE = frozenset({-1})
WECOM_ADVICE = {
    93000: "webhook 地址无效（key 不对）：请检查 {url}",
    40058: "消息内容超过企业微信的长度上限",
}


@runtime_checkable
class Channel(Protocol):
    """What the outbox needs from a channel."""

    name: str
    limit_key: str | None  # the robot, for shared rate limits; None = not limited
    limits: tuple[RateLimit, ...]

    @property
    def kind(self) -> ChannelKind:
        """console, feishu, dingtalk, wecom, email or webhook."""
        ...

    def describe(self) -> str:
        """Where the channel sends, redacted (safe to print and log)."""
        ...

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        """Deliver, or raise Throttled / DeliveryError."""
        ...


def robot_key(url: str) -> str:
    """A stable, non-reversible name for a webhook (what rate limits are keyed by)."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:16]


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, exactly the bytes that are sent (and measured against limits)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---- shared HTTP handling ------------------------------------------------------------------
_TRANSPORT_NAMES: tuple[tuple[type[Exception], str], ...] = (
    (httpx.ConnectTimeout, "连接超时"),
    (httpx.ReadTimeout, "读取超时"),
    (httpx.WriteTimeout, "发送超时"),
    (httpx.PoolTimeout, "连接池等待超时"),
    (httpx.ConnectError, "无法连接"),
    (httpx.RemoteProtocolError, "连接被对方中断"),
    (httpx.ReadError, "读取失败"),
    (httpx.WriteError, "发送失败"),
)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    what: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``body``; transport failures become retryable DeliveryError without the URL."""
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        return await client.post(url, content=body, headers=all_headers, timeout=HTTP_TIMEOUT)
    except httpx.TransportError as exc:
        label = next((t for cls, t in _TRANSPORT_NAMES if isinstance(exc, cls)), "网络错误")
        raise DeliveryError(f"{what}请求失败：{label}", retryable=True) from None
    except httpx.InvalidURL:
        raise DeliveryError(f"{what}的 webhook 地址无效", retryable=False) from None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (seconds or HTTP date) or 飞书's ``x-ogw-ratelimit-reset``."""
    for header in ("retry-after", "x-ogw-ratelimit-reset"):
        value = response.headers.get(header)
        if not value:
            continue
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _short(text: object, limit: int = 160) -> str:
    shown = redact_text(str(text)).replace("\n", " ").strip()
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _no_code(response: httpx.Response, what: str) -> DeliveryError:
    """An answer without the IM's envelope: a gateway page, an outage, a wrong URL."""
    status = response.status_code
    retryable = status >= 500 or 200 <= status < 300 or status in (408, 425)
    return DeliveryError(f"{what}返回了无法识别的应答（HTTP {status}）", retryable=retryable)


class _HttpChannel:
    """Common parts of the webhook channels (URL handling, repr, limits)."""

    kind: ClassVar[ChannelKind]
    label: ClassVar[str]
    default_limits: ClassVar[tuple[RateLimit, ...]] = ()

    def __init__(
        self,
        name: str,
        url: str,
        *,
        limits: tuple[RateLimit, ...] | None = None,
        url_env: str = "",
        secret_env: str = "",
    ) -> None:
        self.name = name
        self.url = url.strip()
        self.limits = self.default_limits if limits is None else limits
        self.limit_key: str | None = robot_key(self.url) if self.limits else None
        self.url_env = url_env or "webhook 地址"
        self.secret_env = secret_env or "签名密钥"
        register_secret(self.url)
        try:
            for param, value in httpx.URL(self.url).params.multi_items():
                if param.lower() in _SECRET_PARAMS or len(value) >= 12:
                    register_secret(value)
        except httpx.InvalidURL:
            pass  # send() reports it
        token = self.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        if len(token) >= 12:
            register_secret(token)

    @property
    def what(self) -> str:
        return f"{self.label}「{self.name}」"

    def describe(self) -> str:
        return f"{self.label} {redact_url(self.url)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={redact_url(self.url)!r})"

    def _advice(self, table: dict[int, str], code: int) -> str | None:
        advice = table.get(code)
        return advice.format(secret=self.secret_env, url=self.url_env) if advice else None

    def _refused(
        self, response: httpx.Response, code: int, msg: str, advice: dict[int, str]
    ) -> NoReturn:
        """The robot answered an error that is not a rate limit: retry a server-side failure
        later, otherwise fail with the robot's code and what to fix."""
        if response.status_code >= 500:
            raise DeliveryError(
                f"{self.what}暂时不可用（HTTP {response.status_code}，{code} {msg}）",
                retryable=True,
                code=code,
            )
        hint = self._advice(advice, code)
        reason = f"{self.what}拒绝了消息（{code} {msg}）"
        raise DeliveryError(f"{reason}：{hint}" if hint else reason, code=code)


# ---- console -------------------------------------------------------------------------------
class ConsoleChannel:
    """Prints each message literally: rich markup, emoji codes and highlighting are off, so a
    ``[bold]`` or ``:smile:`` in a title is shown as written (values carry no control
    characters either: see livekit.monitor.markup)."""

    kind: ClassVar[ChannelKind] = "console"

    def __init__(self, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream
        self.limit_key: str | None = None
        self.limits: tuple[RateLimit, ...] = ()

    def describe(self) -> str:
        return "控制台输出"

    def __repr__(self) -> str:
        return f"ConsoleChannel(name={self.name!r})"

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        from rich.console import Console

        stream = self.stream if self.stream is not None else sys.stdout
        # force_jupyter=False: in a notebook rich would otherwise display the message as cell
        # output whatever ``file`` says (a sandbox replay inside a report must stay silent)
        console = Console(
            file=stream,
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=True,
            force_jupyter=False,
        )
        label = SEVERITY_LABELS.get(message.severity, message.severity)
        stamp = message.created_at.strftime("%Y-%m-%d %H:%M:%S")
        style = {"critical": "bold red", "warning": "bold yellow"}.get(message.severity, "bold")
        console.print(f"[{label}] {message.title}  ({stamp})", style=style)
        if message.text:
            console.print(message.text)
        console.print()
        stream.flush()


# ---- 飞书 ----------------------------------------------------------------------------------
class FeishuChannel(_HttpChannel):
    """飞书 custom bot: ``text`` (default) or ``post``; signed in the body when a secret is set."""

    kind: ClassVar[ChannelKind] = "feishu"
    label: ClassVar[str] = "飞书机器人"
    default_limits = FEISHU_LIMITS

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None = None,
        *,
        msg_type: Literal["text", "post"] = "text",
        limits: tuple[RateLimit, ...] | None = None,
        url_env: str = "",
        secret_env: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, url, limits=limits, url_env=url_env, secret_env=secret_env)
        self._secret = secret or None
        register_secret(self._secret)
        self.msg_type = msg_type
        self.clock = clock

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def body(self, message: Message) -> bytes:
        """The exact request body: signed now, truncated to fit 20 KB."""
        extra: dict[str, str] = {}
        if self._secret is not None:
            ts = int(self.clock())
            extra = {"timestamp": str(ts), "sign": feishu_sign(ts, self._secret)}

        def build(text: str) -> bytes:
            if self.msg_type == "post":
                lines = text.split("\n")
                content: dict[str, Any] = {
                    "post": {
                        "zh_cn": {
                            "title": message.title,
                            "content": [[{"tag": "text", "text": line}] for line in lines],
                        }
                    }
                }
                return dumps({**extra, "msg_type": "post", "content": content})
            return dumps({**extra, "msg_type": "text", "content": {"text": text}})

        if self.msg_type == "post":
            text = message.text
        else:
            text = with_title(message.title, message.text, markdown=False)
        return build(fit(text, lambda t: len(build(t)), FEISHU_BODY_LIMIT))

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        response = await post_json(client, self.url, self.body(message), what=self.what)
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            raise Throttled(retry_after(response), f"{self.what}限流（HTTP 429）", code=429)
        data = _json_object(response)
        code_value = None if data is None else data.get("code", data.get("StatusCode"))
        if data is None or not isinstance(code_value, int):
            raise _no_code(response, self.what)
        if code_value == 0:
            return
        msg = _short(data.get("msg") or data.get("StatusMessage") or "")
        lowered = msg.lower()
        limited_9499 = code_value == 9499 and ("too many" in lowered or "limit" in lowered)
        if code_value in FEISHU_THROTTLED or limited_9499:
            raise Throttled(
                retry_after(response), f"{self.what}限流（{code_value} {msg}）", code=code_value
            )
        self._refused(response, code_value, msg, FEISHU_ADVICE)


# ---- 钉钉 ----------------------------------------------------------------------------------
class DingTalkChannel(_HttpChannel):
    """钉钉 custom robot, markdown; ``timestamp`` and ``sign`` in the URL when a secret is set."""

    kind: ClassVar[ChannelKind] = "dingtalk"
    label: ClassVar[str] = "钉钉机器人"
    default_limits = DINGTALK_LIMITS

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None = None,
        *,
        limits: tuple[RateLimit, ...] | None = None,
        url_env: str = "",
        secret_env: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, url, limits=limits, url_env=url_env, secret_env=secret_env)
        self._secret = secret or None
        register_secret(self._secret)
        self.clock = clock

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def signed_url(self) -> str:
        if self._secret is None:
            return self.url
        ts = int(self.clock() * 1000)
        sep = "&" if "?" in self.url else "?"
        # dingtalk_sign is already percent-encoded; httpx keeps existing escapes as they are.
        return f"{self.url}{sep}timestamp={ts}&sign={dingtalk_sign(ts, self._secret)}"

    def body(self, message: Message) -> bytes:
        def build(text: str) -> bytes:
            markdown = {"title": message.title, "text": text}
            return dumps({"msgtype": "markdown", "markdown": markdown})

        text = with_title(message.title, message.markdown or message.text, markdown=True)
        return build(fit(text, lambda t: len(build(t)), DINGTALK_BODY_LIMIT))

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        response = await post_json(client, self.signed_url(), self.body(message), what=self.what)
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            raise Throttled(retry_after(response), f"{self.what}限流（HTTP 429）", code=429)
        data = _json_object(response)
        code = None if data is None else data.get("errcode")
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)  # some DingTalk answers quote the number
        if data is None or not isinstance(code, int):
            raise _no_code(response, self.what)
        if code == 0:
            return
        msg = _short(data.get("errmsg") or "")
        if code in DINGTALK_THROTTLED:
            hint = retry_after(response) or DINGTALK_THROTTLED[code]
            raise Throttled(hint, f"{self.what}限流（{code} {msg}）", code=code)
        self._refused(response, code, msg, DINGTALK_ADVICE)


# ---- 企业微信 ------------------------------------------------------------------------------
class WeComChannel(_HttpChannel):
    """企业微信 group robot, markdown ≤ 4096 UTF-8 bytes (the key in the URL is the secret)."""

    kind: ClassVar[ChannelKind] = "wecom"
    label: ClassVar[str] = "企业微信机器人"
    default_limits = WECOM_LIMITS

    def content(self, message: Message) -> str:
        text = with_title(message.title, message.markdown or message.text, markdown=True)
        return fit(text, utf8_len, WECOM_MARKDOWN_LIMIT)

    def body(self, message: Message) -> bytes:
        return dumps({"msgtype": "markdown", "markdown": {"content": self.content(message)}})

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        response = await post_json(client, self.url, self.body(message), what=self.what)
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            raise Throttled(retry_after(response), f"{self.what}限流（HTTP 429）", code=429)
        data = _json_object(response)
        code = None if data is None else data.get("errcode")
        if data is None or not isinstance(code, int):
            raise _no_code(response, self.what)
        if code == 0:
            return
        msg = _short(data.get("errmsg") or "")
        if code in WECOM_THROTTLED:
            hint = retry_after(response) or WECOM_THROTTLED[code]
            raise Throttled(hint, f"{self.what}限流（{code} {msg}）", code=code)
        if code in WECOM_RETRYABLE:
            raise DeliveryError(f"{self.what}暂时不可用（{code} {msg}）", retryable=True, code=code)
        self._refused(response, code, msg, WECOM_ADVICE)


# ---- generic JSON webhook ------------------------------------------------------------------
def message_json(message: Message) -> dict[str, Any]:
    """The message fields as JSON (what the generic webhook posts and the outbox stores)."""
    return {
        "key": message.key,
        "kind": message.kind,
        "severity": message.severity,
        "title": message.title,
        "text": message.text,
        "markdown": message.markdown,
        "created_at": message.created_at.isoformat(),
        "alerts": list(message.alerts),
    }


def webhook_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{ts}." + body)>`` (header ``X-Livekit-Signature``)."""
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookChannel(_HttpChannel):
    """POSTs the message fields as JSON; any 2xx is delivered.

    With a secret, the request carries ``X-Livekit-Timestamp`` (seconds) and
    ``X-Livekit-Signature`` (:func:`webhook_signature`) so the receiver can check its origin.
    """

    kind: ClassVar[ChannelKind] = "webhook"
    label: ClassVar[str] = "Webhook"

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None = None,
        *,
        limits: tuple[RateLimit, ...] | None = None,
        url_env: str = "",
        secret_env: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, url, limits=limits, url_env=url_env, secret_env=secret_env)
        self._secret = secret or None
        register_secret(self._secret)
        self.clock = clock

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        body = dumps(message_json(message))
        headers = {"User-Agent": "livekit-monitor"}
        if self._secret is not None:
            ts = int(self.clock())
            headers["X-Livekit-Timestamp"] = str(ts)
            headers["X-Livekit-Signature"] = webhook_signature(self._secret, ts, body)
        response = await post_json(client, self.url, body, what=self.what, headers=headers)
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429:
            raise Throttled(retry_after(response), f"{self.what}限流（HTTP 429）", code=429)
        if status >= 500 or status in (408, 425):
            raise DeliveryError(
                f"{self.what}暂时不可用（HTTP {status}）", retryable=True, code=status
            )
        raise DeliveryError(
            f"{self.what}拒绝了消息（HTTP {status}）：请检查 {self.url_env} 和接收端",
            code=status,
        )
