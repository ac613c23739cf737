"""Grouping findings: one line per (severity, kind, element path) with a file count and a few
example files. A series of 200 files with the same 40 leaks is 40 lines, not 8,000.

Item indices and byte offsets vary from file to file, so they are folded in the group's
path: ``(0040,0275)[2].(0032,1060)`` groups as ``(0040,0275)[*].(0032,1060)`` and
``(7FE0,0010) bytes@1234`` as ``(7FE0,0010) bytes@*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from veil.audit.findings import Finding, Severity

EXAMPLES = 3
_INDEX = re.compile(r"\[\d+\]")
_OFFSET = re.compile(r"bytes@\d+")


def group_path(path: str) -> str:
    """The element path a finding is grouped under (indices and offsets folded)."""
    return _OFFSET.sub("bytes@*", _INDEX.sub("[*]", path))


@dataclass
class Group:
    """Findings of one kind at one element path, over every file that has them."""

    severity: str
    kind: str
    path: str
    forms: list[str] = field(default_factory=list)  # distinct descriptions, first seen first
    files: list[str] = field(default_factory=list)  # distinct files, first seen first

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR.value

    @property
    def examples(self) -> list[str]:
        return self.files[:EXAMPLES]

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "path": self.path,
            "forms": self.forms,
            "files": len(self.files),
            "examples": self.examples,
        }


def group_findings(findings: Iterable[Finding]) -> list[Group]:
    """Groups in a stable order: errors first, then by path and kind."""
    groups: dict[tuple[str, str, str], Group] = {}
    seen: dict[tuple[str, str, str], set[str]] = {}
    for finding in findings:
        key = (finding.severity.value, finding.kind.value, group_path(finding.path))
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(*key)
            seen[key] = set()
        if finding.form not in group.forms:
            group.forms.append(finding.form)
        if finding.file not in seen[key]:
            seen[key].add(finding.file)
            group.files.append(finding.file)
    return sorted(groups.values(), key=lambda g: (not g.is_error, g.path, g.kind))
