"""Hierarchy names from an output's raw bytes (`veil.batch.fast_names`): the names pydicom's
reading gives, for plain and odd values, with the series folder memoised on exactly what it
is made of."""

from __future__ import annotations

import io

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from tests.engine import builders
from veil.batch import fast_names, naming
from veil.batch.naming import hierarchy_name, name_dataset, raw_dataset
from veil.engine.fast.parse import Element, parse_file


def _encode(ds: Dataset) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _read_name(encoded: bytes, pseudonym: str = "VEILX") -> naming.HierarchyName:
    """The name as the output read whole names it."""
    full = pydicom.dcmread(io.BytesIO(encoded), stop_before_pixels=True, force=True)
    return hierarchy_name(full, pseudonym)


def _is_element(value: bytes) -> Element:
    return Element(0x00200013, "IS", 0, 0, len(value), len(value))


@given(
    st.one_of(
        st.from_regex(rb"\A *[+-]?[0-9]{1,12} *\Z"),
        st.binary(max_size=14),
        st.sampled_from([b"", b" ", b"12\\13", b"1.0", b"1.5", b"12\x00", b"-0", b"+7 "]),
    )
)
def test_an_instance_number_read_directly_is_the_one_pydicom_reads(value: bytes) -> None:
    """Plain numbers take the direct route; anything else is left to pydicom (None)."""
    stem = fast_names.instance_stem(value, _is_element(value))
    if stem is not None:
        assert stem == naming.instance_stem(raw_dataset(value, [_is_element(value)]))


@pytest.mark.parametrize("value", [b"1 ", b"12", b"0009", b" 42 ", b"+3", b"-1", b"123456789 "])
def test_plain_instance_numbers_take_the_direct_route(value: bytes) -> None:
    stem = fast_names.instance_stem(value, _is_element(value))
    assert stem == naming.instance_stem(raw_dataset(value, [_is_element(value)]))


def _series(n: int, **values: object) -> list[bytes]:
    files = []
    for number in range(1, n + 1):
        ds = builders.mr_dataset()
        ds.InstanceNumber = number
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        files.append(_encode(ds))
    return files


def test_a_series_is_named_once_and_its_files_from_the_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast_names, "_FOLDERS", {})
    calls: list[str] = []
    real = fast_names.hierarchy_name

    def counting(ds: Dataset, pseudonym: str) -> naming.HierarchyName:
        calls.append(pseudonym)
        return real(ds, pseudonym)

    monkeypatch.setattr(fast_names, "hierarchy_name", counting)
    files = _series(3, SeriesNumber=5)
    for data in files:
        parsed = parse_file(data)
        assert fast_names.output_hierarchy_name(data, "VEILX", parsed) == _read_name(data)
    assert len(calls) == 1
    names = {fast_names.output_hierarchy_name(data, "VEILX").stem for data in files}
    assert names == {"0001", "0002", "0003"}
    # Another pseudonym is another folder: named afresh.
    assert fast_names.output_hierarchy_name(files[0], "VEILY") == _read_name(files[0], "VEILY")
    assert len(calls) == 2


def test_the_memo_tells_apart_what_the_folder_is_made_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same description bytes under two character sets, other dates, numbers, UIDs, an
    odd instance number: every name is the one the full read gives, in any order."""
    monkeypatch.setattr(fast_names, "_FOLDERS", {})
    monkeypatch.setattr(fast_names, "MAX_FOLDERS", 3)  # cleared when full: still right
    variants = [
        {"SpecificCharacterSet": "ISO_IR 100", "SeriesDescription": "T1 caf\u00e9"},
        {"SpecificCharacterSet": "ISO_IR 192", "SeriesDescription": "T1 caf\u00e9"},
        {"StudyDate": "20200101"},
        {"StudyDate": "2020"},
        {"SeriesNumber": "12"},
        {"SeriesNumber": "7", "SeriesDescription": None},
        {"StudyInstanceUID": "1.2.826.0.1.3680043.2.1125.9"},
        {"SeriesInstanceUID": "1.2.826.0.1.3680043.2.1125.10"},
        {"InstanceNumber": None},
        {"InstanceNumber": "1.0"},
    ]
    encoded = []
    for variant in variants:
        ds = builders.mr_dataset()
        ds.InstanceNumber = 4
        for keyword, value in variant.items():
            if value is None:
                del ds[keyword]
            else:
                setattr(ds, keyword, value)
        encoded.append(_encode(ds))
    for data in [*encoded, *reversed(encoded), *encoded]:
        expected = hierarchy_name(name_dataset(data), "VEILX")
        assert expected == _read_name(data)
        assert fast_names.output_hierarchy_name(data, "VEILX", parse_file(data)) == expected
        assert fast_names.output_hierarchy_name(data, "VEILX") == expected
        assert len(fast_names._FOLDERS) <= 3
    # Eight names: the two character sets spell one description alike, and instance "1.0"
    # and a missing one are both "instance".
    assert len({hierarchy_name(name_dataset(d), "VEILX") for d in encoded}) == 8
