"""What every page shares: the Section a notebook shows, and a period read from a source."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from livekit.source import Coverage, Kit

__all__ = ["Period", "Section", "period", "section", "viewers_of"]


@dataclass(frozen=True)
class Section:
    """One part of a report, shown in order: a ``str`` part is Markdown, any other part (an
    altair chart, an HTML table) is shown as itself; ``None`` parts are skipped.

    Jupyter shows a Section returned by a cell's last line (``_ipython_display_``), so a
    notebook cell is one call. ``markdown`` joins the prose parts, for tests and for text
    outside Jupyter.
    """

    parts: tuple[Any, ...] = ()

    def __iter__(self) -> Iterator[Any]:
        return (p for p in self.parts if p is not None)

    @property
    def markdown(self) -> str:
        """The prose parts, joined by blank lines."""
        return "\n\n".join(p for p in self if isinstance(p, str))

    @property
    def charts(self) -> list[Any]:
        """The parts that are altair charts."""
        import altair as alt

        return [p for p in self if isinstance(p, alt.TopLevelMixin)]

    def _ipython_display_(self) -> None:
        from IPython import display as ipd

        # IPython ships no type hints: reach it through Any rather than silencing mypy.
        show: Any = ipd.display
        markdown: Any = ipd.Markdown
        for part in self:
            if isinstance(part, str):
                show(markdown(part))
            elif _is_chart(part):
                show(_chart_bundle(part), raw=True)
            else:
                show(part)


def _is_chart(part: Any) -> bool:
    import sys

    alt = sys.modules.get("altair")  # no chart can exist before altair was imported
    return alt is not None and isinstance(part, alt.TopLevelMixin)


def _chart_bundle(chart: Any) -> Any:
    """What altair's own display gives (the active renderer: inline SVG in reports), without
    validating the spec against the Vega-Lite JSON schema again on every show: a page's charts
    are built by livekit.charts, whose specs the tests validate, and the schema walk is a fifth
    of what drawing a report's charts costs."""
    import altair as alt

    spec = chart.to_dict(validate=False, context={"pre_transform": False})
    renderer = alt.renderers.get()
    return renderer(spec) if renderer is not None else chart


def section(*parts: Any) -> Section:
    """A :class:`Section` of ``parts`` (``None`` parts are dropped)."""
    return Section(tuple(p for p in parts if p is not None))


@dataclass(frozen=True)
class Period:
    """A resolved period of a source: its days, and how completely they are stored."""

    first: date
    last: date
    coverage: Coverage

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def note(self) -> str | None:
        """One Chinese line when the period is not fully synced (live data), else None."""
        return self.coverage.note


def period(
    kit: Kit,
    start: date | str,
    end: date | str | None = None,
    *,
    datasets: Sequence[str] = ("rooms",),
) -> Period:
    """Resolve ``start``/``end`` (the one date grammar of :mod:`livekit.dates`) and make the
    period ready on ``kit`` (:meth:`livekit.source.Kit.prepare`: a sandbox kit fills what is
    missing; a live kit only reports coverage)."""
    from livekit.dates import resolve_range

    first, last = resolve_range(start, end)
    return Period(first, last, kit.prepare(first, last, datasets=tuple(datasets)))


def viewers_of(kit: Kit, span: Period, ids: Sequence[int]) -> pl.DataFrame:
    """The viewer export of ``span``, only the shows ``ids`` (every show when empty); a
    :class:`~livekit.vocab.errors.LivekitError` naming what to do when nothing is left (the
    ``rooms`` parameter, or importing an export at all)."""
    from livekit.analysis.rooms import only_rooms
    from livekit.vocab.errors import LivekitError

    every = kit.load("viewers", span.first, span.last)
    viewers = only_rooms(every, ids)
    if viewers.height == 0:
        raise LivekitError(
            f"{span.first} 至 {span.last} 所选直播间没有观众明细：请检查 rooms 参数。"
            if ids and every.height
            else f"{span.first} 至 {span.last} 没有观众明细："
            "请先用 livekit import viewers 导入观众明细导出文件。"
        )
    return viewers
