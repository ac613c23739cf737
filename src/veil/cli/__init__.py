"""The `veil` command: a thin layer over the library, one module per command.

Library errors (VeilError) become one clear line and an exit code here, at the edge only:
1 when some input failed or a check/audit found something, 2 on usage errors.
"""

from __future__ import annotations

import importlib

import click

from veil import __version__

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
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="veil")
def main() -> None:
    """De-identify DICOM studies without breaking their processing.

    \b
    Start here:
      veil deid ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --out deid-out
      veil explain FILE --policy basic
      veil policy show basic
    """


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a command still being built in this checkout
        if exc.name != _name:
            raise
        continue
    main.add_command(_module.command)
