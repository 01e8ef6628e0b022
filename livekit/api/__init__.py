"""Protocol clients of 巨量千川 and 抖店: auth, rate limits, retries, typed errors.

Light to import (httpx, pydantic, stamina, filelock; no polars or numpy)::

    from livekit.api import Client, run
    from livekit.config import load_settings

    async def main() -> None:
        async with Client(load_settings()) as client:
            print(await client.qianchuan.advertisers())

    run(main())
"""

from livekit.api.auth import (
    DoudianTokens,
    QianchuanTokens,
    TokenFile,
    TokenManager,
    consent_url,
    create_doudian_token,
    exchange_code,
    login_qianchuan_loopback,
    status,
)
from livekit.api.client import Client
from livekit.api.doudian import DoudianClient
from livekit.api.errors import (
    ApiError,
    BadParameter,
    ConfigError,
    LivekitError,
    LoginError,
    PermissionDenied,
    RateLimited,
    ReauthorizeRequired,
    TokenLockTimeout,
    UpstreamError,
)
from livekit.api.http import RateControl, RateLimiter
from livekit.api.qianchuan import QianchuanClient
from livekit.api.runner import run

__all__ = [
    "ApiError",
    "BadParameter",
    "Client",
    "ConfigError",
    "DoudianClient",
    "DoudianTokens",
    "LivekitError",
    "LoginError",
    "PermissionDenied",
    "QianchuanClient",
    "QianchuanTokens",
    "RateControl",
    "RateLimited",
    "RateLimiter",
    "ReauthorizeRequired",
    "TokenFile",
    "TokenLockTimeout",
    "TokenManager",
    "UpstreamError",
    "consent_url",
    "create_doudian_token",
    "exchange_code",
    "login_qianchuan_loopback",
    "run",
    "status",
]
