"""`veil serve`: run the node (DICOM receiver, de-identification, senders, return path)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

import click

from veil.cli.errors import CommandError


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Node configuration (YAML). Default: ./node.yaml, else built-in defaults.",
)
def command(config_path: Path | None) -> None:
    """Run the veil node until stopped (Ctrl-C or SIGTERM).

    \b
    With no configuration it listens as AE VEIL on 127.0.0.1 port 11112 (this machine
    only; another address needs node.allowed_callers), keeps its state in
    ./veil-node.db and ./veil-spool, de-identifies with the `basic` policy and writes
    studies to ./veil-out. See docs/node.md.

    \b
    Example:
      veil serve --config node.yaml

    \b
    Exit codes:
      0  stopped by SIGTERM or Ctrl-C
      2  bad configuration, or the node cannot start (port taken, database unreachable)
    """
    from veil.node.config import load_config
    from veil.node.logs import configure_node_logging
    from veil.node.service import Node

    config = load_config(config_path)
    configure_node_logging(config.log_level)
    # Everything the node creates (database, spool, outputs) is for its own user only.
    os.umask(0o077)
    try:
        node = Node(config)
        node.start()
    except OSError as exc:  # the port is taken, the spool cannot be created, ...
        raise CommandError(f"cannot start the node ({exc.strerror or exc})") from None

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        node.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"veil node listening as {config.ae_title} on {config.host}:{config.port}", err=True)
    node.wait()
    node.stop()
