"""The error root: every error livekit shows a user derives from :class:`LivekitError`."""

from __future__ import annotations

__all__ = ["LivekitError"]


class LivekitError(Exception):
    """Base of every error livekit shows to a user; ``str()`` is a readable Chinese message."""
