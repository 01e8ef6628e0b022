"""The executed notebook as one self-contained HTML page: no code, no parameters, no scripts.

nbconvert's ``HTMLExporter`` with livekit's template (``templates/livekit_report``, which extends
JupyterLab's and empties every block that loads a script: require.js, MathJax, mermaid,
widgets). Code inputs and prompts are excluded; the cells tagged ``parameters`` and
``injected-parameters`` (papermill's) and ``remove-cell`` are dropped, as are the outputs of
cells tagged ``remove-output``, JavaScript and widget outputs, and stderr streams (warnings are
for the notebook, not for the merchant). CSS is inlined and images embedded, so the page opens
offline.

What the cells produced (Markdown, HTML and SVG outputs, which may carry upstream text) is
then sanitized with an allowlist (:func:`sanitize`, nh3, the Python binding of the Rust crate
ammonia): only the tags, attributes, style properties and in-page references that reports,
tables and charts need survive. The page skeleton around the cells (head, CSS, the header with
the link to the index) is the template's, not sanitized. Last, the whole page must pass
:func:`offline_violations`, an allowlist check built on a real HTML parser; a page that fails
it is not written.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from livekit.reports.project import ReportError, write_text_atomic
from livekit.vocab.tz import CHINA_TZ

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE = "livekit_report"
REMOVED_CELL_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell"})
DROPPED_MIMETYPES = (
    "application/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)
CHART_MIMETYPE = "image/svg+xml"
_VEGA = re.compile(r"^application/vnd\.vega(lite)?\.v\d+\+json$")


def chart_outputs(nb: Any) -> int:
    """How many chart outputs (``image/svg+xml``) the cells that reach the HTML page have."""
    return sum(
        1
        for cell in _shown_cells(nb)
        if "remove-output" not in cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", [])
        if CHART_MIMETYPE in output.get("data", {})
    )


def _shown_cells(nb: Any) -> list[Any]:
    return [
        cell
        for cell in nb.get("cells", [])
        if not REMOVED_CELL_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]


def _prepare(nb: Any) -> Any:
    """A copy without what must not reach the page; an error for charts that would not draw."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                continue
            data = output.get("data")
            if data is not None:
                for mimetype in DROPPED_MIMETYPES:
                    data.pop(mimetype, None)
                vega = [m for m in data if _VEGA.match(m)]
                if vega and CHART_MIMETYPE not in data:
                    raise ReportError(
                        "图表没有以 SVG 输出，离线报告中无法显示：请在笔记本开头调用 "
                        "livekit.charts.setup()（或 alt.renderers.enable('svg')）"
                    )
                for mimetype in vega:
                    data.pop(mimetype)
                if not data:
                    continue
            outputs.append(output)
        if cell.cell_type == "code":
            cell.outputs = outputs
    return nb


_local = threading.local()


def _exporter() -> Any:
    """This thread's HTML exporter, made once: building one compiles the Jinja templates, which
    costs more than converting a report (reports run in threads, so one per thread)."""
    exporter = getattr(_local, "exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter
        from traitlets.config import Config

        config = Config()
        config.TagRemovePreprocessor.enabled = True
        config.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_CELL_TAGS)
        config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
        exporter = HTMLExporter(  # type: ignore[no-untyped-call]
            config=config,
            template_name=TEMPLATE,
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            embed_images=True,
            language_code="zh",
        )
        _local.exporter = exporter
    return exporter


def export_html(
    nb: Any,
    path: Path,
    *,
    title: str,
    day: str,
    index_href: str | None = None,
) -> Path:
    """Write ``nb`` (an executed notebook) to ``path`` as a self-contained HTML page.

    Raises :class:`ReportError` when the page would load anything from elsewhere.
    """
    exporter = _exporter()
    prepared = _prepare(nb)
    prepared.metadata["title"] = title
    resources = {
        "metadata": {"name": title, "path": str(path.parent)},
        "livekit": {
            "title": title,
            "date": day,
            "generated": datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M"),
            "index": index_href,
        },
    }
    page, _ = exporter.from_notebook_node(prepared, resources=resources)
    page = _sanitize_cells(page)
    problems = offline_violations(page)
    if problems:
        shown = "、".join(problems[:3])
        raise ReportError(f"报告页面含有脚本或会从外部加载的内容（{shown}），无法安全地离线打开")
    write_text_atomic(path, page)
    return path


# ---- sanitizing what the cells produced ---------------------------------------------------------

# The template puts these comments around the cells. The first START and the last END count:
# what the cells produced comes after the first (the page header before it is escaped) and
# before the last, so a cell that prints a marker only puts more of the page into the sanitizer.
CELLS_START = "<!-- livekit:cells -->"
CELLS_END = "<!-- /livekit:cells -->"

# HTML tags kept in what the cells produced; any other tag is dropped and its text kept.
_HTML_TAGS = frozenset(
    {
        # Markdown (cells and display(Markdown(...))) as nbconvert renders it
        *("p", "h1", "h2", "h3", "h4", "h5", "h6", "br", "hr", "blockquote", "pre", "code"),
        *("em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "small", "mark"),
        *("kbd", "samp", "var", "abbr", "ul", "ol", "li", "dl", "dt", "dd"),
        *("details", "summary", "figure", "figcaption"),
        # nbconvert's output wrappers (div) and ANSI-coloured stream text (span)
        *("div", "span"),
        # anchors on headings (nbconvert) and relative links between reports
        "a",
        # PNG/JPEG outputs and Markdown attachments, embedded by nbconvert as data: URIs
        "img",
        # tables: livekit.charts.table, polars and pandas HTML
        *("table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td"),
    }
)
# SVG tags of the charts (vl-convert, Vega's SVG renderer: marks are paths, lines, rects and
# text in groups, clipped by clipPath in defs; gradients for gradient fills). Case matters.
_SVG_TAGS = frozenset(
    {
        *("svg", "g", "path", "rect", "line", "circle", "ellipse", "polygon", "polyline"),
        *("text", "tspan", "title", "desc", "defs", "clipPath"),
        *("linearGradient", "radialGradient", "stop"),
    }
)
# Removed with their content: a script's or a style sheet's text is not for the reader (polars
# puts a <style> before its tables; the template's CSS styles .dataframe instead).
_DROPPED_WITH_CONTENT = frozenset({"script", "style"})

# Attributes on every kept tag: CSS classes (JupyterLab's, livekit's), ids (heading and cell
# anchors, SVG clip paths), tooltips, language and direction, what Vega adds for screen
# readers, and ``style`` (filtered: _STYLE_PROPERTIES, then _keep_attribute).
_GLOBAL_ATTRIBUTES = frozenset(
    {"class", "id", "title", "lang", "dir", "style"}
    | {"role", "aria-label", "aria-roledescription", "aria-hidden"}
)
_HTML_ATTRIBUTES: dict[str, frozenset[str]] = {
    "div": frozenset({"tabindex", "data-mime-type"}),  # nbconvert's output areas
    "a": frozenset({"href"}),  # only #fragments and relative paths: _keep_attribute
    "img": frozenset({"src", "alt", "width", "height"}),  # src only data:image/…: _keep_attribute
    "table": frozenset({"border"}),  # polars and pandas
    "th": frozenset({"colspan", "rowspan"}),
    "td": frozenset({"colspan", "rowspan"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "ol": frozenset({"start"}),
    "li": frozenset({"value"}),
}
# Presentation attributes of SVG that Vega's renderer writes (or may, for other mark types).
# Among them only fill, stroke and clip-path take url(); _keep_attribute lets url(#id) alone by.
_SVG_ATTRIBUTES = frozenset(
    {
        *("viewBox", "version", "width", "height", "x", "y", "x1", "y1", "x2", "y2"),
        *("cx", "cy", "r", "rx", "ry", "d", "points", "transform", "opacity", "display"),
        *("fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity"),
        *("stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin"),
        *("stroke-miterlimit", "clip-path", "clip-rule", "clipPathUnits", "pointer-events"),
        *("visibility", "paint-order", "shape-rendering", "preserveAspectRatio"),
        *("text-anchor", "dominant-baseline", "alignment-baseline", "font-family"),
        *("font-size", "font-weight", "font-style", "font-variant", "letter-spacing"),
        *("dx", "dy", "offset", "stop-color", "stop-opacity", "gradientUnits"),
        *("gradientTransform", "fx", "fy", "spreadMethod"),
    }
)
# Properties kept in ``style`` attributes: what livekit.charts.table, pandas and polars set on
# tables and text. None of them takes a URL (no background, list-style, cursor, content,
# border-image, mask, filter); fill and stroke may, and _keep_attribute checks them.
_STYLE_PROPERTIES = frozenset(
    {
        *("color", "background-color", "opacity", "font-family", "font-size", "font-weight"),
        *("font-style", "font-variant-numeric", "text-align", "vertical-align"),
        *("text-decoration", "white-space", "word-break", "line-height", "width", "height"),
        *("max-width", "min-width", "padding", "padding-top", "padding-right"),
        *("padding-bottom", "padding-left", "margin", "margin-top", "margin-right"),
        *("margin-bottom", "margin-left", "border", "border-top", "border-right"),
        *("border-bottom", "border-left", "border-color", "border-style", "border-width"),
        *("border-collapse", "border-spacing", "border-radius", "fill", "stroke"),
        "stroke-width",
    }
)
# Attributes whose value is CSS that may hold url(): only references inside the page pass.
_CSS_ATTRIBUTES = frozenset({"style", "fill", "stroke", "clip-path"})
# The images nbconvert embeds (PNG, JPEG, GIF, WebP, SVG loaded as an image, which can neither
# run a script nor fetch anything).
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def sanitize(fragment: str) -> str:
    """``fragment`` (HTML from the cells of a notebook) with only what a report needs.

    Tags, attributes and style properties are allowlists (above, each with its reason); links
    keep ``#fragments`` and relative paths, images only embedded ``data:image/…`` URIs, CSS
    only ``url(#id)``. Everything else is dropped; text is kept (escaped).
    """
    cleaned: str = _cleaner().clean(fragment)
    return cleaned


@functools.cache
def _cleaner() -> Any:
    import nh3

    svg = {tag: set(_SVG_ATTRIBUTES) for tag in _SVG_TAGS}
    html = {tag: set(names) for tag, names in _HTML_ATTRIBUTES.items()}
    return nh3.Cleaner(
        tags=set(_HTML_TAGS | _SVG_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={"*": set(_GLOBAL_ATTRIBUTES), **html, **svg},
        attribute_filter=_keep_attribute,
        url_schemes={"data"},  # ammonia's own check; _keep_attribute narrows it to images
        filter_style_properties=set(_STYLE_PROPERTIES),
        strip_comments=True,
    )


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    """nh3's per-attribute filter: the value to keep, or None to drop the attribute."""
    if attribute == "href":  # kept on <a> only
        url = _normalized_url(value)
        return value if url.startswith("#") or _relative_path(url) else None
    if attribute == "src":  # kept on <img> only
        return value if _DATA_IMAGE.match(_normalized_url(value)) else None
    if attribute in _CSS_ATTRIBUTES:
        refs = _css_references(value)
        return value if all(ref.startswith("#") for ref in refs) else None
    return value


def _sanitize_cells(page: str) -> str:
    """``page`` with the part between the template's cell markers sanitized."""
    start, end = page.find(CELLS_START), page.rfind(CELLS_END)
    if start < 0 or end < start:
        raise ReportError("报告模板缺少单元标记，无法检查页面内容")  # a broken template
    start += len(CELLS_START)
    return page[:start] + "\n" + sanitize(page[start:end]) + "\n" + page[end:]


# ---- the offline check --------------------------------------------------------------------------

# Elements that run code, load another document or change where the page's links point.
_FORBIDDEN_ELEMENTS = frozenset(
    {
        *("script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal"),
        *("base", "link"),
        # SVG animation can set href or event attributes after the page loaded
        *("set", "animate", "animatemotion", "animatetransform"),
    }
)
# Attributes that hold a URL (HTML, SVG, XML). Each must fit _url_allowed, or it is reported.
_URL_ATTRIBUTES = frozenset(
    {
        *("href", "xlink:href", "src", "srcset", "imagesrcset", "poster", "action"),
        *("formaction", "data", "background", "cite", "longdesc", "ping", "codebase"),
        *("classid", "archive", "profile", "manifest", "icon", "lowsrc", "dynsrc"),
        *("usemap", "xml:base", "attributionsrc", "itemtype", "itemid"),
    }
)
# Attributes whose value is CSS (style, and SVG presentation attributes that accept url()).
_CSS_VALUED = frozenset(
    {
        *("style", "fill", "stroke", "clip-path", "mask", "filter", "marker-start"),
        *("marker-mid", "marker-end", "cursor"),
    }
)
_FOREIGN = frozenset({"svg", "math"})
_MARKUP = re.compile(r"<[A-Za-z!/?][^>]{0,40}")


def offline_violations(html: str) -> list[str]:
    """What in the page ``html`` could run a script or fetch from outside the file; [] if nothing.

    An allowlist, checked on every element by a real HTML parser (the standard library's):
    no ``<script>``, ``<iframe>``, ``<object>``, ``<embed>``, ``<base>``, ``<link>`` or
    ``<meta http-equiv=refresh>``; no ``on*`` attribute; URL attributes (``href``, ``src``,
    ``srcset``, ``poster``, ``xlink:href``, ``action``, ``data`` …) only where a report has them
    and only to the page itself or beside it: ``#fragment`` anywhere, relative paths in
    ``<a href>``, ``data:image/…`` or relative paths in ``<img src>``; CSS (``<style>`` and
    ``style`` attributes) without ``@import`` and with ``url()`` only to ``#…``, ``data:`` or a
    relative path. Each finding is one short line naming the element and the value.
    """
    checker = _OfflineCheck()
    checker.feed(html)
    checker.close()
    return checker.found


def _url_allowed(tag: str, attribute: str, value: str) -> bool:
    url = _normalized_url(value)
    if attribute in ("href", "xlink:href"):
        return url.startswith("#") or (tag == "a" and _relative_path(url))
    if (tag, attribute) == ("img", "src"):
        return bool(_DATA_IMAGE.match(url)) or _relative_path(url)
    return False


def _normalized_url(value: str) -> str:
    """The URL as a browser reads it: tabs and newlines removed, spaces and controls at the ends
    stripped, backslashes as slashes (WHATWG URL parsing)."""
    url = value.replace("\t", "").replace("\n", "").replace("\r", "")
    return url.strip("".join(map(chr, range(0x21)))).replace("\\", "/")


def _relative_path(url: str) -> bool:
    """A path relative to the page (``x.html``, ``../../index.html``): no scheme, no host, not
    from the root."""
    return not _SCHEME.match(url) and not url.startswith("/")


def _inside(url: str) -> bool:
    """A CSS reference that stays in the file or beside it."""
    url = _normalized_url(url)
    return url.startswith(("#", "data:")) or (url != "" and _relative_path(url))


def _css_references(css: str) -> tuple[str, ...]:
    """Every URL the CSS ``css`` refers to: ``url()`` (escapes decoded), the strings of
    ``image-set()``, and ``@import`` (reported as ``@import …``, always outside).

    CSS can only refer to anything through a function or url token (both need a literal "(":
    an escaped one is part of a name) or an at-rule (a literal "@"), so text with neither is
    answered without tokenizing: a chart's thousands of style attributes are such text, and
    tokenizing them was most of the offline check's time."""
    if "(" not in css and "@" not in css:
        return ()
    return _css_references_parsed(css)


@functools.lru_cache(maxsize=4096)
def _css_references_parsed(css: str) -> tuple[str, ...]:
    import tinycss2  # type: ignore[import-untyped]  # nbconvert's (bleach[css])

    found: list[str] = []

    def walk(nodes: Any) -> None:
        importing = False
        for node in nodes or ():
            kind = node.type
            if kind == "at-keyword" and node.lower_value == "import":
                importing = True
                found.append("@import")
            elif kind == "url":
                found.append(node.value)
            elif kind == "function":
                name = node.lower_name
                if name in ("url", "src") or name.endswith("image-set") or name == "image":
                    found.extend(a.value for a in node.arguments if a.type == "string")
                walk(node.arguments)
            elif kind in ("() block", "[] block", "{} block"):
                walk(node.content)
            elif importing and kind == "string":
                found[-1] = f"@import {node.value}"
            if kind == "literal" and node.value == ";":
                importing = False

    walk(tinycss2.parse_component_value_list(css))
    return tuple(found)


class _OfflineCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._foreign = 0  # depth of <svg>/<math>
        self._style: list[str] | None = None  # the text of the <style> element being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)
        if tag in _FOREIGN:
            self._foreign += 1
        if tag == "style":
            self._style = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _FOREIGN:
            self._foreign = max(0, self._foreign - 1)
        if tag == "style":
            self._end_style()

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)

    def close(self) -> None:
        super().close()
        if self._style is not None:  # a <style> left open runs to the end of the page
            self._style.append(self.rawdata)  # which this parser keeps unread
        self._end_style()

    def _end_style(self) -> None:
        if self._style is None:
            return
        css, self._style = "".join(self._style), None
        if markup := _MARKUP.search(css):  # no style sheet has tags; markup here is a trick
            self.found.append(f"<style> 内含标记：{_short(markup.group(0))}")
        self._css(css, "<style>")

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _FORBIDDEN_ELEMENTS:
            self.found.append(f"<{tag}>")
        if tag == "style" and self._foreign:
            # Inside SVG or MathML a browser decodes entities and tags in <style>; this parser
            # reads it as plain text and could miss what it holds.
            self.found.append("<svg> 内的 <style>")
        if tag == "meta" and any(
            name == "http-equiv" and (value or "").strip().lower() == "refresh"
            for name, value in attrs
        ):
            self.found.append("<meta http-equiv=refresh>")
        # Every occurrence of an attribute is checked: browsers keep the first of duplicates.
        for name, raw in attrs:
            value = raw or ""
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            elif name in _URL_ATTRIBUTES and not _url_allowed(tag, name, value):
                self.found.append(f'<{tag} {name}="{_short(value)}">')
            if name in _CSS_VALUED:
                self._css(value, f"<{tag} {name}>")

    def _css(self, css: str, where: str) -> None:
        for ref in _css_references(css):
            if ref.startswith("@import") or not _inside(ref):
                shown = ref if ref.startswith("@import") else f"url({ref})"
                self.found.append(f"{where} {_short(shown)}")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
