"""Running a batch on a Dask cluster: groups of files as tasks, a bounded number in flight.

The driver (this process) lists the inputs, cuts them into groups (batch/groups.py), skips the
groups a previous run finished (batch/manifest.py), checks every worker's key, and submits
groups through a window of about two tasks per worker thread, so a listing of millions of
files never becomes a graph of millions of tasks. Results stream back as groups finish.

Failure handling: a bad input is a record of its group (never retried); storage errors are
retried with backoff inside the task (io/storage.py), and a file that still cannot be written
leaves its group without a manifest, so the next run redoes it; a lost worker's group is
rescheduled by Dask on another worker (outputs are deterministic, so a re-run writes the same
bytes), and after Dask gives up on it (``distributed.scheduler.allowed-failures``) its files
are reported failed with ``retry``. A worker with another key stops the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from veil import __version__
from veil.batch.grouprun import (
    GroupResult,
    JobPayload,
    RemoteJob,
    check_worker,
    run_group,
)
from veil.batch.groups import DEFAULT_GROUP_SIZE, Group, make_groups
from veil.batch.job import Job
from veil.batch.manifest import (
    STATE_DIR,
    StateStore,
    fingerprint_of,
    job_identity,
    lookup_digest,
    record_from_stored,
)
from veil.batch.outcome import FileRecord
from veil.batch.sink import ObjectSink
from veil.check.model import RequirementProfile
from veil.errors import ClusterError, ResumeError, WorkerKeyError
from veil.io.inputs import InputItem
from veil.pipeline import Outcome

TASKS_PER_THREAD = 2  # in flight per worker thread: enough to hide a task's start, no more
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class RunStats:
    """How the groups of one run went (for tests, the benchmark and the summary)."""

    groups: int = 0
    skipped: int = 0  # finished by an earlier run (manifest found)
    run: int = 0
    incomplete: int = 0  # ran, but some file must be retried: no manifest
    lost: int = 0  # Dask gave up on them (workers kept dying)
    task_cpu_seconds: float = 0.0


@dataclass
class DaskExecutor:
    """Runs groups of files on a Dask cluster through a ``distributed.Client``.

    Give a ``client``, or ``connect``: a function opening one (see ``connect`` below), called
    only when some group is left to run, so a finished or refused run starts no cluster.
    """

    client: Any = None  # distributed.Client (typed loosely: dask is an optional extra)
    connect: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
    profiles: Sequence[RequirementProfile] = ()
    quality_checks: bool = True
    group_size: int = DEFAULT_GROUP_SIZE
    key_hint: Path | None = None  # the driver's --key, which local workers can read too
    lookup_path: Path | None = None
    window: int | None = None  # tasks in flight (default: TASKS_PER_THREAD x threads)
    stats: RunStats = field(default_factory=RunStats)
    regressions: list[dict[str, Any]] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)  # outputs the check could not read
    manifests: str | None = None

    threads: int = 0  # worker threads seen when the run started

    @property
    def workers(self) -> int:
        """Worker threads of the cluster (it may grow or shrink during the run)."""
        return max(1, self.threads)

    def _count_threads(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)
        self.threads = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
        return self.threads

    def records(self, items: Sequence[InputItem], job: Job) -> Iterator[FileRecord]:
        out = _output_of(job)
        state = StateStore(out)
        self.manifests = state.location
        identity = job_identity(
            job, [profile.name for profile in self.profiles], self.quality_checks
        )
        fingerprint = fingerprint_of(identity)
        refused = [item for item in items if item.relative.split("/", 1)[0] == STATE_DIR]
        yield from (_state_clash(item) for item in refused)
        usable = [_absolute(item) for item in items if item.relative.split("/", 1)[0] != STATE_DIR]
        groups = make_groups(usable, job.mapper, self.group_size)
        self.stats.groups = len(groups)
        state.begin_run(identity, job.overwrite)
        finished = set() if job.overwrite else state.finished_groups()
        todo: list[Group] = []
        done = state.read_groups(g.id for g in groups if g.id in finished)
        for group in groups:
            manifest = done.get(group.id)
            if manifest is None or len(manifest.records) != len(group.items):
                todo.append(group)
                continue
            if manifest.job != fingerprint:
                raise ResumeError(
                    f"{state.location}: a group manifest was written by another run; use an "
                    "empty --out or --overwrite"
                )
            self.stats.skipped += 1
            self.regressions.extend(manifest.regressions)
            self.unverifiable.extend(manifest.unverifiable)
            for stored, item in zip(manifest.records, group.items, strict=True):
                yield record_from_stored(stored, item.display)
        if todo:
            remote = self._remote_job(job, out, fingerprint)
            with contextlib.ExitStack() as stack:
                if self.client is None:
                    if self.connect is None:
                        raise ClusterError("DaskExecutor needs a client or a connect function")
                    self.client = stack.enter_context(self.connect())
                self._check_workers(remote)
                yield from self._submit(todo, JobPayload.of(remote))
                if self.connect is not None:
                    self.client = None
        state.remove_temp()
        self.regressions = _unique(self.regressions)
        self.unverifiable.sort()

    def _remote_job(self, job: Job, out: Path | Any, fingerprint: str) -> RemoteJob:
        return RemoteJob(
            plan=job.plan,
            layout=job.layout,
            audit=job.audit,
            overwrite=job.overwrite,
            out=out,
            key_fingerprint=job.mapper.fingerprint(),
            fingerprint=fingerprint,
            key_hint=str(self.key_hint.resolve()) if self.key_hint else None,
            lookup_path=str(self.lookup_path.resolve()) if self.lookup_path else None,
            lookup_digest=lookup_digest(job.mapper),
            profiles=tuple(self.profiles),
            quality_checks=self.quality_checks,
            engine=job.engine,
            verify_fast=job.verify_fast,
        )

    def _check_workers(self, remote: RemoteJob) -> None:
        """Every worker loads its own key now; one with another key stops the run here."""
        try:
            answers = self.client.run(
                check_worker,
                remote.key_fingerprint,
                remote.key_hint,
                remote.lookup_path,
                remote.lookup_digest,
                __version__,
            )
        except Exception as exc:
            raise ClusterError(
                f"cannot ask the cluster's workers for their key ({type(exc).__name__}); is "
                "veil installed on every worker?"
            ) from None
        if not answers:
            raise ClusterError("the cluster has no workers; start some, or use --cluster local")
        problems = [f"{worker}: {problem}" for worker, problem in answers.items() if problem]
        if problems:
            raise WorkerKeyError("refused by the cluster: " + "; ".join(sorted(problems)))

    def _submit(self, todo: list[Group], payload: JobPayload) -> Iterator[FileRecord]:
        as_completed = _distributed().as_completed
        window = self.window or max(2, TASKS_PER_THREAD * self._count_threads())
        pending = iter(todo)
        by_key: dict[str, Group] = {}

        def submit() -> Any:
            group = next(pending, None)
            if group is None:
                return None
            key = f"veil-group-{group.id}"
            by_key[key] = group
            # retries: an exception escaping the task (not a file's problem, those are
            # records) is tried again once; lost workers are handled by the scheduler itself.
            return self.client.submit(run_group, group, payload, key=key, retries=1, pure=False)

        first = [f for f in (submit() for _ in range(window)) if f is not None]
        stream = as_completed(first)
        try:
            for future in stream:
                group = by_key.pop(future.key)
                yield from self._collect(future, group)
                future.release()
                following = submit()
                if following is not None:
                    stream.add(following)
        except BaseException:
            for future in list(stream.futures):
                future.cancel()
            raise

    def _collect(self, future: Any, group: Group) -> Iterator[FileRecord]:
        KilledWorker = importlib.import_module("distributed.scheduler").KilledWorker

        try:
            result: GroupResult = future.result()
        except WorkerKeyError:
            raise
        except KilledWorker:
            self.stats.lost += 1
            yield from _lost(group, "the workers running this group kept dying (out of memory?)")
            return
        except Exception as exc:
            self.stats.lost += 1
            yield from _lost(group, f"the cluster failed this group ({type(exc).__name__})")
            return
        self.stats.run += 1
        self.stats.task_cpu_seconds += result.cpu_seconds
        if not result.complete:
            self.stats.incomplete += 1
        self.regressions.extend(result.regressions)
        self.unverifiable.extend(result.unverifiable)
        yield from result.records


def _output_of(job: Job) -> Path | Any:
    if isinstance(job.sink, ObjectSink):
        return job.sink.store
    if job.out is None:
        raise ClusterError("a cluster run needs an output folder or URL")
    return job.out.resolve()  # workers may run in another folder (or on a shared disk)


def _absolute(item: InputItem) -> InputItem:
    """A local input with an absolute path (its display stays as the user typed it)."""
    if getattr(item, "store", None) is not None or os.path.isabs(item.path):
        return item
    return dataclasses.replace(item, path=os.path.abspath(item.path))


def _state_clash(item: InputItem) -> FileRecord:
    return FileRecord(
        item.display,
        Outcome.FAILED,
        item.size,
        problem=f"{item.display}: its output would fall in veil's state folder {STATE_DIR}/ "
        "of the output; rename that input folder",
    )


def _lost(group: Group, why: str) -> Iterator[FileRecord]:
    for item in group.items:
        yield FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: not processed: {why}; run the same command again to resume",
            retry=True,
        )


def _unique(regressions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    found: list[dict[str, Any]] = []
    for regression in regressions:
        key = (str(regression.get("series")), str(regression.get("rule_id")))
        if key not in seen:
            seen.add(key)
            found.append(regression)
    # Groups finish in any order: sort, so the same run gives the same report.
    return sorted(found, key=lambda r: (str(r.get("series")), str(r.get("rule_id"))))


# -- connecting --------------------------------------------------------------------------
def _distributed() -> Any:
    """dask.distributed, an optional extra (typed as Any: it ships no type information)."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'veil[dask]'") from None


def _local_workers(spec: str, default: int) -> int | None:
    """Workers of ``local``/``local:N`` (None for a scheduler address); raises on nonsense."""
    if spec == "local":
        return default
    if spec.startswith("local:"):
        text = spec[len("local:") :]
        if not text.isdigit() or int(text) < 1:
            raise ClusterError(f"--cluster {spec}: expected local or local:N with N >= 1")
        return int(text)
    scheme, _, rest = spec.partition("://")
    if scheme not in ("tcp", "tls") or not rest:
        raise ClusterError(
            f"--cluster {spec}: expected local, local:N, tcp://HOST:PORT or tls://HOST:PORT"
        )
    return None


def check_cluster_address(spec: str) -> None:
    """Refuse a malformed --cluster, or one without Dask installed, before any work starts."""
    _local_workers(spec, 1)
    _distributed()


def cluster_warning(spec: str) -> str | None:
    """What to tell the user about an address before connecting (plain tcp:// off this host)."""
    host = urlparse(spec).hostname or ""
    if spec.startswith("tcp://") and host not in LOOPBACK:
        return (
            f"--cluster {spec}: tcp:// is neither encrypted nor authenticated; the job and the "
            "files' records cross the network in clear: use tls:// on a shared network"
        )
    return None


@contextlib.contextmanager
def connect(spec: str, local_workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` for ``--cluster``: local[:N], tcp://HOST:PORT, tls://HOST:PORT.

    ``local`` starts a LocalCluster of worker processes (one thread each) bound to 127.0.0.1
    only, dashboard included, and stops it at the end. A tls:// scheduler takes its
    certificates from Dask's configuration (distributed.comm.tls.*).
    """
    distributed = _distributed()
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    count = _local_workers(spec, local_workers)
    if count is not None:
        try:
            cluster = LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
            )
        except Exception as exc:
            raise ClusterError(
                f"--cluster {spec}: cannot start a local cluster ({type(exc).__name__}); "
                "from Python, start it under `if __name__ == '__main__':`"
            ) from None
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(spec, timeout="20s")
    except Exception as exc:  # unreachable, refused, or TLS without certificates
        hint = (
            "; tls:// needs Dask's TLS settings (distributed.comm.tls.ca-file, "
            "distributed.comm.tls.client.cert and .key)"
            if spec.startswith("tls://")
            else ""
        )
        raise ClusterError(
            f"--cluster {spec}: cannot connect to the scheduler ({type(exc).__name__}){hint}"
        ) from None
    try:
        yield client
    finally:
        client.close()
