"""No file path is ever built from a received value (DESIGN invariant 9).

A C-STORE caller controls every UID it sends. Before, with `retain-uids` a SOPInstanceUID of
`/tmp/victim` made the node write the de-identified instance to /tmp/victim.dcm, and delete it
after sending; on the return path a result's SOPInstanceUID chose where in the machine the
re-identified result was written."""

from __future__ import annotations

import copy
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE

from tests.security.node_harness import instance, wait_for
from veil.node.config import Destination, DestinationKind, ReturnPathConfig
from veil.node.service import Node

RETAIN_UIDS = "name: keep-uids\nbase: basic\noptions: [retain-uids]\n"


@pytest.fixture
def victim() -> Iterator[Path]:
    """A file outside every folder of the node, and the prefix of paths an attack would use."""
    path = Path("/tmp") / f"veil-victim-{secrets.token_hex(6)}"
    path.with_suffix(".dcm").write_bytes(b"someone else's file")
    yield path
    for leftover in Path("/tmp").glob(f"{path.name}*"):  # what an attack left (on old code)
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()


def store(port: int, ds: object, ae_title: str = "VEIL") -> int:
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)  # type: ignore[attr-defined]
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    return int(status.Status)


def settled(node: Node) -> bool:
    """Every study and returned result has reached a final state."""
    studies = node.store.studies.status()
    returns = node.store.returns.counts()
    return not returns.get("received") and all(
        row.state.value in ("sent", "quarantined", "failed") for row in studies
    )


def test_path_like_uids_are_refused_even_under_retain_uids(
    running_node: Callable[..., Node], tmp_path: Path, victim: Path
) -> None:
    policy = tmp_path / "keep-uids.yaml"
    policy.write_text(RETAIN_UIDS)
    node = running_node(policy=str(policy))
    attacks = {
        "SOPInstanceUID": [str(victim), f"../../../../../../../..{victim}"[:64]],
        "StudyInstanceUID": [f"{victim}-study"],
        "SeriesInstanceUID": [f"{victim}-series"],
    }
    statuses = {
        value: store(node.config.port, instance(**{keyword: value}))
        for keyword, values in attacks.items()
        for value in values
    }
    wait_for(lambda: settled(node), timeout=10)
    assert victim.with_suffix(".dcm").read_bytes() == b"someone else's file"
    assert sorted(p.name for p in Path("/tmp").glob(f"{victim.name}*")) == [f"{victim.name}.dcm"]
    assert set(statuses.values()) == {0xC001}, statuses  # refused: invalid UID
    assert node.store.studies.status() == []  # nothing was registered either


def test_a_result_cannot_choose_where_it_is_written_at_home(
    running_node: Callable[..., Node], tmp_path: Path, victim: Path
) -> None:
    home = Destination(name="home", kind=DestinationKind.FOLDER, path=tmp_path / "home")
    node = running_node(return_path=ReturnPathConfig("VEIL-RETURN", _port(), home))
    assert store(node.config.port, instance()) == 0x0000
    assert wait_for(lambda: settled(node) and bool(node.store.studies.status()), timeout=30)
    out = node.config.destinations[0].path
    assert out is not None
    sent = dcmread(next(out.rglob("*.dcm")))
    result = copy.deepcopy(sent)
    result.SeriesInstanceUID = generate_uid()
    assert node.config.return_path is not None
    statuses = []
    for hostile in (str(victim), f"../../../../../../../..{victim}"[:64]):
        result.SOPInstanceUID = result.file_meta.MediaStorageSOPInstanceUID = hostile
        statuses.append(store(node.config.return_path.port, result, "VEIL-RETURN"))
    wait_for(lambda: settled(node), timeout=10)

    assert victim.with_suffix(".dcm").read_bytes() == b"someone else's file"
    assert sorted(p.name for p in Path("/tmp").glob(f"{victim.name}*")) == [f"{victim.name}.dcm"]
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.dcm"))
    assert statuses == [0xC001, 0xC001]  # refused at the door: invalid UID


def _port() -> int:
    from tests.security.node_harness import free_port

    return free_port()
