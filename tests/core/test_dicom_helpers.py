"""veil.dicom: the DICOM helpers written once, and the one answer to "is this a class UID?"."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.audit.identifiers import collect
from veil.dicom import (
    AGE_PATTERN,
    DATE_VRS,
    FREE_TEXT_VRS,
    STRING_VRS,
    TEXT_VRS,
    describe_tag,
    dictionary_vr,
    is_class_uid,
    is_private_creator,
    keyword_vr,
    names_instance,
    tag_of,
    tag_text,
    text_values,
    values_of,
)


def test_tags_are_named_by_keyword_and_a_misspelt_keyword_fails_loudly() -> None:
    assert tag_of("PatientName") == 0x00100010
    with pytest.raises(KeyError, match="PatientNme"):
        tag_of("PatientNme")
    assert tag_text(0x0040A730) == "(0040,A730)"
    assert describe_tag(0x00100010) == "(0010,0010) PatientName"
    assert describe_tag(0x00191010) == "(0019,1010) (0019,1010)"


def test_dictionary_vr_is_un_for_what_the_dictionary_does_not_know() -> None:
    assert dictionary_vr(0x00100010) == "PN"
    assert dictionary_vr(0x00191010) == "UN"  # private
    assert keyword_vr("PatientAge") == "AS"
    assert keyword_vr("NoSuchKeyword") == "UN"


def test_values_as_lists_and_as_text() -> None:
    assert values_of(None) == []
    assert values_of("A") == ["A"]
    assert values_of(MultiValue(str, ["A", "B"])) == ["A", "B"]
    assert values_of((1, 2)) == [1, 2]
    assert text_values([b"DOE\x00", " ", None, "1.2.3 "]) == ["DOE", "None", "1.2.3"]


def test_vr_sets_nest_the_way_their_names_say() -> None:
    assert FREE_TEXT_VRS < TEXT_VRS < STRING_VRS
    assert DATE_VRS < STRING_VRS
    assert AGE_PATTERN.match("045Y") and not AGE_PATTERN.match("45Y")


def test_private_creator_slots() -> None:
    assert is_private_creator(0x00290010) and is_private_creator(0x002900FF)
    assert not is_private_creator(0x00291010)  # a private data element
    assert not is_private_creator(0x00100010)  # public


@pytest.mark.parametrize(
    ("keyword", "is_class"),
    [
        ("SOPClassUID", True),
        ("ReferencedSOPClassUID", True),
        ("TransferSyntaxUID", True),
        ("CodingSchemeUID", True),
        # Names a published mapping resource (DCMR), like a coding scheme: a class.
        ("MappingResourceUID", True),
        # A party that extended a context group, like TemplateExtensionCreatorUID, which
        # Table E.1-1 replaces (U): not a class.
        ("ContextGroupExtensionCreatorUID", False),
        ("TemplateExtensionCreatorUID", False),
        ("InstanceCreatorUID", False),  # Table E.1-1: U
        ("SOPInstanceUID", False),
        ("FrameOfReferenceUID", False),
    ],
)
def test_one_answer_to_is_this_a_class_uid(keyword: str, is_class: bool) -> None:
    assert is_class_uid(tag_of(keyword)) is is_class
    assert names_instance(tag_of(keyword), "2.25.1234") is not is_class


def test_registered_uids_never_name_an_instance() -> None:
    ct_image_storage = "1.2.840.10008.5.1.4.1.1.2"
    assert not names_instance(tag_of("ReferencedSOPInstanceUID"), ct_image_storage)
    assert not names_instance(tag_of("SOPInstanceUID"), "")


def test_the_audit_searches_creator_uids_and_not_mapping_resources() -> None:
    ds = Dataset()
    ds.InstanceCreatorUID = "1.2.3.4.5.6.7.1"
    ds.ContextGroupExtensionCreatorUID = "1.2.3.4.5.6.7.2"
    ds.MappingResourceUID = "1.2.3.4.5.6.7.3"
    searched = {ident.value for ident in collect(ds)}
    assert "1.2.3.4.5.6.7.1" in searched
    assert "1.2.3.4.5.6.7.2" in searched
    assert "1.2.3.4.5.6.7.3" not in searched
