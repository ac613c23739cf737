"""The engine: applies a compiled plan to one dataset (no I/O here)."""

from __future__ import annotations

import copy

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from veil import __version__
from veil.engine.walk import Context, Recorder, Walker, _identifying_values, blob_needles
from veil.errors import DeidentificationError, value_free_text
from veil.mapping import Mapper, Patient
from veil.policy.plan import Plan
from veil.standard import Option

# veil's implementation class UID: a fixed UUID-derived UID (2.25), not tied to any input.
IMPLEMENTATION_CLASS_UID = "2.25.190210463329419592453366917582934466513"
IMPLEMENTATION_VERSION = f"VEIL_{__version__.replace('.', '')}"[:16]

__all__ = ["IMPLEMENTATION_CLASS_UID", "Recorder", "deidentify"]


def _record_attributes(ds: Dataset, plan: Plan, shifted: bool) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = list(plan.method_text)
    items = []
    for option in [Option.BASIC, *sorted(plan.declared_options, key=lambda o: o.code)]:
        item = Dataset()
        item.CodeValue = option.code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = option.meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    if Option.RETAIN_LONG_FULL_DATES in plan.options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif shifted:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    elif "LongitudinalTemporalInformationModified" in ds:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def transfer_syntax_of(ds: Dataset) -> str:
    """The transfer syntax the dataset was read in (inferred for files without file meta)."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return str(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _file_meta(
    source: FileMetaDataset | None, ds: Dataset, mapper: Mapper, fallback_instance: str | None
) -> FileMetaDataset:
    meta = FileMetaDataset()
    sop_class = ds.get("SOPClassUID", None) or (
        source.get("MediaStorageSOPClassUID") if source else None
    )
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


def deidentify(
    ds: Dataset,
    plan: Plan,
    mapper: Mapper,
    *,
    recorder: Recorder | None = None,
    in_place: bool = False,
    fallback_instance_uid: str | None = None,
) -> Dataset:
    """De-identify one dataset by the plan; the input object is untouched unless ``in_place``.

    ``fallback_instance_uid`` stands in for a missing SOP Instance UID (e.g. a digest of the
    file) when the output file meta needs one. Raises DeidentificationError (naming the tag,
    never a value) when a value cannot be handled: the caller must then write nothing for
    this dataset (fail closed).
    """
    work = ds if in_place else copy.deepcopy(ds)
    source_meta = getattr(ds, "file_meta", None)
    ctx = Context(
        plan=plan,
        mapper=mapper,
        sop_class=str(work.get("SOPClassUID", "") or ""),
        patient=Patient.of(work),
        recorder=recorder,
    )
    walker = Walker(ctx)
    try:
        if plan.derive_age:
            walker.derive_age(work)
        if (
            plan.shift_dates
            or Option.CLEAN_DESCRIPTORS in plan.options
            or (Option.CLEAN_STRUCTURED_CONTENT in plan.options)
        ):
            ctx.identifying = _identifying_values(work)
        if any(rule.action == "C" for rule in plan.private_keep.values()):
            ctx.blob_needles = blob_needles(work, plan)
        walker.walk(work, (), "")
        walker.add_missing(work)
        _record_attributes(work, plan, ctx.shifted)
    except DeidentificationError:
        raise
    except Exception as exc:  # pydicom raises many kinds on malformed values
        raise DeidentificationError(
            f"cannot de-identify this dataset safely ({type(exc).__name__}: "
            f"{value_free_text(exc, 120)}); nothing was written for it"
        ) from None
    work.file_meta = _file_meta(source_meta, work, mapper, fallback_instance_uid)
    # The 128-byte preamble is free-form (TIFF headers, text): never carry the input's over.
    if getattr(work, "preamble", None) is not None:
        work.preamble = b"\0" * 128
    return work
