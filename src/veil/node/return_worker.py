"""The return path: a result that comes back (a report, a derived series) gets its original
identifiers back from the linkage store and is forwarded to the home PACS.

Only a patient and study this node sent can be re-identified; anything else is quarantined,
never guessed (`veil.node.linkage.reidentify`). Each outcome is one step of the
returned-result machine in `veil.node.store.states`.
"""

from __future__ import annotations

import io
import logging
import time

from pydicom import Dataset, dcmread

from veil.errors import VeilError
from veil.io.dicomfile import encode_dataset
from veil.node.config import RetryConfig
from veil.node.linkage import UnknownPseudonymError, reidentify
from veil.node.senders import OutItem, Sender
from veil.node.spool import Spool
from veil.node.store import Store

log = logging.getLogger("veil.node")


class ReturnWorker:
    def __init__(self, store: Store, spool: Spool, home: Sender, retry: RetryConfig) -> None:
        self.store = store
        self.spool = spool
        self.home = home
        self.retry = retry

    def forward(self, return_id: int) -> None:
        """RECEIVED -> FORWARDED, QUARANTINED, FAILED, or RECEIVED again with a later attempt."""
        row = self.store.returns.get(return_id)
        if row is None or not row.due(time.time()):
            return  # forwarded, quarantined or failed meanwhile, or not due yet
        path = self.spool.returned_file(row.spool_name)
        try:
            ds = dcmread(io.BytesIO(path.read_bytes()), force=True)
            self._remember_who(return_id, ds)
            reidentify(ds, self.store.linkage)
            encoded = encode_dataset(ds)
        except UnknownPseudonymError as exc:
            self.store.returns.quarantine(return_id, str(exc))
            log.warning("return %s quarantined: %s", row.spool_name, exc)
            return
        except (OSError, VeilError, ValueError, AttributeError) as exc:
            reason = f"cannot read or re-identify the result ({type(exc).__name__})"
            self.store.returns.quarantine(return_id, reason)
            log.warning("return %s quarantined: %s", row.spool_name, reason)
            return
        out = self.spool.home_path(row.spool_name)
        self.spool.store(out, encoded)
        item = OutItem(return_id, out, str(ds.StudyInstanceUID), str(ds.SOPInstanceUID))
        result = self.home.send([item])
        out.unlink(missing_ok=True)
        if result.problem is None:
            self.store.returns.forwarded(return_id)
            path.unlink(missing_ok=True)
            log.info("return %s re-identified and forwarded home", row.spool_name)
            return
        attempts = row.attempts + 1
        if attempts >= self.retry.max_attempts:
            self.store.returns.fail(return_id, result.problem, attempts)
        else:
            retry_at = time.time() + self.retry.delay(attempts)
            self.store.returns.retry_later(return_id, attempts, result.problem, retry_at)

    def _remember_who(self, return_id: int, ds: Dataset) -> None:
        """The pseudonym and study key the result is about, when the node issued them (read
        before re-identification: `veil node returns` shows them, never an original)."""
        pseudo_patient = str(ds.get("PatientID", "") or "").strip()
        pseudo_study = str(ds.get("StudyInstanceUID", "") or "").strip()
        patient, study_key = self.store.linkage.known(pseudo_patient, pseudo_study)
        self.store.returns.about(return_id, patient, study_key)
