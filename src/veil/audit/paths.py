"""Identifiers in an output's file name: a tool that names folders after the patient
(``SMITH_JOHN/MRN12345/1.dcm``) leaks as surely as one that keeps the header.

The output's path relative to the audited folder is searched for the input's identifying
values in the same forms and with the same word edges as element text; the folder the user
chose (``/home/smith/received``) is not searched.
"""

from __future__ import annotations

from dataclasses import replace

from veil.audit.auditor import Prepared
from veil.audit.findings import Finding, Kind
from veil.audit.forms import needles_for
from veil.audit.identifiers import dedupe
from veil.audit.text_search import Haystack, TextElement

PATH_ELEMENT = "(file path)"


MASK = "***"


def masked(relative: str, spans: list[tuple[int, int]]) -> str:
    """``relative`` with every path component that a span touches replaced by ``***``."""
    parts, start, out = relative.split("/"), 0, []
    for part in parts:
        end = start + len(part)
        out.append(MASK if any(s < end and e > start for s, e in spans) else part)
        start = end + 1
    return "/".join(out)


def path_findings(prepared: Prepared, relative: str, name: str) -> tuple[list[Finding], str]:
    """One finding per identifier of the input found in ``relative`` (never the value), and
    the file's name to show instead of ``name``: the components that hold one masked."""
    if prepared.problem is not None or not relative:
        return [], name
    relative = relative.replace("\\", "/")
    haystack = Haystack([TextElement(PATH_ELEMENT, 0, "LO", relative)])
    found: dict[str, Finding] = {}
    spans: list[tuple[int, int]] = []
    needles = [n for ident in dedupe(prepared.collected.identifiers) for n in needles_for(ident)]
    needles.sort(key=lambda needle: len(needle.text), reverse=True)
    for needle in needles:
        ident = needle.ident
        if ident.source in found or ident.kind is Kind.PRIVATE:
            continue  # private text (vendor words) in a file name identifies no one
        for _hit in haystack.find(needle, uid_elements=True):
            spans.extend(_spans(haystack.lowered, needle.text))
            found[ident.source] = Finding(
                "",
                PATH_ELEMENT,
                ident.kind,
                f"{needle.label} in the file or folder name",
                ident.severity,
                ident.source,
            )
            break
    if not found:
        return [], name
    shown = _shown(name, relative, masked(relative, spans))
    return [replace(f, file=shown) for f in found.values()], shown


def _spans(text: str, needle: str) -> list[tuple[int, int]]:
    spans, start = [], text.find(needle)
    while start >= 0:
        spans.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return spans


def _shown(name: str, relative: str, hidden: str) -> str:
    """``name`` (the path as the user gave it) with its relative tail masked."""
    flat = name.replace("\\", "/")
    return flat[: len(flat) - len(relative)] + hidden if flat.endswith(relative) else hidden
