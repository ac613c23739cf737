"""The outcome of one input file, as reported (never with an identifying value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veil.check.regression import PairFacts
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
    engine: str = ""  # "fast", or "full: <why the fast path handed the file over>"
    # The destination checks' facts before and after (`--for`), evaluated in the worker.
    check: PairFacts | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"input": self.input, "outcome": self.outcome.value}
        for name in ("output", "problem", "study", "series"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.findings:
            data["findings"] = list(self.findings)
        if self.engine:
            data["engine"] = self.engine
        return data
