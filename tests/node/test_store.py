"""The state store on SQLite and PostgreSQL: registration, conditional transitions, deliveries,
linkage, retry, migrations and concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from veil.node.store import Store, StoreError
from veil.node.store.migrations import LATEST, SchemaError, migrate
from veil.node.store.states import ReturnState, StudyState


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


def _record(store: Store, study: str = "1.2.3", sop: str = "1.2.3.1", now: float = 100.0) -> bool:
    return store.record_instance(
        study,
        "KEY" + study[-1],
        "VEILPSEUDO",
        sop,
        "1.2.840.10008.5.1.4.1.1.4",
        f"{sop}.dcm",
        now=now,
    )


def test_a_new_instance_is_registered_once(store: Store) -> None:
    assert _record(store) is True
    assert _record(store) is False  # a resend of the same instance
    assert _record(store, sop="1.2.3.2") is True
    (row,) = store.status()
    assert row.instance_count == 2
    assert row.state is StudyState.RECEIVED
    assert row.patient_pseudonym == "VEILPSEUDO"


def test_stable_after_the_quiet_time_and_transitions_are_conditional(store: Store) -> None:
    _record(store, now=100.0)
    assert store.mark_stable(quiet_since=99.0) == 0
    assert store.mark_stable(quiet_since=100.0) == 1
    (study,) = store.studies_in([StudyState.STABLE])
    assert store.transition(study.id, StudyState.DEIDENTIFIED, expect=[StudyState.STABLE])
    # A worker that lost the race (the study moved on) does not overwrite the state.
    assert not store.transition(study.id, StudyState.DEIDENTIFIED, expect=[StudyState.STABLE])
    # A new instance sends a study being processed back to RECEIVED.
    _record(store, sop="1.2.3.9", now=200.0)
    assert store.status()[0].state is StudyState.RECEIVED


def test_deliveries_are_idempotent(store: Store) -> None:
    _record(store)
    (study,) = store.status()
    ids = [i.id for i in store.study_instances(study.id)]
    store.record_deliveries(ids, "pacs")
    store.record_deliveries(ids, "pacs")  # a resend after a crash
    assert store.delivered(study.id, "pacs") == set(ids)
    assert store.delivered(study.id, "other") == set()


def test_linkage_round_trip(store: Store) -> None:
    store.add_linkage(
        [
            {
                "pseudo_patient_id": "VEILP",
                "original_patient_id": "P1",
                "original_patient_name": "Doe^J",
            }
        ],
        [
            {
                "pseudo_study_uid": "2.25.1",
                "original_study_uid": "1.2.3",
                "pseudo_patient_id": "VEILP",
                "original_accession": "A1",
                "pseudo_accession": "",
            }
        ],
        [{"pseudo_uid": "2.25.1", "original_uid": "1.2.3", "kind": "StudyInstanceUID"}],
    )
    store.add_linkage([], [], [{"pseudo_uid": "2.25.1", "original_uid": "1.2.3", "kind": "x"}])
    assert store.linked_patient("VEILP") == ("P1", "Doe^J")
    assert store.linked_patient("VEILX") is None
    assert store.linked_study("2.25.1").original_accession == "A1"
    assert store.linked_uids(["2.25.1", "2.25.2"]) == {"2.25.1": "1.2.3"}


def test_retry_only_failed_or_quarantined(store: Store) -> None:
    _record(store)
    (study,) = store.status()
    assert not store.retry(study.id)
    store.transition(
        study.id,
        StudyState.FAILED,
        expect=[StudyState.RECEIVED],
        attempts=5,
        reason="destination down",
    )
    assert store.find_study(study.study_key) is not None
    assert store.retry(study.id)
    row = store.status()[0]
    assert (row.state, row.attempts, row.reason) == (StudyState.STABLE, 0, None)


def test_returns(store: Store) -> None:
    store.add_return("a.dcm", "2.25.9")
    store.add_return("a.dcm", "2.25.9")
    (row,) = store.due_returns(now=1e12)
    store.update_return(row.id, state=ReturnState.QUARANTINED, reason="unknown pseudonym")
    assert store.return_counts() == {"quarantined": 1}
    assert store.known_return_names() == {"a.dcm"}


def test_migrations_run_once_and_refuse_a_newer_schema(database_url: str) -> None:
    first = Store.open(database_url)
    assert migrate(first.engine) == LATEST  # idempotent
    with first.engine.begin() as conn:
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
    assert sum(r.instance_count for r in store.status()) == 200
    assert len(store.status()) == 3
