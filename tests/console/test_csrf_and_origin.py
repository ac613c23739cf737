"""State changes need the session's CSRF token and a same-origin request; GET changes nothing."""

from __future__ import annotations

from console_support import ORIGIN, client, sign_in
from sqlalchemy import func, select

from veil.console import accounts
from veil.console.roles import Role
from veil.node.store import console_models as cm
from veil.node.store import models


def _operator(console):  # type: ignore[no-untyped-def]
    c = client(console.app)
    return c, sign_in(c, console.users[Role.OPERATOR])


def _state(console) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    with console.store.db.read() as conn:
        studies = tuple(conn.execute(select(models.studies.c.id, models.studies.c.state)))
        audit = conn.execute(select(func.count()).select_from(cm.audit_log)).scalar()
        users = conn.execute(select(func.count()).select_from(cm.users)).scalar()
        paused = tuple(conn.execute(select(cm.destination_controls)))
    return studies, audit, users, paused


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console) -> None:  # type: ignore[no-untyped-def]
    c, _csrf = _operator(console)
    before = _state(console)
    answer = c.post(f"/studies/{console.seeded.quarantined}/retry")
    assert answer.status_code == 403
    assert "CSRF" in answer.json()["detail"]
    assert _state(console) == before


def test_a_wrong_csrf_token_is_refused(console) -> None:  # type: ignore[no-untyped-def]
    c, csrf = _operator(console)
    answer = c.post(
        f"/studies/{console.seeded.quarantined}/retry", headers={"X-CSRF-Token": csrf[:-2] + "xx"}
    )
    assert answer.status_code == 403


def test_the_token_in_the_header_as_htmx_sends_it_is_accepted(console) -> None:  # type: ignore[no-untyped-def]
    c, csrf = _operator(console)
    answer = c.post(f"/studies/{console.seeded.quarantined}/retry", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 303
    assert console.store.studies.find(console.seeded.quarantined).state.value == "stable"


def test_the_token_in_a_form_field_is_accepted(console) -> None:  # type: ignore[no-untyped-def]
    c, csrf = _operator(console)
    answer = c.post(f"/studies/{console.seeded.failed}/retry", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert console.store.studies.find(console.seeded.failed).state.value == "stable"


def test_a_cross_site_post_is_refused_even_with_the_token(console) -> None:  # type: ignore[no-untyped-def]
    c, csrf = _operator(console)
    before = _state(console)
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Origin": "http://testserver:8080"},
    ):
        answer = c.post(
            f"/studies/{console.seeded.quarantined}/retry",
            headers={**headers, "X-CSRF-Token": csrf},
        )
        assert answer.status_code == 403, headers
    # No Origin header: only a browser's own Sec-Fetch-Site: same-origin vouches for it.
    del c.headers["Origin"]
    refused = c.post(
        f"/studies/{console.seeded.quarantined}/retry",
        headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
    )
    assert refused.status_code == 403
    assert (
        c.post(
            f"/studies/{console.seeded.quarantined}/retry", headers={"X-CSRF-Token": csrf}
        ).status_code
        == 403
    )
    assert _state(console) == before
    accepted = c.post(
        f"/studies/{console.seeded.quarantined}/retry",
        headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"},
    )
    assert accepted.status_code == 303


def test_the_sign_in_form_itself_needs_the_token(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    c.get("/sign-in")
    answer = c.post("/sign-in", data={"name": "admin", "password": "x" * 20})
    assert answer.status_code == 403


def test_an_api_token_needs_no_csrf_token_and_ignores_the_cookie(console) -> None:  # type: ignore[no-untyped-def]
    token = accounts.create_token(console.store, "script", frozenset({Role.OPERATOR}))
    c = client(console.app)
    del c.headers["Origin"]  # a script sends none
    answer = c.post(
        f"/api/v1/studies/{console.seeded.quarantined}/retry",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True
    bad = c.post(
        f"/api/v1/studies/{console.seeded.failed}/retry",
        headers={"Authorization": "Bearer veil_not-a-token"},
    )
    assert bad.status_code == 401


def test_the_api_used_from_a_signed_in_browser_needs_the_csrf_token(console) -> None:  # type: ignore[no-untyped-def]
    c, csrf = _operator(console)
    path = f"/api/v1/studies/{console.seeded.quarantined}/retry"
    assert c.post(path).status_code == 403
    assert c.post(path, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_no_get_route_changes_state_for_any_role(console) -> None:  # type: ignore[no-untyped-def]
    before = _state(console)
    routes = console.app.state.console.route_permissions
    for role in Role:
        c = client(console.app)
        sign_in(c, console.users[role])
        before = _state(console)  # signing in writes the audit log; GETs must not
        for method, template in routes:
            if method != "GET":
                continue
            path = (
                template.replace("{key}", console.seeded.quarantined)
                .replace("{name}", "archive")
                .replace("{return_id}", str(console.seeded.return_id))
            )
            c.get(path)
        assert _state(console) == before, role
    assert ORIGIN
