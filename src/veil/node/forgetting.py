"""Forgetting: a study's links and files removed on request, links of all studies after the
retention period.

`veil node forget STUDY` removes one study the node has finished with (sent, quarantined,
failed or not-eligible): its links (original <-> pseudonym; the patient's too when no other
study has that patient), its rows in the state store and its spool files. A result about it can
then no longer come home (it is quarantined as unknown). `linkage.retention_days` purges every
link older than that, on the node's own schedule; the studies' states stay, holding only keyed
digests.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from veil.errors import VeilError
from veil.node.spool import inside
from veil.node.store import Store, StudyState
from veil.node.store.states import HELD

log = logging.getLogger("veil.node")

FINISHED = (StudyState.SENT, *HELD)
PURGE_INTERVAL_SECONDS = 3600.0


class ForgetError(VeilError):
    """A study cannot be forgotten (unknown, or still being processed)."""


@dataclass(frozen=True)
class Forgotten:
    study_key: str
    links: int  # study links removed (0: it had none, e.g. quarantined before linking)
    files: int  # spool files removed


def forget_study(store: Store, spool_root: Path, ref: str) -> Forgotten:
    """Forget the study ``ref`` (its key, or its de-identified Study Instance UID)."""
    row = store.studies.find(ref)
    if row is None:
        raise ForgetError(f"no study {ref} in the node's store (see veil node status)")
    if row.state not in FINISHED:
        raise ForgetError(
            f"study {ref} is {row.state.value}: the node is still working on it; forget it once "
            "it is sent, quarantined, failed or not-eligible"
        )
    links = store.linkage.forget_study(row.study_key)
    files = 0
    for folder in ("incoming", "out"):
        target = inside(spool_root, spool_root / folder / row.study_key)
        if target.is_dir():
            files += sum(1 for p in target.iterdir() if p.is_file())
            shutil.rmtree(target)
    store.studies.forget(row.id)
    return Forgotten(row.study_key, links, files)


class Retention:
    """Purges links older than ``days`` at most once per PURGE_INTERVAL_SECONDS."""

    def __init__(self, store: Store, days: float | None) -> None:
        self.store = store
        self.days = days
        self._last = float("-inf")

    def run_if_due(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        if self.days is None or now - self._last < PURGE_INTERVAL_SECONDS:
            return 0
        self._last = now
        removed = self.store.linkage.purge(before=now - self.days * 86400.0)
        if removed:
            log.info(
                "retention: links of %d study(ies) older than %g day(s) purged",
                removed,
                self.days,
            )
        return removed
