"""The fast path's own encoders give pydicom's bytes for the values they take."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataelem import DataElement

from veil.engine.fast.encode import encode_value, write
from veil.engine.fast.rewrite import file_meta_bytes

_ASCII = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="\\"),
    max_size=40,
)
_VRS = {
    0x00100010: "PN",
    0x00080080: "LO",
    0x00081030: "LO",
    0x00080050: "SH",
    0x00080020: "DA",
    0x00080030: "TM",
    0x00101010: "AS",
    0x00080060: "CS",
    0x00200013: "IS",
    0x00180050: "DS",
    0x0020000D: "UI",
    0x00081010: "SH",
    0x00204000: "LT",
}


# The codecs of the character sets the fast path takes (veil.engine.fast.rewrite).
_CODECS = ("iso8859", "latin_1", "iso8859_2", "iso_ir_126", "iso_ir_144", "iso_ir_166", "UTF8")


@settings(max_examples=300, deadline=None)
@given(
    tag=st.sampled_from(sorted(_VRS)),
    values=st.lists(_ASCII, min_size=1, max_size=3),
    codec=st.sampled_from(_CODECS),
    implicit=st.booleans(),
)
def test_ascii_values_are_encoded_as_pydicom_writes_them(
    tag: int, values: list[str], codec: str, implicit: bool
) -> None:
    vr = _VRS[tag]
    if vr in ("IS", "DS"):
        values = [str(len(v)) for v in values]
    if vr == "UI":
        values = [".".join(str(ord(c)) for c in v) or "1" for v in values]
    value: object = values[0] if len(values) == 1 else values
    encodings = (codec,)
    expected = write(DataElement(tag, vr, value), encodings, implicit)
    assert encode_value(tag, vr, value, encodings, implicit) == expected


def test_empty_values_are_zero_length_as_pydicom_writes_them() -> None:
    for tag, vr in _VRS.items():
        for empty in ("", None):
            assert encode_value(tag, vr, empty, ("iso8859",)) == write(
                DataElement(tag, vr, empty), ("iso8859",)
            )


def test_file_meta_is_written_as_pydicom_writes_veils() -> None:
    import io

    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import write_file_meta_info

    from veil.engine.meta import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION

    for instance in ("2.25.1", "2.25.12"):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = instance
        meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        buffer = io.BytesIO()
        write_file_meta_info(buffer, meta, enforce_standard=True)
        assert (
            file_meta_bytes("1.2.840.10008.5.1.4.1.1.4", instance, "1.2.840.10008.1.2.1")
            == buffer.getvalue()
        )


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(st.from_regex(r"[0-9.]{0,20}", fullmatch=True), min_size=1, max_size=3).map(
        lambda parts: "\\".join(parts).encode("ascii")
    ),
    pad=st.sampled_from([b"", b"\0", b" ", b"\0\0", b" \0"]),
)
def test_uid_values_are_read_as_pydicom_reads_them(raw: bytes, pad: bytes) -> None:
    from veil.engine.fast.encode import convert
    from veil.engine.fast.rewrite import ui_value

    expected = convert(0x0020000D, "UI", raw + pad, ("iso8859",)).value
    got = ui_value(raw + pad)
    if isinstance(got, list):
        assert [str(v) for v in expected] == got
    else:
        assert str(expected) == got
