"""`veil serve` on built-in defaults: receive with C-STORE, spool, process when stable, write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from node_support import SMALL_SERIES, needs_dcmtk, series_files, storescu, wait_for
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from veil.node.service import Node
from veil.node.store.states import StudyState


def _studies(node: Node) -> list:
    return node.store.studies.status()


def test_echo_answers_success(running_node: Callable[..., Node]) -> None:
    node = running_node()
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    status = assoc.send_c_echo()
    assoc.release()
    assert status.Status == 0x0000


@needs_dcmtk
def test_storescu_study_is_deidentified_into_the_folder_destination(
    running_node: Callable[..., Node], database_url: str
) -> None:
    node = running_node(database=database_url)
    files = [f for s in SMALL_SERIES for f in series_files(s)]
    storescu(node.config.port, files)
    # Every instance is in the spool and the store the moment storescu got its answer.
    assert sum(r.instance_count for r in _studies(node)) == len(files)
    assert wait_for(lambda: all(r.state is StudyState.SENT for r in _studies(node)))
    out = node.config.destinations[0].path
    assert out is not None
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == len(files)
    originals = {str(dcmread(f, stop_before_pixels=True).PatientID) for f in files}
    for path in written:
        ds = dcmread(path)
        assert ds.PatientID.startswith("VEIL")
        assert str(ds.PatientID) not in originals
        assert str(ds.StudyInstanceUID).startswith("2.25.")
    # The spool is emptied of what was sent (just after the study is marked sent: the files
    # go once the state change is stored, so a crash in between never loses what was sent).
    spool = node.config.spool
    assert wait_for(lambda: not list((spool / "out").rglob("*.dcm")))
    assert wait_for(lambda: not list((spool / "incoming").rglob("*.dcm")))


@needs_dcmtk
def test_caller_not_on_the_allow_list_is_rejected(running_node: Callable[..., Node]) -> None:
    from veil.node.config import AllowedCaller

    node = running_node(allowed_callers=(AllowedCaller("SCANNER"),))
    files = series_files(SMALL_SERIES[0])
    refused = storescu(node.config.port, files, calling="INTRUDER", check=False)
    assert refused.returncode != 0
    assert _studies(node) == []
    storescu(node.config.port, files, calling="SCANNER")
    assert sum(r.instance_count for r in _studies(node)) == len(files)


def test_spool_failure_answers_failure_not_success(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node()
    # The spool's temp folder disappears (disk trouble): the node must not answer success.
    (node.config.spool / "tmp").rmdir()
    ae = AE(ae_title="SCANNER")
    path = series_files(SMALL_SERIES[0])[0]
    ds = dcmread(path)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status != 0x0000
    assert _studies(node) == []


@pytest.mark.parametrize("state", [StudyState.SENT])
def test_status_shows_pseudonyms_only(running_node: Callable[..., Node], state: StudyState) -> None:
    node = running_node()
    files = series_files(SMALL_SERIES[0])
    storescu(node.config.port, files)
    assert wait_for(lambda: all(r.state is state for r in _studies(node)))
    original = dcmread(files[0], stop_before_pixels=True)
    for row in _studies(node):
        text = repr(row)
        assert str(original.PatientID) not in text
        assert str(original.StudyInstanceUID) not in text
        assert row.patient_pseudonym.startswith("VEIL")


def test_a_study_the_audit_flags_is_quarantined_and_not_sent(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    # A (bad) policy that keeps the patient's name: the audit must catch it.
    policy = tmp_path / "leaky.yaml"
    policy.write_text(
        "name: leaky\ndescription: keeps the name (test)\nbase: basic\noptions: []\n"
        "overrides:\n  - {attribute: PatientID, action: pseudonym}\n"
        "  - {attribute: PatientName, action: keep}\n",
        encoding="utf-8",
    )
    node = running_node(policy=str(policy))
    files = series_files(SMALL_SERIES[0])
    storescu(node.config.port, files)
    assert wait_for(lambda: [r.state for r in _studies(node)] == [StudyState.QUARANTINED])
    (row,) = _studies(node)
    assert "audit" in (row.reason or "")
    original = dcmread(files[0], stop_before_pixels=True)
    assert str(original.PatientName) not in (row.reason or "")
    out = node.config.destinations[0].path
    assert out is not None and not list(out.rglob("*.dcm"))
    assert not list((node.config.spool / "out").rglob("*.dcm"))


@needs_dcmtk
def test_a_late_series_reopens_the_study_and_only_new_instances_are_sent(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    first, late = (series_files(s) for s in SMALL_SERIES)  # two series of one study
    storescu(node.config.port, first)
    assert wait_for(lambda: [r.state for r in _studies(node)] == [StudyState.SENT])
    storescu(node.config.port, late)
    assert wait_for(
        lambda: (
            [(r.state, r.sent_count) for r in _studies(node)]
            == [(StudyState.SENT, len(first) + len(late))]
        )
    )
    out = node.config.destinations[0].path
    assert out is not None
    studies = {p.parent.name for p in out.rglob("*.dcm")}
    assert len(list(out.rglob("*.dcm"))) == len(first) + len(late)
    assert len(studies) == 1  # the same de-identified study, not a new one


@needs_dcmtk
def test_an_unexpected_error_parks_the_study_as_failed(
    running_node: Callable[..., Node],
) -> None:
    def crashing_engine(data: bytes, name: str, settings: object) -> object:
        raise RuntimeError("a bug that quotes Doe^John")

    node = running_node(deid=crashing_engine)
    storescu(node.config.port, series_files(SMALL_SERIES[0]))
    assert wait_for(lambda: [r.state for r in _studies(node)] == [StudyState.FAILED])
    (row,) = _studies(node)
    assert (row.reason or "").startswith("internal error (RuntimeError at ")
    assert "Doe" not in (row.reason or "")


def test_spooled_but_unregistered_instances_are_recovered_at_start(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    """A kill between the spool's rename and the store's commit: the file is found at start."""
    from node_support import TEST_KEY, node_config

    from veil.mapping import Mapper
    from veil.node.spool import Spool

    config = node_config(tmp_path)
    mapper = Mapper(bytes.fromhex(TEST_KEY))
    spool = Spool(config.spool, mapper)
    spool.prepare()
    files = series_files(SMALL_SERIES[0])
    for path in files:
        ds = dcmread(path, stop_before_pixels=True)
        key = mapper.token("node-study", str(ds.StudyInstanceUID), 16)
        spool.store(spool.incoming_path(key, str(ds.SOPInstanceUID)), path.read_bytes())
    (config.spool / "tmp" / "half-written.part").write_bytes(b"\0" * 10)  # never acknowledged
    node = running_node(config)
    assert not list((config.spool / "tmp").iterdir())
    assert wait_for(
        lambda: [(r.state, r.sent_count) for r in _studies(node)] == [(StudyState.SENT, len(files))]
    )


@needs_dcmtk
def test_a_resend_of_a_sent_study_is_not_sent_again_and_leaves_no_file(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    files = series_files(SMALL_SERIES[0])
    storescu(node.config.port, files)
    assert wait_for(lambda: [r.state for r in _studies(node)] == [StudyState.SENT])
    storescu(node.config.port, files)  # the PACS sends the same study again
    (row,) = _studies(node)
    assert (row.state, row.instance_count, row.sent_count) == (
        StudyState.SENT,
        len(files),
        len(files),
    )
    assert not list((node.config.spool / "incoming").rglob("*.dcm"))


@needs_dcmtk
def test_a_node_with_another_key_is_refused_and_nothing_received_is_lost(tmp_path: Path) -> None:
    """The database is sealed under the first key: another key would leave every link
    unreadable and mix new links with old, so the node refuses to start (issue 9); with the
    right key it goes on with what was received."""
    from node_support import node_config

    from veil.mapping import Mapper
    from veil.node.store import KeyMismatchError

    config = node_config(tmp_path, stable_seconds=3600.0)
    first, late = (series_files(s) for s in SMALL_SERIES)  # two series of one study
    old = Node(config, mapper=Mapper(b"\x01" * 32))
    old.start()
    storescu(config.port, first)
    old.stop()
    with pytest.raises(KeyMismatchError, match="fingerprint"):
        Node(replace(config, stable_seconds=0.5), mapper=Mapper(b"\x02" * 32))
    again = Node(replace(config, stable_seconds=0.5), mapper=Mapper(b"\x01" * 32))
    again.start()
    try:
        storescu(config.port, late)
        assert wait_for(
            lambda: (
                [(r.state, r.sent_count) for r in again.store.studies.status()]
                == [(StudyState.SENT, len(first) + len(late))]
            )
        )
    finally:
        again.stop()
