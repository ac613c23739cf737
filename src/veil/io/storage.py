"""Object storage and other fsspec URLs: where inputs are read from and outputs written to.

A ``Store`` names one fsspec filesystem (protocol plus options) and a root inside it. It is a
small frozen value, so it pickles to worker processes and cluster workers; each process builds
its own filesystem object from it (fsspec caches one instance per process and options).

Writes are create-only: one PUT per object that succeeds only if no object exists under that
name (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``, Azure ``overwrite=False``), with
the sha256 of the content in the object's metadata. When the object exists, the caller compares
digests: equal means written before (a re-run, or a rescheduled task: outputs are
deterministic), different is a conflict. A PUT is atomic, so there are no partial objects.

Credentials never come from the command line: they would show in the process list and travel
to the workers with the job. Each process takes them from its environment (AWS_ACCESS_KEY_ID,
instance roles, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*...), as the libraries do.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from veil.errors import StorageError

DIGEST_KEY = "veil-sha256"  # object metadata key holding the content's sha256 (hex)
# Protocols with a conditional create that the store enforces itself.
_S3 = frozenset({"s3", "s3a"})
_GCS = frozenset({"gs", "gcs"})
_AZURE = frozenset({"az", "abfs", "abfss", "adl"})
_EXTRA_FOR = {
    **dict.fromkeys(_S3, "s3"),
    **dict.fromkeys(_GCS, "gcs"),
    **dict.fromkeys(_AZURE, "azure"),
}
# Option names that carry secrets: refused on the command line (see the module docstring).
_SECRET_WORDS = ("secret", "password", "token", "credential", "sas", "connection_string")
_SECRET_NAMES = frozenset({"key", "account_key", "access_key", "aws_access_key_id"})
# Errors that retrying does not fix: the object is missing, exists, or we may not touch it.
_FINAL_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
RETRY_ATTEMPTS = 4
RETRY_FIRST_DELAY = 0.2  # seconds; doubled per attempt, with jitter

T = TypeVar("T")


def is_url(text: str) -> bool:
    """True for ``protocol://...`` (s3://, gs://, az://, memory://, file://...)."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isascii() and head.replace("+", "").replace("-", "").isalnum()


def local_path_of(url: str) -> str | None:
    """The local path of a ``file://`` URL (read and written like a plain path), else None."""
    if url.startswith("file://"):
        return url[len("file://") :] or "/"
    return None


def _secret_in(name: str, value: Any) -> bool:
    """A credential's name, here or nested (client_kwargs={"aws_secret_access_key": ...})."""
    lowered = name.lower()
    if lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS):
        return True
    if isinstance(value, dict):
        return any(_secret_in(str(k), v) for k, v in value.items())
    return False


def parse_storage_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (values as JSON when they parse: true, 3, {"a": 1}; else text)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            # The text itself is not echoed: it may be a credential typed the wrong way.
            raise StorageError(
                "--storage-option: expected KEY=VALUE, e.g. endpoint_url=https://host:9000"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        if _secret_in(name, value):
            raise StorageError(
                f"--storage-option {name}: credentials are not taken on the command line (they "
                "would show in the process list and travel to every worker); set them in the "
                "environment of this machine and of every worker (e.g. AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, an instance role, GOOGLE_APPLICATION_CREDENTIALS)"
            )
        options[name] = value
    return options


def with_retries(action: Callable[[], T], attempts: int = RETRY_ATTEMPTS) -> T:
    """Run a storage call, retrying transient errors with exponential backoff and jitter.

    Throttling, timeouts and dropped connections surface as OSError from fsspec's backends;
    missing, existing and forbidden objects are answers, not hiccups, and are not retried.
    """
    delay = RETRY_FIRST_DELAY
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except _FINAL_ERRORS:
            raise
        except (OSError, TimeoutError):
            if attempt == attempts:
                raise
        time.sleep(delay * (0.5 + random.random()))  # jitter: workers do not retry in step
        delay *= 2
    raise AssertionError("unreachable")


def _filesystem(protocol: str, options: Mapping[str, Any]) -> Any:
    import fsspec  # type: ignore[import-untyped]  # a core dependency without type information

    try:
        return fsspec.filesystem(protocol, **options)
    except ImportError:
        extra = _EXTRA_FOR.get(protocol)
        hint = f"pip install 'veil[{extra}]'" if extra else "install its fsspec backend"
        raise StorageError(f"{protocol}:// URLs need an extra package: {hint}") from None
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise StorageError(f"{protocol}://: {type(exc).__name__}: not a known storage") from None
    except TypeError as exc:
        raise StorageError(
            f"{protocol}://: a --storage-option is not understood by this storage "
            f"({type(exc).__name__}); check the option names"
        ) from None


@dataclass(frozen=True)
class Store:
    """A root inside one fsspec filesystem; pickles as its description, not its connection."""

    protocol: str
    root: str  # without the protocol and without a trailing slash
    options: tuple[tuple[str, Any], ...] = field(default=(), compare=True)

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, Any] | None = None) -> Store:
        protocol, _, rest = url.partition("://")
        if not is_url(url) or not rest.strip("/"):
            raise StorageError(f"{url}: expected PROTOCOL://BUCKET/PREFIX (e.g. s3://bucket/in)")
        protocol = protocol.lower()
        frozen = tuple(sorted((options or {}).items()))
        return cls(protocol, rest.rstrip("/"), frozen)

    @property
    def fs(self) -> Any:
        """The filesystem in this process (fsspec keeps one per protocol and options)."""
        return _filesystem(self.protocol, dict(self.options))

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.root}"

    def path(self, relative: str) -> str:
        """The full path of an object under the root (``relative`` uses POSIX separators)."""
        return f"{self.root}/{relative.lstrip('/')}" if relative else self.root

    def url_of(self, relative: str) -> str:
        return f"{self.protocol}://{self.path(relative)}"

    def child(self, relative: str) -> Store:
        return Store(self.protocol, self.path(relative).rstrip("/"), self.options)

    def contains(self, other: Store) -> bool:
        """True when ``other`` is this store's root or lies below it (same protocol)."""
        if self.protocol != other.protocol:
            return False
        return other.root == self.root or other.root.startswith(self.root + "/")

    # -- reading --------------------------------------------------------------------------
    def read(self, relative: str) -> bytes:
        """One whole object (one GET; veil needs every byte of a file anyway)."""
        data: bytes = with_retries(lambda: self.fs.cat_file(self.path(relative)))
        return data

    def read_path(self, path: str, limit: int | None = None) -> bytes:
        """An object by its full path; with ``limit``, at most that many bytes (one ranged
        GET: an oversized object never fills memory)."""
        if limit is None:
            data: bytes = with_retries(lambda: self.fs.cat_file(path))
        else:
            data = with_retries(lambda: self.fs.cat_file(path, start=0, end=limit))
        return data

    def exists(self, relative: str) -> bool:
        return bool(with_retries(lambda: self.fs.exists(self.path(relative))))

    def list_names(self, relative: str) -> list[str]:
        """Object names directly under a prefix (one LIST); empty when there is none."""
        base = self.path(relative).rstrip("/")
        try:
            found = with_retries(lambda: self.fs.ls(base, detail=False, refresh=True))
        except FileNotFoundError:
            return []
        except TypeError:  # backends without the refresh keyword
            try:
                found = with_retries(lambda: self.fs.ls(base, detail=False))
            except FileNotFoundError:
                return []
        return sorted(str(name).rstrip("/").rsplit("/", 1)[-1] for name in found)

    # -- writing --------------------------------------------------------------------------
    def put_new(self, relative: str, data: bytes) -> bool:
        """Create the object only if absent; True when written, False when it was there already
        with the same content. Raises FileExistsError when it exists with other content."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(relative)
        try:
            with_retries(lambda: self._create(path, data, digest))
            return True
        except FileExistsError:
            pass
        if self.digest_of(path) == digest:
            return False  # written before: a re-run or a rescheduled task (same bytes)
        raise FileExistsError(relative)

    def put(self, relative: str, data: bytes) -> None:
        """Write (replace) an object: for --overwrite and the report, which a re-run rewrites."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(relative)
        with_retries(lambda: self._write(path, data, digest))

    def digest_of(self, path: str) -> str:
        """The sha256 of an object: from its metadata where veil put it, else from its bytes."""
        fs = self.fs
        try:
            if self.protocol in _S3:
                found = with_retries(lambda: fs.metadata(path)).get(DIGEST_KEY)
            elif self.protocol in _GCS:
                info = with_retries(lambda: fs.info(path))
                found = (info.get("metadata") or {}).get(DIGEST_KEY)
            else:
                found = None
        except (OSError, AttributeError, TypeError):
            found = None
        if isinstance(found, str) and found:
            return found
        return hashlib.sha256(self.read_path(path)).hexdigest()

    def _create(self, path: str, data: bytes, digest: str) -> None:
        fs = self.fs
        if self.protocol in _S3:
            # One PUT up to 5 GB: s3fs sends If-None-Match only on single-part uploads.
            fs.pipe_file(
                path,
                data,
                mode="create",
                chunksize=max(len(data), 50 * 2**20),
                Metadata={DIGEST_KEY: digest},
            )
        elif self.protocol in _GCS:
            # gcsfs adds ifGenerationMatch=0 to simple and resumable uploads alike.
            fs.pipe_file(path, data, mode="create", metadata={DIGEST_KEY: digest})
        elif self.protocol in _AZURE:
            fs.pipe_file(path, data, mode="create")  # adlfs sets its own metadata: digest read back
        else:
            # Stores without a conditional PUT (memory://, others): check, then write. Outputs
            # are deterministic, so two writers of one name write the same bytes.
            if fs.exists(path):
                raise FileExistsError(path)
            self._write(path, data, digest)

    def _write(self, path: str, data: bytes, digest: str) -> None:
        fs = self.fs
        if self.protocol in _S3:
            fs.pipe_file(
                path, data, chunksize=max(len(data), 50 * 2**20), Metadata={DIGEST_KEY: digest}
            )
        elif self.protocol in _GCS:
            fs.pipe_file(path, data, metadata={DIGEST_KEY: digest})
        else:
            parent = path.rsplit("/", 1)[0]
            if parent and self.protocol not in _AZURE:
                fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(path, data)
