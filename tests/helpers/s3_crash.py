"""moto's S3 server with a kill switch: SIGKILL a writer process at its k-th partition PUT.

The crash tests pick the moment a worker dies by what the object store has seen, not by a
timer: the switch sits in front of moto (WSGI middleware on the same loopback server) and
counts the PUTs of partition objects (``…/part.parquet``). Armed with a process id, a count k
and a phase, it kills that process at the k-th PUT:

* ``before``: the PUT has arrived and is dropped unstored (the worker died mid-upload; S3
  stores nothing of an upload that never completed);
* ``after``: moto has stored the object, the worker dies before it hears the answer;
* ``later``: the PUT is answered and the worker dies ``delay`` seconds afterwards (while it
  fetches, serializes the next partition or sends the next PUT).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.helpers.s3 import S3Server

PHASES = ("before", "after", "later")
PARTITION_OBJECT = "/part.parquet"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class _Armed:
    pid: int
    k: int
    phase: str
    delay: float


class KillSwitch:
    """WSGI middleware that counts partition PUTs and kills the armed process at the k-th."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._armed: _Armed | None = None
        self.puts = 0  # partition PUTs since the last arm() or reset()
        self.in_flight = 0  # partition PUTs being handled now
        self.fired: list[tuple[int, str, str]] = []  # (k, phase, key) of each kill

    def reset(self) -> None:
        with self._lock:
            self._armed, self.puts = None, 0

    def arm(self, pid: int, k: int, phase: str, delay: float = 0.0) -> None:
        assert phase in PHASES, phase
        assert k >= 1, k
        with self._lock:
            self._armed, self.puts = _Armed(pid, k, phase, delay), 0

    def _kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it finished first: the test sees that
            os.kill(pid, signal.SIGKILL)

    def settle(self, quiet: float = 0.2, timeout: float = 10.0) -> None:
        """Wait until no partition PUT has been in the server for ``quiet`` seconds: a killed
        worker's requests already received (or buffered by the kernel) are done with."""
        deadline = time.monotonic() + timeout
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < quiet:
            if self.in_flight:
                idle_since = time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError("the S3 server kept receiving partition PUTs")
            time.sleep(0.01)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "PUT" or not path.endswith(PARTITION_OBJECT):
            return self.app(environ, start_response)
        with self._lock:
            self.in_flight += 1
        try:
            return self._put(environ, start_response, path)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _put(
        self, environ: dict[str, Any], start_response: StartResponse, path: str
    ) -> Iterable[bytes]:
        with self._lock:
            self.puts += 1
            armed = self._armed
            fire = armed is not None and self.puts == armed.k
            if fire:
                self._armed = None
        if not fire or armed is None:
            return self.app(environ, start_response)
        self.fired.append((armed.k, armed.phase, path))
        if armed.phase == "before":
            self._kill(armed.pid)
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        out = self.app(environ, start_response)  # moto has stored the object when this returns
        if armed.phase == "after":
            self._kill(armed.pid)
        else:
            threading.Timer(armed.delay, self._kill, (armed.pid,)).start()
        return out


@contextmanager
def running_s3_with_switch() -> Iterator[tuple[S3Server, KillSwitch]]:
    """moto's S3 server (as ``tests.helpers.s3.running_s3``) behind a :class:`KillSwitch`."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    switch = KillSwitch(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, switch, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield S3Server(f"http://127.0.0.1:{server.server_port}"), switch
    finally:
        server.shutdown()
        thread.join()
