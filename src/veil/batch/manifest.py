"""Resumable runs: what a cluster run leaves under ``OUT/_veil/`` and how a re-run reads it.

Layout (under the output folder or prefix; nothing here names an input or holds a value):

    _veil/run.json              the job: veil version, plan digest, key fingerprint, lookup
                                digest, layout, audit, requirement profiles (written first)
    _veil/groups/<group>.json   one per finished group, written after all of its files:
                                per file its position in the group, outcome, output, study,
                                series and problem (the input's name replaced by a marker)
    _veil/tmp/<group>/          temporary files of a group being written (local disks only;
                                emptied when the group starts again, removed at the end)

A group is finished when its manifest exists. A re-run of the same command lists
``_veil/groups/`` once and skips those groups; a ``run.json`` of another job (key, policy,
veil version, layout...) is refused, since its outputs would not match this run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from veil import __version__
from veil.batch.job import Job
from veil.batch.outcome import FileRecord
from veil.errors import ResumeError
from veil.io.atomic import write_atomic
from veil.io.storage import Store, with_retries
from veil.mapping import Mapper
from veil.pipeline import Outcome
from veil.policy.plan import Plan

STATE_DIR = "_veil"
MANIFEST_FORMAT = 1
INPUT_MARKER = "{veil:input}"  # stands for the input's name inside a stored record
# What a refusal names when two jobs differ (the values are safe to show: no identifier).
_SHOWN = ("veil", "policy", "requirements", "key_fingerprint", "lookup", "layout", "audit")


def canonical(value: Any) -> Any:
    """A JSON-ready form that is the same in every process (sets sorted, no addresses)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "@": type(value).__name__,
            **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, Enum):
        return canonical(value.value)
    if isinstance(value, dict):
        pairs = [[canonical(k), canonical(v)] for k, v in value.items()]
        return sorted(pairs, key=lambda pair: json.dumps(pair, sort_keys=True))
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    pattern = getattr(value, "pattern", None)  # compiled regular expressions
    if isinstance(pattern, str):
        return {"@re": pattern}
    raise TypeError(f"cannot fingerprint a {type(value).__name__} in the plan")


def plan_digest(plan: Plan) -> str:
    """A digest of everything the plan does (the same in every process and machine)."""
    text = json.dumps(canonical(plan), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def lookup_digest(mapper: Mapper) -> str | None:
    """A keyed digest of the lookup table (its rows are original PatientIDs: never hashed bare)."""
    if not mapper.lookup:
        return None
    rows = sorted([k, v.pseudonym, v.date_offset_days] for k, v in mapper.lookup.items())
    return mapper.digest("lookup-table", json.dumps(rows)).hex()[:32]


def job_identity(
    job: Job, requirement_profiles: Sequence[str] = (), quality_checks: bool = True
) -> dict[str, Any]:
    """What decides a run's outputs and records: two runs with equal identities agree."""
    return {
        "veil": __version__,
        "policy": job.plan.policy_name,
        "requirements": list(job.plan.requirement_names),
        "plan": plan_digest(job.plan),
        "key_fingerprint": job.mapper.fingerprint(),
        "lookup": lookup_digest(job.mapper),
        "layout": job.layout.value,
        "audit": job.audit,
        "checks": list(requirement_profiles),
        "quality_checks": quality_checks,
    }


def fingerprint_of(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- one group's manifest ------------------------------------------------------------------
def _swap(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_swap(v, old, new) for v in value]
    return value


def record_to_stored(index: int, record: FileRecord, display: str) -> dict[str, Any]:
    """A record without the input's name (it may identify someone); ``index`` finds it again."""
    data = record.to_dict()
    data.pop("input", None)
    data["i"] = index
    data["size"] = record.size
    stored: dict[str, Any] = _swap(data, display, INPUT_MARKER) if display else data
    return stored


def record_from_stored(data: dict[str, Any], display: str) -> FileRecord:
    data = _swap(data, INPUT_MARKER, display)
    return FileRecord(
        display,
        Outcome(data["outcome"]),
        int(data.get("size", 0)),
        output=data.get("output"),
        problem=data.get("problem"),
        study=data.get("study"),
        series=data.get("series"),
        findings=tuple(data.get("findings", ())),
        retry=bool(data.get("retry", False)),
        engine=str(data.get("engine", "")),
    )


@dataclass(frozen=True)
class GroupManifest:
    """What a finished group leaves behind."""

    group: str
    job: str  # the job fingerprint
    records: tuple[dict[str, Any], ...]  # record_to_stored forms, in the group's order
    regressions: tuple[dict[str, Any], ...] = ()
    unverifiable: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        data = {
            "veil_manifest": MANIFEST_FORMAT,
            "group": self.group,
            "job": self.job,
            "files": list(self.records),
            "check_regressions": list(self.regressions),
            "check_unverifiable": list(self.unverifiable),
        }
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> GroupManifest:
        data = json.loads(raw)
        if data.get("veil_manifest") != MANIFEST_FORMAT:
            raise ValueError("unknown manifest format")
        return cls(
            str(data["group"]),
            str(data["job"]),
            tuple(data["files"]),
            tuple(data.get("check_regressions", ())),
            tuple(str(line) for line in data.get("check_unverifiable", ())),
        )


# -- where the state lives -----------------------------------------------------------------
@dataclass(frozen=True)
class StateStore:
    """``_veil/`` under a local output folder or an object-store prefix."""

    out: Path | Store

    @property
    def root(self) -> str:
        """The state folder itself, for messages."""
        if isinstance(self.out, Store):
            return self.out.url_of(f"{STATE_DIR}/")
        return str(self.out / STATE_DIR) + os.sep

    @property
    def location(self) -> str:
        """Where the group manifests are, as shown in the report."""
        if isinstance(self.out, Store):
            return self.out.url_of(f"{STATE_DIR}/groups/")
        return str(self.out / STATE_DIR / "groups") + os.sep

    def _local(self, relative: str) -> Path:
        assert isinstance(self.out, Path)
        return self.out / STATE_DIR / relative

    def _read(self, relative: str) -> bytes | None:
        if isinstance(self.out, Store):
            try:
                return self.out.read(f"{STATE_DIR}/{relative}")
            except FileNotFoundError:
                return None
        try:
            return self._local(relative).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, relative: str, data: bytes) -> None:
        if isinstance(self.out, Store):
            self.out.put(f"{STATE_DIR}/{relative}", data)
            return
        temp_root = self._local("tmp")  # emptied at the end of a run: no stray .part files
        temp_root.mkdir(parents=True, exist_ok=True)
        write_atomic(self._local(relative), data, tmp_dir=temp_root)

    # -- the run ---------------------------------------------------------------------------
    def begin_run(self, identity: dict[str, Any], overwrite: bool) -> None:
        """Record this run's job, or check that the output's earlier run had the same job."""
        raw = self._read("run.json")
        if raw is not None:
            try:
                earlier = json.loads(raw)
            except ValueError:
                earlier = {}
            if fingerprint_of(earlier.get("job", {})) == fingerprint_of(identity):
                return
            if not overwrite:
                differs = [
                    f"{name} {earlier.get('job', {}).get(name)!r} there, {identity.get(name)!r} now"
                    for name in _SHOWN
                    if earlier.get("job", {}).get(name) != identity.get(name)
                ] or ["the compiled policy or the checks differ"]
                raise ResumeError(
                    f"{self.root}run.json: the output holds the results of another run ("
                    + "; ".join(differs)
                    + "); use an empty --out, the same key and options, or --overwrite"
                )
            self._remove_groups()
        self._write("run.json", (json.dumps({"job": identity}, indent=1) + "\n").encode())

    def _remove_groups(self) -> None:
        if isinstance(self.out, Store):
            fs = self.out.fs
            path = self.out.path(f"{STATE_DIR}/groups")
            if fs.exists(path):
                fs.rm(path, recursive=True)
            return
        shutil.rmtree(self._local("groups"), ignore_errors=True)

    def finished_groups(self) -> set[str]:
        """Ids of the groups with a manifest (one listing)."""
        if isinstance(self.out, Store):
            names = self.out.list_names(f"{STATE_DIR}/groups")
        else:
            try:
                names = os.listdir(self._local("groups"))
            except FileNotFoundError:
                names = []
        return {name[: -len(".json")] for name in names if name.endswith(".json")}

    def read_groups(self, ids: Iterable[str]) -> dict[str, GroupManifest]:
        """The manifests of these groups; unreadable ones are left out (their groups re-run)."""
        wanted = [f"groups/{gid}.json" for gid in ids]
        found: dict[str, GroupManifest] = {}
        if isinstance(self.out, Store) and wanted:
            store = self.out
            names = [store.path(f"{STATE_DIR}/{relative}") for relative in wanted]
            for start in range(0, len(names), 256):
                batch = names[start : start + 256]

                def fetch(batch: list[str] = batch) -> dict[str, Any]:
                    # One call per batch: s3fs and gcsfs fetch the objects concurrently.
                    blobs: dict[str, Any] = store.fs.cat(batch, on_error="return")
                    return blobs

                for blob in with_retries(fetch).values():
                    self._parse(blob, found)
            return found
        for relative in wanted:
            self._parse(self._read(relative), found)
        return found

    @staticmethod
    def _parse(blob: object, found: dict[str, GroupManifest]) -> None:
        if not isinstance(blob, bytes):
            return
        try:
            manifest = GroupManifest.from_json(blob)
        except (ValueError, KeyError, TypeError):
            return
        found[manifest.group] = manifest

    def write_group(self, manifest: GroupManifest) -> None:
        self._write(f"groups/{manifest.group}.json", manifest.to_json())

    # -- temporary files (local disks) -----------------------------------------------------
    def temp_dir(self, group: str) -> Path | None:
        """A fresh temporary folder for a group (what a lost attempt left there is removed)."""
        if isinstance(self.out, Store):
            return None
        folder = self._local(f"tmp/{group}")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove_temp(self, group: str | None = None) -> None:
        if isinstance(self.out, Path):
            shutil.rmtree(self._local(f"tmp/{group}" if group else "tmp"), ignore_errors=True)
