"""A real ``redis-server`` (Debian's package; ``.ci/run`` installs it) on a free loopback port.

Without it the calling test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REDIS_SERVER = "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_redis(password: str | None = None) -> Iterator[str]:
    """Start a throw-away redis-server (no persistence) and yield its ``redis://`` URL (with
    ``password`` in it when the server requires one)."""
    if not os.path.exists(REDIS_SERVER) and shutil.which("redis-server") is None:
        reason = (
            f"{REDIS_SERVER} 不存在：请安装 Debian 的 redis-server（apt-get install redis-server）"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    import redis

    binary = REDIS_SERVER if os.path.exists(REDIS_SERVER) else str(shutil.which("redis-server"))
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        cmd += ["no", "--dir", folder, "--protected-mode", "no", "--loglevel", "warning"]
        if password is not None:
            cmd += ["--requirepass", password]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        auth = f":{password}@" if password is not None else ""
        url = f"redis://{auth}127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.02)
            client.close()
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
