"""Studies, their instances and deliveries: registration and every step of the study machine.

Each public method is one named step of `veil.node.store.states` (the docstring says which);
it checks the step against the transition table, then makes a conditional update ("from these
states to that one") so that a worker whose study changed under it (a new instance arrived)
loses the race and changes nothing: the method returns False and the study is processed
again once stable. Steps that change a study and its instances do both in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
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
    first_received_at: float = 0.0
    updated_at: float = 0.0
    send_anyway: bool = False  # `veil node retry --send-anyway` on a not-eligible study
    versioned_count: int = 0  # instances received again with other content (version > 1)
    latest_version: int = 1  # the highest version of any of its instances


@dataclass(frozen=True)
class InstanceRow:
    id: int
    sop_digest: str  # keyed digest of the received SOP Instance UID
    sop_class_uid: str
    spool_name: str
    state: InstanceState
    deid_sop_uid: str | None
    version: int = 1


class Arrival(str, Enum):
    """What a received instance is to its study."""

    NEW = "new"  # a SOP Instance UID the study did not have
    NEW_VERSION = "new-version"  # a known SOP Instance UID with other content: sent again
    KNOWN = "known"  # the same content again: nothing to do
    STALE = "stale"  # found at start-up: an older version than the one registered (delete it)


@dataclass(frozen=True)
class Incoming:
    """A received instance to register. The UIDs, name and birth date are received values:
    only their keyed digests are stored, and they never show in a repr."""

    study_uid: str = field(repr=False)
    sop_uid: str = field(repr=False)
    sop_class_uid: str
    study_key: str
    patient_pseudonym: str
    spool_name: str
    # SHA-256 (hex) of the received file; None: unknown (an identical resend is assumed).
    content_sha256: str | None = None
    patient_name: str = field(default="", repr=False)
    birth_date: str = field(default="", repr=False)


@dataclass(frozen=True)
class Registration:
    arrival: Arrival
    version: int
    state: InstanceState  # the instance's state after registering
    spool_name: str  # the instance's registered spool file now
    superseded: str | None = None  # the previous version's spool file (delete it), if another


@dataclass(frozen=True)
class StudyIdentities:
    """How many patients the instances of one study name (distinct values, as received)."""

    pseudonyms: int  # PatientID (+ issuer), as its pseudonym
    names: int
    birth_dates: int

    @property
    def mixed(self) -> bool:
        return max(self.pseudonyms, self.names, self.birth_dates) > 1


@dataclass(frozen=True)
class Deidentified:
    """One instance's de-identified SOP Instance UID (its output file is named by it)."""

    instance_id: int
    deid_sop_uid: str


def _study(row: Row[Any], counts: tuple[int, int, int, int] = (0, 0, 0, 1)) -> StudyRow:
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
        first_received_at=row.first_received_at,
        updated_at=row.updated_at,
        send_anyway=bool(row.send_anyway),
        versioned_count=counts[2],
        latest_version=max(1, counts[3]),
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
        """Register a spooled instance whose content is not known; True when it is new.

        The short form of `register` (tests, tools): a known SOP Instance UID counts as the
        same instance again, never as a new version.
        """
        incoming = Incoming(
            study_uid, sop_uid, sop_class_uid, study_key, patient_pseudonym, spool_name
        )
        return self.register(incoming, now).arrival is Arrival.NEW

    def register(
        self, incoming: Incoming, now: float | None = None, written_at: float | None = None
    ) -> Registration:
        """Register a spooled instance: new, a new version of a known one, or known.

        Steps: a new instance or a new version moves its study, from any state, to RECEIVED
        (processed again, as a unit, once stable) and the instance, from any state, to
        RECEIVED with the next version number; the same content again changes no state (it
        only delays stability while the study is still being received).

        ``written_at`` (start-up recovery: the spool file's modification time) tells a file
        left behind by an older version, which must not come back as the newest: a file
        written before the registered version was received is STALE.
        """
        now = time.time() if now is None else now
        digests = self._digests(incoming)
        for _ in range(5):
            try:
                with self.db.write() as conn:
                    return self._register(conn, incoming, digests, now, written_at)
            except IntegrityError:
                continue  # a concurrent association created the same study or instance
        raise StoreError("could not register an instance after 5 attempts (concurrent writers)")

    def _digests(self, incoming: Incoming) -> dict[str, str | None]:
        if self._sealer is None:
            raise StoreError("registering instances needs the project key (the node has it)")
        name, birth = self._sealer.identity_digests(incoming.patient_name, incoming.birth_date)
        content = incoming.content_sha256
        return {
            "study": self._digest(incoming.study_uid),
            "sop": self._digest(incoming.sop_uid),
            "content": None if content is None else self._sealer.digest("content", content),
            "name": name,
            "birth": birth,
        }

    def _study_for(
        self, conn: Connection, incoming: Incoming, study_digest: str, now: float
    ) -> tuple[int, StudyState]:
        s = models.studies
        row = conn.execute(
            select(s.c.id, s.c.state).where(s.c.study_digest == study_digest)
        ).first()
        if row is not None:
            return row.id, StudyState(row.state)
        inserted = conn.execute(
            s.insert().values(
                study_digest=study_digest,
                study_key=incoming.study_key,
                patient_pseudonym=incoming.patient_pseudonym,
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
        return int(inserted[0]), StudyState.RECEIVED

    def _register(
        self,
        conn: Connection,
        incoming: Incoming,
        digests: Mapping[str, str | None],
        now: float,
        written_at: float | None,
    ) -> Registration:
        s, i = models.studies, models.instances
        study_id, state = self._study_for(conn, incoming, str(digests["study"]), now)
        identity = {
            "patient_pseudonym": incoming.patient_pseudonym,
            "name_digest": digests["name"],
            "birth_digest": digests["birth"],
        }
        # A resend of an instance of this study; the same UID in *another* study is a new
        # instance of this one (a duplicate UID at the source), quarantined when processed.
        known = conn.execute(
            select(
                i.c.id, i.c.state, i.c.version, i.c.content_digest, i.c.spool_name, i.c.received_at
            )
            .where(and_(i.c.study_id == study_id, i.c.sop_digest == digests["sop"]))
            .with_for_update()
        ).first()
        if known is None:
            conn.execute(
                i.insert().values(
                    study_id=study_id,
                    sop_digest=digests["sop"],
                    sop_class_uid=incoming.sop_class_uid,
                    spool_name=incoming.spool_name,
                    state=InstanceState.RECEIVED.value,
                    received_at=now,
                    version=1,
                    content_digest=digests["content"],
                    **identity,
                )
            )
            self._reopen(conn, study_id, now)
            return Registration(Arrival.NEW, 1, InstanceState.RECEIVED, incoming.spool_name)
        content = digests["content"]
        same = content is None or content == known.content_digest
        stale = written_at is not None and written_at <= known.received_at
        if same or stale:
            if state is StudyState.RECEIVED:
                conn.execute(update(s).where(s.c.id == study_id).values(last_received_at=now))
            arrival = Arrival.KNOWN if same else Arrival.STALE
            return Registration(
                arrival, known.version, InstanceState(known.state), known.spool_name
            )
        # Other content under a known SOP Instance UID (or content never recorded, from before
        # versions were kept: processed again rather than risk dropping a correction).
        version = int(known.version) + 1
        legal = require([InstanceState(known.state)], InstanceState.RECEIVED)
        conn.execute(
            update(i)
            .where(and_(i.c.id == known.id, i.c.state.in_(legal)))
            .values(
                state=InstanceState.RECEIVED.value,
                version=version,
                content_digest=content,
                spool_name=incoming.spool_name,
                sop_class_uid=incoming.sop_class_uid,
                received_at=now,
                **identity,
            )
        )
        self._reopen(conn, study_id, now)
        previous = known.spool_name if known.spool_name != incoming.spool_name else None
        return Registration(
            Arrival.NEW_VERSION, version, InstanceState.RECEIVED, incoming.spool_name, previous
        )

    def _reopen(self, conn: Connection, study_id: int, now: float) -> None:
        """Step any state -> RECEIVED: the study has something new to process."""
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

    def sent_instances(self, study_id: int) -> int:
        """How many of the study's instances were delivered (their current version)."""
        i = models.instances
        query = select(func.count()).where(
            and_(i.c.study_id == study_id, i.c.state == InstanceState.SENT.value)
        )
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def identities(self, study_id: int) -> StudyIdentities:
        """How many patients the study's instances name (PatientID, name, birth date)."""
        i = models.instances
        query = select(
            func.count(func.distinct(i.c.patient_pseudonym)),
            func.count(func.distinct(i.c.name_digest)),
            func.count(func.distinct(i.c.birth_digest)),
        ).where(i.c.study_id == study_id)
        with self.db.read() as conn:
            row = conn.execute(query).one()
        return StudyIdentities(int(row[0]), int(row[1]), int(row[2]))

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
        """Every study with its instance, sent and version counts, oldest first."""
        s, i = models.studies, models.instances
        sent = func.sum(case((i.c.state == InstanceState.SENT.value, 1), else_=0))
        versioned = func.sum(case((i.c.version > 1, 1), else_=0))
        with self.db.read() as conn:
            counts = {
                row.study_id: (row.total, row.sent or 0, row.versioned or 0, row.latest or 1)
                for row in conn.execute(
                    select(
                        i.c.study_id,
                        func.count().label("total"),
                        sent.label("sent"),
                        versioned.label("versioned"),
                        func.max(i.c.version).label("latest"),
                    ).group_by(i.c.study_id)
                )
            }
            return [
                _study(r, counts.get(r.id, (0, 0, 0, 1)))
                for r in conn.execute(select(s).order_by(s.c.id))
            ]

    def progress(self) -> dict[int, dict[str, int]]:
        """study id -> destination -> instances whose current version it acknowledged."""
        d, i = models.deliveries, models.instances
        query = (
            select(i.c.study_id, d.c.destination, func.count().label("n"))
            .join(i, and_(i.c.id == d.c.instance_id, i.c.version == d.c.version))
            .group_by(i.c.study_id, d.c.destination)
        )
        found: dict[int, dict[str, int]] = {}
        with self.db.read() as conn:
            for row in conn.execute(query):
                found.setdefault(row.study_id, {})[row.destination] = int(row.n)
        return found

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
                    r.version,
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

    def not_eligible(self, study_id: int, reason: str) -> bool:
        """Step STABLE -> NOT_ELIGIBLE: the study as received fails a destination profile (the
        destination could not process it); held, nothing de-identified or sent."""
        with self.db.write() as conn:
            return self._move(
                conn, study_id, [StudyState.STABLE], StudyState.NOT_ELIGIBLE, reason=reason
            )

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

    def retry(self, study_id: int, send_anyway: bool = False) -> bool:
        """Step FAILED | QUARANTINED | NOT_ELIGIBLE -> STABLE with a fresh attempt budget (`veil
        node retry`); its quarantined instances go back to RECEIVED. ``send_anyway``: a study
        that fails a destination profile is sent all the same (the operator's decision)."""
        with self.db.write() as conn:
            if not self._move(
                conn,
                study_id,
                [StudyState.FAILED, StudyState.QUARANTINED, StudyState.NOT_ELIGIBLE],
                StudyState.STABLE,
                reason=None,
                attempts=0,
                next_attempt_at=0.0,
                send_anyway=True if send_anyway else UNSET,
            ):
                return False
            self._move_instances(
                conn, InstanceState.RECEIVED, [InstanceState.QUARANTINED], study_id=study_id
            )
            return True

    # ---- deliveries --------------------------------------------------------------------

    def delivered(self, study_id: int, destination: str) -> set[int]:
        """Instance ids of the study whose current version ``destination`` has acknowledged."""
        d, i = models.deliveries, models.instances
        with self.db.read() as conn:
            rows = conn.execute(
                select(d.c.instance_id)
                .join(i, and_(i.c.id == d.c.instance_id, i.c.version == d.c.version))
                .where(and_(i.c.study_id == study_id, d.c.destination == destination))
            )
            return {r.instance_id for r in rows}

    def record_deliveries(
        self,
        instance_ids: Sequence[int],
        destination: str,
        versions: Mapping[int, int] | None = None,
    ) -> None:
        """Remember acknowledged instances, each with the version that was sent (``versions``:
        instance id -> version; default: the current one). Idempotent: a resend after a crash
        is harmless, and the delivery of an older version does not count for a newer one."""
        if not instance_ids:
            return
        now = time.time()
        d, i = models.deliveries, models.instances
        with self.db.write() as conn:
            if versions is None:
                versions = {}
                for chunk in chunks(list(instance_ids)):
                    query = select(i.c.id, i.c.version).where(i.c.id.in_(chunk))
                    versions.update({r.id: r.version for r in conn.execute(query)})
            for chunk in chunks(list(instance_ids)):
                conn.execute(
                    delete(d).where(
                        and_(d.c.destination == destination, d.c.instance_id.in_(chunk))
                    )
                )
            rows = [
                {
                    "instance_id": x,
                    "destination": destination,
                    "sent_at": now,
                    "version": versions.get(x, 1),
                }
                for x in instance_ids
            ]
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
        send_anyway: bool | _Unset = UNSET,
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
            "send_anyway": send_anyway,
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
