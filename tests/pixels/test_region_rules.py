"""Known-region rules (the CTP DicomPixelAnonymizer shape, as YAML)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from tests.pixels.conftest import US_FILES
from veil.errors import PolicyError
from veil.pixels.model import Box
from veil.pixels.rules import builtin_rules, matching_rules, parse_rules

RULES = """\
rules:
  - name: Vendor X screen
    when:
      Manufacturer: {contains: vendor}
      ImageType: {one-of: [SCREEN SAVE, SECONDARY]}
      Rows: 480
    remove:
      - [0, 0, 640, 40]
"""


def test_a_rule_matches_by_manufacturer_image_type_and_size() -> None:
    (rule,) = parse_rules(RULES, "rules.yaml")
    assert rule.boxes == (Box(0, 0, 640, 40),)
    assert rule.matches(
        {"Manufacturer": "Big Vendor Inc", "ImageType": "DERIVED\\SECONDARY", "Rows": "480"}
    )
    assert not rule.matches(
        {"Manufacturer": "Big Vendor Inc", "ImageType": "ORIGINAL", "Rows": "480"}
    )
    assert not rule.matches({"Manufacturer": "Other", "ImageType": "SECONDARY", "Rows": "480"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules:\n  - when: {Bogus: 1}\n    remove: [[0,0,1,1]]\n", "line 2: 'Bogus' is not"),
        ("rules:\n  - when: {Rows: 1}\n    remove: [[0,0,1]]\n", "[x, y, width, height]"),
        ("rules:\n  - when: {Rows: 1}\n    remove: [[0,0,-1,5]]\n", "positive width"),
        ("rules:\n  - remove: [[0,0,1,1]]\n", "needs 'when'"),
    ],
)
def test_a_mistake_in_a_rule_file_names_the_line(text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=r"rules\.yaml") as caught:
        parse_rules(text, "rules.yaml")
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("jpeg2k", "GE LOGIQ 700 (640x480), header block"),
        ("rgb", "GE LOGIQ 700 (320x240), header block"),
        ("palette", "Philips CX50, top band"),
        ("aloka", "ALOKA SSD-4000 (640x480), top band"),
        ("ybr", "SonoSite Turbo (320x240), patient name corner"),
    ],
)
def test_the_builtin_rules_name_each_corpus_ultrasound_device(
    corpus: Path, key: str, expected: str
) -> None:
    ds = pydicom.dcmread(corpus / US_FILES[key], stop_before_pixels=True)
    assert [rule.name for rule in matching_rules(ds, builtin_rules())] == [expected]


def test_no_builtin_rule_matches_a_brain_mr_slice(corpus: Path) -> None:
    folder = corpus / "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic"
    ds = pydicom.dcmread(folder / "1301_0001.dcm", stop_before_pixels=True)
    assert matching_rules(ds, builtin_rules()) == []
