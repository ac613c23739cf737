"""`veil audit ORIGINAL DEIDENTIFIED`: prove that no identifier of the inputs is in the outputs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from pydicom import dcmread
from rich.console import Console
from rich.markup import escape

from veil.audit import Finding, audit_output
from veil.audit.pairing import pair
from veil.cli.common import err_console, key_options, veil_errors_are_usage_errors
from veil.errors import VeilError
from veil.io.dicomfile import GZIP_MAGIC, SkippedFile, looks_like_dicom, read_bytes
from veil.io.inputs import InputItem, iter_inputs
from veil.io.quiet import silence_value_warnings
from veil.keys import read_lookup_table, resolve_key
from veil.mapping import Mapper

out_console = Console(highlight=False)


@dataclass
class AuditReport:
    files: int = 0
    findings: list[Finding] = field(default_factory=list)
    unpaired_outputs: list[str] = field(default_factory=list)
    unpaired_inputs: list[str] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0  # files that are not DICOM
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

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


DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


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


def _stand_in(item: InputItem) -> str:
    """For an input with no instance UID at all, the stand-in `veil deid` keys instead: the
    SHA-256 of the file's bytes (veil.batch.worker.deid_one)."""
    return "sha256:" + hashlib.sha256(item.read()).hexdigest()


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
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return b"", b""
    return data[:132], data


def _index(items: list[InputItem], report: AuditReport, side: str) -> dict[str, str]:
    uids: dict[str, str] = {}
    for item in items:
        try:
            head, source = _head(item)
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
            uid = _stand_in(item)
        if uid is None:
            # A DICOM file without a readable SOP Instance UID cannot be paired, so it cannot
            # be proven clean: an output like that fails the audit.
            report.unreadable.append(
                {"file": item.display, "side": side, "problem": "no readable SOP Instance UID"}
            )
            continue
        uids[item.display] = uid
    return uids


def _audit_pair(task: tuple[InputItem, InputItem, bool]) -> tuple[list[Finding], str | None]:
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
    *,
    key_path: Path | None = None,
    lookup: Path | None = None,
    heuristics: bool = True,
    jobs: int = 1,
) -> AuditReport:
    """Pair outputs with inputs through the mapping and audit every pair."""
    started = time.perf_counter()
    silence_value_warnings()
    # Never create a key here: a new key pairs nothing; the outputs' key is needed.
    key, _ = resolve_key(key_path, create=False)
    mapper = Mapper(key, read_lookup_table(lookup) if lookup else {})
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
    tasks = [(sources[i], targets[o], heuristics) for i, o in pairing.pairs]
    if jobs <= 1 or len(tasks) <= 1:
        results = map(_audit_pair, tasks)
        _collect(report, tasks, results)
    else:
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with context.Pool(jobs, initializer=silence_value_warnings) as pool:
            _collect(report, tasks, pool.imap(_audit_pair, tasks, chunksize=8))
    report.seconds = time.perf_counter() - started
    return report


def _collect(
    report: AuditReport,
    tasks: list[tuple[InputItem, InputItem, bool]],
    results: Iterable[tuple[list[Finding], str | None]],
) -> None:
    for (_, output_item, _), (findings, problem) in zip(tasks, results, strict=True):
        if problem is not None:
            report.unreadable.append(
                {"file": output_item.display, "side": "pair", "problem": problem}
            )
            continue
        report.findings.extend(findings)
        report.files += 1


def _print(report: AuditReport, show_warnings: bool) -> None:
    for finding in report.findings:
        if not finding.is_error and not show_warnings:
            continue
        style = "bold red" if finding.is_error else "yellow"
        source = f" [dim](from input {finding.source})[/]" if finding.source else ""
        out_console.print(
            f"[{style}]{finding.severity:7}[/] {escape(finding.file)}  {escape(finding.path)}  "
            f"{finding.kind}: {escape(finding.form)}{source}",
            soft_wrap=True,
        )
    for name in report.unpaired_outputs:
        out_console.print(
            f"[bold red]unpaired[/] {escape(name)}: no input has its SOP Instance "
            "UID under this key; it was not audited",
            soft_wrap=True,
        )
    for entry in report.unreadable:
        out_console.print(
            f"[red]unreadable[/] {escape(entry['file'])}: {escape(entry['problem'])}",
            soft_wrap=True,
        )
    if report.unpaired_outputs and not report.files:
        err_console.print(
            "[yellow]hint:[/] no output pairs with an input: were they written with another "
            "key (--key, $VEIL_KEY) or from other inputs?",
            markup=True,
            soft_wrap=True,
        )
    rate = report.files / report.seconds if report.seconds else 0.0
    err_console.print(
        f"audited {report.files} file(s): {report.errors} error(s), {report.warnings} "
        f"warning(s); {len(report.unpaired_outputs)} output(s) without an input, "
        f"{len(report.unpaired_inputs)} input(s) without an output; "
        f"{report.seconds:.1f} s ({rate:.1f} files/s)",
        soft_wrap=True,
        highlight=False,
    )


@click.command("audit")
@click.argument("original", type=click.Path(exists=True, path_type=Path))
@click.argument("deidentified", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the findings as JSON (never the values found).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 on warnings too (patient characteristics, descriptors, private values).",
)
@click.option(
    "--no-heuristics",
    is_flag=True,
    help=(
        "Skip the search for identifying text by its shape (phones, e-mails, IDs, "
        "titled names, dates...) in free text."
    ),
)
@click.option("--quiet", "-q", is_flag=True, help="Do not list warnings, only errors.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: number of CPUs].",
)
@key_options
@veil_errors_are_usage_errors
def command(
    original: Path,
    deidentified: Path,
    json_path: Path | None,
    strict: bool,
    no_heuristics: bool,
    quiet: bool,
    jobs: int | None,
    key_path: Path | None,
    lookup: Path | None,
) -> None:
    """Prove that no identifier of ORIGINAL survives in DEIDENTIFIED.

    Each output file is paired with its input through the project key (the output's SOP
    Instance UID is the keyed UID of the input's), every identifying value of the input is
    searched for in the output's decoded text and raw bytes, in the forms it takes in the
    wild, and free text is scanned for names and dates. Findings name the file, the element
    and the kind of identifier, never the value.

    Exit 0 when clean, 1 when an error finding, an unpaired or unreadable output is found
    (with --strict also on warnings), 2 on usage errors.

    \b
    Example:
      veil deid scans/ --out deid-out
      veil audit scans/ deid-out --json audit.json
    """
    report = run_audit(
        original,
        deidentified,
        key_path=key_path,
        lookup=lookup,
        heuristics=not no_heuristics,
        jobs=jobs or os.cpu_count() or 1,
    )
    _print(report, show_warnings=not quiet)
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    failed = (
        report.errors
        or report.unpaired_outputs
        or any(entry["side"] != "original" for entry in report.unreadable)
    )
    if failed or (strict and report.warnings):
        raise SystemExit(1)
