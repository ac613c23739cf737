"""The mapper's keyed results memoised across the files of a process (the fast path's own).

A study's UIDs (study, series, frame of reference) and its patient's pseudonym repeat in every
file of the study; each is an HMAC (the pseudonym a base32 text too), ~3-10 us a value. The
results are pure functions of the key and the value (veil.mapping), so a memo per mapper gives
the same bytes; instance UIDs, unique per file, only pass through it (it is cleared when full).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from veil.mapping import Mapper, Patient

_LIMIT = 4096


@dataclass(frozen=True)
class MemoMapper(Mapper):
    """A ``Mapper`` whose ``uid`` and ``patient_pseudonym`` are memoised."""

    uids: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    pseudonyms: dict[Patient, str] = field(default_factory=dict, repr=False, compare=False)

    def uid(self, original: str) -> str:
        found = self.uids.get(original)
        if found is None:
            if len(self.uids) >= _LIMIT:
                self.uids.clear()
            found = self.uids[original] = super().uid(original)
        return found

    def patient_pseudonym(self, patient: Patient) -> str:
        # The instance UID names the subject only when the study does not (a placeholder
        # PatientID in a file without a study UID: veil.mapping.patient_key); memoised
        # without it otherwise, or every file of a study would miss.
        memo_key = patient if not _study_of(patient) else replace(patient, instance_uid="")
        found = self.pseudonyms.get(memo_key)
        if found is None:
            if len(self.pseudonyms) >= _LIMIT:
                self.pseudonyms.clear()
            found = self.pseudonyms[memo_key] = super().patient_pseudonym(patient)
        return found


def _study_of(patient: Patient) -> str:
    """The study UID as ``veil.mapping.patient_key`` reads it (cleaned)."""
    return patient.study_uid.strip().rstrip("\x00").strip()


_LAST: list[tuple[Mapper, MemoMapper]] = []


def memoised(mapper: Mapper) -> MemoMapper:
    """The memoising mapper for ``mapper`` (the last one asked is kept: a worker serves one
    job, so one mapper)."""
    if isinstance(mapper, MemoMapper):
        return mapper
    if _LAST and _LAST[0][0] is mapper:
        return _LAST[0][1]
    memo = MemoMapper(**{f.name: getattr(mapper, f.name) for f in fields(Mapper)})
    _LAST[:] = [(mapper, memo)]
    return memo
