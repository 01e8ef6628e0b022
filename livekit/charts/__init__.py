"""Charts and tables for the reports: a CJK altair theme, offline SVG, one table spec, builders.

Every builder takes a small, already aggregated polars frame (a funnel, a Kaplan–Meier table,
one row per room or per day): aggregate first, then chart. Nothing here computes a metric or
takes a decision (which difference is significant, which room is provisional): the numbers and
the verdicts come from :mod:`livekit.analysis`, and a chart draws them. Titles, axis titles
and legends are Simplified Chinese, for the merchant.

In a notebook::

    import livekit.charts as charts
    charts.setup()          # the theme, and charts rendered offline as inline SVG
    charts.bar_chart(frame, "label", "step_rate", title="环节转化率", y_format=".1%")
    charts.table(frame, [charts.Column("gmv", "成交金额", "money")])

Modules (by purpose):

``style``     fonts (CJK first), zh-CN number and date locales, palette, sizes; no altair.
``render``    :func:`setup` / :func:`use_theme`: the theme registered, SVG through vl-convert.
``tables``    :func:`table` and its spec (:class:`TableSpec`, :class:`Column`); no altair.
``builders``  generic charts: :func:`bar_chart`, :func:`trend_chart`, :func:`metric_chart`,
              :func:`rate_chart`, :func:`survival_chart`.
``heat``      :func:`heat_map`: product × minute, colour = clicks, explanation windows outlined.
``china``     :func:`china_map`: an offline tile-grid map of China (one square per province).
``forecast``  :func:`forecast_chart`: history, the forecast's 80/95 % bands, festival peaks.
Charts made for one report live with that report's page (:mod:`livekit.pages`).

Chart vocabulary: one keyword for one idea, in every builder.

``x``                the field the marks are laid out along: a category, a day, a time, a
                     room. (Horizontal bars list ``x`` down the side: ``x`` is a role, not
                     the screen direction.)
``y``                the field of the value measured: bar length, line height, a rate.
``color``            the field whose values get one colour each (a line, a bar of a group).
``ci_low, ci_high``  the fields of the interval around ``y``.
``title, subtitle``  the chart's title and the line under it.
``x_title, y_title, color_title``  the titles of ``x``'s axis, ``y``'s axis, the legend
                     (None: no title).
``y_format``         d3 format of ``y`` on its axis, labels and tooltips (".1%", ",.0f").
``reference``        a value of ``y`` marked with a dashed line (break-even ROI, the overall
``reference_label``  rate) and the text beside it.
``horizontal``       bars drawn across (the default for categories).

Keywords of one builder each: ``measures`` (ROI columns and their names), ``max_minutes``
(survival), ``top`` (product rank), ``zero``, ``sort``, ``labels``, ``grouped`` (bars),
``rows``, ``rows_title``, ``windows``, ``step`` (heat map), ``details``, ``midpoint`` (map).

Every builder returns an altair chart (``alt.Chart``, ``alt.LayerChart`` or
``alt.HConcatChart``); ``product_rank_chart`` returns None when nothing is ranked.

Heavy imports stay lazy: ``import livekit.charts`` loads neither altair nor vl-convert; the
first builder used (or :func:`setup`) does. Upstream text (titles, 抖音号 names, sources,
provinces) is data: Vega draws data and titles as SVG text, which vl-convert escapes; labels
and titles still go through :func:`livekit.text.plain_text` (no invisible or reordering
characters, no 10 kB strings), and long labels are clipped in Python (measuring CJK text is
most of what rendering costs, so the theme sets no pixel ``labelLimit``). :func:`table`
escapes every header and cell with :func:`livekit.text.escape_html`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit.charts.builders import (
        bar_chart,
        metric_chart,
        rate_chart,
        survival_chart,
        trend_chart,
    )
    from livekit.charts.china import china_map
    from livekit.charts.forecast import forecast_chart
    from livekit.charts.heat import heat_map
    from livekit.charts.render import setup, use_theme
    from livekit.charts.style import FONTS, MAX_POINTS, THEME_NAME, theme
    from livekit.charts.tables import Column, HtmlTable, TableSpec, table, table_spec

# public name -> the module that defines it (imported on first use)
_HOMES: dict[str, str] = {
    **dict.fromkeys(["FONTS", "MAX_POINTS", "THEME_NAME", "theme"], "livekit.charts.style"),
    **dict.fromkeys(["setup", "use_theme"], "livekit.charts.render"),
    **dict.fromkeys(
        ["Column", "HtmlTable", "TableSpec", "table", "table_spec"], "livekit.charts.tables"
    ),
    **dict.fromkeys(
        ["bar_chart", "metric_chart", "rate_chart", "survival_chart", "trend_chart"],
        "livekit.charts.builders",
    ),
    "heat_map": "livekit.charts.heat",
    "china_map": "livekit.charts.china",
    "forecast_chart": "livekit.charts.forecast",
}

__all__ = [
    "FONTS",
    "MAX_POINTS",
    "THEME_NAME",
    "Column",
    "HtmlTable",
    "TableSpec",
    "bar_chart",
    "china_map",
    "forecast_chart",
    "heat_map",
    "metric_chart",
    "rate_chart",
    "setup",
    "survival_chart",
    "table",
    "table_spec",
    "theme",
    "trend_chart",
    "use_theme",
]  # the keys of _HOMES


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'livekit.charts' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
