"""The node's configuration: frozen dataclasses read from YAML, with errors that name the key.

Every setting has a default, so `veil serve` with no file runs at once: SQLite and a spool
folder in the working directory, the `basic` policy, and a folder destination. Relative paths
in a file are resolved against the file's folder; without a file, against the working folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from veil.errors import VeilError


class NodeConfigError(VeilError):
    """The node configuration is invalid; the message names the file, the key and the fix."""


class SendScope(str, Enum):
    """What of a study the node sends."""

    ALL = "all"  # every instance received
    USED_SERIES = "used-series"  # only the series the destination profiles use (the 3D T1)


class DestinationKind(str, Enum):
    FOLDER = "folder"
    CSTORE = "cstore"
    STOWRS = "stowrs"


@dataclass(frozen=True)
class AllowedCaller:
    """A sender allowed to associate: its calling AE title and, optionally, its addresses."""

    ae_title: str
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsConfig:
    certificate: Path
    private_key: Path
    ca_certificates: Path | None = None
    require_client_certificate: bool = False


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
        return min(self.max_delay_seconds, self.initial_delay_seconds * 2 ** max(0, attempt - 1))


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
    host: str = "0.0.0.0"
    port: int = 11112
    allowed_callers: tuple[AllowedCaller, ...] = ()
    tls: TlsConfig | None = None
    max_associations: int = 16
    network_timeout_seconds: float = 60.0
    stable_seconds: float = 10.0
    workers: int = 2
    poll_seconds: float = 0.5
    database: str = "sqlite:///veil-node.db"
    spool: Path = Path("veil-spool")
    keep_sent: bool = False
    policy: str = "basic"
    profiles: tuple[str, ...] = ()
    send: SendScope = SendScope.ALL
    key: Path | None = None
    lookup: Path | None = None
    destinations: tuple[Destination, ...] = ()
    retry: RetryConfig = RetryConfig()
    return_path: ReturnPathConfig | None = None
    log_level: str = "INFO"


DEFAULT_CONFIG_NAME = "node.yaml"


class _Reader:
    """Reads one mapping, remembering which keys were used so unknown keys are errors."""

    def __init__(self, data: Any, where: str, origin: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise NodeConfigError(f"{origin}: {where or 'the file'} must be a mapping of keys")
        self.data = dict(data)
        self.where = where
        self.origin = origin
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> NodeConfigError:
        return NodeConfigError(f"{self.origin}: {self._name(key)}: {problem}")

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def str_(self, key: str, default: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.fail(key, "must be text")
        return str(value)

    def opt_str(self, key: str) -> str | None:
        value = self.raw(key)
        return None if value is None else self.str_(key, "")

    def int_(self, key: str, default: int, low: int = 0, high: int = 2**31) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high}")
        return value

    def float_(self, key: str, default: float, low: float = 0.0) -> float:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, int | float) or isinstance(value, bool) or value < low:
            raise self.fail(key, f"must be a number of at least {low}")
        return float(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def path(self, key: str, base: Path, default: Path | None = None) -> Path | None:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(key, "must be a path")
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else base / candidate

    def list_(self, key: str) -> list[Any]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        return value

    def sub(self, key: str) -> _Reader | None:
        value = self.raw(key)
        if value is None:
            return None
        return _Reader(value, self._name(key), self.origin)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key (check the spelling; see docs/node.md)")


def _ae_title(reader: _Reader, key: str, default: str) -> str:
    title = reader.str_(key, default).strip()
    if not 1 <= len(title) <= 16 or "\\" in title or not title.isascii():
        raise reader.fail(key, "an AE title has 1 to 16 ASCII characters and no backslash")
    return title


def _callers(reader: _Reader, key: str) -> tuple[AllowedCaller, ...]:
    callers = []
    for index, item in enumerate(reader.list_(key)):
        sub = _Reader(item, f"{reader._name(key)}[{index}]", reader.origin)
        title = _ae_title(sub, "ae_title", "")
        hosts = sub.list_("hosts")
        if not all(isinstance(host, str) for host in hosts):
            raise sub.fail("hosts", "must be a list of addresses")
        sub.done()
        callers.append(AllowedCaller(title, tuple(hosts)))
    return tuple(callers)


def _destination(reader: _Reader, base: Path, default_name: str) -> Destination:
    kind_text = reader.str_("type", "")
    try:
        kind = DestinationKind(kind_text)
    except ValueError:
        choices = ", ".join(k.value for k in DestinationKind)
        raise reader.fail("type", f"must be one of {choices}") from None
    name = reader.str_("name", default_name)
    destination = Destination(
        name=name,
        kind=kind,
        path=reader.path("path", base),
        host=reader.str_("host", "127.0.0.1"),
        port=reader.int_("port", 104, 1, 65535),
        ae_title=_ae_title(reader, "ae_title", "ANY-SCP"),
        calling_ae_title=_ae_title(reader, "calling_ae_title", "VEIL"),
        url=reader.str_("url", "").rstrip("/"),
        username=reader.opt_str("username"),
        password=reader.opt_str("password"),
        timeout_seconds=reader.float_("timeout_seconds", 60.0, 1.0),
        associations=reader.int_("associations", 4, 1, 32),
    )
    reader.done()
    if kind is DestinationKind.FOLDER and destination.path is None:
        raise reader.fail("path", "a folder destination needs a path")
    if kind is DestinationKind.STOWRS and not destination.url.startswith(("http://", "https://")):
        raise reader.fail("url", "a stowrs destination needs an http(s) URL of the DICOMweb root")
    return destination


def parse_config(data: Any, origin: str, base: Path) -> NodeConfig:
    """Build a NodeConfig from parsed YAML; ``base`` resolves relative paths."""
    top = _Reader(data, "", origin)
    node = top.sub("node") or _Reader({}, "node", origin)
    tls_reader = node.sub("tls")
    tls = None
    if tls_reader is not None:
        certificate = tls_reader.path("certificate", base)
        private_key = tls_reader.path("private_key", base)
        if certificate is None or private_key is None:
            raise tls_reader.fail("certificate", "TLS needs both certificate and private_key")
        tls = TlsConfig(
            certificate,
            private_key,
            tls_reader.path("ca_certificates", base),
            tls_reader.bool_("require_client_certificate", False),
        )
        tls_reader.done()
    ae_title = _ae_title(node, "ae_title", "VEIL")
    host = node.str_("host", "0.0.0.0")
    port = node.int_("port", 11112, 1, 65535)
    callers = _callers(node, "allowed_callers")
    max_assoc = node.int_("max_associations", 16, 1, 1000)
    net_timeout = node.float_("network_timeout_seconds", 60.0, 1.0)
    stable = node.float_("stable_seconds", 10.0, 0.0)
    workers = node.int_("workers", 2, 1, 64)
    poll = node.float_("poll_seconds", 0.5, 0.05)
    log_level = node.str_("log_level", "INFO").upper()
    node.done()

    state = top.sub("state") or _Reader({}, "state", origin)
    database = state.str_("database", "")
    spool = state.path("spool", base, base / "veil-spool")
    keep_sent = state.bool_("keep_sent", False)
    state.done()
    if not database:
        database = f"sqlite:///{base / 'veil-node.db'}"
    elif "://" not in database:
        # A plain path is a SQLite file (relative to the configuration's folder).
        candidate = Path(database).expanduser()
        database = f"sqlite:///{candidate if candidate.is_absolute() else base / candidate}"
    elif database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        relative = database[len("sqlite:///") :]
        database = f"sqlite:///{base / relative}"

    deid = top.sub("deidentify") or _Reader({}, "deidentify", origin)
    policy_text = deid.str_("policy", "basic")
    if policy_text.endswith((".yaml", ".yml")) and not Path(policy_text).is_absolute():
        policy_text = str(base / policy_text)
    profiles = deid.list_("profiles")
    if not all(isinstance(p, str) for p in profiles):
        raise deid.fail("profiles", "must be a list of destination profile names or files")
    send_text = deid.str_("send", SendScope.ALL.value)
    try:
        send = SendScope(send_text)
    except ValueError:
        raise deid.fail("send", "must be 'all' or 'used-series'") from None
    if send is SendScope.USED_SERIES and not profiles:
        raise deid.fail(
            "send", "'used-series' needs deidentify.profiles: the profile says what is used"
        )
    key = deid.path("key", base)
    lookup = deid.path("lookup", base)
    deid.done()

    destinations = []
    for index, item in enumerate(top.list_("destinations")):
        sub = _Reader(item, f"destinations[{index}]", origin)
        destinations.append(_destination(sub, base, f"destination-{index + 1}"))
    if not destinations:
        destinations.append(
            Destination(name="folder", kind=DestinationKind.FOLDER, path=base / "veil-out")
        )
    names = [d.name for d in destinations]
    if len(set(names)) != len(names):
        raise NodeConfigError(f"{origin}: destinations: each destination needs a distinct name")

    retry_reader = top.sub("retry") or _Reader({}, "retry", origin)
    retry = RetryConfig(
        retry_reader.int_("max_attempts", 5, 1, 1000),
        retry_reader.float_("initial_delay_seconds", 5.0, 0.0),
        retry_reader.float_("max_delay_seconds", 300.0, 0.0),
    )
    retry_reader.done()

    return_path = None
    ret = top.sub("return_path")
    if ret is not None:
        home_reader = ret.sub("home")
        if home_reader is None:
            raise ret.fail("home", "the return path needs a home destination (the home PACS)")
        return_path = ReturnPathConfig(
            ae_title=_ae_title(ret, "ae_title", "VEIL-RETURN"),
            port=ret.int_("port", 11113, 1, 65535),
            home=_destination(home_reader, base, "home"),
            allowed_callers=_callers(ret, "allowed_callers"),
        )
        ret.done()
        if return_path.port == port:
            raise ret.fail("port", "the return path needs its own port, not node.port")
    top.done()

    return NodeConfig(
        ae_title=ae_title,
        host=host,
        port=port,
        allowed_callers=callers,
        tls=tls,
        max_associations=max_assoc,
        network_timeout_seconds=net_timeout,
        stable_seconds=stable,
        workers=workers,
        poll_seconds=poll,
        database=database,
        spool=spool or base / "veil-spool",
        keep_sent=keep_sent,
        policy=policy_text,
        profiles=tuple(profiles),
        send=send,
        key=key,
        lookup=lookup,
        destinations=tuple(destinations),
        retry=retry,
        return_path=return_path,
        log_level=log_level,
    )


def load_config(path: Path | None = None, cwd: Path | None = None) -> NodeConfig:
    """Read ``path``; with None, use ./node.yaml if present, else the built-in defaults."""
    cwd = (cwd or Path.cwd()).resolve()
    if path is None:
        candidate = cwd / DEFAULT_CONFIG_NAME
        if not candidate.exists():
            return parse_config({}, "built-in defaults", cwd)
        path = candidate
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NodeConfigError(
            f"{path}: cannot read the node configuration ({exc.strerror})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise NodeConfigError(f"{path}: {where}: not valid YAML") from None
    return parse_config(data, str(path), path.resolve().parent)
