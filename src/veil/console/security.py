"""The console's HTTP security layer, one ASGI middleware in front of every route.

On every response: a strict Content-Security-Policy (scripts, styles and connections from the
console's own origin only; no inline script or style; no framing), ``Referrer-Policy:
no-referrer``, ``Cache-Control: no-store`` (static files excepted), ``nosniff``, and HSTS
under TLS.

On every state-changing request (POST, PUT, PATCH, DELETE) made with the session cookie:
1. same origin: the ``Origin`` header must be the console's own origin (or, when a browser
   sends none or ``null``, as it does for forms under ``no-referrer``,
   ``Sec-Fetch-Site: same-origin``); anything else is refused;
2. CSRF: the session's synchronizer token must come back, in the ``X-CSRF-Token`` header (htmx
   sends it from ``hx-headers`` on the page body) or a ``csrf_token`` form field.
Requests with ``Authorization: Bearer`` carry no ambient credential (a browser never adds it
by itself), so they skip both checks and are authenticated by the token alone; the cookie is
then ignored.

GET and HEAD never change state (the routes are written so; the route test checks that no GET
route is registered with a state-changing permission).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread

from veil.console.sessions import Session, Sessions

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 256 * 1024  # sign-in, actions and lookups are small; uploads use the header
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


def cookie_name(secure: bool) -> str:
    # __Host- cookies are only accepted with Secure, Path=/ and no Domain: the strongest binding.
    return "__Host-veil" if secure else "veil"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _own_origin(scope: Scope) -> str:
    scheme = scope.get("scheme", "http")
    host = _header(scope, b"host")
    if host is None:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}".lower()


def same_origin(scope: Scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is not None and origin != "null":
        return origin.lower() == _own_origin(scope)
    # Under Referrer-Policy: no-referrer a browser sends "Origin: null" with a form POST; its
    # Fetch Metadata still says where the request came from (a page cannot forge it).
    return _header(scope, b"sec-fetch-site") == "same-origin"


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, sessions: Sessions, secure: bool) -> None:
        self.app = app
        self.sessions = sessions
        self.secure = secure
        self.cookie = cookie_name(secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"server")
                ]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                    (
                        b"cache-control",
                        b"public, max-age=3600" if static else b"no-store",
                    ),
                ]
                if self.secure:
                    headers.append(
                        (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
                    )
                message["headers"] = headers
            await send(message)

        state = scope.setdefault("state", {})
        bearer = (_header(scope, b"authorization") or "").startswith("Bearer ")
        session: Session | None = None
        if not bearer and not static:
            session = await anyio.to_thread.run_sync(self.sessions.get, _cookie(scope, self.cookie))
        state["session"] = session
        state["bearer"] = bearer

        if scope.get("method", "GET") not in UNSAFE or bearer:
            await self.app(scope, receive, send_with_headers)
            return
        if not same_origin(scope):
            await _refuse(send_with_headers, 403, "cross-origin request refused")
            return
        token = _header(scope, CSRF_HEADER.encode())
        body = b""
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if token is None and content_type == "application/x-www-form-urlencoded":
            body, too_large = await _read_body(receive, MAX_FORM_BYTES)
            if too_large:
                await _refuse(send_with_headers, 413, "form too large")
                return
            values = parse_qs(body.decode("latin-1"), max_num_fields=200).get(CSRF_FIELD)
            token = values[0] if values else None
        if (
            session is None
            or token is None
            or not secrets.compare_digest(
                token.encode("utf-8", "replace"), session.csrf_token.encode("ascii")
            )
        ):
            await _refuse(
                send_with_headers,
                403,
                "CSRF token missing or wrong: reload the page (your session may have expired)",
            )
            return
        if body or content_type == "application/x-www-form-urlencoded":
            await self.app(scope, _replay(body), send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
