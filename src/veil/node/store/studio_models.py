"""Tables of the console's part 2 (schema versions 30-39): policy versions and browser jobs.

Kept in their own MetaData, like ``console_models``: schema version 1 creates every table of
``models.metadata`` as it stands, so tables added there later would be created twice.

- ``policy_version``: every policy saved in the Privacy studio (or imported, duplicated, or
  read from the node's configuration at start), its YAML text and a SHA-256 of it; numbered per
  policy name. Never changed once written (a new version is a new row).
- ``policy_applied``: the history of "apply": the newest row is the policy the node uses.
- ``node_study_policy``: which version de-identified each study (a study processed again after
  a policy change gets a second row).
- ``web_job``, ``web_job_file``, ``web_job_result``: de-identification jobs run from the
  browser: the job, its uploaded files (names sealed with the project key: file names can
  identify patients) and one result per input file (names and problems sealed too).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
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
)

metadata = MetaData()

policy_versions = Table(
    "policy_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("number", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("parent_id", Integer, nullable=True),
    Column("source", String(32), nullable=False),  # VersionSource value
    Column("comment", String(500), nullable=False, default=""),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "number", name="uq_policy_version_name_number"),
)

policy_applied = Table(
    "policy_applied",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("policy_version.id"), nullable=False),
    Column("applied_by", String(64), nullable=False),
    Column("applied_at", Float, nullable=False),
)

study_policies = Table(
    "node_study_policy",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, nullable=False),
    Column("version_id", Integer, ForeignKey("policy_version.id"), nullable=False),
    Column("at", Float, nullable=False),
)

jobs = Table(
    "web_job",
    metadata,
    Column("id", String(32), primary_key=True),  # a random token, never a value received
    Column("owner", String(80), nullable=False),
    Column("state", String(16), nullable=False),  # JobState value
    Column("version_id", Integer, nullable=True),
    Column("policy", String(200), nullable=False, default=""),  # what ran, in words
    Column("profiles", String(500), nullable=False, default=""),  # comma-separated names
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("inputs", Integer, nullable=False, default=0),  # input files found (zip members)
    Column("done", Integer, nullable=False, default=0),
    Column("written", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("bytes_in", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=True),
    Column("ok", Boolean, nullable=True),
    Column("problem", String(500), nullable=True),  # never a value
    Column("sent_to", String(64), nullable=True),
    Column("sent_at", Float, nullable=True),
    Column("send_detail", String(500), nullable=True),
)

job_files = Table(
    "web_job_file",
    metadata,
    Column("job_id", String(32), ForeignKey("web_job.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("name", LargeBinary, nullable=False),  # sealed: the file name as the browser gave it
    Column("size", Integer, nullable=False),  # declared
    Column("received", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # UploadState value
    Column("kind", String(8), nullable=False, default="file"),  # file | zip
    Column("problem", String(300), nullable=True),  # why it was refused; never a value
)

job_results = Table(
    "web_job_result",
    metadata,
    Column("job_id", String(32), ForeignKey("web_job.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("input", LargeBinary, nullable=False),  # sealed: file name (and zip member)
    Column("outcome", String(16), nullable=False),  # veil.pipeline.Outcome value
    Column("problem", LargeBinary, nullable=True),  # sealed: problems name the input file
    Column("output", String(300), nullable=True),  # hierarchy path: pseudonyms and UIDs
    Column("study", String(80), nullable=True),  # de-identified Study Instance UID
)

Index("ix_node_study_policy_study", study_policies.c.study_id)
Index("ix_web_job_owner", jobs.c.owner)


def v30_policy_versions(conn: Connection) -> None:
    metadata.create_all(conn, tables=[policy_versions, policy_applied, study_policies])


def v31_jobs(conn: Connection) -> None:
    metadata.create_all(conn, tables=[jobs, job_files, job_results])
