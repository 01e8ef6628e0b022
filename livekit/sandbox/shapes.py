"""Numbers in other shapes than the sandbox's own: floats, strings, a mix, or one lossy value.

The platforms are not consistent about number types: the ad report sends counts as ``12.0``,
SDKs of both platforms declare some ids and amounts as strings, and nothing stops a release
from changing that. ``Faults.number_shape`` makes the sandbox answer its data endpoints that
way, so the client's conversion (livekit.ingest.convert) is tested against every shape:

* ``native``: as generated (ints, floats, strings as documented);
* ``float``: every integer that is not an id becomes a float (``34397`` → ``34397.0``); ids
  stay integers, since a float cannot carry a 19-digit id;
* ``string``: every number, ids included, becomes its text (``"34397"``, ``"12.5"``,
  ``"1800000000000000001"``), money as the shortest text that reads back the same float;
* ``mixed``: per value, deterministically (by field name and value), native, float (non-ids
  only), string, or string with surrounding spaces;
* ``lossy``: like ``float``, but the first count of every answer (an integer that is not an
  id, or a whole float named ``*cnt*``/``*count*``) carries half a unit (``34397.5``): a
  value no client can store as a count without losing something.

Paging fields (``page_info``, 抖店 ``page``/``size``/``total``) are shaped too, except that the
lossy value is never one of them. Booleans keep their shape.
The input is never modified: cached aggregates are shared between requests.
"""

from __future__ import annotations

import zlib
from typing import Any

NUMBER_SHAPES = ("native", "float", "string", "mixed", "lossy")
PAGING_KEYS = frozenset({"page_info", "page", "size", "total"})


def is_id(key: str) -> bool:
    return key.endswith(("_id", "Id")) or key == "id"


def is_count(key: str, v: int | float) -> bool:
    """An integer, or a whole float named like a count (the ad report sends counts as floats)."""
    if isinstance(v, int):
        return not is_id(key)
    return v.is_integer() and ("cnt" in key or "count" in key)


class _Shaper:
    def __init__(self, shape: str) -> None:
        if shape not in NUMBER_SHAPES:
            raise ValueError(f"unknown number shape {shape!r}; known {list(NUMBER_SHAPES)}")
        self.shape = shape
        self.spoiled = False  # lossy: one value per answer

    def value(self, key: str, v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, dict):
            return {k: self.value(k, x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(key, x) if isinstance(x, dict | list) else x for x in v]
        if not isinstance(v, int | float):
            return v
        shape = self.shape
        if shape == "mixed":
            shape = ("native", "float", "string", "spaced")[zlib.crc32(f"{key}={v}".encode()) % 4]
        if shape == "native":
            return v
        if shape in ("float", "lossy"):
            if is_id(key):
                return v
            if shape == "lossy" and not self.spoiled and is_count(key, v):
                self.spoiled = True
                return v + 0.5
            return float(v)
        text = repr(v)  # ints: their digits; floats: the shortest text that reads back equal
        return f" {text} " if shape == "spaced" else text


def shape_numbers(data: Any, shape: str) -> Any:
    """A copy of a data endpoint's ``data`` with its numbers in ``shape`` (see the module)."""
    if shape == "native" or not isinstance(data, dict):
        return data
    shaper = _Shaper(shape)
    paging = _Shaper("float" if shape == "lossy" else shape)  # the lossy value is a count
    return {k: (paging if k in PAGING_KEYS else shaper).value(k, v) for k, v in data.items()}
