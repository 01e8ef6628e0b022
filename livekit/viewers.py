"""Importing a viewer export: one row per viewer visit (protocols.md §3), as CSV or Parquet.

The file has the columns room_id, viewer_id, enter_time, leave_time (``YYYY-MM-DD HH:MM:SS``,
China time), province, traffic_source, clicked_product_id (empty when none), paid (0/1),
pay_amount (yuan) and, optionally, click_time (when the viewer clicked the product, like the
other times; empty when no click) and variant (``A``/``B``, empty outside an experiment). Files
without click_time import as before (all null): no platform API returns per-viewer click times,
so the column is a livekit convention (docs/upstream/orders-explanations-clicks.md §3). Extra
columns are ignored. Ids are parsed as exact integers from text (19-digit room ids exceed 2**53
and must never pass through a float); a CSV saved by Excel in GB18030 is accepted too.

Every problem with the file is reported as one :class:`ViewerFileError` whose Chinese message
names the file, the column, a row and what to fix.

Imports land in the ``viewers`` dataset of the store, partitioned by the China-time day of
``enter_time``. A day's partition is merged **by room**: the rooms present in the imported file
replace their stored rows of that day, other rooms' rows are kept. Importing the same file twice
therefore changes nothing, and exports of different rooms or days accumulate. Rows are kept as
given, including exact duplicates: two visits of one viewer within the same second are possible
and the export has no visit id to tell them apart.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from livekit.dates import FIRST_DAY, latest_day, range_words
from livekit.store import Store
from livekit.store.datasets import VIEWERS_SCHEMA as VIEWERS_SCHEMA
from livekit.vocab.errors import LivekitError
from livekit.vocab.tz import CHINA_TZ, CHINA_TZ_NAME

DATASET = "viewers"
TIME = pl.Datetime("us", CHINA_TZ_NAME)

OPTIONAL_COLUMNS = frozenset({"variant", "click_time"})
# How far a click_time may lie outside its visit: the times of one visit come from different
# event logs, each cut to the second, so a click logged a moment after the leave is tolerated.
CLICK_SLACK = timedelta(seconds=5)
REQUIRED_COLUMNS = tuple(c for c in VIEWERS_SCHEMA if c not in OPTIONAL_COLUMNS)

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S")
_TIME_HINT = (
    "请使用 YYYY-MM-DD HH:MM:SS 格式的中国时间，精确到秒（用 Excel 另存过的文件可能丢掉了秒）"
)
_ID_HINT = "请确认该列只包含整数（用 Excel 打开再保存过的文件可能把长 id 改成了科学计数法）"


class ViewerFileError(LivekitError):
    """A viewer export that can't be imported; the message (Chinese) says what to fix."""


class _Reader:
    """Conversion of one file's raw columns into the schema, with row-precise errors."""

    def __init__(self, source: str, raw: pl.DataFrame, kind: str) -> None:
        self.source = source
        # all-null columns (dtype Null, e.g. from pandas) are read like empty text columns
        self.raw = raw.with_columns(pl.col(pl.Null).cast(pl.String))
        self.kind = kind

    def fail(self, problem: str) -> ViewerFileError:
        return ViewerFileError(f"观众明细文件 {self.source} 无法导入：{problem}")

    def row(self, index: int) -> str:
        # CSV: the line number as a text editor or Excel shows it (the header is line 1)
        return f"第 {index + 2} 行" if self.kind == "CSV" else f"第 {index + 1} 条记录"

    def first_bad(self, name: str, bad: pl.Series, fix: str, what: str) -> ViewerFileError:
        i = int(bad.arg_true()[0])
        value = str(self.raw.get_column(name)[i])
        if len(value) > 40:  # a 10 kB cell would drown the one-line message
            value = value[:39] + "…"
        # repr: invisible and right-to-left characters show as \u escapes, not reordering it
        return self.fail(f"{self.row(i)}的 {name} 值 {value!r} {what}；{fix}。")

    def check_required(self, name: str, out: pl.Series) -> None:
        if out.null_count():
            i = int(out.is_null().arg_true()[0])
            raise self.fail(f"{self.row(i)}的 {name} 为空；该列每行都必须有值。")

    def text(self, name: str, *, required: bool = False) -> pl.Series:
        s = self.raw.get_column(name)
        if s.dtype != pl.String:
            try:
                s = s.cast(pl.String)
            except pl.exceptions.PolarsError:
                raise self.fail(f"{name} 列的类型是 {s.dtype}，应为文本。") from None
        out = s.str.strip_chars().replace("", None)
        if required:
            self.check_required(name, out)
        return out

    def integer(self, name: str, *, required: bool) -> pl.Series:
        s = self.raw.get_column(name)
        if s.dtype.is_float():
            raise self.fail(
                f"{name} 列是小数类型（{s.dtype}），19 位的 id 存成小数会丢失精度；"
                "请让数据源以整数或文本导出该列。"
            )
        if s.dtype.is_integer():
            out = s.cast(pl.Int64, strict=False)
            bad = s.is_not_null() & out.is_null()
            if bad.any():
                raise self.first_bad(name, bad, _ID_HINT, "超出了整数范围")
        elif s.dtype == pl.String:
            text = s.str.strip_chars().replace("", None)
            out = text.cast(pl.Int64, strict=False)
            bad = text.is_not_null() & out.is_null()
            if bad.any():
                raise self.first_bad(name, bad, _ID_HINT, "不是有效的整数 id")
        else:
            raise self.fail(f"{name} 列的类型是 {s.dtype}，应为整数。")
        if required:
            self.check_required(name, out)
        return out.rename(name)

    def time(self, name: str, *, required: bool = True) -> pl.Series:
        if name not in self.raw.columns:  # an optional column the file does not have
            return pl.Series(name, [None] * self.raw.height, dtype=TIME)
        s = self.raw.get_column(name)
        if isinstance(s.dtype, pl.Datetime):
            if s.dtype.time_zone is None:
                out = s.dt.replace_time_zone(CHINA_TZ_NAME)
            else:
                out = s.dt.convert_time_zone(CHINA_TZ_NAME)
            out = out.cast(TIME)
        elif s.dtype == pl.String:
            text = s.str.strip_chars().replace("", None)
            parsed = [text.str.strptime(pl.Datetime("us"), f, strict=False) for f in _TIME_FORMATS]
            out = pl.select(pl.coalesce(parsed)).to_series().dt.replace_time_zone(CHINA_TZ_NAME)
            bad = text.is_not_null() & out.is_null()
            if bad.any():
                raise self.first_bad(name, bad, _TIME_HINT, "无法识别为时间")
        else:
            raise self.fail(f"{name} 列的类型是 {s.dtype}，应为时间（{_TIME_HINT}）。")
        if required:
            self.check_required(name, out)
        days = out.dt.date()
        bad = ((days < FIRST_DAY) | (days > latest_day())).fill_null(False)
        if bad.any():  # checked before any day becomes a partition (year 1 or 9999 would)
            raise self.first_bad(
                name, bad, f"可用日期范围为 {range_words()}（北京时间）", "超出可用范围"
            )
        return out.rename(name)

    def paid(self, name: str) -> pl.Series:
        s = self.raw.get_column(name)
        fix = "该列应为 0（未成交）或 1（成交），也接受 true/false"
        if s.dtype == pl.Boolean:
            out = s
        elif s.dtype.is_integer():
            bad = s.is_not_null() & ~s.is_in([0, 1])
            if bad.any():
                raise self.first_bad(name, bad, fix, "不是 0 或 1")
            out = s == 1
        elif s.dtype == pl.String:
            text = s.str.strip_chars().str.to_lowercase().replace("", None)
            mapping = {"0": False, "1": True, "false": False, "true": True}
            out = text.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
            bad = text.is_not_null() & out.is_null()
            if bad.any():
                raise self.first_bad(name, bad, fix, "不是 0 或 1")
        else:
            raise self.fail(f"{name} 列的类型是 {s.dtype}；{fix}。")
        self.check_required(name, out)
        return out.rename(name)

    def amount(self, name: str, paid: pl.Series) -> pl.Series:
        s = self.raw.get_column(name)
        fix = "该列应为以元为单位的非负数字（未成交为 0）"
        if s.dtype.is_numeric():
            out = s.cast(pl.Float64)
        elif s.dtype == pl.String:
            text = s.str.strip_chars().replace("", None)
            out = text.cast(pl.Float64, strict=False)
            bad = text.is_not_null() & out.is_null()
            if bad.any():
                raise self.first_bad(name, bad, fix, "不是数字")
        else:
            raise self.fail(f"{name} 列的类型是 {s.dtype}；{fix}。")
        bad = out.is_not_null() & (out.is_nan() | out.is_infinite() | (out < 0))
        if bad.any():
            raise self.first_bad(name, bad, fix, "不是有效金额")
        missing = out.is_null() & paid
        if missing.any():
            i = int(missing.arg_true()[0])
            raise self.fail(
                f"{self.row(i)}已成交（paid=1），但 {name} 为空；请补上成交金额（元）。"
            )
        return out.fill_null(0.0).rename(name)

    def variant(self, name: str) -> pl.Series:
        height = self.raw.height
        if name not in self.raw.columns:
            return pl.Series(name, [None] * height, dtype=pl.String)
        out = self.text(name).str.to_uppercase()
        bad = out.is_not_null() & ~out.is_in(["A", "B"])
        if bad.any():
            raise self.first_bad(name, bad, "该列应为 A、B 或留空（不在实验中）", "不是实验分组")
        return out.rename(name)

    def frame(self) -> pl.DataFrame:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.raw.columns]
        if missing:
            raise self.fail(
                f"缺少必需的列 {'、'.join(missing)}；文件第一行应为列名："
                f"{','.join(VIEWERS_SCHEMA)}（click_time 与 variant 可省略）。"
            )
        paid = self.paid("paid")
        columns = {
            "room_id": self.integer("room_id", required=True),
            "viewer_id": self.text("viewer_id", required=True),
            "enter_time": self.time("enter_time"),
            "leave_time": self.time("leave_time"),
            "province": self.text("province"),
            "traffic_source": self.text("traffic_source"),
            "clicked_product_id": self.integer("clicked_product_id", required=False),
            "click_time": self.time("click_time", required=False),
            "paid": paid,
            "pay_amount": self.amount("pay_amount", paid),
            "variant": self.variant("variant"),
        }
        out = pl.DataFrame(columns, schema=VIEWERS_SCHEMA)
        backwards = out.get_column("leave_time") < out.get_column("enter_time")
        if backwards.any():
            i = int(backwards.arg_true()[0])
            enter, leave = (
                out.row(i, named=True)["enter_time"],
                out.row(i, named=True)["leave_time"],
            )
            raise self.fail(
                f"{self.row(i)}的离开时间 leave_time（{leave:%Y-%m-%d %H:%M:%S}）早于进入时间 "
                f"enter_time（{enter:%Y-%m-%d %H:%M:%S}）；请检查这两列是否写反或时区不一致。"
            )
        self.check_clicks(out)
        return out

    def check_clicks(self, out: pl.DataFrame) -> None:
        """A click_time needs a clicked product, and lies within its visit (± CLICK_SLACK)."""
        click = out.get_column("click_time")
        if click.null_count() == out.height:
            return
        orphan = click.is_not_null() & out.get_column("clicked_product_id").is_null()
        if orphan.any():
            i = int(orphan.arg_true()[0])
            raise self.fail(
                f"{self.row(i)}有点击时间 click_time，但 clicked_product_id 为空；"
                "请补上点击的商品 id，或清空这一行的 click_time。"
            )
        enter, leave = out.get_column("enter_time"), out.get_column("leave_time")
        outside = ((click < enter - CLICK_SLACK) | (click > leave + CLICK_SLACK)).fill_null(False)
        if outside.any():
            i = int(outside.arg_true()[0])
            row = out.row(i, named=True)
            raise self.fail(
                f"{self.row(i)}的点击时间 click_time（{row['click_time']:%Y-%m-%d %H:%M:%S}）"
                f"不在这次观看的进入与离开时间之间（{row['enter_time']:%Y-%m-%d %H:%M:%S} 至 "
                f"{row['leave_time']:%Y-%m-%d %H:%M:%S}）；请检查这几列是否错位或时区不一致。"
            )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _csv_problem(text: bytes) -> str | None:
    """Where a CSV that polars refused goes wrong, in words (only called on the error path)."""
    try:
        rows = csv.reader(io.StringIO(text.decode()))
        width = len(next(rows))
        for line, row in enumerate(rows, start=2):
            if row and len(row) != width:
                return f"第 {line} 行有 {len(row)} 列，表头有 {width} 列"
    except (csv.Error, StopIteration) as exc:
        return f"无法解析：{_first_line(exc)}"
    return None


def _decode_csv(data: bytes, fail: Callable[[str], ViewerFileError]) -> bytes:
    """UTF-8 bytes of a text file (UTF-8 with or without BOM, or GB18030 as Excel writes it)."""
    if data.startswith(b"PK\x03\x04"):
        raise fail(
            "这是 Excel 工作簿（或其他压缩文件），不是 CSV；请在 Excel 中“另存为 CSV UTF-8”后再导入。"
        )
    if b"\x00" in data[:65536]:
        raise fail(
            "文件不是 CSV 或 Parquet 格式（内容是二进制数据）；请导入数据产品导出的 CSV 或 Parquet 文件。"
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding).encode()
        except UnicodeDecodeError:
            continue
    raise fail(
        "文件既不是 Parquet，也不是可识别编码（UTF-8 / GBK）的 CSV；请重新导出为 CSV（UTF-8）或 Parquet。"
    )


def _parse(data: bytes, source: str, kind: str | None) -> tuple[pl.DataFrame, str]:
    """The raw columns of an export and its format ("CSV" or "Parquet"), decided by content."""

    def fail(problem: str) -> ViewerFileError:
        return ViewerFileError(f"观众明细文件 {source} 无法导入：{problem}")

    if not data.strip():
        raise fail("文件是空的；请重新导出。")
    if data.startswith(b"PAR1"):
        try:
            return pl.read_parquet(io.BytesIO(data)), "Parquet"
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise fail(
                f"Parquet 文件已损坏或不完整（{_first_line(exc)}）；请重新下载或导出。"
            ) from None
    if kind == "parquet":
        raise fail("应为 Parquet 文件，但内容不是 Parquet；请重新下载或导出。")
    text = _decode_csv(data, fail)
    try:
        raw = pl.read_csv(io.BytesIO(text), infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise fail(
            f"CSV 格式有误（{_csv_problem(text) or _first_line(exc)}）；请检查每行的列数与表头一致。"
        ) from None
    return raw.rename({c: c.strip() for c in raw.columns}), "CSV"


def read_viewer_bytes(
    data: bytes, kind: str | None = None, *, source: str = "（下载的数据）"
) -> pl.DataFrame:
    """Validate the bytes of a viewer export into a frame of ``VIEWERS_SCHEMA``.

    ``kind`` ("csv", "parquet" or None) is a hint: the content decides (Parquet magic bytes,
    else CSV), but bytes announced as Parquet that aren't are an error. ``source`` names the
    data in error messages.
    """
    if kind is not None and kind.lower() not in ("csv", "parquet"):
        raise ValueError(f"kind must be 'csv', 'parquet' or None, not {kind!r}")
    raw, fmt = _parse(data, source, kind and kind.lower())
    return _Reader(source, raw, fmt).frame()


def read_viewer_file(path: Path) -> pl.DataFrame:
    """Read and validate a viewer export (CSV or Parquet) into a frame of ``VIEWERS_SCHEMA``.

    The format is taken from the content (Parquet magic bytes), else CSV; a ``.parquet`` file
    that isn't Parquet is an error. Raises :class:`ViewerFileError` with one readable Chinese
    message for every problem, the file's path included.
    """
    path = Path(path)
    if not path.exists():
        raise ViewerFileError(f"找不到观众明细文件 {path}；请检查路径是否正确。")
    if path.is_dir():
        raise ViewerFileError(
            f"观众明细文件 {path} 无法导入：这是一个文件夹；请指定导出的 CSV 或 Parquet 文件本身。"
        )
    if not path.is_file():  # a device or a pipe (/dev/zero) would be read forever
        raise ViewerFileError(
            f"观众明细文件 {path} 无法导入：这不是普通文件；请指定导出的文件本身。"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ViewerFileError(
            f"观众明细文件 {path} 无法导入：读取失败（{exc.strerror or _first_line(exc)}）；"
            "请检查文件权限。"
        ) from None
    kind = "parquet" if path.suffix.lower() in (".parquet", ".pq") else None
    return read_viewer_bytes(data, kind, source=str(path))


def import_viewers_frame(
    store: Store,
    frame: pl.DataFrame,
    *,
    meta: Mapping[str, str] | Callable[[date], Mapping[str, str]],
    days: Iterable[date] | None = None,
    replace: bool = False,
) -> dict[date, int]:
    """Store validated viewer rows (``VIEWERS_SCHEMA``) in the ``viewers`` dataset, per day.

    Rows go to the China-time day of their ``enter_time``. ``days`` defaults to the days present
    in ``frame``; listing more writes them too (empty, i.e. "fetched, no visits"), and a row
    outside ``days`` is a ``ValueError``. With ``replace=False`` each day is merged by room (the
    rooms in ``frame`` replace their stored rows of that day, other rooms are kept); with
    ``replace=True`` each day becomes exactly ``frame``'s rows (a complete export, e.g. the
    sandbox's). ``meta`` is the partition metadata, or a function of the day giving it. Returns
    the number of ``frame`` rows per day.
    """
    row_days = frame.get_column("enter_time").dt.date()
    present = set(row_days.unique().to_list())
    targets = sorted(present if days is None else set(days))
    outside = present.difference(targets)
    if outside:
        raise ValueError(f"rows entered on days not listed in days: {sorted(outside)}")
    written: dict[date, int] = {}
    with store.lock(DATASET):
        for day in targets:
            new = frame.filter(row_days == day)
            merged = new
            if not replace:
                rooms = new.get_column("room_id").unique().implode()
                kept = store.read(DATASET, VIEWERS_SCHEMA, day, day).drop("date")
                merged = pl.concat([kept.filter(~pl.col("room_id").is_in(rooms)), new])
            merged = merged.sort("room_id", "enter_time", maintain_order=True)
            day_meta = meta(day) if callable(meta) else meta
            store.write_partition(DATASET, day, merged, VIEWERS_SCHEMA, day_meta)
            written[day] = new.height
    return written


def import_viewers(store: Store, path: Path, *, fetched_at: str | None = None) -> dict[date, int]:
    """Import a viewer export file into the store's ``viewers`` dataset, merging by room per day.

    Returns, per China-time day of ``enter_time``, the number of rows imported from the file
    (the stored partition may hold more: other rooms' rows of that day are kept).
    ``fetched_at`` defaults to now (ISO 8601, China time).
    """
    path = Path(path)
    frame = read_viewer_file(path)
    if fetched_at is None:
        fetched_at = datetime.now(CHINA_TZ).isoformat(timespec="seconds")
    meta = {"fetched_at": fetched_at, "source": path.name}
    return import_viewers_frame(store, frame, meta=meta)
