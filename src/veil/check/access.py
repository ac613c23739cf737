"""Finding an attribute where it lives: top level, or in the functional groups of an
enhanced multi-frame object (shared groups first, then the first frame's groups).
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from veil.dicom import dictionary_vr, is_private, is_private_creator

# In enhanced MR, some classic attributes carry another keyword inside the functional groups.
ENHANCED_ALIASES: dict[str, tuple[str, ...]] = {
    "EchoTime": ("EffectiveEchoTime",),
    "InversionTime": ("InversionTimes",),
}


def frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def has_pixels(ds: Dataset) -> bool:
    """An image: the dataset carries pixel data (of any kind)."""
    return any(keyword in ds for keyword in PIXEL_KEYWORDS)


def is_enhanced(ds: Dataset) -> bool:
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def _in_group(item: Dataset, keyword: str) -> Any:
    """A keyword one or two sequence levels inside a functional group item. Vendor private
    sequences are not looked into: a destination reads the standard macros, and a copy in a
    private sequence (Philips keeps one) would make a check pass that the destination fails."""
    if keyword in item:
        return item[keyword].value
    for element in item:
        if element.VR != "SQ" or not element.value or element.tag.is_private:
            continue
        inner = element.value[0]
        if keyword in inner:
            return inner[keyword].value
        for nested in inner:
            if nested.VR == "SQ" and nested.value and keyword in nested.value[0]:
                return nested.value[0][keyword].value
    return None


def frame_groups(ds: Dataset, frame: int) -> list[Dataset]:
    """The functional group items that apply to one frame: its own first, then shared."""
    items: list[Dataset] = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        items.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        items.append(shared[0])
    return items


def lookup(ds: Dataset, keyword: str, frame: int = 0) -> Any:
    """The value of `keyword` for one frame, or None: top level, then functional groups."""
    if keyword in ds:
        value = ds[keyword].value
        if value not in (None, "", b""):
            return value
    if not is_enhanced(ds):
        return ds[keyword].value if keyword in ds else None
    for name in (keyword, *ENHANCED_ALIASES.get(keyword, ())):
        for item in frame_groups(ds, frame):
            value = _in_group(item, name)
            if value is not None:
                return value
    return ds[keyword].value if keyword in ds else None


def private_creators(ds: Dataset) -> set[str]:
    """Every private creator string in the dataset, at any nesting level.

    Only creators and sequences are decoded: decoding every element of a large vendor header
    would cost more than the whole check."""
    found: set[str] = set()

    def walk(dataset: Dataset) -> None:
        for tag in list(dataset.keys()):
            if is_private_creator(tag):
                value = dataset[tag].value
                if value:
                    found.add(str(value).strip())
                continue
            raw = dataset.get_item(tag)
            vr = getattr(raw, "VR", None)
            if vr is None and not is_private(tag):
                known = dictionary_vr(tag)
                vr = None if known == "UN" else known  # unknown to the dictionary: decode it
            if vr not in ("SQ", None):
                continue
            element = dataset[tag]  # a sequence (or an unknown private element: decode it)
            if element.VR == "SQ" and element.value:
                for item in element.value:
                    walk(item)

    walk(ds)
    return found
