"""`veil console`: the web console alone, on the node's state store."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click

from veil.cli.errors import CommandError


@click.command("console")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Node configuration (YAML) with its web: section. Default: ./node.yaml, else "
    "built-in defaults.",
)
def command(config_path: Path | None) -> None:
    """Run the web console (pages and the /api/v1 JSON API) until stopped.

    \b
    It reads the node's state store, so it can run beside `veil serve` or on its own:
      veil user add alice --role admin          # the first account
      veil console --config node.yaml           # then open http://127.0.0.1:8480
    Listens on web.host:web.port (default 127.0.0.1:8480). A non-loopback address needs
    web.tls or web.trusted_proxies. See docs/console.md.

    \b
    Exit codes:
      0  stopped by SIGTERM or Ctrl-C
      2  bad configuration (a non-loopback address without TLS, ...) or the port is taken
    """
    from veil.console.config import load_console_config
    from veil.console.server import serve
    from veil.console.supervise import exit_with_parent

    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    exit_with_parent()  # started by `veil serve`: end with the node
    config = load_console_config(config_path)
    # uvicorn stops on SIGTERM/SIGINT, then raises the signal again with the handler found
    # at start: a no-op one makes a requested stop exit 0, as documented.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda _signum, _frame: None)
    try:
        serve(config)
    except OSError as exc:  # the port is taken, a TLS file cannot be read
        raise CommandError(f"cannot start the console ({exc.strerror or exc})") from None
