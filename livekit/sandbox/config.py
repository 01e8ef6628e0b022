"""Settings of one sandbox instance: world, credentials, token lifetimes, clock and faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

# Demo credentials, written in README: the sandbox approves every consent for them.
DEMO_QIANCHUAN_APP_ID = 1800000000000001
DEMO_QIANCHUAN_SECRET = "sandbox-qianchuan-secret-do-not-use-in-production"
DEMO_DOUDIAN_APP_KEY = "7000000000000000001"
DEMO_DOUDIAN_APP_SECRET = "sandbox-doudian-secret-do-not-use-in-production"


@dataclass(frozen=True)
class TokenLifetimes:
    """Seconds of sandbox (virtual) time. Defaults are the real services' documented values."""

    auth_code: float = 600.0
    qianchuan_access: float = 86400.0
    qianchuan_refresh: float = 30 * 86400.0
    doudian_access: float = 7 * 86400.0
    doudian_refresh: float = 14 * 86400.0
    doudian_grace: float = 3600.0  # old pair lives this long after a rotating refresh


@dataclass(frozen=True)
class Faults:
    """Fault injection on data endpoints (never on token endpoints, see app.py)."""

    qps: float | None = None  # per-app limit over a sliding second; None: unlimited
    qianchuan_qps: float | None = None  # per-app limit of 巨量千川 only (the lower of it and qps)
    doudian_qps: float | None = None  # per-app limit of 抖店 only (the lower of it and qps)
    # per-endpoint limits under the per-app one: request path (as in /sandbox/stats) -> qps
    endpoint_qps: Mapping[str, float] = field(default_factory=dict)
    rate: float = 0.0  # probability that a data request gets one of the faults below
    slow_seconds: float = 12.0  # a "slow" response waits this long (longer than a client timeout)
    kinds: tuple[str, ...] = ("5xx", "rate_limit", "slow", "truncated", "revoke")
    seed: int = 0
    # numbers in data answers: native, float, string, mixed or lossy (livekit.sandbox.shapes)
    number_shape: str = "native"

    def __post_init__(self) -> None:
        from livekit.sandbox.shapes import NUMBER_SHAPES

        if self.number_shape not in NUMBER_SHAPES:
            raise ValueError(f"number_shape must be one of {list(NUMBER_SHAPES)}")


@dataclass(frozen=True)
class Limits:
    """Page-size and date-range limits the sandbox enforces (configurable: sources disagree)."""

    live_page_size: int = 100
    report_page_size: int = 1000  # sources disagree (500 or 1000); a larger page_size gets 40001
    doudian_page_size: int = 100
    advertiser_report_days: int = 30
    analysis_days: int = 30
    analysis_room_ids: int = 100


@dataclass(frozen=True)
class SandboxConfig:
    seed: int = 7
    today: date | None = None  # default: the real date in China
    now: datetime | None = None  # where the clock starts; default: today at the real time of day
    speed: float = 1.0  # clock acceleration; 0 freezes it
    history_days: int = 800  # served by every endpoint; truths cover the last 90 (DETAIL_DAYS)
    scale: float = 1.0  # traffic multiplier (tests use smaller shops)
    extra_accounts: int = 0  # load tests: more 抖音号, each on air every evening (20:30 ± 15 min)
    hostile_text: bool = False  # every upstream text field carries a payload (hostile.py)
    # shops s1..sN, each its own world behind the same two apps (shopset.py); s1 is the world
    # of ``seed``, the others have derived seeds and numbered names
    shops: int = 1
    qianchuan_app_id: int = DEMO_QIANCHUAN_APP_ID
    qianchuan_secret: str = DEMO_QIANCHUAN_SECRET
    # the redirect URI registered for the 千川 app; a loopback one accepts any port (RFC 8252)
    qianchuan_redirect_uri: str = "http://127.0.0.1/callback"
    doudian_app_key: str = DEMO_DOUDIAN_APP_KEY
    doudian_app_secret: str = DEMO_DOUDIAN_APP_SECRET
    lifetimes: TokenLifetimes = field(default_factory=TokenLifetimes)
    faults: Faults = field(default_factory=Faults)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if isinstance(self.shops, bool) or not isinstance(self.shops, int) or self.shops < 1:
            raise ValueError(f"shops must be an integer >= 1, got {self.shops!r}")
