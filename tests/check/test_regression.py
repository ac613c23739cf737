"""A rule that passed before de-identification and fails after is an error of veil."""

from __future__ import annotations

from pathlib import Path

from tests.check.samples import corpus_path
from veil.check import load_profile
from veil.check.regression import find_regressions
from veil.engine import deidentify
from veil.io.dicomfile import encode_dataset, read_dataset
from veil.keys import load_mapper
from veil.pipeline import check_outputs
from veil.policy import compile_plan, load_policy

MOSAIC = corpus_path("dcm_qa/axasc35")
# 30 slices of a Philips 3D T1 (a volume neuroquant uses, though a partial one).
PHILIPS_T1 = [
    corpus_path(f"dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic/1301_{n:04d}.dcm")
    for n in range(70, 100)
]


def _pairs(tmp_path: Path, *profiles: str, files: list[Path] | None = None) -> list:
    plan = compile_plan(load_policy("basic"), [load_profile(p) for p in profiles])
    mapper = load_mapper()
    pairs = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    chosen = files or sorted(p for p in MOSAIC.iterdir() if p.is_file())
    for index, path in enumerate(chosen):
        out = tmp_path / f"{index}.dcm"
        out.write_bytes(encode_dataset(deidentify(read_dataset(path), plan, mapper)))
        pairs.append((path.read_bytes, out))
    return pairs


def test_basic_profile_alone_regresses_what_dcm2niix_and_neuroquant_need(tmp_path: Path) -> None:
    profiles = [load_profile("dcm2niix"), load_profile("neuroquant")]
    report = find_regressions(profiles, _pairs(tmp_path), quality_checks=True)
    assert report.unverifiable == ()
    found = list(report.regressions)
    found += find_regressions(
        profiles, _pairs(tmp_path / "t1", files=PHILIPS_T1), quality_checks=True
    ).regressions
    rules = {r.rule_id for r in found}
    assert "dcm2niix/siemens-csa" in rules  # the mosaic can no longer be unpacked
    assert "dcm2niix/acquisition-time" in rules
    # The 3D T1 loses its age and sex; the EPI mosaic is not used by neuroquant: no rule of it.
    assert "neuroquant/patient-age" in rules and "neuroquant/patient-sex" in rules
    for regression in found:
        assert regression.series.startswith("2.25.")  # the pseudonymised series UID
        data = regression.to_dict()
        assert data["before"] in ("pass", "skip") or data["before"] == "warn"
        assert data["after"] in ("warn", "fail")


def test_deid_with_the_profiles_has_no_regression(tmp_path: Path) -> None:
    profiles = [load_profile("dcm2niix"), load_profile("neuroquant")]
    pairs = _pairs(tmp_path, "dcm2niix", "neuroquant")
    pairs += _pairs(tmp_path / "t1", "dcm2niix", "neuroquant", files=PHILIPS_T1)
    report = find_regressions(profiles, pairs, quality_checks=True)
    assert (report.regressions, report.unverifiable) == ((), ())


def test_an_output_that_cannot_be_checked_is_unverifiable_not_skipped(tmp_path: Path) -> None:
    profiles = [load_profile("neuroquant")]
    pairs = _pairs(tmp_path, "neuroquant")[:3]
    truncated, missing = pairs[0][1], tmp_path / "gone.dcm"
    truncated.write_bytes(truncated.read_bytes()[:2000])
    pairs.append((pairs[1][0], missing))
    verdict = check_outputs(profiles, pairs)
    assert not verdict.ok
    assert verdict.regressions == ()
    assert [u.split(": ", 1)[0] for u in verdict.unverifiable] == [str(truncated), str(missing)]
    assert "truncated" in verdict.unverifiable[0]
    assert "2 output(s) could not be checked" in verdict.summary()


def test_a_series_the_destination_no_longer_uses_after_deid_is_a_regression(
    tmp_path: Path,
) -> None:
    # A policy that removes MRAcquisitionType... is refused by the compiler for neuroquant; a
    # broken engine could still make the 3D T1 look 2D: simulated on the output here.
    from pydicom import dcmread

    pairs = _pairs(tmp_path, "neuroquant", files=PHILIPS_T1)
    for _, output in pairs:
        ds = dcmread(output)
        ds.MRAcquisitionType = "2D"
        ds.save_as(output)
    found = find_regressions([load_profile("neuroquant")], pairs, quality_checks=True)
    (lost,) = [r for r in found.regressions if r.rule_id == "neuroquant/uses"]
    assert "no longer uses this series: not a 3D acquisition" in lost.message
