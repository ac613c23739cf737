"""The audit log: append-only in the database, hash-chained, verified, safe with two writers."""

from __future__ import annotations

import threading

import pytest
from console_support import client, sign_in
from sqlalchemy import text, update
from sqlalchemy.exc import DatabaseError

from veil.console import auditlog
from veil.console.roles import Role
from veil.node.store import console_models as cm


def test_the_chain_verifies_and_the_database_refuses_edits(console) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        auditlog.append(console.store, "alice", auditlog.Action.RETRY, f"study-{n}")
    assert auditlog.verify(console.store).ok
    with pytest.raises(DatabaseError), console.store.db.write() as conn:
        conn.execute(update(cm.audit_log).where(cm.audit_log.c.seq == 2).values(actor="mallory"))
    with pytest.raises(DatabaseError), console.store.db.write() as conn:
        conn.execute(text("DELETE FROM web_audit WHERE seq = 3"))
    assert auditlog.verify(console.store).ok


def test_verify_finds_the_first_changed_entry(console) -> None:  # type: ignore[no-untyped-def]
    for n in range(6):
        auditlog.append(console.store, "alice", auditlog.Action.RETRY, f"study-{n}")
    count = auditlog.count(console.store)
    # Someone with the database file drops the guard and rewrites entry 4.
    with console.store.db.write() as conn:
        conn.execute(text("DROP TRIGGER web_audit_no_update"))
        conn.execute(update(cm.audit_log).where(cm.audit_log.c.seq == 4).values(target="x"))
    result = auditlog.verify(console.store)
    assert not result.ok
    assert result.first_bad == 4
    assert result.entries == 3
    assert "changed" in result.problem
    assert count == auditlog.count(console.store)


def test_a_removed_entry_breaks_the_chain(console) -> None:  # type: ignore[no-untyped-def]
    for n in range(4):
        auditlog.append(console.store, "alice", auditlog.Action.PURGE, f"s{n}")
    with console.store.db.write() as conn:
        conn.execute(text("DROP TRIGGER web_audit_no_delete"))
        conn.execute(text("DELETE FROM web_audit WHERE seq = 2"))
    result = auditlog.verify(console.store)
    assert not result.ok and result.first_bad == 3


def test_two_writers_at_once_keep_one_unbroken_chain(console) -> None:  # type: ignore[no-untyped-def]
    def write(who: str) -> None:
        for n in range(25):
            auditlog.append(console.store, who, auditlog.Action.RETRY, f"{who}-{n}")

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = auditlog.verify(console.store)
    assert result.ok
    assert result.entries == auditlog.count(console.store) >= 75


def test_the_verify_button_reports_and_is_itself_logged(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    csrf = sign_in(c, console.users[Role.ADMIN])
    answer = c.post("/audit/verify", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 303
    page = c.get("/audit").text
    assert "chain verified" in page
    assert auditlog.entries(console.store, 1)[0].action is auditlog.Action.AUDIT_VERIFIED


def test_actions_and_reveals_are_logged_with_who_and_why(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    csrf = sign_in(c, console.users[Role.REIDENTIFIER])
    c.post(
        "/reidentify",
        data={"csrf_token": csrf, "pseudonym": "VEILPSEUDO00", "reason": "result came back"},
    )
    entry = auditlog.entries(console.store, 1)[0]
    assert entry.action is auditlog.Action.REVEAL
    assert (entry.actor, entry.target, entry.detail) == (
        "reidentifier",
        "VEILPSEUDO00",
        "result came back",
    )
    refused = c.post("/reidentify", data={"csrf_token": csrf, "pseudonym": "VEILPSEUDO00"})
    assert refused.status_code in (400, 422)
    assert auditlog.entries(console.store, 1)[0].seq == entry.seq  # no reason, no lookup
