"""The pixel step inside `veil.pipeline.deidentify_file`, the one call that `veil deid`, the
node and the console share: every result carries the risk flag; the policy's quarantine and
Clean Pixel Data apply there, not in one edge only."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.pixels.conftest import US_FILES
from veil.mapping import Mapper
from veil.pipeline import Outcome, Settings, deidentify_file
from veil.pixels import PixelStatus, step_needed
from veil.policy.loader import parse_policy
from veil.policy.plan import compile_plan

KEY = bytes.fromhex("ab" * 32)


def _settings(policy_text: str) -> Settings:
    plan = compile_plan(parse_policy(policy_text, "p.yaml"))
    return Settings(plan, Mapper(KEY), audit=True)


def _mr_slice(corpus: Path) -> Path:
    return next((corpus / "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22").iterdir())


def test_the_basic_policy_writes_an_ultrasound_file_and_flags_it(corpus: Path) -> None:
    data = (corpus / US_FILES["rgb"]).read_bytes()
    result = deidentify_file(data, "us.dcm", _settings("name: basic-like\n"))
    assert result.outcome is Outcome.WRITTEN
    assert result.burned_in.at_risk and result.pixels is None


def test_a_quarantine_policy_holds_an_ultrasound_file_wherever_it_is_deidentified(
    corpus: Path,
) -> None:
    settings = _settings("pixels: {burned-in-risk: quarantine}\n")
    data = (corpus / US_FILES["rgb"]).read_bytes()
    header = pydicom.dcmread(corpus / US_FILES["rgb"], stop_before_pixels=True)
    assert step_needed(header, settings.plan.pixels)  # a fast path would defer it here
    result = deidentify_file(data, "us.dcm", settings)
    assert result.outcome is Outcome.QUARANTINED
    assert result.encoded == b""
    assert result.problem is not None and result.problem.startswith("us.dcm: ")
    assert "burned-in-risk: quarantine" in result.problem
    assert result.engine.endswith("pixel step")  # the fast path handed it over


def test_a_text_free_mr_slice_is_written_with_its_pixel_data_byte_for_byte(
    corpus: Path,
) -> None:
    settings = _settings("options: [clean-pixel-data]\n")
    path = _mr_slice(corpus)
    result = deidentify_file(path.read_bytes(), "mr.dcm", settings)
    assert result.outcome is Outcome.WRITTEN
    assert not result.burned_in.at_risk and result.pixels is None
    written = pydicom.dcmread(pydicom.filebase.DicomBytesIO(result.encoded))
    assert written.PixelData == pydicom.dcmread(path).PixelData


@pytest.mark.slow
def test_clean_pixel_data_cleans_and_marks_an_ultrasound_file_in_the_pipeline(
    corpus: Path,
) -> None:
    settings = _settings("options: [clean-pixel-data]\npixels: {redact: rules-only}\n")
    result = deidentify_file((corpus / US_FILES["rgb"]).read_bytes(), "us.dcm", settings)
    assert result.outcome is Outcome.WRITTEN, result.problem
    assert result.pixels is not None and result.pixels.status is PixelStatus.CLEANED
    written = pydicom.dcmread(pydicom.filebase.DicomBytesIO(result.encoded))
    assert written.BurnedInAnnotation == "NO"
    codes = written.DeidentificationMethodCodeSequence
    assert any(isinstance(c, Dataset) and c.CodeValue == "113101" for c in codes)


def test_the_node_holds_a_study_whose_ultrasound_image_a_policy_quarantines(
    corpus: Path, tmp_path: Path
) -> None:
    from veil.node.study_deid import InstanceInput, deidentify_study

    spool = tmp_path / "spooled"
    spool.write_bytes((corpus / US_FILES["palette"]).read_bytes())
    sent: list[object] = []
    result = deidentify_study(
        [InstanceInput(1, "spooled", spool)],
        _settings("pixels: {burned-in-risk: quarantine}\n"),
        sent.append,
    )
    assert sent == [] and result.outputs == ()
    assert result.problem is not None and "burned-in-risk: quarantine" in result.problem
