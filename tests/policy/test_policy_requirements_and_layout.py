"""`requirements:` and `layout:` in a policy file are honoured by `veil deid` and the node,
merged with `--for`, and a wrong one is an error naming its line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydicom import dcmread

from tests.conftest import TEST_KEY
from veil.cli import main
from veil.errors import PolicyError
from veil.node.config import parse_config
from veil.node.service import Node
from veil.pipeline import compile_policy
from veil.policy import Layout

GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
AGE = 0x00101010


def _policy(folder: Path, body: str) -> Path:
    path = folder / "policy.yaml"
    path.write_text("name: trial\nbase: basic\n" + body, encoding="utf-8")
    return path


def test_a_policy_with_requirements_compiles_with_them(tmp_path: Path) -> None:
    plain = compile_policy(_policy(tmp_path, ""))
    assert plain.plan.requirement_names == ()
    assert plain.plan.rule_for(AGE).action in ("X", "X/Z")  # basic: PatientAge goes
    compiled = compile_policy(_policy(tmp_path, "requirements: [neuroquant]\n"))
    assert compiled.plan.requirement_names == ("neuroquant",)
    assert [p.name for p in compiled.profiles] == ["neuroquant"]
    assert compiled.plan.rule_for(AGE).action == "derive-age"  # kept, derived where absent


def test_requirements_merge_with_for_and_count_once(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "requirements: [neuroquant]\n")
    compiled = compile_policy(policy, ["dcm2niix", "neuroquant"])
    assert [p.name for p in compiled.profiles] == ["neuroquant", "dcm2niix"]
    assert compiled.plan.requirement_names == ("neuroquant", "dcm2niix")


def test_a_profile_file_is_found_next_to_the_policy(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "site.yaml").write_text(
        "name: site\nrules:\n"
        "  - {id: sex, attribute: PatientSex, severity: fail, need: norms, preserve: keep}\n",
        encoding="utf-8",
    )
    policy = _policy(tmp_path, "requirements: [profiles/site.yaml]\n")
    compiled = compile_policy(policy)  # relative to the policy file, not the working folder
    assert compiled.plan.requirement_names == ("site",)


def test_an_unknown_requirement_names_the_policy_line(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "description: x\nrequirements:\n  - neuroquant\n  - nosuch\n")
    with pytest.raises(PolicyError, match=r"policy\.yaml: line 6: requirements: unknown profile"):
        compile_policy(policy)


def test_a_bad_layout_is_refused_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"line 3: layout must be 'mirror' or 'hierarchy'"):
        compile_policy(_policy(tmp_path, "layout: flat\n"))
    assert compile_policy(_policy(tmp_path, "layout: hierarchy\n")).layout is Layout.HIERARCHY
    assert compile_policy(_policy(tmp_path, "")).layout is None


@pytest.fixture
def one_file(corpus: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    first = sorted((corpus / GE_T1).iterdir())[0]
    shutil.copy2(first, folder / first.name)
    return folder


def _deid(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["deid", *args, "-j", "1", "-q"], env={"VEIL_KEY": TEST_KEY})
    assert result.exit_code == code, result.output
    return result.output


def test_veil_deid_honours_the_policy_requirements_and_layout(
    one_file: Path, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "requirements: [neuroquant]\nlayout: hierarchy\n")
    out, report = tmp_path / "out", tmp_path / "report.json"
    said = _deid(
        str(one_file), "--out", str(out), "--policy", str(policy), "--report", str(report), code=1
    )
    # One slice of a 3D T1 does not cover a brain: the requirement's verdict says so (exit 1).
    assert "does NOT meet neuroquant" in said and "neuroquant/coverage" in said
    (written,) = list(out.rglob("*.dcm"))
    assert len(written.relative_to(out).parts) == 4  # patient/study/series/instance.dcm
    assert dcmread(written).PatientAge  # the requirement kept (or derived) it
    data = json.loads(report.read_text())
    assert data["requirements"] == ["neuroquant"] and data["layout"] == "hierarchy"


def test_layout_on_the_command_line_wins_over_the_policy(one_file: Path, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "layout: hierarchy\n")
    out = tmp_path / "out"
    _deid(str(one_file), "--out", str(out), "--policy", str(policy), "--layout", "mirror")
    written = [p.name for p in out.iterdir() if not p.name.startswith(".")]  # not the stamp
    assert written == [next(one_file.iterdir()).name]


def test_the_node_honours_the_policy_requirements(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "requirements: [neuroquant]\nlayout: hierarchy\n")
    config = parse_config(
        {
            "node": {"host": "127.0.0.1", "port": 11112},  # never started here
            "state": {"database": "state.db", "spool": "spool"},
            "deidentify": {"policy": str(policy), "profiles": ["dcm2niix"]},
        },
        "node.yaml",
        tmp_path,
    )
    node = Node(config)
    try:
        assert [p.name for p in node.profiles] == ["neuroquant", "dcm2niix"]
        assert node.policy.current().settings.plan.requirement_names == ("neuroquant", "dcm2niix")
    finally:
        node.stop()
