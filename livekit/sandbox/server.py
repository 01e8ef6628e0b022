"""Run the sandbox as a real HTTP server: in the foreground, or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livekit.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from livekit.sandbox.core import Sandbox


def serve(
    config: SandboxConfig, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning"
) -> None:
    import uvicorn

    from livekit.sandbox.app import create_app

    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, access_log=False)


@dataclass
class RunningSandbox:
    url: str  # e.g. http://127.0.0.1:54321
    app: object

    @property
    def sandbox(self) -> Sandbox:
        sb: Sandbox = self.app.state.sandbox  # type: ignore[attr-defined]
        return sb


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_sandbox(
    config: SandboxConfig | None = None, host: str = "127.0.0.1"
) -> Iterator[RunningSandbox]:
    """A real uvicorn server on a free loopback port, in a daemon thread."""
    import uvicorn

    from livekit.sandbox.app import create_app

    app = create_app(config or SandboxConfig())
    port = free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, name="livekit-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    try:
        yield RunningSandbox(f"http://{host}:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
