"""The outcome of one report run, as returned to callers and as kept in ``reports/history.json``."""

from __future__ import annotations

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

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self, base: Path) -> dict[str, Any]:
        """A JSON object; paths relative to ``base`` (the reports folder) when under it."""
        return {
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

    @classmethod
    def from_json(cls, raw: dict[str, Any], base: Path) -> RunResult:
        status: Status = "ok" if raw["status"] == "ok" else "failed"
        return cls(
            name=str(raw["name"]),
            title=str(raw.get("title") or raw["name"]),
            date=date.fromisoformat(raw["date"]),
            status=status,
            started_at=datetime.fromisoformat(raw["started_at"]),
            seconds=float(raw["seconds"]),
            notebook=base / raw["notebook"] if raw.get("notebook") else None,
            html=base / raw["html"] if raw.get("html") else None,
            error=raw.get("error"),
        )


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
