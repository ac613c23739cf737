"""A hostile input folder against `veil deid/check/audit/explain`: bombs, FIFOs, devices, loops,
unreadable folders and zip-slip names. Each is reported with the file and the problem, the run
exits 1, nothing hangs, and memory stays bounded."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from tests.security.support import (
    copy_real,
    gzip_bomb,
    run_measured,
    without_dac_override,
    zip_bomb,
)
from veil.io.inputs import iter_inputs

# Memory a run may reach on a ~400 KB bomb that expands to 384 MiB. veil itself needs about
# 60 MiB (measured: 58 MiB with the guard, 825 MiB before it for the zip).
BOMB_MEMORY_MIB = 250


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bombs")
    zip_bomb(folder / "archive.zip")
    gzip_bomb(folder / "slice.dcm.gz")
    return folder


@pytest.mark.parametrize("bomb", ["archive.zip", "slice.dcm.gz"])
def test_deid_of_a_small_bomb_is_refused_in_bounded_memory(
    bombs: Path, tmp_path: Path, bomb: str
) -> None:
    folder = tmp_path / "in"
    copy_real(folder)
    (folder / bomb).symlink_to(bombs / bomb)
    run = run_measured("deid", folder, "--out", tmp_path / "out", "-q", "-j", "1")
    assert run.returncode == 1, run.stderr
    assert "decompression bomb" in run.stderr and bomb in run.stderr
    assert run.max_rss_mib < BOMB_MEMORY_MIB, f"{run.max_rss_mib:.0f} MiB"
    assert len(files_under(tmp_path / "out")) == 1  # the real file still went


@pytest.mark.parametrize("command", ["check", "audit"])
def test_check_and_audit_refuse_the_zip_bomb_too(bombs: Path, tmp_path: Path, command: str) -> None:
    folder = tmp_path / "in"
    copy_real(folder)
    (folder / "archive.zip").symlink_to(bombs / "archive.zip")
    args = ["check", folder, "--for", "basic-viewing"] if command == "check" else []
    if command == "audit":
        out = tmp_path / "out"
        copy_real(out)  # the de-identified side (content does not matter here)
        args = ["audit", tmp_path / "in", out]
    run = run_measured(*args)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "decompression bomb" in run.stdout + run.stderr
    assert run.max_rss_mib < BOMB_MEMORY_MIB, f"{run.max_rss_mib:.0f} MiB"


def test_archive_with_too_many_members_is_refused_before_reading(tmp_path: Path) -> None:
    from veil.io.limits import InputLimits  # (imported here: the other tests run on any veil)

    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(5):
            handle.writestr(f"m{index}.dcm", b"x")
    items = list(iter_inputs([archive], InputLimits(max_members=4)))
    assert len(items) == 1 and items[0].problem is not None
    assert "5 members, more than the limit of 4" in items[0].problem


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    """One real file next to a FIFO, a link to /dev/zero, a link loop and a self-loop."""
    folder = tmp_path / "in"
    copy_real(folder / "series")
    os.mkfifo(folder / "pipe.dcm")
    (folder / "zero.dcm").symlink_to("/dev/zero")
    (folder / "series" / "back").symlink_to("..")
    (folder / "self.dcm").symlink_to("self.dcm")
    return folder


EXPECTED = {
    "pipe.dcm": "FIFO",
    "zero.dcm": "a device",
    "back": "symbolic link loop",
    "self.dcm": "symbolic link loop",
}


def test_deid_reports_fifos_devices_and_loops_and_exits_1(
    hostile_folder: Path, tmp_path: Path
) -> None:
    run = run_measured("deid", hostile_folder, "--out", tmp_path / "out", "-q", timeout=30)
    assert run.returncode == 1, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("failed:")]
    for name, problem in EXPECTED.items():
        assert any(name in line and problem in line for line in lines), (name, run.stderr)
    assert len(files_under(tmp_path / "out")) == 1


def test_check_and_audit_do_not_hang_on_a_fifo(hostile_folder: Path, tmp_path: Path) -> None:
    run = run_measured("check", hostile_folder, "--for", "basic-viewing", timeout=30)
    assert run.returncode == 1 and "FIFO" in run.stdout + run.stderr, run.stderr
    out = tmp_path / "out"
    copy_real(out)
    run = run_measured("audit", hostile_folder, out, timeout=30)
    assert run.returncode == 1 and "FIFO" in run.stdout + run.stderr, run.stderr


@pytest.mark.parametrize("name", ["pipe.dcm", "zero.dcm"])
def test_explain_refuses_a_fifo_or_a_device(hostile_folder: Path, name: str) -> None:
    run = run_measured("explain", hostile_folder / name, timeout=30)
    assert run.returncode != 0 and run.returncode != -9, run.stderr
    assert "not a regular file" in run.stderr
    assert run.max_rss_mib < BOMB_MEMORY_MIB


def test_unreadable_subfolder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    copy_real(folder / "readable")
    copy_real(folder / "locked")
    (folder / "locked").chmod(0)
    try:
        run = run_measured(
            "deid", folder, "--out", tmp_path / "out", "-q", prefix=without_dac_override()
        )
    finally:
        (folder / "locked").chmod(stat.S_IRWXU)
    assert run.returncode == 1, run.stderr
    assert "locked: a folder that cannot be read (unreadable: permission denied)" in run.stderr


def test_zip_slip_member_names_are_reported_and_never_written(tmp_path: Path) -> None:
    real = copy_real(tmp_path / "src")[0].read_bytes()
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("ok/a.dcm", real)
        handle.writestr("../escaped.dcm", real)
        handle.writestr("/absolute.dcm", real)
        handle.writestr("..\\windows.dcm", real)
    out = tmp_path / "deep" / "out"
    run = run_measured("deid", archive, "--out", out, "--layout", "mirror", "-q")
    assert run.returncode == 1, run.stderr
    for name in ("../escaped.dcm", "/absolute.dcm", "..\\windows.dcm"):
        assert f"in.zip!{name}: a zip member whose name leaves the archive" in run.stderr
    written = [p.relative_to(tmp_path).as_posix() for p in files_under(tmp_path)]
    assert [p for p in written if not p.startswith("src/")] == ["deep/out/in/ok/a.dcm", "in.zip"]


def files_under(folder: Path) -> list[Path]:
    """Files written (not veil's own bookkeeping under OUT/.veil)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".veil" not in p.parts)
