"""The linkage store: original <-> pseudonym, written when a study is sent, read when a result
comes home (`veil.node.linkage.reidentify`).

Sealed (`veil.node.store.sealing`): every original value is an AES-GCM ciphertext bound to its
row; a database copied without the project key shows pseudonyms, de-identified UIDs and keyed
digests only. UID links belong to the study they were made for, and a result is given back
only the UIDs of its own study. Writes are idempotent (the same study sent twice after a crash
links the same rows) and never overwrite an identity: a different one under a known pseudonym
is reported by `conflicts` so the study can be quarantined.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, delete, func, select

from veil.node.store import models
from veil.node.store.db import Database, StoreError, chunks
from veil.node.store.sealing import Sealer


@dataclass(frozen=True)
class PatientLink:
    pseudo_patient_id: str
    original_patient_id: str
    original_patient_name: str
    original_birth_date: str = ""


@dataclass(frozen=True)
class StudyLink:
    pseudo_study_uid: str
    original_study_uid: str
    pseudo_patient_id: str  # the patient the study was sent for: a result must match it
    original_accession: str
    pseudo_accession: str
    study_key: str = ""  # the node's key of the study (node_study.study_key)


@dataclass(frozen=True)
class UidLink:
    pseudo_uid: str
    original_uid: str
    kind: str  # the element's keyword ("StudyInstanceUID", ...) or "private"
    pseudo_study_uid: str = ""  # the (de-identified) study it was linked for


def _patient_context(pseudo: str) -> str:
    return f"link_patient\x00{pseudo}"


def _study_context(pseudo: str) -> str:
    return f"link_study\x00{pseudo}"


def _uid_context(study: str, pseudo: str) -> str:
    return f"link_uid\x00{study}\x00{pseudo}"


class LinkageStore:
    """The link_patient, link_study and link_uid tables."""

    def __init__(self, db: Database, sealer: Sealer | None = None) -> None:
        self.db = db
        self._sealer = sealer

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            raise StoreError("the linkage store needs the project key (start it from the node)")
        return self._sealer

    # ---- writing -------------------------------------------------------------------------

    def add(
        self,
        patients: Sequence[PatientLink],
        studies: Sequence[StudyLink],
        uids: Sequence[UidLink],
    ) -> None:
        """Remember one sent study's links, in one transaction (existing rows are kept)."""
        sealer, now = self.sealer, time.time()
        patient_rows = []
        for p in patients:
            name_digest, birth_digest = sealer.identity_digests(
                p.original_patient_name, p.original_birth_date
            )
            values = {
                "patient_id": p.original_patient_id,
                "name": p.original_patient_name,
                "birth_date": p.original_birth_date,
            }
            patient_rows.append(
                {
                    "pseudo_patient_id": p.pseudo_patient_id,
                    "sealed": sealer.seal(_patient_context(p.pseudo_patient_id), values),
                    "name_digest": name_digest,
                    "birth_digest": birth_digest,
                    "created_at": now,
                }
            )
        study_rows = [
            {
                "pseudo_study_uid": s.pseudo_study_uid,
                "study_key": s.study_key,
                "pseudo_patient_id": s.pseudo_patient_id,
                "pseudo_accession": s.pseudo_accession,
                "sealed": sealer.seal(
                    _study_context(s.pseudo_study_uid),
                    {"study_uid": s.original_study_uid, "accession": s.original_accession},
                ),
                "created_at": now,
            }
            for s in studies
        ]
        uid_rows = [
            {
                "pseudo_study_uid": u.pseudo_study_uid,
                "pseudo_uid": u.pseudo_uid,
                "sealed": sealer.seal(
                    _uid_context(u.pseudo_study_uid, u.pseudo_uid), {"uid": u.original_uid}
                ),
                "kind": u.kind,
                "created_at": now,
            }
            for u in uids
        ]
        with self.db.write() as conn:
            for table, rows in (
                (models.link_patients, patient_rows),
                (models.link_studies, study_rows),
                (models.link_uids, uid_rows),
            ):
                if rows:
                    self.db.insert_ignoring_duplicates(conn, table, rows)

    def conflicts(self, patients: Sequence[PatientLink]) -> list[str]:
        """Pseudonyms for which the store already holds another name or birth date.

        A value missing on either side is not a conflict (a study without a birth date is the
        same patient); two different values are, and the caller must quarantine, never write.
        """
        sealer = self.sealer
        p = models.link_patients
        found = []
        with self.db.read() as conn:
            for link in patients:
                row = conn.execute(
                    select(p.c.name_digest, p.c.birth_digest).where(
                        p.c.pseudo_patient_id == link.pseudo_patient_id
                    )
                ).first()
                if row is None:
                    continue
                name, birth = sealer.identity_digests(
                    link.original_patient_name, link.original_birth_date
                )
                if (name and row.name_digest and name != row.name_digest) or (
                    birth and row.birth_digest and birth != row.birth_digest
                ):
                    found.append(link.pseudo_patient_id)
        return found

    # ---- reading (the return path) ---------------------------------------------------------

    def patient(self, pseudo_patient_id: str) -> PatientLink | None:
        p = models.link_patients
        with self.db.read() as conn:
            row = conn.execute(
                select(p.c.sealed).where(p.c.pseudo_patient_id == pseudo_patient_id)
            ).first()
        if row is None:
            return None
        values = self.sealer.open(_patient_context(pseudo_patient_id), bytes(row.sealed))
        return PatientLink(
            pseudo_patient_id, values["patient_id"], values["name"], values.get("birth_date", "")
        )

    def study(self, pseudo_study_uid: str) -> StudyLink | None:
        t = models.link_studies
        with self.db.read() as conn:
            row = conn.execute(select(t).where(t.c.pseudo_study_uid == pseudo_study_uid)).first()
        if row is None:
            return None
        values = self.sealer.open(_study_context(pseudo_study_uid), bytes(row.sealed))
        return StudyLink(
            row.pseudo_study_uid,
            values["study_uid"],
            row.pseudo_patient_id,
            values["accession"],
            row.pseudo_accession,
            row.study_key,
        )

    def uids(self, pseudo_uids: Sequence[str], pseudo_study_uid: str) -> dict[str, str]:
        """pseudonymous UID -> original UID, for those the node linked for this study only."""
        u = models.link_uids
        found: dict[str, str] = {}
        with self.db.read() as conn:
            for chunk in chunks(sorted(set(pseudo_uids))):
                query = select(u.c.pseudo_uid, u.c.sealed).where(
                    and_(u.c.pseudo_study_uid == pseudo_study_uid, u.c.pseudo_uid.in_(chunk))
                )
                for row in conn.execute(query):
                    context = _uid_context(pseudo_study_uid, row.pseudo_uid)
                    found[row.pseudo_uid] = self.sealer.open(context, bytes(row.sealed))["uid"]
        return found

    def linked_elsewhere(self, pseudo_uids: Sequence[str], pseudo_study_uid: str) -> int:
        """How many of ``pseudo_uids`` the node linked for other studies and not this one."""
        u = models.link_uids
        wanted = sorted(set(pseudo_uids))
        own = set(self.uids(wanted, pseudo_study_uid))
        others: set[str] = set()
        with self.db.read() as conn:
            for chunk in chunks(wanted):
                query = select(u.c.pseudo_uid).where(
                    and_(u.c.pseudo_study_uid != pseudo_study_uid, u.c.pseudo_uid.in_(chunk))
                )
                others.update(row.pseudo_uid for row in conn.execute(query))
        return len(others - own)

    # ---- forgetting ------------------------------------------------------------------------

    def forget_study(self, study_key: str) -> int:
        """Delete one study's links (and its patient's, if no other study has that patient)."""
        with self.db.write() as conn:
            return self._delete_studies(conn, models.link_studies.c.study_key == study_key)

    def purge(self, before: float) -> int:
        """Delete links made before ``before`` (retention); how many study links went."""
        with self.db.write() as conn:
            removed = self._delete_studies(conn, models.link_studies.c.created_at < before)
            u = models.link_uids
            conn.execute(delete(u).where(u.c.created_at < before))
            return removed

    @staticmethod
    def _delete_studies(conn: Connection, where: ColumnElement[bool]) -> int:
        s, u, p = models.link_studies, models.link_uids, models.link_patients
        rows = conn.execute(select(s.c.pseudo_study_uid, s.c.pseudo_patient_id).where(where))
        doomed = [(row.pseudo_study_uid, row.pseudo_patient_id) for row in rows]
        for chunk in chunks([study for study, _ in doomed]):
            conn.execute(delete(u).where(u.c.pseudo_study_uid.in_(chunk)))
            conn.execute(delete(s).where(s.c.pseudo_study_uid.in_(chunk)))
        for patient in {patient for _, patient in doomed}:
            remaining = conn.execute(
                select(func.count()).select_from(s).where(s.c.pseudo_patient_id == patient)
            ).scalar()
            if not remaining:
                conn.execute(delete(p).where(p.c.pseudo_patient_id == patient))
        return len(doomed)
