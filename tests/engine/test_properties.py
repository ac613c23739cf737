"""Property-based tests: random datasets and random policies through the engine.

Whatever the input and the policy, the engine either returns a dataset that encodes, or raises
DeidentificationError (a clear, value-free error); and no value of an attribute the policy
removes survives anywhere in the encoded output.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from veil.engine import deidentify
from veil.errors import DeidentificationError
from veil.io.dicomfile import encode_dataset
from veil.mapping import Mapper
from veil.policy import compile_plan, parse_policy
from veil.standard import Option

MAPPER = Mapper(bytes(range(32)))

# Text attributes the basic profile removes (X) or empties (Z), with their VRs.
REMOVED_TEXT = {
    "InstitutionName": "LO",
    "InstitutionAddress": "ST",
    "ReferringPhysicianName": "PN",
    "PerformingPhysicianName": "PN",
    "OperatorsName": "PN",
    "StudyDescription": "LO",
    "SeriesDescription": "LO",
    "ImageComments": "LT",
    "OtherPatientNames": "PN",
    "PatientAddress": "LO",
    "AccessionNumber": "SH",
    "StationName": "SH",
    "DeviceSerialNumber": "LO",
    "RequestingPhysician": "PN",
    "AdditionalPatientHistory": "LT",
}
OPTIONS = [
    o
    for o in Option
    if o not in (Option.BASIC, Option.CLEAN_PIXEL_DATA, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)
]


def _marker(index: int) -> str:
    return f"QZX{index:03d}MARK"


@st.composite
def datasets(draw: st.DrawFn) -> tuple[Dataset, dict[str, str]]:
    """A dataset with a unique marker in each chosen attribute, some nested, some private."""
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = "1.2.3." + str(draw(st.integers(1, 10**9)))
    ds.PatientID = draw(st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=12))
    ds.PatientName = _marker(999)
    planted: dict[str, str] = {}
    chosen = draw(st.lists(st.sampled_from(sorted(REMOVED_TEXT)), unique=True, max_size=8))
    depth = draw(st.integers(1, 4))
    levels = [ds]
    for _ in range(depth):  # a chain of sequences the profile keeps, one item each
        item = Dataset()
        levels[-1].add_new(0x0008114A, "SQ", Sequence([item]))
        levels.append(item)
    for index, keyword in enumerate(chosen):
        marker = _marker(index)
        where = levels[draw(st.integers(0, depth))]
        padding = draw(st.text(string.ascii_letters + " ^", max_size=10))
        where.add_new(keyword, REMOVED_TEXT[keyword], f"{padding}{marker}")
        planted[keyword] = marker
    if draw(st.booleans()):
        block = ds.private_block(
            0x0011 + 2 * draw(st.integers(0, 5)),
            draw(st.sampled_from(["ACME 1.0", "SIEMENS CSA HEADER", "X"])),
            create=True,
        )
        block.add_new(0x10, "LO", _marker(500))
        planted["private"] = _marker(500)
    if draw(st.booleans()):  # garbage-ish values in attributes the engine must parse
        ds.add_new(0x00100030, "DA", draw(st.text(string.digits + "-./ ", max_size=10)))
        ds.add_new(0x00101010, "AS", draw(st.text(string.digits + "DWMY", max_size=5)))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds, planted


@st.composite
def policies(draw: st.DrawFn) -> tuple[str, set[str]]:
    """A policy text with random options and overrides; returns the attributes it keeps."""
    options = draw(st.lists(st.sampled_from(OPTIONS), unique=True, max_size=4))
    if Option.RETAIN_LONG_FULL_DATES in options:  # the two date options exclude each other
        options = [o for o in options if o is not Option.RETAIN_LONG_MODIFIED_DATES]
    kept = set(draw(st.lists(st.sampled_from(sorted(REMOVED_TEXT)), unique=True, max_size=3)))
    lines = [
        "name: random",
        "base: basic",
        f"options: [{', '.join(o.value for o in options)}]",
        "overrides:",
    ]
    lines += [f"  - {{attribute: {keyword}, action: keep}}" for keyword in sorted(kept)]
    lines += [
        "  - {attribute: PatientID, action: pseudonym}",
        "  - {attribute: PatientName, action: pseudonym}",
    ]
    return "\n".join(lines) + "\n", kept


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), policies())
def test_engine_never_crashes_and_never_writes_a_removed_value(
    case: tuple[Dataset, dict[str, str]], policy: tuple[str, set[str]]
) -> None:
    ds, planted = case
    text, kept = policy
    plan = compile_plan(parse_policy(text, "random.yaml"))
    try:
        encoded = encode_dataset(deidentify(ds, plan, MAPPER))
    except DeidentificationError as exc:
        for marker in planted.values():
            assert marker not in str(exc)
        return
    assert _marker(999).encode() not in encoded  # the name became the pseudonym
    for keyword, marker in planted.items():
        if keyword in kept:
            assert marker.encode() in encoded, f"{keyword}: kept by an override, but lost"
            continue
        if keyword == "private" and Option.RETAIN_SAFE_PRIVATE in plan.options:
            continue
        action = plan.rule_for(_tag(keyword)).action if keyword != "private" else "X"
        if action in ("K", "C"):  # kept or cleaned by an option: not a removal
            continue
        assert marker.encode() not in encoded, (keyword, action)


def _tag(keyword: str) -> int:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    assert tag is not None
    return tag
