"""Attack tests: the input limits of issue 9 (veil.io.limits) hold for objects in a store.

A zip bomb, an archive of a million members, an object larger than a file may be, or a member
whose name leaves the output folder must cost veil no more in s3:// than on a local disk: each
becomes an input with a problem naming it, the batch goes on, and nothing is decompressed or
downloaded beyond the limit. (FIFOs, devices and link loops have no equivalent in an object
store; file:// URLs are local paths and go through veil.io.inputs itself.)
"""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest

from tests.conftest import TEST_KEY
from veil.batch import Job, process_item
from veil.errors import InputFileError
from veil.io.limits import MIB, InputLimits
from veil.io.storage import Store
from veil.io.stored_inputs import StoredItem, iter_stored
from veil.mapping import Mapper
from veil.pipeline import Outcome
from veil.policy import compile_plan, load_policy


def _store() -> Store:
    return Store.from_url(f"memory://{uuid.uuid4().hex}/in")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_in_a_store_is_reported_and_never_decompressed() -> None:
    store = _store()
    store.put("bomb.zip", _zip({"zeros.dcm": bytes(40 * MIB)}))  # ~40 kB, expands 1000 times

    (item,) = list(iter_stored(store, multiple=False))

    assert item.problem is not None and "decompression bomb" in item.problem
    plan = compile_plan(load_policy("basic"), [])
    record = process_item(item, Job(plan, Mapper(bytes.fromhex(TEST_KEY)), out=None))
    assert record.outcome is Outcome.FAILED
    assert record.problem is not None and "bomb.zip!zeros.dcm" in record.problem
    assert not record.retry  # bad input: never retried


def test_an_archive_with_too_many_members_is_one_reported_input() -> None:
    store = _store()
    store.put("many.zip", _zip({f"{n}.dcm": b"x" for n in range(5)}))

    listed = list(iter_stored(store, multiple=False, limits=InputLimits(max_members=4)))

    assert len(listed) == 1 and listed[0].display.endswith("many.zip")
    assert listed[0].problem is not None and "5 members" in listed[0].problem


def test_an_object_larger_than_a_file_may_be_is_refused_from_its_listing() -> None:
    store = _store()
    store.put("big.dcm", bytes(5000))

    (item,) = list(iter_stored(store, multiple=False, limits=InputLimits(max_file_bytes=1000)))

    assert item.problem is not None and "file too large (5000 bytes" in item.problem
    with pytest.raises(InputFileError, match="file too large"):
        item.read()


def test_an_object_that_grew_after_listing_is_read_only_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _store()
    store.put("grew.dcm", bytes(5000))
    asked: list[tuple[int | None, int | None]] = []
    cat_file = type(store.fs).cat_file

    def recording(self: object, path: str, start: int | None = None, end: int | None = None,
                  **kwargs: object) -> bytes:  # fmt: skip
        asked.append((start, end))
        data: bytes = cat_file(self, path, start=start, end=end, **kwargs)
        return data

    monkeypatch.setattr(type(store.fs), "cat_file", recording)
    item = StoredItem(
        "memory://grew.dcm", "grew.dcm", store.path("grew.dcm"), None, 10, None, 100, store
    )

    with pytest.raises(InputFileError, match="larger than the limit of 100 bytes"):
        item.read()
    assert asked == [(0, 101)]  # one ranged GET: never the whole object
