"""Returned results (reports, derived series) waiting to be re-identified and forwarded home.

Each public method is one step of the returned-result machine in `veil.node.store.states`,
checked against its table and made as a conditional update from the states it leaves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select, update

from veil.node.store import models
from veil.node.store.db import Database, StoreError
from veil.node.store.sealing import Sealer
from veil.node.store.states import ReturnState, require


@dataclass(frozen=True)
class ReturnRow:
    id: int
    spool_name: str  # a keyed hash plus a random suffix, never a received value
    state: ReturnState
    attempts: int
    reason: str | None
    next_attempt_at: float = 0.0
    received_at: float = 0.0
    updated_at: float = 0.0
    # Set only when the result names a patient (and study) this node sent; else None.
    patient_pseudonym: str | None = None
    study_key: str | None = None

    def due(self, now: float) -> bool:
        """Waiting in RECEIVED with its next attempt due by ``now``."""
        return self.state is ReturnState.RECEIVED and self.next_attempt_at <= now


class Returns:
    """The node_return table."""

    def __init__(self, db: Database, sealer: Sealer | None = None) -> None:
        self.db = db
        self._sealer = sealer

    def add(self, spool_name: str, received_sop_uid: str) -> None:
        """Register a spooled result in RECEIVED (idempotent: recovery may register it again).

        Only a keyed digest of the UID it came with is kept (a result may carry originals).
        """
        if self._sealer is None:
            raise StoreError("registering results needs the project key (the node has it)")
        now = time.time()
        row = {
            "spool_name": spool_name,
            "received_digest": self._sealer.uid_digest(received_sop_uid),
            "state": ReturnState.RECEIVED.value,
            "attempts": 0,
            "next_attempt_at": 0.0,
            "received_at": now,
            "updated_at": now,
        }
        with self.db.write() as conn:
            self.db.insert_ignoring_duplicates(conn, models.returns, [row])

    def known_names(self) -> set[str]:
        r = models.returns
        with self.db.read() as conn:
            return {row.spool_name for row in conn.execute(select(r.c.spool_name))}

    def get(self, return_id: int) -> ReturnRow | None:
        return next(iter(self._select(models.returns.c.id == return_id)), None)

    def due(self, now: float, limit: int = 200) -> list[ReturnRow]:
        """Results in RECEIVED whose next attempt is due, oldest first."""
        r = models.returns
        due = and_(r.c.state == ReturnState.RECEIVED.value, r.c.next_attempt_at <= now)
        return self._select(due, limit)

    def in_state(self, state: ReturnState) -> list[ReturnRow]:
        return self._select(models.returns.c.state == state.value)

    def in_states(self, states: Sequence[ReturnState]) -> list[ReturnRow]:
        """Results in any of ``states``, oldest first."""
        return self._select(models.returns.c.state.in_([s.value for s in states]))

    def counts(self) -> dict[str, int]:
        """How many results are in each state, by the state's value."""
        r = models.returns
        with self.db.read() as conn:
            rows = conn.execute(select(r.c.state, func.count()).group_by(r.c.state))
            return {row[0]: row[1] for row in rows}

    # ---- the returned-result machine -----------------------------------------------------

    def forwarded(self, return_id: int) -> bool:
        """Step RECEIVED -> FORWARDED: re-identified and acknowledged by the home PACS."""
        return self._move(return_id, ReturnState.FORWARDED, reason=None)

    def quarantine(self, return_id: int, reason: str) -> bool:
        """Step RECEIVED -> QUARANTINED: unknown pseudonym or unreadable; never sent home."""
        return self._move(return_id, ReturnState.QUARANTINED, reason=reason)

    def about(self, return_id: int, patient_pseudonym: str | None, study_key: str | None) -> None:
        """Remember which known patient and study a result is about (what `veil node returns`
        shows). Only values the node itself issued: a pseudonym it sent, its study key."""
        r = models.returns
        with self.db.write() as conn:
            conn.execute(
                update(r)
                .where(r.c.id == return_id)
                .values(patient_pseudonym=patient_pseudonym, study_key=study_key)
            )

    def fail(self, return_id: int, reason: str, attempts: int | None = None) -> bool:
        """Step RECEIVED -> FAILED: no attempt left, or an internal error."""
        return self._move(return_id, ReturnState.FAILED, reason=reason, attempts=attempts)

    def retry_later(self, return_id: int, attempts: int, reason: str, retry_at: float) -> bool:
        """Step RECEIVED -> RECEIVED with the next attempt at ``retry_at``."""
        return self._move(
            return_id, ReturnState.RECEIVED, reason=reason, attempts=attempts, retry_at=retry_at
        )

    def retry(self, return_id: int) -> bool:
        """Step QUARANTINED | FAILED -> RECEIVED with a fresh attempt budget: the console's
        retry, once the linkage or the home PACS is fixed."""
        r = models.returns
        legal = require([ReturnState.QUARANTINED, ReturnState.FAILED], ReturnState.RECEIVED)
        with self.db.write() as conn:
            result = conn.execute(
                update(r)
                .where(and_(r.c.id == return_id, r.c.state.in_(legal)))
                .values(
                    state=ReturnState.RECEIVED.value,
                    reason=None,
                    attempts=0,
                    next_attempt_at=0.0,
                    updated_at=time.time(),
                )
            )
            return bool(result.rowcount)

    def _move(
        self,
        return_id: int,
        new: ReturnState,
        *,
        reason: str | None,
        attempts: int | None = None,
        retry_at: float | None = None,
    ) -> bool:
        r = models.returns
        legal = require([ReturnState.RECEIVED], new)
        values: dict[str, object] = {
            "state": new.value,
            "reason": reason,
            "updated_at": time.time(),
        }
        if attempts is not None:
            values["attempts"] = attempts
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        with self.db.write() as conn:
            result = conn.execute(
                update(r).where(and_(r.c.id == return_id, r.c.state.in_(legal))).values(values)
            )
            return bool(result.rowcount)

    def _select(self, where: ColumnElement[bool], limit: int | None = None) -> list[ReturnRow]:
        r = models.returns
        query = select(r).where(where).order_by(r.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return [
                ReturnRow(
                    x.id,
                    x.spool_name,
                    ReturnState(x.state),
                    x.attempts,
                    x.reason,
                    x.next_attempt_at,
                    x.received_at,
                    x.updated_at,
                    x.patient_pseudonym,
                    x.study_key,
                )
                for x in conn.execute(query)
            ]
