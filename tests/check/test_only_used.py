"""`veil deid --for P --only-used`: only the series the destination uses leave (data
minimisation); the rest is skipped and counted, never written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.check.samples import corpus_path
from tests.conftest import run_veil

PHILIPS = corpus_path("dcm_qa_philips_enh")


def test_only_the_3d_t1_is_written_for_neuroquant(tmp_path: Path) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    run = run_veil(
        "deid",
        PHILIPS,
        "--out",
        out,
        "--for",
        "neuroquant",
        "--only-used",
        "--layout",
        "mirror",
        "-q",
        "-j",
        "2",
        "--report",
        report,
    )
    assert run.returncode == 0, run.stderr
    written = sorted(p.relative_to(out).parts[0] for p in out.rglob("*.dcm"))
    # The 170 images of the 3D T1; not the pCASL, not the raw-data objects (one of which
    # shares the T1's series).
    assert written == ["1301_ADNI_Sag3D_MPRAGE_classic"] * 170
    data = json.loads(report.read_text())
    skipped = [f for f in data["files"] if f.get("problem", "").startswith("not used")]
    assert len(skipped) == 3 and data["counts"]["written"] == 170
    assert {Path(f["input"]).parent.name for f in skipped} == {
        "1901_3DpCASL_enhanced",
        "philips_raw_data_storage",
    }
    assert "not used by neuroquant: 3 file(s) skipped" in run.stderr
    check = run_veil("check", out, "--for", "neuroquant")
    assert check.returncode == 0 and "0 not used" in check.stdout


def test_dcm2niix_uses_the_pcasl_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = run_veil(
        "deid",
        PHILIPS,
        "--out",
        out,
        "--for",
        "dcm2niix",
        "--only-used",
        "--layout",
        "mirror",
        "-q",
    )
    assert run.returncode == 0, run.stderr
    folders = {p.relative_to(out).parts[0] for p in out.rglob("*.dcm")}
    assert folders == {"1301_ADNI_Sag3D_MPRAGE_classic", "1901_3DpCASL_enhanced"}


def test_only_used_without_a_destination_is_a_usage_error(tmp_path: Path) -> None:
    run = run_veil("deid", PHILIPS, "--out", tmp_path / "out", "--only-used")
    assert run.returncode == 2
    assert "--only-used needs --for PROFILE" in run.stderr
    assert not (tmp_path / "out").exists()
