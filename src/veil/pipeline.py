"""One file through veil: read -> de-identify (header, then pixels) -> audit -> encode; then
the outputs' check.

The same code for `veil deid` (batch), the node and the console, so that the same input and
key give the same bytes wherever they are de-identified (DESIGN, invariant 6):

    compiled = compile_policy("my-policy.yaml", for_profiles=["neuroquant"])
    settings = Settings(compiled.plan, mapper, audit=True)
    result = deidentify_file(data, "scans/a.dcm", settings)    # never raises for bad input
    if result.outcome is Outcome.WRITTEN: ...result.encoded...
    verdict = check_outputs(profiles, [(read_input, output_path), ...])   # per series

`deidentify_file` never raises for a bad input: every problem becomes a `FileResult` naming
the file and the problem (never a value). It tries the streaming fast path first
(`veil.engine.fast`) and hands what that does not take to the reference path (pydicom
datasets, `veil.engine.deidentify`), whose output the fast path's equals (tests hold them to
the same bytes); `FileResult.engine` says which path wrote a file and why. Every result
carries the file's burned-in text risk (header only); a file the pixel step applies to
(`veil.pixels.step_needed`: Clean Pixel Data, or a policy that quarantines files at risk) goes
through the reference path, where `veil.pixels.PixelStep` cleans its pixels or holds it.

`check_outputs` fails closed: an output it cannot evaluate is *unverifiable*, which holds a
study as surely as a rule it lost. With `Settings.profiles`, `deidentify_file` evaluates the
destination checks' facts itself (`FileResult.check`), where both datasets are at hand, and
`check_facts` aggregates them with the same verdict, reading no file again.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from veil.audit import audit_prepared, prepare
from veil.check.catalog import ProfileCatalog
from veil.check.evaluate import facts_after, file_facts
from veil.check.model import RequirementProfile
from veil.check.profile import load_profile
from veil.check.rawfacts import (
    FactsMemo,
    RawChanges,
    RawElements,
    RawFile,
    creator_names,
    facts_memo,
)
from veil.check.reads import CHARSET
from veil.check.regression import (
    PairFacts,
    Regression,
    RegressionReport,
    find_regressions,
    pair_facts,
    regressions_from_facts,
)
from veil.engine import Recorder, deidentify
from veil.engine.fast import Fallback, FastOutput, deidentify_bytes
from veil.engine.fast.header import (
    RawScan,
    apply_encoded,
    changed_tags,
    changes_in,
    changes_key,
    header_dataset,
    private_creator_elements,
    raw_scan,
    top_elements,
)
from veil.engine.fast.memo import memoised
from veil.engine.fast.parse import parse_file
from veil.engine.fast.rewrite import TopChanges
from veil.engine.fast.risk import pixel_decisions
from veil.errors import PolicyError, ProfileError, VeilError
from veil.io.dicomfile import SkippedFile, encode_dataset, read_bytes
from veil.mapping import Mapper, Patient, stand_in_uid
from veil.pixels import BurnedInRisk, PixelResult, PixelStep
from veil.policy import Layout, Plan, Policy, compile_plan, load_policy, parse_policy


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
    profiles = requirement_profiles(loaded, load_profile, for_profiles)
    plan = compile_plan(loaded, profiles, quality_checks=quality_checks)
    return CompiledPolicy(plan, tuple(profiles), loaded.layout)


def compile_policy_text(
    text: str,
    origin: str,
    catalog: ProfileCatalog,
    for_profiles: Sequence[str] = (),
    quality_checks: bool = True,
) -> CompiledPolicy:
    """Compile a policy given as text (a version saved in the node's database, a policy from
    the console): its requirements are profile *names* of ``catalog``, never files."""
    loaded = parse_policy(text, origin)
    profiles = requirement_profiles(loaded, catalog.get, for_profiles)
    plan = compile_plan(loaded, profiles, quality_checks=quality_checks)
    return CompiledPolicy(plan, tuple(profiles), loaded.layout)


def requirement_profiles(
    policy: Policy,
    load: Callable[[str], RequirementProfile],
    for_profiles: Sequence[str] = (),
) -> list[RequirementProfile]:
    """The policy's ``requirements:`` (a bad one named by its line), then ``for_profiles``;
    each profile once."""
    profiles: dict[str, RequirementProfile] = {}
    for ref in policy.requirements:
        try:
            profile = load(ref.name)
        except ProfileError as exc:
            raise PolicyError(f"{policy.source}: line {ref.line}: requirements: {exc}") from None
        profiles.setdefault(profile.name, profile)
    for name in for_profiles:
        profile = load(name)
        profiles.setdefault(profile.name, profile)
    return list(profiles.values())


class Outcome(str, Enum):
    """What happened to one input file."""

    WRITTEN = "written"  # de-identified and written
    SKIPPED = "skipped"  # not an image to de-identify (DICOMDIR, not DICOM): counted, not failed
    FAILED = "failed"  # could not be read or de-identified safely: nothing written
    QUARANTINED = "quarantined"  # de-identified but the audit found an identifier: not written


class Engine(str, Enum):
    """Which de-identification path `deidentify_file` takes."""

    AUTO = "auto"  # the streaming fast path first, the reference path for what it hands over
    REFERENCE = "reference"  # the reference (pydicom) path only


def default_engine() -> Engine:
    """``VEIL_ENGINE=reference`` makes every run without an explicit engine (the node's, the
    console's) take the reference path: for benchmarks and diagnosis."""
    try:
        return Engine(os.environ.get("VEIL_ENGINE", Engine.AUTO.value))
    except ValueError:
        return Engine.AUTO


# FileResult.engine: the fast path wrote the file; else "full: <why it handed the file over>".
FAST = "fast"
FULL = "full: "


@dataclass(frozen=True)
class Settings:
    """What one file needs besides its bytes: compiled once, pickled to worker processes."""

    plan: Plan
    mapper: Mapper
    audit: bool = True  # the node and the console always audit; `veil deid --no-audit` not
    engine: Engine = field(default_factory=default_engine)
    # Run the reference path too and compare: a difference writes the reference output.
    verify_fast: bool = False
    # Destination profiles whose facts are evaluated per file, before and after (`--for`).
    profiles: tuple[RequirementProfile, ...] = ()
    quality_checks: bool = True


@dataclass(frozen=True)
class FileResult:
    """One de-identified file in memory, before it is placed anywhere."""

    outcome: Outcome
    encoded: bytes = b""
    output: Dataset | None = None  # the reference path's output dataset (the fast path has none)
    patient_pseudonym: str = ""
    problem: str | None = None  # names the file and the problem, never a value
    findings: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # audit errors
    # Burned-in text: the always-on risk flag, and what the pixel step did (when it ran).
    burned_in: BurnedInRisk = field(default_factory=BurnedInRisk)
    pixels: PixelResult | None = None
    # (study, series, instance) UIDs of the output, from the fast path.
    uids: tuple[str, str, str] | None = None
    engine: str = ""  # FAST, or FULL + why the fast path handed the file over
    check: PairFacts | None = None  # with Settings.profiles: the destination checks' facts
    # The fast path's output (its input's parse and identifiers): the output is named from
    # them without reading either file again (veil.batch.naming).
    fast: FastOutput | None = field(default=None, repr=False, compare=False)

    @cached_property
    def dataset(self) -> Dataset | None:
        """The output's dataset (its header only, read once, when the fast path wrote it)."""
        if self.output is not None:
            return self.output
        if self.encoded and self.outcome is Outcome.WRITTEN:
            return dcmread(io.BytesIO(self.encoded), stop_before_pixels=True, force=True)
        return None

    def _uid(self, index: int, keyword: str) -> str | None:
        if self.uids is not None:
            return self.uids[index] or None
        return str(self.output.get(keyword, "") or "") or None if self.output else None

    @property
    def study(self) -> str | None:
        """The de-identified Study Instance UID."""
        return self._uid(0, "StudyInstanceUID")

    @property
    def series(self) -> str | None:
        return self._uid(1, "SeriesInstanceUID")

    @property
    def instance(self) -> str | None:
        return self._uid(2, "SOPInstanceUID")


def deidentify_file(
    data: bytes, name: str, settings: Settings, *, recorder: Recorder | None = None
) -> FileResult:
    """De-identify one file's bytes; ``name`` is only used to name the file in messages.

    The fast path is tried first; what it hands over (``Fallback``, with a value-free
    reason) goes through the reference path, which stays the definition of the output.
    ``recorder`` receives every decision of the engine (`veil.explain.Recording`: the
    console's "try it on a sample" explains a file through this same call); the fast path
    records nothing, so a recorded file goes through the reference path."""
    if recorder is not None:
        return replace(
            _reference(data, name, settings, recorder), engine=FULL + "decisions recorded"
        )
    if settings.engine is not Engine.AUTO:
        return replace(_reference(data, name, settings), engine=FULL + "reference path chosen")
    fast = deidentify_bytes(data, settings.plan, settings.mapper, audit=settings.audit)
    if isinstance(fast, Fallback):
        return replace(_reference(data, name, settings), engine=FULL + fast.reason)
    # Burned-in text, from the header alone: the risk flag for every file; a file the pixel
    # step applies to (cleaned, or held by the policy) takes the reference path.
    step, risk = pixel_decisions(fast.parsed, settings.plan.pixels)
    if step:
        return replace(_reference(data, name, settings), engine=FULL + "pixel step")
    result = FileResult(
        Outcome.WRITTEN,
        fast.encoded,
        # The fast path's memo (one HMAC and base32 text per patient, not per file).
        patient_pseudonym=memoised(settings.mapper).patient_pseudonym(fast.patient),
        uids=(fast.study_uid, fast.series_uid, fast.sop_instance_uid),
        engine=FAST,
        check=_fast_facts(data, fast, settings) if settings.profiles else None,
        burned_in=risk,
        fast=fast,
    )
    if settings.verify_fast:
        reference = _reference(data, name, settings)
        if reference.outcome is not Outcome.WRITTEN or reference.encoded != fast.encoded:
            return replace(reference, engine=FULL + "fast path mismatch (verified)")
    return result


def _fast_facts(data: bytes, fast: FastOutput, settings: Settings) -> PairFacts:
    """The checks' facts of a fast-path file, from what the worker already has: "before" from
    the input's raw elements the profiles read, memoised per identical values (the files of a
    series share them); "after" is "before" with the elements the rewrite changed, only what
    reads one of them evaluated again (`veil.check.rawfacts`). An enhanced object (its facts
    read inside sequences) or profiles whose reads cannot be told: header datasets of the
    whole input and output. Should that fail, the files are read whole as `check_outputs`
    would (fail closed after that)."""
    profiles, quality = settings.profiles, settings.quality_checks
    try:
        memo = facts_memo(profiles, quality)
        pair = _memo_facts(memo, fast) if memo is not None else None
        if pair is not None:
            return pair
        source = header_dataset(fast.parsed)
        before = file_facts(profiles, quality, source)
        output = header_dataset(parse_file(fast.encoded))
        changed = changed_tags(source, output)
        return PairFacts(before, facts_after(profiles, quality, before, output, changed))
    except Exception:  # a value these datasets cannot give: the full reads decide
        return pair_facts(
            profiles,
            quality,
            partial(read_bytes, data, "input"),
            partial(read_bytes, fast.encoded, "output"),
        )


def _memo_facts(memo: FactsMemo, fast: FastOutput) -> PairFacts | None:
    parsed, changes = fast.parsed, fast.changes
    scan = raw_scan(parsed, memo.tags, memo.position_tag)
    raw_creators = (scan.charset, scan.creators)
    if changes is None:  # implicit VR: "before" decides whether the header datasets do
        creators = partial(creator_names, scan.creators, scan.charset)
        if memo.facts(top_elements(parsed, memo.tags), creators) is None:
            return None
        raise ValueError("no record of the rewrite's changes")
    key = changes_key(changes, memo.ordered, memo.tags)
    found = memo.hit(scan.key, raw_creators, key, scan.apart)
    if found is not None:
        return found
    return _memo_miss(memo, fast, changes, scan, raw_creators, key)


def _memo_miss(
    memo: FactsMemo,
    fast: FastOutput,
    changes: TopChanges,
    scan: RawScan,
    raw_creators: object,
    key: bytes,
) -> PairFacts | None:
    """`_memo_facts` when either side is to be evaluated (`FactsMemo.pair`)."""
    parsed = fast.parsed

    def elements() -> dict[int, tuple[str, bytes]]:  # a memo miss only
        return top_elements(parsed, memo.tags)

    creators = partial(creator_names, scan.creators, scan.charset)
    raw = RawFile(scan.key, scan.apart, elements, creators, raw_creators)

    def apply(before: RawElements) -> tuple[dict[int, tuple[str, bytes]], frozenset[int]]:
        return apply_encoded(before, dict(changes_in(changes, memo.ordered, memo.tags)))

    def creators_after() -> set[str]:  # the output's (rarely asked: it records its method)
        output = parse_file(fast.encoded)
        found = private_creator_elements(output.elements, output.data)
        return creator_names(found, apply(raw.elements())[0].get(CHARSET))

    return memo.pair(raw, RawChanges(key, apply, creators_after))


def _reference(
    data: bytes, name: str, settings: Settings, recorder: Recorder | None = None
) -> FileResult:
    """De-identify one file by the reference path (pydicom datasets)."""
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
        # Burned-in text: the risk flag always; the pixel step's inputs (from the header that
        # the in-place de-identification removes) only where Clean Pixel Data applies.
        pixel_step = PixelStep.start(original, settings.plan.pixels)
        # In place: the dataset was parsed for this call only, and the audit collected what
        # it needs from it first; a deep copy cost a third of the time per file.
        result = deidentify(
            original,
            settings.plan,
            settings.mapper,
            in_place=True,
            fallback_instance_uid=stand_in,
            recorder=recorder,
            # The audit collected the input's identifying values already: the cleaner of
            # Clean Descriptors uses the same ones (veil.text), without a second walk.
            identifying=prepared.values_to_clean() if prepared is not None else None,
        )
        pixels = pixel_step.finish(result)
        refusal = pixel_step.refusal(pixels)
        if refusal is not None:
            return FileResult(
                Outcome.QUARANTINED,
                output=result,
                problem=f"{name}: {refusal}",
                burned_in=pixel_step.risk,
                pixels=pixels,
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
                output=result,
                patient_pseudonym=pseudonym,
                problem=f"{name}: the audit found {len(errors)} identifier(s) in the output; "
                "the file was not written",
                findings=errors,
                burned_in=pixel_step.risk,
                pixels=pixels,
            )
    check = None
    if settings.profiles:
        # The input read again: evaluating the checks converts the values they read, which
        # must not touch the dataset being de-identified (kept values stay raw bytes).
        check = pair_facts(
            settings.profiles,
            settings.quality_checks,
            partial(read_bytes, data, name),
            lambda: result,
        )
    return FileResult(
        Outcome.WRITTEN,
        encoded,
        result,
        pseudonym,
        check=check,
        burned_in=pixel_step.risk,
        pixels=pixels,
    )


# (read the input's bytes again, the de-identified file): inputs are read lazily, one at a time.
# The output is a path, or a function reading its bytes (an object in a store, issue 15).
OutputPair = tuple[Callable[[], bytes], Path | Callable[[], bytes]]


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


def check_facts(
    profiles: Sequence[RequirementProfile],
    facts: Sequence[tuple[PairFacts | None, str]],
    quality_checks: bool = True,
) -> CheckVerdict:
    """`check_outputs` on the facts `deidentify_file` evaluated (``FileResult.check``, with
    the output's name); an output without facts is unverifiable."""
    if not profiles:
        return CheckVerdict()
    pairs = [(pair or PairFacts.failed("no check facts"), name) for pair, name in facts]
    return _verdict(regressions_from_facts(profiles, pairs, quality_checks))


def _verdict(found: RegressionReport) -> CheckVerdict:
    return CheckVerdict(found.regressions, found.unverifiable)


def check_outputs(
    profiles: Sequence[RequirementProfile],
    pairs: Sequence[OutputPair],
    quality_checks: bool = True,
) -> CheckVerdict:
    """Re-run the destination checks on the outputs: what passed before must pass after."""
    if not profiles:
        return CheckVerdict()
    return _verdict(find_regressions(profiles, pairs, quality_checks))


__all__ = [
    "CheckVerdict",
    "CompiledPolicy",
    "Engine",
    "FileResult",
    "Outcome",
    "OutputPair",
    "Settings",
    "check_facts",
    "check_outputs",
    "compile_policy",
    "compile_policy_text",
    "deidentify_file",
    "requirement_profiles",
]
