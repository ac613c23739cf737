"""`veil node status|retry|returns` against a node's store."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click
from click.testing import CliRunner
from node_support import TEST_KEY

from veil.cli import main
from veil.cli.node import RETURN_STATES
from veil.node.store import Deidentified, Sealer, Store
from veil.node.store.states import ReturnState, StudyState

# `veil node` as the CLI loads it: its errors routed through veil's guard (one line, exit code).
command = main.get_command(click.Context(main), "node")
assert command is not None

STUDY_UID, SOP_UID = "1.2.840.99.1", "1.2.840.99.1.1"
MR = "1.2.840.10008.5.1.4.1.1.4"


def _config(tmp_path: Path) -> tuple[Path, Store]:
    path = tmp_path / "node.yaml"
    path.write_text(
        "state: {database: state.db, spool: spool}\n"
        "destinations:\n"
        "  - {name: archive, type: folder, path: out}\n"
        "  - {name: vendor, type: folder, path: out2}\n",
        encoding="utf-8",
    )
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}", Sealer(bytes.fromhex(TEST_KEY)))
    return path, store


def _one_study(store: Store, instances: int = 1) -> int:
    for n in range(instances):
        store.studies.record_instance(
            STUDY_UID, "STUDYKEY00000001", "VEILABC", f"{SOP_UID}.{n}", MR, f"x{n}.dcm"
        )
    store.studies.mark_stable(quiet_since=time.time() + 1)
    (row,) = store.studies.status()
    return row.id


def test_status_lists_pseudonyms_and_reasons(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    study = _one_study(store)
    assert store.studies.quarantine(study, reason="audit: found at (0010,0010)")
    store.close()
    runner = CliRunner()
    text = runner.invoke(command, ["status", "--config", str(config)])
    assert text.exit_code == 0
    assert "STUDYKEY00000001  VEILABC" in text.output
    assert "quarantined" in text.output and "(0010,0010)" in text.output
    assert STUDY_UID not in text.output
    data = json.loads(runner.invoke(command, ["status", "--json", "--config", str(config)]).output)
    assert data["studies"][0]["state"] == "quarantined"
    only_sent = runner.invoke(command, ["status", "--state", "sent", "--config", str(config)])
    assert "STUDYKEY00000001" not in only_sent.output
    assert "no studies in state sent" in only_sent.output


def test_status_shows_times_the_deidentified_uid_and_each_destination(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    study = _one_study(store, instances=3)
    ids = [i.id for i in store.studies.instances(study)]
    outputs = [Deidentified(x, f"2.25.77.{x}") for x in ids]
    assert store.studies.deidentified(study, "2.25.77", outputs)
    assert store.studies.checked(study, ids)
    store.studies.record_deliveries(ids, "archive")
    store.studies.record_deliveries(ids[:1], "vendor")
    store.studies.send_failed(study, 1, "vendor: association rejected", time.time() + 60)
    store.close()
    result = CliRunner().invoke(command, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"de-identified study\s+2\.25\.77\n", out), out
    day, time_ = r"\d{4}-\d\d-\d\d ", r"\d\d:\d\d:\d\d"  # the day again only if it changed
    received = rf"received\s+{day}{time_} \.\. ({day})?{time_}; changed ({day})?{time_}\n"
    assert re.search(received, out), out
    assert "destinations         archive 3/3, vendor 1/3" in out
    assert re.search(r"attempts\s+1; next \d{4}-", out), out
    assert "reason               vendor: association rejected" in out
    data = json.loads(
        CliRunner().invoke(command, ["status", "--json", "--config", str(config)]).output
    )
    (row,) = data["studies"]
    assert row["destinations"] == {
        "archive": {"delivered": 3, "total": 3},
        "vendor": {"delivered": 1, "total": 3},
    }
    assert row["deidentified_study_uid"] == "2.25.77"
    assert row["first_received_at"] and row["updated_at"] and row["next_attempt_at"]


def test_a_state_filter_that_matches_nothing_says_so(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    _one_study(store)  # stable, not quarantined
    store.close()
    result = CliRunner().invoke(
        command, ["status", "--state", "quarantined", "--config", str(config)]
    )
    assert result.exit_code == 0
    assert result.output.strip() == "no studies in state quarantined"
    both = CliRunner().invoke(
        command,
        ["status", "--state", "quarantined", "--state", "failed", "--config", str(config)],
    )
    assert both.output.strip() == "no studies in state quarantined or failed"


def test_retry_unknown_or_not_failed_study_is_an_error(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    store.studies.record_instance(STUDY_UID, "STUDYKEY00000001", "VEILABC", SOP_UID, MR, "x.dcm")
    store.close()
    runner = CliRunner()
    unknown = runner.invoke(command, ["retry", "--config", str(config), "NOSUCHSTUDY"])
    assert unknown.exit_code == 2 and "no study NOSUCHSTUDY" in unknown.output
    busy = runner.invoke(command, ["retry", "--config", str(config), "STUDYKEY00000001"])
    assert busy.exit_code == 1
    assert "only failed, quarantined or not-eligible" in busy.output


def test_retry_send_anyway_marks_a_not_eligible_study(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    study = _one_study(store)
    assert store.studies.not_eligible(study, "not eligible: no series meets neuroquant")
    store.close()
    result = CliRunner().invoke(
        command, ["retry", "--send-anyway", "--config", str(config), "STUDYKEY00000001"]
    )
    assert result.exit_code == 0, result.output
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    (row,) = store.studies.status()
    store.close()
    assert (row.state, row.send_anyway, row.reason) == (StudyState.STABLE, True, None)


def test_status_of_an_empty_node(tmp_path: Path) -> None:
    config, store = _config(tmp_path)
    store.close()
    result = CliRunner().invoke(command, ["status", "--config", str(config)])
    assert result.exit_code == 0 and "no studies received yet" in result.output


def test_state_choices_match_the_state_machines() -> None:
    from veil.cli.node import STATES

    assert tuple(s.value for s in StudyState) == STATES
    assert tuple(s.value for s in ReturnState) == RETURN_STATES


def _held_results(tmp_path: Path) -> tuple[Path, list[int]]:
    """Two quarantined results (one about a known patient and study, one not) and one
    forwarded, with their spool files."""
    config, store = _config(tmp_path)
    spool = tmp_path / "spool" / "return"
    spool.mkdir(parents=True)
    ids = []
    for n in range(3):
        name = f"result{n}-abcdef01.dcm"
        (spool / name).write_bytes(b"DICM")
        store.returns.add(name, f"2.25.5{n}")
        ids.append(store.returns.in_state(ReturnState.RECEIVED)[-1].id)
    store.returns.about(ids[0], "VEILABC", "STUDYKEY00000001")
    store.returns.quarantine(ids[0], "the result carries UIDs the node linked for another study")
    store.returns.quarantine(ids[1], "the result's PatientID is not a pseudonym this node sent")
    store.returns.forwarded(ids[2])
    store.close()
    return config, ids


def test_returns_lists_held_results_by_pseudonym_only(tmp_path: Path) -> None:
    config, (known, unknown, forwarded) = _held_results(tmp_path)
    result = CliRunner().invoke(command, ["returns", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    first = next(line for line in lines if line.strip().startswith(f"{known} "))
    assert "quarantined" in first and "VEILABC" in first and "STUDYKEY00000001" in first
    second = next(line for line in lines if line.strip().startswith(f"{unknown} "))
    assert "unknown patient" in second and "unknown study" in second
    assert not any(line.strip().startswith(f"{forwarded} ") for line in lines)
    assert "not a pseudonym this node sent" in result.output
    data = json.loads(
        CliRunner()
        .invoke(command, ["returns", "--json", "--state", "forwarded", "--config", str(config)])
        .output
    )
    assert [r["id"] for r in data["returns"]] == [forwarded]


def test_returns_release_and_delete(tmp_path: Path) -> None:
    config, (known, unknown, forwarded) = _held_results(tmp_path)
    runner = CliRunner()
    released = runner.invoke(command, ["returns", "release", str(known), "--config", str(config)])
    assert released.exit_code == 0, released.output
    again = runner.invoke(command, ["returns", "release", str(known), "--config", str(config)])
    assert again.exit_code == 1 and "is received" in again.output
    spool_file = tmp_path / "spool" / "return" / "result1-abcdef01.dcm"
    assert spool_file.exists()
    deleted = runner.invoke(command, ["returns", "delete", str(unknown), "--config", str(config)])
    assert deleted.exit_code == 0, deleted.output
    assert not spool_file.exists()
    not_held = runner.invoke(
        command, ["returns", "delete", str(forwarded), "--config", str(config)]
    )
    assert not_held.exit_code == 1 and "is forwarded" in not_held.output
    missing = runner.invoke(command, ["returns", "delete", "999", "--config", str(config)])
    assert missing.exit_code == 2 and "no returned result 999" in missing.output
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    states = {r.id: r.state for r in store.returns.in_states(list(ReturnState))}
    store.close()
    assert states == {known: ReturnState.RECEIVED, forwarded: ReturnState.FORWARDED}
    empty = runner.invoke(command, ["returns", "--config", str(config)])
    assert empty.output.strip() == "no returned results quarantined or failed"
