"""An S3-compatible server for tests: moto's server mode on 127.0.0.1, a bucket made with boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# moto signs nothing itself: any key pair is accepted, and these never leave loopback
ACCESS_KEY_ID = "livekit-test-key"
SECRET_ACCESS_KEY = "livekit-test-secret-never-printed-0123456789"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def new_bucket(self) -> str:
        """A fresh, empty bucket (one per test keeps tests independent)."""
        import boto3  # type: ignore[import-untyped]

        name = f"lk-{uuid.uuid4().hex[:20]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        ).create_bucket(Bucket=name)
        return name

    def env(self, url: str) -> dict[str, str]:
        """The LIVEKIT_* variables that point a livekit process at ``url`` on this server."""
        return {
            "LIVEKIT_STORE_URL": url,
            "LIVEKIT_S3_ENDPOINT": self.endpoint,
            "LIVEKIT_S3_REGION": REGION,
            "LIVEKIT_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "LIVEKIT_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def settings_changes(self, url: str) -> dict[str, object]:
        from pydantic import SecretStr

        return {
            "store_url": url,
            "s3_endpoint": self.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SecretStr(SECRET_ACCESS_KEY),
        }


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """moto's S3 server in a thread on a free loopback port, stopped afterwards."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


# ---- a writer task for crash tests: what it writes is a function of (day, version) ----------
CRASH_SCHEMA = {"id": "Int64", "viewer": "String", "x": "Float64"}


def crash_frame(day_index: int, version: int, n: int) -> pl.DataFrame:
    """The rows the crash-test writer stores for one day at one version."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1000 * version + day_index)
    rows = n - (version % 7)  # each version has its own height too
    return pl.DataFrame(
        {
            "id": rng.integers(0, 2**62, rows),
            "viewer": [f"v{version}-{i:012d}" for i in range(rows)],
            "x": rng.random(rows),
        },
        schema={k: getattr(pl, v) for k, v in CRASH_SCHEMA.items()},
    )
