"""The YAML loader for every file a user writes (report parameters, schedules, alert rules).

It is PyYAML's SafeLoader with anchors and aliases (``&name`` / ``*name``) refused. An alias
lets a few lines expand into an exponentially large document ("billion laughs") or a
self-referencing one (``&a [*a]``) that recursive checks never finish walking; none of our
files needs them, so the composer stops at the first anchor or alias with a marked error
(file, line, column) instead of bounding the expansion. This is a subclass rather than a
library because PyYAML offers no switch for it; the check is the documented extension point
(``compose_node``) and nothing else of the loader changes.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

ALIAS_PROBLEM = "不支持 YAML 锚点与别名（& 与 *），请把内容直接写出"
DEPTH_LIMIT = 50
"""How deeply collections may nest; deeper documents are refused (no file of ours needs 5)."""


class NoAliasSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases, and nesting deeper than DEPTH_LIMIT."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, ALIAS_PROBLEM, mark)
        if isinstance(event, yaml.CollectionStartEvent):
            # Deep nesting would end in a RecursionError inside PyYAML: refuse it as YAML.
            if self._depth >= DEPTH_LIMIT:
                raise ComposerError(None, None, f"嵌套超过 {DEPTH_LIMIT} 层", mark)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


def syntax_error(exc: yaml.YAMLError, shown: str) -> str:
    """One Chinese line for a YAML error of the file ``shown``: where (line and column, when
    PyYAML marks it) and what, the same for every file a user writes."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        at = f" 第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        problem = " ".join((exc.problem or exc.context or "无法解析").split())
        return f"{shown}{at}：YAML 格式错误（{problem}）"
    return f"{shown}：YAML 格式错误（{one_line(exc)}）"


def one_line(exc: BaseException) -> str:
    """A YAML error's own text on one line (PyYAML's messages span several)."""
    return " ".join(str(exc).split())


def printable(text: str) -> str:
    """``text`` with every non-printable character (line breaks, controls, zero-width and
    direction marks) written as its escape, so a value quoted in a message stays on one line
    and shows what is really there."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
