"""One file through veil: read -> de-identify -> audit -> encode; then the outputs' check.

The same code for `veil deid` (batch), the node and the console, so that the same input and
key give the same bytes wherever they are de-identified (DESIGN, invariant 6):

    compiled = compile_policy("my-policy.yaml", for_profiles=["neuroquant"])
    settings = Settings(compiled.plan, mapper, audit=True)
    result = deidentify_file(data, "scans/a.dcm", settings)    # never raises for bad input
    if result.outcome is Outcome.WRITTEN: ...result.encoded...
    verdict = check_outputs(profiles, [(read_input, output_path), ...])   # per series

`deidentify_file` never raises for a bad input: every problem becomes a `FileResult` naming
the file and the problem (never a value). `check_outputs` fails closed: an output it cannot
evaluate is *unverifiable*, which holds a study as surely as a rule it lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from veil.audit import audit_prepared, prepare
from veil.check.model import RequirementProfile
from veil.check.profile import load_profile
from veil.check.regression import Regression, find_regressions
from veil.engine import deidentify
from veil.errors import PolicyError, ProfileError, VeilError
from veil.io.dicomfile import SkippedFile, encode_dataset, read_bytes
from veil.mapping import Mapper, Patient, stand_in_uid
from veil.policy import Layout, Plan, compile_plan, load_policy


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy compiled with every destination it must satisfy."""

    plan: Plan
    profiles: tuple[RequirementProfile, ...]  # the policy's requirements, then --for's
    layout: Layout | None  # the output layout the policy asks for, if any


def compile_policy(
    policy: str | Path, for_profiles: Sequence[str] = (), quality_checks: bool = True
) -> CompiledPolicy:
    """Load ``policy`` (a built-in name or a YAML file) and compile it with its own
    ``requirements:`` merged with ``for_profiles`` (`--for`, the node's `profiles:`); a profile
    named twice counts once. What `veil deid`, `veil explain`, the node and the console use."""
    loaded = load_policy(policy)
    profiles: dict[str, RequirementProfile] = {}
    for ref in loaded.requirements:
        try:
            profile = load_profile(ref.name)
        except ProfileError as exc:
            raise PolicyError(f"{loaded.source}: line {ref.line}: requirements: {exc}") from None
        profiles.setdefault(profile.name, profile)
    for name in for_profiles:
        profile = load_profile(name)
        profiles.setdefault(profile.name, profile)
    plan = compile_plan(loaded, list(profiles.values()), quality_checks=quality_checks)
    return CompiledPolicy(plan, tuple(profiles.values()), loaded.layout)


class Outcome(str, Enum):
    """What happened to one input file."""

    WRITTEN = "written"  # de-identified and written
    SKIPPED = "skipped"  # not an image to de-identify (DICOMDIR, not DICOM): counted, not failed
    FAILED = "failed"  # could not be read or de-identified safely: nothing written
    QUARANTINED = "quarantined"  # de-identified but the audit found an identifier: not written


@dataclass(frozen=True)
class Settings:
    """What one file needs besides its bytes: compiled once, pickled to worker processes."""

    plan: Plan
    mapper: Mapper
    audit: bool = True  # the node and the console always audit; `veil deid --no-audit` not


@dataclass(frozen=True)
class FileResult:
    """One de-identified file in memory, before it is placed anywhere."""

    outcome: Outcome
    encoded: bytes = b""
    dataset: Dataset | None = None
    patient_pseudonym: str = ""
    problem: str | None = None  # names the file and the problem, never a value
    findings: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # audit errors

    @property
    def study(self) -> str | None:
        """The de-identified Study Instance UID."""
        return str(self.dataset.get("StudyInstanceUID", "")) or None if self.dataset else None

    @property
    def series(self) -> str | None:
        return str(self.dataset.get("SeriesInstanceUID", "")) or None if self.dataset else None


def deidentify_file(data: bytes, name: str, settings: Settings) -> FileResult:
    """De-identify one file's bytes; ``name`` is only used to name the file in messages."""
    try:
        original = read_bytes(data, name)
    except SkippedFile as skipped:
        return FileResult(Outcome.SKIPPED, problem=skipped.reason)
    except VeilError as exc:
        return FileResult(Outcome.FAILED, problem=str(exc))
    try:
        # Only datasets without a SOP Instance UID need a stand-in (a digest of the file);
        # hashing every file would cost ~0.5 ms per MB for nothing.
        stand_in = None if original.get("SOPInstanceUID", None) else stand_in_uid(data)
        patient = Patient.of(original)  # read before the in-place de-identification
        # The input's identifying values are collected before the in-place de-identification;
        # a failure there makes the audit report itself incomplete (quarantine).
        prepared = prepare(original, settings.plan.declared_options) if settings.audit else None
        # In place: the dataset was parsed for this call only, and the audit collected what
        # it needs from it first; a deep copy cost a third of the time per file.
        result = deidentify(
            original, settings.plan, settings.mapper, in_place=True, fallback_instance_uid=stand_in
        )
        encoded = encode_dataset(result)
    except VeilError as exc:
        return FileResult(Outcome.FAILED, problem=f"{name}: {exc}")
    except Exception as exc:  # any encoder failure must stay this file's failure
        return FileResult(
            Outcome.FAILED,
            problem=f"{name}: cannot encode the de-identified dataset ({type(exc).__name__}); "
            "nothing was written for it",
        )
    pseudonym = settings.mapper.patient_pseudonym(patient)
    if prepared is not None:
        findings = audit_prepared(prepared, result, encoded, name)
        errors = tuple(f.to_dict() for f in findings if f.is_error)
        if errors:
            return FileResult(
                Outcome.QUARANTINED,
                dataset=result,
                patient_pseudonym=pseudonym,
                problem=f"{name}: the audit found {len(errors)} identifier(s) in the output; "
                "the file was not written",
                findings=errors,
            )
    return FileResult(Outcome.WRITTEN, encoded, result, pseudonym)


# (read the input's bytes again, the de-identified file): inputs are read lazily, one at a time.
OutputPair = tuple[Callable[[], bytes], Path]


@dataclass(frozen=True)
class CheckVerdict:
    """The destination check after de-identification, over a batch or a study."""

    regressions: tuple[Regression, ...] = ()  # rules that held on the input and not after
    unverifiable: tuple[str, ...] = ()  # outputs that could not be evaluated, with why

    @property
    def ok(self) -> bool:
        """Nothing lost and everything checked: only then may the outputs go out."""
        return not self.regressions and not self.unverifiable

    def summary(self) -> str:
        """One line for a quarantine reason or a log: rule ids and counts, never a value."""
        parts = []
        if self.regressions:
            rules = sorted({r.rule_id for r in self.regressions})
            parts.append(
                f"{len(self.regressions)} requirement(s) of the destination lost by "
                f"de-identification ({', '.join(rules[:5])})"
            )
        if self.unverifiable:
            parts.append(
                f"{len(self.unverifiable)} output(s) could not be checked "
                f"({'; '.join(self.unverifiable[:3])})"
            )
        return "; ".join(parts)


def check_outputs(
    profiles: Sequence[RequirementProfile],
    pairs: Sequence[OutputPair],
    quality_checks: bool = True,
) -> CheckVerdict:
    """Re-run the destination checks on the outputs: what passed before must pass after."""
    if not profiles:
        return CheckVerdict()
    found = find_regressions(profiles, pairs, quality_checks)
    return CheckVerdict(found.regressions, found.unverifiable)


__all__ = [
    "CheckVerdict",
    "CompiledPolicy",
    "FileResult",
    "Outcome",
    "OutputPair",
    "Settings",
    "check_outputs",
    "compile_policy",
    "deidentify_file",
]
