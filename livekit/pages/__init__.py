"""One module per report: the prose, tables and charts a report shows, over :mod:`livekit.analysis`.

A page module reads its data from a source (:func:`livekit.open`), runs the analysis, and returns
:class:`Section` objects that a notebook shows as they are: Markdown prose, charts and tables, in
order. The notebook holds the parameters, a handful of calls and the Markdown a merchant's
analyst reads; everything worth testing lives here.

::

    import livekit
    from livekit.pages import funnel

    page = funnel.build(livekit.open("sandbox"), start="last_7_days")
    page.overview()        # a Section: Jupyter shows its prose, chart and table

Layering: pages sit above analysis and charts and below reports; they never import the
sandbox, the monitor, the reports runner or the CLI. Text from upstream (titles, names) is data:
every value that meets Markdown goes through :func:`livekit.text.escape_markdown`.
"""

from __future__ import annotations

from livekit.pages._page import Period, Section, period, section

__all__ = ["Period", "Section", "period", "section"]
