"""`veil deid --cluster` on a real Dask LocalCluster (2 worker processes on 127.0.0.1).

Outputs must be byte-identical to `veil deid -j 2` (invariant 6), also when a worker is killed
mid-run; a re-run skips the groups a first run finished; a worker with another key refuses to
work; no path reaches a task key or a log line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, VEIL, run_veil
from tests.scale.support import leftovers, make_certificates, tree
from veil.batch import FileRecord, Job, Layout, Outcome, run_batch
from veil.batch.dask_runner import DaskExecutor
from veil.errors import ResumeError, WorkerKeyError
from veil.io.inputs import iter_inputs
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy

pytestmark = pytest.mark.slow


def _job(out: Path, key: str = TEST_KEY, policy: str = "basic") -> Job:
    plan = compile_plan(load_policy(policy), [])
    return Job(plan=plan, mapper=Mapper(bytes.fromhex(key)), out=out, layout=Layout.MIRROR)


def _items(corpus_slice: Path) -> list[Any]:
    return list(iter_inputs(sorted(corpus_slice.iterdir())))


def _scheduler_address(client: Any) -> str:
    return str(client.scheduler.address)


def test_cluster_output_is_byte_identical_to_the_local_pool_and_so_is_the_report(
    cluster: Any, corpus_slice: Path, pool_output: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    inputs = sorted(corpus_slice.iterdir())

    result = run_veil(
        "deid", "--layout", "mirror", *inputs, "--out", out, "--report", report, "-q",
        "--cluster", _scheduler_address(cluster), "--group-size", "16",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert tree(out) == tree(pool_output)
    assert leftovers(out) == []
    ours, theirs = (
        json.loads(report.read_text()),
        json.loads((pool_output.parent / "report.json").read_text()),
    )
    for section in ("counts", "studies", "files", "key_fingerprint", "check_regressions"):
        assert ours[section] == theirs[section], section
    assert "0 finished before" in result.stderr


def test_a_worker_killed_mid_run_changes_nothing_in_the_output(
    cluster: Any, corpus_slice: Path, pool_output: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pids: dict[str, int] = cluster.run(os.getpid)
    victim = sorted(pids.values())[0]
    seen: list[FileRecord] = []

    def kill_after_the_first_groups(record: FileRecord) -> None:
        seen.append(record)
        if len(seen) == 20:
            os.kill(victim, signal.SIGKILL)

    executor = DaskExecutor(cluster, group_size=8)
    summary = run_batch(
        _items(corpus_slice),
        _job(out),
        progress=False,
        on_record=kill_after_the_first_groups,
        executor=executor,
    )

    cluster.wait_for_workers(2, timeout=60)
    assert victim not in cluster.run(os.getpid).values(), "the worker was not killed"
    assert summary.counts[Outcome.WRITTEN] == 138 and summary.counts[Outcome.SKIPPED] == 3
    assert executor.stats.lost == 0 and executor.stats.run == executor.stats.groups
    assert tree(out) == tree(pool_output)
    assert leftovers(out) == []


def test_a_second_run_skips_the_groups_the_first_finished(
    cluster: Any, corpus_slice: Path, pool_output: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = DaskExecutor(cluster, group_size=16)
    run_batch(_items(corpus_slice), _job(out), progress=False, executor=first)
    manifests = sorted((out / "_veil" / "groups").iterdir())
    assert len(manifests) == first.stats.groups > 1
    manifests[0].unlink()  # as if the first run had been stopped before this group

    second = DaskExecutor(cluster, group_size=16)
    summary = run_batch(_items(corpus_slice), _job(out), progress=False, executor=second)

    assert second.stats.skipped == first.stats.groups - 1 and second.stats.run == 1
    assert summary.counts[Outcome.WRITTEN] == 138
    assert tree(out) == tree(pool_output)
    # The manifests name no input: a release bucket must not map input paths to outputs.
    for manifest in (out / "_veil" / "groups").iterdir():
        assert str(corpus_slice) not in manifest.read_text()


def test_a_run_into_an_output_of_another_key_or_policy_is_refused(
    cluster: Any, corpus_slice: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    items = _items(corpus_slice)[:10]
    run_batch(items, _job(out), progress=False, executor=DaskExecutor(cluster))

    with pytest.raises(ResumeError, match="key_fingerprint"):
        run_batch(items, _job(out, key="ab" * 32), progress=False, executor=DaskExecutor(None))
    with pytest.raises(ResumeError, match="policy"):
        run_batch(
            items,
            _job(out, policy="research-longitudinal"),
            progress=False,
            executor=DaskExecutor(None),
        )


def test_a_worker_with_another_key_refuses_to_work(corpus_slice: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from veil.batch.grouprun import JobPayload, RemoteJob, run_group
    from veil.batch.groups import make_groups
    from veil.batch.manifest import plan_digest

    other_key = "0f" * 32
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            env={"VEIL_KEY": other_key},
        ) as local,
        distributed.Client(local) as client,
    ):
        out = tmp_path / "out"
        items = _items(corpus_slice)[:4]
        # Before any task: every worker is asked for its key fingerprint.
        with pytest.raises(WorkerKeyError, match="refuses to work"):
            run_batch(items, _job(out), progress=False, executor=DaskExecutor(client))
        assert not any(p.is_file() for p in out.rglob("*") if "_veil" not in p.parts)

        # A worker that joins later is refused by the task itself; its log names no path.
        job = _job(out)
        remote = RemoteJob(
            plan=job.plan,
            layout=job.layout,
            audit=True,
            overwrite=False,
            out=out,
            key_fingerprint=job.mapper.fingerprint(),
            fingerprint=plan_digest(job.plan),
        )
        group = make_groups(items, job.mapper)[0]
        future = client.submit(run_group, group, JobPayload.of(remote), key="veil-group-x")
        with pytest.raises(WorkerKeyError, match="fingerprint"):
            future.result()
        logs = json.dumps(client.get_worker_logs()) + json.dumps(client.get_scheduler_logs())
        assert "Compute Failed" in logs  # the failure was logged...
        assert str(corpus_slice) not in logs and "dcm_qa" not in logs  # ...without a path
        assert "Group(" in logs


def test_task_keys_and_logs_of_a_run_show_no_path(
    cluster: Any, corpus_slice: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    with distributed.get_task_stream(cluster) as stream:
        run_batch(
            _items(corpus_slice),
            _job(out),
            progress=False,
            executor=DaskExecutor(cluster, group_size=32),
        )
    keys = [str(task["key"]) for task in stream.data]
    assert keys and all(key.startswith("veil-group-") for key in keys)
    logs = json.dumps(cluster.get_worker_logs()) + json.dumps(cluster.get_scheduler_logs())
    for text in [logs, *keys]:
        assert "dcm_qa" not in text and str(corpus_slice) not in text


def test_a_tls_scheduler_is_used_with_the_certificates_of_dasks_configuration(
    corpus_slice: Path, pool_output: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    from distributed.security import Security

    certs = make_certificates(tmp_path)
    security = Security(
        tls_ca_file=str(certs.ca),
        tls_client_cert=str(certs.cert),
        tls_client_key=str(certs.key),
        tls_scheduler_cert=str(certs.cert),
        tls_scheduler_key=str(certs.key),
        tls_worker_cert=str(certs.cert),
        tls_worker_key=str(certs.key),
        require_encryption=True,
    )
    agfa = corpus_slice / "dcm_qa_agfa"
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        host="127.0.0.1",
        protocol="tls://",
        security=security,
        dashboard_address="127.0.0.1:0",
        env={"VEIL_KEY": TEST_KEY},
    ) as local:
        address = local.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        without = run_veil(
            "deid", "--layout", "mirror", agfa, "--out", tmp_path / "no", "--cluster", address, "-q"
        )
        env = {**os.environ, **certs.dask_env}
        out = tmp_path / "out"
        with_certs = subprocess.run(
            [
                *VEIL,
                "deid",
                "--layout",
                "mirror",
                str(agfa),
                "--out",
                str(out),
                "--cluster",
                address,
                "-q",
            ],
            capture_output=True,
            text=True,
            env={**env, "VEIL_KEY": TEST_KEY},
            timeout=600,
        )

    assert without.returncode == 2 and "tls:// needs Dask's TLS settings" in without.stderr
    assert with_certs.returncode == 0, with_certs.stderr
    expected = {k[len("dcm_qa_agfa/") :]: v for k, v in tree(pool_output).items()
                if k.startswith("dcm_qa_agfa/")}  # fmt: skip
    assert tree(out) == expected


def test_a_local_cluster_listens_on_127_0_0_1_only() -> None:
    psutil = pytest.importorskip("psutil")
    from veil.batch.dask_runner import connect

    with connect("local:2", 2) as client:
        client.wait_for_workers(2, timeout=60)
        me = psutil.Process()
        listening = {
            (process.pid, conn.laddr.ip)
            for process in [me, *me.children(recursive=True)]
            for conn in process.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        }
    assert len({pid for pid, _ in listening}) >= 3  # the scheduler (here) and two workers
    assert {ip for _, ip in listening} == {"127.0.0.1"}
