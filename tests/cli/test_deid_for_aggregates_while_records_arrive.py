"""Issue 12, `veil deid --for`: the regressions and per-study verdicts are aggregated while the
batch's records arrive (`veil.batch.for_check.ForCheck`), in any order and across chunks and
workers, the outputs' "after" facts once for both, with the files of a series folded where they
share their facts. The result must be exactly what aggregating the sorted records after the
batch gives (`check_facts`, `records_verdict`) and what `veil check OUT --for neuroquant` says.

Real corpus data: a GE 3D T1 that meets neuroquant, and three copies of it (new study and
series UIDs) where ONE file of 131 differs: it lacks Manufacturer, it has another pixel
spacing (geometry), or it says 2D (a value a series check reads). `veil check` fails each of
those studies; so must the verdict folded from shared facts.
"""

from __future__ import annotations

import gc
import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.conftest import run_veil
from veil.batch import FileRecord, Job, run_batch
from veil.batch.for_check import ForCheck
from veil.batch.quiet_gc import YOUNG_EVERY, collecting_later
from veil.batch.study_verdicts import OutputVerdict, output_verdict, records_verdict
from veil.check.evaluate import FileOutcome, _fold
from veil.check.geometry import _distinct
from veil.check.model import Outcome as CheckOutcome
from veil.check.profile import load_profile
from veil.io.inputs import InputItem, iter_inputs
from veil.mapping import Mapper
from veil.parallel import parallel_map
from veil.pipeline import CheckVerdict, Outcome, check_facts
from veil.policy import compile_plan, load_policy

MAPPER = Mapper(bytes(range(32)))
GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
EPI_2D = "dcm_qa_nih/Si_mr_0003_epi_pe_ap"


def _one_file_differs(ds: pydicom.Dataset, how: str) -> None:
    if how == "no-manufacturer":
        del ds.Manufacturer
    elif how == "other-spacing":
        ds.PixelSpacing = [float(v) * 1.5 for v in ds.PixelSpacing]
    elif how == "says-2d":
        ds.MRAcquisitionType = "2D"


@pytest.fixture(scope="module")
def studies(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-file-differs")
    sources = sorted(p for p in (corpus / GE_T1).glob("*") if p.is_file() and p.name != "LICENSE")
    for how in ("as-is", "no-manufacturer", "other-spacing", "says-2d"):
        (root / how).mkdir()
        study, series = generate_uid(), generate_uid()
        for index, path in enumerate(sources):
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            if index == len(sources) // 2:
                _one_file_differs(ds, how)
            ds.save_as(root / how / path.name)
    (root / "epi").mkdir()
    for path in sorted((corpus / EPI_2D).glob("*")):
        if path.is_file() and path.name != "LICENSE":
            shutil.copy(path, root / "epi" / path.name)
    return root


def _job(out: Path) -> Job:
    profiles = [load_profile("neuroquant")]
    plan = compile_plan(load_policy("basic"), profiles)
    return Job(plan, MAPPER, out=out, profiles=tuple(profiles))


def _reference(records: list[FileRecord], out: Path) -> tuple[CheckVerdict, OutputVerdict]:
    """After the batch, on the records sorted as `run_batch` gives them (as before)."""
    profiles = [load_profile("neuroquant")]
    facts = [(r.check, r.output) for r in records if r.outcome is Outcome.WRITTEN and r.output]
    return check_facts(profiles, facts), records_verdict(profiles, records, out)


def _followed(items: list[InputItem], records: list[FileRecord], out: Path) -> ForCheck:
    follow = ForCheck([load_profile("neuroquant")], True, items, out)
    for record in records:
        follow.add(record)
    return follow


@pytest.fixture(scope="module")
def batch(
    studies: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[InputItem], list[FileRecord], Path, ForCheck]:
    out = tmp_path_factory.mktemp("out") / "out"
    items = list(iter_inputs([studies]))
    follow = ForCheck([load_profile("neuroquant")], True, items, out)
    summary = run_batch(items, _job(out), jobs=1, progress=False, on_record=follow.add)
    return items, summary.records, out, follow


def test_followed_while_arriving_is_the_verdict_after_the_batch_and_veil_checks(
    batch: tuple[list[InputItem], list[FileRecord], Path, ForCheck],
) -> None:
    _, records, out, follow = batch
    found = follow.finish()
    assert found is not None
    regressions, verdict = found
    reference, reference_verdict = _reference(records, out)
    assert verdict == reference_verdict
    assert regressions.regressions == reference.regressions
    assert regressions.unverifiable == reference.unverifiable == ()
    # `veil check OUT --for neuroquant`, reading every output again.
    read_again = output_verdict([load_profile("neuroquant")], [out], root=out)
    assert [s.to_dict() for s in verdict.studies] == [s.to_dict() for s in read_again.studies]

    by_folder = {s.where: s for s in verdict.studies}
    assert sorted(by_folder) == ["as-is", "epi", "no-manufacturer", "other-spacing", "says-2d"]
    assert [s.label for s in verdict.studies] == [f"study {n}" for n in range(1, 6)]
    assert by_folder["as-is"].meets and all("(warning)" in r for r in by_folder["as-is"].reasons)
    # One file of 130 is enough to fail a study, and the reason says which rule and how many.
    reasons = {where: "\n".join(s.reasons) for where, s in by_folder.items() if not s.meets}
    assert set(reasons) == {"epi", "no-manufacturer", "other-spacing", "says-2d"}
    assert "neuroquant/manufacturer: Manufacturer missing" in reasons["no-manufacturer"]
    assert "(1 of 130 files)" in reasons["no-manufacturer"]
    assert "neuroquant/one-pixel-spacing" in reasons["other-spacing"]
    # One file saying 2D: the series is not a 3D volume, so neuroquant uses none.
    assert "no series it uses" in reasons["says-2d"]
    assert "no series it uses" in reasons["epi"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_records_in_any_order_across_chunks_and_workers_give_the_same(
    batch: tuple[list[InputItem], list[FileRecord], Path, ForCheck], seed: int
) -> None:
    items, records, out, _ = batch
    # Two workers, chunks of 7 files from ranges of the batch, arriving interleaved.
    chunks = [records[i : i + 7] for i in range(0, len(records), 7)]
    shuffled = random.Random(seed)
    first, second = chunks[::2], chunks[1::2]
    arrival: list[FileRecord] = []
    while first or second:
        lane = first if (shuffled.random() < 0.5 and first) or not second else second
        arrival.extend(lane.pop(shuffled.randrange(min(3, len(lane)))))
    assert [r.input for r in arrival] != [r.input for r in records]
    found = _followed(items, arrival, out).finish()
    reference, reference_verdict = _reference(records, out)
    assert found is not None
    assert found[1] == reference_verdict
    assert found[0].regressions == reference.regressions


def test_what_it_cannot_follow_exactly_is_left_to_the_aggregation_after_the_batch(
    batch: tuple[list[InputItem], list[FileRecord], Path, ForCheck],
) -> None:
    items, records, out, _ = batch
    assert _followed(items, records[:-1], out).finish() is None  # one never arrived
    assert _followed(items, [*records, records[3]], out).finish() is None  # twice
    stray = FileRecord("elsewhere/x.dcm", Outcome.FAILED, 1, problem="unreadable")
    assert _followed(items, [*records, stray], out).finish() is None  # of no input
    assert _followed([*items, items[0]], records, out).finish() is None  # two of one name
    assert _followed(items, records, out).finish() is not None


def test_an_output_without_facts_is_read_again_and_unverifiable_as_before(
    batch: tuple[list[InputItem], list[FileRecord], Path, ForCheck],
) -> None:
    from dataclasses import replace

    items, records, out, _ = batch
    written = [r for r in records if r.outcome is Outcome.WRITTEN]
    without = {written[0].input, written[-1].input}
    changed = [replace(r, check=None) if r.input in without else r for r in records]
    found = _followed(items, changed, out).finish()
    reference, reference_verdict = _reference(changed, out)
    assert found is not None
    assert found[1] == reference_verdict
    assert found[0].unverifiable == reference.unverifiable
    assert len(found[0].unverifiable) == 2


def _naive_fold(outcomes: list[FileOutcome]) -> tuple[FileOutcome, int, int]:
    worst = max(outcomes, key=lambda o: o.outcome.rank)
    count = sum(1 for o in outcomes if o.outcome is worst.outcome)
    return worst, count, len({o.observed for o in outcomes if o.outcome is worst.outcome})


def test_folding_shared_outcomes_is_aggregating_them_one_by_one() -> None:
    kinds = [
        FileOutcome(CheckOutcome.PASS, "GE"),
        FileOutcome(CheckOutcome.PASS, "SIEMENS"),
        FileOutcome(CheckOutcome.SKIP, "", "applies only when"),
        FileOutcome(CheckOutcome.WARN, "(missing)", "PatientSex missing", missing=True),
        FileOutcome(CheckOutcome.FAIL, "(missing)", "Manufacturer missing", missing=True),
        FileOutcome(CheckOutcome.FAIL, "x", "Manufacturer invalid"),
    ]
    rng = random.Random(7)
    for _ in range(300):
        # Shared objects (a memo's) and equal copies (another chunk's), in any mix.
        pool = [rng.choice(kinds) for _ in range(rng.randrange(1, 5))]
        # Runs of files sharing one outcome object (ProfileState.counted), of any length.
        counted = [
            (
                rng.choice(pool) if rng.random() < 0.7 else FileOutcome(**vars(rng.choice(pool))),
                rng.randrange(1, 4),
            )
            for _ in range(rng.randrange(1, 20))
        ]
        outcomes = [outcome for outcome, count in counted for _ in range(count)]
        folded, naive = _fold(counted), _naive_fold(outcomes)
        assert folded[0] is naive[0] and folded[1:] == naive[1:]


def _naive_distinct(values: list[tuple[float, ...]], tolerance: float) -> list[tuple[float, ...]]:
    found: list[tuple[float, ...]] = []
    for value in values:
        near = (
            all(abs(x - y) <= tolerance for x, y in zip(value, seen, strict=True)) for seen in found
        )
        if not any(near):
            found.append(value)
    return found


def test_distinct_values_skip_exact_repeats_with_the_same_result() -> None:
    rng = random.Random(3)
    for _ in range(300):
        base = [tuple(rng.choice((0.0, 1.0, 0.5, 0.5004, -0.0)) for _ in range(2)) for _ in "ab"]
        values = [rng.choice(base) for _ in range(rng.randrange(1, 30))]
        assert _distinct(values, 0.001) == _naive_distinct(values, 0.001)


@pytest.mark.slow
def test_deid_for_with_workers_says_what_veil_check_says(studies: Path, tmp_path: Path) -> None:
    """Through the real commands, with worker processes (-j 2): chunks of several studies
    from two workers arrive out of order."""
    out, report, checked = tmp_path / "out", tmp_path / "deid.json", tmp_path / "check.json"
    deid = run_veil(
        "deid", studies, "--out", out, "--for", "neuroquant", "-j", "2", "-q",
        "--report", report,
    )  # fmt: skip
    assert deid.returncode == 1, deid.stderr
    check = run_veil("check", out, "--for", "neuroquant", "--json", checked)
    assert check.returncode == 1, check.stderr
    data = json.loads(report.read_text())
    said, found = data["studies_verdict"], json.loads(checked.read_text())["studies"]
    assert [(s["study"], s["meets"], s["series"]) for s in said] == [
        (s["study"], s["verdict"] != "fail", len(s["series"])) for s in found
    ]
    assert Counter(s["meets"] for s in said) == Counter({False: 4, True: 1})
    assert data.get("regressions", []) == []
    assert deid.stderr.count("does NOT meet neuroquant") == 4


def _collecting(_: int) -> bool:
    return gc.isenabled()


def test_the_parent_collects_later_and_its_workers_collect_as_always() -> None:
    was = gc.isenabled()
    gc.enable()
    young: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            young.append(info["generation"])

    try:
        with collecting_later() as later:
            assert not gc.isenabled()
            # Workers forked while the parent's collector is off still collect (their
            # cyclic garbage holds whole file buffers: veil.worker_tuning).
            assert list(parallel_map(_collecting, range(4), 2, chunksize=1)) == [True] * 4
            gc.callbacks.append(count)
            try:
                for _ in range(YOUNG_EVERY * 2):
                    later.tick()
            finally:
                gc.callbacks.remove(count)
            assert young == [0, 0]  # the parent's cyclic garbage is still freed, young
        assert gc.isenabled()
        with collecting_later(False) as later:
            assert gc.isenabled()
            later.tick()
    finally:
        if not was:
            gc.disable()


def test_regressions_while_arriving_are_those_after_the_batch(
    studies: Path, tmp_path: Path
) -> None:
    """A plan compiled WITHOUT the profile (basic drops what neuroquant reads): regressions
    on two studies whose records arrive out of order give the same report."""
    profiles = [load_profile("neuroquant")]
    out = tmp_path / "out"
    job = Job(compile_plan(load_policy("basic")), MAPPER, out=out, profiles=tuple(profiles))
    items = list(iter_inputs([studies / "as-is", studies / "no-manufacturer"]))
    records = run_batch(items, job, jobs=1, progress=False).records
    reference, reference_verdict = _reference(records, out)
    assert len(reference.regressions) >= 2  # a rule of each study at least
    arrival = [
        r for chunk in reversed(range(0, len(records), 16)) for r in records[chunk : chunk + 16]
    ]
    found = _followed(items, arrival, out).finish()
    assert found is not None
    assert found[0].regressions == reference.regressions
    assert found[0].unverifiable == reference.unverifiable
    assert found[1] == reference_verdict
