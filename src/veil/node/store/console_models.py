"""Tables the console adds to the node's state store (schema versions 20-29).

Kept in their own MetaData: schema version 1 creates every table of ``models.metadata`` as it
stands, so tables added there later would be created twice on a new database.

- ``web_user``, ``web_token``, ``web_session``: console accounts (argon2id password hashes),
  API tokens (SHA-256 of the token: a token is 256 random bits, so a slow hash adds nothing)
  and server-side sessions (SHA-256 of the cookie value: a stolen database gives no session).
- ``web_audit``: the console's append-only, hash-chained audit log; triggers refuse UPDATE and
  DELETE in the database itself, so no code path (and no SQL console) can rewrite it silently.
- ``node_destination_control``: a destination paused from the console; the node's sender
  loop reads it (``veil.node.controls``).
- ``node_study_event``: every state a study entered, with its time (the study timeline),
  written by a trigger on ``node_study`` so that no code path that changes a state can forget
  to record it.
- ``node_study_finding``: why a study was quarantined, structured (element path, kind, form;
  or the requirement rule), never the value.
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
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

users = Table(
    "web_user",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("roles", String(200), nullable=False),  # comma-separated Role values
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

tokens = Table(
    "web_token",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("roles", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
)

sessions = Table(
    "web_session",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("web_user.id", ondelete="CASCADE"), nullable=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("flash", String(300), nullable=True),  # one message for the next page shown
)

audit_log = Table(
    "web_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(200), nullable=False, default=""),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

destination_controls = Table(
    "node_destination_control",
    metadata,
    Column("destination", String(64), primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", Float, nullable=False),
    # the last connection test from the console (C-ECHO, DICOMweb, folder)
    Column("last_test_at", Float, nullable=True),
    Column("last_test_ok", Boolean, nullable=True),
    Column("last_test_detail", String(200), nullable=True),
)

study_events = Table(
    "node_study_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("at", Float, nullable=False),
)

study_findings = Table(
    "node_study_finding",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, nullable=False),
    Column("source", String(16), nullable=False),  # FindingSource value: audit | check | other
    Column("file", String(80), nullable=False, default=""),  # spool name (a hash), never a UID
    Column("path", String(200), nullable=False, default=""),
    Column("kind", String(64), nullable=False, default=""),
    Column("form", String(200), nullable=False, default=""),
    Column("rule", String(100), nullable=False, default=""),
    Column("at", Float, nullable=False),
)

Index("ix_node_study_event_study", study_events.c.study_id)
Index("ix_node_study_finding_study", study_findings.c.study_id)


def v20_accounts(conn: Connection) -> None:
    metadata.create_all(conn, tables=[users, tokens, sessions])


def v21_audit_log(conn: Connection) -> None:
    metadata.create_all(conn, tables=[audit_log])
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "CREATE FUNCTION web_audit_append_only() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER web_audit_no_change BEFORE UPDATE OR DELETE ON web_audit "
                "FOR EACH ROW EXECUTE FUNCTION web_audit_append_only()"
            )
        )
        return
    for verb in ("UPDATE", "DELETE"):
        conn.execute(
            text(
                f"CREATE TRIGGER web_audit_no_{verb.lower()} BEFORE {verb} ON web_audit "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
        )


def v22_destination_controls(conn: Connection) -> None:
    metadata.create_all(conn, tables=[destination_controls])


def v23_study_events(conn: Connection) -> None:
    metadata.create_all(conn, tables=[study_events])
    # Studies that exist already get one event: their current state, at their last change.
    conn.execute(
        text(
            "INSERT INTO node_study_event (study_id, state, at) "
            "SELECT id, state, updated_at FROM node_study"
        )
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "CREATE FUNCTION node_study_state_event() RETURNS trigger AS $$ BEGIN "
                "IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state THEN "
                "INSERT INTO node_study_event (study_id, state, at) "
                "VALUES (NEW.id, NEW.state, NEW.updated_at); END IF; RETURN NEW; END; "
                "$$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER node_study_event_trigger AFTER INSERT OR UPDATE OF state "
                "ON node_study FOR EACH ROW EXECUTE FUNCTION node_study_state_event()"
            )
        )
        return
    conn.execute(
        text(
            "CREATE TRIGGER node_study_event_insert AFTER INSERT ON node_study BEGIN "
            "INSERT INTO node_study_event (study_id, state, at) "
            "VALUES (NEW.id, NEW.state, NEW.updated_at); END"
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER node_study_event_update AFTER UPDATE OF state ON node_study "
            "WHEN NEW.state IS NOT OLD.state BEGIN "
            "INSERT INTO node_study_event (study_id, state, at) "
            "VALUES (NEW.id, NEW.state, NEW.updated_at); END"
        )
    )


def v24_study_findings(conn: Connection) -> None:
    metadata.create_all(conn, tables=[study_findings])
