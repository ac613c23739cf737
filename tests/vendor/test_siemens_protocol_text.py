"""Siemens CSA headers and protocol text kept for dcm2niix: only identifying values masked,
every other byte as it was, the structure still read by nibabel, on every Siemens file of the
corpus."""

from __future__ import annotations

import re
import struct
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():  # nibabel warns that its DICOM readers are experimental
    warnings.simplefilter("ignore")
    from nibabel.nicom import csareader
from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from tests.conftest import CORPUS
from veil.check import load_profile
from veil.engine import deidentify
from veil.engine.blobs import blob_needles
from veil.io.dicomfile import encode_dataset, read_dataset
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy
from veil.vendor import PrivateTextRefused, Structure, mask_private_value, structure_of
from veil.vendor.protocol import is_protocol_text, structure_spans

MAPPER = Mapper(bytes(range(32)))
# Folders with many files of one series contribute their first two files.
_MANY = ("dcm_qa_xa30i/", "dcm_qa_frag/")


@cache
def _plan():  # type: ignore[no-untyped-def]
    return compile_plan(load_policy("basic"), [load_profile("dcm2niix")])


@cache
def siemens_files() -> tuple[str, ...]:
    rows = (CORPUS / "manifest.tsv").read_text().splitlines()[1:]
    found: list[str] = []
    for row in rows:
        fields = row.split("\t")
        if len(fields) > 5 and "siemens" in fields[5].lower():
            folder = fields[0].rsplit("/", 1)[0]
            if folder.startswith(_MANY) and sum(f.startswith(folder) for f in found) >= 2:
                continue
            found.append(fields[0])
    return tuple(found)


def structured_elements(ds: Dataset) -> Iterator[tuple[str, int, bytes]]:
    """(creator, element within the block, value) of every element veil parses, at any level."""
    for elem in ds.iterall():
        if not elem.tag.is_private or elem.tag.element < 0x1000:
            continue
        creator = getattr(elem, "private_creator", None)
        if structure_of(creator, elem.tag.element & 0xFF) and isinstance(elem.value, bytes):
            yield str(creator), elem.tag.element & 0xFF, elem.value


@cache
def cleaned() -> tuple[tuple[str, str, bytes, bytes], ...]:
    """(file, creator, input value, masked value) of every CSA header and protocol text."""
    found = []
    for relative in siemens_files():
        ds = read_dataset(CORPUS / relative)
        needles = blob_needles(ds, _plan())
        for creator, element, value in structured_elements(ds):
            found.append(
                (relative, creator, value, mask_private_value(value, creator, element, needles))
            )
    return tuple(found)


def _changed_only_to_x(before: bytes, after: bytes) -> bool:
    return len(before) == len(after) and all(
        a == b or b == ord("X") for a, b in zip(before, after, strict=True)
    )


def test_the_corpus_has_csa_headers_and_xa_protocol_text_to_clean() -> None:
    kinds = {
        structure_of(creator, 0x19 if "SDS" in creator else 0x10) for _, creator, _, _ in cleaned()
    }
    assert kinds == {Structure.CSA, Structure.PROTOCOL_TEXT}
    assert len(cleaned()) >= 60


def test_every_csa_header_reads_the_same_in_nibabel_but_for_masked_values() -> None:
    masked_items = 0
    for name, _, before, after in cleaned():
        if not before.startswith(b"SV10"):
            continue
        assert _changed_only_to_x(before, after), name
        old, new = csareader.read(before), csareader.read(after)
        assert list(old["tags"]) == list(new["tags"]), name
        for tag, was in old["tags"].items():
            now = new["tags"][tag]
            assert (was["vm"], was["vr"], was["n_items"]) == (now["vm"], now["vr"], now["n_items"])
            for item_before, item_after in zip(was["items"], now["items"], strict=True):
                if item_before != item_after:
                    masked_items += 1
                    assert isinstance(item_before, str), f"{name}: numeric {tag} changed"
                    assert _changed_only_to_x(
                        item_before.encode("latin-1"), item_after.encode("latin-1")
                    )
    # The referenced image UIDs of the protocol (and frames of reference) are masked.
    assert masked_items >= 20


def _protocol_texts(value: bytes) -> Iterator[bytes]:
    if value.startswith(b"SV10"):
        header = csareader.read(value)
        for tag in header["tags"].values():
            for item in tag["items"]:
                if isinstance(item, str) and is_protocol_text(item.encode("latin-1")):
                    yield item.encode("latin-1")
    elif is_protocol_text(value):
        yield value


def test_keys_tag_names_and_markers_of_protocol_text_are_never_masked() -> None:
    texts = 0
    for name, _, before, after in cleaned():
        for old, new in zip(_protocol_texts(before), _protocol_texts(after), strict=True):
            texts += 1
            keep = structure_spans(old)
            assert [old[a:b] for a, b in keep] == [new[a:b] for a, b in keep], name
            assert old.count(b"\n") == new.count(b"\n")
    assert texts >= 45


_UID = re.compile(rb"(?<![0-9.])[0-9]+(?:\.[0-9]+){3,}(?![0-9.])")
_REGISTERED = {uid.encode() for uid in UID_dictionary}


def test_no_unregistered_uid_survives_in_kept_siemens_text() -> None:
    for name, _, before, after in cleaned():
        left = {m.group() for m in _UID.finditer(after)} - _REGISTERED
        assert not left, f"{name}: {len(left)} UID(s) left"
        if b"tReferenceImage0" in before:
            # The SOP class in front of an XA reference is a registered UID: it stays.
            assert before.count(b"1.2.840.10008.5.1.4.1.1.4") == after.count(
                b"1.2.840.10008.5.1.4.1.1.4"
            )


def _deid(relative: str) -> tuple[Dataset, Dataset]:
    original = read_dataset(CORPUS / relative)
    return original, deidentify(original, _plan(), MAPPER)


def _protocol_of(ds: Dataset) -> bytes:
    return b"".join(value for _, _, value in structured_elements(ds))


def test_a_removed_value_inside_a_vendor_word_does_not_eat_the_sequence_name() -> None:
    # This XA file's ImageComments is "Scout" (removed by the basic profile); its protocol's
    # sequence is "%SiemensSeq%\AALScout", which dcm2niix reports as PulseSequenceDetails.
    name = next(f for f in siemens_files() if f.startswith("heudiconv/MRI_102TD_PHA_S/"))
    original, output = _deid(name)
    assert str(original.ImageComments) == "Scout" and "ImageComments" not in output
    assert b"%SiemensSeq%\\AALScout" in _protocol_of(output)
    assert b"ucIsAutoAlignScout" in _protocol_of(output)


def test_a_station_name_left_in_csa_tag_name_padding_is_masked() -> None:
    # Siemens VB12 leaves the station name in the unused bytes after some CSA tag names.
    original, output = _deid("dcm_qa_12bit/12bit/12bitUnsigned.dcm")
    station = str(original.StationName).upper().encode()
    assert station in original[0x00291010].value.upper()
    csa = output[0x00291010].value
    assert station not in csa.upper()
    assert list(csareader.read(csa)["tags"]) == list(
        csareader.read(original[0x00291010].value)["tags"]
    )


def test_cleaned_siemens_files_pass_the_audit() -> None:
    from veil.audit import audit_output

    names = [
        f
        for f in siemens_files()
        if f.startswith(("dcm_qa_12bit/", "dcm_qa/", "heudiconv/", "dcm_qa_frag/"))
    ]
    for name in names:
        _, output = _deid(name)
        source = read_dataset(CORPUS / name)
        findings = audit_output(source, output, encode_dataset(output), name)
        errors = [f for f in findings if f.severity == "error"]
        assert not errors, (name, errors)
        assert _protocol_of(output), name  # the structures are kept, not removed


def test_a_truncated_csa_header_is_refused_and_the_engine_removes_only_it() -> None:
    original = read_dataset(
        CORPUS
        / "dcm_qa/axasc35"
        / next(
            p.name
            for p in sorted((CORPUS / "dcm_qa/axasc35").iterdir())
            if p.name.startswith("MR.")
        )
    )
    series_header = original[0x00291020].value
    with pytest.raises(PrivateTextRefused, match="ends inside"):
        mask_private_value(series_header[:300], "SIEMENS CSA HEADER", 0x20, ())
    original[0x00291020].value = series_header[:300]
    output = deidentify(original, _plan(), MAPPER)
    assert 0x00291020 not in output and 0x00291010 in output


def test_protocol_text_that_is_not_an_xprotocol_document_is_refused() -> None:
    with pytest.raises(PrivateTextRefused):
        mask_private_value(b"just some bytes", "SIEMENS MR SDS 01", 0x19, ())


def test_unknown_private_blobs_are_masked_everywhere_even_inside_words() -> None:
    masked = mask_private_value(b"xxSMITHxx 20200101", "ACME 1", 0x10, (b"SMITH", b"20200101"))
    assert masked == b"xxXXXXXxx XXXXXXXX"


_line = st.text(alphabet='abcdeSMITH019.=<>" \t', max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(_line, max_size=12),
    needles=st.lists(st.sampled_from([b"SMITH", b"20200101", b"1.2.3.4.5", b"abc"]), max_size=3),
)
def test_masking_protocol_text_changes_values_only_and_keeps_the_length(
    lines: list[str], needles: list[bytes]
) -> None:
    text = ("<XProtocol>\n### ASCCONV BEGIN ###\n" + "\n".join(lines)).encode()
    masked = mask_private_value(text, "SIEMENS MR SDS 01", 0x19, needles)
    assert _changed_only_to_x(text, masked)
    keep = structure_spans(text)
    assert [text[a:b] for a, b in keep] == [masked[a:b] for a, b in keep]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.binary(max_size=30), min_size=1, max_size=5))
def test_masking_a_built_csa_header_keeps_its_layout(values: list[bytes]) -> None:
    header = bytearray(b"SV10\x04\x03\x02\x01" + struct.pack("<II", 1, 77))
    header += struct.pack("<64si4siii", b"MrPhoenixProtocol", 0, b"UN\0\0", 0, len(values), 77)
    for value in values:
        header += struct.pack("<4i", len(value), len(value), 77, len(value))
        header += value + b"\0" * (-len(value) % 4)
    masked = mask_private_value(bytes(header), "SIEMENS CSA HEADER", 0x20, (b"\x00\x01\x02\x03",))
    assert len(masked) == len(header)
    assert [t["n_items"] for t in csareader.read(masked)["tags"].values()] == [len(values)]


def test_files_are_where_the_tests_expect_them() -> None:
    assert all((CORPUS / name).exists() for name in siemens_files())
    assert Path(CORPUS / "dcm_qa_12bit/12bit/12bitUnsigned.dcm").exists()
