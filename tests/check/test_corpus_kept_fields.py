"""What a viewer or the volumetry reads is never lost as a side effect of masking: over the
whole corpus, every attribute the basic-viewing and neuroquant profiles read and keep comes out
of `veil deid --for P` with the input's value (UIDs are replaced by design and dates shifted,
so those are checked by the profiles' rules instead)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread

from veil.check import load_profile
from veil.check.access import lookup
from veil.dicom import keyword_vr
from veil.io.dicomfile import read_dataset

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("profile", ["basic-viewing", "neuroquant"])
def test_every_attribute_the_destination_reads_keeps_its_value(
    deid_corpus: Callable[..., tuple[Path, dict]], profile: str
) -> None:
    out, report = deid_corpus("--for", profile, "--no-audit")
    loaded = load_profile(profile)
    keywords = [
        p.keyword
        for p in loaded.preservations()
        if not (p.derive_age or p.shift_dates) and keyword_vr(p.keyword) not in ("UI", "DA", "DT")
    ]
    assert "SeriesDescription" in keywords or "Manufacturer" in keywords
    compared = 0
    lost: dict[str, list[str]] = {}
    for record in report["files"]:
        if record["outcome"] != "written":
            continue
        source = read_dataset(Path(record["input"]))
        result = dcmread(out / record["output"], stop_before_pixels=True)
        compared += 1
        for keyword in keywords:
            before, after = lookup(source, keyword), lookup(result, keyword)
            if str(before) != str(after):
                lost.setdefault(keyword, []).append(record["output"])
    assert compared >= 900
    assert not lost, {keyword: files[:5] for keyword, files in lost.items()}
