"""Serving the console: uvicorn, with the exposure rules of ``veil.console.config``.

``serve`` runs until stopped. ``veil serve`` runs it in a child process of its own
(``veil.console.supervise``) so that nothing the console does can stop DICOM intake.
"""

from __future__ import annotations

import logging
import socket

import uvicorn

from veil.console.app import create_app
from veil.console.config import ConsoleConfig, check_exposure

log = logging.getLogger("veil.console")


def serve(config: ConsoleConfig, sock: socket.socket | None = None) -> None:
    """Serve the console on ``config.web`` (or on an already bound ``sock``) until stopped."""
    web = config.web
    check_exposure(web, config.origin)
    app = create_app(config)
    options: dict[str, object] = {
        "log_level": "warning",
        # Access logs would write every path and query: a search box is a query string.
        "access_log": False,
        "server_header": False,
        "proxy_headers": bool(web.trusted_proxies),
        "forwarded_allow_ips": list(web.trusted_proxies) or None,
        "limit_concurrency": 200,
        "timeout_keep_alive": 5,
        # Stopping never waits long for a client that keeps a connection open.
        "timeout_graceful_shutdown": 5,
    }
    if web.tls is not None:
        options["ssl_certfile"] = str(web.tls.certificate)
        options["ssl_keyfile"] = str(web.tls.private_key)
    if sock is None:
        family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
        sock = socket.create_server((web.host, web.port), family=family, reuse_port=False)
    host, port = sock.getsockname()[:2]
    scheme = "https" if web.tls is not None else "http"
    uconfig = uvicorn.Config(app, host=str(host), port=int(port), **options)  # type: ignore[arg-type]
    server = uvicorn.Server(uconfig)
    # One line a supervisor or a test can read: where the console listens.
    log.warning("veil console listening on %s://%s:%s", scheme, host, port)
    server.run(sockets=[sock])
