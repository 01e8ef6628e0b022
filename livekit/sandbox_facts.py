"""Facts the sandbox publishes about its own world, in the shape the notebooks need.

The sandbox plants known truths in its data (see :mod:`livekit.sandbox.truth`). Some of them
stand in for records a real merchant keeps outside the platforms, such as which live session
ran which version of a switchback experiment. This module sits at the top of the package (like
the CLI) so that :mod:`livekit.analysis` stays free of the sandbox.
"""

from __future__ import annotations

from datetime import date

import polars as pl

__all__ = ["switchback_arms"]


def switchback_arms(today: date | None = None) -> pl.DataFrame:
    """The sandbox's switchback schedule: one row per session, ``room_id`` (Int64) and
    ``variant`` ("A" or "B").

    ``today`` is the sandbox's current date (:func:`livekit.dates.today` unless given); the
    schedule is the one the sandbox world of that date was generated with.
    """
    from livekit.dates import today as current_day
    from livekit.sandbox.config import SandboxConfig
    from livekit.sandbox.truth import truth
    from livekit.sandbox.world import World

    world = World(SandboxConfig().seed, today or current_day())
    sessions = truth(world)["switchback_experiment"]["sessions"]
    return pl.DataFrame(sessions).select(
        pl.col("room_id").cast(pl.Int64), pl.col("variant").cast(pl.String)
    )
