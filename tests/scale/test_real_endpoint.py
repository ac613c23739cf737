"""The object-store round trip against a REAL endpoint (AWS S3, MinIO, Ceph RGW...): manual.

No real S3 server can be installed from the registries CI reaches, so this test runs only when
``VEIL_TEST_S3_URL`` names a prefix you may write to (credentials and endpoint from the usual
environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for non-AWS stores).
It uploads nine corpus files under a fresh sub-prefix, de-identifies them on a local cluster
into another, checks the bytes against the local pool, re-runs (every group skipped), checks
that the store refuses a second conditional PUT, and deletes what it wrote. See
docs/scale-out.md, "Testing against a real endpoint".
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, VEIL
from tests.scale.support import tree
from veil.io.storage import DIGEST_KEY, Store

URL = os.environ.get("VEIL_TEST_S3_URL", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="set VEIL_TEST_S3_URL=s3://bucket/prefix to run"),
]


def _veil(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VEIL_KEY": TEST_KEY, "COLUMNS": "200"}
    return subprocess.run([*VEIL, *args], capture_output=True, text=True, env=env, timeout=1800)


def test_a_real_store_round_trip(corpus_slice: Path, pool_output: Path) -> None:
    base = Store.from_url(URL).child(f"veil-test-{uuid.uuid4().hex[:12]}")
    fs: Any = base.fs
    try:
        fs.put(str(corpus_slice / "dcm_qa_agfa"), base.path("in/dcm_qa_agfa"), recursive=True)
        args = [base.url_of("in"), "--out", base.url_of("out"), "-q", "--cluster", "local:2"]

        first, second = (
            _veil("deid", "--layout", "mirror", *args),
            _veil("deid", "--layout", "mirror", *args),
        )

        assert first.returncode == 0, first.stderr
        expected = {k: v for k, v in tree(pool_output).items() if k.startswith("dcm_qa_agfa/")}
        out_root = base.path("out")
        written = {
            path[len(out_root) + 1 :]: fs.cat_file(path)
            for path in fs.find(out_root)
            if "/_veil/" not in path
        }
        assert written == expected
        sample = next(iter(sorted(p for p in fs.find(out_root) if "/_veil/" not in p)))
        assert fs.metadata(sample)[DIGEST_KEY] == hashlib.sha256(fs.cat_file(sample)).hexdigest()
        assert second.returncode == 0 and " 0 run, " in second.stderr, second.stderr
        with pytest.raises(FileExistsError):  # the store itself enforces If-None-Match
            fs.pipe_file(sample, b"other bytes", mode="create")
    finally:
        fs.rm(base.root, recursive=True)
