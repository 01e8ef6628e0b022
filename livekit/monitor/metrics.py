"""The live metrics the monitor computes and alert rules may name: the ``live`` family of the
one registry (:mod:`livekit.vocab.metrics`), under the names the monitor has used.

The definitions live in the vocabulary; this module only selects them. Units: ``flow``
metrics are per-minute counts averaged over the rule's window; ``rate`` metrics are FRACTIONS
(0.035 is 3.5%), Σ numerator / Σ denominator over the window, shown as percent by
:meth:`LiveMetric.format`; ``level`` metrics are a state at ``now()``. Product clicks are an
estimate (the label says 估算).
"""

from __future__ import annotations

from livekit.vocab.labels import SCOPE_LABELS
from livekit.vocab.metrics import (
    BOTH,
    NO_DATA_TEXT,
    PRODUCT,
    ROOM,
    LiveKind,
    LiveMetric,
    live_metrics,
)
from livekit.vocab.metrics import suggest as _suggest

__all__ = [
    "BOTH",
    "METRICS",
    "NO_DATA_TEXT",
    "PRODUCT",
    "ROOM",
    "SCOPE_LABELS",
    "Kind",
    "LiveMetric",
    "get_metric",
    "suggest",
]

Kind = LiveKind
METRICS: dict[str, LiveMetric] = live_metrics()


def get_metric(name: str) -> LiveMetric | None:
    """The live metric called ``name``, or None."""
    return METRICS.get(name)


def suggest(name: str) -> str | None:
    """The closest live metric name to a misspelt ``name``, if any is close."""
    return _suggest(name, "live")
