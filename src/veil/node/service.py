"""The running node: receivers, the scheduler that moves studies through their states, and the
workers that de-identify, check, audit and send them; plus the return path.

Source of truth is the spool (fsynced before each answer) and the state store; everything the
scheduler does is a conditional state change, so a kill at any moment leaves a state from which
start-up recovery (`recover`) resumes: unregistered spool files are registered, studies caught
half-way are processed again, and sends resume with what the destination has not acknowledged.
"""

from __future__ import annotations

import io
import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from pydicom import dcmread

from veil.batch.job import Job
from veil.errors import VeilError
from veil.io.dicomfile import encode_dataset
from veil.keys import load_mapper
from veil.mapping import Mapper
from veil.node.config import NodeConfig, NodeConfigError, SendScope
from veil.node.linkage import UnknownPseudonymError, reidentify
from veil.node.pipeline import (
    DeidFunction,
    InstanceInput,
    InstanceOutput,
    check_study,
    deidentify_study,
    used_instances,
)
from veil.node.receiver import Received, Receiver, StoreStatus
from veil.node.senders import OutItem, Sender, make_sender
from veil.node.spool import Spool
from veil.node.store import Store, StudyRow
from veil.node.store.states import ReturnState, StudyState
from veil.policy import compile_plan, load_policy

log = logging.getLogger("veil.node")


def _profiles(config: NodeConfig) -> list[Any]:
    """The destination requirement profiles, loaded once (errors name the profile)."""
    if not config.profiles:
        return []
    try:
        from veil.check.profile import load_profile
    except ImportError:
        raise NodeConfigError(
            "deidentify.profiles: destination profiles need the check "
            "component, which this installation does not have"
        ) from None
    return [load_profile(p) for p in config.profiles]


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
        self.mapper = mapper or load_mapper(config.key, config.lookup)
        self.profiles = _profiles(config)
        plan = compile_plan(load_policy(config.policy), self.profiles)
        self.job = Job(plan, self.mapper, audit=True)  # the node never sends unaudited
        self.deid = deid
        self.spool = Spool(config.spool)
        self.store = Store.open(config.database)
        self.senders: list[Sender] = [make_sender(d) for d in config.destinations]
        self.home: Sender | None = (
            make_sender(config.return_path.home) if config.return_path else None
        )
        self.receivers = [
            Receiver(
                "node",
                config.ae_title,
                config.host,
                config.port,
                self._on_store,
                config.allowed_callers,
                config.tls,
                config.max_associations,
                config.network_timeout_seconds,
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
                    config.max_associations,
                    config.network_timeout_seconds,
                )
            )
        self.pool = ThreadPoolExecutor(config.workers, thread_name_prefix="veil-worker")
        self._inflight: dict[tuple[str, int], Future[None]] = {}
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
            len(self.senders),
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
        known: dict[str, set[str]] = {}
        registered = 0
        for study_key, path in self.spool.incoming_files():
            names = known.setdefault(study_key, self.store.known_spool_names(study_key))
            spool_name = f"{study_key}/{path.name}"
            if spool_name in names:
                continue
            try:
                ds = dcmread(path, stop_before_pixels=True, force=True)
                self.store.record_instance(
                    str(ds.StudyInstanceUID),
                    study_key,
                    self.mapper.patient_pseudonym(str(ds.get("PatientID", "") or "")),
                    str(ds.SOPInstanceUID),
                    str(ds.get("SOPClassUID", "") or ""),
                    spool_name,
                )
                registered += 1
            except Exception as exc:
                log.error(
                    "recovery: spool file %s/%s not registered (%s)",
                    study_key,
                    path.name,
                    type(exc).__name__,
                )
        # A study caught between de-identification and check is processed again from scratch.
        for study in self.store.studies_in([StudyState.DEIDENTIFIED]):
            self.store.transition(study.id, StudyState.STABLE, expect=[StudyState.DEIDENTIFIED])
        known_returns = self.store.known_return_names()
        for path in self.spool.return_files():
            if path.name not in known_returns:
                self.store.add_return(path.name, path.name)
                registered += 1
        if registered:
            log.info(
                "recovery: registered %d spooled file(s) received before a restart", registered
            )

    # ---- receiving -----------------------------------------------------------------------

    def _on_store(self, received: Received) -> StoreStatus:
        ds = received.dataset
        study_uid = str(ds.get("StudyInstanceUID", "") or "").strip()
        sop_uid = received.sop_uid or str(ds.get("SOPInstanceUID", "") or "").strip()
        if not study_uid or not sop_uid:
            log.warning("node: an instance without StudyInstanceUID or SOPInstanceUID refused")
            return StoreStatus.CANNOT_UNDERSTAND
        study_key = self.mapper.token("node-study", study_uid, 16)
        pseudonym = self.mapper.patient_pseudonym(str(ds.get("PatientID", "") or ""))
        path = self.spool.incoming_path(study_key, sop_uid)
        self.spool.store(path, received.data)
        # The spool name keeps its folder: should the key (and so the study key) ever change,
        # instances received before and after still point at their own files.
        new = self.store.record_instance(
            study_uid,
            study_key,
            pseudonym,
            sop_uid,
            received.sop_class_uid,
            f"{study_key}/{path.name}",
        )
        # A resend of an instance already delivered is not sent again (same UID, same
        # de-identified instance), so its new copy must not linger in the spool.
        if (
            not new
            and not self.config.keep_sent
            and self.store.instance_state(sop_uid) is StudyState.SENT
        ):
            path.unlink(missing_ok=True)
        return StoreStatus.SUCCESS

    def _on_return(self, received: Received) -> StoreStatus:
        path = self.spool.return_path(received.sop_uid or "unknown")
        self.spool.store(path, received.data)
        self.store.add_return(path.name, received.sop_uid or "")
        return StoreStatus.SUCCESS

    # ---- scheduling ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the scheduler must survive a database hiccup
                log.error("scheduler: one pass failed (%s); trying again", where(exc))
            self._stop.wait(self.config.poll_seconds)

    def _submit(self, kind: str, ident: int, fn: Callable[..., None], *args: object) -> None:
        with self._lock:
            done = [k for k, f in self._inflight.items() if f.done()]
            for k in done:
                del self._inflight[k]
            if (kind, ident) in self._inflight or self._stop.is_set():
                return
            self._inflight[(kind, ident)] = self.pool.submit(self._guard, kind, ident, fn, *args)

    def _guard(self, kind: str, ident: int, fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception as exc:  # one task's crash must not stop the worker
            # An unexpected error (disk full, a bug) would repeat on every scheduler pass:
            # park the study or result as failed with the reason; `veil node retry` resumes it.
            reason = f"internal error ({where(exc)})"
            log.error("worker: %s %s failed unexpectedly: %s", kind, ident, reason)
            try:
                if kind == "study":
                    self.store.transition(
                        ident,
                        StudyState.FAILED,
                        expect=[StudyState.STABLE, StudyState.DEIDENTIFIED, StudyState.CHECKED],
                        reason=reason,
                    )
                else:
                    self.store.update_return(ident, state=ReturnState.FAILED, reason=reason)
            except Exception as again:  # the database itself is the problem: retried later
                log.error("worker: could not record the failure (%s)", where(again))

    def tick(self) -> None:
        """One scheduler pass: stable studies to process, due sends, due returns."""
        now = time.time()
        self.store.mark_stable(now - self.config.stable_seconds)
        for study in self.store.studies_in([StudyState.STABLE]):
            self._submit("study", study.id, self.process_study, study)
        for study in self.store.studies_in([StudyState.CHECKED], due_before=now):
            self._submit("study", study.id, self.send_study, study)
        if self.home is not None:
            for row in self.store.due_returns(now):
                self._submit("return", row.id, self.forward_return, row.id, row.attempts)

    def busy(self) -> bool:
        with self._lock:
            return any(not f.done() for f in self._inflight.values())

    # ---- one study -----------------------------------------------------------------------

    def _quarantine(self, study: StudyRow, reason: str) -> None:
        if self.store.transition(
            study.id,
            StudyState.QUARANTINED,
            expect=[StudyState.STABLE, StudyState.DEIDENTIFIED],
            reason=reason,
        ):
            # Instances follow their study (the study is the unit that is or is not sent).
            pending = [i.id for i in self.store.study_instances(study.id)]
            self.store.set_instances_state(pending, StudyState.QUARANTINED)
            log.warning(
                "study %s (patient %s) quarantined: %s",
                study.study_key,
                study.patient_pseudonym,
                reason,
            )

    def process_study(self, study: StudyRow) -> None:
        instances = self.store.study_instances(study.id)
        if not instances:
            self.store.transition(study.id, StudyState.SENT, expect=[StudyState.STABLE])
            return
        inputs = [
            InstanceInput(i.id, i.spool_name, self.spool.incoming / i.spool_name) for i in instances
        ]
        if self.config.send is SendScope.USED_SERIES:
            used = used_instances(inputs, self.profiles)
            if not used:
                self._quarantine(study, "check: no series the destination uses")
                return
            if len(used) < len(inputs):
                log.info(
                    "study %s: %d of %d instance(s) not used by the destination, not sent",
                    study.study_key,
                    len(inputs) - len(used),
                    len(inputs),
                )
            inputs = used
        kwargs = {"deid": self.deid} if self.deid is not None else {}
        out_dir = self.spool.out / study.study_key

        def sink(output: InstanceOutput) -> None:
            self.spool.store(out_dir / f"{output.deid_sop_uid}.dcm", output.encoded)

        result = deidentify_study(inputs, self.job, self.mapper, sink, **kwargs)
        if result.problem is not None:
            # Nothing of a quarantined study may leave: drop the outputs written so far.
            shutil.rmtree(out_dir, ignore_errors=True)
            self._quarantine(study, result.problem)
            return
        self.store.set_instances(
            [
                (o.key, {"deid_sop_uid": o.deid_sop_uid, "state": StudyState.DEIDENTIFIED.value})
                for o in result.outputs
            ]
        )
        deid_study = result.outputs[0].deid_study_uid
        if not self.store.transition(
            study.id, StudyState.DEIDENTIFIED, expect=[StudyState.STABLE], deid_study_uid=deid_study
        ):
            return  # a new instance arrived meanwhile: the study is processed again once stable
        incoming = {i.key: i.path for i in inputs}
        pairs = [
            (partial(incoming[o.key].read_bytes), out_dir / f"{o.deid_sop_uid}.dcm")
            for o in result.outputs
        ]
        problem = check_study(pairs, self.profiles)
        if problem is not None:
            shutil.rmtree(out_dir, ignore_errors=True)
            self._quarantine(study, f"check: {problem}")
            return
        # Linked only now: the return path re-identifies only what the node will send.
        assert result.linkage is not None
        self.store.add_linkage(
            list(result.linkage.patients.values()),
            list(result.linkage.studies.values()),
            list(result.linkage.uids.values()),
        )
        self.store.set_instances_state([o.key for o in result.outputs], StudyState.CHECKED)
        if not self.store.transition(
            study.id, StudyState.CHECKED, expect=[StudyState.DEIDENTIFIED]
        ):
            return
        log.info(
            "study %s (patient %s): %d instance(s) de-identified and checked",
            study.study_key,
            study.patient_pseudonym,
            len(result.outputs),
        )
        fresh = self.store.find_study(study.study_key)
        if fresh is not None and fresh.state is StudyState.CHECKED:
            self.send_study(fresh)

    def send_study(self, study: StudyRow) -> None:
        instances = [
            i
            for i in self.store.study_instances(study.id)
            if i.state is StudyState.CHECKED and i.deid_sop_uid
        ]
        out_dir = self.spool.out / study.study_key
        items = [
            OutItem(
                i.id,
                out_dir / f"{i.deid_sop_uid}.dcm",
                study.deid_study_uid or "",
                i.deid_sop_uid or "",
            )
            for i in instances
        ]
        problems = []
        for sender in self.senders:
            already = self.store.delivered(study.id, sender.name)
            todo = [item for item in items if item.key not in already]
            if not todo:
                continue
            result = sender.send(todo)
            self.store.record_deliveries(list(result.delivered), sender.name)
            if result.problem is not None:
                problems.append(result.problem)
        if problems:
            attempts = study.attempts + 1
            reason = "; ".join(problems)
            if attempts >= self.config.retry.max_attempts:
                self.store.transition(
                    study.id,
                    StudyState.FAILED,
                    expect=[StudyState.CHECKED],
                    attempts=attempts,
                    reason=reason,
                )
                log.error(
                    "study %s: sending failed %d time(s), marked failed: %s",
                    study.study_key,
                    attempts,
                    reason,
                )
            else:
                delay = self.config.retry.delay(attempts)
                self.store.transition(
                    study.id,
                    StudyState.CHECKED,
                    expect=[StudyState.CHECKED],
                    attempts=attempts,
                    reason=reason,
                    next_attempt_at=time.time() + delay,
                )
                log.warning(
                    "study %s: sending failed (attempt %d), retrying in %.0f s: %s",
                    study.study_key,
                    attempts,
                    delay,
                    reason,
                )
            return
        self.store.set_instances_state([i.id for i in instances], StudyState.SENT)
        # Delivered everywhere: their spool files can go even if the study itself moved on
        # (a new instance arrived meanwhile; only the new ones are processed then).
        for instance, item in zip(instances, items, strict=True):
            item.path.unlink(missing_ok=True)
            if not self.config.keep_sent:
                (self.spool.incoming / instance.spool_name).unlink(missing_ok=True)
        if not self.store.transition(
            study.id, StudyState.SENT, expect=[StudyState.CHECKED], reason=None
        ):
            return
        log.info(
            "study %s (patient %s): %d instance(s) sent",
            study.study_key,
            study.patient_pseudonym,
            len(items),
        )

    # ---- return path ---------------------------------------------------------------------

    def forward_return(self, return_id: int, attempts: int) -> None:
        assert self.home is not None
        rows = {r.id: r for r in self.store.due_returns(time.time())}
        row = rows.get(return_id)
        if row is None:
            return
        path = self.spool.returned / row.spool_name
        try:
            ds = dcmread(io.BytesIO(path.read_bytes()), force=True)
            reidentify(ds, self.store)
            encoded = encode_dataset(ds)
        except UnknownPseudonymError as exc:
            self.store.update_return(return_id, state=ReturnState.QUARANTINED, reason=str(exc))
            log.warning("return %s quarantined: %s", row.spool_name, exc)
            return
        except (OSError, VeilError, ValueError, AttributeError) as exc:
            reason = f"cannot read or re-identify the result ({type(exc).__name__})"
            self.store.update_return(return_id, state=ReturnState.QUARANTINED, reason=reason)
            log.warning("return %s quarantined: %s", row.spool_name, reason)
            return
        home_dir = self.spool.returned / "home"
        out = home_dir / row.spool_name
        self.spool.store(out, encoded)
        item = OutItem(return_id, out, str(ds.StudyInstanceUID), str(ds.SOPInstanceUID))
        result = self.home.send([item])
        if result.problem is None:
            self.store.update_return(return_id, state=ReturnState.FORWARDED, reason=None)
            out.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            log.info("return %s re-identified and forwarded home", row.spool_name)
            return
        attempts += 1
        if attempts >= self.config.retry.max_attempts:
            self.store.update_return(
                return_id, state=ReturnState.FAILED, attempts=attempts, reason=result.problem
            )
        else:
            self.store.update_return(
                return_id,
                attempts=attempts,
                reason=result.problem,
                next_attempt_at=time.time() + self.config.retry.delay(attempts),
            )
        out.unlink(missing_ok=True)
