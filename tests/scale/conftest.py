"""Scale-out fixtures: a real Dask LocalCluster and moto's S3 server, on 127.0.0.1 only."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY
from tests.scale.support import CORPUS_SLICE, S3Server, moto_server


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes (one thread each) with the test key in their environment."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.WARNING,
            env={"VEIL_KEY": TEST_KEY},
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def corpus_slice(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """A copy of two corpus folders (141 files), the input of the cluster tests."""
    root = tmp_path_factory.mktemp("in")
    for name in CORPUS_SLICE:
        shutil.copytree(corpus / name, root / name)
    return root


@pytest.fixture(scope="session")
def pool_output(tmp_path_factory: pytest.TempPathFactory, corpus_slice: Path) -> Path:
    """What `veil deid -j 2` writes for the slice: the reference every cluster run must match."""
    from tests.conftest import run_veil

    out = tmp_path_factory.mktemp("pool") / "out"
    report = out.parent / "report.json"
    result = run_veil(
        "deid",
        "--layout",
        "mirror",
        *sorted(corpus_slice.iterdir()),
        "--out",
        out,
        "-j",
        "2",
        "-q",
        "--report",
        report,
    )
    assert result.returncode == 0, result.stderr
    return out
