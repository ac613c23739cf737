"""`veil token create|list|revoke`: API tokens for scripts (Authorization: Bearer TOKEN)."""

from __future__ import annotations

from pathlib import Path

import click

from veil.cli.user import ROLES, config_option, open_store
from veil.errors import VeilError


@click.group("token")
def command() -> None:
    """API tokens for scripts: create (shown once), list, revoke."""


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
      TOKEN=$(veil token create monitoring --role viewer)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8480/api/v1/dashboard
    """
    from veil.console import accounts, auditlog
    from veil.console.roles import parse_roles

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
    except VeilError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(token)
    click.echo(f"token {name} created; it is shown only now", err=True)


@command.command("list")
@config_option
def list_(config_path: Path | None) -> None:
    """Every token's name, roles and last use (never the token)."""
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
    """Delete token NAME: scripts using it are refused at once."""
    from veil.console import accounts, auditlog

    store = open_store(config_path)
    try:
        accounts.revoke_token(store, name)
        auditlog.append(store, "cli", auditlog.Action.TOKEN_REVOKED, name)
    except VeilError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"token {name} revoked")
