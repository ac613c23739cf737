"""The linkage store: original <-> pseudonym, written when a study is sent, read when a result
comes home (`veil.node.linkage.reidentify`).

Original identifiers live only in these tables, in the node's own database; they never leave
the node, and nothing here is logged. Writes are idempotent (the same study sent twice after a
crash links the same rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import select

from veil.node.store import models
from veil.node.store.db import Database, chunks


@dataclass(frozen=True)
class PatientLink:
    pseudo_patient_id: str
    original_patient_id: str
    original_patient_name: str


@dataclass(frozen=True)
class StudyLink:
    pseudo_study_uid: str
    original_study_uid: str
    pseudo_patient_id: str  # the patient the study was sent for: a result must match it
    original_accession: str
    pseudo_accession: str


@dataclass(frozen=True)
class UidLink:
    pseudo_uid: str
    original_uid: str
    kind: str  # the element's keyword ("StudyInstanceUID", ...) or "private"


class LinkageStore:
    """The link_patient, link_study and link_uid tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        patients: Sequence[PatientLink],
        studies: Sequence[StudyLink],
        uids: Sequence[UidLink],
    ) -> None:
        """Remember one sent study's links, in one transaction (existing rows are kept)."""
        with self.db.write() as conn:
            for table, rows in (
                (models.link_patients, patients),
                (models.link_studies, studies),
                (models.link_uids, uids),
            ):
                if rows:
                    self.db.insert_ignoring_duplicates(conn, table, [asdict(r) for r in rows])

    def patient(self, pseudo_patient_id: str) -> PatientLink | None:
        p = models.link_patients
        with self.db.read() as conn:
            row = conn.execute(select(p).where(p.c.pseudo_patient_id == pseudo_patient_id)).first()
        if row is None:
            return None
        return PatientLink(
            row.pseudo_patient_id, row.original_patient_id, row.original_patient_name
        )

    def study(self, pseudo_study_uid: str) -> StudyLink | None:
        t = models.link_studies
        with self.db.read() as conn:
            row = conn.execute(select(t).where(t.c.pseudo_study_uid == pseudo_study_uid)).first()
        if row is None:
            return None
        return StudyLink(
            row.pseudo_study_uid,
            row.original_study_uid,
            row.pseudo_patient_id,
            row.original_accession,
            row.pseudo_accession,
        )

    def uids(self, pseudo_uids: Sequence[str]) -> dict[str, str]:
        """pseudonymous UID -> original UID, for those of ``pseudo_uids`` the node created."""
        u = models.link_uids
        found: dict[str, str] = {}
        with self.db.read() as conn:
            for chunk in chunks(sorted(set(pseudo_uids))):
                query = select(u.c.pseudo_uid, u.c.original_uid).where(u.c.pseudo_uid.in_(chunk))
                found.update({row.pseudo_uid: row.original_uid for row in conn.execute(query)})
        return found
