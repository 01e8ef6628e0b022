"""Alert rules files: the shipped default set, and one clear error per kind of user mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from livekit.config import ConfigError
from livekit.monitor.metrics import METRICS
from livekit.monitor.rules import (
    AnomalyCondition,
    BenchmarkCondition,
    RuleSet,
    ThresholdCondition,
    load_rules,
    parse_rules,
)
from livekit.vocab.errors import LivekitError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "params" / "alerts.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    message = str(info.value)
    assert str(path) in message  # names the file
    assert "\n" not in message  # one line, no traceback
    assert isinstance(info.value, LivekitError)
    return message


GOOD_RULE = """
version: 1
rules:
  - name: 新进观众过少
    metric: new_viewers_per_min
    scope: room
    condition: {type: threshold, op: below, value: 5}
    for: 3
"""


# ---- the shipped rule set --------------------------------------------------------------------------


def test_shipped_rules_load() -> None:
    rules = load_rules(SHIPPED)
    assert isinstance(rules, RuleSet)
    by_name = {r.name: r for r in rules.rules}
    assert set(by_name) == {
        "新进观众过少",
        "新进观众骤降",
        "互动率低于同行",
        "转化率异常下降",
        "商品点击激增",
        "长时间未出单",
        "商品售罄",
    }
    for rule in rules.rules:
        assert rule.metric in METRICS
        assert rule.scope in rule.spec.scopes
        assert rule.channels == ("console",)
    # the merchant's cases, each with the kind of condition the issue asks for
    low = by_name["新进观众过少"].condition
    assert isinstance(low, ThresholdCondition)
    assert low.op == "below"
    bench = by_name["互动率低于同行"].condition
    assert isinstance(bench, BenchmarkCondition)
    assert bench.benchmark == "peer_median"
    assert by_name["互动率低于同行"].min_denominator is not None
    conv = by_name["转化率异常下降"].condition
    assert isinstance(conv, AnomalyCondition)
    assert conv.direction == "down"
    surge = by_name["商品点击激增"]
    assert isinstance(surge.condition, AnomalyCondition)
    assert surge.condition.method == "cusum"
    assert surge.condition.direction == "up"
    assert surge.scope == "product"
    assert "延长讲解" in surge.message
    no_order = by_name["长时间未出单"]
    assert no_order.metric == "minutes_since_order"
    assert isinstance(no_order.condition, ThresholdCondition)
    assert no_order.condition.op == "above"
    assert by_name["商品售罄"].metric == "inventory"
    assert rules.lines is not None
    assert rules.lines["新进观众过少"] < rules.lines["商品售罄"]


def test_defaults_and_metric_windows(tmp_path: Path) -> None:
    rules = load_rules(
        write(
            tmp_path,
            """
            version: 1
            defaults:
              repeat: 15
              labels: {team: 直播组}
              channels: [console, ops]
              min_denominator: 100
            channels:
              ops: {type: feishu, webhook_env: LIVEKIT_FEISHU_OPS}
            rules:
              - name: 点击率
                metric: click_rate
                scope: room
                condition: {type: threshold, op: below, value: "3.5%"}
                labels: {owner: 小王}
              - name: 订单
                metric: orders_per_min
                scope: product
                condition: {type: threshold, op: below, value: 0.1}
                repeat: 0
                channels: [console]
            """,
        )
    )
    rate, flow = rules.rules
    assert rate.repeat == 15
    assert rate.labels == {"team": "直播组", "owner": "小王"}
    assert rate.channels == ("console", "ops")
    assert rate.min_denominator == 100
    assert isinstance(rate.condition, ThresholdCondition)
    assert rate.condition.value == pytest.approx(0.035)  # rates are fractions: "3.5%" is 0.035
    assert rate.window_min == METRICS["click_rate"].default_window
    assert flow.repeat == 0
    assert flow.min_denominator is None  # defaults.min_denominator only concerns rates
    assert flow.channels == ("console",)
    assert rules.channels["ops"]["type"] == "feishu"
    assert rules.channel_names() == ("console", "ops")


# ---- one clear error per mistake -------------------------------------------------------------------


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """
        version: 1
        rules:
          - name: x
            metric: [new_viewers_per_min
            scope: room
        """,
    )
    assert "YAML 格式错误" in message
    assert "第 5 行" in message or "第 4 行" in message


def test_unknown_metric(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE.replace("new_viewers_per_min", "new_viewer_per_min"))
    assert "第 4 行" in message
    assert "metric" in message
    assert "未知指标 new_viewer_per_min" in message
    assert "new_viewers_per_min" in message  # the suggestion


def test_wrong_scope_for_metric(tmp_path: Path) -> None:
    text = GOOD_RULE.replace("new_viewers_per_min", "inventory")
    message = error_of(tmp_path, text)
    assert "第 5 行" in message
    assert "scope" in message
    assert "product" in message


def test_unknown_key_in_rule(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "    windw: 5\n")
    assert "第 8 行" in message
    assert "windw" in message
    assert "未知字段" in message
    assert "window" in message  # did you mean


def test_unknown_key_in_condition(tmp_path: Path) -> None:
    text = GOOD_RULE.replace("value: 5}", "value: 5, lamda: 0.3}")
    message = error_of(tmp_path, text)
    assert "第 6 行" in message
    assert "condition.lamda" in message
    assert "未知字段" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "extra: 1\n")
    assert "第 8 行" in message
    assert "extra" in message
    assert "未知字段" in message


def test_bad_template_variable(tmp_path: Path) -> None:
    text = GOOD_RULE + '    message: "{{ room_titel }} 新进观众 {{ value_text }}"\n'
    message = error_of(tmp_path, text)
    assert "第 8 行" in message
    assert "message" in message
    assert "room_titel" in message
    assert "room_title" in message  # did you mean


def test_template_syntax_error(tmp_path: Path) -> None:
    text = GOOD_RULE + "    resolved_message: |\n      恢复 {{ value_text }\n"
    message = error_of(tmp_path, text)
    assert "第 8 行" in message
    assert "resolved_message" in message
    assert "模板语法错误" in message


def test_template_that_breaks_without_data(tmp_path: Path) -> None:
    # with no_data: alert the value may be empty: a format that needs a number fails at load
    text = GOOD_RULE + "    no_data: alert\n    message: \"{{ '%.1f' % value }}\"\n"
    message = error_of(tmp_path, text)
    assert "第 9 行" in message
    assert "无数据" in message


def test_unknown_channel(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "    channels:\n      - console\n      - slack\n")
    assert "第 10 行" in message
    assert "channels[1]" in message
    assert "slack" in message
    assert "channels:" in message  # says where to declare one


def test_declared_channel_is_accepted(tmp_path: Path) -> None:
    text = (
        GOOD_RULE + "    channels: [console, ops-feishu]\nchannels:\n  ops-feishu: {type: feishu}\n"
    )
    rules = load_rules(write(tmp_path, text))
    assert rules.rules[0].channels == ("console", "ops-feishu")


def test_unknown_channel_from_defaults(tmp_path: Path) -> None:
    text = GOOD_RULE.replace("rules:", "defaults:\n  channels: [feishu, dingtlak]\nrules:")
    message = error_of(tmp_path, text)
    assert "第 3 行" in message
    assert "defaults.channels[1]（规则 “新进观众过少” 用到它）：未知通知渠道" in message
    assert "dingtalk" in message  # did you mean


def test_duplicate_rule_name(tmp_path: Path) -> None:
    second = """
  - name: 新进观众过少
    metric: comments_per_min
    scope: room
    condition: {type: threshold, op: below, value: 1}
"""
    message = error_of(tmp_path, GOOD_RULE + second.lstrip("\n"))
    assert "第 8 行" in message
    assert "name" in message
    assert "重复" in message
    assert "第 3 行" in message  # where the first one is


def test_missing_value_for_threshold(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE.replace(", value: 5}", "}"))
    assert "第 6 行" in message
    assert "condition.value" in message
    assert "缺少必填字段" in message


def test_missing_value_for_peer_benchmark(tmp_path: Path) -> None:
    text = GOOD_RULE.replace(
        "{type: threshold, op: below, value: 5}",
        "\n      type: benchmark\n      op: below\n      benchmark: top25",
    )
    message = error_of(tmp_path, text)
    assert "第 6 行" in message
    assert "condition.value" in message
    assert "前 25%" in message


def test_own_median_takes_no_value(tmp_path: Path) -> None:
    text = GOOD_RULE.replace(
        "{type: threshold, op: below, value: 5}",
        "{type: benchmark, op: below, benchmark: own_median, value: 3}",
    )
    message = error_of(tmp_path, text)
    assert "condition.value" in message
    assert "factor" in message


def test_unknown_condition_type(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE.replace("type: threshold", "type: trend"))
    assert "第 6 行" in message
    assert "trend" in message
    assert "threshold" in message


def test_bad_literal_and_number(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE.replace("op: below", "op: under"))
    assert "第 6 行" in message
    assert "condition.op" in message
    assert "below" in message
    message = error_of(tmp_path, GOOD_RULE.replace("for: 3", "for: yes"))
    assert "第 7 行" in message
    assert "for" in message
    assert "布尔" in message
    message = error_of(tmp_path, GOOD_RULE.replace("for: 3", "for: -1"))
    assert "不能小于 0" in message


def test_min_denominator_only_for_rates(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "    min_denominator: 50\n")
    assert "第 8 行" in message
    assert "min_denominator" in message
    assert "比率" in message


def test_percent_only_for_rates(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE.replace("value: 5}", 'value: "5%"}'))
    assert "condition.value" in message
    assert "百分数" in message


def test_unknown_match_label(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "    match: {account: 主号}\n")
    assert "第 8 行" in message
    assert "match.account" in message
    assert "aweme_name" in message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "    for: 5\n")
    assert "第 8 行" in message
    assert "for" in message
    assert "重复" in message


def test_version_is_required(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE.replace("version: 1\n", ""))
    assert "version" in message
    assert "缺少必填字段" in message
    message = error_of(tmp_path, GOOD_RULE.replace("version: 1", "version: 2"))
    assert "第 1 行" in message
    assert "version" in message


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="找不到告警规则文件"):
        load_rules(tmp_path / "nope.yaml")
    assert "是空的" in error_of(tmp_path, "\n")
    message = error_of(tmp_path, "- just\n- a list\n")
    assert "第 1 行" in message


def test_parse_rules_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"^规则文本 第 1 行"):
        parse_rules("version: 3\nrules: []\n", source="规则文本")
    assert parse_rules("version: 1\nrules: []\n").rules == ()


def test_disabled_rules_are_kept_but_not_enabled(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, GOOD_RULE + "    enabled: false\n"))
    assert len(rules.rules) == 1
    assert rules.enabled == ()


# ---- rates are written in percent, held as fractions ---------------------------------------------------------------------------

RATE_RULE = """
version: 1
rules:
  - name: 点击率偏低
    metric: click_rate
    scope: room
    condition: {type: threshold, op: below, value: VALUE}
    min_denominator: 100
"""


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [('"3%"', 0.03), ('"3.5%"', 0.035), ('"0.8%"', 0.008), ('"100%"', 1.0), ('"0%"', 0.0)],
)
def test_a_rate_threshold_is_a_percent_string_held_as_a_fraction(
    tmp_path: Path, spelling: str, expected: float
) -> None:
    (rule,) = load_rules(write(tmp_path, RATE_RULE.replace("VALUE", spelling))).rules
    assert isinstance(rule.condition, ThresholdCondition)
    assert rule.condition.value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("bare", "meant"),
    [
        ("3", "“3%”"),
        ("80", "“80%”"),
        # 0.8 may be 0.8% (as 罗盘 shows rates, and as rule files meant before rates became
        # fractions) or 80%: both spellings are offered, nothing is guessed
        ("0.8", "“80%”（若指 0.8% 则写 “0.8%”）"),
        ("0.03", "“3%”（若指 0.03% 则写 “0.03%”）"),
        ("0", "“0%”（若指 0% 则写 “0%”）"),
    ],
)
def test_a_bare_number_for_a_rate_is_refused_with_what_may_have_been_meant(
    tmp_path: Path, bare: str, meant: str
) -> None:
    message = error_of(tmp_path, RATE_RULE.replace("VALUE", bare))
    label = METRICS["click_rate"].label
    assert message == (
        f"{tmp_path / 'alerts.yaml'} 第 6 行：规则 “点击率偏低” 的字段 condition.value："
        f"click_rate（{label}）是比率，要写成带百分号的百分数：{meant}（收到 {float(bare):g}）"
    )


def test_benchmark_and_min_sigma_of_a_rate_are_percent_strings_too(tmp_path: Path) -> None:
    bench = RATE_RULE.replace(
        "{type: threshold, op: below, value: VALUE}",
        "{type: benchmark, op: below, benchmark: peer_median, value: 2}",
    )
    assert "“2%”" in error_of(tmp_path, bench)
    anomaly = RATE_RULE.replace(
        "{type: threshold, op: below, value: VALUE}",
        "{type: anomaly, method: cusum, direction: down, min_sigma: 5}",
    )
    message = error_of(tmp_path, anomaly)
    assert "condition.min_sigma" in message
    assert "“5%”" in message
    good = anomaly.replace("min_sigma: 5", 'min_sigma: "5%"')
    (rule,) = load_rules(write(tmp_path, good)).rules
    assert isinstance(rule.condition, AnomalyCondition)
    assert rule.condition.min_sigma == pytest.approx(0.05)
    # on the log scale min_sigma is in log units, whatever the metric
    logged = anomaly.replace("min_sigma: 5", "transform: log, min_sigma: 1.5")
    (rule,) = load_rules(write(tmp_path, logged)).rules
    assert isinstance(rule.condition, AnomalyCondition)
    assert rule.condition.min_sigma == 1.5


def test_a_number_above_one_is_fine_for_a_flow(tmp_path: Path) -> None:
    (rule,) = load_rules(write(tmp_path, GOOD_RULE)).rules
    assert isinstance(rule.condition, ThresholdCondition)
    assert rule.condition.value == 5.0  # 5 new viewers a minute: not a rate


def test_shipped_rate_thresholds_are_fractions() -> None:
    by_name = {r.name: r for r in load_rules(SHIPPED).rules}
    bench = by_name["互动率低于同行"].condition
    assert isinstance(bench, BenchmarkCondition)
    assert bench.value == pytest.approx(0.008)  # "0.8%"
    conv = by_name["转化率异常下降"].condition
    assert isinstance(conv, AnomalyCondition)
    assert conv.min_sigma == pytest.approx(0.05)  # five percentage points


# ---- explaining: skip ---------------------------------------------------------------------------
PRODUCT_RULE = """
version: 1
rules:
  - name: 商品点击激增
    metric: clicks_per_min
    scope: product
    condition: {type: anomaly, method: cusum, direction: up}
    explaining: skip
"""


def test_a_product_rule_may_skip_explained_windows(tmp_path: Path) -> None:
    (rule,) = load_rules(write(tmp_path, PRODUCT_RULE)).rules
    assert rule.explaining == "skip"
    (plain,) = load_rules(write(tmp_path, PRODUCT_RULE.replace("    explaining: skip\n", ""))).rules
    assert plain.explaining == "include"


def test_explaining_is_for_product_rules_only(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD_RULE + "    explaining: skip\n")
    assert "第 8 行" in message
    assert "explaining" in message
    assert "scope: product" in message
    # include says what not writing it says: fine on a room rule
    (rule,) = load_rules(write(tmp_path, GOOD_RULE + "    explaining: include\n")).rules
    assert rule.explaining == "include"


def test_explaining_takes_include_or_skip(tmp_path: Path) -> None:
    message = error_of(tmp_path, PRODUCT_RULE.replace("explaining: skip", "explaining: yes"))
    assert "第 7 行" in message
    assert "explaining" in message
    assert "include、skip" in message
