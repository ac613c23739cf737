"""The hierarchy name of a fast-path output from its raw bytes, without a dataset per file.

`veil.batch.naming.hierarchy_name` reads seven elements of the output through pydicom (a
dataset built from a parse of the output's head, each value converted on access): 13 % of a
worker's time in issue 12. Two facts make most of that work needless:

* the study and series folders are the same for every file of a series. They are a pure
  function of the raw values (and VRs) of the elements they read, the character set those
  are decoded by, and the pseudonym; so they are memoised on exactly those, and a value
  seen for the first time is named by `hierarchy_name` itself: a name can never differ;
* the instance file name needs one number. A plain ``[ +-]digits`` value (what scanners
  write) is read directly; anything else goes through `instance_stem` as before.

When the audit parsed the output already (``FastOutput.output``), its elements are used
instead of a second parse of the head.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from operator import attrgetter

from pydicom.dataset import Dataset

from veil.batch.naming import (
    FOLDER_TAGS,
    NAME_TAGS,
    HierarchyName,
    hierarchy_name,
    name_elements,
    raw_dataset,
)
from veil.batch.naming import instance_stem as slow_stem
from veil.dicom import tag_of
from veil.engine.fast.parse import Element, ParsedFile

_INSTANCE = tag_of("InstanceNumber")
_TAG = attrgetter("tag")
# Values `instance_stem` reads as this very integer: pydicom's IS of one value (no ``\``),
# within the 12 bytes and the 32-bit range its validation checks, spaces on either side.
_PLAIN_NUMBER = re.compile(rb" *[+-]?[0-9]{1,9} *")

# (pseudonym, raw values of FOLDER_TAGS) -> (series folder, series UID). Per worker process,
# bounded; it holds de-identified output values only (the pseudonym, the output's dates,
# UIDs and kept description), which every output file carries anyway.
_FOLDERS: dict[tuple[object, ...], tuple[str, str]] = {}
MAX_FOLDERS = 4096

Raw = tuple[str, bytes] | None


def output_hierarchy_name(
    encoded: bytes, pseudonym: str, output: ParsedFile | None = None
) -> HierarchyName:
    """``hierarchy_name(name_dataset(encoded), pseudonym)``, the same name, at a fraction of
    its cost. ``output``: the audit's parse of ``encoded`` when there is one.
    ``veil.engine.fast.parse.Unsupported`` when the head's parse does not take the file."""
    elements = _name_elements(encoded, output)
    key = (pseudonym, *(_raw(encoded, elements.get(tag)) for tag in FOLDER_TAGS))
    folder = _FOLDERS.get(key)
    dataset = None
    if folder is None:
        dataset = _dataset(encoded, elements)
        name = hierarchy_name(dataset, pseudonym)
        if len(_FOLDERS) >= MAX_FOLDERS:
            _FOLDERS.clear()
        folder = _FOLDERS[key] = (name.series_folder, name.series_uid)
    stem = instance_stem(encoded, elements.get(_INSTANCE))
    if stem is None:
        stem = slow_stem(dataset if dataset is not None else _dataset(encoded, elements))
    return HierarchyName(folder[0], stem, folder[1])


def instance_stem(encoded: bytes, elem: Element | None) -> str | None:
    """`veil.batch.naming.instance_stem` of a plain Instance Number; None for any other
    value (the caller asks pydicom)."""
    if elem is None or elem.vr != "IS" or elem.value_end - elem.value_start > 12:
        return None
    value = encoded[elem.value_start : elem.value_end]
    if _PLAIN_NUMBER.fullmatch(value) is None:
        return None
    number = int(value)
    return f"{number:04d}" if number >= 0 else "instance"


def _name_elements(encoded: bytes, output: ParsedFile | None) -> dict[int, Element]:
    """The top-level elements a name reads, by tag: from the audit's parse of the output
    (looked up by bisection: its elements are in tag order), else a parse of the head."""
    if output is None or output.data is not encoded or output.implicit:
        return {e.tag: e for e in name_elements(encoded)}
    elements = output.elements
    found: dict[int, Element] = {}
    for tag in NAME_TAGS:
        index = bisect_left(elements, tag, key=_TAG)
        if index < len(elements) and elements[index].tag == tag:
            found[tag] = elements[index]
    return found


def _raw(encoded: bytes, elem: Element | None) -> Raw:
    return None if elem is None else (elem.vr, encoded[elem.value_start : elem.value_end])


def _dataset(encoded: bytes, elements: dict[int, Element]) -> Dataset:
    """The elements as `veil.batch.naming.name_dataset` gives them."""
    return raw_dataset(encoded, [elements[tag] for tag in sorted(elements)])
