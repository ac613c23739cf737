"""What private blob masking masks, found by a pre-scan of the fast path's element tree.

The reference path collects the needles from its dataset before the walk
(veil.engine.blobs.blob_needles): instance UIDs, dates and the text values the plan does not
keep, at any level. Here the same values come from the parse: only elements whose VR can give
a needle are converted, by pydicom's converter (memoised), and the same functions of
veil.engine.blobs turn them into needles, so both paths mask with the same bytes.
"""

from __future__ import annotations

from veil.dicom import is_private, is_private_creator, values_of
from veil.engine.blobs import needle_texts, needles_of
from veil.engine.fast.encode import converted_value
from veil.engine.fast.parse import Element, ParsedFile, Unsupported, implicit_vr
from veil.policy.plan import Plan

_DATES_AND_UIDS = frozenset({"UI", "DA", "DT"})
_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "AE", "CS"})
_PROBE = "PROBE VALUE"


def blob_needles_of(
    parsed: ParsedFile, plan: Plan, encodings: tuple[str, ...]
) -> tuple[bytes, ...]:
    """``blob_needles`` of the file's dataset, from its element tree."""
    texts: set[str] = set()
    gives: dict[tuple[int, str], bool] = {}

    def walk(elements: list[Element]) -> None:
        creators: dict[int, str] = {}
        for elem in elements:
            vr = elem.vr
            if vr == "SQ":
                for item in elem.items or ():
                    walk(item.elements)
                continue
            if vr == "UN":
                vr = _known_vr(elem, creators)
            if is_private_creator(elem.tag):
                creators[elem.tag & 0xFF] = _creator(parsed, elem, encodings)
            if not _may_give(elem.tag, vr, plan, gives):
                continue
            value = converted_value(elem.tag, vr, parsed.value(elem), encodings)
            for item in values_of(value):
                if item is not None and not isinstance(item, bytes | bytearray):
                    texts.update(needle_texts(elem.tag, vr, str(item).strip(), plan))

    walk(parsed.elements)
    return needles_of(texts)


def _may_give(tag: int, vr: str, plan: Plan, gives: dict[tuple[int, str], bool]) -> bool:
    """Whether a value of this element can give a needle (memoised per tag and VR): dates and
    UIDs always may, public text when the plan does not keep it (asked of needle_texts)."""
    if vr in _DATES_AND_UIDS:
        return True
    if vr not in _TEXT_VRS or is_private(tag):
        return False
    known = gives.get((tag, vr))
    if known is None:
        known = gives[(tag, vr)] = bool(needle_texts(tag, vr, _PROBE, plan))
    return known


def _known_vr(elem: Element, creators: dict[int, str]) -> str:
    """The VR pydicom's converter gives an element written as UN (pydicom.hooks.raw_element_vr
    with replace_un_with_known_vr): a known private element's, or a public one's when its
    value is shorter than 64 KiB."""
    if not is_private(elem.tag) and elem.value_end - elem.value_start >= 0xFFFF:
        return "UN"
    vr = implicit_vr(elem.tag, creators)
    if vr == "SQ":
        raise Unsupported("a sequence written as UN")
    return vr


def _creator(parsed: ParsedFile, elem: Element, encodings: tuple[str, ...]) -> str:
    vr = "LO" if elem.vr == "UN" else elem.vr
    value = converted_value(elem.tag, vr, parsed.value(elem), encodings)
    if not isinstance(value, str):
        raise Unsupported("private creator not one value")
    return value
