"""`veil.explain`: one typed table for `veil explain` and the console's sample, private blocks
folded, and a summary of every value before that never holds the value."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import DataElement

from tests.engine import builders
from veil.explain import (
    Change,
    FoldedBlock,
    changed_only,
    explain_dataset,
    fold_private_blocks,
    summarise_value,
)
from veil.mapping import Mapper
from veil.pipeline import compile_policy

AXASC35 = Path(__file__).parents[2].parent / "shared" / "corpus" / "dcm_qa" / "axasc35"

KEY = bytes(range(32))


def test_a_summary_names_kind_and_shape_never_the_value() -> None:
    cases = [
        (DataElement(0x00100010, "PN", builders.PATIENT_NAME), "PN, 2 component(s)"),
        (DataElement(0x00100010, "PN", "DOE^JOHN^Q^DR^"), "PN, 4 component(s)"),
        (DataElement(0x00100030, "DA", builders.BIRTH_DATE), "DA, 8 character(s)"),
        (DataElement(0x00080008, "CS", ["ORIGINAL", "PRIMARY"]), "CS, 2 values"),
        (DataElement(0x00291010, "OB", b"\x01" * 1024), "OB, 1024 bytes"),
        (DataElement(0x00080080, "LO", ""), "LO, empty"),
        (DataElement(0x00280010, "US", 64), "US, 1 value"),
    ]
    for element, expected in cases:
        summary = summarise_value(element)
        assert summary == expected
        assert "DOE" not in summary and "1970" not in summary


def test_every_element_of_the_input_has_a_row_with_the_rule_that_decided_it() -> None:
    ds = builders.mr_dataset()
    plan = compile_policy("basic").plan
    rows = explain_dataset(ds, plan, Mapper(KEY))
    paths = [row.path for row in rows]
    assert "(0040,A730)[0].(0040,A730)[0].(0040,A730)[0].(0040,A123)" in paths
    by_keyword = {row.keyword: row for row in rows if row.depth == 0}
    name = by_keyword["PatientName"]
    assert name.change is Change.CHANGED and name.before == builders.PATIENT_NAME
    assert name.before_summary == "PN, 2 component(s)"
    assert by_keyword["InstitutionName"].change is Change.REMOVED
    assert "Table E.1-1 (0008,0080)" in by_keyword["InstitutionName"].rule
    assert by_keyword["Modality"].change is Change.KEPT
    added = [row for row in rows if row.change is Change.ADDED]
    assert {"PatientIdentityRemoved", "DeidentificationMethod"} <= {r.keyword for r in added}
    assert all(row.change is not Change.KEPT for row in changed_only(rows))


def test_private_blocks_fold_into_one_line_each_by_their_creator() -> None:
    ds = builders.mr_dataset()
    rows = explain_dataset(ds, compile_policy("basic").plan, Mapper(KEY))
    folded = fold_private_blocks(rows)
    blocks = {item.block.creator: item for item in folded if isinstance(item, FoldedBlock)}
    assert {"SIEMENS CSA HEADER", "ACME HOSPITAL PACS", "TRAILING CREATOR"} <= set(blocks)
    csa = blocks["SIEMENS CSA HEADER"]
    assert len(csa.rows) == 2  # the creator element and its one data element
    assert csa.summary == "removed: 2 element(s)"
    assert "odd" in csa.rule.lower()
    assert len(folded) == len(rows) - sum(len(b.rows) - 1 for b in blocks.values())
    # no private row is left outside its fold
    assert not [r for r in folded if not isinstance(r, FoldedBlock) and r.private is not None]


def test_a_kept_private_block_says_kept_with_the_requirement_behind_it() -> None:
    # A real Siemens CSA header: a made-up one does not parse, and veil removes what it
    # cannot mask structurally (issue 11).
    ds = dcmread(next(iter(sorted(AXASC35.glob("MR*")))))
    plan = compile_policy("basic", ["dcm2niix"]).plan
    rows = explain_dataset(ds, plan, Mapper(KEY))
    block = next(
        i
        for i in fold_private_blocks(rows)
        if isinstance(i, FoldedBlock) and i.block.creator == "SIEMENS CSA HEADER"
    )
    assert "kept" in block.summary or "changed" in block.summary
    assert "dcm2niix" in " ".join(r.rule for r in block.rows)
