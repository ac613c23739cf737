"""The gate of the streaming fast path: whatever it writes, the reference path writes too,
byte for byte; whatever it cannot take, it hands over (a Fallback), never a different file.

Run over the tests' own datasets with every policy shape, generated datasets (nesting, private
blocks, character sets, UN, undefined lengths), planted identifiers the audit must stop, the
real corpus (../shared/corpus) and the benchmark corpus.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, MRImageStorage

from tests.engine import builders as b
from veil.check.profile import load_profile
from veil.engine.fast import Fallback, FastOutput, deidentify_bytes
from veil.mapping import Mapper, Patient, PatientKeyKind, patient_key
from veil.pipeline import FAST, Engine, FileResult, Outcome, Settings, deidentify_file
from veil.policy import compile_plan, load_policy, parse_policy
from veil.policy.plan import Plan

MAPPER = Mapper(bytes(range(32)))
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _encode(ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", MRImageStorage)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3.4")
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _plan(text: str = "", profiles: tuple[str, ...] = ()) -> Plan:
    policy = parse_policy(text, "t.yaml") if text else load_policy("basic")
    return compile_plan(policy, [load_profile(name) for name in profiles])


def reference(data: bytes, plan: Plan, *, audit: bool = True) -> FileResult:
    settings = Settings(plan, MAPPER, audit=audit, engine=Engine.REFERENCE)
    return deidentify_file(data, "input.dcm", settings)


def deid(data: bytes, plan: Plan) -> FileResult:
    """What veil deid, the node and the console do with a file: the fast path first."""
    return deidentify_file(data, "x.dcm", Settings(plan, MAPPER, engine=Engine.AUTO))


def same_or_handed_over(data: bytes, plan: Plan, *, audit: bool = True) -> FastOutput | Fallback:
    """The fast path's answer, after holding it to the reference path's output."""
    fast = deidentify_bytes(data, plan, MAPPER, audit=audit)
    if isinstance(fast, FastOutput):
        expected = reference(data, plan, audit=audit)
        assert expected.outcome is Outcome.WRITTEN, expected.problem
        assert fast.encoded == expected.encoded
    return fast


POLICIES = {
    "basic": "",
    "research": "name: r\nbase: basic\noptions: [retain-patient-characteristics, "
    "retain-longitudinal-modified-dates, clean-descriptors]\n",
    "safe-private-and-uids": "name: s\nbase: basic\noptions: [retain-safe-private, "
    "retain-uids, retain-device-identity, retain-institution-identity]\n",
    "structured": "name: c\nbase: basic\noptions: [clean-structured-content, "
    "retain-longitudinal-full-dates]\n",
    # research-release's options (veil.text cleaning of descriptors, code meanings and
    # structured content; dates in dummied sequences shifted under Modified Dates).
    "release": "name: rr\nbase: basic\noptions: [retain-safe-private, "
    "retain-patient-characteristics, retain-longitudinal-modified-dates, clean-descriptors, "
    "clean-structured-content]\n",
    "overrides": "name: o\nbase: basic\noverrides:\n"
    "  - {attribute: StudyDescription, action: replace, value: BRAIN}\n"
    "  - {attribute: SeriesDescription, action: hash}\n"
    "  - {attribute: PatientID, action: pseudonym}\n"
    "  - {attribute: PatientName, action: pseudonym}\n"
    "  - {attribute: StudyDate, action: shift}\n",
    # `set` of attributes the file has: the reference handler itself, on both paths.
    "set-present": "name: sp\nbase: basic\nset:\n  Manufacturer: GE MEDICAL SYSTEMS\n"
    "  StudyDescription: BRAIN\n",
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_test_datasets_come_out_the_same_on_both_paths(policy: str) -> None:
    data = _encode(b.mr_dataset())
    result = same_or_handed_over(data, _plan(POLICIES[policy]))
    assert isinstance(result, FastOutput), result  # plain explicit VR files are taken


def test_neuroquant_requirements_come_out_the_same_and_derive_the_age() -> None:
    ds = b.mr_dataset()
    if "PatientAge" in ds:
        del ds.PatientAge
    result = same_or_handed_over(_encode(ds), _plan(profiles=("neuroquant",)))
    assert isinstance(result, FastOutput)
    assert b"Y" in result.encoded  # an age nnnY was derived (and equals the reference's)


def test_implicit_vr_and_private_masking_are_handed_over() -> None:
    implicit = _encode(b.mr_dataset(), ImplicitVRLittleEndian)
    assert isinstance(deidentify_bytes(implicit, _plan(), MAPPER, audit=True), Fallback)
    masking = _plan(profiles=("dcm2niix",))
    result = deidentify_bytes(_encode(b.mr_dataset()), masking, MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason == "private blob masking"


def test_a_set_attribute_the_file_lacks_is_handed_over_and_added_by_the_reference() -> None:
    ds = b.mr_dataset()
    ds.Manufacturer = "SIEMENS"
    for keyword in ("InstitutionalDepartmentName", "StationName"):
        if keyword in ds:
            delattr(ds, keyword)
    plan = _plan("name: s\nbase: basic\nset:\n  Manufacturer: GE\n  StationName: MR1\n")
    data = _encode(ds)
    result = deidentify_bytes(data, plan, MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason == "policy set adds an attribute"
    written = deid(data, plan)
    assert written.outcome is Outcome.WRITTEN and written.engine != FAST
    out = dcmread(io.BytesIO(written.encoded))
    assert (out.Manufacturer, out.StationName) == ("GE", "MR1")
    # Every set attribute present: the fast path takes the file, with the reference's bytes.
    ds.StationName = "OLD"
    taken = same_or_handed_over(_encode(ds), plan)
    assert isinstance(taken, FastOutput), taken


def test_a_file_the_reader_refuses_is_handed_over_not_written() -> None:
    data = _encode(b.mr_dataset())
    for broken in (data[:-10], data[:300], b"not dicom at all" * 20, data[:128] + b"DICX"):
        assert isinstance(deidentify_bytes(broken, _plan(), MAPPER, audit=True), Fallback)


# -- the audit: the fast path never writes what the reference audit would stop -------------
def test_an_identifier_kept_by_an_override_sends_the_file_to_the_reference_audit() -> None:
    plan = _plan("name: k\nbase: basic\noverrides:\n  - {attribute: PatientName, action: keep}\n")
    data = _encode(b.mr_dataset())
    result = deidentify_bytes(data, plan, MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason.startswith("audit")
    assert deid(data, plan).outcome is Outcome.QUARANTINED


def test_a_name_planted_in_the_pixel_data_sends_the_file_to_the_reference_audit() -> None:
    ds = b.mr_dataset()
    pixels = bytearray(ds.PixelData)
    pixels[99:109] = b"\0Doe John\0"  # a burned-in label, not glued to other letters
    ds.PixelData = bytes(pixels)
    data = _encode(ds)
    result = deidentify_bytes(data, _plan(), MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason.startswith("audit")
    assert deid(data, _plan()).outcome is Outcome.QUARANTINED


def test_an_id_in_a_kept_description_sends_the_file_to_the_reference_audit() -> None:
    ds = b.mr_dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.add_new(0x00181030, "LO", f"protocol for {b.PATIENT_ID}")  # ProtocolName: kept
    data = _encode(ds)
    plan = _plan("name: p\nbase: basic\noverrides:\n  - {attribute: ProtocolName, action: keep}\n")
    result = deidentify_bytes(data, plan, MAPPER, audit=True)
    assert isinstance(result, Fallback) and result.reason.startswith("audit")
    assert deid(data, plan).outcome is Outcome.QUARANTINED


# -- who the patient is: Issuer of Patient ID, placeholder IDs (veil.mapping.Patient) ------
LONGITUDINAL = (
    POLICIES["research"]
    + "overrides:\n  - {attribute: PatientID, action: pseudonym}\n"
    + "  - {attribute: PatientName, action: pseudonym}\n"
)


def _written(data: bytes, plan: Plan) -> Dataset:
    result = same_or_handed_over(data, plan)
    assert isinstance(result, FastOutput), result
    assert deid(data, plan).engine == FAST
    return dcmread(io.BytesIO(result.encoded))


def test_the_fast_path_keys_the_pseudonym_and_offset_on_issuer_and_patient_id() -> None:
    plan = _plan(LONGITUDINAL)
    ds = b.mr_dataset()
    plain = _written(_encode(ds), plan)
    ds.IssuerOfPatientID = "HOSPITAL-A"
    issued = _written(_encode(ds), plan)
    ds.IssuerOfPatientID = "HOSPITAL-B"
    other_issuer = _written(_encode(ds), plan)
    expected = MAPPER.patient_pseudonym(Patient(b.PATIENT_ID, "HOSPITAL-A", b.STUDY_UID, b.SOP_UID))
    assert issued.PatientID == issued.PatientName == expected
    # One MRN from two hospitals is two patients; without an issuer, the first release's key.
    assert len({plain.PatientID, issued.PatientID, other_issuer.PatientID}) == 3
    assert plain.PatientID == MAPPER.patient_pseudonym(Patient(b.PATIENT_ID))
    assert issued.StudyDate != other_issuer.StudyDate  # another patient, another date offset


def test_the_fast_path_makes_each_study_its_own_subject_for_a_placeholder_id() -> None:
    plan = _plan(LONGITUDINAL)
    outputs = []
    for study in ("1.2.826.0.1.3680043.8.498.71", "1.2.826.0.1.3680043.8.498.72"):
        ds = b.mr_dataset()
        ds.PatientID = "UNKNOWN"
        ds.IssuerOfPatientID = "HOSPITAL-A"
        ds.StudyInstanceUID = study
        outputs.append(_written(_encode(ds), plan))
        assert outputs[-1].PatientID == MAPPER.patient_pseudonym(Patient("", "", study))
    first, second = outputs
    assert first.PatientID != second.PatientID
    assert first.StudyDate != second.StudyDate


def test_another_patient_in_a_nested_item_keeps_their_own_identity_on_both_paths() -> None:
    ds = b.mr_dataset()
    ds.IssuerOfPatientID = "HOSPITAL-A"
    other = Dataset()
    other.PatientID = "MRN-OTHER-77"
    other.IssuerOfPatientID = "HOSPITAL-B"
    ds.OtherPatientIDsSequence = Sequence([other])
    plan = _plan(LONGITUDINAL + "  - {attribute: OtherPatientIDsSequence, action: keep}\n")
    written = _written(_encode(ds), plan)
    nested = written.OtherPatientIDsSequence[0].PatientID
    assert nested == MAPPER.patient_pseudonym(
        Patient("MRN-OTHER-77", "HOSPITAL-B", b.STUDY_UID, b.SOP_UID)
    )
    assert nested != written.PatientID


# Real corpus files whose identity is not a plain PatientID: an issuer (Agfa/VUMC), a
# placeholder ID ("Anon", "Anonymous", empty). Both paths must key the pseudonym and the date
# offset the same way (veil.mapping.patient_key), byte for byte.
IDENTITY_FILES = {
    "dcm_qa_agfa/Agfa/011-0001.img": PatientKeyKind.ISSUER_AND_ID,
    "dcm_qa_agfa/Siemens/011-0002.img": PatientKeyKind.ISSUER_AND_ID,
    "nibabel/nicom_test_data/csa_slice_norm.dcm": PatientKeyKind.STUDY,
    "nibabel/nicom_test_data/slicethickness_empty_string.dcm": PatientKeyKind.STUDY,
    "pydicom/test_files/reportsi.dcm": PatientKeyKind.STUDY,
    "pydicom_data/pypi_wheel_1.0.0/emri_small.dcm": PatientKeyKind.STUDY,
}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
@pytest.mark.parametrize("relative", sorted(IDENTITY_FILES))
def test_corpus_files_with_an_issuer_or_a_placeholder_id_come_out_the_same(relative: str) -> None:
    data = (CORPUS / relative).read_bytes()
    patient = Patient.of(dcmread(io.BytesIO(data), stop_before_pixels=True))
    assert patient_key(patient).kind is IDENTITY_FILES[relative]
    written = _written(data, _plan(LONGITUDINAL))
    assert written.PatientID == MAPPER.patient_pseudonym(patient)
    if IDENTITY_FILES[relative] is PatientKeyKind.ISSUER_AND_ID:
        # The same MRN without its issuer is another patient: another pseudonym.
        assert written.PatientID != MAPPER.patient_pseudonym(Patient(patient.patient_id))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_a_corpus_file_given_a_placeholder_id_becomes_its_studys_subject_on_both_paths() -> None:
    source = dcmread(CORPUS / "dcm_qa_agfa/Agfa/011-0001.img")
    outputs = []
    for placeholder in ("UNKNOWN", "0000", ""):
        source.PatientID = placeholder
        buffer = io.BytesIO()
        source.save_as(buffer, enforce_file_format=True)
        outputs.append(_written(buffer.getvalue(), _plan(LONGITUDINAL)))
    subject = MAPPER.patient_pseudonym(Patient("", "", str(source.StudyInstanceUID)))
    assert {out.PatientID for out in outputs} == {subject}
    assert len({out.StudyDate for out in outputs}) == 1


# -- generated datasets ----------------------------------------------------------------------
_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ^.-", min_size=0, max_size=24)
_LATIN = st.text(alphabet="ABCDÉÖÜßéàç ^", min_size=1, max_size=12)
# Identifying text by its shape (veil.text): cleaned on both paths, reported by the audit.
_SHAPED = st.sampled_from(
    [
        "T1 AXIAL",
        "Dr. Jonathan Whitfield",
        "call 617-555-0142",
        "MRN 55120394",
        "mail j.doe@example.org",
        "SSN 078-05-1120",
        "seen 12/03/2021",
        "12 Harbor Street, Boston",
    ]
)
_UID = st.from_regex(r"1\.2\.826\.0\.1\.[1-9][0-9]{0,8}(\.[1-9][0-9]{0,6}){1,3}", fullmatch=True)


@st.composite
def _items(draw: st.DrawFn, depth: int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = MRImageStorage
    item.ReferencedSOPInstanceUID = draw(_UID)
    if draw(st.booleans()):
        item.PatientName = draw(_TEXT)
    if draw(st.booleans()):
        item.CodeMeaning = draw(st.one_of(_TEXT, _SHAPED))
    if draw(st.booleans()):
        item.StudyDate = draw(st.sampled_from(["20240131", "", "2024", "20241301"]))
    if depth < 2 and draw(st.booleans()):
        inner = Sequence([draw(_items(depth + 1)) for _ in range(draw(st.integers(0, 2)))])
        item.ReferencedImageSequence = inner
        item["ReferencedImageSequence"].is_undefined_length = draw(st.booleans())
    if draw(st.booleans()):
        block = item.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        block.add_new(0x10, "OB", b"SV10" + draw(_TEXT).encode())
    item.is_undefined_length_sequence_item = draw(st.booleans())
    return item


@st.composite
def generated(draw: st.DrawFn) -> bytes:
    ds = b.mr_dataset()
    ds.PatientID = draw(st.sampled_from([b.PATIENT_ID, "", "0000", "UNKNOWN", "ANON"]))
    if draw(st.booleans()):
        ds.IssuerOfPatientID = draw(st.sampled_from(["HOSPITAL-A", "", "B "]))
    if draw(st.booleans()):
        ds.SpecificCharacterSet = draw(st.sampled_from(["ISO_IR 100", "ISO_IR 192", ""]))
        if draw(st.booleans()):
            ds.InstitutionName = draw(_LATIN)
    ds.StudyDescription = draw(st.one_of(_TEXT, _SHAPED))
    ds.PatientComments = draw(_TEXT)
    if draw(st.booleans()):
        # Dummied by the basic profile: its dates shift instead under Modified Dates.
        observer = Dataset()
        observer.VerifyingObserverName = draw(_TEXT)
        observer.VerificationDateTime = draw(st.sampled_from(["20240131120000", "", "2024"]))
        observer.VerifyingOrganization = draw(_SHAPED)
        ds.VerifyingObserverSequence = Sequence([observer])
    ds.ReferencedStudySequence = Sequence([draw(_items(0)) for _ in range(draw(st.integers(0, 3)))])
    ds["ReferencedStudySequence"].is_undefined_length = draw(st.booleans())
    if draw(st.booleans()):
        block = ds.private_block(
            0x0019, draw(st.sampled_from(["SIEMENS MR HEADER", "GEMS_ACQU_01"])), create=True
        )
        block.add_new(0x08, "CS", draw(_TEXT))
        block.add_new(0x0C, "IS", str(draw(st.integers(0, 999))))
        block.add_new(0x10, draw(st.sampled_from(["UN", "OB", "LO"])), b"X" * 4)
    if draw(st.booleans()):
        ds.add_new(0x00091001, "UN", b"\x01\x02")  # a private element without a creator
    if draw(st.booleans()):
        ds.add_new(0x60000010, "US", 16)
        ds.add_new(0x60003000, "OW", b"\0" * 32)
    if draw(st.booleans()):
        ds.OtherPatientIDsSequence = Sequence([Dataset()])
        ds.OtherPatientIDsSequence[0].PatientID = draw(_TEXT)
        if draw(st.booleans()):
            ds.OtherPatientIDsSequence[0].IssuerOfPatientID = draw(_TEXT)
    return _encode(ds)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=generated(), policy=st.sampled_from(sorted(POLICIES)), audit=st.booleans())
def test_generated_datasets_come_out_the_same_or_are_handed_over(
    data: bytes, policy: str, audit: bool
) -> None:
    same_or_handed_over(data, _plan(POLICIES[policy]), audit=audit)


# -- real files ------------------------------------------------------------------------------
def _over(files: list[Path], plan: Plan) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for path in files:
        result = same_or_handed_over(path.read_bytes(), plan)
        outcomes["fast" if isinstance(result, FastOutput) else result.reason] += 1
    return outcomes


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
@pytest.mark.parametrize(
    "policy,profiles",
    [("", ()), (POLICIES["research"], ()), (POLICIES["release"], ()), ("", ("neuroquant",))],
)
def test_the_whole_corpus_comes_out_the_same_on_both_paths(
    policy: str, profiles: tuple[str, ...]
) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".md", ".tsv"))
    outcomes = _over(files, _plan(policy, profiles))
    # Most real files are taken (the rest: not Part 10, other syntaxes and character sets).
    assert outcomes["fast"] >= 0.75 * sum(
        count for reason, count in outcomes.items() if "DICM" not in reason
    ), outcomes


@pytest.mark.slow
def test_the_benchmark_corpus_comes_out_the_same_on_both_paths(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from synth import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BENCHMARKS))
    info = generate(tmp_path, 1, 7)
    files = sorted(Path(info.root).rglob("*.dcm"))[::3]
    for profiles in ((), ("neuroquant",)):
        outcomes = _over(files, _plan(profiles=profiles))
        assert outcomes == Counter({"fast": len(files)}), outcomes
