"""Operator actions on a running node, done through its state store (no call into the node).

The console (and any other process on the same store) acts on the node by changing rows the
node's scheduler reads on its next pass, never by talking to the node process: a console that
crashes or hangs cannot stop DICOM intake, and a node restart loses no command.

- ``process_now``: a study still waiting for its stable time is processed at once.
- ``pause`` / ``paused_destinations``: a paused destination receives nothing; studies wait
  for it (no attempt is counted) and go out when it is resumed.
- ``retry_return`` / ``purge_study`` / ``purge_return``: quarantine handling.
- ``study_events`` / ``study_findings``: the timeline and the structured quarantine reasons.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import and_, delete, select, update

from veil.node.spool import Spool
from veil.node.store import Store, models
from veil.node.store import console_models as cm
from veil.node.store.states import HELD, ReturnState, StudyState, require

# How long a study whose only pending destinations are paused waits before the scheduler
# looks at it again (resuming a destination makes such studies due at once).
PAUSED_RECHECK_SECONDS = 5.0


class FindingSource(str, Enum):
    AUDIT = "audit"  # an identifying value survived: element path, kind, form
    CHECK = "check"  # a destination requirement lost: the rule
    OTHER = "other"  # unreadable input, inconsistent study: the reason text says it


@dataclass(frozen=True)
class StudyFinding:
    """One structured reason a study was quarantined; never a value."""

    source: FindingSource
    file: str = ""  # spool name (a hash of the SOP Instance UID), never the UID
    path: str = ""  # element path, e.g. (0008,1030) or (0040,0275)[0].(0032,1060)
    kind: str = ""  # audit kind, e.g. patient-name
    form: str = ""  # the form matched, e.g. "name reordered (given family)"
    rule: str = ""  # check rule id


@dataclass(frozen=True)
class StudyEvent:
    state: StudyState
    at: float


# ---- scheduling ----------------------------------------------------------------------------


def process_now(store: Store, study_id: int) -> bool:
    """Step RECEIVED -> STABLE now, not after the quiet time (the scheduler's own step, taken
    early); False when the study is past that state."""
    s = models.studies
    legal = require([StudyState.RECEIVED], StudyState.STABLE)
    with store.db.write() as conn:
        result = conn.execute(
            update(s)
            .where(and_(s.c.id == study_id, s.c.state.in_(legal)))
            .values(state=StudyState.STABLE.value, updated_at=time.time())
        )
        return bool(result.rowcount)


def paused_destinations(store: Store) -> frozenset[str]:
    t = cm.destination_controls
    with store.db.read() as conn:
        rows = conn.execute(select(t.c.destination).where(t.c.paused.is_(True)))
        return frozenset(r.destination for r in rows)


def pause(store: Store, destination: str, paused: bool, by: str) -> None:
    """Pause or resume ``destination``; resuming makes the studies waiting for it due now."""
    t = cm.destination_controls
    now = time.time()
    with store.db.write() as conn:
        changed = conn.execute(
            update(t)
            .where(t.c.destination == destination)
            .values(paused=paused, changed_by=by, changed_at=now)
        ).rowcount
        if not changed:
            conn.execute(
                t.insert().values(
                    destination=destination, paused=paused, changed_by=by, changed_at=now
                )
            )
        if not paused:
            s = models.studies
            conn.execute(
                update(s).where(s.c.state == StudyState.CHECKED.value).values(next_attempt_at=0.0)
            )


@dataclass(frozen=True)
class DestinationControl:
    destination: str
    paused: bool
    changed_by: str
    changed_at: float
    last_test_at: float | None
    last_test_ok: bool | None
    last_test_detail: str | None


def destination_controls(store: Store) -> dict[str, DestinationControl]:
    t = cm.destination_controls
    with store.db.read() as conn:
        return {
            r.destination: DestinationControl(
                r.destination,
                bool(r.paused),
                r.changed_by,
                r.changed_at,
                r.last_test_at,
                r.last_test_ok,
                r.last_test_detail,
            )
            for r in conn.execute(select(t))
        }


def record_test(store: Store, destination: str, ok: bool, detail: str, by: str) -> None:
    """Remember the last connection test of ``destination`` (shown on the dashboard)."""
    t = cm.destination_controls
    now = time.time()
    values = {"last_test_at": now, "last_test_ok": ok, "last_test_detail": detail[:200]}
    with store.db.write() as conn:
        if not conn.execute(
            update(t).where(t.c.destination == destination).values(**values)
        ).rowcount:
            conn.execute(
                t.insert().values(
                    destination=destination, paused=False, changed_by=by, changed_at=now, **values
                )
            )


# ---- quarantine ----------------------------------------------------------------------------


def retry_return(store: Store, return_id: int) -> bool:
    """Send a quarantined or failed returned result through re-identification again."""
    return store.returns.retry(return_id)


def purge_study(store: Store, spool: Spool, study_id: int) -> bool:
    """Delete a held (quarantined, failed, not-eligible) study: its rows and its spool files.
    False otherwise."""
    s, i, d = models.studies, models.instances, models.deliveries
    with store.db.write() as conn:
        row = conn.execute(
            select(s.c.study_key).where(
                and_(
                    s.c.id == study_id,
                    s.c.state.in_([state.value for state in HELD]),
                )
            )
        ).first()
        if row is None:
            return False
        ids = select(i.c.id).where(i.c.study_id == study_id).scalar_subquery()
        conn.execute(delete(d).where(d.c.instance_id.in_(ids)))
        conn.execute(delete(i).where(i.c.study_id == study_id))
        conn.execute(delete(cm.study_findings).where(cm.study_findings.c.study_id == study_id))
        conn.execute(delete(cm.study_events).where(cm.study_events.c.study_id == study_id))
        conn.execute(delete(s).where(s.c.id == study_id))
        study_key = str(row.study_key)
    # The key is the node's own keyed token (hex), so these paths never come from a received
    # value; the rows are gone first, so a crash here leaves files recovery ignores no longer
    # than until the next start (it re-registers them as a new study, which is safe).
    for folder in (spool.incoming / study_key, spool.out / study_key):
        shutil.rmtree(folder, ignore_errors=True)
    return True


def purge_return(store: Store, spool: Spool, return_id: int) -> bool:
    """Delete a quarantined or failed returned result and its spool file."""
    r = models.returns
    with store.db.write() as conn:
        row = conn.execute(
            select(r.c.spool_name).where(
                and_(
                    r.c.id == return_id,
                    r.c.state.in_([ReturnState.QUARANTINED.value, ReturnState.FAILED.value]),
                )
            )
        ).first()
        if row is None:
            return False
        conn.execute(delete(r).where(r.c.id == return_id))
    (spool.returned / str(row.spool_name)).unlink(missing_ok=True)
    return True


# ---- timeline and findings -----------------------------------------------------------------


def study_events(store: Store, study_id: int) -> list[StudyEvent]:
    e = cm.study_events
    with store.db.read() as conn:
        rows = conn.execute(
            select(e.c.state, e.c.at).where(e.c.study_id == study_id).order_by(e.c.id)
        )
        return [StudyEvent(StudyState(r.state), r.at) for r in rows]


def record_findings(store: Store, study_id: int, findings: Sequence[StudyFinding]) -> None:
    """Replace the study's quarantine findings with ``findings`` (the latest run's)."""
    f = cm.study_findings
    now = time.time()
    with store.db.write() as conn:
        conn.execute(delete(f).where(f.c.study_id == study_id))
        if findings:
            conn.execute(
                f.insert(),
                [
                    {
                        "study_id": study_id,
                        "source": x.source.value,
                        "file": x.file[:80],
                        "path": x.path[:200],
                        "kind": x.kind[:64],
                        "form": x.form[:200],
                        "rule": x.rule[:100],
                        "at": now,
                    }
                    for x in findings[:500]
                ],
            )


def study_findings(store: Store, study_id: int) -> list[StudyFinding]:
    return findings_of(store, [study_id]).get(study_id, [])


def findings_of(store: Store, study_ids: Sequence[int]) -> dict[int, list[StudyFinding]]:
    """The findings of several studies in one query (a page of the quarantine)."""
    f = cm.study_findings
    found: dict[int, list[StudyFinding]] = {}
    if not study_ids:
        return found
    with store.db.read() as conn:
        rows = conn.execute(select(f).where(f.c.study_id.in_(list(study_ids))).order_by(f.c.id))
        for r in rows:
            found.setdefault(r.study_id, []).append(
                StudyFinding(FindingSource(r.source), r.file, r.path, r.kind, r.form, r.rule)
            )
    return found
