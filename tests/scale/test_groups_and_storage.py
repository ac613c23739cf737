"""The parts of a cluster run that need no cluster: groups, manifests, sinks, storage retries,
--for checks inside a group, and the command's refusals. The task runs in-process here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, run_veil
from veil.batch import FileRecord, Job, Layout, Outcome
from veil.batch.grouprun import JobPayload, RemoteJob, run_group
from veil.batch.groups import Group, make_groups
from veil.batch.locations import resolve_locations
from veil.batch.manifest import (
    StateStore,
    plan_digest,
    record_from_stored,
    record_to_stored,
)
from veil.batch.runner import BatchSummary
from veil.batch.sink import ObjectSink
from veil.check.profile import load_profile
from veil.check.regression import find_regressions
from veil.errors import InputFileError, StorageError, UnsafeOutputError
from veil.io import storage
from veil.io.inputs import InputItem, iter_inputs
from veil.io.storage import Store, parse_storage_options
from veil.io.stored_inputs import iter_stored
from veil.mapping import Mapper, Patient
from veil.policy import compile_plan, load_policy

GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
MAPPER = Mapper(bytes.fromhex(TEST_KEY))


def _remote(out: Path | Store, profiles: tuple[Any, ...] = ()) -> RemoteJob:
    plan = compile_plan(load_policy("basic"), [])
    return RemoteJob(
        plan=plan,
        layout=Layout.MIRROR,
        audit=True,
        overwrite=False,
        out=out,
        key_fingerprint=MAPPER.fingerprint(),
        fingerprint="job-under-test",
        profiles=profiles,
    )


@pytest.fixture
def few_files(corpus: Path, tmp_path: Path) -> list[InputItem]:
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted((corpus / GE_T1).iterdir())[:5]:
        shutil.copy2(path, folder / path.name)
    return list(iter_inputs([folder]))


# -- groups ------------------------------------------------------------------------------
def test_groups_are_cut_at_folders_and_size_and_named_by_keyed_digests(tmp_path: Path) -> None:
    for folder, count in (("a", 5), ("b", 2)):
        (tmp_path / folder).mkdir()
        for index in range(count):
            (tmp_path / folder / f"{index}.dcm").write_bytes(b"x" * (index + 1))
    items = list(iter_inputs([tmp_path]))

    groups = make_groups(items, MAPPER, size=3)
    again = make_groups(items, MAPPER, size=3)
    other_key = make_groups(items, Mapper(b"k" * 32), size=3)

    assert [len(g.items) for g in groups] == [3, 2, 2]
    assert [g.id for g in groups] == [g.id for g in again]
    assert not {g.id for g in groups} & {g.id for g in other_key}
    assert str(tmp_path) not in repr(groups[0]) and "a/" not in repr(groups[0])
    (tmp_path / "b" / "1.dcm").write_bytes(b"changed")
    changed = make_groups(list(iter_inputs([tmp_path])), MAPPER, size=3)
    assert [g.id == c.id for g, c in zip(groups, changed, strict=True)] == [True, True, False]


def test_the_same_files_listed_twice_make_groups_with_distinct_ids(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"x")
    items = list(iter_inputs([tmp_path / "a.dcm"])) * 2
    groups = make_groups(items, MAPPER, size=1)
    assert len({g.id for g in groups}) == 2


def test_the_plan_digest_is_the_same_in_processes_with_other_hash_seeds() -> None:
    code = (
        "from veil.batch.manifest import plan_digest; from veil.policy import compile_plan, "
        "load_policy; from veil.check.profile import load_profile; "
        "print(plan_digest(compile_plan(load_policy('research-longitudinal'), "
        "[load_profile('neuroquant'), load_profile('dcm2niix')])))"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1
    assert digests != {plan_digest(compile_plan(load_policy("basic"), []))}


# -- manifests ---------------------------------------------------------------------------
def test_a_stored_record_names_no_input_and_reads_back_the_same() -> None:
    display = "/data/DOE^JOHN/scan 1.dcm"
    record = FileRecord(
        display,
        Outcome.QUARANTINED,
        1234,
        problem=f"{display}: the audit found 1 identifier(s) in the output",
        study="2.25.1",
        series="2.25.2",
        findings=({"file": display, "path": "(0010,0010)", "kind": "name"},),
    )
    stored = record_to_stored(3, record, display)
    assert "DOE" not in json.dumps(stored) and stored["i"] == 3
    assert record_from_stored(stored, display) == record


def test_an_output_of_another_run_is_refused_and_overwrite_starts_afresh(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    identity = {"veil": "1", "policy": "basic", "key_fingerprint": "aaaa"}
    state.begin_run(identity, overwrite=False)
    (tmp_path / "_veil" / "groups").mkdir()
    (tmp_path / "_veil" / "groups" / "g1.json").write_text("{}")
    state.begin_run(dict(identity), overwrite=False)  # the same job: resumes

    with pytest.raises(Exception, match=r"key_fingerprint 'aaaa' there, 'bbbb' now"):
        state.begin_run({**identity, "key_fingerprint": "bbbb"}, overwrite=False)
    state.begin_run({**identity, "key_fingerprint": "bbbb"}, overwrite=True)
    assert state.finished_groups() == set()


def test_a_large_report_lists_problems_and_points_at_the_manifests() -> None:
    records = [FileRecord(f"in/{i}.dcm", Outcome.WRITTEN, 10, output=f"{i}.dcm") for i in range(5)]
    records.append(FileRecord("in/bad.dcm", Outcome.FAILED, 3, problem="in/bad.dcm: truncated"))
    summary = BatchSummary(records, 1.0, 2, manifests="s3://out/_veil/groups/", inline_limit=4)
    job = Job(plan=compile_plan(load_policy("basic"), []), mapper=MAPPER)

    report = summary.to_dict(job)

    assert report["counts"]["written"] == 5
    assert [f["input"] for f in report["files"]] == ["in/bad.dcm"]
    assert report["files_manifests"] == "s3://out/_veil/groups/"


# -- the group task, in-process ------------------------------------------------------------
def test_a_group_writes_its_files_then_its_manifest_and_cleans_a_lost_attempts_temp_files(
    few_files: list[InputItem], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    group = make_groups(few_files, MAPPER)[0]
    stale = out / "_veil" / "tmp" / group.id / ".veil-lost.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file from a killed worker")

    result = run_group(group, JobPayload.of(_remote(out)))

    assert result.complete and [r.outcome for r in result.records] == [Outcome.WRITTEN] * 5
    assert StateStore(out).finished_groups() == {group.id}
    assert not (out / "_veil" / "tmp" / group.id).exists()
    assert "Group(" in repr(group) and "JobPayload(" in repr(JobPayload.of(_remote(out)))


def test_for_checks_inside_a_group_find_what_the_checks_after_the_batch_find(
    few_files: list[InputItem], tmp_path: Path
) -> None:
    """basic alone drops what neuroquant needs: the group must report the same regressions."""
    out = tmp_path / "out"
    profiles = (load_profile("neuroquant"),)
    group = make_groups(few_files, MAPPER)[0]

    result = run_group(group, JobPayload.of(_remote(out, profiles)))

    after_batch = find_regressions(
        profiles,
        [(item.read, out / r.output) for item, r in zip(few_files, result.records, strict=True)
         if r.output],
    )  # fmt: skip
    assert result.regressions  # PatientAge and friends: dropped by basic, needed by neuroquant
    assert list(result.regressions) == [r.to_dict() for r in after_batch.regressions]
    assert result.unverifiable == after_batch.unverifiable == ()
    # The same per-file pipeline as the pool (fast path first); the facts stay in the task.
    assert all(r.engine for r in result.records) and all(r.check is None for r in result.records)


def test_an_output_a_group_cannot_check_is_unverifiable_and_kept_in_its_manifest(
    few_files: list[InputItem], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed inside a cluster task as after a local run: an output the --for check cannot
    evaluate is not known to be good; a re-run that skips the group still reports it."""
    from veil import pipeline
    from veil.batch.manifest import GroupManifest
    from veil.check import rawfacts, regression

    class Unforeseen(Exception):
        """A value no check foresaw (simulated)."""

    def cannot_evaluate(*args: Any) -> Any:
        raise Unforeseen

    # The fast path's facts (memoised, or on header datasets), then the full reads it falls
    # back to (as the reference path's).
    monkeypatch.setattr(rawfacts, "_MEMOS", {})
    monkeypatch.setattr(rawfacts, "file_facts", cannot_evaluate)
    monkeypatch.setattr(pipeline, "facts_after", cannot_evaluate)
    monkeypatch.setattr(regression, "file_facts", cannot_evaluate)
    out = tmp_path / "out"
    group = make_groups(few_files, MAPPER)[0]

    result = run_group(group, JobPayload.of(_remote(out, (load_profile("neuroquant"),))))

    assert result.complete and len(result.unverifiable) == 5
    assert all("cannot be checked (Unforeseen)" in line for line in result.unverifiable)
    assert {line.split(":")[0] for line in result.unverifiable} == {
        r.output for r in result.records
    }
    manifest = GroupManifest.from_json((out / "_veil" / "groups" / f"{group.id}.json").read_bytes())
    assert manifest.unverifiable == result.unverifiable
    summary = BatchSummary(list(result.records), 1.0, 1, unverifiable=list(result.unverifiable))
    assert not summary.ok


def test_for_checks_read_outputs_back_from_a_store_as_from_a_folder(
    few_files: list[InputItem],
) -> None:
    """A group's verdict from its files' facts equals reading the outputs back from the store."""
    url = f"memory://{uuid.uuid4().hex}/out"
    where = resolve_locations([str(Path(few_files[0].path).parent)], url, None, {})
    profiles = (load_profile("neuroquant"),)
    store = where.out
    assert isinstance(store, Store)
    result = run_group(make_groups(few_files, MAPPER)[0], JobPayload.of(_remote(store, profiles)))

    pairs = [
        (item.read, partial(store.read, r.output))
        for item, r in zip(few_files, result.records, strict=True)
        if r.output
    ]
    assert len(pairs) == 5 and result.regressions
    after_batch = find_regressions(profiles, pairs)
    assert [r.to_dict() for r in after_batch.regressions] == list(result.regressions)
    assert not after_batch.unverifiable


class _Flaky:
    """A memory:// store whose first writes fail like a throttled object store (503)."""

    failures = 0

    @classmethod
    def install(cls, failures: int) -> str:
        from fsspec import register_implementation
        from fsspec.implementations.memory import MemoryFileSystem

        cls.failures = failures

        class FlakyMemory(MemoryFileSystem):  # type: ignore[misc]
            protocol = "flakymem"

            def pipe_file(self, path: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
                if cls.failures > 0:
                    cls.failures -= 1
                    raise ConnectionError("SlowDown")
                return super().pipe_file(path, value, *args, **kwargs)

        register_implementation("flakymem", FlakyMemory, clobber=True)
        return f"flakymem://{uuid.uuid4().hex}"


def test_storage_errors_are_retried_and_a_group_that_still_fails_is_redone_next_time(
    few_files: list[InputItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "RETRY_FIRST_DELAY", 0.0)
    root = Store.from_url(_Flaky.install(failures=3))
    group = make_groups(few_files, MAPPER)[0]

    retried = run_group(group, JobPayload.of(_remote(root)))
    assert retried.complete and all(r.outcome is Outcome.WRITTEN for r in retried.records)

    second_root = Store.from_url(_Flaky.install(failures=10**6))
    failed = run_group(group, JobPayload.of(_remote(second_root)))
    assert not failed.complete
    assert all(r.outcome is Outcome.FAILED and r.retry for r in failed.records)
    assert "cannot write" in (failed.records[0].problem or "")
    assert StateStore(second_root).finished_groups() == set()
    _Flaky.failures = 0
    assert run_group(group, JobPayload.of(_remote(second_root))).complete


def test_the_memory_store_lists_inputs_like_a_folder(few_files: list[InputItem]) -> None:
    root = Store.from_url(f"memory://{uuid.uuid4().hex}/in")
    sink = ObjectSink(root)
    for item in few_files:
        sink.place(f"series/{Path(item.path).name}", item.read(), overwrite=False)

    listed = list(iter_stored(root, multiple=False))

    assert [i.relative for i in listed] == sorted(f"series/{Path(i.path).name}" for i in few_files)
    assert listed[0].display.startswith("memory://") and listed[0].etag  # changes with it
    assert listed[0].read() == few_files[0].read()


def test_a_stored_output_read_again_lists_no_bookkeeping(few_files: list[InputItem]) -> None:
    """A cluster run's manifests (`_veil/run.json`...) and a run stamp are not inputs; a
    user's own folder that merely has such a name is."""
    root = Store.from_url(f"memory://{uuid.uuid4().hex}/out")
    sink = ObjectSink(root)
    sink.place("series/one.dcm", few_files[0].read(), overwrite=False)
    sink.place("_veil/run.json", b"{}", overwrite=False)
    sink.place("_veil/groups/g1.json", b"{}", overwrite=False)
    sink.place(".veil/deid.json", b"{}", overwrite=False)
    sink.place("_veil_notes/run.json", b"{}", overwrite=False)

    listed = sorted(i.relative for i in iter_stored(root, multiple=False))

    assert listed == ["_veil_notes/run.json", "series/one.dcm"]


# -- the command's refusals ----------------------------------------------------------------
def test_credentials_are_refused_as_storage_options() -> None:
    assert parse_storage_options(["endpoint_url=http://127.0.0.1:9000", "anon=true"]) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": True,
    }
    for secret in ("secret=abc", "key=AKIA", "token=x", "account_key=y", "sas_token=z"):
        with pytest.raises(StorageError, match="credentials are not taken"):
            parse_storage_options([secret])
    with pytest.raises(StorageError, match="credentials are not taken"):
        parse_storage_options(['client_kwargs={"aws_secret_access_key": "s3cr3t"}'])
    with pytest.raises(StorageError, match="KEY=VALUE") as malformed:
        parse_storage_options(["=s3cr3t"])
    assert "s3cr3t" not in str(malformed.value)


def test_object_keys_never_name_a_path_outside_the_output(tmp_path: Path) -> None:
    from veil.batch.sink import LocalSink
    from veil.io.stored_inputs import safe_relative

    assert safe_relative("/a/../../b//./c.dcm") == "a/b/c.dcm"
    for escaping in ("../x.dcm", "/etc/x", "a/../../x"):
        with pytest.raises(PermissionError):
            LocalSink(tmp_path / "out").place(escaping, b"data", overwrite=False)
        with pytest.raises(PermissionError):
            ObjectSink(Store.from_url("memory://escape/out")).place(escaping, b"d", False)
    assert not (tmp_path / "x.dcm").exists()


def test_an_output_prefix_inside_or_around_an_input_prefix_is_refused() -> None:
    with pytest.raises(UnsafeOutputError, match="inside the input"):
        resolve_locations(["s3://b/in"], "s3://b/in/out", None, {})
    with pytest.raises(UnsafeOutputError, match="contains the input"):
        resolve_locations(["s3://b/in"], "s3://b", None, {})
    with pytest.raises(UnsafeOutputError, match="report"):
        resolve_locations(["s3://b/in"], "s3://b/out", "s3://b/in/report.json", {})
    with pytest.raises(StorageError, match="mix"):
        resolve_locations(["s3://b/in", "local"], "s3://b/out", None, {})
    assert resolve_locations(["s3://b/in"], "s3://b/input-2", None, {}).sink is not None
    assert resolve_locations(["file:///x/in"], "file:///x/out", None, {}).local_out == Path(
        "/x/out"
    )


def test_the_command_refuses_a_bad_cluster_address_and_a_secret_option(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    bad = run_veil(
        "deid", "--layout", "mirror", source, "--out", tmp_path / "out", "--cluster", "udp://x:1"
    )
    secret = run_veil(
        "deid",
        "--layout",
        "mirror",
        "s3://b/in",
        "--out",
        tmp_path / "out",
        "--storage-option",
        "secret=s",
    )
    assert bad.returncode == 2 and "expected local, local:N, tcp://" in bad.stderr
    assert secret.returncode == 2 and "credentials are not taken" in secret.stderr
    assert "s=" not in secret.stderr.replace("secret=s", "")


def test_a_group_repr_shows_no_path() -> None:
    item = InputItem("/data/DOE^JOHN/1.dcm", "DOE^JOHN/1.dcm", "/data/DOE^JOHN/1.dcm")
    assert "DOE" not in repr(Group("abc", (item,))) and "DOE" not in str(Group("abc", (item,)))


def test_a_worker_checks_the_lookup_table_it_reads_against_the_drivers(tmp_path: Path) -> None:
    from veil.batch.grouprun import load_worker_mapper
    from veil.batch.manifest import lookup_digest
    from veil.errors import WorkerKeyError
    from veil.keys import read_lookup_table

    table = tmp_path / "subjects.csv"
    table.write_text("PatientID,pseudonym\nP-001,SUBJ-01\n")
    driver = Mapper(bytes.fromhex(TEST_KEY), read_lookup_table(table))
    expected = lookup_digest(driver)

    worker = load_worker_mapper(driver.fingerprint(), None, str(table), expected)
    assert worker.patient_pseudonym(Patient("P-001")) == "SUBJ-01"
    table.write_text("PatientID,pseudonym\nP-001,SUBJ-99\n")
    with pytest.raises(WorkerKeyError, match="lookup table differs"):
        load_worker_mapper(driver.fingerprint(), "/elsewhere", str(table), expected)
    with pytest.raises(WorkerKeyError, match="fingerprint"):
        load_worker_mapper(Mapper(b"x" * 32).fingerprint(), None, None, None)


def test_the_key_never_travels_with_a_task(few_files: list[InputItem], tmp_path: Path) -> None:
    """What Dask ships (the group, the job payload) must not hold the key or its hex."""
    import pickle

    table = tmp_path / "subjects.csv"
    table.write_text("PatientID,pseudonym\nP-SECRET-ID,SUBJ-01\n")
    payload = JobPayload.of(
        RemoteJob(
            plan=compile_plan(load_policy("basic"), []),
            layout=Layout.MIRROR,
            audit=True,
            overwrite=False,
            out=tmp_path,
            key_fingerprint=MAPPER.fingerprint(),
            fingerprint="job",
            lookup_path=str(table),
        )
    )
    shipped = payload.blob + pickle.dumps(make_groups(few_files, MAPPER)[0])
    key = bytes.fromhex(TEST_KEY)
    assert key not in shipped and TEST_KEY.encode() not in shipped
    assert b"P-SECRET-ID" not in shipped  # the lookup table's rows stay on disk too


def test_a_zip_archive_in_a_store_is_read_member_by_member(few_files: list[InputItem]) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in few_files[:2]:
            archive.writestr(f"series/{Path(item.path).name}", item.read())
        archive.writestr("../escape.dcm", b"never read")
    root = Store.from_url(f"memory://{uuid.uuid4().hex}/in")
    root.put("export.zip", buffer.getvalue())

    listed = list(iter_stored(root, multiple=False))

    escaping, *members = listed  # "../escape.dcm" sorts first: reported, as a local zip's
    assert [i.relative for i in members] == [
        f"export/series/{Path(item.path).name}" for item in few_files[:2]
    ]
    assert members[0].display.endswith(f"export.zip!series/{Path(few_files[0].path).name}")
    assert members[1].read() == few_files[1].read()
    assert escaping.display.endswith("export.zip!../escape.dcm")
    assert escaping.problem is not None and "leaves the archive" in escaping.problem
    assert ".." not in escaping.relative.split("/")
    with pytest.raises(InputFileError, match="leaves the archive"):
        escaping.read()
