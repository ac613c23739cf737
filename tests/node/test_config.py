"""The node configuration: built-in defaults, a YAML file, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.node.config import DestinationKind, NodeConfigError, load_config


def test_no_file_gives_built_in_defaults_in_the_working_folder(tmp_path: Path) -> None:
    config = load_config(None, cwd=tmp_path)
    assert (config.ae_title, config.port, config.policy) == ("VEIL", 11112, "basic")
    assert config.database == f"sqlite:///{tmp_path / 'veil-node.db'}"
    assert config.spool == tmp_path / "veil-spool"
    (destination,) = config.destinations
    assert destination.kind is DestinationKind.FOLDER
    assert destination.path == tmp_path / "veil-out"


def test_file_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "node.yaml"
    path.parent.mkdir()
    path.write_text(
        "node: {ae_title: GATEWAY, port: 4242, allowed_callers: [{ae_title: MRI1}]}\n"
        "state: {database: state.db, spool: spool}\n"
        "destinations:\n"
        "  - {name: pacs, type: cstore, host: 10.0.0.5, port: 104, ae_title: PACS}\n"
        "  - {name: web, type: stowrs, url: 'http://pacs:8042/dicom-web/'}\n"
        "return_path: {ae_title: VEIL-BACK, port: 4243,\n"
        "              home: {type: cstore, host: 10.0.0.6, ae_title: HOME}}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.database == f"sqlite:///{path.parent / 'state.db'}"
    assert config.spool == path.parent / "spool"
    assert [d.kind for d in config.destinations] == [DestinationKind.CSTORE, DestinationKind.STOWRS]
    assert config.destinations[1].url == "http://pacs:8042/dicom-web"
    assert config.allowed_callers[0].ae_title == "MRI1"
    assert config.return_path is not None and config.return_path.home.ae_title == "HOME"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("node: {prot: 1}\n", "node.prot: unknown key"),
        ("node: {port: 70000}\n", "node.port: must be a whole number"),
        ("node: {ae_title: 'MUCH-TOO-LONG-AE-TITLE'}\n", "node.ae_title: an AE title"),
        ("destinations: [{type: ftp}]\n", "destinations[0].type: must be one of"),
        ("destinations: [{type: folder}]\n", "a folder destination needs a path"),
        ("return_path: {port: 11112, home: {type: folder, path: x}}\n", "its own port"),
        ("node: [1, 2\n", "not valid YAML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NodeConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_errors_name_the_line_and_defaults_come_from_the_dataclasses(tmp_path: Path) -> None:
    from veil.node.config import IntakeLimits, NodeConfig

    path = tmp_path / "node.yaml"
    path.write_text("node:\n  ae_title: VEIL\n  port: 11112\n  workers: many\n", encoding="utf-8")
    with pytest.raises(NodeConfigError, match=r"node.yaml: line 4: node.workers: must be a whole"):
        load_config(path)
    path.write_text("node:\n  max_instance_size: 500 MB\n", encoding="utf-8")
    config = load_config(path)
    assert config.limits.max_instance_bytes == 500 * 1000**2
    defaults = load_config(None, cwd=tmp_path / "empty")
    assert defaults.limits == IntakeLimits()
    assert (defaults.workers, defaults.stable_seconds) == (
        NodeConfig.workers,
        NodeConfig.stable_seconds,
    )
