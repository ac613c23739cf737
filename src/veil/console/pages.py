"""The console's HTML pages (server-rendered, htmx-enhanced; every page works without it).

Each page has its JSON twin in ``veil.console.api``; both call ``nodeview`` to read and
``actions`` to act, so they show and change the same things. Actions answer with a redirect
to the page (post/redirect/get) and leave their message in the session; the re-identification
lookup is the exception: its answer is rendered once, never stored or redirected.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from veil.check.model import AttributeRule, PrivateRule, SeriesRule
from veil.console import accounts, actions, auditlog, nodeview
from veil.console.app import ConsoleState, page_context
from veil.console.auditlog import Action, Outcome
from veil.console.guard import PUBLIC, GuardedRouter, Principal
from veil.console.reveal import RevealError
from veil.console.roles import Permission, Role, parse_roles
from veil.console.security import cookie_name
from veil.node.store.states import ReturnState, StudyState

log = logging.getLogger("veil.console")

router = GuardedRouter()


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def render(
    request: Request, template: str, page: str, status: int = 200, **context: Any
) -> Response:
    values = page_context(request, page)
    values.update(context)
    return _console(request).templates.TemplateResponse(
        request, template, values, status_code=status
    )


def _back(request: Request, result: actions.ActionResult, to: str) -> Response:
    principal = _principal(request)
    if principal.session is not None:
        _console(request).sessions.flash(principal.session.id, result.message)
    return RedirectResponse(to, status_code=303)


# ---- sign-in -------------------------------------------------------------------------------


def _set_cookie(response: Response, console: ConsoleState, value: str) -> None:
    secure = console.config.web.secure_cookies
    response.set_cookie(
        cookie_name(secure),
        value,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
        max_age=int(console.config.web.session_max_hours * 3600),
    )


@router.get("/sign-in", PUBLIC)
def sign_in_page(request: Request) -> Response:
    console = _console(request)
    session = request.state.session
    if session is not None and session.user_id is not None:
        return RedirectResponse("/", status_code=303)
    if session is None:  # a pre-sign-in session carries the form's CSRF token
        session = console.sessions.create(None)
        response = _sign_in_form(request, session.csrf_token)
        _set_cookie(response, console, session.id)
        return response
    return _sign_in_form(request, session.csrf_token)


def _sign_in_form(
    request: Request, csrf: str, message: str | None = None, status: int = 200
) -> Response:
    values = page_context(request, "sign-in")
    values.update(csrf=csrf, flash=message or values["flash"])
    return _console(request).templates.TemplateResponse(
        request, "signin.html", values, status_code=status
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/sign-in", PUBLIC)
def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
) -> Response:
    console = _console(request)
    old = request.state.session  # the middleware checked its CSRF token
    address = _client(request)
    wait = max(
        console.account_limiter.retry_after(name.lower()),
        console.address_limiter.retry_after(address),
    )
    if wait > 0:
        auditlog.append(console.store, "-", Action.SIGN_IN_LIMITED, "", Outcome.REFUSED, address)
        response = _sign_in_form(
            request,
            old.csrf_token,
            f"too many failed sign-ins: try again in {int(wait) + 1} s",
            429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = accounts.authenticate(console.store, name, password)
    if user is None:
        console.account_limiter.fail(name.lower())
        console.address_limiter.fail(address)
        known = name in {u.name for u in accounts.list_users(console.store)}
        # An unknown name is not recorded: people type their password into the name field.
        auditlog.append(
            console.store,
            name if known else "(unknown name)",
            Action.SIGN_IN_FAILED,
            "",
            Outcome.REFUSED,
            address,
        )
        return _sign_in_form(request, old.csrf_token, "wrong name or password", 401)
    console.account_limiter.clear(name.lower())
    # Rotate: the pre-sign-in session ends, a new one (new id, new CSRF token) begins.
    console.sessions.end(old.id)
    session = console.sessions.create(user.id)
    auditlog.append(console.store, user.name, Action.SIGN_IN, "", Outcome.OK, address)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(response, console, session.id)
    return response


@router.post("/sign-out", PUBLIC)
def sign_out(request: Request) -> Response:
    console = _console(request)
    principal = request.state.principal
    session = request.state.session
    if session is not None:
        console.sessions.end(session.id)
    if principal is not None:
        auditlog.append(console.store, principal.name, Action.SIGN_OUT)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(cookie_name(console.config.web.secure_cookies), path="/")
    return response


# ---- dashboard -----------------------------------------------------------------------------


@router.get("/", Permission.VIEW_NODE)
def dashboard(request: Request) -> Response:
    console = _console(request)
    board = nodeview.dashboard(console.store, console.config.node)
    return render(request, "dashboard.html", "dashboard", board=board)


@router.get("/partials/dashboard", Permission.VIEW_NODE)
def dashboard_partial(request: Request) -> Response:
    console = _console(request)
    board = nodeview.dashboard(console.store, console.config.node)
    return render(request, "partials/dashboard.html", "dashboard", board=board)


# ---- studies -------------------------------------------------------------------------------


def _filter(state: list[str], q: str, page: int) -> nodeview.StudyFilter:
    known = {s.value: s for s in StudyState}
    return nodeview.StudyFilter(
        states=tuple(known[s] for s in state if s in known), text=q, page=max(1, page)
    )


@router.get("/studies", Permission.VIEW_NODE)
def studies(
    request: Request,
    state: Annotated[list[str], Query(max_length=8)] = [],  # noqa: B006 (FastAPI idiom)
    q: Annotated[str, Query(max_length=80)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    console = _console(request)
    where = _filter(state, q, page)
    rows, total = nodeview.studies(console.store, where)
    return render(
        request,
        "studies.html",
        "studies",
        rows=rows,
        total=total,
        where=where,
        states=[s.value for s in StudyState],
        pages=max(1, -(-total // where.size)),
    )


@router.get("/partials/studies", Permission.VIEW_NODE)
def studies_partial(
    request: Request,
    state: Annotated[list[str], Query(max_length=8)] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=80)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    console = _console(request)
    where = _filter(state, q, page)
    rows, total = nodeview.studies(console.store, where)
    return render(request, "partials/studies.html", "studies", rows=rows, total=total)


@router.get("/studies/{key}", Permission.VIEW_NODE)
def study(request: Request, key: str) -> Response:
    console = _console(request)
    detail = nodeview.study_detail(console.store, console.config.node, key)
    if detail is None:
        return render(
            request, "error.html", "error", 404, title="Not found", message="no such study"
        )
    return render(request, "study.html", "studies", detail=detail, rules=_rule_texts(console))


@router.post("/studies/retry", Permission.ACT_ON_STUDIES)
def retry_many(
    request: Request,
    study: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006
) -> Response:
    console = _console(request)
    who = _principal(request).name
    results = [actions.retry_study(console.store, who, key) for key in study[:500]]
    done = sum(1 for r in results if r.ok)
    message = f"{done} of {len(results)} studies queued again"
    return _back(request, actions.ActionResult(done > 0, message), "/studies")


@router.post("/studies/{key}/retry", Permission.ACT_ON_STUDIES)
def retry(request: Request, key: str) -> Response:
    console = _console(request)
    result = actions.retry_study(console.store, _principal(request).name, key)
    return _back(request, result, f"/studies/{key}" if result.status != 404 else "/studies")


@router.post("/studies/{key}/process-now", Permission.ACT_ON_STUDIES)
def process_now(request: Request, key: str) -> Response:
    console = _console(request)
    result = actions.process_now(console.store, _principal(request).name, key)
    return _back(request, result, f"/studies/{key}" if result.status != 404 else "/studies")


# ---- quarantine ----------------------------------------------------------------------------


def _rule_texts(console: ConsoleState) -> dict[str, tuple[str, str, str]]:
    """rule id -> (need, why, fix) of the configured destination profiles (check findings)."""
    texts: dict[str, tuple[str, str, str]] = {}
    try:
        from veil.check.profile import load_profile

        for name in console.config.node.profiles:
            profile = load_profile(name)
            rules: list[AttributeRule | SeriesRule | PrivateRule] = [
                *profile.rules,
                *profile.series_rules,
                *profile.private_rules,
            ]
            for rule in rules:
                texts[rule.rule_id] = (rule.text.need, rule.text.why, rule.text.fix)
    except Exception as exc:  # rule texts are a help, not a requirement of the page
        log.warning("console: destination profile texts unavailable (%s)", type(exc).__name__)
    return texts


@router.get("/quarantine", Permission.VIEW_NODE)
def quarantine(request: Request, page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    console = _console(request)
    rows, total = nodeview.held(console.store, page)
    returned = nodeview.returns(console.store, (ReturnState.QUARANTINED, ReturnState.FAILED))
    return render(
        request,
        "quarantine.html",
        "quarantine",
        details=rows,
        total=total,
        page_number=page,
        pages=max(1, -(-total // 100)),
        returned=returned,
        rules=_rule_texts(console),
    )


@router.post("/quarantine/{key}/purge", Permission.PURGE_QUARANTINE)
def purge(
    request: Request, key: str, confirm: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    console = _console(request)
    result = actions.purge_study(
        console.store, console.spool, _principal(request).name, key, confirm
    )
    return _back(request, result, "/quarantine")


@router.post("/returns/{return_id}/retry", Permission.ACT_ON_STUDIES)
def retry_return(request: Request, return_id: int) -> Response:
    console = _console(request)
    result = actions.retry_return(console.store, _principal(request).name, return_id)
    return _back(request, result, "/quarantine")


@router.post("/returns/{return_id}/purge", Permission.PURGE_QUARANTINE)
def purge_return(
    request: Request, return_id: int, confirm: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    console = _console(request)
    result = actions.purge_return(
        console.store, console.spool, _principal(request).name, return_id, confirm
    )
    return _back(request, result, "/quarantine")


# ---- destinations --------------------------------------------------------------------------


@router.get("/destinations", Permission.VIEW_NODE)
def destinations(request: Request) -> Response:
    console = _console(request)
    node = console.config.node
    return render(
        request,
        "destinations.html",
        "destinations",
        destinations=nodeview.destinations(console.store, node),
        node=node,
        home=nodeview.address(node.return_path.home) if node.return_path else None,
    )


@router.post("/destinations/{name}/test", Permission.TEST_DESTINATIONS)
def test_destination(request: Request, name: str) -> Response:
    console = _console(request)
    result, _probe = actions.test_destination(
        console.store, console.config.node, _principal(request).name, name
    )
    return _back(request, result, "/destinations")


@router.post("/destinations/{name}/pause", Permission.PAUSE_DESTINATIONS)
def pause(request: Request, name: str) -> Response:
    console = _console(request)
    result = actions.pause_destination(
        console.store, console.config.node, _principal(request).name, name, True
    )
    return _back(request, result, "/destinations")


@router.post("/destinations/{name}/resume", Permission.PAUSE_DESTINATIONS)
def resume(request: Request, name: str) -> Response:
    console = _console(request)
    result = actions.pause_destination(
        console.store, console.config.node, _principal(request).name, name, False
    )
    return _back(request, result, "/destinations")


# ---- re-identification ---------------------------------------------------------------------


@router.get("/reidentify", Permission.REVEAL_ORIGINALS)
def reidentify_page(request: Request) -> Response:
    return render(request, "reidentify.html", "reidentify", revealed=None, error=None)


@router.post("/reidentify", Permission.REVEAL_ORIGINALS)
def reidentify(
    request: Request,
    pseudonym: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    console = _console(request)
    try:
        result, revealed = actions.reveal(
            console.store, _principal(request).name, pseudonym, reason
        )
    except RevealError as exc:
        return render(request, "reidentify.html", "reidentify", 400, revealed=None, error=str(exc))
    if revealed is None:
        return render(
            request, "reidentify.html", "reidentify", 404, revealed=None, error=result.message
        )
    return render(request, "reidentify.html", "reidentify", revealed=revealed, error=None)


# ---- audit log -----------------------------------------------------------------------------


@router.get("/audit", Permission.VIEW_AUDIT_LOG)
def audit(request: Request, before: Annotated[int | None, Query(ge=1)] = None) -> Response:
    console = _console(request)
    entries = auditlog.entries(console.store, 100, before)
    return render(
        request,
        "audit.html",
        "audit",
        entries=entries,
        total=auditlog.count(console.store),
        older=entries[-1].seq if len(entries) == 100 else None,
    )


@router.post("/audit/verify", Permission.VIEW_AUDIT_LOG)
def audit_verify(request: Request) -> Response:
    console = _console(request)
    result = auditlog.verify(console.store)
    message = (
        f"chain verified: {result.entries} entries, intact"
        if result.ok
        else f"chain BROKEN at entry {result.first_bad}: {result.problem}"
    )
    auditlog.append(
        console.store,
        _principal(request).name,
        Action.AUDIT_VERIFIED,
        "",
        Outcome.OK if result.ok else Outcome.FAILED,
        message,
    )
    return _back(request, actions.ActionResult(result.ok, message), "/audit")


# ---- users ---------------------------------------------------------------------------------


@router.get("/users", Permission.MANAGE_USERS)
def users(request: Request) -> Response:
    console = _console(request)
    return render(
        request,
        "users.html",
        "users",
        users=accounts.list_users(console.store),
        tokens=accounts.list_tokens(console.store),
        roles=[r.value for r in Role],
    )


@router.post("/users", Permission.MANAGE_USERS)
def add_user(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
    role: Annotated[list[str], Form(max_length=5)] = [],  # noqa: B006
) -> Response:
    console = _console(request)
    who = _principal(request).name
    try:
        user = accounts.add_user(console.store, name, password, parse_roles(role))
    except Exception as exc:
        from veil.errors import VeilError

        if not isinstance(exc, VeilError):
            raise
        result = actions.ActionResult(False, str(exc), 400)
        auditlog.append(console.store, who, Action.USER_ADDED, name[:64], Outcome.REFUSED, str(exc))
        return _back(request, result, "/users")
    detail = "roles: " + ", ".join(sorted(r.value for r in user.roles))
    auditlog.append(console.store, who, Action.USER_ADDED, user.name, Outcome.OK, detail)
    return _back(request, actions.ActionResult(True, f"user {user.name} added"), "/users")


@router.post("/users/{name}/remove", Permission.MANAGE_USERS)
def remove_user(request: Request, name: str) -> Response:
    console = _console(request)
    who = _principal(request).name
    if name == who:
        return _back(request, actions.ActionResult(False, "you cannot remove yourself"), "/users")
    try:
        accounts.remove_user(console.store, name)
    except accounts.AccountError as exc:
        return _back(request, actions.ActionResult(False, str(exc)), "/users")
    auditlog.append(console.store, who, Action.USER_REMOVED, name)
    return _back(request, actions.ActionResult(True, f"user {name} removed"), "/users")


# ---- health and metrics --------------------------------------------------------------------


@router.get("/healthz", PUBLIC)
def healthz(request: Request) -> Response:
    from fastapi.responses import JSONResponse
    from sqlalchemy import text

    console = _console(request)
    try:
        with console.store.db.read() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.error("console: health check: database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", Permission.VIEW_METRICS)
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    console = _console(request)
    return Response(generate_latest(console.metrics.registry), media_type=CONTENT_TYPE_LATEST)
