"""Drawing a chart offline (vl-convert) and reading the SVG back, for the chart tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import vl_convert as vlc

SVG = "{http://www.w3.org/2000/svg}"
# What Vega's SVG renderer writes; anything else (script, image, a, foreignObject …) is not ours.
SVG_TAGS = {
    *("svg", "g", "path", "rect", "line", "text", "tspan", "title", "defs", "clipPath"),
    *("linearGradient", "stop"),  # a colour legend
}


def draw(chart: Any) -> tuple[dict[str, Any], ET.Element]:
    """The chart's Vega-Lite spec (validated) and its SVG, parsed."""
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    svg = vlc.vegalite_to_svg(chart.to_json())
    return spec, ET.fromstring(svg)


def layers(spec: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(layer, its inline rows) for each layer of a layered spec (a layer without data of its
    own reads the chart's)."""
    data = spec["datasets"]
    shared = spec.get("data", {}).get("name")
    return [(layer, data[layer.get("data", {}).get("name", shared)]) for layer in spec["layer"]]


def mark_items(root: ET.Element, kind: str) -> list[ET.Element]:
    """The drawn items of every ``kind`` mark group (``rect``, ``text`` …) of the SVG."""
    groups = [
        g
        for g in root.iter(f"{SVG}g")
        if f"mark-{kind}" in (g.get("class") or "") and "role-mark" in (g.get("class") or "")
    ]
    return [item for g in groups for item in g]


def only_chart_markup(root: ET.Element) -> bool:
    """No element but Vega's own, no event handler or link attribute anywhere."""
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    handlers = [n for el in root.iter() for n in el.attrib if n.startswith("on") or "href" in n]
    return tags <= SVG_TAGS and not handlers
