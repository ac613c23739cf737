"""DICOM values are untrusted input: a PatientName `<script>` renders as text, everywhere."""

from __future__ import annotations

from console_support import XSS, client, sign_in

from veil.console.roles import Role


def test_a_revealed_patient_name_with_a_script_tag_renders_as_text(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    csrf = sign_in(c, console.users[Role.REIDENTIFIER])
    answer = c.post(
        "/reidentify",
        data={
            "csrf_token": csrf,
            "pseudonym": console.seeded.study_uid_pseudonym,
            "reason": "XSS test <script>alert(2)</script>",
        },
    )
    assert answer.status_code == 200
    body = answer.text
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#39;veil&#39;)&lt;/script&gt;" in body  # name, id, accession
    assert body.count("&lt;script&gt;alert(&#39;veil&#39;)") == 3
    # The only script element is the vendored htmx file.
    assert body.count("<script") == 1


def test_script_in_a_reason_or_audit_detail_renders_as_text(console) -> None:  # type: ignore[no-untyped-def]
    from veil.console import auditlog

    auditlog.append(console.store, "<b>x</b>", auditlog.Action.RETRY, XSS, detail=XSS)
    from sqlalchemy import update

    from veil.node.store import models

    with console.store.db.write() as conn:  # a reason is node-written text; make it hostile
        conn.execute(
            update(models.studies)
            .where(models.studies.c.study_key == console.seeded.receiving)
            .values(reason=XSS)
        )
    c = client(console.app)
    sign_in(c, console.users[Role.ADMIN])
    for path in ("/audit", "/studies", f"/studies/{console.seeded.receiving}", "/"):
        body = c.get(path).text
        assert "<script>alert" not in body, path
        assert body.count("<script") == 1, path
    assert "&lt;script&gt;" in c.get("/audit").text
    assert "&lt;script&gt;" in c.get(f"/studies/{console.seeded.receiving}").text


def test_the_api_returns_json_never_html(console) -> None:  # type: ignore[no-untyped-def]
    from veil.console import accounts

    token = accounts.create_token(console.store, "r", frozenset({Role.REIDENTIFIER}))
    c = client(console.app)
    answer = c.post(
        "/api/v1/reidentify",
        json={"pseudonym": console.seeded.patient_pseudonym, "reason": "checking the JSON API"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["patient_name"] == XSS
