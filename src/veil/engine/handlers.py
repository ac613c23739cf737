"""One handler per action: what it does to an element, and how it says so.

Each handler applies its action to one element of a pydicom dataset (the reference path) and
describes itself in words (`veil explain` shows that text next to the rule that chose the
action). The value-level functions (``remap_uids``, ``shifted_values``, ``pseudonym_source``,
``hashed_values``...) are shared with the streaming fast path (veil.engine.fast), so both
paths compute the same new values by construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.dicom import DATE_VRS, TEXT_VRS, dictionary_vr, tag_of, values_of
from veil.engine.context import Context, Mode
from veil.engine.values import dummy_value, shift_da, shift_dt
from veil.errors import DeidentificationError
from veil.mapping import Mapper, Patient
from veil.policy.model import Action, Choice
from veil.policy.plan import Rule
from veil.standard import iod_attribute_types

if TYPE_CHECKING:
    from veil.engine.walk import Walker

PATIENT_ID = tag_of("PatientID")
NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"})
BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
# Values of these VRs stay as they are when cleaned: times move with no whole-day shift,
# ages and codes and numbers say nothing about who the patient is.
CLEAN_KEEPS = frozenset({"TM", "AS", "CS", "IS", "DS", "US", "SS", "UL", "SL", "FL", "FD"})
HASH_LIMITS = {"SH": 16, "CS": 16, "AE": 16}


# -- value-level semantics, shared with the fast path -------------------------------------
def one_or_many(values: list[object]) -> object:
    """What an element's value becomes for these values (pydicom's single/multi convention)."""
    return values[0] if len(values) == 1 else values


def empty_value(vr: str) -> object:
    """The value of an emptied (zero-length) element of this VR."""
    if vr == "SQ":
        return Sequence()
    if vr in BINARY_VRS:
        return b""
    if vr in NUMBER_VRS:
        return None
    return ""


def remap_uids(values: list[object], mapper: Mapper) -> list[object]:
    return [mapper.uid(str(v)) if str(v) else v for v in values]


def shifted_values(vr: str, values: list[object], days: int) -> list[object] | None:
    """Dates and date-times moved back by ``days``; None when one is not a date (then the
    element is emptied: it cannot be moved safely). Times are never given here."""
    shifter = shift_da if vr == "DA" else shift_dt
    new: list[object] = []
    for value in values:
        shifted = shifter(str(value), days)
        if shifted is None:
            return None
        new.append(shifted)
    return new


def pseudonym_source(top: Patient, item_ids: tuple[object, object] | None) -> Patient:
    """Who a pseudonym is made for. At the top level: the dataset's patient (veil.mapping
    `Patient.of`, read before anything changed: Issuer of Patient ID + PatientID, or the study
    for a placeholder ID). In a nested item with its own PatientID (Other Patient IDs):
    that patient; ``item_ids`` is the item's (PatientID, IssuerOfPatientID) values then."""
    if item_ids is None:
        return top
    patient_id, issuer = item_ids
    return Patient(str(patient_id or ""), str(issuer or ""), top.study_uid, top.instance_uid)


def pseudonym_applies(tag: int, vr: str) -> bool:
    return vr == "PN" or tag == PATIENT_ID or vr in ("LO", "SH")


def hashed_values(tag: int, vr: str, values: list[object], mapper: Mapper) -> list[object]:
    limit = HASH_LIMITS.get(vr, 52)
    return [mapper.hashed_value(f"hash:{tag:08X}", str(v), limit) for v in values]


def resolve_choice(
    choice: Choice, sop_class: str, path: tuple[str, ...], tag: int
) -> tuple[Action, str]:
    """Choose among X/Z/D/U by the attribute's type in the IOD (1: D or U, 2: Z, 3/absent: X)."""
    types = iod_attribute_types().get(sop_class)
    key = "/".join([*path, f"{tag:08X}"])
    attr_type = types.get(key) if types else None
    choices = choice.actions
    if attr_type == "1":
        for pick in (Action.DUMMY, Action.UID, Action.EMPTY):
            if pick in choices:
                return pick, "type 1 in this IOD"
    if attr_type == "2":
        # U (keep the sequence, remap the UIDs inside) before Z: an emptied reference
        # sequence is valid but loses the links that processing follows.
        for pick in (Action.UID, Action.EMPTY, Action.DUMMY):
            if pick in choices:
                return pick, "type 2 in this IOD"
    if Action.REMOVE in choices:
        reason = "type 3 in this IOD" if attr_type else "not in this IOD (or unknown IOD)"
        return Action.REMOVE, reason
    pick = Action.EMPTY if Action.EMPTY in choices else choices[0]
    return pick, "no removal allowed; unknown type"


def effective_action(
    rule: Rule, ctx: Context, path: tuple[str, ...], tag: int, mode: Mode
) -> tuple[Action, str]:
    """The action a rule comes to for this element, and why (compound codes resolved; a
    clean of a date becomes a shift when the plan shifts dates)."""
    action, why = rule.action, rule.source
    if isinstance(action, Choice):
        action, reason = resolve_choice(action, ctx.sop_class, path, tag)
        why = f"{why} -> {action.value} ({reason})"
    if (
        action is Action.CLEAN
        and mode is not Mode.CLEAN
        and ctx.plan.shift_dates
        and dictionary_vr(tag) in DATE_VRS
    ):
        action = Action.SHIFT
    return action, why


def clean_fallback(rule: Rule, ctx: Context, path: tuple[str, ...], tag: int) -> Action:
    """The basic-profile action for a value that cannot be cleaned safely."""
    fallback = rule.fallback
    if isinstance(fallback, Choice):
        return resolve_choice(fallback, ctx.sop_class, path, tag)[0]
    return fallback


SET_SUMMARY = "set to the policy's value (added at the top level when absent)"


# -- handlers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    """One element under decision: its dataset, tag, and where it is."""

    ds: Dataset
    tag: int
    path: tuple[str, ...]  # sequence keywords from the top, for IOD types
    where: str  # the element path text, for explain
    mode: Mode
    rule: Rule


@dataclass(frozen=True)
class Applied:
    """What a handler did: ``removed`` elements are gone; ``note`` adds to the explanation."""

    removed: bool = False
    note: str = ""


class Handler(ABC):
    """Applies one action to one element and says what it does."""

    action: Action
    summary: str

    def describe(self) -> str:
        """What this action does, in a few words (for `veil explain` and documentation)."""
        return self.summary

    @abstractmethod
    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied: ...


class Keep(Handler):
    action = Action.KEEP
    summary = "kept as it is (sequences: their items walked by the plan)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        if elem.VR == "SQ":
            walker.descend(elem, site.path, site.where, site.mode)
        return Applied()


class Remove(Handler):
    action = Action.REMOVE
    summary = "removed"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        del site.ds[site.tag]
        return Applied(removed=True)


class Empty(Handler):
    action = Action.EMPTY
    summary = "emptied (zero length; the attribute stays, as its type 2 requires)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        elem.value = empty_value(elem.VR)
        return Applied()


class Dummy(Handler):
    action = Action.DUMMY
    summary = "replaced by a dummy value of its VR (sequences: every text inside replaced)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        if elem.VR == "SQ":
            walker.descend(elem, site.path, site.where, Mode.DUMMY)
        else:
            elem.value = dummy_value(elem.VR)
        return Applied()


class Uid(Handler):
    action = Action.UID
    summary = "replaced by a keyed UID under 2.25 (same input and key, same UID)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        if elem.VR == "SQ":
            walker.descend(elem, site.path, site.where, site.mode)
        else:
            elem.value = one_or_many(remap_uids(values_of(elem.value), walker.ctx.mapper))
        return Applied()


def shift_element(elem: DataElement, ctx: Context) -> None:
    """Move a DA/DT element back by the patient's offset (a TM stays); not a date: emptied."""
    if elem.VR == "TM":
        return
    new = shifted_values(elem.VR, values_of(elem.value), ctx.offset)
    if new is None:
        elem.value = empty_value(elem.VR)
        return
    if new:
        elem.value = one_or_many(new)
    ctx.shifted = True


def clean_text(elem: DataElement, ctx: Context) -> None:
    elem.value = one_or_many([ctx.clean(str(v)) for v in values_of(elem.value)])


class Clean(Handler):
    action = Action.CLEAN
    summary = (
        "cleaned: dates shifted, identifying values and dates removed from text, UIDs keyed; "
        "a value that cannot be cleaned safely gets the basic profile's action"
    )

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        vr = elem.VR
        if vr in ("DA", "DT"):
            shift_element(elem, walker.ctx)
        elif vr in CLEAN_KEEPS:
            pass
        elif vr in TEXT_VRS:
            clean_text(elem, walker.ctx)
        elif vr == "UI":
            elem.value = one_or_many(remap_uids(values_of(elem.value), walker.ctx.mapper))
        elif vr == "SQ":
            walker.descend(elem, site.path, site.where, Mode.CLEAN)
        else:
            fallback = clean_fallback(site.rule, walker.ctx, site.path, site.tag)
            note = f"; cannot clean a {vr} value safely -> basic action {fallback.value}"
            if fallback is Action.REMOVE:
                del site.ds[site.tag]
                return Applied(removed=True, note=note)
            if fallback is Action.EMPTY:
                elem.value = empty_value(vr)
            else:
                elem.value = dummy_value(vr)
            return Applied(note=note)
        return Applied()


class Shift(Handler):
    action = Action.SHIFT
    summary = "moved back by the patient's keyed date offset (times kept)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        if elem.VR in ("DA", "DT", "TM"):
            shift_element(elem, walker.ctx)
            return Applied()
        elem.value = empty_value(elem.VR)
        return Applied(note=f"; a {elem.VR} value is not a date -> emptied")


class Pseudonym(Handler):
    action = Action.PSEUDONYM
    summary = "replaced by the patient's keyed pseudonym (from the lookup table first)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        if not pseudonym_applies(site.tag, elem.VR):
            elem.value = empty_value(elem.VR)
            return Applied()
        # A nested item with its own PatientID (Other Patient IDs) is that patient.
        item_ids = None
        if site.path and "PatientID" in site.ds:
            item_ids = (site.ds.get("PatientID", ""), site.ds.get("IssuerOfPatientID", ""))
        patient = pseudonym_source(walker.ctx.patient, item_ids)
        elem.value = walker.ctx.mapper.patient_pseudonym(patient)
        return Applied()


class Hash(Handler):
    action = Action.HASH
    summary = "replaced by a keyed hash of the value (same value and key, same hash)"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        elem.value = one_or_many(
            hashed_values(site.tag, elem.VR, values_of(elem.value), walker.ctx.mapper)
        )
        return Applied()


class Replace(Handler):
    action = Action.REPLACE
    summary = "replaced by the policy's fixed value"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        elem.value = site.rule.value
        return Applied()


class Set(Handler):
    action = Action.SET
    summary = SET_SUMMARY

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        elem.value = site.rule.value
        return Applied()  # absent at the top level: added after the walk (Walker.add_missing)


class DeriveAge(Handler):
    action = Action.DERIVE_AGE
    summary = "kept; derived from birth date and study date where absent or invalid"

    def apply(self, walker: Walker, site: Site, elem: DataElement) -> Applied:
        return Applied()  # the derivation happens once, at the top level (veil.engine.age)


HANDLERS: dict[Action, Handler] = {
    handler.action: handler
    for handler in (
        Keep(),
        Remove(),
        Empty(),
        Dummy(),
        Uid(),
        Clean(),
        Shift(),
        Pseudonym(),
        Hash(),
        Replace(),
        Set(),
        DeriveAge(),
    )
}


def handler_for(action: Action) -> Handler:
    try:
        return HANDLERS[action]
    except KeyError:
        raise DeidentificationError(f"no handler for action {action.value!r}") from None


def describe_action(action: Action | Choice) -> str:
    """What an action (or a choice among actions) does, for explanations."""
    if isinstance(action, Choice):
        return f"one of {action.code} by the attribute's type in the IOD"
    return handler_for(action).describe()
