"""The console's section of the node configuration, ``web:``, read here and nowhere else.

```yaml
web:
  enabled: true              # veil serve starts the console (default true)
  host: 127.0.0.1            # default: loopback only
  port: 8480
  tls: {certificate: web.crt, private_key: web.key}
  trusted_proxies: [127.0.0.1]   # a TLS-terminating reverse proxy on these addresses
  idle_timeout_minutes: 30
  session_max_hours: 12
  allowed_hosts: [veil.example.org]   # Host names it answers to (default on loopback:
                                      # 127.0.0.1, localhost, ::1; elsewhere: any)
```

The console refuses a non-loopback address without TLS unless ``trusted_proxies`` names the
reverse proxy that terminates TLS in front of it (the page would otherwise carry session
cookies and passwords in clear text across the network).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from veil.errors import VeilError
from veil.node.config import DEFAULT_CONFIG_NAME, NodeConfig, load_config


class ConsoleConfigError(VeilError):
    """The ``web:`` section is invalid; the message names the key and the fix."""


@dataclass(frozen=True)
class WebTls:
    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8480
    tls: WebTls | None = None
    trusted_proxies: tuple[str, ...] = ()
    idle_timeout_minutes: float = 30.0
    session_max_hours: float = 12.0
    # Host names the console answers to (empty: any). On loopback: the loopback names only,
    # so a DNS-rebinding page (evil.example resolving to 127.0.0.1) gets no answer.
    allowed_hosts: tuple[str, ...] = ()

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure when the browser reaches the console over HTTPS."""
        return self.tls is not None or bool(self.trusted_proxies)


@dataclass(frozen=True)
class ConsoleConfig:
    node: NodeConfig
    web: WebConfig
    origin: str  # the configuration file, or "built-in defaults"


_KEYS = {
    "enabled",
    "host",
    "port",
    "tls",
    "trusted_proxies",
    "idle_timeout_minutes",
    "session_max_hours",
    "allowed_hosts",
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Web:
    """Reads the ``web:`` mapping key by key; errors name ``web.KEY`` and the fix."""

    def __init__(self, data: dict[str, Any], origin: str, base: Path) -> None:
        self.data, self.origin, self.base = data, origin, base

    def fail(self, key: str, problem: str) -> ConsoleConfigError:
        return ConsoleConfigError(f"{self.origin}: web.{key}: {problem}")

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def number(self, key: str, default: float, low: float, high: float, unit: str) -> float:
        value = self.data.get(key, default)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not low <= value <= high
        ):
            raise self.fail(key, f"must be a number of {unit} from {low:g} to {high:g}")
        return float(value)

    def text_list(self, key: str, default: list[str], example: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list, e.g. {example}")
        return value

    def tls(self) -> WebTls | None:
        raw = self.data.get("tls")
        if raw is None:
            return None
        if not isinstance(raw, dict) or set(raw) - {"certificate", "private_key"}:
            raise self.fail("tls", "must have exactly certificate and private_key")
        paths = []
        for key in ("certificate", "private_key"):
            value = raw.get(key)
            if not isinstance(value, str) or not value:
                raise self.fail(f"tls.{key}", "must be a path to a PEM file")
            path = Path(value).expanduser()
            paths.append(path if path.is_absolute() else self.base / path)
        return WebTls(paths[0], paths[1])


def parse_web(data: Any, origin: str, base: Path) -> WebConfig:
    """Build a WebConfig from the ``web:`` mapping; relative paths resolve against ``base``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConsoleConfigError(f"{origin}: web: must be a mapping of keys")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConsoleConfigError(
            f"{origin}: web.{unknown[0]}: unknown key (check the spelling; see docs/console.md)"
        )
    web = _Web(data, origin, base)
    host = data.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise web.fail("host", "must be an address, e.g. 127.0.0.1")
    port = web.number("port", 8480, 0, 65535, "a port")
    if port != int(port):
        raise web.fail("port", "must be a whole number (0: any free port)")
    proxies = web.text_list("trusted_proxies", [], "[127.0.0.1]")
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise web.fail(
                "trusted_proxies", "each entry must be an IP address or network"
            ) from None
    default_hosts = list(LOOPBACK_NAMES) if is_loopback(host) else []
    config = WebConfig(
        enabled=web.boolean("enabled", True),
        host=host,
        port=int(port),
        tls=web.tls(),
        trusted_proxies=tuple(proxies),
        idle_timeout_minutes=web.number("idle_timeout_minutes", 30, 0.05, 1440, "minutes"),
        session_max_hours=web.number("session_max_hours", 12, 0.01, 24 * 30, "hours"),
        allowed_hosts=tuple(web.text_list("allowed_hosts", default_hosts, "[veil.example.org]")),
    )
    check_exposure(config, origin)
    return config


def check_exposure(config: WebConfig, origin: str) -> None:
    """Refuse a console reachable from the network in clear text."""
    if is_loopback(config.host) or config.tls is not None or config.trusted_proxies:
        return
    raise ConsoleConfigError(
        f"{origin}: web.host: {config.host} is not a loopback address, and the console would "
        "send passwords and session cookies in clear text; set web.tls (certificate and "
        "private_key), or web.trusted_proxies to the TLS-terminating reverse proxy in front of "
        "it, or keep web.host at 127.0.0.1"
    )


def load_console_config(path: Path | None = None, cwd: Path | None = None) -> ConsoleConfig:
    """The node configuration (as `veil serve` reads it) and its ``web:`` section."""
    node = load_config(path, cwd)
    cwd = (cwd or Path.cwd()).resolve()
    if path is None and (cwd / DEFAULT_CONFIG_NAME).exists():
        path = cwd / DEFAULT_CONFIG_NAME
    if path is None:
        return ConsoleConfig(node, parse_web({}, "built-in defaults", cwd), "built-in defaults")
    # load_config has read and validated the file already; read its web: section.
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    web = parse_web(
        data.get("web") if isinstance(data, dict) else None, str(path), path.resolve().parent
    )
    return ConsoleConfig(node, web, str(path))
