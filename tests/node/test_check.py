"""Destination profiles: the node keeps what the destination needs, and a study that lost a
requirement in de-identification is quarantined, not sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from node_support import needs_dcmtk, process_received, series_files, storescu, wait_for
from pydicom import dcmread

from veil.io.dicomfile import encode_dataset
from veil.node.service import Node
from veil.node.store.states import StudyState
from veil.pipeline import FileResult, Settings, deidentify_file

STUDY = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
PROFILE = "neuroquant"
# Processed when the sender is done (process_received), not after a quiet time a loaded
# machine can exceed between two instances: each study is judged whole, once.
WHEN_SENT = 3600.0


pytestmark = [
    pytest.mark.slow,
    needs_dcmtk,
]


def test_study_meeting_the_profile_is_sent_with_what_it_needs(
    running_node: Callable[..., Node],
) -> None:
    node = running_node(profiles=(PROFILE,), stable_seconds=WHEN_SENT)
    files = series_files(STUDY)
    storescu(node.config.port, files)
    assert process_received(node.store) == 1
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT], timeout=120
    ), node.store.studies.status()
    out = node.config.destinations[0].path
    assert out is not None
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == len(files)
    ds = dcmread(written[0], stop_before_pixels=True)
    assert ds.Manufacturer and ds.ManufacturerModelName


def test_study_that_lost_a_requirement_is_quarantined(running_node: Callable[..., Node]) -> None:
    def broken_engine(data: bytes, name: str, settings: Settings) -> FileResult:
        """De-identification that (wrongly) drops what the vendor needs."""
        result = deidentify_file(data, name, settings)
        if result.dataset is None:
            return result
        ds = result.dataset
        del ds.Manufacturer
        del ds.ManufacturerModelName
        # The output dataset (header only when the fast path wrote the file) becomes the
        # reference path's kind of result: an output dataset, no fast-path UIDs.
        return replace(result, encoded=encode_dataset(ds), output=ds, uids=None)

    node = running_node(deid=broken_engine, profiles=(PROFILE,), stable_seconds=WHEN_SENT)
    storescu(node.config.port, series_files(STUDY))
    assert process_received(node.store) == 1
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.QUARANTINED],
        timeout=120,
    ), node.store.studies.status()
    (row,) = node.store.studies.status()
    assert (row.reason or "").startswith("check:")
    out = node.config.destinations[0].path
    assert out is not None and not list(out.rglob("*.dcm"))


def test_used_series_only_sends_the_3d_t1_not_the_phoenix_document(
    running_node: Callable[..., Node],
) -> None:
    # dcm_qa_xa30: one study, an enhanced 3D T1 (1 file) and the XA Phoenix protocol document
    # (7 SR files). With `deidentify.send: used-series` only what neuroquant uses leaves.
    from veil.node.config import SendScope

    node = running_node(profiles=(PROFILE,), send=SendScope.USED_SERIES)
    files = series_files("dcm_qa_xa30/5_anat-T1w_acq-tfl") + series_files(
        "dcm_qa_xa30/99_Phoenix_Document"
    )
    storescu(node.config.port, files)
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT], timeout=120
    ), node.store.studies.status()
    out = node.config.destinations[0].path
    assert out is not None
    (written,) = sorted(out.rglob("*.dcm"))
    assert dcmread(written, stop_before_pixels=True).Modality == "MR"


def test_used_series_needs_profiles_in_the_configuration(tmp_path: Path) -> None:
    from veil.node.config import NodeConfigError, parse_config

    with pytest.raises(NodeConfigError, match=r"deidentify\.send: 'used-series' needs"):
        parse_config({"deidentify": {"send": "used-series"}}, "node.yaml", tmp_path)
    with pytest.raises(NodeConfigError, match="must be 'all' or 'used-series'"):
        parse_config(
            {"deidentify": {"send": "some", "profiles": ["neuroquant"]}}, "node.yaml", tmp_path
        )
    config = parse_config(
        {"deidentify": {"send": "used-series", "profiles": ["neuroquant"]}}, "node.yaml", tmp_path
    )
    assert config.send.value == "used-series"


def test_study_whose_output_cannot_be_checked_is_quarantined(
    running_node: Callable[..., Node],
) -> None:
    """Fail closed: an output the destination check cannot read is not known to be good."""

    def unreadable_output(data: bytes, name: str, settings: Settings) -> FileResult:
        result = deidentify_file(data, name, settings)
        # Bytes nobody can read, with the real header the node names the output by (on either
        # path) and without the worker's facts (the fast path's come from the rewrite, not
        # from the bytes): the check must read the output, and cannot.
        header = result.dataset
        return replace(result, encoded=b"DICM but not really", output=header, check=None, fast=None)

    # Three slices of the 3D T1 do not make a study the destination could process: sent
    # anyway here (send_ineligible), to reach the check after de-identification.
    node = running_node(
        deid=unreadable_output,
        profiles=(PROFILE,),
        stable_seconds=WHEN_SENT,
        send_ineligible=True,
    )
    storescu(node.config.port, series_files(STUDY)[:3])
    assert process_received(node.store) == 1
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.QUARANTINED],
        timeout=120,
    ), node.store.studies.status()
    (row,) = node.store.studies.status()
    assert "3 output(s) could not be checked" in (row.reason or "")
    out = node.config.destinations[0].path
    assert out is not None and not list(out.rglob("*.dcm"))
