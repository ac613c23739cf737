"""Type stub of the compiled parse (_parse.c); parse.py is its reference."""

from veil.engine.fast.parse import Element, Item, Unsupported

def bind(
    element: type[Element],
    item: type[Item],
    unsupported: type[Unsupported],
    raw_vrs: dict[bytes, tuple[str, bool]],
    max_depth: int,
    /,
) -> None: ...
def explicit_level(
    data: bytes, pos: int, end: int, depth: int, top: bool, last: int = ..., /
) -> tuple[list[Element], int]: ...
def raw_scan(
    elements: list[Element],
    data: bytes,
    tags: frozenset[int],
    apart: int,
    pixel_tags: frozenset[int],
    charset: int,
    implicit: bool,
    /,
) -> tuple[
    bytes, tuple[str, bytes] | None, tuple[str, bytes] | None, list[tuple[int, str, bytes]]
]: ...
def changes_key(
    data: bytes,
    chunks: list[bytes | tuple[int, int]],
    spans: dict[int, tuple[int, int]],
    ordered: tuple[int, ...],
    added: list[tuple[int, bytes]],
    /,
) -> bytes: ...
