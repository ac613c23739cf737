"""Scenario: a file bigger than one scan chunk; hits across chunk borders are found once."""

from __future__ import annotations

import pytest

from veil.audit import raw_search
from veil.audit.findings import Kind
from veil.audit.forms import Edge, Needle
from veil.audit.identifiers import Identifier

IDENT = Identifier(Kind.PATIENT_ID, "(0010,0020)", 0x00100020, "LO", "ABCDEF")
NEEDLE = Needle(IDENT, "abcdef", "ID as stored", Edge.WORD, Edge.WORD, True)
DATA = b"..ABCDEF...xabcdef..abcdef" + b"." * 5 + b"ABCDEF"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 8, 13, 1 << 20])
def test_hits_are_the_same_whatever_the_chunk_size(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(raw_search, "CHUNK", chunk)
    hits = raw_search.scan(DATA, [(b"abcdef", NEEDLE, "latin-1")])
    # "xabcdef" is not a hit: a letter touches the ID.
    assert sorted(h.offset for h in hits) == [2, 20, 31]
