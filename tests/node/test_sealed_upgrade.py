"""A database written by a veil before the sealed store (schema 2, originals in the clear) is
sealed when a node with the key opens it: no original stays in the file, links still work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from node_support import TEST_KEY
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
)

from veil.node.store import Sealer, Store, normalise_url
from veil.node.store.upgrade import UpgradeNeedsKeyError

ORIGINALS = {
    "study": "1.2.840.777.1",
    "sop": "1.2.840.777.1.1.1",
    "patient": "MRN-OLD-4711",
    "name": "OLDSCHEMA^PATIENT",
    "accession": "ACC-OLD-99",
}


def _schema_2_database(url: str) -> None:
    """The tables and rows an earlier veil (schema version 2) wrote, originals in the clear."""
    meta = MetaData()
    version = Table(
        "veil_schema_version",
        meta,
        Column("version", Integer, primary_key=True),
        Column("description", String(200)),
        Column("applied_at", Float),
    )
    study = Table(
        "node_study",
        meta,
        Column("id", Integer, primary_key=True),
        Column("study_uid", String(64), unique=True),
        Column("study_key", String(32), unique=True),
        Column("patient_pseudonym", String(256)),
        Column("deid_study_uid", String(64)),
        Column("state", String(16)),
        Column("reason", Text),
        Column("attempts", Integer),
        Column("next_attempt_at", Float),
        Column("first_received_at", Float),
        Column("last_received_at", Float),
        Column("updated_at", Float),
    )
    instance = Table(
        "node_instance",
        meta,
        Column("id", Integer, primary_key=True),
        Column("study_id", Integer, ForeignKey("node_study.id")),
        Column("sop_uid", String(64), unique=True),
        Column("sop_class_uid", String(64)),
        Column("spool_name", String(64)),
        Column("deid_sop_uid", String(64)),
        Column("state", String(16)),
        Column("received_at", Float),
    )
    Table(
        "node_delivery",
        meta,
        Column("instance_id", Integer, ForeignKey("node_instance.id"), primary_key=True),
        Column("destination", String(64), primary_key=True),
        Column("sent_at", Float),
    )
    patient = Table(
        "link_patient",
        meta,
        Column("pseudo_patient_id", String(256), primary_key=True),
        Column("original_patient_id", String(256)),
        Column("original_patient_name", String(256)),
    )
    link_study = Table(
        "link_study",
        meta,
        Column("pseudo_study_uid", String(64), primary_key=True),
        Column("original_study_uid", String(64)),
        Column("pseudo_patient_id", String(256)),
        Column("original_accession", String(256)),
        Column("pseudo_accession", String(256)),
    )
    uid = Table(
        "link_uid",
        meta,
        Column("pseudo_uid", String(64), primary_key=True),
        Column("original_uid", String(64)),
        Column("kind", String(32)),
    )
    Table(
        "node_return",
        meta,
        Column("id", Integer, primary_key=True),
        Column("spool_name", String(80), unique=True),
        Column("received_sop_uid", String(64)),
        Column("state", String(16)),
        Column("reason", Text),
        Column("attempts", Integer),
        Column("next_attempt_at", Float),
        Column("received_at", Float),
        Column("updated_at", Float),
    )
    engine = create_engine(normalise_url(url))
    meta.create_all(engine)
    now = time.time()
    with engine.begin() as conn:
        conn.execute(version.insert(), [{"version": 1}, {"version": 2}])
        conn.execute(
            study.insert().values(
                id=1, study_uid=ORIGINALS["study"], study_key="OLDKEY0000000001",
                patient_pseudonym="VEILOLD", deid_study_uid="2.25.1", state="sent",
                attempts=0, next_attempt_at=0, first_received_at=now, last_received_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            instance.insert().values(
                id=1, study_id=1, sop_uid=ORIGINALS["sop"], sop_class_uid="1.2.840.10008.5.1",
                spool_name="OLDKEY0000000001/x.dcm", deid_sop_uid="2.25.2", state="sent",
                received_at=now,
            )
        )  # fmt: skip
        conn.execute(
            patient.insert().values(
                pseudo_patient_id="VEILOLD",
                original_patient_id=ORIGINALS["patient"],
                original_patient_name=ORIGINALS["name"],
            )
        )
        conn.execute(
            link_study.insert().values(
                pseudo_study_uid="2.25.1", original_study_uid=ORIGINALS["study"],
                pseudo_patient_id="VEILOLD", original_accession=ORIGINALS["accession"],
                pseudo_accession="",
            )
        )  # fmt: skip
        conn.execute(
            uid.insert(),
            [
                {"pseudo_uid": "2.25.1", "original_uid": ORIGINALS["study"], "kind": "Study"},
                {"pseudo_uid": "2.25.2", "original_uid": ORIGINALS["sop"], "kind": "SOP"},
            ],
        )
    engine.dispose()


def test_an_older_database_is_sealed_by_the_node_and_refused_without_the_key(
    database_url: str, tmp_path: Path
) -> None:
    url = database_url
    if url.startswith("sqlite"):
        (tmp_path / "state.db").touch(mode=0o600)
    _schema_2_database(url)
    with pytest.raises(UpgradeNeedsKeyError, match="start the node once"):
        Store.open(url)  # e.g. `veil node status` before the node was upgraded
    store = Store.open(url, Sealer(bytes.fromhex(TEST_KEY)))
    try:
        patient = store.linkage.patient("VEILOLD")
        assert patient is not None and patient.original_patient_id == ORIGINALS["patient"]
        study = store.linkage.study("2.25.1")
        assert study is not None and study.original_accession == ORIGINALS["accession"]
        assert study.study_key == "OLDKEY0000000001"
        assert store.linkage.uids(["2.25.1", "2.25.2"], "2.25.1") == {
            "2.25.1": ORIGINALS["study"],
            "2.25.2": ORIGINALS["sop"],
        }
        (row,) = store.studies.status()
        assert (row.study_key, row.state.value) == ("OLDKEY0000000001", "sent")
    finally:
        store.close()
    if url.startswith("sqlite"):  # the file itself: nothing of the old rows is left in it
        data = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
        for value in ORIGINALS.values():
            assert value.encode() not in data, value
