"""A pydicom dataset of a file's top-level elements, built from the fast path's parse.

The elements are pydicom's own raw elements (as ``dcmread`` makes them), decoded only when
something looks at them, so checks run on it see the values they would see on a dataset
read by pydicom. Pixel data is present but empty: checks only ask whether it is there.
"""

from __future__ import annotations

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from veil.dicom import tag_of
from veil.engine.fast.parse import ParsedFile

PIXEL_TAGS = frozenset(
    tag_of(keyword) for keyword in ("FloatPixelData", "DoubleFloatPixelData", "PixelData")
)


def header_dataset(parsed: ParsedFile) -> Dataset:
    ds = Dataset()
    store = ds._dict
    data = parsed.data
    for elem in parsed.elements:
        tag = Tag(elem.tag)
        value = b"" if elem.tag in PIXEL_TAGS else data[elem.value_start : elem.value_end]
        store[tag] = RawDataElement(tag, elem.vr, len(value), value, elem.value_start, False, True)
    return ds


def changed_tags(before: Dataset, after: Dataset) -> frozenset[int]:
    """The top-level tags whose raw element differs between two such datasets (added,
    removed, or another VR or value)."""
    old, new = before._dict, after._dict  # raw elements, compared as bytes
    changed = set()
    for tag in old.keys() | new.keys():
        a, b = old.get(tag), new.get(tag)
        if a is None or b is None or a.VR != b.VR or a.value != b.value:
            changed.add(int(tag))
    return frozenset(changed)
