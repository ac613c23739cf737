"""Helpers for the job tests: zips of corpus files, API clients by role, waiting for a job."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from console_support import CORPUS, client

from veil.console import accounts
from veil.console.roles import Role

SERIES = CORPUS / "dcm_qa_agfa" / "Agfa"  # 4 MR images of one series, distinct UIDs


def series_files(folder: Path = SERIES) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "LICENSE")


def zip_of(files: Iterable[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def api_client(console: Any, role: Role = Role.OPERATOR, name: str = "") -> Any:
    c = client(console.app)
    token = accounts.create_token(console.store, name or f"t-{role.value}", frozenset({role}))
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def finish(console: Any, job_id: str, c: Any) -> dict[str, Any]:
    assert console.app.state.console.studio.runner.wait(300)
    answer: dict[str, Any] = c.get(f"/api/v1/jobs/{job_id}").json()
    return answer


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
