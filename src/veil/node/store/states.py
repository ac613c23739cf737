"""The state machine of a study, an instance and a returned result."""

from __future__ import annotations

from enum import Enum


class StudyState(str, Enum):
    RECEIVED = "received"
    STABLE = "stable"
    DEIDENTIFIED = "de-identified"
    CHECKED = "checked"
    SENT = "sent"
    QUARANTINED = "quarantined"
    FAILED = "failed"


class ReturnState(str, Enum):
    RECEIVED = "received"
    FORWARDED = "forwarded"
    QUARANTINED = "quarantined"
    FAILED = "failed"


TERMINAL = frozenset({StudyState.SENT, StudyState.QUARANTINED, StudyState.FAILED})

# A new instance sends any study back to RECEIVED (it is processed again, as a unit, once
# stable); a retry by command sends FAILED or QUARANTINED back to STABLE.
TRANSITIONS: dict[StudyState, frozenset[StudyState]] = {
    StudyState.RECEIVED: frozenset({StudyState.STABLE}),
    StudyState.STABLE: frozenset({StudyState.DEIDENTIFIED, StudyState.QUARANTINED}),
    StudyState.DEIDENTIFIED: frozenset({StudyState.CHECKED, StudyState.QUARANTINED}),
    StudyState.CHECKED: frozenset({StudyState.SENT, StudyState.FAILED, StudyState.CHECKED}),
    StudyState.SENT: frozenset(),
    StudyState.QUARANTINED: frozenset({StudyState.STABLE}),
    StudyState.FAILED: frozenset({StudyState.STABLE}),
}


def allowed(current: StudyState, new: StudyState) -> bool:
    """Whether ``current -> new`` is a legal step (any state may go back to RECEIVED)."""
    return new is StudyState.RECEIVED or new in TRANSITIONS[current]


def sources_of(new: StudyState) -> tuple[str, ...]:
    """The states from which ``new`` may be entered, as stored values."""
    return tuple(state.value for state in StudyState if allowed(state, new))
