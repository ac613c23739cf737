"""`veil node status` and `veil node retry` against a node's store."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner
from node_support import TEST_KEY

from veil.cli.node import command
from veil.node.store import Sealer, Store
from veil.node.store.states import StudyState


def _config(tmp_path: Path) -> tuple[Path, Store]:
    path = tmp_path / "node.yaml"
    path.write_text("state: {database: state.db}\n", encoding="utf-8")
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}", Sealer(bytes.fromhex(TEST_KEY)))
    return path, store


def test_status_lists_pseudonyms_and_reasons(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    store.studies.record_instance(
        "1.2.840.99.1",
        "STUDYKEY00000001",
        "VEILABC",
        "1.2.840.99.1.1",
        "1.2.840.10008.5.1.4.1.1.4",
        "x.dcm",
    )
    store.studies.mark_stable(quiet_since=time.time() + 1)
    (row,) = store.studies.status()
    assert store.studies.quarantine(row.id, reason="audit: found at (0010,0010)")
    store.close()
    runner = CliRunner()
    text = runner.invoke(command, ["status", "--config", str(config)])
    assert text.exit_code == 0
    assert "STUDYKEY00000001  VEILABC" in text.output
    assert "quarantined" in text.output and "(0010,0010)" in text.output
    assert "1.2.840.99.1" not in text.output
    data = json.loads(runner.invoke(command, ["status", "--json", "--config", str(config)]).output)
    assert data["studies"][0]["state"] == "quarantined"
    only_sent = runner.invoke(command, ["status", "--state", "sent", "--config", str(config)])
    assert "STUDYKEY00000001" not in only_sent.output


def test_retry_unknown_or_not_failed_study_is_an_error(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    store.studies.record_instance(
        "1.2.840.99.1",
        "STUDYKEY00000001",
        "VEILABC",
        "1.2.840.99.1.1",
        "1.2.840.10008.5.1.4.1.1.4",
        "x.dcm",
    )
    store.close()
    runner = CliRunner()
    unknown = runner.invoke(command, ["retry", "--config", str(config), "NOSUCHSTUDY"])
    assert unknown.exit_code == 2 and "no study NOSUCHSTUDY" in unknown.output
    busy = runner.invoke(command, ["retry", "--config", str(config), "STUDYKEY00000001"])
    assert busy.exit_code == 1 and "only failed or quarantined" in busy.output


def test_status_of_an_empty_node(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    store.close()
    result = CliRunner().invoke(command, ["status", "--config", str(config)])
    assert result.exit_code == 0 and "no studies received yet" in result.output


def test_state_choices_match_the_state_machine() -> None:
    from veil.cli.node import STATES

    assert tuple(s.value for s in StudyState) == STATES
