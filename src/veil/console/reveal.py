"""Re-identification lookup: a pseudonym to its originals, through the linkage store's API.

The console never reads the link_* tables itself: it asks the linkage lookup
(``veil.node.linkage.LinkageLookup``, implemented by the node's store) exactly what the return
path asks, so sealing or encrypting the linkage store changes nothing here. The caller
(``pages``/``api``) checks the ``reveal-originals`` permission, requires a reason, and writes
the audit-log entry before the answer leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from veil.errors import VeilError
from veil.node.linkage import LinkageLookup

MIN_REASON = 8
MAX_REASON = 500
_PSEUDONYM = re.compile(r"^[A-Za-z0-9.\-_^ ]{1,64}$")


class RevealError(VeilError):
    """A lookup request is malformed (no reason, not a pseudonym)."""


@dataclass(frozen=True)
class Revealed:
    """Originals for one pseudonym. Never logged; shown to a reidentifier only."""

    pseudonym: str
    kind: str  # "patient" or "study"
    patient_id: str = field(repr=False)
    patient_name: str = field(repr=False)
    study_uid: str = field(default="", repr=False)
    accession: str = field(default="", repr=False)


def check_request(pseudonym: str, reason: str) -> tuple[str, str]:
    pseudonym, reason = pseudonym.strip(), " ".join(reason.split())
    if not _PSEUDONYM.match(pseudonym):
        raise RevealError(
            "give a patient pseudonym (as the studies page shows it) or a de-identified "
            "StudyInstanceUID"
        )
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise RevealError(
            f"a reason is required ({MIN_REASON} to {MAX_REASON} characters): it goes to the "
            "audit log with your name"
        )
    return pseudonym, reason


def lookup(linkage: LinkageLookup, pseudonym: str) -> Revealed | None:
    """The originals behind a patient pseudonym or a de-identified StudyInstanceUID."""
    patient = linkage.patient(pseudonym)
    if patient is not None:
        return Revealed(
            pseudonym, "patient", patient.original_patient_id, patient.original_patient_name
        )
    study = linkage.study(pseudonym)
    if study is None:
        return None
    owner = linkage.patient(study.pseudo_patient_id)
    return Revealed(
        pseudonym,
        "study",
        owner.original_patient_id if owner is not None else "",
        owner.original_patient_name if owner is not None else "",
        study.original_study_uid,
        study.original_accession,
    )
