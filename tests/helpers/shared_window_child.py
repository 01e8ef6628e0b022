"""Takes shared-window slots at full speed for a while; prints each grant's Redis time (µs).

Usage: python -m tests.helpers.shared_window_child URL KEY CAPACITY SECONDS MODE
MODE "plain": a slot counts from its grant for one second; "in-flight": held for a random
latency, then released to count one more second from then (as RateLimiter.slot does).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from livekit.api.shared import SharedLimits


async def main(url: str, key: str, capacity: int, seconds: float, mode: str) -> None:
    limits = SharedLimits(url, hold=30.0)
    window = limits.window(key)
    rng = random.Random()
    grants: list[int] = []
    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            grant = await window.take(capacity, 1.0, in_flight=mode == "in-flight")
            grants.append(grant.at)
            if mode == "in-flight":
                await asyncio.sleep(rng.uniform(0.0, 0.05))
                await window.finish(grant.member, 1.0)

    await asyncio.gather(*(worker() for _ in range(4)))
    await limits.aclose()
    print(" ".join(map(str, grants)), flush=True)


if __name__ == "__main__":
    url, key, capacity, seconds, mode = sys.argv[1:6]
    asyncio.run(main(url, key, int(capacity), float(seconds), mode))
