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

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, func, select, update

from veil.node.store import models
from veil.node.store.db import Database, StoreError, chunks
from veil.node.store.sealing import Sealer


@dataclass(frozen=True)
class PatientLink:
    pseudo_patient_id: str
    original_patient_id: str
    original_patient_name: str
    original_birth_date: str = ""
    original_sex: str = ""  # links made before issue 10 do not have these two ("")
    original_issuer: str = ""  # Issuer of Patient ID


@dataclass(frozen=True)
class StudyLink:
    pseudo_study_uid: str
    original_study_uid: str
    pseudo_patient_id: str  # the patient the study was sent for: a result must match it
    original_accession: str
    pseudo_accession: str
    study_key: str = ""  # the node's key of the study (node_study.study_key)
    original_study_date: str = ""
    original_study_time: str = ""
    # Days the study's dates were moved back on the way out (None: they were not moved), and
    # the original dates it held: a result's date comes home as the original only when it is
    # one of these, moved; a date the processing wrote itself is left as it is.
    date_offset_days: int | None = None
    original_dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class UidLink:
    pseudo_uid: str
    original_uid: str
    kind: str  # the element's keyword ("StudyInstanceUID", ...) or "private"
    pseudo_study_uid: str = ""  # the (de-identified) study it was linked for


MAX_DATES = 366  # original dates kept per study (a study spans a few days at most)


def _merged_patient(new: PatientLink, old: PatientLink | None) -> PatientLink:
    """``new``, with each value it lacks taken from ``old``."""
    if old is None:
        return new
    return PatientLink(
        new.pseudo_patient_id,
        new.original_patient_id or old.original_patient_id,
        new.original_patient_name or old.original_patient_name,
        new.original_birth_date or old.original_birth_date,
        new.original_sex or old.original_sex,
        new.original_issuer or old.original_issuer,
    )


def _merged_study(new: StudyLink, old: StudyLink | None) -> StudyLink:
    """``new``, with each value it lacks taken from ``old``, and the dates of both."""
    if old is None:
        return new
    return StudyLink(
        new.pseudo_study_uid,
        new.original_study_uid or old.original_study_uid,
        new.pseudo_patient_id,
        new.original_accession or old.original_accession,
        new.pseudo_accession or old.pseudo_accession,
        new.study_key or old.study_key,
        new.original_study_date or old.original_study_date,
        new.original_study_time or old.original_study_time,
        new.date_offset_days if new.date_offset_days is not None else old.date_offset_days,
        tuple(sorted(set(new.original_dates) | set(old.original_dates)))[:MAX_DATES],
    )


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
            # The latest values of a patient and a study win where they are given (a corrected
            # sex, accession or name: the caller has ruled out an identity conflict); a value
            # the new study lacks is kept from before. UID links never change.
            patient_rows = [
                self._patient_row(_merged_patient(p, self._patient_in(conn, p)), now)
                for p in patients
            ]
            study_rows = [
                self._study_row(_merged_study(s, self._study_in(conn, s.pseudo_study_uid)), now)
                for s in studies
            ]
            self._upsert(conn, models.link_patients, "pseudo_patient_id", patient_rows)
            self._upsert(conn, models.link_studies, "pseudo_study_uid", study_rows)
            if uid_rows:
                self.db.insert_ignoring_duplicates(conn, models.link_uids, uid_rows)

    def _upsert(
        self, conn: Connection, table: Table, key: str, rows: Sequence[dict[str, object]]
    ) -> None:
        """Update rows that exist (their creation time kept: retention counts from the first
        link), insert the others."""
        fresh = []
        for row in rows:
            values = {k: v for k, v in row.items() if k not in (key, "created_at")}
            changed = conn.execute(
                update(table).where(table.c[key] == row[key]).values(values)
            ).rowcount
            if not changed:
                fresh.append(row)
        if fresh:
            self.db.insert_ignoring_duplicates(conn, table, fresh)

    def _patient_row(self, p: PatientLink, now: float) -> dict[str, object]:
        name_digest, birth_digest = self.sealer.identity_digests(
            p.original_patient_name, p.original_birth_date
        )
        values = {
            "patient_id": p.original_patient_id,
            "name": p.original_patient_name,
            "birth_date": p.original_birth_date,
            "sex": p.original_sex,
            "issuer": p.original_issuer,
        }
        return {
            "pseudo_patient_id": p.pseudo_patient_id,
            "sealed": self.sealer.seal(_patient_context(p.pseudo_patient_id), values),
            "name_digest": name_digest,
            "birth_digest": birth_digest,
            "created_at": now,
        }

    def _study_row(self, s: StudyLink, now: float) -> dict[str, object]:
        values = {
            "study_uid": s.original_study_uid,
            "accession": s.original_accession,
            "study_date": s.original_study_date,
            "study_time": s.original_study_time,
            "offset": "" if s.date_offset_days is None else str(s.date_offset_days),
            "dates": " ".join(s.original_dates),
        }
        return {
            "pseudo_study_uid": s.pseudo_study_uid,
            "study_key": s.study_key,
            "pseudo_patient_id": s.pseudo_patient_id,
            "pseudo_accession": s.pseudo_accession,
            "sealed": self.sealer.seal(_study_context(s.pseudo_study_uid), values),
            "created_at": now,
        }

    def known(self, pseudo_patient_id: str, pseudo_study_uid: str) -> tuple[str | None, str | None]:
        """(the pseudonym, the node's study key) where the node linked them, else None: what
        may be shown of a returned result (a value the node did not issue never is)."""
        p, t = models.link_patients, models.link_studies
        with self.db.read() as conn:
            patient = conn.execute(
                select(p.c.pseudo_patient_id).where(p.c.pseudo_patient_id == pseudo_patient_id)
            ).scalar()
            study_key = conn.execute(
                select(t.c.study_key).where(t.c.pseudo_study_uid == pseudo_study_uid)
            ).scalar()
        return (
            None if patient is None else str(patient),
            str(study_key) if study_key else None,
        )

    def study_patient(self, pseudo_study_uid: str) -> str | None:
        """The pseudonym of the patient a study was linked for (None: never linked), without
        opening anything."""
        t = models.link_studies
        with self.db.read() as conn:
            value = conn.execute(
                select(t.c.pseudo_patient_id).where(t.c.pseudo_study_uid == pseudo_study_uid)
            ).scalar()
        return None if value is None else str(value)

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
        with self.db.read() as conn:
            return self._patient_by(conn, pseudo_patient_id)

    def _patient_in(self, conn: Connection, link: PatientLink) -> PatientLink | None:
        return self._patient_by(conn, link.pseudo_patient_id)

    def _patient_by(self, conn: Connection, pseudo_patient_id: str) -> PatientLink | None:
        p = models.link_patients
        row = conn.execute(
            select(p.c.sealed).where(p.c.pseudo_patient_id == pseudo_patient_id)
        ).first()
        if row is None:
            return None
        values = self.sealer.open(_patient_context(pseudo_patient_id), bytes(row.sealed))
        return PatientLink(
            pseudo_patient_id,
            values["patient_id"],
            values["name"],
            values.get("birth_date", ""),
            values.get("sex", ""),
            values.get("issuer", ""),
        )

    def study(self, pseudo_study_uid: str) -> StudyLink | None:
        with self.db.read() as conn:
            return self._study_in(conn, pseudo_study_uid)

    def _study_in(self, conn: Connection, pseudo_study_uid: str) -> StudyLink | None:
        t = models.link_studies
        row = conn.execute(select(t).where(t.c.pseudo_study_uid == pseudo_study_uid)).first()
        if row is None:
            return None
        values = self.sealer.open(_study_context(pseudo_study_uid), bytes(row.sealed))
        offset = values.get("offset", "")
        return StudyLink(
            row.pseudo_study_uid,
            values["study_uid"],
            row.pseudo_patient_id,
            values["accession"],
            row.pseudo_accession,
            row.study_key,
            values.get("study_date", ""),
            values.get("study_time", ""),
            int(offset) if offset.lstrip("-").isdigit() else None,
            tuple(values.get("dates", "").split()),
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
