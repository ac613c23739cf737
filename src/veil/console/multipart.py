"""A streaming multipart/form-data reader for uploads: file parts go where the caller says as
the bytes arrive, text fields stay small, and every limit is checked before memory or disk is
used.

Starlette's own form parser spools file parts to the system's temporary folder; uploads here
are originals, so they go straight to an owner-only job folder (or, for a sample, to memory up
to its limit), and a request over a limit stops as soon as it crosses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from veil.console.uploads import UploadRefused

MAX_FIELDS = 100
MAX_FIELD_BYTES = 64 * 1024
MAX_FILES = 10_000


class FileSink(Protocol):
    """Where one file part's bytes go; ``write`` raises UploadRefused past its limit."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


# Called for each file part with its field name and file name: the sink of its bytes.
FileHandler = Callable[[str, str], FileSink]


class MemorySink:
    """A file part kept in memory, up to ``limit`` bytes (a sample)."""

    def __init__(self, limit: int, refusal: str) -> None:
        self.limit = limit
        self.refusal = refusal
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        if len(self.data) + len(data) > self.limit:
            raise UploadRefused(self.refusal, 413)
        self.data.extend(data)

    def close(self) -> None:
        self.closed = True


class _Reader:
    """The parser's callbacks: headers, fields, and file bytes passed on to their sinks."""

    def __init__(self, on_file: FileHandler) -> None:
        self.on_file = on_file
        self.fields: dict[str, list[str]] = {}
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.field_name = ""
        self.field_data: bytearray | None = None
        self.sink: FileSink | None = None
        self.field_count = 0
        self.file_count = 0

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.headers = {}

    def _header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def _headers_finished(self) -> None:
        _kind, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            self.field_count += 1
            if self.field_count > MAX_FIELDS:
                raise UploadRefused(f"more than {MAX_FIELDS} form fields", 413)
            self.field_name, self.field_data = name, bytearray()
            return
        self.file_count += 1
        if self.file_count > MAX_FILES:
            raise UploadRefused(f"more than {MAX_FILES} files in one request", 413)
        self.sink = self.on_file(name, filename.decode("utf-8", "replace"))

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.sink is not None:
            self.sink.write(bytes(data[start:end]))
        elif self.field_data is not None:
            self.field_data.extend(data[start:end])
            if len(self.field_data) > MAX_FIELD_BYTES:
                raise UploadRefused(f"a form field larger than {MAX_FIELD_BYTES} bytes", 413)

    def _end(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        elif self.field_data is not None:
            text = self.field_data.decode("utf-8", "replace")
            self.fields.setdefault(self.field_name, []).append(text)
            self.field_data = None


async def read_multipart(request: Request, on_file: FileHandler) -> dict[str, list[str]]:
    """Read a multipart body: text fields are returned (at most 100, each at most 64 KiB);
    each file part's bytes go to the sink ``on_file`` gives for it, as they arrive."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused("send multipart/form-data (fields and files)", 415)
    reader = _Reader(on_file)
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    async for chunk in request.stream():
        parser.write(chunk)
    parser.finalize()
    if reader.sink is not None:  # a body cut short inside a file part
        reader.sink.close()
        raise UploadRefused("the request ended inside a file", 400)
    return reader.fields


__all__ = ["FileHandler", "FileSink", "MemorySink", "read_multipart"]
