"""The benchmark names the file system its outputs go to: on ext4 without a journal, creating
files soon after a removal costs every tool kernel time, so a reader of RESULTS.md must know."""

from __future__ import annotations

from pathlib import Path

from tests.bench.bench_run import load_run

MOUNTS = """\
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
/dev/vdb /data ext4 rw,relatime 0 0
/dev/vdc /data/with\\040space xfs rw 0 0
"""


def _describe(path: str, tmp_path: Path, journals: tuple[str, ...] = ()) -> str:
    jbd2 = tmp_path / f"jbd2-{len(list(tmp_path.iterdir()))}"  # a fresh one per call
    jbd2.mkdir()
    for name in journals:
        (jbd2 / name).mkdir()
    return str(load_run().output_filesystem(Path(path), MOUNTS, jbd2))


def test_the_deepest_mount_holding_the_folder_names_it(tmp_path: Path) -> None:
    assert _describe("/dev/shm/veil-bench", tmp_path) == "tmpfs (/dev/shm)"
    assert _describe("/data/with space/x", tmp_path) == "xfs (/data/with space)"
    assert _describe("/dev/shmx/out", tmp_path) == "ext4 without a journal (/)"


def test_an_ext4_journal_is_told_apart(tmp_path: Path) -> None:
    assert _describe("/data/out", tmp_path, ("vdb-8",)) == "ext4 with a journal (/data)"
    assert _describe("/work/out", tmp_path, ("vdb-8",)) == "ext4 without a journal (/)"


def test_no_mount_table_says_unknown(tmp_path: Path) -> None:
    run = load_run()
    assert run.output_filesystem(Path("/x"), "", tmp_path) == "unknown"
