"""Viewer exports: reading the sandbox's CSV/Parquet exactly, merging imports, readable errors."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from livekit.sandbox import export
from livekit.sandbox.world import CHINA_TZ, World
from livekit.store import Store
from livekit.viewers import (
    VIEWERS_SCHEMA,
    ViewerFileError,
    import_viewers,
    import_viewers_frame,
    read_viewer_bytes,
    read_viewer_file,
)
from livekit.vocab.errors import LivekitError
from tests.helpers.sandbox import NOW, make_config

# The viewer experiment runs until today-27 (2026-11-01): these days have A/B and unassigned rows.
START, END = date(2026, 10, 31), date(2026, 11, 2)
LATER = date(2026, 11, 28)  # the day of NOW: the evening show is on air, visits still open


@pytest.fixture(scope="module")
def world() -> World:
    c = make_config()
    assert c.today is not None
    return World(c.seed, c.today, c.history_days, c.scale)


@pytest.fixture(scope="module")
def source(world: World) -> dict[str, list[Any]]:
    return export.viewer_columns(world, START, END, NOW.timestamp())


@pytest.fixture(scope="module")
def files(
    source: dict[str, list[Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exports")
    (d / "viewers.csv").write_bytes(export.to_csv(source))
    (d / "viewers.parquet").write_bytes(export.to_parquet(source))
    (d / "export-no-suffix").write_bytes(export.to_parquet(source))
    return {
        "csv": d / "viewers.csv",
        "parquet": d / "viewers.parquet",
        "sniff": d / "export-no-suffix",
    }


def test_csv_matches_the_source_exactly(
    source: dict[str, list[Any]], files: dict[str, Path]
) -> None:
    frame = read_viewer_file(files["csv"])

    assert frame.schema == pl.Schema(VIEWERS_SCHEMA)
    assert frame.height == len(source["room_id"])
    assert frame.get_column("room_id").to_list() == source["room_id"]  # 19-digit ids, exact
    assert max(source["room_id"]) > 2**53
    assert frame.get_column("clicked_product_id").to_list() == source["clicked_product_id"]
    assert frame.get_column("viewer_id").to_list() == source["viewer_id"]
    assert frame.get_column("paid").sum() == sum(source["paid"])
    assert math.isclose(frame.get_column("pay_amount").sum(), sum(source["pay_amount"]))
    assert Counter(frame.get_column("variant").to_list()) == Counter(source["variant"])
    assert {None, "A", "B"} <= set(source["variant"])
    first = frame.row(0, named=True)
    assert first["enter_time"].tzinfo is not None
    assert first["enter_time"].strftime("%Y-%m-%d %H:%M:%S") == source["enter_time"][0]
    assert first["enter_time"] == datetime.strptime(
        source["enter_time"][0], "%Y-%m-%d %H:%M:%S"
    ).replace(tzinfo=CHINA_TZ)
    assert frame.get_column("province").to_list() == source["province"]


def test_csv_and_parquet_give_identical_frames(files: dict[str, Path]) -> None:
    csv = read_viewer_file(files["csv"])
    assert_frame_equal(csv, read_viewer_file(files["parquet"]))
    assert_frame_equal(csv, read_viewer_file(files["sniff"]))


def test_import_splits_by_day_merges_by_room_and_is_idempotent(
    world: World, files: dict[str, Path], tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    full = read_viewer_file(files["csv"])
    by_day = full.group_by(pl.col("enter_time").dt.date()).len()
    expected = dict(zip(by_day["enter_time"].to_list(), by_day["len"].to_list(), strict=True))

    assert import_viewers(store, files["csv"], fetched_at="t1") == expected
    assert store.partitions("viewers") == sorted(expected)
    stored = store.read("viewers", VIEWERS_SCHEMA)
    assert stored.height == full.height
    assert (stored.get_column("date") == stored.get_column("enter_time").dt.date()).all()
    meta = store.partition_meta("viewers", START)
    assert meta is not None
    assert meta["fetched_at"] == "t1"

    # the same data again (as Parquet this time): replaced, not duplicated
    import_viewers(store, files["parquet"], fetched_at="t2")
    again = store.read("viewers", VIEWERS_SCHEMA)
    assert_frame_equal(again, stored)

    # a later, smaller export of one room replaces that room's rows only
    room = full.get_column("room_id")[0]
    day = full.get_column("enter_time").dt.date()[0]
    fewer = full.filter(pl.col("room_id") == room).head(10)
    part = tmp_path / "one_room.parquet"
    fewer.with_columns(
        pl.col("enter_time", "leave_time").dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.col("paid").cast(pl.Int8),
    ).write_parquet(part)
    assert import_viewers(store, part, fetched_at="t3") == {day: 10}
    after = store.read("viewers", VIEWERS_SCHEMA)
    assert after.filter(pl.col("room_id") == room).height == 10
    assert (
        after.filter(pl.col("room_id") != room).height
        == full.filter(pl.col("room_id") != room).height
    )

    # exports of other days accumulate
    later = tmp_path / "later.csv"
    later_cols = export.viewer_columns(world, LATER, LATER, NOW.timestamp())
    later.write_bytes(export.to_csv(later_cols))
    assert import_viewers(store, later, fetched_at="t4") == {LATER: len(later_cols["room_id"])}
    assert store.read("viewers", VIEWERS_SCHEMA).height == after.height + len(later_cols["room_id"])
    assert store.partitions("viewers")[-1] == LATER


def test_optional_variant_extra_columns_and_excel_encodings(tmp_path: Path) -> None:
    text = (
        "room_id, viewer_id,enter_time,leave_time,province,traffic_source,"
        "clicked_product_id,paid,pay_amount,note\n"
        "7712353117074129283,v1,2026-11-26 20:00:00,2026-11-26 20:05:00,广东,feed,,0,0,x\n"
        "7712353117074129283,v2,2026-11-26 23:59:59,2026-11-27 00:10:00,浙江,search,42,true,19.9,y\n"
    )
    for encoding in ("utf-8-sig", "gb18030"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        frame = read_viewer_file(path)
        assert frame.columns == list(VIEWERS_SCHEMA)
        assert frame.get_column("province").to_list() == ["广东", "浙江"]
        assert frame.get_column("variant").to_list() == [None, None]
        assert frame.get_column("paid").to_list() == [False, True]
        assert frame.get_column("clicked_product_id").to_list() == [None, 42]


GOOD_CELLS = {  # one good row, cell by cell: the header is the sandbox's, whatever its columns
    "room_id": "7712353117074129283",
    "viewer_id": "v1",
    "enter_time": "2026-11-26 20:00:00",
    "leave_time": "2026-11-26 20:05:00",
    "province": "广东",
    "traffic_source": "feed",
    "clicked_product_id": "",
    "click_time": "",
    "paid": "0",
    "pay_amount": "0.0",
    "variant": "A",
}
GOOD_HEADER = ",".join(export.COLUMNS)
GOOD_ROW = ",".join(GOOD_CELLS[c] for c in export.COLUMNS)
WIDTH = len(export.COLUMNS)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            (GOOD_HEADER.replace(",paid", "") + "\n" + GOOD_ROW.replace(",0,0.0", ",0.0")).encode(),
            "缺少必需的列 paid",
            id="missing-column",
        ),
        pytest.param(bytes(range(256)) * 8, "不是 CSV 或 Parquet", id="garbage-bytes"),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW}\n{GOOD_ROW.replace('7712353117074129283', '12x')}\n".encode(),
            "第 3 行的 room_id 值 '12x' 不是有效的整数 id",
            id="room-id-12x",
        ),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW.replace('7712353117074129283', '7.71235E+18')}\n".encode(),
            "科学计数法",
            id="room-id-excel",
        ),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW.replace('20:05:00', '19:59:00')}\n".encode(),
            "第 2 行的离开时间 leave_time（2026-11-26 19:59:00）早于进入时间",
            id="leave-before-enter",
        ),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW.replace('20:00:00', '20:00')}\n".encode(),
            "enter_time 值 '2026-11-26 20:00' 无法识别为时间",
            id="time-without-seconds",
        ),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW.replace(',0,0.0,', ',2,0.0,')}\n".encode(),
            "paid 值 '2' 不是 0 或 1",
            id="paid-2",
        ),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW.replace(',A', ',C')}\n".encode(),
            "variant 值 'C'",
            id="variant-C",
        ),
        pytest.param(
            f"{GOOD_HEADER}\n{GOOD_ROW},extra,fields\n".encode(),
            f"第 2 行有 {WIDTH + 2} 列，表头有 {WIDTH} 列",
            id="ragged",
        ),
        pytest.param(b"", "文件是空的", id="empty"),
        pytest.param(b"PAR1" + bytes(100), "Parquet 文件已损坏", id="broken-parquet"),
        pytest.param(b"PK\x03\x04" + bytes(100), "Excel", id="xlsx"),
    ],
)
def test_bad_files_raise_one_readable_message(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad_export.csv"
    path.write_bytes(content)
    with pytest.raises(ViewerFileError) as info:
        read_viewer_file(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "Traceback" not in message
    assert "\n" not in message
    store = Store(tmp_path / "store")
    with pytest.raises(ViewerFileError):
        import_viewers(store, path, fetched_at="x")
    assert store.partitions("viewers") == []


def test_float_ids_in_parquet_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "floats.parquet"
    good = read_viewer_file_from_row(tmp_path)
    good.with_columns(pl.col("room_id").cast(pl.Float64)).write_parquet(path)
    with pytest.raises(ViewerFileError, match="room_id 列是小数类型"):
        read_viewer_file(path)


def read_viewer_file_from_row(tmp_path: Path) -> pl.DataFrame:
    path = tmp_path / "one.csv"
    path.write_text(f"{GOOD_HEADER}\n{GOOD_ROW}\n")
    return read_viewer_file(path)


def test_nonexistent_path_and_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "viewers.csv"
    with pytest.raises(ViewerFileError, match="找不到观众明细文件") as info:
        read_viewer_file(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(ViewerFileError, match="文件夹"):
        read_viewer_file(tmp_path)


def test_complete_exports_replace_whole_days_and_mark_empty_days_fetched(
    source: dict[str, list[Any]], tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    frame = read_viewer_bytes(export.to_parquet(source), "parquet")
    quiet = date(2026, 11, 3)
    days = [START, date(2026, 11, 1), END, quiet]
    written = import_viewers_frame(
        store, frame, days=days, meta=lambda d: {"fetched_at": f"t-{d}"}, replace=True
    )
    assert written[quiet] == 0
    assert sum(written.values()) == frame.height
    assert store.partitions("viewers") == days
    assert store.partition_meta("viewers", quiet) == {
        "dataset": "viewers",
        "date": "2026-11-03",
        "rows": "0",
        "fetched_at": "t-2026-11-03",
    }
    # replace=True: the day becomes exactly the new rows, other rooms included
    one_room = frame.filter(pl.col("room_id") == frame.get_column("room_id")[0]).head(3)
    import_viewers_frame(store, one_room, days=[START], meta={}, replace=True)
    assert store.read("viewers", VIEWERS_SCHEMA, START, START).height == 3
    with pytest.raises(ValueError, match="not listed"):
        import_viewers_frame(store, frame, days=[START], meta={})
    with pytest.raises(ViewerFileError, match="应为 Parquet"):
        read_viewer_bytes(export.to_csv(source), "parquet")
    assert_frame_equal(read_viewer_bytes(export.to_csv(source)), frame)
    assert issubclass(ViewerFileError, LivekitError)
