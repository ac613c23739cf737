"""Hierarchy names are checked against the fast path's identifiers once per output folder
(`veil.batch.naming._FolderChecks`): the verdict must stay the one of searching every form
of every identifier of the file in its whole path, for every file, whatever files came
before it with the same folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veil.audit.forms import search_forms
from veil.batch import naming
from veil.batch.naming import clear_of_identifiers, digits_to_reach, hierarchy_name, name_dataset
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


_FOLDER_CHARS = "ab09./-_dcm"


@given(
    folder=st.text(_FOLDER_CHARS + "/", max_size=12),
    digits=st.text("0123456789", min_size=1, max_size=12),
    data=st.data(),
)
def test_a_text_reaching_into_a_numbered_file_name_is_never_ruled_out(
    folder: str, digits: str, data: st.DataObject
) -> None:
    path = f"{folder}/{digits}.dcm"
    end = data.draw(st.integers(len(folder) + 1, len(path)))  # ends inside the file name
    text = path[data.draw(st.integers(0, end - 1)) : end]
    if text in folder:
        return  # found inside the folder: the folder's own search has it
    need = digits_to_reach(text, folder)
    assert need is not None and need <= len(digits)


@pytest.mark.parametrize(
    ("text", "folder", "need"),
    [
        ("20251014", "p/s/3", 8),  # a date fits in a file name of 8 digits or more
        ("2025.10.14", "p/s/3", None),  # after a dot comes "dcm" only
        ("dubois-noah", "p/s/3", None),
        ("1.2.826.0.1", "p/s/3", None),
        ("10/14", "p/s/10", 2),  # "p/s/10" + "/14.dcm"
        ("10/14", "p/s/11", None),
        ("0001.dcm", "x", 4),
        ("cm", "x", 0),
    ],
)
def test_what_can_reach_a_numbered_file_name(text: str, folder: str, need: int | None) -> None:
    assert digits_to_reach(text, folder) == need


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


def test_the_folder_memo_gives_the_every_form_verdict(corpus: Path, plan: Plan) -> None:
    outputs = _fast_outputs(corpus, plan, 12)
    assert len(outputs) > 30
    shared = ["veilpseudonym/study_abc123/3_t1", "p/s", "p/2013-06-06_4f2a9c/5"]
    naming._CHECKED.clear()
    verdicts = {True: 0, False: 0}
    for data, fast in outputs:
        for path in _candidates(fast, shared):
            clear = clear_of_identifiers(path, fast, data)
            assert clear == _every_form_verdict(path, fast), path
            verdicts[clear] += 1
        shared.append(f"p/{len(shared)}")
    assert min(verdicts.values()) > 100  # both verdicts, many times


def test_a_full_memo_starts_again_with_the_same_verdicts(
    corpus: Path, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(naming, "MAX_CHECKED_LISTS", 8)
    monkeypatch.setattr(naming, "MAX_CHECKED_FOLDERS", 2)
    naming._CHECKED.clear()
    for data, fast in _fast_outputs(corpus, plan, 40):
        for path in _candidates(fast, ["p/s", "q/t", "r/u"]):
            assert clear_of_identifiers(path, fast, data) == _every_form_verdict(path, fast)
    assert len(naming._CHECKED) <= 2
    assert all(len(checks.lists) <= 8 + 64 for checks in naming._CHECKED.values())
