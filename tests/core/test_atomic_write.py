"""veil.io.atomic: whole or nothing, owner-only, and nothing left behind when a write fails."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from veil.io import atomic
from veil.io.atomic import write_atomic, write_new


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


# write_new: two routes (a file without a name linked in, on Linux; a named temporary file
# elsewhere). Every test runs on both: "named" forces the route other systems take.
@pytest.fixture(params=["anonymous", "named"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "anonymous" and not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this system")
    monkeypatch.setattr(atomic._ANONYMOUS, "usable", request.param == "anonymous")
    return str(request.param)


def _spy_mkstemp(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    real = atomic.tempfile.mkstemp

    def spy(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(name)
        return fd, name

    monkeypatch.setattr(atomic.tempfile, "mkstemp", spy)
    return made


def test_a_new_file_is_written_whole_owner_only_and_nothing_else_is_left(
    tmp_path: Path, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _spy_mkstemp(monkeypatch)
    target = tmp_path / "study" / "series" / "0001.dcm"  # folders missing: made
    write_new(target, b"dicom" * 50_000)
    write_new(str(target.with_name("0002.dcm")), b"two")  # a path as text too
    assert target.read_bytes() == b"dicom" * 50_000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["0001.dcm", "0002.dcm"]
    assert target.stat().st_nlink == 1  # no second name left anywhere
    # The Linux route makes no temporary name at all; the other one makes one and removes it.
    assert len(made) == (0 if route == "anonymous" else 2)
    assert atomic._ANONYMOUS.usable is (route == "anonymous")


def test_a_name_that_exists_is_never_written_over(tmp_path: Path, route: str) -> None:
    target = tmp_path / "0001.dcm"
    write_new(target, b"first")
    with pytest.raises(FileExistsError):
        write_new(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["0001.dcm"]


def test_a_failed_new_write_leaves_no_file_and_no_part(
    tmp_path: Path, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, data: memoryview) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_new(tmp_path / "0001.dcm", b"content")
    assert list(tmp_path.iterdir()) == []
    assert atomic._ANONYMOUS.usable is (route == "anonymous")  # a full disk is no reason


def test_a_new_file_made_in_a_tmp_dir_is_linked_into_the_target_folder(
    tmp_path: Path, route: str
) -> None:
    temp = tmp_path / "group-tmp"
    temp.mkdir()
    target = tmp_path / "out" / "series" / "0001.dcm"
    write_new(target, b"x", tmp_dir=temp)
    assert target.read_bytes() == b"x"
    assert list(temp.iterdir()) == []
    with pytest.raises(FileNotFoundError):  # the tmp_dir is the caller's to make
        write_new(tmp_path / "out" / "0002.dcm", b"y", tmp_dir=tmp_path / "missing")


def test_without_make_folder_a_missing_folder_is_an_error_and_nothing_is_made(
    tmp_path: Path, route: str
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    for tmp_dir in (None, temp):
        with pytest.raises(FileNotFoundError):
            write_new(tmp_path / "gone" / "0001.dcm", b"x", tmp_dir=tmp_dir, make_folder=False)
        assert not (tmp_path / "gone").exists()
    assert atomic._ANONYMOUS.usable is (route == "anonymous")


@pytest.mark.parametrize("errno_", [errno.EOPNOTSUPP, errno.EISDIR])
def test_a_file_system_without_o_tmpfile_takes_the_named_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_: int
) -> None:
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this system")
    monkeypatch.setattr(atomic._ANONYMOUS, "usable", True)
    made = _spy_mkstemp(monkeypatch)
    real_open = os.open

    def no_tmpfile(path: str, flags: int, *args: int, **kwargs: object) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno_, os.strerror(errno_))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.os, "open", no_tmpfile)
    write_new(tmp_path / "a.dcm", b"a")
    write_new(tmp_path / "b.dcm", b"b")
    assert [(tmp_path / n).read_bytes() for n in ("a.dcm", "b.dcm")] == [b"a", b"b"]
    assert len(made) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm", "b.dcm"]
    assert atomic._ANONYMOUS.usable is False  # asked once, then the named route only


def test_a_link_that_fails_for_another_reason_falls_back_to_the_named_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without hard links, or a /proc that is not what it seems."""
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this system")
    monkeypatch.setattr(atomic._ANONYMOUS, "usable", True)
    real_link = os.link

    def no_proc_link(src: str, dst: str, **kwargs: object) -> None:
        if kwargs.get("src_dir_fd") is not None:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        real_link(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.os, "link", no_proc_link)
    write_new(tmp_path / "a.dcm", b"a")
    assert (tmp_path / "a.dcm").read_bytes() == b"a"
    assert [p.name for p in tmp_path.iterdir()] == ["a.dcm"]
    assert atomic._ANONYMOUS.usable is False


def test_a_forked_worker_links_its_own_files_through_the_parents_proc_handle(
    tmp_path: Path, route: str
) -> None:
    write_new(tmp_path / "parent.dcm", b"p")  # the handle on /proc is opened here
    pid = os.fork()
    if pid == 0:  # the child: write, then report by the exit status only
        try:
            write_new(tmp_path / "child.dcm", b"c" * 100_000)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "child.dcm").read_bytes() == b"c" * 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.dcm", "parent.dcm"]
