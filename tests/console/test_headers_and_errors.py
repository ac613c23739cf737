"""Every response carries the security headers; error pages never repeat what was asked."""

from __future__ import annotations

from console_support import client, sign_in

from veil.console.roles import Role
from veil.console.security import CSP


def _check(answer) -> None:  # type: ignore[no-untyped-def]
    h = answer.headers
    assert h["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert "server" not in h


def test_every_page_and_api_answer_has_the_headers_and_no_store(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    sign_in(c, console.users[Role.ADMIN])
    seen = 0
    for method, template in console.app.state.console.route_permissions:
        if method != "GET":
            continue
        path = template.replace("{key}", console.seeded.sent).replace("{name}", "archive")
        answer = c.get(path)
        _check(answer)
        assert answer.headers["cache-control"] == "no-store", path
        seen += 1
    assert seen > 15
    for path in ("/no/such/page", "/api/v1/nothing", "/studies/unknown-key"):
        answer = c.get(path)
        _check(answer)
        assert answer.headers["cache-control"] == "no-store"


def test_static_files_are_cacheable_and_still_carry_the_policy(console) -> None:  # type: ignore[no-untyped-def]
    answer = client(console.app).get("/static/vendor/htmx-2.0.11.min.js")
    assert answer.status_code == 200
    _check(answer)
    assert answer.headers["cache-control"].startswith("public")


def test_hsts_only_when_the_console_is_reached_over_https(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from console_support import console_app

    from veil.console.config import WebConfig

    plain, store = console_app(tmp_path / "a")
    assert "strict-transport-security" not in client(plain).get("/sign-in").headers
    store.close()
    proxied, store = console_app(tmp_path / "b", WebConfig(trusted_proxies=("127.0.0.1",)))
    assert "max-age" in client(proxied).get("/sign-in").headers["strict-transport-security"]
    store.close()


def test_error_answers_do_not_echo_the_request(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    sign_in(c, console.users[Role.ADMIN])
    probe = "MARKERDOE1234"
    for answer in (
        c.get(f"/studies/{probe}"),
        c.get(f"/{probe}"),
        c.get(f"/api/v1/studies/{probe}"),
        c.get(f"/api/v1/studies?page={probe}"),
        c.get(f"/api/v1/audit?before={probe}"),
        c.post(
            "/api/v1/users",
            json={"name": probe, "password": 3, "roles": probe},
            headers={"X-CSRF-Token": "x"},
        ),
    ):
        assert answer.status_code >= 400
        assert probe not in answer.text
        assert probe.lower() not in answer.text.lower()


def test_validation_errors_name_the_field_not_the_value(console) -> None:  # type: ignore[no-untyped-def]
    from veil.console import accounts

    token = accounts.create_token(console.store, "adm", frozenset({Role.ADMIN}))
    c = client(console.app)
    answer = c.post(
        "/api/v1/users",
        json={"name": "x", "password": ["SECRET-VALUE"], "roles": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    assert "password" in answer.json()["detail"]
    assert "SECRET-VALUE" not in answer.text


def test_a_foreign_host_name_gets_no_answer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from console_support import console_app

    from veil.console.config import parse_web

    web = parse_web({}, "test", tmp_path)
    assert "localhost" in web.allowed_hosts
    app, store = console_app(tmp_path, web)
    local = client(app)
    assert local.get("/healthz", headers={"Host": "127.0.0.1:8480"}).status_code == 200
    assert local.get("/healthz", headers={"Host": "localhost:8480"}).status_code == 200
    # A DNS-rebinding page: its own name, resolved to 127.0.0.1.
    assert local.get("/sign-in", headers={"Host": "evil.example:8480"}).status_code == 400
    store.close()
