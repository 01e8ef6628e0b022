"""Loopback stand-ins for the IM robots, a generic webhook receiver and an SMTP server.

Each receiver speaks its robot's request and answer shapes and checks what the real one checks,
computing signatures *independently* of livekit (plain ``hmac`` / ``base64`` here):

- 飞书 ``POST /open-apis/bot/v2/hook/<token>``: JSON body ≤ 20 KB; when the token has a secret,
  ``timestamp`` (seconds) and ``sign`` in the body, the timestamp within one hour; answers
  ``{"StatusCode":0,...,"code":0,"msg":"success"}``, or 19021 (bad sign / stale timestamp),
  19001 (unknown token or bad shape), 9499 Bad Request (too large), and when rate-limited
  ``{"code":11232,"msg":"frequency limited …"}`` (or, variant "9499", HTTP 400
  ``{"code":9499,"msg":"too many request"}``).
- 钉钉 ``POST /robot/send?access_token=…[&timestamp=ms&sign=…]``: answers ``{"errcode":0,
  "errmsg":"ok"}``, 310000 (sign not match / invalid timestamp), 300005 (token is not exist),
  300001 (param error), rate-limited 130101 "send too fast, exceed 20 times per minute".
- 企业微信 ``POST /cgi-bin/webhook/send?key=…``: markdown.content ≤ 4096 bytes (else 40058),
  93000 for an unknown key, rate-limited 45009 "api freq out of limit".
- generic ``POST /webhook/<token>``: any JSON with key/title/text; optional
  ``X-Livekit-Signature`` check; rate-limited answers HTTP 429 with ``Retry-After``.

Use::

    with running_receivers() as rx:
        url = rx.url_for("feishu", "tok-…", secret="s3cret")
        ...
        rx.set_rate_limited("dingtalk", 3)     # the next 3 requests get the rate-limit answer
        rx.received["feishu"]                   # accepted requests (what the group saw)
        rx.requests["feishu"]                   # every request, with .status / .answer
        rx.texts("feishu")                      # the displayed text of each accepted request
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livekit.sandbox.server import free_port

KINDS = ("feishu", "dingtalk", "wecom", "webhook")
FEISHU_OK = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
FEISHU_SIGN_FAIL = {
    "code": 19021,
    "data": {},
    "msg": "sign match fail or timestamp is not within one hour from current time",
}
FEISHU_LIMITED = {
    "code": 11232,
    "data": {},
    "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]",
}
DINGTALK_OK = {"errcode": 0, "errmsg": "ok"}
DINGTALK_LIMITED = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
WECOM_OK = {"errcode": 0, "errmsg": "ok"}
WECOM_LIMITED = {
    "errcode": 45009,
    "errmsg": "api freq out of limit, hint: [1700000000_1_abc], from ip: 127.0.0.1",
}
FEISHU_MAX_BODY = 20 * 1024
WECOM_MAX_CONTENT = 4096
MAX_SKEW_S = 3600


# ---- independent signature maths (not livekit's) -------------------------------------------
def expected_feishu_sign(ts: str, secret: str) -> str:
    mac = hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def expected_dingtalk_sign(ts: str, secret: str) -> str:
    """The base64 signature *before* URL encoding (the query parser has decoded it)."""
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def expected_webhook_signature(secret: str, ts: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


@dataclass
class ReceivedRequest:
    kind: str
    token: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any
    status: int = 0
    answer: Any = None
    accepted: bool = False
    at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        """What the group would display."""
        b = self.body if isinstance(self.body, dict) else {}
        if self.kind == "feishu":
            content = b.get("content") or {}
            if b.get("msg_type") == "post":
                post = (content.get("post") or {}).get("zh_cn") or {}
                lines = [
                    "".join(seg.get("text", "") for seg in row) for row in post.get("content", [])
                ]
                return "\n".join([post.get("title", ""), *lines])
            return str(content.get("text", ""))
        if self.kind == "dingtalk":
            if b.get("msgtype") == "markdown":
                return str((b.get("markdown") or {}).get("text", ""))
            return str((b.get("text") or {}).get("content", ""))
        if self.kind == "wecom":
            return str((b.get(b.get("msgtype", "markdown")) or {}).get("content", ""))
        return str(b.get("text", ""))


class Receivers:
    """State of the loopback receivers; thread-safe (the server runs in its own thread)."""

    def __init__(self) -> None:
        self.url = ""
        self._lock = threading.Lock()
        self.secrets: dict[tuple[str, str], str | None] = {}
        self.received: dict[str, list[ReceivedRequest]] = {k: [] for k in KINDS}
        self.requests: dict[str, list[ReceivedRequest]] = {k: [] for k in KINDS}
        self._limited: dict[str, int | None] = {}  # kind -> remaining (None = until cleared)
        self._variant: dict[str, str] = {}
        self._failing: dict[str, tuple[int, int | None]] = {}  # kind -> (status, remaining)
        self.retry_after_s = 7

    # ---- configuration -------------------------------------------------------------------
    def url_for(self, kind: str, token: str, *, secret: str | None = None) -> str:
        """Register a robot (token and optional secret) and return its full webhook URL."""
        with self._lock:
            self.secrets[(kind, token)] = secret
        if kind == "feishu":
            return f"{self.url}/open-apis/bot/v2/hook/{token}"
        if kind == "dingtalk":
            return f"{self.url}/robot/send?access_token={quote(token)}"
        if kind == "wecom":
            return f"{self.url}/cgi-bin/webhook/send?key={quote(token)}"
        if kind == "webhook":
            return f"{self.url}/webhook/{token}"
        raise ValueError(kind)

    def set_rate_limited(
        self, kind: str, n_requests: int | None = None, *, variant: str = ""
    ) -> None:
        """Answer the robot's rate-limit error to the next ``n_requests`` (None: until cleared)."""
        with self._lock:
            self._limited[kind] = n_requests
            self._variant[kind] = variant

    def clear_rate_limit(self, kind: str) -> None:
        with self._lock:
            self._limited.pop(kind, None)

    def set_failing(self, kind: str, status: int, n_requests: int | None = None) -> None:
        """Answer a bare HTTP ``status`` to the next ``n_requests`` (None: until cleared)."""
        with self._lock:
            self._failing[kind] = (status, n_requests)

    def clear_failing(self, kind: str) -> None:
        with self._lock:
            self._failing.pop(kind, None)

    def reset(self) -> None:
        with self._lock:
            self.secrets.clear()
            for k in KINDS:
                self.received[k].clear()
                self.requests[k].clear()
            self._limited.clear()
            self._variant.clear()
            self._failing.clear()

    def texts(self, kind: str) -> list[str]:
        with self._lock:
            return [r.text for r in self.received[kind]]

    # ---- internals -----------------------------------------------------------------------
    def _take_limit(self, kind: str) -> bool:
        with self._lock:
            if kind not in self._limited:
                return False
            left = self._limited[kind]
            if left is None:
                return True
            if left <= 0:
                del self._limited[kind]
                return False
            self._limited[kind] = left - 1
            return True

    def _take_failing(self, kind: str) -> int | None:
        with self._lock:
            if kind not in self._failing:
                return None
            status, left = self._failing[kind]
            if left is not None:
                if left <= 0:
                    del self._failing[kind]
                    return None
                self._failing[kind] = (status, left - 1)
            return status

    def _secret(self, kind: str, token: str) -> tuple[bool, str | None]:
        with self._lock:
            if (kind, token) not in self.secrets:
                return False, None
            return True, self.secrets[(kind, token)]

    def _log(self, req: ReceivedRequest, status: int, answer: Any, accepted: bool) -> None:
        req.status, req.answer, req.accepted = status, answer, accepted
        with self._lock:
            self.requests[req.kind].append(req)
            if accepted:
                self.received[req.kind].append(req)


async def _read(kind: str, token: str, request: StarletteRequest) -> ReceivedRequest:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return ReceivedRequest(
        kind=kind,
        token=token,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        raw=raw,
        body=body,
    )


def _answer(
    rx: Receivers,
    req: ReceivedRequest,
    data: Any,
    *,
    status: int = 200,
    ok: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    rx._log(req, status, data, ok)
    return JSONResponse(data, status_code=status, headers=headers)


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def create_app(rx: Receivers) -> Starlette:
    async def feishu(request: StarletteRequest) -> Response:
        token = request.path_params["token"]
        req = await _read("feishu", token, request)
        if (status := rx._take_failing("feishu")) is not None:
            rx._log(req, status, None, False)
            return Response(b"", status_code=status)
        if rx._take_limit("feishu"):
            if rx._variant.get("feishu") == "9499":
                return _answer(
                    rx, req, {"code": 9499, "msg": "too many request", "data": {}}, status=400
                )
            return _answer(rx, req, FEISHU_LIMITED)
        known, secret = rx._secret("feishu", token)
        if not known:
            return _answer(
                rx,
                req,
                {
                    "code": 19001,
                    "data": {},
                    "msg": "param invalid: incoming webhook access token invalid",
                },
            )
        if len(req.raw) > FEISHU_MAX_BODY or not isinstance(req.body, dict):
            return _answer(rx, req, {"code": 9499, "msg": "Bad Request", "data": {}}, status=400)
        b = req.body
        if secret is not None:
            ts, sign = str(b.get("timestamp", "")), b.get("sign")
            if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_S:
                return _answer(rx, req, FEISHU_SIGN_FAIL)
            if not isinstance(sign, str) or not hmac.compare_digest(
                sign, expected_feishu_sign(ts, secret)
            ):
                return _answer(rx, req, FEISHU_SIGN_FAIL)
        content = b.get("content")
        shape_ok = False
        if b.get("msg_type") == "text" and isinstance(content, dict):
            shape_ok = _is_str(content.get("text"))
        elif b.get("msg_type") == "post" and isinstance(content, dict):
            post = (content.get("post") or {}).get("zh_cn") or {}
            rows = post.get("content")
            shape_ok = (
                isinstance(post.get("title"), str)
                and isinstance(rows, list)
                and all(
                    isinstance(row, list)
                    and all(isinstance(s, dict) and s.get("tag") == "text" for s in row)
                    for row in rows
                )
            )
        elif b.get("msg_type") == "interactive":
            shape_ok = isinstance(b.get("card"), dict)
        if not shape_ok:
            return _answer(
                rx,
                req,
                {"code": 19001, "data": {}, "msg": "param invalid: message content invalid"},
            )
        return _answer(rx, req, FEISHU_OK, ok=True)

    async def dingtalk(request: StarletteRequest) -> Response:
        token = request.query_params.get("access_token", "")
        req = await _read("dingtalk", token, request)
        if (status := rx._take_failing("dingtalk")) is not None:
            rx._log(req, status, None, False)
            return Response(b"", status_code=status)
        if rx._take_limit("dingtalk"):
            return _answer(rx, req, DINGTALK_LIMITED)
        known, secret = rx._secret("dingtalk", token)
        if not known:
            return _answer(rx, req, {"errcode": 300005, "errmsg": "token is not exist"})
        if secret is not None:
            ts, sign = req.query.get("timestamp", ""), req.query.get("sign", "")
            if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > MAX_SKEW_S * 1000:
                return _answer(rx, req, {"errcode": 310000, "errmsg": "invalid timestamp"})
            if not hmac.compare_digest(sign, expected_dingtalk_sign(ts, secret)):
                return _answer(
                    rx,
                    req,
                    {
                        "errcode": 310000,
                        "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                    },
                )
        b = req.body if isinstance(req.body, dict) else {}
        md = b.get("markdown")
        text = b.get("text")
        if b.get("msgtype") == "markdown" and isinstance(md, dict):
            shape_ok = _is_str(md.get("title")) and _is_str(md.get("text"))
        elif b.get("msgtype") == "text" and isinstance(text, dict):
            shape_ok = _is_str(text.get("content"))
        else:
            shape_ok = False
        if not shape_ok:
            return _answer(rx, req, {"errcode": 300001, "errmsg": "param error"})
        return _answer(rx, req, DINGTALK_OK, ok=True)

    async def wecom(request: StarletteRequest) -> Response:
        key = request.query_params.get("key", "")
        req = await _read("wecom", key, request)
        if (status := rx._take_failing("wecom")) is not None:
            rx._log(req, status, None, False)
            return Response(b"", status_code=status)
        if rx._take_limit("wecom"):
            return _answer(rx, req, WECOM_LIMITED)
        known, _ = rx._secret("wecom", key)
        if not known:
            return _answer(
                rx,
                req,
                {
                    "errcode": 93000,
                    "errmsg": "invalid webhook url, hint: [1700000000_2_def], from ip: 127.0.0.1",
                },
            )
        b = req.body if isinstance(req.body, dict) else {}
        msgtype = b.get("msgtype")
        part = b.get(msgtype) if isinstance(msgtype, str) else None
        if (
            msgtype not in ("markdown", "text")
            or not isinstance(part, dict)
            or not _is_str(part.get("content"))
        ):
            return _answer(rx, req, {"errcode": 40035, "errmsg": "invalid parameter"})
        if msgtype == "markdown" and len(part["content"].encode("utf-8")) > WECOM_MAX_CONTENT:
            return _answer(
                rx,
                req,
                {
                    "errcode": 40058,
                    "errmsg": "markdown.content exceed max length 4096. invalid Request Parameter",
                },
            )
        return _answer(rx, req, WECOM_OK, ok=True)

    async def webhook(request: StarletteRequest) -> Response:
        token = request.path_params["token"]
        req = await _read("webhook", token, request)
        if (status := rx._take_failing("webhook")) is not None:
            rx._log(req, status, None, False)
            return Response(b"", status_code=status)
        if rx._take_limit("webhook"):
            return _answer(
                rx,
                req,
                {"error": "rate limited"},
                status=429,
                headers={"Retry-After": str(rx.retry_after_s)},
            )
        known, secret = rx._secret("webhook", token)
        if not known:
            return _answer(rx, req, {"error": "not found"}, status=404)
        if secret is not None:
            ts = req.headers.get("x-livekit-timestamp", "")
            got = req.headers.get("x-livekit-signature", "")
            want = expected_webhook_signature(secret, ts, req.raw)
            if not ts.isdigit() or not hmac.compare_digest(got, want):
                return _answer(rx, req, {"error": "bad signature"}, status=401)
        b = req.body
        if not isinstance(b, dict) or not all(_is_str(b.get(k)) for k in ("key", "title", "text")):
            return _answer(rx, req, {"error": "bad body"}, status=400)
        return _answer(rx, req, {"ok": True}, ok=True)

    return Starlette(
        routes=[
            Route("/open-apis/bot/v2/hook/{token}", feishu, methods=["POST"]),
            Route("/robot/send", dingtalk, methods=["POST"]),
            Route("/cgi-bin/webhook/send", wecom, methods=["POST"]),
            Route("/webhook/{token}", webhook, methods=["POST"]),
        ]
    )


@contextmanager
def running_receivers(host: str = "127.0.0.1") -> Iterator[Receivers]:
    """All four HTTP receivers on one free loopback port, served by uvicorn in a thread."""
    rx = Receivers()
    port = free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(rx),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="livekit-notify-receivers", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("notify receivers did not start")
        time.sleep(0.01)
    rx.url = f"http://{host}:{port}"
    try:
        yield rx
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---- SMTP ----------------------------------------------------------------------------------
@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        """The decoded ``text/<subtype>`` body."""
        found = self.message.get_body(preferencelist=(subtype,))
        assert found is not None, f"no text/{subtype} part"
        content = found.get_content()
        return str(content)


@dataclass
class SmtpReceiver:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    messages: list[ReceivedMail] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)  # SMTP replies for the next DATA commands
    auth_attempts: int = 0

    @property
    def url(self) -> str:
        if self.user is not None:
            return f"smtp://{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@{self.host}:{self.port}"
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.fail_next:
            return self.fail_next.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@contextmanager
def running_smtp(user: str | None = None, password: str | None = None) -> Iterator[SmtpReceiver]:
    """An aiosmtpd server on 127.0.0.1 (AUTH over plain TCP allowed only because it is loopback)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    receiver = SmtpReceiver("127.0.0.1", free_port(), user, password)

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        receiver.auth_attempts += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    kwargs: dict[str, Any] = {}
    if user is not None:
        kwargs = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    controller = Controller(receiver, hostname=receiver.host, port=receiver.port, **kwargs)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
