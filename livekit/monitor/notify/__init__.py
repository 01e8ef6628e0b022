"""Notifiers of the live monitor: channels (console, 飞书, 钉钉, 企业微信, e-mail, webhook),
their configuration from the environment and the rules file, per-robot rate limits, and the
persistent outbox that queues, retries and digests deliveries so no alert is dropped silently.

Typical use::

    channels = resolve_channels(specs, names_used, load_environ())
    outbox = Outbox(settings.state_dir / "monitor" / "outbox.json")
    outbox.enqueue(messages, ["feishu", "email"])
    result = await outbox.pump(channels, client)      # result.failed is never empty silently
"""

from __future__ import annotations

from livekit.monitor.notify.channels import (
    Channel,
    ChannelKind,
    ConsoleChannel,
    DingTalkChannel,
    FeishuChannel,
    WebhookChannel,
    WeComChannel,
    message_json,
    webhook_signature,
)
from livekit.monitor.notify.config import (
    BUILTIN_SPECS,
    ChannelSpec,
    channels_from_env,
    load_environ,
    parse_channel_specs,
    resolve_channels,
)
from livekit.monitor.notify.errors import DeliveryError, NotifyError, Throttled
from livekit.monitor.notify.outbox import (
    Backoff,
    Delivered,
    Failed,
    Outbox,
    PumpResult,
    Retrying,
    digest_message,
    test_channels,
    test_message,
)
from livekit.monitor.notify.ratelimit import RateLimit, SlidingWindowLimiter
from livekit.monitor.notify.redact import install_log_redaction, redact_text, redact_url
from livekit.monitor.notify.sign import dingtalk_sign, feishu_sign
from livekit.monitor.notify.smtp import EmailChannel, SmtpTarget

__all__ = [
    "BUILTIN_SPECS",
    "Backoff",
    "Channel",
    "ChannelKind",
    "ChannelSpec",
    "ConsoleChannel",
    "Delivered",
    "DeliveryError",
    "DingTalkChannel",
    "EmailChannel",
    "Failed",
    "FeishuChannel",
    "NotifyError",
    "Outbox",
    "PumpResult",
    "RateLimit",
    "Retrying",
    "SlidingWindowLimiter",
    "SmtpTarget",
    "Throttled",
    "WeComChannel",
    "WebhookChannel",
    "channels_from_env",
    "digest_message",
    "dingtalk_sign",
    "feishu_sign",
    "install_log_redaction",
    "load_environ",
    "message_json",
    "parse_channel_specs",
    "redact_text",
    "redact_url",
    "resolve_channels",
    "test_channels",
    "test_message",
    "webhook_signature",
]
