"""The custom report's page (专属报表): the metrics a merchant picks, by the dimensions they pick.

::

    import livekit
    from livekit.pages import custom_report

    page = custom_report.build(livekit.open("sandbox"), metrics=["gmv", "roas"], dimensions=["date"])
    page.overview()   # the period, the table by the dimensions, the totals
    page.charts()     # one chart per metric over the first dimension
    page.catalog()    # every room metric the report can show, with its definition

Metric names resolve in the one registry (:mod:`livekit.vocab.metrics`, family ``room``); values
are shown by the metric's unit (:func:`livekit.vocab.units.format_value`: rates are fractions
in the frames, percent only when shown). The numbers come from
:func:`livekit.analysis.custom.custom_summary`, computed once in :func:`build`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from livekit.analysis.custom import CustomResult, chosen_metrics, custom_summary
from livekit.analysis.rooms import room_ids
from livekit.pages._page import Period, Section, period, section
from livekit.text import escape_markdown
from livekit.vocab.labels import label_of
from livekit.vocab.metrics import ROOM_ANALYSIS, ROOMS, Metric, metrics_of
from livekit.vocab.units import MISSING, format_value

if TYPE_CHECKING:
    import altair as alt
    import polars as pl

    from livekit.charts.tables import HtmlTable
    from livekit.source import Kit

__all__ = [
    "MAX_SERIES",
    "CustomReportPage",
    "build",
    "catalog_table",
    "metric_title",
]

MAX_SERIES = 8  # a chart draws one line (or bar) per value of the second dimension up to this
MAX_ROWS = 500  # rows of the table by the dimensions shown in the report
TOTALS_CAPTION = "合计（比率按全部场次的分子、分母重新计算）"


def metric_title(m: Metric) -> str:
    """A metric's name with its unit, for an axis: 成交金额（元）; 支付ROI has no unit."""
    return f"{m.label}（{m.unit}）" if m.unit else m.label


def _metric_columns(metrics: Sequence[Metric]) -> list[Any]:
    from livekit.charts import Column

    return [Column(m.name, m.label, partial(format_value, m)) for m in metrics]


def catalog_table() -> HtmlTable:
    """Every room metric of the registry: parameter name, label, unit, definition."""
    import polars as pl

    from livekit.charts import table

    room = list(metrics_of("room").values())
    frame = pl.DataFrame(
        {
            "name": [m.name for m in room],
            "label": [m.label for m in room],
            "unit": [m.unit or MISSING for m in room],
            "description": [m.description for m in room],
        }
    )
    return table(frame, {"name": "参数名", "label": "指标", "unit": "单位", "description": "定义"})


@dataclass(frozen=True)
class CustomReportPage:
    """The custom report over one period: what :func:`build` computed, shown by section."""

    period: Period
    result: CustomResult

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return self.result.metrics

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.result.dimensions

    # ---- prose ------------------------------------------------------------------------------
    def headline(self) -> str:
        """One line: the period, how many rooms, how the table is grouped."""
        r = self.result
        p = self.period
        line = f"**{p.first} 至 {p.last}**，共 {r.room_count} 场直播；"
        if r.dimensions:
            dims = "、".join(escape_markdown(label_of(d)) for d in r.dimensions)
            line += f"按 {dims} 分组，共 {r.rows.height} 行。"
        else:
            line += "全部场次合计。"
        return line

    def rooms_note(self) -> str | None:
        """Which rooms were chosen (the ``rooms`` parameter), and which had no show."""
        r = self.result
        if not r.rooms:
            return None
        text = f"只看指定的 {len(r.rooms)} 个直播间（rooms 参数）。"
        if r.missing_rooms:
            ids = "、".join(str(i) for i in r.missing_rooms)
            text += f"其中 {len(r.missing_rooms)} 个在该期间没有场次：{ids}。"
        return text

    # ---- sections ---------------------------------------------------------------------------
    def overview(self) -> Section:
        """The period's coverage note, the headline, the table by the dimensions, the totals."""
        from livekit.charts import Column, table

        r = self.result
        values = _metric_columns(r.metrics)
        grouped = None
        if r.dimensions:
            grouped = table(
                r.rows, [*(Column(d) for d in r.dimensions), *values], max_rows=MAX_ROWS
            )
        totals = table(r.totals, values, caption=TOTALS_CAPTION)
        return section(self.period.note, self.headline(), self.rooms_note(), grouped, totals)

    def chart_frame(self) -> tuple[pl.DataFrame | None, str | None]:
        """What the charts draw and the field coloured: the table by the first two dimensions
        when the second has at most :data:`MAX_SERIES` values, else by the first alone."""
        import polars as pl

        r = self.result
        two = r.by_first_two
        if two is not None:
            second = r.dimensions[1]
            if two[second].n_unique() <= MAX_SERIES:
                if two.schema[second] != pl.String:
                    two = two.with_columns(pl.col(second).cast(pl.String))
                return two, second
        return r.by_first, None

    def metric_charts(self) -> list[alt.Chart | alt.LayerChart]:
        """One chart per chosen metric over the first dimension (none without dimensions, nor
        for a metric undefined in every group)."""
        import polars as pl

        from livekit.charts import metric_chart, setup

        data, color = self.chart_frame()
        if data is None:
            return []
        setup()
        by = self.dimensions[0]
        out: list[alt.Chart | alt.LayerChart] = []
        for m in self.metrics:
            shown = data.filter(pl.col(m.name).is_not_null())
            if shown.is_empty():
                continue
            out.append(
                metric_chart(
                    shown,
                    by,
                    m.name,
                    color,
                    title=f"{m.label}（按{label_of(by)}）",
                    x_title=label_of(by),
                    y_title=metric_title(m),
                    y_format=".1%" if m.is_rate else None,
                    color_title=label_of(color) if color else None,
                )
            )
        return out

    def charts(self) -> Section:
        """Each chosen metric over the first dimension (one series per value of the second)."""
        if not self.dimensions:
            return section("没有选择维度：只有合计，不画图。")
        data, _ = self.chart_frame()
        undefined = [m.label for m in self.metrics if data is None or data[m.name].is_null().all()]
        note = f"{'、'.join(undefined)}在所有分组里都没有定义，不画图。" if undefined else None
        return section(note, *self.metric_charts())

    def catalog(self) -> Section:
        """Every room metric the report can show: parameter name, label, unit, definition."""
        return section(catalog_table())


def build(
    kit: Kit,
    *,
    start: date | str = "last_7_days",
    end: date | str | None = None,
    metrics: Sequence[str] = ("gmv", "spend", "roas", "gpm", "click_conversion_rate"),
    dimensions: Sequence[str] = ("date", "aweme_name"),
    rooms: Sequence[int | str] | None = (),
) -> CustomReportPage:
    """The custom report of ``metrics`` by ``dimensions`` over [start, end] on ``kit``.

    Metric names and room ids are checked before any data is read (a mistake raises
    :class:`livekit.vocab.errors.LivekitError` with one Chinese line); dimensions once the
    rooms are loaded (the valid ones depend on the stored columns).
    """
    chosen_metrics(metrics)
    room_ids(rooms)
    where = period(kit, start, end, datasets=(ROOMS, ROOM_ANALYSIS))
    frames = {
        ROOMS: kit.load(ROOMS, where.first, where.last),
        ROOM_ANALYSIS: kit.load(ROOM_ANALYSIS, where.first, where.last),
    }
    result = custom_summary(frames, metrics, dimensions, rooms=rooms)
    return CustomReportPage(where, result)
