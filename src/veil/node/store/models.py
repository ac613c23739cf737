"""Tables of the node's state store and linkage store (SQLAlchemy Core).

No column holds an original identifier in the clear (DESIGN invariant 10): original values
live only in the ``sealed`` columns (AES-GCM, `veil.node.store.sealing`), and a study or
instance received again is found by the keyed digest of its UID (``*_digest``). Pseudonyms,
de-identified UIDs and keyed study keys are what `veil node status` shows.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

UID = 64  # VR UI maximum length
LO = 256  # generous for PatientName (PN, up to 3 groups of 64) and LO values
DIGEST = 64  # hex HMAC-SHA256 (veil.node.store.sealing.Sealer.digest)
SPOOL_NAME = 128  # an instance's spool name (veil.node.spool.Spool.incoming_path)

schema_version = Table(
    "veil_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", Float, nullable=False),
)

studies = Table(
    "node_study",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_digest", String(DIGEST), nullable=False, unique=True),  # keyed, of the UID
    Column("study_key", String(32), nullable=False, unique=True),  # keyed token: shown
    Column("patient_pseudonym", String(LO), nullable=False, default=""),
    Column("deid_study_uid", String(UID), nullable=True),
    Column("state", String(16), nullable=False, index=True),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("first_received_at", Float, nullable=False),
    Column("last_received_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # `veil node retry --send-anyway`: an operator decided to send a not-eligible study.
    Column("send_anyway", Boolean, nullable=False, default=False, server_default=false()),
)

instances = Table(
    "node_instance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("node_study.id"), nullable=False, index=True),
    # Keyed digest of the received SOP Instance UID; unique per study only, so that the same
    # UID arriving in a second study is registered (and quarantined), never dropped.
    Column("sop_digest", String(DIGEST), nullable=False, index=True),
    Column("sop_class_uid", String(UID), nullable=False),
    # "<study key>/<sop digest>-<content digest>.dcm" (86 characters; room to spare)
    Column("spool_name", String(SPOOL_NAME), nullable=False),
    Column("deid_sop_uid", String(UID), nullable=True),
    Column("state", String(16), nullable=False),
    Column("received_at", Float, nullable=False),  # of the current version
    # Versions (schema 40): the same SOP Instance UID received again with other content is a
    # new version of the instance, sent again under the same de-identified UIDs. The content
    # digest is keyed (HMAC of the received file's SHA-256): it confirms nothing without the key.
    Column("version", Integer, nullable=False, default=1, server_default=text("1")),
    Column("content_digest", String(DIGEST), nullable=True),
    # Who the instance is about, as received: the patient pseudonym and keyed digests of the
    # normalised name and the birth date. One study with two patients is quarantined.
    Column("patient_pseudonym", String(LO), nullable=True),
    Column("name_digest", String(DIGEST), nullable=True),
    Column("birth_digest", String(DIGEST), nullable=True),
    UniqueConstraint("study_id", "sop_digest"),
)

deliveries = Table(
    "node_delivery",
    metadata,
    Column("instance_id", Integer, ForeignKey("node_instance.id"), primary_key=True),
    Column("destination", String(64), primary_key=True),
    Column("sent_at", Float, nullable=False),
    # The instance version delivered: an older version's delivery does not count for a newer.
    Column("version", Integer, nullable=False, default=1, server_default=text("1")),
)

link_patients = Table(
    "link_patient",
    metadata,
    Column("pseudo_patient_id", String(LO), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),  # original PatientID, name, birth date
    # Keyed digests of the normalised name and the birth date: another identity arriving
    # under this pseudonym is seen (and quarantined) without opening anything.
    Column("name_digest", String(DIGEST), nullable=True),
    Column("birth_digest", String(DIGEST), nullable=True),
    Column("created_at", Float, nullable=False),
)

link_studies = Table(
    "link_study",
    metadata,
    Column("pseudo_study_uid", String(UID), primary_key=True),
    Column("study_key", String(32), nullable=False, index=True),  # as node_study.study_key
    Column("pseudo_patient_id", String(LO), nullable=False),
    Column("pseudo_accession", String(LO), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # original Study UID and accession
    Column("created_at", Float, nullable=False, index=True),
)

link_uids = Table(
    "link_uid",
    metadata,
    # A UID is restored only on a result about the study it was linked for.
    Column("pseudo_study_uid", String(UID), primary_key=True),
    Column("pseudo_uid", String(UID), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),  # the original UID
    Column("kind", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
)

settings = Table(
    "node_setting",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

returns = Table(
    "node_return",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("spool_name", String(80), nullable=False, unique=True),
    Column("received_digest", String(DIGEST), nullable=False),  # keyed, of the received UID
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("received_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # What `veil node returns` may show (schema 41): the patient pseudonym and the node's study
    # key, set only when the result names a patient and study this node sent (else NULL: the
    # result's own PatientID may be an original and is never stored).
    Column("patient_pseudonym", String(LO), nullable=True),
    Column("study_key", String(32), nullable=True),
    UniqueConstraint("received_digest", "spool_name"),
)

Index("ix_node_return_state", returns.c.state)
Index("ix_node_instance_study_state", instances.c.study_id, instances.c.state)
Index("ix_link_uid_pseudo_uid", link_uids.c.pseudo_uid)
