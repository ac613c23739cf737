"""Return path: a result derived from a de-identified instance comes back to the node's second
AE, gets its original identifiers back from the linkage store and arrives in the home PACS."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable

import pytest
import requests
from node_support import free_port, needs_dcmtk, series_files, storescu, wait_for
from orthanc_support import Orthanc
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from veil.node.config import Destination, DestinationKind, ReturnPathConfig
from veil.node.service import Node
from veil.node.store.states import ReturnState, StudyState

SERIES = "dcm_qa/axasc35"


def derived_result(source: Dataset) -> Dataset:
    """What a processing service sends back: a new series in the same (pseudonymous) study."""
    result = copy.deepcopy(source)
    result.SOPInstanceUID = generate_uid()
    result.file_meta.MediaStorageSOPInstanceUID = result.SOPInstanceUID
    result.SeriesInstanceUID = generate_uid()
    result.SeriesDescription = "volumetry result"
    result.ImageType = ["DERIVED", "SECONDARY"]
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    result.SourceImageSequence = [ref]
    return result


def send(port: int, ds: Dataset, ae_title: str = "VEIL-RETURN") -> int:
    ae = AE(ae_title="PROCESSOR")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assoc.release()
    return int(status.Status)


@pytest.mark.slow
@needs_dcmtk
def test_result_comes_home_with_original_identifiers(
    running_node: Callable[..., Node], orthanc: Orthanc, home_orthanc: Orthanc, database_url: str
) -> None:
    out = Destination(
        name="orthanc",
        kind=DestinationKind.CSTORE,
        host="127.0.0.1",
        port=orthanc.dicom_port,
        ae_title=orthanc.ae_title,
    )
    home = Destination(
        name="home",
        kind=DestinationKind.CSTORE,
        host="127.0.0.1",
        port=home_orthanc.dicom_port,
        ae_title=home_orthanc.ae_title,
    )
    return_port = free_port()
    node = running_node(
        destinations=(out,),
        return_path=ReturnPathConfig("VEIL-RETURN", return_port, home),
        database=database_url,
    )
    files = series_files(SERIES)
    storescu(node.config.port, files)
    assert wait_for(lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT])

    # The processing service fetches a de-identified instance and derives results from it:
    # a derived image series and a PDF report.
    instance = orthanc.instances()[0]
    data = requests.get(f"{orthanc.url}/instances/{instance}/file", timeout=30).content
    source = dcmread(io.BytesIO(data))
    assert send(return_port, derived_result(source)) == 0x0000
    assert send(return_port, pdf_report(source)) == 0x0000
    assert wait_for(lambda: len(home_orthanc.instances()) == 2, timeout=30)

    originals = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in files}
    original = dcmread(next(iter(originals.values())), stop_before_pixels=True)
    backs = {}
    for home_instance in home_orthanc.instances():
        home_file = requests.get(
            f"{home_orthanc.url}/instances/{home_instance}/file", timeout=30
        ).content
        back = dcmread(io.BytesIO(home_file))
        backs[str(back.Modality)] = back
        assert back.PatientID == original.PatientID
        assert str(back.PatientName) == str(original.PatientName)
        assert back.StudyInstanceUID == original.StudyInstanceUID
        assert back.AccessionNumber == original.get("AccessionNumber", "")
    assert backs["MR"].SourceImageSequence[0].ReferencedSOPInstanceUID in originals
    assert backs["MR"].SeriesDescription == "volumetry result"
    assert backs["DOC"].EncapsulatedDocument.startswith(b"%PDF")
    # Home has both before the node records them forwarded (it does so after the C-STORE).
    assert wait_for(
        lambda: node.store.returns.counts() == {ReturnState.FORWARDED.value: 2}, timeout=30
    )


def pdf_report(source: Dataset) -> Dataset:
    """An Encapsulated PDF report about the (pseudonymous) patient and study."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "AccessionNumber"):
        setattr(ds, keyword, source.get(keyword, ""))
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DOC"
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Volumetry report"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n% a report\n%%EOF\n"
    return ds


@pytest.mark.slow
def test_result_with_unknown_pseudonym_is_quarantined(
    running_node: Callable[..., Node], home_orthanc: Orthanc
) -> None:
    home = Destination(
        name="home",
        kind=DestinationKind.CSTORE,
        host="127.0.0.1",
        port=home_orthanc.dicom_port,
        ae_title=home_orthanc.ae_title,
    )
    return_port = free_port()
    node = running_node(return_path=ReturnPathConfig("VEIL-RETURN", return_port, home))
    stranger = dcmread(series_files(SERIES)[0])
    stranger.PatientID = "VEILNOTSENTBYUS"
    assert send(return_port, stranger) == 0x0000  # received durably, then judged
    assert wait_for(lambda: node.store.returns.counts().get("quarantined") == 1, timeout=30)
    assert home_orthanc.instances() == []
    rows = node.store.returns.in_state(ReturnState.QUARANTINED)
    assert "not a pseudonym this node sent" in (rows[0].reason or "")
