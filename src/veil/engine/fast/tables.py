"""Decisions compiled once per plan: the rule of each tag, of each private creator's element,
and the action each rule comes to per (SOP class, sequence path, mode), looked up by the
fast path per element instead of searched (Table E.1-1's tag patterns are many)."""

from __future__ import annotations

from dataclasses import dataclass, field

from veil.dicom import DATE_VRS, FILE_META_GROUP, TEXT_VRS, is_private, tag_of
from veil.engine.context import Context, Mode
from veil.engine.handlers import CLEAN_KEEPS, effective_action
from veil.policy.model import Action
from veil.policy.plan import Plan, Rule
from veil.standard import Option

_MISSING = object()


class Quick:
    """A per-element decision that needs no value: copy the element's bytes, or drop it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


COPY = Quick("copy")
REMOVE = Quick("remove")
OTHER = Quick("other")
EMPTIED = Quick("emptied")  # a listed element set to an empty value (its bytes memoised)
# A listed element the plan keeps as it is (not a sequence): converted and written back as the
# reference path does (veil.engine.fast.rewrite.Rewriter.converted), without the route to it.
CONVERTED = Quick("converted")
# The top level's PatientAge when the plan keeps it as it is: the derived age when there is one
# (its route in Rewriter.element), else converted.
AGE = Quick("age")
LISTED = Quick("listed")  # (inside `Tables` only: decided by the plan's action)
_UNLISTED_LOOKED_INTO = frozenset({"SQ", "UI", "UN", "PN"} | TEXT_VRS | DATE_VRS)
# Of those, what an unlisted element may be changed for at any mode: text, dates and names
# stay as they are in a level walked by the plan (mode PLAN), but for the code meaning.
_UNLISTED_CHANGED = frozenset({"SQ", "UI", "UN"})
_CODE_MEANING = tag_of("CodeMeaning")
# Top-level elements veil may add or replace (the derived age, the de-identification record).
_TOP_ONLY = frozenset(
    tag_of(keyword)
    for keyword in (
        "PatientAge",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
    )
)
_PATIENT_AGE = tag_of("PatientAge")
# Top-level values the reference pipeline's burned-in risk check reads before the walk
# (veil.pixels.risk.burned_in_risk): pydicom converts them, so they are written re-encoded.
# The first three always; the last two on a condition (handed over when that could matter).
RISK_ALWAYS_READ = frozenset(tag_of(k) for k in ("Modality", "ImageType", "BurnedInAnnotation"))
RISK_READ = RISK_ALWAYS_READ | frozenset(tag_of(k) for k in ("ConversionType", "NumberOfFrames"))
# The top-level values the fast path reports (UIDs for the output's name and record).
_REPORTED = frozenset(
    tag_of(keyword)
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
)


@dataclass
class Tables:
    plan: Plan
    rules: dict[int, Rule | None] = field(default_factory=dict)
    private: dict[tuple[str | None, int, int], Rule] = field(default_factory=dict)
    actions: dict[tuple[str, int, tuple[str, ...], Mode], Action] = field(default_factory=dict)
    # (SOP class, sequence path, mode, top) -> (tag, VR) -> code: one dict per kind of level,
    # so that the per-element lookup hashes a (tag, VR) pair only (a key with the Mode enum
    # cost ~0.1 us more), and the plan's action (by SOP class and path) is decided once.
    quick: dict[tuple[str, tuple[str, ...], Mode, bool], dict[tuple[int, str], Quick]] = field(
        default_factory=dict
    )
    # The fast path's memos of what follows from this plan and a few of a file's bytes: the
    # de-identification record's elements, the derived age and whether an age is valid
    # (veil.engine.fast.rewrite).
    records: dict[tuple[object, ...], tuple[tuple[int, bytes], ...]] = field(default_factory=dict)
    ages: dict[tuple[object, ...], str | None] = field(default_factory=dict)
    valid_ages: dict[tuple[tuple[str, ...], bytes], bool] = field(default_factory=dict)

    def quick_for(
        self, ctx: Context, path: tuple[str, ...], mode: Mode, top: bool
    ) -> dict[tuple[int, str], Quick]:
        """The memo of ``quick_code`` for the levels of this kind."""
        key = (ctx.sop_class, path, mode, top)
        found = self.quick.get(key)
        if found is None:
            found = self.quick[key] = {}
        return found

    def quick_code(
        self, tag: int, vr: str, ctx: Context, path: tuple[str, ...], mode: Mode, top: bool
    ) -> Quick:
        """COPY, REMOVE or EMPTIED when that follows from the tag, VR, the level and the plan's
        action alone (most elements), else OTHER; memoised in ``quick_for``."""
        code = self._quick(tag, vr, mode, top)
        if code is LISTED:
            code = self._listed(tag, vr, ctx, path, mode)
            if top and tag == _PATIENT_AGE:
                code = AGE if code is CONVERTED else OTHER
        self.quick_for(ctx, path, mode, top)[(tag, vr)] = code
        return code

    def _listed(self, tag: int, vr: str, ctx: Context, path: tuple[str, ...], mode: Mode) -> Quick:
        """A listed element by its action here: removed, emptied (not a sequence: its length
        form is its own), else its own route (veil.engine.fast.rewrite.Rewriter.listed)."""
        rule = self.rule_for(tag)
        assert rule is not None
        action = self.action(rule, ctx, path, tag, mode)
        if action is Action.REMOVE:
            return REMOVE
        if action is Action.EMPTY and vr != "SQ":
            return EMPTIED
        if vr != "SQ" and kept_as_it_is(action, vr):
            return CONVERTED
        return OTHER

    def _quick(self, tag: int, vr: str, mode: Mode, top: bool) -> Quick:
        group = tag >> 16
        if is_private(tag):
            return self._private()
        if top and tag == _PATIENT_AGE and vr not in ("UN", "SQ") and self.rule_for(tag):
            return LISTED  # AGE when kept as it is (quick_code), else its own route
        if vr == "UN" or (top and tag in _TOP_ONLY) or tag in _REPORTED:
            return OTHER
        if top and tag in RISK_READ:
            return OTHER
        if tag & 0xFFFF == 0 or group == FILE_META_GROUP:
            return REMOVE
        if 0x6000 <= group <= 0x60FF:
            data_rule = self.rule_for((group << 16) | 0x3000)
            if data_rule is not None and data_rule.action is not Action.KEEP:
                return REMOVE
        rule = self.rule_for(tag)
        if rule is None:
            if vr in _UNLISTED_CHANGED or (vr in _UNLISTED_LOOKED_INTO and mode is not Mode.PLAN):
                return OTHER  # sequences, UIDs, and text replaced in dummied or cleaned items
            if tag == _CODE_MEANING and self.cleans_text:
                return OTHER  # cleaned as free text (veil.engine.fast.rewrite.unlisted)
            return COPY
        if rule.action is Action.REMOVE:
            return REMOVE
        return LISTED

    def _private(self) -> Quick:
        """Every private element goes when the plan keeps none (the rewriter's
        private_decisions then keeps nothing): decided here, not per element."""
        plan = self.plan
        if not plan.private_keep and plan.private_default.action is Action.REMOVE:
            return REMOVE
        return OTHER

    @property
    def cleans_text(self) -> bool:
        options = self.plan.options
        return Option.CLEAN_DESCRIPTORS in options or Option.CLEAN_STRUCTURED_CONTENT in options

    def rule_for(self, tag: int) -> Rule | None:
        found = self.rules.get(tag, _MISSING)
        if found is _MISSING:
            found = self.rules[tag] = self.plan.rule_for(tag)
        return found  # type: ignore[return-value]

    def private_rule(self, creator: str | None, group: int, low: int) -> Rule:
        key = (creator, group, low)
        found = self.private.get(key)
        if found is None:
            found = self.private[key] = self.plan.private_rule(creator, group, low)
        return found

    def action(
        self, rule: Rule, ctx: Context, path: tuple[str, ...], tag: int, mode: Mode
    ) -> Action:
        key = (ctx.sop_class, tag, path, mode)
        found = self.actions.get(key)
        if found is None:
            found = self.actions[key] = effective_action(rule, ctx, path, tag, mode)[0]
        return found


def kept_as_it_is(action: Action, vr: str) -> bool:
    """Whether a listed element's action leaves its value as it is (the reference path then
    converts it and writes it back)."""
    return (
        action in (Action.KEEP, Action.DERIVE_AGE)
        or (action is Action.CLEAN and vr in CLEAN_KEEPS)
        or (action is Action.SHIFT and vr == "TM")
    )


_TABLES: dict[int, tuple[Plan, Tables]] = {}


def tables_for(plan: Plan) -> Tables:
    """The tables of a plan, compiled on first use and kept for the process's life (a
    worker serves one job, a node a handful of plans)."""
    entry = _TABLES.get(id(plan))
    if entry is None or entry[0] is not plan:
        if len(_TABLES) > 64:
            _TABLES.clear()
        entry = _TABLES[id(plan)] = (plan, Tables(plan))
    return entry[1]
