"""One study through `veil.pipeline`, as a unit, on spool files.

The per-file work is `veil.pipeline.deidentify_file`, the same as `veil deid`'s, so the node
and the CLI produce byte-identical output for the same input and key; the node always audits.
Any failure, audit finding or unverifiable check stops the whole study: it is quarantined,
never sent in part.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread

from veil.check.model import RequirementProfile
from veil.check.run import check_items
from veil.io.inputs import InputItem
from veil.node.controls import FindingSource, StudyFinding
from veil.node.linkage import Linkage, collect
from veil.pipeline import (
    FileResult,
    Outcome,
    OutputPair,
    Settings,
    check_outputs,
    deidentify_file,
)

# The de-identification of one file; swappable for tests (a broken engine, a crash).
DeidFunction = Callable[[bytes, str, Settings], FileResult]


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
    findings: tuple[StudyFinding, ...] = ()  # the reason, structured (never a value)


def _header(data: bytes) -> Dataset:
    """The original header only: enough for the linkage store, cheaper than a full read."""
    return dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)


def check_study(
    pairs: Sequence[OutputPair], profiles: Sequence[RequirementProfile]
) -> tuple[str, tuple[StudyFinding, ...]] | None:
    """The destination check after de-identification; a reason to hold the study (and its
    findings: one per rule lost, one per output that could not be checked), else None.

    A rule of a destination profile that held on the input and not on the output is veil's
    error, and an output that could not be checked is not known to be good: either way the
    study is quarantined, not sent. What already failed on the input is the input's problem
    and does not stop the study.
    """
    verdict = check_outputs(profiles, pairs)
    if verdict.ok:
        return None
    rules = sorted({r.rule_id for r in verdict.regressions})
    findings = [StudyFinding(FindingSource.CHECK, rule=rule) for rule in rules]
    findings += [StudyFinding(FindingSource.OTHER, form=why) for why in verdict.unverifiable]
    return verdict.summary(), tuple(findings)


def used_instances(
    inputs: Sequence[InstanceInput], profiles: Sequence[RequirementProfile]
) -> list[InstanceInput]:
    """The instances of a study that some destination profile uses (`deidentify.send:
    used-series`): the same selection as `veil deid --only-used`. A file the check cannot
    read stays, so de-identification reports it as it always does."""
    items = [InputItem(i.name, i.name, str(i.path)) for i in inputs]
    unused = check_items(items, profiles).unused_files
    return [i for i in inputs if i.name not in unused]


def deidentify_study(
    inputs: Sequence[InstanceInput],
    settings: Settings,
    sink: Callable[[InstanceOutput], None],
    deid: DeidFunction = deidentify_file,
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
        result = deid(data, item.name, settings)
        if result.outcome is Outcome.QUARANTINED:
            # Where, never what: finding paths are tag paths like "(0010,0010)".
            paths = sorted({str(f.get("path", "")) for f in result.findings} - {""})
            where = f"; found at {', '.join(paths[:5])}" if paths else ""
            return StudyResult(
                problem=(result.problem or "the audit found an identifier") + where,
                findings=tuple(
                    StudyFinding(
                        FindingSource.AUDIT,
                        file=item.name,
                        path=str(f.get("path", "")),
                        kind=str(f.get("kind", "")),
                        form=str(f.get("form", "")),
                    )
                    for f in result.findings
                    if f.get("severity", "error") == "error"
                ),
            )
        if result.outcome is not Outcome.WRITTEN or result.dataset is None:
            what = "not DICOM" if result.outcome is Outcome.SKIPPED else "not de-identified"
            return StudyResult(
                problem=result.problem or f"{item.name}: {what}",
                findings=(StudyFinding(FindingSource.OTHER, file=item.name),),
            )
        output = result.dataset
        sop_uid = str(output.get("SOPInstanceUID", "") or "")
        study_uid = str(output.get("StudyInstanceUID", "") or "")
        if not sop_uid or not study_uid:
            return StudyResult(problem=f"{item.name}: no SOPInstanceUID or StudyInstanceUID")
        linkage.update(collect(_header(data), output, settings.mapper))
        sink(InstanceOutput(item.key, result.encoded, sop_uid, study_uid))
        outputs.append(InstanceOutput(item.key, b"", sop_uid, study_uid))
    if len({o.deid_study_uid for o in outputs}) > 1:
        return StudyResult(problem="instances of one study map to different studies")
    return StudyResult(tuple(outputs), linkage)
