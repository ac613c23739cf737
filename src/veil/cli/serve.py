"""`veil serve`: run the node (DICOM receiver, de-identification, senders, return path) and,
in a child process of its own, the web console."""

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
@click.option(
    "--no-console",
    is_flag=True,
    help="Do not start the web console (web.enabled: false does the same).",
)
def command(config_path: Path | None, no_console: bool) -> None:
    """Run the veil node until stopped (Ctrl-C or SIGTERM).

    \b
    With no configuration it listens as AE VEIL on 127.0.0.1 port 11112 (this machine
    only; another address needs node.allowed_callers), keeps its state in
    ./veil-node.db and ./veil-spool, de-identifies with the `basic` policy and writes
    studies to ./veil-out. The web console starts beside it, in its own process, on
    http://127.0.0.1:8480 (the web: section; see docs/console.md). See docs/node.md.

    \b
    Example:
      veil serve --config node.yaml

    \b
    Exit codes:
      0  stopped by SIGTERM or Ctrl-C
      2  bad configuration, or the node cannot start (port taken, database unreachable)
    """
    from veil.console.config import load_console_config
    from veil.console.supervise import ConsoleProcess
    from veil.node.logs import configure_node_logging
    from veil.node.service import Node

    console_config = load_console_config(config_path)
    config = console_config.node
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
    # The console runs in a child process: whatever happens to it, intake goes on here.
    console = None
    if console_config.web.enabled and not no_console:
        console = ConsoleProcess(config_path)
        console.start()
    try:
        node.wait()
    finally:
        if console is not None:
            console.stop()
        node.stop()
