"""`veil key`: where the project key is and its fingerprint (never the key itself)."""

from __future__ import annotations

from pathlib import Path

import click

from veil.cli.errors import CommandError
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
def command(ctx: click.Context, key_path: Path | None) -> None:
    """Show where the project key comes from and its fingerprint.

    The same key gives the same pseudonyms, UIDs and date offsets everywhere; keep it secret
    and back it up (lose it and results can no longer be matched to new data). The key itself
    is never printed.

    \b
    Example:
      veil key
      veil key create /secure/project.key

    \b
    Exit codes:
      0  shown (or created)
      2  the key cannot be found, read or created safely (e.g. readable by others)
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
def create(path: Path) -> None:
    """Create a new random key file at PATH (owner-only permissions; never overwrites).

    \b
    Exit codes:
      0  created
      2  PATH exists, or cannot be created safely
    """
    if path.exists():
        raise CommandError(f"{path} exists; veil never overwrites a key (choose another path)")
    create_key_file(path)
    key, _ = resolve_key(path, create=False)
    click.echo(f"created {path}, fingerprint {Mapper(key).fingerprint()}")
