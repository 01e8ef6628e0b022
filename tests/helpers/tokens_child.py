"""A worker's sync in a child process, configured only by LIVEKIT_* variables, that also says
how its tokens went: ``python -m tests.helpers.tokens_child START END``.

Prints one JSON line: ``rows`` (stored), ``refreshes`` (refresh calls this worker made, per
token set entry), ``lock_ms`` (how long each Redis token lock was held), ``lost_locks`` and
``raced`` (a lock that ran out / a refresh someone else won: both should stay 0). The tests'
frozen NOW is the sync's "now"; the sandbox's own clock runs, so tokens expire.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import date
from typing import Any

from livekit.api.runner import run
from livekit.config import load_settings
from livekit.ingest.run import sync_async
from tests.helpers.sandbox import NOW

REFRESHED = re.compile(r"^refreshed (\S+) access token$")
HELD = re.compile(r"^Redis token lock of (\S+) held ([0-9.]+) ms$")


class Tally(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.out: dict[str, Any] = {"refreshes": {}, "lock_ms": [], "lost_locks": 0, "raced": 0}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if found := REFRESHED.match(message):
            key = found.group(1)
            self.out["refreshes"][key] = self.out["refreshes"].get(key, 0) + 1
        elif found := HELD.match(message):
            self.out["lock_ms"].append(float(found.group(2)))
        elif "ran out" in message:
            self.out["lost_locks"] += 1
        elif "meanwhile" in message or "during the refresh" in message:
            self.out["raced"] += 1


def main() -> None:
    start, end = date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2])
    tally = Tally()
    logger = logging.getLogger("livekit.api")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(tally)
    result = run(sync_async(load_settings(), start, end, now=NOW))
    tally.out["rows"] = sum(r.rows for r in result.datasets.values())
    print(json.dumps(tally.out), flush=True)


if __name__ == "__main__":
    main()
