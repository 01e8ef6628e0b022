"""The formatters under their old home; they live in :mod:`livekit.vocab.units` now.

Kept so that code written against ``livekit.analysis.formats`` keeps working; new code imports
:mod:`livekit.vocab.units`.
"""

from __future__ import annotations

from livekit.vocab.units import MISSING, fmt_count, fmt_number, fmt_percent, fmt_yuan

__all__ = ["MISSING", "fmt_count", "fmt_number", "fmt_percent", "fmt_yuan"]
