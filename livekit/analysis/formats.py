"""Numbers as the merchant reads them in prose and tables (万/亿, ¥, %); "—" when undefined.

One set of formatters for the report text (:mod:`livekit.analysis.narrative`,
:mod:`livekit.analysis.experiment`) and the charts (:mod:`livekit.charts` re-exports them).
"""

from __future__ import annotations

import math

from livekit.analysis.metrics import MISSING

__all__ = ["MISSING", "fmt_count", "fmt_number", "fmt_percent", "fmt_yuan"]


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(float(value))


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A number the Chinese way: 8,520 / 1.2万 / 3.45亿; ``—`` when undefined."""
    if value is None or _missing(value):
        return MISSING
    v = float(value)
    if abs(v) >= 1e8:
        return f"{v / 1e8:,.2f}亿"
    if abs(v) >= 1e4:
        return f"{v / 1e4:,.{digits}f}万"
    if v == int(v):
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def fmt_count(value: float | None) -> str:
    """A count with thousands separators (8,520), or 万/亿 when large."""
    return fmt_number(value, 1)


def fmt_yuan(value: float | None) -> str:
    """Money in yuan: ¥1,234.50 below 1万, ¥12.35万 above; ``—`` when undefined."""
    if value is None or _missing(value):
        return MISSING
    v = float(value)
    if abs(v) >= 1e4:
        return "¥" + fmt_number(v, 2)
    return f"¥{v:,.2f}"


def fmt_percent(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A share or rate as a percentage (0.1234 -> 12.3%); ``—`` when undefined."""
    if value is None or _missing(value):
        return MISSING
    sign = "+" if signed else ""
    return f"{float(value) * 100:{sign}.{digits}f}%"
