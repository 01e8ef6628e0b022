"""Numbers as the merchant reads them: counts, money, percentages, ratios; "—" when undefined.

The one set of formatters for report prose, tables, charts and alert messages. Conventions:

* **rates are fractions** in every frame and value (0.035); percent exists only here, when a
  value is shown: ``format_percent(0.035) == "3.5%"``;
* **money has one format**, the yuan sign in front: ``format_money(1234.5) == "¥1,234.50"``
  (``compact=True`` shortens large sums in prose: ``"¥12.35万"``);
* counts ``"1,234"`` (``format_number`` shortens to 万/亿), ratios such as ROAS ``"2.31"``;
* a missing value (None, NaN, ±inf) is :data:`MISSING`, ``"—"``.

:func:`format_value` formats a registered metric by its unit
(:mod:`livekit.vocab.metrics`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, SupportsFloat

if TYPE_CHECKING:
    from livekit.vocab.metrics import Metric

__all__ = [
    "MISSING",
    "PERCENT",
    "YUAN",
    "format_count",
    "format_money",
    "format_number",
    "format_percent",
    "format_ratio",
    "format_value",
    "is_missing",
]

MISSING = "—"  # how an undefined value is shown
YUAN = "元"  # the display unit of money (metrics' ``unit``)
PERCENT = "%"  # the display unit of a rate: the value is a fraction, shown as percent


def is_missing(value: SupportsFloat | None) -> bool:
    """True for None, NaN and the infinities: values that are shown as "—"."""
    return value is None or not math.isfinite(float(value))


def format_number(value: SupportsFloat | None, digits: int = 1) -> str:
    """A number the Chinese way: 8,520 / 1.2万 / 3.45亿; whole numbers without decimals."""
    if value is None or is_missing(value):
        return MISSING
    v = float(value)
    if abs(v) >= 1e8:
        return f"{v / 1e8:,.2f}亿"
    if abs(v) >= 1e4:
        return f"{v / 1e4:,.{digits}f}万"
    if v == int(v):
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def format_count(value: SupportsFloat | None, *, compact: bool = True) -> str:
    """A count: 8,520, or 1.2万 / 3.45亿 when large (``compact=False``: always 123,456)."""
    if value is None or is_missing(value):
        return MISSING
    if compact:
        return format_number(value, 1)
    return f"{float(value):,.0f}"


def format_money(value: SupportsFloat | None, *, compact: bool = False) -> str:
    """Money in yuan: ¥1,234.50 (``compact=True``: ¥12.35万 from 1万 up, for prose)."""
    if value is None or is_missing(value):
        return MISSING
    v = float(value)
    sign = "-" if v < 0 else ""
    if compact and abs(v) >= 1e4:
        return f"{sign}¥{format_number(abs(v), 2)}"
    return f"{sign}¥{abs(v):,.2f}"


def format_percent(value: SupportsFloat | None, digits: int = 1, *, signed: bool = False) -> str:
    """A rate or share given as a FRACTION, shown as percent: 0.035 -> "3.5%"."""
    if value is None or is_missing(value):
        return MISSING
    sign = "+" if signed else ""
    return f"{float(value) * 100:{sign}.{digits}f}%"


def format_ratio(value: SupportsFloat | None, digits: int = 2) -> str:
    """A plain ratio such as ROAS: 2.31."""
    if value is None or is_missing(value):
        return MISSING
    return f"{float(value):,.{digits}f}"


def format_value(m: Metric, value: SupportsFloat | None) -> str:
    """``value`` of metric ``m`` as the merchant reads it, by the metric's unit.

    Rates (unit "%", the value a fraction) as percent ("3.46%"), money as "¥1,234.50",
    plain ratios as "2.60", other units after the number ("12.5秒", "8,520次").
    """
    if value is None or is_missing(value):
        return MISSING
    if m.unit == PERCENT:
        return format_percent(value, m.digits)
    if m.unit == YUAN:
        return format_money(value)
    number = f"{float(value):,.{m.digits}f}"
    return number + m.unit
