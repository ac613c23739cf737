"""`veil node status|retry|forget`: look at and act on a node's state store (pseudonyms only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from veil.cli.errors import CommandError, ExitCode

if TYPE_CHECKING:
    from veil.node.store import Store

# The values of veil.node.store.states.StudyState, spelled out so that `veil --help` does not
# import SQLAlchemy (test_cli.py checks they agree).
STATES = ("received", "stable", "de-identified", "checked", "sent", "quarantined", "failed")

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


@click.group("node")
def command() -> None:
    """Inspect the node's studies, retry failed ones, forget finished ones.

    \b
    Example:
      veil node status --state failed
      veil node retry 3f9a0c2e11d4b6a7
      veil node forget 3f9a0c2e11d4b6a7

    \b
    Exit codes:
      0  done
      1  the study cannot be retried (see veil node retry)
      2  usage error (bad configuration, database unreachable, unknown study)
    """


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
    """Every study the node knows, by study key and patient pseudonym, with its state.

    \b
    Exit codes:
      0  listed
      2  bad configuration, or the database cannot be opened
    """
    store = _open_store(config_path)
    try:
        rows = [r for r in store.studies.status() if not states or r.state.value in states]
        returns = store.returns.counts()
    finally:
        store.close()
    records = [
        {
            "study": r.study_key,
            "patient": r.patient_pseudonym,
            "deidentified_study_uid": r.deid_study_uid,
            "state": r.state.value,
            "instances": r.instance_count,
            "sent": r.sent_count,
            "attempts": r.attempts,
            "reason": r.reason,
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps({"studies": records, "returns": returns}, indent=2))
        return
    if not records:
        click.echo("no studies received yet")
    for rec in records:
        line = (
            f"{rec['study']}  {rec['patient']:<18} {rec['state']:<13} "
            f"{rec['sent']}/{rec['instances']} sent"
        )
        if rec["attempts"]:
            line += f"  attempts {rec['attempts']}"
        if rec["reason"]:
            line += f"  reason: {rec['reason']}"
        click.echo(line)
    if returns:
        click.echo("returns: " + ", ".join(f"{k} {v}" for k, v in sorted(returns.items())))


@command.command("retry")
@_config_option
@click.argument("study")
def retry(config_path: Path | None, study: str) -> None:
    """Send a failed or quarantined STUDY (its key from `status`) through the node again.

    \b
    Exit codes:
      0  the running node will process it again
      1  the study is neither failed nor quarantined
      2  no such study, bad configuration, or the database cannot be opened
    """
    store = _open_store(config_path)
    try:
        row = store.studies.find(study)
        if row is None:
            raise CommandError(f"no study {study} in the node's store (see veil node status)")
        if not store.studies.retry(row.id):
            raise CommandError(
                f"study {study} is {row.state.value}; only failed or quarantined studies "
                "are retried",
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

    Only a sent, quarantined or failed study can be forgotten.

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
