"""Reports published to the object store, for workers that share no disk.

A worker (an Airflow task, ``livekit report run --publish``) renders a report into its own
folder, then :func:`publish_run` uploads the page and a small record of the run beside the
data, under the same relative path as on disk::

    <LIVEKIT_STORE_URL>/reports/<name>/<D>/<name>.html               one shop
    <LIVEKIT_STORE_URL>/reports/shop=<id>/<name>/<D>/<name>.html     a shop of the shops file
    <LIVEKIT_STORE_URL>/reports/.../<D>/run.json                     the run (no notebook, no secret)

:func:`publish_index` lists every ``run.json`` there and writes ``reports/index.html``, the
same page as the local index (livekit.reports.index) with links relative to it, so the
``reports/`` folder opens offline once downloaded (or served as it is).

Every object is written with one plain PUT (:meth:`ObjectStore.put_object`), so a reader sees
an old object or a new one, never half of one. The page goes up before its record: a record
that links a page is never ahead of it. A later run of the same report, day and shop replaces
both, as on disk; a failed one removes the page of the run it replaces.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from livekit.reports import index
from livekit.reports.project import Project
from livekit.reports.result import RunResult
from livekit.vocab.errors import LivekitError

if TYPE_CHECKING:
    from livekit.config import Settings
    from livekit.store.objects import ObjectStore

PREFIX = "reports"  # beside the datasets and the shop=<id>/ levels of the store
RECORD = "run.json"
INDEX = "index.html"
HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json"
READERS = 8  # records fetched at a time when the index is rebuilt (one GET each)

log = logging.getLogger("livekit.reports")


class PublishError(LivekitError):
    """Reports cannot be published (no object store); one Chinese line."""


def check_publishable(settings: Settings) -> None:
    """One PublishError line unless ``LIVEKIT_STORE_URL`` points at an object store."""
    if settings.store_url is None:
        raise PublishError(
            "发布报告需要对象存储：请设置 LIVEKIT_STORE_URL（如 s3://bucket/prefix），"
            "只在本机查看报告时不必发布"
        )


def _store(settings: Settings) -> ObjectStore:
    from livekit.store import open_store
    from livekit.store.objects import ObjectStore

    check_publishable(settings)
    store = open_store(settings.for_shop(None))  # reports/ is at the top, beside shop=<id>/
    assert isinstance(store, ObjectStore)  # store_url is set
    return store


def _folder(project: Project, result: RunResult) -> str:
    """The run's folder relative to the reports folder: ``[shop=<id>/]<name>/<D>``."""
    out = project.output_dir_for(result.name, result.date, result.shop)
    return out.relative_to(project.reports_dir).as_posix()


def publish_run(settings: Settings, project: Project, result: RunResult) -> str:
    """Upload ``result``'s page (when it rendered) and its record; the page's (or record's) URL.

    The record is the run as the local history keeps it, without the executed notebook (it
    stays with the worker) and with every known secret masked in its text.
    """
    from livekit.credentials import mask
    from livekit.reports.runner import known_secrets

    store = _store(settings)
    folder = f"{PREFIX}/{_folder(project, result)}"
    page_key = f"{folder}/{result.name}.html"
    if result.ok and result.html is not None:
        store.put_object(page_key, result.html.read_bytes(), HTML_TYPE)
    record = result.to_json(project.reports_dir) | {"notebook": None}
    if record["html"] is not None:
        record["html"] = f"{_folder(project, result)}/{result.name}.html"
    text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    text = mask(text, known_secrets(project))
    store.put_object(f"{folder}/{RECORD}", text.encode("utf-8"), JSON_TYPE)
    if not result.ok:  # the page of the run this one replaces must not stay linked
        store.delete_object(page_key)
    return store.url_of(page_key if result.ok else f"{folder}/{RECORD}")


def published_runs(settings: Settings, limit: int | None = None) -> list[RunResult]:
    """Every run recorded under ``reports/`` of the object store, oldest first (with ``limit``,
    only the records of the latest report dates, at most that many: each costs a GET).

    A record that cannot be read is skipped with a one-line warning (the index still builds).
    Paths in the runs are relative to ``Path("/reports")``, a stand-in for the published folder.
    """
    store = _store(settings)
    keys = [k for k in store.list_objects(f"{PREFIX}/") if k.endswith(f"/{RECORD}")]
    if limit is not None and len(keys) > limit:  # the newest days: one GET per record kept
        keys = sorted(keys, key=lambda k: (k.rsplit("/", 2)[-2], k))[-limit:]
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="livekit-publish") as pool:
        blobs = list(pool.map(store.get_object, keys))
    runs: list[RunResult] = []
    for key, blob in zip(keys, blobs, strict=True):
        if blob is None:  # deleted since it was listed
            continue
        try:
            runs.append(RunResult.from_json(json.loads(blob), _BASE))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            log.warning("已发布的运行记录 %s 无法读取，索引中略过", store.url_of(key))
    return sorted(runs, key=lambda r: r.started_at)


_BASE = Path("/") / PREFIX  # never touched on disk: links are made relative to it


def publish_index(settings: Settings, project: Project | None = None) -> str:
    """Rebuild ``reports/index.html`` in the object store from the records there; its URL.

    Looks like the local index; links are relative (``shop=s1/funnel/<D>/funnel.html``) and
    only to pages that are there. ``project`` is accepted for symmetry with
    :func:`publish_run` (the published index depends only on the store).
    """
    store = _store(settings)
    runs = published_runs(settings, limit=index.MAX_RUNS)[-index.MAX_RUNS :]
    pages = {
        _BASE / k.removeprefix(f"{PREFIX}/")
        for k in store.list_objects(f"{PREFIX}/")
        if k.endswith(".html")
    }
    page = index.render(runs, _BASE, present=pages.__contains__)
    key = f"{PREFIX}/{INDEX}"
    store.put_object(key, page.encode("utf-8"), HTML_TYPE)
    return store.url_of(key)
