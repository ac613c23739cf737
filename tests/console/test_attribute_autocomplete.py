"""The studio's attribute autocomplete: VR, type in the chosen IOD, Table E.1-1's action, and
the compound action the engine would choose there."""

from __future__ import annotations

import pytest

from veil.console import attributes
from veil.engine.handlers import resolve_choice
from veil.policy.model import Choice, parse_action
from veil.standard import iod_attribute_types, profile_rows

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def test_a_keyword_prefix_finds_the_attribute_with_its_vr_type_and_action() -> None:
    found = attributes.search("PatientSe")
    sex = next(i for i in found if i.keyword == "PatientSex")
    assert sex.vr == "CS" and sex.tag_text == "(0010,0040)"
    assert sex.iod_type == "type 2 (patient module, mandatory)"
    assert sex.basic == "Z"
    assert ("retain-patient-characteristics", "K") in sex.options
    assert "PatientSex — (0010,0040), CS, type 2" in sex.label()


def test_a_tag_finds_its_attribute_and_the_iod_changes_the_type() -> None:
    by_tag = attributes.lookup("(0008,0020)")
    assert by_tag is not None and by_tag.keyword == "StudyDate"
    assert [i.keyword for i in attributes.search("0008,0020")][:1] == ["StudyDate"]
    assert attributes.lookup("StationName", CT_IMAGE) is not None


@pytest.mark.parametrize("sop_class", ["1.2.840.10008.5.1.4.1.1.4", CT_IMAGE])
def test_the_compound_choice_shown_is_the_engines_choice(sop_class: str) -> None:
    types = iod_attribute_types()[sop_class]
    compound_rows = [r for r in profile_rows() if r.pattern.exact and "/" in r.basic]
    assert len(compound_rows) > 20
    for row in compound_rows:
        shown = attributes.choose_compound(row.basic, types.get(f"{row.pattern.tag:08X}"))
        choice = parse_action(row.basic)
        assert isinstance(choice, Choice), row.name
        action, why = resolve_choice(choice, sop_class, (), row.pattern.tag)
        assert shown == (action.value, why), row.name
