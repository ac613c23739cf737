"""The node's eligibility is `veil check`'s verdict per study (`veil.check.study`): the series a
destination does not use are skipped, never failed, and a study it uses nothing of is held with
the rules that exclude its series."""

from __future__ import annotations

from pathlib import Path

from tests.check.samples import corpus_path

from veil.check import load_profile
from veil.node.eligibility import judge


def _files(folder: str) -> list[tuple[str, Path]]:
    return [(p.name, p) for p in sorted(corpus_path(folder).rglob("*")) if p.is_file()]


def test_a_study_whose_3d_t1_passes_is_eligible_though_its_pcasl_is_not_used() -> None:
    # dcm_qa_philips_enh: the 3D T1 passes, the pCASL and a raw-data object are not used.
    verdict = judge(_files("dcm_qa_philips_enh"), [load_profile("neuroquant")])
    assert verdict.eligible, verdict.reason


def test_a_study_of_only_a_2d_epi_is_held_with_the_rules_that_exclude_it() -> None:
    verdict = judge(_files("dcm_qa/axasc35"), [load_profile("neuroquant")])
    assert not verdict.eligible
    assert verdict.reason.startswith(
        "not eligible: no series meets the destination profile neuroquant (no series it uses: "
        "it needs a 3D T1-weighted MR volume"
    )
    assert {f.rule for f in verdict.findings} == {"neuroquant/three-d", "neuroquant/t1-weighted"}
