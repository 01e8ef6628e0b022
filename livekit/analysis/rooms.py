"""The ``rooms`` parameter every report takes: which live rooms to look at.

One reading for every report: room ids come as numbers or digit strings (YAML, ``-p``, a
notebook), one id alone or a list; empty or None means every room.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from livekit.text import plain_text
from livekit.vocab.errors import LivekitError

__all__ = ["only_rooms", "room_ids"]


def room_ids(rooms: Iterable[object] | int | str | None) -> tuple[int, ...]:
    """The ``rooms`` parameter as room ids, each once, in the order given; ``()`` for every room.

    A room id is a whole number written as one or as digits (a float would have lost digits
    of an 19-digit id); anything else raises :class:`LivekitError` naming the value.
    """
    if rooms is None:
        return ()
    values: list[object] = [rooms] if isinstance(rooms, int | str) else list(rooms)
    out: list[int] = []
    for value in values:
        text = str(value).strip()
        if (
            isinstance(value, bool)
            or not isinstance(value, int | str)
            or not (text.isascii() and text.isdigit())
        ):
            shown = plain_text(repr(value), limit=60)
            raise LivekitError(
                f"rooms 须为直播间 room_id（整数）的列表，例如 [7704121983748191672]；收到 {shown}"
            )
        out.append(int(text))
    return tuple(dict.fromkeys(out))


def only_rooms(rooms: pl.DataFrame, ids: Sequence[int]) -> pl.DataFrame:
    """The rows of ``rooms`` whose ``room_id`` is in ``ids``; every row when ``ids`` is empty."""
    if not ids:
        return rooms
    if "room_id" not in rooms.columns:
        raise LivekitError("按 rooms 筛选直播间需要 room_id 列")
    return rooms.filter(pl.col("room_id").is_in(list(ids)))
