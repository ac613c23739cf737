"""One patient, one pseudonym; results go home only to their own patient and study.

Before: the linkage kept the first identity seen under a pseudonym, so a second patient with
the same PatientID was sent out under the first's pseudonym and a result for them came home
with the first patient's name; a result carrying another study's de-identified UIDs came home
with that study's original Series/SOP UIDs under the wrong identity; the same SOP Instance UID
in a second study was answered success and then silently never processed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from tests.security.node_harness import free_port, instance, states, store, wait_for
from veil.node.config import Destination, DestinationKind, ReturnPathConfig
from veil.node.service import Node


def _finished(node: Node, count: int) -> bool:
    now = states(node)
    return len(now) == count and all(s in ("sent", "quarantined", "failed") for s in now)


def test_a_second_identity_under_one_pseudonym_is_quarantined(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    first = instance(PatientID="MRN-77", PatientName="FIRST^ANNA", PatientBirthDate="19600101")
    assert store(node.config.port, first) == [0]
    assert wait_for(lambda: _finished(node, 1))
    other = instance(PatientID="MRN-77", PatientName="SECOND^BERT", PatientBirthDate="19700202")
    assert store(node.config.port, other) == [0]
    assert wait_for(lambda: _finished(node, 2))
    one, two = node.store.studies.status()
    assert (one.state.value, two.state.value) == ("sent", "quarantined")
    assert two.reason is not None and "identity conflict" in two.reason
    assert "SECOND" not in two.reason and "MRN-77" not in two.reason  # value-free
    # The same patient again (name written differently, no birth date) is no conflict.
    again = instance(PatientID="MRN-77", PatientName="first^anna^^", PatientBirthDate="")
    assert store(node.config.port, again) == [0]
    assert wait_for(lambda: _finished(node, 3))
    assert states(node)[2] == "sent"


def test_one_sop_instance_uid_in_two_studies_is_quarantined_not_dropped(
    running_node: Callable[..., Node],
) -> None:
    node = running_node(stable_seconds=2.0)
    first = instance()
    second = instance(SOPInstanceUID=first.SOPInstanceUID)  # another study, same instance UID
    assert store(node.config.port, first, second) == [0, 0]
    assert wait_for(lambda: _finished(node, 2))
    rows = node.store.studies.status()
    assert [(r.state.value, r.instance_count) for r in rows] == [("quarantined", 1)] * 2
    assert all("duplicate" in (r.reason or "") for r in rows)


def _result_of(source: Dataset, **references: str) -> Dataset:
    """A derived result in the (pseudonymous) study of ``source``, referencing instances."""
    result = copy.deepcopy(source)
    result.SeriesInstanceUID = generate_uid()
    result.SOPInstanceUID = result.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    items = []
    for sop in references.values():
        item = Dataset()
        item.ReferencedSOPClassUID = source.SOPClassUID
        item.ReferencedSOPInstanceUID = sop
        items.append(item)
    result.SourceImageSequence = items
    return result


def test_a_result_gets_back_only_its_own_studys_uids(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    home = Destination(name="home", kind=DestinationKind.FOLDER, path=tmp_path / "home")
    node = running_node(return_path=ReturnPathConfig("VEIL-RETURN", free_port(), home))
    a = instance(PatientID="PAT-A", PatientName="ALPHA^ANN", InstanceNumber=1)
    b = instance(PatientID="PAT-B", PatientName="BRAVO^BOB", InstanceNumber=2)
    assert store(node.config.port, a, b) == [0, 0]
    assert wait_for(lambda: _finished(node, 2))
    out = node.config.destinations[0].path
    assert out is not None
    sent = {int(ds.InstanceNumber): ds for ds in (dcmread(p) for p in out.rglob("*.dcm"))}
    sent_a, sent_b = sent[1], sent[2]
    own_original, other_original = a, b
    assert node.config.return_path is not None
    port = node.config.return_path.port
    # A result about A that also references B's instance (another patient's image).
    mixed = _result_of(sent_a, own=sent_a.SOPInstanceUID, other=sent_b.SOPInstanceUID)
    # A result about A referencing A's own instance only.
    clean = _result_of(sent_a, own=sent_a.SOPInstanceUID)
    assert store(port, mixed, clean, ae_title="VEIL-RETURN") == [0, 0]
    assert wait_for(lambda: sum(node.store.returns.counts().values()) == 2, timeout=30)
    assert wait_for(
        lambda: node.store.returns.counts() == {"quarantined": 1, "forwarded": 1}, timeout=30
    ), node.store.returns.counts()
    (came_home,) = [dcmread(p) for p in (tmp_path / "home").rglob("*.dcm")]
    assert came_home.SOPInstanceUID == clean.SOPInstanceUID
    assert came_home.PatientID == own_original.PatientID
    assert came_home.SourceImageSequence[0].ReferencedSOPInstanceUID == own_original.SOPInstanceUID
    text = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*.dcm"))
    assert str(other_original.SOPInstanceUID).encode() not in text
    assert str(other_original.PatientName).encode() not in text
