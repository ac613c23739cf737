"""Compiling a policy once into a plan: attribute -> action, each with the rule that decided it.

Order of precedence, lowest first: Table E.1-1 basic profile; the chosen options (retain options
over clean options); destination requirements; the policy's own overrides. A requirement can
only keep what a named option of the standard would keep, in that option's form (a shifted date,
a cleaned description, a kept age); anything else is a conflict that stops the compile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydicom.datadict import tag_for_keyword

from veil.dicom import DATE_VRS, TEXT_VRS, dictionary_vr, is_private
from veil.errors import PolicyError, RequirementConflictError
from veil.pixels.settings import PixelSettings
from veil.policy.model import Action, Choice, Override, Policy, PrivateSelector, parse_action
from veil.standard import (
    EDITION,
    OPTION_PRECEDENCE,
    Option,
    ProfileRow,
    TagPattern,
    profile_rows,
    safe_private_rows,
)

REMOVING = {"X", "Z", "D", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}


class PreservationLike(Protocol):
    """An attribute a destination needs kept (`veil.check.model.Preservation`)."""

    @property
    def keyword(self) -> str: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def need(self) -> str: ...
    @property
    def derive_age(self) -> bool: ...
    @property
    def shift_dates(self) -> bool: ...


class PrivateKeepLike(Protocol):
    """A private-block decision of a destination (`veil.check.model.PrivateKeep`)."""

    @property
    def creator(self) -> str: ...
    @property
    def element(
        self,
    ) -> int | None: ...  # the element within the block (low byte); None: the whole block
    @property
    def keep(self) -> bool: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def need(self) -> str: ...
    # Kept with the input's identifying values masked inside it.
    @property
    def clean(self) -> bool: ...


class ProfileLike(Protocol):
    """What the compiler reads of a destination requirement profile (frozen: read-only)."""

    @property
    def name(self) -> str: ...

    def preservations(self, quality_checks: bool = True) -> Sequence[PreservationLike]: ...

    def private_creators(self) -> Sequence[tuple[str, str]]: ...

    def private_elements(self) -> Sequence[PrivateKeepLike]: ...


@dataclass(frozen=True)
class Conflict:
    """A privacy rule and a destination requirement that cannot both hold, both named."""

    attribute: str  # the keyword (or tag) both rules speak of
    privacy_rule: str  # the rule that removes it (Table E.1-1 row and option, an override)
    requirement: str  # "neuroquant/manufacturer (profile neuroquant)"
    message: str  # the whole story, with the fix
    line: int = 0  # the policy file's line, when an override is one side


class ConflictFound(RequirementConflictError):
    """A conflict that stops a compile; ``conflict`` says which two rules."""

    def __init__(self, conflict: Conflict) -> None:
        super().__init__(conflict.message)
        self.conflict = conflict


@dataclass(frozen=True)
class Rule:
    """What to do with an attribute and why (shown by `veil explain`)."""

    action: Action | Choice  # a Choice for a compound code of Table E.1-1 ("X/Z/D")
    source: str
    value: str | None = None  # for REPLACE
    # The basic-profile action, for a C that cannot be done safely.
    fallback: Action | Choice = Action.REMOVE
    # The standard's option this rule acts as, when a requirement keeps something the way an
    # option would: declared in (0012,0064) so the output says what was retained.
    declares: Option | None = None

    @property
    def compound(self) -> bool:
        return isinstance(self.action, Choice)


@dataclass(frozen=True)
class Plan:
    """A compiled policy: cheap to look up per element, picklable to worker processes."""

    policy_name: str
    options: frozenset[Option]
    exact: dict[int, Rule]
    patterns: tuple[tuple[TagPattern, Rule], ...]
    private_default: Rule
    private_keep: dict[tuple[str, int | None, int | None], Rule]
    requirement_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # conflicts resolved at compile time, in words
    shift_dates: bool = False
    derive_age: bool = False
    method_text: tuple[str, ...] = field(default=())
    # Options in force, plus those that requirements act as (see Rule.declares): what the
    # output declares in (0012,0064) and what the audit takes as retained on purpose.
    declared_options: frozenset[Option] = frozenset()
    # Burned-in text: the pixel step's settings. Clean Pixel Data is declared per file, by the
    # pixel step, only where every frame was cleaned and verified (never by the plan).
    pixels: PixelSettings = field(default_factory=PixelSettings)
    # `set` overrides: (tag, value, rule source), added at the top level when absent.
    additions: tuple[tuple[int, str, str], ...] = ()

    def rule_for(self, tag: int) -> Rule | None:
        """The rule for a public (or exact private) tag; None means not listed: keep."""
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for pattern, pattern_rule in self.patterns:
            if pattern.matches(tag):
                return pattern_rule
        return None

    def private_rule(self, creator: str | None, group: int, element_low: int) -> Rule:
        """The rule for a private element, found by its creator (not its element number)."""
        if creator is not None:
            creator = creator.strip()
            for key in (
                (creator, group, element_low),
                (creator, None, element_low),
                (creator, group, None),
                (creator, None, None),
            ):
                rule = self.private_keep.get(key)
                if rule is not None:
                    return rule
        return self.private_default


def _row_rule(row: ProfileRow, options: frozenset[Option]) -> Rule:
    action = row.basic
    source = f"Table E.1-1 {row.tag_text} {row.name}: basic profile {row.basic}"
    for option in OPTION_PRECEDENCE:
        if option in options:
            option_action = row.option_action(option)
            if option_action:
                action = option_action
                source = (
                    f"Table E.1-1 {row.tag_text} {row.name}: option {option.value} {option_action}"
                )
    return Rule(parse_action(action), source, fallback=parse_action(row.basic))


def _resolve_requirement(
    tag: int, current: Rule, row: ProfileRow | None, preservation: PreservationLike, profile: str
) -> tuple[Rule, str | None]:
    """The safest rule that keeps what a requirement needs, or a conflict error."""
    keyword = preservation.keyword
    need = f"requirement {preservation.rule_id} ({preservation.need}, profile {profile})"
    if current.action.value not in REMOVING:
        return current, None
    if keyword == "PatientAge" or preservation.derive_age:
        return (
            Rule(
                Action.DERIVE_AGE,
                f"{need}: kept, derived from birth date and study date "
                "when absent (as option retain-patient-characteristics would keep it)",
                declares=Option.RETAIN_PATIENT_CHARACTERISTICS,
            ),
            "PatientAge kept (derived from birth date and study date where absent) for "
            f"{preservation.rule_id}; PatientBirthDate still removed",
        )
    if keyword == "PatientBirthDate":
        return current, (
            f"{preservation.rule_id} asks for PatientBirthDate: satisfied by keeping PatientAge "
            "derived from it; the birth date itself is removed"
        )
    vr = dictionary_vr(tag)
    if row is not None:
        allowed = {action for _, action in row.options}
        if vr in DATE_VRS and "C" in {row.option_action(Option.RETAIN_LONG_MODIFIED_DATES)}:
            return (
                Rule(
                    Action.SHIFT,
                    f"{need}: dates shifted by the patient's offset "
                    "(as option retain-longitudinal-modified-dates)",
                    declares=Option.RETAIN_LONG_MODIFIED_DATES,
                ),
                f"{keyword} kept with the patient's date offset for {preservation.rule_id}",
            )
        if vr in TEXT_VRS and row.option_action(Option.CLEAN_DESCRIPTORS) == "C":
            return (
                Rule(
                    Action.CLEAN,
                    f"{need}: cleaned of identifying values and dates "
                    "(as option clean-descriptors)",
                    declares=Option.CLEAN_DESCRIPTORS,
                ),
                f"{keyword} kept but cleaned for {preservation.rule_id}",
            )
        if "K" in allowed:
            option = next(o for o, a in row.options if a == "K")
            return (
                Rule(
                    Action.KEEP,
                    f"{need}: kept (as option {option.value} would)",
                    declares=option,
                ),
                f"{keyword} kept for {preservation.rule_id} (allowed by option {option.value})",
            )
        if vr == "UI":
            return Rule(Action.UID, f"{need}: replaced by a keyed UID"), None
    requirement = f"{preservation.rule_id} (profile {profile})"
    raise ConflictFound(
        Conflict(
            keyword,
            current.source,
            requirement,
            f"{requirement} needs {keyword}, but {current.source} removes it and no option of "
            "the standard allows keeping it; drop that requirement or add an explicit "
            "override in the policy if your data protection officer accepts it",
        )
    )


def _override_rule(override: Override, origin: str) -> Rule:
    # A `set` value is the user's own knowledge (a scanner's manufacturer), not patient data:
    # shown, so that `veil explain` and `veil policy show --rules` say what is written.
    said = f" {override.value!r}" if override.action is Action.SET else ""
    return Rule(
        override.action,
        f"override at {origin} line {override.line}: {override.label} -> "
        f"{override.action.name.lower()}{said}",
        override.value,
    )


PrivateKey = tuple[str, int | None, int | None]  # (creator, group or None, element or None)


def _private_where(decision: PrivateKeepLike) -> str:
    if decision.element is None:
        return f'private block "{decision.creator}"'
    return f'private element "{decision.creator}" xx{decision.element:02X}'


@dataclass
class _Compiler:
    """One compile: the table, then requirements, then overrides, each step a method."""

    policy: Policy
    profiles: list[ProfileLike]
    quality_checks: bool
    exact: dict[int, Rule] = field(default_factory=dict)
    rows_by_tag: dict[int, ProfileRow] = field(default_factory=dict)
    patterns: list[tuple[TagPattern, Rule]] = field(default_factory=list)
    private_default: Rule = field(
        default_factory=lambda: Rule(
            Action.REMOVE, "Table E.1-1 (gggg,eeee) odd groups: private attributes removed"
        )
    )
    private_keep: dict[PrivateKey, Rule] = field(default_factory=dict)
    removed_private: set[PrivateKey] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    derive_age: bool = False
    shift: bool = False
    # None: the first conflict stops the compile; a list: every conflict is collected there
    # and the compile goes on (the console's live check shows them all at once).
    collected: list[Conflict] | None = None
    additions: dict[int, tuple[str, str]] = field(default_factory=dict)

    def conflict(self, conflict: Conflict) -> None:
        if self.collected is None:
            raise ConflictFound(conflict)
        self.collected.append(conflict)

    def table(self) -> None:
        """Table E.1-1 with the policy's options, and the safe private list when retained."""
        options = self.policy.options
        self.shift = Option.RETAIN_LONG_MODIFIED_DATES in options
        for row in profile_rows():
            rule = _row_rule(row, options)
            if row.pattern.odd_groups:
                retained = Option.RETAIN_SAFE_PRIVATE in options
                self.private_default = Rule(
                    Action.REMOVE,
                    f"Table E.1-1 {row.tag_text}: basic profile X"
                    + (" (not on the safe private list)" if retained else ""),
                )
            elif row.pattern.exact:
                self.exact[row.pattern.tag] = rule
                self.rows_by_tag[row.pattern.tag] = row
            else:
                self.patterns.append((row.pattern, rule))
        if Option.RETAIN_SAFE_PRIVATE in options:
            for safe in safe_private_rows():
                self.private_keep[(safe.creator, safe.group, safe.element_low)] = Rule(
                    Action.KEEP,
                    f'Table E.3.10-1 safe private "{safe.creator}" '
                    f"({safe.group:04X},xx{safe.element_low:02X}) "
                    f"{safe.meaning}: option retain-safe-private",
                )

    def requirements(self, profile: ProfileLike) -> None:
        """What ``profile`` needs kept, resolved against privacy by the safest transform."""
        for preservation in profile.preservations(self.quality_checks):
            tag = tag_for_keyword(preservation.keyword)
            if tag is None:
                continue
            current = self.exact.get(tag) or Rule(Action.KEEP, "not in Table E.1-1: kept")
            try:
                rule, note = _resolve_requirement(
                    tag, current, self.rows_by_tag.get(tag), preservation, profile.name
                )
            except ConflictFound as found:
                self.conflict(found.conflict)
                continue
            if rule is not current:
                self.exact[tag] = rule
            self.derive_age |= rule.action is Action.DERIVE_AGE
            self.shift |= rule.action is Action.SHIFT
            if note:
                self.notes.append(note)
        for decision in profile.private_elements():
            self.private_decision(profile.name, decision)

    def private_decision(self, profile: str, decision: PrivateKeepLike) -> None:
        """One private block or element a profile keeps, cleans or removes; removal for
        privacy wins over a keep, and a clean is never downgraded to a plain keep."""
        key: PrivateKey = (decision.creator.strip(), None, decision.element)
        where = _private_where(decision)
        origin = f"requirement {decision.rule_id} (profile {profile})"
        if not decision.keep:
            self.removed_private.add(key)
            self.private_keep[key] = Rule(
                Action.REMOVE,
                f"{origin}: {where} removed (it carries identifying values); the rest of the "
                "block is kept",
            )
            self.notes.append(
                f"{where} removed although {decision.rule_id} keeps its block: it carries "
                "identifying values"
            )
        elif key in self.removed_private:
            return
        elif decision.clean:
            # An engine without private cleaning removes a "C" private element: safe.
            self.private_keep[key] = Rule(
                Action.CLEAN,
                f"{origin}: {where} kept with the input's identifying values masked inside it "
                f"({decision.need})",
            )
            self.notes.append(
                f"{where} kept for {decision.rule_id}, identifying values inside masked"
            )
        elif self.private_keep.get(key, Rule(Action.KEEP, "")).action is not Action.CLEAN:
            self.private_keep[key] = Rule(Action.KEEP, f"{origin}: {where} kept ({decision.need})")
            self.notes.append(f"{where} kept for {decision.rule_id} (by private creator)")

    def shift_every_date(self) -> None:
        # One offset for every date of a patient: a date kept shifted next to one removed or
        # kept unshifted would break intervals, so every date that is kept at all moves.
        for tag, rule in list(self.exact.items()):
            if rule.action is Action.CLEAN and dictionary_vr(tag) in DATE_VRS:
                self.exact[tag] = Rule(
                    Action.SHIFT, rule.source + " (shifted by the patient's offset)"
                )

    def override(self, override: Override) -> None:
        """The policy's own word on one attribute, last: it wins, unless it removes what a
        destination needs (a conflict, named by line)."""
        source = self.policy.source
        rule = _override_rule(override, source)
        if override.private is not None:
            selector: PrivateSelector = override.private
            self.private_keep[(selector.creator, selector.group, selector.element)] = rule
            return
        if override.tag is None:  # the loader gives every override a tag or a creator
            raise PolicyError(f"{source}: line {override.line}: the override names no attribute")
        tag = override.tag
        if is_private(tag) and (tag & 0xFFFF) >= 0x1000:  # a private data element
            raise RequirementConflictError(
                f"{source}: line {override.line}: a private element must be named by its "
                "creator ({creator: ..., group: ..., element: ...}), not by its element number"
            )
        if override.action in (Action.REMOVE, Action.EMPTY):
            self._refuse_removing_a_requirement(override, tag)
        self.exact[tag] = rule
        if override.action is Action.SET and override.value is not None:
            self.additions[tag] = (override.value, rule.source)
        self.shift |= override.action is Action.SHIFT

    def _refuse_removing_a_requirement(self, override: Override, tag: int) -> None:
        for profile in self.profiles:
            for preservation in profile.preservations(self.quality_checks):
                if tag_for_keyword(preservation.keyword) == tag:
                    self.conflict(
                        Conflict(
                            preservation.keyword,
                            f"override at {self.policy.source} line {override.line}: "
                            f"{override.label} -> {override.action.name.lower()}",
                            f"{preservation.rule_id} (profile {profile.name})",
                            f"{self.policy.source}: line {override.line}: the override removes "
                            f"{preservation.keyword}, which {preservation.rule_id} (profile "
                            f"{profile.name}) needs for {preservation.need}; remove one of "
                            "the two",
                            override.line,
                        )
                    )
                    return

    def plan(self) -> Plan:
        policy, options = self.policy, self.policy.options
        method = [f"veil; PS3.15 E.1-1 {EDITION} basic profile"]
        method += [
            f"option {option.value}"
            for option in sorted(options, key=lambda o: o.value)
            if option is not Option.CLEAN_PIXEL_DATA  # declared per file by the pixel step
        ]
        method += [f"policy {policy.name}"[:64]]
        method += [f"requirements {profile.name}"[:64] for profile in self.profiles]
        declared = frozenset(r.declares for r in self.exact.values() if r.declares is not None)
        return Plan(
            policy_name=policy.name,
            options=options,
            exact=self.exact,
            patterns=tuple(self.patterns),
            private_default=self.private_default,
            private_keep=self.private_keep,
            requirement_names=tuple(profile.name for profile in self.profiles),
            notes=tuple(dict.fromkeys(self.notes)),
            shift_dates=self.shift,
            derive_age=self.derive_age,
            method_text=tuple(text[:64] for text in method),
            # Clean Pixel Data is declared per file by the pixel step, never by the plan.
            declared_options=(options | declared) - {Option.CLEAN_PIXEL_DATA},
            pixels=policy.pixels,
            additions=tuple(
                (tag, value, source) for tag, (value, source) in sorted(self.additions.items())
            ),
        )


def compile_plan(
    policy: Policy, profiles: Iterable[ProfileLike] = (), quality_checks: bool = True
) -> Plan:
    """Compile a policy (and destination requirement profiles) into a plan, once.

    Precedence, lowest first: Table E.1-1 with the options; destination requirements;
    the policy's overrides. Shifting one date of a patient shifts every kept date.
    The first conflict between a privacy rule and a requirement stops it (ConflictFound).
    """
    return _compile(_Compiler(policy, list(profiles), quality_checks))


def find_conflicts(
    policy: Policy, profiles: Iterable[ProfileLike] = (), quality_checks: bool = True
) -> tuple[Plan, list[Conflict]]:
    """Every conflict of ``policy`` with ``profiles``, not only the first, and the plan as it
    would be if each conflicting requirement were dropped (for a live view while editing;
    never for de-identifying: a plan with conflicts loses what a destination needs)."""
    collected: list[Conflict] = []
    compiler = _Compiler(policy, list(profiles), quality_checks, collected=collected)
    return _compile(compiler), collected


def _compile(compiler: _Compiler) -> Plan:
    compiler.table()
    for profile in compiler.profiles:
        compiler.requirements(profile)
    if compiler.shift:
        compiler.shift_every_date()
    for override in compiler.policy.overrides:
        compiler.override(override)
    return compiler.plan()
