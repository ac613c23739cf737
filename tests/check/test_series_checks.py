"""Series-level checks on real 3D T1 series, intact and with slices taken out, doubled, moved
or turned; enhanced multi-frame objects through their functional groups."""

from __future__ import annotations

import copy

import pytest
from pydicom.dataset import Dataset

from tests.check.samples import sample, series
from veil.check import load_profile
from veil.check.evaluate import Collector, SeriesResult
from veil.check.geometry import plane_of, t1_weighted
from veil.check.model import Outcome


def _check(files: list[Dataset], quality_checks: bool = True) -> dict[str, Outcome]:
    collector = Collector([load_profile("neuroquant")], quality_checks)
    for index, ds in enumerate(files):
        collector.add(ds, f"file{index:04d}")
    (result,) = collector.results()
    return {r.rule_id.split("/")[1]: r.outcome for r in result.results}


def _result(files: list[Dataset]) -> SeriesResult:
    collector = Collector([load_profile("neuroquant")])
    for index, ds in enumerate(files):
        collector.add(ds, f"file{index:04d}")
    (result,) = collector.results()
    return result


SERIES_RULES = [
    "three-d",
    "t1-weighted",
    "plane",
    "one-orientation",
    "one-pixel-spacing",
    "complete-slices",
    "uniform-spacing",
    "coverage",
    "resolution",
]


@pytest.mark.parametrize("name", ["ge", "philips"])
def test_complete_classic_3d_t1_passes_every_series_check(name: str) -> None:
    outcomes = _check(series(name))
    assert {rule: outcomes[rule] for rule in SERIES_RULES} == dict.fromkeys(
        SERIES_RULES, Outcome.PASS
    )


def test_enhanced_multiframe_is_checked_frame_by_frame_through_functional_groups() -> None:
    result = _result(series("siemens-enhanced"))
    assert result.files == 1 and result.frames == 96
    outcomes = {r.rule_id.split("/")[1]: r for r in result.results}
    for rule in SERIES_RULES:
        expected = Outcome.WARN if rule == "resolution" else Outcome.PASS  # 2 mm voxels
        assert outcomes[rule].outcome is expected, rule
    assert outcomes["complete-slices"].observed == "96 slice positions"


def test_missing_slice_is_found_from_positions_even_when_instance_numbers_are_continuous() -> None:
    files = series("ge")
    del files[60]
    for number, ds in enumerate(files, start=1):
        ds.InstanceNumber = number  # renumbered by a PACS: InstanceNumber shows no gap
    outcomes = _check(files)
    assert outcomes["complete-slices"] is Outcome.FAIL
    assert outcomes["uniform-spacing"] is Outcome.PASS  # one gap is a missing slice


def test_duplicate_slice_fails_complete_slices() -> None:
    files = series("ge")
    files.append(copy.deepcopy(files[10]))
    result = _result(files)
    (complete,) = [r for r in result.results if r.rule_id.endswith("complete-slices")]
    assert complete.outcome is Outcome.FAIL
    assert "1 duplicate" in complete.problem


def test_moved_slice_breaks_uniform_spacing() -> None:
    files = series("philips")
    position = [float(v) for v in files[50].ImagePositionPatient]
    normal_axis = 0  # sagittal: slices move along x
    position[normal_axis] += 0.4
    files[50].ImagePositionPatient = position
    assert _check(files)["uniform-spacing"] is Outcome.FAIL


def test_other_orientation_in_the_series_fails_single_orientation() -> None:
    files = series("ge")
    files[0].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    assert _check(files)["one-orientation"] is Outcome.FAIL


def test_other_pixel_spacing_in_the_series_fails() -> None:
    files = series("ge")
    files[3].PixelSpacing = [1.0, 1.0]
    assert _check(files)["one-pixel-spacing"] is Outcome.FAIL


def test_2d_acquisition_is_not_used_by_volumetry_and_says_why() -> None:
    files = series("ge")
    for ds in files:
        ds.MRAcquisitionType = "2D"
    result = _result(files)
    (use,) = result.uses
    assert use.use.value == "not used" and "not a 3D acquisition (MRAcquisitionType 2D)" in (
        use.reason
    )
    assert result.results == () and result.verdict is Outcome.SKIP


def test_partial_3d_slab_is_used_and_fails_coverage() -> None:
    outcomes = _check(series("ge")[:40])  # 40 x 1.2 mm = 48 mm slab
    assert outcomes["three-d"] is Outcome.PASS
    assert outcomes["coverage"] is Outcome.FAIL


def test_epi_mosaic_is_not_used_by_volumetry() -> None:
    (use,) = _result([sample("siemens-mosaic")]).uses
    assert use.use.value == "not used" and "not a 3D acquisition" in use.reason


def test_a_3d_scan_that_is_not_t1_weighted_is_not_used() -> None:
    files = series("ge")
    for ds in files:
        ds.EchoTime, ds.RepetitionTime, ds.InversionTime = 90.0, 4000.0, 0.0
    (use,) = _result(files).uses
    assert "not those of a T1-weighted scan" in use.reason


@pytest.mark.parametrize(
    ("acquisition", "expected"),
    [
        (
            {
                "EchoTime": "2.9",
                "RepetitionTime": "2300",
                "InversionTime": "900",
                "ScanningSequence": ["GR", "IR"],
            },
            True,
        ),  # MPRAGE
        ({"EchoTime": "3", "RepetitionTime": "7", "ScanningSequence": "GR"}, True),  # SPGR
        ({"EchoTime": "12", "RepetitionTime": "500", "ScanningSequence": "SE"}, True),
        ({"EchoTime": "90", "RepetitionTime": "5000", "ScanningSequence": "SE"}, False),  # T2
        (
            {
                "EchoTime": "390",
                "RepetitionTime": "5000",
                "InversionTime": "1800",
                "ScanningSequence": ["SE", "IR"],
            },
            False,
        ),  # 3D FLAIR
        ({"EchoTime": "2", "RepetitionTime": "3000", "ScanningSequence": "SE"}, False),  # PD
        ({"RepetitionTime": "7"}, None),  # no echo time: cannot tell
        (
            {
                "EchoTime": "2.4",
                "RepetitionTime": "1800",
                "EchoPulseSequence": "GRADIENT",
                "InversionRecovery": "YES",
            },
            True,
        ),  # enhanced MPRAGE
    ],
)
def test_t1_weighting_from_sequence_attributes(acquisition: dict, expected: bool | None) -> None:
    assert t1_weighted(acquisition) is expected


def test_plane_and_obliquity_from_orientation() -> None:
    assert plane_of((0, 1, 0, 0, 0, -1)) == ("sagittal", 0.0)
    assert plane_of((1, 0, 0, 0, 0, -1)) == ("coronal", 0.0)
    plane, angle = plane_of((1, 0, 0, 0, 0.7071, -0.7071))
    assert plane in ("axial", "coronal") and abs(angle - 45) < 0.1
    files = series("ge")
    for ds in files:
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0.6, -0.8]  # 53 degrees from axial
    assert _check(files)["plane"] is Outcome.WARN


def test_non_image_objects_in_a_series_are_left_out_of_the_geometry() -> None:
    files = series("ge")
    report = Dataset()
    report.StudyInstanceUID = files[0].StudyInstanceUID
    report.SeriesInstanceUID = files[0].SeriesInstanceUID
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    report.Modality = "SR"
    files.append(report)
    assert _check(files)["complete-slices"] is Outcome.PASS


def test_quality_checks_switch_does_not_touch_series_checks() -> None:
    outcomes = _check(series("ge"), quality_checks=False)
    assert outcomes["manufacturer"] is Outcome.SKIP
    assert outcomes["three-d"] is Outcome.PASS
