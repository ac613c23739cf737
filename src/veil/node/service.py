"""The running node: receivers, the scheduler that moves studies through their states, and the
workers that de-identify, check, audit and send them; plus the return path.

Source of truth is the spool (fsynced before each answer) and the state store; everything the
scheduler does is a conditional state change, so a kill at any moment leaves a state from which
start-up recovery (`recover`) resumes: unregistered spool files are registered, studies caught
half-way are processed again, and sends resume with what the destination has not acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from enum import Enum
from functools import partial
from pathlib import Path

from pydicom import Dataset, dcmread

from veil.keys import load_mapper
from veil.mapping import Mapper, Patient
from veil.node.config import NodeConfig
from veil.node.forgetting import Retention
from veil.node.receiver import Received, Receiver, StoreStatus
from veil.node.return_worker import ReturnWorker
from veil.node.senders import make_sender
from veil.node.spool import Spool, content_sha256
from veil.node.store import (
    Arrival,
    Incoming,
    InstanceState,
    Registration,
    Sealer,
    Store,
    StudyState,
)
from veil.node.study_deid import DeidFunction
from veil.node.study_worker import SendPolicy, StudyWorker
from veil.pipeline import Settings, compile_policy

log = logging.getLogger("veil.node")


class Task(str, Enum):
    """What a worker thread is busy with: one task per study (processing or sending) and one
    per returned result at a time."""

    STUDY = "study"
    RETURN = "return"


def where(exc: BaseException) -> str:
    """The exception's type and innermost source line: enough to debug, and never a value
    (exception messages from parsers and databases may quote identifiers)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno}"


class Node:
    def __init__(
        self, config: NodeConfig, mapper: Mapper | None = None, deid: DeidFunction | None = None
    ) -> None:
        self.config = config
        placeholders = config.placeholder_patient_ids
        self.mapper = mapper or load_mapper(
            config.key, config.lookup, frozenset(placeholders) if placeholders else None
        )
        # The policy's requirements: and the configured profiles, merged (a profile once).
        compiled = compile_policy(config.policy, config.profiles)
        if compiled.layout is not None:
            log.info(
                "policy layout: %s applies to veil deid only; the node names its outputs by "
                "de-identified UIDs",
                compiled.layout.value,
            )
        self.profiles = list(compiled.profiles)
        settings = Settings(compiled.plan, self.mapper, audit=True)  # never sends unaudited
        self.spool = Spool(config.spool, self.mapper)
        self.store = Store.open(config.database, Sealer(self.mapper.key))
        self.retention = Retention(self.store, config.retention_days)
        sending = SendPolicy(
            senders=[make_sender(d) for d in config.destinations],
            retry=config.retry,
            keep_sent=config.keep_sent,
            send_ineligible=config.send_ineligible,
        )
        self.studies = StudyWorker(self.store, self.spool, settings, self.profiles, sending, deid)
        self.returns: ReturnWorker | None = None
        if config.return_path is not None:
            home = make_sender(config.return_path.home)
            self.returns = ReturnWorker(self.store, self.spool, home, config.retry)
        self.receivers = [
            Receiver(
                "node",
                config.ae_title,
                config.host,
                config.port,
                self._on_store,
                config.allowed_callers,
                config.tls,
                config.limits,
                self.spool.tmp,
            )
        ]
        if config.return_path is not None:
            rp = config.return_path
            self.receivers.append(
                Receiver(
                    "return",
                    rp.ae_title,
                    config.host,
                    rp.port,
                    self._on_return,
                    rp.allowed_callers,
                    config.tls,
                    config.limits,
                    self.spool.tmp,
                )
            )
        self.pool = ThreadPoolExecutor(config.workers, thread_name_prefix="veil-worker")
        self._inflight: dict[tuple[Task, int], Future[None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    # ---- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.spool.prepare()
        self.recover()
        for receiver in self.receivers:
            receiver.start()
        self._scheduler = threading.Thread(target=self._run, name="veil-scheduler", daemon=True)
        self._scheduler.start()
        log.info(
            "node started: key fingerprint %s, audit on, %d destination(s)",
            self.mapper.fingerprint(),
            len(self.config.destinations),
        )

    def stop(self) -> None:
        self._stop.set()
        for receiver in self.receivers:
            receiver.stop()
        if self._scheduler is not None:
            self._scheduler.join(timeout=10)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()
        log.info("node stopped")

    def request_stop(self) -> None:
        """Ask `wait` to return (safe from a signal handler); then call `stop`."""
        self._stop.set()

    def wait(self) -> None:
        while not self._stop.wait(1.0):
            pass

    def recover(self) -> None:
        """Bring the store in line with the spool after a crash (or a first start)."""
        registered = self._register_spooled_instances()
        # A study caught between de-identification and check is processed again from scratch.
        for study in self.store.studies.in_states([StudyState.DEIDENTIFIED]):
            self.store.studies.reprocess(study.id)
        known_returns = self.store.returns.known_names()
        for path in self.spool.return_files():
            if path.name not in known_returns:
                self.store.returns.add(path.name, path.name)
                registered += 1
        if registered:
            log.info(
                "recovery: registered %d spooled file(s) received before a restart", registered
            )

    def _register_spooled_instances(self) -> int:
        """Register spool files written (and acknowledged) just before a crash; remove files a
        newer version superseded (a crash between registering it and removing them)."""
        known: dict[str, set[str]] = {}
        registered = 0
        for study_key, path in self.spool.incoming_files():
            names = known.setdefault(study_key, self.store.studies.known_spool_names(study_key))
            if f"{study_key}/{path.name}" in names:
                continue
            try:
                ds = dcmread(path, stop_before_pixels=True, force=True)
                incoming = self._incoming(
                    ds,
                    study_key,
                    str(ds.StudyInstanceUID),
                    str(ds.SOPInstanceUID),
                    str(ds.get("SOPClassUID", "") or ""),
                    path,
                    content_sha256(path),
                )
                registration = self.store.studies.register(
                    incoming, written_at=path.stat().st_mtime
                )
                self._tidy_spool(incoming, registration)
                registered += registration.arrival in (Arrival.NEW, Arrival.NEW_VERSION)
            except Exception as exc:  # one unreadable file must not stop the node's start
                log.error(
                    "recovery: spool file %s/%s not registered (%s)",
                    study_key,
                    path.name,
                    type(exc).__name__,
                )
        return registered

    # ---- receiving -----------------------------------------------------------------------

    def _incoming(
        self,
        ds: Dataset,
        study_key: str,
        study_uid: str,
        sop_uid: str,
        sop_class_uid: str,
        path: Path,
        sha: str,
    ) -> Incoming:
        """What the store registers of a spooled instance (it keeps keyed digests only)."""
        return Incoming(
            study_uid=study_uid,
            sop_uid=sop_uid,
            sop_class_uid=sop_class_uid,
            study_key=study_key,
            patient_pseudonym=self.mapper.patient_pseudonym(Patient.of(ds)),
            spool_name=f"{study_key}/{path.name}",
            content_sha256=sha,
            patient_name=str(ds.get("PatientName", "") or ""),
            birth_date=str(ds.get("PatientBirthDate", "") or ""),
        )

    def _tidy_spool(self, incoming: Incoming, registration: Registration) -> None:
        """Remove spool files the registration made useless: a file that is not the
        instance's registered one (the same content again, a stale version), the previous
        version's file, and a resend of a delivered version (unless keep_sent)."""
        not_registered = registration.spool_name != incoming.spool_name
        delivered_again = (
            registration.arrival is Arrival.KNOWN
            and registration.state is InstanceState.SENT
            and not self.config.keep_sent
        )
        if not_registered or delivered_again:
            self.spool.incoming_file(incoming.spool_name).unlink(missing_ok=True)
        if registration.superseded is not None:
            self.spool.incoming_file(registration.superseded).unlink(missing_ok=True)

    def _on_store(self, received: Received) -> StoreStatus:
        study_uid, sop_uid = received.study_uid, received.sop_uid  # valid UIDs (receiver)
        study_key = self.mapper.token("node-study", study_uid, 16)
        # The content is part of the spool name: a new version never overwrites the file of
        # the one being processed, and the same content again lands on its own file.
        sha = content_sha256(received.path)
        path = self.spool.incoming_path(study_key, sop_uid, sha)
        self.spool.adopt(received.path, path)
        # The spool name keeps its folder: should the key (and so the study key) ever change,
        # instances received before and after still point at their own files.
        incoming = self._incoming(
            received.dataset, study_key, study_uid, sop_uid, received.sop_class_uid, path, sha
        )
        registration = self.store.studies.register(incoming)
        if registration.arrival is Arrival.NEW_VERSION:
            log.info(
                "study %s (patient %s): an instance was received again with other content "
                "(version %d); the study will be processed and sent again",
                study_key,
                incoming.patient_pseudonym,
                registration.version,
            )
        self._tidy_spool(incoming, registration)
        return StoreStatus.SUCCESS

    def _on_return(self, received: Received) -> StoreStatus:
        path = self.spool.return_path(received.sop_uid)
        self.spool.adopt(received.path, path)
        self.store.returns.add(path.name, received.sop_uid)
        return StoreStatus.SUCCESS

    # ---- scheduling ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the scheduler must survive a database hiccup
                log.error("scheduler: one pass failed (%s); trying again", where(exc))
            self._stop.wait(self.config.poll_seconds)

    def _submit(self, task: Task, ident: int, fn: Callable[[], None]) -> None:
        key = (task, ident)
        with self._lock:
            done = [k for k, f in self._inflight.items() if f.done()]
            for k in done:
                del self._inflight[k]
            if key in self._inflight or self._stop.is_set():
                return
            self._inflight[key] = self.pool.submit(self._guard, task, ident, fn)

    def _guard(self, task: Task, ident: int, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # one task's crash must not stop the worker
            # An unexpected error (disk full, a bug) would repeat on every scheduler pass:
            # park the study or result as failed with the reason; `veil node retry` resumes it.
            reason = f"internal error ({where(exc)})"
            log.error("worker: %s %s failed unexpectedly: %s", task.value, ident, reason)
            try:
                if task is Task.RETURN:
                    self.store.returns.fail(ident, reason)
                else:
                    self.store.studies.fail(ident, reason)
            except Exception as again:  # the database itself is the problem: retried later
                log.error("worker: could not record the failure (%s)", where(again))

    def tick(self) -> None:
        """One scheduler pass: stable studies to process, due sends, due returns."""
        now = time.time()
        self.retention.run_if_due(now)
        self.store.studies.mark_stable(now - self.config.stable_seconds)
        for study in self.store.studies.in_states([StudyState.STABLE]):
            self._submit(Task.STUDY, study.id, partial(self.studies.process, study))
        for study in self.store.studies.in_states([StudyState.CHECKED], due_before=now):
            self._submit(Task.STUDY, study.id, partial(self.studies.send, study))
        if self.returns is not None:
            for row in self.store.returns.due(now):
                self._submit(Task.RETURN, row.id, partial(self.returns.forward, row.id))
