"""A browser posts a file form (a sample, a policy file) without htmx's header: the CSRF token
comes as the form's first field and is read from the body's first part only; the upload still
streams to the route. A token elsewhere, wrong or missing is refused before the route runs."""

from __future__ import annotations

from typing import Any

import pytest
from console_support import CORPUS, client, sign_in

from veil.console import auditlog

SAMPLE = sorted((CORPUS / "dcm_qa" / "axasc35").glob("MR*"))[0]
BOUNDARY = "----veil-test-boundary"


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A body as a browser builds it: the parts in the form's order."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _operator(console: Any) -> tuple[Any, str]:
    c = client(console.app)
    return c, sign_in(c, "operator")


def test_a_file_form_with_the_token_first_is_accepted_and_the_file_arrives(console: Any) -> None:
    c, csrf = _operator(console)
    body, headers = _multipart(
        [
            ("csrf_token", None, csrf.encode()),
            ("file", "a.dcm", SAMPLE.read_bytes()),
            ("policy", None, b"basic"),
        ]
    )
    answer = c.post("/studio/sample", content=body, headers=headers)
    assert answer.status_code == 303, answer.text
    page = c.get(answer.headers["location"])
    assert 'id="sample-outcome">written' in page.text  # the whole file reached the route


@pytest.mark.parametrize("case", ["token after the file", "wrong token", "no token", "no body"])
def test_a_file_form_without_the_token_first_is_refused(console: Any, case: str) -> None:
    c, csrf = _operator(console)
    file_part = ("file", "a.dcm", SAMPLE.read_bytes())
    parts = {
        "token after the file": [file_part, ("csrf_token", None, csrf.encode())],
        "wrong token": [("csrf_token", None, csrf[:-2].encode() + b"xx"), file_part],
        "no token": [("policy", None, b"basic"), file_part],
        "no body": [],
    }[case]
    body, headers = _multipart(parts)
    before = len(auditlog.entries(console.store, 100))
    answer = c.post("/studio/sample", content=body, headers=headers)
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert not any(console.app.state.console.studio.samples.root.glob("*/sample.dcm"))
    assert len(auditlog.entries(console.store, 100)) == before


def test_a_first_part_that_never_ends_is_refused_without_reading_the_rest(console: Any) -> None:
    c, csrf = _operator(console)
    body, headers = _multipart([("csrf_token", None, csrf.encode() + b"A" * 200_000)])
    answer = c.post("/studio/sample", content=body, headers=headers)
    assert answer.status_code == 403


def test_a_policy_file_imported_by_a_plain_form_post(console: Any) -> None:
    c = client(console.app)
    csrf = sign_in(c, "policyeditor")
    text = b"name: imported\nbase: basic\noverrides:\n  - {attribute: PatientSex, action: remove}\n"
    body, headers = _multipart([("csrf_token", None, csrf.encode()), ("file", "p.yaml", text)])
    answer = c.post("/studio/import", content=body, headers=headers)
    assert answer.status_code == 303, answer.text
    assert any(v.name == "imported" for v in console.store.policies.all())
