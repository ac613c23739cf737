"""Try a policy on one file: what each element becomes and why, whether the destination will
still process it, and the audit of the output. The console's "try it on a sample".

    compiled = compile_policy_text(text, "version 3", catalog)
    preview = preview_file(data, "sample", Settings(compiled.plan, mapper), compiled.profiles)

The file goes through `veil.pipeline.deidentify_file`, the call `veil deid` and the node make,
with a recorder: the explanation is of the very output that would be written, audit included.
Nothing is written anywhere; the caller holds the file and decides who sees which column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pydicom.dataset import Dataset

from veil.audit import Finding, audit_output
from veil.check.evaluate import Collector, RuleResult
from veil.check.model import Outcome as CheckOutcome
from veil.check.model import RequirementProfile, Uses
from veil.errors import VeilError
from veil.explain import ExplainRow, Recording, explain_rows
from veil.io.dicomfile import SkippedFile, encode_dataset, read_bytes
from veil.pipeline import Outcome, Settings, deidentify_file


@dataclass(frozen=True)
class CheckLine:
    """One rule of a destination profile on the sample, before and after de-identification."""

    rule_id: str
    target: str
    severity: str
    need: str
    why: str
    fix: str
    before: CheckOutcome
    after: CheckOutcome | None  # None: the output could not be checked
    problem_after: str  # what is wrong after, in words (never a value)

    @property
    def lost(self) -> bool:
        """Held before, not after: de-identification broke it (veil's error, or the policy's)."""
        if self.after is None:
            return True
        worse = self.after.rank > max(self.before.rank, CheckOutcome.PASS.rank)
        return worse and self.after in (CheckOutcome.WARN, CheckOutcome.FAIL)


@dataclass(frozen=True)
class SamplePreview:
    """Everything the sample page shows; ``rows`` hold values: mask before showing."""

    name: str
    outcome: Outcome
    problem: str | None = None
    rows: tuple[ExplainRow, ...] = ()
    notes: tuple[str, ...] = ()  # what the compiler resolved for the requirements
    check: tuple[CheckLine, ...] = ()
    profiles: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = field(default_factory=tuple)  # the audit: errors, warnings

    @property
    def audit_errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def audit_warnings(self) -> int:
        return len(self.findings) - self.audit_errors


def _check_lines(
    profiles: Sequence[RequirementProfile], original: Dataset, output: Dataset | None, name: str
) -> tuple[CheckLine, ...]:
    if not profiles:
        return ()
    # One sample file: every rule of the destination is shown on it, whether or not the
    # destination would use this file within its study (`veil check` decides that per study).
    profiles = [replace(p, uses=Uses(p.uses.what)) for p in profiles]
    before = Collector(profiles)
    before.add(original, name)
    after_rules: dict[str, RuleResult] = {}
    if output is not None:
        after = Collector(profiles)
        try:
            after.add(output, name)
            after_rules = {r.rule_id: r for s in after.results() for r in s.results}
        except Exception:  # a value no check foresaw: the output is not known to be good
            after_rules = {}
    lines = []
    for series in before.results():
        for rule in series.results:
            new = after_rules.get(rule.rule_id)
            lines.append(
                CheckLine(
                    rule.rule_id,
                    rule.target,
                    rule.severity.value,
                    rule.need,
                    rule.why,
                    rule.fix,
                    rule.outcome,
                    new.outcome if new is not None else None,
                    (new.problem if new is not None else "the output could not be checked"),
                )
            )
    return tuple(lines)


def preview_file(
    data: bytes, name: str, settings: Settings, profiles: Sequence[RequirementProfile] = ()
) -> SamplePreview:
    """De-identify one file in memory and explain it; never raises for a bad file."""
    recording = Recording()
    result = deidentify_file(data, name, settings, recorder=recording)
    requirement_names = tuple(p.name for p in profiles)
    if result.outcome in (Outcome.SKIPPED, Outcome.FAILED) or result.dataset is None:
        return SamplePreview(name, result.outcome, result.problem, profiles=requirement_names)
    try:
        original = read_bytes(data, name)  # read again: the pipeline changed its copy in place
    except (SkippedFile, VeilError) as exc:
        return SamplePreview(name, Outcome.FAILED, str(exc), profiles=requirement_names)
    rows = explain_rows(original, result.dataset, recording.decisions)
    findings = audit_output(
        read_bytes(data, name),
        result.dataset,
        result.encoded or encode_dataset(result.dataset),  # a quarantined file has none
        name,
        options=settings.plan.declared_options,
    )
    return SamplePreview(
        name,
        result.outcome,
        result.problem,
        tuple(rows),
        settings.plan.notes,
        _check_lines(profiles, original, result.dataset, name),
        requirement_names,
        tuple(findings),
    )


__all__ = ["CheckLine", "SamplePreview", "preview_file"]
