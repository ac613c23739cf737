"""What one de-identification knows while it walks a dataset: the plan, the key, the values
computed once per dataset, and where decisions are recorded for `veil explain`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from veil.engine.values import TextCleaner
from veil.mapping import Mapper, Patient
from veil.policy.plan import Plan


class Mode(str, Enum):
    """How a sequence's items are walked: by the plan, or all of their text replaced."""

    PLAN = "plan"  # every element by its own rule
    DUMMY = "dummy"  # inside a sequence the plan replaces by a dummy (D on an SQ)
    CLEAN = "clean"  # inside cleaned structured content (C on an SQ)


@dataclass(frozen=True)
class Decision:
    """What happened to one element and why; shown by `veil explain`, never logged."""

    path: str  # "(0008,1115)[0].(0020,000E)"
    tag: int
    before: str
    after: str  # "(removed)" when removed
    rule: str  # the rule that decided (Table E.1-1 row, option, override, requirement)
    does: str = ""  # what the action does, in the handler's own words


Recorder = Callable[[Decision], None]


@dataclass
class Context:
    """Per-dataset state: the plan, the key, and values computed once from the top level."""

    plan: Plan
    mapper: Mapper
    sop_class: str
    patient: Patient  # who the dataset is about (read before anything changed)
    recorder: Recorder | None = None
    shifted: bool = False
    _offset: int | None = None
    _cleaner: TextCleaner | None = None
    identifying: list[str] = field(default_factory=list)
    # Identifying values of the input as bytes, longest first: masked inside private elements
    # the plan cleans ("C"), such as a vendor's binary header kept for a destination.
    blob_needles: tuple[bytes, ...] = ()

    @property
    def offset(self) -> int:
        if self._offset is None:
            self._offset = self.mapper.date_offset_days(self.patient)
        return self._offset

    @property
    def cleaner(self) -> TextCleaner:
        if self._cleaner is None:
            self._cleaner = TextCleaner(self.identifying)
        return self._cleaner

    def record(self, decision: Decision) -> None:
        if self.recorder is not None:
            self.recorder(decision)
