"""Input paths in a report, shown as given or as keyed digests.

Folder and file names often carry a patient's name or MRN ("DOE_JOHN_12345/CT"). With
`--layout hierarchy` the output tree is named by pseudonyms, so a report that listed the input
paths would be the one place left that names patients: by default it lists a keyed digest of
each path instead. The digest is an HMAC under the project key (domain ``report-path``), so the
same path gives the same digest in every run with that key (reports can be compared), and
without the key a digest cannot be tested against guessed names.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from veil.mapping import Mapper
from veil.policy.model import Layout


class ReportPaths(str, Enum):
    PLAIN = "plain"  # input paths as the user gave them
    DIGEST = "digest"  # keyed digests of the input paths


def default_report_paths(layout: Layout) -> ReportPaths:
    return ReportPaths.DIGEST if layout is Layout.HIERARCHY else ReportPaths.PLAIN


def path_digest(mapper: Mapper, path: str) -> str:
    """``path-`` and 24 hex characters of HMAC-SHA256(key, "report-path" NUL path)."""
    return "path-" + mapper.digest("report-path", path).hex()[:24]


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value


def hide_input_paths(report: dict[str, Any], mapper: Mapper, layout: Layout) -> dict[str, Any]:
    """The report with every input path (and a mirror output path) replaced by its digest.

    Each file entry is rewritten on its own (its path can only appear in its own entry), so
    this stays linear in the number of files.
    """
    files = []
    for entry in report.get("files", []):
        original = str(entry["input"])
        digest = path_digest(mapper, original)
        hidden = _replace(entry, original, digest)
        if layout is Layout.MIRROR and "output" in entry:
            hidden["output"] = path_digest(mapper, str(entry["output"]))
        files.append(hidden)
    return {**report, "files": files, "paths": ReportPaths.DIGEST.value}
