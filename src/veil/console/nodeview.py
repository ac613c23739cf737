"""What the console shows of the node: read-only queries over its state store.

Everything here is pseudonymous by construction: studies are named by their study key (a keyed
token) and patient pseudonym, the de-identified StudyInstanceUID, states, counts, times and
reasons (which the node writes without values). The original StudyInstanceUID, SOP Instance
UIDs and the link_* tables are never selected here; the one way to an original is
``veil.console.reveal``, behind the ``reveal-originals`` permission.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from veil.node import controls
from veil.node.config import Destination, DestinationKind, NodeConfig
from veil.node.store import Store, models
from veil.node.store.states import HELD, ReturnState, StudyState

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class StudySummary:
    id: int
    key: str
    patient: str  # pseudonym
    deid_study_uid: str | None
    state: StudyState
    reason: str | None
    attempts: int
    next_attempt_at: float
    first_received_at: float
    last_received_at: float
    updated_at: float
    instances: int
    sent: int


@dataclass(frozen=True)
class DestinationProgress:
    name: str
    delivered: int
    total: int
    paused: bool


@dataclass(frozen=True)
class StudyDetail:
    summary: StudySummary
    progress: tuple[DestinationProgress, ...]
    events: tuple[controls.StudyEvent, ...]
    findings: tuple[controls.StudyFinding, ...]


@dataclass(frozen=True)
class Held:
    """A held study (quarantined, failed, not-eligible) with why (the quarantine page's row)."""

    summary: StudySummary
    findings: tuple[controls.StudyFinding, ...]


@dataclass(frozen=True)
class ReturnSummary:
    id: int
    name: str  # spool file name (a hash)
    state: ReturnState
    reason: str | None
    attempts: int
    received_at: float
    updated_at: float


@dataclass(frozen=True)
class DestinationHealth:
    name: str
    kind: DestinationKind
    address: str  # host:port AE, URL without credentials, or folder path
    paused: bool
    last_send_at: float | None
    last_test_at: float | None
    last_test_ok: bool | None
    last_test_detail: str | None
    credentials: str  # "none", "set": never the secret


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    returns: dict[str, int]
    sent_last_hour: int  # instances delivered (to any destination) in the last hour
    studies_sent_last_hour: int
    disk_free_bytes: int | None
    disk_total_bytes: int | None
    destinations: tuple[DestinationHealth, ...]
    recent_failures: tuple[StudySummary, ...]
    generated_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StudyFilter:
    states: tuple[StudyState, ...] = ()
    text: str = ""  # part of a study key, patient pseudonym or de-identified UID
    page: int = 1
    size: int = PAGE_SIZE


def _counts_query() -> Any:
    i = models.instances
    return (
        select(
            i.c.study_id,
            func.count().label("total"),
            func.sum(case((i.c.state == StudyState.SENT.value, 1), else_=0)).label("sent"),
        )
        .group_by(i.c.study_id)
        .subquery()
    )


def _summary(r: Any) -> StudySummary:
    return StudySummary(
        r.id,
        r.study_key,
        r.patient_pseudonym,
        r.deid_study_uid,
        StudyState(r.state),
        r.reason,
        r.attempts,
        r.next_attempt_at,
        r.first_received_at,
        r.last_received_at,
        r.updated_at,
        int(r.total or 0),
        int(r.sent or 0),
    )


def _study_select() -> Any:
    s = models.studies
    counts = _counts_query()
    return select(
        s.c.id,
        s.c.study_key,
        s.c.patient_pseudonym,
        s.c.deid_study_uid,
        s.c.state,
        s.c.reason,
        s.c.attempts,
        s.c.next_attempt_at,
        s.c.first_received_at,
        s.c.last_received_at,
        s.c.updated_at,
        counts.c.total,
        counts.c.sent,
    ).outerjoin(counts, counts.c.study_id == s.c.id)


def studies(store: Store, where: StudyFilter) -> tuple[list[StudySummary], int]:
    """One page of studies (newest change first) and the number matching in all."""
    s = models.studies
    conditions: list[ColumnElement[bool]] = []
    if where.states:
        conditions.append(s.c.state.in_([st.value for st in where.states]))
    text = where.text.strip()[:80]
    if text:
        like = f"%{_escape_like(text)}%"
        conditions.append(
            or_(
                s.c.study_key.like(like, escape="\\"),
                s.c.patient_pseudonym.like(like, escape="\\"),
                s.c.deid_study_uid.like(like, escape="\\"),
            )
        )
    size = max(1, min(where.size, MAX_PAGE_SIZE))
    page = max(1, where.page)
    query = _study_select()
    total_query = select(func.count()).select_from(s)
    if conditions:
        query = query.where(and_(*conditions))
        total_query = total_query.where(and_(*conditions))
    query = query.order_by(s.c.updated_at.desc(), s.c.id.desc())
    query = query.limit(size).offset((page - 1) * size)
    with store.db.read() as conn:
        rows = [_summary(r) for r in conn.execute(query)]
        total = int(conn.execute(total_query).scalar() or 0)
    return rows, total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def study_by_key(store: Store, key: str) -> StudySummary | None:
    if not key or len(key) > 64:
        return None
    s = models.studies
    with store.db.read() as conn:
        row = conn.execute(_study_select().where(s.c.study_key == key)).first()
    return None if row is None else _summary(row)


def study_detail(store: Store, config: NodeConfig, key: str) -> StudyDetail | None:
    summary = study_by_key(store, key)
    if summary is None:
        return None
    d, i = models.deliveries, models.instances
    with store.db.read() as conn:
        delivered = {
            r.destination: int(r.n)
            for r in conn.execute(
                select(d.c.destination, func.count().label("n"))
                # the current version of each instance: an older one's delivery does not count
                .join(i, and_(i.c.id == d.c.instance_id, i.c.version == d.c.version))
                .where(i.c.study_id == summary.id)
                .group_by(d.c.destination)
            )
        }
    paused = controls.paused_destinations(store)
    progress = tuple(
        DestinationProgress(
            dest.name, delivered.get(dest.name, 0), summary.instances, dest.name in paused
        )
        for dest in config.destinations
    )
    return StudyDetail(
        summary,
        progress,
        tuple(controls.study_events(store, summary.id)),
        tuple(controls.study_findings(store, summary.id)),
    )


def held(store: Store, page: int = 1, size: int = 100) -> tuple[list[Held], int]:
    """One page of held studies (quarantined, failed, not eligible for the destination) with
    their findings (two queries)."""
    rows, total = studies(store, StudyFilter(states=HELD, page=page, size=size))
    findings = controls.findings_of(store, [r.id for r in rows])
    return [Held(r, tuple(findings.get(r.id, ()))) for r in rows], total


def returns(store: Store, states: Sequence[ReturnState]) -> list[ReturnSummary]:
    r = models.returns
    query = select(r).order_by(r.c.updated_at.desc()).limit(MAX_PAGE_SIZE)
    if states:
        query = query.where(r.c.state.in_([st.value for st in states]))
    with store.db.read() as conn:
        return [
            ReturnSummary(
                x.id,
                x.spool_name,
                ReturnState(x.state),
                x.reason,
                x.attempts,
                x.received_at,
                x.updated_at,
            )
            for x in conn.execute(query)
        ]


def address(destination: Destination) -> str:
    """Where a destination is, without any credential (a URL's user:password@ is dropped)."""
    if destination.kind is DestinationKind.CSTORE:
        return f"{destination.ae_title}@{destination.host}:{destination.port}"
    if destination.kind is DestinationKind.STOWRS:
        scheme, _, rest = destination.url.partition("://")
        host, slash, path = rest.partition("/")
        host = host.rpartition("@")[2]
        return f"{scheme}://{host}{slash}{path}"
    return str(destination.path or "")


def destinations(store: Store, config: NodeConfig) -> tuple[DestinationHealth, ...]:
    d = models.deliveries
    with store.db.read() as conn:
        last_send = {
            r.destination: r.at
            for r in conn.execute(
                select(d.c.destination, func.max(d.c.sent_at).label("at")).group_by(d.c.destination)
            )
        }
    state = controls.destination_controls(store)
    out = []
    for dest in config.destinations:
        control = state.get(dest.name)
        out.append(
            DestinationHealth(
                dest.name,
                dest.kind,
                address(dest),
                bool(control and control.paused),
                last_send.get(dest.name),
                control.last_test_at if control else None,
                control.last_test_ok if control else None,
                control.last_test_detail if control else None,
                "set" if dest.username or dest.password else "none",
            )
        )
    return tuple(out)


def dashboard(store: Store, config: NodeConfig) -> Dashboard:
    s, d, r = models.studies, models.deliveries, models.returns
    hour_ago = time.time() - 3600
    with store.db.read() as conn:
        counts = {
            row.state: int(row.n)
            for row in conn.execute(select(s.c.state, func.count().label("n")).group_by(s.c.state))
        }
        returns_by_state = {
            row.state: int(row.n)
            for row in conn.execute(select(r.c.state, func.count().label("n")).group_by(r.c.state))
        }
        sent_hour = int(
            conn.execute(
                select(func.count()).select_from(d).where(d.c.sent_at >= hour_ago)
            ).scalar()
            or 0
        )
        studies_hour = int(
            conn.execute(
                select(func.count())
                .select_from(s)
                .where(and_(s.c.state == StudyState.SENT.value, s.c.updated_at >= hour_ago))
            ).scalar()
            or 0
        )
        failures = [
            _summary(row)
            for row in conn.execute(
                _study_select()
                .where(s.c.state.in_([StudyState.FAILED.value, StudyState.QUARANTINED.value]))
                .order_by(s.c.updated_at.desc())
                .limit(10)
            )
        ]
    free: int | None = None
    total: int | None = None
    try:
        usage = shutil.disk_usage(config.spool if config.spool.exists() else config.spool.parent)
        free, total = usage.free, usage.total
    except OSError:
        pass
    return Dashboard(
        counts={state.value: counts.get(state.value, 0) for state in StudyState},
        returns={state.value: returns_by_state.get(state.value, 0) for state in ReturnState},
        sent_last_hour=sent_hour,
        studies_sent_last_hour=studies_hour,
        disk_free_bytes=free,
        disk_total_bytes=total,
        destinations=destinations(store, config),
        recent_failures=tuple(failures),
    )


def processing_seconds(store: Store) -> list[float]:
    """First receipt to sent, for studies sent (Prometheus histogram input)."""
    s = models.studies
    with store.db.read() as conn:
        rows = conn.execute(
            select(s.c.first_received_at, s.c.updated_at).where(s.c.state == StudyState.SENT.value)
        )
        return [max(0.0, r.updated_at - r.first_received_at) for r in rows]
