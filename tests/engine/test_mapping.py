"""The keyed mapping: deterministic under one key, unrelated under another, valid UIDs."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from veil.mapping import MAX_OFFSET_DAYS, MIN_OFFSET_DAYS, LookupEntry, Mapper

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
UID_FORM = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")


@given(st.text(min_size=1, max_size=64))
def test_uids_are_valid_deterministic_and_key_dependent(original: str) -> None:
    first = Mapper(KEY_A).uid(original)
    assert UID_FORM.match(first) and len(first) <= 64
    assert Mapper(KEY_A).uid(original) == first
    assert Mapper(KEY_B).uid(original) != first


def test_distinct_uids_map_to_distinct_uids() -> None:
    mapper = Mapper(KEY_A)
    originals = [f"1.2.840.113619.2.{n}" for n in range(5000)]
    assert len({mapper.uid(u) for u in originals}) == len(originals)


def test_uid_padding_does_not_change_the_mapping() -> None:
    # UIDs are padded with NUL to even length on disk; the same UID must map the same way.
    mapper = Mapper(KEY_A)
    assert mapper.uid("1.2.3\x00") == mapper.uid("1.2.3")


@given(st.text(min_size=1, max_size=64))
def test_patient_pseudonym_and_offset_are_stable_per_patient(patient_id: str) -> None:
    mapper = Mapper(KEY_A)
    pseudonym = mapper.patient_pseudonym(patient_id)
    assert pseudonym.startswith("VEIL") and len(pseudonym) == 16 and pseudonym.isalnum()
    assert mapper.patient_pseudonym(patient_id) == pseudonym
    offset = mapper.date_offset_days(patient_id)
    assert MIN_OFFSET_DAYS <= offset <= MAX_OFFSET_DAYS
    assert mapper.date_offset_days(patient_id) == offset


def test_lookup_table_wins_over_the_hash_for_its_rows_only() -> None:
    mapper = Mapper(KEY_A, {"12345": LookupEntry("TRIAL-007", 400)})
    assert mapper.patient_pseudonym("12345") == "TRIAL-007"
    assert mapper.date_offset_days("12345") == 400
    assert mapper.patient_pseudonym("99999") == Mapper(KEY_A).patient_pseudonym("99999")


def test_fingerprint_identifies_the_key_without_revealing_it() -> None:
    fingerprint = Mapper(KEY_A).fingerprint()
    assert fingerprint != Mapper(KEY_B).fingerprint()
    assert KEY_A.hex() not in fingerprint and len(fingerprint) == 16
