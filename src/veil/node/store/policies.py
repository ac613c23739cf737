"""Policy versions in the node's database: saved, applied, and recorded per study.

Every policy saved in the Privacy studio is a new version (numbered per policy name, never
changed afterwards); saving the same text as the newest version of its name saves nothing.
"Apply" appends to a history whose newest row is the policy the node de-identifies with from
then on (`veil.node.policy_source`); every study records the version that de-identified it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from veil.errors import VeilError
from veil.node.store.db import Database
from veil.node.store.studio_models import policy_applied, policy_versions, study_policies


class VersionSource(str, Enum):
    """Where a version came from."""

    STUDIO = "studio"  # saved in the Privacy studio
    IMPORT = "import"  # a YAML file imported in the studio or over the API
    DUPLICATE = "duplicate"  # another version copied under a new name
    CONFIGURATION = "node-configuration"  # the node's deidentify.policy, recorded at start


class PolicyVersionError(VeilError):
    """A version cannot be saved or applied; the message says why."""


@dataclass(frozen=True)
class PolicyVersion:
    id: int
    name: str
    number: int
    text: str
    digest: str
    parent_id: int | None
    source: VersionSource
    comment: str
    created_by: str
    created_at: float

    @property
    def label(self) -> str:
        return f"{self.name} v{self.number}"


@dataclass(frozen=True)
class Applied:
    version: PolicyVersion
    applied_by: str
    applied_at: float


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(row: Any) -> PolicyVersion:
    return PolicyVersion(
        row.id,
        row.name,
        row.number,
        row.text,
        row.digest,
        row.parent_id,
        VersionSource(row.source),
        row.comment,
        row.created_by,
        row.created_at,
    )


class PolicyVersions:
    """The ``policy_version`` tables, by intent."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        name: str,
        text: str,
        created_by: str,
        source: VersionSource = VersionSource.STUDIO,
        comment: str = "",
        parent_id: int | None = None,
        reuse: bool = False,
    ) -> tuple[PolicyVersion, bool]:
        """The new version (True), or the newest one of ``name`` when its text is the same
        (False: nothing saved). With ``reuse``, any version of ``name`` with the same text is
        taken (the node's configured policy, recorded at every start, is one version)."""
        name = name.strip()[:64]
        if not name:
            raise PolicyVersionError("a policy needs a name to be saved")
        digest = text_digest(text)
        v = policy_versions
        for _ in range(20):
            with self.db.write() as conn:
                newest = conn.execute(
                    select(v).where(v.c.name == name).order_by(v.c.number.desc()).limit(1)
                ).first()
                if newest is not None and newest.digest == digest:
                    return _version(newest), False
                if reuse:
                    same = conn.execute(
                        select(v).where(v.c.name == name, v.c.digest == digest).limit(1)
                    ).first()
                    if same is not None:
                        return _version(same), False
                number = 1 if newest is None else newest.number + 1
                now = time.time()
                try:
                    result = conn.execute(
                        v.insert().values(
                            name=name,
                            number=number,
                            text=text,
                            digest=digest,
                            parent_id=parent_id,
                            source=source.value,
                            comment=comment[:500],
                            created_by=created_by[:64],
                            created_at=now,
                        )
                    )
                except IntegrityError:
                    continue  # another writer took this number: number after it
                key = result.inserted_primary_key
                assert key is not None
                new_id = int(key[0])
            return PolicyVersion(
                new_id,
                name,
                number,
                text,
                digest,
                parent_id,
                source,
                comment[:500],
                created_by[:64],
                now,
            ), True
        raise PolicyVersionError("could not save the version (busy writers); try again")

    def get(self, version_id: int) -> PolicyVersion | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(policy_versions).where(policy_versions.c.id == version_id)
            ).first()
        return None if row is None else _version(row)

    def all(self) -> list[PolicyVersion]:
        """Every version, newest first."""
        v = policy_versions
        with self.db.read() as conn:
            rows = conn.execute(select(v).order_by(v.c.created_at.desc(), v.c.id.desc()))
            return [_version(r) for r in rows]

    def previous(self, version: PolicyVersion) -> PolicyVersion | None:
        """The version this one is compared with: the one it was edited from, else the one
        before it under its name."""
        if version.parent_id is not None:
            parent = self.get(version.parent_id)
            if parent is not None:
                return parent
        v = policy_versions
        with self.db.read() as conn:
            row = conn.execute(
                select(v)
                .where(v.c.name == version.name, v.c.number < version.number)
                .order_by(v.c.number.desc())
                .limit(1)
            ).first()
        return None if row is None else _version(row)

    def name_taken(self, name: str) -> bool:
        v = policy_versions
        with self.db.read() as conn:
            found = conn.execute(select(func.count()).where(v.c.name == name.strip())).scalar()
        return bool(found)

    def apply(self, version_id: int, applied_by: str) -> Applied:
        version = self.get(version_id)
        if version is None:
            raise PolicyVersionError("no such policy version")
        now = time.time()
        with self.db.write() as conn:
            conn.execute(
                policy_applied.insert().values(
                    version_id=version_id, applied_by=applied_by[:64], applied_at=now
                )
            )
        return Applied(version, applied_by[:64], now)

    def applied(self) -> Applied | None:
        """The version the node uses (the newest "apply"), or None: the configuration's."""
        a, v = policy_applied, policy_versions
        with self.db.read() as conn:
            row = conn.execute(
                select(a.c.applied_by, a.c.applied_at, v)
                .join(v, v.c.id == a.c.version_id)
                .order_by(a.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return Applied(_version(row), row.applied_by, row.applied_at)

    def applied_id(self) -> int | None:
        """The applied version's id only: what the node asks before every study."""
        a = policy_applied
        with self.db.read() as conn:
            found = conn.execute(select(a.c.version_id).order_by(a.c.id.desc()).limit(1)).scalar()
        return None if found is None else int(found)

    def record_study(self, study_id: int, version_id: int) -> None:
        """``version_id`` de-identified study ``study_id`` (now)."""
        with self.db.write() as conn:
            conn.execute(
                study_policies.insert().values(
                    study_id=study_id, version_id=version_id, at=time.time()
                )
            )

    def of_study(self, study_id: int) -> PolicyVersion | None:
        """The version that de-identified the study last, if any."""
        s, v = study_policies, policy_versions
        with self.db.read() as conn:
            row = conn.execute(
                select(v)
                .join(s, s.c.version_id == v.c.id)
                .where(s.c.study_id == study_id)
                .order_by(s.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _version(row)

    def studies_of(self, version_id: int) -> int:
        """How many studies this version de-identified."""
        s = study_policies
        with self.db.read() as conn:
            found = conn.execute(
                select(func.count(func.distinct(s.c.study_id))).where(s.c.version_id == version_id)
            ).scalar()
        return int(found or 0)


__all__ = [
    "Applied",
    "PolicyVersion",
    "PolicyVersionError",
    "PolicyVersions",
    "VersionSource",
    "text_digest",
]
