"""`veil token create|list|revoke`: API tokens for scripts (Authorization: Bearer TOKEN)."""

from __future__ import annotations

from pathlib import Path

import click

from veil.cli.errors import CommandError, ExitCode
from veil.cli.user import ROLES, config_option, open_store


@click.group("token")
def command() -> None:
    """API tokens for scripts (Authorization: Bearer TOKEN): create, list, revoke.

    \b
    Example:
      veil token create monitoring --role viewer

    \b
    Exit codes:
      0  done
      1  refused: a token of that name exists
      2  usage error (bad name, unknown token, bad configuration)
    """


@command.command("create")
@config_option
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLES),
    help="Role (repeatable) the token acts with.",
)
def create(config_path: Path | None, name: str, roles: tuple[str, ...]) -> None:
    """Create token NAME and print it once (the store keeps only its hash).

    \b
    Example:
      TOKEN=$(veil token create monitoring --role viewer)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8480/api/v1/dashboard

    \b
    Exit codes:
      0  created (the token is the only line on standard output)
      1  refused: a token of that name exists
      2  usage error (bad name, bad configuration)
    """
    from veil.console import accounts, auditlog
    from veil.console.roles import parse_roles

    accounts.check_name(name, "token name")
    store = open_store(config_path)
    try:
        token = accounts.create_token(store, name, parse_roles(roles))
        auditlog.append(
            store,
            "cli",
            auditlog.Action.TOKEN_CREATED,
            name,
            detail="roles: " + ", ".join(sorted(roles)),
        )
    except accounts.AccountExistsError as exc:
        raise CommandError(str(exc), ExitCode.FOUND) from None
    finally:
        store.close()
    click.echo(token)
    click.echo(f"token {name} created; it is shown only now", err=True)


@command.command("list")
@config_option
def list_(config_path: Path | None) -> None:
    """Every token's name and roles (never the token: only its hash is stored).

    \b
    Example:
      veil token list

    \b
    Exit codes:
      0  done
      2  bad configuration or database
    """
    from veil.console import accounts

    store = open_store(config_path)
    try:
        tokens = accounts.list_tokens(store)
    finally:
        store.close()
    if not tokens:
        click.echo("no tokens")
    for t in tokens:
        roles = ", ".join(sorted(r.value for r in t.roles))
        click.echo(f"{t.name:<24} {roles}")


@command.command("revoke")
@config_option
@click.argument("name")
def revoke(config_path: Path | None, name: str) -> None:
    """Delete token NAME: scripts using it are refused at once.

    \b
    Example:
      veil token revoke monitoring

    \b
    Exit codes:
      0  revoked
      2  no such token, or bad configuration
    """
    from veil.console import accounts, auditlog

    store = open_store(config_path)
    try:
        accounts.revoke_token(store, name)
        auditlog.append(store, "cli", auditlog.Action.TOKEN_REVOKED, name)
    finally:
        store.close()
    click.echo(f"token {name} revoked")
