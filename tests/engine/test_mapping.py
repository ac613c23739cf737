"""The keyed mapping: deterministic under one key, unrelated under another, valid UIDs."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from veil.mapping import (
    DEFAULT_PLACEHOLDER_IDS,
    MAX_OFFSET_DAYS,
    MIN_OFFSET_DAYS,
    LookupEntry,
    Mapper,
    Patient,
    is_placeholder_id,
)

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


@given(st.text(min_size=1, max_size=64), st.text(max_size=64))
def test_patient_pseudonym_and_offset_are_stable_per_patient(patient_id: str, issuer: str) -> None:
    mapper = Mapper(KEY_A)
    patient = Patient(patient_id, issuer, "1.2.3.4")
    pseudonym = mapper.patient_pseudonym(patient)
    assert pseudonym.startswith("VEIL") and len(pseudonym) == 16 and pseudonym.isalnum()
    assert mapper.patient_pseudonym(patient) == pseudonym
    offset = mapper.date_offset_days(patient)
    assert MIN_OFFSET_DAYS <= offset <= MAX_OFFSET_DAYS
    assert mapper.date_offset_days(patient) == offset


def test_pseudonyms_without_an_issuer_are_those_of_the_first_release() -> None:
    # Frozen value: data without an Issuer of Patient ID keeps its pseudonym and offset across
    # versions (HMAC of the PatientID under the 'patient' and 'date-offset' domains).
    mapper = Mapper(KEY_A)
    assert mapper.patient_pseudonym(Patient("PID-0042", "", "1.2.3")) == "VEIL" + mapper.token(
        "patient", "PID-0042", 12
    )
    number = int.from_bytes(mapper.digest("date-offset", "PID-0042")[:8], "big")
    expected = MIN_OFFSET_DAYS + number % (MAX_OFFSET_DAYS - MIN_OFFSET_DAYS + 1)
    assert mapper.date_offset_days(Patient("PID-0042", "", "1.2.3")) == expected


def test_one_mrn_from_two_issuers_is_two_patients() -> None:
    mapper = Mapper(KEY_A)
    north, south = Patient("12345", "NORTH-HOSP"), Patient("12345", "SOUTH-HOSP")
    assert mapper.patient_pseudonym(north) != mapper.patient_pseudonym(south)
    assert mapper.patient_pseudonym(north) != mapper.patient_pseudonym(Patient("12345"))
    # The study does not matter once the patient is known.
    assert mapper.patient_pseudonym(Patient("12345", "NORTH-HOSP", "1.2.3")) == (
        mapper.patient_pseudonym(Patient("12345", "NORTH-HOSP", "1.2.4"))
    )


def test_placeholder_patient_ids_never_merge_two_studies() -> None:
    mapper = Mapper(KEY_A)
    for placeholder in ("", "0", "000000", "UNKNOWN", "unknown", " - ", "ANONYMOUS"):
        first = Patient(placeholder, "", "1.2.3.1")
        second = Patient(placeholder, "", "1.2.3.2")
        assert mapper.patient_pseudonym(first) != mapper.patient_pseudonym(second), placeholder
        assert mapper.patient_pseudonym(first) == mapper.patient_pseudonym(first)


def test_placeholders_are_configurable() -> None:
    assert is_placeholder_id("UNKNOWN", DEFAULT_PLACEHOLDER_IDS)
    assert not is_placeholder_id("007", DEFAULT_PLACEHOLDER_IDS)
    assert is_placeholder_id("000", frozenset())  # only zeros: never a real ID
    custom = Mapper(KEY_A, placeholders=frozenset({"NOBODY"}))
    a, b = Patient("NOBODY", "", "1.1"), Patient("NOBODY", "", "1.2")
    assert custom.patient_pseudonym(a) != custom.patient_pseudonym(b)
    assert Mapper(KEY_A).patient_pseudonym(a) == Mapper(KEY_A).patient_pseudonym(b)


def test_lookup_table_wins_over_the_hash_for_its_rows_only() -> None:
    mapper = Mapper(
        KEY_A,
        {
            ("", "12345"): LookupEntry("TRIAL-007", 400),
            ("SOUTH", "555"): LookupEntry("TRIAL-008"),
        },
    )
    assert mapper.patient_pseudonym(Patient("12345")) == "TRIAL-007"
    assert mapper.patient_pseudonym(Patient("12345", "ANY-ISSUER")) == "TRIAL-007"
    assert mapper.date_offset_days(Patient("12345")) == 400
    assert mapper.patient_pseudonym(Patient("555", "SOUTH")) == "TRIAL-008"
    assert mapper.patient_pseudonym(Patient("555", "NORTH")) != "TRIAL-008"
    assert mapper.patient_pseudonym(Patient("99999")) == Mapper(KEY_A).patient_pseudonym(
        Patient("99999")
    )


def test_fingerprint_identifies_the_key_without_revealing_it() -> None:
    fingerprint = Mapper(KEY_A).fingerprint()
    assert fingerprint != Mapper(KEY_B).fingerprint()
    assert KEY_A.hex() not in fingerprint and len(fingerprint) == 16
