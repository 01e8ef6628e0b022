"""A report's parameters: what the notebook declares, what ``params/<name>.yaml`` gives, checks.

The notebook declares its parameters in the one code cell tagged ``parameters``: plain
assignments of literals, optionally annotated, one per line, a comment saying what it is::

    start = "last_7_days"  # 开始日期或区间（last_7_days、yesterday、2026-11-01 …）
    end: str | None = None  # 结束日期（含）
    metrics = ["gmv", "roas"]  # 指标名称，见 livekit.vocab.metrics

The type of a parameter is its annotation when there is one, else the type of its default
(``None`` accepts anything). ``params/<name>.yaml`` may set only declared parameters, with
values of the declared type; it is read exactly as ``papermill -f`` reads it (YAML without
implicit dates, so ``2026-11-01`` stays a string). Before anything runs, values are also
checked by what their names mean:

* ``start``/``end``, ``start_date``/``end_date``, ``<x>_start``/``<x>_end``: a date range,
  resolved by :func:`livekit.dates.resolve_range` against the report's date (so the end may
  not come before the start, nor after the report's date);
* ``date``, ``day``, ``<x>_date``, ``<x>_day``: one day (:func:`livekit.dates.resolve_day`);
* ``metric``, ``metrics``, ``<x>_metric``, ``<x>_metrics`` whose default names metrics of the
  one registry (:mod:`livekit.vocab.metrics`): names in that registry, of the family the
  default's names share when that is ``room`` or ``live``.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from livekit._yaml import NoAliasSafeLoader, one_line, printable, syntax_error
from livekit.reports.project import Report, ReportError
from livekit.vocab.errors import LivekitError
from livekit.vocab.metrics import Family

PARAMETERS_TAG = "parameters"
SHOP_PARAMETER = "shop"  # the shop a report is for (an id of the shops file; livekit.shops)


class ParameterError(ReportError):
    """Parameters that do not fit the notebook; the message names the parameter and the file."""


class NoDatesSafeLoader(NoAliasSafeLoader):
    """YAML as ``papermill -f`` reads it (papermill.iorw.NoDatesSafeLoader): dates stay strings.

    Unlike papermill's, it refuses anchors and aliases (see :mod:`livekit._yaml`): a params or
    schedules file is checked by this loader before papermill ever reads it.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - the base class's own attribute
        key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


# ---- types -----------------------------------------------------------------------------------

_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
}
_TYPE_LABELS: dict[type | None, str] = {
    int: "整数",
    float: "数字",
    str: "文本",
    bool: "布尔值（true/false）",
    list: "列表",
    dict: "映射",
    None: "任意值",
}


@dataclass(frozen=True)
class Kind:
    """What a parameter accepts: a base type (``None``: anything), list items, whether null."""

    base: type | None
    item: type | None = None
    optional: bool = False

    def label(self) -> str:
        text = _TYPE_LABELS[self.base]
        if self.base is list and self.item is not None:
            text = f"{_TYPE_LABELS[self.item]}的列表"
        return text + ("或 null" if self.optional and self.base is not None else "")

    def problem(self, value: object) -> str | None:
        """Why ``value`` does not fit, in Chinese; None when it does."""
        if value is None:
            return None if self.optional or self.base is None else f"应为{self.label()}，不能为空"
        if not _fits(value, self.base):
            return f"应为{self.label()}，收到{describe(value)}"
        if self.base is list and self.item is not None and isinstance(value, list):
            for i, element in enumerate(value, start=1):
                if not _fits(element, self.item):
                    return f"应为{self.label()}，第 {i} 项是{describe(element)}"
        return None


def _fits(value: object, base: type | None) -> bool:
    if base is None:
        return True
    if base is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is list:
        return isinstance(value, list | tuple)
    return isinstance(value, base)


def describe(value: object) -> str:
    """``value`` with its type, as a Chinese phrase: 文本 "7"、整数 7、列表 [1, 2]."""
    shown = printable(json.dumps(value, ensure_ascii=False, default=str))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    base = next((t for t in (bool, int, float, str, list, dict) if isinstance(value, t)), None)
    label = "空值" if value is None else _TYPE_LABELS.get(base, type(value).__name__)
    return f"{label.split('（')[0]} {shown}"


def _kind_of_default(value: object) -> Kind:
    if value is None:
        return Kind(None, optional=True)
    for base in (bool, int, float, str, dict):
        if isinstance(value, base):
            return Kind(base)
    if isinstance(value, list | tuple):
        items = {type(v) for v in value}
        item = items.pop() if len(items) == 1 else None
        if item is int and all(not isinstance(v, bool) for v in value):
            item = None  # [1, 2] may well become [1.5, 2]: do not pin ints
        return Kind(list, item if item in (str, bool) else None)
    return Kind(None)


def _kind_of_annotation(node: ast.expr) -> Kind | None:
    """int, float, str, bool, list, dict, list[X], X | None, Optional[X]; None otherwise."""
    if isinstance(node, ast.Name) and node.id in _TYPES:
        return Kind(_TYPES[node.id])
    if isinstance(node, ast.Constant) and node.value is None:
        return Kind(None, optional=True)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [node.left, node.right]
        nones = [s for s in sides if isinstance(s, ast.Constant) and s.value is None]
        others = [s for s in sides if s not in nones]
        if len(nones) == 1 and len(others) == 1:
            inner = _kind_of_annotation(others[0])
            return Kind(inner.base, inner.item, optional=True) if inner else None
        return None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        outer, inner_node = node.value.id, node.slice
        if outer == "Optional":
            inner = _kind_of_annotation(inner_node)
            return Kind(inner.base, inner.item, optional=True) if inner else None
        if outer in ("list", "List"):
            item = _kind_of_annotation(inner_node)
            return Kind(list, item.base if item and not item.optional else None)
        if outer in ("dict", "Dict"):
            return Kind(dict)
    return None


# ---- what the notebook declares ----------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One parameter of a notebook's ``parameters`` cell."""

    name: str
    default: Any
    kind: Kind
    comment: str = ""


def parameters_cell(nb: Mapping[str, Any]) -> tuple[int, str] | None:
    """(index, source) of the cell tagged ``parameters``, or None."""
    for index, cell in enumerate(nb.get("cells", [])):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in tags:
            source = cell.get("source", "")
            return index, "".join(source) if isinstance(source, list) else str(source)
    return None


def declared_parameters(notebook: Path) -> dict[str, Parameter]:
    """The parameters declared in ``notebook``'s ``parameters`` cell ({} when it has none).

    Every statement of that cell must assign a literal to a name; anything else is a
    :class:`ParameterError` naming the line, since it could not be checked before running.
    """
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"无法读取笔记本 {notebook}：{exc}") from None
    found = parameters_cell(nb)
    if found is None:
        return {}
    _, source = found
    where = f"{notebook} 的 parameters 单元格"
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{where}第 {exc.lineno} 行有语法错误：{exc.msg}") from None
    comments = _comments(source)
    out: dict[str, Parameter] = {}
    for stmt in tree.body:
        name, value_node, annotation = _assignment(stmt)
        if name is None or value_node is None:
            raise ParameterError(
                f"{where}第 {stmt.lineno} 行不是“名称 = 字面量”的赋值："
                f"{ast.get_source_segment(source, stmt)!r}"
            )
        try:
            default = ast.literal_eval(value_node)
        except ValueError:
            raise ParameterError(
                f"{where}第 {stmt.lineno} 行：参数 {name} 的默认值应为字面量（数字、文本、列表…），"
                f"收到 {ast.get_source_segment(source, value_node)!r}"
            ) from None
        kind = (_kind_of_annotation(annotation) if annotation else None) or _kind_of_default(
            default
        )
        if default is None and kind.base is not None:
            kind = Kind(kind.base, kind.item, optional=True)
        span = range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)
        comment = " ".join(comments[line] for line in span if line in comments)
        out[name] = Parameter(name, default, kind, comment)
    return out


def _assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            return target.id, stmt.value, None
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value, stmt.annotation
    return None, None, None


def _comments(source: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


# ---- what params/<name>.yaml gives ----------------------------------------------------------


def load_yaml(path: Path, *, what: str = "参数", shown: str | None = None) -> dict[str, Any]:
    """A YAML mapping from ``path`` ({} when the file is missing or empty).

    Syntax errors become one Chinese line with the line and column. ``shown`` is how the
    file is named in messages (default: its path).
    """
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"无法读取{what}文件 {shown}：{exc}") from None
    try:
        data = yaml.load(text, Loader=NoDatesSafeLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ParameterError(syntax_error(exc, shown)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{shown} 应为“名称: 值”的映射，收到{describe(data)}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ParameterError(f"{shown}：名称应为文本，收到{describe(bad[0])}")
    return data


def check_names_and_types(
    declared: Mapping[str, Parameter], given: Mapping[str, Any], *, source: str, notebook: Path
) -> None:
    """Every given name is declared and every value has the declared type."""
    problems: list[str] = []
    for name, value in given.items():
        param = declared.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f"，是不是 {close[0]}？" if close else ""
            listed = "、".join(declared) or "（无：没有标记为 parameters 的单元格）"
            problems.append(f"未知参数 {name!r}{hint}（{notebook.name} 声明的参数：{listed}）")
            continue
        problem = param.kind.problem(value)
        if problem:
            problems.append(f"参数 {name} {problem}")
    if problems:
        raise ParameterError(f"{source}：" + "；".join(problems))


# ---- what the values mean ---------------------------------------------------------------------


def check_meanings(
    values: Mapping[str, Any],
    sources: Mapping[str, str],
    day: date,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Dates resolve (start ≤ end ≤ ``day``) and metric names exist; see the module docstring.

    A metric parameter is checked against the registry only when its default (in
    ``defaults``) names registry metrics: a notebook may use ``metrics`` for other names.
    """
    from livekit.dates import resolve_day, resolve_range

    checks: list[tuple[tuple[str, ...], Callable[[], object]]] = []
    paired: set[str] = set()
    for start_name, start in values.items():
        end_name = _partner(start_name)
        if end_name is None or end_name not in values:
            continue
        paired |= {start_name, end_name}
        end = values[end_name]
        if isinstance(start, str) and (end is None or isinstance(end, str)):
            checks.append(((start_name, end_name), partial(resolve_range, start, end, on=day)))
    for name, value in values.items():
        if name in paired or not isinstance(value, str):
            continue
        if _partner(name) is not None:  # a start without its end: a day or a range word
            checks.append(((name,), partial(resolve_range, value, on=day)))
        elif name in ("date", "day", "end") or name.endswith(("_date", "_day", "_end")):
            checks.append(((name,), partial(resolve_day, value, name=name, on=day)))
    for name, value in values.items():
        if name in ("metric", "metrics") or name.endswith(("_metric", "_metrics")):
            given = _names(value)
            default = _names((defaults or {}).get(name))
            if given is not None and _registry_metrics(default):
                checks.append(((name,), partial(_check_metrics, given, _implied_kind(default))))
    for params, check in checks:
        try:
            check()
        except LivekitError as exc:
            shown = "、".join(params)
            raise ParameterError(f"{sources.get(params[0], '')}：参数 {shown}：{exc}") from None


def _partner(name: str) -> str | None:
    if name == "start":
        return "end"
    if name == "start_date":
        return "end_date"
    if name.endswith("_start"):
        return name.removesuffix("_start") + "_end"
    return None


def _names(value: object) -> list[str] | None:
    """``value`` as a list of names (a name, or a list of them), or None."""
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None


def _registry_metrics(names: list[str] | None) -> bool:
    """Whether a parameter's default names metrics of the one registry (then its values
    must too); a notebook may use ``metrics`` for names of its own."""
    if not names:
        return False
    from livekit.vocab.metrics import METRICS

    return all(n in METRICS for n in names)


def _implied_kind(names: list[str] | None) -> Family | None:
    """The metric family a parameter's default implies: ``room`` or ``live`` when every
    default name is of that family; None (any family) otherwise, e.g. for experiment metrics,
    whose valid names depend on the experiment's unit (the report checks them by unit)."""
    from livekit.vocab.metrics import METRICS

    families = {METRICS[n].family for n in names or () if n in METRICS}
    if len(families) == 1 and (family := families.pop()) in ("room", "live"):
        return family
    return None


def _check_metrics(names: list[str], kind: Family | None = None) -> None:
    from livekit.vocab.metrics import resolve

    resolve(names, kind)


# ---- overrides for one run: -f files and -p values ------------------------------------------

CLI_SOURCE = "命令行 -p"
"""How ``-p`` values are named in messages."""


@dataclass(frozen=True)
class Overrides:
    """Parameters for one run on top of ``params/<name>.yaml``, as papermill's ``-f``/``-p``.

    ``files`` are YAML files read like the params file, applied in order; ``values`` are
    ``(name, text)`` pairs as typed after ``-p`` (or, from Python, ``(name, value)``), applied
    after every file (a later one wins).
    """

    files: tuple[Path, ...] = ()
    values: tuple[tuple[str, Any], ...] = ()

    def names(self) -> list[str]:
        """Every parameter name the overrides set (files read now), in order, once each."""
        found: list[str] = []
        for _, layer in self.layers({}):
            found += layer
        return list(dict.fromkeys(found))

    def layers(self, declared: Mapping[str, Parameter]) -> list[tuple[str, dict[str, Any]]]:
        """(source shown in messages, values) for each ``-f`` file, then one for the ``-p``s."""
        out: list[tuple[str, dict[str, Any]]] = []
        for path in self.files:
            shown = f"-f {path}"
            if not path.is_file():
                raise ParameterError(f"找不到参数文件 {path}（-f）")
            out.append((shown, load_yaml(path, shown=shown)))
        if self.values:
            given = {name: cli_value(name, text, declared.get(name)) for name, text in self.values}
            out.append((CLI_SOURCE, given))
        return out


def cli_value(name: str, text: Any, param: Parameter | None = None) -> Any:
    """The value of ``-p name text``: YAML, read like a params file (``0.1``, ``true``, ``null``,
    ``[gmv, roas]``; ``2026-11-01`` stays text), except that a text or date parameter takes
    the text as typed (``-p title 2026``, ``-p start -29``) unless it is ``null``. A value that
    is not text (given from Python) is taken as it is."""
    if not isinstance(text, str):
        return text
    as_typed = param is not None and (
        param.kind.base is str or _is_date_name(name) or name == SHOP_PARAMETER
    )
    try:
        value = yaml.load(text, Loader=NoDatesSafeLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        if as_typed:
            return text
        raise ParameterError(
            f"{CLI_SOURCE}：参数 {name} 的值不是有效的 YAML（{one_line(exc)}）"
        ) from None
    if as_typed and not isinstance(value, str) and not (value is None and text.strip() in NULLS):
        return text  # a number, a list, or nothing but a comment (``#...``): the text as typed
    return value


NULLS = ("null", "Null", "NULL", "~")
"""How ``-p`` says "no value" (YAML's spellings of null)."""


def _days_as_text(given: dict[str, Any], declared: Mapping[str, Parameter]) -> dict[str, Any]:
    """``given`` with the whole numbers of text date parameters as text: ``start: -29`` in a
    YAML file is the day ``-29`` of :mod:`livekit.dates`, as ``start: "-29"`` is (the
    notebook's ``resolve_day`` reads both alike, so papermill alone renders the same). So is
    a ``shop`` id written as a number (``shop: 1001``)."""
    out = dict(given)
    for name, value in given.items():
        param = declared.get(name)
        text_kind = param is not None and param.kind.base in (str, None)
        if text_kind and (_is_date_name(name) or name == SHOP_PARAMETER) and type(value) is int:
            out[name] = str(value)  # a shop id may be all digits: it is still an id
    return out


def _is_date_name(name: str) -> bool:
    """Whether ``name`` is a date parameter (see the module docstring)."""
    if name in ("date", "day", "start", "end", "start_date", "end_date"):
        return True
    return name.endswith(("_date", "_day", "_start", "_end"))


def _secrets(*folders: Path) -> set[str]:
    from livekit.credentials import secret_values

    return secret_values(folders)


def check_no_secrets(given: Mapping[str, Any], *, source: str, secrets: set[str]) -> None:
    """No value holds a credential: they are never parameters (a notebook reads them itself).

    Checked before anything else of the values, and the message never quotes the value.
    """
    if not secrets:
        return

    def holds(value: object) -> bool:
        if isinstance(value, Mapping):
            return any(holds(k) or holds(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(holds(v) for v in value)
        return any(s in str(value) for s in secrets)

    for name, value in given.items():
        if holds(name) or holds(value):
            shown = "" if holds(name) else f" {printable(name)}"
            raise ParameterError(
                f"{source}：参数{shown} 含有密钥或令牌：凭据不能作为报告参数"
                "（livekit 从环境变量或 .env 读取凭据）"
            )


# ---- all of it -----------------------------------------------------------------------------


def report_parameters(
    report: Report, day: date, overrides: Overrides | None = None
) -> dict[str, Any]:
    """The parameters to run ``report`` with (the YAML file's content, then ``overrides``), checked.

    Raises :class:`ParameterError` with one message before anything runs when a name is not
    declared by the notebook, a value has the wrong type, or a date or metric does not exist,
    or a value holds a credential. Every layer is checked alike: ``params/<name>.yaml``, each
    ``-f`` file in order, then the ``-p`` values; a later one wins.
    """
    declared = declared_parameters(report.notebook)
    root = report.notebook.parent.parent
    source = _shown(report.params_file, root)
    given = _days_as_text(load_yaml(report.params_file, shown=source), declared)
    secrets = _secrets(root, report.notebook.parent)
    check_no_secrets(given, source=source, secrets=secrets)
    check_names_and_types(declared, given, source=source, notebook=report.notebook)
    sources = dict.fromkeys(given, source)
    for layer_source, layer in (overrides or Overrides()).layers(declared):
        layer = _days_as_text(layer, declared)
        check_no_secrets(layer, source=layer_source, secrets=secrets)
        check_names_and_types(declared, layer, source=layer_source, notebook=report.notebook)
        given |= layer
        sources |= dict.fromkeys(layer, layer_source)
    values = {name: p.default for name, p in declared.items()} | given
    default_source = _shown(report.notebook, root) + " 的默认值"
    sources = {name: sources.get(name, default_source) for name in values}
    for name in values:  # a start/end pair is checked together: say where a given end came from
        partner = _partner(name)
        if partner in sources and values[partner] is not None and sources[partner] != sources[name]:
            sources[name] = f"{sources[name]}、{sources[partner]}"
    defaults = {name: p.default for name, p in declared.items()}
    check_meanings(values, sources, day, defaults)
    return given


def _shown(path: Path, root: Path) -> str:
    """``params/x.yaml`` rather than an absolute path."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
