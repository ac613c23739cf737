"""Try it on a sample: the explain table, check and audit of one real file; originals masked
for every role, revealed only to the reidentifier with a reason (logged first); the sample
gone when the session ends."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from console_support import CORPUS, XSS, client, console_app, sign_in
from leaks import find_leaks, needles_of, readable
from pydicom import dcmread

from veil.console import accounts, auditlog
from veil.console.auditlog import Action
from veil.console.config import WebConfig
from veil.console.roles import Role
from veil.console.sessions import session_digest

SAMPLE = sorted((CORPUS / "dcm_qa" / "axasc35").glob("MR*"))[0]


def _upload(c: Any, h: dict[str, str], data: bytes, **fields: Any) -> Any:
    return c.post("/studio/sample", files={"file": ("DOE_JOHN.dcm", data)}, data=fields, headers=h)


def _signed_in(console: Any, role: str) -> tuple[Any, dict[str, str]]:
    c = client(console.app)
    return c, {"X-CSRF-Token": sign_in(c, role)}


def test_an_operator_sees_what_happens_to_every_element_and_no_original(console: Any) -> None:
    c, h = _signed_in(console, "operator")
    answer = _upload(c, h, SAMPLE.read_bytes(), policy="basic", profile="neuroquant")
    assert answer.status_code == 303
    page = c.get(answer.headers["location"])
    assert page.status_code == 200
    assert 'id="sample-outcome">written' in page.text
    assert 'id="sample-clean"' in page.text  # the audit of the output: clean
    assert "neuroquant/manufacturer" in page.text  # the check, before and after
    assert "PN, 1 component(s)" in page.text  # PatientName, masked
    assert "private block &#34;SIEMENS CSA HEADER&#34;" in page.text  # folded
    assert "DOE_JOHN" not in page.text  # the file's own name is not kept
    leaks = find_leaks("/studio/sample", readable(page.text), needles_of([SAMPLE]))
    assert leaks == []
    assert "Reveal originals" not in page.text


def test_the_reidentifier_reveals_with_a_reason_and_the_reveal_is_logged(console: Any) -> None:
    c, h = _signed_in(console, "reidentifier")
    _upload(c, h, SAMPLE.read_bytes(), policy="basic")
    masked = c.get("/studio/sample?policy=basic")
    assert "Reveal originals" in masked.text
    name = str(dcmread(SAMPLE, stop_before_pixels=True).PatientName)
    assert name not in masked.text
    refused = c.post(
        "/studio/sample/reveal", data={"reason": "short", "policy": "basic"}, headers=h
    )
    assert refused.status_code == 400 and name not in refused.text
    shown = c.post(
        "/studio/sample/reveal",
        data={"reason": "checking the policy on a real file", "policy": "basic"},
        headers=h,
    )
    assert shown.status_code == 200 and name in shown.text and "originals revealed" in shown.text
    entry = auditlog.entries(console.store, 1)[0]
    assert entry.action is Action.REVEAL and entry.target == "sample: uploaded file"
    assert entry.detail == "checking the policy on a real file"
    operator, oh = _signed_in(console, "operator")
    assert (
        operator.post("/studio/sample/reveal", data={"reason": "x" * 20}, headers=oh).status_code
        == 403
    )


def test_the_sample_is_deleted_at_sign_out_and_when_the_session_ends(console: Any) -> None:
    services = console.app.state.console.studio
    c, h = _signed_in(console, "operator")
    _upload(c, h, SAMPLE.read_bytes())
    folders = list(services.samples.root.iterdir())
    assert len(folders) == 1 and (folders[0] / "sample.dcm").stat().st_mode & 0o077 == 0
    assert services.samples.root.stat().st_mode & 0o077 == 0
    c.post("/sign-out", data={"csrf_token": h["X-CSRF-Token"]})
    assert list(services.samples.root.iterdir()) == []
    # A session that ends without a sign-out (expired, deleted): swept.
    other, oh = _signed_in(console, "policyeditor")
    _upload(other, oh, SAMPLE.read_bytes())
    assert len(list(services.samples.root.iterdir())) == 1
    from sqlalchemy import delete

    from veil.node.store import console_models as cm

    with console.store.db.write() as conn:
        conn.execute(delete(cm.sessions))
    assert services.sweep_samples() == 1
    assert list(services.samples.root.iterdir()) == []


def test_an_instance_from_the_spool_can_be_tried(console: Any) -> None:
    spool = console.app.state.console.spool
    key = console.seeded.quarantined
    target = spool.incoming_file(f"{key}/a.dcm")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(SAMPLE.read_bytes())
    c, h = _signed_in(console, "policyeditor")
    picked = c.post(
        "/studio/sample/spool", data={"study": key, "instance": "1", "policy": "basic"}, headers=h
    )
    assert picked.status_code == 303
    page = c.get(picked.headers["location"])
    assert f"spool: study {key}, instance 1 of 1" in page.text
    assert 'id="sample-outcome">written' in page.text
    missing = c.post("/studio/sample/spool", data={"study": key, "instance": "7"}, headers=h)
    assert missing.status_code == 303


def test_the_preview_api_masks_for_an_operator_and_reveals_for_a_reidentifier(console: Any) -> None:
    data = SAMPLE.read_bytes()
    name = str(dcmread(SAMPLE, stop_before_pixels=True).PatientName)
    operator = client(console.app)
    operator.headers["Authorization"] = "Bearer " + accounts.create_token(
        console.store, "op", frozenset({Role.OPERATOR})
    )
    answer = operator.post(
        "/api/v1/preview",
        files={"file": ("x", data)},
        data={"policy": "basic", "profile": "neuroquant"},
    )
    assert answer.status_code == 200
    body = answer.json()
    row = next(r for r in body["explain"] if r["keyword"] == "PatientName")
    assert row["before"].startswith("PN, ") and row["before_masked"] and name not in answer.text
    assert body["audit"]["errors"] == 0 and body["outcome"] == "written"
    assert {c["rule"] for c in body["check"]} >= {"neuroquant/manufacturer"}
    assert (
        operator.post(
            "/api/v1/preview",
            files={"file": ("x", data)},
            data={"reveal": "true", "reason": "x" * 10},
        ).status_code
        == 403
    )
    reidentifier = client(console.app)
    reidentifier.headers["Authorization"] = "Bearer " + accounts.create_token(
        console.store, "re", frozenset({Role.REIDENTIFIER})
    )
    revealed = reidentifier.post(
        "/api/v1/preview",
        files={"file": ("x", data)},
        data={"reveal": "true", "reason": "a real reason"},
    )
    assert revealed.status_code == 200 and name in revealed.text
    assert auditlog.entries(console.store, 1)[0].target == "preview"


def test_values_of_a_sample_render_as_text(console: Any, tmp_path: Path) -> None:
    ds = dcmread(SAMPLE)
    ds.SeriesDescription = XSS
    ds.PatientName = XSS
    buffer = io.BytesIO()
    ds.save_as(buffer)
    console.store.policies.save(
        "keepdesc",
        "name: keepdesc\noverrides:\n  - {attribute: SeriesDescription, action: keep}\n",
        "t",
    )
    c, h = _signed_in(console, "reidentifier")
    version = console.store.policies.all()[0].id
    _upload(c, h, buffer.getvalue(), policy=f"version:{version}")
    page = c.post(
        "/studio/sample/reveal",
        data={"reason": "render test reason", "policy": f"version:{version}"},
        headers=h,
    )
    assert XSS not in page.text and "&lt;script&gt;alert" in page.text


def test_a_sample_over_its_limit_is_refused(tmp_path: Path) -> None:
    app, store = console_app(tmp_path, WebConfig(max_sample_mb=0.25 + 0.75))
    accounts.add_user(store, "op", "correct horse battery staple", frozenset({Role.OPERATOR}))
    c = client(app)
    h = {"X-CSRF-Token": sign_in(c, "op")}
    big = b"\0" * (1024 * 1024 + 10)
    answer = c.post("/studio/sample", files={"file": ("big.dcm", big)}, headers=h)
    assert answer.status_code == 413 and "web.max_sample_mb" in answer.text
    assert not any(app.state.console.studio.samples.root.glob("*/sample.dcm"))
    store.close()


@pytest.mark.parametrize("route", ["/studio/sample", "/api/v1/preview"])
def test_a_sample_upload_without_the_csrf_token_is_refused(console: Any, route: str) -> None:
    c = client(console.app)
    sign_in(c, "operator")
    answer = c.post(route, files={"file": ("x.dcm", SAMPLE.read_bytes())})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert session_digest  # (samples are keyed by the session's stored digest)
