"""Masking the input's identifying values inside private elements kept for a destination.

A requirement may keep a vendor's private element that carries identifiers inside it (a
binary header with the patient's name, the study date, instance UIDs). The plan's action for
it is ``C`` (clean): every such value found inside is overwritten by as many ``X``, so lengths
and the vendor's structure stay intact and the destination can still parse it.

One entry point per step, so a structured parser for a vendor format can replace the byte
masking without touching the walk: ``blob_needles`` (what to mask, once per dataset) and
``mask_element`` (mask one element).
"""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.dicom import is_private, names_instance, values_of
from veil.engine.handlers import one_or_many
from veil.engine.values import name_forms
from veil.policy.model import Action
from veil.policy.plan import Plan
from veil.vendor import PrivateTextRefused, mask_private_value

_BLOB_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "AE", "CS"})
MIN_NEEDLE = 4


def blob_needles(ds: Dataset, plan: Plan) -> tuple[bytes, ...]:
    """What to mask inside cleaned private elements: every instance UID, date and (by the
    plan) removed text value of the input, at any level, 4 bytes or longer, longest first."""
    found: set[str] = set()

    def walk(dataset: Dataset) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value or ():
                    walk(item)
                continue
            for value in values_of(elem.value):
                if value is not None and not isinstance(value, bytes | bytearray):
                    found.update(needle_texts(elem.tag, elem.VR, str(value).strip(), plan))

    walk(ds)
    return needles_of(found)


def needles_of(texts: set[str]) -> tuple[bytes, ...]:
    """The needles of these texts: 4 bytes or longer, longest first (the order masks), then
    by their bytes: the same order whichever way the texts were collected (the fast path
    collects them from its element tree)."""
    needles = {text.encode("latin-1", "ignore") for text in texts}
    return tuple(sorted((n for n in needles if len(n) >= MIN_NEEDLE), key=lambda n: (-len(n), n)))


def needle_texts(tag: int, vr: str, text: str, plan: Plan) -> list[str]:
    """The texts of one value to mask: instance UIDs, dates, and text the plan does not keep."""
    if vr == "UI":
        return [text] if names_instance(tag, text) else []
    if vr in ("DA", "DT"):
        return [text[:8]]
    if vr in _BLOB_TEXT_VRS and not is_private(tag):
        rule = plan.rule_for(tag)
        if rule is None or rule.action is Action.KEEP:
            return []
        # A value the output keeps cleaned (ProtocolName for dcm2niix) is not masked inside
        # vendor text: the protocol text names the protocol too. Names are always masked.
        if rule.action is Action.CLEAN and vr != "PN":
            return []
        return [text, *name_forms(text)] if vr == "PN" else [text]
    return []


def mask_text(text: str, needles: tuple[bytes, ...]) -> str:
    for needle in needles:
        plain = needle.decode("latin-1")
        text = text.replace(plain, "X" * len(plain))
    return text


def mask_element(
    elem: DataElement, creator: str | None, element: int, needles: tuple[bytes, ...]
) -> bool:
    """Replace each needle by as many X: lengths and the vendor's structure stay intact.
    Bytes go through veil.vendor, which walks the structures it knows (Siemens CSA, ASCCONV)
    and masks only standalone values. False when the value is a vendor structure that does
    not parse: it cannot be cleaned, so the caller removes it."""
    value = elem.value
    if isinstance(value, bytes | bytearray):
        try:
            elem.value = mask_private_value(bytes(value), creator, element, needles)
        except PrivateTextRefused:
            return False
    elif isinstance(value, str):
        elem.value = mask_text(value, needles)
    elif isinstance(value, MultiValue | list):
        elem.value = one_or_many([mask_text(str(item), needles) for item in value])
    return True
