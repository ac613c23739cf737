"""The state store on SQLite and PostgreSQL: registration, the study and instance steps,
deliveries, linkage, retry, returns, migrations and concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from node_support import TEST_KEY
from sqlalchemy import text

from veil.node.store import (
    Deidentified,
    InstanceState,
    PatientLink,
    ReturnState,
    Sealer,
    Store,
    StoreError,
    StudyLink,
    StudyRow,
    StudyState,
    UidLink,
)
from veil.node.store.migrations import LATEST, SchemaError, migrate


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url, Sealer(bytes.fromhex(TEST_KEY)))
    yield opened
    opened.close()


def _record(store: Store, study: str = "1.2.3", sop: str = "1.2.3.1", now: float = 100.0) -> bool:
    return store.studies.record_instance(
        study,
        "KEY" + study[-1],
        "VEILPSEUDO",
        sop,
        "1.2.840.10008.5.1.4.1.1.4",
        f"{sop}.dcm",
        now=now,
    )


def _stable(store: Store) -> StudyRow:
    """The one study of the store, moved RECEIVED -> STABLE."""
    assert store.studies.mark_stable(quiet_since=1e12) == 1
    (study,) = store.studies.in_states([StudyState.STABLE])
    return study


def _states(store: Store, study: StudyRow) -> list[InstanceState]:
    return [i.state for i in store.studies.instances(study.id, list(InstanceState))]


def test_a_new_instance_is_registered_once(store: Store) -> None:
    assert _record(store) is True
    assert _record(store) is False  # a resend of the same instance
    assert _record(store, sop="1.2.3.2") is True
    (row,) = store.studies.status()
    assert row.instance_count == 2
    assert row.state is StudyState.RECEIVED
    assert row.patient_pseudonym == "VEILPSEUDO"
    assert store.studies.instance_state("1.2.3", "1.2.3.1") is InstanceState.RECEIVED
    assert store.studies.instance_state("1.2.3", "9.9") is None


def test_stable_after_the_quiet_time_and_a_lost_race_changes_nothing(store: Store) -> None:
    _record(store, now=100.0)
    assert store.studies.mark_stable(quiet_since=99.0) == 0
    assert store.studies.mark_stable(quiet_since=100.0) == 1
    (study,) = store.studies.in_states([StudyState.STABLE])
    (instance,) = store.studies.instances(study.id)
    assert store.studies.deidentified(study.id, "2.25.7", [Deidentified(instance.id, "2.25.8")])
    # A worker that lost the race (the study moved on) does not overwrite the state.
    assert not store.studies.deidentified(study.id, "2.25.7", [])
    # A new instance sends a study being processed back to RECEIVED.
    _record(store, sop="1.2.3.9", now=200.0)
    assert store.studies.status()[0].state is StudyState.RECEIVED


def test_a_study_travels_received_to_sent_with_its_instances(store: Store) -> None:
    _record(store)
    _record(store, sop="1.2.3.2")
    study = _stable(store)
    ids = [i.id for i in store.studies.instances(study.id)]
    outputs = [Deidentified(x, f"2.25.{x}") for x in ids]
    assert store.studies.deidentified(study.id, "2.25.1", outputs)
    assert _states(store, study) == [InstanceState.DEIDENTIFIED] * 2
    assert store.studies.checked(study.id, ids)
    assert _states(store, study) == [InstanceState.CHECKED] * 2
    assert store.studies.send_failed(study.id, 1, "pacs down", retry_at=500.0)
    (row,) = store.studies.in_states([StudyState.CHECKED], due_before=500.0)
    assert (row.attempts, row.reason, row.deid_study_uid) == (1, "pacs down", "2.25.1")
    assert store.studies.in_states([StudyState.CHECKED], due_before=499.0) == []
    assert store.studies.sent(study.id, ids)
    (row,) = store.studies.status()
    assert (row.state, row.sent_count, row.reason) == (StudyState.SENT, 2, None)
    # Sent instances are not processed again when a late instance reopens the study.
    _record(store, sop="1.2.3.3", now=300.0)
    late = Sealer(bytes.fromhex(TEST_KEY)).uid_digest("1.2.3.3")
    assert [i.sop_digest for i in store.studies.instances(study.id)] == [late]


def test_quarantine_takes_the_unsent_instances_and_retry_brings_them_back(store: Store) -> None:
    _record(store)
    study = _stable(store)
    assert store.studies.quarantine(study.id, "audit: found at (0010,0010)")
    assert _states(store, study) == [InstanceState.QUARANTINED]
    assert not store.studies.quarantine(study.id, "again")  # already there: a lost race
    assert store.studies.retry(study.id)
    row = store.studies.status()[0]
    assert (row.state, row.attempts, row.reason) == (StudyState.STABLE, 0, None)
    assert _states(store, study) == [InstanceState.RECEIVED]


def test_retry_only_failed_or_quarantined(store: Store) -> None:
    _record(store)
    study = _stable(store)
    assert not store.studies.retry(study.id)
    assert store.studies.fail(study.id, "internal error (OSError at spool.py:40)")
    assert store.studies.find(study.study_key) is not None
    assert store.studies.retry(study.id)
    assert store.studies.status()[0].state is StudyState.STABLE


def test_recovery_and_empty_study_steps(store: Store) -> None:
    _record(store)
    study = _stable(store)
    assert store.studies.deidentified(study.id, "2.25.1", [])
    assert store.studies.reprocess(study.id)  # restart: DEIDENTIFIED -> STABLE
    assert store.studies.nothing_to_send(study.id)  # STABLE -> SENT
    assert store.studies.status()[0].state is StudyState.SENT


def test_deliveries_are_idempotent(store: Store) -> None:
    _record(store)
    (study,) = store.studies.status()
    ids = [i.id for i in store.studies.instances(study.id)]
    store.studies.record_deliveries(ids, "pacs")
    store.studies.record_deliveries(ids, "pacs")  # a resend after a crash
    assert store.studies.delivered(study.id, "pacs") == set(ids)
    assert store.studies.delivered(study.id, "other") == set()


def test_linkage_round_trip(store: Store) -> None:
    study = StudyLink("2.25.1", "1.2.3", "VEILP", "A1", "")
    store.linkage.add(
        [PatientLink("VEILP", "P1", "Doe^J")],
        [study],
        [UidLink("2.25.1", "1.2.3", "StudyInstanceUID", "2.25.1")],
    )
    store.linkage.add([], [], [UidLink("2.25.1", "1.2.3", "x", "2.25.1")])  # existing rows kept
    assert store.linkage.patient("VEILP") == PatientLink("VEILP", "P1", "Doe^J")
    assert store.linkage.patient("VEILX") is None
    assert store.linkage.study("2.25.1") == study
    assert store.linkage.study("2.25.2") is None
    assert store.linkage.uids(["2.25.1", "2.25.2"], "2.25.1") == {"2.25.1": "1.2.3"}
    assert store.linkage.uids(["2.25.1"], "2.25.9") == {}  # another study's UIDs stay


def test_returns_move_once_from_received(store: Store) -> None:
    store.returns.add("a.dcm", "2.25.9")
    store.returns.add("a.dcm", "2.25.9")  # recovery registers it again: one row
    (row,) = store.returns.due(now=1e12)
    assert store.returns.retry_later(row.id, 1, "home down", retry_at=500.0)
    assert store.returns.due(now=499.0) == []
    (row,) = store.returns.due(now=500.0)
    assert (row.attempts, row.reason) == (1, "home down")
    assert store.returns.quarantine(row.id, "unknown pseudonym")
    assert not store.returns.forwarded(row.id)  # quarantined is final
    assert store.returns.counts() == {"quarantined": 1}
    assert [r.id for r in store.returns.in_state(ReturnState.QUARANTINED)] == [row.id]
    assert store.returns.known_names() == {"a.dcm"}


def test_migrations_run_once_and_refuse_a_newer_schema(database_url: str) -> None:
    first = Store.open(database_url)
    assert migrate(first.db.engine) == LATEST  # idempotent
    with first.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO veil_schema_version (version, description, applied_at) "
                "VALUES (999, 'future', 0)"
            )
        )
    first.close()
    with pytest.raises(SchemaError):
        Store.open(database_url)


def test_not_a_database_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match=r"state\.database"):
        Store.open("not a url")


def test_concurrent_associations_register_everything(store: Store) -> None:
    def sender(n: int) -> None:
        for k in range(25):
            _record(store, study=f"1.2.{n % 3}", sop=f"1.2.{n}.{k}")

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.instance_count for r in store.studies.status()) == 200
    assert len(store.studies.status()) == 3
