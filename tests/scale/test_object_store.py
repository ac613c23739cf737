"""Object storage through fsspec, against moto's S3 server on 127.0.0.1 (an emulator).

What matters on a real store is checked here: one conditional PUT per object (If-None-Match),
the content digest in the object's metadata, an existing object with the same bytes counted
as written and one with other bytes reported, and the same bytes as on a local disk.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, VEIL
from tests.scale.support import S3Server, tree
from veil.batch.sink import ObjectSink
from veil.io.storage import DIGEST_KEY, Store

pytestmark = pytest.mark.slow


@pytest.fixture
def s3fs_for(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem()


@pytest.fixture
def bucket(s3fs_for: Any) -> Iterator[str]:
    name = f"veil-{uuid.uuid4().hex[:12]}"
    s3fs_for.mkdir(name)
    yield name


def _veil(s3: S3Server, *args: str) -> Any:
    import os
    import subprocess

    env = {**os.environ, **s3.env, "VEIL_KEY": TEST_KEY, "COLUMNS": "200"}
    return subprocess.run([*VEIL, *args], capture_output=True, text=True, env=env, timeout=900)


def _download(fs: Any, root: str) -> dict[str, bytes]:
    found = fs.find(root)
    return {
        path[len(root) + 1 :]: fs.cat_file(path)
        for path in sorted(found)
        if not path[len(root) + 1 :].startswith("_veil/")
    }


def test_the_emulator_enforces_create_only_if_absent(s3fs_for: Any, bucket: str) -> None:
    """moto must refuse a second If-None-Match PUT, or these tests would prove nothing."""
    import botocore.session

    client = botocore.session.get_session().create_client("s3")
    client.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_an_object_is_written_once_with_its_digest_and_never_replaced(
    s3fs_for: Any, bucket: str
) -> None:
    sink = ObjectSink(Store.from_url(f"s3://{bucket}/out"))
    data = b"DICM" * 100

    sink.place("a/b.dcm", data, overwrite=False)
    sink.place("a/b.dcm", data, overwrite=False)  # a re-run, or a task Dask ran twice
    with pytest.raises(FileExistsError):
        sink.place("a/b.dcm", data + b"!", overwrite=False)

    assert s3fs_for.cat_file(f"{bucket}/out/a/b.dcm") == data
    digest = s3fs_for.metadata(f"{bucket}/out/a/b.dcm")[DIGEST_KEY]
    assert digest == hashlib.sha256(data).hexdigest()
    sink.place("a/b.dcm", data + b"!", overwrite=True)
    assert s3fs_for.cat_file(f"{bucket}/out/a/b.dcm") == data + b"!"


def test_s3_to_s3_on_a_local_cluster_matches_the_local_pool_and_resumes(
    s3: S3Server, s3fs_for: Any, bucket: str, corpus_slice: Path, pool_output: Path
) -> None:
    folder = corpus_slice / "dcm_qa_agfa"
    s3fs_for.put(str(folder), f"{bucket}/export/{folder.name}", recursive=True)
    args = [f"s3://{bucket}/export", "--out", f"s3://{bucket}/release", "-q"]
    args += ["--cluster", "local:2", "--group-size", "4"]

    first = _veil(s3, "deid", "--layout", "mirror", *args, "--report", f"s3://{bucket}/report.json")
    second = _veil(s3, "deid", "--layout", "mirror", *args)

    assert first.returncode == 0, first.stderr
    expected = {k: v for k, v in tree(pool_output).items() if k.startswith("dcm_qa_agfa/")}
    assert _download(s3fs_for, f"{bucket}/release") == expected
    report = json.loads(s3fs_for.cat_file(f"{bucket}/report.json"))
    assert report["counts"]["written"] == len(expected)
    assert report["files"][0]["input"].startswith(f"s3://{bucket}/export/dcm_qa_agfa/")
    sample = next(p for p in s3fs_for.find(f"{bucket}/release") if "/_veil/" not in p)
    digest = s3fs_for.metadata(sample)[DIGEST_KEY]
    assert digest == hashlib.sha256(s3fs_for.cat_file(sample)).hexdigest()
    assert second.returncode == 0, second.stderr
    assert " 0 run, " in second.stderr and "finished before" in second.stderr
    assert s3fs_for.find(f"{bucket}/release/_veil/groups")


def test_s3_with_the_local_pool_reports_an_object_that_holds_other_bytes(
    s3: S3Server, s3fs_for: Any, bucket: str, corpus_slice: Path, pool_output: Path
) -> None:
    folder = corpus_slice / "dcm_qa_agfa"
    s3fs_for.put(str(folder), f"{bucket}/in", recursive=True)
    expected = tree(pool_output)
    names = sorted(name for name in expected if name.startswith("dcm_qa_agfa/"))
    taken = names[0][len("dcm_qa_agfa/") :]
    s3fs_for.pipe_file(f"{bucket}/out/{taken}", b"someone else's object")

    result = _veil(
        s3,
        "deid",
        "--layout",
        "mirror",
        f"s3://{bucket}/in",
        "--out",
        f"s3://{bucket}/out",
        "-j",
        "2",
        "-q",
    )

    assert result.returncode == 1
    assert f"the output {taken} already exists with different content" in result.stderr
    written = _download(s3fs_for, f"{bucket}/out")
    assert written.pop(taken) == b"someone else's object"
    assert written == {name[len("dcm_qa_agfa/") :]: expected[name] for name in names[1:]}
