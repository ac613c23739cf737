"""`veil key`: where the project key is and its fingerprint (never the key itself)."""

from __future__ import annotations

from pathlib import Path

import click

from veil.cli.common import veil_errors_are_usage_errors
from veil.keys import create_key_file, resolve_key
from veil.mapping import Mapper


@click.group("key", invoke_without_command=True)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A key file instead of the default.",
)
@click.pass_context
@veil_errors_are_usage_errors
def command(ctx: click.Context, key_path: Path | None) -> None:
    """Show where the project key comes from and its fingerprint.

    The same key gives the same pseudonyms, UIDs and date offsets everywhere; keep it secret
    and back it up (lose it and results can no longer be matched to new data). The key itself
    is never printed.

    \b
    Example:
      veil key
      veil key create /secure/project.key
    """
    if ctx.invoked_subcommand is not None:
        return
    key, source = resolve_key(key_path)
    click.echo(f"key: {source.description}")
    if source.path is not None:
        click.echo(f"file: {source.path}")
    if source.created:
        click.echo("created now (owner-only permissions); back it up somewhere safe")
    click.echo(f"fingerprint: {Mapper(key).fingerprint()}")


@command.command("create")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@veil_errors_are_usage_errors
def create(path: Path) -> None:
    """Create a new random key file at PATH (owner-only permissions; never overwrites)."""
    if path.exists():
        raise click.UsageError(f"{path} exists; veil never overwrites a key")
    create_key_file(path)
    key, _ = resolve_key(path, create=False)
    click.echo(f"created {path}, fingerprint {Mapper(key).fingerprint()}")
