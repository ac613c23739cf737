"""The node's state store: studies, instances, deliveries and returned results.

SQLite by default (WAL, one writer at a time inside the process), PostgreSQL by URL
(`postgresql+psycopg://user@host:port/db`). State changes are conditional updates
("from these states to that one"), so a worker whose study changed under it (a new
instance arrived) simply loses the race and the study is processed again later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, create_engine, event, func, select, update
from sqlalchemy.exc import ArgumentError as SAArgumentError
from sqlalchemy.exc import IntegrityError, OperationalError

from veil.errors import VeilError
from veil.node.store import models
from veil.node.store.migrations import migrate
from veil.node.store.states import ReturnState, StudyState, sources_of


class StoreError(VeilError):
    """The state database cannot be opened or used."""


@dataclass(frozen=True)
class StudyRow:
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
    sop_uid: str
    sop_class_uid: str
    spool_name: str
    state: StudyState
    deid_sop_uid: str | None


@dataclass(frozen=True)
class ReturnRow:
    id: int
    spool_name: str
    state: ReturnState
    attempts: int
    reason: str | None


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite allows one writer; serialising writers in-process avoids busy errors.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def open(cls, url: str) -> Store:
        url = normalise_url(url)
        try:
            if url.startswith("sqlite"):
                engine = create_engine(
                    url,
                    connect_args={"timeout": 30, "check_same_thread": False},
                    pool_size=16,
                    max_overflow=16,
                )

                @event.listens_for(engine, "connect")
                def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                    cursor = dbapi_conn.cursor()
                    cursor.execute("PRAGMA journal_mode=WAL")
                    # NORMAL is crash-safe for the process (kill -9); the spool, fsynced before
                    # each answer, is the source of truth and is re-registered at start.
                    cursor.execute("PRAGMA synchronous=NORMAL")
                    cursor.execute("PRAGMA foreign_keys=ON")
                    cursor.execute("PRAGMA busy_timeout=30000")
                    cursor.close()
            else:
                engine = create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)
            store = cls(engine)
            migrate(engine)
        except SAArgumentError:
            raise StoreError(
                "state.database: not a database URL (sqlite:///FILE or "
                "postgresql://USER@HOST:PORT/DB)"
            ) from None
        except OperationalError as exc:
            raise StoreError(
                f"state.database: cannot open the database ({type(exc.orig).__name__})"
            ) from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    # ---- receiving -------------------------------------------------------------------

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
        """Register a spooled instance; True when it is new (the study must be processed again)."""
        now = time.time() if now is None else now
        for _ in range(5):
            try:
                with self.write() as conn:
                    return self._record(
                        conn,
                        study_uid,
                        study_key,
                        patient_pseudonym,
                        sop_uid,
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
        study_uid: str,
        study_key: str,
        patient_pseudonym: str,
        sop_uid: str,
        sop_class_uid: str,
        spool_name: str,
        now: float,
    ) -> bool:
        s = models.studies
        row = conn.execute(select(s.c.id, s.c.state).where(s.c.study_uid == study_uid)).first()
        if row is None:
            study_id = conn.execute(
                s.insert().values(
                    study_uid=study_uid,
                    study_key=study_key,
                    patient_pseudonym=patient_pseudonym,
                    state=StudyState.RECEIVED.value,
                    attempts=0,
                    next_attempt_at=0.0,
                    first_received_at=now,
                    last_received_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            state = StudyState.RECEIVED
        else:
            study_id, state = row.id, StudyState(row.state)
        i = models.instances
        existing = conn.execute(select(i.c.id).where(i.c.sop_uid == sop_uid)).first()
        if existing is not None:
            if state is StudyState.RECEIVED:
                conn.execute(update(s).where(s.c.id == study_id).values(last_received_at=now))
            return False
        conn.execute(
            i.insert().values(
                study_id=study_id,
                sop_uid=sop_uid,
                sop_class_uid=sop_class_uid,
                spool_name=spool_name,
                state=StudyState.RECEIVED.value,
                received_at=now,
            )
        )
        conn.execute(
            update(s)
            .where(s.c.id == study_id)
            .values(
                state=StudyState.RECEIVED.value,
                last_received_at=now,
                updated_at=now,
                reason=None,
                attempts=0,
                next_attempt_at=0.0,
            )
        )
        return True

    def instance_state(self, sop_uid: str) -> StudyState | None:
        i = models.instances
        with self.engine.connect() as conn:
            value = conn.execute(select(i.c.state).where(i.c.sop_uid == sop_uid)).scalar()
        return None if value is None else StudyState(value)

    def known_spool_names(self, study_key: str) -> set[str]:
        """Registered spool names ("<study key>/<file>") in one spool folder."""
        i = models.instances
        with self.engine.connect() as conn:
            rows = conn.execute(select(i.c.spool_name).where(i.c.spool_name.like(f"{study_key}/%")))
            return {r.spool_name for r in rows}

    # ---- scheduling ------------------------------------------------------------------

    def mark_stable(self, quiet_since: float) -> int:
        s = models.studies
        with self.write() as conn:
            result = conn.execute(
                update(s)
                .where(
                    and_(
                        s.c.state == StudyState.RECEIVED.value,
                        s.c.last_received_at <= quiet_since,
                    )
                )
                .values(state=StudyState.STABLE.value, updated_at=time.time())
            )
            return result.rowcount or 0

    def studies_in(
        self, states: Sequence[StudyState], due_before: float | None = None
    ) -> list[StudyRow]:
        s = models.studies
        query = select(s).where(s.c.state.in_([st.value for st in states]))
        if due_before is not None:
            query = query.where(s.c.next_attempt_at <= due_before)
        with self.engine.connect() as conn:
            return [self._study(r) for r in conn.execute(query.order_by(s.c.id))]

    @staticmethod
    def _study(r: Any, counts: tuple[int, int] = (0, 0)) -> StudyRow:
        return StudyRow(
            r.id,
            r.study_key,
            r.patient_pseudonym,
            r.deid_study_uid,
            StudyState(r.state),
            r.reason,
            r.attempts,
            r.next_attempt_at,
            r.last_received_at,
            *counts,
        )

    def transition(
        self,
        study_id: int,
        new: StudyState,
        *,
        expect: Sequence[StudyState] | None = None,
        **values: Any,
    ) -> bool:
        """Move a study to ``new`` if it is still in one of ``expect`` (default: legal sources)."""
        s = models.studies
        sources = [st.value for st in expect] if expect is not None else list(sources_of(new))
        with self.write() as conn:
            result = conn.execute(
                update(s)
                .where(and_(s.c.id == study_id, s.c.state.in_(sources)))
                .values(state=new.value, updated_at=time.time(), **values)
            )
            return bool(result.rowcount)

    def study_instances(self, study_id: int, include_sent: bool = False) -> list[InstanceRow]:
        i = models.instances
        query = select(i).where(i.c.study_id == study_id)
        if not include_sent:
            query = query.where(i.c.state != StudyState.SENT.value)
        with self.engine.connect() as conn:
            return [
                InstanceRow(
                    r.id,
                    r.sop_uid,
                    r.sop_class_uid,
                    r.spool_name,
                    StudyState(r.state),
                    r.deid_sop_uid,
                )
                for r in conn.execute(query.order_by(i.c.id))
            ]

    def set_instances(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        i = models.instances
        with self.write() as conn:
            for instance_id, values in updates:
                conn.execute(update(i).where(i.c.id == instance_id).values(**values))

    def set_instances_state(self, ids: Sequence[int], state: StudyState) -> None:
        i = models.instances
        with self.write() as conn:
            for chunk in _chunks(list(ids), 500):
                conn.execute(update(i).where(i.c.id.in_(chunk)).values(state=state.value))

    def delivered(self, study_id: int, destination: str) -> set[int]:
        d, i = models.deliveries, models.instances
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(d.c.instance_id)
                .join(i, i.c.id == d.c.instance_id)
                .where(and_(i.c.study_id == study_id, d.c.destination == destination))
            )
            return {r.instance_id for r in rows}

    def record_deliveries(self, instance_ids: Sequence[int], destination: str) -> None:
        if not instance_ids:
            return
        now = time.time()
        with self.write() as conn:
            stmt = _insert(self.dialect, models.deliveries).on_conflict_do_nothing()
            conn.execute(
                stmt,
                [
                    {"instance_id": x, "destination": destination, "sent_at": now}
                    for x in instance_ids
                ],
            )

    # ---- linkage ---------------------------------------------------------------------

    def add_linkage(
        self,
        patients: Sequence[dict[str, str]],
        studies: Sequence[dict[str, str]],
        uids: Sequence[dict[str, str]],
    ) -> None:
        with self.write() as conn:
            for table, rows in (
                (models.link_patients, patients),
                (models.link_studies, studies),
                (models.link_uids, uids),
            ):
                if rows:
                    for chunk in _chunks(list(rows), 500):
                        conn.execute(_insert(self.dialect, table).on_conflict_do_nothing(), chunk)

    def linked_patient(self, pseudo_patient_id: str) -> tuple[str, str] | None:
        p = models.link_patients
        with self.engine.connect() as conn:
            row = conn.execute(select(p).where(p.c.pseudo_patient_id == pseudo_patient_id)).first()
        return None if row is None else (row.original_patient_id, row.original_patient_name)

    def linked_study(self, pseudo_study_uid: str) -> Any | None:
        t = models.link_studies
        with self.engine.connect() as conn:
            return conn.execute(select(t).where(t.c.pseudo_study_uid == pseudo_study_uid)).first()

    def linked_uids(self, pseudo_uids: Sequence[str]) -> dict[str, str]:
        u = models.link_uids
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(pseudo_uids)), 500):
                for row in conn.execute(
                    select(u.c.pseudo_uid, u.c.original_uid).where(u.c.pseudo_uid.in_(chunk))
                ):
                    found[row.pseudo_uid] = row.original_uid
        return found

    # ---- return path -----------------------------------------------------------------

    def add_return(self, spool_name: str, received_sop_uid: str) -> None:
        now = time.time()
        with self.write() as conn:
            stmt = _insert(self.dialect, models.returns).on_conflict_do_nothing()
            conn.execute(
                stmt,
                [
                    {
                        "spool_name": spool_name,
                        "received_sop_uid": received_sop_uid,
                        "state": ReturnState.RECEIVED.value,
                        "attempts": 0,
                        "next_attempt_at": 0.0,
                        "received_at": now,
                        "updated_at": now,
                    }
                ],
            )

    def known_return_names(self) -> set[str]:
        r = models.returns
        with self.engine.connect() as conn:
            return {row.spool_name for row in conn.execute(select(r.c.spool_name))}

    def due_returns(self, now: float, limit: int = 200) -> list[ReturnRow]:
        r = models.returns
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(r)
                .where(and_(r.c.state == ReturnState.RECEIVED.value, r.c.next_attempt_at <= now))
                .order_by(r.c.id)
                .limit(limit)
            )
            return [
                ReturnRow(x.id, x.spool_name, ReturnState(x.state), x.attempts, x.reason)
                for x in rows
            ]

    def update_return(self, return_id: int, **values: Any) -> None:
        r = models.returns
        if "state" in values and isinstance(values["state"], ReturnState):
            values["state"] = values["state"].value
        with self.write() as conn:
            conn.execute(
                update(r).where(r.c.id == return_id).values(updated_at=time.time(), **values)
            )

    def return_counts(self) -> dict[str, int]:
        r = models.returns
        with self.engine.connect() as conn:
            rows = conn.execute(select(r.c.state, func.count()).group_by(r.c.state))
            return {row[0]: row[1] for row in rows}

    def returns_in(self, state: ReturnState) -> list[ReturnRow]:
        r = models.returns
        with self.engine.connect() as conn:
            rows = conn.execute(select(r).where(r.c.state == state.value).order_by(r.c.id))
            return [
                ReturnRow(x.id, x.spool_name, ReturnState(x.state), x.attempts, x.reason)
                for x in rows
            ]

    # ---- status and commands -----------------------------------------------------------

    def status(self) -> list[StudyRow]:
        s, i = models.studies, models.instances
        with self.engine.connect() as conn:
            counts = {
                row.study_id: (row.total, row.sent or 0)
                for row in conn.execute(
                    select(
                        i.c.study_id,
                        func.count().label("total"),
                        func.sum(case((i.c.state == StudyState.SENT.value, 1), else_=0)).label(
                            "sent"
                        ),
                    ).group_by(i.c.study_id)
                )
            }
            return [
                self._study(r, counts.get(r.id, (0, 0)))
                for r in conn.execute(select(s).order_by(s.c.id))
            ]

    def find_study(self, ref: str) -> StudyRow | None:
        """A study by its key (as `status` shows it) or its de-identified StudyInstanceUID."""
        s = models.studies
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s).where((s.c.study_key == ref) | (s.c.deid_study_uid == ref))
            ).first()
        return None if row is None else self._study(row)

    def retry(self, study_id: int) -> bool:
        """Send a failed or quarantined study back to STABLE with a fresh attempt budget."""
        return self.transition(
            study_id,
            StudyState.STABLE,
            expect=(StudyState.FAILED, StudyState.QUARANTINED),
            reason=None,
            attempts=0,
            next_attempt_at=0.0,
        )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
