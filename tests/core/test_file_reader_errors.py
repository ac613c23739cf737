"""veil.io.dicomfile, in process: every refusal names the file and the problem, never a value;
files that are not images are skipped, not failed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from tests.cli.broken import _explicit_element, _part10, write_broken_files
from veil.errors import InputFileError
from veil.io.dicomfile import SkippedFile, read_bytes, read_dataset

GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
SOP_CLASS = _explicit_element(8, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.4\x00")
SOP_UID = _explicit_element(8, 0x0018, b"UI", b"1.2.3.4.5.6\x00")


@pytest.fixture(scope="module")
def good(corpus: Path) -> bytes:
    return sorted((corpus / GE_T1).iterdir())[0].read_bytes()


def _refused(data: bytes) -> str:
    with pytest.raises(InputFileError) as caught:
        read_bytes(data, "scans/x.dcm")
    assert caught.value.path == "scans/x.dcm"
    assert str(caught.value).startswith("scans/x.dcm: ")
    for secret in ("DOE", "JANE", "PID-007"):
        assert secret not in str(caught.value)
    return caught.value.problem


def test_every_broken_kind_gets_its_own_problem(tmp_path: Path, good: bytes) -> None:
    expected = write_broken_files(tmp_path, good)
    problems = {}
    for name in expected:
        data = (tmp_path / name).read_bytes()
        if name == "odd-length.dcm":
            assert read_bytes(data, name).SOPInstanceUID == "1.2.3.4.5.6"  # tolerated
            continue
        problems[name] = _refused(data)
    assert problems["truncated.dcm"].startswith("truncated: the file ends inside element")
    assert problems["zero-length.dcm"] == "empty file (zero length)"
    # pydicom reads the two garbage VR bytes as a long length: refused at that element.
    assert problems["garbage-vr.dcm"].endswith("element (0010,0010) (8 of 589567 bytes)")
    assert problems["huge-length.dcm"].startswith("truncated: the file ends inside element")
    assert "(0029,1010)" in problems["huge-length.dcm"]
    assert problems["garbage-after-dicm.dcm"]  # whatever pydicom chokes on, named per file


def test_a_damaged_gzip_is_refused_and_a_good_one_read(good: bytes) -> None:
    packed = gzip.compress(good)
    assert read_bytes(packed, "a.dcm.gz").SOPInstanceUID
    assert _refused(packed[: len(packed) // 2]) == (
        "a gzip file that cannot be decompressed (truncated?)"
    )


def test_a_sequence_cut_short_is_truncated() -> None:
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + _explicit_element(
        0x0010, 0x0010, b"PN", b"DOE^JANE"
    )
    sequence = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF) + item
    problem = _refused(_part10(SOP_CLASS + SOP_UID + sequence))  # no delimiters: EOF
    assert problem == "truncated: the file ends inside a sequence or item"


def test_an_instance_without_any_sop_class_is_refused() -> None:
    raw = _explicit_element(8, 0x0018, b"UI", b"1.2.3.4.5.6\x00") + _explicit_element(
        0x0010, 0x0010, b"PN", b"DOE^JANE"
    )
    meta_free = (
        b"\x00" * 128 + b"DICM" + _explicit_element(2, 0x0010, b"UI", b"1.2.840.10008.1.2.1\x00")
    )
    assert "no SOP Class UID" in _refused(meta_free + raw)


def test_what_is_not_an_image_is_skipped_not_failed(corpus: Path) -> None:
    with pytest.raises(SkippedFile, match="not DICOM"):
        read_bytes(b"%PDF-1.7 a report next to the images", "report.pdf")
    dicomdir = next(corpus.rglob("DICOMDIR"))
    with pytest.raises(SkippedFile, match="DICOMDIR"):
        read_dataset(dicomdir)


def test_reading_from_disk_names_the_path_and_never_changes_the_file(
    tmp_path: Path, good: bytes
) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(good)
    before = path.stat().st_mtime_ns
    assert read_dataset(path).SOPInstanceUID
    assert path.stat().st_mtime_ns == before and path.read_bytes() == good
    with pytest.raises(InputFileError, match=r"is a directory"):
        read_dataset(tmp_path)
    with pytest.raises(InputFileError, match=r"missing\.dcm: unreadable \(No such file"):
        read_dataset(tmp_path / "missing.dcm")
