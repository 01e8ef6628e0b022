"""Parsing of request parameters the way the real services read them (strict, with reasons)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from livekit.sandbox.core import ParamError
from livekit.sandbox.world import CHINA_TZ


class Params:
    """Query parameters of a 巨量千川 GET: lists and objects arrive JSON-encoded."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return self.raw.get(name, "") != ""

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name, "")
        if value == "":
            if default is None:
                raise ParamError(f"{name}: 必填参数缺失 (required parameter missing)")
            return default
        return value

    def integer(
        self, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
    ) -> int:
        if not self.has(name):
            if default is None:
                raise ParamError(f"{name}: 必填参数缺失 (required parameter missing)")
            return default
        try:
            value = int(self.raw[name])
        except ValueError:
            raise ParamError(
                f"{name}: 应为整数 (must be an integer), got {self.raw[name]!r}"
            ) from None
        if lo is not None and value < lo:
            raise ParamError(f"{name}: 不能小于 {lo} (must be >= {lo}), got {value}")
        if hi is not None and value > hi:
            raise ParamError(f"{name}: 不能大于 {hi} (must be <= {hi}), got {value}")
        return value

    def json(self, name: str, required: bool = True) -> Any:
        if not self.has(name):
            if required:
                raise ParamError(f"{name}: 必填参数缺失 (required parameter missing)")
            return None
        try:
            return json.loads(self.raw[name])
        except json.JSONDecodeError:
            raise ParamError(
                f'{name}: 不是合法的 JSON (must be JSON-encoded, e.g. {name}=["a","b"])'
            ) from None

    def fields(self, allowed: tuple[str, ...], required: bool = True) -> list[str]:
        value = self.json("fields", required)
        if value is None:
            return list(allowed)
        if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
            raise ParamError("fields: 应为字符串数组 (must be a JSON array of strings)")
        unknown = [f for f in value if f not in allowed]
        if unknown:
            raise ParamError(f"fields: 不支持的字段 (unsupported field) {', '.join(unknown)}")
        return list(dict.fromkeys(value))

    def enum(self, name: str, values: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(name, default)
        if value not in values:
            raise ParamError(f"{name}: 取值应为 {'/'.join(values)} (invalid value {value!r})")
        return value

    def day(self, name: str) -> date:
        value = self.text(name)
        try:
            if len(value) != 10:  # strptime alone takes "2026-1-5"; fromisoformat "2026-W48-6"
                return _bad_date(name, value)
            return datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            return _bad_date(name, value)

    def moment(self, name: str, default: datetime | None = None) -> datetime:
        if not self.has(name) and default is not None:
            return default
        value = self.text(name)
        try:
            if len(value) != 19:  # strptime alone takes "2026-11-28 9:0:0"
                raise ValueError(value)
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
        except ValueError:
            raise ParamError(
                f"{name}: 时间格式应为 YYYY-MM-DD HH:MM:SS (bad time format {value!r})"
            ) from None


def _bad_date(name: str, value: str) -> date:
    raise ParamError(f"{name}: 日期格式应为 YYYY-MM-DD (bad date {value!r})")
