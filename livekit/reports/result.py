"""The outcome of one report run, as returned to callers and as kept in ``reports/history.json``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class RunResult:
    """One run of one report. ``html`` is None when the run failed; ``error`` says why."""

    name: str
    title: str
    date: date  # the report's date (the folder reports/<name>/<date>/)
    status: Status
    started_at: datetime  # timezone-aware
    seconds: float
    notebook: Path | None  # the executed notebook (left behind when the run failed)
    html: Path | None
    error: str | None = None
    shop: str | None = None  # the shop's id when the project has a shops file (livekit.shops)
    shop_name: str | None = None  # its name, shown in the index

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self, base: Path) -> dict[str, Any]:
        """A JSON object; paths relative to ``base`` (the reports folder) when under it.

        ``shop`` and ``shop_name`` appear only for a run of a shop (one-shop records are as
        they always were)."""
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "date": self.date.isoformat(),
            "status": self.status,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "seconds": round(self.seconds, 3),
            "notebook": _relative(self.notebook, base),
            "html": _relative(self.html, base),
            "error": self.error,
        }
        if self.shop is not None:
            out |= {"shop": self.shop, "shop_name": self.shop_name}
        return out

    @classmethod
    def from_json(cls, raw: Any, base: Path) -> RunResult:
        """The run in ``raw``; ValueError (or TypeError, KeyError) when it is not a whole run."""
        if not isinstance(raw, dict):
            raise TypeError("a run is a JSON object")
        name, title, error = raw["name"], raw.get("title"), raw.get("error")
        if not isinstance(name, str) or not name:
            raise ValueError("name")
        if raw["status"] not in ("ok", "failed"):
            raise ValueError("status")
        status: Status = "ok" if raw["status"] == "ok" else "failed"
        started_at = datetime.fromisoformat(raw["started_at"])
        if started_at.tzinfo is None:  # naive and aware times cannot be sorted together
            raise ValueError("started_at")
        seconds = raw["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError("seconds")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds")
        shop, shop_name = raw.get("shop"), raw.get("shop_name")
        for value in (title, error, raw.get("notebook"), raw.get("html"), shop, shop_name):
            if value is not None and not isinstance(value, str):
                raise TypeError("a text field is not text")
        return cls(
            name=name,
            title=title or name,
            date=date.fromisoformat(raw["date"]),
            status=status,
            started_at=started_at,
            seconds=float(seconds),
            notebook=base / raw["notebook"] if raw.get("notebook") else None,
            html=base / raw["html"] if raw.get("html") else None,
            error=error,
            shop=shop or None,
            shop_name=shop_name or None,
        )


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
