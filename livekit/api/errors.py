"""Errors of the API layer: one tree, every ``str()`` a readable Chinese line with what to do.

::

    LivekitError                  (livekit.config; base of everything shown to a user)
    ├── ConfigError               a setting is missing or invalid
    ├── LoginError                the browser login did not complete (state mismatch, denied, timeout)
    ├── TokenLockTimeout          another livekit process held the token file lock too long
    └── ApiError                  the upstream answered with an error
        ├── ReauthorizeRequired   tokens are gone or dead: run ``livekit auth login <platform>``
        ├── AccessTokenRejected   (internal) refresh once and retry; never reaches a user
        ├── PermissionDenied      the authorization does not cover this resource
        ├── BadParameter          the request was wrong (or, for 抖店 signatures, a livekit bug)
        ├── RateLimited           still rate limited after every retry
        └── UpstreamError         5xx, timeouts, broken connections, truncated bodies, system errors

No error ever carries a URL with a query string, a token, a signature or a secret: transport
errors are described by their type only ("读取超时") and raised ``from None``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from livekit.config import ConfigError
from livekit.vocab.errors import LivekitError

Platform = Literal["qianchuan", "doudian"]

PLATFORM_NAMES: dict[str, str] = {"qianchuan": "巨量千川", "doudian": "抖店"}

_SECRET_PAIRS = re.compile(
    r"(?i)\b(\w*(?:token|secret)|sign)=[^&\s\"'#]+",
)
_SECRET_JSON = re.compile(r"(?i)(\"\w*(?:token|secret)\"\s*:\s*)\"[^\"]*\"")


def redact(text: str) -> str:
    """Mask ``access_token=…``, ``sign=…``, ``"secret": "…"`` and the like in free text."""
    text = _SECRET_PAIRS.sub(lambda m: m.group(1) + "=***", text)
    return _SECRET_JSON.sub(lambda m: m.group(1) + '"***"', text)


class LoginError(LivekitError):
    """The consent flow did not complete: state mismatch, denied consent or a timeout."""


class TokenLockTimeout(LivekitError):  # noqa: N818 (names read as what happened)
    """The token file stayed locked by another process for too long."""


class ApiError(LivekitError):
    """The upstream answered with an error.

    Attributes: ``platform`` ("qianchuan" | "doudian"), ``endpoint`` (path or method name, never a
    query string), ``code`` (the envelope code, an HTTP status, or 0 for transport errors),
    ``sub_code`` (抖店), ``message`` (upstream message, redacted), ``request_id`` (巨量千川
    request_id / 抖店 log_id).
    """

    hint: ClassVar[str] = "请根据上面的错误信息检查请求。"

    def __init__(
        self,
        platform: Platform,
        endpoint: str,
        code: int = 0,
        message: str = "",
        *,
        sub_code: str = "",
        request_id: str = "",
        advice: str | None = None,
    ) -> None:
        self.platform: Platform = platform
        self.endpoint = endpoint
        self.code = code
        self.sub_code = sub_code
        self.message = redact(message)
        self.request_id = request_id
        self.advice = advice if advice is not None else self.hint.format(platform=platform)
        super().__init__(self._format())

    def _format(self) -> str:
        name = PLATFORM_NAMES.get(self.platform, self.platform)
        if not self.endpoint and not self.code:  # not about one call, e.g. no tokens saved
            return f"{name}：{self.message}。{self.advice}" if self.message else self.advice
        where = f"{name}接口 {self.endpoint}" if self.endpoint else name
        if self.code:
            what = f"返回错误 {self.code}"
            if self.sub_code:
                what += f"（{self.sub_code}）"
        else:
            what = "请求失败"
        if self.message:
            what += f"：{self.message}"
        if self.request_id:
            label = "log_id" if self.platform == "doudian" else "request_id"
            what += f"（{label} {self.request_id}）"
        return f"{where} {what}。{self.advice}"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self._format()

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the attributes when an error crosses a process boundary (pickling).
        return (
            _rebuild,
            (
                type(self),
                self.platform,
                self.endpoint,
                self.code,
                self.message,
                self.sub_code,
                self.request_id,
                self.advice,
            ),
        )


def _rebuild(
    cls: type[ApiError],
    platform: Platform,
    endpoint: str,
    code: int,
    message: str,
    sub_code: str,
    request_id: str,
    advice: str,
) -> ApiError:
    return cls(
        platform,
        endpoint,
        code,
        message,
        sub_code=sub_code,
        request_id=request_id,
        advice=advice,
    )


class ReauthorizeRequired(ApiError):  # noqa: N818 (names read as what happened)
    """Tokens are missing, expired or revoked beyond refresh: the user must log in again."""

    hint = "请运行 `livekit auth login {platform}` 重新授权。"


class AccessTokenRejected(ApiError):  # noqa: N818 (names read as what happened)
    """The access token was rejected (expired, invalid, empty).

    An internal signal: the platform clients answer it by refreshing once and retrying; users see
    :class:`ReauthorizeRequired` if the refreshed token is rejected too.
    """

    hint = "访问令牌无效或已过期：请运行 `livekit auth login {platform}` 重新授权。"


class PermissionDenied(ApiError):  # noqa: N818 (names read as what happened)
    """The authorization does not cover the resource (e.g. an advertiser not granted to the app)."""

    hint = "当前授权没有访问该资源的权限：请确认该账户已授权给本应用，或重新授权时勾选相应权限。"


class BadParameter(ApiError):  # noqa: N818 (names read as what happened)
    """The upstream rejected a parameter; the message says which."""

    hint = "请检查请求参数。"


class RateLimited(ApiError):  # noqa: N818 (names read as what happened)
    """Still rate limited after every retry."""

    hint = "多次重试后仍被限流：请调低 LIVEKIT_QPS 或稍后再试。"


class UpstreamError(ApiError):
    """A transient failure: HTTP 5xx, timeout, broken connection, invalid body, system error."""

    hint = "服务暂时不可用，自动重试后仍失败：请稍后再试。"


__all__ = [
    "PLATFORM_NAMES",
    "AccessTokenRejected",
    "ApiError",
    "BadParameter",
    "ConfigError",
    "LivekitError",
    "LoginError",
    "PermissionDenied",
    "Platform",
    "RateLimited",
    "ReauthorizeRequired",
    "TokenLockTimeout",
    "UpstreamError",
    "redact",
]
