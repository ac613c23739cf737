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


def _pairs(tmp_path: Path, *profiles: str) -> list:
    plan = compile_plan(load_policy("basic"), [load_profile(p) for p in profiles])
    mapper = load_mapper()
    pairs = []
    for index, path in enumerate(sorted(p for p in MOSAIC.iterdir() if p.is_file())):
        out = tmp_path / f"{index}.dcm"
        out.write_bytes(encode_dataset(deidentify(read_dataset(path), plan, mapper)))
        pairs.append((path.read_bytes, out))
    return pairs


def test_basic_profile_alone_regresses_what_dcm2niix_and_neuroquant_need(tmp_path: Path) -> None:
    profiles = [load_profile("dcm2niix"), load_profile("neuroquant")]
    report = find_regressions(profiles, _pairs(tmp_path), quality_checks=True)
    assert report.unverifiable == ()
    found = report.regressions
    rules = {r.rule_id for r in found}
    assert "dcm2niix/siemens-csa" in rules  # the mosaic can no longer be unpacked
    assert "dcm2niix/acquisition-time" in rules
    assert "neuroquant/patient-age" in rules and "neuroquant/patient-sex" in rules
    for regression in found:
        assert regression.series.startswith("2.25.")  # the pseudonymised series UID
        data = regression.to_dict()
        assert data["before"] in ("pass", "skip") or data["before"] == "warn"
        assert data["after"] in ("warn", "fail")


def test_deid_with_the_profiles_has_no_regression(tmp_path: Path) -> None:
    profiles = [load_profile("dcm2niix"), load_profile("neuroquant")]
    pairs = _pairs(tmp_path, "dcm2niix", "neuroquant")
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
