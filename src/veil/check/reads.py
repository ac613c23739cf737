"""What the per-file facts of some profiles read: top-level tags, and private creators.

`veil.check.evaluate.file_facts` reads a file through `veil.check.access.lookup` (the top
level, or the functional groups of an enhanced object), the geometry of
`veil.check.geometry.add_dataset`, the age of `veil.check.age.read_age`, the markers of
`veil.check.provenance` and the private creators at any level. Knowing those tags lets a
caller evaluate the facts on only those elements and memoise them by their raw bytes
(`veil.check.rawfacts`). Anything this module cannot account for gives None, and the
caller reads everything, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydicom.datadict import tag_for_keyword

from veil.check.age import REFERENCE_DATES
from veil.check.model import AttributeRule, Condition, PrivateRule, RequirementProfile, SeriesRule
from veil.dicom import tag_of

# What the per-file geometry facts read (veil.check.geometry, veil.check.access).
GEOMETRY_KEYWORDS = (
    "SliceThickness",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "MRAcquisitionType",
    "ScanningSequence",
    "SequenceVariant",
    "EchoTime",
    "EffectiveEchoTime",
    "RepetitionTime",
    "InversionTime",
    "InversionTimes",
    "EchoPulseSequence",
    "InversionRecovery",
)
# Any lookup may fall back to the functional groups of an enhanced object: where these are,
# the facts read inside them, and only a whole read tells what.
EVERYWHERE = frozenset(
    tag_of(k) for k in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence")
)
GEOMETRY = frozenset(tag_of(k) for k in GEOMETRY_KEYWORDS) | EVERYWHERE
EVERYWHERE_OR_ZERO = EVERYWHERE | {0}  # 0: a keyword the dictionary does not know
POSITION = tag_of("ImagePositionPatient")
CHARSET = tag_of("SpecificCharacterSet")
# FileFacts' own fields (veil.check.evaluate.series_key), the markers of an earlier
# de-identification (veil.check.provenance), the character set every value is decoded by,
# and the pixel representation pydicom reads when it decodes a sequence (for the VR of
# ambiguous elements in its items).
FILE_TAGS = frozenset(
    tag_of(k)
    for k in (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "SpecificCharacterSet",
        "PixelRepresentation",
    )
)
AGE_TAGS = frozenset(tag_of(k) for k in ("PatientAge", "PatientBirthDate", *REFERENCE_DATES))
_PIXEL_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
# The condition kinds of veil.check.model; a kind added there and not here reads "everything".
_KEYWORD_KINDS = frozenset({"valid", "present", "matches", "contains"})
_GEOMETRY_KINDS = frozenset({"image", "multiframe"})
_NESTING_KINDS = frozenset({"any", "all", "not"})


def condition_tags(condition: Condition | None) -> frozenset[int]:
    """The top-level tags a condition reads (0 for what this module cannot name)."""
    if condition is None:
        return frozenset()
    tags: set[int] = set()
    if condition.keyword:
        tags.add(tag_for_keyword(condition.keyword) or 0)
    if condition.kind in _GEOMETRY_KINDS:
        tags |= GEOMETRY
    elif condition.kind not in _KEYWORD_KINDS | _NESTING_KINDS:
        tags.add(0)
    for child in condition.children:
        tags |= condition_tags(child)
    return frozenset(tags)


def rule_reads(rule: AttributeRule | PrivateRule | SeriesRule) -> frozenset[int] | None:
    """The top-level tags one rule's file-level outcome reads (None: cannot tell)."""
    if isinstance(rule, PrivateRule):
        return None  # private creators at any level
    tags = condition_tags(rule.when)
    if isinstance(rule, AttributeRule):
        tags |= condition_tags(rule.unless) | {tag_for_keyword(rule.keyword) or 0}
    return None if 0 in tags else tags


def _conditions(profile: RequirementProfile) -> Iterable[Condition | None]:
    yield profile.uses.when
    for rule in profile.rules:
        yield rule.when
        yield rule.unless
    for series_rule in profile.series_rules:
        yield series_rule.when
    for private in profile.private_rules:
        yield private.when


def _named(condition: Condition | None) -> set[str]:
    if condition is None:
        return set()
    names = {condition.keyword} if condition.keyword else set()
    for child in condition.children:
        names |= _named(child)
    return names


def named_keywords(profiles: Sequence[RequirementProfile]) -> frozenset[str]:
    """The keywords the profiles' rules and conditions name themselves (not the geometry,
    age and file attributes every evaluation reads)."""
    names: set[str] = set()
    for profile in profiles:
        names.update(rule.keyword for rule in profile.rules)
        for condition in _conditions(profile):
            names |= _named(condition)
    return frozenset(names)


def profile_reads(profiles: Sequence[RequirementProfile]) -> frozenset[int] | None:
    """Every top-level tag `file_facts` reads for ``profiles`` (besides the private creators,
    read at any level): None when a rule or condition names what this module cannot tell."""
    tags = set(FILE_TAGS | GEOMETRY)
    for profile in profiles:
        if profile.age is not None:
            tags |= AGE_TAGS
        for rule in profile.rules:
            tags.add(tag_for_keyword(rule.keyword) or 0)
        for condition in _conditions(profile):
            tags |= condition_tags(condition)
    if 0 in tags or named_keywords(profiles) & _PIXEL_KEYWORDS:
        return None  # pixel data is read as present, never by value: a rule on it reads all
    return frozenset(tags)


__all__ = [
    "CHARSET",
    "EVERYWHERE",
    "EVERYWHERE_OR_ZERO",
    "GEOMETRY",
    "GEOMETRY_KEYWORDS",
    "POSITION",
    "condition_tags",
    "named_keywords",
    "profile_reads",
    "rule_reads",
]
