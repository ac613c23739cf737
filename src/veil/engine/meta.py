"""What the engine adds around the walked dataset: the de-identification record attributes
(0012,0062-0064) and (0028,0303), and a rebuilt file meta (never the input's)."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from veil import __version__
from veil.errors import DeidentificationError
from veil.mapping import Mapper
from veil.policy.plan import Plan
from veil.standard import Option

# veil's implementation class UID: a fixed UUID-derived UID (2.25), not tied to any input.
IMPLEMENTATION_CLASS_UID = "2.25.190210463329419592453366917582934466513"
IMPLEMENTATION_VERSION = f"VEIL_{__version__.replace('.', '')}"[:16]


def method_codes(plan: Plan) -> list[Option]:
    """The options (0012,0064) declares, in the order written: the basic profile first."""
    return [Option.BASIC, *sorted(plan.declared_options, key=lambda o: o.code)]


def temporal_mark(plan: Plan, shifted: bool, present: bool) -> str | None:
    """The value of (0028,0303) Longitudinal Temporal Information Modified, or None to leave
    it as it is (absent stays absent)."""
    if Option.RETAIN_LONG_FULL_DATES in plan.options:
        return "UNMODIFIED"
    if shifted:
        return "MODIFIED"
    if present:
        return "REMOVED"
    return None


def record_attributes(ds: Dataset, plan: Plan, shifted: bool) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = list(plan.method_text)
    items = []
    for option in method_codes(plan):
        item = Dataset()
        item.CodeValue = option.code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = option.meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    mark = temporal_mark(plan, shifted, "LongitudinalTemporalInformationModified" in ds)
    if mark is not None:
        ds.LongitudinalTemporalInformationModified = mark


def transfer_syntax_of(ds: Dataset) -> str:
    """The transfer syntax the dataset was read in (inferred for files without file meta)."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return str(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def file_meta(
    source: FileMetaDataset | None, ds: Dataset, mapper: Mapper, fallback_instance: str | None
) -> FileMetaDataset:
    meta = FileMetaDataset()
    sop_class = ds.get("SOPClassUID", None) or (
        source.get("MediaStorageSOPClassUID") if source else None
    )
    # read_bytes refuses a file with no SOP Class UID in the dataset or the file meta.
    meta.MediaStorageSOPClassUID = UID(str(sop_class or ""))
    instance = ds.get("SOPInstanceUID", None)  # already remapped by the walk
    if not instance:
        # Datasets without SOP Instance UID (minimal test objects): the file meta's UID, or a
        # stand-in derived from the file content, mapped like any UID so it stays keyed.
        original = (source.get("MediaStorageSOPInstanceUID", None) if source else None) or (
            fallback_instance
        )
        if not original:
            raise DeidentificationError("no SOP Instance UID in the dataset or the file meta")
        instance = mapper.uid(str(original))
    meta.MediaStorageSOPInstanceUID = UID(str(instance))
    meta.TransferSyntaxUID = UID(transfer_syntax_of(ds))
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta
