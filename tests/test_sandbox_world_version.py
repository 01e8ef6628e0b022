"""A sandbox store synced from another version of the sandbox's world is cleared, once.

The store's closed days are final: without this, days synced before an upgrade that changed the
world (issue 14's two years, planted spend and festivals) would never be fetched again and would
disagree with the days synced after it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from livekit.config import Settings
from livekit.jobs import WORLD_VERSION_FILE, clear_stale_sandbox, sandbox_session
from livekit.sandbox.config import SandboxConfig
from livekit.sandbox.world import WORLD_VERSION


def settings(home: Path) -> Settings:
    return Settings(home=home)


def stale_home(tmp_path: Path, marker: str | None) -> Path:
    sandbox = tmp_path / "sandbox"
    part = sandbox / "store" / "rooms" / "date=2026-01-01"
    part.mkdir(parents=True)
    (part / "part.parquet").write_bytes(b"old world")
    (sandbox / "tokens.json").write_text("{}")
    if marker is not None:
        (sandbox / WORLD_VERSION_FILE).write_text(marker)
    return sandbox


@pytest.mark.parametrize("marker", [None, "1\n", "garbage"])
def test_a_store_from_another_world_is_cleared_and_the_tokens_kept(
    tmp_path: Path, marker: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = stale_home(tmp_path, marker)
    assert clear_stale_sandbox(settings(tmp_path)) is True
    assert not (sandbox / "store").exists()
    assert (sandbox / "tokens.json").read_text() == "{}"
    assert (sandbox / WORLD_VERSION_FILE).read_text() == f"{WORLD_VERSION}\n"
    assert not list(sandbox.glob("store.stale-*"))
    assert "旧的沙盒数据已清除" in capsys.readouterr().err
    # once: the next call finds the marker and leaves a new store alone
    (sandbox / "store").mkdir()
    (sandbox / "store" / "new").write_text("new")
    assert clear_stale_sandbox(settings(tmp_path)) is False
    assert (sandbox / "store" / "new").read_text() == "new"


def test_a_store_of_this_world_is_left_alone(tmp_path: Path) -> None:
    sandbox = stale_home(tmp_path, f"{WORLD_VERSION}\n")
    assert clear_stale_sandbox(settings(tmp_path)) is False
    assert (sandbox / "store" / "rooms" / "date=2026-01-01" / "part.parquet").exists()


def test_a_home_without_a_sandbox_gets_nothing_created(tmp_path: Path) -> None:
    assert clear_stale_sandbox(settings(tmp_path)) is False
    assert list(tmp_path.iterdir()) == []


def test_every_sandbox_session_clears_a_stale_store_first(tmp_path: Path) -> None:
    sandbox = stale_home(tmp_path, "1\n")
    with sandbox_session(settings(tmp_path), SandboxConfig(today=date(2026, 12, 5))) as session:
        assert session.settings.home == sandbox
        assert not (sandbox / "store" / "rooms").exists()
    assert (sandbox / WORLD_VERSION_FILE).read_text() == f"{WORLD_VERSION}\n"
