"""Hostile uploads: zip slip, zip bombs, oversized uploads, too many files, cross-site
requests, and markup in file names. Each is refused with a reason, the rest of the job goes
on, and nothing lands outside the job's own owner-only folder."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from console_support import ORIGIN, XSS, client, console_app, sign_in
from job_support import api_client, finish, series_files, zip_of

from veil.console import accounts
from veil.console.config import WebConfig
from veil.console.roles import Role

GOOD = series_files()[0]


def _results(c: Any, job: str) -> dict[str, dict[str, Any]]:
    return {r["input"]: r for r in c.get(f"/api/v1/jobs/{job}/results").json()}


def test_zip_slip_members_are_refused_and_nothing_is_written_outside(
    console: Any, tmp_path: Path
) -> None:
    data = GOOD.read_bytes()
    archive = zip_of(
        [("../../../escaped.dcm", data), ("/absolute.dcm", data), ("ok/good.dcm", data)]
    )
    c = api_client(console)
    started = c.post(
        "/api/v1/jobs", files={"file": ("evil.zip", archive)}, data={"policy": "basic"}
    )
    job = finish(console, started.json()["id"], c)
    results = _results(c, job["id"])
    assert results["evil.zip!ok/good.dcm"]["outcome"] == "written"
    for member in ("../../../escaped.dcm", "/absolute.dcm"):
        entry = results[f"evil.zip!{member}"]
        assert entry["outcome"] == "failed" and "leaves the archive" in entry["problem"]
    root = Path(console.app.state.console.config.node.spool).parent
    assert not list(root.rglob("escaped.dcm")) and not list(root.rglob("absolute.dcm"))
    assert not Path("/absolute.dcm").exists()


def test_a_zip_bomb_member_is_refused_before_it_is_expanded(console: Any) -> None:
    bomb = zip_of([("zeros.dcm", b"\0" * (64 * 1024 * 1024)), ("good.dcm", GOOD.read_bytes())])
    assert len(bomb) < 1024 * 1024
    c = api_client(console)
    started = c.post("/api/v1/jobs", files={"file": ("bomb.zip", bomb)}, data={"policy": "basic"})
    job = finish(console, started.json()["id"], c)
    results = _results(c, job["id"])
    assert "decompression bomb" in results["bomb.zip!zeros.dcm"]["problem"]
    assert results["bomb.zip!good.dcm"]["outcome"] == "written"


def test_limits_on_job_bytes_chunk_bytes_and_files(tmp_path: Path) -> None:
    web = WebConfig(max_job_mb=2, max_chunk_mb=0.0625 * 4, max_job_files=3)
    app, store = console_app(tmp_path, web)
    c = client(app)
    c.headers["Authorization"] = "Bearer " + accounts.create_token(
        store, "op", frozenset({Role.OPERATOR})
    )
    job = c.post("/api/v1/jobs/uploads").json()["id"]
    too_big = c.post(f"/api/v1/jobs/{job}/files", json={"name": "big", "size": 3 * 1024 * 1024})
    assert too_big.status_code == 413 and "web.max_job_mb" in too_big.json()["detail"]
    n = c.post(f"/api/v1/jobs/{job}/files", json={"name": "a", "size": 1024 * 1024}).json()["file"]
    chunk = c.post(f"/api/v1/jobs/{job}/files/{n}?offset=0", content=b"\1" * (300 * 1024))
    assert chunk.status_code == 413 and "web.max_chunk_mb" in chunk.json()["detail"]
    part = app.state.console.studio.folders.upload(job, n, "part")
    assert part.stat().st_size == 0  # nothing of the refused request was kept
    assert c.get(f"/api/v1/jobs/{job}/files").json()[0]["received"] == 0
    # Members count as files: a zip of 5 is refused whole in a job of at most 3.
    five = zip_of((f"m{i}.dcm", b"x") for i in range(5))
    m = c.post(f"/api/v1/jobs/{job}/files", json={"name": "five.zip", "size": len(five)}).json()[
        "file"
    ]
    settled = c.post(f"/api/v1/jobs/{job}/files/{m}?offset=0", content=five).json()
    assert settled["state"] == "refused" and "web.max_job_files" in settled["problem"]
    for name in ("b", "c"):  # with "a": three files, the most a job takes
        assert (
            c.post(f"/api/v1/jobs/{job}/files", json={"name": name, "size": 1}).status_code == 201
        )
    fourth = c.post(f"/api/v1/jobs/{job}/files", json={"name": "d", "size": 1})
    assert fourth.status_code == 413 and "web.max_job_files" in fourth.json()["detail"]
    # One request of a script: refused as soon as it crosses the job's bytes.
    whole = c.post("/api/v1/jobs", files={"file": ("big.dcm", b"\0" * (3 * 1024 * 1024))})
    assert whole.status_code == 413 and "web.max_job_mb" in whole.json()["detail"]
    store.close()


def test_an_archive_declaring_a_huge_expansion_is_refused_whole(tmp_path: Path) -> None:
    app, store = console_app(tmp_path, WebConfig(max_job_mb=1))
    c = client(app)
    c.headers["Authorization"] = "Bearer " + accounts.create_token(
        store, "op", frozenset({Role.OPERATOR})
    )
    big = zip_of([(f"z{i}.dcm", b"\0" * (2 * 1024 * 1024)) for i in range(3)])  # 6 MiB expanded
    answer = c.post("/api/v1/jobs", files={"file": ("z.zip", big)}, data={"policy": "basic"})
    assert answer.status_code == 400 and "no file received" in answer.json()["detail"]
    job = answer.json()["id"]
    files = c.get(f"/api/v1/jobs/{job}/files").json()
    assert files[0]["state"] == "refused" and "4 times web.max_job_mb" in files[0]["problem"]
    store.close()


@pytest.mark.parametrize("case", ["no token", "cross origin", "token in a form field"])
def test_uploads_need_the_csrf_token_and_the_same_origin(console: Any, case: str) -> None:
    c = client(console.app)
    csrf = sign_in(c, "operator")
    job = c.post("/api/v1/jobs/uploads", headers={"X-CSRF-Token": csrf}).json()["id"]
    n = c.post(
        f"/api/v1/jobs/{job}/files", json={"name": "a", "size": 4}, headers={"X-CSRF-Token": csrf}
    ).json()["file"]
    headers = {"X-CSRF-Token": csrf} if case == "cross origin" else {}
    if case == "cross origin":
        headers["Origin"] = "https://evil.example"
    answer = c.post(f"/api/v1/jobs/{job}/files/{n}?offset=0", content=b"abcd", headers=headers)
    assert answer.status_code == 403
    assert answer.status_code == 403  # a raw chunk is never searched for a token
    # A multipart form carries it as its first field (as the browser's own forms do): taken
    # from there on the same origin only; without it, refused.
    fields = {} if case == "no token" else {"csrf_token": csrf}
    multipart = c.post(
        "/api/v1/jobs", files={"file": ("a.dcm", b"abcd")}, data=fields, headers=headers
    )
    if case == "token in a form field":
        assert multipart.status_code != 403, multipart.text
    else:
        assert multipart.status_code == 403
    assert c.get(f"/api/v1/jobs/{job}/files").json()[0]["received"] == 0
    assert ORIGIN


def test_markup_in_file_names_renders_as_text_and_files_are_owner_only(console: Any) -> None:
    c = client(console.app)
    csrf = sign_in(c, "operator")
    h = {"X-CSRF-Token": csrf}
    job = c.post("/api/v1/jobs/uploads", headers=h).json()["id"]
    data = GOOD.read_bytes()
    n = c.post(
        f"/api/v1/jobs/{job}/files", json={"name": f"{XSS}/scan.dcm", "size": len(data)}, headers=h
    ).json()["file"]
    c.post(f"/api/v1/jobs/{job}/files/{n}?offset=0", content=data, headers=h)
    page = c.get(f"/jobs/{job}")
    assert (
        XSS not in page.text
        and "&lt;script&gt;alert(&#39;veil&#39;)&lt;/script&gt;/scan.dcm" in page.text
    )
    folder = console.app.state.console.studio.folders.folder(job)
    assert folder.stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.rglob("*"))
    from veil.node.store.studio_models import job_files

    with console.store.db.read() as conn:
        stored = conn.execute(job_files.select()).fetchall()
    assert all(b"script" not in bytes(row.name) for row in stored)  # names are sealed
    c.post(f"/jobs/{job}/start", data={"policy": "basic"}, headers=h)
    assert console.app.state.console.studio.runner.wait(120)
    done = c.get(f"/jobs/{job}")
    assert XSS not in done.text and 'data-outcome="written"' in done.text
    assert zipfile.ZIP_STORED == 0
