"""The CSRF token of a browser form posted without JavaScript's header: read from the body.

A URL-encoded form is small and read whole. A multipart form (a sample, a policy file) may be
hundreds of megabytes, so only its first part is read: the console's templates put the
``csrf_token`` hidden field first in every form, and browsers send fields in document order.
What was read is handed back to be replayed in front of the rest of the stream, so the route
still streams the upload to its own limits; nothing past the first part is held here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from python_multipart.multipart import MultipartParser, parse_options_header

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

MAX_FORM_BYTES = 256 * 1024  # sign-in, actions and lookups are small
MAX_PREFIX_BYTES = 64 * 1024  # a multipart form's first part (the token) must end within this
MAX_TOKEN_BYTES = 256


class FormTooLarge(Exception):
    """A URL-encoded form over MAX_FORM_BYTES."""


class _FirstPart:
    """Parser callbacks that keep the first part's name and (bounded) value only."""

    def __init__(self) -> None:
        self.field = b""
        self.value = b""
        self.disposition = b""
        self.data = bytearray()
        self.done = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def _header_end(self) -> None:
        if not self.done and self.field.lower() == b"content-disposition":
            self.disposition = self.value
        self.field = self.value = b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.done and len(self.data) <= MAX_TOKEN_BYTES:
            self.data += data[start:end]

    def _part_end(self) -> None:
        self.done = True

    def token(self, field_name: str) -> str | None:
        if not self.done or len(self.data) > MAX_TOKEN_BYTES:
            return None
        _kind, options = parse_options_header(self.disposition)
        if options.get(b"name") != field_name.encode():
            return None
        return self.data.decode("ascii", "replace")


async def _message(receive: Receive) -> tuple[bytes, bool]:
    message = await receive()
    if message["type"] != "http.request":
        return b"", False
    return message.get("body", b""), bool(message.get("more_body", False))


async def urlencoded_token(receive: Receive, field_name: str) -> tuple[str | None, list[bytes]]:
    """The token of a URL-encoded form, and the body read (to replay). FormTooLarge past
    MAX_FORM_BYTES."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        chunk, more = await _message(receive)
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormTooLarge
        chunks.append(chunk)
    values = parse_qs(b"".join(chunks).decode("latin-1"), max_num_fields=200).get(field_name)
    return (values[0] if values else None), chunks


async def multipart_token(
    receive: Receive, content_type: str, field_name: str
) -> tuple[str | None, list[bytes], bool]:
    """The token in a multipart form's first part; the chunks read (to replay) and whether the
    body goes on after them. None when the first part is not the token or does not end within
    MAX_PREFIX_BYTES."""
    _kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        return None, [], True
    first = _FirstPart()
    parser = MultipartParser(boundary, first.callbacks())  # type: ignore[arg-type]
    chunks: list[bytes] = []
    size, more = 0, True
    while more and not first.done and size <= MAX_PREFIX_BYTES:
        chunk, more = await _message(receive)
        chunks.append(chunk)
        size += len(chunk)
        try:
            parser.write(chunk)
        except Exception:  # a malformed body: no token; the route never sees it
            return None, chunks, more
    return first.token(field_name), chunks, more


def replay(chunks: list[bytes], more: bool, receive: Receive) -> Receive:
    """A receive that gives ``chunks`` again, then (when ``more``) the rest of the stream."""
    pending = list(chunks)

    async def again() -> Message:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending) or more}
        if more:
            return await receive()
        return {"type": "http.disconnect"}

    return again


__all__ = [
    "MAX_FORM_BYTES",
    "FormTooLarge",
    "multipart_token",
    "replay",
    "urlencoded_token",
]
