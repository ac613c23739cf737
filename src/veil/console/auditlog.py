"""The console's audit log: append-only and hash-chained.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields (in a
fixed, unambiguous encoding), so changing, removing or reordering any entry breaks every hash
after it, and ``verify`` says where. The database refuses UPDATE and DELETE on the table
(triggers, schema version 21). Sequence numbers are the primary key: two writers appending at
once collide on the same number, and the loser retries on the new head.

Entries hold who, what, on which pseudonymous target, the outcome and a short detail; never an
original identifier (a reveal records the pseudonym looked up and the reason given).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from veil.errors import VeilError
from veil.node.store import Store
from veil.node.store import console_models as cm

GENESIS = "0" * 64


class Action(str, Enum):
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in-failed"
    SIGN_IN_LIMITED = "sign-in-rate-limited"
    SIGN_OUT = "sign-out"
    REVEAL = "reveal"
    RETRY = "retry"
    PROCESS_NOW = "process-now"
    PAUSE = "pause-destination"
    RESUME = "resume-destination"
    PURGE = "purge"
    TEST_DESTINATION = "test-destination"
    DOWNLOAD = "download"
    USER_ADDED = "user-added"
    USER_REMOVED = "user-removed"
    TOKEN_CREATED = "token-created"
    TOKEN_REVOKED = "token-revoked"
    CONFIG_CHANGED = "config-changed"
    AUDIT_VERIFIED = "audit-log-verified"


class Outcome(str, Enum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    seq: int
    at: float
    actor: str
    action: Action
    target: str
    outcome: Outcome
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad: int | None = None  # sequence number of the first entry that does not verify
    problem: str = ""


class AuditLogError(VeilError):
    """The audit log could not be written."""


def _hash(
    prev: str,
    seq: int,
    at: float,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    detail: str,
) -> str:
    # JSON of a list: every field delimited and escaped, so no two entries encode alike.
    payload = json.dumps(
        [prev, seq, repr(at), actor, action, target, outcome, detail], ensure_ascii=True
    )
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def append(
    store: Store,
    actor: str,
    action: Action,
    target: str = "",
    outcome: Outcome = Outcome.OK,
    detail: str = "",
) -> Entry:
    """Add one entry at the head of the chain."""
    a = cm.audit_log
    actor, target, detail = actor[:64], target[:200], detail[:2000]
    for _ in range(20):
        with store.db.write() as conn:
            head = conn.execute(select(a.c.seq, a.c.hash).order_by(a.c.seq.desc()).limit(1))
            last = head.first()
            seq = 1 if last is None else last.seq + 1
            prev = GENESIS if last is None else last.hash
            at = time.time()
            digest = _hash(prev, seq, at, actor, action.value, target, outcome.value, detail)
            try:
                conn.execute(
                    a.insert().values(
                        seq=seq,
                        at=at,
                        actor=actor,
                        action=action.value,
                        target=target,
                        outcome=outcome.value,
                        detail=detail,
                        prev_hash=prev,
                        hash=digest,
                    )
                )
            except IntegrityError:
                continue  # another process appended seq first: chain onto the new head
        return Entry(seq, at, actor, action, target, outcome, detail, prev, digest)
    raise AuditLogError("could not append to the audit log after 20 attempts (busy writers)")


def _entry(row: Any) -> Entry:
    return Entry(
        row.seq,
        row.at,
        row.actor,
        Action(row.action),
        row.target,
        Outcome(row.outcome),
        row.detail,
        row.prev_hash,
        row.hash,
    )


def entries(
    store: Store, limit: int = 100, before: int | None = None, action: Action | None = None
) -> list[Entry]:
    """The newest entries first (``before``: older than that sequence number)."""
    a = cm.audit_log
    query = select(a).order_by(a.c.seq.desc()).limit(max(1, min(limit, 1000)))
    if before is not None:
        query = query.where(a.c.seq < before)
    if action is not None:
        query = query.where(a.c.action == action.value)
    with store.db.read() as conn:
        return [_entry(r) for r in conn.execute(query)]


def count(store: Store) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(cm.audit_log)).scalar() or 0)


def verify(store: Store) -> Verification:
    """Walk the chain from the first entry; report the first entry that does not verify."""
    a = cm.audit_log
    prev = GENESIS
    expected_seq = 1
    checked = 0
    with store.db.read() as conn:
        result = conn.execution_options(yield_per=1000).execute(select(a).order_by(a.c.seq))
        for row in result:
            if row.seq != expected_seq:
                return Verification(False, checked, row.seq, f"entry {expected_seq} is missing")
            if row.prev_hash != prev:
                return Verification(
                    False, checked, row.seq, "its link to the previous entry is broken"
                )
            digest = _hash(
                prev, row.seq, row.at, row.actor, row.action, row.target, row.outcome, row.detail
            )
            if digest != row.hash:
                return Verification(False, checked, row.seq, "its content was changed")
            prev = row.hash
            expected_seq += 1
            checked += 1
    return Verification(True, checked)
