"""Reports published to the object store (issue 15, point 2, for workers that share no disk).

A real report run (the cheapest fixture notebook, in the real kernel) is published to moto's
S3 server on loopback; the index is rebuilt from the records there; the published folder,
downloaded, opens offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from livekit.config import SANDBOX_QIANCHUAN_SECRET, Settings, load_settings
from livekit.dates import today
from livekit.reports import Project, run
from livekit.reports.html import offline_violations
from livekit.reports.publish import PublishError, publish_index, publish_run, published_runs
from livekit.reports.result import RunResult
from livekit.store import open_store
from livekit.store.objects import ObjectStore
from livekit.vocab.tz import CHINA_TZ
from tests.helpers.reports import cli, make_project
from tests.helpers.s3 import S3Server, running_s3

SHOPS = """\
shops:
  - id: s1
    name: 悦好生活旗舰店
    qianchuan: {advertiser_id: 1700000000000001}
  - id: s2
    name: "<i>二店</i>"
    doudian: {shop_id: 12345678}
"""


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEKIT_HOME", str(tmp_path / "home"))
    for name in ("LIVEKIT_SHOPS_FILE", "LIVEKIT_SHOP", "LIVEKIT_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def settings_for(s3: S3Server, url: str) -> Settings:
    return load_settings(**s3.settings_changes(url))


def bucket_store(settings: Settings) -> ObjectStore:
    store = open_store(settings)
    assert isinstance(store, ObjectStore)
    return store


def download(store: ObjectStore, into: Path) -> Path:
    """Every object under reports/ into ``into`` (as a user would fetch the folder)."""
    for key in store.list_objects("reports/"):
        data = store.get_object(key)
        assert data is not None
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return into / "reports"


def test_runs_published_per_shop_and_an_index_that_opens_offline(
    s3: S3Server, tmp_path: Path, env: Path
) -> None:
    root = make_project(tmp_path, ["shop_hello", "hello"])
    (root / "params" / "shops.yaml").write_text(SHOPS, encoding="utf-8")
    project = Project(root)
    settings = settings_for(s3, f"s3://{s3.new_bucket()}/agency")
    results = run("shop_hello", all_shops=True, project=project)
    results += run("hello", project=project)  # a report without shops sits beside them
    assert all(r.ok for r in results), [r.error for r in results]
    urls = [publish_run(settings, project, r) for r in results]
    day = today().isoformat()
    assert urls[0].endswith(f"/agency/reports/shop=s1/shop_hello/{day}/shop_hello.html")
    index_url = publish_index(settings, project)
    assert index_url.endswith("/agency/reports/index.html")

    store = bucket_store(settings)
    keys = store.list_objects("reports/")
    assert keys == sorted(
        [
            "reports/index.html",
            f"reports/hello/{day}/hello.html",
            f"reports/hello/{day}/run.json",
            f"reports/shop=s1/shop_hello/{day}/run.json",
            f"reports/shop=s1/shop_hello/{day}/shop_hello.html",
            f"reports/shop=s2/shop_hello/{day}/run.json",
            f"reports/shop=s2/shop_hello/{day}/shop_hello.html",
        ]
    )
    assert "reports" not in store.datasets()  # published reports are not a dataset
    # the published page is the rendered page, byte for byte, and loads nothing
    for r in results:
        assert r.html is not None
        key = "reports/" + r.html.relative_to(project.reports_dir).as_posix()
        assert store.get_object(key) == r.html.read_bytes()
    record = json.loads(store.get_object(f"reports/shop=s2/shop_hello/{day}/run.json") or b"")
    assert record["shop"] == "s2"
    assert record["shop_name"] == "<i>二店</i>"
    assert record["notebook"] is None  # the executed notebook stays with the worker
    assert record["html"] == f"shop=s2/shop_hello/{day}/shop_hello.html"

    # downloaded, the folder opens offline: every link of the index is a file there
    folder = download(store, tmp_path / "downloaded")
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert offline_violations(index) == []
    assert "<th>店铺</th>" in index
    assert "&lt;i&gt;二店&lt;/i&gt;" in index
    assert "<i>二店</i>" not in index
    links = set(re.findall(r'href="([^"]+)"', index))
    assert links == {
        f"shop=s1/shop_hello/{day}/shop_hello.html",
        f"shop=s2/shop_hello/{day}/shop_hello.html",
        f"hello/{day}/hello.html",
    }
    for link in links:
        page = (folder / link).read_text(encoding="utf-8")
        assert offline_violations(page) == []
        back = re.search(r'href="([^"]*index\.html)"', page)
        assert back is not None
        assert (folder / link).parent.joinpath(back.group(1)).resolve() == folder / "index.html"
    # the published index lists what the store holds, as the local one lists the history
    assert sorted((r.shop or "", r.name) for r in published_runs(settings)) == [
        ("", "hello"),
        ("s1", "shop_hello"),
        ("s2", "shop_hello"),
    ]


def test_a_failed_run_replaces_the_page_and_its_record_holds_no_secret(
    s3: S3Server, tmp_path: Path, env: Path
) -> None:
    root = make_project(tmp_path, ["hello"])
    project = Project(root)
    settings = settings_for(s3, f"s3://{s3.new_bucket()}")
    [ok] = run("hello", project=project)
    publish_run(settings, project, ok)
    day = ok.date.isoformat()
    failed = RunResult(
        "hello",
        ok.title,
        ok.date,
        "failed",
        datetime.now(CHINA_TZ),
        1.5,
        None,
        None,
        f"单元 [2]出错：密钥 {SANDBOX_QIANCHUAN_SECRET} 泄露",
    )
    publish_run(settings, project, failed)
    store = bucket_store(settings)
    assert store.list_objects("reports/") == [f"reports/hello/{day}/run.json"]
    text = (store.get_object(f"reports/hello/{day}/run.json") or b"").decode()
    assert SANDBOX_QIANCHUAN_SECRET not in text
    assert "***" in text
    publish_index(settings)
    index = (store.get_object("reports/index.html") or b"").decode()
    assert "失败" in index
    assert "href=" not in index  # nothing to link: the old page is gone
    assert SANDBOX_QIANCHUAN_SECRET not in index


def test_a_damaged_record_is_skipped_and_the_index_still_builds(s3: S3Server, env: Path) -> None:
    settings = settings_for(s3, f"s3://{s3.new_bucket()}/p")
    store = bucket_store(settings)
    store.put_object("reports/x/2026-11-28/run.json", b"{not json")
    good = RunResult("y", "好", date(2026, 11, 28), "ok", datetime.now(CHINA_TZ), 1.0, None, None)
    store.put_object("reports/y/2026-11-28/run.json", json.dumps(good.to_json(Path("/r"))).encode())
    assert [r.name for r in published_runs(settings)] == ["y"]
    publish_index(settings)
    assert "共 1 次运行" in (store.get_object("reports/index.html") or b"").decode()


def test_without_an_object_store_publishing_is_one_line(tmp_path: Path, env: Path) -> None:
    settings = load_settings()
    with pytest.raises(PublishError, match="LIVEKIT_STORE_URL"):
        publish_index(settings)
    root = make_project(tmp_path, ["hello"])
    done = cli("report", "run", "hello", "--publish", cwd=root)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == [lines[0]]
    assert lines[0].startswith("错误：发布报告需要对象存储")
    assert not (root / "reports").exists()  # said before anything ran


def test_the_command_line_publishes_each_run_and_the_index(
    s3: S3Server, tmp_path: Path, env: Path
) -> None:
    root = make_project(tmp_path, ["hello"])
    url = f"s3://{s3.new_bucket()}/team"
    done = cli("report", "run", "hello", "--publish", cwd=root, env=s3.env(url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"已发布的报告索引：{url}/reports/index.html" in done.stdout
    store = bucket_store(settings_for(s3, url))
    day = today().isoformat()
    assert f"reports/hello/{day}/hello.html" in store.list_objects("reports/")
    assert "secret" not in done.stdout + done.stderr


def test_the_index_reads_only_the_latest_records_when_there_are_many(
    s3: S3Server, env: Path
) -> None:
    settings = settings_for(s3, f"s3://{s3.new_bucket()}")
    store = bucket_store(settings)
    at = datetime.now(CHINA_TZ)
    for day in ("2026-11-03", "2026-11-01", "2026-11-02"):
        kept = RunResult("r", "报告", date.fromisoformat(day), "ok", at, 1.0, None, None)
        store.put_object(
            f"reports/shop=s1/r/{day}/run.json", json.dumps(kept.to_json(Path("/"))).encode()
        )
    newest = published_runs(settings, limit=2)
    assert sorted(r.date.isoformat() for r in newest) == ["2026-11-02", "2026-11-03"]
    assert len(published_runs(settings)) == 3
