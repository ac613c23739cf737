"""Scenario: outputs are paired with inputs by keyed SOP Instance UID first, then by identical
UID, identical pixel data and relative path; each pair says how it was made."""

from __future__ import annotations

from collections.abc import Mapping

from veil.audit.pairing import Method, Side, pair
from veil.mapping import Mapper

KEY = bytes.fromhex("5e" * 32)


def sides(uids: Mapping[str, str]) -> dict[str, Side]:
    return {name: Side(uid, name.rsplit("/", 1)[-1]) for name, uid in uids.items()}


def test_renamed_outputs_pair_and_strangers_do_not() -> None:
    mapper = Mapper(KEY)
    inputs = sides({"a.dcm": "1.2.3.4", "b.dcm": "1.2.3.5", "c.dcm": "1.2.3.6"})
    outputs = sides(
        {
            "x/zz.dcm": mapper.uid("1.2.3.5"),
            "y/aa.dcm": mapper.uid("1.2.3.4"),
            "stranger.dcm": Mapper(bytes(32)).uid("1.2.3.6"),  # another key
        }
    )
    result = pair(inputs, outputs, mapper)
    assert sorted((p.input, p.output, p.method) for p in result.pairs) == [
        ("a.dcm", "y/aa.dcm", Method.KEYED_UID),
        ("b.dcm", "x/zz.dcm", Method.KEYED_UID),
    ]
    assert result.unpaired_outputs == ["stranger.dcm"]
    assert result.unpaired_inputs == ["c.dcm"]


def test_outputs_that_kept_their_uids_pair_by_identical_uid() -> None:
    result = pair(sides({"a.dcm": "1.2.3.4"}), sides({"out.dcm": "1.2.3.4"}), Mapper(KEY))
    assert [(p.input, p.output, p.method) for p in result.pairs] == [
        ("a.dcm", "out.dcm", Method.SAME_UID)
    ]


def test_copies_of_one_instance_pair_with_the_copy_the_output_mirrors() -> None:
    mapper = Mapper(KEY)
    inputs = {"in/a/x.dcm": Side("1.2.3.4", "a/x.dcm"), "in/b/x.dcm": Side("1.2.3.4", "b/x.dcm")}
    outputs = {
        "out/b/x.dcm": Side(mapper.uid("1.2.3.4"), "b/x.dcm"),
        "out/a/x.dcm": Side(mapper.uid("1.2.3.4"), "a/x.dcm"),
    }
    result = pair(inputs, outputs, mapper)
    assert sorted((p.input, p.output) for p in result.pairs) == [
        ("in/a/x.dcm", "out/a/x.dcm"),
        ("in/b/x.dcm", "out/b/x.dcm"),
    ]
    assert result.unpaired_inputs == []


def test_regenerated_uids_pair_by_pixel_data_then_by_path_and_the_rest_is_unpaired() -> None:
    inputs = {
        "in/1.dcm": Side("1.2.3.1", "1.dcm"),
        "in/2.dcm": Side("1.2.3.2", "2.dcm"),
        "in/3.dcm": Side("1.2.3.3", "3.dcm"),
    }
    outputs = {
        "out/first.dcm": Side("2.25.1", "first.dcm"),  # same pixels as in/1.dcm
        "out/2.dcm": Side("2.25.2", "2.dcm"),  # pixels re-encoded, name kept
        "out/other.dcm": Side("2.25.3", "other.dcm"),  # neither
    }
    pixels = {"in/1.dcm": "d1", "in/2.dcm": "d2", "in/3.dcm": "d3", "out/first.dcm": "d1"}
    asked: list[list[str]] = []

    def digest(names: list[str]) -> dict[str, str | None]:
        asked.append(list(names))
        return {n: pixels.get(n) for n in names}

    result = pair(inputs, outputs, None, (digest, digest))
    assert sorted((p.input, p.output, p.method) for p in result.pairs) == [
        ("in/1.dcm", "out/first.dcm", Method.PIXEL_DIGEST),
        ("in/2.dcm", "out/2.dcm", Method.RELATIVE_PATH),
    ]
    assert result.unpaired_outputs == ["out/other.dcm"]
    assert result.unpaired_inputs == ["in/3.dcm"]


def test_only_files_left_unpaired_by_uid_are_digested() -> None:
    mapper = Mapper(KEY)
    inputs = {"a.dcm": Side("1.2.3.4", "a.dcm"), "b.dcm": Side("1.2.3.5", "b.dcm")}
    outputs = {"x.dcm": Side(mapper.uid("1.2.3.4"), "x.dcm"), "y.dcm": Side("9.9", "y.dcm")}
    asked: list[str] = []

    def digest(names: list[str]) -> dict[str, str | None]:
        asked.extend(names)
        return dict.fromkeys(names, "same")

    result = pair(inputs, outputs, mapper, (digest, digest))
    assert sorted(asked) == ["b.dcm", "y.dcm"]
    assert {(p.output, p.method) for p in result.pairs} == {
        ("x.dcm", Method.KEYED_UID),
        ("y.dcm", Method.PIXEL_DIGEST),
    }


def test_identical_pixel_data_pairs_one_to_one() -> None:
    """Blank frames share a digest: each input pairs once, the surplus output is unpaired."""
    inputs = {"in/a.dcm": Side("1.1", "a.dcm")}
    outputs = {"out/p.dcm": Side("2.1", "p.dcm"), "out/q.dcm": Side("2.2", "q.dcm")}

    def digest(names: list[str]) -> dict[str, str | None]:
        return dict.fromkeys(names, "blank")

    result = pair(inputs, outputs, None, (digest, digest))
    assert len(result.pairs) == 1 and len(result.unpaired_outputs) == 1
