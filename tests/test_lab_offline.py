"""``make lab`` never reaches the internet unasked: no news feed, no update check, no asking.

The server options come from the Makefile's LAB_OFFLINE and the settings default from the
committed jupyter/overrides.json (installed into .venv by ``make setup``); a real JupyterLab is
started on loopback with both, and its own API says what the browser would be told.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livekit.sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ROOT / "jupyter" / "overrides.json"
NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def lab_offline_options() -> list[str]:
    """The LAB_OFFLINE options of the Makefile (continuation lines joined)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    m = re.search(r"^LAB_OFFLINE :=(.*)$", text, re.MULTILINE)
    assert m, "Makefile defines LAB_OFFLINE"
    return shlex.split(m.group(1))


def test_make_lab_passes_the_offline_options() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    lab = re.search(r"^lab:.*\n\t(.*)$", text, re.MULTILINE)
    assert lab
    assert "$(LAB_OFFLINE)" in lab.group(1)
    assert re.search(r"^setup:.*\$\(LAB_SETTINGS\)", text, re.MULTILINE)


def test_the_options_resolve_to_no_news_no_update_check() -> None:
    from jupyterlab.handlers.announcements import NeverCheckForUpdate
    from jupyterlab.labapp import LabApp

    app = LabApp()
    app.parse_command_line(lab_offline_options())
    assert app.news_url is None
    assert app.check_for_updates_class is NeverCheckForUpdate
    assert app.extension_manager == "readonly"


def test_the_overrides_fit_the_installed_schema() -> None:
    overrides = json.loads(OVERRIDES.read_text(encoding="utf-8"))
    import jupyterlab

    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    if not schemas.is_dir():  # a JupyterLab installed elsewhere than this environment
        schemas = Path(jupyterlab.__file__).parent / "schemas"
    plugin, name = NOTIFICATION.split(":")
    schema = json.loads((schemas / plugin / f"{name}.json").read_text(encoding="utf-8"))
    settings = overrides[NOTIFICATION]
    assert settings == {"fetchNews": "false", "checkForUpdates": False}
    assert set(settings) <= set(schema["properties"])
    never = [
        c["const"] for c in schema["properties"]["fetchNews"]["oneOf"] if c["title"] == "Never"
    ]
    assert never == ["false"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 with the Makefile's options and the committed overrides."""
    tmp = tmp_path_factory.mktemp("lab")
    settings = tmp / "settings"
    settings.mkdir()
    shutil.copy(OVERRIDES, settings / "overrides.json")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--allow-root",
        f"--LabApp.app_settings_dir={settings}",
        f"--ServerApp.root_dir={tmp}",
        *lab_offline_options(),
    ]
    log = (tmp / "lab.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/api/status", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp / "lab.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_lab_neither_fetches_news_nor_asks(lab: str) -> None:
    news = httpx.get(lab + "/lab/api/news", timeout=30)
    assert news.status_code == 200
    assert news.json() == {"news": []}
    update = httpx.get(lab + "/lab/api/update", timeout=30)
    assert update.json() == {"notification": None}
    page = httpx.get(lab + "/lab", timeout=30).text
    config = json.loads(
        re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    )
    assert config["news"] == {"disabled": True}  # the server holds no news feed URL
    # the browser's defaults (overrides apply to the schema): with fetchNews "false" Lab never
    # asks "Would you like to get notified about official Jupyter news?" and never fetches
    body = httpx.get(lab + f"/lab/api/settings/{NOTIFICATION}", timeout=30).json()
    properties = body["schema"]["properties"]
    assert properties["fetchNews"]["default"] == "false"
    assert properties["checkForUpdates"]["default"] is False
    assert "fetchNews" not in body["settings"]  # a default, not a user's choice
