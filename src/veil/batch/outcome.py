"""The outcome of one input file, as reported (never with an identifying value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veil.check.regression import PairFacts
from veil.pipeline import Outcome
from veil.pixels import BurnedInRisk, PixelResult


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
    # Burned-in text: the always-on risk flag, and what the pixel step did (when it ran).
    burned_in: BurnedInRisk = field(default_factory=BurnedInRisk)
    pixels: PixelResult | None = None
    # Failed for a reason outside the file (storage, permissions): the next run tries again.
    retry: bool = False
    engine: str = ""  # "fast", or "full: <why the fast path handed the file over>"
    # The destination checks' facts before and after (`--for`), evaluated in the worker.
    check: PairFacts | None = field(default=None, repr=False)
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
        if self.burned_in.at_risk or self.pixels is not None:
            data["burned_in_text"] = (
                self.pixels.to_dict() if self.pixels is not None else self.burned_in.to_dict()
            )
        if self.retry:
            data["retry"] = True
        if self.engine:
            data["engine"] = self.engine
        return data
