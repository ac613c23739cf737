"""The `veil` command: a thin layer over the library, one module per command.

Library errors (VeilError) become one clear line and an exit code at the edge only, in
`veil.cli.errors` (0 done, 1 something failed or was found, 2 usage error, 3 a bug).
"""

from __future__ import annotations

import importlib

import click

from veil import __version__
from veil.cli import startup  # first of veil's: before numpy and the commands load (measured)
from veil.cli.errors import guard
from veil.io.quiet import configure_process

# Each module exposes `command`, a click command or group, registered under its own name.
COMMAND_MODULES = (
    "veil.cli.deid",
    "veil.cli.explain",
    "veil.cli.policy",
    "veil.cli.key",
    "veil.cli.check",
    "veil.cli.audit",
    "veil.cli.serve",
    "veil.cli.node",
    "veil.cli.console",
    "veil.cli.user",
    "veil.cli.token",
    "veil.cli.mapping",
)


class _LazyGroup(click.Group):
    """The commands, each imported when it is called or listed, not when `veil` starts.

    `veil deid` used to import all twelve commands' modules first: the console, node, audit,
    check and explain code with their tables, ~50 ms of its ~0.4 s start-up before any work
    (python -X importtime, issue 12). `veil --help` still lists (so imports) them all.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_MODULE_OF})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _MODULE_OF:
            self.add_command(_import_command(_MODULE_OF[cmd_name]), cmd_name)
        return self.commands.get(cmd_name)


def _import_command(module: str) -> click.Command:
    with startup.importing():
        command: click.Command = importlib.import_module(module).command
    return guard(command)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="veil")
def main() -> None:
    """De-identify DICOM studies without breaking their processing.

    \b
    Start here:
      veil deid ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --out deid-out
      veil explain FILE --policy basic
      veil policy show basic

    \b
    Exit codes:
      0  done, nothing found
      1  something failed, was found or was refused
      2  usage error: bad arguments, policy, profile, key, configuration
      3  an unexpected error in veil (a bug): please report it
    Each command's --help lists the codes it uses.
    """
    configure_process()  # the entry point: pydicom's process-wide settings, once


# Command name -> its module (each module's `command` carries that name).
_MODULE_OF = {module.rsplit(".", 1)[1]: module for module in COMMAND_MODULES}
startup.imported()
