"""No credential or token ends up in an executed notebook, a page, the history or the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livekit.config import SANDBOX_DOUDIAN_APP_SECRET, SANDBOX_QIANCHUAN_SECRET
from livekit.reports import run
from tests.helpers.reports import load_nb, make_project, stream_text

FAKE_ENV = {
    "LIVEKIT_QIANCHUAN_APP_ID": "1800000000009999",
    "LIVEKIT_QIANCHUAN_SECRET": "fake-qianchuan-secret-7f3a9c21",
    "LIVEKIT_DOUDIAN_APP_KEY": "7000000000009999",
    "LIVEKIT_DOUDIAN_APP_SECRET": "fake-doudian-secret-51be02d4",
}


def fake_tokens(tag: str) -> dict[str, dict[str, object]]:
    return {
        "qianchuan": {
            "access_token": f"fake-{tag}-qc-access-0a1b2c3d",
            "refresh_token": f"fake-{tag}-qc-refresh-4e5f6a7b",
            "access_expires_at": 2e9,
            "refresh_expires_at": 2e9,
            "obtained_at": 1.7e9,
            "advertiser_ids": [1],
        },
        "doudian": {
            "access_token": f"fake-{tag}-dd-access-8c9d0e1f",
            "refresh_token": f"fake-{tag}-dd-refresh-2a3b4c5d",
            "access_expires_at": 2e9,
            "refresh_expires_at": 2e9,
            "obtained_at": 1.7e9,
            "shop_id": 1,
        },
    }


def secrets_in(home: Path) -> set[str]:
    """Every secret value that must never be written out."""
    values = set(FAKE_ENV.values()) - {FAKE_ENV["LIVEKIT_QIANCHUAN_APP_ID"]}
    values -= {FAKE_ENV["LIVEKIT_DOUDIAN_APP_KEY"]}
    values |= {SANDBOX_QIANCHUAN_SECRET, SANDBOX_DOUDIAN_APP_SECRET, "do-not-use-in-production"}
    for path in (home / "tokens.json", home / "sandbox" / "tokens.json"):
        for platform in json.loads(path.read_text()).values():
            values |= {v for k, v in platform.items() if k.endswith("_token")}
    return values


def scan(folder: Path, secrets: set[str]) -> list[str]:
    """``file: secret`` for every secret found in any file under ``folder``."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.name}: {s}" for s in secrets if s in text]
    return found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / "sandbox").mkdir(parents=True)
    (home / "tokens.json").write_text(json.dumps(fake_tokens("live")))
    (home / "sandbox" / "tokens.json").write_text(json.dumps(fake_tokens("sandbox")))
    monkeypatch.setenv("LIVEKIT_HOME", str(home))
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    return home


def test_reports_hold_no_credentials(tmp_path: Path, home: Path) -> None:
    root = make_project(tmp_path, ["ok", "broken", "hello"], {"ok": "top_n: 2\n"})
    results = run(all=True, jobs=2, project=root)
    assert [r.status for r in results] == ["failed", "ok", "ok"]  # broken, hello, ok
    files = [p.name for p in (root / "reports").rglob("*") if p.is_file()]
    assert {"ok.ipynb", "ok.html", "broken.ipynb", "history.json", "index.html"} <= set(files)
    assert scan(root / "reports", secrets_in(home)) == []


def test_a_notebook_that_prints_secrets_is_scrubbed_and_failed(tmp_path: Path, home: Path) -> None:
    root = make_project(tmp_path, ["leaky"])
    [result] = run("leaky", project=root)
    assert result.status == "failed"
    assert result.error is not None
    assert "密钥或令牌" in result.error
    assert result.notebook is not None
    text = stream_text(load_nb(result.notebook))
    assert "secret: ***" in text
    assert scan(root / "reports", secrets_in(home)) == []
