"""Who a study is about, and when the node must not decide it alone.

The rule (docs/node.md, "One study, one patient"):

1. A study is one patient's. Its instances, as the node holds them now (every instance, the
   latest version of each), must name one patient: one PatientID (with its Issuer), one name,
   one birth date (a value missing on an instance is not a second value). Otherwise the study
   is *mixed* and quarantined: merged, it would leave as one patient's study.
2. Under one pseudonym the linkage holds one identity (name, birth date). A study that arrives
   with another one is an *identity conflict* (two people sharing a PatientID, a typo at the
   scanner) and is quarantined, never linked: a result would go home to the wrong person.
3. Except a *correction*: the same study, already sent by this node for this pseudonym,
   received again as new versions of its instances (same SOP Instance UIDs, other content)
   that all carry the new name or birth date. That is the source correcting its own record
   (rule 1 makes it all of the study, not part); the linkage takes the corrected identity and
   the new versions are sent, replacing the old ones at the destination. Who sent the
   correction (the scanner or the PACS) does not matter: corrections are usually made in the
   PACS, not at the modality.
4. A study sent for one patient that now names another PatientID is *moved* at the source.
   The node does not move a sent study to another patient on its own (the destination holds it
   under the first pseudonym): it is quarantined; `veil node forget` it and have the source send
   it again, and it goes out as the new patient's study.

Every reason is value-free: counts, pseudonyms and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from veil.node.linkage import Linkage
from veil.node.store import PatientLink, StudyIdentities


class Verdict(str, Enum):
    SAME = "same"  # nothing new about who the study is about
    CORRECTED = "corrected"  # rule 3: link the corrected identity, send the new versions
    MIXED = "mixed"  # rule 1
    CONFLICT = "conflict"  # rule 2
    MOVED = "moved"  # rule 4


@dataclass(frozen=True)
class IdentityVerdict:
    verdict: Verdict
    reason: str = ""  # why the study is quarantined (MIXED, CONFLICT, MOVED), value-free
    patients: tuple[str, ...] = ()  # the pseudonyms concerned

    @property
    def held(self) -> bool:
        return self.verdict in (Verdict.MIXED, Verdict.CONFLICT, Verdict.MOVED)


class LinkRecord(Protocol):
    """What the rules read of the linkage store (implemented by `LinkageStore`)."""

    def conflicts(self, patients: list[PatientLink]) -> list[str]: ...
    def study_patient(self, pseudo_study_uid: str) -> str | None: ...


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def mixed(identities: StudyIdentities) -> IdentityVerdict | None:
    """Rule 1 on what the state store holds of the study's instances (before any work)."""
    if not identities.mixed:
        return None
    parts = [
        _plural(n, one, many)
        for n, one, many in (
            (identities.pseudonyms, "PatientID", "PatientIDs"),
            (identities.names, "name", "names"),
            (identities.birth_dates, "birth date", "birth dates"),
        )
        if n > 1
    ]
    return IdentityVerdict(
        Verdict.MIXED,
        f"mixed patients: the instances of this one study name more than one patient "
        f"({', '.join(parts)}); fix the study at the source (if it corrected the patient, "
        "have it send the whole study again), then `veil node retry` or `veil node forget` it",
    )


def judge(link: Linkage, store: LinkRecord, has_new_versions: bool) -> IdentityVerdict:
    """Rules 1 to 4 on the de-identified study's linkage rows, against the linkage store."""
    patients = sorted(link.patients)
    if len(patients) > 1 or link.conflicts:
        return IdentityVerdict(
            Verdict.MIXED,
            "mixed patients: the instances of this one study name more than one patient "
            f"({_plural(len(patients), 'pseudonym', 'pseudonyms')}, "
            f"{_plural(len(link.conflicts), 'conflicting identity', 'conflicting identities')})"
            "; fix the study at the source, then `veil node retry` or `veil node forget` it",
            tuple(patients),
        )
    for study in link.studies.values():
        before = store.study_patient(study.pseudo_study_uid)
        if before is not None and before != study.pseudo_patient_id:
            return IdentityVerdict(
                Verdict.MOVED,
                f"patient changed: this study was sent for patient {before} and now names "
                f"patient {study.pseudo_patient_id} (its PatientID or Issuer of Patient ID "
                "changed at the source); veil does not move a sent study to another patient: "
                "`veil node forget` it, then have the source send it again",
                (before, study.pseudo_patient_id),
            )
    conflicts = sorted(store.conflicts(list(link.patients.values())))
    if not conflicts:
        return IdentityVerdict(Verdict.SAME)
    sent_before = all(
        store.study_patient(study.pseudo_study_uid) == study.pseudo_patient_id
        for study in link.studies.values()
    )
    if has_new_versions and sent_before and link.studies:
        return IdentityVerdict(Verdict.CORRECTED, patients=tuple(conflicts))
    return IdentityVerdict(
        Verdict.CONFLICT,
        f"identity conflict: the linkage holds another name or birth date for patient "
        f"{', '.join(conflicts)} (never overwritten); check the source's PatientID and "
        "Issuer of Patient ID",
        tuple(conflicts),
    )
