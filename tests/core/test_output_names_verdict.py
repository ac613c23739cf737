"""The check of an output name against the fast path's identifiers (`clear_of_identifiers`):
its verdict is the one of searching every form of every identifier of the file in the whole
path, for hierarchy-like paths with forms in the folder, in the numbered file name, across the
two, and for folders shared by many files (what a memo per folder would have to get right)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from veil.audit.forms import search_forms
from veil.batch.naming import clear_of_identifiers, hierarchy_name, name_dataset
from veil.engine.fast import FastOutput, deidentify_bytes
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy
from veil.policy.plan import Plan

MAPPER = Mapper(bytes(range(32)))


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_plan(load_policy("basic"), ())


def _every_form_verdict(relative: str, fast: FastOutput) -> bool:
    """The check without any memo: every form of every identifier searched in the path."""
    assert fast.found is not None
    lowered = relative.lower()
    idents = {ident for found in fast.found.values() for ident in found}
    return not any(
        form.text in lowered
        for ident in idents
        for form in search_forms(ident.kind, ident.vr, ident.value)
    )


def _fast_outputs(corpus: Path, plan: Plan, step: int) -> list[tuple[bytes, FastOutput]]:
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() != ".gz")
    taken = []
    for path in files[::step]:
        data = path.read_bytes()
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        if isinstance(fast, FastOutput) and fast.found:
            taken.append((data, fast))
    return taken


def _candidates(fast: FastOutput, shared: list[str]) -> list[str]:
    """Hierarchy-like paths for one file: its own name, shared folders (which earlier files'
    lists were checked against), and its own forms in the folder, in the file name and
    across the two."""
    assert fast.found is not None
    texts = sorted(
        {
            f.text
            for i in {i for v in fast.found.values() for i in v}
            for f in search_forms(i.kind, i.vr, i.value)
        }
    )
    own = hierarchy_name(name_dataset(fast.encoded), "VEILPSEUDONYM")
    paths = [f"{own.series_folder}/{own.stem}.dcm"]
    paths += [f"{folder}/{n:04d}.dcm" for folder in shared for n in (1, 17, 20251014)]
    for text in texts[:60]:
        paths.append(f"p/{text}_x/0001.dcm")  # in the folder
        if re.fullmatch(r"[0-9]+", text):
            paths += [f"p/s/{text}.dcm", f"p/s/9{text}9.dcm", f"p/s/{text[:-1]}.dcm"]
        head, slash, rest = text.partition("/")
        if slash and re.fullmatch(r"[0-9]*", rest):
            paths.append(f"p/{head}/{rest or '0'}.dcm")  # across the folder's end
    return paths


def test_the_name_check_gives_the_every_form_verdict(corpus: Path, plan: Plan) -> None:
    outputs = _fast_outputs(corpus, plan, 12)
    assert len(outputs) > 30
    shared = ["veilpseudonym/study_abc123/3_t1", "p/s", "p/2013-06-06_4f2a9c/5"]
    verdicts = {True: 0, False: 0}
    for data, fast in outputs:
        for path in _candidates(fast, shared):
            clear = clear_of_identifiers(path, fast, data)
            assert clear == _every_form_verdict(path, fast), path
            verdicts[clear] += 1
        shared.append(f"p/{len(shared)}")
    assert min(verdicts.values()) > 100  # both verdicts, many times
