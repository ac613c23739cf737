"""Auditing folders: pair every output with its input (see ``pairing``), audit each pair.

`veil audit ORIGINAL DEIDENTIFIED` is a thin layer over `run_audit`; the console and scripts
call it the same way. The report names files, element paths and kinds, never a value.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydicom import dcmread

from veil.audit.auditor import audit_output, audit_prepared, prepare
from veil.audit.findings import Finding
from veil.audit.grouping import group_findings
from veil.audit.identifiers import declared_options
from veil.audit.pairing import Method, Pair, Side, pair
from veil.audit.paths import PATH_ELEMENT, path_findings
from veil.audit.pixel_digest import pixel_digest
from veil.audit.standalone import audit_alone
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
    pairs: list[Pair] = field(default_factory=list)
    keyed: bool = True  # pairing could use the project key
    originals: bool = True  # False: the outputs were audited on their own (no originals)

    def paired_by(self) -> dict[str, int]:
        """How many pairs each pass made (every method listed, zero included)."""
        return {m.value: sum(1 for p in self.pairs if p.method is m) for m in Method}

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
                "mode": "paired" if self.originals else "without-originals",
                "keyed": self.keyed,
                "paired_by": self.paired_by(),
            },
            "groups": [g.to_dict() for g in group_findings(self.findings)],
            "findings": [f.to_dict() for f in self.findings],
            "pairs": [
                {"input": p.input, "output": p.output, "method": p.method.value} for p in self.pairs
            ],
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


def _index(items: list[InputItem], report: AuditReport, side: str) -> dict[str, Side]:
    """File name -> SOP Instance UID (for inputs without one, the stand-in `veil deid` keys)
    and relative path."""
    uids: dict[str, Side] = {}
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
        # An output without a readable SOP Instance UID may still pair by pixel data or
        # path; unpaired, it fails the audit (it was not proven clean).
        uids[item.display] = Side(uid or "", item.relative)
    return uids


def _digester(
    items: dict[str, InputItem], jobs: int
) -> Callable[[list[str]], dict[str, str | None]]:
    def digest(names: list[str]) -> dict[str, str | None]:
        found = parallel_map(pixel_digest, [items[n] for n in names], jobs, ordered=True)
        return dict(zip(names, found, strict=True))

    return digest


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
    name = output_item.display
    try:
        chosen = declared_options(output)
    except Exception:  # an unreadable declaration: audit_output reports it, failing closed
        return audit_output(source, output, encoded, name, heuristics=heuristics), None
    prepared = prepare(source, chosen)  # once, for the file's content and for its name
    in_name, shown = path_findings(prepared, output_item.relative, name)
    findings = audit_prepared(prepared, output, encoded, name, heuristics=heuristics)
    if shown != name:  # the file's own name holds an identifier: never print it
        findings = [replace(f, file=shown) for f in findings]
    return findings + in_name, None


def run_audit(
    original: Path,
    deidentified: Path,
    mapper: Mapper | None,
    *,
    heuristics: bool = True,
    jobs: int = 1,
) -> AuditReport:
    """Pair the outputs under ``deidentified`` with the inputs under ``original`` (through
    ``mapper``, the key the outputs were written with, when there is one; then by identical
    UID, pixel data and relative path) and audit every pair."""
    started = time.perf_counter()
    report = AuditReport(keyed=mapper is not None)
    inputs = list(iter_inputs([original]))
    outputs = list(iter_inputs([deidentified]))
    sources = {item.display: item for item in inputs}
    targets = {item.display: item for item in outputs}
    pairing = pair(
        _index(inputs, report, "original"),
        _index(outputs, report, "deidentified"),
        mapper,
        (_digester(sources, jobs), _digester(targets, jobs)),
    )
    report.pairs = pairing.pairs
    report.unpaired_outputs = pairing.unpaired_outputs
    report.unpaired_inputs = pairing.unpaired_inputs
    tasks: list[_Task] = [(sources[p.input], targets[p.output], heuristics) for p in pairing.pairs]
    results = parallel_map(_audit_pair, tasks, jobs, ordered=True, chunksize=8)
    for index, ((_, output_item, _), (findings, problem)) in enumerate(
        zip(tasks, results, strict=True)
    ):
        if problem is not None:
            report.unreadable.append(
                {"file": output_item.display, "side": "pair", "problem": problem}
            )
            continue
        report.findings.extend(findings)
        report.files += 1
        named = next((f.file for f in findings if f.path == PATH_ELEMENT), None)
        if named is not None:  # listed under its masked name only
            report.pairs[index] = replace(report.pairs[index], output=named)
    report.seconds = time.perf_counter() - started
    return report


def _audit_one(task: tuple[InputItem, bool]) -> tuple[list[Finding], str | None]:
    """Audit one output on its own; runs in a worker process. Only the header is parsed:
    nothing judged without the originals lies in the pixel data."""
    item, heuristics = task
    try:
        head, source = _head(item)
        if not looks_like_dicom(head):
            return [], ""  # not DICOM: counted as skipped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(
                io.BytesIO(source) if isinstance(source, bytes) else source,
                force=True,
                stop_before_pixels=True,
            )
    except (InputFileError, OSError) as exc:
        return [], getattr(exc, "problem", None) or type(exc).__name__
    except Exception as exc:  # pydicom raises a wide range on damaged input
        return [], f"unreadable DICOM ({type(exc).__name__})"
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
        return [], ""  # a DICOMDIR: an index, not an image
    return audit_alone(ds, item.display, heuristics=heuristics), None


def run_standalone(deidentified: Path, *, heuristics: bool = True, jobs: int = 1) -> AuditReport:
    """Audit every file under ``deidentified`` without originals (see ``standalone``)."""
    started = time.perf_counter()
    report = AuditReport(keyed=False, originals=False)
    tasks: list[tuple[InputItem, bool]] = []
    for item in iter_inputs([deidentified]):
        if item.problem is not None:
            report.unreadable.append(
                {"file": item.display, "side": "deidentified", "problem": item.problem}
            )
        else:
            tasks.append((item, heuristics))
    results = parallel_map(_audit_one, tasks, jobs, ordered=True, chunksize=8)
    for (item, _), (findings, problem) in zip(tasks, results, strict=True):
        if problem == "":
            report.skipped += 1
        elif problem is not None:
            report.unreadable.append(
                {"file": item.display, "side": "deidentified", "problem": problem}
            )
        else:
            report.findings.extend(findings)
            report.files += 1
    report.seconds = time.perf_counter() - started
    return report
