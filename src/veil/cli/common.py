"""Options and error handling shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from veil.check.model import RequirementProfile
from veil.check.profile import load_profile
from veil.errors import VeilError
from veil.policy import Plan, compile_plan, load_policy

F = TypeVar("F", bound=Callable[..., Any])

USAGE_EXIT = 2

err_console = Console(stderr=True, highlight=False)


def fail_usage(message: str) -> None:
    """One line, exit 2: the command could not start (bad policy, key, output folder...)."""
    err_console.print(f"[bold red]veil: error:[/] {message}", markup=True, soft_wrap=True)
    sys.exit(USAGE_EXIT)


def veil_errors_are_usage_errors(function: F) -> F:
    """Turn a VeilError raised while setting up a command into one line and exit code 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except VeilError as exc:
            fail_usage(str(exc))

    return wrapper  # type: ignore[return-value]


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


def compile_from_options(
    policy: str, profile_names: tuple[str, ...], quality_checks: bool
) -> tuple[Plan, list[RequirementProfile]]:
    """The plan of --policy and --for (as `veil deid` and `veil explain` take them)."""
    profiles = [load_profile(name) for name in profile_names]
    return compile_plan(load_policy(policy), profiles, quality_checks=quality_checks), profiles
