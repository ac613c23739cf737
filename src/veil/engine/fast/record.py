"""The de-identification record's elements as the fast path writes them: the bytes of
veil.engine.meta.record_attributes, encoded without a dataset. They follow from the plan and
the form of the input's own record attributes alone, so the rewriter memoises them per plan
(veil.engine.fast.tables.Tables.records)."""

from __future__ import annotations

from veil.dicom import tag_of
from veil.engine.fast.encode import (
    SEQUENCE_DELIMITER,
    encode_value,
    header,
    item_header,
    undefined_header,
)
from veil.engine.fast.parse import Element, Unsupported
from veil.engine.meta import method_codes, temporal_mark
from veil.policy.plan import Plan

IDENTITY_REMOVED = tag_of("PatientIdentityRemoved")
METHOD = tag_of("DeidentificationMethod")
METHOD_CODES = tag_of("DeidentificationMethodCodeSequence")
RECORD_TAGS = (IDENTITY_REMOVED, METHOD, METHOD_CODES)
TEMPORAL = tag_of("LongitudinalTemporalInformationModified")
CODE_VALUE = tag_of("CodeValue")
CODING_SCHEME = tag_of("CodingSchemeDesignator")
CODE_MEANING = tag_of("CodeMeaning")
RECORD_AND_TEMPORAL = (*RECORD_TAGS, TEMPORAL)
RECORDS_LIMIT = 256  # memoised records per plan (a run sees one or two forms)


def record_elements(
    plan: Plan,
    existing: dict[int, Element],
    shifted: bool,
    enc: tuple[str, ...],
    imp: bool,
) -> tuple[tuple[int, bytes], ...]:
    """The de-identification record's elements (tag, bytes), as the reference path's
    veil.engine.meta.record_attributes writes them over the input's own (``existing``: the
    VR and length form of those are kept, as pydicom keeps them when a value is set)."""

    def vr(tag: int, default: str) -> str:
        elem = existing.get(tag)
        return elem.vr if elem is not None else default

    additions: list[tuple[int, bytes]] = [
        (
            IDENTITY_REMOVED,
            encode_value(IDENTITY_REMOVED, vr(IDENTITY_REMOVED, "CS"), "YES", enc, imp),
        ),
        (METHOD, encode_value(METHOD, vr(METHOD, "LO"), list(plan.method_text), enc, imp)),
    ]
    items: list[bytes] = []
    for option in method_codes(plan):
        body = (
            encode_value(CODE_VALUE, "SH", option.code, enc, imp)
            + encode_value(CODING_SCHEME, "SH", "DCM", enc, imp)
            + encode_value(CODE_MEANING, "LO", option.meaning, enc, imp)
        )
        items.append(item_header(len(body)) + body)
    sequence = b"".join(items)
    codes = existing.get(METHOD_CODES)
    if codes is not None and codes.vr != "SQ":
        raise Unsupported("record attribute with another VR")
    if codes is not None and codes.undefined:
        coded = undefined_header(METHOD_CODES, "SQ", imp) + sequence + SEQUENCE_DELIMITER
    else:
        coded = header(METHOD_CODES, "SQ", len(sequence), imp) + sequence
    additions.append((METHOD_CODES, coded))
    mark = temporal_mark(plan, shifted, TEMPORAL in existing)
    if mark is not None:
        additions.append((TEMPORAL, encode_value(TEMPORAL, vr(TEMPORAL, "CS"), mark, enc, imp)))
    return tuple(additions)
