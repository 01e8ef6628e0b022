"""Property-based tests over every parser of user input (hypothesis).

For generated report parameters, alert rules, schedules, dates (both grammars) and viewer
exports, every input ends in success or in the project's own error (a LivekitError, which the
CLI prints as one ``错误：`` line with a non-zero exit): never another exception type, never a
message of several lines, never a partial write. The library functions are tested in-process
for speed; a few CLI runs show the same end to end. Examples are bounded and derandomized by
the ``livekit`` profile in tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livekit.cli.common import parse_day
from livekit.dates import (
    CHINA_TZ,
    FIRST_DAY,
    DateError,
    latest_day,
    resolve_day,
    resolve_range,
)
from livekit.monitor.metrics import METRICS
from livekit.monitor.rules import RuleSet, parse_rules
from livekit.reports import Project
from livekit.reports.params import ParameterError, report_parameters
from livekit.reports.schedule import load_schedules
from livekit.store import Store
from livekit.viewers import VIEWERS_SCHEMA, ViewerFileError, import_viewers, read_viewer_bytes
from livekit.vocab.errors import LivekitError
from tests.helpers.reports import cli, make_project

ON = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=CHINA_TZ)
# Example counts scale with the profile's (100 in the default ``livekit`` profile, so 1x here).
SCALE = settings().max_examples / 100
FAST = settings(max_examples=int(150 * SCALE), suppress_health_check=[HealthCheck.too_slow])
FIXTURE_DIRS = settings(
    max_examples=int(60 * SCALE),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def one_line_error(exc: BaseException, kind: type[LivekitError] = LivekitError) -> str:
    """``exc`` is the project's own error, with a message of exactly one non-empty line."""
    assert isinstance(exc, kind), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.strip(), "an empty message"
    assert len(message.splitlines()) == 1, message
    assert len(message) < 2000, message[:200]
    return message


def outcome(call: Callable[[], Any], kind: type[LivekitError] = LivekitError) -> Any:
    """The result of ``call``, or None after checking that it raised ``kind`` in one line."""
    try:
        return call()
    except LivekitError as exc:
        one_line_error(exc, kind)
        return None


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` with a digest of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---- dates ------------------------------------------------------------------------------------
digits = st.integers(min_value=0, max_value=10**15).map(str) | st.text(
    string.digits, min_size=1, max_size=40
)
day_texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["today", "yesterday", " Today ", "this_week", "last_month", "last_0_days"]),
    digits.map(lambda n: f"{n}_days_ago"),
    digits.map(lambda n: f"{n}_day_ago"),
    digits.map(lambda n: f"last_{n}_days"),
    digits.map(lambda n: f"-{n}"),
    st.dates().map(date.isoformat),
    st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat),
    st.builds(
        "{:04d}-{:02d}-{:02d}".format,
        st.integers(0, 99999),
        st.integers(0, 13),
        st.integers(0, 32),
    ),
)


def in_range(day: date) -> bool:
    return FIRST_DAY <= day <= latest_day()


@FAST
@given(day_texts)
@example("99999999_days_ago")
@example("9" * 5000 + "_days_ago")
@example("٣_days_ago")
def test_any_day_text_is_a_day_in_range_or_one_date_error(text: str) -> None:
    day = outcome(lambda: resolve_day(text, name="date", on=ON), DateError)
    assert day is None or in_range(day)


@FAST
@given(day_texts, st.none() | day_texts)
@example("last_99999999_days", None)
def test_any_range_is_ordered_in_range_or_one_date_error(start: str, end: str | None) -> None:
    found = outcome(lambda: resolve_range(start, end, on=ON), DateError)
    if found is not None:
        first, last = found
        assert FIRST_DAY <= first <= last <= ON


@FAST
@given(day_texts)
@example("-99999999")
@example("-²")
def test_any_cli_day_is_a_day_in_range_or_one_error_line(text: str) -> None:
    import contextlib
    import io

    err = io.StringIO()
    code = 0
    day: date | None = None
    with contextlib.redirect_stderr(err):
        try:
            day = parse_day(text, "--from")
        except typer.Exit as exc:
            code = exc.exit_code
    if day is None:
        assert code == 2
        lines = err.getvalue().splitlines()
        assert len(lines) == 1, err.getvalue()
        assert lines[0].startswith("错误：--from")
    else:
        assert in_range(day)
        assert err.getvalue() == ""


# ---- report parameters ------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    day_texts,
    st.sampled_from(["gmv", "roas", "没有这个指标"]),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
OK_NAMES = ["start", "end", "metrics", "top_n", "ratio", "title", "show_table"]
param_names = st.sampled_from(OK_NAMES) | st.text(max_size=12)
ALIASES = "a: &x [1]\nb: *x\n"


def yaml_documents(names: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """YAML text: mappings of the given names to any values, broken YAML, any text."""
    mapping = st.dictionaries(names, yaml_values, max_size=5).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True)
    )
    return st.one_of(
        mapping,
        mapping,
        st.text(max_size=200),
        st.lists(
            st.sampled_from(["a:", " - ", "&x ", "*x", "{", "[", "'", "\t", ": ", "\n", "!!"])
        ).map("".join),
    )


@pytest.fixture(scope="module")
def ok_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return Project(make_project(tmp_path_factory.mktemp("params"), ["ok", "hello"]))


@FIXTURE_DIRS
@given(text=yaml_documents(param_names) | st.binary(max_size=60).map(repr))
@example(text=ALIASES)
@example(text="start: 99999999_days_ago\n")
@example(text="start: last_7_days\nend: yesterday\n")
@example(text='start:\n- " \\N"\n')  # U+0085, a line break to str.splitlines
@example(text='metrics: [gmv, "\\u2028"]\n')
def test_any_params_file_is_checked_or_one_error(ok_project: Project, text: str) -> None:
    params = ok_project.params_dir / "ok.yaml"
    params.write_text(text, encoding="utf-8")
    before = tree(ok_project.root)
    given_values = outcome(lambda: report_parameters(ok_project.report("ok"), ON), ParameterError)
    assert given_values is None or isinstance(given_values, dict)
    assert tree(ok_project.root) == before  # checking writes nothing


def test_params_errors_end_to_end(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ok"], {"ok": "start: last_99999999_days\ntop_n: '3'\n"})
    done = cli("report", "run", "ok", cwd=root, env={"LIVEKIT_HOME": str(tmp_path / "home")})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("错误：params/ok.yaml")
    assert not (root / "reports").exists() or not any((root / "reports").rglob("*.ipynb"))


# ---- alert rules ------------------------------------------------------------------------------
metric_names = st.sampled_from(sorted(METRICS)) | st.text(max_size=10)
conditions = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["threshold", "benchmark", "anomaly", "other"]),
            "op": st.sampled_from(["below", "above", "equal"]),
        },
        optional={
            "value": scalars,
            "benchmark": st.sampled_from(["peer_median", "top25", "own_median", "x"]),
            "factor": scalars,
            "method": st.sampled_from(["ewma", "cusum", "x"]),
            "direction": st.sampled_from(["up", "down", "both"]),
            "warmup": scalars,
        },
    ),
    yaml_values,
)
templates = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["{{ room_title }} {{ value_text }}", "{{ nope }}", "{% for x in y %}", "{{ 1/0 }}", "{{"]
    ),
)
rules = st.fixed_dictionaries(
    {"name": st.text(max_size=10), "metric": metric_names},
    optional={
        "scope": st.sampled_from(["room", "product", "shop"]),
        "condition": conditions,
        "window": scalars,
        "for": scalars,
        "repeat": scalars,
        "severity": st.sampled_from(["critical", "warning", "info", "fatal"]),
        "channels": st.lists(st.sampled_from(["console", "feishu", "nowhere"]), max_size=2),
        "message": templates,
        "no_data": st.sampled_from(["keep", "ok", "alert", "x"]),
        "enabled": scalars,
    },
)
rule_files = st.one_of(
    st.fixed_dictionaries(
        {"version": st.sampled_from([1, 2, "1", None]), "rules": st.lists(rules, max_size=3)},
        optional={
            "defaults": st.dictionaries(
                st.sampled_from(["repeat", "channels", "no_data", "x"]), yaml_values, max_size=2
            ),
            "channels": st.dictionaries(st.text(max_size=6), yaml_values, max_size=2),
        },
    ).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    yaml_documents(st.sampled_from(["version", "rules", "defaults", "channels"])),
)


@FAST
@given(rule_files)
@example("version: 1\nrules: &r []\nx: *r\n")
@example('rules:\n- metric: click_rate\n  name: "\\r"\nversion: 1\n')
@example((Path(__file__).parents[1] / "params" / "alerts.yaml").read_text(encoding="utf-8"))
def test_any_rules_file_is_a_ruleset_or_one_error(text: str) -> None:
    ruleset = outcome(lambda: parse_rules(text, source="params/alerts.yaml"))
    assert ruleset is None or isinstance(ruleset, RuleSet)


def test_rules_errors_end_to_end(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("version: 1\nrules:\n  - name: x\n    metric: '\\n[/]'\n", encoding="utf-8")
    done = cli("monitor", "--once", "--rules", str(rules), cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"错误：{rules}")


# ---- schedules --------------------------------------------------------------------------------
cron_tokens = st.one_of(
    st.sampled_from(["*", "*/5", "1-5", "1,15", "L", "W", "15W", "5#2", "MON", "JAN", "?", "0"]),
    st.integers(-1, 100).map(str),
    st.builds("{}-{}".format, st.integers(0, 70), st.integers(0, 70)),
    st.builds("*/{}".format, st.integers(0, 100)),
    st.text(max_size=4),
)
crons = st.one_of(
    st.lists(cron_tokens, min_size=5, max_size=5).map(" ".join),
    st.lists(cron_tokens, min_size=0, max_size=7).map(" ".join),
    st.builds(
        "{} {} {} {} *".format,
        st.integers(0, 59),
        st.integers(0, 23),
        st.integers(1, 31),
        st.integers(1, 12),
    ),
    st.text(max_size=20),
)
entries = st.one_of(
    crons,
    st.fixed_dictionaries(
        {"cron": crons | yaml_values},
        optional={"timeout": scalars, "cell_timeout": scalars, "other": scalars},
    ),
    yaml_values,
)
schedule_files = st.one_of(
    st.dictionaries(
        st.sampled_from(["hello", "ok"]) | st.text(max_size=8), entries, max_size=3
    ).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    yaml_documents(st.sampled_from(["hello", "ok"])),
)


@FIXTURE_DIRS
@given(text=schedule_files)
@example(text='hello: "0 0 30 2 *"\n')
@example(text='hello: "0 0 31 4 *"\nok: "0 8 * * *"\n')
@example(text='"a\\nb": "0 8 * * *"\n')
def test_any_schedules_file_loads_runnable_schedules_or_one_error(
    ok_project: Project, text: str
) -> None:
    (ok_project.params_dir / "schedules.yaml").write_text(text, encoding="utf-8")
    before = tree(ok_project.root)
    schedules = outcome(lambda: load_schedules(ok_project), ParameterError)
    for s in schedules or []:
        # what loaded can be run: the scheduler asks for these times
        assert s.next_runs(NOW, 2)[0] > NOW
        assert s.latest(NOW) <= NOW
    assert tree(ok_project.root) == before


# ---- viewer exports ---------------------------------------------------------------------------
COLUMNS = list(VIEWERS_SCHEMA)  # the columns the reader knows, in its order
PLAIN = [c for c in COLUMNS if c != "click_time"]  # a file without the optional click time
ids = st.one_of(
    st.integers(1, 2**63 - 1).map(str),
    st.integers().map(str),
    st.sampled_from(["", "1.5e18", "7.3E+18", "-0", " 12 ", "0x10"]),
    st.text(max_size=8),
)
times = st.one_of(
    st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2026, 11, 30)).map(
        lambda t: t.strftime("%Y-%m-%d %H:%M:%S")
    ),
    st.datetimes().map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S")),
    st.datetimes().map(lambda t: t.isoformat()),
    st.sampled_from(["", "2026-11-28 20:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59"]),
    st.text(max_size=10),
)
cells = {
    "room_id": ids,
    "viewer_id": st.text(max_size=6) | st.integers().map(str),
    "enter_time": times,
    "leave_time": times,
    "province": st.text(max_size=6),
    "traffic_source": st.text(max_size=6),
    "clicked_product_id": ids,
    "click_time": times,
    "paid": st.sampled_from(["0", "1", "", "2", "true", "是", " 1"]),
    "pay_amount": st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.decimals(places=2, allow_nan=False, allow_infinity=False).map(str),
        st.sampled_from(["", "0", "-1", "1,000.00", "¥5"]),
    ),
    "variant": st.sampled_from(["A", "B", "", "C", "a"]),
}


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


@st.composite
def viewer_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(st.text(max_size=200)).encode("utf-8")
    columns = list(COLUMNS)
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))
    if kind == 2:
        columns = draw(st.lists(st.sampled_from([*COLUMNS, "extra", ""]), max_size=11))
    rows = draw(
        st.lists(
            st.fixed_dictionaries({c: cells.get(c, st.text(max_size=4)) for c in columns}),
            max_size=5,
        )
    )
    lines = [",".join(columns)] + [",".join(csv_cell(r[c]) for c in columns) for r in rows]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return "\n".join(lines).encode(encoding, errors="replace")


@settings(max_examples=int(200 * SCALE), suppress_health_check=[HealthCheck.too_slow])
@given(viewer_files())
@example(b"PK\x03\x04 not a workbook")
@example(b"PAR1 truncated")
@example((",".join(PLAIN) + "\n1,v,0001-01-01 00:00:00,0001-01-01 00:00:01,,,,0,0,\n").encode())
@example((",".join(PLAIN) + "\n1,v,9999-12-31 23:59:58,9999-12-31 23:59:59,,,,0,0,\n").encode())
def test_any_viewer_file_is_a_frame_or_one_error(data: bytes) -> None:
    frame = outcome(lambda: read_viewer_bytes(data, source="viewers.csv"), ViewerFileError)
    if frame is not None:
        days = frame.get_column("enter_time").dt.date().unique().to_list()
        assert all(in_range(d) for d in days), days


@pytest.fixture(scope="module")
def store_with_viewers(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store holding one imported day, to see that a failed import leaves it untouched."""
    root = tmp_path_factory.mktemp("viewers")
    good = root / "good.csv"
    good.write_text(
        ",".join(PLAIN)
        + "\n7,v1,2026-11-27 20:00:00,2026-11-27 20:05:00,浙江,推荐,,0,0,\n"
        + "8,v2,2026-11-28 20:00:00,2026-11-28 20:01:00,浙江,推荐,3,1,9.9,A\n",
        encoding="utf-8",
    )
    store = Store(root / "store")
    assert import_viewers(store, good) == {date(2026, 11, 27): 1, date(2026, 11, 28): 1}
    return store


@settings(
    max_examples=int(40 * SCALE),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=viewer_files())
@example(
    data=(
        ",".join(PLAIN)
        + "\n7,v,2026-11-27 20:00:00,2026-11-27 20:01:00,,,,0,0,"
        + "\n7,v,2026-11-28 20:00:00,2026-11-28 19:00:00,,,,0,0,\n"
    ).encode()
)
def test_a_failed_import_changes_nothing(
    store_with_viewers: Store, tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "import.csv"
    path.write_bytes(data)
    before = tree(store_with_viewers.root)
    written = outcome(lambda: import_viewers(store_with_viewers, path), ViewerFileError)
    if written is None:
        assert tree(store_with_viewers.root) == before  # nothing half-written


def test_viewer_import_errors_end_to_end(tmp_path: Path) -> None:
    bad = tmp_path / "viewers.csv"
    bad.write_text(
        ",".join(PLAIN) + "\n7,v,2026-11-27 20:00:00,2026-11-27 20:01:00,,,,0,0,\n"
        "7,v,2026-11-28 20:00,2026-11-28 20:01:00,,,,0,0,\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    done = cli("import", "viewers", str(bad), cwd=tmp_path, env={"LIVEKIT_HOME": str(home)})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"错误：观众明细文件 {bad}")
    assert not (home / "store" / "viewers").exists()  # the good first row was not written


@pytest.mark.parametrize(
    "text", ["-99999999", "99999999_days_ago", "last_99999999_days", "2026-02-30", "\u2028"]
)
def test_dates_end_to_end(tmp_path: Path, text: str) -> None:
    done = cli("sync", "--from", text, cwd=tmp_path, env={"LIVEKIT_HOME": str(tmp_path / "h")})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("错误：--from")
    assert not (tmp_path / "h").exists()  # refused before anything was created
