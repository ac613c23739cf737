"""Schema migrations: a small versioned migration table instead of Alembic.

Why not Alembic: the node owns a handful of tables, must migrate itself unattended at start
on SQLite and PostgreSQL alike, and ships as a library without an `alembic.ini`/`env.py`
tree to locate at run time. Each migration below is a numbered function run once, in its own
transaction, and recorded in `veil_schema_version`; PostgreSQL takes an advisory lock so two
processes starting together do not both migrate. A database newer than this code is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table, inspect, select, text

from veil.errors import VeilError
from veil.node.store import console_models, models


class SchemaError(VeilError):
    """The state database has a schema this version of veil cannot use."""


def _v1_initial(conn: Connection) -> None:
    tables = [t for t in models.metadata.sorted_tables if t is not models.schema_version]
    models.metadata.create_all(conn, tables=tables)


def _v2_spool_name_index(conn: Connection) -> None:
    # Start-up recovery looks up registered spool files folder by folder (a name prefix).
    # Plain DDL: an Index object would attach itself to the shared Table and be created again
    # by version 1's create_all on the next new database.
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_node_instance_spool_name ON node_instance (spool_name)")
    )


def _add_columns(conn: Connection, table: Table, names: tuple[str, ...]) -> None:
    """Add the columns ``names`` of ``table`` (as `models` declares them) where missing.

    A database created at version 1 by this veil already has them (version 1 creates the
    tables as `models` declares them now), an older one gets them with their server default.
    """
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    dialect = conn.engine.dialect
    for name in names:
        if name in present:
            continue
        column = table.c[name]
        ddl = f"ALTER TABLE {table.name} ADD COLUMN {name} {column.type.compile(dialect)}"
        clause: Any = getattr(column.server_default, "arg", None)
        if clause is not None:
            value = clause.compile(dialect=dialect) if hasattr(clause, "compile") else clause
            ddl += f" DEFAULT {value}"
        if not column.nullable:
            ddl += " NOT NULL"
        conn.execute(text(ddl))


def _v40_instance_versions(conn: Connection) -> None:
    """Instance versions and identities (issue 10): a re-send with other content is a new
    version; one study holding two patients is seen; deliveries count per version."""
    _add_columns(
        conn,
        models.instances,
        ("version", "content_digest", "patient_pseudonym", "name_digest", "birth_digest"),
    )
    _add_columns(conn, models.deliveries, ("version",))


def _v41_held_studies_and_returns(conn: Connection) -> None:
    """A not-eligible study an operator sends anyway; what `veil node returns` shows."""
    _add_columns(conn, models.studies, ("send_anyway",))
    _add_columns(conn, models.returns, ("patient_pseudonym", "study_key"))


def _v42_longer_spool_names(conn: Connection) -> None:
    """Spool names carry the content digest since version 40 (86 characters): widen the
    column where the database enforces lengths (SQLite does not)."""
    if conn.engine.dialect.name == "postgresql":
        conn.execute(
            text(
                "ALTER TABLE node_instance ALTER COLUMN spool_name "
                f"TYPE VARCHAR({models.SPOOL_NAME})"
            )
        )


def _v10_seal(conn: Connection) -> None:
    """Seal a database written by an earlier veil (see `veil.node.store.upgrade`)."""
    from veil.node.store.upgrade import seal_legacy_database

    seal_legacy_database(conn)
    _v2_spool_name_index(conn)  # the instance table was rebuilt


MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "studies, instances, deliveries, returns and the linkage store", _v1_initial),
    (2, "index on instance spool names (recovery at start)", _v2_spool_name_index),
    (10, "sealed linkage store: originals encrypted, lookups by keyed digest", _v10_seal),
    # 20-29: the console (veil.node.store.console_models)
    (20, "console accounts, API tokens and sessions", console_models.v20_accounts),
    (21, "console audit log (append-only, hash-chained)", console_models.v21_audit_log),
    (22, "destination pause flags", console_models.v22_destination_controls),
    (23, "study timeline (state events, by trigger)", console_models.v23_study_events),
    (24, "structured quarantine findings", console_models.v24_study_findings),
    # 40-49: issue 10 (the node tells what happened)
    (40, "instance versions and identities, deliveries per version", _v40_instance_versions),
    (
        41,
        "send-anyway flag of studies, pseudonyms of returned results",
        _v41_held_studies_and_returns,
    ),
    (42, "instance spool names up to 128 characters", _v42_longer_spool_names),
)

LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table(models.schema_version.name):
        return 0
    value = conn.execute(
        select(models.schema_version.c.version)
        .order_by(models.schema_version.c.version.desc())
        .limit(1)
    ).scalar()
    return int(value or 0)


# Where a migration that needs the project key finds the `Sealer` (SQLAlchemy's per-connection
# info dictionary): only migrations that rewrite original values need it.
SEALER_INFO = "veil.sealer"


def migrate(engine: Engine, sealer: object | None = None) -> int:
    """Bring the schema to LATEST; return the version now in place."""
    with engine.begin() as conn:
        conn.info[SEALER_INFO] = sealer
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(734215)"))
        models.metadata.create_all(conn, tables=[models.schema_version])
        version = current_version(conn)
        if version > LATEST:
            raise SchemaError(
                f"the state database is at schema version {version}, newer than this veil "
                f"({LATEST}); upgrade veil or point state.database at another database"
            )
        for number, description, step in MIGRATIONS:
            if number <= version:
                continue
            step(conn)
            conn.execute(
                models.schema_version.insert().values(
                    version=number, description=description, applied_at=time.time()
                )
            )
            version = number
    return version
