"""A writer task for the object-store crash test: ``python -m tests.helpers.s3_writer N MODE``.

The store comes from the LIVEKIT_* environment (``LIVEKIT_STORE_URL`` and the S3 settings),
as in a worker. MODE ``loop`` rewrites days 0-3 with rising versions until killed; MODE
``final`` writes every day once at the final version and exits (the retried task).
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

import polars as pl

from livekit.config import load_settings
from livekit.store import open_store
from tests.helpers.s3 import CRASH_SCHEMA, crash_frame

DAYS = 4
FIRST = date(2026, 11, 1)
FINAL = 999


def main() -> None:
    n, mode = int(sys.argv[1]), sys.argv[2]
    store = open_store(load_settings())
    schema = {k: getattr(pl, v)() for k, v in CRASH_SCHEMA.items()}
    print("ready", flush=True)
    versions = range(10**6) if mode == "loop" else [FINAL]
    for version in versions:
        for i in range(DAYS):
            frame = crash_frame(i, version, n)
            meta = {"version": str(version)}
            store.write_partition("big", FIRST + timedelta(days=i), frame, schema, meta)


if __name__ == "__main__":
    main()
