"""The console application: pages and the JSON API on the node's state store.

``create_app`` builds one FastAPI app from a ConsoleConfig; ``veil console`` serves it with
uvicorn (``veil.console.server``). Errors are mapped to responses here, once: pages get an
error page, the API a JSON problem; neither ever repeats the request's path, query or body
(they may carry a pseudonym today and an original tomorrow).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from veil import __version__
from veil.console.config import ConsoleConfig
from veil.console.guard import Forbidden, NotSignedIn, Principal
from veil.console.metrics import Metrics
from veil.console.ratelimit import FailureLimiter
from veil.console.roles import Permission
from veil.console.security import CSRF_FIELD, SecurityMiddleware
from veil.console.sessions import Sessions
from veil.errors import VeilError
from veil.node.spool import Spool
from veil.node.store import Sealer, Store

log = logging.getLogger("veil.console")

API_PREFIX = "/api/v1"


@dataclass
class ConsoleState:
    config: ConsoleConfig
    store: Store
    sessions: Sessions
    spool: Spool
    templates: Jinja2Templates
    metrics: Metrics
    # Sign-in failures: 5 per account name and 20 per client address per 15 minutes.
    account_limiter: FailureLimiter = field(default_factory=lambda: FailureLimiter(5, 900.0))
    address_limiter: FailureLimiter = field(default_factory=lambda: FailureLimiter(20, 900.0))
    started_at: float = field(default_factory=time.time)
    route_permissions: dict[tuple[str, str], Any] = field(default_factory=dict)


def _when(value: float | None) -> str:
    if not value:
        return "-"
    return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def _ago(value: float | None) -> str:
    if not value:
        return "never"
    seconds = max(0, int(time.time() - value))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _size(value: int | None) -> str:
    if value is None:
        return "unknown"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TB"


def make_templates() -> Jinja2Templates:
    # Autoescape on for every template whatever its name: DICOM values are untrusted input.
    env = Environment(
        loader=PackageLoader("veil.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["size"] = _size
    env.globals["version"] = __version__
    return Jinja2Templates(env=env)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or request.url.path in ("/metrics",)


NAV = (
    ("dashboard", "/", "Dashboard", Permission.VIEW_NODE),
    ("studies", "/studies", "Studies", Permission.VIEW_NODE),
    ("quarantine", "/quarantine", "Quarantine", Permission.VIEW_NODE),
    ("destinations", "/destinations", "Destinations", Permission.VIEW_NODE),
    ("reidentify", "/reidentify", "Re-identify", Permission.REVEAL_ORIGINALS),
    ("audit", "/audit", "Audit log", Permission.VIEW_AUDIT_LOG),
    ("users", "/users", "Users", Permission.MANAGE_USERS),
)


def page_context(request: Request, page: str) -> dict[str, Any]:
    """What every page template gets: who is signed in, the CSRF token, the navigation
    (only the pages their roles may open), the flash message, and ``can(permission)``."""
    console: ConsoleState = request.app.state.console
    principal: Principal | None = getattr(request.state, "principal", None)
    session = getattr(request.state, "session", None)
    flash = console.sessions.pop_flash(session.id) if session is not None else None
    return {
        "principal": principal,
        "csrf": session.csrf_token if session is not None else "",
        "csrf_field": CSRF_FIELD,
        "flash": flash,
        "nav": [
            (name, href, label)
            for name, href, label, permission in NAV
            if principal is not None and principal.can(permission)
        ],
        "page": page,
        "can": lambda name: principal is not None and principal.can(Permission(name)),
    }


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    console: ConsoleState = request.app.state.console
    context = page_context(request, "error")
    context.update(title=title, message=message)
    return console.templates.TemplateResponse(request, "error.html", context, status_code=status)


def _console_sealer(config: ConsoleConfig) -> Sealer | None:
    """The linkage key, when this process can read the project key (re-identification only).

    Everything else the console shows needs no original value; without the key the lookup
    page says so instead of failing. Never creates a key: that is the node's first start.
    """
    from veil.keys import resolve_key

    try:
        key, _source = resolve_key(config.node.key, create=False)
    except VeilError as exc:
        log.warning("console: no project key (%s): re-identification is unavailable", exc)
        return None
    return Sealer(key)


def create_app(config: ConsoleConfig, store: Store | None = None) -> FastAPI:
    """The console for ``config``; ``store`` defaults to the node's database."""
    from veil.console import api, pages

    store = store or Store.open(config.node.database, _console_sealer(config))
    web = config.web
    sessions = Sessions(store, web.idle_timeout_minutes * 60, web.session_max_hours * 3600)
    app = FastAPI(
        title="veil console API",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN: not under our CSP
        redoc_url=None,
        description=(
            "The veil node's JSON API. Authenticate with `Authorization: Bearer TOKEN` "
            "(create one with `veil token create NAME --role ROLE`). Pseudonyms only, except "
            "`POST /api/v1/reidentify` (role reidentifier, audited)."
        ),
    )
    console = ConsoleState(
        config=config,
        store=store,
        sessions=sessions,
        spool=Spool(config.node.spool),
        templates=make_templates(),
        metrics=Metrics(store, config.node),
    )
    app.state.console = console
    static_dir = Path(str(files("veil.console") / "static"))
    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    for guarded in (pages.router, api.router):
        app.include_router(guarded.router)
        console.route_permissions.update(guarded.permissions)

    _measure_requests(app, console)
    app.add_middleware(SecurityMiddleware, sessions=sessions, secure=web.secure_cookies)
    if web.allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(web.allowed_hosts))
    _map_errors(app)
    return app


def _measure_requests(app: FastAPI, console: ConsoleState) -> None:
    """Count and time requests by route template (never by path: paths carry study keys)."""

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or (
            "/static" if request.url.path.startswith("/static/") else "unmatched"
        )
        console.metrics.requests.labels(request.method, template, str(response.status_code)).inc()
        console.metrics.latency.labels(template).observe(time.perf_counter() - start)
        return response


def _map_errors(app: FastAPI) -> None:
    """Errors to responses, once: an error page or a JSON problem, never the request echoed."""

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": "sign in, or send Authorization: Bearer TOKEN"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        message = "your role does not allow this"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=403)
        return _error_page(request, 403, "Not allowed", message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default answer quotes the input; name the fields only.
        fields = sorted(
            {".".join(str(p) for p in err.get("loc", ()) if p != "body") for err in exc.errors()}
        )
        message = f"invalid request: check {', '.join(fields) or 'the fields'}"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=422)
        return _error_page(request, 422, "Invalid request", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        title = titles.get(exc.status_code, "Request refused")
        message = str(exc.detail) if exc.status_code not in titles else title.lower()
        if _wants_json(request):
            return JSONResponse(
                {"detail": message}, status_code=exc.status_code, headers=exc.headers
            )
        return _error_page(request, exc.status_code, title, message)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # The type only: messages of database and parser errors may quote values.
        log.error(
            "console: %s on %s failed (%s)", request.method, _route(request), type(exc).__name__
        )
        message = "the console hit an internal error; the node is unaffected"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=500)
        return _error_page(request, 500, "Internal error", message)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "an unknown route"))
