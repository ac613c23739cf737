"""Sessions: cookie flags, rotation at sign-in, idle timeout, sign-out; sign-in rate limits."""

from __future__ import annotations

from console_support import PASSWORD, client, console_app, csrf_of, sign_in
from sqlalchemy import update

from veil.console import auditlog
from veil.console.config import WebConfig
from veil.console.roles import Role
from veil.node.store import console_models as cm


def _cookie_header(answer) -> str:  # type: ignore[no-untyped-def]
    return "; ".join(v for k, v in answer.headers.multi_items() if k == "set-cookie")


def test_the_cookie_is_httponly_samesite_strict_and_rotated_at_sign_in(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    first = c.get("/sign-in")
    header = _cookie_header(first)
    assert "HttpOnly" in header and "SameSite=strict" in header.replace("Strict", "strict")
    assert "Secure" not in header  # plain HTTP on loopback: a Secure cookie would be dropped
    before = c.cookies.get("veil")
    answer = c.post(
        "/sign-in",
        data={"name": "admin", "password": PASSWORD, "csrf_token": csrf_of(first.text)},
    )
    assert answer.status_code == 303
    after = c.cookies.get("veil")
    assert after and after != before
    # The pre-sign-in id is worthless now.
    stale = client(console.app)
    stale.cookies.set("veil", before)
    assert stale.get("/").status_code == 303


def test_under_tls_or_a_proxy_the_cookie_is_secure_and_host_bound(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, store = console_app(tmp_path, WebConfig(trusted_proxies=("127.0.0.1",)))
    header = _cookie_header(client(app).get("/sign-in"))
    assert header.startswith("__Host-veil=")
    assert "Secure" in header and "HttpOnly" in header and "Path=/" in header
    store.close()


def test_an_idle_session_ends(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    sign_in(c, console.users[Role.VIEWER])
    assert c.get("/").status_code == 200
    idle = console.app.state.console.sessions.idle
    with console.store.db.write() as conn:
        conn.execute(update(cm.sessions).values(last_seen_at=cm.sessions.c.last_seen_at - idle - 1))
    assert c.get("/").status_code == 303
    assert c.get("/api/v1/dashboard").status_code == 401


def test_sign_out_ends_the_session_on_the_server(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    csrf = sign_in(c, console.users[Role.VIEWER])
    cookie = c.cookies.get("veil")
    assert c.post("/sign-out", headers={"X-CSRF-Token": csrf}).status_code == 303
    replay = client(console.app)
    replay.cookies.set("veil", cookie)
    assert replay.get("/").status_code == 303


def test_failed_sign_ins_are_limited_and_audited(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    page = c.get("/sign-in")
    csrf = csrf_of(page.text)
    codes = [
        c.post(
            "/sign-in", data={"name": "admin", "password": "wrong password!", "csrf_token": csrf}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429
    # Even the right password waits now.
    blocked = c.post("/sign-in", data={"name": "admin", "password": PASSWORD, "csrf_token": csrf})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    actions = [e.action for e in auditlog.entries(console.store, 50)]
    assert actions.count(auditlog.Action.SIGN_IN_FAILED) == 5
    assert auditlog.Action.SIGN_IN_LIMITED in actions


def test_a_password_typed_into_the_name_field_is_not_logged(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    csrf = csrf_of(c.get("/sign-in").text)
    c.post("/sign-in", data={"name": "MySecretPass99", "password": "x", "csrf_token": csrf})
    entries = auditlog.entries(console.store, 5)
    assert entries[0].action is auditlog.Action.SIGN_IN_FAILED
    assert "MySecretPass99" not in repr(entries)


def test_wrong_name_and_wrong_password_answer_alike(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    csrf = csrf_of(c.get("/sign-in").text)
    a = c.post("/sign-in", data={"name": "nobody", "password": "x" * 12, "csrf_token": csrf})
    b = c.post("/sign-in", data={"name": "admin", "password": "x" * 12, "csrf_token": csrf})
    assert a.status_code == b.status_code == 401
    assert a.text == b.text  # the name typed is not echoed, known or not


def test_expired_sessions_are_swept(console) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    sessions = console.app.state.console.sessions
    for _ in range(3):
        client(console.app).get("/sign-in")  # three pre-sign-in sessions
    with console.store.db.write() as conn:
        conn.execute(update(cm.sessions).values(created_at=0.0, last_seen_at=0.0))
    assert sessions.sweep() == 3
    with console.store.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(cm.sessions)).scalar() == 0
