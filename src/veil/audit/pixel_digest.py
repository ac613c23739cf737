"""A digest of a file's pixel data: pairs an output with its input when a tool regenerated
every UID but left the image alone (dicognito, gdcmanon, a pydicom script)."""

from __future__ import annotations

import hashlib
import io
import warnings

from pydicom import dcmread

from veil.io.dicomfile import GZIP_MAGIC
from veil.io.inputs import InputItem
from veil.io.limits import gunzip_bounded


def pixel_digest(item: InputItem) -> str | None:
    """SHA-256 of the Pixel Data value as stored (None: no pixel data, or unreadable).

    Only the stored bytes are hashed, never decoded: an output re-encoded in another transfer
    syntax does not pair this way (the relative-path pass may still pair it)."""
    try:
        data = item.read()
        if data[:2] == GZIP_MAGIC:
            data = gunzip_bounded(data, item.display)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(io.BytesIO(data), force=True, specific_tags=["PixelData"])
        element = ds.get_item(0x7FE00010)
    except Exception:  # unreadable here: reported when the pair is audited
        return None
    value = getattr(element, "value", None)
    if not isinstance(value, bytes | bytearray) or not value:
        return None
    return hashlib.sha256(value).hexdigest()
