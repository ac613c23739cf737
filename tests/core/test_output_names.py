"""Output names: sanitised parts, and identifying values found in paths the way the audit
finds them in data (every form: reordered names, other separators, dates written otherwise)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.engine import builders
from veil.batch.naming import (
    MAX_PART,
    HierarchyName,
    checked_hierarchy,
    identifying_parts,
    mirror_path,
    safe_part,
)
from veil.io.dicomfile import encode_dataset
from veil.mapping import Mapper

SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


@given(st.text(max_size=300))
def test_a_part_from_any_text_is_one_safe_visible_name(text: str) -> None:
    part = safe_part(text)
    assert part and set(part) <= SAFE
    assert len(part) <= MAX_PART
    assert not part.startswith(".") and part not in (".", "..")
    assert "/" not in part and "\\" not in part


def test_identifying_values_are_found_in_every_form_the_audit_searches() -> None:
    ds = builders.mr_dataset()  # DOE^JOHN, PID-0042, study date 20240131, ACC778899
    for path in (
        "DOE_JOHN/1.dcm",
        "john doe/1.dcm",
        "scans/Doe-John-T1.dcm",
        "PID0042/x.dcm",
        "pid-0042/x.dcm",
        "2024-01-31/x.dcm",
        "x/ACC778899.dcm",
        f"x/{builders.SOP_UID}.dcm",
    ):
        assert identifying_parts(path, ds), path
    for path in ("T1_MPRAGE/0001.dcm", "DOEBLING/12.dcm", "x/PID00421.dcm"):
        assert not identifying_parts(path, ds), path


def test_only_the_parts_that_identify_are_renamed_and_a_folder_stays_one_folder() -> None:
    data = encode_dataset(builders.mr_dataset())
    mapper = Mapper(bytes(range(32)))
    first = mirror_path("study/DOE_JOHN/T1/img1.dcm", data, mapper)
    second = mirror_path("study/DOE_JOHN/T1/img2.dcm.gz", data, mapper)
    assert first.renamed == ("patient-name",)
    parts, other = first.path.split("/"), second.path.split("/")
    assert parts[0] == "study" and parts[2:] == ["T1", "img1.dcm"]
    assert parts[1].startswith("path-") and parts[1] == other[1]
    assert other[3] == "img2.dcm"


def test_a_hierarchy_name_that_happens_to_hold_an_input_value_is_renamed() -> None:
    """GE's Performed Location "0009" and instance 9 made ``0009.dcm``: the audit of file
    names reported it (the README's share-one-case recipe), so the name becomes a token."""
    ds = builders.mr_dataset()
    ds.add_new(0x00400243, "SH", "0009")  # Performed Location
    data = encode_dataset(ds)
    mapper = Mapper(bytes(32))
    name = HierarchyName("VEILX/2013-08-08_abcdef/5_T1", "0009", "1.2.3")
    checked = checked_hierarchy(name, data, mapper)
    assert checked.series_folder == name.series_folder
    assert checked.stem.startswith("path-") and "0009" not in checked.stem
    other = HierarchyName("VEILX/2013-08-08_abcdef/5_T1", "0010", "1.2.3")
    assert checked_hierarchy(other, data, mapper) == other
