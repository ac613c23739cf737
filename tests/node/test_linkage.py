"""Linkage: what is remembered when a study leaves, and re-identification of a result."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_support import SMALL_SERIES, TEST_KEY, series_files
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from veil.mapping import Mapper
from veil.node.config import AllowedCaller
from veil.node.linkage import UnknownPseudonymError, collect, reidentify
from veil.node.receiver import caller_allowed
from veil.node.store import Sealer, Store
from veil.pipeline import Settings, deidentify_file
from veil.policy import compile_plan, load_policy


@pytest.fixture
def deidentified(tmp_path: Path) -> Iterator[tuple[Dataset, Dataset, Store]]:
    mapper = Mapper(bytes.fromhex(TEST_KEY))
    path = series_files(SMALL_SERIES[0])[0]
    original = dcmread(path)
    settings = Settings(compile_plan(load_policy("basic")), mapper, audit=False)
    result = deidentify_file(path.read_bytes(), path.name, settings)
    assert result.dataset is not None
    link = collect(original, result.dataset, mapper)
    store = Store.open(f"sqlite:///{tmp_path / 'link.db'}", Sealer(bytes.fromhex(TEST_KEY)))
    store.linkage.add(
        list(link.patients.values()), list(link.studies.values()), list(link.uids.values())
    )
    yield original, result.dataset, store
    store.close()


def test_only_replaced_uids_are_linked(deidentified: tuple[Dataset, Dataset, Store]) -> None:
    original, output, store = deidentified
    found = store.linkage.uids(
        [output.StudyInstanceUID, output.SOPInstanceUID, output.SOPClassUID],
        output.StudyInstanceUID,
    )
    assert found == {
        output.StudyInstanceUID: original.StudyInstanceUID,
        output.SOPInstanceUID: original.SOPInstanceUID,
    }


def test_result_gets_original_identifiers_back(
    deidentified: tuple[Dataset, Dataset, Store],
) -> None:
    original, output, store = deidentified
    result = copy.deepcopy(output)
    result.SOPInstanceUID = generate_uid()
    result.SeriesInstanceUID = generate_uid()
    ref = Dataset()
    ref.ReferencedSOPInstanceUID = output.SOPInstanceUID
    result.SourceImageSequence = [ref]
    reidentify(result, store.linkage)
    assert result.PatientID == original.PatientID
    assert str(result.PatientName) == str(original.PatientName)
    assert result.StudyInstanceUID == original.StudyInstanceUID
    assert result.SourceImageSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert result.FrameOfReferenceUID == original.FrameOfReferenceUID
    # The result's own new UIDs are not the node's to change.
    assert result.SOPInstanceUID.startswith("1.2.826.0.1.3680043")


@pytest.mark.parametrize("field", ["PatientID", "StudyInstanceUID"])
def test_unknown_pseudonym_is_refused(
    deidentified: tuple[Dataset, Dataset, Store], field: str
) -> None:
    _, output, store = deidentified
    result = copy.deepcopy(output)
    setattr(result, field, "VEILUNKNOWN" if field == "PatientID" else generate_uid())
    with pytest.raises(UnknownPseudonymError):
        reidentify(result, store.linkage)


def test_allow_list_by_ae_title_and_address() -> None:
    callers = (AllowedCaller("MRI1", ("10.0.0.5",)), AllowedCaller("PACS"))
    assert caller_allowed(callers, "MRI1", "10.0.0.5")
    assert not caller_allowed(callers, "MRI1", "10.0.0.6")
    assert caller_allowed(callers, "PACS", "192.168.1.1")
    assert not caller_allowed(callers, "OTHER", "10.0.0.5")
    assert caller_allowed((), "ANYONE", "1.2.3.4")
