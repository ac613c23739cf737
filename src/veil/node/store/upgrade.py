"""Sealing a state database written by a veil before the sealed linkage store (schema 2).

Those databases hold original UIDs, PatientIDs, names and accessions in plain columns. Migration
10 rebuilds every table in the sealed form (`models`): originals become AES-GCM ciphertexts
and keyed digests, ids and states are kept. It needs the project key, so only a node start
(`veil serve`, which has it) can run it on a database with rows; `veil node status` on such a
database says so. SQLite deletes with ``secure_delete`` on, so the old pages are zeroed.

UID links of the old form were not tied to a study; those that can be tied through the study's
de-identified instances are kept, the others are dropped (a result can then not get those
UIDs back, which is safe; the count is logged).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Connection, inspect, text

from veil.errors import VeilError
from veil.node.store import models
from veil.node.store.sealing import Sealer

log = logging.getLogger("veil.node.store")

# Child tables first: dropping in this order never breaks a foreign key.
OLD_TABLES = (
    "node_delivery",
    "node_instance",
    "link_uid",
    "link_study",
    "link_patient",
    "node_return",
    "node_study",
)


class UpgradeNeedsKeyError(VeilError):
    """The database must be sealed by a node that holds the project key."""


def _rows(conn: Connection, table: str) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(text(f"SELECT * FROM {table}"))]


def _is_legacy(conn: Connection) -> bool:
    inspector = inspect(conn)
    if not inspector.has_table("node_study"):
        return False
    return "study_uid" in {column["name"] for column in inspector.get_columns("node_study")}


def seal_legacy_database(conn: Connection) -> None:
    if not _is_legacy(conn):  # created by this veil: already in the sealed form
        models.metadata.create_all(conn, tables=[models.settings])
        return
    from veil.node.store.migrations import SEALER_INFO

    old = {table: _rows(conn, table) for table in OLD_TABLES}
    sealer = conn.info.get(SEALER_INFO)
    if any(old.values()) and not isinstance(sealer, Sealer):
        raise UpgradeNeedsKeyError(
            "state.database: this database was written by an earlier veil and holds original "
            "identifiers in the clear; start the node once (`veil serve`, with the project "
            "key) to seal it, then run this command again"
        )
    for table in OLD_TABLES:
        conn.execute(text(f"DROP TABLE {table}"))
    new_tables = [
        models.studies,
        models.instances,
        models.deliveries,
        models.link_patients,
        models.link_studies,
        models.link_uids,
        models.returns,
        models.settings,
    ]
    models.metadata.create_all(conn, tables=new_tables)
    if not any(old.values()):
        return
    assert isinstance(sealer, Sealer)
    _copy_sealed(conn, sealer, old)


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    names = {column.name for column in table.columns}
    kept = [{k: v for k, v in row.items() if k in names} for row in rows]
    for start in range(0, len(kept), 500):
        conn.execute(table.insert(), kept[start : start + 500])


def _copy_sealed(conn: Connection, sealer: Sealer, old: dict[str, list[dict[str, Any]]]) -> None:
    now = time.time()
    study_keys = {}
    for row in old["node_study"]:
        study_keys[str(row["study_uid"])] = str(row["study_key"])
        row["study_digest"] = sealer.uid_digest(str(row.pop("study_uid")))
    _insert(conn, models.studies, old["node_study"])
    deid_study_of_instance = {}
    deid_study_of_id = {row["id"]: row.get("deid_study_uid") for row in old["node_study"]}
    for row in old["node_instance"]:
        row["sop_digest"] = sealer.uid_digest(str(row.pop("sop_uid")))
        if row.get("deid_sop_uid"):
            deid_study_of_instance[row["deid_sop_uid"]] = deid_study_of_id.get(row["study_id"])
    _insert(conn, models.instances, old["node_instance"])
    _insert(conn, models.deliveries, old["node_delivery"])
    for row in old["node_return"]:
        row["received_digest"] = sealer.uid_digest(str(row.pop("received_sop_uid")))
    _insert(conn, models.returns, old["node_return"])

    patients = []
    for row in old["link_patient"]:
        pseudo = str(row["pseudo_patient_id"])
        name = str(row["original_patient_name"])
        name_digest, _ = sealer.identity_digests(name, "")
        values = {"patient_id": str(row["original_patient_id"]), "name": name, "birth_date": ""}
        patients.append(
            {
                "pseudo_patient_id": pseudo,
                "sealed": sealer.seal(f"link_patient\x00{pseudo}", values),
                "name_digest": name_digest,
                "birth_digest": None,
                "created_at": now,
            }
        )
    _insert(conn, models.link_patients, patients)
    studies = []
    for row in old["link_study"]:
        pseudo = str(row["pseudo_study_uid"])
        original = str(row["original_study_uid"])
        values = {"study_uid": original, "accession": str(row["original_accession"])}
        studies.append(
            {
                "pseudo_study_uid": pseudo,
                "study_key": study_keys.get(original, "legacy"),
                "pseudo_patient_id": row["pseudo_patient_id"],
                "pseudo_accession": row["pseudo_accession"],
                "sealed": sealer.seal(f"link_study\x00{pseudo}", values),
                "created_at": now,
            }
        )
    _insert(conn, models.link_studies, studies)
    uids, dropped = [], 0
    linked_studies = {str(s["pseudo_study_uid"]) for s in studies}
    for row in old["link_uid"]:
        pseudo_uid = str(row["pseudo_uid"])
        study = pseudo_uid if pseudo_uid in linked_studies else None
        study = study or deid_study_of_instance.get(pseudo_uid)
        if not study:
            dropped += 1
            continue
        context = f"link_uid\x00{study}\x00{pseudo_uid}"
        uids.append(
            {
                "pseudo_study_uid": study,
                "pseudo_uid": pseudo_uid,
                "sealed": sealer.seal(context, {"uid": str(row["original_uid"])}),
                "kind": row["kind"],
                "created_at": now,
            }
        )
    _insert(conn, models.link_uids, uids)
    if conn.dialect.name == "postgresql":
        for table in ("node_study", "node_instance", "node_return"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )
    log.info(
        "sealed the linkage store of an earlier veil: %d patient(s), %d study link(s), "
        "%d UID link(s) (%d not tied to a study dropped)",
        len(patients),
        len(studies),
        len(uids),
        dropped,
    )
