"""The executed notebook as one self-contained HTML page: no code, no parameters, no scripts.

nbconvert's ``HTMLExporter`` with livekit's template (``templates/livekit_report``, which extends
JupyterLab's and empties every block that loads a script: require.js, MathJax, mermaid,
widgets). Code inputs and prompts are excluded; the cells tagged ``parameters`` and
``injected-parameters`` (papermill's) and ``remove-cell`` are dropped, as are the outputs of
cells tagged ``remove-output``, JavaScript and widget outputs, and stderr streams (warnings are
for the notebook, not for the merchant). CSS is inlined and images embedded, so the page opens
offline; :func:`external_resources` lists anything it would still load.
"""

from __future__ import annotations

import copy
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from livekit.dates import CHINA_TZ
from livekit.reports.project import ReportError, write_text_atomic

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

# Attributes and CSS that make a browser fetch something (links a reader clicks are fine).
_LOADS = re.compile(
    r"""<(?:script|img|iframe|source|video|audio|embed|track|input)\b[^>]*?\ssrc\s*=\s*["']?([^"'\s>]+)"""
    r"""|<link\b[^>]*?\shref\s*=\s*["']?([^"'\s>]+)"""
    r"""|<object\b[^>]*?\sdata\s*=\s*["']?([^"'\s>]+)"""
    r"""|url\(\s*["']?([^"')\s]+)"""
    r"""|@import\s+["']([^"']+)""",
    re.IGNORECASE,
)


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
    body, _ = exporter.from_notebook_node(prepared, resources=resources)
    loads = external_resources(body)
    if loads:
        shown = "、".join(loads[:3])
        raise ReportError(f"报告页面会从外部加载资源（{shown}），无法离线打开")
    write_text_atomic(path, body)
    return path


def external_resources(html: str) -> list[str]:
    """URLs the page would fetch when opened (scripts, styles, images, CSS ``url()``, imports).

    ``data:`` URIs and in-page ``#anchors`` are not fetches; anything else is.
    """
    found: list[str] = []
    for match in _LOADS.finditer(html):
        url = next(g for g in match.groups() if g is not None)
        if url.startswith(("data:", "#")) or url.lower() in ("none", "inherit"):
            continue
        found.append(url)
    return found
