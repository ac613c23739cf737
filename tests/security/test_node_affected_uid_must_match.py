"""The dataset's SOP Instance UID must be the command's Affected SOP Instance UID.

Before, the node named the spool file by the Affected UID alone: three different instances
sent under one Affected UID were each answered success, overwrote each other in the spool, and
one of them was sent. The other two were lost without anyone knowing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config

from tests.security.node_harness import instance, wait_for
from veil.node.service import Node


def test_instances_sent_under_another_affected_uid_are_refused(
    running_node: Callable[..., Node], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = running_node()
    first = instance()
    announced = first.SOPInstanceUID
    files = []
    for index in range(3):
        ds = copy.deepcopy(first)
        ds.SOPInstanceUID = announced if index == 0 else generate_uid()
        ds.InstanceNumber = index + 1
        # The file meta's UID becomes the command's Affected SOP Instance UID when pynetdicom
        # sends a file as it is (chunked): the same for all three.
        ds.file_meta.MediaStorageSOPInstanceUID = announced
        path = tmp_path / f"{index}.dcm"
        ds.save_as(path, enforce_file_format=False)
        files.append(path)
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(first.SOPClassUID, first.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    try:
        statuses = [int(assoc.send_c_store(path).Status) for path in files]
    finally:
        assoc.release()
    assert wait_for(lambda: [r.state.value for r in node.store.studies.status()] == ["sent"])
    (study,) = node.store.studies.status()
    assert study.instance_count == 1
    assert statuses == [0x0000, 0xC002, 0xC002]
