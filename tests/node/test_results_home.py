"""A re-identified result is a result about a known patient again, filed with its original study:
the de-identification record goes, its dates move back by the patient's offset (only the dates
the node moved; a date the processing wrote stays), and the home PACS gets what it files by.

Over loopback: storescu -> node (research-longitudinal: dates moved) -> folder destination; a
derived series made from a de-identified instance goes to the return AE (pynetdicom) and comes
home to a folder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from node_support import free_port, needs_dcmtk, series_files, storescu, wait_for
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE

from veil.node.config import Destination, DestinationKind, ReturnPathConfig
from veil.node.linkage import DEIDENTIFICATION_RECORD
from veil.node.service import Node
from veil.node.store.states import ReturnState, StudyState

pytestmark = needs_dcmtk

SERIES = "dcm_qa/axasc35"
PROCESSING_DATE = "20261201"  # the day the service made its result: a real date, not moved


def _result_from(source: Dataset) -> Dataset:
    """What a processing service sends back: a derived series in the same (pseudonymous)
    study, its header copied from the source (moved dates included), plus dates of its own."""
    result = copy.deepcopy(source)
    result.SOPInstanceUID = result.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    result.SeriesInstanceUID = generate_uid()
    result.SeriesDescription = "volumetry result"
    result.ImageType = ["DERIVED", "SECONDARY"]
    result.ContentDate = PROCESSING_DATE
    result.AcquisitionDateTime = f"{source.AcquisitionDate}134935.305"
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    result.SourceImageSequence = [reference]
    return result


def _send(port: int, ds: Dataset) -> int:
    ae = AE(ae_title="PROCESSOR")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="VEIL-RETURN")
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assoc.release()
    return int(status.Status)


def test_a_result_comes_home_filed_with_its_original_study(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    home = Destination(name="home", kind=DestinationKind.FOLDER, path=tmp_path / "home")
    return_port = free_port()
    node = running_node(
        policy="research-longitudinal",
        return_path=ReturnPathConfig("VEIL-RETURN", return_port, home),
    )
    files = series_files(SERIES)
    storescu(node.config.port, files)
    assert wait_for(lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT])
    out = node.config.destinations[0].path
    assert out is not None
    source = dcmread(sorted(out.rglob("*.dcm"))[0])
    assert source.LongitudinalTemporalInformationModified == "MODIFIED"
    assert source.StudyDate != "20140310"  # moved on the way out

    result = _result_from(source)
    assert _send(return_port, result) == 0x0000
    assert wait_for(lambda: node.store.returns.counts() == {ReturnState.FORWARDED.value: 1})
    (path,) = (tmp_path / "home").rglob("*.dcm")
    back = dcmread(path)
    original = dcmread(files[0], stop_before_pixels=True)
    originals = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}

    # No longer de-identified: the record of it is gone.
    for keyword in DEIDENTIFICATION_RECORD:
        assert keyword not in back, keyword
    # What the home PACS files it by: the original patient and study.
    assert (back.PatientID, str(back.PatientName)) == (original.PatientID, "stc_test")
    assert (back.PatientBirthDate, back.PatientSex) == ("19800707", "M")
    assert back.StudyInstanceUID == original.StudyInstanceUID
    assert back.AccessionNumber == original.get("AccessionNumber", "")
    assert (back.StudyDate, back.StudyTime) == ("20140310", original.StudyTime)
    # Dates the node moved are moved back; the service's own date stays.
    assert back.SeriesDate == back.AcquisitionDate == "20140310"
    assert back.AcquisitionDateTime == "20140310134935.305"
    assert back.ContentDate == PROCESSING_DATE
    # References to the study's own instances get their original UIDs; its own UIDs stay.
    assert back.SourceImageSequence[0].ReferencedSOPInstanceUID in originals
    assert back.SeriesInstanceUID == result.SeriesInstanceUID
    assert back.SeriesDescription == "volumetry result"
    (row,) = node.store.returns.in_state(ReturnState.FORWARDED)
    assert row.patient_pseudonym == source.PatientID  # shown by `veil node returns`
    assert row.study_key == node.store.studies.status()[0].study_key
