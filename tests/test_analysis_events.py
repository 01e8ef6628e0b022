"""The festival calendar against known dates, its windows, its regressors and user events.

References written in by hand: 春节 and 七夕 from published Chinese calendars (the State
Council's holiday notices and almanacs), the fixed-date festivals by their names.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from livekit.analysis.events import (
    EVENT_SCHEMA,
    default_events,
    event_features,
    events_frame,
    lunar_to_solar,
)
from livekit.vocab.errors import LivekitError

SPRING_FESTIVAL = {
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
}
QIXI = {2024: date(2024, 8, 10), 2025: date(2025, 8, 29), 2026: date(2026, 8, 19)}


def _peaks(frame: pl.DataFrame, event: str) -> dict[int, date]:
    rows = frame.filter(pl.col("event") == event).get_column("date").to_list()
    return {day.year: day for day in rows}


def test_spring_festival_dates_2023_to_2028() -> None:
    calendar = default_events(date(2023, 1, 1), date(2028, 12, 31))
    assert _peaks(calendar, "spring") == SPRING_FESTIVAL
    assert set(calendar.filter(pl.col("event") == "spring").get_column("label")) == {"春节"}


def test_qixi_dates() -> None:
    calendar = default_events(date(2024, 1, 1), date(2026, 12, 31))
    assert _peaks(calendar, "qixi") == QIXI
    assert lunar_to_solar(2025, 7, 7) == QIXI[2025]


def test_fixed_date_festivals_every_year() -> None:
    calendar = default_events(date(2024, 1, 1), date(2027, 12, 31))
    fixed = {"double11": (11, 11, "双11"), "s618": (6, 18, "618"), "double12": (12, 12, "双12")}
    fixed |= {"womens": (3, 8, "38节"), "love520": (5, 20, "520")}
    for event, (month, day, label) in fixed.items():
        rows = calendar.filter(pl.col("event") == event)
        assert rows.get_column("date").to_list() == [date(y, month, day) for y in range(2024, 2028)]
        assert set(rows.get_column("label")) == {label}


def test_windows_contain_their_peak_and_follow_the_domain_rules() -> None:
    calendar = default_events(date(2023, 1, 1), date(2028, 12, 31))
    assert dict(calendar.schema) == EVENT_SCHEMA
    assert calendar.filter(
        (pl.col("start") > pl.col("date")) | (pl.col("date") > pl.col("end"))
    ).is_empty()
    # 双11 pre-sale opens around 10-20.
    for row in calendar.filter(pl.col("event") == "double11").iter_rows(named=True):
        assert row["start"] == date(row["date"].year, 10, 20)
    # 年货节 ends before 春节 and before its holiday week, and starts weeks ahead of it.
    nianhuo = calendar.filter(pl.col("event") == "nianhuo").iter_rows(named=True)
    spring = calendar.filter(pl.col("event") == "spring").iter_rows(named=True)
    for goods, holiday in zip(nianhuo, spring, strict=True):
        assert holiday["date"] == SPRING_FESTIVAL[holiday["date"].year]
        assert goods["end"] < holiday["start"] < holiday["date"]
        assert 21 <= (holiday["date"] - goods["start"]).days <= 35
        # The holiday week runs past 初一 (logistics restart around 初七).
        assert (holiday["end"] - holiday["date"]).days >= 6


def test_default_events_covers_a_december_start_of_nianhuo() -> None:
    # 2023's 春节 is 01-22, so its 年货节 opens in December 2022.
    calendar = default_events(date(2022, 12, 28), date(2022, 12, 31))
    assert set(calendar.get_column("date").dt.year()) == {2022, 2023}
    nianhuo = calendar.filter(pl.col("event") == "nianhuo")
    assert nianhuo.height == 2  # the 2022 one (whole year touched) and 2023's, overlapping
    assert nianhuo.get_column("start").max() < date(2023, 1, 1)  # type: ignore[operator]
    assert calendar.filter(pl.col("event") == "double11").height == 1  # only 2022
    with pytest.raises(LivekitError, match="早于"):
        default_events(date(2024, 2, 1), date(2024, 1, 1))


def test_event_features_by_hand_on_a_small_range() -> None:
    events = events_frame(
        date(2026, 1, 1),
        date(2026, 1, 31),
        defaults=False,
        extra=[
            {"event": "promo", "label": "品牌日", "date": "2026-01-05", "before": 3, "after": 1},
            {"event": "flash", "date": date(2026, 1, 7)},
        ],
    )
    days = pl.date_range(date(2026, 1, 1), date(2026, 1, 8), eager=True)
    features = event_features(days, events)
    # Ramp over 01-02..01-04 towards the peak: (day - start + 1) / (peak - start + 1), span 4.
    expected = pl.DataFrame(
        {
            "date": days,
            "promo_presale": [0.0, 0.25, 0.5, 0.75, 0.0, 0.0, 0.0, 0.0],
            "promo_peak": [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            "promo_after": [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            "flash_peak": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        }
    )
    assert features.equals(expected)
    # A list of dates works the same, and order is kept.
    listed = event_features([date(2026, 1, 5), date(2026, 1, 3)], events)
    assert listed.get_column("promo_peak").to_list() == [1.0, 0.0]
    assert listed.get_column("promo_presale").to_list() == [0.0, 0.5]


def test_event_features_default_calendar_around_spring_2026() -> None:
    calendar = default_events(date(2026, 1, 1), date(2026, 3, 31))
    days = pl.date_range(date(2026, 2, 13), date(2026, 2, 25), eager=True)
    features = event_features(days, calendar)
    assert features.height == days.len()
    for event in ("spring", "nianhuo", "double11", "s618"):
        assert f"{event}_peak" in features.columns
    spring_peak = features.filter(pl.col("spring_peak") == 1.0).get_column("date").to_list()
    assert spring_peak == [date(2026, 2, 17)]
    presale = features.filter(pl.col("spring_presale") > 0).get_column("date").to_list()
    assert presale == [date(2026, 2, 14), date(2026, 2, 15), date(2026, 2, 16)]
    after = features.filter(pl.col("spring_after") == 1.0).get_column("date")
    assert after.min() == date(2026, 2, 18)
    assert after.max() == date(2026, 2, 24)
    assert features.get_column("double11_peak").sum() == 0.0


def test_user_events_are_added_to_the_defaults() -> None:
    calendar = events_frame(
        date(2026, 1, 1),
        date(2026, 12, 31),
        extra=[
            {"event": "brand_day", "label": "品牌日", "date": "2026-09-09", "start": "2026-09-01"}
        ],
    )
    row = calendar.filter(pl.col("event") == "brand_day").row(0, named=True)
    assert row == {
        "event": "brand_day",
        "label": "品牌日",
        "date": date(2026, 9, 9),
        "start": date(2026, 9, 1),
        "end": date(2026, 9, 9),
    }
    assert calendar.height == default_events(date(2026, 1, 1), date(2026, 12, 31)).height + 1


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"event": "x1", "date": "2026-13-01"}, "不是日期"),
        ({"event": "x1", "date": "2026-05-01", "start": "2026-05-09", "end": "2026-05-03"}, "早于"),
        (
            {"event": "x1", "date": "2026-05-01", "start": "2026-05-02", "end": "2026-05-05"},
            "不在窗口",
        ),
        ({"event": "x1", "date": "2026-05-01", "window": 3}, "未知字段 window"),
        ({"event": "品牌日", "date": "2026-05-01"}, "小写英文代码"),
        ({"event": "x1"}, "缺少 date"),
        ({"event": "x1", "date": "2026-05-01", "before": -2}, "整数天数"),
        ({"event": "x1", "date": "2026-05-01", "before": 1, "start": "2026-04-01"}, "只能给一个"),
        ("x1", "须写成"),
    ],
)
def test_bad_user_events_give_one_chinese_line(item: object, message: str) -> None:
    with pytest.raises(LivekitError, match=message) as caught:
        events_frame(date(2026, 1, 1), date(2026, 1, 2), extra=[item], defaults=False)  # type: ignore[list-item]
    assert "\n" not in str(caught.value)


def test_duplicate_events_and_bad_calendars_are_refused() -> None:
    one: object = {"event": "x1", "date": "2026-05-01"}
    with pytest.raises(LivekitError, match="活动列表"):
        events_frame(date(2026, 1, 1), date(2026, 1, 2), extra=one)  # type: ignore[arg-type]
    twice = [{"event": "x1", "date": "2026-05-01"}, {"event": "x1", "date": "2026-05-01"}]
    with pytest.raises(LivekitError, match="重复"):
        events_frame(date(2026, 1, 1), date(2026, 1, 2), extra=twice, defaults=False)
    broken = pl.DataFrame(
        {
            "event": ["x1"],
            "label": ["x"],
            "date": [date(2026, 1, 1)],
            "start": [date(2026, 1, 2)],
            "end": [date(2026, 1, 3)],
        }
    )
    with pytest.raises(LivekitError, match="窗口无效"):
        event_features([date(2026, 1, 1)], broken)
    with pytest.raises(LivekitError, match="缺少列"):
        event_features([date(2026, 1, 1)], broken.drop("end"))


def test_lunar_years_outside_the_table_are_refused() -> None:
    with pytest.raises(LivekitError, match="农历"):
        default_events(date(2100, 1, 1), date(2100, 12, 31))
    with pytest.raises(LivekitError, match="农历"):
        lunar_to_solar(1850, 1, 1)


def test_public_through_livekit_analysis() -> None:
    import livekit.analysis as la

    assert la.default_events is default_events
    assert la.events_frame is events_frame
    assert la.event_features is event_features
