"""`veil explain`, `veil policy` and `veil key` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_KEY, VEIL, run_veil
from tests.engine import builders
from veil.io.dicomfile import encode_dataset


def _synthetic(tmp_path: Path) -> Path:
    path = tmp_path / "mr.dcm"
    path.write_bytes(encode_dataset(builders.mr_dataset()))
    return path


def test_explain_shows_before_after_and_the_deciding_rule_for_nested_attributes(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "VEIL_KEY": TEST_KEY, "COLUMNS": "400"}  # wide: no cell wraps
    result = subprocess.run(
        [*VEIL, "explain", str(_synthetic(tmp_path)), "--values"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = result.stdout.splitlines()
    name_line = next(line for line in lines if "(0010,0010)" in line)
    assert builders.PATIENT_NAME in name_line and "VEIL" in name_line
    assert "override" in result.stdout and "line 11" in result.stdout
    assert "(0040,A730)[0].(0040,A730)[0].(0040,A730)[0].(0040,A123)" in result.stdout
    institution = next(line for line in lines if "(0008,0080)" in line)
    assert "Table E.1-1 basic profile X/Z/D" in institution  # by its row
    assert "type 3 in this IOD" in result.stdout  # a compound action, resolved


def test_explain_masks_values_when_not_on_a_terminal(tmp_path: Path) -> None:
    result = run_veil("explain", _synthetic(tmp_path), check=True)  # stdout is a pipe
    assert builders.PATIENT_NAME not in result.stdout
    assert builders.INSTITUTION not in result.stdout
    assert "***" in result.stdout


def test_policy_show_names_the_edition_and_the_table(tmp_path: Path) -> None:
    text = run_veil("policy", "show", "basic", check=True).stdout
    assert "2024b" in text and "621 rows" in text and "E.3.10-1" in text
    data = json.loads(
        run_veil("policy", "show", "research-longitudinal", "--json", check=True).stdout
    )
    assert "retain-patient-characteristics" in data["options"]
    assert data["standard"]["rows"] == 621
    listed = run_veil("policy", "list", check=True).stdout
    assert "basic" in listed and "research-longitudinal" in listed


def test_policy_file_errors_name_the_line(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("name: p\nbase: basic\noptions: [retain-nothing]\n")
    result = run_veil("policy", "show", policy)
    assert result.returncode == 2
    assert "p.yaml" in result.stderr and "line 3" in result.stderr


def test_key_shows_where_and_the_fingerprint_never_the_key(tmp_path: Path) -> None:
    result = run_veil("key", check=True)
    assert "VEIL_KEY" in result.stdout and "fingerprint" in result.stdout
    assert TEST_KEY not in result.stdout + result.stderr


def test_key_create_is_owner_only_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "project.key"
    run_veil("key", "create", path, check=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    again = run_veil("key", "create", path)
    assert again.returncode == 2 and path.read_text() == content
    path.chmod(0o644)
    env_free = run_veil("deid", _synthetic(tmp_path), "--out", tmp_path / "o", "--key", path)
    assert env_free.returncode == 2 and "chmod 600" in env_free.stderr


def test_first_use_creates_the_default_key_in_the_config_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VEIL_KEY", "VEIL_KEY_FILE")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "veil", "key"], capture_output=True, text=True, env=env, check=True
    )
    created = list((tmp_path).rglob("key"))
    assert created and stat.S_IMODE(created[0].stat().st_mode) == 0o600
    assert "created" in result.stdout
