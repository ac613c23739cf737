"""veil's own audit value search, pointed at what the console sends to a browser.

The identifiers of the corpus files the node received are collected exactly as the audit
collects them from an input (``veil.audit.identifiers.collect``, errors only), turned into the
audit's needles (every form a value takes in the wild) and searched in each response's text
with the audit's own ``Haystack``, after undoing HTML and JSON escaping so that an escaped
value still counts.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from veil.audit.findings import Severity
from veil.audit.forms import Needle, needles_for
from veil.audit.identifiers import collect, dedupe
from veil.audit.text_search import Haystack, TextElement


@dataclass(frozen=True)
class Leak:
    where: str  # the URL or name of the response
    kind: str
    form: str
    source: str  # the input element the value came from


def needles_of(files: Iterable[Path]) -> list[Needle]:
    identifiers = []
    for path in files:
        identifiers += [
            i
            for i in collect(dcmread(path, stop_before_pixels=True))
            if i.severity is Severity.ERROR
        ]
    needles = [n for ident in dedupe(identifiers) for n in needles_for(ident)]
    needles.sort(key=lambda n: len(n.text), reverse=True)
    return needles


def readable(body: str, content_type: str = "") -> str:
    """The text a person (or a script) would read: HTML entities and JSON escapes undone."""
    if "json" in content_type:
        try:
            return json.dumps(json.loads(body), ensure_ascii=False)
        except ValueError:
            return body
    return html.unescape(body)


def find_leaks(where: str, text: str, needles: list[Needle]) -> list[Leak]:
    haystack = Haystack([TextElement(where, 0, "UT", text)])
    found = {}
    for needle in needles:
        for _hit in haystack.find(needle, uid_elements=True):
            key = (needle.ident.source, needle.label)
            found.setdefault(
                key, Leak(where, needle.ident.kind.value, needle.label, needle.ident.source)
            )
    return list(found.values())
