"""E-mail over SMTP (aiosmtplib): subject = title, a plain-text part and an HTML part.

The message's values are already inert text (see :mod:`livekit.monitor.markup`); the HTML part
is built from the Markdown with everything HTML-escaped first (:func:`.text.markdown_to_html`).

``LIVEKIT_SMTP_URL`` decides how to connect:

- ``smtps://user:pass@host:465`` — implicit TLS from the first byte (port 465 by default).
- ``smtp://user:pass@host:587`` — STARTTLS is **required** when a password is given, so a
  password never crosses the network in clear text; the exception is a loopback host
  (127.0.0.1, ::1, localhost), where STARTTLS is used only if the server offers it.
- ``smtp://host:25`` without credentials — STARTTLS when the server offers it, plain
  otherwise (an internal relay, or a test server on loopback). Port 25 by default.

User name and password may be percent-encoded (``%40`` for ``@``). The sender is the user name
when it is an address, else ``livekit@localhost``. Recipients come from
``LIVEKIT_ALERT_EMAIL_TO`` (comma-separated).

SMTP answers: 4xx replies, timeouts and dropped connections are retried later; 5xx replies
(authentication failed 535, recipient refused 550, …) are fatal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import httpx

from livekit.monitor.notify.channels import ChannelKind
from livekit.monitor.notify.errors import DeliveryError
from livekit.monitor.notify.ratelimit import RateLimit
from livekit.monitor.notify.redact import redact_text, register_secret
from livekit.monitor.notify.text import markdown_to_html
from livekit.monitor.types import Message
from livekit.text import plain_text

DEFAULT_FROM = "livekit@localhost"
SUBJECT_LIMIT = 200  # characters; RFC 5322 folds longer headers, readers cut them anyway
SMTP_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmtpTarget:
    """A parsed ``LIVEKIT_SMTP_URL``; ``repr`` never shows the password."""

    host: str
    port: int
    use_tls: bool  # implicit TLS (smtps://)
    start_tls: bool | None  # True: required; None: when offered
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """ValueError (with a Chinese reason, no secret) when ``url`` is not an SMTP URL."""
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname
            port = parts.port
        except ValueError:
            raise ValueError("不是有效的 SMTP 地址") from None
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError("应以 smtp:// 或 smtps:// 开头")
        if not host:
            raise ValueError("缺少邮件服务器主机名")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        register_secret(password)
        if scheme == "smtps":
            return cls(host, port or 465, True, False, username, password)
        start_tls: bool | None = None
        if password is not None and not is_loopback(host):
            start_tls = True
        return cls(host, port or 25, False, start_tls, username, password)

    @property
    def sender(self) -> str:
        return self.username if self.username and "@" in self.username else DEFAULT_FROM

    def describe(self) -> str:
        scheme = "smtps" if self.use_tls else "smtp"
        user = f"{self.username}:****@" if self.password else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class EmailChannel:
    """Sends each message as one e-mail to every recipient."""

    kind: ClassVar[ChannelKind] = "email"

    def __init__(
        self,
        name: str,
        target: SmtpTarget,
        recipients: Sequence[str],
        *,
        limits: tuple[RateLimit, ...] = (),
        url_env: str = "LIVEKIT_SMTP_URL",
    ) -> None:
        if not recipients:
            raise ValueError("an e-mail channel needs at least one recipient")
        self.name = name
        self.target = target
        self.recipients = tuple(recipients)
        self.limits = limits
        self.limit_key: str | None = f"smtp:{target.host}:{target.port}" if limits else None
        self.url_env = url_env

    def describe(self) -> str:
        return f"邮件 {self.target.describe()} → {', '.join(self.recipients)}"

    def __repr__(self) -> str:
        return f"EmailChannel(name={self.name!r}, target={self.target.describe()!r})"

    def build(self, message: Message) -> EmailMessage:
        """The e-mail: headers from our own values only, each on one line (a line break in a
        header value would start a header of its own; ``email`` refuses it, so it is removed)."""
        mail = EmailMessage()
        mail["Subject"] = plain_text(message.title, SUBJECT_LIMIT) or "livekit"
        mail["From"] = self.target.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain="livekit.local")
        mail["X-Livekit-Key"] = plain_text(message.key, SUBJECT_LIMIT)
        mail.set_content(message.text or message.title, charset="utf-8")
        html = markdown_to_html(message.markdown or message.text, title=message.title)
        mail.add_alternative(html, subtype="html", charset="utf-8")
        return mail

    async def send(self, message: Message, client: httpx.AsyncClient) -> None:
        import aiosmtplib

        what = f"邮件渠道「{self.name}」"
        t = self.target
        try:
            await aiosmtplib.send(
                self.build(message),
                sender=t.sender,
                recipients=list(self.recipients),
                hostname=t.host,
                port=t.port,
                username=t.username if t.password is not None else None,
                password=t.password,
                use_tls=t.use_tls,
                start_tls=t.start_tls,
                timeout=SMTP_TIMEOUT,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(r.recipient for r in exc.recipients))
            raise DeliveryError(
                f"{what}的收件人被拒绝（{_clean(refused)}）：请检查 LIVEKIT_ALERT_EMAIL_TO"
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{what}登录失败（{exc.code}）：请检查 {self.url_env} 中的用户名和密码",
                code=exc.code,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.code < 500
            raise DeliveryError(
                f"{what}被邮件服务器拒绝（{exc.code} {_clean(exc.message)}）",
                retryable=retryable,
                code=exc.code,
            ) from None
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            raise DeliveryError(f"{what}连接邮件服务器超时", retryable=True) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            raise DeliveryError(
                f"{what}无法连接邮件服务器 {t.host}:{t.port}（{type(exc).__name__}）",
                retryable=True,
            ) from None
        except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS required but not offered
            raise DeliveryError(
                f"{what}发送失败（{_clean(str(exc))}）：请检查 {self.url_env}"
            ) from None


def _clean(text: str) -> str:
    shown = redact_text(text).replace("\n", " ").strip()
    return shown if len(shown) <= 160 else shown[:159] + "…"
