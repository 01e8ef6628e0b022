"""Every credential is a secret: the report scrub and the log masking know each one.

One report run covers every secret variable at once (each set to a distinct value, some in the
environment the kernel inherits, some only in the project's ``.env``; the notebook prints each
whole and in parts); then, per variable, a real code path that uses the secret runs with
logging at DEBUG and the value never appears in any captured record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import nbformat
import pytest
import redis

from livekit import credentials
from livekit.config import load_settings
from livekit.credentials import NOTIFIER_SECRET_ENV, install_log_masking, secret_values
from livekit.monitor.notify import Outbox, channels_from_env
from livekit.monitor.notify.config import BUILTIN_SPECS, parse_channel_specs
from livekit.monitor.types import Message
from livekit.reports import run
from livekit.sandbox.server import running_sandbox
from tests.helpers.notify_receivers import Receivers, running_receivers, running_smtp
from tests.helpers.redis_server import running_redis
from tests.helpers.reports import load_nb, make_project
from tests.helpers.sandbox import make_config

T = TypeVar("T")

FEISHU_TOKEN = "feishu-hook-token-4f1d2c3b-aa01"
DINGTALK_TOKEN = "dingtalk-access-token-9e8d7c6b5a41"
WECOM_KEY = "wecom-robot-key-0a1b2c3d4e5f"
HOOK_TOKEN = "generic-hook-token-77aa88bb99"
OPS_TOKEN = "feishu-ops-token-31415926aa"
SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "smtp-pass-W0rd-e1f2"
REDIS_PASSWORD = "redis-pass-7c8d9e0f1a"

# name → (value or a URL template with {base}, the parts of it that are credentials too)
SECRET_VARIABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "LIVEKIT_QIANCHUAN_SECRET": ("qianchuan-app-secret-5b6c7d8e", ()),
    "LIVEKIT_DOUDIAN_APP_SECRET": ("doudian-app-secret-1a2b3c4d", ()),
    "LIVEKIT_S3_SECRET_ACCESS_KEY": ("s3-secret-access-key-9f8e7d6c5b4a", ()),
    "LIVEKIT_FEISHU_WEBHOOK": ("{base}/open-apis/bot/v2/hook/" + FEISHU_TOKEN, (FEISHU_TOKEN,)),
    "LIVEKIT_FEISHU_SECRET": ("feishu-signing-secret-6d7e8f", ()),
    "LIVEKIT_DINGTALK_WEBHOOK": (
        "{base}/robot/send?access_token=" + DINGTALK_TOKEN,
        (DINGTALK_TOKEN,),
    ),
    "LIVEKIT_DINGTALK_SECRET": ("SECdingtalk-signing-secret-2c3d", ()),
    "LIVEKIT_WECOM_WEBHOOK": ("{base}/cgi-bin/webhook/send?key=" + WECOM_KEY, (WECOM_KEY,)),
    "LIVEKIT_SMTP_URL": (
        f"smtp://{quote(SMTP_USER, safe='')}:{SMTP_PASSWORD}@127.0.0.1:{{port}}",
        (SMTP_PASSWORD,),
    ),
    "LIVEKIT_REDIS_URL": (f"redis://:{REDIS_PASSWORD}@127.0.0.1:{{port}}/0", (REDIS_PASSWORD,)),
    "LIVEKIT_WEBHOOK_URL": ("{base}/webhook/" + HOOK_TOKEN, (HOOK_TOKEN,)),
    "LIVEKIT_WEBHOOK_SECRET": ("generic-webhook-secret-8f9a", ()),
    # A robot declared in a rules file (``webhook_env`` / ``secret_env``).
    "LIVEKIT_FEISHU_OPS_WEBHOOK": ("{base}/open-apis/bot/v2/hook/" + OPS_TOKEN, (OPS_TOKEN,)),
    "LIVEKIT_FEISHU_OPS_SECRET": ("feishu-ops-signing-secret-4e5f", ()),
}
IN_DOTENV = ("LIVEKIT_DINGTALK_SECRET", "LIVEKIT_WEBHOOK_SECRET", "LIVEKIT_SMTP_URL")
OPS_SPECS = {
    "ops_feishu": {
        "type": "feishu",
        "webhook_env": "LIVEKIT_FEISHU_OPS_WEBHOOK",
        "secret_env": "LIVEKIT_FEISHU_OPS_SECRET",
    }
}


def value_of(name: str, base: str = "http://127.0.0.1:9", port: int = 2525) -> str:
    return SECRET_VARIABLES[name][0].format(base=base, port=port)


def every_form(name: str, value: str) -> list[str]:
    """The value and each credential inside it: none may show anywhere."""
    return [value, *SECRET_VARIABLES[name][1]]


def test_every_secret_variable_is_known() -> None:
    """The settings' secrets and every built-in channel's address and secret variables."""
    known = set(credentials.secret_env_names())
    builtin = {
        v
        for spec in BUILTIN_SPECS.values()
        if spec.type != "console"
        for v in (spec.address_env, spec.secret_env)
        if v
    }
    assert builtin <= set(NOTIFIER_SECRET_ENV) <= known
    assert {"LIVEKIT_QIANCHUAN_SECRET", "LIVEKIT_DOUDIAN_APP_SECRET"} <= known
    assert set(SECRET_VARIABLES) - {"LIVEKIT_FEISHU_OPS_WEBHOOK", "LIVEKIT_FEISHU_OPS_SECRET"} == (
        builtin | set(credentials.settings_secret_env())
    )


def test_a_rules_file_robot_is_registered_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_OPS_ROBOT", "https://open.feishu.cn/open-apis/bot/v2/hook/x1y2z3w4")
    assert "LIVEKIT_OPS_ROBOT" not in credentials.secret_env_names()  # not named like a secret
    parse_channel_specs({"ops": {"type": "feishu", "webhook_env": "LIVEKIT_OPS_ROBOT"}})
    assert "LIVEKIT_OPS_ROBOT" in credentials.secret_env_names()
    assert "x1y2z3w4" in secret_values()


# ---- the report scrub: one run for every variable ----------------------------------------------
PRINT_ALL = """
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import dotenv

values = dict(dotenv.dotenv_values(dotenv.find_dotenv(usecwd=True)))
values.update(os.environ)
for name in sorted(values):
    if not name.startswith("LIVEKIT_") or name in ("LIVEKIT_HOME", "LIVEKIT_REPORT_DATE"):
        continue
    value = values[name]
    print(name, "=", value)
    parts = urlsplit(value)
    if parts.password:
        print(name, "password:", unquote(parts.password))
    for key, part in parse_qsl(parts.query):
        print(name, key + ":", part)
    if "/hook/" in parts.path or "/webhook/" in parts.path:
        print(name, "token:", parts.path.rsplit("/", 1)[-1])
print((Path(os.environ["LIVEKIT_HOME"]) / "tokens.json").read_text())
"""
RAISE = 'raise RuntimeError("连接失败：" + values["LIVEKIT_FEISHU_SECRET"])'


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 打印所有凭据"),  # type: ignore[no-untyped-call]
        nbformat.v4.new_code_cell(PRINT_ALL),  # type: ignore[no-untyped-call]
        nbformat.v4.new_code_cell(RAISE),  # type: ignore[no-untyped-call]
    ]
    nb.metadata["kernelspec"] = {"name": "livekit", "display_name": "livekit", "language": "python"}
    path.write_text(nbformat.writes(nb), encoding="utf-8")  # type: ignore[no-untyped-call]


def test_a_report_printing_any_credential_fails_with_each_value_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path, [])
    _notebook(root / "notebooks" / "creds.ipynb")
    home = tmp_path / "home"
    home.mkdir()
    tokens = {
        "qianchuan": {"access_token": "qc-access-token-81f2e3", "refresh_token": "qc-ref-7a6b"}
    }
    (home / "tokens.json").write_text(json.dumps(tokens), encoding="utf-8")
    monkeypatch.setenv("LIVEKIT_HOME", str(home))
    values = {name: value_of(name) for name in SECRET_VARIABLES}
    dotenv_lines = [f"{name}={values[name]}" for name in IN_DOTENV]
    (root / ".env").write_text("\n".join(dotenv_lines) + "\n", encoding="utf-8")
    for name, value in values.items():
        if name in IN_DOTENV:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    # The rules file's robot is known by the naming rule alone: nothing registers it here.

    [result] = run("creds", project=root)

    assert result.status == "failed"
    assert result.error is not None
    assert "RuntimeError: 连接失败：***" in result.error
    assert result.html is None
    assert result.notebook is not None
    nb_text = "".join(
        "".join(o.get("text", ""))
        for cell in load_nb(result.notebook)["cells"]
        for o in cell.get("outputs", [])
    )
    for name in SECRET_VARIABLES:
        assert f"{name} = ***" in nb_text, name  # printed (so the test means something), masked
    assert "password: ***" in nb_text
    assert "access_token: ***" in nb_text
    assert "key: ***" in nb_text
    index_page = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "连接失败：***" in index_page
    forbidden = [f for name, v in values.items() for f in every_form(name, v)]
    forbidden += ["qc-access-token-81f2e3", "qc-ref-7a6b"]
    for path in (root / "reports").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            leaked = [f for f in forbidden if f in text]
            assert not leaked, f"{path.name}: {leaked}"
    assert not [f for f in forbidden if f in result.error]


# ---- log masking: a real code path per variable, logging at DEBUG ------------------------------
def _run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture(scope="module")
def rx() -> Iterator[Receivers]:
    with running_receivers() as receivers:
        yield receivers


def _message() -> Message:
    now = datetime.now(UTC).replace(microsecond=0)
    return Message(
        key=f"secret-test-{time.monotonic_ns()}",
        kind="firing",
        severity="warning",
        title="直播间 1001 点击支付率下降",
        text="点击支付率 3.1%",
        markdown="- 点击支付率 **3.1%**",
        created_at=now,
        alerts=("ctr@1001",),
    )


def _deliver(tmp_path: Path, specs: dict[str, Any] | None, only: str) -> None:
    """Send one message through channel ``only``, configured from the environment."""
    chans = channels_from_env(parse_channel_specs(specs))
    box = Outbox(tmp_path / "outbox.json")
    box.enqueue([_message()], [only])

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            result = await box.pump({only: chans[only]}, client)
        assert [d.channel for d in result.delivered] == [only], (result.failed, result.retrying)

    _run(go())


WEBHOOK_CHANNEL = {
    "LIVEKIT_FEISHU_WEBHOOK": ("feishu", "LIVEKIT_FEISHU_SECRET"),
    "LIVEKIT_FEISHU_SECRET": ("feishu", "LIVEKIT_FEISHU_SECRET"),
    "LIVEKIT_DINGTALK_WEBHOOK": ("dingtalk", "LIVEKIT_DINGTALK_SECRET"),
    "LIVEKIT_DINGTALK_SECRET": ("dingtalk", "LIVEKIT_DINGTALK_SECRET"),
    "LIVEKIT_WECOM_WEBHOOK": ("wecom", None),
    "LIVEKIT_WEBHOOK_URL": ("webhook", "LIVEKIT_WEBHOOK_SECRET"),
    "LIVEKIT_WEBHOOK_SECRET": ("webhook", "LIVEKIT_WEBHOOK_SECRET"),
    "LIVEKIT_FEISHU_OPS_WEBHOOK": ("ops_feishu", "LIVEKIT_FEISHU_OPS_SECRET"),
    "LIVEKIT_FEISHU_OPS_SECRET": ("ops_feishu", "LIVEKIT_FEISHU_OPS_SECRET"),
}
KIND_OF = {"feishu": "feishu", "dingtalk": "dingtalk", "wecom": "wecom", "webhook": "webhook"}
ADDRESS_OF = {
    "feishu": "LIVEKIT_FEISHU_WEBHOOK",
    "dingtalk": "LIVEKIT_DINGTALK_WEBHOOK",
    "wecom": "LIVEKIT_WECOM_WEBHOOK",
    "webhook": "LIVEKIT_WEBHOOK_URL",
    "ops_feishu": "LIVEKIT_FEISHU_OPS_WEBHOOK",
}
TOKEN_OF = {
    "feishu": FEISHU_TOKEN,
    "dingtalk": DINGTALK_TOKEN,
    "wecom": WECOM_KEY,
    "webhook": HOOK_TOKEN,
    "ops_feishu": OPS_TOKEN,
}


def _clear_livekit_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("LIVEKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's


def _assert_masked(caplog: pytest.LogCaptureFixture, forms: list[str]) -> None:
    texts = [caplog.text, *(r.getMessage() for r in caplog.records)]
    blob = "\n".join(texts)
    leaked = [f for f in forms if f in blob]
    assert not leaked, leaked


@pytest.mark.parametrize("name", sorted(SECRET_VARIABLES))
def test_no_secret_variable_reaches_any_log_record(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    rx: Receivers,
) -> None:
    _clear_livekit_env(monkeypatch, tmp_path)
    install_log_masking()
    caplog.set_level(logging.DEBUG)
    if name in WEBHOOK_CHANNEL:
        channel, secret_env = WEBHOOK_CHANNEL[name]
        kind = "feishu" if channel == "ops_feishu" else channel
        secret = value_of(secret_env) if secret_env else None
        url = rx.url_for(kind, TOKEN_OF[channel], secret=secret)
        monkeypatch.setenv(ADDRESS_OF[channel], url)
        if secret_env:
            monkeypatch.setenv(secret_env, value_of(secret_env))
        value = url if name == ADDRESS_OF[channel] else value_of(name)
        _deliver(tmp_path, OPS_SPECS if channel == "ops_feishu" else None, channel)
        assert rx.received[kind], "the robot got the message"
        assert "HTTP Request: POST" in caplog.text  # httpx logged the request, masked
    elif name == "LIVEKIT_SMTP_URL":
        with running_smtp(user=SMTP_USER, password=SMTP_PASSWORD) as smtp:
            value = value_of(name, port=smtp.port)
            monkeypatch.setenv(name, value)
            monkeypatch.setenv("LIVEKIT_ALERT_EMAIL_TO", "ops@example.com")
            _deliver(tmp_path, None, "email")
            assert len(smtp.messages) == 1
            assert smtp.auth_attempts == 1
    elif name == "LIVEKIT_REDIS_URL":  # a sync whose rate limits go through that Redis
        with running_redis(password=REDIS_PASSWORD) as value:
            monkeypatch.setenv(name, value)
            secret = "LIVEKIT_QIANCHUAN_SECRET"
            _sync_with_app_secret(secret, value_of(secret), tmp_path)
            assert redis.Redis.from_url(value).keys("livekit:rate:*")  # the slots were shared
        assert "HTTP Request: " in caplog.text
    elif name == "LIVEKIT_S3_SECRET_ACCESS_KEY":  # a store on S3 signed with that secret
        from datetime import date

        import polars as pl

        from livekit.store import StoreError, open_store
        from tests.helpers.s3 import running_s3

        value = value_of(name)
        with running_s3() as s3:
            for key, setting in {**s3.env(f"s3://{s3.new_bucket()}/p"), name: value}.items():
                monkeypatch.setenv(key, setting)
            store = open_store(load_settings(home=tmp_path / "home"))
            store.write_partition(
                "rooms", date(2026, 11, 1), pl.DataFrame({"a": [1]}), {"a": pl.Int64()}, {}
            )
            logging.getLogger("livekit.store").info("wrote to %r", store)
            assert store.partitions("rooms") == [date(2026, 11, 1)]
            monkeypatch.setenv("LIVEKIT_STORE_URL", "s3://no-such-bucket/p")
            with pytest.raises(StoreError) as err:
                open_store(load_settings(home=tmp_path / "home")).partitions("rooms")
            logging.getLogger("livekit.store").error("%s", err.value)
    else:
        value = value_of(name)
        monkeypatch.setenv(name, value)
        _sync_with_app_secret(name, value, tmp_path)
        assert "HTTP Request: " in caplog.text
    # Any logger, not only livekit's: a library that logs its configuration, an exception.
    logging.getLogger("some.library").debug("configured with %s", value)
    try:
        raise RuntimeError(f"failed: {value}")
    except RuntimeError:
        logging.getLogger("another.library").exception("oops")
    [configured] = [r.getMessage() for r in caplog.records if r.name == "some.library"]
    assert configured.startswith("configured with ")
    assert "***" in configured
    _assert_masked(caplog, every_form(name, value))


def _sync_with_app_secret(name: str, value: str, tmp_path: Path) -> None:
    """Log in and call both platforms with the app secret ``value`` (the sandbox holds it)."""
    from livekit.api import Client
    from livekit.api.auth import create_doudian_token, exchange_code
    from tests.helpers.api import auth_code

    field = "qianchuan_secret" if name == "LIVEKIT_QIANCHUAN_SECRET" else "doudian_app_secret"
    config = make_config(**{field: value})
    with running_sandbox(config) as server:
        settings = load_settings(
            home=tmp_path / "home",
            retry_wait_initial=0.01,
            retry_wait_max=0.2,
            qps=1000.0,
            qianchuan_app_id=config.qianchuan_app_id,
            qianchuan_secret=config.qianchuan_secret,
            qianchuan_base_url=server.url + "/open_api/",
            qianchuan_auth_url=server.url + "/openapi/qc/audit/oauth.html",
            doudian_app_key=config.doudian_app_key,
            doudian_app_secret=config.doudian_app_secret,
            doudian_base_url=server.url,
        )
        _run(exchange_code(settings, auth_code(settings)))
        _run(create_doudian_token(settings))
        world = server.sandbox.world

        async def use() -> None:
            async with Client(settings) as client:
                await client.qianchuan.awemes(world.advertiser_id)
                await client.doudian.search_orders(0, int(time.time()), 0, 5)

        _run(use())
