"""The project key decides every pseudonym: a short, empty or swappable key must stop the run,
never silently pseudonymise under another key."""

from __future__ import annotations

from pathlib import Path

from tests.security.support import copy_real, run_measured


def _deid(tmp_path: Path, env: dict[str, str | None], *extra: str) -> tuple[int, str, Path]:
    folder = tmp_path / "in"
    if not folder.exists():
        copy_real(folder)
    home = tmp_path / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    run = run_measured(
        "deid", folder, "--out", tmp_path / "out", "-q", *extra,
        env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), **env},
    )  # fmt: skip
    return run.returncode, run.stderr, home


def test_a_32_character_key_is_refused(tmp_path: Path) -> None:
    code, stderr, _ = _deid(tmp_path, {"VEIL_KEY": "ab" * 16})
    assert code == 2, stderr
    assert "exactly 64 hexadecimal characters" in stderr
    assert "ab" * 16 not in stderr


def test_an_empty_key_is_an_error_not_a_fall_back_to_the_default_key(tmp_path: Path) -> None:
    code, stderr, home = _deid(tmp_path, {"VEIL_KEY": ""})
    assert code == 2, stderr
    assert "VEIL_KEY" in stderr and "empty" in stderr
    assert not (home / ".config" / "veil" / "key").exists()  # no new key was made instead
    assert not (tmp_path / "out").exists()


def test_a_key_file_in_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could swap the key for theirs
    key = shared / "project.key"
    key.write_text("5e" * 32 + "\n")
    key.chmod(0o600)
    code, stderr, _ = _deid(tmp_path, {"VEIL_KEY": None}, "--key", str(key))
    assert code == 2, stderr
    assert "in a folder others can write" in stderr
