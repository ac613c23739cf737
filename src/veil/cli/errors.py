"""The one place the CLI turns errors into a message and an exit code.

Every command of `veil` is wrapped by `guard` when it is registered (`veil.cli.__init__`), so
a command only raises: a `VeilError` from the library, a `CommandError` of its own (an
unknown study, an existing key file), or nothing and `sys.exit(ExitCode.FOUND)` when it ran
and found something. The codes, as every command's help lists them:

    0  done, nothing found
    1  done, and something failed, was found or was refused (files failed or quarantined,
       a check failed, the audit found an identifier, a study that cannot be retried)
    2  could not start as asked: bad arguments (click's own usage errors), a bad policy,
       profile, key, configuration, database or output location
    3  an unexpected error in veil itself (a bug): named by type and line, never its text,
       which may quote a value from a file

Messages are one line on stderr, ``veil: error: ...``, and never carry an identifying value:
library errors are written that way, and an unexpected exception's text is never shown.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from veil.errors import VeilError

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True, highlight=False)


class ExitCode(IntEnum):
    OK = 0
    FOUND = 1
    USAGE = 2
    INTERNAL = 3


class CommandError(VeilError):
    """A command refuses what it was asked (the message says why and what to do instead)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code_of(exc: BaseException) -> ExitCode:
    """The exit code for an exception that reached the edge of a command."""
    if isinstance(exc, CommandError):
        return exc.code
    if isinstance(exc, VeilError | OSError):
        return ExitCode.USAGE
    return ExitCode.INTERNAL


def message_of(exc: BaseException) -> str:
    """The one line shown for ``exc``: the library's own message, never an unknown exception's
    text (it may quote a value read from a file)."""
    if isinstance(exc, VeilError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or type(exc).__name__}"
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"internal error in veil ({type(exc).__name__}{at}); please report it"


def fail(exc: BaseException) -> NoReturn:
    err_console.print(f"[bold red]veil: error:[/] {message_of(exc)}", markup=True, soft_wrap=True)
    sys.exit(int(exit_code_of(exc)))


def _guarded(function: F) -> F:
    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise  # click's own usage errors and explicit exits keep their codes
        except Exception as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]  # same signature as ``function``


def guard(command: click.Command) -> click.Command:
    """Route every error of ``command`` (and of its subcommands) through `fail`."""
    if command.callback is not None and not getattr(command.callback, "_veil_guarded", False):
        command.callback = _guarded(command.callback)
        setattr(command.callback, "_veil_guarded", True)  # noqa: B010 - a marker, not an API
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            guard(sub)
    return command
