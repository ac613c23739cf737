"""Auditing one output against its input: the function the batch calls for every file."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from veil.audit.findings import Finding, Kind, Severity
from veil.audit.forms import Needle, needles_for
from veil.audit.heuristics import suspicions
from veil.audit.identifiers import (
    Collected,
    Identifier,
    collect_all,
    declared_options,
    dedupe,
    normalise,
)
from veil.audit.raw_search import (
    PREAMBLE,
    byte_needles,
    in_uid,
    locate,
    python_encodings,
    scan,
    value_spans,
)
from veil.audit.text_search import (
    SEARCHED_VRS,
    Haystack,
    TextElement,
    case_label,
    text_elements,
)
from veil.dicom import values_of
from veil.standard import Option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What the audit needs from an input, taken before the input is de-identified in place."""

    collected: Collected
    encodings: tuple[str, ...]  # codecs the input's text can be in, for the raw-byte scan
    problem: str | None = None  # why collecting failed: the audit then fails closed


def prepare(original: Dataset, options: Iterable[Option] = ()) -> Prepared:
    """Collect the identifying values of ``original`` under ``options`` (the plan's options,
    which the engine declares in the output). Call it before an in-place de-identification:
    it spares parsing the input a second time for ``audit_prepared``. Never raises."""
    try:
        with warnings.catch_warnings():
            # pydicom's value warnings may quote the value they complain about.
            warnings.simplefilter("ignore")
            return Prepared(
                collect_all(original, frozenset(options)), tuple(python_encodings(original))
            )
    except Exception as exc:
        return Prepared(Collected([], {}), (), type(exc).__name__)


def audit_output(
    original: Dataset,
    output: Dataset,
    encoded: bytes,
    name: str,
    *,
    options: Iterable[Option] | None = None,
    heuristics: bool = True,
) -> list[Finding]:
    """Every place in ``output`` (and its bytes ``encoded``) where an identifying value of
    ``original`` survives, plus free-text warnings. Errors first; never a value in a finding.

    ``options`` are the standard's options whose kept attributes are not identifiers here; by
    default the ones the output declares in (0012,0064). The audit fails closed: if it cannot
    complete, it returns one error finding of kind "audit-incomplete".
    """
    try:
        chosen = declared_options(output) if options is None else options
    except Exception as exc:
        return [_incomplete(name, type(exc).__name__)]
    return audit_prepared(prepare(original, chosen), output, encoded, name, heuristics=heuristics)


def audit_prepared(
    prepared: Prepared, output: Dataset, encoded: bytes, name: str, *, heuristics: bool = True
) -> list[Finding]:
    """``audit_output`` with the input's values collected beforehand by ``prepare``."""
    if prepared.problem is not None:
        return [_incomplete(name, prepared.problem)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _audit(prepared, output, encoded, name, heuristics)
    except Exception as exc:
        return [_incomplete(name, type(exc).__name__)]


def _incomplete(name: str, problem: str) -> Finding:
    """Fail closed: a crash must quarantine the file, never pass it. ``problem`` is an
    exception's type name, never its message (messages may quote values)."""
    log.warning("%s: the audit could not complete (%s)", name, problem)
    return Finding(
        name,
        "",
        Kind.AUDIT_INCOMPLETE,
        f"the audit could not complete ({problem})",
        Severity.ERROR,
    )


def _audit(
    prepared: Prepared, output: Dataset, encoded: bytes, name: str, heuristics: bool
) -> list[Finding]:
    collected = prepared.collected
    identifiers = collected.identifiers
    needles = [n for ident in dedupe(identifiers) for n in needles_for(ident)]
    # Longer needles first, so an element holding "John Doe" is reported with that form
    # rather than as "given name alone".
    needles.sort(key=lambda needle: len(needle.text), reverse=True)
    elements = [e for e in text_elements(output) if not _own_record(e)]
    meta = getattr(output, "file_meta", None)
    if meta is not None:
        elements += list(text_elements(meta))
    found: dict[tuple[str, str], Finding] = {}

    def add(path: str, ident: Identifier, form: str) -> None:
        key = (path, ident.source)
        if key not in found:
            found[key] = Finding(name, path, ident.kind, form, ident.severity, ident.source)

    haystack = Haystack(elements)
    for needle in needles:
        ident = needle.ident
        for hit in haystack.find(needle, uid_elements=ident.kind is Kind.UID):
            if ident.kind is Kind.PRIVATE and hit.element.private:
                # The plan kept this private element (or a sibling: vendors repeat their own
                # text across their private elements); only a move to public text matters.
                continue
            if _explained_by_option(ident, hit.element.path, collected.option_kept):
                continue
            add(hit.element.path, ident, needle.label + case_label(hit.matched, needle))

    for ident in identifiers:
        if ident.kind is not Kind.PRIVATE and _kept_in_place(output, ident):
            add(ident.source, ident, "kept at its own place")

    encodings = list(dict.fromkeys([*prepared.encodings, *python_encodings(output)]))
    _raw(name, encoded, encodings, needles, found)

    result = list(found.values())
    if heuristics:
        result += [
            Finding(name, s.element.path, Kind(s.kind), s.form, Severity.WARNING)
            for s in suspicions(elements)
        ]
    result.sort(key=lambda f: (f.severity is not Severity.ERROR, f.path, f.kind.value))
    return result


def _own_record(element: TextElement) -> bool:
    """veil's own De-identification Method (0012,0063): written by the engine from the policy
    and requirement names, never from the input (a requirement named "dcm2niix" is not the
    given name of a patient called "X^dcm2niix")."""
    return element.path == "(0012,0063)" and element.text.startswith("veil;")


def _raw(
    name: str,
    encoded: bytes,
    encodings: list[str],
    needles: list[Needle],
    found: dict[tuple[str, str], Finding],
) -> None:
    """Hits in the file's bytes that the decoded text search cannot see: binary values
    (pixel data, overlay data, private blobs), the preamble, anything outside an element."""
    if not encoded:
        return
    hits = scan(encoded, byte_needles(needles, encodings))
    # A date inside a UID (vendors embed timestamps in UIDs) is not a finding, as in the
    # decoded search; deciding it from the bytes around the hit spares parsing the file.
    hits = [
        h
        for h in hits
        if h.needle.ident.kind is Kind.UID
        or not (h.needle.text[:1].isdigit() and in_uid(encoded, h.offset))
    ]
    if not hits:
        return
    spans = value_spans(encoded)
    for hit in hits:
        ident = hit.needle.ident
        span = locate(hit.offset, spans)
        where = span.path if span is not None else ("preamble" if hit.offset < PREAMBLE else "")
        if span is not None:
            if any(path.startswith(span.path) and source == ident.source for path, source in found):
                continue  # the decoded text search already reported it there (or inside)
            if span.vr in SEARCHED_VRS:
                continue  # text the decoded search judged (e.g. a date inside a kept UID)
            if ident.kind is Kind.PRIVATE and span.path == ident.source:
                continue
        path = f"{where} bytes@{hit.offset}" if where else f"bytes@{hit.offset}"
        key = (where or "bytes", ident.source)
        if key not in found:
            found[key] = Finding(
                name,
                path,
                ident.kind,
                f"{hit.needle.label} in raw bytes ({hit.encoding})",
                ident.severity,
                ident.source,
            )


# Values about a person: never excused by an option that keeps some other attribute.
_PERSONAL = frozenset(
    {
        Kind.PATIENT_NAME,
        Kind.PATIENT_ID,
        Kind.ACCESSION,
        Kind.PHYSICIAN,
        Kind.PERSON_NAME,
        Kind.CONTACT,
    }
)


def _explained_by_option(ident: Identifier, path: str, option_kept: dict[str, str]) -> bool:
    """True when the hit lies in an element a declared option keeps, and the kind of value
    is one that element may legitimately share: an issuer of patient IDs equal to the kept
    institution name, a birth date equal to a kept study date (a phantom scanned on its
    "birthday"). Names and IDs of people are never explained this way."""
    own = option_kept.get(path)
    if own is None or ident.kind in _PERSONAL:
        return False
    if ident.kind in (Kind.DATE, Kind.BIRTH_DATE):
        return own.startswith(ident.value.strip()[:8].lower())
    return True


def _kept_in_place(output: Dataset, ident: Identifier) -> bool:
    """True when the output still has the input's value in the very element it came from."""
    ds: Dataset | None = output
    for seq_tag, index in ident.steps:
        seq = ds.get(seq_tag, None) if ds is not None else None
        items = seq.value if seq is not None else None
        if not items or index >= len(items):
            return False
        ds = items[index]
    if ds is None or ident.tag not in ds:
        return False
    try:
        value = ds[ident.tag].value
    except Exception:
        return False
    values = values_of(value)
    wanted = normalise(ident.value)
    return any(normalise(str(v)) == wanted for v in values if v is not None)


__all__ = ["audit_output"]
