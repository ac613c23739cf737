"""veil.io.atomic: whole or nothing, owner-only, and nothing left behind when a write fails."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from veil.io import atomic
from veil.io.atomic import write_atomic


@pytest.mark.parametrize("durable", [False, True])
def test_a_write_replaces_the_file_whole_and_owner_only(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "deep" / "out.dcm"
    write_atomic(target, b"first", durable=durable)
    write_atomic(target, b"second" * 10_000, durable=durable)
    assert target.read_bytes() == b"second" * 10_000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["out.dcm"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.dcm"
    write_atomic(target, b"old")
    calls = []

    def disk_full(fd: int, data: memoryview) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return os.write(fd, data[:3])  # a short write first: the loop must go on

    monkeypatch.setattr(atomic.os, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new content")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.dcm"]


def test_the_temporary_file_can_live_in_another_folder(tmp_path: Path) -> None:
    spool_tmp = tmp_path / "tmp"
    spool_tmp.mkdir()
    write_atomic(tmp_path / "incoming" / "a.dcm", b"x", durable=True, tmp_dir=spool_tmp)
    assert (tmp_path / "incoming" / "a.dcm").read_bytes() == b"x"
    assert list(spool_tmp.iterdir()) == []


def test_a_missing_folder_is_made_and_a_present_one_is_written_into_without_a_mkdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "study" / "series" / "a.dcm"
    write_atomic(target, b"a")  # the folders are missing: made
    made: list[Path] = []
    real_mkdir = Path.mkdir

    def counting_mkdir(self: Path, *args: object, **kwargs: object) -> None:
        made.append(self)
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", counting_mkdir)
    write_atomic(target.with_name("b.dcm"), b"b")
    assert made == []  # the folder was there: no mkdir (nor its stat) per file
    write_atomic(tmp_path / "other" / "c.dcm", b"c")
    assert made == [tmp_path / "other"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.dcm", "b.dcm"]
