"""Durable file writes shared by every layer that keeps state on disk (tokens, store, reports),
and the one way a damaged state file is kept aside (:func:`keep_damaged`).

A write goes to a temporary file in the same folder, is flushed and fsynced, then renamed over
the target with ``os.replace`` (atomic on one file system), and the folder is fsynced so the
rename itself survives a crash: readers see the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where folders can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably; the file gets ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp creates the file 0600: nobody else can peek
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


# ---- damaged state files -----------------------------------------------------------------------
# A state file (report history, schedule state, outbox, alert state) that is partly or wholly
# unreadable is never thrown away: its reader keeps the entries it can parse, and the original
# bytes are copied beside it, untouched, before anything rewrites it. A byte-exact copy of the
# whole file (rather than a "damaged" list inside it) works alike for every format, also for a
# file that is not JSON at all, leaves the formats and their readers unchanged, and loses nothing
# even when the "damage" is a newer version's format that this version does not understand.

log = logging.getLogger("livekit.state")

DAMAGED_INFIX = ".damaged-"
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def keep_damaged(path: Path, original: bytes, *, skipped: int | None) -> Path:
    """Copy ``original`` (the bytes read from ``path``) to ``<name>.damaged-<UTC time>`` beside
    it and log one warning naming the file; return the copy's path.

    ``skipped``: how many entries were skipped, or None when the whole file was unreadable.
    An identical earlier copy is reused (a file read many times is copied once), and the
    warning is logged once per process for the same file and content.
    """
    digest = hashlib.sha256(original).hexdigest()
    kept = _existing_copy(path, original)
    if kept is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        kept = path.with_name(f"{path.name}{DAMAGED_INFIX}{stamp}")
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            mode = 0o600
        write_bytes_atomic(kept, original, mode=mode)
    with _warned_lock:
        first = (str(path), digest) not in _warned
        _warned.add((str(path), digest))
    if first:
        if skipped is None:
            log.warning(
                "警告：状态文件 %s 已损坏，无法读取，已从空状态开始；原文件已保留为 %s",
                path,
                kept.name,
            )
        else:
            log.warning(
                "警告：状态文件 %s 中有 %d 条记录已损坏，已跳过，其余记录保留；原文件已保留为 %s",
                path,
                skipped,
                kept.name,
            )
    return kept


def _existing_copy(path: Path, original: bytes) -> Path | None:
    try:
        candidates = sorted(path.parent.glob(f"{glob.escape(path.name)}{DAMAGED_INFIX}*"))
    except OSError:
        return None
    for candidate in candidates:
        try:
            if candidate.stat().st_size == len(original) and candidate.read_bytes() == original:
                return candidate
        except OSError:
            continue
    return None
