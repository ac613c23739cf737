"""The engine: applies a compiled plan to one dataset (no I/O here).

``deidentify`` is the reference path on a pydicom dataset; ``veil.engine.fast`` rewrites the
element stream of a file's bytes and hands over to the reference path (``Fallback``) for
whatever it does not handle. Both apply the same handlers (veil.engine.handlers).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from pydicom.dataset import Dataset

from veil.audit.identifiers import identifying_values
from veil.engine.age import derive_age
from veil.engine.blobs import blob_needles
from veil.engine.context import Context, Decision, Mode, Recorder
from veil.engine.meta import IMPLEMENTATION_CLASS_UID, file_meta, record_attributes
from veil.engine.walk import Walker
from veil.errors import DeidentificationError, value_free_text
from veil.mapping import Mapper, Patient
from veil.policy.model import Action
from veil.policy.plan import Plan
from veil.standard import Option
from veil.text import IdentifyingValue, TextContext

__all__ = ["IMPLEMENTATION_CLASS_UID", "Decision", "Mode", "Recorder", "deidentify"]


def needs_identifying_values(plan: Plan) -> bool:
    """Whether cleaning may need the patient's identifying values (text cleaning)."""
    return (
        plan.shift_dates
        or Option.CLEAN_DESCRIPTORS in plan.options
        or Option.CLEAN_STRUCTURED_CONTENT in plan.options
    )


def masks_private_blobs(plan: Plan) -> bool:
    return any(rule.action is Action.CLEAN for rule in plan.private_keep.values())


def deidentify(
    ds: Dataset,
    plan: Plan,
    mapper: Mapper,
    *,
    recorder: Recorder | None = None,
    in_place: bool = False,
    fallback_instance_uid: str | None = None,
    identifying: Sequence[IdentifyingValue] | None = None,
) -> Dataset:
    """De-identify one dataset by the plan; the input object is untouched unless ``in_place``.

    ``fallback_instance_uid`` stands in for a missing SOP Instance UID (e.g. a digest of the
    file) when the output file meta needs one. ``identifying``: the input's values that Clean
    Descriptors / Structured Content remove, when the caller collected them already (the
    audit's ``Prepared.values_to_clean()``); by default the engine collects them. Raises
    DeidentificationError (naming the tag, never a value) when a value cannot be handled: the
    caller must then write nothing for this dataset (fail closed).
    """
    work = ds if in_place else copy.deepcopy(ds)
    source_meta = getattr(ds, "file_meta", None)
    ctx = Context(
        plan=plan,
        mapper=mapper,
        sop_class=str(work.get("SOPClassUID", "") or ""),
        patient=Patient.of(work),  # before anything changes: pseudonym and date offset
        recorder=recorder,
    )
    walker = Walker(ctx)
    try:
        if plan.derive_age:
            derive_age(work, ctx.record)
        if needs_identifying_values(plan):
            # The same values the audit will search the output for (veil.text forms).
            if identifying is None:
                identifying = identifying_values(work, plan.declared_options)
            ctx.text = TextContext.of(identifying)
        if masks_private_blobs(plan):
            ctx.blob_needles = blob_needles(work, plan)
        walker.walk(work, (), "")
        walker.add_missing(work)
        record_attributes(work, plan, ctx.shifted)
    except DeidentificationError:
        raise
    except Exception as exc:  # pydicom raises many kinds on malformed values
        raise DeidentificationError(
            f"cannot de-identify this dataset safely ({type(exc).__name__}: "
            f"{value_free_text(exc, 120)}); nothing was written for it"
        ) from None
    work.file_meta = file_meta(source_meta, work, mapper, fallback_instance_uid)
    # The 128-byte preamble is free-form (TIFF headers, text): never carry the input's over.
    if getattr(work, "preamble", None) is not None:
        work.preamble = b"\0" * 128
    return work
