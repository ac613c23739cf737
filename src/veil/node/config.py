"""The node's configuration: frozen dataclasses read from YAML, with errors that name the line.

Every setting has a default, written once, as the dataclass field below; the reader takes its
defaults from there. `veil serve` with no file runs at once: listening on 127.0.0.1 only,
SQLite and a spool folder in the working directory, the `basic` policy, and a folder
destination. Relative paths in a file are resolved against the file's folder; without a file,
against the working folder.

Safe by default: a node that listens on any other address than loopback must say who may call
it (`allowed_callers`) or say explicitly that anyone may (`allow_any_caller: true`). Host names
in an allow-list are resolved once, when the configuration is read; a name that does not
resolve is an error, never a silent "nobody matches".
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from veil.errors import VeilError
from veil.yamlnode import YamlNode, compose


class NodeConfigError(VeilError):
    """The node configuration is invalid; the message names the file, the line and the key."""


class DestinationKind(str, Enum):
    FOLDER = "folder"
    CSTORE = "cstore"
    STOWRS = "stowrs"


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str) -> IpNetwork:
    network = ipaddress.ip_network(text.strip(), strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen == 128:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(mapped)
    return network


def address_in(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    """Whether a peer address (IPv4, IPv6, or IPv4-mapped IPv6) is in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


@dataclass(frozen=True)
class AllowedCaller:
    """A sender allowed to associate: its calling AE title and, optionally, its addresses.

    ``hosts`` are IP addresses or networks (``10.1.2.3``, ``10.1.2.0/24``, ``fd00::/8``);
    host names are resolved by the configuration reader, never here.
    """

    ae_title: str
    hosts: tuple[str, ...] = ()
    networks: tuple[IpNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            networks = tuple(_network(host) for host in self.hosts)
        except ValueError:
            raise NodeConfigError(
                f"allowed caller {self.ae_title}: hosts must be IP addresses or networks "
                "(host names are resolved when the configuration is read)"
            ) from None
        object.__setattr__(self, "networks", networks)

    def matches(self, ae_title: str, address: str) -> bool:
        if self.ae_title != ae_title.strip():
            return False
        return not self.networks or address_in(address, self.networks)


@dataclass(frozen=True)
class TlsConfig:
    certificate: Path
    private_key: Path
    ca_certificates: Path | None = None
    require_client_certificate: bool = False


@dataclass(frozen=True)
class IntakeLimits:
    """What one caller may hold of a receiver, so that no caller can lock out the others."""

    # Associations that have been requested (idle connections do not count).
    max_associations: int = 16
    # Open connections from one address, idle or not; more are closed at once.
    max_associations_per_address: int = 10
    # An A-ASSOCIATE-RQ must arrive within this time after connecting (ACSE/ARTIM timeout).
    association_request_timeout_seconds: float = 10.0
    # Idle time allowed between messages, and the most one PDU may take to arrive.
    network_timeout_seconds: float = 60.0
    # One received instance, as written to the spool; larger ones abort the association.
    max_instance_bytes: int = 2 * 1024**3

    @property
    def max_connections(self) -> int:
        """Open connections (idle ones included) before new ones are closed at once."""
        return self.max_associations * 4


@dataclass(frozen=True)
class Destination:
    """Where de-identified studies (or re-identified results) go."""

    name: str
    kind: DestinationKind
    path: Path | None = None  # folder
    host: str = "127.0.0.1"  # cstore
    port: int = 104
    ae_title: str = "ANY-SCP"
    calling_ae_title: str = "VEIL"
    url: str = ""  # stowrs: the DICOMweb base URL, e.g. http://host:8042/dicom-web
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 60.0
    # cstore: parallel associations per study. Each C-STORE waits for its response, so on a
    # network with real round-trip time throughput grows with associations (measured ~4x
    # with 4 against Orthanc, see docs/notes/node.md).
    associations: int = 4


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 5
    initial_delay_seconds: float = 5.0
    max_delay_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff after the ``attempt``-th failure (1-based)."""
        delay = self.initial_delay_seconds * 2.0 ** max(0, attempt - 1)
        return float(min(self.max_delay_seconds, delay))


@dataclass(frozen=True)
class ReturnPathConfig:
    """The second AE that takes results back, re-identifies them and forwards them home."""

    ae_title: str
    port: int
    home: Destination
    allowed_callers: tuple[AllowedCaller, ...] = ()


@dataclass(frozen=True)
class NodeConfig:
    ae_title: str = "VEIL"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_callers: tuple[AllowedCaller, ...] = ()
    allow_any_caller: bool = False
    tls: TlsConfig | None = None
    limits: IntakeLimits = IntakeLimits()
    stable_seconds: float = 10.0
    workers: int = 2
    poll_seconds: float = 0.5
    database: str = "sqlite:///veil-node.db"
    spool: Path = Path("veil-spool")
    keep_sent: bool = False
    policy: str = "basic"
    profiles: tuple[str, ...] = ()
    # A study that fails a destination profile as received is held `not-eligible`; true
    # sends it anyway (the destination then decides).
    send_ineligible: bool = False
    key: Path | None = None
    lookup: Path | None = None
    # PatientIDs that name nobody (None: veil.mapping.DEFAULT_PLACEHOLDER_IDS).
    placeholder_patient_ids: tuple[str, ...] | None = None
    # Days after which links (and original UIDs) are purged; None keeps them.
    retention_days: float | None = None
    destinations: tuple[Destination, ...] = ()
    retry: RetryConfig = RetryConfig()
    return_path: ReturnPathConfig | None = None
    log_level: str = "INFO"


DEFAULT_CONFIG_NAME = "node.yaml"
DEFAULT_DATABASE_FILE = "veil-node.db"
DEFAULT_SPOOL = "veil-spool"
DEFAULT_OUTPUT = "veil-out"
RETURN_AE_TITLE = "VEIL-RETURN"
RETURN_PORT = 11113
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def default(cls: type[Any], name: str) -> Any:
    """The default of dataclass field ``name``: the one place each default is written."""
    for item in fields(cls):
        if item.name == name:
            if item.default is not MISSING:
                return item.default
            if item.default_factory is not MISSING:
                return item.default_factory()
    raise KeyError(name)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)


class _Section:
    """One mapping of the file: typed values with their defaults, unknown keys refused."""

    def __init__(self, node: YamlNode | None, where: str, origin: str) -> None:
        self.origin = origin
        self.where = where
        self.node = node
        self.values: dict[str, YamlNode] = {} if node is None else node.mapping(where or "file")
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> NodeConfigError:
        node = self.values.get(key) or self.node
        line = f"line {node.line}: " if node is not None else ""
        return NodeConfigError(f"{self.origin}: {line}{self._name(key)}: {problem}")

    def raw(self, key: str) -> YamlNode | None:
        self.used.add(key)
        value = self.values.get(key)
        if value is None or (isinstance(value.node, yaml.ScalarNode) and _is_null(value)):
            return None
        return value

    def _scalar(self, key: str, what: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value.node, yaml.ScalarNode):
            raise self.fail(key, f"must be {what}")
        return str(value.node.value).strip()

    def text(self, key: str, fallback: str) -> str:
        value = self._scalar(key, "text")
        return fallback if value is None else value

    def optional_text(self, key: str) -> str | None:
        return self._scalar(key, "text")

    def integer(self, key: str, fallback: int, low: int = 0, high: int = 2**31) -> int:
        value = self._scalar(key, "a whole number")
        if value is None:
            return fallback
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high}")
        return number

    def number(self, key: str, fallback: float, low: float = 0.0) -> float:
        value = self._scalar(key, "a number")
        if value is None:
            return fallback
        try:
            number = float(value)
        except ValueError:
            number = low - 1
        if not number >= low:
            raise self.fail(key, f"must be a number of at least {low:g}")
        return number

    def optional_number(self, key: str, low: float = 0.0) -> float | None:
        if self._scalar(key, "a number") is None:
            return None
        return self.number(key, low, low)

    def size(self, key: str, fallback: int, low: int = 1) -> int:
        """Bytes, as a whole number or with a unit: 500 MB, 2 GiB, 1.5G."""
        value = self._scalar(key, "a size such as 2 GiB")
        if value is None:
            return fallback
        match = _SIZE.match(value)
        if match is None:
            raise self.fail(
                key, "must be a size: bytes, or a number with KB, MB, GB, KiB, MiB, GiB"
            )
        unit = (match.group(2) or "").lower().rstrip("b")
        base = 1024 if unit.endswith("i") else 1000
        unit = unit.rstrip("i")
        number = int(float(match.group(1)) * (base ** ("kmgt".index(unit) + 1) if unit else 1))
        if number < low:
            raise self.fail(key, f"must be at least {low} bytes")
        return number

    def flag(self, key: str, fallback: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return fallback
        try:
            return value.flag(self._name(key))
        except VeilError:
            raise self.fail(key, "must be true or false") from None

    def path(self, key: str, base: Path, fallback: Path | None = None) -> Path | None:
        value = self._scalar(key, "a path")
        if value is None:
            return fallback
        if not value:
            raise self.fail(key, "must be a path")
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else base / candidate

    def items(self, key: str) -> list[YamlNode]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value.node, yaml.SequenceNode):
            raise self.fail(key, "must be a list")
        return value.items(self._name(key))

    def texts(self, key: str, what: str) -> list[str]:
        texts = []
        for index, item in enumerate(self.items(key)):
            if not isinstance(item.node, yaml.ScalarNode):
                raise NodeConfigError(
                    f"{self.origin}: line {item.line}: {self._name(key)}[{index}]: must be {what}"
                )
            texts.append(str(item.node.value).strip())
        return texts

    def sub(self, key: str) -> _Section | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value.node, yaml.MappingNode):
            raise self.fail(key, "must be a mapping of keys")
        return _Section(value, self._name(key), self.origin)

    def item(self, node: YamlNode, index: int, key: str) -> _Section:
        if not isinstance(node.node, yaml.MappingNode):
            where = f"{self._name(key)}[{index}]"
            raise NodeConfigError(f"{self.origin}: line {node.line}: {where}: must be a mapping")
        return _Section(node, f"{self._name(key)}[{index}]", self.origin)

    def done(self) -> None:
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key (check the spelling; see docs/node.md)")


def _is_null(node: YamlNode) -> bool:
    return node.node.tag == "tag:yaml.org,2002:null" or node.node.value in ("", "~", "null")


def _ae_title(section: _Section, key: str, fallback: str) -> str:
    title = section.text(key, fallback).strip()
    if not 1 <= len(title) <= 16 or "\\" in title or not title.isascii():
        raise section.fail(key, "an AE title has 1 to 16 ASCII characters and no backslash")
    return title


def _resolve(host: str) -> list[str]:
    """An address or network as given; a host name as every address it resolves to now."""
    try:
        _network(host)
        return [host]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _callers(section: _Section, key: str) -> tuple[AllowedCaller, ...]:
    callers = []
    for index, node in enumerate(section.items(key)):
        sub = section.item(node, index, key)
        title = _ae_title(sub, "ae_title", "")
        hosts: list[str] = []
        for host in sub.texts("hosts", "an address, a network or a host name"):
            try:
                hosts.extend(_resolve(host))
            except OSError:
                raise sub.fail(
                    "hosts",
                    f"the host name '{host}' does not resolve; give its IP address or fix "
                    "the name (names are resolved once, when the node starts)",
                ) from None
        sub.done()
        callers.append(AllowedCaller(title, tuple(hosts)))
    return tuple(callers)


def _destination(section: _Section, base: Path, default_name: str) -> Destination:
    kind_text = section.text("type", "")
    try:
        kind = DestinationKind(kind_text)
    except ValueError:
        choices = ", ".join(k.value for k in DestinationKind)
        raise section.fail("type", f"must be one of {choices}") from None

    def d(name: str) -> Any:
        return default(Destination, name)

    destination = Destination(
        name=section.text("name", default_name),
        kind=kind,
        path=section.path("path", base),
        host=section.text("host", d("host")),
        port=section.integer("port", d("port"), 1, 65535),
        ae_title=_ae_title(section, "ae_title", d("ae_title")),
        calling_ae_title=_ae_title(section, "calling_ae_title", d("calling_ae_title")),
        url=section.text("url", d("url")).rstrip("/"),
        username=section.optional_text("username"),
        password=section.optional_text("password"),
        timeout_seconds=section.number("timeout_seconds", d("timeout_seconds"), 1.0),
        associations=section.integer("associations", d("associations"), 1, 32),
    )
    section.done()
    if kind is DestinationKind.FOLDER and destination.path is None:
        raise section.fail("path", "a folder destination needs a path")
    if kind is DestinationKind.STOWRS and not destination.url.startswith(("http://", "https://")):
        raise section.fail("url", "a stowrs destination needs an http(s) URL of the DICOMweb root")
    return destination


def _limits(node: _Section) -> IntakeLimits:
    def d(name: str) -> Any:
        return default(IntakeLimits, name)

    return IntakeLimits(
        max_associations=node.integer("max_associations", d("max_associations"), 1, 1000),
        max_associations_per_address=node.integer(
            "max_associations_per_address", d("max_associations_per_address"), 1, 1000
        ),
        association_request_timeout_seconds=node.number(
            "association_request_timeout_seconds", d("association_request_timeout_seconds"), 1.0
        ),
        network_timeout_seconds=node.number(
            "network_timeout_seconds", d("network_timeout_seconds"), 1.0
        ),
        max_instance_bytes=node.size("max_instance_size", d("max_instance_bytes"), 1024),
    )


def _database(state: _Section, base: Path) -> str:
    database = state.text("database", "")
    if not database:
        return f"sqlite:///{base / DEFAULT_DATABASE_FILE}"
    if "://" not in database:
        # A plain path is a SQLite file (relative to the configuration's folder).
        candidate = Path(database).expanduser()
        return f"sqlite:///{candidate if candidate.is_absolute() else base / candidate}"
    if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        return f"sqlite:///{base / database[len('sqlite:///') :]}"
    return database


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _d(name: str) -> Any:
    return default(NodeConfig, name)


def _tls(node: _Section, base: Path) -> TlsConfig | None:
    section = node.sub("tls")
    if section is None:
        return None
    certificate = section.path("certificate", base)
    private_key = section.path("private_key", base)
    if certificate is None or private_key is None:
        raise section.fail("certificate", "TLS needs both certificate and private_key")
    tls = TlsConfig(
        certificate,
        private_key,
        section.path("ca_certificates", base),
        section.flag(
            "require_client_certificate", default(TlsConfig, "require_client_certificate")
        ),
    )
    section.done()
    return tls


def _node_fields(top: _Section, base: Path) -> dict[str, Any]:
    """The ``node:`` section: who listens where, for whom, within which limits."""
    node = top.sub("node") or _Section(None, "node", top.origin)
    fields_ = {
        "tls": _tls(node, base),
        "ae_title": _ae_title(node, "ae_title", _d("ae_title")),
        "host": node.text("host", _d("host")),
        "port": node.integer("port", _d("port"), 1, 65535),
        "allowed_callers": _callers(node, "allowed_callers"),
        "allow_any_caller": node.flag("allow_any_caller", _d("allow_any_caller")),
        "limits": _limits(node),
        "stable_seconds": node.number("stable_seconds", _d("stable_seconds"), 0.0),
        "workers": node.integer("workers", _d("workers"), 1, 64),
        "poll_seconds": node.number("poll_seconds", _d("poll_seconds"), 0.05),
        "log_level": node.text("log_level", _d("log_level")).upper(),
    }
    if fields_["log_level"] not in LOG_LEVELS:
        raise node.fail("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
    node.done()
    return fields_


def _state_fields(top: _Section, base: Path) -> dict[str, Any]:
    state = top.sub("state") or _Section(None, "state", top.origin)
    fields_ = {
        "database": _database(state, base),
        "spool": state.path("spool", base, base / DEFAULT_SPOOL) or base / DEFAULT_SPOOL,
        "keep_sent": state.flag("keep_sent", _d("keep_sent")),
    }
    state.done()
    linkage = top.sub("linkage") or _Section(None, "linkage", top.origin)
    fields_["retention_days"] = linkage.optional_number("retention_days", 0.0)
    linkage.done()
    return fields_


def _deidentify_fields(top: _Section, base: Path) -> dict[str, Any]:
    deid = top.sub("deidentify") or _Section(None, "deidentify", top.origin)
    policy = deid.text("policy", _d("policy"))
    if policy.endswith((".yaml", ".yml")) and not Path(policy).is_absolute():
        policy = str(base / policy)
    fields_ = {
        "policy": policy,
        "profiles": tuple(deid.texts("profiles", "a destination profile name or file")),
        "send_ineligible": deid.flag("send_ineligible", _d("send_ineligible")),
        "key": deid.path("key", base),
        "lookup": deid.path("lookup", base),
        "placeholder_patient_ids": None,
    }
    if deid.raw("placeholder_patient_ids") is not None:
        fields_["placeholder_patient_ids"] = tuple(
            deid.texts("placeholder_patient_ids", "a PatientID")
        )
    deid.done()
    return fields_


def _destinations(top: _Section, base: Path) -> tuple[Destination, ...]:
    destinations = [
        _destination(top.item(item, index, "destinations"), base, f"destination-{index + 1}")
        for index, item in enumerate(top.items("destinations"))
    ]
    if not destinations:
        destinations.append(
            Destination(name="folder", kind=DestinationKind.FOLDER, path=base / DEFAULT_OUTPUT)
        )
    names = [dest.name for dest in destinations]
    if len(set(names)) != len(names):
        raise NodeConfigError(f"{top.origin}: destinations: each destination needs a distinct name")
    return tuple(destinations)


def _retry(top: _Section) -> RetryConfig:
    section = top.sub("retry") or _Section(None, "retry", top.origin)

    def r(name: str) -> Any:
        return default(RetryConfig, name)

    retry = RetryConfig(
        section.integer("max_attempts", r("max_attempts"), 1, 1000),
        section.number("initial_delay_seconds", r("initial_delay_seconds"), 0.0),
        section.number("max_delay_seconds", r("max_delay_seconds"), 0.0),
    )
    section.done()
    return retry


def _return_path(top: _Section, base: Path, node_port: int) -> ReturnPathConfig | None:
    section = top.sub("return_path")
    if section is None:
        return None
    home = section.sub("home")
    if home is None:
        raise section.fail("home", "the return path needs a home destination (the home PACS)")
    return_path = ReturnPathConfig(
        ae_title=_ae_title(section, "ae_title", RETURN_AE_TITLE),
        port=section.integer("port", RETURN_PORT, 1, 65535),
        home=_destination(home, base, "home"),
        allowed_callers=_callers(section, "allowed_callers"),
    )
    section.done()
    if return_path.port == node_port:
        raise section.fail("port", "the return path needs its own port, not node.port")
    return return_path


def _refuse_open_listening(config: NodeConfig, origin: str) -> None:
    """Beyond loopback, every receiver needs an allow-list, or allow_any_caller on purpose."""
    if _is_loopback(config.host) or config.allow_any_caller:
        return
    open_receivers = [] if config.allowed_callers else ["node.allowed_callers"]
    if config.return_path is not None and not config.return_path.allowed_callers:
        open_receivers.append("return_path.allowed_callers")
    if open_receivers:
        raise NodeConfigError(
            f"{origin}: node.host: listening on {config.host} (not only this machine) needs "
            f"{' and '.join(open_receivers)} (who may send), or node.allow_any_caller: "
            "true to accept any caller on purpose"
        )


def parse_node(root: YamlNode | None, origin: str, base: Path) -> NodeConfig:
    """Build a NodeConfig from a composed YAML document; ``base`` resolves relative paths."""
    top = _Section(root, "", origin)
    node = _node_fields(top, base)
    config = NodeConfig(
        **node,
        **_state_fields(top, base),
        **_deidentify_fields(top, base),
        destinations=_destinations(top, base),
        retry=_retry(top),
        return_path=_return_path(top, base, node["port"]),
    )
    top.raw("web")  # the console's section: parsed by veil.console.config (not the node's)
    top.done()
    _refuse_open_listening(config, origin)
    return config


def parse_text(text: str, origin: str, base: Path) -> NodeConfig:
    """Parse a configuration file's text (an empty file means: every default)."""
    try:
        root = compose(text, origin, NodeConfigError, "node configuration")
    except NodeConfigError as exc:
        if "is empty" not in str(exc):
            raise
        root = None
    return parse_node(root, origin, base)


def parse_config(data: Any, origin: str, base: Path) -> NodeConfig:
    """Build a NodeConfig from parsed YAML data (a dict, as tests and tools build it)."""
    return parse_text(yaml.safe_dump(data or {}), origin, base)


def load_config(path: Path | None = None, cwd: Path | None = None) -> NodeConfig:
    """Read ``path``; with None, use ./node.yaml if present, else the built-in defaults."""
    cwd = (cwd or Path.cwd()).resolve()
    if path is None:
        candidate = cwd / DEFAULT_CONFIG_NAME
        if not candidate.exists():
            return parse_node(None, "built-in defaults", cwd)
        path = candidate
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NodeConfigError(
            f"{path}: cannot read the node configuration ({exc.strerror})"
        ) from None
    return parse_text(text, str(path), path.resolve().parent)
