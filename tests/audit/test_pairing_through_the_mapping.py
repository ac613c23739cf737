"""Scenario: outputs are paired with inputs by keyed SOP Instance UID, not by file name."""

from __future__ import annotations

from veil.audit.pairing import pair
from veil.mapping import Mapper

KEY = bytes.fromhex("5e" * 32)


def test_renamed_outputs_pair_and_strangers_do_not() -> None:
    mapper = Mapper(KEY)
    inputs = {"a.dcm": "1.2.3.4", "b.dcm": "1.2.3.5", "c.dcm": "1.2.3.6"}
    outputs = {
        "x/zz.dcm": mapper.uid("1.2.3.5"),
        "y/aa.dcm": mapper.uid("1.2.3.4"),
        "stranger.dcm": Mapper(bytes(32)).uid("1.2.3.6"),  # another key
    }
    result = pair(inputs, outputs, mapper)
    assert sorted(result.pairs) == [("a.dcm", "y/aa.dcm"), ("b.dcm", "x/zz.dcm")]
    assert result.unpaired_outputs == ["stranger.dcm"]
    assert result.unpaired_inputs == ["c.dcm"]


def test_outputs_that_kept_their_uids_pair_too() -> None:
    result = pair({"a.dcm": "1.2.3.4"}, {"out.dcm": "1.2.3.4"}, Mapper(KEY))
    assert result.pairs == [("a.dcm", "out.dcm")]


def test_copies_of_one_instance_pair_with_the_copy_the_output_mirrors() -> None:
    mapper = Mapper(KEY)
    inputs = {"in/a/x.dcm": "1.2.3.4", "in/b/x.dcm": "1.2.3.4"}
    outputs = {"out/b/x.dcm": mapper.uid("1.2.3.4"), "out/a/x.dcm": mapper.uid("1.2.3.4")}
    result = pair(inputs, outputs, mapper)
    assert sorted(result.pairs) == [("in/a/x.dcm", "out/a/x.dcm"), ("in/b/x.dcm", "out/b/x.dcm")]
    assert result.unpaired_inputs == []
