"""The fast path's record of what it changed at the top level (`Result.changes`): the
input's top-level elements with those changes are exactly the output's, so the destination
checks' "after" needs no second parse of the output (veil.pipeline._fast_facts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine import builders as b
from tests.engine.test_fast_path_equivalence import CORPUS, POLICIES, _encode, _plan, generated
from veil.engine.fast import FastOutput, deidentify_bytes
from veil.engine.fast.header import elements_after, top_elements
from veil.engine.fast.parse import parse_file
from veil.mapping import Mapper
from veil.policy.plan import Plan

MAPPER = Mapper(bytes(range(32)))


def _assert_changes_make_the_output(data: bytes, plan: Plan) -> FastOutput | None:
    fast = deidentify_bytes(data, plan, MAPPER, audit=True)
    if not isinstance(fast, FastOutput):
        return None
    if fast.parsed.implicit:  # no changes recorded: the checks take the full reads
        assert fast.changes is None
        return fast
    output = parse_file(fast.encoded)
    every = frozenset(e.tag for e in fast.parsed.elements) | {e.tag for e in output.elements}
    before = top_elements(fast.parsed, every)
    after, changed = elements_after(before, fast.changes, every)
    expected = top_elements(output, every)
    assert after == expected
    assert changed == {tag for tag in every if before.get(tag) != expected.get(tag)}, (
        "a tag reported changed that is not, or the reverse"
    )
    return fast


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_rewrites_changes_give_the_outputs_top_level(policy: str) -> None:
    ds = b.mr_dataset()
    ds.PatientAge = "054Y"
    fast = _assert_changes_make_the_output(_encode(ds), _plan(POLICIES[policy]))
    assert fast is not None
    assert fast.changes is not None and fast.changes.spans  # something was changed


def test_the_derived_age_and_the_record_attributes_are_changes() -> None:
    fast = _assert_changes_make_the_output(_encode(b.mr_dataset()), _plan(profiles=("neuroquant",)))
    assert fast is not None and fast.changes is not None
    added = {tag for tag, _ in fast.changes.added}
    assert {0x00101010, 0x00120062, 0x00120063, 0x00120064} <= added  # age, the record


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=generated(), policy=st.sampled_from(sorted(POLICIES)))
def test_generated_datasets_changes_give_the_outputs_top_level(data: bytes, policy: str) -> None:
    _assert_changes_make_the_output(data, _plan(POLICIES[policy]))


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_corpus_files_changes_give_the_outputs_top_level() -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".md", ".tsv"))
    plan = _plan(profiles=("neuroquant",))
    taken = sum(
        _assert_changes_make_the_output(Path(path).read_bytes(), plan) is not None
        for path in files[::4]
    )
    assert taken > 100
