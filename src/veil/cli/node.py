"""`veil node status|retry|forget|returns`: look at and act on a node's state store (pseudonyms
only)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from veil.cli.errors import CommandError, ExitCode

if TYPE_CHECKING:
    from veil.node.config import NodeConfig
    from veil.node.store import ReturnRow, Store, StudyRow

# The values of veil.node.store.states.StudyState and ReturnState, spelled out so that `veil
# --help` does not import SQLAlchemy (test_cli.py checks they agree).
STATES = (
    "received",
    "stable",
    "de-identified",
    "checked",
    "sent",
    "quarantined",
    "failed",
    "not-eligible",
)
RETURN_STATES = ("received", "forwarded", "quarantined", "failed")
HELD_RETURNS = ("quarantined", "failed")

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Node configuration (YAML). Default: ./node.yaml, else built-in defaults.",
)


def _open_store(config_path: Path | None) -> Store:
    from veil.node.config import load_config
    from veil.node.store import Store

    return Store.open(load_config(config_path).database)


def _when(epoch: float | None) -> str:
    """Local time, to the second (what an operator compares with the PACS log)."""
    if not epoch:
        return "-"
    return dt.datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _span(start: float, *later: float) -> list[str]:
    """Times after ``start`` shown without their date when it is the same day."""
    first = _when(start)
    return [first] + [_when(t)[11:] if _when(t)[:10] == first[:10] else _when(t) for t in later]


def _iso(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return dt.datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


@click.group("node")
def command() -> None:
    """Inspect the node's studies and returned results, retry, release or forget them.

    \b
    Example:
      veil node status --state failed
      veil node retry 3f9a0c2e11d4b6a7
      veil node forget 3f9a0c2e11d4b6a7
      veil node returns

    \b
    Exit codes:
      0  done
      1  the study cannot be retried (see veil node retry)
      2  usage error (bad configuration, database unreachable, unknown study)
    """


def _record(row: StudyRow, destinations: list[str], progress: dict[str, int]) -> dict[str, Any]:
    return {
        "study": row.study_key,
        "patient": row.patient_pseudonym,
        "deidentified_study_uid": row.deid_study_uid,
        "state": row.state.value,
        "instances": row.instance_count,
        "sent": row.sent_count,
        "destinations": {
            name: {"delivered": progress.get(name, 0), "total": row.instance_count}
            for name in destinations
        },
        "versions": {"changed_instances": row.versioned_count, "latest": row.latest_version},
        "first_received_at": _iso(row.first_received_at),
        "last_received_at": _iso(row.last_received_at),
        "updated_at": _iso(row.updated_at),
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at) if row.state.value == "checked" else None,
        "send_anyway": row.send_anyway,
        "reason": row.reason,
    }


def _plain(row: StudyRow, destinations: list[str], progress: dict[str, int]) -> list[str]:
    """A study as a few aligned lines: what, where it is, since when, where it went, why."""
    lines = [
        f"{row.study_key}  {row.patient_pseudonym:<18} {row.state.value:<13} "
        f"{row.sent_count}/{row.instance_count} sent"
    ]

    def fact(label: str, text: str) -> None:
        lines.append(f"  {label:<21}{text}")

    fact("de-identified study", row.deid_study_uid or "not yet")
    first, last, changed = _span(row.first_received_at, row.last_received_at, row.updated_at)
    fact("received", f"{first} .. {last}; changed {changed}")
    if destinations:
        fact(
            "destinations",
            ", ".join(
                f"{name} {progress.get(name, 0)}/{row.instance_count}" for name in destinations
            ),
        )
    if row.versioned_count:
        fact(
            "versions",
            f"{row.versioned_count} instance(s) received again with other content "
            f"(latest version {row.latest_version})",
        )
    if row.attempts:
        nxt = f"; next {_when(row.next_attempt_at)}" if row.state.value == "checked" else ""
        fact("attempts", f"{row.attempts}{nxt}")
    if row.send_anyway:
        fact("send anyway", "yes (veil node retry --send-anyway)")
    if row.reason:
        fact("reason", row.reason)
    return lines


@command.command("status")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only studies in this state (repeatable), e.g. --state failed --state quarantined.",
)
def status(config_path: Path | None, as_json: bool, states: tuple[str, ...]) -> None:
    """Every study the node knows, by study key and patient pseudonym: its state, when it was
    received and changed, its de-identified Study Instance UID, how far each destination got,
    versions received again with other content, and why it is held or failed.

    \b
    Example:
      veil node status
      veil node status --state quarantined --state not-eligible
      veil node status --json

    \b
    Exit codes:
      0  listed (also when nothing matches)
      2  bad configuration, or the database cannot be opened
    """
    from veil.node.config import load_config
    from veil.node.store import Store

    config = load_config(config_path)
    destinations = [d.name for d in config.destinations]
    store = Store.open(config.database)
    try:
        rows = [r for r in store.studies.status() if not states or r.state.value in states]
        progress = store.studies.progress()
        returns = store.returns.counts()
    finally:
        store.close()
    if as_json:
        records = [_record(r, destinations, progress.get(r.id, {})) for r in rows]
        click.echo(json.dumps({"studies": records, "returns": returns}, indent=2))
        return
    if not rows:
        if states:
            click.echo(f"no studies in state {' or '.join(states)}")
        else:
            click.echo("no studies received yet")
    for row in rows:
        click.echo("\n".join(_plain(row, destinations, progress.get(row.id, {}))))
    if returns:
        held = sum(returns.get(s, 0) for s in HELD_RETURNS)
        hint = " (see veil node returns)" if held else ""
        click.echo("returns: " + ", ".join(f"{k} {v}" for k, v in sorted(returns.items())) + hint)


@command.command("retry")
@_config_option
@click.argument("study")
@click.option(
    "--send-anyway",
    is_flag=True,
    help="For a not-eligible study: send it although it fails the destination profile.",
)
def retry(config_path: Path | None, study: str, send_anyway: bool) -> None:
    """Send a failed, quarantined or not-eligible STUDY (its key from `status`) through the
    node again: de-identified, checked and audited again, then sent.

    A not-eligible study is judged against the destination profiles again (after they were
    changed, say); --send-anyway sends it although it fails them.

    \b
    Example:
      veil node retry 3f9a0c2e11d4b6a7
      veil node retry 3f9a0c2e11d4b6a7 --send-anyway

    \b
    Exit codes:
      0  the running node will process it again
      1  the study is neither failed, quarantined nor not-eligible
      2  no such study, bad configuration, or the database cannot be opened
    """
    store = _open_store(config_path)
    try:
        row = store.studies.find(study)
        if row is None:
            raise CommandError(f"no study {study} in the node's store (see veil node status)")
        if not store.studies.retry(row.id, send_anyway=send_anyway):
            raise CommandError(
                f"study {study} is {row.state.value}; only failed, quarantined or not-eligible "
                "studies are retried",
                ExitCode.FOUND,
            )
    finally:
        store.close()
    click.echo(f"study {study} will be processed again by the running node")


@command.command("forget")
@_config_option
@click.argument("study")
def forget(config_path: Path | None, study: str) -> None:
    """Remove STUDY (its key from `status`) from the node: its links between pseudonyms and
    originals, its state and its spool files. Results about it can no longer come home.

    Only a sent, quarantined, failed or not-eligible study can be forgotten.

    \b
    Example:
      veil node forget 3f9a0c2e11d4b6a7

    \b
    Exit codes:
      0  forgotten
      1  the study is still being processed
      2  no such study, bad configuration, or the database cannot be opened
    """
    from veil.node.config import load_config
    from veil.node.forgetting import ForgetError, forget_study
    from veil.node.store import Store

    config = load_config(config_path)
    store = Store.open(config.database)
    try:
        try:
            done = forget_study(store, config.spool, study)
        except ForgetError as exc:
            found = store.studies.find(study) is not None
            raise CommandError(str(exc), ExitCode.FOUND if found else ExitCode.USAGE) from None
    finally:
        store.close()
    click.echo(
        f"study {done.study_key} forgotten: {done.links} study link(s) and {done.files} spool "
        "file(s) removed"
    )


# ---- returned results ----------------------------------------------------------------------


def _return_record(row: ReturnRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state.value,
        "patient": row.patient_pseudonym,
        "study": row.study_key,
        "received_at": _iso(row.received_at),
        "updated_at": _iso(row.updated_at),
        "attempts": row.attempts,
        "reason": row.reason,
    }


def _return_line(row: ReturnRow) -> str:
    patient = row.patient_pseudonym or "unknown patient"
    study = row.study_key or "unknown study"
    line = (
        f"{row.id:>5}  {row.state.value:<12} {patient:<18} {study:<16}  "
        f"received {_when(row.received_at)}"
    )
    if row.attempts:
        line += f"  attempts {row.attempts}"
    if row.reason:
        line += f"\n       reason: {row.reason}"
    return line


@command.group("returns", invoke_without_command=True)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(RETURN_STATES),
    help="Only results in this state (repeatable). Default: quarantined and failed.",
)
@click.pass_context
def returns(
    ctx: click.Context, config_path: Path | None, as_json: bool, states: tuple[str, ...]
) -> None:
    """Results that came back on the return path and are held: quarantined (not a patient or
    study this node sent, UIDs of another study, unreadable) or failed (the home PACS did not
    take them). Shown by number, with the patient pseudonym and study key when the node issued
    them, never a value the result carried. `release` sends one through re-identification
    again, `delete` removes it and its spool file.

    \b
    Example:
      veil node returns
      veil node returns release 12
      veil node returns delete 12

    \b
    Exit codes:
      0  listed (also when nothing is held)
      2  bad configuration, or the database cannot be opened
    """
    if ctx.invoked_subcommand is not None:
        return
    from veil.node.store import ReturnState

    wanted = [ReturnState(s) for s in (states or HELD_RETURNS)]
    store = _open_store(config_path)
    try:
        rows = store.returns.in_states(wanted)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"returns": [_return_record(r) for r in rows]}, indent=2))
        return
    if not rows:
        click.echo(f"no returned results {' or '.join(s.value for s in wanted)}")
    for row in rows:
        click.echo(_return_line(row))


def _held_return(store: Store, number: int) -> ReturnRow:
    row = store.returns.get(number)
    if row is None:
        raise CommandError(f"no returned result {number} (see veil node returns)")
    return row


@returns.command("release")
@_config_option
@click.argument("number", type=int)
def release(config_path: Path | None, number: int) -> None:
    """Send the held result NUMBER (from `veil node returns`) through re-identification again:
    once the linkage knows its patient and study, or the home PACS is back. A result that
    still names no patient this node sent is quarantined again.

    \b
    Example:
      veil node returns release 12

    \b
    Exit codes:
      0  the running node will re-identify and forward it
      1  the result is not held (received or forwarded)
      2  no such result, bad configuration, or the database cannot be opened
    """
    store = _open_store(config_path)
    try:
        row = _held_return(store, number)
        if not store.returns.retry(row.id):
            raise CommandError(
                f"returned result {number} is {row.state.value}; only quarantined or failed "
                "results are released",
                ExitCode.FOUND,
            )
    finally:
        store.close()
    click.echo(f"returned result {number} will be re-identified and forwarded by the running node")


@returns.command("delete")
@_config_option
@click.argument("number", type=int)
def delete(config_path: Path | None, number: int) -> None:
    """Delete the held result NUMBER (from `veil node returns`): its row and its spool file.

    \b
    Example:
      veil node returns delete 12

    \b
    Exit codes:
      0  deleted
      1  the result is not held (received or forwarded)
      2  no such result, bad configuration, or the database cannot be opened
    """
    from veil.node import controls
    from veil.node.config import load_config
    from veil.node.spool import Spool
    from veil.node.store import Store

    config: NodeConfig = load_config(config_path)
    store = Store.open(config.database)
    try:
        row = _held_return(store, number)
        if not controls.purge_return(store, Spool(config.spool), row.id):
            raise CommandError(
                f"returned result {number} is {row.state.value}; only quarantined or failed "
                "results are deleted",
                ExitCode.FOUND,
            )
    finally:
        store.close()
    click.echo(f"returned result {number} deleted")
