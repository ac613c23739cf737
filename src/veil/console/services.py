"""What the console's part 2 needs, built once per console: the site's profile catalog, the
project key's mapper (samples and jobs de-identify, so they need it), the sample store, the
job store with its folders, uploads and runner, and the housekeeping that deletes samples of
ended sessions and jobs past their retention.

Without the project key the console still serves the studio (versions, review, diffs); trying
a sample and running jobs say why they are unavailable instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from veil.check.catalog import ProfileCatalog
from veil.console import auditlog
from veil.console.auditlog import Action, Outcome
from veil.console.config import ConsoleConfig
from veil.console.jobrunner import JobRunner, RunnerContext
from veil.console.jobs import JobError, JobRow, JobStore
from veil.console.samples import SampleStore
from veil.console.sessions import Sessions
from veil.console.uploads import JobFolders, UploadLimits, Uploads
from veil.errors import VeilError
from veil.keys import read_lookup_table, resolve_key
from veil.mapping import Mapper
from veil.node.policy_source import site_catalog
from veil.node.store import Store

log = logging.getLogger("veil.console")

MIB = 1024 * 1024
HOUSEKEEPING_SECONDS = 60.0


def console_mapper(config: ConsoleConfig) -> tuple[Mapper | None, str]:
    """The node's mapper (its key, lookup table and placeholders), or None and why not.
    Never creates a key: that is the node's first start."""
    node = config.node
    try:
        key, _source = resolve_key(node.key, create=False)
        lookup = read_lookup_table(node.lookup) if node.lookup else {}
    except VeilError as exc:
        return None, f"the project key is not readable here ({exc})"
    if node.placeholder_patient_ids is None:
        return Mapper(key, lookup), ""
    placeholders = frozenset(p.strip().upper() for p in node.placeholder_patient_ids)
    return Mapper(key, lookup, placeholders), ""


@dataclass
class StudioServices:
    config: ConsoleConfig
    store: Store
    sessions: Sessions
    catalog: ProfileCatalog
    samples: SampleStore
    folders: JobFolders
    limits: UploadLimits
    mapper: Mapper | None = None
    jobs: JobStore | None = None
    uploads: Uploads | None = None
    runner: JobRunner | None = None
    unavailable: str = ""  # why samples and jobs cannot run here ("" when they can)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(cls, config: ConsoleConfig, store: Store, sessions: Sessions) -> StudioServices:
        web = config.web
        limits = UploadLimits(
            max_job_bytes=int(web.max_job_mb * MIB),
            max_job_files=web.max_job_files,
            max_chunk_bytes=int(web.max_chunk_mb * MIB),
        )
        services = cls(
            config=config,
            store=store,
            sessions=sessions,
            catalog=site_catalog(config.node),
            samples=SampleStore(config.work_dir / "samples", int(web.max_sample_mb * MIB)),
            folders=JobFolders(config.work_dir / "jobs"),
            limits=limits,
        )
        services.mapper, services.unavailable = console_mapper(config)
        if services.mapper is not None:
            try:
                services.jobs = JobStore(store)
            except JobError as exc:
                services.unavailable = str(exc)
        if services.jobs is not None and services.mapper is not None:
            services.uploads = Uploads(services.jobs, services.folders, limits)
            services.runner = JobRunner(
                RunnerContext(
                    store=store,
                    jobs=services.jobs,
                    folders=services.folders,
                    limits=limits,
                    mapper=services.mapper,
                    catalog=services.catalog,
                    node=config.node,
                    processes=web.job_processes,
                    on_event=services._job_event,
                )
            )
        return services

    def _job_event(self, job: JobRow, what: str, detail: str) -> None:
        action = Action.JOB_FINISHED if what == "done" else Action.JOB_SENT
        outcome = Outcome.OK if job.ok is not False or what != "done" else Outcome.FAILED
        auditlog.append(self.store, job.owner, action, f"job {job.id}", outcome, detail)

    # -- housekeeping ----------------------------------------------------------------------
    def sweep_samples(self) -> int:
        return self.samples.sweep(self.sessions.live_digests())

    def expire_jobs(self) -> int:
        """Delete finished jobs past ``web.job_retention_hours``, and uploads abandoned as
        long; their folders too. How many."""
        if self.jobs is None:
            return 0
        cutoff = time.time() - self.config.web.job_retention_hours * 3600
        gone = self.jobs.finished_before(cutoff) + self.jobs.abandoned_before(cutoff)
        for job_id in gone:
            self.folders.remove(job_id)
            self.jobs.delete(job_id)
            auditlog.append(
                self.store, "console", Action.JOB_DELETED, f"job {job_id}", Outcome.OK, "expired"
            )
        return len(gone)

    def housekeeping(self) -> None:
        try:
            self.sweep_samples()
            self.expire_jobs()
        except Exception as exc:  # the type only; housekeeping runs again in a minute
            log.error("console: housekeeping failed (%s)", type(exc).__name__)

    def _housekeeping_loop(self) -> None:
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            self.housekeeping()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Under a server: housekeeping once a minute, and jobs a previous console left."""
        self.housekeeping()
        if self.runner is not None:
            pending = self.runner.recover()
            if pending:
                log.info("console: %d job(s) left by a previous console run again", pending)
        thread = threading.Thread(
            target=self._housekeeping_loop, name="veil-console-housekeeping", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            self._stop.set()


__all__ = ["StudioServices", "console_mapper"]
