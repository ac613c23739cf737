"""The outcome of one input file, as reported (never with an identifying value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veil.pipeline import Outcome


@dataclass(frozen=True)
class FileRecord:
    """One input and what happened to it. ``input`` is the user's own path, shown to them."""

    input: str
    outcome: Outcome
    size: int = 0
    output: str | None = None  # relative to the output folder
    problem: str | None = None
    study: str | None = None  # de-identified Study Instance UID
    series: str | None = None  # de-identified Series Instance UID
    findings: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # Kinds of identifier found in the mirror path and renamed away (never the values).
    renamed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"input": self.input, "outcome": self.outcome.value}
        for name in ("output", "problem", "study", "series"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.renamed:
            data["renamed_because"] = list(self.renamed)
        if self.findings:
            data["findings"] = list(self.findings)
        return data
