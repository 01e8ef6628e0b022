"""One vocabulary (issue 11, must-show 2) and its formatters.

* every metric name used anywhere (the alert rules, the report parameter files, the notebooks'
  parameter defaults and metric lists, the monitor's and the analysis's built-in names)
  resolves in the one registry, :mod:`livekit.vocab.metrics`;
* no label maps to two definitions (compared by numerator, denominator, unit, window, scope),
  and no definition is registered twice;
* every rate in every analysis frame is a fraction in [0, 1]: the shipped analysis functions
  run on the sandbox's data (synced through the real store) and every column the vocabulary
  calls a rate (:func:`livekit.vocab.metrics.is_rate_column`) is checked.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from livekit.vocab.errors import LivekitError
from livekit.vocab.metrics import (
    METRICS,
    UPSTREAM_PERCENT_FIELDS,
    LiveMetric,
    is_rate_column,
    metric,
    metrics_of,
    rate_columns,
    resolve,
)
from livekit.vocab.units import (
    MISSING,
    format_count,
    format_money,
    format_number,
    format_percent,
    format_ratio,
    format_value,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAM_FILES = sorted(
    p for p in (ROOT / "params").glob("*.yaml") if p.stem not in {"alerts", "shops.example"}
)


# ---- formatters --------------------------------------------------------------------------------
def test_rates_are_fractions_and_percent_is_only_formatting() -> None:
    assert format_percent(0.035) == "3.5%"
    assert format_percent(0.03456, 2) == "3.46%"
    assert format_percent(0.05, signed=True) == "+5.0%"
    assert format_percent(-0.125, 0) == "-12%"
    assert format_percent(1.0) == "100.0%"


def test_money_has_one_format() -> None:
    assert format_money(1234.5) == "¥1,234.50"
    assert format_money(123_456.789) == "¥123,456.79"  # tables keep every fen
    assert format_money(0) == "¥0.00"
    assert format_money(-12) == "-¥12.00"
    assert format_money(123_456, compact=True) == "¥12.35万"  # prose may shorten large sums
    assert format_money(999.5, compact=True) == "¥999.50"
    assert format_money(-123_456, compact=True) == "-¥12.35万"
    assert format_value(metric("gmv"), 1234.5) == "¥1,234.50"
    assert format_value(metric("gpm"), 812.3) == "¥812.30"  # yuan per thousand views


def test_counts_ratios_and_units() -> None:
    assert format_number(8520) == "8,520"
    assert format_number(12_345) == "1.2万"
    assert format_number(345_000_000) == "3.45亿"
    assert format_number(2.345, 2) == "2.35"
    assert format_count(1234) == "1,234"
    assert format_count(123_456) == "12.3万"
    assert format_count(123_456, compact=False) == "123,456"
    assert format_ratio(2.3149) == "2.31"
    assert format_value(metric("roas"), 2.6) == "2.60"
    assert format_value(metric("click_conversion_rate"), 0.03456) == "3.46%"
    assert format_value(metric("avg_watch_seconds"), 61.25) == "61.2秒"
    assert format_value(metric("orders"), 1234) == "1,234单"


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf"), float("-inf")])
def test_missing_values_show_a_dash(missing: float | None) -> None:
    assert MISSING == "—"
    for f in (format_number, format_count, format_money, format_percent, format_ratio):
        assert f(missing) == "—"
    assert format_value(metric("gmv"), missing) == "—"
    assert metric("click_rate", "live").format(missing) == "无数据"


def test_live_metrics_read_fractions() -> None:
    click = metric("click_rate", "live")
    assert isinstance(click, LiveMetric)
    assert click.kind == "rate"
    assert click.is_rate
    assert click.format(0.035) == "3.5%"
    flow = metric("new_viewers_per_min", "live")
    assert flow.kind == "flow"
    assert not flow.is_rate
    assert flow.format(12.5) == "12.5 人/分钟"
    assert flow.default_window == 5.0
    conv = metric("conversion_rate", "live")
    assert conv.label_for("product") == conv.label + "（估算）"
    assert conv.label_for("room") == conv.label


# ---- the registry --------------------------------------------------------------------------------
def test_unknown_names_list_the_valid_names_of_their_kind() -> None:
    with pytest.raises(LivekitError) as err:
        metric("gmvv")
    text = str(err.value)
    assert "未知的指标 'gmvv'" in text
    assert "是不是 gmv" in text
    assert all(name in text for name in METRICS)
    with pytest.raises(LivekitError) as err:
        metric("gmv", "live")
    text = str(err.value)
    assert "'gmv' 是直播间指标" in text
    assert all(name in text for name in metrics_of("live"))
    assert "uv_value" not in text  # only the live names are listed
    with pytest.raises(LivekitError, match="conversion_rate 改用 click_conversion_rate"):
        metric("conversion_rate", "room")  # renamed: a room metric meant two definitions
    with pytest.raises(LivekitError, match="未知的指标类别"):
        metric("gmv", "shop")  # type: ignore[call-overload]
    with pytest.raises(LivekitError, match="未知的指标 'a'、'b'；直播间指标中可用"):
        resolve(["gmv", "a", "b"], "room")
    assert [m.name for m in resolve(["roas", "gmv"])] == ["roas", "gmv"]


def _plain_label(label: str) -> str:
    """A label without its parenthetical remarks (估算, units …) and spaces."""
    return re.sub(r"（[^）]*）|\([^)]*\)|\s", "", label)


def test_one_label_means_one_definition() -> None:
    by_label: dict[str, set[tuple[object, ...]]] = {}
    by_definition: dict[tuple[object, ...], list[str]] = {}
    for m in METRICS.values():
        labels = {m.label, _plain_label(m.label)}
        if isinstance(m, LiveMetric):
            labels |= {m.label_for("room"), m.label_for("product")}
        for label in labels:
            by_label.setdefault(label, set()).add(m.definition())
        by_definition.setdefault(m.definition(), []).append(m.name)
    shared = {label: defs for label, defs in by_label.items() if len(defs) > 1}
    assert not shared, shared
    twice = {d: names for d, names in by_definition.items() if len(names) > 1}
    assert not twice, twice
    # the three "商品点击率" of old are three names with three labels now
    clicks = [metric("watch_click_rate"), metric("click_rate", "live"), metric("click", "viewer")]
    assert len({m.label for m in clicks}) == 3
    assert len({m.definition() for m in clicks}) == 3


def test_rates_are_fractions_in_the_registry() -> None:
    for m in METRICS.values():
        assert m.scale in (1.0, 1000.0), m.name  # no percent scale; 1000 = per thousand
        if m.is_rate:
            assert m.denominator is not None, m.name
            assert m.scale == 1.0, m.name
            assert is_rate_column(m.name), m.name
    # a rate computed from parts is a fraction
    assert metric("click_conversion_rate").value(3, 40) == pytest.approx(0.075)


def test_rate_column_rule() -> None:
    assert rate_columns(["stage", "step_rate", "ci_low", "ci_high", "share", "count"]) == [
        "step_rate",
        "ci_low",
        "ci_high",
    ]
    assert rate_columns(["label", "lift", "lift_low", "lift_high"]) == []
    # a region index's interval bounds the index, not the shares beside it
    assert rate_columns(["region", "viewer_share", "index", "ci_low"]) == ["viewer_share"]
    assert rate_columns(["product_id", "rate", "ci_low"]) == ["rate", "ci_low"]
    assert rate_columns(["gmv", "roas", "gpm", "click_rate", "conversion"]) == [
        "click_rate",
        "conversion",
    ]


def test_importing_the_registry_loads_no_polars() -> None:
    code = (
        "import sys, livekit.vocab.metrics, livekit.vocab.units\n"
        "assert 'polars' not in sys.modules, 'polars'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---- every metric name used anywhere resolves ------------------------------------------------------
def _code_cells(notebook: Path) -> list[tuple[list[str], str]]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [
        (c.get("metadata", {}).get("tags", []), "".join(c["source"]))
        for c in cells
        if c["cell_type"] == "code"
    ]


def _metric_lists_in_code(code: str) -> list[list[str]]:
    """Lists of names in notebook code that are mostly registered metrics (e.g. the funnel's
    daily rates, the ROI trend's metrics): every name in such a list must resolve, so a
    misspelt or renamed metric among them is caught. (Lists of datasets are not metrics.)"""
    tree = ast.parse(code)
    datasets = {
        id(k.value)
        for node in ast.walk(tree)
        for k in getattr(node, "keywords", ())
        if k.arg == "datasets"
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple) and node.elts and id(node) not in datasets:
            names = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if (
                len(names) == len(node.elts)
                and all(isinstance(n, str) and n.isidentifier() for n in names)
                and 2 * sum(n in METRICS for n in names) > len(names)
            ):
                found.append([str(n) for n in names])
    return found


def _metric_parameters(values: dict[str, Any]) -> dict[str, list[str]]:
    out = {}
    for key, value in values.items():
        if key in ("metric", "metrics") or key.endswith(("_metric", "_metrics")):
            out[key] = [value] if isinstance(value, str) else list(value)
    return out


def test_every_metric_name_used_anywhere_resolves() -> None:
    from livekit.analysis import experiment as ex
    from livekit.analysis import live
    from livekit.monitor import metrics as monitor_metrics
    from livekit.reports.params import declared_parameters

    checked: list[str] = []

    # the alert rules: live metrics
    rules = yaml.safe_load((ROOT / "params" / "alerts.yaml").read_text(encoding="utf-8"))
    for rule in rules["rules"]:
        assert metric(rule["metric"], "live").name == rule["metric"]
        checked.append(rule["metric"])

    # the parameter files and the notebooks' parameter defaults
    for notebook in NOTEBOOKS:
        defaults = {n: p.default for n, p in declared_parameters(notebook).items()}
        params_file = ROOT / "params" / f"{notebook.stem}.yaml"
        given = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
        for values in (defaults, {**defaults, **given}):
            for names in _metric_parameters(values).values():
                if notebook.stem == "ab_test":  # experiment metrics: valid names per unit
                    ex.resolve_metrics(names, str(values["unit"]))
                    resolve(names)
                elif notebook.stem == "custom_report":
                    resolve(names, "room")
                else:
                    resolve(names)
                checked += names
        # metric lists in the notebook's code
        for _, code in _code_cells(notebook):
            for names in _metric_lists_in_code(code):
                families = {m.family for m in resolve(names)}
                assert len(families) == 1, (notebook.name, names, families)  # one kind a list
                checked += names
    assert {p.stem for p in PARAM_FILES} <= {n.stem for n in NOTEBOOKS} | {"schedules"}

    # the names built into the monitor, the live review, and the experiments
    for name in monitor_metrics.METRICS:
        assert metric(name, "live") is monitor_metrics.METRICS[name]
    for name in live.CURVE_METRICS.values():
        metric(name, "live")
    for alias, name in ex.SESSION_ALIASES.items():
        metric(alias, "viewer")
        metric(name, "room")
    for name in ex.experiment_metric_names("viewer"):
        metric(name, "viewer")

    # the test saw the names it should have
    assert {"conversion_rate", "inventory", "gmv", "roas", "conversion"} <= set(checked)


def test_labels_shown_for_metrics_are_the_registry_labels() -> None:
    from livekit.analysis import experiment as ex
    from livekit.analysis import live
    from livekit.pages import live_review

    for curve, name in live.CURVE_METRICS.items():
        assert live_review.CURVE_LABELS[curve].startswith(metric(name, "live").label)
    for name in ex.experiment_metric_names("viewer"):
        assert ex.experiment_metric(name, "viewer").label == metric(name, "viewer").label
    for alias, name in ex.SESSION_ALIASES.items():
        assert ex.experiment_metric(alias, "session").label == metric(name, "room").label
    summary = live_review.SUMMARY_LABELS["click_conversion_rate"]
    assert summary == metric("click_conversion_rate").label


# ---- every rate in every analysis frame is a fraction ------------------------------------------------
FIRST, LAST = date(2026, 11, 14), date(2026, 11, 27)  # two weeks before the tests' sandbox day
SNAPSHOT_DAY = date(2026, 11, 26)
EXPERIMENT_DAYS = (date(2026, 10, 29), date(2026, 10, 31))  # inside the planted A/B test


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """The stored datasets of a small sandbox shop for two weeks, synced through the real
    client and store, plus the live snapshots of the first 40 minutes of one show."""
    from livekit.api.runner import run
    from livekit.ingest.run import sync_async
    from livekit.jobs import replay_sandbox, sandbox_session
    from livekit.monitor.notify import parse_channel_specs, resolve_channels
    from livekit.monitor.rules import RuleSet
    from livekit.sandbox.world import CHINA_TZ, World
    from livekit.store import Store
    from livekit.store.datasets import get
    from tests.helpers.sandbox import NOW, make_config
    from tests.helpers.sync import make_settings

    home = tmp_path_factory.mktemp("vocab")
    settings = make_settings(home)
    config = make_config(scale=0.3, history_days=30)
    with sandbox_session(settings, config) as session:
        run(
            sync_async(
                session.settings,
                FIRST,
                LAST,
                now=NOW,
                datasets=[
                    "rooms",
                    "room_analysis",
                    "room_products",
                    "room_audience",
                    "orders",
                    "order_items",
                ],
                viewer_export_url=session.viewer_export_url,
            )
        )
        run(  # three days of the viewer-randomized experiment: the viewer export only
            sync_async(
                session.settings,
                *EXPERIMENT_DAYS,
                now=NOW,
                datasets=(),
                viewer_export_url=session.viewer_export_url,
            )
        )
    world = World(config.seed, config.today or NOW.date(), config.history_days, config.scale)
    show = min(world.sessions_on(SNAPSHOT_DAY), key=lambda s: s.start_ts)
    start = datetime.fromtimestamp(show.start_ts + 30, CHINA_TZ)
    channels = resolve_channels(parse_channel_specs({}), {"console"}, {})
    replay_sandbox(
        [(start, start + timedelta(minutes=40))],
        ruleset=RuleSet((), {}, "<none>"),
        channels=channels,
        settings=settings,
        config=config,
    )
    store = Store(home / "sandbox" / "store")
    names = [
        "rooms",
        "room_analysis",
        "room_products",
        "room_audience",
        "orders",
        "order_items",
        "viewers",
        "live_snapshots",
    ]
    return {name: store.read(name, get(name).schema) for name in names}


def _frames_of(value: object, name: str) -> Iterator[tuple[str, pl.DataFrame]]:
    """Every frame in an analysis result: the frame itself, or a dataclass's frame fields;
    a dataclass's numeric fields named like rates (``rate_long``, ``censored_share``) come as
    one-row frames."""
    if isinstance(value, pl.DataFrame):
        yield name, value
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            item = getattr(value, f.name)
            if isinstance(item, float | int) and not isinstance(item, bool):
                if is_rate_column(f.name):
                    yield f"{name}.{f.name}", pl.DataFrame({f.name: [float(item)]})
            else:
                yield from _frames_of(item, f"{name}.{f.name}")


def _analysis_frames(shop: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    from livekit import analysis as la
    from livekit.analysis import dwell, experiment, live, products
    from livekit.analysis.roi import roi_by_room, roi_summary

    rooms, t1 = shop["rooms"], shop["room_analysis"]
    viewers = shop["viewers"]
    both = {"rooms": rooms, "room_analysis": t1}
    half = FIRST + timedelta(days=7)
    before = rooms.filter(pl.col("date") < half)
    after = rooms.filter(pl.col("date") >= half)
    results: dict[str, object] = {
        "custom_report.by_date": la.custom_report(both, metric_names_room(), ["date"]),
        "custom_report.total": la.custom_report(both, metric_names_room(), []),
        "custom_report.by_account": la.custom_report(both, metric_names_room(), ["aweme_name"]),
        "funnel": la.funnel(la.funnel_counts(rooms, t1)),
        "funnel_change": la.funnel_change(
            la.funnel_counts(before, t1), la.funnel_counts(after, t1)
        ),
        "rank_products": products.rank_products(products.product_conversions(viewers)),
        "region_index.viewers": products.region_index(viewers),
        "region_index.audience": products.region_index(shop["room_audience"]),
        "dwell_conversion": la.dwell_conversion(viewers),
    }
    visits = dwell.visit_durations(viewers, rooms)
    results["retention"] = dwell.retention(visits["dwell"], visits["left"])
    by_room = roi_by_room(rooms, shop["orders"], shop["order_items"])
    results["roi_by_room"] = by_room
    results["roi_summary"] = roi_summary(by_room)
    results["roi_summary.open"] = roi_summary(by_room, include_open_windows=True)
    units = experiment.viewer_units(viewers.filter(pl.col("variant").is_not_null()))
    results["viewer_units"] = units.units
    report = experiment.analyse_experiment(
        units.units, ["conversion", "click", "watch_seconds"], unit="viewer"
    )
    results["results_frame"] = experiment.results_frame(report)
    for name in ("conversion", "click"):  # the arms' values of the registered viewer rates
        c = report.comparisons[name]
        results[f"experiment.{name}"] = pl.DataFrame({name: [c.mean_a, c.mean_b]})
    curves = live.minute_curves(shop["live_snapshots"])
    results["minute_curves"] = curves
    results["show_summary"] = live.show_summary(curves)
    results["rate_curves"] = live.rate_curves(curves)
    frames: dict[str, pl.DataFrame] = {}
    for name, value in results.items():
        frames.update(_frames_of(value, name))
    return frames


def metric_names_room() -> list[str]:
    return list(metrics_of("room"))


def test_every_rate_in_every_analysis_frame_is_a_fraction(
    shop: dict[str, pl.DataFrame],
) -> None:
    assert shop["live_snapshots"].height > 10
    assert shop["viewers"].height > 1000
    frames = _analysis_frames(shop)
    checked: dict[str, int] = {}
    for name, frame in frames.items():
        assert not UPSTREAM_PERCENT_FIELDS & set(frame.columns), name  # percent never leaks
        for column in rate_columns(frame.columns):
            values = frame.get_column(column)
            if not values.dtype.is_numeric():
                continue
            known = values.drop_nulls().drop_nans() if values.dtype.is_float() else values
            known = known.drop_nulls()
            outside = known.filter((known < 0) | (known > 1))
            assert outside.is_empty(), (name, column, outside.head(5).to_list())
            checked[f"{name}.{column}"] = known.len()
    seen = {key for key, n in checked.items() if n > 0}
    expected = {
        "custom_report.by_date.click_conversion_rate",
        "custom_report.total.entry_rate",
        "custom_report.total.refund_rate",
        "funnel.step_rate",
        "funnel.ci_high",
        "funnel_change.rate_after",
        "rank_products.rate",
        "region_index.viewers.viewer_share",
        "roi_summary.repurchase_share",
        "minute_curves.click_rate",
        "minute_curves.conversion_rate",
        "show_summary.watch_click_rate",
        "rate_curves.rate",
        "dwell_conversion.rate_long.rate_long",
        "experiment.conversion.conversion",
        "experiment.click.click",
    }
    assert expected <= seen, expected - seen
    assert len(seen) >= 40, sorted(seen)
    print(f"{len(seen)} rate columns in {len(frames)} frames, all in [0, 1]")


def test_report_parameters_resolve_in_the_one_registry() -> None:
    from livekit.reports.params import check_meanings

    day = date(2026, 11, 28)
    room_default = {"metrics": ["gmv", "roas"]}
    check_meanings({"metrics": ["click_conversion_rate"]}, {}, day, room_default)
    with pytest.raises(LivekitError, match="未知的指标 'conversion_rate'（直播间指标已更名"):
        check_meanings({"metrics": ["gmv", "conversion_rate"]}, {}, day, room_default)
    experiment_default = {"metrics": ["conversion", "watch_seconds"]}  # any family: by unit later
    check_meanings({"metrics": ["watch_click_rate", "click"]}, {}, day, experiment_default)
    with pytest.raises(LivekitError, match="未知的指标 'clik'"):
        check_meanings({"metrics": ["clik"]}, {}, day, experiment_default)


def test_the_funnel_step_rates_are_the_registry_rates(shop: dict[str, pl.DataFrame]) -> None:
    """The funnel's four step rates and the registry's 五维四率 are one definition each."""
    from livekit import analysis as la

    rooms, t1 = shop["rooms"], shop["room_analysis"]
    steps = dict(la.funnel(la.funnel_counts(rooms, t1)).select("stage", "step_rate").iter_rows())
    names = {
        "entered": "entry_rate",
        "product_exposed": "exposure_rate",
        "clicked": "exposure_click_rate",
        "paid": "click_conversion_rate",
    }
    rates = la.custom_report({"rooms": rooms, "room_analysis": t1}, list(names.values()), [])
    for stage, name in names.items():
        assert steps[stage] == pytest.approx(rates[name].item(), rel=1e-9), (stage, name)
