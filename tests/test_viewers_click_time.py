"""The viewer export's optional click time (issue 12, point 1 and must-show 3).

Files with and without ``click_time`` (CSV and Parquet) read into the same schema; a click time
that contradicts its row (no clicked product, outside the visit) is one Chinese line naming the
row; stores written before the column existed read it as null.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from livekit.sandbox.server import RunningSandbox
from livekit.source import open_source
from livekit.store import Store
from livekit.store.datasets import TIME
from livekit.viewers import (
    CLICK_SLACK,
    VIEWERS_SCHEMA,
    ViewerFileError,
    import_viewers,
    read_viewer_bytes,
    read_viewer_file,
)
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.sandbox import NOW

ROOM = "7712353117074129283"
OLD_COLUMNS = [c for c in VIEWERS_SCHEMA if c != "click_time"]
ROWS: list[dict[str, str]] = [
    {"viewer_id": "v1", "enter_time": "2026-11-26 20:00:00", "leave_time": "2026-11-26 20:05:00",
     "clicked_product_id": "", "click_time": "", "paid": "0", "pay_amount": "0"},
    {"viewer_id": "v2", "enter_time": "2026-11-26 20:01:00", "leave_time": "2026-11-26 20:09:00",
     "clicked_product_id": "42", "click_time": "2026-11-26 20:03:15", "paid": "1", "pay_amount": "19.9"},
    {"viewer_id": "v3", "enter_time": "2026-11-26 23:59:00", "leave_time": "2026-11-27 00:02:00",
     "clicked_product_id": "43", "click_time": "2026-11-27 00:00:30", "paid": "0", "pay_amount": "0"},
    {"viewer_id": "v4", "enter_time": "2026-11-26 20:02:00", "leave_time": "2026-11-26 20:04:00",
     "clicked_product_id": "42", "click_time": "", "paid": "0", "pay_amount": "0"},
]  # fmt: skip


def cells(row: dict[str, str]) -> dict[str, str]:
    return {
        "room_id": ROOM,
        "province": "广东",
        "traffic_source": "homepage_hot",
        "variant": "",
        **row,
    }


def csv_bytes(rows: list[dict[str, str]], columns: list[str]) -> bytes:
    lines = [",".join(columns)] + [",".join(cells(r)[c] for c in columns) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes(rows: list[dict[str, str]], columns: list[str]) -> bytes:
    """Parquet as the sandbox writes it: text times, int ids, 0/1 paid."""
    frame = pl.DataFrame([cells(r) for r in rows]).select(columns)
    frame = frame.with_columns(
        pl.col("room_id").cast(pl.Int64),
        pl.col("clicked_product_id").replace("", None).cast(pl.Int64),
        pl.col("paid").cast(pl.Int8),
        pl.col("pay_amount").cast(pl.Float64),
        *(
            [pl.col("click_time").replace("", None)]  # null, not "", as the sandbox writes it
            if "click_time" in columns
            else []
        ),
    )
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def china(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)


WITH = list(VIEWERS_SCHEMA)


@pytest.mark.parametrize("writer", [csv_bytes, parquet_bytes], ids=["csv", "parquet"])
def test_an_export_with_click_time(writer: Any) -> None:
    frame = read_viewer_bytes(writer(ROWS, WITH))
    assert frame.schema == pl.Schema(VIEWERS_SCHEMA)
    assert frame.schema["click_time"] == TIME
    assert frame.get_column("click_time").to_list() == [
        None,
        china("2026-11-26 20:03:15"),
        china("2026-11-27 00:00:30"),  # after midnight: the row stays in its enter day
        None,  # a click without a time (an older exporter): allowed
    ]
    assert frame.get_column("clicked_product_id").to_list() == [None, 42, 43, 42]


@pytest.mark.parametrize("writer", [csv_bytes, parquet_bytes], ids=["csv", "parquet"])
def test_an_export_without_click_time_keeps_working(writer: Any) -> None:
    old = read_viewer_bytes(writer(ROWS, OLD_COLUMNS))
    new = read_viewer_bytes(writer(ROWS, WITH))
    assert old.schema == pl.Schema(VIEWERS_SCHEMA)
    assert old.get_column("click_time").null_count() == old.height
    # every other column is the same as with the click times
    assert old.drop("click_time").equals(new.drop("click_time"))


def test_click_time_in_any_column_position_and_as_a_datetime_column() -> None:
    shuffled = ["click_time", *reversed(OLD_COLUMNS)]
    frame = read_viewer_bytes(csv_bytes(ROWS, shuffled))
    assert frame.get_column("click_time").to_list()[1] == china("2026-11-26 20:03:15")
    typed = read_viewer_bytes(csv_bytes(ROWS, WITH)).with_columns(
        pl.col("click_time").dt.convert_time_zone("UTC")  # another zone: converted back
    )
    buf = io.BytesIO()
    typed.write_parquet(buf)
    again = read_viewer_bytes(buf.getvalue(), "parquet")
    assert again.get_column("click_time").to_list() == frame.get_column("click_time").to_list()


def _one_bad(change: dict[str, str], where: int = 2) -> list[dict[str, str]]:
    rows = [dict(r) for r in ROWS]
    rows[where].update(change)
    return rows


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"clicked_product_id": ""},
            "第 4 行有点击时间 click_time，但 clicked_product_id 为空",
            id="click-without-product",
        ),
        pytest.param(
            {"click_time": "2026-11-26 23:50:00"},
            "第 4 行的点击时间 click_time（2026-11-26 23:50:00）不在这次观看的进入与离开时间之间"
            "（2026-11-26 23:59:00 至 2026-11-27 00:02:00）",
            id="before-enter",
        ),
        pytest.param(
            {"click_time": "2026-11-27 00:02:06"},
            "第 4 行的点击时间 click_time（2026-11-27 00:02:06）不在",
            id="after-leave",
        ),
        pytest.param(
            {"click_time": "2026-11-27 08:00:30"},  # written in UTC+16: a time-zone mistake
            "第 4 行的点击时间",
            id="time-zone",
        ),
        pytest.param(
            {"click_time": "2026-11-27 00:00"},
            "第 4 行的 click_time 值 '2026-11-27 00:00' 无法识别为时间",
            id="no-seconds",
        ),
    ],
)
def test_a_click_time_that_contradicts_its_row_is_one_chinese_line(
    change: dict[str, str], expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(csv_bytes(_one_bad(change), WITH))
    with pytest.raises(ViewerFileError) as info:
        read_viewer_file(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message
    store = Store(tmp_path / "store")
    with pytest.raises(ViewerFileError):
        import_viewers(store, path, fetched_at="x")
    assert store.partitions("viewers") == []  # nothing written


def test_the_rows_of_a_parquet_file_are_named_as_records() -> None:
    data = parquet_bytes(_one_bad({"clicked_product_id": ""}), WITH)
    with pytest.raises(ViewerFileError, match="第 3 条记录有点击时间"):
        read_viewer_bytes(data)


def test_a_click_a_moment_outside_its_visit_is_tolerated() -> None:
    leave = china(ROWS[2]["leave_time"])
    slack = int(CLICK_SLACK.total_seconds())
    assert 1 <= slack <= 60  # small: a second's rounding and clock skew, no more
    edge = (leave + CLICK_SLACK).strftime("%Y-%m-%d %H:%M:%S")
    frame = read_viewer_bytes(csv_bytes(_one_bad({"click_time": edge}), WITH))
    assert frame.get_column("click_time")[2] == leave + timedelta(seconds=slack)
    past = (leave + CLICK_SLACK + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    with pytest.raises(ViewerFileError, match="第 4 行的点击时间"):
        read_viewer_bytes(csv_bytes(_one_bad({"click_time": past}), WITH))


def test_a_store_written_before_the_column_reads_it_as_null(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    day = date(2026, 11, 26)
    before = read_viewer_bytes(csv_bytes(ROWS[:2], OLD_COLUMNS)).drop("click_time")
    old_schema = {k: v for k, v in VIEWERS_SCHEMA.items() if k != "click_time"}
    store.write_partition("viewers", day, before, old_schema, {"fetched_at": "t0"})
    back = store.read("viewers", VIEWERS_SCHEMA)
    assert back.columns == ["date", *VIEWERS_SCHEMA]
    assert back.get_column("click_time").null_count() == 2
    # an import of another room merges with the old rows; the new room keeps its click times
    other = tmp_path / "other.csv"
    other.write_bytes(csv_bytes(ROWS[:2], WITH).replace(ROOM.encode(), b"7712353117074129999"))
    import_viewers(store, other, fetched_at="t1")
    merged = store.read("viewers", VIEWERS_SCHEMA, day, day)
    assert merged.height == 4
    clicks = merged.group_by("room_id").agg(pl.col("click_time").drop_nulls().len())
    assert dict(clicks.iter_rows()) == {int(ROOM): 0, 7712353117074129999: 1}
    # imported by hand, without the column: complete as it is (no sync can fetch it again)
    cov = open_source("live", home=tmp_path).coverage(day, day, datasets=("viewers",))
    assert cov.complete


# ---- the sandbox's export over real HTTP ----------------------------------------------------------
FIRST, LAST = date(2026, 11, 27), date(2026, 11, 28)  # LAST: the evening show is on air at NOW


def _export(http: httpx.Client, fmt: str) -> bytes:
    r = http.get(
        "/sandbox/export/viewers",
        params={"start_date": FIRST.isoformat(), "end_date": LAST.isoformat(), "format": fmt},
    )
    assert r.status_code == 200, r.text
    return r.content


def _clicks_in_the_world(server: RunningSandbox) -> list[datetime | None]:
    """The click time of every exported visit, in export order, from the sandbox's world."""
    world = server.sandbox.world
    now = NOW.timestamp()
    out: list[datetime | None] = []
    for s in world.iter_sessions(FIRST, LAST):
        if s.start_ts > now:
            continue
        v, sec = s.visits, now - s.start_ts
        for enter, clicked, click in zip(
            v.enter_s.tolist(), v.clicked.tolist(), v.click_s.tolist(), strict=True
        ):
            if enter > sec:
                continue
            shown = clicked and click <= sec
            when = datetime.fromtimestamp(s.start_ts + click, CHINA_TZ) if shown else None
            out.append(when.replace(microsecond=0) if when else None)
    return out


def test_the_sandbox_export_carries_click_times_in_csv_and_parquet(
    http: httpx.Client, server: RunningSandbox
) -> None:
    csv = read_viewer_bytes(_export(http, "csv"), "csv")
    parquet = read_viewer_bytes(_export(http, "parquet"), "parquet")
    assert csv.equals(parquet)
    clicks = parquet.get_column("click_time")
    assert clicks.to_list() == _clicks_in_the_world(server)
    assert 100 < clicks.drop_nulls().len() < parquet.height
    # a click has its product, and lies within its visit; nothing after the export moment
    assert (clicks.is_null() == parquet.get_column("clicked_product_id").is_null()).all()
    inside = parquet.filter(pl.col("click_time").is_not_null()).select(
        (pl.col("click_time") >= pl.col("enter_time"))
        & (pl.col("click_time") <= pl.col("leave_time"))
    )
    assert inside.to_series().all()
    assert clicks.max() <= NOW  # type: ignore[operator]


def test_the_sandbox_export_without_its_click_times_still_imports(
    http: httpx.Client, tmp_path: Path
) -> None:
    full = read_viewer_bytes(_export(http, "parquet"), "parquet")
    raw_csv = pl.read_csv(io.BytesIO(_export(http, "csv")), infer_schema=False)
    raw_parquet = pl.read_parquet(io.BytesIO(_export(http, "parquet")))
    assert "click_time" in raw_csv.columns
    assert "click_time" in raw_parquet.columns
    older_csv = tmp_path / "older.csv"
    raw_csv.drop("click_time").write_csv(older_csv)
    older_parquet = tmp_path / "older.parquet"
    raw_parquet.drop("click_time").write_parquet(older_parquet)
    for path in (older_csv, older_parquet):
        frame = read_viewer_file(path)
        assert frame.schema == pl.Schema(VIEWERS_SCHEMA)
        assert frame.get_column("click_time").null_count() == frame.height
        assert frame.drop("click_time").equals(full.drop("click_time"))
    store = Store(tmp_path / "store")
    written = import_viewers(store, older_csv, fetched_at="t")
    assert sum(written.values()) == full.height
    assert (
        store.read("viewers", VIEWERS_SCHEMA).get_column("click_time").null_count() == full.height
    )
