"""The studio's form and YAML views are one document: written and read back, it is the same;
and whatever the document says, the loader reads the same policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import PolicyError
from veil.policy import parse_policy
from veil.policy.document import OverrideLine, PolicyDocument, document_from_yaml, option_names
from veil.policy.loader import BUILTIN_NAMES, builtin_policy_text

KEYWORDS = ["PatientAge", "PatientSex", "StudyDescription", "(0008,103E)", "(0010,1010)"]
CREATORS = ["SIEMENS CSA HEADER", "GEMS_PARM_01", "Philips MR Imaging DD 001", "ACME: a, b"]
# The loader strips values, as the editor's fields do: a document holds them stripped.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(str.strip)

public = st.builds(
    OverrideLine,
    action=st.sampled_from(["keep", "remove", "empty", "dummy", "hash", "clean"]),
    attribute=st.sampled_from(KEYWORDS),
)
replaced = st.builds(
    OverrideLine, action=st.just("replace"), attribute=st.sampled_from(KEYWORDS), value=TEXT
)
private = st.builds(
    OverrideLine,
    action=st.sampled_from(["keep", "remove"]),
    creator=st.sampled_from(CREATORS),
    group=st.sampled_from(["", "0029", "0019"]),
    element=st.sampled_from(["", "10", "0x20"]),
)
documents = st.builds(
    PolicyDocument,
    name=st.from_regex(r"[A-Za-z][A-Za-z0-9 ._-]{0,20}[A-Za-z0-9]", fullmatch=True),
    description=TEXT,
    options=st.lists(
        st.sampled_from(
            [
                o
                for o in option_names()
                if o
                not in (
                    "clean-pixel-data",
                    "clean-recognizable-visual-features",
                    "retain-longitudinal-full-dates",
                )
            ]
        ),
        unique=True,
    ).map(lambda names: tuple(o for o in option_names() if o in names)),
    requirements=st.lists(st.sampled_from(["neuroquant", "dcm2niix"]), unique=True).map(tuple),
    overrides=st.lists(st.one_of(public, replaced, private), max_size=6).map(tuple),
    layout=st.sampled_from(["", "mirror", "hierarchy"]),
)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_a_document_written_as_yaml_reads_back_the_same(document: PolicyDocument) -> None:
    text = document.to_yaml()
    assert document_from_yaml(text, "draft") == document
    policy = parse_policy(text, "draft")
    assert policy.name == document.name
    assert {o.value for o in policy.options} == set(document.options)
    assert len(policy.overrides) == len(document.overrides)
    assert [r.name for r in policy.requirements] == list(document.requirements)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_the_built_in_policies_read_into_documents_and_back_to_the_same_policy(name: str) -> None:
    text = builtin_policy_text(name)
    document = document_from_yaml(text, name)
    again = parse_policy(document.to_yaml(), name)
    original = parse_policy(text, name)
    assert again.options == original.options
    assert [(o.action, o.tag) for o in again.overrides] == [
        (o.action, o.tag) for o in original.overrides
    ]


def test_yaml_errors_name_their_line() -> None:
    text = "name: x\nbase: basic\noverrides:\n  - {attribute: PatientAge, action: kepp}\n"
    with pytest.raises(PolicyError, match="draft: line 4: unknown action 'kepp'"):
        document_from_yaml(text, "draft")


def test_rows_the_editor_added_and_nobody_filled_are_not_part_of_the_policy() -> None:
    document = PolicyDocument(
        "x", overrides=(OverrideLine("keep", ""), OverrideLine("keep", private=True))
    )
    assert "overrides: []" in document.to_yaml()
    assert parse_policy(document.to_yaml(), "draft").overrides == ()
