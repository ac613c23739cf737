"""`veil deid` and `veil explain` on real ultrasound files: flag, clean, quarantine, render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from tests.pixels.conftest import US_FILES
from veil.cli import main

pytestmark = pytest.mark.slow

KEY = "ab" * 32


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"VEIL_KEY": KEY}, catch_exceptions=False)
    return result.exit_code, result.output


def test_basic_policy_writes_and_flags_ultrasound_in_summary_and_report(
    corpus: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    code, output = _run(
        [
            "deid",
            "--layout",
            "mirror",
            str(corpus / US_FILES["palette"]),
            "--out",
            str(tmp_path / "out"),
            "--report",
            str(report),
            "-j",
            "1",
            "-q",
        ]
    )
    assert code == 0
    assert "may carry identifying text in their pixels" in output
    data = json.loads(report.read_text())
    assert data["burned_in_text"]["at_risk"] == 1
    entry = data["files"][0]["burned_in_text"]
    assert entry == {"at_risk": True, "reasons": ["ultrasound"]}
    written = pydicom.dcmread(tmp_path / "out" / "examples_palette.dcm")
    original = pydicom.dcmread(corpus / US_FILES["palette"])
    assert written.PixelData == original.PixelData  # no pixel option: byte for byte


def test_clean_pixel_data_policy_cleans_marks_and_reports_boxes_not_text(
    corpus: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "us.yaml"
    policy.write_text("name: us\noptions: [clean-pixel-data]\n")
    report = tmp_path / "report.json"
    code, _ = _run(
        [
            "deid",
            "--layout",
            "mirror",
            str(corpus / US_FILES["aloka"]),
            "--out",
            str(tmp_path / "out"),
            "-p",
            str(policy),
            "--report",
            str(report),
            "-j",
            "1",
            "-q",
        ]
    )
    assert code == 0
    text = report.read_text()
    entry = json.loads(text)["files"][0]["burned_in_text"]
    assert entry["status"] == "cleaned" and entry["verification"]["passed"]
    for burned in ("WESTWAY", "24-MAY-02", "11:24:20"):
        assert burned not in text
    written = pydicom.dcmread(tmp_path / "out" / "gdcm-US-ALOKA-16_big.dcm")
    assert written.BurnedInAnnotation == "NO"
    codes = {item.CodeValue for item in written.DeidentificationMethodCodeSequence}
    assert "113101" in codes
    code, output = _run(["audit", str(corpus / US_FILES["aloka"]), str(tmp_path / "out")])
    assert "burned-in-text" not in output


def test_quarantine_policy_keeps_files_at_risk_out_of_the_output(
    corpus: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "q.yaml"
    policy.write_text("name: q\npixels: {burned-in-risk: quarantine}\n")
    code, output = _run(
        [
            "deid",
            "--layout",
            "mirror",
            str(corpus / US_FILES["rgb"]),
            "--out",
            str(tmp_path / "out"),
            "-p",
            str(policy),
            "-j",
            "1",
            "-q",
        ]
    )
    assert code == 1
    assert "burned-in-risk: quarantine" in output
    assert not (tmp_path / "out" / "examples_rgb_color.dcm").exists()


def test_the_audit_warns_about_an_ultrasound_output_that_was_not_cleaned(
    corpus: Path, tmp_path: Path
) -> None:
    _run(
        [
            "deid",
            "--layout",
            "mirror",
            str(corpus / US_FILES["rgb"]),
            "--out",
            str(tmp_path / "out"),
            "-j",
            "1",
            "-q",
        ]
    )
    _, output = _run(["audit", str(corpus / US_FILES["rgb"]), str(tmp_path / "out")])
    assert "burned-in-text" in output


def test_explain_render_draws_the_frame_and_the_result(corpus: Path, tmp_path: Path) -> None:
    picture = tmp_path / "out.png"
    code, output = _run(
        ["explain", str(corpus / US_FILES["ybr"]), "--render", str(picture), "--no-values"]
    )
    assert code == 0
    assert "burned-in text: may be present (ultrasound, multi-frame-cine)" in output
    assert "region(s) removed in 30 frame(s)" in output
    from PIL import Image

    with Image.open(picture) as image:
        assert image.size == (2 * 320 + 8, 240)
        drawn = np.asarray(image.convert("RGB"))
    # The patient name corner (the built-in SonoSite rule, x 0-63, y 0-11): text on the left,
    # black on the right, where the cleaned frame is drawn.
    before, after = drawn[1:11, 1:63], drawn[1:11, 320 + 8 + 1 : 320 + 8 + 63]
    assert before.max() > 100
    assert after.max() == 0
    # Boxes and counts only: the name burned into the frame is not printed.
    assert "PLA" not in output[output.index("burned-in text") :]


def test_explain_render_of_an_image_without_pixels_is_a_usage_error_and_draws_nothing(
    corpus: Path, tmp_path: Path
) -> None:
    ds = pydicom.dcmread(corpus / US_FILES["rgb"])
    del ds.PixelData
    header = tmp_path / "header-only.dcm"
    ds.save_as(header)
    picture = tmp_path / "out.png"
    code, output = _run(["explain", str(header), "--render", str(picture), "--no-values"])
    assert code == 2
    assert "--render: nothing drawn" in output
    assert not picture.exists()
