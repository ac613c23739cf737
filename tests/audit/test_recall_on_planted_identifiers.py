"""Scenario: identifiers planted all over real files; the audit must find every one of them
when the file is copied through untouched, and none after `deid` with the basic policy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.audit.plant import IDENTITIES, Plant, Planted, plant
from tests.audit.samples import CASES, SAMPLES
from veil.audit import Finding, audit_output, audit_prepared, prepare
from veil.engine import deidentify
from veil.io.dicomfile import encode_dataset, read_bytes
from veil.keys import load_mapper
from veil.policy import compile_plan, load_policy

CSA_IMAGE_HEADER = 0x00291010  # (0029,xx10) under the creator SIEMENS CSA HEADER, block 10


def sample_path(corpus: Path, sample: str) -> Path:
    path = corpus / SAMPLES[sample]
    if path.is_dir():
        path = sorted(p for p in path.iterdir() if p.is_file())[0]
    return path


def planted_case(corpus: Path, sample: str, variant: str, **options: bool) -> Planted:
    return plant(sample_path(corpus, sample), variant, **options)


def found(plant_: Plant, findings: list[Finding]) -> bool:
    errors = [f for f in findings if f.is_error]
    if plant_.raw:
        return any(f.path.startswith(plant_.path + " bytes@") for f in errors)
    return any(f.path == plant_.path for f in errors)


@pytest.mark.parametrize(("sample", "variant"), CASES)
def test_untouched_copy_every_planted_identifier_is_found(
    corpus: Path, sample: str, variant: str
) -> None:
    planted = planted_case(corpus, sample, variant)
    original = read_bytes(planted.data, "planted")
    copy = read_bytes(planted.data, "copy")
    findings = audit_output(original, copy, planted.data, "copy.dcm")
    missed = [p for p in planted.plants if not found(p, findings)]
    recall = 1 - len(missed) / len(planted.plants)
    assert not missed, f"recall {recall:.0%}; missed: {[(p.path, p.note) for p in missed]}"


@pytest.mark.parametrize(("sample", "variant"), CASES)
def test_deid_basic_leaves_no_error_finding(corpus: Path, sample: str, variant: str) -> None:
    # Pixel data is copied byte for byte by design (no pixel option), and the preamble is
    # covered by its own test below, so neither is planted here.
    planted = planted_case(corpus, sample, variant, pixels=False, preamble=False)
    original = read_bytes(planted.data, "planted")
    output = deidentify(original, compile_plan(load_policy("basic")), load_mapper())
    findings = audit_output(original, output, encode_dataset(output), "out.dcm")
    errors = [f.to_dict() for f in findings if f.is_error]
    assert errors == []


def test_deid_basic_clears_the_preamble(corpus: Path) -> None:
    planted = planted_case(corpus, "ge-explicit", "ascii", pixels=False)
    original = read_bytes(planted.data, "planted")
    output = deidentify(original, compile_plan(load_policy("basic")), load_mapper())
    findings = audit_output(original, output, encode_dataset(output), "out.dcm")
    assert [f.to_dict() for f in findings if f.is_error] == []


def test_identifier_in_pixel_data_is_found_after_deid(corpus: Path) -> None:
    planted = planted_case(corpus, "ge-explicit", "ascii", preamble=False)
    original = read_bytes(planted.data, "planted")
    output = deidentify(original, compile_plan(load_policy("basic")), load_mapper())
    findings = audit_output(original, output, encode_dataset(output), "out.dcm")
    assert [f.path.split(" ")[0] for f in findings if f.is_error] == ["(7FE0,0010)"]
    assert findings[0].kind == "patient-name"


def test_prepare_before_an_in_place_deid_gives_the_same_answers(corpus: Path) -> None:
    # The batch de-identifies in place: it collects the input's values first.
    planted = planted_case(corpus, "siemens-mosaic", "latin1")
    untouched = prepare(read_bytes(planted.data, "planted"))
    findings = audit_prepared(untouched, read_bytes(planted.data, "copy"), planted.data, "c")
    assert all(found(p, findings) for p in planted.plants)

    clean = planted_case(corpus, "siemens-mosaic", "latin1", pixels=False, preamble=False)
    plan = compile_plan(load_policy("basic"))
    original = read_bytes(clean.data, "planted")
    prepared = prepare(original, plan.options)
    output = deidentify(original, plan, load_mapper(), in_place=True)
    assert [
        f for f in audit_prepared(prepared, output, encode_dataset(output), "o") if f.is_error
    ] == []


def test_no_planted_value_reaches_the_logs(
    corpus: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = []
    for sample, variant in CASES:
        planted = planted_case(corpus, sample, variant)
        original = read_bytes(planted.data, "planted")
        findings = audit_output(original, read_bytes(planted.data, "c"), planted.data, "c")
        texts += [str(f.to_dict()) + repr(f) for f in findings]
        output = deidentify(original, compile_plan(load_policy("basic")), load_mapper())
        audit_output(original, output, encode_dataset(output), "o")
    captured = capsys.readouterr()
    blob = "\n".join([*texts, caplog.text, captured.out, captured.err]).lower()
    secrets = {s.lower() for who in IDENTITIES.values() for s in who.secrets() if len(s) >= 3}
    assert not [s for s in secrets if s in blob]


def test_station_name_in_a_kept_siemens_csa_header_is_caught(corpus: Path) -> None:
    # dcm2niix needs the Siemens CSA headers, so that requirement keeps them; these files carry
    # the Station Name in the uninitialised padding of the CSA element names. Whatever the
    # engine does with that padding, the bytes written and the audit must agree.
    from veil.check.profile import load_profile

    plan = compile_plan(load_policy("basic"), [load_profile("dcm2niix")])
    original = read_bytes((corpus / "dcm_qa_12bit/12bit/12bitUnsigned.dcm").read_bytes(), "i")
    station = str(original.StationName).lower().encode()
    output = deidentify(original, plan, load_mapper())
    encoded = encode_dataset(output)
    csa_findings = [
        f
        for f in audit_output(original, output, encoded, "o")
        if f.is_error and f.path.startswith("(0029,1010) bytes@")
    ]
    # The engine masks the station name inside the kept CSA header (clean: xx10), and the
    # audit agrees that the header is clean.
    assert station in bytes(original[CSA_IMAGE_HEADER].value).lower()
    assert station not in encoded.lower()
    assert csa_findings == []
    # Had the header been kept as it came (unmasked), the audit would have caught it there.
    output[CSA_IMAGE_HEADER].value = original[CSA_IMAGE_HEADER].value
    unmasked = encode_dataset(output)
    caught = [
        f.kind
        for f in audit_output(original, output, unmasked, "o")
        if f.is_error and f.path.startswith("(0029,1010) bytes@")
    ]
    assert caught == ["device"]
