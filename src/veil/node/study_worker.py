"""One study through the node: de-identify, check and audit its spool files as a unit, then send.

Called by the scheduler (`veil.node.service.Node`) from its worker threads, one task per study
at a time. Each outcome is one named step of the study machine (`veil.node.store.states`);
when a step loses its race (a new instance reopened the study), the worker stops and the study
is processed again, whole, once it is stable.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from veil.check.model import RequirementProfile
from veil.node import controls
from veil.node.config import RetryConfig, SendScope
from veil.node.linkage import identity_conflicts
from veil.node.senders import OutItem, Sender
from veil.node.spool import Spool
from veil.node.store import Deidentified, InstanceState, Store, StudyRow, StudyState
from veil.node.study_deid import (
    DeidFunction,
    InstanceInput,
    InstanceOutput,
    StudyResult,
    check_study,
    deidentify_study,
    used_instances,
)
from veil.pipeline import Settings

log = logging.getLogger("veil.node")


@dataclass(frozen=True)
class SendPolicy:
    """How the worker delivers: where, how often it tries, what it keeps afterwards."""

    senders: Sequence[Sender]
    retry: RetryConfig
    keep_sent: bool  # keep received spool files after delivery (for debugging)
    scope: SendScope = SendScope.ALL  # every instance, or only the series the profiles use


class StudyWorker:
    def __init__(
        self,
        store: Store,
        spool: Spool,
        settings: Settings,
        profiles: Sequence[RequirementProfile],
        sending: SendPolicy,
        deid: DeidFunction | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.settings = settings
        self.profiles = profiles
        self.sending = sending
        self.deid = deid

    def _out_dir(self, study: StudyRow) -> Path:
        return self.spool.out_dir(study.study_key)

    def _out_path(self, study: StudyRow, deid_sop_uid: str) -> Path:
        # A keyed digest: under retain-uids the de-identified UID is the received one.
        return self.spool.out_path(study.study_key, deid_sop_uid)

    def _quarantine(
        self, study: StudyRow, reason: str, findings: Sequence[controls.StudyFinding] = ()
    ) -> None:
        # Nothing of a quarantined study may leave: drop the outputs written so far.
        shutil.rmtree(self._out_dir(study), ignore_errors=True)
        if self.store.studies.quarantine(study.id, reason):
            # The console's quarantine page shows these (paths, kinds, rules; never values).
            controls.record_findings(self.store, study.id, findings)
            log.warning(
                "study %s (patient %s) quarantined: %s",
                study.study_key,
                study.patient_pseudonym,
                reason,
            )

    def _deidentify(self, study: StudyRow, inputs: Sequence[InstanceInput]) -> StudyResult:
        def sink(output: InstanceOutput) -> None:
            self.spool.store(self._out_path(study, output.deid_sop_uid), output.encoded)

        if self.deid is None:
            return deidentify_study(inputs, self.settings, sink)
        return deidentify_study(inputs, self.settings, sink, self.deid)

    def _used(self, study: StudyRow, inputs: list[InstanceInput]) -> list[InstanceInput]:
        """`deidentify.send: used-series`: only the instances a destination profile uses.
        The others stay received (never de-identified, never sent) with their spool files, so
        a study reopened by a new instance is selected again, whole."""
        if self.sending.scope is SendScope.ALL:
            return inputs
        used = used_instances(inputs, self.profiles)
        if used and len(used) < len(inputs):
            log.info(
                "study %s: %d of %d instance(s) not used by the destination, not sent",
                study.study_key,
                len(inputs) - len(used),
                len(inputs),
            )
        return used

    def process(self, study: StudyRow) -> None:
        """STABLE -> DEIDENTIFIED -> CHECKED (then send), or -> QUARANTINED with the reason."""
        instances = self.store.studies.instances(study.id)
        if not instances:
            self.store.studies.nothing_to_send(study.id)
            return
        duplicated = self.store.studies.duplicated_instances(study.id)
        if duplicated:
            # Sent as it is, two different images would leave under one de-identified UID.
            self._quarantine(
                study,
                f"{duplicated} instance(s) have a SOP Instance UID that another study received "
                "also has (duplicate UIDs at the source); fix the source, then `veil node "
                "forget` the wrong study or `veil node retry` this one",
            )
            return
        inputs = [
            InstanceInput(i.id, i.spool_name, self.spool.incoming_file(i.spool_name))
            for i in instances
        ]
        inputs = self._used(study, inputs)
        if not inputs:
            self._quarantine(study, "check: no series the destination uses")
            return
        result = self._deidentify(study, inputs)
        if result.problem is not None or result.linkage is None:
            self._quarantine(study, result.problem or "no linkage gathered", result.findings)
            return
        outputs = [Deidentified(o.key, o.deid_sop_uid) for o in result.outputs]
        deid_study = result.outputs[0].deid_study_uid
        if not self.store.studies.deidentified(study.id, deid_study, outputs):
            return  # a new instance arrived meanwhile: the study is processed again once stable
        incoming = {i.key: i.path for i in inputs}
        pairs = [
            (partial(incoming[o.key].read_bytes), self._out_path(study, o.deid_sop_uid))
            for o in result.outputs
        ]
        checked = check_study(pairs, self.profiles)
        if checked is not None:
            self._quarantine(study, f"check: {checked[0]}", checked[1])
            return
        # Linked only now: the return path re-identifies only what the node will send.
        link = result.linkage
        conflicts = identity_conflicts(link, self.store.linkage)
        if conflicts:
            self._quarantine(
                study,
                f"identity conflict: the linkage holds another name or birth date for patient "
                f"{', '.join(conflicts)} (never overwritten); check the source's PatientID and "
                "Issuer of Patient ID",
            )
            return
        self.store.linkage.add(
            list(link.patients.values()),
            [replace(s, study_key=study.study_key) for s in link.studies.values()],
            list(link.uids.values()),
        )
        if not self.store.studies.checked(study.id, [o.key for o in result.outputs]):
            return
        log.info(
            "study %s (patient %s): %d instance(s) de-identified and checked",
            study.study_key,
            study.patient_pseudonym,
            len(result.outputs),
        )
        fresh = self.store.studies.get(study.id)
        if fresh is not None and fresh.state is StudyState.CHECKED:
            self.send(fresh)

    def send(self, study: StudyRow) -> None:
        """CHECKED -> SENT once every destination acknowledged every instance; else retry
        later (CHECKED -> CHECKED) or give up (CHECKED -> FAILED)."""
        instances = [
            i
            for i in self.store.studies.instances(study.id, [InstanceState.CHECKED])
            if i.deid_sop_uid
        ]
        items = [
            OutItem(
                i.id,
                self._out_path(study, i.deid_sop_uid or ""),
                study.deid_study_uid or "",
                i.deid_sop_uid or "",
            )
            for i in instances
        ]
        problems = []
        paused = controls.paused_destinations(self.store)
        waiting = []
        for sender in self.sending.senders:
            already = self.store.studies.delivered(study.id, sender.name)
            todo = [item for item in items if item.key not in already]
            if not todo:
                continue
            if sender.name in paused:  # paused from the console: wait, count no attempt
                waiting.append(sender.name)
                continue
            result = sender.send(todo)
            self.store.studies.record_deliveries(list(result.delivered), sender.name)
            if result.problem is not None:
                problems.append(result.problem)
        if problems:
            self._send_failed(study, "; ".join(problems))
            return
        if waiting:  # CHECKED -> CHECKED, same attempt count; resuming makes it due at once
            self.store.studies.send_failed(
                study.id,
                study.attempts,
                f"waiting: destination(s) paused: {', '.join(waiting)}",
                retry_at=time.time() + controls.PAUSED_RECHECK_SECONDS,
            )
            return
        # Delivered everywhere: their spool files can go even if the study itself moved on
        # (a new instance arrived meanwhile; only the new ones are processed then).
        moved = self.store.studies.sent(study.id, [i.id for i in instances])
        for instance, item in zip(instances, items, strict=True):
            item.path.unlink(missing_ok=True)
            if not self.sending.keep_sent:
                self.spool.incoming_file(instance.spool_name).unlink(missing_ok=True)
        if moved:
            log.info(
                "study %s (patient %s): %d instance(s) sent",
                study.study_key,
                study.patient_pseudonym,
                len(items),
            )

    def _send_failed(self, study: StudyRow, reason: str) -> None:
        attempts = study.attempts + 1
        retry = self.sending.retry
        if attempts >= retry.max_attempts:
            self.store.studies.send_failed(study.id, attempts, reason, retry_at=None)
            log.error(
                "study %s: sending failed %d time(s), marked failed: %s",
                study.study_key,
                attempts,
                reason,
            )
            return
        delay = retry.delay(attempts)
        self.store.studies.send_failed(study.id, attempts, reason, retry_at=time.time() + delay)
        log.warning(
            "study %s: sending failed (attempt %d), retrying in %.0f s: %s",
            study.study_key,
            attempts,
            delay,
            reason,
        )
