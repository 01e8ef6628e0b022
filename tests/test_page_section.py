"""The Section a notebook cell shows: prose as Markdown, charts as altair would draw them."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell

from livekit.charts import render
from livekit.pages import section


def _shown(obj: Any) -> list[dict[str, Any]]:
    """Every mimebundle IPython publishes while displaying ``obj``."""
    shell = InteractiveShell.instance()
    published: list[dict[str, Any]] = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, *a, **k: published.append(data)  # type: ignore[method-assign]
    try:
        from IPython.display import display

        display(obj)
    finally:
        shell.display_pub.publish = original  # type: ignore[method-assign]
    return published


@pytest.fixture(autouse=True)
def _svg() -> None:
    render.setup()


def test_a_chart_is_shown_as_altair_shows_it_and_prose_as_markdown() -> None:
    chart = (
        alt.Chart(pl.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]}))
        .mark_line()
        .encode(x="x:Q", y="y:Q")
    )
    shown = _shown(section("**要点**：上升", chart))
    assert len(shown) == 2
    assert shown[0]["text/markdown"] == "**要点**：上升"
    assert shown[1]["image/svg+xml"].lstrip().startswith("<svg")
    assert shown[1] == chart._repr_mimebundle_()  # the same drawing as altair's own display


def test_tables_and_other_parts_are_shown_as_themselves() -> None:
    class Table:
        def _repr_html_(self) -> str:
            return "<table><tr><td>1</td></tr></table>"

    shown = _shown(section(None, Table()))
    assert len(shown) == 1
    assert shown[0]["text/html"] == "<table><tr><td>1</td></tr></table>"
