"""Said once, by whichever command creates the default project key (`veil deid`, `veil explain`,
`veil mapping export`): where it is and why losing it matters."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from veil.cli.errors import err_console
from veil.keys import KeySource, load_mapper, resolve_key
from veil.mapping import Mapper


def announce_created_key(source: KeySource, fingerprint: str) -> None:
    """Said once: the run that creates the default key says where it is and why it matters."""
    if not source.created:
        return
    err_console.print(
        f"[bold yellow]veil: created a new project key[/] at {escape(str(source.path))} "
        f"(fingerprint {fingerprint}, owner-only). Back it up and keep it secret: every "
        "pseudonym, UID and date shift is derived from it, and losing it breaks the link "
        "between these outputs and every pseudonym made later (the same patient would get "
        "another pseudonym).",
        markup=True,
        soft_wrap=True,
    )


def load_mapper_announced(key_path: Path | None, lookup: Path | None) -> Mapper:
    """The command's mapper; when this call created the default key, say so once."""
    _, source = resolve_key(key_path)  # creates the default key on first use
    mapper = load_mapper(key_path, lookup)
    announce_created_key(source, mapper.fingerprint())
    return mapper
