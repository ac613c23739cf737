"""Helpers for the console tests: a console on a temporary store, users of every role, and a
few studies in known states (written through the node's own store API)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from fastapi.testclient import TestClient

from veil.console import accounts
from veil.console.app import create_app
from veil.console.config import ConsoleConfig, WebConfig
from veil.console.roles import Role
from veil.node import controls
from veil.node.config import Destination, DestinationKind, NodeConfig, parse_config
from veil.node.store import Deidentified, PatientLink, Sealer, Store, StudyLink
from veil.node.store.states import ReturnState

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
PASSWORD = "correct horse battery staple"
ORIGIN = "http://testserver"
XSS = "<script>alert('veil')</script>"
ROLES = tuple(Role)
# One project key for every test store: the database records the key's fingerprint and a
# store copied from the session template must open under the same key.
TEST_KEY = bytes(range(32))


def key_file(folder: Path) -> Path:
    """The test key as the node reads it: a file with owner-only permissions."""
    path = folder / "veil.key"
    if not path.exists():
        path.write_text(TEST_KEY.hex() + "\n")
        path.chmod(0o600)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_config(tmp_path: Path, **changes: object) -> NodeConfig:
    base = parse_config({}, "test", tmp_path)
    destinations = (
        Destination(name="archive", kind=DestinationKind.FOLDER, path=tmp_path / "out"),
        Destination(name="research", kind=DestinationKind.FOLDER, path=tmp_path / "out2"),
    )
    values: dict[str, object] = {"destinations": destinations, "key": key_file(tmp_path)}
    values.update(changes)
    return replace(base, **values)  # type: ignore[arg-type]


@dataclass
class Seeded:
    """Keys of the studies the seed wrote, by the state they are in."""

    sent: str
    quarantined: str
    failed: str
    receiving: str
    return_id: int
    patient_pseudonym: str
    study_uid_pseudonym: str


def seed(store: Store) -> Seeded:
    """Four studies (sent, quarantined with findings, failed, still receiving), one
    quarantined returned result, and linkage rows whose originals carry an XSS payload;
    written through the node's own store API, as the node writes them."""
    now = time.time()
    keys = {}
    for n, state in enumerate(("sent", "quarantined", "failed", "receiving")):
        key = f"{n:02d}{state[:4]}feedbeefcafe"[:16]
        keys[state] = key
        store.studies.record_instance(
            f"1.2.3.{n}",
            key,
            f"VEILPSEUDO{n:02d}",
            f"1.2.3.{n}.1",
            "1.2.840.10008.5.1.4.1.1.4",
            f"{key}/a.dcm",
            now if state == "receiving" else now - 100,
        )
    studies = store.studies
    ids = {k: studies.find(v).id for k, v in keys.items()}  # type: ignore[union-attr]
    instance = {k: studies.instances(v)[0].id for k, v in ids.items()}
    studies.mark_stable(now - 50)
    studies.deidentified(ids["sent"], "2.25.1000", [Deidentified(instance["sent"], "2.25.1001")])
    studies.checked(ids["sent"], [instance["sent"]])
    studies.sent(ids["sent"], [instance["sent"]])
    studies.quarantine(ids["quarantined"], "the audit found an identifier; found at (0010,0010)")
    controls.record_findings(
        store,
        ids["quarantined"],
        [
            controls.StudyFinding(
                controls.FindingSource.AUDIT,
                file=f"{keys['quarantined']}/a.dcm",
                path="(0010,0010)",
                kind="patient-name",
                form="kept at its own place",
            ),
            controls.StudyFinding(controls.FindingSource.CHECK, rule="neuroquant/patient-age"),
        ],
    )
    studies.deidentified(ids["failed"], "2.25.2000", [Deidentified(instance["failed"], "2.25.2")])
    studies.checked(ids["failed"], [instance["failed"]])
    studies.send_failed(ids["failed"], 5, "archive: STOW-RS failed (HTTP 503)", retry_at=None)
    store.linkage.add(
        [PatientLink("VEILPSEUDO00", "MRN-" + XSS, XSS)],
        [StudyLink("2.25.1000", "1.2.3.0", "VEILPSEUDO00", "ACC" + XSS, "X")],
        [],
    )
    store.returns.add("returned-1.dcm", "2.25.77")
    ret = store.returns.in_state(ReturnState.RECEIVED)[0]
    store.returns.quarantine(ret.id, "unknown pseudonym")
    return Seeded(
        keys["sent"],
        keys["quarantined"],
        keys["failed"],
        keys["receiving"],
        ret.id,
        "VEILPSEUDO00",
        "2.25.1000",
    )


def make_users(store: Store) -> dict[Role, str]:
    """One user per role, named after it; returns role -> name."""
    names = {}
    for role in ROLES:
        name = role.value.replace("-", "")
        accounts.add_user(store, name, PASSWORD, frozenset({role}))
        names[role] = name
    return names


def console_app(tmp_path: Path, web: WebConfig | None = None, **node: object):  # type: ignore[no-untyped-def]
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = ConsoleConfig(node_config(tmp_path, **node), web or WebConfig(), "test")
    store = Store.open(config.node.database, Sealer(TEST_KEY))
    return create_app(config, store), store


def client(app: object) -> TestClient:
    return TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}, follow_redirects=False)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def sign_in(c: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = c.get("/sign-in")
    token = csrf_of(page.text)
    answer = c.post("/sign-in", data={"name": name, "password": password, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    home = c.get("/")
    assert home.status_code == 200
    return csrf_of(home.text)


def iter_roles() -> Iterator[Role]:
    yield from ROLES
