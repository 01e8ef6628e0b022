"""Which values are secret: the one list the report scrub and the log masking both use.

Secret values (each at least :data:`MIN_LENGTH` characters; shorter ones would mask words):

- every :class:`pydantic.SecretStr` setting (``LIVEKIT_QIANCHUAN_SECRET``,
  ``LIVEKIT_DOUDIAN_APP_SECRET`` … whatever :class:`livekit.config.Settings` declares);
- the notifier variables :data:`NOTIFIER_SECRET_ENV` (webhook URLs carry the robot's key,
  signing secrets, the SMTP URL with its password);
- any ``LIVEKIT_*`` variable whose name ends in ``_SECRET``, ``_WEBHOOK``, ``_TOKEN`` or
  ``_PASSWORD`` (the naming a rules file's extra robots follow), and every variable registered
  with :func:`register_env` (the monitor registers its rules file's ``webhook_env`` /
  ``secret_env`` / ``url_env``);
- values registered with :func:`register_value` (log masking only: see :func:`secret_values`);
- every token in the token files (``<home>/tokens.json``, ``<home>/sandbox/tokens.json``) and,
  with ``LIVEKIT_REDIS_URL``, in the token set kept in that Redis (:func:`tokens_in_redis`; the
  report scrub reads it, log masking knows the tokens a process used through
  :func:`register_value`, which livekit.api.tokens_redis calls);
- the sandbox's demo secrets (public, but a report printing them prints a credential).

A URL counts whole, and so do its password (as written and decoded, and the base64 forms
SMTP ``AUTH LOGIN`` / ``AUTH PLAIN`` send), its query values (``key=``, ``access_token=``)
and token-looking path segments (飞书 ``/hook/<token>``). Variables are read from the
environment and from ``.env`` found as :func:`livekit.config.load_settings` finds it (upwards
from the current folder), plus ``.env`` files upwards from folders a caller names (a report
project's). The environment wins over ``.env``, as in the settings.

:func:`install_log_masking` makes every log record of every logger of this process carry
``***`` instead of a secret (a log record factory: it sees records of every logger, whichever
handler prints them, including ones attached later).

This module sits beside livekit/config.py at the bottom of the stack: cheap to import, and it
imports nothing from livekit but the config.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
MIN_LENGTH = 6
# The token set in Redis (livekit.api.tokens_redis): one hash per app under this prefix.
REDIS_TOKENS_PREFIX = "livekit:tokens:"
REDIS_TIMEOUT = 3.0  # seconds the report scrub waits for Redis

# The notifier's built-in variables (livekit/monitor/notify/config.py BUILTIN_SPECS); a test
# checks that every variable a built-in channel reads for an address or a secret is here.
NOTIFIER_SECRET_ENV = (
    "LIVEKIT_FEISHU_WEBHOOK",
    "LIVEKIT_FEISHU_SECRET",
    "LIVEKIT_DINGTALK_WEBHOOK",
    "LIVEKIT_DINGTALK_SECRET",
    "LIVEKIT_WECOM_WEBHOOK",
    "LIVEKIT_SMTP_URL",
    "LIVEKIT_WEBHOOK_URL",
    "LIVEKIT_WEBHOOK_SECRET",
)
SECRET_SUFFIXES = ("_SECRET", "_WEBHOOK", "_TOKEN", "_PASSWORD")
_PREFIX = "LIVEKIT_"

_lock = threading.Lock()
_registered_env: set[str] = set()
_registered_values: set[str] = set()
_generation = 0  # bumped by every registration: the log masking's cache key includes it


def register_env(*names: str | None) -> None:
    """Treat the variables ``names`` as secrets too (a rules file's extra robots)."""
    global _generation
    with _lock:
        for name in names:
            if name and name.upper() not in _registered_env:
                _registered_env.add(name.upper())
                _generation += 1


def register_value(*values: str | None) -> None:
    """Treat ``values`` as secrets (something known only at run time)."""
    global _generation
    with _lock:
        for value in values:
            if value and len(value) >= MIN_LENGTH and value not in _registered_values:
                _registered_values.add(value)
                _generation += 1


def settings_secret_env() -> list[str]:
    """The environment variables of every SecretStr setting, e.g. ``LIVEKIT_QIANCHUAN_SECRET``."""
    from pydantic import SecretStr

    from livekit.config import Settings, env_name

    out = []
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in typing.get_args(annotation):
            out.append(env_name(name))
    return out


def secret_env_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every variable whose value is a secret: the fixed ones, the registered ones, and the
    ``LIVEKIT_*`` names in ``environ`` that end like a secret's name."""
    names = {*settings_secret_env(), *NOTIFIER_SECRET_ENV}
    with _lock:
        names |= _registered_env
    for key in environ or {}:
        upper = key.upper()
        if upper.startswith(_PREFIX) and upper.endswith(SECRET_SUFFIXES):
            names.add(upper)
    return sorted(names)


def load_environ(folders: Iterable[Path] = ()) -> dict[str, str]:
    """``LIVEKIT_*`` variables (names upper-cased): ``.env`` files overlaid by the environment.

    ``.env`` is the one the settings read (upwards from the current folder); ``folders`` add
    the ``.env`` found upwards from each (a report project's), read first so the current
    folder's wins over them.
    """
    import dotenv

    paths: list[str] = []
    for folder in folders:
        with contextlib.suppress(OSError):
            found = _find_dotenv(Path(folder))
            if found and found not in paths:
                paths.append(found)
    with contextlib.suppress(OSError):
        here = dotenv.find_dotenv(usecwd=True)
        if here:
            paths = [p for p in paths if p != here] + [here]
    merged: dict[str, str] = {}
    for path in paths:
        try:
            values = dotenv.dotenv_values(path)
        except (OSError, UnicodeDecodeError):
            continue
        merged.update({k.upper(): v for k, v in values.items() if v is not None})
    merged.update({k.upper(): v for k, v in os.environ.items()})
    return {k: v for k, v in merged.items() if k.startswith(_PREFIX)}


def _find_dotenv(folder: Path) -> str | None:
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / ".env"
        if path.is_file():
            return str(path)
    return None


def token_files(environ: Mapping[str, str]) -> list[Path]:
    """The token files under ``LIVEKIT_HOME`` (as the settings resolve it)."""
    home = Path(environ.get("LIVEKIT_HOME") or "~/.livekit").expanduser()
    return [home / "tokens.json", home / "sandbox" / "tokens.json"]


def secret_values(folders: Iterable[Path] = ()) -> set[str]:
    """Every secret of the configuration (see the module docstring): the variables, read now
    from the environment and ``.env`` (``folders`` as in :func:`load_environ`), and the token
    files. Values registered with :func:`register_value` are left out: they belong to this
    process's run (a channel built from a mapping), not to what a report's kernel can see.
    With ``LIVEKIT_REDIS_URL`` the tokens kept in that Redis count too."""
    environ = load_environ(folders)
    found = _values(environ, registered=False)
    url = (environ.get("LIVEKIT_REDIS_URL") or "").strip()
    if url:
        found |= {s for s in tokens_in_redis(url) if len(s) >= MIN_LENGTH}
    return found


def _values(environ: Mapping[str, str], *, registered: bool = True) -> set[str]:
    from livekit.config import SANDBOX_DOUDIAN_APP_SECRET, SANDBOX_QIANCHUAN_SECRET

    found = {SANDBOX_QIANCHUAN_SECRET, SANDBOX_DOUDIAN_APP_SECRET}
    for name in secret_env_names(environ):
        value = (environ.get(name) or "").strip()
        if value:
            found |= parts_of(value)
    for path in token_files(environ):
        found |= tokens_in(path)
    with _lock:
        found |= _registered_values if registered else set()
    return {s for s in found if len(s) >= MIN_LENGTH}


def parts_of(value: str) -> set[str]:
    """``value`` itself and, for a URL, the parts of it that are credentials."""
    out = {value}
    if "://" not in value:
        return out
    try:
        parts = urlsplit(value)
        username, password = parts.username, parts.password
    except ValueError:
        return out
    if password:
        user = unquote(username or "")
        for form in {password, unquote(password)}:
            out.add(form)
            out.add(base64.b64encode(form.encode()).decode())  # AUTH LOGIN
            plain = f"\0{user}\0{form}".encode()
            out.add(base64.b64encode(plain).decode())  # AUTH PLAIN
    for _, query_value in parse_qsl(parts.query, keep_blank_values=False):
        out.add(query_value)
        out.add(query_value.replace(" ", "+"))
    segments = [s for s in parts.path.split("/") if s]
    for i, segment in enumerate(segments):
        after_hook = i > 0 and segments[i - 1] == "hook"
        if after_hook or (len(segment) >= 16 and any(c.isdigit() for c in segment)):
            out.update({segment, unquote(segment)})
    return out


def tokens_in(path: Path) -> set[str]:
    """Every string under a key containing ``token`` in the JSON file at ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return _tokens_of(data)


def tokens_in_redis(url: str) -> set[str]:
    """Every token of the token set kept in the Redis at ``url`` (livekit.api.tokens_redis).

    Read with a short timeout; an unreachable Redis (or no ``redis`` package) adds nothing and
    logs a warning: a process that could not reach it could not have fetched tokens from it.
    """
    try:
        import redis
    except ImportError:
        return set()
    out: set[str] = set()
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        try:
            for name in client.scan_iter(match=REDIS_TOKENS_PREFIX + "*", count=200):
                if client.type(name) not in (b"hash", "hash"):
                    continue
                for raw in client.hvals(name):
                    with contextlib.suppress(ValueError):
                        out |= _tokens_of(json.loads(raw))
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        logging.getLogger("livekit").warning(
            "could not read the token set in Redis to mask it (%s)", type(exc).__name__
        )
    return out


def _tokens_of(data: Any) -> set[str]:
    """Every string under a key containing ``token`` in a JSON document."""
    out: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and "token" in key.lower():
            out.add(node)

    walk(data)
    return out


_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?|smtps?)://[^\s\"'<>]+")


def mask(text: str, secrets: Iterable[str], *, urls: bool = False) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so none is half-masked).

    With ``urls`` (log records), in a URL that holds a secret every query value is masked too (``?access_token=***&
    timestamp=***&sign=***``: what rides along with a robot's key goes with it); its scheme,
    host and the path words that are no secret stay, so a log still says where it went.
    """
    ordered = sorted(secrets, key=len, reverse=True)
    if urls and "://" in text:

        def url(match: re.Match[str]) -> str:
            found = match.group(0)
            if not any(secret in found for secret in ordered):
                return found
            scheme, _, rest = found.partition("://")
            rest = rest.split("#", 1)[0]
            address, _, query = rest.partition("?")
            netloc, slash, path = address.partition("/")
            host = netloc.rsplit("@", 1)[-1]
            if "@" in netloc:  # user and password: the password is the secret, the user goes too
                host = f"{MASK}@{host}"
            segments = [mask(s, ordered) if s else s for s in path.split("/")]
            out = f"{scheme}://{host}{slash}{'/'.join(segments)}"
            if query:
                keys = [item.split("=", 1)[0] for item in query.split("&") if item]
                out += "?" + "&".join(f"{mask(k, ordered)}={MASK}" for k in keys)
            return out

        text = _URL_IN_TEXT.sub(url, text)
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


# ---- log masking ---------------------------------------------------------------------------


class _Known:
    """The current secrets, recomputed only when something they come from changed.

    The key: the ``LIVEKIT_*`` environment, the registrations, the current folder and the
    modification times of ``.env`` and the token files (a refreshed token is masked from the
    next record on). A few ``stat`` calls per log record; the secrets are rebuilt rarely.
    """

    def __init__(self) -> None:
        self._key: object = None
        self._secrets: tuple[str, ...] = ()
        self._files: list[Path] = []
        self._lock = threading.Lock()
        self._busy = threading.local()  # a record logged while rebuilding (dotenv warns)
        self._dotenv: dict[str, str | None] = {}

    def secrets(self) -> tuple[str, ...]:
        if getattr(self._busy, "on", False):
            return self._secrets
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = ""
        if cwd not in self._dotenv:
            with contextlib.suppress(OSError):
                self._dotenv[cwd] = _find_dotenv(Path(cwd)) if cwd else None
        dotenv_path = self._dotenv.get(cwd)
        files = [Path(dotenv_path)] if dotenv_path else []
        key = (
            cwd,
            _generation,
            _livekit_environ(),
            tuple(_mtime(p) for p in (*files, *self._files)),
        )
        if key == self._key:
            return self._secrets
        with self._lock:
            self._busy.on = True
            try:
                environ = load_environ()
                self._files = token_files(environ)
                found = _values(environ)
            finally:
                self._busy.on = False
            self._secrets = tuple(sorted(found, key=len, reverse=True))
            # The key of what was just read (token files are known only now).
            self._key = (*key[:3], tuple(_mtime(p) for p in (*files, *self._files)))
        return self._secrets


def _livekit_environ() -> tuple[Any, ...]:
    """The ``LIVEKIT_*`` items of the environment, cheaply: this runs for every log record.

    ``os.environ`` decodes every key and value on iteration (~40 µs for a usual environment);
    its backing dict ``_data`` (CPython, every platform) holds them undecoded. Only used as a
    cache key, so the raw form is as good as the decoded one.
    """
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return tuple(item for item in data.items() if item[0][:8] in _RAW_PREFIXES)
    return tuple(item for item in os.environ.items() if item[0][:8].upper() == _PREFIX)


_RAW_PREFIXES = frozenset({_PREFIX, _PREFIX.lower(), _PREFIX.encode(), _PREFIX.lower().encode()})


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


_known = _Known()
_installed = False


def mask_record(record: logging.LogRecord) -> None:
    """Replace every secret in ``record``'s message, traceback and stack text by ``***``."""
    secrets = _known.secrets()
    if not secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: the logging machinery reports it
        return
    masked = mask(message, secrets, urls=True)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = mask(text, secrets, urls=True)
    if record.stack_info:
        record.stack_info = mask(record.stack_info, secrets, urls=True)


class MaskingFilter(logging.Filter):
    """A filter for a handler or logger that masks secrets (see :func:`mask_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install_log_masking() -> None:
    """Mask secrets in every log record created from now on, by any logger (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            mask_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
