"""What is gathered per series while files are read, and series checked as one.

Some anonymizers give every file a new Series Instance UID (a fresh UID per value, per
file). A volume then arrives as many single-file "series" that share the study, the series
number, the modality and the geometry (orientation, pixel spacing, matrix): checked one by
one, each would fail coverage and completeness. Such series are merged and checked as one,
and reported as "series UIDs probably regenerated per file".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from veil.check.geometry import SeriesFacts, Slice
from veil.check.model import Outcome

# At least this many single-file series with one number and one geometry are one volume.
MIN_REGENERATED = 3


@dataclass(frozen=True)
class FileOutcome:
    """One rule on one file; `missing`: what the rule reads is absent (not merely invalid)."""

    outcome: Outcome
    observed: str = ""
    problem: str = ""
    missing: bool = False


@dataclass
class ProfileState:
    """One profile's view of one series: the files it uses and how they fared."""

    files: list[str] = field(default_factory=list)
    other_files: int = 0  # files of the series the profile does not use
    facts: SeriesFacts = field(default_factory=SeriesFacts)
    # The used files' outcomes, rule id -> outcome, in runs of files that share one table
    # [table, how many files] (a series' files share it: the workers' facts memo): one step
    # per file instead of one per rule (the parent's aggregation of `veil deid --for`).
    runs: list[list[Any]] = field(default_factory=list)
    series_when: dict[str, bool] = field(default_factory=dict)
    before: str = ""  # why the files look de-identified already ("" when they do not)

    def add_files(
        self, names: list[str], outcomes: Mapping[str, FileOutcome], rule_ids: Sequence[str]
    ) -> None:
        """Used files that share their outcome per rule id (``rule_ids``: the profile's, each
        in ``outcomes``: KeyError otherwise, once per table)."""
        self.files.extend(names)
        runs = self.runs
        if runs and runs[-1][0] is outcomes:
            runs[-1][1] += len(names)
            return
        for rule_id in rule_ids:
            if rule_id not in outcomes:
                raise KeyError(rule_id)
        runs.append([outcomes, len(names)])

    def counted(self, rule_id: str) -> list[tuple[FileOutcome, int]]:
        """The rule's outcomes in file order, each with how many files in a row have it."""
        if not self.runs:
            raise KeyError(rule_id)
        return [(table[rule_id], count) for table, count in self.runs]

    def named(self, rule_id: str) -> list[tuple[str, FileOutcome]]:
        """(file name, outcome) of the rule per used file, in order."""
        outcomes = [outcome for outcome, count in self.counted(rule_id) for _ in range(count)]
        return list(zip(self.files, outcomes, strict=True))

    def merge(self, other: ProfileState) -> None:
        self.files.extend(other.files)
        self.other_files += other.other_files
        self.facts.extend(other.facts)
        self.runs.extend([table, count] for table, count in other.runs)
        for rule_id, holds in other.series_when.items():
            self.series_when.setdefault(rule_id, holds)
        self.before = self.before or other.before


@dataclass
class SeriesState:
    key: tuple[str, str]  # (study UID, series UID): never reported
    names: list[str] = field(default_factory=list)
    frames: int = 0
    modality: str = ""
    series_number: str = ""
    first_slice: Slice | None = None
    profiles: dict[str, ProfileState] = field(default_factory=dict)
    members: list[tuple[str, str]] = field(default_factory=list)

    def profile(self, name: str) -> ProfileState:
        found = self.profiles.get(name)
        if found is None:  # (not setdefault: a new state per call cost 8 us per file)
            found = self.profiles[name] = ProfileState()
        return found


def _geometry(first: Slice) -> tuple[object, ...]:
    orientation = tuple(round(v, 3) for v in first.orientation) if first.orientation else None
    spacing = tuple(round(v, 4) for v in first.spacing) if first.spacing else None
    return (orientation, spacing, first.rows, first.columns)


def merge_regenerated(states: Sequence[SeriesState]) -> list[SeriesState]:
    """The series to check: single-file, single-frame series that share study, series number,
    modality and geometry (MIN_REGENERATED or more) merged into one; the others as they are."""
    groups: dict[tuple[object, ...], list[SeriesState]] = {}
    alone: list[SeriesState] = []
    for state in states:
        if (
            len(state.names) == 1
            and state.frames == 1
            and state.series_number
            and state.first_slice
        ):
            group = (
                state.key[0],
                state.series_number,
                state.modality,
                _geometry(state.first_slice),
            )
            groups.setdefault(group, []).append(state)
        else:
            alone.append(state)
    found = list(alone)
    for members in groups.values():
        if len(members) < MIN_REGENERATED:
            found.extend(members)
            continue
        members.sort(key=lambda s: s.names[0])
        merged = SeriesState(
            key=members[0].key,
            modality=members[0].modality,
            series_number=members[0].series_number,
            first_slice=members[0].first_slice,
        )
        for member in members:
            merged.names.extend(member.names)
            merged.frames += member.frames
            merged.members.append(member.key)
            for name, gathered in member.profiles.items():
                merged.profile(name).merge(gathered)
        found.append(merged)
    for state in found:
        if not state.members:
            state.members.append(state.key)
    return found
