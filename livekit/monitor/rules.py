"""Alert rules: the YAML file, its checks, and the message templates.

A rules file (``params/alerts.yaml``)::

    version: 1
    defaults:               # applied to every rule (a rule's own value wins; labels merge)
      repeat: 30
      channels: [console]
    channels:               # extra named channels; the notifiers check their settings
      ops-feishu: {type: feishu, webhook_env: LIVEKIT_FEISHU_OPS}
    rules:
      - name: 新进观众偏少
        metric: new_viewers_per_min       # livekit.monitor.metrics.METRICS
        scope: room                       # room | product (must suit the metric)
        condition: {type: threshold, op: below, value: 20}
        window: 5                         # minutes (default: the metric's)
        for: 3                            # pending period, minutes
        message: "{{ room_title }} 新进观众 {{ value_text }}"

Conditions:

* ``{type: threshold, op: below|above, value: X}``;
* ``{type: benchmark, op: below|above, benchmark: peer_median|top25|own_median, value: X,
  factor: 1.0}``: the line is ``factor × benchmark``, where the benchmark is the number copied
  from 罗盘/千川 (``value``, required for ``peer_median`` and ``top25``) or the median of the same
  account's earlier shows at the same minute (``own_median``, no ``value``);
* ``{type: anomaly, method: ewma|cusum, direction: up|down|both, lambda: 0.2, L: 3.0, k: 0.5,
  h: 5.0, baseline: self|history, transform: none|log, warmup: 6, min_sigma: null}``: see
  :mod:`.detect`; ``transform: log`` charts log(1 + value), for counts whose noise grows with
  their level (then σ, ``min_sigma``, k and h are in log units: 0.2 ≈ a 20% change).

A rate's threshold is written with a percent sign, ``value: "3.5%"`` (the rule then holds the
fraction 0.035, as every value does). A bare number for a rate is refused, with the spellings
that may have been meant: the platforms show rates in percent, so ``0.8`` may mean 0.8% or 80%
(rule files written before rates became fractions meant percent), and only the user can say
which. The same holds for ``min_sigma`` of an anomaly rule on a rate (on the linear scale; with ``transform: log`` it is in log units,
rates charted there in percentage points). Other rule fields: ``window``,
``for``, ``min_denominator`` (rates only: a smaller denominator counts as no data), ``repeat``
(minutes between reminders of a still-firing alert; 0 = never), ``no_data: keep|ok|alert``,
``severity: critical|warning|info``, ``labels``, ``channels``, ``match`` (only series whose
labels match, e.g. ``{aweme_name: 某某旗舰店}``), ``explaining: include|skip`` (product rules
only: ``skip`` takes a window in which the product was being explained — 讲解中 at a poll in
or bounding the window, or its explanation count rose — as no data, so an anomaly rule learns
its baseline from, and charts, only the minutes without an explanation: clicks that rise
because of an explanation are expected, clicks that rise without one are news), ``message``
and ``resolved_message`` (Jinja2, sandboxed, undefined variables are errors; see
:data:`TEMPLATE_VARIABLES`; every value is filled in as inert text, see
:mod:`livekit.monitor.markup`), ``enabled``.

Every mistake raises :class:`~livekit.config.ConfigError` with one Chinese line naming the file,
the line and the field, before any polling starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import yaml
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from livekit._yaml import NoAliasSafeLoader, one_line, printable, syntax_error
from livekit.config import ConfigError
from livekit.monitor.markup import message_markdown, message_text
from livekit.monitor.metrics import METRICS, SCOPE_LABELS, LiveMetric, suggest
from livekit.monitor.types import Scope, Severity
from livekit.vocab.labels import SEVERITY_LABELS

BUILTIN_CHANNELS: tuple[str, ...] = ("console", "feishu", "dingtalk", "wecom", "email", "webhook")
MATCH_LABELS: tuple[str, ...] = (
    "room_id",
    "product_id",
    "aweme_id",
    "aweme_name",
    "room_title",
    "product_title",
)

TEMPLATE_VARIABLES: dict[str, str] = {
    "rule": "规则名称",
    "metric": "指标名（英文）",
    "metric_label": "指标中文名",
    "scope": "范围：room 或 product",
    "value": "当前值（数字，比率为小数，如 0.032 即 3.2%；无数据时为空）",
    "value_text": "当前值，带单位",
    "threshold": "比较线（阈值，或 factor × 基准）；异常检测时为空",
    "threshold_text": "比较线，带单位",
    "benchmark": "基准值（同行中位数、前 25% 或往期中位数）；没有时为空",
    "benchmark_text": "基准值，带单位",
    "baseline": "异常检测的基线（正常水平）；没有时为空",
    "baseline_text": "基线，带单位",
    "room_title": "直播间标题",
    "aweme_name": "抖音号名称",
    "room_id": "直播间 ID",
    "product_title": "商品名称（直播间范围的规则为空字符串）",
    "product_id": "商品 ID（直播间范围的规则为空字符串）",
    "minute": "开播第几分钟",
    "since": "条件开始成立的时间（时:分）",
    "duration_min": "已持续的分钟数",
    "severity": "级别：critical、warning 或 info",
    "severity_label": "级别中文：严重、警告、提示",
    "labels": "规则的标签（映射）",
    "note": "补充说明，如“直播已结束”（可能为空）",
}

DEFAULT_MESSAGE = (
    "{{ room_title }}{% if product_title %} · {{ product_title }}{% endif %}："
    "{{ metric_label }} {{ value_text }}"
    "{% if threshold_text %}（比较线 {{ threshold_text }}）{% endif %}"
)
DEFAULT_RESOLVED_MESSAGE = (
    "已恢复：{{ room_title }}{% if product_title %} · {{ product_title }}{% endif %}："
    "{{ metric_label }} {{ value_text }}{% if note %}（{{ note }}）{% endif %}"
)

_CONDITION_TYPES = ("threshold", "benchmark", "anomaly")


# ---- models ------------------------------------------------------------------------------


def _no_bool(value: Any) -> Any:
    # YAML reads yes/no/true/false as booleans; pydantic would take them as 1/0.
    if isinstance(value, bool):
        raise ValueError(f"应为数字，收到布尔值 {str(value).lower()}")
    return value


def _percent(value: Any) -> Any:
    """``"3.5%"`` → 0.035: rates are fractions, and a percent string says the same."""
    value = _no_bool(value)
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"应为数字或百分数（如 3.5%），收到 “{value}”") from None
    return value


Number = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
Minutes = Annotated[float, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False)]
PositiveMinutes = Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)]
Level = Annotated[float, BeforeValidator(_percent), Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdCondition(_Model):
    """The value is below or above a fixed number."""

    type: Literal["threshold"]
    op: Literal["below", "above"]
    value: Level


class BenchmarkCondition(_Model):
    """The value is below or above ``factor`` × a benchmark."""

    type: Literal["benchmark"]
    op: Literal["below", "above"]
    benchmark: Literal["peer_median", "top25", "own_median"]
    value: Level | None = None
    factor: Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)] = 1.0


class AnomalyCondition(_Model):
    """An EWMA or tabular CUSUM control chart on the value (or its residual vs. history)."""

    type: Literal["anomaly"]
    method: Literal["ewma", "cusum"]
    direction: Literal["up", "down", "both"] = "both"
    lambda_: Annotated[
        float, BeforeValidator(_no_bool), Field(gt=0, le=1, alias="lambda", allow_inf_nan=False)
    ] = 0.2
    L: Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)] = 3.0
    k: Annotated[float, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False)] = 0.5
    h: Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)] = 5.0
    baseline: Literal["self", "history"] = "self"
    transform: Literal["none", "log"] = "none"
    warmup: Annotated[int, Field(ge=3)] = 6
    min_sigma: Annotated[
        float | None, BeforeValidator(_percent), Field(gt=0, allow_inf_nan=False)
    ] = None


Condition = Annotated[
    ThresholdCondition | BenchmarkCondition | AnomalyCondition, Field(discriminator="type")
]
MatchValue = str | int | list[str | int]


class _Defaults(_Model):
    """What ``defaults:`` may set for every rule."""

    for_: Minutes | None = Field(default=None, alias="for")
    repeat: Minutes | None = None
    no_data: Literal["keep", "ok", "alert"] | None = None
    severity: Severity | None = None
    labels: dict[str, str] | None = None
    channels: list[str] | None = None
    match: dict[str, MatchValue] | None = None
    min_denominator: Annotated[float, BeforeValidator(_no_bool), Field(ge=0)] | None = None
    message: str | None = None
    resolved_message: str | None = None


class Rule(_Model):
    """One alert rule, as written (``window`` None means the metric's default)."""

    name: Annotated[str, Field(min_length=1)]
    metric: str
    scope: Scope
    condition: Condition
    window: PositiveMinutes | None = None
    for_: Minutes = Field(default=0.0, alias="for")
    min_denominator: Annotated[float, BeforeValidator(_no_bool), Field(ge=0)] | None = None
    repeat: Minutes = 30.0
    no_data: Literal["keep", "ok", "alert"] = "keep"
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    channels: tuple[str, ...] = ("console",)
    match: dict[str, MatchValue] = Field(default_factory=dict)
    explaining: Literal["include", "skip"] = "include"
    message: str = DEFAULT_MESSAGE
    resolved_message: str = DEFAULT_RESOLVED_MESSAGE
    enabled: bool = True

    @property
    def spec(self) -> LiveMetric:
        """The metric's registry entry (checked at load)."""
        return METRICS[self.metric]

    @property
    def window_min(self) -> float:
        """The window in minutes: the rule's, or the metric's default."""
        return self.window if self.window is not None else self.spec.default_window

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a series with these labels is one this rule watches."""
        for key, wanted in self.match.items():
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if labels.get(key) not in {str(a) for a in allowed}:
                return False
        return True


class _File(_Model):
    version: Literal[1]
    defaults: dict[str, Any] | None = None
    channels: dict[str, dict[str, Any]] | None = None
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class RuleSet:
    """The checked rules of one file; ``channels`` is the raw ``channels:`` mapping."""

    rules: tuple[Rule, ...]
    channels: Mapping[str, Mapping[str, Any]]
    source: str = "<rules>"
    lines: Mapping[str, int] | None = None  # rule name → line of the rule in the file

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def channel_names(self) -> tuple[str, ...]:
        """Every channel some enabled rule sends to, in first-use order."""
        seen: dict[str, None] = {}
        for rule in self.enabled:
            for name in rule.channels:
                seen.setdefault(name, None)
        return tuple(seen)


# ---- templates -----------------------------------------------------------------------------

TemplateFormat = Literal["text", "markdown"]


def _environment(finalize: Callable[[Any], str] | None = None) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, finalize=finalize
    )


# The template's own text is the user's and is kept as written (it may use Markdown or an
# @-mention on purpose); every ``{{ … }}`` output goes through ``finalize``, which makes the value
# inert in the message format (see livekit.monitor.markup): upstream text never becomes markup.
_ENV = _environment()  # parsing and checks only
_FORMATS: dict[str, SandboxedEnvironment] = {
    "text": _environment(message_text),
    "markdown": _environment(message_markdown),
}


def compile_template(source: str, fmt: TemplateFormat = "text") -> jinja2.Template:
    """A sandboxed template whose undefined variables raise and whose values are inert in
    ``fmt`` (``text``: 飞书 text, e-mail text, console; ``markdown``: 钉钉, 企业微信, e-mail HTML)."""
    return _FORMATS[fmt].from_string(source)


def sample_context(rule: Rule, *, value: float | None = 12.5) -> dict[str, Any]:
    """A context with every template variable, as the engine fills it (for load-time checks)."""
    spec = rule.spec
    product = rule.scope == "product"
    line = 0.1 if spec.is_rate else 10.0  # rates are fractions
    return {
        "rule": rule.name,
        "metric": rule.metric,
        "metric_label": spec.label_for(rule.scope),
        "scope": rule.scope,
        "value": value,
        "value_text": spec.format(value),
        "threshold": line,
        "threshold_text": spec.format(line),
        "benchmark": line,
        "benchmark_text": spec.format(line),
        "baseline": line,
        "baseline_text": spec.format(line),
        "room_title": "示例直播间",
        "aweme_name": "示例抖音号",
        "room_id": "7000000000000000000",
        "product_title": "示例商品" if product else "",
        "product_id": "3500000000000000000" if product else "",
        "minute": 42,
        "since": "20:15",
        "duration_min": 5,
        "severity": rule.severity,
        "severity_label": SEVERITY_LABELS[rule.severity],
        "labels": dict(rule.labels),
        "note": "",
    }


def _template_problem(source: str, rule: Rule) -> str | None:
    """Why a message template can't be used, in Chinese; None when it renders."""
    try:
        parsed = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"模板语法错误（模板第 {exc.lineno} 行：{exc.message}）"
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(TEMPLATE_VARIABLES))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(TEMPLATE_VARIABLES), n=1)
        hint = f"，是不是 {close[0]}？" if close else "。"
        return f"模板里的变量 {unknown[0]} 不存在{hint}可用变量：{'、'.join(TEMPLATE_VARIABLES)}"
    templates = [compile_template(source, fmt) for fmt in ("text", "markdown")]
    sample = 0.125 if rule.spec.is_rate else 12.5
    values: list[float | None] = [sample, None] if rule.no_data == "alert" else [sample]
    for value in values:
        try:
            for template in templates:
                template.render(sample_context(rule, value=value))
        except jinja2.TemplateError as exc:
            when = "（无数据时）" if value is None else ""
            return f"模板无法渲染{when}：{exc}"
        except (TypeError, ValueError, ArithmeticError) as exc:
            when = "（无数据时 value 为空）" if value is None else ""
            return f"模板无法渲染{when}：{exc}"
    return None


# ---- locating errors in the YAML --------------------------------------------------------------

Loc = tuple[str | int, ...]


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(key node, value node) of ``key`` in a mapping, or (None, item) in a sequence."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                return k, v
    elif (
        isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value)
    ):
        return None, node.value[key]
    return None, None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _walk(root: yaml.Node, loc: Loc) -> tuple[int, Loc]:
    """The line of what ``loc`` points at, and the part of ``loc`` that names YAML fields.

    Elements that are not in the YAML (the tag pydantic adds for a tagged union, a type name
    for a plain union) are skipped; a last element that is not there (a missing field) is kept
    in the path, at the line of the mapping that should hold it.
    """
    node, line = root, _line(root)
    path: list[str | int] = []
    for i, element in enumerate(loc):
        key_node, child = _child(node, element)
        if child is None:
            last = i == len(loc) - 1
            if last and isinstance(element, str) and element not in _CONDITION_TYPES:
                path.append(element)
            continue
        path.append(element)
        node = child
        line = _line(key_node if key_node is not None else child)
    return line, tuple(path)


def _path_text(path: Loc) -> str:
    out = ""
    for element in path:
        out += f"[{element}]" if isinstance(element, int) else ("." if out else "") + element
    return out


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"“{value}”"
    return text if len(text) <= 60 else text[:57] + "..."


_PROBLEMS = {
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "string_type": "应为文本",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "dict_type": "应为映射（“名称: 值”）",
    "model_type": "应为映射（“名称: 值”）",
    "model_attributes_type": "应为映射（“名称: 值”）",
    "list_type": "应为列表",
    "tuple_type": "应为列表",
    "string_too_short": "不能为空",
}


def _problem(error: Mapping[str, Any], allowed_keys: Sequence[str] = ()) -> str:
    """One Chinese phrase for one pydantic error."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "missing":
        return "缺少必填字段"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), list(allowed_keys), n=1)
        if close:
            return f"未知字段，是不是 {close[0]}？"
        return "未知字段" + (f"（可用字段：{'、'.join(allowed_keys)}）" if allowed_keys else "")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"取值无效（收到 {_shown(got)}），应为 {'、'.join(expected.split(', '))} 之一"
    if kind == "union_tag_invalid":
        return f"type 取值无效（收到 {_shown(ctx.get('tag'))}），应为 {'、'.join(_CONDITION_TYPES)} 之一"
    if kind == "union_tag_not_found":
        return f"缺少 type（{'、'.join(_CONDITION_TYPES)} 之一）"
    if kind == "greater_than":
        return f"应大于 {ctx.get('gt')}（收到 {_shown(got)}）"
    if kind == "greater_than_equal":
        return f"不能小于 {ctx.get('ge')}（收到 {_shown(got)}）"
    if kind == "less_than_equal":
        return f"不能大于 {ctx.get('le')}（收到 {_shown(got)}）"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "取值无效")))
    if kind in _PROBLEMS:
        shown = "" if isinstance(got, dict | list) else f"，收到 {_shown(got)}"
        return _PROBLEMS[kind] + shown
    return str(error.get("msg", "取值无效"))


def _allowed_keys(loc: Loc, condition: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The keys a mapping at ``loc`` (the parent of an unknown key) accepts."""
    parent = [e for e in loc[:-1] if isinstance(e, str) and e not in _CONDITION_TYPES]
    model: type[BaseModel]
    if parent and parent[-1] == "condition":
        kind = (condition or {}).get("type")
        conditions: dict[str, type[BaseModel]] = {
            "threshold": ThresholdCondition,
            "benchmark": BenchmarkCondition,
            "anomaly": AnomalyCondition,
        }
        model = conditions.get(str(kind), ThresholdCondition)
    elif parent and parent[-1] == "defaults":
        model = _Defaults
    elif not parent:
        model = Rule
    else:
        return ()
    return tuple(f.alias or name for name, f in model.model_fields.items())


class _Errors:
    """Builds the one-line ConfigError for a place in the file."""

    def __init__(self, root: yaml.Node, source: str) -> None:
        self.root = root
        self.source = source

    def at(
        self,
        loc: Loc,
        problem: str,
        *,
        rule: str | None = None,
        rule_loc: Loc = (),
        note: str = "",
    ) -> ConfigError:
        line, path = _walk(self.root, rule_loc + loc)
        field = _path_text(path[len(rule_loc) :] if rule_loc else path)
        where = f"{self.source} 第 {line} 行："
        if rule is not None:
            what = f"规则 “{rule}” 的字段 {field}" if field else f"规则 “{rule}”"
        else:
            what = f"字段 {field}" if field else ""
        what += note
        # names and values quoted from the file may hold line breaks: one line, escaped
        return ConfigError(printable(where + (what + "：" if what else "") + problem))


# ---- loading ---------------------------------------------------------------------------------


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    try:
        # SafeLoader refusing anchors/aliases (alias bombs); it reads (and checks) the text at once
        loader = NoAliasSafeLoader(text)
    except yaml.YAMLError as exc:  # a control character: the reader refuses the whole text
        raise ConfigError(f"{source}：YAML 格式错误（{one_line(exc)}）") from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(syntax_error(exc, source)) from None
    finally:
        loader.dispose()
    return node, data


def _check_duplicate_keys(node: yaml.Node, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise ConfigError(
                        f"{source} 第 {_line(key)} 行：字段 {printable(key.value)} 重复"
                        f"（第 {seen[key.value]} 行已写过）"
                    )
                seen[key.value] = _line(key)
            _check_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, source)


def load_rules(path: Path | str) -> RuleSet:
    """Read and check a rules file; any mistake raises ConfigError naming file, line, field."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, or a device read forever (/dev/zero)
        raise ConfigError(f"告警规则文件 {path} 不是普通文件")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"找不到告警规则文件 {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"无法读取告警规则文件 {path}：{exc}") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Check the text of a rules file (see the module docstring for the format)."""
    node, data = _compose(text, source)
    if node is None or data is None:
        raise ConfigError(f"{source}：告警规则文件是空的（至少需要 version: 1 和 rules:）")
    _check_duplicate_keys(node, source)
    errors = _Errors(node, source)
    if not isinstance(data, dict):
        raise errors.at((), "应为映射，包含 version、defaults、channels、rules")
    try:
        top = _File.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        allowed = ("version", "defaults", "channels", "rules") if len(loc) == 1 else ()
        problem = _problem(first, allowed)
        if loc == ("version",):
            problem += "（文件开头写 version: 1）"
        raise errors.at(loc, problem) from None

    defaults_raw = dict(top.defaults or {})
    try:
        _Defaults.model_validate(defaults_raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ("defaults", *first["loc"])
        raise errors.at(loc, _problem(first, _allowed_keys(loc, None))) from None
    channels = dict(top.channels or {})
    known_channels = set(BUILTIN_CHANNELS) | set(channels)

    rules: list[Rule] = []
    lines: dict[str, int] = {}
    for i, raw in enumerate(top.rules):
        rule = _check_rule(i, raw, defaults_raw, known_channels, errors)
        if rule.name in lines:
            raise errors.at(
                ("name",),
                f"规则名称重复（第 {lines[rule.name]} 行已有同名规则），请改成不同的名称",
                rule=rule.name,
                rule_loc=("rules", i),
            )
        lines[rule.name] = _walk(node, ("rules", i))[0]
        rules.append(rule)
    return RuleSet(rules=tuple(rules), channels=channels, source=source, lines=lines)


def _merge(defaults: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in defaults.items() if k != "labels"}
    merged.update(raw)
    if "labels" in defaults or "labels" in raw:
        labels = dict(defaults.get("labels") or {})
        if isinstance(raw.get("labels"), dict):
            labels.update(raw["labels"])
        elif "labels" in raw:
            labels = raw["labels"]  # let validation report the wrong type
        merged["labels"] = labels
    return merged


def _check_rule(
    i: int,
    raw: dict[str, Any],
    defaults: Mapping[str, Any],
    known_channels: set[str],
    errors: _Errors,
) -> Rule:
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    here: Loc = ("rules", i)
    merged = _merge(defaults, raw)
    # defaults.min_denominator only concerns rates; it is dropped for other metrics
    spec = METRICS.get(str(raw.get("metric")))
    if "min_denominator" not in raw and (spec is None or not spec.is_rate):
        merged.pop("min_denominator", None)

    def fail(loc: Loc, problem: str) -> ConfigError:
        if loc and loc[0] not in raw and loc[0] in defaults:
            used = f"（规则 “{name}” 用到它）" if name else ""
            return errors.at(("defaults", *loc), problem, note=used)
        return errors.at(loc, problem, rule=name, rule_loc=here)

    try:
        rule = Rule.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        condition = raw.get("condition") if isinstance(raw.get("condition"), dict) else None
        raise fail(loc, _problem(first, _allowed_keys(loc, condition))) from None

    spec = METRICS.get(rule.metric)
    if spec is None:
        close = suggest(rule.metric)
        hint = f"是不是 {close}？" if close else f"可用指标：{'、'.join(METRICS)}"
        raise fail(("metric",), f"未知指标 {rule.metric}，{hint}")
    if rule.scope not in spec.scopes:
        allowed = "、".join(f"{s}（{SCOPE_LABELS[s]}）" for s in sorted(spec.scopes))
        raise fail(
            ("scope",),
            f"指标 {rule.metric}（{spec.label}）不能用于 {rule.scope}，只能用于 {allowed}",
        )
    if rule.min_denominator is not None and not spec.is_rate:
        raise fail(
            ("min_denominator",),
            f"只有比率指标需要最小分母；{rule.metric}（{spec.label}）不是比率，请删去这一项",
        )
    if rule.explaining == "skip" and rule.scope != "product":
        raise fail(
            ("explaining",),
            "只有商品范围（scope: product）的规则能跳过讲解中的窗口，直播间没有讲解状态；"
            "请删去这一项",
        )
    _check_condition(rule, spec, raw, fail)
    for j, channel in enumerate(rule.channels):
        if channel not in known_channels:
            similar = difflib.get_close_matches(channel, sorted(known_channels), n=1)
            hint = f"是不是 {similar[0]}？" if similar else ""
            raise fail(
                ("channels", j),
                f"未知通知渠道 {channel}。{hint}内置渠道：{'、'.join(BUILTIN_CHANNELS)}；"
                "其他名称需先在文件顶层 channels: 中声明",
            )
    for key in rule.match:
        if key not in MATCH_LABELS:
            raise fail(("match", key), f"不能按 {key} 筛选，可用：{'、'.join(MATCH_LABELS)}")
    for template_field in ("message", "resolved_message"):
        problem = _template_problem(getattr(rule, template_field), rule)
        if problem is not None:
            raise fail((template_field,), problem)
    return rule


def _bare_rate_problem(metric: str, spec: LiveMetric, given: float) -> str:
    """Why a rate needs a percent sign, with the spellings of what may have been meant."""
    as_percent = f"{given:.6f}".rstrip("0").rstrip(".") + "%"
    if given > 1:  # only "given percent" makes sense
        meant = f"“{as_percent}”"
    else:  # 0.8 may be 0.8% (how 罗盘 shows it) or 80% (as a fraction): the user must say
        as_fraction = f"{given * 100:.6f}".rstrip("0").rstrip(".") + "%"
        meant = f"“{as_fraction}”（若指 {as_percent} 则写 “{as_percent}”）"
    return f"{metric}（{spec.label}）是比率，要写成带百分号的百分数：{meant}（收到 {given:g}）"


def _check_condition(rule: Rule, spec: LiveMetric, raw: Mapping[str, Any], fail: Any) -> None:
    cond = rule.condition
    given_cond = raw.get("condition")
    raw_cond: Mapping[str, Any] = given_cond if isinstance(given_cond, dict) else {}
    for key in ("value", "min_sigma"):
        given = raw_cond.get(key)
        if isinstance(given, str) and given.strip().endswith("%") and not spec.is_rate:
            raise fail(
                ("condition", key),
                f"{rule.metric}（{spec.label}）不是比率，不能写百分数（收到 “{given}”）",
            )
        parsed = getattr(cond, key, None)
        in_log_units = key == "min_sigma" and raw_cond.get("transform") == "log"
        percent = isinstance(given, str) and given.strip().endswith("%")
        if spec.is_rate and not in_log_units and not percent and parsed is not None:
            raise fail(("condition", key), _bare_rate_problem(rule.metric, spec, parsed))
    if isinstance(cond, BenchmarkCondition):
        if cond.benchmark in ("peer_median", "top25") and cond.value is None:
            what = "同行中位数" if cond.benchmark == "peer_median" else "同行前 25% 线"
            raise fail(
                ("condition", "value"),
                f"缺少必填字段：benchmark 为 {cond.benchmark} 时要写{what}的数值"
                "（从罗盘或千川抄下来的数字）",
            )
        if cond.benchmark == "own_median" and cond.value is not None:
            raise fail(
                ("condition", "value"),
                "own_median 取本账号往期同一分钟的中位数，不需要 value；要打折请用 factor（如 0.7）",
            )
