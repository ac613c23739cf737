"""`veil deid --for`: the before/after requirement check is evaluated in the worker processes
on each file (both engines, in `veil.pipeline.deidentify_file`), and the parent only
aggregates: the same regressions as reading every input and output again, and the same
fail-closed verdict (an output without facts is unverifiable)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.engine import builders as b
from veil.batch import Job, run_batch
from veil.check.profile import load_profile
from veil.check.regression import PairFacts, find_regressions, regressions_from_facts
from veil.io.inputs import iter_inputs
from veil.mapping import Mapper
from veil.pipeline import Engine, check_facts
from veil.policy import compile_plan, load_policy

MAPPER = Mapper(bytes(range(32)))


def _series(folder: Path, count: int = 3) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        ds = b.mr_dataset()
        ds.SOPInstanceUID = f"{b.SOP_UID}.{index}"
        ds.InstanceNumber = index + 1
        ds.PatientSex = "F"
        ds.PatientAge = "054Y"
        ds.Manufacturer = "SIEMENS"
        ds.ManufacturerModelName = "Prisma"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        (folder / f"{index}.dcm").write_bytes(buffer.getvalue())


@pytest.mark.parametrize("engine", [Engine.AUTO, Engine.REFERENCE])
def test_a_plan_without_the_requirements_shows_the_same_regressions_as_rereading(
    tmp_path: Path, engine: Engine
) -> None:
    _series(tmp_path / "in")
    profiles = [load_profile("neuroquant")]
    # The plan is compiled WITHOUT the profile: basic drops sex and age, which it needs.
    job = Job(
        compile_plan(load_policy("basic")),
        MAPPER,
        out=tmp_path / "out",
        engine=engine,
        profiles=tuple(profiles),
    )
    items = list(iter_inputs([tmp_path / "in"]))
    summary = run_batch(items, job, jobs=1, progress=False)
    facts = [(r.check, r.output) for r in summary.records if r.check and r.output]
    assert len(facts) == 3
    report = regressions_from_facts(profiles, facts)
    in_workers = report.regressions
    pairs = [(item.read, tmp_path / "out" / item.relative) for item in items]
    reread = find_regressions(profiles, pairs).regressions
    assert report.unverifiable == ()
    assert (
        {r.rule_id for r in in_workers}
        == {r.rule_id for r in reread}
        == {
            "neuroquant/patient-sex",
            "neuroquant/patient-age",
        }
    )
    assert [r.to_dict() for r in in_workers] == [r.to_dict() for r in reread]
    engines = {r.engine for r in summary.records}
    assert engines == ({"fast"} if engine is Engine.AUTO else {"full: reference path chosen"})


def test_with_the_requirements_in_the_plan_no_file_regresses(tmp_path: Path) -> None:
    _series(tmp_path / "in")
    profiles = [load_profile("neuroquant")]
    job = Job(
        compile_plan(load_policy("basic"), profiles),
        MAPPER,
        out=tmp_path / "out",
        profiles=tuple(profiles),
    )
    summary = run_batch(list(iter_inputs([tmp_path / "in"])), job, jobs=1, progress=False)
    facts = [(r.check, r.output) for r in summary.records if r.check and r.output]
    assert len(facts) == 3
    assert check_facts(profiles, facts).ok


@pytest.mark.parametrize("engine", [Engine.AUTO, Engine.REFERENCE])
def test_an_output_whose_facts_are_missing_or_failed_is_unverifiable(
    tmp_path: Path, engine: Engine
) -> None:
    """Fail closed, as when reading the files again: not known to be good is not good."""
    _series(tmp_path / "in")
    profiles = [load_profile("neuroquant")]
    job = Job(
        compile_plan(load_policy("basic"), profiles),
        MAPPER,
        out=tmp_path / "out",
        engine=engine,
        profiles=tuple(profiles),
    )
    summary = run_batch(list(iter_inputs([tmp_path / "in"])), job, jobs=1, progress=False)
    first, second, third = (r for r in summary.records if r.output)
    facts = [
        (first.check, first.output),
        (None, second.output),  # no facts came back from the worker
        (PairFacts.failed("cannot be checked (ValueError)"), third.output),
    ]
    verdict = check_facts(profiles, facts)
    assert not verdict.ok and verdict.regressions == ()
    assert verdict.unverifiable == (
        f"{second.output}: no check facts",
        f"{third.output}: cannot be checked (ValueError)",
    )
