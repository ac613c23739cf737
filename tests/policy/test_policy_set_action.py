"""The `set` override: repair what another tool broke, from what the user knows of the data.

`replace` only rewrites a value that is there; `set` also adds the attribute when absent.
The VR comes from the data dictionary and the value is validated for it when the policy is
read, so a typo is a line-numbered error and never a file a destination rejects."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import run_veil
from tests.engine import builders
from veil.cli import main
from veil.engine import deidentify
from veil.errors import PolicyError
from veil.io.dicomfile import encode_dataset
from veil.mapping import Mapper
from veil.policy import compile_plan, parse_policy

MANUFACTURER = 0x00080070
KEY = bytes(range(32))


def _plan(text: str):  # type: ignore[no-untyped-def]
    return compile_plan(parse_policy(text, "test.yaml"))


def test_set_adds_an_absent_attribute_and_replace_does_not() -> None:
    ds = builders.mr_dataset()
    if "Manufacturer" in ds:
        del ds.Manufacturer
    replaced = deidentify(
        ds,
        _plan("overrides:\n  - {attribute: Manufacturer, action: replace, value: SIEMENS}\n"),
        Mapper(KEY),
    )
    assert "Manufacturer" not in replaced
    added = deidentify(ds, _plan("set:\n  Manufacturer: SIEMENS\n"), Mapper(KEY))
    assert added.Manufacturer == "SIEMENS"
    assert added["Manufacturer"].VR == "LO"


def test_set_replaces_a_present_value_and_both_spellings_compile_alike() -> None:
    ds = builders.mr_dataset()
    ds.Manufacturer = "SOMETHING ELSE"
    long_form = _plan("overrides:\n  - {attribute: Manufacturer, action: set, value: SIEMENS}\n")
    short_form = _plan("set:\n  Manufacturer: SIEMENS\n")
    for plan in (long_form, short_form):
        assert deidentify(ds, plan, Mapper(KEY)).Manufacturer == "SIEMENS"
        assert plan.rule_for(MANUFACTURER) is not None
        assert plan.rule_for(MANUFACTURER).action == "set"  # type: ignore[union-attr]
        assert [tag for tag, _, _ in plan.additions] == [MANUFACTURER]


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("set:\n  StudyDate: 2020-01-01\n", "not a valid DA", 2),
        ("name: x\nset:\n  PatientSex: male\n", "not a valid CS", 3),
        ("set:\n  Manufacturer: " + "A" * 70 + "\n", "exceeds the maximum length of 64", 2),
        ("set:\n  ReferencedSeriesSequence: x\n", "VR SQ (not settable)", 2),
        ("set:\n  Rows: 5\n", "VR US (not settable)", 2),
        ("set:\n  NoSuchKeyword: 5\n", "neither a DICOM keyword", 2),
        ("overrides:\n  - {attribute: Manufacturer, action: set}\n", "needs a 'value'", 2),
        ("set:\n  Manufacturer: [a, b]\n", "must be a single value", 2),
    ],
)
def test_a_bad_set_is_a_line_numbered_error(text: str, words: str, line: int) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "repair.yaml")
    message = str(caught.value)
    assert message.startswith(f"repair.yaml: line {line}: "), message
    assert words in message


def test_set_is_shown_by_policy_show_rules_and_by_explain(tmp_path: Path) -> None:
    policy = tmp_path / "repair.yaml"
    policy.write_text("name: repair\nset:\n  Manufacturer: SIEMENS\n")
    shown = CliRunner().invoke(main, ["policy", "show", str(policy), "--rules", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"action": "set"' in shown.output
    assert "Manufacturer -> set 'SIEMENS'" in shown.output

    ds = builders.mr_dataset()
    if "Manufacturer" in ds:
        del ds.Manufacturer
    image = tmp_path / "image.dcm"
    image.write_bytes(encode_dataset(ds))
    explained = run_veil("explain", image, "--policy", policy, "--values", check=True)
    row = next(line for line in explained.stdout.splitlines() if "Manufacturer " in line)
    assert "(absent)" in row and "SIEMENS" in row
