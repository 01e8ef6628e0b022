"""Token state of both platforms, with the real services' rotation rules.

巨量千川: auth codes are single use; every refresh returns a new pair and the old refresh
token dies at once. 抖店: a refresh more than ``grace`` before the access token expires
returns the same pair; within it, a new pair, and the old pair lives ``grace`` longer.

Every use of a dead refresh token is counted: two processes refreshing at once show up here.

Every code and token carries what was authorized (a sandbox of several shops): a 千川 grant the
advertisers ticked on the consent page (``advertisers``), a 抖店 grant the shop (``shop``, the
0-based index of ``core.Sandbox.shops``). Tokens from a code, and every pair a refresh issues,
carry the same grant.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from livekit.sandbox.config import TokenLifetimes

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def redirect_allowed(registered: str, given: str) -> bool:
    """Whether the consent page may send an auth code to ``given``.

    As the real platform does, only to the redirect URI registered for the app: same scheme,
    host, port and path (the given URI's own query is kept and does not matter). A registered
    loopback URI without a port accepts any port on that host, as OAuth servers do for native
    apps (RFC 8252 §7.3): ``livekit auth login`` listens on whatever port is free.
    """
    try:
        want, got = urlsplit(registered), urlsplit(given)
        want_port, got_port = want.port, got.port
    except ValueError:  # a port that is not a number or out of range
        return False
    if (want.scheme.lower(), want.hostname, want.path or "/") != (
        got.scheme.lower(),
        got.hostname,
        got.path or "/",
    ):
        return False
    if want.username is not None or got.username is not None or got.password is not None:
        return False
    if want_port is None and want.hostname in LOOPBACK_HOSTS:
        return True
    default = 443 if want.scheme.lower() == "https" else 80
    return (want_port or default) == (got_port or default)


class OAuthError(Exception):
    def __init__(self, code: int, message: str, sub_code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.sub_code = sub_code


@dataclass
class AccessToken:
    app: str
    expires_at: float
    revoked: bool = False
    advertisers: tuple[int, ...] = ()  # 千川: the advertisers the grant covers
    shop: int = 0  # 抖店: the shop the grant covers (index)


@dataclass
class RefreshToken:
    app: str
    expires_at: float
    access: str
    dead_at: float | None = None  # None: alive; else dead from that moment
    successor: str | None = None
    advertisers: tuple[int, ...] = ()
    shop: int = 0


@dataclass
class AuthCode:
    app: str
    expires_at: float
    used: bool = False
    advertisers: tuple[int, ...] = ()
    shop: int = 0


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_token_expires_in: int


class TokenStore:
    def __init__(self, lifetimes: TokenLifetimes) -> None:
        self.lifetimes = lifetimes
        self._lock = threading.Lock()
        self.codes: dict[str, AuthCode] = {}
        self.doudian_codes: dict[str, AuthCode] = {}  # /sandbox/doudian/authorize
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.dead_refresh_uses = {"qianchuan": 0, "doudian": 0}
        self.refreshes = {"qianchuan": 0, "doudian": 0}

    # ---- common -----------------------------------------------------------------------
    def _issue(
        self,
        app: str,
        now: float,
        access_ttl: float,
        refresh_ttl: float,
        advertisers: tuple[int, ...] = (),
        shop: int = 0,
    ) -> TokenPair:
        access = secrets.token_hex(20)
        refresh = secrets.token_hex(20)
        self.access[access] = AccessToken(app, now + access_ttl, advertisers=advertisers, shop=shop)
        self.refresh[refresh] = RefreshToken(
            app, now + refresh_ttl, access, advertisers=advertisers, shop=shop
        )
        return TokenPair(access, refresh, int(access_ttl), int(refresh_ttl))

    def grant(self, access: str) -> AccessToken:
        """The access token ``access`` just issued (what it covers), revoked or not."""
        with self._lock:
            return self.access[access]

    def check_access(self, token: str, now: float) -> AccessToken:
        """Raise OAuthError with a reason code: 'empty', 'invalid', 'expired'."""
        if not token:
            raise OAuthError(0, "empty")
        with self._lock:
            at = self.access.get(token)
        if at is None or at.revoked:
            raise OAuthError(0, "invalid")
        if now >= at.expires_at:
            raise OAuthError(0, "expired")
        return at

    def revoke(self, token: str) -> None:
        with self._lock:
            at = self.access.get(token)
            if at is not None:
                at.revoked = True

    # ---- 巨量千川 -----------------------------------------------------------------------
    def new_code(self, app: str, now: float, advertisers: tuple[int, ...] = ()) -> str:
        code = secrets.token_hex(16)
        with self._lock:
            self.codes[code] = AuthCode(
                app, now + self.lifetimes.auth_code, advertisers=advertisers
            )
        return code

    def qc_exchange(self, app: str, code: str, now: float) -> TokenPair:
        with self._lock:
            ac = self.codes.get(code)
            if ac is None or ac.app != app:
                raise OAuthError(40110, "auth_code无效，请重新授权 (auth_code is invalid)")
            if ac.used:
                raise OAuthError(40110, "auth_code已被使用，请重新授权 (auth_code has been used)")
            if now >= ac.expires_at:
                raise OAuthError(40110, "auth_code已过期，请重新授权 (auth_code expired)")
            ac.used = True
            lt = self.lifetimes
            return self._issue(
                app, now, lt.qianchuan_access, lt.qianchuan_refresh, advertisers=ac.advertisers
            )

    def qc_refresh(self, app: str, refresh: str, now: float) -> TokenPair:
        with self._lock:
            rt = self.refresh.get(refresh)
            if rt is None or rt.app != app:
                raise OAuthError(40107, "refresh_token无效 (refresh token is invalid)")
            if rt.dead_at is not None:
                self.dead_refresh_uses["qianchuan"] += 1
                raise OAuthError(
                    40107, "refresh_token已失效：它已被使用过 (refresh token already used)"
                )
            if now >= rt.expires_at:
                raise OAuthError(40103, "refresh_token已过期，请重新授权 (refresh token expired)")
            rt.dead_at = now
            lt = self.lifetimes
            pair = self._issue(
                app, now, lt.qianchuan_access, lt.qianchuan_refresh, advertisers=rt.advertisers
            )
            rt.successor = pair.refresh_token
            self.refreshes["qianchuan"] += 1
            return pair

    # ---- 抖店 -------------------------------------------------------------------------
    def dd_create(self, app: str, now: float, shop: int = 0) -> TokenPair:
        with self._lock:
            lt = self.lifetimes
            return self._issue(app, now, lt.doudian_access, lt.doudian_refresh, shop=shop)

    def dd_new_code(self, app: str, now: float, shop: int) -> str:
        """A code for shop ``shop`` (the sandbox's stand-in of the 抖店 authorization page)."""
        code = secrets.token_hex(16)
        with self._lock:
            self.doudian_codes[code] = AuthCode(app, now + self.lifetimes.auth_code, shop=shop)
        return code

    def dd_exchange(self, app: str, code: str, now: float, shop: int | None = None) -> TokenPair:
        """``token.create`` with ``authorization_code``: single use, bound to the code's shop
        (a ``shop`` given with it must be that one)."""
        with self._lock:
            ac = self.doudian_codes.get(code)
            if ac is None or ac.app != app:
                raise OAuthError(50001, "code 无效", "dop.token-generate-failed:code-invalid")
            if ac.used:
                raise OAuthError(50001, "code 已被使用", "dop.token-generate-failed:code-used")
            if now >= ac.expires_at:
                raise OAuthError(50001, "code 已过期", "dop.token-generate-failed:code-expired")
            if shop is not None and shop != ac.shop:
                raise OAuthError(
                    50001,
                    "code 不是该店铺的授权 (the code was issued for another shop)",
                    "dop.token-generate-failed:shop-not-authorized",
                )
            ac.used = True
            lt = self.lifetimes
            return self._issue(app, now, lt.doudian_access, lt.doudian_refresh, shop=ac.shop)

    def dd_refresh(self, app: str, refresh: str, now: float) -> TokenPair:
        lt = self.lifetimes
        with self._lock:
            rt = self.refresh.get(refresh)
            if rt is None or rt.app != app:
                raise OAuthError(
                    50001, "refresh_token不存在", "dop.token-generate-failed:token-invalid"
                )
            if rt.dead_at is not None and now >= rt.dead_at:
                self.dead_refresh_uses["doudian"] += 1
                raise OAuthError(
                    50001, "refresh_token已失效", "dop.token-generate-failed:token-invalid"
                )
            if now >= rt.expires_at:
                raise OAuthError(
                    50001, "refresh_token已过期", "dop.token-generate-failed:token-expired"
                )
            if rt.successor is not None:  # rotated, still inside its grace hour
                succ = self.refresh[rt.successor]
                return self._pair_of(succ.access, rt.successor, now)
            at = self.access[rt.access]
            if now < at.expires_at - lt.doudian_grace and not at.revoked:
                return self._pair_of(rt.access, refresh, now)
            pair = self._issue(app, now, lt.doudian_access, lt.doudian_refresh, shop=rt.shop)
            rt.successor = pair.refresh_token
            if now >= at.expires_at or at.revoked:
                rt.dead_at = now  # refreshed after expiry: the old pair dies at once
            else:
                rt.dead_at = now + lt.doudian_grace  # the old pair lives one more hour
                at.expires_at = now + lt.doudian_grace
            self.refreshes["doudian"] += 1
            return pair

    def _pair_of(self, access: str, refresh: str, now: float) -> TokenPair:
        at, rt = self.access[access], self.refresh[refresh]
        return TokenPair(
            access, refresh, max(int(at.expires_at - now), 0), max(int(rt.expires_at - now), 0)
        )
