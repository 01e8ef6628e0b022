"""Run a coroutine from synchronous code, also inside a running event loop (Jupyter)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result.

    Without a running loop this is ``asyncio.run``. Inside one (a Jupyter cell, an async
    framework) the coroutine runs in a fresh event loop on a worker thread while this thread
    waits: no nest_asyncio, no re-entering the caller's loop. Context variables are copied.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="livekit-run"
    ) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()
