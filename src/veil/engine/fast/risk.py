"""The burned-in text decisions of a fast-path file, from the few header values they read.

``veil.pixels.burned_in_risk`` (the always-on flag) and ``veil.pixels.step_needed`` (must the
file go through the pixel step, hence the reference path) judge a header. Without Clean Pixel
Data they read a dozen top-level attributes and the transfer syntax, so the header given to
them here holds only those, as pydicom's raw elements (decoded as a dataset read by pydicom
decodes them), and the answer is memoised on their raw values: they are the same in every file
of a series. With Clean Pixel Data, region rules may read any attribute: the whole top level.
"""

from __future__ import annotations

from functools import lru_cache

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import UID

from veil.dicom import tag_of
from veil.engine.fast.header import PIXEL_TAGS, header_dataset
from veil.engine.fast.parse import ParsedFile
from veil.pixels import BurnedInRisk, burned_in_risk, step_needed
from veil.pixels.settings import PixelSettings

# What burned_in_risk reads of the dataset (step_needed without Clean Pixel Data reads no more).
RISK_TAGS = frozenset(
    tag_of(keyword)
    for keyword in (
        "SOPClassUID",
        "Modality",
        "ImageType",
        "BurnedInAnnotation",
        "ConversionType",
        "EncapsulatedDocument",
        "NumberOfFrames",
        "FrameTime",
        "FrameTimeVector",
        "CineRate",
        "RecommendedDisplayFrameRate",
        "PixelData",
    )
)
_Key = tuple[tuple[int, str, bytes], ...]


def pixel_decisions(parsed: ParsedFile, pixels: PixelSettings) -> tuple[bool, BurnedInRisk]:
    """(``step_needed``, ``burned_in_risk``) of the input's header, as the reference path
    judges its dataset read by pydicom (file meta included: video transfer syntaxes)."""
    if pixels.clean:
        header = header_dataset(parsed)
        header.file_meta = _file_meta(parsed.transfer_syntax)
        return step_needed(header, pixels), burned_in_risk(header)
    data = parsed.data
    key = tuple(
        (e.tag, e.vr, b"" if e.tag in PIXEL_TAGS else data[e.value_start : e.value_end])
        for e in parsed.elements
        if e.tag in RISK_TAGS
    )
    return _decided(key, parsed.transfer_syntax, pixels)


@lru_cache(maxsize=256)
def _decided(key: _Key, syntax: str, pixels: PixelSettings) -> tuple[bool, BurnedInRisk]:
    header = Dataset()
    for tag, vr, value in key:
        header._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    header.file_meta = _file_meta(syntax)
    return step_needed(header, pixels), burned_in_risk(header)


def _file_meta(syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(syntax)
    return meta


__all__ = ["RISK_TAGS", "pixel_decisions"]
