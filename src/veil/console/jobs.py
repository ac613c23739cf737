"""Browser jobs in the node's database: a job, its uploaded files, a result per input.

A job moves uploading -> queued -> running -> done | failed (conditional updates: a step from
the wrong state changes nothing and says so). File names as the browser gave them, and the
problems that name them, are sealed with the project key (AES-GCM, as the linkage store seals
originals): a file called ``DOE_JOHN_MRN12345.dcm`` is an identifier, and the database must not
hold it in the clear. Only the job's owner is ever shown them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import delete, func, select, update

from veil.errors import VeilError
from veil.node.store import Sealer, Store
from veil.node.store.studio_models import job_files, job_results, jobs
from veil.pipeline import Outcome


class JobState(str, Enum):
    UPLOADING = "uploading"  # files are arriving; nothing runs yet
    QUEUED = "queued"  # started; waiting for the runner
    RUNNING = "running"
    DONE = "done"  # finished (files may still have failed: see ok and the results)
    FAILED = "failed"  # the job itself could not run (the policy, the disk...)


class UploadState(str, Enum):
    RECEIVING = "receiving"
    COMPLETE = "complete"
    REFUSED = "refused"  # over a limit, not DICOM nor zip...: never processed


class JobError(VeilError):
    """A job request that cannot be honoured; the message says why and what to do."""


@dataclass(frozen=True)
class JobRow:
    id: str
    owner: str
    state: JobState
    version_id: int | None
    policy: str
    profiles: tuple[str, ...]
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    inputs: int
    done: int
    written: int
    skipped: int
    failed: int
    quarantined: int
    bytes_in: int
    seconds: float | None
    ok: bool | None
    problem: str | None
    sent_to: str | None
    sent_at: float | None
    send_detail: str | None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)


@dataclass(frozen=True)
class UploadRow:
    number: int
    name: str  # the owner's own file name (opened from its seal)
    size: int
    received: int
    state: UploadState
    kind: str
    problem: str | None


@dataclass(frozen=True)
class ResultRow:
    seq: int
    input: str  # the owner's file name (and zip member)
    outcome: Outcome
    problem: str | None
    output: str | None
    study: str | None


@dataclass(frozen=True)
class NewResult:
    input: str
    outcome: Outcome
    problem: str | None = None
    output: str | None = None
    study: str | None = None


def _job(row: Any) -> JobRow:
    return JobRow(
        row.id,
        row.owner,
        JobState(row.state),
        row.version_id,
        row.policy,
        tuple(p for p in row.profiles.split(",") if p),
        row.created_at,
        row.updated_at,
        row.started_at,
        row.finished_at,
        row.inputs,
        row.done,
        row.written,
        row.skipped,
        row.failed,
        row.quarantined,
        row.bytes_in,
        row.seconds,
        row.ok,
        row.problem,
        row.sent_to,
        row.sent_at,
        row.send_detail,
    )


def new_job_id() -> str:
    """128 random bits, URL-safe: a job id is a path element, never a received value."""
    return secrets.token_hex(16)


def valid_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


class JobStore:
    def __init__(self, store: Store) -> None:
        if store.sealer is None:
            raise JobError(
                "jobs need the project key (file names are sealed with it); start the console "
                "where the node's key is readable (deidentify.key, VEIL_KEY or VEIL_KEY_FILE)"
            )
        self.store = store
        self.sealer: Sealer = store.sealer

    # -- sealing ---------------------------------------------------------------------------
    def _seal(self, context: str, text: str) -> bytes:
        return self.sealer.seal(context, {"text": text})

    def _open(self, context: str, blob: bytes | None) -> str:
        if blob is None:
            return ""
        return self.sealer.open(context, blob).get("text", "")

    # -- jobs ------------------------------------------------------------------------------
    def create(self, owner: str) -> JobRow:
        now = time.time()
        job_id = new_job_id()
        with self.store.db.write() as conn:
            conn.execute(
                jobs.insert().values(
                    id=job_id,
                    owner=owner[:80],
                    state=JobState.UPLOADING.value,
                    created_at=now,
                    updated_at=now,
                )
            )
        found = self.get(job_id)
        assert found is not None
        return found

    def get(self, job_id: str) -> JobRow | None:
        if not valid_job_id(job_id):
            return None
        with self.store.db.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def of_owner(self, owner: str, limit: int = 100) -> list[JobRow]:
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(jobs)
                .where(jobs.c.owner == owner)
                .order_by(jobs.c.created_at.desc())
                .limit(limit)
            )
            return [_job(r) for r in rows]

    def count_open(self, owner: str) -> int:
        """Jobs of ``owner`` still uploading, queued or running."""
        open_states = (JobState.UPLOADING.value, JobState.QUEUED.value, JobState.RUNNING.value)
        with self.store.db.read() as conn:
            found = conn.execute(
                select(func.count()).where(jobs.c.owner == owner, jobs.c.state.in_(open_states))
            ).scalar()
        return int(found or 0)

    def in_states(self, states: Sequence[JobState]) -> list[JobRow]:
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(jobs)
                .where(jobs.c.state.in_([s.value for s in states]))
                .order_by(jobs.c.created_at)
            )
            return [_job(r) for r in rows]

    def finished_before(self, moment: float) -> list[str]:
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.state.in_([JobState.DONE.value, JobState.FAILED.value]),
                    jobs.c.finished_at < moment,
                )
            )
            return [str(r.id) for r in rows]

    def abandoned_before(self, moment: float) -> list[str]:
        """Jobs still uploading with no upload since ``moment``."""
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.state == JobState.UPLOADING.value, jobs.c.updated_at < moment
                )
            )
            return [str(r.id) for r in rows]

    def _move(self, job_id: str, sources: Sequence[JobState], **values: Any) -> bool:
        values["updated_at"] = time.time()
        with self.store.db.write() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state.in_([s.value for s in sources]))
                .values(**values)
            )
            return bool(result.rowcount)

    def queue(
        self, job_id: str, version_id: int | None, policy: str, profiles: Sequence[str]
    ) -> bool:
        """UPLOADING -> QUEUED with what to run."""
        return self._move(
            job_id,
            [JobState.UPLOADING],
            state=JobState.QUEUED.value,
            version_id=version_id,
            policy=policy[:200],
            profiles=",".join(profiles)[:500],
        )

    def start(self, job_id: str) -> bool:
        """QUEUED (or RUNNING: a console that died mid-job) -> RUNNING."""
        return self._move(
            job_id,
            [JobState.QUEUED, JobState.RUNNING],
            state=JobState.RUNNING.value,
            started_at=time.time(),
            done=0,
            written=0,
            skipped=0,
            failed=0,
            quarantined=0,
        )

    def progress(self, job_id: str, counts: dict[str, int]) -> None:
        self._move(job_id, [JobState.RUNNING], **counts)

    def finish(self, job_id: str, ok: bool, seconds: float, counts: dict[str, int]) -> bool:
        return self._move(
            job_id,
            [JobState.RUNNING],
            state=JobState.DONE.value,
            ok=ok,
            seconds=seconds,
            finished_at=time.time(),
            **counts,
        )

    def fail(self, job_id: str, problem: str) -> bool:
        return self._move(
            job_id,
            [JobState.QUEUED, JobState.RUNNING],
            state=JobState.FAILED.value,
            ok=False,
            problem=problem[:500],
            finished_at=time.time(),
        )

    def record_send(self, job_id: str, destination: str, detail: str) -> None:
        self._move(
            job_id,
            [JobState.DONE],
            sent_to=destination[:64],
            sent_at=time.time(),
            send_detail=detail[:500],
        )

    def delete(self, job_id: str) -> None:
        with self.store.db.write() as conn:
            conn.execute(delete(job_results).where(job_results.c.job_id == job_id))
            conn.execute(delete(job_files).where(job_files.c.job_id == job_id))
            conn.execute(delete(jobs).where(jobs.c.id == job_id))

    # -- uploads ---------------------------------------------------------------------------
    def add_upload(self, job_id: str, name: str, size: int) -> int:
        with self.store.db.write() as conn:
            last = conn.execute(
                select(func.max(job_files.c.number)).where(job_files.c.job_id == job_id)
            ).scalar()
            number = int(last or 0) + 1
            conn.execute(
                job_files.insert().values(
                    job_id=job_id,
                    number=number,
                    name=self._seal(f"web_job_file:{job_id}:{number}", name[:1024]),
                    size=size,
                    received=0,
                    state=UploadState.RECEIVING.value,
                )
            )
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(updated_at=time.time()))
        return number

    def _upload(self, job_id: str, row: Any) -> UploadRow:
        return UploadRow(
            row.number,
            self._open(f"web_job_file:{job_id}:{row.number}", row.name),
            row.size,
            row.received,
            UploadState(row.state),
            row.kind,
            row.problem,
        )

    def uploads(self, job_id: str) -> list[UploadRow]:
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(job_files).where(job_files.c.job_id == job_id).order_by(job_files.c.number)
            )
            return [self._upload(job_id, r) for r in rows]

    def upload(self, job_id: str, number: int) -> UploadRow | None:
        with self.store.db.read() as conn:
            row = conn.execute(
                select(job_files).where(job_files.c.job_id == job_id, job_files.c.number == number)
            ).first()
        return None if row is None else self._upload(job_id, row)

    def totals(self, job_id: str) -> tuple[int, int]:
        """(files declared, bytes declared) of a job's uploads, refused ones excluded."""
        with self.store.db.read() as conn:
            row = conn.execute(
                select(func.count(), func.coalesce(func.sum(job_files.c.size), 0)).where(
                    job_files.c.job_id == job_id,
                    job_files.c.state != UploadState.REFUSED.value,
                )
            ).one()
        return int(row[0]), int(row[1])

    def received(self, job_id: str, number: int, received: int, size: int | None = None) -> None:
        values: dict[str, Any] = {"received": received}
        if size is not None:
            values["size"] = size
        with self.store.db.write() as conn:
            conn.execute(
                update(job_files)
                .where(job_files.c.job_id == job_id, job_files.c.number == number)
                .values(**values)
            )
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(updated_at=time.time()))

    def settle_upload(
        self, job_id: str, number: int, state: UploadState, kind: str, problem: str | None
    ) -> None:
        with self.store.db.write() as conn:
            conn.execute(
                update(job_files)
                .where(job_files.c.job_id == job_id, job_files.c.number == number)
                .values(state=state.value, kind=kind, problem=(problem or None) and problem[:300])
            )

    # -- results ---------------------------------------------------------------------------
    def add_results(self, job_id: str, results: Sequence[NewResult]) -> None:
        rows = []
        for seq, result in enumerate(results, start=1):
            context = f"web_job_result:{job_id}:{seq}"
            rows.append(
                {
                    "job_id": job_id,
                    "seq": seq,
                    "input": self._seal(context, result.input),
                    "outcome": result.outcome.value,
                    "problem": self._seal(context + ":problem", result.problem)
                    if result.problem
                    else None,
                    "output": result.output,
                    "study": result.study,
                }
            )
        with self.store.db.write() as conn:
            conn.execute(delete(job_results).where(job_results.c.job_id == job_id))
            for start in range(0, len(rows), 500):
                conn.execute(job_results.insert(), rows[start : start + 500])

    def results(self, job_id: str, limit: int = 1000, offset: int = 0) -> list[ResultRow]:
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(job_results)
                .where(job_results.c.job_id == job_id)
                .order_by(job_results.c.seq)
                .limit(limit)
                .offset(offset)
            )
            found = []
            for row in rows:
                context = f"web_job_result:{job_id}:{row.seq}"
                found.append(
                    ResultRow(
                        row.seq,
                        self._open(context, row.input),
                        Outcome(row.outcome),
                        self._open(context + ":problem", row.problem) or None,
                        row.output,
                        row.study,
                    )
                )
            return found


__all__ = [
    "JobError",
    "JobRow",
    "JobState",
    "JobStore",
    "NewResult",
    "ResultRow",
    "UploadRow",
    "UploadState",
    "new_job_id",
    "valid_job_id",
]
