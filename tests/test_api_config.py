"""Settings: environment names, .env discovery, readable Chinese errors, no secrets shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from livekit.config import ConfigError, Settings, load_settings
from livekit.vocab.errors import LivekitError

SECRET = "s3cr3t-value-that-must-not-leak"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LIVEKIT_* from the outer environment, and no .env above the working directory."""
    import os

    for name in list(os.environ):
        if name.startswith("LIVEKIT_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def test_env_names_map_to_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("LIVEKIT_QIANCHUAN_APP_ID", "1800000000000002")
    monkeypatch.setenv("LIVEKIT_QIANCHUAN_SECRET", SECRET)
    monkeypatch.setenv("LIVEKIT_QIANCHUAN_BASE_URL", "http://127.0.0.1:9/open_api/")
    monkeypatch.setenv("LIVEKIT_QIANCHUAN_AUTH_URL", "http://127.0.0.1:9/auth")
    monkeypatch.setenv("LIVEKIT_DOUDIAN_APP_KEY", "7000000000000000009")
    monkeypatch.setenv("LIVEKIT_DOUDIAN_APP_SECRET", SECRET)
    monkeypatch.setenv("LIVEKIT_DOUDIAN_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LIVEKIT_QPS", "2.5")
    monkeypatch.setenv("LIVEKIT_HTTP_TIMEOUT", "7")
    monkeypatch.setenv("LIVEKIT_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("LIVEKIT_RETRY_WAIT_INITIAL", "0.1")
    monkeypatch.setenv("LIVEKIT_RETRY_WAIT_MAX", "2")
    monkeypatch.setenv("LIVEKIT_CONCURRENCY", "4")
    s = load_settings()
    assert s.home == tmp_path / "h"
    assert s.qianchuan_app_id == 1800000000000002
    assert s.qianchuan_secret is not None
    assert s.qianchuan_secret.get_secret_value() == SECRET
    assert s.qianchuan_base_url == "http://127.0.0.1:9/open_api/"
    assert s.qianchuan_auth_url == "http://127.0.0.1:9/auth"
    assert s.doudian_app_key == "7000000000000000009"
    assert s.doudian_base_url == "http://127.0.0.1:9"
    assert (s.qps, s.http_timeout, s.retry_attempts) == (2.5, 7.0, 3)
    assert (s.retry_wait_initial, s.retry_wait_max, s.concurrency) == (0.1, 2.0, 4)
    assert s.store_dir == s.home / "store"
    assert s.state_dir == s.home / "state"
    assert s.tokens_path == s.home / "tokens.json"


def test_defaults_and_home_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings()
    assert s.home == tmp_path / ".livekit"
    assert s.qps == 10.0
    assert s.qianchuan_base_url == "https://ad.oceanengine.com/open_api/"
    assert s.qianchuan_auth_url == "https://ad.oceanengine.com/openapi/qc/audit/oauth.html"
    assert s.doudian_base_url == "https://openapi-fxg.jinritemai.com"
    assert s.qianchuan_app_id is None
    assert s.doudian_app_secret is None


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_home_means_the_default_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LIVEKIT_HOME", value)
    monkeypatch.chdir(tmp_path)
    assert load_settings().home == tmp_path / ".livekit"
    assert not (tmp_path / "store").exists()


def test_dotenv_found_upwards_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "LIVEKIT_QPS=3\nLIVEKIT_DOUDIAN_APP_KEY=from-dotenv\nOTHER_TOOL_SETTING=ignored\n",
        encoding="utf-8",
    )
    nested = tmp_path / "work" / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    s = load_settings()
    assert s.qps == 3.0
    assert s.doudian_app_key == "from-dotenv"
    monkeypatch.setenv("LIVEKIT_QPS", "4")
    assert load_settings().qps == 4.0
    assert load_settings(qps=5).qps == 5.0  # explicit overrides beat both


def test_invalid_value_is_one_chinese_message_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEKIT_QPS", "abc")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "LIVEKIT_QPS" in message
    assert '"abc"' in message
    assert "\n" not in message
    assert isinstance(info.value, LivekitError)

    monkeypatch.setenv("LIVEKIT_QPS", "0")
    with pytest.raises(ConfigError, match="LIVEKIT_QPS 应为正数"):
        load_settings()
    monkeypatch.setenv("LIVEKIT_QPS", "-1")
    with pytest.raises(ConfigError, match="LIVEKIT_QPS 应为正数"):
        load_settings()
    monkeypatch.delenv("LIVEKIT_QPS")
    with pytest.raises(ConfigError, match="LIVEKIT_CONCURRENCY"):
        load_settings(concurrency=0)
    with pytest.raises(ConfigError, match="LIVEKIT_DOUDIAN_BASE_URL"):
        load_settings(doudian_base_url="openapi-fxg.jinritemai.com")


def test_invalid_secret_value_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_QIANCHUAN_APP_ID", SECRET)  # not an int
    with pytest.raises(ConfigError, match="LIVEKIT_QIANCHUAN_APP_ID"):
        load_settings()
    monkeypatch.delenv("LIVEKIT_QIANCHUAN_APP_ID")
    with pytest.raises(ConfigError) as info:
        load_settings(qianchuan_secret=["not", "a", "string", SECRET])
    assert "LIVEKIT_QIANCHUAN_SECRET" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_missing_credentials_name_the_variables() -> None:
    s = load_settings()
    with pytest.raises(ConfigError) as info:
        s.require_qianchuan()
    assert str(info.value) == (
        "缺少凭据：请设置环境变量 LIVEKIT_QIANCHUAN_APP_ID 和 LIVEKIT_QIANCHUAN_SECRET（可写在 .env 中）"
    )
    with pytest.raises(ConfigError, match="LIVEKIT_DOUDIAN_APP_SECRET"):
        load_settings(doudian_app_key="k").require_doudian()
    with pytest.raises(ConfigError) as info:
        load_settings(doudian_app_secret=SECRET).require_doudian()
    assert "LIVEKIT_DOUDIAN_APP_KEY" in str(info.value)
    assert "LIVEKIT_DOUDIAN_APP_SECRET" not in str(info.value)
    app_key, secret = load_settings(
        doudian_app_key="k", doudian_app_secret=SECRET
    ).require_doudian()
    assert (app_key, secret.get_secret_value()) == ("k", SECRET)


def test_secrets_absent_from_repr_and_str() -> None:
    s = load_settings(qianchuan_app_id=1, qianchuan_secret=SECRET, doudian_app_secret=SECRET)
    for text in (repr(s), str(s), repr(s.for_sandbox("http://127.0.0.1:1"))):
        assert SECRET not in text
        assert "sandbox-qianchuan-secret" not in text
    assert isinstance(s.qianchuan_secret, SecretStr)


def test_for_sandbox(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path).for_sandbox("http://127.0.0.1:8765/")
    assert isinstance(s, Settings)
    assert s.home == tmp_path / "sandbox"
    assert s.tokens_path == tmp_path / "sandbox" / "tokens.json"
    assert s.qianchuan_app_id == 1800000000000001
    assert s.qianchuan_secret is not None
    assert (
        s.qianchuan_secret.get_secret_value() == "sandbox-qianchuan-secret-do-not-use-in-production"
    )
    assert s.doudian_app_key == "7000000000000000001"
    assert s.doudian_app_secret is not None
    assert (
        s.doudian_app_secret.get_secret_value() == "sandbox-doudian-secret-do-not-use-in-production"
    )
    assert s.qianchuan_base_url == "http://127.0.0.1:8765/open_api/"
    assert s.qianchuan_auth_url == "http://127.0.0.1:8765/openapi/qc/audit/oauth.html"
    assert s.doudian_base_url == "http://127.0.0.1:8765"


def test_demo_credentials_match_the_sandbox() -> None:
    """The hard-coded demo values are the sandbox's (the client itself never imports it)."""
    from livekit.sandbox import config as sandbox_config

    s = load_settings().for_sandbox("http://x")
    assert s.qianchuan_app_id == sandbox_config.DEMO_QIANCHUAN_APP_ID
    assert s.doudian_app_key == sandbox_config.DEMO_DOUDIAN_APP_KEY
    assert s.qianchuan_secret is not None
    assert s.doudian_app_secret is not None
    assert s.qianchuan_secret.get_secret_value() == sandbox_config.DEMO_QIANCHUAN_SECRET
    assert s.doudian_app_secret.get_secret_value() == sandbox_config.DEMO_DOUDIAN_APP_SECRET


def test_api_import_is_light_and_independent_of_the_sandbox() -> None:
    code = (
        "import sys, livekit.config, livekit.api, livekit.api.client\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('polars', 'numpy', 'pandas', 'starlette', 'uvicorn') or m.startswith('livekit.sandbox'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
