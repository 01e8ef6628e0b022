"""Settings from the environment and ``.env``; local paths; where the secrets stay.

Every setting is an environment variable with the prefix ``LIVEKIT_``. A ``.env`` file is found
by walking up from the current directory; variables set in the environment win over ``.env``.
Secrets are :class:`pydantic.SecretStr`: they never show in a repr, a log line or an error.

This module is the bottom of the stack (see docs/architecture.md): it imports nothing from the
rest of livekit, and it is cheap to import (no polars, numpy or httpx).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dotenv
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from livekit.vocab.errors import LivekitError

ENV_PREFIX = "LIVEKIT_"

# Demo credentials of the livekit sandbox. They are public (written in README) and the sandbox
# approves every consent request for them. Hard-coded here on purpose: the client never imports
# livekit.sandbox (docs/architecture.md), and these values are not secrets.
SANDBOX_QIANCHUAN_APP_ID = 1800000000000001
SANDBOX_QIANCHUAN_SECRET = "sandbox-qianchuan-secret-do-not-use-in-production"
SANDBOX_DOUDIAN_APP_KEY = "7000000000000000001"
SANDBOX_DOUDIAN_APP_SECRET = "sandbox-doudian-secret-do-not-use-in-production"

_SECRET_FIELDS = frozenset({"qianchuan_secret", "doudian_app_secret", "redis_url"})


class ConfigError(LivekitError):
    """A setting is missing or invalid; the message names the environment variable to fix."""


def env_name(field: str) -> str:
    """The environment variable behind a settings field: ``qps`` → ``LIVEKIT_QPS``."""
    return ENV_PREFIX + field.upper()


class Settings(BaseSettings):
    """livekit settings, read from ``LIVEKIT_*`` environment variables and ``.env``.

    Core variables:

    - ``LIVEKIT_HOME``: local data folder (default ``~/.livekit``) holding ``store/``, ``state/``
      and ``tokens.json``.
    - ``LIVEKIT_QIANCHUAN_APP_ID``, ``LIVEKIT_QIANCHUAN_SECRET``: 巨量千川 app credentials.
    - ``LIVEKIT_QIANCHUAN_BASE_URL`` (default ``https://ad.oceanengine.com/open_api/``) and
      ``LIVEKIT_QIANCHUAN_AUTH_URL`` (the consent page).
    - ``LIVEKIT_DOUDIAN_APP_KEY``, ``LIVEKIT_DOUDIAN_APP_SECRET``: 抖店 app credentials.
    - ``LIVEKIT_DOUDIAN_BASE_URL`` (default ``https://openapi-fxg.jinritemai.com``).
    - ``LIVEKIT_QPS``: most requests per second per upstream (default 10; must be > 0). A
      ceiling: the client goes slower when the server answers with rate limits.

    Tuning:

    - ``LIVEKIT_HTTP_TIMEOUT``: seconds before a request times out (default 30).
    - ``LIVEKIT_RETRY_ATTEMPTS``: attempts per request on transient errors (default 10).
    - ``LIVEKIT_RETRY_WAIT_INITIAL``: first backoff in seconds (default 0.5), doubling each retry.
    - ``LIVEKIT_RETRY_WAIT_MAX``: longest backoff in seconds (default 30).
    - ``LIVEKIT_CONCURRENCY``: most requests in flight per upstream (default 8).
    - ``LIVEKIT_RATE_LIMIT_DEADLINE``: seconds a request keeps retrying rate-limit answers
      (40100, 60000, HTTP 429) while its endpoint gets no clean answer (default 600). Rate
      limits do not use up ``LIVEKIT_RETRY_ATTEMPTS``: the client lowers its rate instead.
    - ``LIVEKIT_REDIS_URL``: ``redis://[:password@]host:port/db`` (or ``rediss://``,
      ``unix://``). When set, every rate-limit window is shared through that Redis, so all
      workers of one app together stay under ``LIVEKIT_QPS`` (``livekit.api.shared``; needs
      ``pip install douyin-livekit[redis]``), and the token set lives there instead of
      ``tokens.json`` (``livekit.api.tokens_redis``: log in once from any machine, a refresh
      is serialized across machines). A secret: its password never shows.

    Many shops (an agency; see :mod:`livekit.shops`):

    - ``LIVEKIT_SHOPS_FILE``: the shops file (default: ``params/shops.yaml`` in the current
      folder or the nearest parent that has one). Without one, livekit runs one shop.
    - ``LIVEKIT_SHOP``: the shop this process works for (an ``id`` of the shops file); the CLI's
      ``--shop`` and ``livekit.open(shop=...)`` set it too. Its data lives under
      ``shop=<id>/`` of the store.
    - ``LIVEKIT_CREDENTIALS``: rarely set by hand: the set of app credentials in use
      (a shop's ``credentials`` in the shops file; its apps are ``LIVEKIT_<NAME>_QIANCHUAN_APP_ID``
      and the like, its tokens ``tokens-<name>.json``).

    Object storage (optional, ``pip install douyin-livekit[s3]``):

    - ``LIVEKIT_STORE_URL``: ``s3://bucket/prefix`` keeps the datasets there instead of
      ``<home>/store`` (S3 or an S3-compatible service: MinIO, 阿里云 OSS, 腾讯云 COS).
    - ``LIVEKIT_S3_ENDPOINT``: the service's endpoint URL (not needed for AWS S3).
    - ``LIVEKIT_S3_REGION``, ``LIVEKIT_S3_ACCESS_KEY_ID``, ``LIVEKIT_S3_SECRET_ACCESS_KEY``;
      when unset, the standard ``AWS_*`` variables (or the machine's role) are used.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        env_file_encoding="utf-8",
        validate_default=True,
    )

    home: Path = Path("~/.livekit")

    qianchuan_app_id: int | None = None
    qianchuan_secret: SecretStr | None = None
    qianchuan_base_url: str = "https://ad.oceanengine.com/open_api/"
    qianchuan_auth_url: str = "https://ad.oceanengine.com/openapi/qc/audit/oauth.html"

    doudian_app_key: str | None = None
    doudian_app_secret: SecretStr | None = None
    doudian_base_url: str = "https://openapi-fxg.jinritemai.com"

    qps: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    http_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    retry_attempts: int = Field(default=10, ge=1)
    retry_wait_initial: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    retry_wait_max: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    concurrency: int = Field(default=8, ge=1)
    rate_limit_deadline: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    redis_url: SecretStr | None = None

    shop: str | None = None
    shops_file: Path | None = None
    credentials: str | None = None  # another set of app credentials (livekit.shops)

    store_url: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    @field_validator("home", mode="before")
    @classmethod
    def _default_when_empty(cls, value: object) -> object:
        # ``LIVEKIT_HOME=`` (set but empty, e.g. from a script's unset variable) means the
        # default, as credentials.py reads it, not the working directory that Path("") is.
        if isinstance(value, str) and not value.strip():
            return "~/.livekit"
        return value

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("shop", "shops_file", "credentials", mode="before")
    @classmethod
    def _empty_shop_setting(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shop")
    @classmethod
    def _check_shop(cls, value: str | None) -> str | None:
        from livekit.shops import SHOP_ID

        if value is not None and not SHOP_ID.fullmatch(value):
            raise ValueError("not a shop id")
        return value

    @field_validator("credentials")
    @classmethod
    def _check_credentials(cls, value: str | None) -> str | None:
        from livekit.shops import CREDENTIALS

        if value is not None and not CREDENTIALS.fullmatch(value):
            raise ValueError("not a credentials name")
        return value

    @field_validator("shops_file")
    @classmethod
    def _expand_shops_file(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("qianchuan_base_url", "qianchuan_auth_url", "doudian_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("not a redis:// URL")
        return value

    @field_validator(
        "doudian_app_key", "qianchuan_secret", "doudian_app_secret", "redis_url", mode="before"
    )
    @classmethod
    def _empty_is_missing(cls, value: Any) -> Any:
        # ``LIVEKIT_DOUDIAN_APP_KEY=`` in a .env means "not set", not "the empty key".
        return None if value == "" else value

    @field_validator("qianchuan_app_id", mode="before")
    @classmethod
    def _empty_app_id(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator(
        "store_url",
        "s3_endpoint",
        "s3_region",
        "s3_access_key_id",
        "s3_secret_access_key",
        mode="before",
    )
    @classmethod
    def _empty_store_setting(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        rest = value.removeprefix("s3://")
        if rest == value or not rest.split("/", 1)[0]:
            raise ValueError("not an s3://bucket/prefix URL")
        return "s3://" + rest.strip("/")

    @field_validator("s3_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return value

    # ---- paths ----------------------------------------------------------------------------
    @property
    def store_dir(self) -> Path:
        """Local datasets (Hive-partitioned Parquet)."""
        return self.home / "store"

    @property
    def state_dir(self) -> Path:
        """Incremental sync state."""
        return self.home / "state"

    @property
    def tokens_path(self) -> Path:
        """OAuth tokens of both platforms (mode 0600); ``tokens-<name>.json`` for the apps of
        credentials set ``name`` (a shop's ``credentials``), so two apps' grants never mix."""
        if self.credentials is not None:
            return self.home / f"tokens-{self.credentials}.json"
        return self.home / "tokens.json"

    def for_shop(self, shop: str | None) -> Settings:
        """A copy for shop ``shop`` (an id of the shops file; None: no shop level).

        Only the id is kept: the store opens ``shop=<id>/`` and the client picks that shop's
        tokens. Callers resolve the id first (:func:`livekit.shops.select`).
        """
        return self.model_copy(update={"shop": shop})

    # ---- credentials ----------------------------------------------------------------------
    def require_qianchuan(self) -> tuple[int, SecretStr]:
        """The 巨量千川 app id and secret, or ConfigError naming what is missing."""
        _require(
            {"qianchuan_app_id": self.qianchuan_app_id, "qianchuan_secret": self.qianchuan_secret}
        )
        assert self.qianchuan_app_id is not None
        assert self.qianchuan_secret is not None
        return self.qianchuan_app_id, self.qianchuan_secret

    def require_doudian(self) -> tuple[str, SecretStr]:
        """The 抖店 app key and secret, or ConfigError naming what is missing."""
        _require(
            {"doudian_app_key": self.doudian_app_key, "doudian_app_secret": self.doudian_app_secret}
        )
        assert self.doudian_app_key is not None
        assert self.doudian_app_secret is not None
        return self.doudian_app_key, self.doudian_app_secret

    def for_sandbox(self, url: str) -> Settings:
        """A copy pointed at a livekit sandbox at ``url``, with its public demo credentials.

        ``home`` becomes ``<home>/sandbox`` so that sandbox data never mixes with real data.
        """
        base = url.rstrip("/")
        return self.model_copy(
            update={
                "home": self.home / "sandbox",
                "store_url": None,  # sandbox data stays local, never mixed with real data
                "credentials": None,  # the sandbox's own demo apps
                "qianchuan_app_id": SANDBOX_QIANCHUAN_APP_ID,
                "qianchuan_secret": SecretStr(SANDBOX_QIANCHUAN_SECRET),
                "qianchuan_base_url": base + "/open_api/",
                "qianchuan_auth_url": base + "/openapi/qc/audit/oauth.html",
                "doudian_app_key": SANDBOX_DOUDIAN_APP_KEY,
                "doudian_app_secret": SecretStr(SANDBOX_DOUDIAN_APP_SECRET),
                "doudian_base_url": base,
            }
        )


def _require(values: dict[str, object]) -> None:
    missing = [env_name(name) for name, value in values.items() if value is None]
    if missing:
        raise ConfigError(f"缺少凭据：请设置环境变量 {' 和 '.join(missing)}（可写在 .env 中）")


_PROBLEMS = {
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数字",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "path_type": "应为路径",
    "string_type": "应为字符串",
}


def _describe(error: Any) -> str:
    """One Chinese sentence for one pydantic error, naming the environment variable."""
    loc = error.get("loc") or ("?",)
    field = str(loc[0])
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "greater_than":
        problem = "应为正数" if ctx.get("gt") == 0 else f"应大于 {ctx.get('gt')}"
    elif kind == "greater_than_equal":
        problem = "不能为负数" if ctx.get("ge") == 0 else f"应不小于 {ctx.get('ge')}"
    elif kind == "value_error" and field == "redis_url":
        problem = "应为以 redis://、rediss:// 或 unix:// 开头的地址"
    elif kind == "value_error" and field == "credentials":
        problem = "应为店铺清单中 credentials 的名称（小写字母、数字或 _）"
    elif kind == "value_error" and field == "shop":
        problem = "应为店铺清单中的 id（小写字母、数字、- 或 _）"
    elif kind == "value_error" and field == "store_url":
        problem = "应为 s3://存储桶/前缀 形式的地址"
    elif kind == "value_error" and (field.endswith("_url") or field == "s3_endpoint"):
        problem = "应为以 http:// 或 https:// 开头的网址"
    else:
        problem = _PROBLEMS.get(kind, "取值无效")
    text = f"环境变量 {env_name(field)} {problem}"
    if field not in _SECRET_FIELDS and "input" in error:
        shown = str(error["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        text += f"（当前值 {chr(34)}{shown}{chr(34)}）"
    return text


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment, ``.env`` and ``overrides`` (highest priority).

    An invalid value raises :class:`ConfigError` with one readable message that names the
    environment variable to fix (secret values are never shown).
    """
    env_file = dotenv.find_dotenv(usecwd=True) or None
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors(include_url=False)]
        raise ConfigError("；".join(lines)) from None
    prepare_home(settings.home)
    return settings


def prepare_home(home: Path) -> Path:
    """Make sure ``home`` is a writable folder; create it private (0700) when it is missing.

    The one place LIVEKIT_HOME is created (every command loads its settings here first), so
    that whatever is written in it later (tokens, the sandbox's tokens, the store) is never
    readable by other users, and a home that is a file or read-only is one ConfigError line.
    Parent folders are created with the default mode, as ``mkdir -p`` does.
    """
    import os

    where = f"数据目录 {home}（环境变量 {env_name('home')}）"
    if not home.exists():
        try:
            home.parent.mkdir(parents=True, exist_ok=True)  # a file on the way: FileExistsError
        except OSError as exc:
            raise ConfigError(f"{where} 无法创建（{exc.strerror or exc}）") from None
        try:
            home.mkdir(mode=0o700)
            os.chmod(home, 0o700)  # mkdir's mode is masked by the umask
        except FileExistsError:
            pass  # created meanwhile by another livekit process: checked below
        except OSError as exc:
            raise ConfigError(f"{where} 无法创建（{exc.strerror or exc}）") from None
    if not home.is_dir():
        raise ConfigError(f"{where} 不是文件夹；请改为一个文件夹的路径")
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"{where} 不可写；请检查权限或改用其他文件夹")
    return home
