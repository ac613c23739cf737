"""One group of files on a cluster worker: the task the Dask runner submits.

It needs no Dask to run (tests call it in-process) and calls the same per-file function as the
local process pool (worker.process_item). What it receives holds no secret: the job travels
without the key and without the lookup table; the worker loads both itself (VEIL_KEY_FILE,
VEIL_KEY, the driver's --key path, or its default key file, never creating one) and refuses to
work when their fingerprints differ from the driver's. Its arguments and its result print
without paths (Dask logs a failed task's arguments).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from veil import __version__
from veil.batch.groups import Group
from veil.batch.job import Job
from veil.batch.manifest import GroupManifest, StateStore, lookup_digest, record_to_stored
from veil.batch.outcome import FileRecord
from veil.batch.sink import LocalSink, ObjectSink, Sink
from veil.batch.worker import internal_error, process_item
from veil.check.model import RequirementProfile
from veil.errors import KeyFileError, LookupTableError, WorkerKeyError
from veil.io.inputs import InputItem
from veil.io.quiet import configure_process
from veil.io.storage import Store
from veil.keys import KEY_ENV, KEY_FILE_ENV, read_lookup_table, resolve_key
from veil.mapping import Mapper
from veil.pipeline import CheckVerdict, Engine, Outcome, check_facts
from veil.policy.model import Layout
from veil.policy.plan import Plan


@dataclass(frozen=True)
class RemoteJob:
    """What every worker needs besides its key: no key bytes, no lookup rows."""

    plan: Plan
    layout: Layout
    audit: bool
    overwrite: bool
    out: Path | Store
    key_fingerprint: str
    fingerprint: str  # the job fingerprint written into manifests
    key_hint: str | None = None  # the driver's --key path, tried when the worker has no env
    lookup_path: str | None = None
    lookup_digest: str | None = None
    profiles: tuple[RequirementProfile, ...] = ()
    quality_checks: bool = True
    engine: Engine = Engine.AUTO
    verify_fast: bool = False
    veil_version: str = __version__


@dataclass(frozen=True, repr=False)
class JobPayload:
    """The pickled RemoteJob, unpickled once per worker process (keyed by its digest)."""

    digest: str
    blob: bytes

    @classmethod
    def of(cls, job: RemoteJob) -> JobPayload:
        blob = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(hashlib.sha256(blob).hexdigest()[:24], blob)

    def __repr__(self) -> str:
        return f"JobPayload({self.digest})"


@dataclass(frozen=True, repr=False)
class GroupResult:
    """Records of one group; ``complete``: its manifest was written (a re-run skips it)."""

    group: str
    records: tuple[FileRecord, ...]
    regressions: tuple[dict[str, Any], ...] = ()
    unverifiable: tuple[str, ...] = ()  # outputs the --for check could not evaluate
    complete: bool = False
    cpu_seconds: float = 0.0  # CPU of the task's thread: the de-identification itself

    def __repr__(self) -> str:
        return f"GroupResult({self.group}, {len(self.records)} files)"


_JOBS: dict[str, RemoteJob] = {}
_MAPPERS: dict[tuple[str, str | None, str | None, str | None], Mapper] = {}


def _remote_job(payload: JobPayload) -> RemoteJob:
    job = _JOBS.get(payload.digest)
    if job is None:
        job = _JOBS[payload.digest] = pickle.loads(payload.blob)
    return job


def load_worker_mapper(
    expected: str,
    key_hint: str | None = None,
    lookup_path: str | None = None,
    lookup_expected: str | None = None,
) -> Mapper:
    """This process's key (and lookup table), checked against the driver's fingerprints."""
    cache_key = (expected, key_hint, lookup_path, lookup_expected)
    cached = _MAPPERS.get(cache_key)
    if cached is not None:
        return cached
    own_env = bool(os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV))
    try:
        # Never create a key here: a new random key would write unrelated pseudonyms.
        key, source = resolve_key(None if own_env or not key_hint else Path(key_hint), False)
    except KeyFileError as exc:
        raise WorkerKeyError(
            f"a worker has no usable project key ({exc}); give every worker the run's key, "
            f"e.g. {KEY_FILE_ENV} pointing at a secret the site mounts"
        ) from None
    try:
        lookup = read_lookup_table(Path(lookup_path)) if lookup_path else {}
    except LookupTableError as exc:
        raise WorkerKeyError(f"a worker cannot read the lookup table: {exc}") from None
    mapper = Mapper(key, lookup)
    if mapper.fingerprint() != expected:
        raise WorkerKeyError(
            f"a worker's key ({source.description}) has fingerprint {mapper.fingerprint()}, "
            f"the run's key {expected}: the worker refuses to work; give every worker the "
            "same project key"
        )
    if lookup_digest(mapper) != lookup_expected:
        raise WorkerKeyError(
            "a worker's lookup table differs from the run's (or is missing); give every "
            "worker the same --lookup file at the same path"
        )
    _MAPPERS[cache_key] = mapper
    return mapper


def check_worker(
    expected: str,
    key_hint: str | None,
    lookup_path: str | None,
    lookup_expected: str | None,
    version: str,
) -> str | None:
    """Run on every worker before the first task: the problem, or None when it may work."""
    if version != __version__:
        return f"runs veil {__version__}, the driver veil {version}: install the same version"
    try:
        load_worker_mapper(expected, key_hint, lookup_path, lookup_expected)
    except WorkerKeyError as exc:
        return str(exc)
    return None


def _safe_process(item: InputItem, job: Job) -> FileRecord:
    try:
        return process_item(item, job)
    except Exception as exc:
        return internal_error(item, exc)


def _check(remote: RemoteJob, records: list[FileRecord]) -> CheckVerdict:
    """The --for verdict of a group, from the facts each file's pipeline evaluated (as after a
    local run): named by the output, and an output without facts is unverifiable."""
    facts = [
        (record.check, record.output)
        for record in records
        if record.outcome is Outcome.WRITTEN and record.output
    ]
    return check_facts(remote.profiles, facts, remote.quality_checks)


def run_group(group: Group, payload: JobPayload) -> GroupResult:
    """De-identify a group's files, check them (--for), and write its manifest last."""
    started = time.thread_time()
    configure_process()
    remote = _remote_job(payload)
    mapper = load_worker_mapper(
        remote.key_fingerprint, remote.key_hint, remote.lookup_path, remote.lookup_digest
    )
    state = StateStore(remote.out)
    sink: Sink
    if isinstance(remote.out, Store):
        sink, out = ObjectSink(remote.out), None
    else:
        sink, out = LocalSink(remote.out, state.temp_dir(group.id)), remote.out
    job = Job(
        plan=remote.plan,
        mapper=mapper,
        out=out,
        layout=remote.layout,
        audit=remote.audit,
        overwrite=remote.overwrite,
        sink=sink,
        engine=remote.engine,
        verify_fast=remote.verify_fast,
        profiles=remote.profiles,
        quality_checks=remote.quality_checks,
    )
    records = [_safe_process(item, job) for item in group.items]
    checked = _check(remote, records)
    # The facts stay here: the driver needs the verdict only (its memory grows per file).
    records = [replace(record, check=None) if record.check else record for record in records]
    regressions = tuple(r.to_dict() for r in checked.regressions)
    complete = not any(record.retry for record in records)
    if complete:
        stored = tuple(
            record_to_stored(index, record, item.display)
            for index, (item, record) in enumerate(zip(group.items, records, strict=True))
        )
        try:
            state.write_group(
                GroupManifest(
                    group.id, remote.fingerprint, stored, regressions, checked.unverifiable
                )
            )
        except OSError:
            complete = False  # the group is redone next time; its files are idempotent
    state.remove_temp(group.id)
    return GroupResult(
        group.id,
        tuple(records),
        regressions,
        checked.unverifiable,
        complete,
        time.thread_time() - started,
    )
