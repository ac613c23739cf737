"""The three transition tables: complete, enforced, and an illegal step raises before any write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from node_support import TEST_KEY

from veil.node.store import (
    IllegalTransition,
    InstanceState,
    ReturnState,
    Sealer,
    Store,
    StudyState,
)
from veil.node.store.states import (
    INSTANCE_TRANSITIONS,
    RETURN_TRANSITIONS,
    STUDY_TRANSITIONS,
    allowed,
    require,
    sources_of,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'state.db'}", Sealer(bytes.fromhex(TEST_KEY)))
    yield opened
    opened.close()


def test_every_state_of_every_entity_has_a_row() -> None:
    assert set(STUDY_TRANSITIONS) == set(StudyState)
    assert set(INSTANCE_TRANSITIONS) == set(InstanceState)
    assert set(RETURN_TRANSITIONS) == set(ReturnState)


def test_the_steps_the_node_takes_are_in_the_study_table() -> None:
    # The four steps the node took without the table's knowledge before it was enforced.
    assert allowed(StudyState.STABLE, StudyState.SENT)  # nothing left to send
    assert allowed(StudyState.DEIDENTIFIED, StudyState.STABLE)  # recovery at start
    assert allowed(StudyState.STABLE, StudyState.FAILED)  # internal error
    assert allowed(StudyState.DEIDENTIFIED, StudyState.FAILED)  # internal error
    # A new instance reopens a study in any state.
    assert sources_of(StudyState.RECEIVED) == tuple(StudyState)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (StudyState.RECEIVED, StudyState.SENT),  # never sent without being processed
        (StudyState.RECEIVED, StudyState.CHECKED),
        (StudyState.QUARANTINED, StudyState.SENT),  # a quarantined study never leaves
        (StudyState.SENT, StudyState.STABLE),
        (StudyState.FAILED, StudyState.CHECKED),
        (InstanceState.SENT, InstanceState.DEIDENTIFIED),  # delivered is final
        (InstanceState.QUARANTINED, InstanceState.SENT),
        (ReturnState.QUARANTINED, ReturnState.FORWARDED),  # never guessed home
        (ReturnState.FORWARDED, ReturnState.RECEIVED),
    ],
)
def test_an_illegal_transition_raises(current: StudyState, new: StudyState) -> None:
    assert not allowed(current, new)
    with pytest.raises(IllegalTransition, match=f"{current.value} -> {new.value}"):
        require([current], new)


def test_states_of_different_entities_never_mix() -> None:
    assert not allowed(StudyState.RECEIVED, InstanceState.DEIDENTIFIED)  # type: ignore[misc]


def test_the_store_refuses_an_illegal_step_before_writing(store: Store) -> None:
    store.studies.record_instance("1.2.3", "KEY3", "VEILP", "1.2.3.1", "1.2", "a.dcm", now=1.0)
    (study,) = store.studies.status()
    # Every named step goes through the one private writer, which checks the table first.
    with pytest.raises(IllegalTransition, match="received -> sent"), store.db.write() as conn:
        store.studies._move(conn, study.id, [StudyState.RECEIVED], StudyState.SENT)
    assert store.studies.status()[0].state is StudyState.RECEIVED


def test_a_step_from_the_wrong_state_is_a_lost_race_not_a_write(store: Store) -> None:
    store.studies.record_instance("1.2.3", "KEY3", "VEILP", "1.2.3.1", "1.2", "a.dcm", now=1.0)
    (study,) = store.studies.status()
    # Legal steps, but the study is still RECEIVED: nothing changes.
    assert not store.studies.checked(study.id, [])
    assert not store.studies.sent(study.id, [])
    assert not store.studies.quarantine(study.id, "x")
    assert store.studies.status()[0].state is StudyState.RECEIVED
