"""Issue 12, `veil deid --for`: the per-study verdict is built from the "after" facts the
workers evaluated on each output (`FileRecord.check`), aggregated as `veil check` aggregates
the facts it reads itself, and gives the same verdict as `veil check OUT --for` on the
written output; the parent reads no output again, except one whose facts are missing.

Real corpus data: a GE 3D T1 study that meets neuroquant (with warnings), an EPI study (2D:
no series neuroquant uses) and an enhanced 3D T1 whose Manufacturer another tool removed."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from tests.conftest import run_veil
from veil.batch import FileRecord, Job, run_batch
from veil.batch.study_verdicts import output_verdict, records_verdict
from veil.check.profile import load_profile
from veil.io.inputs import iter_inputs
from veil.mapping import Mapper
from veil.pipeline import Outcome
from veil.policy import compile_plan, load_policy

MAPPER = Mapper(bytes(range(32)))
GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
EPI_2D = "dcm_qa_nih/Si_mr_0003_epi_pe_ap"
ENHANCED_T1 = "dcm_qa_xa30/5_anat-T1w_acq-tfl"


@pytest.fixture(scope="module")
def three_studies(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("three-studies")
    for name, source in (("t1", GE_T1), ("epi", EPI_2D)):
        (root / name).mkdir()
        for path in sorted((corpus / source).glob("*")):
            if path.is_file() and path.name != "LICENSE":
                shutil.copy(path, root / name / path.name)
    (root / "no-manufacturer").mkdir()
    for path in sorted((corpus / ENHANCED_T1).glob("*.dcm")):
        ds = pydicom.dcmread(path)
        del ds.Manufacturer
        ds.save_as(root / "no-manufacturer" / path.name)
    return root


def _run(inputs: Path, out: Path) -> list[FileRecord]:
    profiles = [load_profile("neuroquant")]
    job = Job(
        compile_plan(load_policy("basic"), profiles), MAPPER, out=out, profiles=tuple(profiles)
    )
    summary = run_batch(list(iter_inputs([inputs])), job, jobs=1, progress=False)
    written = [r for r in summary.records if r.outcome is Outcome.WRITTEN]
    assert len(written) > 100
    # Every output came back with the facts its worker evaluated on it.
    assert all(r.check is not None and r.check.after is not None for r in written)
    return summary.records


def test_the_verdict_from_the_workers_facts_is_veil_checks_verdict_on_the_output(
    three_studies: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    records = _run(three_studies, out)
    profiles = [load_profile("neuroquant")]
    from_facts = records_verdict(profiles, records, out)
    read_again = output_verdict(profiles, [out], root=out)  # `veil check OUT --for neuroquant`
    assert [s.to_dict() for s in from_facts.studies] == [s.to_dict() for s in read_again.studies]
    assert from_facts.unreadable == read_again.unreadable == ()
    meets = sorted((s.meets, s.series) for s in from_facts.studies)
    assert meets == [(False, 1), (False, 1), (True, 1)]
    reasons = "\n".join(r for s in from_facts.studies for r in s.reasons)
    assert "no series it uses" in reasons  # the EPI
    assert "neuroquant/manufacturer" in reasons  # the enhanced T1 without it
    good = next(s for s in from_facts.studies if s.meets)
    assert good.reasons and all("(warning)" in r for r in good.reasons)
    assert not from_facts.ok


def test_the_parent_reads_no_output_again_only_those_without_facts(
    three_studies: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    records = _run(three_studies, out)
    profiles = [load_profile("neuroquant")]
    before = records_verdict(profiles, records, out)
    written = [r for r in records if r.outcome is Outcome.WRITTEN]
    for record in written:  # whatever the outputs are now, the facts decide
        path = out / record.output
        path.write_bytes(path.read_bytes()[:400])  # truncated: unreadable if read
    after = records_verdict(profiles, records, out)
    assert after == before and after.unreadable == ()

    # A record without facts (a cluster's, or facts that failed): its output is read again,
    # and found unreadable here; the others still come from their facts.
    first = written[0]
    without = [replace(r, check=None) if r is first else r for r in records]
    fallback = records_verdict(profiles, without, out)
    (problem,) = fallback.unreadable
    assert problem.startswith(f"{first.output}: truncated")
    assert sum(s.series for s in fallback.studies) == sum(s.series for s in before.studies)


@pytest.mark.slow
def test_deid_for_prints_what_veil_check_says_of_the_output(
    three_studies: Path, tmp_path: Path
) -> None:
    """Through the real commands, with worker processes (-j 2)."""
    out, report, checked = tmp_path / "out", tmp_path / "deid.json", tmp_path / "check.json"
    deid = run_veil(
        "deid", three_studies, "--out", out, "--for", "neuroquant", "-j", "2", "-q",
        "--report", report,
    )  # fmt: skip
    assert deid.returncode == 1, deid.stderr
    check = run_veil("check", out, "--for", "neuroquant", "--json", checked)
    assert check.returncode == 1, check.stderr
    said = json.loads(report.read_text())["studies_verdict"]
    found = json.loads(checked.read_text())["studies"]
    assert [(s["study"], s["meets"], s["series"]) for s in said] == [
        (s["study"], s["verdict"] != "fail", len(s["series"])) for s in found
    ]
    assert [s["where"] for s in said] == [
        Path(s["where"]).relative_to(out).as_posix() for s in found
    ]
    assert sorted(s["meets"] for s in said) == [False, False, True]
    assert deid.stderr.count("does NOT meet neuroquant") == 2
