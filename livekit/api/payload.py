"""Where a piece of response data came from: its endpoint and the response's request id.

The platform clients return only an envelope's ``data``. When a value inside it later turns
out to be unusable (livekit.ingest.convert), the user needs the request id (巨量千川
``request_id``, 抖店 ``log_id``) to ask the platform about that very response. So
:func:`tag` wraps the ``data`` object of every successful envelope, and each object in its
top-level lists (the rows of a page), in :class:`Payload`: a plain ``dict`` that also knows
its origin. Rows gathered from several pages keep each their own page's request id.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from livekit.api.errors import Platform, UpstreamError


class Payload(dict[str, Any]):
    """A JSON object from one response, with ``endpoint`` and ``request_id`` attached."""

    __slots__ = ("endpoint", "request_id")

    def __init__(self, data: dict[str, Any], endpoint: str, request_id: str) -> None:
        super().__init__(data)
        self.endpoint = endpoint
        self.request_id = request_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (Payload, (dict(self), self.endpoint, self.request_id))


def tag(data: Any, endpoint: str, request_id: str) -> Any:
    """``data`` with its object, and the objects of its top-level lists, as :class:`Payload`."""
    if not isinstance(data, dict):
        return data
    out = Payload(data, endpoint, request_id)
    for key, value in data.items():
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            out[key] = [
                Payload(v, endpoint, request_id) if isinstance(v, dict) else v for v in value
            ]
    return out


def origin(obj: Any) -> tuple[str, str]:
    """(endpoint, request id) of a tagged object; empty strings when unknown."""
    if isinstance(obj, Payload):
        return obj.endpoint, obj.request_id
    return "", ""


def paging_number(value: Any, *, platform: Platform, endpoint: str, field: str, source: Any) -> int:
    """A paging field (``total_num``, ``total_page``, ``total``) as an int, converted only when
    nothing is lost (``3.0``, ``"3"``, ``" 3.0 "``); else one UpstreamError naming the field.

    Paging numbers decide how many more requests a client makes, so they are read here, in the
    API layer, not by livekit.ingest.convert (which the API layer may not import).
    """
    number: float | int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        with contextlib.suppress(ValueError):
            number = int(text) if text.isdecimal() else float(text)
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if isinstance(number, int) and number >= 0:
        return number
    _, request_id = origin(source)
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
    raise UpstreamError(
        platform, endpoint, 0, f"分页字段 {field} 不是非负整数：{shown}", request_id=request_id
    )
