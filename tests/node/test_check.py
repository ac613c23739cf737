"""Destination profiles: the node keeps what the destination needs, and a study that lost a
requirement in de-identification is quarantined, not sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from node_support import needs_dcmtk, series_files, storescu, wait_for
from pydicom import dcmread

from veil.batch.job import Job
from veil.batch.worker import WorkerResult, deid_one
from veil.io.dicomfile import encode_dataset
from veil.node.service import Node
from veil.node.store.states import StudyState

STUDY = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
PROFILE = "neuroquant"


def _profile_available() -> bool:
    try:
        from veil.check.profile import builtin_names
    except ImportError:
        return False
    return PROFILE in builtin_names()


pytestmark = [
    pytest.mark.slow,
    needs_dcmtk,
    pytest.mark.skipif(not _profile_available(), reason="check profiles not in this checkout"),
]


def test_study_meeting_the_profile_is_sent_with_what_it_needs(
    running_node: Callable[..., Node],
) -> None:
    node = running_node(profiles=(PROFILE,))
    files = series_files(STUDY)
    storescu(node.config.port, files)
    assert wait_for(
        lambda: [r.state for r in node.store.status()] == [StudyState.SENT], timeout=120
    ), node.store.status()
    out = node.config.destinations[0].path
    assert out is not None
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == len(files)
    ds = dcmread(written[0], stop_before_pixels=True)
    assert ds.Manufacturer and ds.ManufacturerModelName


def test_study_that_lost_a_requirement_is_quarantined(running_node: Callable[..., Node]) -> None:
    def broken_engine(data: bytes, name: str, job: Job) -> WorkerResult:
        """De-identification that (wrongly) drops what the vendor needs."""
        result = deid_one(data, name, job)
        if result.dataset is None:
            return result
        ds = result.dataset
        del ds.Manufacturer
        del ds.ManufacturerModelName
        return replace(result, encoded=encode_dataset(ds), dataset=ds)

    node = running_node(deid=broken_engine, profiles=(PROFILE,))
    storescu(node.config.port, series_files(STUDY))
    assert wait_for(
        lambda: [r.state for r in node.store.status()] == [StudyState.QUARANTINED], timeout=120
    ), node.store.status()
    (row,) = node.store.status()
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
        lambda: [r.state for r in node.store.status()] == [StudyState.SENT], timeout=120
    ), node.store.status()
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
