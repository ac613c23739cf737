"""A study the destination could not process is held `not-eligible` with the reason, not sent:
a 2D EPI (the corpus' Siemens mosaic) sent to a node whose destination is a 3D-T1 volumetry
service (`neuroquant`). `send_ineligible: true` sends it anyway; so does `veil node retry
--send-anyway` for one study; the missing series arriving makes it eligible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from node_support import needs_dcmtk, series_files, storescu, wait_for
from pydicom import dcmread
from test_versions import copies

from veil.node import controls
from veil.node.service import Node
from veil.node.store.states import StudyState

pytestmark = needs_dcmtk

EPI = "dcm_qa/axasc35"  # 2D EPI, TE 30 ms: neither 3D nor T1-weighted
PROFILE = "neuroquant"


def _states(node: Node) -> list[StudyState]:
    return [r.state for r in node.store.studies.status()]


def _written(node: Node) -> int:
    out = node.config.destinations[0].path
    return 0 if out is None or not out.exists() else len(list(out.rglob("*.dcm")))


def test_a_2d_epi_for_a_3d_t1_service_is_held_with_the_reason(
    running_node: Callable[..., Node],
) -> None:
    node = running_node(profiles=(PROFILE,))
    files = series_files(EPI)
    storescu(node.config.port, files)
    assert wait_for(lambda: _states(node) == [StudyState.NOT_ELIGIBLE]), _states(node)
    (row,) = node.store.studies.status()
    reason = row.reason or ""
    assert reason.startswith("not eligible: no series meets the destination profile neuroquant")
    assert "neuroquant/three-d" in reason and "neuroquant/t1-weighted" in reason
    assert "stc_test" not in reason and "crlab" not in reason
    assert _written(node) == 0
    assert not list((node.config.spool / "out").rglob("*.dcm"))
    rules = {f.rule for f in controls.study_findings(node.store, row.id)}
    assert {"neuroquant/three-d", "neuroquant/t1-weighted"} <= rules

    # The operator decides to send this one anyway.
    assert node.store.studies.retry(row.id, send_anyway=True)
    assert wait_for(lambda: _states(node) == [StudyState.SENT]), _states(node)
    assert _written(node) == len(files)


def test_send_ineligible_sends_it_anyway(running_node: Callable[..., Node]) -> None:
    node = running_node(profiles=(PROFILE,), send_ineligible=True)
    files = series_files(EPI)
    storescu(node.config.port, files)
    assert wait_for(lambda: _states(node) == [StudyState.SENT]), _states(node)
    assert _written(node) == len(files)


@pytest.mark.slow  # the 131-file 3D T1
def test_the_missing_series_arriving_makes_the_study_eligible(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    """The 3D T1 sent after another series of the same study: judged again, sent."""
    node = running_node(profiles=(PROFILE,))
    t1 = series_files("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22")
    header = dcmread(t1[0], stop_before_pixels=True)
    same_study = {
        keyword: str(header.get(keyword, ""))
        for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "PatientBirthDate")
    }
    epi = copies(series_files(EPI), tmp_path / "epi", **same_study)
    storescu(node.config.port, epi)
    assert wait_for(lambda: _states(node) == [StudyState.NOT_ELIGIBLE]), _states(node)
    storescu(node.config.port, t1)
    assert wait_for(lambda: _states(node) == [StudyState.SENT], timeout=120), _states(node)
    assert _written(node) == len(epi) + len(t1)
