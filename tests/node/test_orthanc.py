"""End to end over DICOM: DCMTK's storescu -> the node -> a real Orthanc (C-STORE and STOW-RS)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from node_support import TEST_KEY, needs_dcmtk, series_files, storescu, wait_for
from orthanc_support import Orthanc
from pydicom import Dataset, dcmread

from veil.audit import audit_output
from veil.mapping import Mapper
from veil.node.config import Destination, DestinationKind, RetryConfig
from veil.node.service import Node
from veil.node.store.states import StudyState

STUDY = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"  # 130 instances, GE SIGNA Pioneer 3D T1


def cstore_to(orthanc: Orthanc) -> Destination:
    return Destination(
        name="orthanc",
        kind=DestinationKind.CSTORE,
        host="127.0.0.1",
        port=orthanc.dicom_port,
        ae_title=orthanc.ae_title,
    )


def all_sent(node: Node, count: int) -> bool:
    rows = node.store.studies.status()
    return (
        bool(rows)
        and all(r.state is StudyState.SENT for r in rows)
        and sum(r.instance_count for r in rows) == count
    )


def assert_deidentified_in(orthanc: Orthanc, files: list[Path]) -> None:
    originals = [dcmread(f, stop_before_pixels=True) for f in files]
    original_ids = {str(ds.PatientID) for ds in originals}
    original_names = {str(ds.PatientName) for ds in originals if str(ds.PatientName)}
    original_sops = {str(ds.SOPInstanceUID) for ds in originals}
    instances = orthanc.instances()
    assert len(instances) == len(files)
    for instance in instances:
        tags = orthanc.tags(instance)
        assert tags["PatientID"].startswith("VEIL")
        assert tags["PatientID"] not in original_ids
        assert tags.get("PatientName", "") not in original_names
        assert tags["SOPInstanceUID"] not in original_sops
        # What a volumetry vendor needs survives the basic profile.
        assert tags.get("Manufacturer")
    audit_against_originals(orthanc, instances, originals, files)


def audit_against_originals(
    orthanc: Orthanc, instances: list[str], originals: list[Dataset], files: list[Path]
) -> None:
    """`veil audit`'s check on what Orthanc holds: no identifying value of the input survives."""
    mapper = Mapper(bytes.fromhex(TEST_KEY))
    by_output_uid = {
        mapper.uid(str(ds.SOPInstanceUID)): path for ds, path in zip(originals, files, strict=True)
    }
    for instance in instances:
        encoded = requests.get(f"{orthanc.url}/instances/{instance}/file", timeout=30).content
        output = dcmread(io.BytesIO(encoded))
        source = by_output_uid[str(output.SOPInstanceUID)]
        findings = audit_output(dcmread(source), output, encoded, source.name)
        assert [f.to_dict() for f in findings if f.severity == "error"] == []


@pytest.mark.slow
@needs_dcmtk
def test_corpus_study_reaches_orthanc_deidentified(
    running_node: Callable[..., Node], orthanc: Orthanc
) -> None:
    node = running_node(destinations=(cstore_to(orthanc),), profiles=("neuroquant",))
    files = series_files(STUDY)
    storescu(node.config.port, files)
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT], timeout=120
    )
    assert_deidentified_in(orthanc, files)
    # What the volumetry profile requires is there, in the PACS, after de-identification.
    original = dcmread(files[0], stop_before_pixels=True)
    for instance in orthanc.instances():
        tags = orthanc.tags(instance)
        assert tags["Manufacturer"] == original.Manufacturer
        assert tags["ManufacturerModelName"] == original.ManufacturerModelName
        assert tags["PatientSex"] == original.PatientSex
        assert tags.get("PatientAge")  # derived from birth and study date, then both go
        assert not tags.get("PatientBirthDate")


@pytest.mark.slow
@needs_dcmtk
def test_stowrs_destination_reaches_orthanc_dicomweb(
    running_node: Callable[..., Node], orthanc: Orthanc
) -> None:
    stow = Destination(name="dicomweb", kind=DestinationKind.STOWRS, url=orthanc.dicomweb)
    node = running_node(destinations=(stow,))
    files = series_files("dcm_qa/axasc35") + series_files("dcm_qa/AxAsc36mb2a_jpeg")
    storescu(node.config.port, files)
    assert wait_for(lambda: all_sent(node, len(files)), timeout=60)
    assert_deidentified_in(orthanc, files)


@pytest.mark.slow
@needs_dcmtk
def test_unreachable_destination_is_retried_then_failed_then_retried_by_command(
    running_node: Callable[..., Node], tmp_path: Path, orthanc: Orthanc
) -> None:
    from click.testing import CliRunner

    from veil.cli.node import command as node_command

    dead = Destination(
        name="orthanc",
        kind=DestinationKind.CSTORE,
        host="127.0.0.1",
        port=orthanc.dicom_port + 1 if orthanc.dicom_port < 65535 else 1,
        ae_title="ORTHANC",
        timeout_seconds=2,
    )
    retry = RetryConfig(max_attempts=3, initial_delay_seconds=0.2, max_delay_seconds=1)
    node = running_node(destinations=(dead,), retry=retry)
    files = series_files("dcm_qa/axasc35")
    storescu(node.config.port, files)
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.FAILED], timeout=60
    )
    row = node.store.studies.status()[0]
    assert row.attempts == 3
    assert "connection refused by 127.0.0.1:" in (row.reason or "")
    node.stop()

    # The destination is fixed; the study is retried by command and goes out.
    config = node.config
    from dataclasses import replace

    fixed = replace(config, destinations=(cstore_to(orthanc),))
    yaml_path = tmp_path / "node.yaml"
    yaml_path.write_text(f"state:\n  database: {config.database}\n", encoding="utf-8")
    result = CliRunner().invoke(node_command, ["retry", "--config", str(yaml_path), row.study_key])
    assert result.exit_code == 0, result.output
    node2 = running_node(fixed)
    assert wait_for(
        lambda: [r.state for r in node2.store.studies.status()] == [StudyState.SENT], timeout=60
    )
    assert_deidentified_in(orthanc, files)
