"""The livekit look: CJK fonts, zh-CN number and date formats, palette and sizes.

Plain data (no altair import): :func:`theme` is the altair theme as a dict, which
:func:`livekit.charts.render.use_theme` registers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCENT",
    "BAD",
    "FONT",
    "FONTS",
    "GOOD",
    "HEIGHT",
    "LABEL_EMS",
    "MAX_POINTS",
    "NEUTRAL",
    "PALETTE",
    "THEME_NAME",
    "WIDTH",
    "ZH_AXIS_LABEL",
    "ZH_NUMBER_LOCALE",
    "ZH_TIME_LOCALE",
    "theme",
]

THEME_NAME = "livekit"

# CJK families first, so Chinese glyphs never fall back to boxes; sans-serif last.
FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "PingFang SC",
    "Microsoft YaHei",
    "sans-serif",
)
FONT = ", ".join(f'"{f}"' if " " in f else f for f in FONTS)

# d3-format / d3-time-format locales for zh-CN (the ones vl-convert bundles, written out so
# that the spec itself carries them: any renderer formats ¥ and 月/日 the same way).
ZH_NUMBER_LOCALE: dict[str, Any] = {
    "decimal": ".",
    "thousands": ",",
    "grouping": [3],
    "currency": ["¥", ""],
}
ZH_TIME_LOCALE: dict[str, Any] = {
    "dateTime": "%x %A %X",
    "date": "%Y年%-m月%-d日",
    "time": "%H:%M:%S",
    "periods": ["上午", "下午"],
    "days": ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
    "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
    "months": [f"{m}月" for m in range(1, 13)],
    "shortMonths": [f"{m}月" for m in range(1, 13)],
}

# Large axis numbers the Chinese way: 12,000 -> 1.2万, 350,000,000 -> 3.5亿; smaller numbers
# keep the axis's own format (percent, ¥ ...).
ZH_AXIS_LABEL = (
    "abs(datum.value) >= 1e8 ? format(datum.value / 1e8, ',.2~f') + '亿' : "
    "abs(datum.value) >= 1e4 ? format(datum.value / 1e4, ',.1~f') + '万' : datum.label"
)

PALETTE = (
    "#2f6fde",  # blue
    "#f08a24",  # orange
    "#2ca58d",  # green
    "#d64550",  # red
    "#8c6bc8",  # purple
    "#8a6d3b",  # brown
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
GOOD = "#2ca58d"
BAD = "#d64550"
NEUTRAL = "#7f7f7f"
ACCENT = PALETTE[0]

WIDTH = 560
HEIGHT = 300
MAX_POINTS = 150  # a survival curve is thinned to about this many steps per group (~4 px each)
LABEL_EMS = 20.0  # the widest axis or legend label, in ems (240 px at 12 px), "…" included


def theme() -> dict[str, Any]:
    """The livekit theme: CJK fonts, readable sizes, zh-CN number and date formats."""
    axis = {
        "labelFont": FONT,
        "titleFont": FONT,
        "labelFontSize": 12,
        "titleFontSize": 13,
        "titleFontWeight": "normal",
        "labelLimit": 0,  # labels are clipped in Python (see _frames.clip_labels): no re-measuring
        "gridColor": "#e6e6e6",
        "domainColor": "#888888",
        "tickColor": "#888888",
    }
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "padding": 8,
            "title": {
                "font": FONT,
                "fontSize": 16,
                "fontWeight": "bold",
                "anchor": "start",
                "offset": 12,
                "subtitleFont": FONT,
                "subtitleFontSize": 12,
                "subtitleColor": "#666666",
            },
            "axis": axis,
            "axisQuantitative": {"labelExpr": ZH_AXIS_LABEL, "tickCount": 6},
            "legend": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 12,
                "titleFontSize": 13,
                "labelLimit": 0,
                "orient": "bottom",
                "direction": "horizontal",
            },
            "header": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 13,
                "titleFontSize": 13,
            },
            "text": {"font": FONT, "fontSize": 12},
            "mark": {"font": FONT},
            "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT, "stroke": None},
            "range": {"category": list(PALETTE)},
            "line": {"strokeWidth": 2},
            "point": {"size": 50, "filled": True},
            "bar": {"cornerRadiusEnd": 2},
            "locale": {"number": ZH_NUMBER_LOCALE, "time": ZH_TIME_LOCALE},
        }
    }
