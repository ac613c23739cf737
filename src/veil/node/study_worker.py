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
from veil.node import controls, eligibility, identity
from veil.node.config import RetryConfig
from veil.node.controls import FindingSource, StudyFinding
from veil.node.linkage import Linkage
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
)
from veil.pipeline import Settings

log = logging.getLogger("veil.node")


@dataclass(frozen=True)
class SendPolicy:
    """How the worker delivers: where, how often it tries, what it keeps afterwards."""

    senders: Sequence[Sender]
    retry: RetryConfig
    keep_sent: bool  # keep received spool files after delivery (for debugging)
    send_ineligible: bool = False  # send studies that fail a destination profile as received


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
        self, study: StudyRow, reason: str, findings: Sequence[StudyFinding] = ()
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

    def process(self, study: StudyRow) -> None:
        """STABLE -> DEIDENTIFIED -> CHECKED (then send), or -> QUARANTINED or NOT_ELIGIBLE
        with the reason."""
        instances = self.store.studies.instances(study.id)
        if not instances:
            self.store.studies.nothing_to_send(study.id)
            return
        inputs = [
            InstanceInput(i.id, i.spool_name, self.spool.incoming_file(i.spool_name))
            for i in instances
        ]
        if self._held_as_received(study, inputs):
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
        new_versions = sum(i.version > 1 for i in instances)
        if not self._link(study, result.linkage, new_versions > 0):
            return
        if not self.store.studies.checked(study.id, [o.key for o in result.outputs]):
            return
        log.info(
            "study %s (patient %s): %d instance(s) de-identified and checked%s",
            study.study_key,
            study.patient_pseudonym,
            len(result.outputs),
            f", {new_versions} of them new version(s) of instance(s) received before"
            if new_versions
            else "",
        )
        fresh = self.store.studies.get(study.id)
        if fresh is not None and fresh.state is StudyState.CHECKED:
            self.send(fresh)

    def _held_as_received(self, study: StudyRow, inputs: Sequence[InstanceInput]) -> bool:
        """Quarantine or hold the study before any work when what was received says so: a
        SOP Instance UID shared with another study, two patients in one study, or a study
        the destination could not process. True when the study was held."""
        duplicated = self.store.studies.duplicated_instances(study.id)
        if duplicated:
            # Sent as it is, two different images would leave under one de-identified UID.
            self._quarantine(
                study,
                f"{duplicated} instance(s) have a SOP Instance UID that another study received "
                "also has (duplicate UIDs at the source); fix the source, then `veil node "
                "forget` the wrong study or `veil node retry` this one",
            )
            return True
        two_patients = identity.mixed(self.store.studies.identities(study.id))
        if two_patients is not None:
            self._quarantine(
                study, two_patients.reason, (StudyFinding(FindingSource.OTHER, form="mixed"),)
            )
            return True
        if self.sending.send_ineligible or study.send_anyway or not self.profiles:
            return False
        if self.store.studies.sent_instances(study.id):
            # Judged eligible and (partly) sent before: the late instances complete what the
            # destination has; judging them alone (a few slices) would hold them wrongly.
            return False
        verdict = eligibility.judge([(i.name, i.path) for i in inputs], self.profiles)
        if verdict.eligible:
            return False
        shutil.rmtree(self._out_dir(study), ignore_errors=True)
        if self.store.studies.not_eligible(study.id, verdict.reason):
            controls.record_findings(self.store, study.id, verdict.findings)
            log.warning(
                "study %s (patient %s) held, not sent: %s (deidentify.send_ineligible: true, "
                "or `veil node retry --send-anyway`, sends such studies)",
                study.study_key,
                study.patient_pseudonym,
                verdict.reason,
            )
        return True

    def _link(self, study: StudyRow, link: Linkage, new_versions: bool) -> bool:
        """Who the study is about, by the rules of `veil.node.identity`; linked only now (the
        return path re-identifies only what the node will send). False: quarantined."""
        verdict = identity.judge(link, self.store.linkage, new_versions)
        if verdict.held:
            self._quarantine(
                study,
                verdict.reason,
                (StudyFinding(FindingSource.OTHER, form=verdict.verdict.value),),
            )
            return False
        if verdict.verdict is identity.Verdict.CORRECTED:
            log.info(
                "study %s: the source corrected the name or birth date of patient %s (new "
                "versions of instances sent before); the linkage takes the corrected identity",
                study.study_key,
                ", ".join(verdict.patients),
            )
        self.store.linkage.add(
            list(link.patients.values()),
            [replace(s, study_key=study.study_key) for s in link.studies.values()],
            list(link.uids.values()),
        )
        return True

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
        versions = {i.id: i.version for i in instances}  # what is sent: a newer one is not
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
            self.store.studies.record_deliveries(list(result.delivered), sender.name, versions)
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
