"""The console's tables (schema versions 20-24) on SQLite and PostgreSQL: the audit log's
append-only triggers and chain, the study timeline trigger, accounts and sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from node_support import TEST_KEY
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from veil.console import accounts, auditlog
from veil.console.roles import Role
from veil.console.sessions import Sessions
from veil.node import controls
from veil.node.store import Deidentified, Sealer, Store, StudyState
from veil.node.store import console_models as cm


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url, Sealer(bytes.fromhex(TEST_KEY)))
    yield opened
    opened.close()


def test_the_audit_log_is_append_only_in_the_database(store: Store) -> None:
    for n in range(3):
        auditlog.append(store, "alice", auditlog.Action.RETRY, f"s{n}")
    with pytest.raises(DBAPIError), store.db.write() as conn:
        conn.execute(update(cm.audit_log).values(actor="mallory"))
    with pytest.raises(DBAPIError), store.db.write() as conn:
        conn.execute(text("DELETE FROM web_audit"))
    result = auditlog.verify(store)
    assert result.ok and result.entries == 3


def test_every_state_a_study_enters_is_on_its_timeline(store: Store) -> None:
    store.studies.record_instance("1.2.3", "k1", "VEILX", "1.2.3.1", "1.2", "k1/a.dcm", 100.0)
    (study,) = store.studies.status()
    store.studies.mark_stable(1e12)
    (instance,) = store.studies.instances(study.id)
    store.studies.deidentified(study.id, "2.25.1", [Deidentified(instance.id, "2.25.2")])
    store.studies.checked(study.id, [instance.id])
    store.studies.send_failed(study.id, 1, "down", retry_at=5.0)  # CHECKED -> CHECKED: no event
    store.studies.sent(study.id, [instance.id])
    assert [e.state for e in controls.study_events(store, study.id)] == [
        StudyState.RECEIVED,
        StudyState.STABLE,
        StudyState.DEIDENTIFIED,
        StudyState.CHECKED,
        StudyState.SENT,
    ]


def test_accounts_tokens_and_sessions(store: Store) -> None:
    user = accounts.add_user(store, "alice", "a long passphrase", frozenset({Role.VIEWER}))
    assert accounts.authenticate(store, "alice", "a long passphrase") == user
    assert accounts.authenticate(store, "alice", "wrong passphrase!") is None
    token = accounts.create_token(store, "bot", frozenset({Role.OPERATOR}))
    found = accounts.token_principal(store, token)
    assert found is not None and found.roles == frozenset({Role.OPERATOR})
    sessions = Sessions(store, 60.0, 3600.0)
    session = sessions.create(user.id)
    assert sessions.get(session.id) is not None
    accounts.remove_user(store, "alice")  # their sessions go with them
    assert sessions.get(session.id) is None
