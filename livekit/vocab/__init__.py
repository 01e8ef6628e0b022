"""livekit's vocabulary: the one home of every name a user reads.

Metrics (room, product, live-minute, experiment) with label, numerator, denominator, unit and
window (:mod:`livekit.vocab.metrics`); the labels of dimensions, funnel stages, traffic sources,
severities, alert states and datasets (:mod:`livekit.vocab.labels`); units and formatters
(:mod:`livekit.vocab.units`); the China timezone; the error root. It sits below every other
layer and imports nothing from livekit, so analysis, monitor, charts, pages and reports all
resolve names here. Importing it loads no polars (the metrics build expressions lazily).

Conventions: rates are fractions (0.035) in every frame and value; percent exists only in
formatting (``format_percent(0.035) == "3.5%"``). Money is yuan, shown one way: "¥1,234.50".
"""

from __future__ import annotations

from livekit.vocab.errors import LivekitError
from livekit.vocab.labels import (
    ALERT_STATE_LABELS,
    DATASET_LABELS,
    DIMENSION_LABELS,
    SCOPE_LABELS,
    SEVERITY_LABELS,
    SEVERITY_ORDER,
    STAGE_LABELS,
    TRAFFIC_SOURCE_LABELS,
    label_of,
)
from livekit.vocab.tz import CHINA_TZ, CHINA_TZ_NAME

__all__ = [
    "ALERT_STATE_LABELS",
    "CHINA_TZ",
    "CHINA_TZ_NAME",
    "DATASET_LABELS",
    "DIMENSION_LABELS",
    "SCOPE_LABELS",
    "SEVERITY_LABELS",
    "SEVERITY_ORDER",
    "STAGE_LABELS",
    "TRAFFIC_SOURCE_LABELS",
    "LivekitError",
    "label_of",
]
