"""Output names of fast-path files: named from a parse of the output's head and checked
against the fast path's own identifiers, with exactly the names of the full reads (the
output read whole; the input read again and its identifiers collected by the audit)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from tests.engine import builders
from veil.audit.forms import search_forms
from veil.batch import fast_names
from veil.batch.layout import place_output
from veil.batch.naming import (
    HierarchyName,
    checked_hierarchy,
    clear_of_identifiers,
    form_texts,
    hierarchy_name,
    mirror_path,
    name_dataset,
)
from veil.engine.fast import FastOutput, deidentify_bytes
from veil.engine.fast.audit import Identifiers
from veil.mapping import Mapper
from veil.pipeline import FAST, Engine, Settings, deidentify_file
from veil.policy import Layout, compile_plan, load_policy
from veil.policy.plan import Plan
from veil.standard import Option

MAPPER = Mapper(bytes(range(32)))


def _encode(ds: Dataset) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", MRImageStorage)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3.4")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_plan(load_policy("basic"), ())


def _fast(data: bytes, plan: Plan, audit: bool = True) -> FastOutput:
    fast = deidentify_bytes(data, plan, MAPPER, audit=audit)
    assert isinstance(fast, FastOutput), fast
    return fast


def _identifying_paths(original: Dataset) -> list[str]:
    """Paths holding the input's own values, in the forms people write them."""
    name = str(original.get("PatientName", "") or "X^Y").replace("^", "_")
    pid = str(original.get("PatientID", "") or "pid")
    date = str(original.get("StudyDate", "") or "20000101")
    sop = str(original.get("SOPInstanceUID", "") or "1.2")
    return [
        f"{pid}_{name}/{name}_001.dcm",
        f"scans/{date[:4]}-{date[4:6]}-{date[6:]}/T1/IM0001.dcm",
        f"x/{sop}.dcm",
        "sub-01/anat/T1w_0001.dcm",
    ]


def _same_names(data: bytes, relative: str, plan: Plan, audit: bool = True) -> None:
    """Names from the fast path's facts equal names from the full reads, for the corpus
    path, the hierarchy name, and paths holding the input's own values."""
    fast = _fast(data, plan, audit)
    options = plan.declared_options
    full = pydicom.dcmread(io.BytesIO(fast.encoded), stop_before_pixels=True, force=True)
    quick = name_dataset(fast.encoded)
    name = hierarchy_name(full, "VEILPSEUDONYM")
    assert hierarchy_name(quick, "VEILPSEUDONYM") == name
    # From the raw bytes (the audit's parse of the output when it made one, else the head's),
    # named afresh and from the memo of its series folder.
    assert fast_names.output_hierarchy_name(fast.encoded, "VEILPSEUDONYM", fast.output) == name
    assert fast_names.output_hierarchy_name(fast.encoded, "VEILPSEUDONYM") == name
    assert checked_hierarchy(name, data, MAPPER, options, fast) == checked_hierarchy(
        name, data, MAPPER, options
    )
    original = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    for path in [relative, *_identifying_paths(original)]:
        expected = mirror_path(path, data, MAPPER, options)
        assert mirror_path(path, data, MAPPER, options, fast) == expected, path
        if expected.renamed:  # never "clear" where the full check renames
            assert not clear_of_identifiers(path, fast, data, options), path


def test_the_issues_example_is_renamed_from_the_fast_paths_identifiers(plan: Plan) -> None:
    ds = builders.mr_dataset()
    ds.PatientID = "MRN12345"
    ds.PatientName = "SMITH^JOHN"
    data = _encode(ds)
    for audit in (True, False):
        fast = _fast(data, plan, audit)
        path = "MRN12345_SMITH/SMITH_JOHN_001.dcm"
        assert not clear_of_identifiers(path, fast, data)
        checked = mirror_path(path, data, MAPPER, fast=fast)
        assert checked == mirror_path(path, data, MAPPER)
        assert {"patient-id", "patient-name"} <= set(checked.renamed)
        assert clear_of_identifiers("T1_MPRAGE/IM0001.dcm", fast, data)


def test_a_hierarchy_name_holding_an_input_value_is_renamed_on_the_fast_path(
    plan: Plan,
) -> None:
    """GE's Performed Location "0009" and instance 9 (see test_output_names)."""
    ds = builders.mr_dataset()
    ds.add_new(0x00400243, "SH", "0009")  # Performed Location
    data = _encode(ds)
    name = HierarchyName("VEILX/2013-08-08_abcdef/5_T1", "0009", "1.2.3")
    other = HierarchyName("VEILX/2013-08-08_abcdef/5_T1", "0010", "1.2.3")
    for audit in (True, False):
        fast = _fast(data, plan, audit)
        checked = checked_hierarchy(name, data, MAPPER, fast=fast)
        assert checked == checked_hierarchy(name, data, MAPPER)
        assert checked.stem.startswith("path-")
        assert checked_hierarchy(other, data, MAPPER, fast=fast) == other


def test_another_input_than_the_fast_paths_gets_the_full_check(plan: Plan) -> None:
    ds = builders.mr_dataset()
    data = _encode(ds)
    fast = _fast(data, plan)
    ds.PatientID = "MRN12345"
    other = _encode(ds)
    assert not clear_of_identifiers("x/1.dcm", fast, other)  # not its input: not judged
    assert mirror_path("MRN12345/1.dcm", other, MAPPER, fast=fast).renamed == ("patient-id",)


def test_options_change_what_is_searched_as_the_full_check_does() -> None:
    plan = compile_plan(load_policy("basic"), ())
    ds = builders.mr_dataset()  # study date 20240131
    data = _encode(ds)
    kept = frozenset({Option.RETAIN_LONG_FULL_DATES})
    fast = _fast(data, plan, audit=False)
    path = "2024-01-31/x.dcm"
    for options in (frozenset(), kept):
        assert mirror_path(path, data, MAPPER, options, fast) == mirror_path(
            path, data, MAPPER, options
        )


def _corpus_files(corpus: Path, step: int) -> list[Path]:
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() != ".gz")
    return files[::step]


@pytest.mark.parametrize(("audit", "step"), [(True, 8), (False, 24)])
def test_names_on_the_real_corpus_equal_the_full_reads(
    corpus: Path, plan: Plan, audit: bool, step: int
) -> None:
    """A sample of the corpus: all of it took minutes."""
    taken = 0
    for path in _corpus_files(corpus, step):
        data = path.read_bytes()
        if not isinstance(deidentify_bytes(data, plan, MAPPER, audit=audit), FastOutput):
            continue
        _same_names(data, str(path.relative_to(corpus)), plan, audit)
        taken += 1
    assert taken > 150 // step  # most of the corpus takes the fast path


@pytest.mark.parametrize("layout", [Layout.HIERARCHY, Layout.MIRROR])
def test_a_fast_path_output_is_placed_where_the_full_reads_place_it(
    plan: Plan, layout: Layout, tmp_path: Path
) -> None:
    ds = builders.mr_dataset()
    ds.add_new(0x00400243, "SH", "0001")  # Performed Location: the instance file "0001"
    ds.InstanceNumber = 1
    data = _encode(ds)
    result = deidentify_file(data, "x.dcm", Settings(plan, MAPPER, engine=Engine.AUTO))
    assert result.engine == FAST and result.fast is not None
    relative = "DOE_JOHN/T1/img1.dcm"
    placed = [
        place_output(tmp_path / label, layout, relative, data, given, MAPPER)
        for label, given in (("fast", result), ("full", replace(result, fast=None)))
    ]
    assert placed[0] == placed[1]
    assert "path-" in placed[0].relative  # the identifying part was renamed either way
    assert (tmp_path / "fast" / placed[0].relative).read_bytes() == result.encoded


def _per_identifier_verdict(relative: str, fast: FastOutput) -> bool:
    """`clear_of_identifiers` as it was before its texts were kept per list: every distinct
    identifier's forms asked of ``search_forms`` (the route `form_texts` shortcuts)."""
    assert fast.found is not None
    lowered = relative.lower()
    idents = {ident for found in fast.found.values() for ident in found}
    return not any(
        form.text in lowered
        for ident in idents
        for form in search_forms(ident.kind, ident.vr, ident.value)
    )


def test_the_kept_form_texts_give_the_per_identifier_verdict(corpus: Path, plan: Plan) -> None:
    """The texts kept on the audit's memoised lists are every form of their identifiers,
    and the verdict on a path holding any of them, or none, is the per-identifier one."""
    taken = 0
    for path in _corpus_files(corpus, 16):
        data = path.read_bytes()
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        if not isinstance(fast, FastOutput) or not fast.found:
            continue
        texts: set[str] = set()
        for found in fast.found.values():
            assert isinstance(found, Identifiers)
            kept = form_texts(found)
            assert form_texts(found) is kept  # kept on the list: asked once
            expected = {f.text for i in found for f in search_forms(i.kind, i.vr, i.value)}
            assert set(kept) == expected and len(kept) == len(expected)
            texts |= expected
        relative = str(path.relative_to(corpus))
        for candidate in [relative, *(f"a/{text}_x/1.dcm" for text in sorted(texts)[:40])]:
            clear = clear_of_identifiers(candidate, fast, data)
            assert clear == _per_identifier_verdict(candidate, fast), candidate
        taken += 1
    assert taken > 20
