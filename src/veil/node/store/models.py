"""Tables of the node's state store and linkage store (SQLAlchemy Core).

Original identifiers (UIDs, patient ID and name, accession) are stored only here, in the
node's own database; they never leave the node, and `veil node status` shows pseudonyms.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

UID = 64  # VR UI maximum length
LO = 256  # generous for PatientName (PN, up to 3 groups of 64) and LO values

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
    Column("study_uid", String(UID), nullable=False, unique=True),  # original: never shown
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
)

instances = Table(
    "node_instance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("node_study.id"), nullable=False, index=True),
    Column("sop_uid", String(UID), nullable=False, unique=True),  # original: never shown
    Column("sop_class_uid", String(UID), nullable=False),
    Column("spool_name", String(64), nullable=False),
    Column("deid_sop_uid", String(UID), nullable=True),
    Column("state", String(16), nullable=False),
    Column("received_at", Float, nullable=False),
)

deliveries = Table(
    "node_delivery",
    metadata,
    Column("instance_id", Integer, ForeignKey("node_instance.id"), primary_key=True),
    Column("destination", String(64), primary_key=True),
    Column("sent_at", Float, nullable=False),
)

link_patients = Table(
    "link_patient",
    metadata,
    Column("pseudo_patient_id", String(LO), primary_key=True),
    Column("original_patient_id", String(LO), nullable=False),
    Column("original_patient_name", String(LO), nullable=False),
)

link_studies = Table(
    "link_study",
    metadata,
    Column("pseudo_study_uid", String(UID), primary_key=True),
    Column("original_study_uid", String(UID), nullable=False),
    Column("pseudo_patient_id", String(LO), nullable=False),
    Column("original_accession", String(LO), nullable=False),
    Column("pseudo_accession", String(LO), nullable=False),
)

link_uids = Table(
    "link_uid",
    metadata,
    Column("pseudo_uid", String(UID), primary_key=True),
    Column("original_uid", String(UID), nullable=False),
    Column("kind", String(32), nullable=False),
)

returns = Table(
    "node_return",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("spool_name", String(80), nullable=False, unique=True),
    Column("received_sop_uid", String(UID), nullable=False),  # pseudonymous as received
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("received_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("received_sop_uid", "spool_name"),
)

Index("ix_node_return_state", returns.c.state)
Index("ix_node_instance_study_state", instances.c.study_id, instances.c.state)
