"""Re-sends with changed content, and one study naming two patients (real storescu, corpus files,
a folder destination).

- The same SOP Instance UIDs sent again with other content (a corrected sex, a corrected name)
  are new versions: de-identified, audited and sent again under the same de-identified UIDs (the
  destination replaces them), logged without values, counted by `veil node status`.
- A corrected name is linked when it comes as new versions of the whole study already sent; a
  part of the study corrected is a mixed study (quarantined until the rest comes); a new study
  with another name under the same PatientID is still an identity conflict (issue 9).
- One Study Instance UID whose instances name two PatientIDs or two names is quarantined with a
  value-free reason; a study moved to another PatientID at the source is quarantined until it is
  forgotten and sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from node_support import SMALL_SERIES, needs_dcmtk, series_files, storescu, wait_for
from pydicom import dcmread
from pydicom.uid import generate_uid

from veil.node.service import Node
from veil.node.store import StudyRow
from veil.node.store.states import StudyState

pytestmark = needs_dcmtk

FIRST, SECOND = SMALL_SERIES  # two series of one study, one patient (PatientID crlab)


def copies(files: Sequence[Path], folder: Path, **changes: str) -> list[Path]:
    """The files with some attributes changed (same UIDs unless changed)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in files:
        ds = dcmread(path)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        if "SOPInstanceUID" in changes:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = folder / path.name
        ds.save_as(target)
        out.append(target)
    return out


def new_study(files: Sequence[Path], folder: Path, **changes: str) -> list[Path]:
    """The files as another study: new Study, Series and SOP Instance UIDs."""
    study, series = generate_uid(), generate_uid()
    out = []
    for path in files:
        out += copies(
            [path],
            folder,
            StudyInstanceUID=study,
            SeriesInstanceUID=series,
            SOPInstanceUID=generate_uid(),
            **changes,
        )
    return out


def _rows(node: Node) -> list[StudyRow]:
    return node.store.studies.status()


def _settled(node: Node, state: StudyState, **expected: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = _rows(node)
        return (
            len(rows) == 1
            and rows[0].state is state
            and all(getattr(rows[0], name) == value for name, value in expected.items())
        )

    return check


def _outputs(node: Node) -> dict[str, Path]:
    out = node.config.destinations[0].path
    assert out is not None
    return {f"{p.parent.name}/{p.name}": p for p in sorted(out.rglob("*.dcm"))}


@pytest.fixture
def keeps_sex(tmp_path: Path) -> str:
    policy = tmp_path / "keeps-sex.yaml"
    policy.write_text(
        "name: keeps-sex\ndescription: basic, patient characteristics kept (test)\n"
        "base: basic\noptions: [retain-patient-characteristics]\n",
        encoding="utf-8",
    )
    return str(policy)


def test_a_corrected_resend_is_a_new_version_sent_again_under_the_same_uids(
    running_node: Callable[..., Node],
    keeps_sex: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = running_node(policy=keeps_sex)
    files = series_files(FIRST)
    storescu(node.config.port, files)
    assert wait_for(_settled(node, StudyState.SENT, sent_count=len(files)))
    before = _outputs(node)
    assert {str(dcmread(p).PatientSex) for p in before.values()} == {"M"}
    first_bytes = {name: p.read_bytes() for name, p in before.items()}

    # The same files again: a no-op (nothing re-processed, nothing rewritten).
    storescu(node.config.port, files)
    assert wait_for(_settled(node, StudyState.SENT, versioned_count=0, latest_version=1))
    assert {name: p.read_bytes() for name, p in _outputs(node).items()} == first_bytes

    # The PACS corrects the patient's sex and sends the study again, same UIDs.
    caplog.set_level(logging.INFO, logger="veil.node")
    storescu(node.config.port, copies(files, tmp_path / "corrected", PatientSex="F"))
    assert wait_for(
        _settled(node, StudyState.SENT, versioned_count=len(files), latest_version=2)
    ), _rows(node)
    (row,) = _rows(node)
    assert (row.instance_count, row.sent_count) == (len(files), len(files))
    after = _outputs(node)
    assert after.keys() == before.keys()  # the same de-identified study and instance UIDs
    assert {str(dcmread(p).PatientSex) for p in after.values()} == {"F"}  # replaced
    for path in after.values():
        assert dcmread(path).PatientIdentityRemoved == "YES"
    # Old versions and delivered files are gone from the spool.
    assert not list((node.config.spool / "incoming").rglob("*.dcm"))
    # Logged, by study key and pseudonym only.
    original = dcmread(files[0], stop_before_pixels=True)
    versions = [r.getMessage() for r in caplog.records if "version 2" in r.getMessage()]
    assert versions and row.study_key in versions[0]
    for record in caplog.records:
        text = record.getMessage()
        for value in (original.PatientID, str(original.PatientName), original.StudyInstanceUID):
            assert str(value) not in text
    # `veil node status` shows the versions.
    config = tmp_path / "node.yaml"
    config.write_text(f"state: {{database: '{node.config.database.removeprefix('sqlite:///')}'}}\n")
    from veil.cli.node import command

    shown = CliRunner().invoke(command, ["status", "--config", str(config)]).output
    assert (
        f"versions             {len(files)} instance(s) received again with other content "
        "(latest version 2)" in shown
    ), shown


@pytest.mark.slow
def test_a_corrected_version_replaces_the_instance_in_a_real_pacs(
    running_node: Callable[..., Node], keeps_sex: str, tmp_path: Path
) -> None:
    """Orthanc configured to take replacements (OverwriteInstances): the new version replaces
    the instance, under the same de-identified UIDs; no second copy appears."""
    from orthanc_support import orthanc_available, start_orthanc

    from veil.node.config import Destination, DestinationKind

    if not orthanc_available():
        pytest.skip("Orthanc (Debian package orthanc) is not installed")
    pacs = start_orthanc(tmp_path / "orthanc", overwrite=True)
    try:
        destination = Destination(
            name="pacs",
            kind=DestinationKind.CSTORE,
            host="127.0.0.1",
            port=pacs.dicom_port,
            ae_title=pacs.ae_title,
        )
        node = running_node(policy=keeps_sex, destinations=(destination,))
        files = series_files(FIRST)
        storescu(node.config.port, files)
        assert wait_for(_settled(node, StudyState.SENT, sent_count=len(files)), timeout=60)
        before = {i: pacs.tags(i) for i in pacs.instances()}
        assert len(before) == len(files) and {t["PatientSex"] for t in before.values()} == {"M"}
        storescu(node.config.port, copies(files, tmp_path / "corrected", PatientSex="F"))
        assert wait_for(_settled(node, StudyState.SENT, latest_version=2), timeout=60)
        after = {i: pacs.tags(i) for i in pacs.instances()}
        assert after.keys() == before.keys()  # replaced, not added
        assert {t["PatientSex"] for t in after.values()} == {"F"}
        assert {t["SOPInstanceUID"] for t in after.values()} == {
            t["SOPInstanceUID"] for t in before.values()
        }
    finally:
        pacs.stop()


def test_a_corrected_name_for_the_whole_study_is_linked_and_a_part_is_a_mixed_study(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node()
    files = series_files(FIRST)
    storescu(node.config.port, files)
    assert wait_for(_settled(node, StudyState.SENT))
    (row,) = _rows(node)
    pseudonym = row.patient_pseudonym
    corrected = copies(files, tmp_path / "corrected", PatientName="Lab^Corrected")

    # One instance corrected, the other not: the study names two patients.
    storescu(node.config.port, corrected[:1])
    assert wait_for(_settled(node, StudyState.QUARANTINED)), _rows(node)
    (row,) = _rows(node)
    assert (row.reason or "").startswith("mixed patients: ") and "2 names" in (row.reason or "")
    assert "Corrected" not in (row.reason or "") and "stc_test" not in (row.reason or "")
    link = node.store.linkage.patient(pseudonym)
    assert link is not None and link.original_patient_name == "stc_test"  # never overwritten

    # The rest of the correction arrives: one name again, a correction of the study sent.
    storescu(node.config.port, corrected[1:])
    assert wait_for(_settled(node, StudyState.SENT, latest_version=2)), _rows(node)
    link = node.store.linkage.patient(pseudonym)
    assert link is not None and link.original_patient_name == "Lab^Corrected"

    # Another study under the same PatientID with yet another name: another person, or a
    # typo at the scanner. Not a correction (no instance of it was sent): quarantined.
    stranger = new_study(series_files(SECOND), tmp_path / "stranger", PatientName="Other^Person")
    storescu(node.config.port, stranger)
    assert wait_for(
        lambda: sorted(r.state.value for r in _rows(node)) == ["quarantined", "sent"]
    ), _rows(node)
    held = next(r for r in _rows(node) if r.state is StudyState.QUARANTINED)
    assert (held.reason or "").startswith("identity conflict: ") and pseudonym in (
        held.reason or ""
    )
    link = node.store.linkage.patient(pseudonym)
    assert link is not None and link.original_patient_name == "Lab^Corrected"


def test_one_study_with_two_patients_is_quarantined_without_values(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node()
    first, second = series_files(FIRST)[:2]
    mixed = copies([first], tmp_path / "a", PatientID="MRN0001") + copies(
        [second], tmp_path / "b", PatientID="MRN0002"
    )
    storescu(node.config.port, mixed)
    assert wait_for(_settled(node, StudyState.QUARANTINED)), _rows(node)
    (row,) = _rows(node)
    assert (row.reason or "").startswith("mixed patients: ")
    assert "2 PatientIDs" in (row.reason or "")
    for value in ("MRN0001", "MRN0002", "crlab", "stc_test"):
        assert value not in (row.reason or "")
    assert not _outputs(node)
    assert node.store.linkage.patient(row.patient_pseudonym) is None  # nothing linked


def test_a_study_whose_patient_id_changed_after_sending_is_held_until_forgotten(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    from veil.node.forgetting import forget_study

    node = running_node()
    files = series_files(FIRST)
    storescu(node.config.port, files)
    assert wait_for(_settled(node, StudyState.SENT))
    moved = copies(files, tmp_path / "moved", PatientID="MRN0003")
    storescu(node.config.port, moved)
    assert wait_for(_settled(node, StudyState.QUARANTINED)), _rows(node)
    (row,) = _rows(node)
    assert (row.reason or "").startswith("patient changed: this study was sent for patient ")
    assert "MRN0003" not in (row.reason or "")
    forget_study(node.store, node.config.spool, row.study_key)
    storescu(node.config.port, moved)
    assert wait_for(_settled(node, StudyState.SENT, sent_count=len(files))), _rows(node)
    (row,) = _rows(node)
    assert node.store.linkage.study_patient(row.deid_study_uid or "") == row.patient_pseudonym
