"""Keep webhook tokens, signing secrets and SMTP passwords out of logs, errors and reprs.

A robot's webhook URL *is* its credential (飞书 ``/hook/<token>``, 钉钉 ``access_token=…``,
企业微信 ``key=…``), so a URL is only ever shown through :func:`redact_url`. As a second line of
defence every secret a channel is built with is registered here, and :class:`RedactingFilter`
(installed on the httpx, httpcore, aiosmtplib and livekit notifier loggers) masks URLs and
registered secrets in every log record: httpx logs the full request URL at INFO.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit

from livekit.credentials import register_value

MASK = "****"

log = logging.getLogger("livekit.monitor.notify")

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_MIN_SECRET_LEN = 4  # shorter strings would mask ordinary words

_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?|smtps?)://[^\s\"'<>]+")


def register_secret(value: str | None) -> None:
    """Remember a secret (token, signing secret, password, full URL) so logs never show it."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _SECRETS_LOCK:
            _SECRETS.add(value)
        register_value(value)  # and masked in every logger (livekit.credentials)


def _secret_looking(segment: str) -> bool:
    # Robot tokens are long random strings (UUIDs, 64 hex digits); path words like "send",
    # "hook", "v2" or "cgi-bin" are kept so the redacted URL still says what it points at.
    return len(segment) >= 12 or (len(segment) >= 6 and any(c.isdigit() for c in segment))


def redact_url(url: str) -> str:
    """``https://open.feishu.cn/open-apis/bot/v2/hook/abc…`` → ``…/hook/****``.

    Keeps scheme, host and port; masks a password, token-looking path segments and every query
    value (``?access_token=****``); drops the fragment. Unparseable input becomes ``****``.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    if parts.username:
        user = parts.username if len(parts.username) < 40 else MASK
        netloc = f"{user}:{MASK}@{netloc}" if parts.password is not None else f"{user}@{netloc}"
    segments = [MASK if _secret_looking(s) else s for s in parts.path.split("/")]
    path = "/".join(segments)
    query = ""
    if parts.query:
        keys = [item.split("=", 1)[0] for item in parts.query.split("&") if item]
        query = "?" + "&".join(f"{k}={MASK}" for k in keys)
    return f"{parts.scheme}://{netloc}{path}{query}"


def redact_text(text: str) -> str:
    """Mask every URL (see :func:`redact_url`) and every registered secret in free text."""
    return redact_secrets(_URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text))


def redact_secrets(text: str) -> str:
    """Mask every registered secret (tokens, signing secrets, passwords, webhook URLs), and
    redact whole any URL that carries one (its ``sign=`` and ``timestamp=`` go with it)."""
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    if not secrets:
        return text

    def url(match: re.Match[str]) -> str:
        found = match.group(0)
        return redact_url(found) if any(s in found for s in secrets) else found

    text = _URL_IN_TEXT.sub(url, text)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks the registered secrets in a record's message (and traceback text).

    Only registered secrets: the filter sits on the shared httpx/httpcore loggers, whose other
    records (the API client's requests) must stay readable. Every channel registers its webhook
    URL, tokens, keys and secrets when it is built, so a robot's URL is masked wherever it shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the logging machinery
            return True
        cleaned = redact_secrets(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
        return True


_LOGGERS = (
    "livekit.monitor.notify",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "aiosmtplib",
)


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to the loggers that may see a webhook URL (idempotent).

    A logger's filters only see records created on that very logger, so each known child
    logger gets its own filter, as do ``httpx.*`` / ``httpcore.*`` children that already exist.
    """
    names = set(_LOGGERS)
    names.update(
        name
        for name in logging.root.manager.loggerDict
        if name.startswith(("httpx.", "httpcore.", "aiosmtplib."))
    )
    for name in sorted(names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
