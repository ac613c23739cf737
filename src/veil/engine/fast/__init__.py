"""The streaming fast path: a file's bytes in, the de-identified file's bytes out.

``deidentify_bytes`` is tried first for every file. It rewrites the element stream by the plan
(veil.engine.fast.rewrite) and audits the result (veil.engine.fast.audit); whatever it does
not take, or anything the audit may report, comes back as a ``Fallback`` (a value, with a
short reason that names no value), and the caller hands the same bytes to the reference path
(veil.engine.deidentify), which stays the definition of the output. Tests hold the two paths
to the same bytes on tests/ data, the whole corpus, the benchmark corpus and generated
datasets; with ``verify=True`` a run does the same check per file and falls back on a
difference.

Taken: Part 10 files in explicit VR little endian (native or encapsulated pixel data) or
implicit VR little endian (VRs as pydicom's reader gives them, written back in implicit VR);
character sets ASCII, the single-byte ISO 8859 sets (ISO_IR 100 to 148, 166) and UTF-8
(ISO_IR 192); any plan, private-blob masking included (the needles come from a pre-scan of
the element tree, veil.engine.fast.needles). Handed over: big endian, deflate, no DICM marker,
gzip, DICOMDIR, a dataset contradicting its syntax, UN elements kept or of undefined length,
implicit VR values of undefined length other than sequences, ISO 2022 code extensions, Shift
JIS and GB18030, another character set in an item, identifying values with non-ASCII letters
that have case (the audit's byte scan folds ASCII only), UTF-8 text holding U+212A (it lowers
to ASCII), and any file the reference reader would refuse or warn about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veil.engine.context import Context
from veil.engine.fast import audit as fast_audit
from veil.engine.fast.memo import memoised
from veil.engine.fast.parse import ParsedFile, Unsupported, parse_file
from veil.engine.fast.rewrite import Rewriter, TopChanges
from veil.mapping import Mapper, Patient
from veil.policy.plan import Plan


@dataclass(frozen=True)
class Fallback:
    """The fast path hands this file to the reference path; ``reason`` names no value."""

    reason: str


@dataclass(frozen=True)
class FastOutput:
    """A de-identified file from the fast path, audited clean when the audit was asked for."""

    encoded: bytes
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    patient: Patient  # the input's identity, for the pseudonym (never written anywhere)
    parsed: ParsedFile = field(repr=False)  # the input's element tree (for the checks)
    # The output's element tree when the audit parsed it, else None.
    output: ParsedFile | None = field(default=None, repr=False)
    # The top-level elements the rewrite may have changed, removed or added (for the checks).
    changes: TopChanges | None = field(default=None, repr=False)
    # The input's error-level identifiers the audit collected (None: it did not run); the
    # output's name is checked against them (veil.batch.naming).
    found: dict[int, list[fast_audit.Found]] | None = field(default=None, repr=False)


def deidentify_bytes(
    data: bytes, plan: Plan, mapper: Mapper, *, audit: bool
) -> FastOutput | Fallback:
    """The de-identified file for ``data``, or a Fallback. Never raises for bad input."""
    output = None
    try:
        parsed = parse_file(data)
        context = Context(plan, memoised(mapper), "", Patient(""))
        rewriter = Rewriter(parsed, plan, context, audit)
        result = rewriter.run()
        view = memoryview(data)
        encoded = b"".join(
            [
                view[chunk[0] : chunk[1]] if isinstance(chunk, tuple) else chunk
                for chunk in result.chunks
            ]
        )
        if audit and fast_audit.reference_would_report(encoded, rewriter.found):
            return Fallback("audit: a possible finding")
        if audit:
            # The output's own elements, parsed without pydicom (~0.1 ms): the shapes are
            # judged on what is written, as the reference audit reads it.
            output = parse_file(encoded)
            if fast_audit.shapes_in_free_text(output):
                return Fallback("audit: identifying text by its shape")
    except Unsupported as unsupported:
        return Fallback(unsupported.reason)
    except Exception as exc:  # a value the fast path cannot take: the reference path decides
        return Fallback(f"error ({type(exc).__name__})")
    return FastOutput(
        encoded,
        result.sop_instance_uid,
        result.study_uid,
        result.series_uid,
        result.patient,
        parsed,
        output,
        result.changes,
        rewriter.found if audit else None,
    )


__all__ = ["Fallback", "FastOutput", "deidentify_bytes"]
