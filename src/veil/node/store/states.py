"""The node's three state machines: a study, an instance and a returned result.

Each entity has one transition table, and every state change the store makes is checked
against it (`require`) before the database is touched: a step that is not in the table is a
bug in veil and raises `IllegalTransition`; it is never written. A step that *is* legal can
still lose a race (the study changed under the worker: a new instance arrived): the store's
conditional update then changes nothing and reports False, and the study is processed again.

Study (the unit that is or is not sent)::

    RECEIVED --quiet for stable_seconds--> STABLE
    STABLE --outputs written--> DEIDENTIFIED --destination check passed--> CHECKED
    CHECKED --delivered everywhere--> SENT
    CHECKED --a send failed, attempts left--> CHECKED (next attempt scheduled)
    CHECKED --a send failed, no attempt left--> FAILED
    STABLE | DEIDENTIFIED --audit finding, unreadable input, check regression--> QUARANTINED
    STABLE | DEIDENTIFIED | CHECKED --internal error (disk full, a bug)--> FAILED
    STABLE --every instance already sent (a resend)--> SENT
    STABLE --the received study fails a destination profile (send_ineligible off)--> NOT_ELIGIBLE
    DEIDENTIFIED --restart found it half-way--> STABLE
    FAILED | QUARANTINED | NOT_ELIGIBLE --`veil node retry`--> STABLE
    any state --a new instance, or a new version of one, arrived--> RECEIVED

NOT_ELIGIBLE holds a study the destination could not process (a 2D EPI sent to a 3D-T1
volumetry service): nothing of it was de-identified or sent. It leaves by a new instance (the
missing series arrived), by `veil node retry` (judged again, e.g. after the profiles changed,
or sent anyway with ``--send-anyway``), or by `veil node forget`.

Instance (follows its study; SENT is final for one *version* of an instance)::

    RECEIVED | DEIDENTIFIED | CHECKED --study de-identified (again, as a unit)--> DEIDENTIFIED
    DEIDENTIFIED --study checked--> CHECKED --delivered everywhere--> SENT
    RECEIVED | DEIDENTIFIED | CHECKED --study quarantined--> QUARANTINED
    QUARANTINED --`veil node retry`--> RECEIVED
    any state --a new version arrived (same SOP Instance UID, other content)--> RECEIVED

A delivered version is never sent again; a new version (the source corrected the patient's
sex, say) is a new thing to send, under the same de-identified UIDs, so the destination
replaces the instance.

Returned result::

    RECEIVED --re-identified and forwarded home--> FORWARDED
    RECEIVED --home unreachable, attempts left--> RECEIVED (next attempt scheduled)
    RECEIVED --home unreachable, no attempt left; internal error--> FAILED
    RECEIVED --unknown pseudonym, unreadable--> QUARANTINED
    QUARANTINED | FAILED --retry from the console--> RECEIVED
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import Enum
from typing import Any, TypeVar

from veil.errors import VeilError


class StudyState(str, Enum):
    RECEIVED = "received"
    STABLE = "stable"
    DEIDENTIFIED = "de-identified"
    CHECKED = "checked"
    SENT = "sent"
    QUARANTINED = "quarantined"
    FAILED = "failed"
    NOT_ELIGIBLE = "not-eligible"  # fails a destination profile as received: held, not sent


class InstanceState(str, Enum):
    RECEIVED = "received"
    DEIDENTIFIED = "de-identified"
    CHECKED = "checked"
    SENT = "sent"
    QUARANTINED = "quarantined"


class ReturnState(str, Enum):
    RECEIVED = "received"
    FORWARDED = "forwarded"
    QUARANTINED = "quarantined"
    FAILED = "failed"


S = TypeVar("S", StudyState, InstanceState, ReturnState)

_Study = StudyState

# current state -> the states it may move to. RECEIVED is reachable from every state: a new
# instance reopens a study whatever it was doing (it is processed again, as a unit, once stable).
STUDY_TRANSITIONS: Mapping[StudyState, frozenset[StudyState]] = {
    _Study.RECEIVED: frozenset({_Study.RECEIVED, _Study.STABLE}),
    _Study.STABLE: frozenset(
        {
            _Study.RECEIVED,
            _Study.DEIDENTIFIED,
            _Study.QUARANTINED,
            _Study.FAILED,  # internal error while de-identifying
            _Study.SENT,  # nothing left to send: every instance was delivered before
            _Study.NOT_ELIGIBLE,  # the destination could not process it (send_ineligible off)
        }
    ),
    _Study.DEIDENTIFIED: frozenset(
        {
            _Study.RECEIVED,
            _Study.CHECKED,
            _Study.QUARANTINED,
            _Study.FAILED,  # internal error while checking
            _Study.STABLE,  # start-up recovery: caught between de-identification and check
        }
    ),
    _Study.CHECKED: frozenset(
        {
            _Study.RECEIVED,
            _Study.SENT,
            _Study.FAILED,
            _Study.CHECKED,  # a send failed; the next attempt is scheduled
        }
    ),
    _Study.SENT: frozenset({_Study.RECEIVED}),
    _Study.QUARANTINED: frozenset({_Study.RECEIVED, _Study.STABLE}),
    _Study.FAILED: frozenset({_Study.RECEIVED, _Study.STABLE}),
    _Study.NOT_ELIGIBLE: frozenset({_Study.RECEIVED, _Study.STABLE}),
}

_Inst = InstanceState
# RECEIVED is reachable from every instance state: a new version (same SOP Instance UID, other
# content) starts the instance over, whatever its old version was doing.
INSTANCE_TRANSITIONS: Mapping[InstanceState, frozenset[InstanceState]] = {
    _Inst.RECEIVED: frozenset({_Inst.RECEIVED, _Inst.DEIDENTIFIED, _Inst.QUARANTINED}),
    # A study is de-identified again as a unit when it is reopened (a new instance, a retry),
    # so its instances that were not yet sent are de-identified again too.
    _Inst.DEIDENTIFIED: frozenset(
        {_Inst.RECEIVED, _Inst.DEIDENTIFIED, _Inst.CHECKED, _Inst.QUARANTINED}
    ),
    _Inst.CHECKED: frozenset({_Inst.RECEIVED, _Inst.DEIDENTIFIED, _Inst.SENT, _Inst.QUARANTINED}),
    # Delivered: this version is never de-identified or sent again; a new version is.
    _Inst.SENT: frozenset({_Inst.RECEIVED}),
    _Inst.QUARANTINED: frozenset({_Inst.RECEIVED}),  # `veil node retry`, or a new version
}

_Ret = ReturnState
RETURN_TRANSITIONS: Mapping[ReturnState, frozenset[ReturnState]] = {
    _Ret.RECEIVED: frozenset(
        {
            _Ret.RECEIVED,  # the home PACS failed; the next attempt is scheduled
            _Ret.FORWARDED,
            _Ret.QUARANTINED,
            _Ret.FAILED,
        }
    ),
    _Ret.FORWARDED: frozenset(),
    _Ret.QUARANTINED: frozenset({_Ret.RECEIVED}),  # retried from the console (veil.node.controls)
    _Ret.FAILED: frozenset({_Ret.RECEIVED}),  # retried from the console
}

TERMINAL = frozenset(
    {StudyState.SENT, StudyState.QUARANTINED, StudyState.FAILED, StudyState.NOT_ELIGIBLE}
)
# Studies the node holds until someone acts (retry, forget, a new instance): never sent.
HELD = (StudyState.QUARANTINED, StudyState.FAILED, StudyState.NOT_ELIGIBLE)


class IllegalTransition(VeilError):
    """A state change that its entity's transition table does not allow (a bug in veil)."""


_TABLES: Mapping[type[Enum], Mapping[Any, frozenset[Any]]] = {
    StudyState: STUDY_TRANSITIONS,
    InstanceState: INSTANCE_TRANSITIONS,
    ReturnState: RETURN_TRANSITIONS,
}


def _table(state: S) -> Mapping[S, frozenset[S]]:
    return _TABLES[type(state)]


def allowed(current: S, new: S) -> bool:
    """Whether ``current -> new`` is in the transition table of their entity."""
    if type(current) is not type(new):
        return False  # a study state never moves an instance, nor the other way round
    return new in _table(current)[current]


def require(sources: Collection[S], new: S) -> tuple[str, ...]:
    """Check that every ``source -> new`` is legal; return the sources as stored values.

    The store calls this before each conditional update ("from these states to that one"),
    so no code path can write a step the table does not have.
    """
    if not sources:
        raise IllegalTransition(f"a transition to {new.value} names no source state")
    illegal = sorted(s.value for s in sources if not allowed(s, new))
    if illegal:
        kind = type(new).__name__.removesuffix("State").lower()
        raise IllegalTransition(
            f"{kind} transition {', '.join(illegal)} -> {new.value} is not in the "
            f"{kind} transition table (veil.node.store.states)"
        )
    return tuple(s.value for s in sources)


def sources_of(new: S) -> tuple[S, ...]:
    """Every state from which ``new`` may be entered (in table order)."""
    table = _table(new)
    return tuple(state for state, targets in table.items() if new in targets)


__all__ = [
    "HELD",
    "INSTANCE_TRANSITIONS",
    "RETURN_TRANSITIONS",
    "STUDY_TRANSITIONS",
    "TERMINAL",
    "IllegalTransition",
    "InstanceState",
    "ReturnState",
    "StudyState",
    "allowed",
    "require",
    "sources_of",
]
