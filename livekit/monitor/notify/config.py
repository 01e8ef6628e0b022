"""Which channels exist: built-in names on fixed environment variables, plus named channels
declared in the rules file (:class:`ChannelSpec`), resolved against the environment.

Built-in channels (deployments rely on these names)::

    feishu    LIVEKIT_FEISHU_WEBHOOK   + LIVEKIT_FEISHU_SECRET (optional: signing)
    dingtalk  LIVEKIT_DINGTALK_WEBHOOK + LIVEKIT_DINGTALK_SECRET (optional: 加签)
    wecom     LIVEKIT_WECOM_WEBHOOK    (the key in the URL is the secret)
    email     LIVEKIT_SMTP_URL         + LIVEKIT_ALERT_EMAIL_TO (comma-separated)
    webhook   LIVEKIT_WEBHOOK_URL      + LIVEKIT_WEBHOOK_SECRET (optional: X-Livekit-Signature)
    console   always available

Each variable holds the *full* webhook URL, so a deployment (or a test) can point a channel
at any host. A rules file may add channels, e.g. ``ops_feishu: {type: feishu, webhook_env:
LIVEKIT_FEISHU_OPS_WEBHOOK, secret_env: LIVEKIT_FEISHU_OPS_SECRET}``; a spec that names a
``secret_env`` requires it to be set (a bot configured for signing rejects unsigned calls).
Every mistake raises :class:`~livekit.config.ConfigError` naming the channel and the variable;
values are never echoed (they are credentials).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal, TextIO
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from livekit.config import ConfigError
from livekit.credentials import install_log_masking, register_env
from livekit.monitor.notify.channels import (
    Channel,
    ConsoleChannel,
    DingTalkChannel,
    FeishuChannel,
    WebhookChannel,
    WeComChannel,
)
from livekit.monitor.notify.ratelimit import (
    DINGTALK_LIMITS,
    FEISHU_LIMITS,
    WECOM_LIMITS,
    RateLimit,
    make_limits,
)
from livekit.monitor.notify.redact import install_log_redaction
from livekit.monitor.notify.smtp import EmailChannel, SmtpTarget, is_loopback

ChannelType = Literal["console", "feishu", "dingtalk", "wecom", "email", "webhook"]

TYPE_LABELS: dict[str, str] = {
    "console": "控制台",
    "feishu": "飞书机器人",
    "dingtalk": "钉钉机器人",
    "wecom": "企业微信机器人",
    "email": "邮件",
    "webhook": "Webhook",
}

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")
_FEISHU_PATH = re.compile(r"^/open-apis/bot/v2/hook/[^/]+/?$")


class ChannelSpec(BaseModel):
    """A named channel in the rules file; every ``*_env`` names an environment variable.

    - feishu / dingtalk / wecom: ``webhook_env`` (required), ``secret_env`` (feishu, dingtalk).
    - email: ``url_env`` (SMTP URL, default ``LIVEKIT_SMTP_URL``), ``to_env`` (recipients,
      default ``LIVEKIT_ALERT_EMAIL_TO``).
    - webhook: ``url_env`` (or ``webhook_env``), optional ``secret_env``.
    - ``per_minute`` / ``per_second`` override the robot's default client-side limits.
    - ``msg_type`` (feishu only): ``text`` (default) or ``post``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ChannelType
    webhook_env: str | None = None
    secret_env: str | None = None
    url_env: str | None = None
    to_env: str | None = None
    per_minute: int | None = Field(default=None, gt=0)
    per_second: int | None = Field(default=None, gt=0)
    msg_type: Literal["text", "post"] | None = None

    @field_validator("webhook_env", "secret_env", "url_env", "to_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _ENV_NAME.match(value):
            # Never echo the value: a pasted URL or secret would end up in the error.
            raise ValueError(
                "应为环境变量名（如 LIVEKIT_FEISHU_OPS_WEBHOOK），不要把地址或密钥直接写在规则文件里"
            )
        return value

    @model_validator(mode="after")
    def _fields_for_type(self) -> ChannelSpec:
        t = self.type
        label = TYPE_LABELS[t]
        if t in ("feishu", "dingtalk", "wecom") and not (self.webhook_env or self.url_env):
            raise ValueError(f"{label}渠道需要 webhook_env（保存 webhook 地址的环境变量名）")
        if t == "webhook" and not (self.url_env or self.webhook_env):
            raise ValueError("webhook 渠道需要 url_env（保存地址的环境变量名）")
        if t == "wecom" and self.secret_env:
            raise ValueError(
                "企业微信机器人没有签名密钥（地址里的 key 就是密钥），请去掉 secret_env"
            )
        if t in ("email", "console") and self.secret_env:
            raise ValueError(f"{label}渠道不使用 secret_env")
        if t == "console" and (self.webhook_env or self.url_env or self.to_env):
            raise ValueError("控制台渠道不需要任何环境变量")
        if t != "email" and self.to_env:
            raise ValueError("只有邮件渠道使用 to_env")
        if t != "feishu" and self.msg_type:
            raise ValueError("只有飞书渠道使用 msg_type")
        return self

    @property
    def address_env(self) -> str | None:
        """The variable holding the webhook / SMTP URL."""
        if self.type == "email":
            return self.url_env or self.webhook_env or "LIVEKIT_SMTP_URL"
        return self.webhook_env or self.url_env

    @property
    def recipients_env(self) -> str:
        return self.to_env or "LIVEKIT_ALERT_EMAIL_TO"


BUILTIN_SPECS: dict[str, ChannelSpec] = {
    "feishu": ChannelSpec(
        type="feishu", webhook_env="LIVEKIT_FEISHU_WEBHOOK", secret_env="LIVEKIT_FEISHU_SECRET"
    ),
    "dingtalk": ChannelSpec(
        type="dingtalk",
        webhook_env="LIVEKIT_DINGTALK_WEBHOOK",
        secret_env="LIVEKIT_DINGTALK_SECRET",
    ),
    "wecom": ChannelSpec(type="wecom", webhook_env="LIVEKIT_WECOM_WEBHOOK"),
    "email": ChannelSpec(type="email", url_env="LIVEKIT_SMTP_URL", to_env="LIVEKIT_ALERT_EMAIL_TO"),
    "webhook": ChannelSpec(
        type="webhook", url_env="LIVEKIT_WEBHOOK_URL", secret_env="LIVEKIT_WEBHOOK_SECRET"
    ),
    "console": ChannelSpec(type="console"),
}


def parse_channel_specs(raw: Mapping[str, Any] | None) -> dict[str, ChannelSpec]:
    """The ``channels:`` mapping of a rules file → specs, or ConfigError naming the channel."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("规则文件中的 channels 应为“渠道名: 配置”的映射")
    out: dict[str, ChannelSpec] = {}
    for name, body in raw.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ConfigError(f"通知渠道名「{name}」无效：只能用字母、数字和下划线，且不以数字开头")
        if isinstance(body, ChannelSpec):
            out[name] = body
            continue
        if not isinstance(body, Mapping):
            raise ConfigError(f"通知渠道「{name}」的配置应为映射（type、webhook_env 等）")
        try:
            out[name] = ChannelSpec.model_validate(dict(body))
        except ValidationError as exc:
            raise ConfigError(f"通知渠道「{name}」配置有误：{_describe(exc)}") from None
    for spec in out.values():
        register_secret_envs(spec)
    return out


def register_secret_envs(spec: ChannelSpec) -> None:
    """Make the report scrub and the log masking treat ``spec``'s address and secret variables
    as secrets (livekit.credentials knows the built-in ones; a rules file adds its own)."""
    if spec.type != "console":
        register_env(spec.address_env, spec.secret_env)


def _describe(exc: ValidationError) -> str:
    parts: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in error.get("loc", ()))
        kind = error.get("type", "")
        msg = str(error.get("msg", ""))
        if kind == "extra_forbidden":
            text = f"不认识的字段 {loc}"
        elif kind == "literal_error" and loc == "type":
            text = "type 应为 " + "、".join(TYPE_LABELS) + " 之一"
        elif kind == "missing":
            text = f"缺少字段 {loc}"
        elif kind in ("greater_than", "int_parsing", "int_type"):
            text = f"{loc} 应为正整数"
        else:
            text = msg.removeprefix("Value error, ")
            text = f"{loc} {text}" if loc else text
        parts.append(text)
    return "；".join(parts)


# ---- resolution ----------------------------------------------------------------------------
def resolve_channels(
    specs: Mapping[str, ChannelSpec],
    names_used: Collection[str],
    environ: Mapping[str, str] | None = None,
    *,
    console_stream: TextIO | None = None,
) -> dict[str, Channel]:
    """Build every channel in ``names_used`` (plus ``console``, always).

    ``specs`` are the rules file's channels; they override a built-in of the same name.
    ConfigError when a name is unknown, a webhook / SMTP URL or the recipients are missing or
    malformed, or a spec's ``secret_env`` is unset or empty.
    """
    env = os.environ if environ is None else environ
    install_log_redaction()
    install_log_masking()
    for spec in specs.values():
        register_secret_envs(spec)
    out: dict[str, Channel] = {}
    for name in sorted(set(names_used) | {"console"}):
        if name in specs:
            out[name] = _build(name, specs[name], env, secret_optional=False, stream=console_stream)
        elif name in BUILTIN_SPECS:
            spec = BUILTIN_SPECS[name]
            out[name] = _build(name, spec, env, secret_optional=True, stream=console_stream)
        else:
            known = "、".join([*BUILTIN_SPECS, *sorted(specs)])
            raise ConfigError(
                f"规则引用了未定义的通知渠道「{name}」：请在规则文件的 channels 中定义它，"
                f"或使用已有渠道（{known}）"
            )
    return out


def channels_from_env(
    specs: Mapping[str, ChannelSpec] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    console_stream: TextIO | None = None,
) -> dict[str, Channel]:
    """Every channel that is configured: built-ins whose variables are set, ``console``, and
    every channel declared in ``specs`` (declared means intended: its variables must be set).

    Half a configuration is an error (a secret without its webhook, recipients without an
    SMTP URL, an SMTP URL without recipients), so a typo in a variable name does not silently
    leave a channel out.
    """
    env = os.environ if environ is None else environ
    specs = specs or {}
    names: set[str] = set(specs)
    for name, spec in BUILTIN_SPECS.items():
        if name in specs or name == "console":
            continue
        address = spec.address_env
        assert address is not None
        companions = [v for v in (spec.secret_env, spec.to_env) if v and _get(env, v)]
        if _get(env, address):
            names.add(name)
        elif companions:
            raise ConfigError(
                f"设置了环境变量 {companions[0]}，但没有设置 {address}："
                f"请补上 {address}，或删除 {companions[0]}"
            )
    return resolve_channels(specs, names, env, console_stream=console_stream)


def load_environ() -> dict[str, str]:
    """``.env`` (found upwards from the current folder) overlaid by the real environment."""
    import dotenv

    path = dotenv.find_dotenv(usecwd=True)
    values = {k: v for k, v in dotenv.dotenv_values(path).items() if v is not None} if path else {}
    values.update(os.environ)
    return values


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _limits(spec: ChannelSpec, defaults: tuple[RateLimit, ...]) -> tuple[RateLimit, ...]:
    return make_limits(defaults, spec.per_minute, spec.per_second)


def _build(
    name: str,
    spec: ChannelSpec,
    env: Mapping[str, str],
    *,
    secret_optional: bool,
    stream: TextIO | None,
) -> Channel:
    label = TYPE_LABELS[spec.type]
    if spec.type == "console":
        return ConsoleChannel(name, stream)
    if spec.type == "email":
        return _build_email(name, spec, env)

    url_env = spec.address_env
    assert url_env is not None
    url = _get(env, url_env)
    if not url:
        raise ConfigError(
            f"通知渠道「{name}」（{label}）缺少 webhook 地址：请设置环境变量 {url_env}"
        )
    _check_url(name, spec.type, url, url_env)
    secret: str | None = None
    if spec.secret_env:
        secret = _get(env, spec.secret_env) or None
        if secret is None and not secret_optional:
            raise ConfigError(
                f"通知渠道「{name}」（{label}）缺少签名密钥：规则文件指定了 secret_env，"
                f"但环境变量 {spec.secret_env} 未设置或为空"
            )
    secret_env = spec.secret_env or ""
    if spec.type == "feishu":
        return FeishuChannel(
            name,
            url,
            secret,
            msg_type=spec.msg_type or "text",
            limits=_limits(spec, FEISHU_LIMITS),
            url_env=url_env,
            secret_env=secret_env,
        )
    if spec.type == "dingtalk":
        return DingTalkChannel(
            name,
            url,
            secret,
            limits=_limits(spec, DINGTALK_LIMITS),
            url_env=url_env,
            secret_env=secret_env,
        )
    if spec.type == "wecom":
        return WeComChannel(name, url, limits=_limits(spec, WECOM_LIMITS), url_env=url_env)
    return WebhookChannel(
        name, url, secret, limits=_limits(spec, ()), url_env=url_env, secret_env=secret_env
    )


def _check_url(name: str, kind: str, url: str, env_name: str) -> None:
    """ConfigError when ``url`` cannot be this kind of webhook (the value is never shown)."""
    label = TYPE_LABELS[kind]
    shapes = {
        "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/…",
        "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=…",
        "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
        "webhook": "https://…",
    }
    wrong = ConfigError(
        f"通知渠道「{name}」：环境变量 {env_name} 应为{label}的完整 webhook 地址"
        f"（形如 {shapes[kind]}）"
    )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise wrong from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise wrong
    if kind != "webhook" and parts.scheme != "https" and not is_loopback(host):
        raise ConfigError(
            f"通知渠道「{name}」：环境变量 {env_name} 应使用 https://"
            "（地址里含有机器人的密钥，只有本机地址可以用 http://）"
        )
    query = parse_qs(parts.query)
    if kind == "feishu" and not _FEISHU_PATH.match(parts.path):
        raise wrong
    if kind == "dingtalk":
        if not query.get("access_token", [""])[0] or not parts.path.endswith("/robot/send"):
            raise wrong
        if "sign" in query or "timestamp" in query:
            raise ConfigError(
                f"通知渠道「{name}」：环境变量 {env_name} 里不要带 timestamp 和 sign，"
                "livekit 每次发送时会重新签名（加签密钥请放在 secret 环境变量中）"
            )
    if kind == "wecom" and (
        not query.get("key", [""])[0] or not parts.path.endswith("/webhook/send")
    ):
        raise wrong


def _build_email(name: str, spec: ChannelSpec, env: Mapping[str, str]) -> EmailChannel:
    url_env = spec.address_env
    assert url_env is not None
    to_env = spec.recipients_env
    url = _get(env, url_env)
    if not url:
        raise ConfigError(
            f"通知渠道「{name}」（邮件）缺少 SMTP 服务器：请设置环境变量 {url_env}"
            "（如 smtps://用户名:密码@smtp.example.com:465）"
        )
    try:
        target = SmtpTarget.parse(url)
    except ValueError as exc:
        raise ConfigError(
            f"通知渠道「{name}」：环境变量 {url_env} {exc}（形如 smtp://用户名:密码@主机:端口 "
            "或 smtps://…）"
        ) from None
    raw_to = _get(env, to_env)
    if not raw_to:
        raise ConfigError(
            f"通知渠道「{name}」（邮件）缺少收件人：请设置环境变量 {to_env}（多个地址用英文逗号分隔）"
        )
    recipients = [r.strip() for r in raw_to.split(",") if r.strip()]
    bad = [r for r in recipients if not _EMAIL.match(r)]
    if bad or not recipients:
        shown = bad[0] if bad else raw_to
        raise ConfigError(
            f"通知渠道「{name}」：环境变量 {to_env} 中的“{shown}”不是有效的邮箱地址"
            "（多个地址用英文逗号分隔）"
        )
    limits = make_limits((), spec.per_minute, spec.per_second)
    return EmailChannel(name, target, recipients, limits=limits, url_env=url_env)
