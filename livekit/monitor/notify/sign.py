"""Signatures of the IM robots (pure functions; see docs/metrics.md "Where alerts go").

The two robots sign differently, which is the usual mistake (钉钉 code pasted for 飞书 fails
with 19021):

- 飞书: the *key* is ``f"{timestamp}\\n{secret}"`` and the message is empty; timestamp in
  seconds; ``timestamp`` and ``sign`` go in the JSON body. Feishu rejects a timestamp more than
  one hour away from its clock (code 19021).
- 钉钉: the key is the secret and the message is ``f"{timestamp}\\n{secret}"``; timestamp in
  milliseconds; the base64 signature is URL-encoded and goes in the query string with
  ``timestamp``. DingTalk also rejects a timestamp more than one hour off (310000).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """``base64(HMAC_SHA256(key=f"{ts}\\n{secret}", msg=b""))`` for a 飞书 custom bot."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """``urlencode(base64(HMAC_SHA256(key=secret, msg=f"{ts}\\n{secret}")))`` for 钉钉.

    The result is already percent-encoded: append it to the URL as is (``&sign=…``).
    """
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))
