"""A sync in a child process, configured only by LIVEKIT_* environment variables.

Usage: python -m tests.helpers.sync_child START END  (the tests' frozen NOW is "now").
Used by the crash-safety and token-rotation tests, which kill or race such processes.
"""

from __future__ import annotations

import os
import sys
from datetime import date

from livekit.api.runner import run
from livekit.config import load_settings
from livekit.ingest.run import sync_async
from tests.helpers.sandbox import NOW


def main() -> None:
    start, end = date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2])
    export = os.environ.get("SANDBOX_VIEWER_EXPORT_URL")
    result = run(sync_async(load_settings(), start, end, now=NOW, viewer_export_url=export))
    print("rows", sum(r.rows for r in result.datasets.values()), flush=True)


if __name__ == "__main__":
    main()
