"""One input file through the pipeline: read, de-identify, encode, audit, write.

Runs inside worker processes; everything it needs comes in the pickled Job. It never raises for
a bad input: every problem becomes a FileRecord naming the file and the problem, so the rest of
the batch goes on (DESIGN: nothing is lost, inputs are never modified).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from veil.batch.job import Engine, Job
from veil.batch.layout import output_name
from veil.batch.outcome import FileRecord, Outcome
from veil.check.evaluate import FileFacts, facts_after, file_facts
from veil.engine import deidentify
from veil.engine.fast import Fallback, FastOutput, deidentify_bytes
from veil.engine.fast.header import changed_tags, header_dataset
from veil.engine.fast.parse import parse_file
from veil.errors import VeilError
from veil.io.dicomfile import SkippedFile, encode_dataset, read_bytes
from veil.io.inputs import InputItem


@dataclass(frozen=True)
class WorkerResult:
    """The de-identified file in memory, before it is placed anywhere."""

    outcome: Outcome
    encoded: bytes = b""
    output: Dataset | None = None  # the reference path's output dataset
    patient_pseudonym: str = ""
    problem: str | None = None
    findings: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # (study, series, instance) UIDs of the output, from the fast path (which builds no
    # dataset); the reference path's come from ``output``.
    uids: tuple[str, str, str] | None = None
    engine: str = ""  # "fast", or "full: <why the fast path handed over>"
    check: tuple[FileFacts, FileFacts] | None = None  # requirement facts before and after

    @property
    def dataset(self) -> Dataset | None:
        """The output's dataset (header only when it came from the fast path)."""
        if self.output is not None:
            return self.output
        if self.encoded and self.outcome is Outcome.WRITTEN:
            return dcmread(io.BytesIO(self.encoded), stop_before_pixels=True, force=True)
        return None

    @property
    def study(self) -> str | None:
        if self.uids is not None:
            return self.uids[0] or None
        return str(self.output.get("StudyInstanceUID", "")) or None if self.output else None

    @property
    def series(self) -> str | None:
        if self.uids is not None:
            return self.uids[1] or None
        return str(self.output.get("SeriesInstanceUID", "")) or None if self.output else None


def _prepare(original: Dataset, job: Job) -> Any:
    from veil.audit import prepare  # imported late: the audit is optional per job

    # The input's identifying values are collected before the in-place de-identification;
    # a failure here makes audit_prepared report the audit incomplete (quarantine).
    return prepare(original, job.plan.declared_options)


def _audit(prepared: Any, output: Dataset, encoded: bytes, name: str) -> list[Any]:
    from veil.audit import audit_prepared

    return list(audit_prepared(prepared, output, encoded, name))


def _facts(job: Job, ds: Dataset) -> FileFacts | None:
    """The destination checks' facts of one dataset; None when a value no check foresaw
    breaks them (then this file cannot show a regression, as before)."""
    try:
        return file_facts(job.profiles, job.quality_checks, ds)
    except Exception:
        return None


def _fast_check(job: Job, fast: FastOutput) -> tuple[FileFacts, FileFacts] | None:
    """Requirement facts before and after for a fast-path file: "after" is "before" with
    what reads the changed top-level elements evaluated again."""
    source = header_dataset(fast.parsed)
    before = _facts(job, source)
    if before is None:
        return None
    output = header_dataset(parse_file(fast.encoded))
    changed = changed_tags(source, output)
    try:
        after = facts_after(job.profiles, job.quality_checks, before, output, changed)
    except Exception:
        return None
    return before, after


def _pair(before: FileFacts | None, after: FileFacts | None) -> tuple[FileFacts, FileFacts] | None:
    return None if before is None or after is None else (before, after)


def deid_one(data: bytes, name: str, job: Job) -> WorkerResult:
    """De-identify one file's bytes; ``name`` is only used to name the file in messages.

    The fast path (veil.engine.fast) is tried first; what it hands over goes through the
    reference path, whose output the fast path's equals (tests hold them to it)."""
    if job.engine is not Engine.AUTO:
        return replace(reference_one(data, name, job), engine="full: reference path chosen")
    fast = deidentify_bytes(data, job.plan, job.mapper, audit=job.audit)
    if isinstance(fast, Fallback):
        return replace(reference_one(data, name, job), engine=f"full: {fast.reason}")
    check = _fast_check(job, fast) if job.profiles else None
    result = WorkerResult(
        Outcome.WRITTEN,
        fast.encoded,
        None,
        job.mapper.patient_pseudonym(fast.patient_id),
        uids=(fast.study_uid, fast.series_uid, fast.sop_instance_uid),
        engine="fast",
        check=check,
    )
    if job.verify_fast:
        reference = reference_one(data, name, job)
        if reference.outcome is not Outcome.WRITTEN or reference.encoded != fast.encoded:
            return replace(reference, engine="full: fast path mismatch (verified)")
    return result


def reference_one(data: bytes, name: str, job: Job) -> WorkerResult:
    """De-identify one file by the reference path (pydicom datasets)."""
    try:
        original = read_bytes(data, name)
    except SkippedFile as skipped:
        return WorkerResult(Outcome.SKIPPED, problem=skipped.reason)
    except VeilError as exc:
        return WorkerResult(Outcome.FAILED, problem=str(exc))
    before = _facts(job, original) if job.profiles else None
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
        errors = tuple(f.to_dict() for f in findings if f.is_error)
        if errors:
            return WorkerResult(
                Outcome.QUARANTINED,
                output=result,
                patient_pseudonym=pseudonym,
                problem=f"{name}: the audit found {len(errors)} identifier(s) in the output; "
                "the file was not written",
                findings=errors,
            )
    check = _pair(before, _facts(job, result)) if job.profiles else None
    return WorkerResult(Outcome.WRITTEN, encoded, result, pseudonym, check=check)


def _place(out: Path, relative: str, encoded: bytes, overwrite: bool) -> str:
    """Write atomically (a temp name in the same folder, then rename): a reader never sees
    half a file. The temp name is fixed per process (no mkstemp): one worker writes one
    file at a time."""
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        if target.read_bytes() == encoded:
            return relative  # the same input written before: idempotent
        raise FileExistsError(relative)
    temp = target.with_name(f".{target.name}.{os.getpid()}.veil-part")
    try:
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(encoded)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return relative


def process_item(item: InputItem, job: Job) -> FileRecord:
    """Read one input, de-identify it and place it under ``job.out``."""
    try:
        data = item.read()
    except PermissionError:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: unreadable: permission denied",
        )
    except OSError as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: unreadable ({exc.strerror or type(exc).__name__})",
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
            engine=result.engine,
        )
    assert job.out is not None
    relative = output_name(job.layout, item.relative, _uids(result), result.patient_pseudonym)
    try:
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
            engine=result.engine,
        )
    return FileRecord(
        item.display,
        Outcome.WRITTEN,
        len(data),
        output=relative,
        study=result.study,
        series=result.series,
        engine=result.engine,
        check=result.check,
    )


def _uids(result: WorkerResult) -> dict[str, str]:
    """The output's UIDs that name it in the hierarchy layout."""
    if result.uids is not None:
        study, series, instance = result.uids
    else:
        ds = result.output
        assert ds is not None
        study, series, instance = (
            str(ds.get(keyword, "") or "")
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
        )
    return {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": instance}
