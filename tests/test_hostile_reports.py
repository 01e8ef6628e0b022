"""Every report, rendered from a shop whose every upstream text carries a payload, stays a
report: marked 成功, no request leaves the file, no script runs, and the titles read as text.

The sandbox store of a temporary ``LIVEKIT_HOME`` is filled from a sandbox with
``hostile_text=True`` (a small shop, the days the project's report parameters read; the rooms
alone as far back as the forecast's history), the post-show review's day is replayed through
the live monitor from the same sandbox, and the last week's viewer export is imported with
``livekit import viewers --sandbox`` after its province and traffic-source columns were given
payloads of their own. A sandbox kit's ``prepare`` syncs only
days that are missing or stale, so the reports read this store as it is. Then the project's own reports
run through the real runner and each page is opened in Chromium (tests/test_report_html.py).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from livekit.reports import Project, RunResult, run
from livekit.sandbox.hostile import PAYLOADS
from livekit.text import plain_text
from tests.helpers.browser import assert_report_draws, visit
from tests.helpers.reports import ROOT, cli, environment

pytestmark = pytest.mark.slow

SCALE = 0.05  # a small shop: every report still has data, the sync takes seconds
HISTORY = 57  # days back: ab_plan reads 28 days before yesterday and the 28 before them (CUPED)
FORECAST_HISTORY = 730  # the forecast report reads the rooms alone of the 730 days before today
IMPORTED_DAYS = 7  # dwell_time reads the last 7 days: all of them come from the import
SCRIPT = PAYLOADS[0]


def _import_file(csv_text: str, path: Path) -> list[str]:
    """The export with payloads in its free-text columns, one per distinct value, written to
    ``path``; returns the traffic sources it now holds."""
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows, "the sandbox exported no viewer rows"
    values: dict[tuple[str, str], str] = {}
    for row in rows:
        for column, base in (("province", "导入省份"), ("traffic_source", "导入来源")):
            key = (column, row[column])
            if key not in values:
                n = len(values)
                values[key] = f"{base}{n}{PAYLOADS[n % len(PAYLOADS)]}"
            row[column] = values[key]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [v for (column, _), v in values.items() if column == "traffic_source"]


def _fill(home: Path, tmp: Path) -> list[str]:
    """The hostile sandbox's data in ``home``'s sandbox store (see the module docstring);
    returns the imported traffic sources."""
    from livekit.api.runner import run as run_async
    from livekit.config import load_settings
    from livekit.dates import today
    from livekit.ingest.run import sync_async
    from livekit.jobs import replay_sandbox, sandbox_session
    from livekit.monitor.notify import parse_channel_specs, resolve_channels
    from livekit.monitor.rules import load_rules
    from livekit.sandbox.config import SandboxConfig
    from livekit.sandbox.world import CHINA_TZ, World

    config = SandboxConfig(hostile_text=True, scale=SCALE)
    end = today()
    settings = load_settings()
    with sandbox_session(settings, config) as session:
        run_async(
            sync_async(
                session.settings,
                end - timedelta(days=HISTORY),
                end,
                viewer_export_url=session.viewer_export_url,
            )
        )
        before = end - timedelta(days=HISTORY + 1)
        run_async(
            sync_async(
                session.settings, end - timedelta(days=FORECAST_HISTORY), before, datasets=["rooms"]
            )
        )
        export = httpx.get(
            session.viewer_export_url,
            params={
                "start_date": (end - timedelta(days=IMPORTED_DAYS)).isoformat(),
                "end_date": (end - timedelta(days=1)).isoformat(),
                "format": "csv",
            },
            timeout=60,
        )
        export.raise_for_status()
    # The post-show review reads the monitor's datasets of 2 days ago: that day's shows replayed.
    day = end - timedelta(days=2)
    world = World(config.seed, end, config.history_days, SCALE, hostile_text=True)
    spans: list[list[float]] = []
    for a, b in sorted((s.start_ts, s.end_ts + 120) for s in world.sessions_on(day)):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    rules = load_rules(ROOT / "params" / "alerts.yaml")
    channels = resolve_channels(
        parse_channel_specs(rules.channels), {"console"}, {}, console_stream=io.StringIO()
    )
    replay_sandbox(
        [
            (datetime.fromtimestamp(a + 30, CHINA_TZ), datetime.fromtimestamp(b, CHINA_TZ))
            for a, b in spans
        ],
        ruleset=rules,
        channels=channels,
        step_s=180.0,
        settings=settings,
        config=config,
    )
    path = tmp / "观众明细.csv"
    sources = _import_file(export.text, path)
    done = cli(
        "import", "viewers", "--sandbox", str(path), cwd=ROOT, env={"LIVEKIT_HOME": str(home)}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return sources


@dataclass(frozen=True)
class Rendered:
    home: Path
    results: dict[str, RunResult]
    imported_sources: list[str]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    tmp = tmp_path_factory.mktemp("hostile-reports")
    home = tmp / "home"
    with environment(LIVEKIT_HOME=str(home)):
        sources = _fill(home, tmp)
        results = run(all=True, jobs=2, project=Project(ROOT, tmp / "reports"))
    return Rendered(home, {r.name: r for r in results}, sources)


def _readable(text: str) -> str:
    """How ``text`` reads on the page: plain text, runs of white space as one space."""
    return " ".join(plain_text(text).split())


def _visible(browser: Any, result: RunResult) -> str:
    assert result.html is not None
    return " ".join(visit(browser, result.html).text.split())


def test_every_report_succeeds_offline_without_scripts(
    browser: Any,
    reports: Rendered,
) -> None:
    expected = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if not p.stem.startswith("_")}
    assert set(reports.results) == expected
    for result in reports.results.values():
        assert result.status == "ok", f"{result.name}: {result.error}"
        assert_report_draws(browser, result)  # no request, no script, no error, every chart drawn
    some = next(iter(reports.results.values())).html
    assert some is not None
    index = visit(browser, some.parents[2] / "index.html")
    assert index.requests == []
    assert index.text.count("成功") >= len(expected)
    assert f"共 {len(expected)} 次运行，其中失败 0 次" in index.text


def test_titles_read_as_text_with_their_payloads(
    browser: Any,
    reports: Rendered,
) -> None:
    from livekit.dates import today
    from livekit.sandbox.world import World

    world = World(7, today(), scale=SCALE, hostile_text=True)
    shown = {name: _visible(browser, result) for name, result in reports.results.items()}
    # Room titles, each followed by its payload as literal text, in the post-show review.
    rooms = [t for t in world.room_titles if _readable(t) in shown["live_review"]]
    assert rooms, "no room title of the replayed day is shown whole in the review"
    # Product titles (the 10 kB one shortened) in the dwell-time report's ranking and table.
    products = [t for t in world.product_titles if _readable(t) in shown["dwell_time"]]
    assert products, "no product title is shown whole in the dwell-time report"
    # 抖音号 names with a Markdown link and image, shown as the characters they are.
    for account in world.accounts:
        assert _readable(account.aweme_name) in shown["funnel"]
    # A script block where a title is shown: visible, so neither dropped nor run.
    assert " ".join(SCRIPT.split()) in " ".join(shown.values())
    # The imported traffic sources, escaped in the dwell-time sentences and tables.
    assert any(_readable(s) in shown["dwell_time"] for s in reports.imported_sources)


def test_the_reports_read_the_hostile_store_as_filled(reports: Rendered) -> None:
    """Nothing was synced from a plain sandbox: every stored room title carries its payload."""
    import polars as pl

    from livekit.dates import today

    store = reports.home / "sandbox" / "store"
    titles = pl.read_parquet(store / "rooms" / "*" / "*.parquet")["room_title"]
    assert titles.len() > 0
    assert titles.str.contains("<", literal=True).all()
    days = sorted(p.name for p in (store / "rooms").iterdir())
    assert days[0] == f"date={today() - timedelta(days=FORECAST_HISTORY)}"


def _markdown_outputs(result: RunResult) -> list[str]:
    assert result.notebook is not None
    nb = json.loads(result.notebook.read_text(encoding="utf-8"))
    return [
        "".join(output["data"]["text/markdown"])
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {})
    ]


def test_report_sentences_quote_upstream_text_as_text(reports: Rendered) -> None:
    """The Markdown the notebooks display, rendered as nbconvert renders it: no element beyond
    the sentences' own, no attribute, and the hostile names readable with their payloads."""
    from livekit.dates import today
    from livekit.sandbox.world import World
    from tests.helpers.markup import parse_html as parse
    from tests.helpers.markup import render_nbconvert

    allowed = {"p", "strong", "em", "code", "ul", "ol", "li", "blockquote", "br"}
    shown: dict[str, str] = {}
    for name, result in reports.results.items():
        texts = []
        for markdown in _markdown_outputs(result):
            parsed = parse(render_nbconvert(markdown))
            assert {tag for tag, _ in parsed.tags} <= allowed, (name, markdown[:300])
            assert all(not attrs for _, attrs in parsed.tags), (name, markdown[:300])
            texts.append("".join(parsed.text))
        shown[name] = " ".join(" ".join(texts).split())
    world = World(7, today(), scale=SCALE, hostile_text=True)
    # the gap between accounts names both 抖音号, the first with a script block in its name
    for account in world.accounts:
        assert _readable(account.aweme_name) in shown["funnel"]
    assert SCRIPT in _readable(world.accounts[0].aweme_name)
    # the post-show review names each show by its title
    assert any(_readable(t) in shown["live_review"] for t in world.room_titles)
    # the product to present earlier, and the traffic sources from the imported file
    assert any(_readable(t) in shown["dwell_time"] for t in world.product_titles)
    assert any(_readable(s) in shown["dwell_time"] for s in reports.imported_sources)
