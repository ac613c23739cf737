"""One input file through the pipeline: read, de-identify, encode, audit, write.

Runs inside worker processes; everything it needs comes in the pickled Job. It never raises for
a bad input: every problem becomes a FileRecord naming the file and the problem, so the rest of
the batch goes on (DESIGN: nothing is lost, inputs are never modified).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from veil.batch.job import Job
from veil.batch.layout import output_name
from veil.batch.outcome import FileRecord, Outcome
from veil.engine import deidentify
from veil.errors import VeilError
from veil.io.dicomfile import SkippedFile, encode_dataset, read_bytes
from veil.io.inputs import InputItem


@dataclass(frozen=True)
class WorkerResult:
    """The de-identified file in memory, before it is placed anywhere."""

    outcome: Outcome
    encoded: bytes = b""
    dataset: Dataset | None = None
    patient_pseudonym: str = ""
    problem: str | None = None
    findings: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def study(self) -> str | None:
        return str(self.dataset.get("StudyInstanceUID", "")) or None if self.dataset else None

    @property
    def series(self) -> str | None:
        return str(self.dataset.get("SeriesInstanceUID", "")) or None if self.dataset else None


def _prepare(original: Dataset, job: Job) -> Any:
    from veil.audit import prepare  # imported late: the audit is optional per job

    # The input's identifying values are collected before the in-place de-identification;
    # a failure here makes audit_prepared report the audit incomplete (quarantine).
    return prepare(original, job.plan.declared_options)


def _audit(prepared: Any, output: Dataset, encoded: bytes, name: str) -> list[Any]:
    from veil.audit import audit_prepared

    return list(audit_prepared(prepared, output, encoded, name))


def deid_one(data: bytes, name: str, job: Job) -> WorkerResult:
    """De-identify one file's bytes; ``name`` is only used to name the file in messages."""
    try:
        original = read_bytes(data, name)
    except SkippedFile as skipped:
        return WorkerResult(Outcome.SKIPPED, problem=skipped.reason)
    except VeilError as exc:
        return WorkerResult(Outcome.FAILED, problem=str(exc))
    try:
        # Only datasets without a SOP Instance UID need a stand-in (a digest of the file);
        # hashing every file would cost ~0.5 ms per MB for nothing.
        stand_in = (
            None
            if original.get("SOPInstanceUID", None)
            else "sha256:" + hashlib.sha256(data).hexdigest()
        )
        # In place: the dataset was parsed for this call only, and the audit collects what it
        # needs from it first; a deep copy cost a third of the time per file.
        patient_id = str(original.get("PatientID", "") or "")
        prepared = _prepare(original, job) if job.audit else None
        result = deidentify(
            original, job.plan, job.mapper, in_place=True, fallback_instance_uid=stand_in
        )
        encoded = encode_dataset(result)
    except VeilError as exc:
        return WorkerResult(Outcome.FAILED, problem=f"{name}: {exc}")
    except Exception as exc:  # any encoder failure must stay this file's failure
        return WorkerResult(
            Outcome.FAILED,
            problem=f"{name}: cannot encode the de-identified dataset ({type(exc).__name__}); "
            "nothing was written for it",
        )
    pseudonym = job.mapper.patient_pseudonym(patient_id)
    if job.audit:
        findings = _audit(prepared, result, encoded, name)
        errors = tuple(f.to_dict() for f in findings if f.severity == "error")
        if errors:
            return WorkerResult(
                Outcome.QUARANTINED,
                dataset=result,
                patient_pseudonym=pseudonym,
                problem=f"{name}: the audit found {len(errors)} identifier(s) in the output; "
                "the file was not written",
                findings=errors,
            )
    return WorkerResult(Outcome.WRITTEN, encoded, result, pseudonym)


def _place(out: Path, relative: str, encoded: bytes, overwrite: bool) -> str:
    """Write atomically (temp file + rename): a reader never sees half a file."""
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        if target.read_bytes() == encoded:
            return relative  # the same input written before: idempotent
        raise FileExistsError(relative)
    handle, temp = tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encoded)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return relative


def process_item(
    item: InputItem,
    job: Job,
    observe: Callable[[bytes, WorkerResult], None] | None = None,
) -> FileRecord:
    """Read one input, de-identify it and place it under ``job.out`` (or ``job.sink``).

    ``observe`` sees the input bytes and the result of every file that was written (the
    cluster runner checks --for requirements on them in memory).
    """
    try:
        data = item.read()
    except PermissionError:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: unreadable: permission denied",
            retry=True,
        )
    except OSError as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: unreadable ({exc.strerror or type(exc).__name__})",
            retry=True,
        )
    result = deid_one(data, item.display, job)
    if result.outcome is not Outcome.WRITTEN:
        return FileRecord(
            item.display,
            result.outcome,
            len(data),
            problem=result.problem,
            study=result.study,
            series=result.series,
            findings=result.findings,
        )
    assert result.dataset is not None
    relative = output_name(job.layout, item.relative, result.dataset, result.patient_pseudonym)
    try:
        if job.sink is not None:
            job.sink.place(relative, result.encoded, job.overwrite)
        else:
            assert job.out is not None
            _place(job.out, relative, result.encoded, job.overwrite)
    except FileExistsError:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            len(data),
            problem=f"{item.display}: the output {relative} already exists with "
            "different content (another input, or an earlier run with another key "
            "or policy); use an empty --out folder or --overwrite",
            study=result.study,
            series=result.series,
        )
    except OSError as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            len(data),
            problem=f"{item.display}: cannot write {relative} "
            f"({exc.strerror or type(exc).__name__})",
            retry=True,
        )
    if observe is not None:
        observe(data, result)
    return FileRecord(
        item.display,
        Outcome.WRITTEN,
        len(data),
        output=relative,
        study=result.study,
        series=result.series,
    )
