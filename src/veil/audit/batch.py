"""Auditing folders: pair every output with its input through the key, audit each pair.

`veil audit ORIGINAL DEIDENTIFIED` is a thin layer over `run_audit`; the console and scripts
call it the same way. The report names files, element paths and kinds, never a value.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread

from veil.audit.auditor import audit_output
from veil.audit.findings import Finding
from veil.audit.pairing import pair
from veil.errors import InputFileError, VeilError
from veil.io.dicomfile import (
    DICOMDIR_CLASS,
    GZIP_MAGIC,
    SkippedFile,
    looks_like_dicom,
    read_bytes,
)
from veil.io.inputs import InputItem, iter_inputs
from veil.io.limits import gunzip_bounded
from veil.mapping import Mapper, stand_in_uid
from veil.parallel import parallel_map


@dataclass
class AuditReport:
    """What one audit run found; `ok` decides the exit code of `veil audit`."""

    files: int = 0
    findings: list[Finding] = field(default_factory=list)
    unpaired_outputs: list[str] = field(default_factory=list)
    unpaired_inputs: list[str] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)  # file, side, problem
    skipped: int = 0  # files that are not DICOM
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    def ok(self, strict: bool = False) -> bool:
        """Clean: no error finding, and every output paired and readable (an output that was
        not audited is not proven clean); with ``strict`` no warning either."""
        unproven = self.unpaired_outputs or any(
            entry["side"] != "original" for entry in self.unreadable
        )
        return not (self.errors or unproven or (strict and self.warnings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": {
                "files_audited": self.files,
                "errors": self.errors,
                "warnings": self.warnings,
                "unpaired_outputs": len(self.unpaired_outputs),
                "unpaired_inputs": len(self.unpaired_inputs),
                "unreadable": len(self.unreadable),
                "skipped_not_dicom": self.skipped,
                "seconds": round(self.seconds, 3),
            },
            "findings": [f.to_dict() for f in self.findings],
            "unpaired_outputs": self.unpaired_outputs,
            "unpaired_inputs": self.unpaired_inputs,
            "unreadable": self.unreadable,
        }


def _sop_uid(source: bytes | str) -> str | None:
    """The SOP Instance UID from the header only (pixel data is not read); "" for a DICOMDIR,
    None when there is none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(
                io.BytesIO(source) if isinstance(source, bytes) else source,
                force=True,
                stop_before_pixels=True,
                specific_tags=["SOPInstanceUID"],
            )
    except Exception:  # unreadable: reported by the caller without the reason
        return None
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
        return ""
    # Minimal objects without a SOP Instance UID: the engine keys the file meta's instead.
    uid = ds.get("SOPInstanceUID", None) or (
        meta.get("MediaStorageSOPInstanceUID", None) if meta is not None else None
    )
    return str(uid) if uid else None


def _head(item: InputItem) -> tuple[bytes, bytes | str]:
    """The first bytes of an input, and what to read its header from: the file itself for
    plain files (only the header is read from disk), the bytes for zip members and gzip."""
    if item.member is None:
        with open(item.path, "rb") as handle:
            head = handle.read(132)
        if head[:2] != GZIP_MAGIC:
            return head, item.path
    data = item.read()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzip_bounded(data, item.display)
        except InputFileError:
            return b"", b""
    return data[:132], data


def _index(items: list[InputItem], report: AuditReport, side: str) -> dict[str, str]:
    """File name -> SOP Instance UID (for inputs without one, the stand-in `veil deid` keys)."""
    uids: dict[str, str] = {}
    for item in items:
        if item.problem is not None:  # a FIFO, a loop, an unsafe or oversized zip member...
            report.unreadable.append({"file": item.display, "side": side, "problem": item.problem})
            continue
        try:
            head, source = _head(item)
        except InputFileError as exc:
            report.unreadable.append({"file": item.display, "side": side, "problem": exc.problem})
            continue
        except OSError as exc:
            report.unreadable.append(
                {"file": item.display, "side": side, "problem": exc.strerror or type(exc).__name__}
            )
            continue
        if not looks_like_dicom(head):
            report.skipped += 1  # reports, notes, NIfTI next to the DICOM files
            continue
        uid = _sop_uid(source)
        if uid == "":
            report.skipped += 1  # a DICOMDIR: an index, not an image veil writes
            continue
        if uid is None and side == "original":
            uid = stand_in_uid(item.read())
        if uid is None:
            # A DICOM file without a readable SOP Instance UID cannot be paired, so it cannot
            # be proven clean: an output like that fails the audit.
            report.unreadable.append(
                {"file": item.display, "side": side, "problem": "no readable SOP Instance UID"}
            )
            continue
        uids[item.display] = uid
    return uids


_Task = tuple[InputItem, InputItem, bool]


def _audit_pair(task: _Task) -> tuple[list[Finding], str | None]:
    """Audit one (input, output) pair; runs in a worker process. Returns the findings, or
    the problem that kept the pair from being audited (never a value)."""
    source_item, output_item, heuristics = task
    try:
        source = read_bytes(source_item.read(), source_item.display)
        encoded = output_item.read()
        output = read_bytes(encoded, output_item.display)
    except (VeilError, SkippedFile, OSError) as exc:
        return [], getattr(exc, "problem", None) or type(exc).__name__
    return audit_output(source, output, encoded, output_item.display, heuristics=heuristics), None


def run_audit(
    original: Path,
    deidentified: Path,
    mapper: Mapper,
    *,
    heuristics: bool = True,
    jobs: int = 1,
) -> AuditReport:
    """Pair the outputs under ``deidentified`` with the inputs under ``original`` through
    ``mapper`` (the key the outputs were written with) and audit every pair."""
    started = time.perf_counter()
    report = AuditReport()
    inputs = list(iter_inputs([original]))
    outputs = list(iter_inputs([deidentified]))
    sources = {item.display: item for item in inputs}
    targets = {item.display: item for item in outputs}
    pairing = pair(
        _index(inputs, report, "original"), _index(outputs, report, "deidentified"), mapper
    )
    report.unpaired_outputs = pairing.unpaired_outputs
    report.unpaired_inputs = pairing.unpaired_inputs
    tasks: list[_Task] = [(sources[i], targets[o], heuristics) for i, o in pairing.pairs]
    results = parallel_map(_audit_pair, tasks, jobs, ordered=True, chunksize=8)
    for (_, output_item, _), (findings, problem) in zip(tasks, results, strict=True):
        if problem is not None:
            report.unreadable.append(
                {"file": output_item.display, "side": "pair", "problem": problem}
            )
            continue
        report.findings.extend(findings)
        report.files += 1
    report.seconds = time.perf_counter() - started
    return report
