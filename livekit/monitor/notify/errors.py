"""Typed delivery errors of the notifiers.

::

    LivekitError                (livekit.config)
    └── NotifyError             a notification could not be delivered (this time)
        ├── Throttled           the IM (or the SMTP server, or a webhook) said "too fast"
        └── DeliveryError       anything else; ``retryable`` says whether trying later may help

Every ``str()`` is one Chinese line that never contains a webhook token, a signing secret or a
password: channels build the reason from redacted parts only (see :mod:`.redact`).
"""

from __future__ import annotations

from livekit.vocab.errors import LivekitError


class NotifyError(LivekitError):
    """Base of the notifier errors; ``reason`` is the Chinese explanation."""

    def __init__(self, reason: str, *, code: int | str | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class Throttled(NotifyError):  # noqa: N818 (reads as what happened)
    """The receiver rate-limited us; ``retry_after_s`` is its hint (None when it gave none)."""

    def __init__(
        self,
        retry_after_s: float | None = None,
        reason: str = "发送过于频繁，被对方限流",
        *,
        code: int | str | None = None,
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(reason, code=code)

    def __repr__(self) -> str:
        return f"Throttled(retry_after_s={self.retry_after_s!r}, reason={self.reason!r})"


class DeliveryError(NotifyError):
    """Not delivered. ``retryable`` False means trying again cannot help (fix the config)."""

    def __init__(
        self, reason: str, retryable: bool = False, *, code: int | str | None = None
    ) -> None:
        self.retryable = retryable
        super().__init__(reason, code=code)

    def __repr__(self) -> str:
        return f"DeliveryError({self.reason!r}, retryable={self.retryable!r})"
