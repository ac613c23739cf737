"""Every route against every role (and no sign-in): deny by default, grants as roles.py says.

The expected answer comes from the route's declared permission and ``roles.GRANTS``; the test
then checks the application really answers so: 401 (API) or a redirect to sign-in (pages)
without a sign-in, 403 without the permission, and anything but those (the action itself may
be refused for its own reasons: 404, 409, 422) with it.
"""

from __future__ import annotations

import pytest
from console_support import ORIGIN, PASSWORD, client, csrf_of, sign_in
from starlette.routing import Mount

from veil.console import accounts
from veil.console.guard import Public
from veil.console.roles import GRANTS, Permission, Role

PUBLIC_ROUTES = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    ("GET", "/healthz"),
    ("GET", "/api/v1/openapi.json"),
}


def _path(template: str, seeded: object) -> str:
    return (
        template.replace("{key}", seeded.quarantined)  # type: ignore[attr-defined]
        .replace("{name}", "archive")
        .replace("{return_id}", str(seeded.return_id))  # type: ignore[attr-defined]
    )


def _call(c, method: str, path: str, csrf: str):  # type: ignore[no-untyped-def]
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if method == "GET":
        return c.get(path, headers=headers)
    if path.startswith("/api/"):
        return c.post(path, json={}, headers=headers)
    return c.post(path, data={}, headers=headers)


def test_every_route_declares_a_permission_or_is_public(console) -> None:  # type: ignore[no-untyped-def]
    declared = console.app.state.console.route_permissions
    served = set()
    routes = list(console.app.routes)
    while routes:
        route = routes.pop()
        if isinstance(route, Mount):
            assert route.path == "/static"
            continue
        if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.165)
            routes.extend(route.original_router.routes)
            continue
        for method in route.methods - {"HEAD"}:
            served.add((method, route.path))
    assert len(served) > 40
    assert served - PUBLIC_ROUTES <= set(declared), "a route was added without a permission"
    public = {k for k, v in declared.items() if isinstance(v, Public)}
    assert public <= PUBLIC_ROUTES, f"unexpected public routes: {public - PUBLIC_ROUTES}"
    # GET routes need a permission that only looks (no GET changes state).
    acting = {
        Permission.ACT_ON_STUDIES,
        Permission.PAUSE_DESTINATIONS,
        Permission.TEST_DESTINATIONS,
        Permission.PURGE_QUARANTINE,
        Permission.EDIT_POLICIES,
        Permission.RUN_JOBS,
    }
    assert not [k for k, v in declared.items() if k[0] == "GET" and v in acting]


def test_no_sign_in_is_refused_everywhere_but_public_routes(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    c.get("/sign-in")  # a pre-sign-in session: its CSRF token passes, its user is nobody
    csrf = csrf_of(c.get("/sign-in").text)
    wrong = []
    for (method, template), needed in console.app.state.console.route_permissions.items():
        if isinstance(needed, Public):
            continue
        answer = _call(c, method, _path(template, console.seeded), csrf)
        expected = 401 if template.startswith("/api/") or template == "/metrics" else 303
        if answer.status_code != expected:
            wrong.append((method, template, answer.status_code))
        if expected == 303:
            assert answer.headers["location"] == "/sign-in"
    assert not wrong


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_gets_what_roles_py_grants_and_nothing_else(console, role: Role) -> None:  # type: ignore[no-untyped-def]
    page_client = client(console.app)
    csrf = sign_in(page_client, console.users[role])
    token = accounts.create_token(console.store, f"t-{role.value}", frozenset({role}))
    api_client = client(console.app)
    api_client.headers["Authorization"] = f"Bearer {token}"
    wrong = []
    checked = 0
    for (method, template), needed in console.app.state.console.route_permissions.items():
        if isinstance(needed, Public) or template == "/sign-out":
            continue
        path = _path(template, console.seeded)
        granted = needed in GRANTS[role]
        # Pages with the session; the API both with the session and with a token.
        callers = [(page_client, csrf)]
        if template.startswith("/api/") or template == "/metrics":
            callers.append((api_client, ""))
        for c, token_csrf in callers:
            answer = _call(c, method, path, token_csrf)
            checked += 1
            status = answer.status_code
            if granted and (status in (401, 403) or status >= 500):
                wrong.append((method, template, status, "should be allowed"))
            if not granted and status != 403:
                wrong.append((method, template, status, "should be 403"))
    assert checked >= 60
    assert not wrong, wrong


def test_a_stored_role_name_veil_does_not_know_grants_nothing(console) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from veil.node.store import console_models as cm

    with console.store.db.write() as conn:
        conn.execute(update(cm.users).where(cm.users.c.name == "viewer").values(roles="superuser"))
    c = client(console.app)
    page = c.get("/sign-in")
    c.post(
        "/sign-in",
        data={"name": "viewer", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert c.get("/").status_code == 403
    assert c.get("/api/v1/dashboard").status_code == 403
    assert ORIGIN
