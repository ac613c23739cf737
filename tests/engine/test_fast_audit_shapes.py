"""The fast path's search for identifying text by its shape (veil.engine.fast.audit) judges
the output's own elements from its fast parse, without pydicom, and memoises its verdict per
value: it must hand over every file whose free text the reference audit would report
(phones, e-mails, titled names... at the top level and in nested items), and only those.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.engine import builders as b
from tests.engine.test_fast_path_equivalence import MAPPER, _encode, _plan, deid
from veil.audit.heuristics import suspicions
from veil.audit.text_search import text_elements
from veil.engine.fast import Fallback, FastOutput, deidentify_bytes
from veil.engine.fast.audit import shapes_in_free_text
from veil.engine.fast.parse import parse_file
from veil.pipeline import FAST, Outcome

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SHAPE_REASON = "audit: identifying text by its shape"
# Descriptions kept as they are, device identity kept (StationName is not free text).
KEEP_TEXT = (
    "name: k\nbase: basic\noptions: [retain-device-identity]\noverrides:\n"
    "  - {attribute: StudyDescription, action: keep}\n"
)
SHAPED = ["call 617-555-0142", "mail r.whitfield@example.org", "seen by Dr. Jonathan Whitfield"]


def _clean_mr() -> Dataset:
    """An MR image whose kept text holds no identifier of its own."""
    ds = b.mr_dataset()
    ds.StudyDescription = "BRAIN ROUTINE"
    ds.StationName = "MRC01"
    region = Dataset()
    region.CodeValue = "T-A0100"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Brain"
    ds.AnatomicRegionSequence = Sequence([region])
    return ds


def _reference_finds_shapes(encoded: bytes) -> bool:
    """The reference audit's own search, on the output read by pydicom."""
    output = dcmread(io.BytesIO(encoded), stop_before_pixels=True)
    return next(suspicions(list(text_elements(output))), None) is not None


def test_a_clean_file_with_kept_descriptions_stays_on_the_fast_path() -> None:
    data = _encode(_clean_mr())
    result = deidentify_bytes(data, _plan(KEEP_TEXT), MAPPER, audit=True)
    assert isinstance(result, FastOutput), result
    assert not _reference_finds_shapes(result.encoded)


@pytest.mark.parametrize("text", SHAPED)
def test_shaped_text_in_a_kept_description_goes_to_the_reference_audit(text: str) -> None:
    ds = _clean_mr()
    ds.StudyDescription = text
    data = _encode(ds)
    result = deidentify_bytes(data, _plan(KEEP_TEXT), MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason == SHAPE_REASON
    written = deid(data, _plan(KEEP_TEXT))
    assert written.outcome is Outcome.QUARANTINED
    assert any(f["kind"].startswith("looks-like-") for f in written.findings)


@pytest.mark.parametrize("text", SHAPED)
def test_shaped_text_in_a_nested_code_meaning_goes_to_the_reference_audit(text: str) -> None:
    ds = _clean_mr()
    ds.AnatomicRegionSequence[0].CodeMeaning = text
    data = _encode(ds)
    result = deidentify_bytes(data, _plan(KEEP_TEXT), MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason == SHAPE_REASON
    assert deid(data, _plan(KEEP_TEXT)).outcome is Outcome.QUARANTINED


def test_the_verdict_on_a_value_depends_on_the_element_that_holds_it() -> None:
    """The memo is per value, free text or not decided by the element: the same phone number
    is nobody's business in StationName (not free text), and is in a description, whichever
    file comes first."""
    plan = _plan(KEEP_TEXT)
    in_station, in_description = _clean_mr(), _clean_mr()
    in_station.StationName = "617-555-0142"
    in_description.StudyDescription = "617-555-0142"
    for _ in range(2):  # the second round answers from the memo
        station = deidentify_bytes(_encode(in_station), plan, MAPPER, audit=True)
        description = deidentify_bytes(_encode(in_description), plan, MAPPER, audit=True)
        assert isinstance(station, FastOutput), station
        assert deid(_encode(in_station), plan).engine == FAST
        assert isinstance(description, Fallback) and description.reason == SHAPE_REASON


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_on_the_corpus_the_verdict_equals_the_reference_audits_search() -> None:
    """Every fast-path output of the corpus, with descriptions, comments, private blocks and
    device and institution names kept: the fast parse's verdict is pydicom's."""
    keep = "".join(
        f"  - {{attribute: {keyword}, action: keep}}\n"
        for keyword in (
            "StudyDescription",
            "SeriesDescription",
            "ImageComments",
            "ProtocolName",
            "PerformedProcedureStepDescription",
            "RequestedProcedureDescription",
            "AdditionalPatientHistory",
        )
    )
    plan = _plan(
        "name: k\nbase: basic\noptions: [retain-safe-private, retain-device-identity, "
        "retain-institution-identity, retain-longitudinal-full-dates]\noverrides:\n" + keep
    )
    compared = shaped = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        output = deidentify_bytes(path.read_bytes(), plan, MAPPER, audit=False)
        if not isinstance(output, FastOutput):
            continue
        verdict = _reference_finds_shapes(output.encoded)
        assert shapes_in_free_text(parse_file(output.encoded)) is verdict, path.name
        compared += 1
        shaped += verdict
    assert compared > 500 and shaped > 0  # both verdicts were met
