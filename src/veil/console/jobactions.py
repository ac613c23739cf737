"""What the job pages and the job API do, once each (and audited here): open a job, start it
with a policy and profiles, send it, delete it, hand out its download.

A job belongs to whoever opened it: another user (or token) gets "no such job", as if it did
not exist; its files' names are theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from veil.console import auditlog
from veil.console.auditlog import Action, Outcome
from veil.console.jobrunner import choose_policy, compile_choice
from veil.console.jobs import JobError, JobRow, JobState, UploadState
from veil.console.services import StudioServices
from veil.errors import VeilError
from veil.node.store import Store

MAX_OPEN_JOBS = 20  # per user: uploads in progress hold disk space


class NoSuchJob(JobError):
    """Unknown, or someone else's."""


@dataclass(frozen=True)
class Started:
    ok: bool
    message: str
    status: int = 200


def services_ready(services: StudioServices) -> None:
    if services.jobs is None or services.uploads is None or services.runner is None:
        raise JobError(f"jobs are unavailable here: {services.unavailable}")


def owned(services: StudioServices, job_id: str, who: str) -> JobRow:
    services_ready(services)
    assert services.jobs is not None
    job = services.jobs.get(job_id)
    if job is None or job.owner != who:
        raise NoSuchJob("no such job")
    return job


def open_job(services: StudioServices, who: str) -> JobRow:
    services_ready(services)
    assert services.jobs is not None
    if services.jobs.count_open(who) >= MAX_OPEN_JOBS:
        raise JobError(f"you have {MAX_OPEN_JOBS} jobs open already; start or delete some first")
    job = services.jobs.create(who)
    services.folders.create(job.id)
    return job


def start(
    services: StudioServices,
    store: Store,
    job: JobRow,
    who: str,
    policy: str,
    profiles: Sequence[str],
) -> Started:
    """Queue an uploaded job with its policy and profiles (checked now: a policy that cannot
    be compiled is refused here, not discovered by the runner)."""
    assert services.jobs is not None and services.runner is not None
    if job.state is not JobState.UPLOADING:
        return Started(False, f"the job is {job.state.value} already", 409)
    uploads = services.jobs.uploads(job.id)
    if any(u.state is UploadState.RECEIVING for u in uploads):
        return Started(False, "some files are still uploading; wait for them (or resume them)", 409)
    if not any(u.state is UploadState.COMPLETE for u in uploads):
        return Started(False, "no file received: add files or zips first", 400)
    unknown = [p for p in profiles if p not in services.catalog.profiles]
    if unknown:
        return Started(False, f"unknown destination profile: {unknown[0][:64]}", 400)
    try:
        choice = choose_policy(store, policy)
        compile_choice(store, services.catalog, choice, list(profiles))
    except VeilError as exc:
        auditlog.append(store, who, Action.JOB_STARTED, f"job {job.id}", Outcome.REFUSED, str(exc))
        return Started(False, f"the policy cannot be used: {exc}", 400)
    if not services.jobs.queue(job.id, choice.version_id, choice.label, list(profiles)):
        return Started(False, "the job changed meanwhile", 409)
    detail = f"{len(uploads)} file(s); policy {choice.label}" + (
        f" for {', '.join(profiles)}" if profiles else ""
    )
    auditlog.append(store, who, Action.JOB_STARTED, f"job {job.id}", Outcome.OK, detail)
    services.runner.submit(job.id)
    return Started(True, "job started")


def send(
    services: StudioServices, store: Store, job: JobRow, who: str, destination: str
) -> Started:
    assert services.runner is not None
    if job.state is not JobState.DONE:
        return Started(False, "only a finished job can be sent", 409)
    if destination not in {d.name for d in services.config.node.destinations}:
        return Started(False, "no such destination", 404)
    auditlog.append(store, who, Action.JOB_SENT, f"job {job.id}", Outcome.OK, f"to {destination}")
    services.runner.send(job.id, destination)
    return Started(True, f"sending to {destination}: the job page shows the result")


def delete(services: StudioServices, store: Store, job: JobRow, who: str) -> Started:
    assert services.jobs is not None
    if job.state in (JobState.QUEUED, JobState.RUNNING):
        return Started(False, "the job is running; delete it when it is done", 409)
    services.folders.remove(job.id)
    services.jobs.delete(job.id)
    auditlog.append(store, who, Action.JOB_DELETED, f"job {job.id}", Outcome.OK)
    return Started(True, "job and its files deleted")


def download(services: StudioServices, store: Store, job: JobRow, who: str) -> Path | None:
    """The job's zip (None when there is none yet); every download is audited."""
    path = services.folders.result(job.id)
    if job.state is not JobState.DONE or not path.is_file():
        return None
    auditlog.append(
        store, who, Action.DOWNLOAD, f"job {job.id}", Outcome.OK, f"{path.stat().st_size} bytes"
    )
    return path


__all__ = ["NoSuchJob", "Started", "delete", "download", "open_job", "owned", "send", "start"]
