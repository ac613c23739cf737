"""Studies, their instances and deliveries: registration and every step of the study machine.

Each public method is one named step of `veil.node.store.states` (the docstring says which);
it checks the step against the transition table, then makes a conditional update ("from these
states to that one") so that a worker whose study changed under it (a new instance arrived)
loses the race and changes nothing: the method returns False and the study is processed
again once stable. Steps that change a study and its instances do both in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Row, and_, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from veil.node.store import models
from veil.node.store.db import Database, StoreError, chunks
from veil.node.store.sealing import Sealer
from veil.node.store.states import InstanceState, StudyState, require


class _Unset(Enum):
    UNSET = "unset"  # a column the step leaves as it is


UNSET = _Unset.UNSET


@dataclass(frozen=True)
class StudyRow:
    """A study as the node sees it: keyed tokens and pseudonyms, never an original UID."""

    id: int
    study_key: str
    patient_pseudonym: str
    deid_study_uid: str | None
    state: StudyState
    reason: str | None
    attempts: int
    next_attempt_at: float
    last_received_at: float
    instance_count: int = 0
    sent_count: int = 0


@dataclass(frozen=True)
class InstanceRow:
    id: int
    sop_digest: str  # keyed digest of the received SOP Instance UID
    sop_class_uid: str
    spool_name: str
    state: InstanceState
    deid_sop_uid: str | None


@dataclass(frozen=True)
class Deidentified:
    """One instance's de-identified SOP Instance UID (its output file is named by it)."""

    instance_id: int
    deid_sop_uid: str


def _study(row: Row[Any], counts: tuple[int, int] = (0, 0)) -> StudyRow:
    return StudyRow(
        id=row.id,
        study_key=row.study_key,
        patient_pseudonym=row.patient_pseudonym,
        deid_study_uid=row.deid_study_uid,
        state=StudyState(row.state),
        reason=row.reason,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_received_at=row.last_received_at,
        instance_count=counts[0],
        sent_count=counts[1],
    )


class Studies:
    """The node_study, node_instance and node_delivery tables."""

    def __init__(self, db: Database, sealer: Sealer | None = None) -> None:
        self.db = db
        self._sealer = sealer

    def _digest(self, uid: str) -> str:
        """The keyed digest a received UID is stored and looked up by (never the UID)."""
        if self._sealer is None:
            raise StoreError("registering instances needs the project key (the node has it)")
        return self._sealer.uid_digest(uid)

    # ---- receiving ---------------------------------------------------------------------

    def record_instance(
        self,
        study_uid: str,
        study_key: str,
        patient_pseudonym: str,
        sop_uid: str,
        sop_class_uid: str,
        spool_name: str,
        now: float | None = None,
    ) -> bool:
        """Register a spooled instance; True when it is new (``study_uid`` and ``sop_uid`` are
        the received UIDs: only their keyed digests are stored).

        Step: any state -> RECEIVED for its study when the instance is new (the study is
        processed again, as a unit, once stable). A resend of a known instance changes no
        state; it only delays stability while the study is still being received.
        """
        now = time.time() if now is None else now
        study_digest, sop_digest = self._digest(study_uid), self._digest(sop_uid)
        for _ in range(5):
            try:
                with self.db.write() as conn:
                    return self._record(
                        conn,
                        study_digest,
                        study_key,
                        patient_pseudonym,
                        sop_digest,
                        sop_class_uid,
                        spool_name,
                        now,
                    )
            except IntegrityError:
                continue  # a concurrent association created the same study or instance
        raise StoreError("could not register an instance after 5 attempts (concurrent writers)")

    def _record(
        self,
        conn: Connection,
        study_digest: str,
        study_key: str,
        patient_pseudonym: str,
        sop_digest: str,
        sop_class_uid: str,
        spool_name: str,
        now: float,
    ) -> bool:
        s, i = models.studies, models.instances
        row = conn.execute(
            select(s.c.id, s.c.state).where(s.c.study_digest == study_digest)
        ).first()
        if row is None:
            inserted = conn.execute(
                s.insert().values(
                    study_digest=study_digest,
                    study_key=study_key,
                    patient_pseudonym=patient_pseudonym,
                    state=StudyState.RECEIVED.value,
                    attempts=0,
                    next_attempt_at=0.0,
                    first_received_at=now,
                    last_received_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key
            if inserted is None:  # every supported dialect returns the new key
                raise StoreError("the state database did not return the new study's id")
            study_id = int(inserted[0])
            state = StudyState.RECEIVED
        else:
            study_id, state = row.id, StudyState(row.state)
        # A resend of an instance of this study; the same UID in *another* study is a new
        # instance of this one (a duplicate UID at the source), quarantined when processed.
        known = and_(i.c.study_id == study_id, i.c.sop_digest == sop_digest)
        if conn.execute(select(i.c.id).where(known)).first() is not None:
            if state is StudyState.RECEIVED:
                conn.execute(update(s).where(s.c.id == study_id).values(last_received_at=now))
            return False
        conn.execute(
            i.insert().values(
                study_id=study_id,
                sop_digest=sop_digest,
                sop_class_uid=sop_class_uid,
                spool_name=spool_name,
                state=InstanceState.RECEIVED.value,
                received_at=now,
            )
        )
        self._move(
            conn,
            study_id,
            tuple(StudyState),
            StudyState.RECEIVED,
            now=now,
            last_received_at=now,
            reason=None,
            attempts=0,
            next_attempt_at=0.0,
        )
        return True

    def instance_state(self, study_uid: str, sop_uid: str) -> InstanceState | None:
        """The state of an instance by its received UIDs (None: never received)."""
        s, i = models.studies, models.instances
        query = (
            select(i.c.state)
            .join(s, s.c.id == i.c.study_id)
            .where(
                and_(
                    s.c.study_digest == self._digest(study_uid),
                    i.c.sop_digest == self._digest(sop_uid),
                )
            )
        )
        with self.db.read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else InstanceState(value)

    def duplicated_instances(self, study_id: int) -> int:
        """How many of the study's instances have a SOP Instance UID another study has too."""
        i = models.instances
        other = i.alias("other")
        query = (
            select(func.count(func.distinct(i.c.id)))
            .select_from(i.join(other, other.c.sop_digest == i.c.sop_digest))
            .where(and_(i.c.study_id == study_id, other.c.study_id != study_id))
        )
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def forget(self, study_id: int) -> bool:
        """Delete a study, its instances and deliveries (`veil node forget`)."""
        s, i, d = models.studies, models.instances, models.deliveries
        with self.db.write() as conn:
            ids = [row.id for row in conn.execute(select(i.c.id).where(i.c.study_id == study_id))]
            for chunk in chunks(ids):
                conn.execute(delete(d).where(d.c.instance_id.in_(chunk)))
            conn.execute(delete(i).where(i.c.study_id == study_id))
            return bool(conn.execute(delete(s).where(s.c.id == study_id)).rowcount)

    def known_spool_names(self, study_key: str) -> set[str]:
        """Registered spool names ("<study key>/<file>") in one spool folder."""
        i = models.instances
        with self.db.read() as conn:
            rows = conn.execute(select(i.c.spool_name).where(i.c.spool_name.like(f"{study_key}/%")))
            return {r.spool_name for r in rows}

    # ---- reading -----------------------------------------------------------------------

    def in_states(
        self, states: Collection[StudyState], due_before: float | None = None
    ) -> list[StudyRow]:
        """Studies in any of ``states`` (and due by ``due_before``), oldest first."""
        s = models.studies
        query = select(s).where(s.c.state.in_([st.value for st in states]))
        if due_before is not None:
            query = query.where(s.c.next_attempt_at <= due_before)
        with self.db.read() as conn:
            return [_study(r) for r in conn.execute(query.order_by(s.c.id))]

    def get(self, study_id: int) -> StudyRow | None:
        s = models.studies
        with self.db.read() as conn:
            row = conn.execute(select(s).where(s.c.id == study_id)).first()
        return None if row is None else _study(row)

    def find(self, ref: str) -> StudyRow | None:
        """A study by its key (as `status` shows it) or its de-identified StudyInstanceUID."""
        s = models.studies
        with self.db.read() as conn:
            row = conn.execute(
                select(s).where((s.c.study_key == ref) | (s.c.deid_study_uid == ref))
            ).first()
        return None if row is None else _study(row)

    def status(self) -> list[StudyRow]:
        """Every study with its instance and sent counts, oldest first."""
        s, i = models.studies, models.instances
        sent = func.sum(case((i.c.state == InstanceState.SENT.value, 1), else_=0))
        with self.db.read() as conn:
            counts = {
                row.study_id: (row.total, row.sent or 0)
                for row in conn.execute(
                    select(i.c.study_id, func.count().label("total"), sent.label("sent")).group_by(
                        i.c.study_id
                    )
                )
            }
            return [
                _study(r, counts.get(r.id, (0, 0)))
                for r in conn.execute(select(s).order_by(s.c.id))
            ]

    def instances(
        self, study_id: int, states: Collection[InstanceState] | None = None
    ) -> list[InstanceRow]:
        """The study's instances (all but SENT ones unless ``states`` says otherwise)."""
        i = models.instances
        wanted = states if states is not None else set(InstanceState) - {InstanceState.SENT}
        query = select(i).where(
            and_(i.c.study_id == study_id, i.c.state.in_([st.value for st in wanted]))
        )
        with self.db.read() as conn:
            return [
                InstanceRow(
                    r.id,
                    r.sop_digest,
                    r.sop_class_uid,
                    r.spool_name,
                    InstanceState(r.state),
                    r.deid_sop_uid,
                )
                for r in conn.execute(query.order_by(i.c.id))
            ]

    # ---- the study machine ---------------------------------------------------------------

    def mark_stable(self, quiet_since: float) -> int:
        """Step RECEIVED -> STABLE for every study quiet since ``quiet_since``; how many."""
        s = models.studies
        sources = require([StudyState.RECEIVED], StudyState.STABLE)
        with self.db.write() as conn:
            result = conn.execute(
                update(s)
                .where(and_(s.c.state.in_(sources), s.c.last_received_at <= quiet_since))
                .values(state=StudyState.STABLE.value, updated_at=time.time())
            )
            return result.rowcount or 0

    def deidentified(
        self, study_id: int, deid_study_uid: str, outputs: Sequence[Deidentified]
    ) -> bool:
        """Step STABLE -> DEIDENTIFIED; the instances' outputs recorded with it."""
        with self.db.write() as conn:
            if not self._move(
                conn,
                study_id,
                [StudyState.STABLE],
                StudyState.DEIDENTIFIED,
                deid_study_uid=deid_study_uid,
            ):
                return False
            sources = require(
                [InstanceState.RECEIVED, InstanceState.DEIDENTIFIED, InstanceState.CHECKED],
                InstanceState.DEIDENTIFIED,
            )
            i = models.instances
            for output in outputs:
                conn.execute(
                    update(i)
                    .where(and_(i.c.id == output.instance_id, i.c.state.in_(sources)))
                    .values(
                        deid_sop_uid=output.deid_sop_uid, state=InstanceState.DEIDENTIFIED.value
                    )
                )
            return True

    def checked(self, study_id: int, instance_ids: Sequence[int]) -> bool:
        """Step DEIDENTIFIED -> CHECKED (the destination check passed); ready to send."""
        with self.db.write() as conn:
            if not self._move(conn, study_id, [StudyState.DEIDENTIFIED], StudyState.CHECKED):
                return False
            self._move_instances(
                conn, InstanceState.CHECKED, [InstanceState.DEIDENTIFIED], ids=instance_ids
            )
            return True

    def quarantine(self, study_id: int, reason: str) -> bool:
        """Step STABLE | DEIDENTIFIED -> QUARANTINED; its unsent instances with it."""
        with self.db.write() as conn:
            if not self._move(
                conn,
                study_id,
                [StudyState.STABLE, StudyState.DEIDENTIFIED],
                StudyState.QUARANTINED,
                reason=reason,
            ):
                return False
            self._move_instances(
                conn,
                InstanceState.QUARANTINED,
                [InstanceState.RECEIVED, InstanceState.DEIDENTIFIED, InstanceState.CHECKED],
                study_id=study_id,
            )
            return True

    def nothing_to_send(self, study_id: int) -> bool:
        """Step STABLE -> SENT: every instance of the study was delivered before (a resend)."""
        with self.db.write() as conn:
            return self._move(conn, study_id, [StudyState.STABLE], StudyState.SENT, reason=None)

    def sent(self, study_id: int, instance_ids: Sequence[int]) -> bool:
        """Step CHECKED -> SENT; the instances are SENT even if the study moved on meanwhile
        (a new instance reopened it): they were delivered and are never sent again."""
        with self.db.write() as conn:
            self._move_instances(
                conn, InstanceState.SENT, [InstanceState.CHECKED], ids=instance_ids
            )
            return self._move(conn, study_id, [StudyState.CHECKED], StudyState.SENT, reason=None)

    def send_failed(
        self, study_id: int, attempts: int, reason: str, retry_at: float | None
    ) -> bool:
        """Step CHECKED -> CHECKED with the next attempt at ``retry_at``, or, with no attempt
        left (``retry_at`` None), CHECKED -> FAILED."""
        new = StudyState.FAILED if retry_at is None else StudyState.CHECKED
        with self.db.write() as conn:
            return self._move(
                conn,
                study_id,
                [StudyState.CHECKED],
                new,
                attempts=attempts,
                reason=reason,
                next_attempt_at=retry_at if retry_at is not None else 0.0,
            )

    def fail(self, study_id: int, reason: str) -> bool:
        """Step STABLE | DEIDENTIFIED | CHECKED -> FAILED: an internal error (disk full, a
        bug) that would repeat on every pass; `veil node retry` resumes it."""
        with self.db.write() as conn:
            return self._move(
                conn,
                study_id,
                [StudyState.STABLE, StudyState.DEIDENTIFIED, StudyState.CHECKED],
                StudyState.FAILED,
                reason=reason,
            )

    def reprocess(self, study_id: int) -> bool:
        """Step DEIDENTIFIED -> STABLE: start-up found the study between de-identification
        and check; it is processed again from its spool files."""
        with self.db.write() as conn:
            return self._move(conn, study_id, [StudyState.DEIDENTIFIED], StudyState.STABLE)

    def retry(self, study_id: int) -> bool:
        """Step FAILED | QUARANTINED -> STABLE with a fresh attempt budget (`veil node retry`);
        its quarantined instances go back to RECEIVED."""
        with self.db.write() as conn:
            if not self._move(
                conn,
                study_id,
                [StudyState.FAILED, StudyState.QUARANTINED],
                StudyState.STABLE,
                reason=None,
                attempts=0,
                next_attempt_at=0.0,
            ):
                return False
            self._move_instances(
                conn, InstanceState.RECEIVED, [InstanceState.QUARANTINED], study_id=study_id
            )
            return True

    # ---- deliveries --------------------------------------------------------------------

    def delivered(self, study_id: int, destination: str) -> set[int]:
        """Instance ids of the study that ``destination`` has acknowledged."""
        d, i = models.deliveries, models.instances
        with self.db.read() as conn:
            rows = conn.execute(
                select(d.c.instance_id)
                .join(i, i.c.id == d.c.instance_id)
                .where(and_(i.c.study_id == study_id, d.c.destination == destination))
            )
            return {r.instance_id for r in rows}

    def record_deliveries(self, instance_ids: Sequence[int], destination: str) -> None:
        """Remember acknowledged instances (idempotent: a resend after a crash is harmless)."""
        if not instance_ids:
            return
        now = time.time()
        rows = [
            {"instance_id": x, "destination": destination, "sent_at": now} for x in instance_ids
        ]
        with self.db.write() as conn:
            self.db.insert_ignoring_duplicates(conn, models.deliveries, rows)

    # ---- the one place a study's or an instance's state is written ---------------------

    def _move(
        self,
        conn: Connection,
        study_id: int,
        sources: Collection[StudyState],
        new: StudyState,
        *,
        now: float | None = None,
        reason: str | _Unset | None = UNSET,
        attempts: int | _Unset = UNSET,
        next_attempt_at: float | _Unset = UNSET,
        deid_study_uid: str | _Unset = UNSET,
        last_received_at: float | _Unset = UNSET,
    ) -> bool:
        """Conditional update of one study: True when it was in ``sources`` and moved."""
        s = models.studies
        legal = require(sources, new)
        values: dict[str, object] = {
            "state": new.value,
            "updated_at": time.time() if now is None else now,
        }
        changes = {
            "reason": reason,
            "attempts": attempts,
            "next_attempt_at": next_attempt_at,
            "deid_study_uid": deid_study_uid,
            "last_received_at": last_received_at,
        }
        values.update({k: v for k, v in changes.items() if v is not UNSET})
        result = conn.execute(
            update(s).where(and_(s.c.id == study_id, s.c.state.in_(legal))).values(values)
        )
        return bool(result.rowcount)

    @staticmethod
    def _move_instances(
        conn: Connection,
        new: InstanceState,
        sources: Collection[InstanceState],
        *,
        ids: Sequence[int] = (),
        study_id: int | None = None,
    ) -> None:
        """Move the instances ``ids`` (or all of ``study_id``) that are in ``sources``."""
        i = models.instances
        legal = i.c.state.in_(require(sources, new))
        if study_id is not None:
            where = and_(legal, i.c.study_id == study_id)
            conn.execute(update(i).where(where).values(state=new.value))
        for chunk in chunks(ids):
            where = and_(legal, i.c.id.in_(chunk))
            conn.execute(update(i).where(where).values(state=new.value))
