"""A node started without thought must not be open to the network; an allow-list must mean what
it says; spool names must not be computable without the key."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.security.node_harness import instance, node_config
from veil.mapping import Mapper
from veil.node.config import NodeConfigError, load_config
from veil.node.service import Node


def test_no_configuration_listens_on_this_machine_only(tmp_path: Path) -> None:
    assert load_config(None, cwd=tmp_path).host == "127.0.0.1"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_listening_beyond_loopback_needs_an_allow_list_or_an_explicit_yes(
    tmp_path: Path, host: str
) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(f"node:\n  host: '{host}'\n")
    with pytest.raises(NodeConfigError, match=r"allowed_callers.*allow_any_caller"):
        load_config(config)
    config.write_text(f"node:\n  host: '{host}'\n  allow_any_caller: true\n")
    assert load_config(config).host == host
    config.write_text(f"node:\n  host: '{host}'\n  allowed_callers: [{{ae_title: MRI1}}]\n")
    assert load_config(config).allowed_callers[0].ae_title == "MRI1"


def _echo(port: int, calling: str) -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="VEIL")
    if not assoc.is_established:
        return False
    assoc.release()
    return True


def test_a_host_name_in_the_allow_list_matches_its_address(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    callers = [{"ae_title": "SCANNER", "hosts": ["localhost"]}]
    node = running_node(node_config(tmp_path, {"node": {"allowed_callers": callers}}))
    assert _echo(node.config.port, "SCANNER")
    assert not _echo(node.config.port, "INTRUDER")


def test_a_host_name_that_does_not_resolve_is_an_error_naming_the_line(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(
        "node:\n  allowed_callers:\n    - ae_title: MRI1\n      hosts: [no-such-host.invalid]\n"
    )
    with pytest.raises(NodeConfigError, match=r"line 4: node.allowed_callers\[0\].hosts"):
        load_config(config)


def test_spool_file_names_are_keyed_digests(tmp_path: Path) -> None:
    ds = instance()
    names = []
    for index, key in enumerate((b"\x01" * 32, b"\x02" * 32)):
        folder = tmp_path / str(index)
        folder.mkdir()
        node = Node(node_config(folder, stable_seconds=3600), mapper=Mapper(key))
        node.start()
        try:
            ae = AE(ae_title="SCANNER")
            ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
            assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
            assert assoc.send_c_store(ds).Status == 0x0000
            assoc.release()
        finally:
            node.stop()
        (path,) = (folder / "veil-spool" / "incoming").rglob("*.dcm")
        names.append(path.stem)
    unkeyed = hashlib.sha256(str(ds.SOPInstanceUID).encode()).hexdigest()[:32]
    assert names[0] != names[1]
    assert unkeyed not in names
