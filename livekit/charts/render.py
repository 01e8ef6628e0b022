"""Rendering: the theme registered with altair, charts drawn offline as inline SVG.

``setup()`` makes altair render through ``vl-convert`` (which bundles Vega): the output of a
chart cell is an ``image/svg+xml`` document, so an exported HTML report holds each chart as
one inline ``<svg>`` and loads no JavaScript.
"""

from __future__ import annotations

from typing import cast

import altair as alt

from livekit.charts.style import THEME_NAME, theme

__all__ = ["setup", "use_theme"]


def _registered_theme() -> alt.theme.ThemeConfig:
    return cast("alt.theme.ThemeConfig", theme())


def use_theme() -> None:
    """Register the livekit theme with altair (once) and enable it."""
    if THEME_NAME not in alt.theme.names():
        alt.theme.register(THEME_NAME, enable=False)(_registered_theme)
    alt.theme.enable(THEME_NAME)


def setup() -> None:
    """Enable the theme and render charts offline as inline SVG (vl-convert, no JavaScript)."""
    use_theme()
    alt.renderers.enable("svg")
