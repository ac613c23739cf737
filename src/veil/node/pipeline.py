"""One study through de-identification, check and audit, as a unit, on spool files.

The per-file work is the batch worker's (`veil.batch.worker.deid_one`), so the node and
`veil deid` produce byte-identical output for the same input and key. The check and audit
steps are `check_study` (destination profiles, `veil.check.regression`) and the job's
``audit`` flag (`veil.audit.audit_output`, run by the worker on every output).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import Dataset, dcmread

from veil.batch.job import Job
from veil.batch.outcome import Outcome
from veil.batch.worker import WorkerResult, deid_one
from veil.mapping import Mapper
from veil.node.linkage import Linkage, collect

# The de-identification of one file; swappable for tests and future engines.
DeidFunction = Callable[[bytes, str, Job], WorkerResult]


@dataclass(frozen=True)
class InstanceInput:
    key: int  # instance row id
    name: str  # spool name, used in messages (a hash, not a UID)
    path: Path


@dataclass(frozen=True)
class InstanceOutput:
    key: int
    encoded: bytes
    deid_sop_uid: str
    deid_study_uid: str


@dataclass(frozen=True)
class StudyResult:
    outputs: tuple[InstanceOutput, ...] = ()
    linkage: Linkage | None = None
    problem: str | None = None  # set: the study is quarantined with this reason
    audit_findings: int = 0


def _header(data: bytes) -> Dataset:
    """The original header only: enough for the linkage store, cheaper than a full read."""
    return dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)


def check_study(
    pairs: Sequence[tuple[Callable[[], bytes], Path]], profiles: Sequence[Any]
) -> str | None:
    """The destination check after de-identification; a reason when it fails, else None.

    ``pairs`` are (read the received bytes, de-identified file) per instance. A rule of a
    destination profile that held on the input and not on the output is veil's error
    (`veil.check.regression.find_regressions`): the study is quarantined, not sent. What
    already failed on the input is the input's problem and does not stop the study.
    """
    if not profiles:
        return None
    from veil.check.regression import find_regressions  # only with profiles configured

    regressions = find_regressions(profiles, pairs)
    if not regressions:
        return None
    rules = sorted({r.rule_id for r in regressions})
    return (
        f"{len(regressions)} requirement(s) of the destination lost by de-identification "
        f"({', '.join(rules[:5])})"
    )


def used_instances(inputs: Sequence[InstanceInput], profiles: Sequence[Any]) -> list[InstanceInput]:
    """The instances of a study that some destination profile uses (`deidentify.send:
    used-series`): the same selection as `veil deid --only-used`. A file the check cannot
    read stays, so de-identification reports it as it always does."""
    from veil.check.run import check_items  # only with profiles configured
    from veil.io.inputs import InputItem

    items = [InputItem(i.name, i.name, str(i.path)) for i in inputs]
    unused = check_items(items, profiles).unused_files
    return [i for i in inputs if i.name not in unused]


def deidentify_study(
    inputs: Sequence[InstanceInput],
    job: Job,
    mapper: Mapper,
    sink: Callable[[InstanceOutput], None],
    deid: DeidFunction = deid_one,
) -> StudyResult:
    """De-identify every instance of a study; any failure or audit finding stops the study.

    Each output goes to ``sink`` at once (the spool), so a large study is never held in memory;
    the returned outputs carry UIDs only.
    """
    outputs: list[InstanceOutput] = []
    linkage = Linkage()
    for item in inputs:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            return StudyResult(
                problem=f"spool file {item.name} unreadable ({exc.strerror or type(exc).__name__})"
            )
        result = deid(data, item.name, job)
        if result.outcome is Outcome.QUARANTINED:
            # Where, never what: finding paths are tag paths like "(0010,0010)".
            paths = sorted({str(f.get("path", "")) for f in result.findings} - {""})
            where = f"; found at {', '.join(paths[:5])}" if paths else ""
            return StudyResult(
                problem=(result.problem or "the audit found an identifier") + where,
                audit_findings=len(result.findings),
            )
        if result.outcome is not Outcome.WRITTEN or result.dataset is None:
            what = "not DICOM" if result.outcome is Outcome.SKIPPED else "not de-identified"
            return StudyResult(problem=result.problem or f"{item.name}: {what}")
        output = result.dataset
        sop_uid = str(output.get("SOPInstanceUID", "") or "")
        study_uid = str(output.get("StudyInstanceUID", "") or "")
        if not sop_uid or not study_uid:
            return StudyResult(problem=f"{item.name}: no SOPInstanceUID or StudyInstanceUID")
        linkage.update(collect(_header(data), output, mapper))
        sink(InstanceOutput(item.key, result.encoded, sop_uid, study_uid))
        outputs.append(InstanceOutput(item.key, b"", sop_uid, study_uid))
    if len({o.deid_study_uid for o in outputs}) > 1:
        return StudyResult(problem="instances of one study map to different studies")
    return StudyResult(tuple(outputs), linkage)
