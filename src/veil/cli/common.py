"""Options shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def key_options(function: F) -> F:
    """--key and --lookup, shared by every command that maps identifiers."""
    function = click.option(
        "--lookup",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="CSV PatientID,pseudonym[,date_offset_days]: these rows win over the keyed hash.",
    )(function)
    function = click.option(
        "--key",
        "key_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Project key file (default: $VEIL_KEY, $VEIL_KEY_FILE, or ~/.config/veil/key, "
        "created on first use).",
    )(function)
    return function


jobs_option = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: number of CPUs].",
)
