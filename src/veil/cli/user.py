"""`veil user add|list|remove`: console accounts in the node's state store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from veil.cli.errors import CommandError, ExitCode

if TYPE_CHECKING:
    from veil.node.store import Store

# The values of veil.console.roles.Role, spelled out so `veil --help` stays light
# (tests/console/test_cli.py checks they agree).
ROLES = ("viewer", "operator", "policy-editor", "reidentifier", "admin")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Node configuration (YAML). Default: ./node.yaml, else built-in defaults.",
)


def open_store(config_path: Path | None) -> Store:
    from veil.node.config import load_config
    from veil.node.store import Store

    return Store.open(load_config(config_path).database)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


@click.group("user")
def command() -> None:
    """Console accounts in the node's state store: add, list, remove.

    \b
    Example:
      veil user add alice --role admin --config node.yaml
      veil user list

    \b
    Exit codes:
      0  done
      1  refused: the name is taken
      2  usage error (bad name or password, unknown user, bad configuration)
    """


@command.command("add")
@config_option
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLES),
    help="Role (repeatable): viewer, operator, policy-editor, reidentifier, admin.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add(config_path: Path | None, name: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create account NAME (the password is asked for, or read with --password-stdin).

    \b
    Example:
      veil user add alice --role admin
      printf '%s\\n' "$PASSWORD" | veil user add bot --role viewer --password-stdin

    \b
    Exit codes:
      0  added
      1  refused: a user of that name exists
      2  usage error (name, password shorter than 12 characters, configuration)
    """
    from veil.console import accounts, auditlog
    from veil.console.roles import parse_roles

    password = _password(password_stdin)
    accounts.check_name(name)
    accounts.check_password(password)
    store = open_store(config_path)
    try:
        user = accounts.add_user(store, name, password, parse_roles(roles))
        auditlog.append(
            store,
            "cli",
            auditlog.Action.USER_ADDED,
            user.name,
            detail="roles: " + ", ".join(sorted(r.value for r in user.roles)),
        )
    except accounts.AccountExistsError as exc:
        raise CommandError(str(exc), ExitCode.FOUND) from None
    finally:
        store.close()
    click.echo(f"user {name} added ({', '.join(sorted(roles))})")


@command.command("list")
@config_option
def list_(config_path: Path | None) -> None:
    """Every account with its roles (never a password or its hash).

    \b
    Example:
      veil user list --config node.yaml

    \b
    Exit codes:
      0  done
      2  bad configuration or database
    """
    from veil.console import accounts

    store = open_store(config_path)
    try:
        users = accounts.list_users(store)
    finally:
        store.close()
    if not users:
        click.echo("no users yet (veil user add NAME --role admin)")
    for user in users:
        click.echo(f"{user.name:<24} {', '.join(sorted(r.value for r in user.roles))}")


@command.command("remove")
@config_option
@click.argument("name")
def remove(config_path: Path | None, name: str) -> None:
    """Delete account NAME; their console sessions end at once.

    \b
    Example:
      veil user remove alice

    \b
    Exit codes:
      0  removed
      2  no such user, or bad configuration
    """
    from veil.console import accounts, auditlog

    store = open_store(config_path)
    try:
        accounts.remove_user(store, name)
        auditlog.append(store, "cli", auditlog.Action.USER_REMOVED, name)
    finally:
        store.close()
    click.echo(f"user {name} removed")
