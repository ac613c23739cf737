"""The operator's actions on the store, through the API: retry, process now, pause, purge."""

from __future__ import annotations

from console_support import client

from veil.console import accounts, auditlog
from veil.console.roles import Role
from veil.node import controls
from veil.node.store.states import ReturnState, StudyState


def _api(console, role: Role):  # type: ignore[no-untyped-def]
    token = accounts.create_token(console.store, f"t-{role.value}", frozenset({role}))
    c = client(console.app)
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def test_process_now_skips_the_wait_only_for_a_study_still_receiving(console) -> None:  # type: ignore[no-untyped-def]
    c = _api(console, Role.OPERATOR)
    done = c.post(f"/api/v1/studies/{console.seeded.receiving}/process-now")
    assert done.status_code == 200
    assert console.store.studies.find(console.seeded.receiving).state is StudyState.STABLE
    again = c.post(f"/api/v1/studies/{console.seeded.sent}/process-now")
    assert again.status_code == 409 and "only a study still receiving" in again.json()["message"]
    assert c.post("/api/v1/studies/nope/process-now").status_code == 404


def test_bulk_retry_answers_per_study(console) -> None:  # type: ignore[no-untyped-def]
    c = _api(console, Role.OPERATOR)
    keys = [console.seeded.quarantined, console.seeded.failed, console.seeded.sent]
    answer = c.post("/api/v1/studies/retry", json={"studies": keys})
    assert [r["ok"] for r in answer.json()] == [True, True, False]
    assert console.store.studies.find(console.seeded.failed).state is StudyState.STABLE


def test_purge_needs_the_key_typed_again_and_deletes_rows_and_files(console) -> None:  # type: ignore[no-untyped-def]
    key = console.seeded.quarantined
    spool = console.app.state.console.spool
    (spool.incoming / key).mkdir(parents=True)
    (spool.incoming / key / "a.dcm").write_bytes(b"x")
    c = _api(console, Role.OPERATOR)
    refused = c.post(f"/api/v1/quarantine/{key}/purge", json={"confirm": "yes"})
    assert refused.status_code == 400
    assert console.store.studies.find(key) is not None
    sent = c.post(
        f"/api/v1/quarantine/{console.seeded.sent}/purge", json={"confirm": console.seeded.sent}
    )
    assert sent.status_code == 409  # a sent study is not purged
    done = c.post(f"/api/v1/quarantine/{key}/purge", json={"confirm": key})
    assert done.status_code == 200
    assert console.store.studies.find(key) is None
    assert not (spool.incoming / key).exists()
    assert auditlog.entries(console.store, 1)[0].action is auditlog.Action.PURGE


def test_pause_and_resume_a_destination(console) -> None:  # type: ignore[no-untyped-def]
    c = _api(console, Role.OPERATOR)
    assert c.post("/api/v1/destinations/archive/pause").status_code == 200
    assert controls.paused_destinations(console.store) == {"archive"}
    listed = {d["name"]: d["paused"] for d in c.get("/api/v1/destinations").json()}
    assert listed == {"archive": True, "research": False}
    assert c.post("/api/v1/destinations/nowhere/pause").status_code == 404
    assert c.post("/api/v1/destinations/archive/resume").status_code == 200
    assert controls.paused_destinations(console.store) == frozenset()


def test_a_folder_destination_test_is_recorded_for_the_dashboard(console) -> None:  # type: ignore[no-untyped-def]
    c = _api(console, Role.OPERATOR)
    answer = c.post("/api/v1/destinations/archive/test")
    assert answer.status_code == 200 and answer.json()["ok"] is True
    board = c.get("/api/v1/dashboard").json()
    archive = next(d for d in board["destinations"] if d["name"] == "archive")
    assert archive["last_test_ok"] is True and "writable" in archive["last_test_detail"]


def test_a_quarantined_result_is_retried_or_purged(console) -> None:  # type: ignore[no-untyped-def]
    c = _api(console, Role.OPERATOR)
    rid = console.seeded.return_id
    assert c.post(f"/api/v1/returns/{rid}/retry").status_code == 200
    assert console.store.returns.get(rid).state is ReturnState.RECEIVED
    assert c.post(f"/api/v1/returns/{rid}/retry").status_code == 409  # not held any more
    console.store.returns.quarantine(rid, "unknown pseudonym")
    assert c.post(f"/api/v1/returns/{rid}/purge", json={"confirm": "0"}).status_code == 400
    assert c.post(f"/api/v1/returns/{rid}/purge", json={"confirm": str(rid)}).status_code == 200
    assert console.store.returns.get(rid) is None
