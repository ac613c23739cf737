"""Instance versions in the state store (SQLite and PostgreSQL): registration outcomes, the
steps they take, deliveries that count per version, one study's identities, the new states,
and migrations 40-41 on a database written before them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from node_support import TEST_KEY
from sqlalchemy import inspect, text

from veil.node.store import (
    Arrival,
    Deidentified,
    Incoming,
    InstanceState,
    Sealer,
    Store,
    StudyState,
)
from veil.node.store.migrations import LATEST, migrate
from veil.node.store.states import HELD, IllegalTransition, allowed, require

MR = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url, Sealer(bytes.fromhex(TEST_KEY)))
    yield opened
    opened.close()


def _incoming(
    sop: str = "1.2.3.1", sha: str = "a" * 64, name: str = "Doe^J", **kw: str
) -> Incoming:
    values = {
        "study_uid": "1.2.3",
        "sop_uid": sop,
        "sop_class_uid": MR,
        "study_key": "KEY3",
        "patient_pseudonym": kw.pop("pseudonym", "VEILP"),
        "spool_name": f"KEY3/{sop}-{sha[:4]}.dcm",
        "content_sha256": sha,
        "patient_name": name,
        "birth_date": "19800101",
    }
    values.update(kw)
    return Incoming(**values)  # type: ignore[arg-type]


def _sent(store: Store) -> int:
    """Take the one study to SENT; its id."""
    assert store.studies.mark_stable(quiet_since=1e12) == 1
    (study,) = store.studies.in_states([StudyState.STABLE])
    ids = [i.id for i in store.studies.instances(study.id)]
    outputs = [Deidentified(x, f"2.25.9{x}") for x in ids]
    assert store.studies.deidentified(study.id, "2.25.9", outputs)
    assert store.studies.checked(study.id, ids)
    store.studies.record_deliveries(ids, "pacs")
    assert store.studies.sent(study.id, ids)
    return study.id


def test_registration_tells_new_known_new_version_and_stale(store: Store) -> None:
    first = store.studies.register(_incoming(), now=100.0)
    assert (first.arrival, first.version, first.superseded) == (Arrival.NEW, 1, None)
    study = _sent(store)
    same = store.studies.register(_incoming(), now=200.0)
    assert (same.arrival, same.state, same.spool_name) == (
        Arrival.KNOWN,
        InstanceState.SENT,
        first.spool_name,
    )
    assert store.studies.get(study).state is StudyState.SENT  # type: ignore[union-attr]

    corrected = store.studies.register(_incoming(sha="b" * 64), now=300.0)
    assert (corrected.arrival, corrected.version, corrected.state) == (
        Arrival.NEW_VERSION,
        2,
        InstanceState.RECEIVED,
    )
    assert corrected.superseded == first.spool_name != corrected.spool_name
    row = store.studies.get(study)
    assert row is not None and row.state is StudyState.RECEIVED  # processed again
    (instance,) = store.studies.instances(study)
    assert (instance.version, instance.spool_name) == (2, corrected.spool_name)

    # Start-up finds the first version's file left behind (a crash before it was removed):
    # written before version 2 arrived, so it is stale, never a third version.
    stale = store.studies.register(_incoming(), now=400.0, written_at=150.0)
    assert (stale.arrival, stale.spool_name) == (Arrival.STALE, corrected.spool_name)
    # A version written after the registered one arrived is a newer one.
    newer = store.studies.register(_incoming(sha="c" * 64), now=500.0, written_at=450.0)
    assert (newer.arrival, newer.version) == (Arrival.NEW_VERSION, 3)
    (status,) = store.studies.status()
    assert (status.versioned_count, status.latest_version) == (1, 3)


def test_a_delivery_counts_only_for_the_version_that_was_sent(store: Store) -> None:
    store.studies.register(_incoming(), now=100.0)
    study = _sent(store)
    (instance,) = store.studies.instances(study, list(InstanceState))
    assert store.studies.delivered(study, "pacs") == {instance.id}
    store.studies.register(_incoming(sha="b" * 64), now=200.0)
    assert store.studies.delivered(study, "pacs") == set()  # version 2 not yet delivered
    assert store.studies.progress() == {}
    # A sender that finishes version 1 late (the new version arrived during the send):
    # recorded, and still not counted for version 2.
    store.studies.record_deliveries([instance.id], "pacs", {instance.id: 1})
    assert store.studies.delivered(study, "pacs") == set()
    store.studies.record_deliveries([instance.id], "pacs", {instance.id: 2})
    assert store.studies.delivered(study, "pacs") == {instance.id}
    assert store.studies.progress() == {study: {"pacs": 1}}


def test_identities_count_patients_names_and_birth_dates(store: Store) -> None:
    store.studies.register(_incoming("1.2.3.1"), now=100.0)
    store.studies.register(_incoming("1.2.3.2", name="DOE^J^^"), now=100.0)  # the same name
    (row,) = store.studies.status()
    assert not store.studies.identities(row.id).mixed
    store.studies.register(_incoming("1.2.3.3", name="Roe^R"), now=100.0)
    store.studies.register(_incoming("1.2.3.4", pseudonym="VEILQ", name=""), now=100.0)
    found = store.studies.identities(row.id)
    assert (found.pseudonyms, found.names, found.birth_dates, found.mixed) == (2, 2, 1, True)


def test_not_eligible_is_held_and_left_by_retry_or_a_new_instance(store: Store) -> None:
    store.studies.register(_incoming(), now=100.0)
    store.studies.mark_stable(quiet_since=1e12)
    (row,) = store.studies.status()
    assert store.studies.not_eligible(row.id, "not eligible: ...")
    assert store.studies.get(row.id).state is StudyState.NOT_ELIGIBLE  # type: ignore[union-attr]
    assert StudyState.NOT_ELIGIBLE in HELD
    assert not allowed(StudyState.NOT_ELIGIBLE, StudyState.SENT)  # never sent as it is
    with pytest.raises(IllegalTransition):
        require([StudyState.NOT_ELIGIBLE], StudyState.DEIDENTIFIED)
    assert store.studies.retry(row.id, send_anyway=True)
    again = store.studies.get(row.id)
    assert again is not None and (again.state, again.send_anyway) == (StudyState.STABLE, True)
    assert allowed(StudyState.NOT_ELIGIBLE, StudyState.RECEIVED)  # a new instance reopens it
    assert allowed(InstanceState.SENT, InstanceState.RECEIVED)  # a new version
    assert not allowed(InstanceState.SENT, InstanceState.DEIDENTIFIED)  # a sent version: never


def test_migrations_40_and_41_add_their_columns_to_an_older_database(database_url: str) -> None:
    store = Store.open(database_url, Sealer(bytes.fromhex(TEST_KEY)))
    store.studies.register(_incoming(), now=100.0)
    _sent(store)
    engine = store.db.engine
    dropped = {
        "node_instance": (
            "version",
            "content_digest",
            "patient_pseudonym",
            "name_digest",
            "birth_digest",
        ),
        "node_delivery": ("version",),
        "node_study": ("send_anyway",),
        "node_return": ("patient_pseudonym", "study_key"),
    }
    with engine.begin() as conn:  # what schema 24 looked like
        for table, columns in dropped.items():
            for column in columns:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("DELETE FROM veil_schema_version WHERE version >= 40"))
    assert migrate(engine) == LATEST
    inspector = inspect(engine)
    for table, columns in dropped.items():
        assert set(columns) <= {c["name"] for c in inspector.get_columns(table)}
    (instance,) = store.studies.instances(store.studies.status()[0].id, list(InstanceState))
    assert instance.version == 1  # rows from before get the first version
    study = store.studies.status()[0].id
    assert store.studies.delivered(study, "pacs") == {instance.id}
    # An instance from before versions (no content digest) sent again: processed again
    # rather than risk dropping a correction.
    again = store.studies.register(_incoming(), now=300.0)
    assert (again.arrival, again.version) == (Arrival.NEW_VERSION, 2)
    store.close()
