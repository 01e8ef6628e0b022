"""livekit: analysis kit for merchants who sell through Douyin live streams.

The distribution is ``douyin-livekit``; the import name is ``livekit``. Importing this package
is cheap: heavy libraries (polars, numpy, starlette, ...) load only when a feature needs them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
